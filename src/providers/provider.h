// One interface for every SMS provider: build the HTTP request for a message, and read the
// answer into an outcome the router acts on. Adapters hold no state and do no I/O.
#pragma once

#include "http/request.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sms_otp::providers {

// A row of sms_otp.api_integrations.
struct Provider {
    std::string name;
    std::string kind;
    std::string base_url;   // empty: the provider's public endpoint
    std::string sender;     // From number / alphanumeric sender
    nlohmann::json credentials = nlohmann::json::object();
    std::string version;    // changes whenever the row does (id and updated_at)
    bool selectable = false; // otp_send's provider_hint may pick it
    int max_concurrent = 0;  // requests open at once across the database's workers (0: no cap)
};

// A message taken from sms_otp.sms_outbox.
struct Message {
    int64_t id = 0;          // outbox id: our reference at the provider
    std::string type;        // otp, transactional, promo
    std::string to;          // E.164
    std::string body;
    std::string session_id;  // OTP session, empty otherwise
    int64_t created_unix = 0;
    int64_t expires_unix = 0;   // when it is no longer worth sending (0: never); see validity_seconds()
    std::string callback_base;  // sms_otp.callback_url, or empty: ask for no status callbacks
};

enum class Outcome {
    Sent,        // the provider accepted the message
    Retry,       // 5xx, timeout, refused or dropped connection: try the next provider
    AuthFailed,  // 401/403 or the provider's "bad credentials": provider unhealthy, try the next
    Throttled,   // 429 or the provider's throttling answer: back off until retry_after_s
    Rejected,    // the provider refused this message (bad number, bad request): try the next
};

struct Result {
    Outcome outcome = Outcome::Retry;
    std::string message_id;   // the provider's id for the message (Twilio SM..., Verify VE...)
    int retry_after_s = 0;    // Throttled: how long to leave the provider alone
    std::string error;        // short, human-readable; no secrets, no codes
};

// What a provider that keeps the code says of one entered.
enum class Check {
    Approved,     // the code is right (the provider's verification is done)
    Wrong,        // not the code; the verification stays open
    Expired,      // no open verification by that id: it expired, was used or cancelled
    Locked,       // too many wrong codes: the provider will approve none any more
    Unavailable,  // no usable answer (no answer, 5xx, 401, 429, an unreadable body): nothing is known
};

struct CheckResult {
    Check verdict = Check::Unavailable;
    std::string error;  // why, when not Approved or Wrong: short, no secrets, no codes
};

// The name of a verdict as otp_verify and the log read it: approved, wrong, expired, locked,
// unavailable.
const char *check_name(Check verdict);

// What an adapter makes of a message: the HTTP request that sends it, a refusal (the
// provider's row is unfit for any request), or neither: no HTTP at all (console logs it).
struct Outgoing {
    std::optional<http::Request> request;
    std::optional<Result> refused;
};

class Adapter {
public:
    virtual ~Adapter() = default;

    // The request for the message, unless the provider's sender or credentials hold control
    // characters (CR, LF, NUL, ...): written into headers or forms, they could forge fields of
    // their own, so no request is built (AuthFailed, "credentials contain control characters").
    Outgoing request(const Provider &p, const Message &m) const;
    // What the answer (or its absence: status 0) means.
    virtual Result interpret(const Provider &p, const http::Response &r) const = 0;

    // Providers that keep the code themselves (Twilio Verify, Vonage Verify) check it too, by
    // the id they gave the verification when it was sent (Result::message_id, stored in the
    // session's provider_session_id).
    virtual bool keeps_code() const { return false; }
    // The check request, refused as request() refuses; nothing when verification_id is empty.
    Outgoing check_request(const Provider &p, const std::string &verification_id, const std::string &code) const;
    // What the provider's answer to a check says (Check::Unavailable for providers that check nothing).
    virtual CheckResult check_result(const Provider &, const http::Response &) const { return {}; }

protected:
    // The adapter's own request; nothing for providers that do not use HTTP (console).
    virtual std::optional<http::Request> build(const Provider &p, const Message &m) const = 0;
    virtual std::optional<http::Request> build_check(const Provider &, const std::string & /*verification_id*/,
                                                     const std::string & /*code*/) const {
        return std::nullopt;
    }
};

// Why no request may be made with p's row (control characters in its sender, credentials or
// base_url), as the outcome of the attempt; nothing when it is fit.
std::optional<Result> unfit(const Provider &p);

// The adapter of a kind (twilio, twilio_verify, vonage, vonage_verify, messagebird, plivo, webhook,
// console); nullptr for an unknown kind.
const Adapter *adapter_for(std::string_view kind);

// The reading shared by every adapter of a plain HTTP answer: 2xx Sent, 401/403 AuthFailed,
// 429 Throttled (Retry-After, default 30 s), 5xx and no answer Retry, other 4xx Rejected.
Result classify(const http::Response &r);

// base_url when set (trailing slash removed), else the public endpoint's scheme and host.
std::string endpoint(const Provider &p, std::string_view public_base);

// A credential value, or "" when absent or not a string.
std::string credential(const Provider &p, const char *key);

}  // namespace sms_otp::providers
