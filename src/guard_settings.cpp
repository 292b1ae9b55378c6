// The settings of the SMS-pumping guard (sql/parts/guard.sql reads them with
// current_setting()). All PGC_SUSET: a client that could SET them could loosen the guard for
// its own sends.
#include "settings.h"

#include "pg/server.h"

extern "C" {
#include "utils/guc.h"
}

#include <cctype>
#include <climits>
#include <string>
#include <string_view>

#include "sms/number_type.h"

namespace sms_otp::settings {

int guard_mode = kGuardRecordOnly;
char *guard_countries = nullptr;
char *guard_number_types = nullptr;
int guard_prefix_digits = 3;
int guard_prefix_per_hour = 10;
int guard_prefix_per_day = 30;
int guard_country_per_hour = 2000;
int guard_country_per_day = 20000;
double guard_baseline_factor = 3.0;
int guard_baseline_days = 7;
int guard_conversion_window_s = 3600;
int guard_conversion_min_prefix = 8;
int guard_conversion_min_country = 200;
double guard_conversion_threshold = 0.2;
int guard_block_duration_s = 3600;
int guard_daily_budget = 0;
int guard_country_daily_budget = 0;
int guard_retry_after_s = 3600;

namespace {

// Items separated by commas (spaces around them allowed); each must pass `valid`. Empty is
// an empty list.
template <typename Valid>
bool each_item(const char *value, Valid valid, std::string &bad) {
    std::string_view text = value ? value : "";
    if (text.size() > 2048) {
        bad = "(the list is longer than 2048 bytes)";
        return false;
    }
    while (!text.empty()) {
        size_t comma = text.find(',');
        std::string_view item = text.substr(0, comma);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (!valid(item)) {
            bad = std::string(item);
            return false;
        }
        text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    }
    return true;
}

// "*" (every country), or ISO 3166 alpha-2 codes in capitals: "US, GB, DE".
bool check_countries(char **value, void **, GucSource) {
    if (*value != nullptr && std::string_view(*value) == "*") return true;
    std::string bad;
    bool ok = each_item(*value, [](std::string_view c) {
        return c.size() == 2 && std::isupper(static_cast<unsigned char>(c[0])) && std::isupper(static_cast<unsigned char>(c[1]));
    }, bad);
    if (!ok) {
        GUC_check_errdetail("sms_otp.guard_countries: \"%s\" is not a two-letter country code in capitals.",
                            pstrdup(bad.c_str()));
        GUC_check_errhint("List ISO 3166 country codes separated by commas, such as 'US, GB, DE', or '*' for all.");
    }
    return ok;
}

// Names of libphonenumber's number types as sms_otp._phone_type() returns them.
bool check_number_types(char **value, void **, GucSource) {
    std::string bad;
    bool ok = each_item(*value, [](std::string_view t) { return sms::is_number_type_name(t); }, bad);
    if (!ok) {
        GUC_check_errdetail("sms_otp.guard_number_types: \"%s\" is not a number type.", pstrdup(bad.c_str()));
        GUC_check_errhint("Use fixed_line, mobile, fixed_line_or_mobile, toll_free, premium_rate, shared_cost, voip, "
                          "personal_number, pager, uan, voicemail or unknown, separated by commas.");
    }
    return ok;
}

const struct config_enum_entry guard_mode_options[] = {
    {"off", kGuardOff, false},
    {"record_only", kGuardRecordOnly, false},
    {"enforce", kGuardEnforce, false},
    {nullptr, 0, false},
};

void define_int(const char *name, const char *desc, int *var, int boot, int min, int max, int flags = 0) {
    DefineCustomIntVariable(name, desc, nullptr, var, boot, min, max, PGC_SUSET, flags, nullptr, nullptr, nullptr);
}

}  // namespace

void define_guard() {
    DefineCustomEnumVariable("sms_otp.guard_mode",
                             "SMS-pumping guard: off, record_only (decide and record, send anyway) or enforce.",
                             nullptr, &guard_mode, kGuardRecordOnly, guard_mode_options, PGC_SUSET, 0, nullptr,
                             nullptr, nullptr);
    DefineCustomStringVariable("sms_otp.guard_countries",
                               "Countries codes may be sent to unless sms_otp.guard_country_policy says otherwise "
                               "(ISO codes separated by commas, '*' for all, empty for none).",
                               nullptr, &guard_countries, "", PGC_SUSET, 0, check_countries, nullptr, nullptr);
    DefineCustomStringVariable("sms_otp.guard_number_types", "Number types codes are never sent to.", nullptr,
                               &guard_number_types, "premium_rate, shared_cost, uan, pager, voicemail", PGC_SUSET, 0,
                               check_number_types, nullptr, nullptr);
    define_int("sms_otp.guard_prefix_digits", "Last digits left out of a number to make its prefix.",
               &guard_prefix_digits, 3, 1, 8);
    define_int("sms_otp.guard_prefix_per_hour", "Codes per prefix in an hour, at least (more with verified traffic).",
               &guard_prefix_per_hour, 10, 1, INT_MAX);
    define_int("sms_otp.guard_prefix_per_day", "Codes per prefix in a day, at least (more with verified traffic).",
               &guard_prefix_per_day, 30, 1, INT_MAX);
    define_int("sms_otp.guard_country_per_hour", "Codes per country in an hour, at least (more with verified traffic).",
               &guard_country_per_hour, 2000, 1, INT_MAX);
    define_int("sms_otp.guard_country_per_day", "Codes per country in a day, at least (more with verified traffic).",
               &guard_country_per_day, 20000, 1, INT_MAX);
    DefineCustomRealVariable("sms_otp.guard_baseline_factor",
                             "Velocity limits are at least this many times the verified codes of an average hour "
                             "or day of the baseline.",
                             nullptr, &guard_baseline_factor, 3.0, 1.0, 1000.0, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    define_int("sms_otp.guard_baseline_days", "Days of verified codes, before today, that make the baseline.",
               &guard_baseline_days, 7, 1, 30);
    define_int("sms_otp.guard_conversion_window", "Sliding window of the conversion rule.", &guard_conversion_window_s,
               3600, 600, 6 * 3600, GUC_UNIT_S);
    define_int("sms_otp.guard_conversion_min_prefix", "Codes to a prefix in the window before its conversion is judged.",
               &guard_conversion_min_prefix, 8, 1, INT_MAX);
    define_int("sms_otp.guard_conversion_min_country",
               "Codes to a country in the window before its conversion is judged.", &guard_conversion_min_country, 200,
               1, INT_MAX);
    DefineCustomRealVariable("sms_otp.guard_conversion_threshold",
                             "Share of codes verified below which a prefix or country is blocked.", nullptr,
                             &guard_conversion_threshold, 0.2, 0.0, 1.0, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    define_int("sms_otp.guard_block_duration", "How long a prefix or country the guard blocked stays blocked.",
               &guard_block_duration_s, 3600, 60, 7 * 86400, GUC_UNIT_S);
    define_int("sms_otp.guard_daily_budget", "Codes sent per UTC day, all countries (0: no cap).", &guard_daily_budget,
               0, 0, INT_MAX);
    define_int("sms_otp.guard_country_daily_budget",
               "Codes sent per UTC day to one country (0: no cap; sms_otp.guard_country_policy may set one).",
               &guard_country_daily_budget, 0, 0, INT_MAX);
    define_int("sms_otp.guard_retry_after", "Retry-After of every refusal by the guard, whatever the rule.",
               &guard_retry_after_s, 3600, 60, 86400, GUC_UNIT_S);
}

}  // namespace sms_otp::settings
