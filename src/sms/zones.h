// The IANA time zones a phone number may be in, for campaign quiet hours: every zone tzdata's
// zone.tab lists for the number's country, narrowed for US and Canadian numbers to the zones of
// the state or province libphonenumber's offline geocoder names for the area code.
// Plain C++ without PostgreSQL, so the unit tests link it.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sms_otp::sms {

// E.164: '+' and at most 15 digits. Anything longer never reaches libphonenumber.
inline constexpr std::size_t kMaxE164Bytes = 16;

inline constexpr const char *kZoneTabPath = "/usr/share/zoneinfo/zone.tab";

// Zones of each country (ISO 3166 alpha-2 code) in the order zone.tab lists them.
using CountryZones = std::map<std::string, std::vector<std::string>, std::less<>>;

// Reads a zone.tab file: "CC<TAB>coordinates<TAB>TZ[<TAB>comment]" lines, '#' comments and
// blank lines skipped, malformed lines ignored. Nothing when the file cannot be read.
std::optional<CountryZones> read_zone_tab(const std::string &path);

// The zones of the US state (or DC) or Canadian province or territory that a geocoder
// description names: "New York, NY", "Florida", "Nova Scotia/Prince Edward Island" (both).
// country is "US" or "CA". Every zone the subdivisions span, unsorted and possibly repeated; empty
// when the description names none ("United States", an unknown city).
std::vector<std::string> area_zones(std::string_view country, std::string_view description);

// Zones for `e164` ("+12125550100"), sorted and unique; empty when it is not '+' and digits
// within kMaxE164Bytes, not a valid number, or its country has no zone in `zone_tab`.
std::vector<std::string> phone_zones(std::string_view e164, const CountryZones &zone_tab);

// The country (ISO 3166 alpha-2) a number in E.164 belongs to: the region libphonenumber
// gives a valid number, or for a number that is not valid the main country of its calling
// code. Nothing for anything that is not '+' and digits within kMaxE164Bytes, or whose calling
// code belongs to no country (+800, +882, an unassigned code).
std::optional<std::string> phone_country(std::string_view e164);

// The same from libphonenumber's full parse of every number: what phone_country answers, more
// slowly for the calling codes of one country (its tests compare the two).
std::optional<std::string> phone_country_parsed(std::string_view e164);

// The same against the system's zone.tab (kZoneTabPath), read once per process: empty for
// every number when it is missing.
std::vector<std::string> phone_zones(std::string_view e164);

}  // namespace sms_otp::sms
