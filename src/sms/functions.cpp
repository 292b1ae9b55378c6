// sms_otp.sms_segments(body): encoding and SMS parts of a text, as carriers count them
// (the counting itself is src/sms/segments.cpp); sms_otp._render_template(body, data): a
// template filled in (src/sms/template.cpp).
#include "pg/guard.h"
#include "sms/segments.h"
#include "sms/template.h"

extern "C" {
#include "access/detoast.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
}

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <variant>

using sms_otp::pg::entry;
using sms_otp::pg::Error;
using sms_otp::pg::pg_call;

namespace {

Error to_sql_error(const sms_otp::sms::SegmentsError &e) {
    int sqlstate = e.kind == sms_otp::sms::SegmentsError::Kind::too_long ? ERRCODE_STRING_DATA_RIGHT_TRUNCATION
                                                                          : ERRCODE_CHARACTER_NOT_IN_REPERTOIRE;
    return Error(sqlstate, sms_otp::sms::describe(e));
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(sms_otp_sms_segments);

Datum sms_otp_sms_segments(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        namespace sms = sms_otp::sms;
        // Refused by its size before it is detoasted or converted.
        size_t raw = pg_call([&] { return toast_raw_datum_size(PG_GETARG_DATUM(0)); }) - VARHDRSZ;
        if (raw > sms::kMaxTextBytes) throw to_sql_error({sms::SegmentsError::Kind::too_long, raw});
        std::string_view body = pg_call([&]() -> std::string_view {
            text *t = PG_GETARG_TEXT_PP(0);
            const char *data = VARDATA_ANY(t);
            int len = static_cast<int>(VARSIZE_ANY_EXHDR(t));
            // Text in another server encoding is counted as the UTF-8 it becomes; from SQL_ASCII
            // the bytes are checked to be UTF-8 here (22021), and count_segments checks again.
            const char *utf8 = pg_server_to_any(data, len, PG_UTF8);
            return {utf8, utf8 == data ? static_cast<size_t>(len) : strlen(utf8)};
        });
        auto counted = sms::count_segments(body);
        if (const auto *e = std::get_if<sms::SegmentsError>(&counted)) throw to_sql_error(*e);
        const auto &s = std::get<sms::Segments>(counted);
        std::string json = nlohmann::json{{"encoding", sms::encoding_name(s.encoding)},
                                          {"segments", s.segments},
                                          {"units", s.units},
                                          {"characters", s.characters}}
                               .dump();
        return pg_call([&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(json.c_str())); });
    });
}

PG_FUNCTION_INFO_V1(sms_otp_render_template);

// {"text": ...} or {"error", "placeholder"}: the caller turns an error into its HTTP answer.
Datum sms_otp_render_template(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        namespace sms = sms_otp::sms;
        if (PG_ARGISNULL(0)) PG_RETURN_NULL();
        std::string body = pg_call([&] { return std::string(text_to_cstring(PG_GETARG_TEXT_PP(0))); });
        nlohmann::json data;
        if (!PG_ARGISNULL(1)) {
            std::string json = pg_call([&] {
                return std::string(DatumGetCString(DirectFunctionCall1(jsonb_out, PG_GETARG_DATUM(1))));
            });
            data = nlohmann::json::parse(json, nullptr, false);
        }
        sms::Rendered r = sms::render_template(body, data);
        nlohmann::json out = r.error.empty() ? nlohmann::json{{"text", r.text}}
                                             : nlohmann::json{{"error", r.error}, {"placeholder", r.placeholder}};
        std::string text = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        return pg_call([&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(text.c_str())); });
    });
}

}  // extern "C"
