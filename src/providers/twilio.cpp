// Twilio Programmable Messaging: create a Message resource.
// https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
// StatusCallback: https://www.twilio.com/docs/api/errors/21609 (any http(s) URL up to 4,000
// characters); ValidityPeriod: https://www.twilio.com/docs/api/errors/90007
#include "providers/adapters.h"

namespace sms_otp::providers {

namespace {

// A Messaging Service SID (MG + 32 hex digits) goes in MessagingServiceSid, anything else is a
// From number or alphanumeric sender. The full shape is checked so a sender named "MGM" stays From.
bool is_messaging_service(const std::string &sender) {
    if (sender.size() != 34 || sender.compare(0, 2, "MG") != 0) return false;
    for (size_t i = 2; i < sender.size(); i++) {
        char c = sender[i];
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (!hex) return false;
    }
    return true;
}

// ValidityPeriod's upper bound (error 21624 / 90007: whole seconds from 1 to 36,000).
constexpr int64_t kMaxValiditySeconds = 36000;

// The status_callback credential of 1.0: reports go to a receiver of the operator's own, with
// our outbox id in the query.
std::string legacy_callback(const Provider &p, const Message &m) {
    std::string callback = credential(p, "status_callback");
    if (callback.empty()) return "";
    callback += callback.find('?') == std::string::npos ? "?" : "&";
    return callback + "outbox_id=" + std::to_string(m.id);
}

class Twilio final : public Adapter {
public:
    std::optional<http::Request> build(const Provider &p, const Message &m) const override {
        using http::url_encode;
        std::string sid = credential(p, "account_sid");
        http::Request req;
        req.url = endpoint(p, "https://api.twilio.com") + "/2010-04-01/Accounts/" + url_encode(sid) +
                  "/Messages.json";
        req.basic_user = sid;
        req.basic_password = credential(p, "auth_token");
        req.headers = {"Accept: application/json", "Content-Type: application/x-www-form-urlencoded"};
        req.body = "To=" + url_encode(m.to);
        req.body += is_messaging_service(p.sender) ? "&MessagingServiceSid=" : "&From=";
        req.body += url_encode(p.sender) + "&Body=" + url_encode(m.body);
        // Status callbacks come to sms_otp.callback_url. Without it, a status_callback credential
        // (the way of 1.0) is still honoured, with our outbox id in its query.
        std::string callback = status_callback_url(p, m);
        if (callback.empty()) callback = legacy_callback(p, m);
        if (!callback.empty()) req.body += "&StatusCallback=" + url_encode(callback);
        // The seconds Twilio may keep the message queued before giving up on it (1 to 36,000).
        if (auto validity = validity_seconds(m, 1, kMaxValiditySeconds))
            req.body += "&ValidityPeriod=" + std::to_string(*validity);
        return req;
    }

    Result interpret(const Provider &p, const http::Response &r) const override { return twilio_answer(p, r); }
};

}  // namespace

Result twilio_answer(const Provider &p, const http::Response &r) {
    nlohmann::json doc = parse_body(r.body);
    if (r.status >= 200 && r.status < 300) {
        Result out = classify(r);
        out.message_id = json_string(doc, "sid");
        return out;
    }
    std::string code = json_string(doc, "code");
    Result out = classify_with(p, r, code, json_string(doc, "message"));
    // Verify answers 429 for limits on one phone number (too many sends to it, too many
    // concurrent requests for it): the number is refused, the provider is not throttled.
    if (r.status == 429 && (code == "60203" || code == "60212")) {
        out.outcome = Outcome::Rejected;
        out.retry_after_s = 0;
    }
    return out;
}

const Adapter &twilio_adapter() {
    static const Twilio adapter;
    return adapter;
}

}  // namespace sms_otp::providers
