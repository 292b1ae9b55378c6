// Phone numbers in E.164, parsed and validated by libphonenumber.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sms_otp::otp {

// "+15551234567" for a valid number, nothing for anything else. region (e.g. "US") is used
// for numbers written without a country code; empty means only international numbers parse.
std::optional<std::string> normalize_phone(std::string_view input, std::string_view region);

// The quick path of normalize_phone for input already in E.164: the same answer when it gives
// one; nothing when the full parse must decide. Exposed for the tests that compare the two.
std::optional<std::string> normalize_e164(std::string_view input);

}  // namespace sms_otp::otp
