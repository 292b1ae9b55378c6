// Vonage Verify (API v2): Vonage makes, sends and checks the code itself.
// Send: POST /v2/verify, JSON {brand, workflow: [{channel: "sms", to}], channel_timeout,
// client_ref}; 202 {"request_id"}. Check: POST /v2/verify/{request_id}, JSON {"code"}; 200
// {"request_id", "status": "completed"}. Errors are RFC 7807 documents {type, title, detail,
// instance}. Authentication: HTTP Basic with the account's API key and secret (JWT is the
// other way; Basic needs no Vonage application).
// https://developer.vonage.com/en/verify/concepts/authentication
// https://developer.vonage.com/en/verify/concepts/workflow
// https://developer.vonage.com/en/api/verify.v2
#include "providers/adapters.h"

namespace sms_otp::providers {

namespace {

// How long the SMS step waits for the code: 60 to 900 seconds; with one channel in the
// workflow, how long the code lives.
constexpr int64_t kMinTimeout = 60, kMaxTimeout = 900;
constexpr size_t kMaxClientRef = 16;

http::Request json_post(const Provider &p, std::string url, const nlohmann::json &body) {
    http::Request req;
    req.url = std::move(url);
    req.basic_user = credential(p, "api_key");
    req.basic_password = credential(p, "api_secret");
    req.headers = {"Accept: application/json", "Content-Type: application/json"};
    req.body = dump_json(body);
    return req;
}

std::string base(const Provider &p) { return endpoint(p, "https://api.nexmo.com") + "/v2/verify"; }

// An RFC 7807 error document read for the log: its title, and its detail when there is one.
std::string problem(const nlohmann::json &doc) {
    std::string title = json_string(doc, "title"), detail = json_string(doc, "detail");
    if (detail.empty()) return title;
    return title.empty() ? detail : title + ": " + detail;
}

class VonageVerify final : public Adapter {
public:
    // The message body is not sent: Vonage writes its own text (with the brand) around its own
    // code. The brand is the provider row's sender.
    std::optional<http::Request> build(const Provider &p, const Message &m) const override {
        nlohmann::json body = {
            {"brand", p.sender},
            {"workflow", nlohmann::json::array({{{"channel", "sms"}, {"to", digits_only(m.to)}}})},
        };
        std::string ref = std::to_string(m.id);
        if (ref.size() <= kMaxClientRef) body["client_ref"] = ref;
        if (auto validity = validity_seconds(m, kMinTimeout, kMaxTimeout)) body["channel_timeout"] = *validity;
        return json_post(p, base(p), body);
    }

    Result interpret(const Provider &p, const http::Response &r) const override {
        nlohmann::json doc = parse_body(r.body);
        if (r.status >= 200 && r.status < 300) {
            Result out = classify(r);
            auto id = doc.is_object() ? doc.find("request_id") : doc.end();
            // Without its id the verification could never be checked: not a usable send.
            if (!doc.is_object() || id == doc.end() || !id->is_string() || id->get_ref<const std::string &>().empty()) {
                out.outcome = Outcome::Retry;
                out.error = "HTTP " + std::to_string(r.status) + ": no request_id in the answer";
                return out;
            }
            out.message_id = id->get<std::string>();
            return out;
        }
        Result out = classify_with(p, r, "", problem(doc));
        // A verification to this number is still running (409): the number is refused, the
        // provider is fine. Out of credit (402): nothing goes through this account.
        if (r.status == 409) out.outcome = Outcome::Rejected;
        if (r.status == 402) out.outcome = Outcome::AuthFailed;
        return out;
    }

    bool keeps_code() const override { return true; }

    std::optional<http::Request> build_check(const Provider &p, const std::string &verification_id,
                                             const std::string &code) const override {
        return json_post(p, base(p) + "/" + http::url_encode(verification_id), {{"code", code}});
    }

    // 200 completed: approved. 400 (a JSON error document): wrong code. 404: no such request
    // (expired, or verified already). 410: too many wrong codes, the workflow ended. 409 (the
    // workflow's step takes no code now), 429 and the rest: nothing known.
    CheckResult check_result(const Provider &p, const http::Response &r) const override {
        nlohmann::json doc = parse_body(r.body);
        if (r.status == 200) {
            auto status = doc.is_object() ? doc.find("status") : doc.end();
            if (doc.is_object() && status != doc.end() && status->is_string() && *status == "completed") {
                CheckResult out;
                out.verdict = Check::Approved;
                return out;
            }
            return check_failure(p, r, Check::Unavailable, "", "");
        }
        if (r.status == 400 && doc.is_object()) {
            CheckResult out;
            out.verdict = Check::Wrong;
            return out;
        }
        if (r.status == 404) return check_failure(p, r, Check::Expired, "", problem(doc));
        if (r.status == 410) return check_failure(p, r, Check::Locked, "", problem(doc));
        return check_failure(p, r, Check::Unavailable, "", problem(doc));
    }
};

}  // namespace

const Adapter &vonage_verify_adapter() {
    static const VonageVerify adapter;
    return adapter;
}

}  // namespace sms_otp::providers
