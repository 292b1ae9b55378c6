// The text forms signatures travel in: hex (Vonage, MessageBird's hashes), base64 (Twilio,
// Plivo, Standard Webhooks) and unpadded base64url (JWT, RFC 7515). Expected signatures are
// encoded and compared as text; only JWT segments are ever decoded from what a caller sent.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sms_otp::callbacks {

std::string hex_lower(std::string_view bytes);

// RFC 4648 §4, padded.
std::string base64(std::string_view bytes);

// RFC 4648 §5 without padding, as JWS uses it.
std::string base64url(std::string_view bytes);

// The bytes of an unpadded base64url text; nothing when the text is not exactly what
// base64url() would write for some bytes (padding, other characters, stray low bits).
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace sms_otp::callbacks
