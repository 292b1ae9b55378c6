// HMAC-SHA-256 (code hashes at rest, webhook signatures) and a constant-time comparison.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sms_otp::otp {

// The 32-byte MAC as a binary string.
std::string hmac_sha256(std::string_view key, std::string_view message);

// Equal contents, in time that depends only on the lengths.
bool constant_time_equal(const void *a, std::size_t a_len, const void *b, std::size_t b_len);

std::string base64_encode(std::string_view bytes);
// Empty optional-like result: returns false when the input is not base64.
bool base64_decode(std::string_view text, std::string &out);

}  // namespace sms_otp::otp
