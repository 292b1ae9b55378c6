// Message templates: "{name}" is replaced by data["name"]; "{{" and "}}" stand for braces.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace sms_otp::sms {

struct Rendered {
    std::string text;          // the message, when error is empty
    std::string error;         // template_data_missing | invalid_template_data | message_too_long
    std::string placeholder;   // the placeholder the error is about
};

// Longest rendered text: far above what max_segments lets through, so the segment count
// gives the real answer and a huge data value cannot make a huge string.
constexpr size_t kMaxRenderedBytes = 16384;

// Placeholders are names of letters, digits and underscores (not starting with a digit), at
// most 64 characters; a brace that does not open one is kept as it is. Values are strings,
// numbers or booleans; data must be an object (or null, for a template without placeholders).
// One pass: a value that looks like a placeholder is not filled in again.
Rendered render_template(std::string_view body, const nlohmann::json &data);

}  // namespace sms_otp::sms
