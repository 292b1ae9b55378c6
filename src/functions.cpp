// SQL-callable functions. The API itself (otp_send, otp_verify, ...) is PL/pgSQL in
// sql/sms_otp--1.0.sql; these are the pieces that need C++: randomness, keyed hashes,
// phone numbers, settings and waking the worker (identity and origin: request.cpp).
#include "pg/guard.h"
#include "pg/text.h"
#include "settings.h"
#include "otp/code.h"
#include "otp/hmac.h"
#include "otp/phone.h"
#include "worker/shared_state.h"

extern "C" {
#include "access/htup_details.h"
}

#include <string>
#include <string_view>

using sms_otp::pg::entry;
using sms_otp::pg::pg_call;
using sms_otp::pg::text_result;

namespace {

std::string_view text_arg(FunctionCallInfo fcinfo, int n) {
    text *t = pg_call([&] { return PG_GETARG_TEXT_PP(n); });
    return {VARDATA_ANY(t), static_cast<size_t>(VARSIZE_ANY_EXHDR(t))};
}

Datum bytea_result(std::string_view s) {
    return pg_call([&] {
        bytea *b = static_cast<bytea *>(palloc(VARHDRSZ + s.size()));
        SET_VARSIZE(b, VARHDRSZ + s.size());
        memcpy(VARDATA(b), s.data(), s.size());
        return PointerGetDatum(b);
    });
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(sms_otp_settings);
PG_FUNCTION_INFO_V1(sms_otp_generate_code);
PG_FUNCTION_INFO_V1(sms_otp_random_bytes);
PG_FUNCTION_INFO_V1(sms_otp_hmac);
PG_FUNCTION_INFO_V1(sms_otp_hash_equal);
PG_FUNCTION_INFO_V1(sms_otp_normalize_phone);
PG_FUNCTION_INFO_V1(sms_otp_wake_on_commit);
PG_FUNCTION_INFO_V1(sms_otp_wake_codes_on_commit);

// _settings(): every API setting in one call, typed (sms_otp._config).
Datum sms_otp_settings(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        namespace s = sms_otp::settings;
        return pg_call([&] {
            TupleDesc desc;
            if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
                ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("_settings() must return a row")));
            desc = BlessTupleDesc(desc);
            Datum values[17];
            bool nulls[17] = {};
            int i = 0;
            values[i++] = Int32GetDatum(s::code_length);
            values[i++] = Int32GetDatum(s::otp_ttl_s);
            values[i++] = Int32GetDatum(s::max_attempts);
            values[i++] = Int32GetDatum(s::resend_cooldown_s);
            values[i++] = Int32GetDatum(s::rate_limit_per_minute);
            values[i++] = Int32GetDatum(s::rate_limit_per_day);
            values[i++] = Int32GetDatum(s::trusted_proxies);
            values[i++] = Int32GetDatum(s::lockout_threshold);
            values[i++] = Int32GetDatum(s::lockout_duration_s);
            values[i++] = Int32GetDatum(s::verified_ttl_s);
            values[i++] = CStringGetTextDatum(s::service_role ? s::service_role : "");
            if (s::webotp_domain == nullptr || *s::webotp_domain == '\0')
                nulls[i] = true;
            else
                values[i] = CStringGetTextDatum(s::webotp_domain);
            i++;
            values[i++] = CStringGetTextDatum(s::message_template ? s::message_template : "{code}");
            values[i++] = Int32GetDatum(s::verify_timeout_ms);
            values[i++] = Int32GetDatum(s::ip_rate_limit_per_minute);
            values[i++] = Int32GetDatum(s::ip_rate_limit_per_day);
            values[i++] = Int32GetDatum(s::ipv6_prefix);
            // Fields are only ever added at the end: a database still at an older version of the
            // scripts (1.0 has the first 14) gets the ones it declares, until ALTER EXTENSION UPDATE.
            if (desc->natts > i)
                ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                                errmsg("sms_otp._config has %d fields, the library provides %d", desc->natts, i),
                                errhint("Install the sms_otp library that matches the extension's version.")));
            return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
        });
    });
}

// _generate_code(digits): a uniform random decimal code.
Datum sms_otp_generate_code(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        int digits = PG_GETARG_INT32(0);
        if (digits < 4 || digits > 10) throw sms_otp::pg::Error(ERRCODE_INVALID_PARAMETER_VALUE, "a code has 4 to 10 digits");
        return text_result(sms_otp::otp::generate_code(digits));
    });
}

// _random_bytes(n): n bytes from the CSPRNG (the install script's secret).
Datum sms_otp_random_bytes(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        int n = PG_GETARG_INT32(0);
        if (n < 1 || n > 1024) throw sms_otp::pg::Error(ERRCODE_INVALID_PARAMETER_VALUE, "1 to 1024 bytes");
        std::string bytes(static_cast<size_t>(n), '\0');
        if (!pg_strong_random(bytes.data(), bytes.size()))
            throw sms_otp::pg::Error(ERRCODE_INTERNAL_ERROR, "could not generate random bytes");
        return bytea_result(bytes);
    });
}

// _hmac(key, message): HMAC-SHA-256.
Datum sms_otp_hmac(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        bytea *key = pg_call([&] { return PG_GETARG_BYTEA_PP(0); });
        std::string_view message = text_arg(fcinfo, 1);
        std::string_view k(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));
        return bytea_result(sms_otp::otp::hmac_sha256(k, message));
    });
}

// _hash_equal(a, b): comparison whose time does not depend on where the inputs differ.
Datum sms_otp_hash_equal(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        bytea *a = pg_call([&] { return PG_GETARG_BYTEA_PP(0); });
        bytea *b = pg_call([&] { return PG_GETARG_BYTEA_PP(1); });
        return BoolGetDatum(sms_otp::otp::constant_time_equal(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a), VARDATA_ANY(b),
                                                             VARSIZE_ANY_EXHDR(b)));
    });
}

// normalize_phone(text): E.164, or NULL when the input is not a valid number.
Datum sms_otp_normalize_phone(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        auto region = sms_otp::settings::default_region ? sms_otp::settings::default_region : "";
        auto e164 = sms_otp::otp::normalize_phone(text_arg(fcinfo, 0), region);
        if (!e164) PG_RETURN_NULL();
        return text_result(*e164);
    });
}

// _wake_worker_on_commit(): the delivery worker's latch is set when this transaction commits.
Datum sms_otp_wake_on_commit(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        sms_otp::worker::wake_on_commit(sms_otp::worker::kDelivery);
        PG_RETURN_VOID();
    });
}

// _wake_code_worker_on_commit(): the code worker's (the delivery worker's while no code worker
// runs), for a code queued by this transaction.
Datum sms_otp_wake_codes_on_commit(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        sms_otp::worker::wake_on_commit(sms_otp::worker::kCodes);
        PG_RETURN_VOID();
    });
}

}  // extern "C"
