#include "identity/login.h"

namespace sms_otp::identity {

namespace {
std::string hex(std::string_view bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 0x0F];
    }
    return out;
}
}  // namespace

std::optional<std::string> login_id(const Claims &claims, std::string_view claim, settings::LoginFallback fallback,
                                    Sha256 sha256) {
    if (!claims.user_id()) return std::nullopt;
    auto value = claims.scalar(claim);
    if (value && !value->empty() && value->find('\0') == std::string::npos) return clip_utf8(*value, kMaxLoginBytes);
    switch (fallback) {
        case settings::kLoginToken:
            // A user from the legacy claim alone comes with no token text to tell logins apart.
            if (!claims.present()) return std::nullopt;
            return "token:" + hex(sha256(claims.text()));
        case settings::kLoginUser:
            return std::string("user");
        case settings::kLoginReject:
            break;
    }
    return std::nullopt;
}

std::string clip_utf8(std::string_view s, std::size_t max) {
    if (s.size() <= max) return std::string(s);
    size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) cut--;
    return std::string(s.substr(0, cut));
}

}  // namespace sms_otp::identity
