// Time zones of a phone number (src/sms/zones): the zone.tab reader, every US and Canadian
// subdivision against the system's zone.tab, numbers narrowed by area code, numbers that fall
// back to their whole country, and what is refused.
#include "sms/zones.h"

#include <gtest/gtest.h>
#include <phonenumbers/phonenumberutil.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace sms_otp::sms;
using Zones = std::vector<std::string>;

const CountryZones &system_zone_tab() {
    static const CountryZones zones = read_zone_tab(kZoneTabPath).value_or(CountryZones());
    return zones;
}

// The system's zone.tab zones of a country, sorted as phone_zones returns them.
Zones country(const std::string &code) {
    auto it = system_zone_tab().find(code);
    if (it == system_zone_tab().end()) return {};
    Zones zones = it->second;
    std::sort(zones.begin(), zones.end());
    return zones;
}

// area_zones in the order phone_zones returns zones: sorted, each once.
Zones area(const std::string &code, const std::string &description) {
    Zones zones = area_zones(code, description);
    std::sort(zones.begin(), zones.end());
    zones.erase(std::unique(zones.begin(), zones.end()), zones.end());
    return zones;
}

// A zone.tab written to a temporary file, removed with it.
class TempZoneTab {
public:
    explicit TempZoneTab(const std::string &text) : path_(testing::TempDir() + "zones_test_zone.tab") {
        std::ofstream(path_) << text;
    }
    ~TempZoneTab() { std::remove(path_.c_str()); }
    const std::string &path() const { return path_; }

private:
    std::string path_;
};

class SystemZoneTab : public testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(system_zone_tab().empty()) << kZoneTabPath << " is missing or empty (Debian: tzdata)";
    }
};

// Every state and DC, every province and territory, by the codes and names the geocoder uses.
const char *const kStates[][2] = {
    {"AL", "Alabama"},        {"AK", "Alaska"},         {"AZ", "Arizona"},        {"AR", "Arkansas"},
    {"CA", "California"},     {"CO", "Colorado"},       {"CT", "Connecticut"},    {"DE", "Delaware"},
    {"DC", "Washington D.C."}, {"FL", "Florida"},       {"GA", "Georgia"},        {"HI", "Hawaii"},
    {"ID", "Idaho"},          {"IL", "Illinois"},       {"IN", "Indiana"},        {"IA", "Iowa"},
    {"KS", "Kansas"},         {"KY", "Kentucky"},       {"LA", "Louisiana"},      {"ME", "Maine"},
    {"MD", "Maryland"},       {"MA", "Massachusetts"},  {"MI", "Michigan"},       {"MN", "Minnesota"},
    {"MS", "Mississippi"},    {"MO", "Missouri"},       {"MT", "Montana"},        {"NE", "Nebraska"},
    {"NV", "Nevada"},         {"NH", "New Hampshire"},  {"NJ", "New Jersey"},     {"NM", "New Mexico"},
    {"NY", "New York"},       {"NC", "North Carolina"}, {"ND", "North Dakota"},   {"OH", "Ohio"},
    {"OK", "Oklahoma"},       {"OR", "Oregon"},         {"PA", "Pennsylvania"},   {"RI", "Rhode Island"},
    {"SC", "South Carolina"}, {"SD", "South Dakota"},   {"TN", "Tennessee"},      {"TX", "Texas"},
    {"UT", "Utah"},           {"VT", "Vermont"},        {"VA", "Virginia"},       {"WA", "Washington State"},
    {"WV", "West Virginia"},  {"WI", "Wisconsin"},      {"WY", "Wyoming"},
};
const char *const kProvinces[][2] = {
    {"AB", "Alberta"},      {"BC", "British Columbia"},      {"MB", "Manitoba"},
    {"NB", "New Brunswick"}, {"NL", "Newfoundland and Labrador"}, {"NS", "Nova Scotia"},
    {"NT", "Northwest Territories"}, {"NU", "Nunavut"},       {"ON", "Ontario"},
    {"PE", "Prince Edward Island"},  {"QC", "Quebec"},        {"SK", "Saskatchewan"},
    {"YT", "Yukon"},
};

// Each subdivision has zones, all of them zone.tab zones of its country, the same by code and
// by name; together they cover every zone of the country.
template <size_t N>
void check_subdivisions(const std::string &code, const char *const (&table)[N][2]) {
    Zones all = country(code);
    std::set<std::string> covered;
    for (const auto &row : table) {
        SCOPED_TRACE(row[1]);
        Zones by_code = area(code, std::string("Somewhere, ") + row[0]);
        Zones by_name = area(code, row[1]);
        EXPECT_FALSE(by_code.empty());
        EXPECT_EQ(by_code, by_name);
        for (const std::string &zone : by_code) {
            EXPECT_TRUE(std::binary_search(all.begin(), all.end(), zone)) << zone << " is not in zone.tab for " << code;
            covered.insert(zone);
        }
    }
    EXPECT_EQ(Zones(covered.begin(), covered.end()), all);
}

