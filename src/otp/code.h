// One-time codes: uniform decimal digits from the operating system's CSPRNG.
#pragma once

#include <string>

namespace sms_otp::otp {

std::string generate_code(int digits);

}  // namespace sms_otp::otp
