// The login a code belongs to: the value of the JWT's login claim (sms_otp.login_claim), or
// what sms_otp.login_fallback puts in its place when the token has none.
#pragma once

#include "identity/claims.h"
#include "settings.h"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sms_otp::identity {

inline constexpr std::size_t kMaxLoginBytes = 128;

// SHA-256 of bytes as 32 raw bytes. The caller brings the implementation: PostgreSQL's in the
// server, OpenSSL's in the tests.
using Sha256 = std::string (*)(std::string_view);

// Nothing when there is no valid user, or the claim is missing and fallback is kLoginReject
// (callers fail closed). Otherwise:
//  - the claim's value when it is a non-empty string or a number (its text), clipped to
//    kMaxLoginBytes at a UTF-8 character boundary; a value holding a NUL byte is no value;
//  - kLoginToken: "token:" and the lowercase hex SHA-256 of the claims text (each token is its
//    own login; nothing without claims text);
//  - kLoginUser: "user" (no binding to a login).
std::optional<std::string> login_id(const Claims &claims, std::string_view claim, settings::LoginFallback fallback,
                                    Sha256 sha256);

// At most max bytes of s, cut before a UTF-8 continuation byte.
std::string clip_utf8(std::string_view s, std::size_t max);

}  // namespace sms_otp::identity
