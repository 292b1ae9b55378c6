#include "sms/template.h"

namespace sms_otp::sms {

namespace {

constexpr size_t kMaxName = 64;

bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

// The length of a placeholder name starting at body[at], if "{name}" is complete there.
size_t placeholder_at(std::string_view body, size_t at) {
    if (at >= body.size() || !name_start(body[at])) return 0;
    size_t end = at;
    while (end < body.size() && end - at <= kMaxName && name_char(body[end])) end++;
    if (end - at > kMaxName || end >= body.size() || body[end] != '}') return 0;
    return end - at;
}

// A scalar as text; false when the value cannot stand in a message.
bool value_text(const nlohmann::json &v, std::string &out) {
    if (v.is_string()) {
        out = v.get<std::string>();
        return true;
    }
    if (v.is_boolean()) {
        out = v.get<bool>() ? "true" : "false";
        return true;
    }
    if (v.is_number()) {
        out = v.dump();
        return true;
    }
    return false;
}

Rendered failure(const char *error, std::string placeholder) {
    Rendered r;
    r.error = error;
    r.placeholder = std::move(placeholder);
    return r;
}

}  // namespace

Rendered render_template(std::string_view body, const nlohmann::json &data) {
    Rendered r;
    std::string value;
    for (size_t i = 0; i < body.size();) {
        char c = body[i];
        if ((c == '{' || c == '}') && i + 1 < body.size() && body[i + 1] == c) {
            r.text += c;
            i += 2;
        } else if (size_t n = c == '{' ? placeholder_at(body, i + 1) : 0) {
            std::string name(body.substr(i + 1, n));
            auto it = data.is_object() ? data.find(name) : data.end();
            if (!data.is_object() || it == data.end()) return failure("template_data_missing", name);
            if (!value_text(*it, value)) return failure("invalid_template_data", name);
            r.text += value;
            i += n + 2;
        } else {
            r.text += c;
            i++;
        }
        if (r.text.size() > kMaxRenderedBytes) return failure("message_too_long", "");
    }
    return r;
}

}  // namespace sms_otp::sms
