#include "identity/claims.h"

namespace sms_otp::identity {

namespace {
// ASCII only: <cctype> follows the server's locale.
bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
}  // namespace

Claims::Claims(std::optional<std::string_view> text, std::optional<std::string_view> legacy_sub) {
    if (text && !text->empty()) {
        if (text->size() > kMaxClaimsBytes) return;  // oversized: no claims, and no legacy user either
        nlohmann::json doc = nlohmann::json::parse(text->begin(), text->end(), nullptr, false);
        if (doc.is_object()) {
            present_ = true;
            text_ = std::string(*text);
            doc_ = std::move(doc);
        }
    }
    auto it = present_ ? doc_.find("sub") : doc_.end();
    bool has_sub = present_ && it != doc_.end() && !it->is_null();
    std::optional<std::string> sub = has_sub ? scalar("sub") : std::optional<std::string>(legacy_sub);
    if (sub && is_uuid_text(*sub)) user_id_ = std::move(sub);
}

std::optional<std::string> Claims::scalar(std::string_view key) const {
    if (!present_) return std::nullopt;
    auto it = doc_.find(key);
    if (it == doc_.end()) return std::nullopt;
    if (it->is_string()) return it->get<std::string>();
    if (it->is_number()) return it->dump();
    return std::nullopt;
}

bool is_uuid_text(std::string_view s) {
    if (s.size() == 32) {
        for (char c : s)
            if (!is_hex(c)) return false;
        return true;
    }
    if (s.size() != 36) return false;
    for (size_t i = 0; i < s.size(); i++) {
        bool hyphen = i == 8 || i == 13 || i == 18 || i == 23;
        if (hyphen ? s[i] != '-' : !is_hex(s[i])) return false;
    }
    return true;
}

}  // namespace sms_otp::identity
