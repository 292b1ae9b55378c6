#include "otp/phone.h"

#include <phonenumbers/logger.h>
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

namespace sms_otp::otp {

namespace {
constexpr std::size_t kMaxInput = 64;  // a formatted number with extension fits easily
constexpr std::size_t kMaxE164Digits = 15;

i18n::phonenumbers::PhoneNumberUtil &util() {
    static i18n::phonenumbers::PhoneNumberUtil *instance = [] {
        auto *u = i18n::phonenumbers::PhoneNumberUtil::GetInstance();
        // The library logs parse failures to stderr by default; they are expected input here.
        u->SetLogger(new i18n::phonenumbers::NullLogger());
        return u;
    }();
    return *instance;
}
}  // namespace

std::optional<std::string> normalize_phone(std::string_view input, std::string_view region) {
    using i18n::phonenumbers::PhoneNumber;
    using i18n::phonenumbers::PhoneNumberUtil;
    if (input.empty() || input.size() > kMaxInput) return std::nullopt;
    PhoneNumber number;
    std::string reg = region.empty() ? "ZZ" : std::string(region);
    if (util().Parse(std::string(input), reg, &number) != PhoneNumberUtil::NO_PARSING_ERROR) return std::nullopt;
    if (!util().IsValidNumber(number)) return std::nullopt;
    std::string e164;
    util().Format(number, PhoneNumberUtil::E164, &e164);
    // E.164 allows 15 digits; libphonenumber's metadata calls some longer numbers valid (German
    // ones up to 17), which no SMS provider takes.
    if (e164.size() > 1 + kMaxE164Digits) return std::nullopt;
    return e164;
}

}  // namespace sms_otp::otp
