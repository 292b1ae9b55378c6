// Twilio Verify: Twilio makes, sends and checks the code itself; the check names the
// verification by the sid its send answered with.
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

    // By the verification's own id (VE..., kept from the send), not by the phone: a check by
    // phone would meet whichever verification is pending for that number, another login's or
    // a newer one's.
    std::optional<http::Request> build_check(const Provider &p, const std::string &verification_id,
                                             const std::string &code) const override {
        return form_post(p, service_url(p, "VerificationCheck"),
                         "VerificationSid=" + http::url_encode(verification_id) + "&Code=" + http::url_encode(code));
    }

    CheckResult check_result(const Provider &p, const http::Response &r) const override {
        nlohmann::json doc = parse_body(r.body);
        if (r.status == 200) return read_check(p, r, doc);
        std::string code = json_string(doc, "code");
        // No such verification any more: expired, approved or cancelled (20404).
        if (r.status == 404) return check_failure(p, r, Check::Expired, code, json_string(doc, "message"));
        // Max check attempts reached (60202): no code can be approved any more.
        if (r.status == 429 && code == "60202") return check_failure(p, r, Check::Locked, code, json_string(doc, "message"));
        return check_failure(p, r, Check::Unavailable, code, json_string(doc, "message"));
    }

private:
    // A VerificationCheck resource: its status (pending, approved, canceled, max_attempts_reached,
    // deleted, failed, expired) and valid, which must not say the opposite. Only strings and
    // booleans count: a status of another type, or a valid that is not a boolean, is unreadable.
    static CheckResult read_check(const Provider &p, const http::Response &r, const nlohmann::json &doc) {
        CheckResult unreadable = check_failure(p, r, Check::Unavailable, "", "");
        if (!doc.is_object()) return unreadable;
        auto s = doc.find("status");
        auto v = doc.find("valid");
        if (s != doc.end() && !s->is_string()) return unreadable;
        if (v != doc.end() && !v->is_boolean()) return unreadable;
        std::string status = s == doc.end() ? "" : s->get<std::string>();
        std::optional<bool> valid;
        if (v != doc.end()) valid = v->get<bool>();
        CheckResult out;
        if (status == "approved" || (status.empty() && valid == true)) {
            if (valid == false) return unreadable;
            out.verdict = Check::Approved;
            return out;
        }
        if (status == "pending" || (status.empty() && valid == false)) {
            if (valid == true) return unreadable;
            out.verdict = Check::Wrong;
            return out;
        }
        if (status == "max_attempts_reached") return check_failure(p, r, Check::Locked, "", "status " + status);
        if (status == "canceled" || status == "deleted" || status == "failed" || status == "expired")
            return check_failure(p, r, Check::Expired, "", "status " + status);
        return unreadable;
    }
};

}  // namespace

const Adapter &twilio_verify_adapter() {
    static const TwilioVerify adapter;
    return adapter;
}

}  // namespace sms_otp::providers