TEST_F(SystemZoneTab, EveryStateHasZonesOfTheUnitedStates) { check_subdivisions("US", kStates); }
TEST_F(SystemZoneTab, EveryProvinceHasZonesOfCanada) { check_subdivisions("CA", kProvinces); }

TEST(AreaZones, ReadsTheGeocodersDescriptions) {
    EXPECT_EQ(area("US", "New York, NY"), Zones{"America/New_York"});
    EXPECT_EQ(area("US", "Florida"), (Zones{"America/Chicago", "America/New_York"}));
    EXPECT_EQ(area("US", "Philadelphia"), Zones{"America/New_York"});
    EXPECT_EQ(area("CA", "Chéticamp, NS"), (Zones{"America/Glace_Bay", "America/Halifax"}));
    EXPECT_EQ(area("CA", "Nova Scotia/Prince Edward Island"), (Zones{"America/Glace_Bay", "America/Halifax"}));
    EXPECT_EQ(area("CA", "Northwest Territories/Nunavut/Yukon"),
              (Zones{"America/Atikokan", "America/Cambridge_Bay", "America/Dawson", "America/Edmonton",
                     "America/Inuvik", "America/Iqaluit", "America/Rankin_Inlet", "America/Resolute",
                     "America/Whitehorse"}));
    EXPECT_EQ(area("CA", "Watson Lake"), (Zones{"America/Dawson", "America/Whitehorse"}));
}

TEST(AreaZones, NamesNothingItDoesNotKnow) {
    EXPECT_EQ(area_zones("US", "United States"), Zones{});
    EXPECT_EQ(area_zones("CA", "Canada"), Zones{});
    EXPECT_EQ(area_zones("US", "Springfield"), Zones{});
    EXPECT_EQ(area_zones("US", "Somewhere, ZZ"), Zones{});
    EXPECT_EQ(area_zones("US", "Ontario"), Zones{}) << "a province is no US state";
    EXPECT_EQ(area_zones("CA", "Regina, CA"), Zones{}) << "CA is California only for the US";
    EXPECT_EQ(area_zones("CA", "Ontario/Atlantis"), Zones{}) << "every part must be known";
    EXPECT_EQ(area_zones("US", ""), Zones{});
}

TEST_F(SystemZoneTab, NarrowsUsNumbersToTheirState) {
    EXPECT_EQ(phone_zones("+12125550100"), Zones{"America/New_York"});          // New York, NY
    EXPECT_EQ(phone_zones("+14155550100"), Zones{"America/Los_Angeles"});       // San Francisco, CA
    EXPECT_EQ(phone_zones("+13125550100"), Zones{"America/Chicago"});           // Chicago, IL
    EXPECT_EQ(phone_zones("+18085550100"), Zones{"Pacific/Honolulu"});          // Hawaii
    EXPECT_EQ(phone_zones("+12025550100"), Zones{"America/New_York"});          // Washington D.C.
    EXPECT_EQ(phone_zones("+12065550100"), Zones{"America/Los_Angeles"});       // Washington State
    EXPECT_EQ(phone_zones("+13055550100"), (Zones{"America/Chicago", "America/New_York"}));  // Florida
    EXPECT_EQ(phone_zones("+15125550100"), (Zones{"America/Chicago", "America/Denver"}));    // Texas
    EXPECT_EQ(phone_zones("+19075550100"), (Zones{"America/Adak", "America/Anchorage", "America/Juneau",
                                                  "America/Metlakatla", "America/Nome", "America/Sitka",
                                                  "America/Yakutat"}));  // Alaska
    EXPECT_EQ(phone_zones("+13176330100"),
              (Zones{"America/Chicago", "America/Indiana/Indianapolis", "America/Indiana/Knox",
                     "America/Indiana/Marengo", "America/Indiana/Petersburg", "America/Indiana/Tell_City",
                     "America/Indiana/Vevay", "America/Indiana/Vincennes", "America/Indiana/Winamac"}));  // Indianapolis, IN
}

