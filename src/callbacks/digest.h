// The hashes SMS providers sign their callbacks with, and HMAC (RFC 2104) over each: MD5 and
// SHA-1 (Vonage, Twilio), SHA-256 (Plivo, MessageBird, Standard Webhooks, our dedupe keys),
// SHA-384 and SHA-512 (Vonage, MessageBird). Plain C++ without PostgreSQL, so the unit tests and
// the fuzz targets run the code the server runs (otp/hmac.cpp needs the server's library).
#pragma once

#include <string>
#include <string_view>

namespace sms_otp::callbacks {

enum class Hash { md5, sha1, sha256, sha384, sha512 };

// The digest of data, as bytes (16, 20, 32, 48 or 64 of them).
std::string digest(Hash hash, std::string_view data);

// HMAC of message keyed by key, as bytes.
std::string hmac(Hash hash, std::string_view key, std::string_view message);

}  // namespace sms_otp::callbacks
