// Plivo Messaging API: send a message.
// https://www.plivo.com/docs/messaging/api/message/send-a-message
// url + method: status callbacks of this message; message_expiry: seconds it may wait in
// Plivo's queue, 5 to 10,799 (https://support.plivo.com/hc/en-us/articles/14814454609561).
#include "providers/adapters.h"

namespace sms_otp::providers {

namespace {

constexpr int64_t kMinExpirySeconds = 5, kMaxExpirySeconds = 10799;

class Plivo final : public Adapter {
public:
    std::optional<http::Request> build(const Provider &p, const Message &m) const override {
        std::string auth_id = credential(p, "auth_id");
        // dst: country code and number without '+' (Plivo strips it anyway; older API versions require it gone).
        nlohmann::json body = {{"src", p.sender}, {"dst", digits_only(m.to)}, {"text", m.body}};
        std::string callback = status_callback_url(p, m);
        if (!callback.empty()) {
            body["url"] = callback;
            body["method"] = "POST";
        }
        if (auto validity = validity_seconds(m, kMinExpirySeconds, kMaxExpirySeconds))
            body["message_expiry"] = *validity;
        http::Request req;
        req.url = endpoint(p, "https://api.plivo.com") + "/v1/Account/" + http::url_encode(auth_id) + "/Message/";
        req.basic_user = auth_id;
        req.basic_password = credential(p, "auth_token");
        req.headers = {"Accept: application/json", "Content-Type: application/json"};
        req.body = dump_json(body);
        return req;
    }

    Result interpret(const Provider &p, const http::Response &r) const override {
        nlohmann::json doc = parse_body(r.body);
        if (r.status >= 200 && r.status < 300) {
            Result out = classify(r);
            auto uuids = doc.is_object() ? doc.find("message_uuid") : doc.end();
            if (doc.is_object() && uuids != doc.end()) {
                if (uuids->is_array() && !uuids->empty() && uuids->front().is_string())
                    out.message_id = uuids->front().get<std::string>();
                else if (uuids->is_string())
                    out.message_id = uuids->get<std::string>();
            }
            return out;
        }
        // {"api_id", "error"}: error is a sentence, or an object of field errors.
        std::string error = json_string(doc, "error");
        if (error.empty() && doc.is_object() && doc.contains("error")) error = dump_json(doc["error"]);
        return classify_with(p, r, "", error);
    }
};

}  // namespace

const Adapter &plivo_adapter() {
    static const Plivo adapter;
    return adapter;
}

}  // namespace sms_otp::providers
