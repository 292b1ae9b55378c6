#include "callbacks/form.h"

namespace sms_otp::callbacks {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool percent_decode(std::string_view in, std::string &out) {
    out.clear();
    out.reserve(in.size());
    for (size_t i = 0; i < in.size(); i++) {
        char c = in[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%') {
            if (i + 2 >= in.size()) return false;
            int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else {
            out += c;
        }
    }
    return true;
}

}  // namespace

const std::string *Params::find(std::string_view name) const {
    for (const Param &p : list_)
        if (p.name == name) return &p.value;
    return nullptr;
}

bool Params::add(std::string name, std::string value) {
    if (list_.size() >= kMaxParams || name.size() > kMaxParamBytes || value.size() > kMaxParamBytes) return false;
    if (find(name)) return false;
    list_.push_back({std::move(name), std::move(value)});
    return true;
}

std::optional<Params> decode_form(std::string_view text, std::string *why) {
    Params params;
    size_t start = 0;
    std::string name, value;
    while (start <= text.size()) {
        size_t end = text.find('&', start);
        if (end == std::string_view::npos) end = text.size();
        std::string_view piece = text.substr(start, end - start);
        start = end + 1;
        if (piece.empty()) continue;
        if (params.list().size() >= kMaxParams) {
            *why = "The callback has more than " + std::to_string(kMaxParams) + " parameters.";
            return std::nullopt;
        }
        // Raw pieces are bounded before they are copied: a decoded byte takes 1 to 3 of them.
        if (piece.size() > 3 * kMaxParamBytes + 1) {
            *why = "A parameter of the callback is longer than " + std::to_string(kMaxParamBytes) + " bytes.";
            return std::nullopt;
        }
        size_t eq = piece.find('=');
        std::string_view raw_name = piece.substr(0, eq);
        std::string_view raw_value = eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1);
        if (!percent_decode(raw_name, name) || !percent_decode(raw_value, value)) {
            *why = "A parameter of the callback has a malformed percent escape.";
            return std::nullopt;
        }
        if (name.empty()) {
            *why = "A parameter of the callback has no name.";
            return std::nullopt;
        }
        if (name.size() > kMaxParamBytes || value.size() > kMaxParamBytes) {
            *why = "A parameter of the callback is longer than " + std::to_string(kMaxParamBytes) + " bytes.";
            return std::nullopt;
        }
        if (!params.add(name, value)) {
            *why = "A parameter name appears more than once in the callback.";
            return std::nullopt;
        }
    }
    return params;
}

std::optional<Params> params_from_json(const nlohmann::json &object, bool scalars_only, std::string *why) {
    if (!object.is_object()) {
        *why = "The callback's JSON body is not an object.";
        return std::nullopt;
    }
    if (object.size() > kMaxParams) {
        *why = "The callback has more than " + std::to_string(kMaxParams) + " parameters.";
        return std::nullopt;
    }
    Params params;
    for (auto it = object.begin(); it != object.end(); ++it) {
        const nlohmann::json &v = it.value();
        std::string value;
        if (v.is_null()) continue;
        if (v.is_string())
            value = v.get<std::string>();
        else if (v.is_number_integer())
            value = v.dump();
        else if (v.is_boolean())
            value = v.get<bool>() ? "true" : "false";
        else if (scalars_only) {
            *why = "A member of the callback's JSON body is neither a string nor an integer.";
            return std::nullopt;
        } else
            continue;
        if (!params.add(it.key(), std::move(value))) {
            *why = "A parameter of the callback is longer than " + std::to_string(kMaxParamBytes) + " bytes.";
            return std::nullopt;
        }
    }
    return params;
}

}  // namespace sms_otp::callbacks
