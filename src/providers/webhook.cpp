// webhook: a JSON POST to any URL, signed as the Standard Webhooks specification says, for
// gateways of one's own.
// https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
// data.expires_at (Unix seconds) says until when the message is worth sending;
// data.status_callback, where to post its status (as the other providers are asked to).
#include "providers/adapters.h"

#include "otp/hmac.h"

#include <ctime>

namespace sms_otp::providers {

namespace {

// A "whsec_" secret carries its key in base64; any other secret is the key itself.
std::string signing_key(const std::string &secret) {
    static const std::string prefix = "whsec_";
    if (secret.compare(0, prefix.size(), prefix) == 0) {
        std::string key;
        if (otp::base64_decode(std::string_view(secret).substr(prefix.size()), key)) return key;
    }
    return secret;
}

class Webhook final : public Adapter {
public:
    std::optional<http::Request> build(const Provider &p, const Message &m) const override {
        int64_t now = static_cast<int64_t>(time(nullptr));
        // The id stays the same across retries and providers, so receivers can drop duplicates.
        std::string id = "msg_" + std::to_string(m.id);
        nlohmann::json payload = {
            {"id", id},
            {"type", "sms." + m.type},
            {"timestamp", m.created_unix != 0 ? m.created_unix : now},  // when the message was queued
            {"data",
             {{"to", m.to},
              {"text", m.body},
              {"message_id", m.id},
              {"session_id", m.session_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(m.session_id)}}},
        };
        // Absolute, unlike the providers' periods: the receiver knows its own queue.
        if (m.expires_unix != 0) payload["data"]["expires_at"] = m.expires_unix;
        std::string callback = status_callback_url(p, m);
        if (!callback.empty()) payload["data"]["status_callback"] = callback;
        std::string body = dump_json(payload);
        std::string timestamp = std::to_string(now);
        std::string mac = otp::hmac_sha256(signing_key(credential(p, "secret")), id + "." + timestamp + "." + body);

        http::Request req;
        req.url = p.base_url;  // the whole URL; no public endpoint to fall back on
        req.headers = {"Content-Type: application/json", "webhook-id: " + id, "webhook-timestamp: " + timestamp,
                       "webhook-signature: v1," + otp::base64_encode(mac)};
        req.body = std::move(body);
        return req;
    }

    Result interpret(const Provider &p, const http::Response &r) const override {
        nlohmann::json doc = parse_body(r.body);
        if (r.status >= 200 && r.status < 300) {
            Result out = classify(r);
            // The receiver's own id for the message, when it answers with one.
            std::string id = json_string(doc, "id");
            if (id.size() <= 100) out.message_id = id;
            return out;
        }
        return classify_with(p, r, "", json_string(doc, "error"));
    }
};

}  // namespace

const Adapter &webhook_adapter() {
    static const Webhook adapter;
    return adapter;
}

}  // namespace sms_otp::providers
