// Provider answers, read by each adapter's interpret() (and the code checks' check_result()).
// Input: a first line "<kind> <status> [Retry-After value]", then the body. kind is an adapter
// (twilio, twilio_verify, vonage, vonage_verify, messagebird, plivo, webhook, console) or a
// check (twilio_verify_check, vonage_verify_check); another word picks one by its first byte,
// so every input reaches some adapter.
#include "http/request.h"
#include "providers/provider.h"
#include "support/check.h"

#include <cstdint>
#include <string>

namespace {

using namespace sms_otp;
using providers::Outcome;

const char *const kKinds[] = {"twilio",  "twilio_verify",       "vonage",           "vonage_verify",
                              "messagebird", "plivo",        "webhook",          "console",
                              "twilio_verify_check", "vonage_verify_check"};

providers::Provider provider(const std::string &kind) {
    providers::Provider p;
    p.name = kind + "-fuzz";
    p.kind = kind;
    p.sender = "+15550001111";
    p.credentials = {
        {"account_sid", "AC0123456789abcdef0123456789abcdef"},
        {"auth_token", "tok-Secret-xyz"},
        {"service_sid", "VA0123456789abcdef0123456789abcdef"},
        {"api_key", "key-abcdef"},
        {"api_secret", "Sec-ret"},
        {"access_key", "live-access-key"},
        {"auth_id", "MAXXXXXXXXXXXXXXXXXX"},
        {"secret", "whsec_c2VjcmV0LWtleS1ieXRlcw=="},
    };
    return p;
}

// What the worker stores of an error: control characters dropped, tab/CR/LF as spaces.
std::string as_stored(const std::string &s) {
    std::string out;
    for (unsigned char c : s) {
        if (c == '\t' || c == '\r' || c == '\n')
            out += ' ';
        else if (c >= 0x20 && c != 0x7F)
            out += static_cast<char>(c);
    }
    return out;
}

void check_result(const providers::Provider &p, const http::Response &r, const providers::Result &out) {
    int outcome = static_cast<int>(out.outcome);
    FUZZ_CHECK(outcome >= static_cast<int>(Outcome::Sent) && outcome <= static_cast<int>(Outcome::Rejected),
               "outcome out of range");
    FUZZ_CHECK(out.retry_after_s >= 0 && out.retry_after_s <= 86400, "retry_after_s out of [0, 1 day]");
    if (out.outcome != Outcome::Throttled) FUZZ_CHECK(out.retry_after_s == 0, "a wait without a throttle");
    if (p.kind != "console" && (r.status < 200 || r.status > 299))
        FUZZ_CHECK(out.outcome != Outcome::Sent, "a failed answer taken as sent");
    FUZZ_CHECK(out.error.size() <= 512, "error text not bounded");
    FUZZ_CHECK(out.message_id.size() <= r.body.size(), "message id longer than the answer");
    // No credential of the row comes back in the error, not even once the worker has dropped
    // control characters from it.
    std::string stored = as_stored(out.error);
    for (const auto &item : p.credentials.items()) {
        const std::string &value = item.value().get_ref<const std::string &>();
        FUZZ_CHECK(out.error.find(value) == std::string::npos, "credential in the error");
        FUZZ_CHECK(stored.find(value) == std::string::npos, "credential in the error once stored");
    }
}

void run(std::string_view in) {
    std::string_view line, body;
    fuzz::split_first_line(in, line, body);

    size_t sp = line.find(' ');
    std::string kind(line.substr(0, sp));
    std::string_view after = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
    bool known = false;
    for (const char *k : kKinds) known = known || kind == k;
    if (!known) kind = kKinds[(in.empty() ? 0 : static_cast<unsigned char>(in[0])) % (sizeof(kKinds) / sizeof(*kKinds))];

    http::Response r;
    sp = after.find(' ');
    r.status = fuzz::small_int(after.substr(0, sp), 200);
    if (r.status < 0 || r.status > 999) r.status = 0;
    if (sp != std::string_view::npos) r.retry_after = std::string(after.substr(sp + 1));
    r.body = std::string(body);
    if (r.status == 0) {
        // No answer: libcurl's text, which may quote the URL with the account SID in it.
        r.error = "Failed to connect to api.twilio.com port 443: /2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef";
        r.timed_out = !body.empty() && body[0] == 't';
    }

    bool check = kind.size() > 6 && kind.compare(kind.size() - 6, 6, "_check") == 0;
    providers::Provider p = provider(check ? kind.substr(0, kind.size() - 6) : kind);
    const providers::Adapter *adapter = providers::adapter_for(p.kind);
    FUZZ_CHECK(adapter != nullptr, "no adapter");
    if (check) {
        FUZZ_CHECK(adapter->keeps_code(), "a check of an adapter that keeps the code");
        providers::CheckResult out = adapter->check_result(p, r);
        using providers::Check;
        // Approved only from a 200; a wrong code (an attempt spent) only from the provider's own
        // answer for it (Twilio 200, Vonage 400); a verdict of nothing from no answer.
        if (r.status != 200) FUZZ_CHECK(out.verdict != Check::Approved, "approved without a 200");
        if (r.status != 200 && r.status != 400) FUZZ_CHECK(out.verdict != Check::Wrong, "a wrong code from a failure");
        if (r.status == 0) FUZZ_CHECK(out.verdict == Check::Unavailable, "a verdict without an answer");
        FUZZ_CHECK(out.error.size() <= 512, "error text not bounded");
        if (out.verdict == Check::Approved || out.verdict == Check::Wrong)
            FUZZ_CHECK(out.error.empty(), "an error with a verdict on the code");
        for (const auto &item : p.credentials.items())
            FUZZ_CHECK(out.error.find(item.value().get_ref<const std::string &>()) == std::string::npos,
                       "credential in the error");
        return;
    }
    check_result(p, r, adapter->interpret(p, r));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view in(reinterpret_cast<const char *>(data), size);
    fuzz::no_throw("interpret", [&] { run(in); });
    return 0;
}
