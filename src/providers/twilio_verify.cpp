// Twilio Verify: Twilio makes, sends and checks the code itself.
// https://www.twilio.com/docs/verify/api/verification
// https://www.twilio.com/docs/verify/api/verification-check
#include "providers/adapters.h"

namespace sms_otp::providers {

namespace {

std::string service_url(const Provider &p, const char *resource) {
    return endpoint(p, "https://verify.twilio.com") + "/v2/Services/" +
           http::url_encode(credential(p, "service_sid")) + "/" + resource;
}

http::Request form_post(const Provider &p, std::string url, std::string body) {
    http::Request req;
    req.url = std::move(url);
    req.basic_user = credential(p, "account_sid");
    req.basic_password = credential(p, "auth_token");
    req.headers = {"Accept: application/json", "Content-Type: application/x-www-form-urlencoded"};
    req.body = std::move(body);
    return req;
}

class TwilioVerify final : public Adapter {
public:
    // The message body is not sent: Verify writes its own text around its own code.
    std::optional<http::Request> build(const Provider &p, const Message &m) const override {
        return form_post(p, service_url(p, "Verifications"), "To=" + http::url_encode(m.to) + "&Channel=sms");
    }

    Result interpret(const Provider &p, const http::Response &r) const override { return twilio_answer(p, r); }

    bool keeps_code() const override { return true; }

    std::optional<http::Request> build_check(const Provider &p, const std::string &to,
                                             const std::string &code) const override {
        return form_post(p, service_url(p, "VerificationCheck"),
                         "To=" + http::url_encode(to) + "&Code=" + http::url_encode(code));
    }

    std::optional<bool> check_result(const http::Response &r) const override {
        if (r.status == 200) {
            nlohmann::json doc = parse_body(r.body);
            if (!doc.is_object()) return std::nullopt;
            if (json_string(doc, "status") == "approved") return true;
            auto valid = doc.find("valid");
            if (valid != doc.end() && valid->is_boolean() && valid->get<bool>()) return true;
            return false;  // pending: a wrong code
        }
        // No pending verification for this number: expired, already approved, or never sent.
        if (r.status == 404) return false;
        // Max check attempts reached (60202): no code can be approved any more.
        if (r.status == 429 && json_string(parse_body(r.body), "code") == "60202") return false;
        return std::nullopt;
    }
};

}  // namespace

const Adapter &twilio_verify_adapter() {
    static const TwilioVerify adapter;
    return adapter;
}

}  // namespace sms_otp::providers
