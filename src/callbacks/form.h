// The parameters of a callback: a query string or an application/x-www-form-urlencoded body
// (percent-decoding, '+' for a space), or the top level of a JSON object. Every parameter is
// bounded, and a name that comes twice refuses the lot: Twilio and Plivo sign every value of a
// repeated name, and no provider repeats one in these callbacks, so there is nothing to gain
// from choosing one value over another and a signed string that means one thing is safer.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sms_otp::callbacks {

inline constexpr std::size_t kMaxParams = 200;
inline constexpr std::size_t kMaxParamBytes = 8 * 1024;  // a name or a value, decoded

struct Param {
    std::string name;
    std::string value;
};

// Parameters in the order they came, each name once. Values are bytes as decoded: they are
// checked (UTF-8, control characters) only where they are read for the event.
class Params {
public:
    const std::vector<Param> &list() const { return list_; }
    const std::string *find(std::string_view name) const;
    bool empty() const { return list_.empty(); }
    // false when the name is already there or the limits are reached.
    bool add(std::string name, std::string value);

private:
    std::vector<Param> list_;
};

// The parameters of `text` ("a=1&b=x+y%21"). Empty pieces ("a=1&&b=2") are skipped and a piece
// without '=' is a name with an empty value. Nothing, with the reason in `why`, for a bad
// escape, an empty name, a repeated name or more than the limits allow.
std::optional<Params> decode_form(std::string_view text, std::string *why);

// The members of a JSON object as parameters: strings as they are, integers in decimal,
// true/false as words; null members are left out. Members of another type (fractions, arrays,
// objects) are refused when `scalars_only`, and skipped otherwise.
std::optional<Params> params_from_json(const nlohmann::json &object, bool scalars_only, std::string *why);

}  // namespace sms_otp::callbacks
