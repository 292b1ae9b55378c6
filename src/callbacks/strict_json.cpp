#include "callbacks/strict_json.h"

#include <set>
#include <string>
#include <vector>

namespace sms_otp::callbacks {

std::optional<nlohmann::json> parse_strict_json(std::string_view text) {
    using event = nlohmann::json::parse_event_t;
    bool refused = false;
    std::vector<std::set<std::string>> names;  // the names seen so far in each open object
    auto check = [&](int depth, event e, nlohmann::json &parsed) {
        if (refused) return false;
        switch (e) {
            case event::object_start:
            case event::array_start:
                if (depth >= kMaxJsonDepth) refused = true;
                if (e == event::object_start) names.emplace_back();
                break;
            case event::object_end:
                if (!names.empty()) names.pop_back();
                break;
            case event::key:
                if (names.empty() || !names.back().insert(parsed.get<std::string>()).second) refused = true;
                break;
            default:
                break;
        }
        return !refused;
    };
    nlohmann::json doc = nlohmann::json::parse(text.begin(), text.end(), check, false);
    if (refused || doc.is_discarded()) return std::nullopt;
    return doc;
}

}  // namespace sms_otp::callbacks