TEST_F(SystemZoneTab, NarrowsCanadianNumbersToTheirProvince) {
    EXPECT_EQ(phone_zones("+14165550100"), (Zones{"America/Atikokan", "America/Toronto", "America/Winnipeg"}));
    EXPECT_EQ(phone_zones("+16045550100"), (Zones{"America/Creston", "America/Dawson_Creek", "America/Edmonton",
                                                  "America/Fort_Nelson", "America/Vancouver"}));
    EXPECT_EQ(phone_zones("+19025550100"), (Zones{"America/Glace_Bay", "America/Halifax"}));  // NS/PE
    EXPECT_EQ(phone_zones("+18676680100"), (Zones{"America/Dawson", "America/Whitehorse"}));  // Whitehorse, YT
}

TEST_F(SystemZoneTab, NumbersWithoutAnAreaGetTheWholeCountry) {
    ASSERT_GT(country("US").size(), 20u);
    EXPECT_EQ(phone_zones("+18005550100"), country("US"));  // toll-free: "United States"
    EXPECT_EQ(phone_zones("+16005550100"), country("CA"));  // non-geographic: "Canada"
}

TEST_F(SystemZoneTab, OtherCountriesGetTheirZoneTabZones) {
    EXPECT_EQ(phone_zones("+33142685300"), Zones{"Europe/Paris"});
    Zones germany = country("DE");
    ASSERT_FALSE(germany.empty());
    EXPECT_TRUE(std::binary_search(germany.begin(), germany.end(), "Europe/Berlin"));
    EXPECT_EQ(phone_zones("+4915123456789"), germany);
    EXPECT_EQ(phone_zones("+18765550100"), Zones{"America/Jamaica"}) << "NANP, but not US or CA";
}

TEST_F(SystemZoneTab, RefusesWhatIsNotAValidE164Number) {
    for (const char *input : {"", "+", "+999", "12345", "12125550100", "+1 212 555 0100", "+12125550100 ",
                              " +12125550100", "+1212555010a", "++12125550100", "+1-212-555-0100"}) {
        EXPECT_EQ(phone_zones(input), Zones{}) << '"' << input << '"';
    }
    EXPECT_EQ(phone_zones(std::string_view("+12125550100\0", 13)), Zones{});
    EXPECT_EQ(phone_zones(std::string(40, '1').insert(0, "+")), Zones{});
    EXPECT_EQ(phone_zones("+1234567890123456789012345678901234567890"), Zones{});
    // 16 bytes is the cap: Berlin numbers libphonenumber calls valid, read at 16 bytes and
    // refused at 17 (E.164 allows 15 digits).
    EXPECT_EQ(phone_zones("+493012345678901"), country("DE"));
    EXPECT_EQ(phone_zones("+4930123456789012"), Zones{});
}

TEST(ZoneTab, ReadsCountriesAndZones) {
    TempZoneTab file(
        "# tzdb timezone descriptions\n"
        "#country-\n"
        "#code\tcoordinates\tTZ\t\t\tcomments\n"
        "\n"
        "AA\t+0000+00000\tEtc/Alpha\n"
        "BB\t+0100+00100\tEtc/Bravo\tfour columns: a comment\n"
        "BB\t+0200+00200\tEtc/Bravo_Two\tcomment, then a CR\r\n"
        "   \n"
        "cc\t+0300+00300\tEtc/Lowercase_Country\n"
        "DDD\t+0400+00400\tEtc/Three_Letters\n"
        "EE\t+0500+00500\n"
        "FF\t+0600+00600\t\tempty zone\n"
        "GG +0700+00700 Etc/Spaces\n"
        "HH\t+0800+00800\tEtc/Last_Line_Without_Newline");
    auto zones = read_zone_tab(file.path());
    ASSERT_TRUE(zones.has_value());
    EXPECT_EQ(*zones, (CountryZones{{"AA", {"Etc/Alpha"}},
                                    {"BB", {"Etc/Bravo", "Etc/Bravo_Two"}},
                                    {"HH", {"Etc/Last_Line_Without_Newline"}}}));
}

TEST(ZoneTab, MissingFileIsNothing) {
    EXPECT_FALSE(read_zone_tab("/nonexistent/zone.tab").has_value());
    TempZoneTab empty("");
    auto zones = read_zone_tab(empty.path());
    ASSERT_TRUE(zones.has_value());
    EXPECT_TRUE(zones->empty());
    EXPECT_EQ(phone_zones("+33142685300", *zones), Zones{});
}

