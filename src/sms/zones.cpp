#include "sms/zones.h"

#include <phonenumbers/geocoding/phonenumber_offline_geocoder.h>
#include <phonenumbers/logger.h>
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>
#include <unicode/locid.h>

#include <algorithm>
#include <fstream>
#include <list>
#include <utility>

namespace sms_otp::sms {

namespace {

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberOfflineGeocoder;
using i18n::phonenumbers::PhoneNumberUtil;

// A US state (and DC) or Canadian province or territory, with every zone.tab zone of its
// country that covers part of it: quiet hours must hold in all of them. Where a place keeps
// another zone's clock without a zone of its own in tzdata, the zone whose clock it keeps is
// listed (Navajo Nation AZ: Denver; West Wendover NV: Denver; Magdalen Islands QC: Halifax).
struct Subdivision {
    std::string_view country;  // the region libphonenumber gives the number
    std::string_view code;     // as in the geocoder's "Chicago, IL"
    std::string_view name;     // as in the geocoder's "Illinois"
    std::string_view zones;    // space-separated
};

constexpr Subdivision kSubdivisions[] = {
    {"US", "AL", "Alabama", "America/Chicago"},
    {"US", "AK", "Alaska",
     "America/Anchorage America/Juneau America/Sitka America/Metlakatla America/Yakutat America/Nome America/Adak"},
    {"US", "AZ", "Arizona", "America/Phoenix America/Denver"},
    {"US", "AR", "Arkansas", "America/Chicago"},
    {"US", "CA", "California", "America/Los_Angeles"},
    {"US", "CO", "Colorado", "America/Denver"},
    {"US", "CT", "Connecticut", "America/New_York"},
    {"US", "DE", "Delaware", "America/New_York"},
    {"US", "DC", "District of Columbia", "America/New_York"},
    {"US", "FL", "Florida", "America/New_York America/Chicago"},
    {"US", "GA", "Georgia", "America/New_York"},
    {"US", "HI", "Hawaii", "Pacific/Honolulu"},
    {"US", "ID", "Idaho", "America/Boise America/Los_Angeles"},
    {"US", "IL", "Illinois", "America/Chicago"},
    {"US", "IN", "Indiana",
     "America/Indiana/Indianapolis America/Indiana/Vincennes America/Indiana/Winamac America/Indiana/Marengo "
     "America/Indiana/Petersburg America/Indiana/Vevay America/Indiana/Tell_City America/Indiana/Knox "
     "America/Chicago"},
    {"US", "IA", "Iowa", "America/Chicago"},
    {"US", "KS", "Kansas", "America/Chicago America/Denver"},
    {"US", "KY", "Kentucky",
     "America/New_York America/Kentucky/Louisville America/Kentucky/Monticello America/Chicago"},
    {"US", "LA", "Louisiana", "America/Chicago"},
    {"US", "ME", "Maine", "America/New_York"},
    {"US", "MD", "Maryland", "America/New_York"},
    {"US", "MA", "Massachusetts", "America/New_York"},
    {"US", "MI", "Michigan", "America/Detroit America/Menominee"},
    {"US", "MN", "Minnesota", "America/Chicago"},
    {"US", "MS", "Mississippi", "America/Chicago"},
    {"US", "MO", "Missouri", "America/Chicago"},
    {"US", "MT", "Montana", "America/Denver"},
    {"US", "NE", "Nebraska", "America/Chicago America/Denver"},
    {"US", "NV", "Nevada", "America/Los_Angeles America/Denver"},
    {"US", "NH", "New Hampshire", "America/New_York"},
    {"US", "NJ", "New Jersey", "America/New_York"},
    {"US", "NM", "New Mexico", "America/Denver"},
    {"US", "NY", "New York", "America/New_York"},
    {"US", "NC", "North Carolina", "America/New_York"},
    {"US", "ND", "North Dakota",
     "America/Chicago America/Denver America/North_Dakota/Center America/North_Dakota/New_Salem "
     "America/North_Dakota/Beulah"},
    {"US", "OH", "Ohio", "America/New_York"},
    {"US", "OK", "Oklahoma", "America/Chicago"},
    {"US", "OR", "Oregon", "America/Los_Angeles America/Boise"},
    {"US", "PA", "Pennsylvania", "America/New_York"},
    {"US", "RI", "Rhode Island", "America/New_York"},
    {"US", "SC", "South Carolina", "America/New_York"},
    {"US", "SD", "South Dakota", "America/Chicago America/Denver"},
    {"US", "TN", "Tennessee", "America/New_York America/Chicago"},
    {"US", "TX", "Texas", "America/Chicago America/Denver"},
    {"US", "UT", "Utah", "America/Denver"},
    {"US", "VT", "Vermont", "America/New_York"},
    {"US", "VA", "Virginia", "America/New_York"},
    {"US", "WA", "Washington", "America/Los_Angeles"},
    {"US", "WV", "West Virginia", "America/New_York"},
    {"US", "WI", "Wisconsin", "America/Chicago"},
    {"US", "WY", "Wyoming", "America/Denver"},

    {"CA", "AB", "Alberta", "America/Edmonton"},
    {"CA", "BC", "British Columbia",
     "America/Vancouver America/Edmonton America/Creston America/Dawson_Creek America/Fort_Nelson"},
    {"CA", "MB", "Manitoba", "America/Winnipeg"},
    {"CA", "NB", "New Brunswick", "America/Moncton"},
    {"CA", "NL", "Newfoundland and Labrador", "America/St_Johns America/Goose_Bay"},
    {"CA", "NS", "Nova Scotia", "America/Halifax America/Glace_Bay"},
    {"CA", "NT", "Northwest Territories", "America/Edmonton America/Inuvik"},
    {"CA", "NU", "Nunavut",
     "America/Iqaluit America/Atikokan America/Rankin_Inlet America/Resolute America/Cambridge_Bay"},
    {"CA", "ON", "Ontario", "America/Toronto America/Winnipeg America/Atikokan"},
    {"CA", "PE", "Prince Edward Island", "America/Halifax"},
    {"CA", "QC", "Quebec", "America/Toronto America/Blanc-Sablon America/Halifax"},
    {"CA", "SK", "Saskatchewan", "America/Regina America/Swift_Current America/Edmonton"},
    {"CA", "YT", "Yukon", "America/Whitehorse America/Dawson"},
};

// Descriptions the geocoder (libphonenumber 8.12, English) gives instead of a state's code or
// name: DC and Washington state spelled out, and two places without their state.
struct Alias {
    std::string_view country;
    std::string_view description;
    std::string_view code;
};

constexpr Alias kAliases[] = {
    {"US", "Washington D.C.", "DC"},
    {"US", "Washington State", "WA"},
    {"US", "Philadelphia", "PA"},
    {"CA", "Watson Lake", "YT"},
};

const Subdivision *find_subdivision(std::string_view country, std::string_view code_or_name) {
    for (const Subdivision &s : kSubdivisions)
        if (s.country == country && (s.code == code_or_name || s.name == code_or_name)) return &s;
    for (const Alias &a : kAliases)
        if (a.country == country && a.description == code_or_name) return find_subdivision(country, a.code);
    return nullptr;
}

// The subdivisions a geocoder description names: "New York, NY" (the code after the last
// comma), "Florida", or "Nova Scotia/Prince Edward Island" (each part). Nothing when a part
// names no known subdivision ("United States", a city alone).
std::vector<const Subdivision *> subdivisions_named(std::string_view country, std::string_view description) {
    std::vector<const Subdivision *> found;
    if (size_t comma = description.rfind(", "); comma != std::string_view::npos) {
        if (const Subdivision *s = find_subdivision(country, description.substr(comma + 2))) found.push_back(s);
        return found;
    }
    while (!description.empty()) {
        size_t slash = description.find('/');
        const Subdivision *s = find_subdivision(country, description.substr(0, slash));
        if (s == nullptr) return {};
        found.push_back(s);
        description = slash == std::string_view::npos ? std::string_view() : description.substr(slash + 1);
    }
    return found;
}

PhoneNumberUtil &util() {
    static PhoneNumberUtil *instance = [] {
        auto *u = PhoneNumberUtil::GetInstance();
        // The library logs parse failures to stderr by default; they are expected input here.
        u->SetLogger(new i18n::phonenumbers::NullLogger());
        return u;
    }();
    return *instance;
}

// The geocoder's description of a US or Canadian number ("New York, NY", "Florida"), in English.
std::string describe_area(const PhoneNumber &number) {
    static const PhoneNumberOfflineGeocoder geocoder;
    static const icu::Locale english("en", "US");
    return geocoder.GetDescriptionForNumber(number, english);
}

bool is_e164(std::string_view s) {
    if (s.size() < 2 || s.size() > kMaxE164Bytes || s[0] != '+') return false;
    return std::all_of(s.begin() + 1, s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_country_code(std::string_view s) {
    return s.size() == 2 && std::all_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

}  // namespace

std::vector<std::string> area_zones(std::string_view country, std::string_view description) {
    std::vector<std::string> zones;
    for (const Subdivision *s : subdivisions_named(country, description)) {
        std::string_view list = s->zones;
        while (!list.empty()) {
            size_t space = list.find(' ');
            zones.emplace_back(list.substr(0, space));
            list = space == std::string_view::npos ? std::string_view() : list.substr(space + 1);
        }
    }
    return zones;
}

std::optional<CountryZones> read_zone_tab(const std::string &path) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    CountryZones zones;
    std::string line;
    while (std::getline(in, line)) {
        std::string_view row(line);
        if (!row.empty() && row.back() == '\r') row.remove_suffix(1);
        if (row.empty() || row[0] == '#') continue;
        size_t tab1 = row.find('\t');
        size_t tab2 = tab1 == std::string_view::npos ? tab1 : row.find('\t', tab1 + 1);
        if (tab2 == std::string_view::npos) continue;
        std::string_view country = row.substr(0, tab1);
        std::string_view zone = row.substr(tab2 + 1);
        zone = zone.substr(0, zone.find('\t'));
        if (!is_country_code(country) || zone.empty() || zone.find(' ') != std::string_view::npos) continue;
        zones[std::string(country)].emplace_back(zone);
    }
    if (in.bad()) return std::nullopt;
    return zones;
}

namespace {

// The region of a parsed number, else the main country of its calling code.
std::optional<std::string> region_of(const PhoneNumber &number) {
    std::string region;
    util().GetRegionCodeForNumber(number, &region);
    if (region.size() != 2 || region == "ZZ") util().GetRegionCodeForCountryCode(number.country_code(), &region);
    if (region.size() != 2 || region == "ZZ") return std::nullopt;
    return region;
}

}  // namespace

std::optional<std::string> phone_country(std::string_view e164) {
    if (!is_e164(e164)) return std::nullopt;
    // A calling code of one country (most of them) names that country whatever the national
    // number is: libphonenumber's GetRegionCodeForNumber looks no further then. For a code
    // several countries share (+1, +7, +44, ...) the national number decides, and a parse is
    // needed only where it would change that number (below) or judge it too short. Calling
    // codes are prefix-free, and a parse takes the shortest that is one (ExtractCountryCode),
    // as this does.
    std::string_view digits = e164.substr(1);
    if (digits[0] != '0') {
        int code = 0;
        for (size_t n = 1; n <= 3 && n < digits.size(); n++) {
            code = code * 10 + (digits[n - 1] - '0');
            std::list<std::string> regions;
            util().GetRegionCodesForCountryCallingCode(code, &regions);
            if (regions.empty()) continue;
            // at least the two digits a national number needs (kMinLengthForNsn)
            if (digits.size() - n < 2) break;
            if (regions.size() == 1) {
                if (is_country_code(regions.front())) return regions.front();
                break;  // a non-geographic code (+800, +882 ...)
            }
            // A code several countries share: the national number decides, by the same
            // GetRegionCodeForNumber, without Parse's own 10 µs of regular expressions. What a
            // parse could change goes to the parse: a national number that starts with 0, 1 or
            // 8, the first digits of the national prefixes a parse strips for the main
            // countries of shared codes (GB's 0, US's 1, RU's 8), and 0, kept as an Italian
            // leading zero. The unit tests compare every first digit of every shared code.
            std::string_view national = digits.substr(n);
            if (national[0] == '0' || national[0] == '1' || national[0] == '8') break;
            PhoneNumber number;
            number.set_country_code(code);
            number.set_national_number(std::stoull(std::string(national)));
            return region_of(number);
        }
    }
    return phone_country_parsed(e164);
}

std::optional<std::string> phone_country_parsed(std::string_view e164) {
    if (!is_e164(e164)) return std::nullopt;
    PhoneNumber number;
    if (util().Parse(std::string(e164), "ZZ", &number) != PhoneNumberUtil::NO_PARSING_ERROR) return std::nullopt;
    return region_of(number);
}

std::vector<std::string> phone_zones(std::string_view e164, const CountryZones &zone_tab) {
    if (!is_e164(e164)) return {};
    PhoneNumber number;
    if (util().Parse(std::string(e164), "ZZ", &number) != PhoneNumberUtil::NO_PARSING_ERROR) return {};
    // IsValidNumber() is these two calls; the region is needed here as well.
    std::string region;
    util().GetRegionCodeForNumber(number, &region);
    if (!util().IsValidNumberForRegion(number, region)) return {};
    auto country = zone_tab.find(region);
    if (country == zone_tab.end()) return {};
    const std::vector<std::string> &candidates = country->second;

    std::vector<std::string> zones;
    if (region == "US" || region == "CA") {
        // Only zones zone.tab lists for the country: a later tzdata may fold one of the table's
        // zones into another.
        for (std::string &zone : area_zones(region, describe_area(number)))
            if (std::find(candidates.begin(), candidates.end(), zone) != candidates.end()) zones.push_back(std::move(zone));
    }
    if (zones.empty()) zones = candidates;
    std::sort(zones.begin(), zones.end());
    zones.erase(std::unique(zones.begin(), zones.end()), zones.end());
    return zones;
}

std::vector<std::string> phone_zones(std::string_view e164) {
    static const CountryZones system_zone_tab = read_zone_tab(kZoneTabPath).value_or(CountryZones());
    return phone_zones(e164, system_zone_tab);
}

}  // namespace sms_otp::sms
