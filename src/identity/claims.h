// The JWT claims PostgREST hands over in request.jwt.claims, read for who is calling: the user
// ("sub") and the claims' other scalar members. Plain C++ without PostgreSQL, so the unit tests
// and the fuzzers link it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sms_otp::identity {

// Claims of a real token are a few hundred bytes; longer text is not parsed at all.
inline constexpr std::size_t kMaxClaimsBytes = 16 * 1024;

class Claims {
public:
    // text: request.jwt.claims; legacy_sub: request.jwt.claim.sub, which PostgREST before 9
    // set instead. Text that is absent, longer than kMaxClaimsBytes, not JSON or not an
    // object gives no claims, and then no user either.
    explicit Claims(std::optional<std::string_view> text, std::optional<std::string_view> legacy_sub = std::nullopt);

    // An object within the cap was read.
    bool present() const { return present_; }
    // The text as given, when present().
    const std::string &text() const { return text_; }

    // A member as ->> reads a scalar: a string as it is, a number as its JSON text. Nothing
    // for an absent member, null, a boolean, an array or an object.
    std::optional<std::string> scalar(std::string_view key) const;

    // "sub" when it is a uuid (the legacy claim when the claims have no "sub" or a null one).
    const std::optional<std::string> &user_id() const { return user_id_; }

private:
    bool present_ = false;
    std::string text_;
    nlohmann::json doc_;
    std::optional<std::string> user_id_;
};

// 32 hex digits, with the four hyphens of the canonical form or none of them.
bool is_uuid_text(std::string_view s);

}  // namespace sms_otp::identity
