#include "otp/phone.h"

#include <phonenumbers/logger.h>
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <list>
#include <unordered_map>

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

// A number already written in E.164 ("+" and up to 15 digits) is checked against the rules
// of its own region alone, without parsing it again or trying every region of its calling code
// (libphonenumber's Parse and IsValidNumber take ~16 us for a North American number; this
// ~3 us, which is what a campaign of a million numbers spends at launch). Whenever the answer
// could differ from the full parse (several regions share the calling code, the national
// number starts with 0 or with the region's national prefix, or the number is not valid as
// written), the full parse decides.
std::optional<std::string> normalize_e164(std::string_view input) {
    using i18n::phonenumbers::PhoneNumber;
    if (input.size() < 8 || input.size() > 1 + kMaxE164Digits || input[0] != '+' || input[1] == '0') return std::nullopt;
    for (size_t i = 1; i < input.size(); i++)
        if (input[i] < '0' || input[i] > '9') return std::nullopt;
    int code = 0;
    size_t digits = 0;
    std::string region;
    for (digits = 1; digits <= 3; digits++) {
        code = code * 10 + (input[digits] - '0');
        std::list<std::string> regions;
        util().GetRegionCodesForCountryCallingCode(code, &regions);
        if (regions.empty()) continue;
        if (regions.size() == 1) {
            region = regions.front();
        } else if (code == 1) {
            // North America: the area code decides the region.
            static std::unordered_map<std::string, std::string> by_area;
            std::string area(input.substr(0, 5));
            auto it = by_area.find(area);
            if (it != by_area.end()) {
                region = it->second;
            } else {
                PhoneNumber n;
                if (util().Parse(std::string(input), "ZZ", &n) != i18n::phonenumbers::PhoneNumberUtil::NO_PARSING_ERROR)
                    return std::nullopt;
                util().GetRegionCodeForNumber(n, &region);
                if (region.empty() || region == "ZZ") return std::nullopt;
                if (by_area.size() < 4096) by_area.emplace(area, region);
            }
        }
        break;
    }
    if (region.empty()) return std::nullopt;
    std::string_view national = input.substr(1 + digits);
    if (national.empty() || national[0] == '0') return std::nullopt;
    std::string prefix;
    util().GetNddPrefixForRegion(region, true, &prefix);
    if (!prefix.empty() && national.substr(0, prefix.size()) == prefix) return std::nullopt;
    PhoneNumber number;
    number.set_country_code(code);
    number.set_national_number(std::stoull(std::string(national)));
    if (!util().IsValidNumberForRegion(number, region)) return std::nullopt;
    return std::string(input);
}

std::optional<std::string> normalize_phone(std::string_view input, std::string_view region) {
    using i18n::phonenumbers::PhoneNumber;
    using i18n::phonenumbers::PhoneNumberUtil;
    if (input.empty() || input.size() > kMaxInput) return std::nullopt;
    if (auto fast = normalize_e164(input)) return fast;
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
