// Vonage (Nexmo) SMS API. It answers HTTP 200 for most failures too: the outcome is the
// status of each part in messages[].
// https://developer.vonage.com/en/api/sms  https://developer.vonage.com/en/api-errors/sms
// ttl: milliseconds from 20,000 to 604,800,000; callback: a URL of at most 100 characters.
#include "providers/adapters.h"

namespace sms_otp::providers {

namespace {

constexpr int kThrottleSeconds = 1;  // Vonage throttles per second of throughput
constexpr int64_t kMinTtlSeconds = 20, kMaxTtlSeconds = 604800;
constexpr size_t kMaxCallback = 100;

// A simple test for text that GSM-7 cannot carry: any byte outside ASCII.
bool needs_unicode(const std::string &text) {
    for (unsigned char c : text) {
        if (c >= 0x80) return true;
    }
    return false;
}

class Vonage final : public Adapter {
public:
    std::optional<http::Request> build(const Provider &p, const Message &m) const override {
        using http::url_encode;
        http::Request req;
        req.url = endpoint(p, "https://rest.nexmo.com") + "/sms/json";
        req.headers = {"Accept: application/json", "Content-Type: application/x-www-form-urlencoded"};
        req.body = "api_key=" + url_encode(credential(p, "api_key")) +
                   "&api_secret=" + url_encode(credential(p, "api_secret")) + "&from=" + url_encode(p.sender) +
                   "&to=" + url_encode(digits_only(m.to)) + "&text=" + url_encode(m.body) +
                   "&client-ref=" + std::to_string(m.id);
        if (needs_unicode(m.body)) req.body += "&type=unicode";
        if (auto validity = validity_seconds(m, kMinTtlSeconds, kMaxTtlSeconds))
            req.body += "&ttl=" + std::to_string(*validity * 1000);
        // A longer callback would fail the message; without one, the receipts go to the
        // account's webhook set in the Vonage dashboard (client-ref still names the message).
        std::string callback = status_callback_url(p, m);
        if (!callback.empty() && callback.size() <= kMaxCallback) req.body += "&callback=" + url_encode(callback);
        return req;
    }

    Result interpret(const Provider &p, const http::Response &r) const override {
        nlohmann::json doc = parse_body(r.body);
        if (r.status != 200) return classify_with(p, r, "", json_string(doc, "title"));

        auto parts = doc.is_object() ? doc.find("messages") : doc.end();
        if (!doc.is_object() || parts == doc.end() || !parts->is_array() || parts->empty()) {
            Result out;
            out.outcome = Outcome::Retry;
            out.error = "HTTP 200: unreadable answer";
            return out;
        }
        // A long text is sent in parts, each with its status; the first failing one decides.
        for (const auto &part : *parts) {
            std::string status = json_string(part, "status");
            if (status == "0") continue;
            Result out;
            out.outcome = outcome_of(status);
            if (out.outcome == Outcome::Throttled)
                out.retry_after_s = http::retry_after_seconds(r.retry_after, kThrottleSeconds);
            out.error = "HTTP 200: " + error_detail(p, "status " + status, json_string(part, "error-text"));
            return out;
        }
        Result out;
        out.outcome = Outcome::Sent;
        out.message_id = json_string(parts->front(), "message-id");
        return out;
    }

private:
    static Outcome outcome_of(const std::string &status) {
        if (status == "1" || status == "10") return Outcome::Throttled;  // throttled, too many binds
        // Invalid credentials, account barred, out of credit: nothing can go through this account.
        if (status == "4" || status == "8" || status == "9") return Outcome::AuthFailed;
        if (status == "5") return Outcome::Retry;  // internal error
        return Outcome::Rejected;                  // bad parameters, barred number, no route...
    }
};

}  // namespace

const Adapter &vonage_adapter() {
    static const Vonage adapter;
    return adapter;
}

}  // namespace sms_otp::providers
