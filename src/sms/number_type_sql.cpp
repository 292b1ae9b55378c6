// sms_otp._phone_type(phone): the line type of an E.164 number, for the SMS-pumping guard's
// number-type rule (the lookup itself is src/sms/number_type.cpp).
#include "pg/guard.h"
#include "pg/text.h"
#include "sms/number_type.h"
#include "sms/zones.h"

extern "C" {
#include "access/detoast.h"
}

#include <optional>
#include <string>
#include <string_view>

using sms_otp::pg::entry;
using sms_otp::pg::pg_call;

extern "C" {

PG_FUNCTION_INFO_V1(sms_otp_phone_type);

// text: mobile, premium_rate, ... (src/sms/number_type.h), or NULL for what is not E.164.
Datum sms_otp_phone_type(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        namespace sms = sms_otp::sms;
        std::optional<std::string> type;
        // Refused by its size before it is detoasted.
        size_t raw = pg_call([&] { return toast_raw_datum_size(PG_GETARG_DATUM(0)); }) - VARHDRSZ;
        if (raw <= sms::kMaxE164Bytes) {
            std::string_view phone = pg_call([&]() -> std::string_view {
                text *t = PG_GETARG_TEXT_PP(0);
                return {VARDATA_ANY(t), static_cast<size_t>(VARSIZE_ANY_EXHDR(t))};
            });
            type = sms::number_type(phone);
        }
        if (!type) PG_RETURN_NULL();
        return sms_otp::pg::text_result(*type);
    });
}

}  // extern "C"