// Against a zone.tab that lists only some zones: a state's zones are kept only when listed, and
// a state none of whose zones are listed gets the country's.
TEST(ZoneTab, ZonesComeFromTheGivenFile) {
    TempZoneTab file(
        "US\t+404251-0740023\tAmerica/New_York\tEastern (most areas)\n"
        "US\t+415100-0873900\tAmerica/Chicago\tCentral (most areas)\n"
        "FR\t+4852+00220\tEurope/Paris\n");
    auto zones = read_zone_tab(file.path());
    ASSERT_TRUE(zones.has_value());
    EXPECT_EQ(phone_zones("+15125550100", *zones), Zones{"America/Chicago"});  // Texas, Denver not listed
    EXPECT_EQ(phone_zones("+18085550100", *zones), (Zones{"America/Chicago", "America/New_York"}));  // Hawaii
    EXPECT_EQ(phone_zones("+33142685300", *zones), Zones{"Europe/Paris"});
    EXPECT_EQ(phone_zones("+4915123456789", *zones), Zones{}) << "no German zone in the file";
    EXPECT_EQ(phone_zones("+14165550100", *zones), Zones{}) << "no Canadian zone in the file";
}

}  // namespace

TEST(PhoneCountry, NamesTheCountryOfANumber) {
    EXPECT_EQ(phone_country("+14155550123"), "US");
    EXPECT_EQ(phone_country("+16135550123"), "CA");
    EXPECT_EQ(phone_country("+447400123456"), "GB");
    EXPECT_EQ(phone_country("+33612345678"), "FR");
    EXPECT_EQ(phone_country("+4915123456789"), "DE");
}

TEST(PhoneCountry, FallsBackToTheCallingCodesCountry) {
    // Too short to be valid, yet plainly French.
    EXPECT_EQ(phone_country("+33123"), "FR");
}

TEST(PhoneCountry, NothingForWhatIsNoCountrysNumber) {
    EXPECT_EQ(phone_country(""), std::nullopt);
    EXPECT_EQ(phone_country("14155550123"), std::nullopt);
    EXPECT_EQ(phone_country("+1415555012345678"), std::nullopt);
    EXPECT_EQ(phone_country("+1-415"), std::nullopt);
    EXPECT_EQ(phone_country("+80012345678"), std::nullopt);  // international freephone
    EXPECT_EQ(phone_country("+999123456"), std::nullopt);    // unassigned
}

// phone_country names a calling code of one country without libphonenumber's parse. The quick
// answer must be the parse's for every calling code the library knows, for national numbers
// of every length, and for the example numbers of every region.
TEST(PhoneCountry, TheQuickPathAnswersAsTheFullParse) {
    auto &util = *i18n::phonenumbers::PhoneNumberUtil::GetInstance();
    std::set<int> codes;
    util.GetSupportedCallingCodes(&codes);
    ASSERT_GT(codes.size(), 200u);
    for (int unassigned : {0, 28, 99, 210, 259, 292, 384, 425, 693, 801, 999}) codes.insert(unassigned);
    std::mt19937 random(20261201);
    size_t compared = 0;
    for (int code : codes) {
        std::string prefix = "+" + std::to_string(code);
        for (size_t length = 0; prefix.size() + length <= kMaxE164Bytes; length++) {
            for (int trial = 0; trial < 6; trial++) {
                std::string number = prefix;
                for (size_t i = 0; i < length; i++) {
                    // the leading digits that are national prefixes and trunk codes, then any
                    char digit = i == 0 && trial < 3 ? "018"[trial] : char('0' + random() % 10);
                    number.push_back(digit);
                }
                EXPECT_EQ(phone_country(number), phone_country_parsed(number)) << number;
                compared++;
            }
        }
    }
    // The codes several countries share take a path of their own: every first digit, many times.
    for (int code : codes) {
        std::list<std::string> sharing;
        util.GetRegionCodesForCountryCallingCode(code, &sharing);
        if (sharing.size() < 2) continue;
        std::string prefix = "+" + std::to_string(code);
        for (size_t length = 1; prefix.size() + length <= kMaxE164Bytes; length++)
            for (int trial = 0; trial < 60; trial++) {
                std::string number = prefix + char('0' + trial % 10);
                for (size_t i = 1; i < length; i++) number.push_back(char('0' + random() % 10));
                EXPECT_EQ(phone_country(number), phone_country_parsed(number)) << number;
                compared++;
            }
    }
    std::set<std::string> regions;
    util.GetSupportedRegions(&regions);
    for (const std::string &region : regions) {
        i18n::phonenumbers::PhoneNumber example;
        if (!util.GetExampleNumber(region, &example)) continue;
        std::string number;
        util.Format(example, i18n::phonenumbers::PhoneNumberUtil::E164, &number);
        EXPECT_EQ(phone_country(number), phone_country_parsed(number)) << region << " " << number;
        compared++;
    }
    EXPECT_GT(compared, 25000u);
}
