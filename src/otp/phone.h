// Phone numbers in E.164, parsed and validated by libphonenumber.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sms_otp::otp {

// "+15551234567" for a valid number, nothing for anything else. region (e.g. "US") is used
// for numbers written without a country code; empty means only international numbers parse.
std::optional<std::string> normalize_phone(std::string_view input, std::string_view region);

}  // namespace sms_otp::otp
