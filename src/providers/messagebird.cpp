// MessageBird (Bird) SMS Messaging API: create a message.
// https://developers.messagebird.com/api/sms-messaging/#send-outbound-sms
// validity: seconds the message may wait for delivery; reportUrl: status reports of this
// message (sent only for messages with a reference).
#include "providers/adapters.h"

namespace sms_otp::providers {

namespace {

// The API documents no upper bound for validity; it is an integer.
constexpr int64_t kMaxValiditySeconds = 2147483647;

// Recipients are MSISDNs; the API documents them as numbers.
nlohmann::json recipient(const std::string &to) {
    std::string digits = digits_only(to);
    bool numeric = !digits.empty() && digits.size() <= 18;
    for (char c : digits) numeric = numeric && c >= '0' && c <= '9';
    if (numeric) return std::stoll(digits);
    return digits;
}

class MessageBird final : public Adapter {
public:
    std::optional<http::Request> build(const Provider &p, const Message &m) const override {
        nlohmann::json body = {
            {"originator", p.sender},
            {"recipients", nlohmann::json::array({recipient(m.to)})},
            {"body", m.body},
            {"reference", std::to_string(m.id)},
        };
        if (auto validity = validity_seconds(m, 1, kMaxValiditySeconds)) body["validity"] = *validity;
        std::string callback = status_callback_url(p, m);
        if (!callback.empty()) body["reportUrl"] = callback;
        http::Request req;
        req.url = endpoint(p, "https://rest.messagebird.com") + "/messages";
        req.headers = {"Accept: application/json", "Content-Type: application/json",
                       "Authorization: AccessKey " + credential(p, "access_key")};
        req.body = dump_json(body);
        return req;
    }

    Result interpret(const Provider &p, const http::Response &r) const override {
        nlohmann::json doc = parse_body(r.body);
        if (r.status >= 200 && r.status < 300) {
            Result out = classify(r);
            out.message_id = json_string(doc, "id");
            return out;
        }
        // {"errors": [{"code", "description", "parameter"}]}: 401 bad key, 422 refused message.
        nlohmann::json first;
        auto errors = doc.is_object() ? doc.find("errors") : doc.end();
        if (doc.is_object() && errors != doc.end() && errors->is_array() && !errors->empty()) first = errors->front();
        return classify_with(p, r, json_string(first, "code"), json_string(first, "description"));
    }
};

}  // namespace

const Adapter &messagebird_adapter() {
    static const MessageBird adapter;
    return adapter;
}

}  // namespace sms_otp::providers
