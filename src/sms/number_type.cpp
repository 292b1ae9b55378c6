#include "sms/number_type.h"

#include "sms/zones.h"

#include <phonenumbers/logger.h>
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <algorithm>

namespace sms_otp::sms {

namespace {

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

PhoneNumberUtil &util() {
    static PhoneNumberUtil *instance = [] {
        auto *u = PhoneNumberUtil::GetInstance();
        // The library logs parse failures to stderr by default; they are expected input here.
        u->SetLogger(new i18n::phonenumbers::NullLogger());
        return u;
    }();
    return *instance;
}

constexpr std::string_view kNames[] = {
    "fixed_line", "mobile", "fixed_line_or_mobile", "toll_free", "premium_rate", "shared_cost",
    "voip",       "personal_number", "pager", "uan", "voicemail", "unknown",
};

std::string_view name_of(PhoneNumberUtil::PhoneNumberType type) {
    switch (type) {
    case PhoneNumberUtil::FIXED_LINE: return "fixed_line";
    case PhoneNumberUtil::MOBILE: return "mobile";
    case PhoneNumberUtil::FIXED_LINE_OR_MOBILE: return "fixed_line_or_mobile";
    case PhoneNumberUtil::TOLL_FREE: return "toll_free";
    case PhoneNumberUtil::PREMIUM_RATE: return "premium_rate";
    case PhoneNumberUtil::SHARED_COST: return "shared_cost";
    case PhoneNumberUtil::VOIP: return "voip";
    case PhoneNumberUtil::PERSONAL_NUMBER: return "personal_number";
    case PhoneNumberUtil::PAGER: return "pager";
    case PhoneNumberUtil::UAN: return "uan";
    case PhoneNumberUtil::VOICEMAIL: return "voicemail";
    default: return "unknown";
    }
}

}  // namespace

std::optional<std::string> number_type(std::string_view e164) {
    if (e164.size() < 2 || e164.size() > kMaxE164Bytes || e164[0] != '+') return std::nullopt;
    if (!std::all_of(e164.begin() + 1, e164.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
    PhoneNumber number;
    if (util().Parse(std::string(e164), "ZZ", &number) != PhoneNumberUtil::NO_PARSING_ERROR) return std::nullopt;
    return std::string(name_of(util().GetNumberType(number)));
}

bool is_number_type_name(std::string_view name) {
    return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

}  // namespace sms_otp::sms
