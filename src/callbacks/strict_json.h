// JSON from outside (callback bodies, JWT headers and claims) read without ambiguity: a name
// twice in one object, or nesting deeper than any provider nests, refuses the whole document
// rather than letting two readers (the signer's and ours) see different values.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string_view>

namespace sms_otp::callbacks {

inline constexpr int kMaxJsonDepth = 16;

// The document, or nothing when `text` is not one JSON value (RFC 8259, UTF-8) or has a
// duplicate name or nests deeper than kMaxJsonDepth.
std::optional<nlohmann::json> parse_strict_json(std::string_view text);

}  // namespace sms_otp::callbacks
