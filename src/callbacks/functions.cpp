// sms_otp._callback_read(kind, direction, url, method, content_type, headers, body, credentials,
// now_unix, tolerance_s): verify and read a provider's callback (src/callbacks/read.cpp).
// Not strict: a NULL headers, body or credentials is read as empty, a NULL clock as the
// server's, a NULL tolerance as 300 seconds. The bytes of the body are signed as they came, so
// they are handed over unconverted (the database is expected to be UTF-8, as PostgREST's is).
#include "pg/guard.h"
#include "callbacks/read.h"

extern "C" {
#include "access/detoast.h"
#include "utils/jsonb.h"
}

#include <nlohmann/json.hpp>

#include <ctime>
#include <string>
#include <string_view>

using sms_otp::pg::entry;
using sms_otp::pg::pg_call;

namespace {

std::string_view text_arg(FunctionCallInfo fcinfo, int n) {
    if (PG_ARGISNULL(n)) return {};
    text *t = pg_call([&] { return PG_GETARG_TEXT_PP(n); });
    return {VARDATA_ANY(t), static_cast<size_t>(VARSIZE_ANY_EXHDR(t))};
}

// A jsonb argument as JSON text (jsonb's own output: one key once, in its order).
std::string_view jsonb_arg(FunctionCallInfo fcinfo, int n) {
    if (PG_ARGISNULL(n)) return {};
    return pg_call([&]() -> std::string_view {
        const char *s = DatumGetCString(DirectFunctionCall1(jsonb_out, PG_GETARG_DATUM(n)));
        return s;
    });
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(sms_otp_callback_read);

Datum sms_otp_callback_read(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        namespace cb = sms_otp::callbacks;
        nlohmann::json answer;
        // An oversized body is refused by its size, before it is detoasted.
        size_t body_bytes = PG_ARGISNULL(6)
                                ? 0
                                : pg_call([&] { return toast_raw_datum_size(PG_GETARG_DATUM(6)); }) - VARHDRSZ;
        if (body_bytes > cb::kMaxBodyBytes) {
            answer = cb::body_too_large();
        } else {
            cb::Request r;
            r.kind = text_arg(fcinfo, 0);
            r.direction = text_arg(fcinfo, 1);
            r.url = text_arg(fcinfo, 2);
            r.method = text_arg(fcinfo, 3);
            r.content_type = text_arg(fcinfo, 4);
            r.headers = jsonb_arg(fcinfo, 5);
            r.body = text_arg(fcinfo, 6);
            r.credentials = jsonb_arg(fcinfo, 7);
            r.now_unix = PG_ARGISNULL(8) ? static_cast<int64_t>(time(nullptr)) : PG_GETARG_INT64(8);
            r.tolerance_s = PG_ARGISNULL(9) ? 300 : PG_GETARG_INT32(9);
            answer = cb::read_callback(r);
        }
        std::string json = answer.dump();
        return pg_call([&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(json.c_str())); });
    });
}

}  // extern "C"
