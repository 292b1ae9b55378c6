// sms_otp._phone_zones(phone): the IANA time zones an E.164 number may be in, for campaign
// quiet hours; sms_otp.phone_country(phone): its country, for the dashboards (the lookups
// themselves are src/sms/zones.cpp).
#include "pg/guard.h"
#include "pg/text.h"
#include "sms/zones.h"

extern "C" {
#include "access/detoast.h"
#include "catalog/pg_type_d.h"
#include "storage/proc.h"
#include "utils/array.h"
}

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

using sms_otp::pg::entry;
using sms_otp::pg::pg_call;

extern "C" {

PG_FUNCTION_INFO_V1(sms_otp_phone_zones);

// text[], sorted; empty for anything that is not a valid E.164 number of a country in zone.tab.
Datum sms_otp_phone_zones(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        namespace sms = sms_otp::sms;
        std::vector<std::string> zones;
        // Refused by its size before it is detoasted.
        size_t raw = pg_call([&] { return toast_raw_datum_size(PG_GETARG_DATUM(0)); }) - VARHDRSZ;
        if (raw <= sms::kMaxE164Bytes) {
            std::string_view phone = pg_call([&]() -> std::string_view {
                text *t = PG_GETARG_TEXT_PP(0);
                return {VARDATA_ANY(t), static_cast<size_t>(VARSIZE_ANY_EXHDR(t))};
            });
            zones = sms::phone_zones(phone);
        }
        return pg_call([&] {
            if (zones.empty()) return PointerGetDatum(construct_empty_array(TEXTOID));
            Datum *elements = static_cast<Datum *>(palloc(zones.size() * sizeof(Datum)));
            for (size_t i = 0; i < zones.size(); i++)
                elements[i] = sms_otp::pg::text_datum(zones[i]);
            return PointerGetDatum(
                construct_array(elements, static_cast<int>(zones.size()), TEXTOID, -1, false, TYPALIGN_INT));
        });
    });
}

PG_FUNCTION_INFO_V1(sms_otp_phone_country);

}  // extern "C"

namespace {

// The dashboards' triggers ask for the country of one number several times in a transaction:
// the worker's results write a code's log row and move its session, whose old and new
// versions are counted apart. For a calling code several countries share, an answer takes
// libphonenumber 2 to 20 µs, so answers are kept until the transaction ends (a number's
// country is a fact of the library's metadata; kept no longer, they cost no memory between
// transactions). At most kMemoSize numbers.
constexpr size_t kMemoSize = 4096;
LocalTransactionId memo_transaction = InvalidLocalTransactionId;
std::unordered_map<std::string, std::optional<std::string>> memo;

std::optional<std::string> remembered_country(std::string_view phone) {
    if (memo_transaction != MyProc->lxid) {
        memo.clear();
        memo_transaction = MyProc->lxid;
    }
    std::string key(phone);
    auto it = memo.find(key);
    if (it != memo.end()) return it->second;
    std::optional<std::string> country = sms_otp::sms::phone_country(phone);
    if (memo.size() >= kMemoSize) memo.clear();
    memo.emplace(std::move(key), country);
    return country;
}

}  // namespace

extern "C" {

// The ISO 3166 alpha-2 code of an E.164 number's country, or NULL.
Datum sms_otp_phone_country(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        namespace sms = sms_otp::sms;
        std::optional<std::string> country;
        size_t raw = pg_call([&] { return toast_raw_datum_size(PG_GETARG_DATUM(0)); }) - VARHDRSZ;
        if (raw <= sms::kMaxE164Bytes) {
            std::string_view phone = pg_call([&]() -> std::string_view {
                text *t = PG_GETARG_TEXT_PP(0);
                return {VARDATA_ANY(t), static_cast<size_t>(VARSIZE_ANY_EXHDR(t))};
            });
            country = remembered_country(phone);
        }
        if (!country) PG_RETURN_NULL();
        return sms_otp::pg::text_result(*country);
    });
}

}  // extern "C"
