// Times in callbacks, to Unix seconds and back to ISO 8601 UTC. Each provider writes its own
// format, so each has its own reader; none of them guesses.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sms_otp::callbacks {

// Readable times lie in years 1970..9999: every sum of one of them and a tolerance fits int64.
inline constexpr int64_t kMaxUnixSeconds = 253402300799;  // 9999-12-31T23:59:59Z

// "1700000000": decimal digits only (no sign, at most 12 digits), at most kMaxUnixSeconds.
std::optional<int64_t> parse_unix_seconds(std::string_view text);

// "2026-11-30T06:00:00Z", "2026-11-30T07:00:00+01:00", "...+0100", with optional fractions of a
// second (dropped): RFC 3339 with the offset required.
std::optional<int64_t> parse_iso8601(std::string_view text);

// "2026-11-30 06:00:00" in UTC (Vonage's message-timestamp).
std::optional<int64_t> parse_utc_datetime(std::string_view text);

// "2611300600": YYMMDDhhmm in UTC, years 2000..2099 (the SMSC time of Vonage's scts and
// Twilio's RawDlrDoneDate).
std::optional<int64_t> parse_yymmddhhmm(std::string_view text);

// "2026-11-30T06:00:00Z"; seconds outside 0..kMaxUnixSeconds are clamped.
std::string iso8601_utc(int64_t unix_seconds);

}  // namespace sms_otp::callbacks
