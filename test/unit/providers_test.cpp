// The requests each adapter builds and how it reads the answers, checked without a network or
// a database.
#include "http/request.h"
#include "otp/hmac.h"
#include "providers/adapters.h"
#include "providers/provider.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

// otp/hmac.h comes from test/support/hmac_openssl.cpp (OpenSSL); HmacDouble below checks it
// against the Standard Webhooks test vector.

namespace {

using namespace sms_otp;
using providers::Message;
using providers::Outcome;
using providers::Provider;
using providers::Result;

const providers::Adapter &adapter(const char *kind) {
    const providers::Adapter *a = providers::adapter_for(kind);
    if (!a) std::abort();
    return *a;
}

Provider provider(const char *kind, nlohmann::json credentials, std::string sender = "+15550001111",
                  std::string base_url = "") {
    Provider p;
    p.name = std::string(kind) + "-test";
    p.kind = kind;
    p.sender = std::move(sender);
    p.base_url = std::move(base_url);
    p.credentials = std::move(credentials);
    return p;
}

Message message() {
    Message m;
    m.id = 42;
    m.type = "otp";
    m.to = "+14155550123";
    m.body = "Your code is 493817";
    m.session_id = "7d3f2c1e-0000-4000-8000-000000000001";
    m.created_unix = 1700000000;
    return m;
}

http::Response answer(long status, std::string body = "", std::string retry_after = "") {
    http::Response r;
    r.status = status;
    r.body = std::move(body);
    r.retry_after = std::move(retry_after);
    return r;
}

http::Response timeout() {
    http::Response r;
    r.timed_out = true;
    r.error = "Operation timed out after 10000 milliseconds";
    return r;
}

bool has_header(const http::Request &r, const std::string &header) {
    return std::find(r.headers.begin(), r.headers.end(), header) != r.headers.end();
}

std::string header_value(const http::Request &r, const std::string &name) {
    for (const auto &h : r.headers) {
        if (h.compare(0, name.size() + 2, name + ": ") == 0) return h.substr(name.size() + 2);
    }
    return "";
}

std::string http_date(time_t t) {
    char buf[64];
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

// An error must say nothing of the credentials nor of the code in the body.
void expect_clean(const Result &r, const Provider &p) {
    EXPECT_EQ(r.error.find("493817"), std::string::npos) << r.error;
    for (const auto &item : p.credentials.items()) {
        if (item.value().is_string()) {
            EXPECT_EQ(r.error.find(item.value().get<std::string>()), std::string::npos) << r.error;
        }
    }
    EXPECT_LE(r.error.size(), 400u);
}

const nlohmann::json kTwilioCreds = {{"account_sid", "AC0123456789abcdef0123456789abcdef"},
                                     {"auth_token", "tok_secret_twilio"}};

// ------------------------------------------------------------------ http helpers

TEST(UrlEncode, KeepsUnreservedAndEscapesTheRest) {
    EXPECT_EQ(http::url_encode("AZaz09-._~"), "AZaz09-._~");
    EXPECT_EQ(http::url_encode("+1 415/5&=?"), "%2B1%20415%2F5%26%3D%3F");
    EXPECT_EQ(http::url_encode("é"), "%C3%A9");
    EXPECT_EQ(http::url_encode(std::string("a\0b", 3)), "a%00b");
    EXPECT_EQ(http::url_encode(""), "");
}

TEST(RetryAfter, DeltaSeconds) {
    EXPECT_EQ(http::retry_after_seconds("120", 30), 120);
    EXPECT_EQ(http::retry_after_seconds(" 7 ", 30), 7);
    EXPECT_EQ(http::retry_after_seconds("0", 30), 0);
    EXPECT_EQ(http::retry_after_seconds("90000", 30), 86400);
    EXPECT_EQ(http::retry_after_seconds("99999999999999999999999", 30), 86400);
}

TEST(RetryAfter, HttpDate) {
    time_t now = time(nullptr);
    int s = http::retry_after_seconds(http_date(now + 120), 30);
    EXPECT_GE(s, 118);
    EXPECT_LE(s, 120);
    EXPECT_EQ(http::retry_after_seconds(http_date(now - 3600), 30), 0);
    EXPECT_EQ(http::retry_after_seconds(http_date(now + 10 * 86400), 30), 86400);
}

TEST(RetryAfter, FallbackOnGarbage) {
    EXPECT_EQ(http::retry_after_seconds("", 30), 30);
    EXPECT_EQ(http::retry_after_seconds("   ", 30), 30);
    EXPECT_EQ(http::retry_after_seconds("-5", 30), 30);
    EXPECT_EQ(http::retry_after_seconds("1.5", 30), 30);
    EXPECT_EQ(http::retry_after_seconds("soon", 1), 1);
}

// ------------------------------------------------------------------ common

TEST(Common, AdapterForEveryKind) {
    for (const char *kind : {"twilio", "twilio_verify", "vonage", "vonage_verify", "messagebird", "plivo", "webhook",
                             "console"})
        EXPECT_NE(providers::adapter_for(kind), nullptr) << kind;
    EXPECT_EQ(providers::adapter_for("sendgrid"), nullptr);
    EXPECT_EQ(providers::adapter_for(""), nullptr);
    EXPECT_EQ(providers::adapter_for("twilio"), providers::adapter_for("twilio"));
    EXPECT_TRUE(providers::adapter_for("twilio_verify")->keeps_code());
    EXPECT_FALSE(providers::adapter_for("twilio")->keeps_code());
}

TEST(Common, EndpointAndCredential) {
    Provider p = provider("twilio", {{"account_sid", "AC1"}, {"n", 5}});
    EXPECT_EQ(providers::endpoint(p, "https://api.twilio.com"), "https://api.twilio.com");
    p.base_url = "http://127.0.0.1:8025//";
    EXPECT_EQ(providers::endpoint(p, "https://api.twilio.com"), "http://127.0.0.1:8025");
    EXPECT_EQ(providers::credential(p, "account_sid"), "AC1");
    EXPECT_EQ(providers::credential(p, "n"), "");
    EXPECT_EQ(providers::credential(p, "missing"), "");
    p.credentials = nlohmann::json::array();
    EXPECT_EQ(providers::credential(p, "account_sid"), "");
}

TEST(Common, Classify) {
    EXPECT_EQ(providers::classify(answer(200)).outcome, Outcome::Sent);
    EXPECT_EQ(providers::classify(answer(202)).outcome, Outcome::Sent);
    EXPECT_EQ(providers::classify(answer(401)).outcome, Outcome::AuthFailed);
    EXPECT_EQ(providers::classify(answer(403)).outcome, Outcome::AuthFailed);
    EXPECT_EQ(providers::classify(answer(400)).outcome, Outcome::Rejected);
    EXPECT_EQ(providers::classify(answer(404)).outcome, Outcome::Rejected);
    EXPECT_EQ(providers::classify(answer(500)).outcome, Outcome::Retry);
    EXPECT_EQ(providers::classify(answer(503)).outcome, Outcome::Retry);
    EXPECT_EQ(providers::classify(answer(302)).outcome, Outcome::Retry);

    Result t = providers::classify(answer(429, "", "7"));
    EXPECT_EQ(t.outcome, Outcome::Throttled);
    EXPECT_EQ(t.retry_after_s, 7);
    EXPECT_EQ(providers::classify(answer(429)).retry_after_s, 30);
    EXPECT_EQ(providers::classify(answer(429, "", "junk")).retry_after_s, 30);

    Result none = providers::classify(timeout());
    EXPECT_EQ(none.outcome, Outcome::Retry);
    EXPECT_EQ(none.error, "no answer: timed out");
    http::Response refused;
    refused.error = "Failed to connect to 127.0.0.1 port 9: Connection refused";
    EXPECT_EQ(providers::classify(refused).outcome, Outcome::Retry);
    EXPECT_NE(providers::classify(refused).error.find("Connection refused"), std::string::npos);
}

// ------------------------------------------------------------------ twilio

TEST(Twilio, Request) {
    Provider p = provider("twilio", kTwilioCreds);
    auto r = adapter("twilio").request(p, message()).request;
    ASSERT_TRUE(r);
    EXPECT_EQ(r->method, "POST");
    EXPECT_EQ(r->url, "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json");
    EXPECT_EQ(r->basic_user, "AC0123456789abcdef0123456789abcdef");
    EXPECT_EQ(r->basic_password, "tok_secret_twilio");
    EXPECT_TRUE(has_header(*r, "Accept: application/json"));
    EXPECT_TRUE(has_header(*r, "Content-Type: application/x-www-form-urlencoded"));
    EXPECT_EQ(r->body, "To=%2B14155550123&From=%2B15550001111&Body=Your%20code%20is%20493817");
    EXPECT_EQ(r->timeout_ms, http::Request().timeout_ms);
}

TEST(Twilio, RequestThroughMessagingServiceAndBaseUrl) {
    Provider p = provider("twilio", kTwilioCreds, "MG0123456789abcdef0123456789abcdef", "http://127.0.0.1:8025/");
    auto r = adapter("twilio").request(p, message()).request;
    ASSERT_TRUE(r);
    EXPECT_EQ(r->url, "http://127.0.0.1:8025/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json");
    EXPECT_EQ(r->body,
              "To=%2B14155550123&MessagingServiceSid=MG0123456789abcdef0123456789abcdef&Body=Your%20code%20is%20493817");

    // An alphanumeric sender that merely starts with MG stays From.
    p.sender = "MGMResorts";
    EXPECT_NE(adapter("twilio").request(p, message()).request->body.find("&From=MGMResorts&"), std::string::npos);
}

TEST(Twilio, StatusCallbackCarriesOurId) {
    nlohmann::json creds = kTwilioCreds;
    creds["status_callback"] = "https://example.com/sms/status?src=twilio";
    auto r = adapter("twilio").request(provider("twilio", creds), message()).request;
    ASSERT_TRUE(r);
    EXPECT_NE(r->body.find("&StatusCallback=https%3A%2F%2Fexample.com%2Fsms%2Fstatus%3Fsrc%3Dtwilio%26outbox_id%3D42"),
              std::string::npos)
        << r->body;
}

TEST(Twilio, Interpret) {
    Provider p = provider("twilio", kTwilioCreds);
    const auto &a = adapter("twilio");

    Result ok = a.interpret(p, answer(201, R"({"sid":"SM0123456789abcdef0123456789abcdef","status":"queued"})"));
    EXPECT_EQ(ok.outcome, Outcome::Sent);
    EXPECT_EQ(ok.message_id, "SM0123456789abcdef0123456789abcdef");
    EXPECT_EQ(a.interpret(p, answer(201, "not json")).outcome, Outcome::Sent);

    Result auth = a.interpret(p, answer(401, R"({"code":20003,"message":"Authenticate","status":401})"));
    EXPECT_EQ(auth.outcome, Outcome::AuthFailed);
    EXPECT_EQ(auth.error, "HTTP 401: error 20003: Authenticate");

    Result busy = a.interpret(p, answer(429, R"({"code":20429,"message":"Too Many Requests"})", "3"));
    EXPECT_EQ(busy.outcome, Outcome::Throttled);
    EXPECT_EQ(busy.retry_after_s, 3);
    EXPECT_EQ(a.interpret(p, answer(429, R"({"code":20429})")).retry_after_s, 30);

    EXPECT_EQ(a.interpret(p, answer(503, "<html>down</html>")).outcome, Outcome::Retry);
    EXPECT_EQ(a.interpret(p, timeout()).outcome, Outcome::Retry);

    Result bad = a.interpret(
        p, answer(400, R"({"code":21211,"message":"Invalid 'To' Phone Number: +14155550123","status":400})"));
    EXPECT_EQ(bad.outcome, Outcome::Rejected);
    EXPECT_EQ(bad.error, "HTTP 400: error 21211: Invalid 'To' Phone Number: +###########");
    expect_clean(bad, p);
}

TEST(Twilio, ErrorsNeverCarrySecretsOrCodes) {
    Provider p = provider("twilio", kTwilioCreds);
    std::string echo = R"({"code":21617,"message":"Body 'Your code is 493817' rejected for account )"
                       R"(AC0123456789abcdef0123456789abcdef with token tok_secret_twilio"})";
    Result r = adapter("twilio").interpret(p, answer(400, echo));
    EXPECT_EQ(r.outcome, Outcome::Rejected);
    expect_clean(r, p);
    EXPECT_NE(r.error.find("error 21617"), std::string::npos);

    Result longer = adapter("twilio").interpret(p, answer(400, R"({"message":")" + std::string(1000, 'x') + "\"}"));
    EXPECT_LE(longer.error.size(), 220u);

    http::Response curl;
    curl.error = "URL rejected: https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/x";
    expect_clean(adapter("twilio").interpret(p, curl), p);
}

// ------------------------------------------------------------------ twilio_verify

TEST(TwilioVerify, Request) {
    nlohmann::json creds = kTwilioCreds;
    creds["service_sid"] = "VA0123456789abcdef0123456789abcdef";
    Provider p = provider("twilio_verify", creds);
    auto r = adapter("twilio_verify").request(p, message()).request;
    ASSERT_TRUE(r);
    EXPECT_EQ(r->url, "https://verify.twilio.com/v2/Services/VA0123456789abcdef0123456789abcdef/Verifications");
    EXPECT_EQ(r->basic_user, "AC0123456789abcdef0123456789abcdef");
    EXPECT_EQ(r->basic_password, "tok_secret_twilio");
    EXPECT_TRUE(has_header(*r, "Content-Type: application/x-www-form-urlencoded"));
    EXPECT_EQ(r->body, "To=%2B14155550123&Channel=sms");

    p.base_url = "http://127.0.0.1:8025";
    // The check names the verification by its sid, never the phone.
    auto c = adapter("twilio_verify").check_request(p, "VE0123456789abcdef0123456789abcdef", "493817").request;
    ASSERT_TRUE(c);
    EXPECT_EQ(c->method, "POST");
    EXPECT_EQ(c->url, "http://127.0.0.1:8025/v2/Services/VA0123456789abcdef0123456789abcdef/VerificationCheck");
    EXPECT_EQ(c->basic_user, "AC0123456789abcdef0123456789abcdef");
    EXPECT_EQ(c->body, "VerificationSid=VE0123456789abcdef0123456789abcdef&Code=493817");
    // A sid that tries to add form fields of its own stays one value.
    auto forged = adapter("twilio_verify").check_request(p, "VE1&To=+15550000000", "4938").request;
    ASSERT_TRUE(forged);
    EXPECT_EQ(forged->body, "VerificationSid=VE1%26To%3D%2B15550000000&Code=4938");
    // No id: nothing to ask.
    EXPECT_FALSE(adapter("twilio_verify").check_request(p, "", "493817").request);
}

TEST(TwilioVerify, Interpret) {
    Provider p = provider("twilio_verify", kTwilioCreds);
    const auto &a = adapter("twilio_verify");
    Result ok = a.interpret(p, answer(201, R"({"sid":"VE0123456789abcdef0123456789abcdef","status":"pending"})"));
    EXPECT_EQ(ok.outcome, Outcome::Sent);
    EXPECT_EQ(ok.message_id, "VE0123456789abcdef0123456789abcdef");
    EXPECT_EQ(a.interpret(p, answer(401, R"({"code":20003})")).outcome, Outcome::AuthFailed);
    EXPECT_EQ(a.interpret(p, answer(429, R"({"code":20429})", "4")).retry_after_s, 4);
    // Too many sends to this one number: refuse the message, leave the provider alone.
    EXPECT_EQ(a.interpret(p, answer(429, R"({"code":60203,"message":"Max send attempts reached"})")).outcome,
              Outcome::Rejected);
    EXPECT_EQ(a.interpret(p, answer(500)).outcome, Outcome::Retry);
    EXPECT_EQ(a.interpret(p, timeout()).outcome, Outcome::Retry);
}

providers::Check verdict(const char *kind, const http::Response &r) {
    return adapter(kind).check_result(provider(kind, kTwilioCreds), r).verdict;
}

TEST(TwilioVerify, CheckResult) {
    using providers::Check;
    EXPECT_EQ(verdict("twilio_verify", answer(200, R"({"status":"approved","valid":true})")), Check::Approved);
    EXPECT_EQ(verdict("twilio_verify", answer(200, R"({"valid":true})")), Check::Approved);
    EXPECT_EQ(verdict("twilio_verify", answer(200, R"({"status":"pending","valid":false})")), Check::Wrong);
    EXPECT_EQ(verdict("twilio_verify", answer(200, R"({"valid":false})")), Check::Wrong);
    EXPECT_EQ(verdict("twilio_verify", answer(200, R"({"status":"max_attempts_reached","valid":false})")), Check::Locked);
    for (const char *status : {"canceled", "expired", "deleted", "failed"})
        EXPECT_EQ(verdict("twilio_verify", answer(200, std::string(R"({"status":")") + status + R"("})")), Check::Expired)
            << status;
    EXPECT_EQ(verdict("twilio_verify", answer(404, R"({"code":20404,"message":"not found"})")), Check::Expired);
    EXPECT_EQ(verdict("twilio_verify", answer(429, R"({"code":60202})")), Check::Locked);
    EXPECT_EQ(verdict("twilio_verify", answer(429, R"({"code":20429})")), Check::Unavailable);
    EXPECT_EQ(verdict("twilio_verify", answer(500)), Check::Unavailable);
    EXPECT_EQ(verdict("twilio_verify", answer(401)), Check::Unavailable);
    EXPECT_EQ(verdict("twilio_verify", timeout()), Check::Unavailable);
    // Providers that do not keep the code have nothing to check.
    EXPECT_FALSE(adapter("twilio").check_request(provider("twilio", kTwilioCreds), "SM01", "1234").request);
    EXPECT_EQ(verdict("twilio", answer(200, R"({"status":"approved"})")), Check::Unavailable);
}

// What a hostile or broken answer to a check can make of it: never an approval, never a
// wrong code (which would cost the user an attempt) unless the answer says so in the
// provider's own terms.
TEST(TwilioVerify, CheckResultHostile) {
    using providers::Check;
    const char *unreadable[] = {
        "garbage", "", "null", "[]", R"("approved")", R"({"status":"approved","valid":false})",
        R"({"status":"pending","valid":true})", R"({"status":1})", R"({"status":["approved"]})",
        R"({"status":{"approved":true}})", R"({"valid":"true"})", R"({"valid":1})", R"({"status":"APPROVED"})",
        R"({"status":"approved")", R"({})", R"({"sid":"VE01"})",
    };
    for (const char *body : unreadable)
        EXPECT_EQ(verdict("twilio_verify", answer(200, body)), Check::Unavailable) << body;
    // Oversized: a large valid document is read like a small one; a deep one is cut, not recursed.
    std::string big = R"({"status":"pending","valid":false,"pad":")" + std::string(1 << 20, 'x') + R"("})";
    EXPECT_EQ(verdict("twilio_verify", answer(200, big)), Check::Wrong);
    std::string deep = R"({"status":"approved","x":)" + std::string(30000, '[') + std::string(30000, ']') + "}";
    EXPECT_EQ(verdict("twilio_verify", answer(200, deep)), Check::Approved);
    // Approval is only ever a 200.
    for (long status : {201L, 202L, 204L, 302L, 400L, 404L, 409L, 410L, 429L, 500L, 503L})
        EXPECT_NE(verdict("twilio_verify", answer(status, R"({"status":"approved","valid":true})")), Check::Approved)
            << status;
    // The error says why without the credentials or the digits of the answer.
    Provider p = provider("twilio_verify", kTwilioCreds);
    providers::CheckResult r = adapter("twilio_verify").check_result(
        p, answer(404, R"x({"code":20404,"message":"No VerificationCheck for +14155550123 (tok_secret_twilio)"})x"));
    EXPECT_EQ(r.verdict, Check::Expired);
    EXPECT_EQ(r.error.find("tok_secret_twilio"), std::string::npos) << r.error;
    EXPECT_EQ(r.error.find("4155550123"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("HTTP 404"), std::string::npos) << r.error;
    EXPECT_LE(r.error.size(), 400u);
}

// ------------------------------------------------------------------ vonage_verify

const nlohmann::json kVonageVerifyCreds = {{"api_key", "abcd1234"}, {"api_secret", "vonage_secret_1"}};

TEST(VonageVerify, Request) {
    Provider p = provider("vonage_verify", kVonageVerifyCreds, "Acme");
    Message m = message();
    m.expires_unix = static_cast<int64_t>(time(nullptr)) + 300;
    auto r = adapter("vonage_verify").request(p, m).request;
    ASSERT_TRUE(r);
    EXPECT_EQ(r->method, "POST");
    EXPECT_EQ(r->url, "https://api.nexmo.com/v2/verify");
    EXPECT_EQ(r->basic_user, "abcd1234");
    EXPECT_EQ(r->basic_password, "vonage_secret_1");
    EXPECT_TRUE(has_header(*r, "Content-Type: application/json"));
    nlohmann::json body = nlohmann::json::parse(r->body);
    EXPECT_EQ(body["brand"], "Acme");
    ASSERT_TRUE(body["workflow"].is_array());
    ASSERT_EQ(body["workflow"].size(), 1u);
    EXPECT_EQ(body["workflow"][0], nlohmann::json({{"channel", "sms"}, {"to", "14155550123"}}));
    EXPECT_EQ(body["client_ref"], "42");
    // The code lives as long as ours (60 to 900 seconds).
    ASSERT_TRUE(body["channel_timeout"].is_number_integer());
    EXPECT_GE(body["channel_timeout"].get<int>(), 298);
    EXPECT_LE(body["channel_timeout"].get<int>(), 300);
    // Our text is never sent: Vonage writes its own around its own code.
    EXPECT_EQ(r->body.find("493817"), std::string::npos);

    m.expires_unix = static_cast<int64_t>(time(nullptr)) + 5;
    EXPECT_EQ(nlohmann::json::parse(adapter("vonage_verify").request(p, m).request->body)["channel_timeout"], 60);
    m.expires_unix = static_cast<int64_t>(time(nullptr)) + 86400;
    EXPECT_EQ(nlohmann::json::parse(adapter("vonage_verify").request(p, m).request->body)["channel_timeout"], 900);
    m.expires_unix = 0;
    EXPECT_FALSE(nlohmann::json::parse(adapter("vonage_verify").request(p, m).request->body).contains("channel_timeout"));
    // client_ref takes at most 16 characters: a longer id is left out rather than refused.
    m.id = 12345678901234567;
    EXPECT_FALSE(nlohmann::json::parse(adapter("vonage_verify").request(p, m).request->body).contains("client_ref"));

    p.base_url = "http://127.0.0.1:8025/";
    auto c = adapter("vonage_verify").check_request(p, "c11236f4-00bf-4b89-84ba-88b25df97315", "4938").request;
    ASSERT_TRUE(c);
    EXPECT_EQ(c->method, "POST");
    EXPECT_EQ(c->url, "http://127.0.0.1:8025/v2/verify/c11236f4-00bf-4b89-84ba-88b25df97315");
    EXPECT_EQ(c->basic_user, "abcd1234");
    EXPECT_EQ(nlohmann::json::parse(c->body), nlohmann::json({{"code", "4938"}}));
    // An id cannot reach another path or add a query.
    auto forged = adapter("vonage_verify").check_request(p, "../../v1/x?y=1#z", "4938").request;
    ASSERT_TRUE(forged);
    EXPECT_EQ(forged->url, "http://127.0.0.1:8025/v2/verify/..%2F..%2Fv1%2Fx%3Fy%3D1%23z");
    EXPECT_FALSE(adapter("vonage_verify").check_request(p, "", "4938").request);
}

TEST(VonageVerify, Interpret) {
    Provider p = provider("vonage_verify", kVonageVerifyCreds, "Acme");
    const auto &a = adapter("vonage_verify");
    Result ok = a.interpret(p, answer(202, R"({"request_id":"c11236f4-00bf-4b89-84ba-88b25df97315"})"));
    EXPECT_EQ(ok.outcome, Outcome::Sent);
    EXPECT_EQ(ok.message_id, "c11236f4-00bf-4b89-84ba-88b25df97315");
    // Accepted without an id it could be checked by: not a usable send.
    for (const char *body : {"", "garbage", "[]", R"({})", R"({"request_id":""})", R"({"request_id":42})",
                             R"({"request_id":null})", R"({"request_id":["x"]})"}) {
        Result r = a.interpret(p, answer(202, body));
        EXPECT_EQ(r.outcome, Outcome::Retry) << body;
        EXPECT_TRUE(r.message_id.empty()) << body;
    }
    Result conflict = a.interpret(p, answer(409, R"({"title":"Conflict","detail":"Concurrent verifications to the same number are not allowed","request_id":"f8386e0f"})"));
    EXPECT_EQ(conflict.outcome, Outcome::Rejected);
    EXPECT_NE(conflict.error.find("Concurrent verifications"), std::string::npos) << conflict.error;
    EXPECT_EQ(a.interpret(p, answer(402, R"({"title":"Low balance"})")).outcome, Outcome::AuthFailed);
    EXPECT_EQ(a.interpret(p, answer(401, R"({"title":"Unauthorized"})")).outcome, Outcome::AuthFailed);
    EXPECT_EQ(a.interpret(p, answer(422, R"({"title":"Invalid params","invalid_parameters":[]})")).outcome,
              Outcome::Rejected);
    Result throttled = a.interpret(p, answer(429, R"({"title":"Rate Limit Hit"})", "7"));
    EXPECT_EQ(throttled.outcome, Outcome::Throttled);
    EXPECT_EQ(throttled.retry_after_s, 7);
    EXPECT_EQ(a.interpret(p, answer(500)).outcome, Outcome::Retry);
    EXPECT_EQ(a.interpret(p, timeout()).outcome, Outcome::Retry);
    Result leaky = a.interpret(p, answer(401, R"({"title":"Bad key abcd1234","detail":"secret vonage_secret_1 for 14155550123"})"));
    EXPECT_EQ(leaky.error.find("abcd1234"), std::string::npos) << leaky.error;
    EXPECT_EQ(leaky.error.find("vonage_secret_1"), std::string::npos) << leaky.error;
    EXPECT_EQ(leaky.error.find("4155550123"), std::string::npos) << leaky.error;
}

TEST(VonageVerify, CheckResult) {
    using providers::Check;
    EXPECT_EQ(verdict("vonage_verify", answer(200, R"({"request_id":"c1","status":"completed"})")), Check::Approved);
    EXPECT_EQ(verdict("vonage_verify", answer(400, R"({"title":"Invalid Code","detail":"The code you provided does not match the expected value."})")),
              Check::Wrong);
    EXPECT_EQ(verdict("vonage_verify", answer(404, R"({"title":"Not Found","detail":"Request c1 was not found or it has been verified already."})")),
              Check::Expired);
    EXPECT_EQ(verdict("vonage_verify", answer(410, R"({"title":"Invalid Code","detail":"An incorrect code has been provided too many times. Workflow terminated."})")),
              Check::Locked);
    EXPECT_EQ(verdict("vonage_verify", answer(409, R"({"title":"Conflict"})")), Check::Unavailable);
    EXPECT_EQ(verdict("vonage_verify", answer(429, R"({"title":"Rate Limit Hit"})")), Check::Unavailable);
    EXPECT_EQ(verdict("vonage_verify", answer(401)), Check::Unavailable);
    EXPECT_EQ(verdict("vonage_verify", answer(500)), Check::Unavailable);
    EXPECT_EQ(verdict("vonage_verify", timeout()), Check::Unavailable);
}

TEST(VonageVerify, CheckResultHostile) {
    using providers::Check;
    for (const char *body : {"", "garbage", "null", "[]", R"("completed")", R"({})", R"({"status":"COMPLETED"})",
                             R"({"status":"pending"})", R"({"status":1})", R"({"status":["completed"]})",
                             R"({"status":{"completed":true}})", R"({"status":true})", R"({"status":"completed")"})
        EXPECT_EQ(verdict("vonage_verify", answer(200, body)), Check::Unavailable) << body;
    // A 400 that is not the provider's error document (a proxy's page) costs no attempt.
    for (const char *body : {"", "<html>Bad Request</html>", "[]", R"("Invalid Code")"})
        EXPECT_EQ(verdict("vonage_verify", answer(400, body)), Check::Unavailable) << body;
    for (long status : {201L, 202L, 204L, 302L, 400L, 404L, 409L, 410L, 429L, 500L})
        EXPECT_NE(verdict("vonage_verify", answer(status, R"({"request_id":"c1","status":"completed"})")), Check::Approved)
            << status;
    std::string big = R"({"status":"completed","pad":")" + std::string(1 << 20, 'x') + R"("})";
    EXPECT_EQ(verdict("vonage_verify", answer(200, big)), Check::Approved);
    std::string deep = R"({"title":)" + std::string(30000, '[') + std::string(30000, ']') + "}";
    providers::CheckResult r = adapter("vonage_verify").check_result(provider("vonage_verify", kVonageVerifyCreds), answer(410, deep));
    EXPECT_EQ(r.verdict, Check::Locked);
    EXPECT_LE(r.error.size(), 400u);
}

// ------------------------------------------------------------------ vonage

const nlohmann::json kVonageCreds = {{"api_key", "abcd1234"}, {"api_secret", "vonage_secret_1"}};

TEST(Vonage, Request) {
    Provider p = provider("vonage", kVonageCreds, "AcmeInc");
    auto r = adapter("vonage").request(p, message()).request;
    ASSERT_TRUE(r);
    EXPECT_EQ(r->url, "https://rest.nexmo.com/sms/json");
    EXPECT_TRUE(r->basic_user.empty());
    EXPECT_TRUE(has_header(*r, "Content-Type: application/x-www-form-urlencoded"));
    EXPECT_EQ(r->body,
              "api_key=abcd1234&api_secret=vonage_secret_1&from=AcmeInc&to=14155550123"
              "&text=Your%20code%20is%20493817&client-ref=42");

    Message m = message();
    m.body = "Código 493817";
    EXPECT_NE(adapter("vonage").request(p, m).request->body.find("&type=unicode"), std::string::npos);
}

TEST(Vonage, Interpret) {
    Provider p = provider("vonage", kVonageCreds, "AcmeInc");
    const auto &a = adapter("vonage");
    auto reply = [](const std::string &parts) { return R"({"message-count":"1","messages":[)" + parts + "]}"; };

    Result ok = a.interpret(p, answer(200, reply(R"({"to":"14155550123","message-id":"0A0000000123ABCD","status":"0"})")));
    EXPECT_EQ(ok.outcome, Outcome::Sent);
    EXPECT_EQ(ok.message_id, "0A0000000123ABCD");

    Result slow = a.interpret(p, answer(200, reply(R"({"status":"1","error-text":"Throttled"})")));
    EXPECT_EQ(slow.outcome, Outcome::Throttled);
    EXPECT_EQ(slow.retry_after_s, 1);
    EXPECT_EQ(a.interpret(p, answer(200, reply(R"({"status":"1"})"), "5")).retry_after_s, 5);

    Result creds = a.interpret(p, answer(200, reply(R"({"status":"4","error-text":"Bad Credentials"})")));
    EXPECT_EQ(creds.outcome, Outcome::AuthFailed);
    EXPECT_EQ(creds.error, "HTTP 200: error status 4: Bad Credentials");
    EXPECT_EQ(a.interpret(p, answer(200, reply(R"({"status":"9","error-text":"Partner quota exceeded"})"))).outcome,
              Outcome::AuthFailed);

    Result bad = a.interpret(p, answer(200, reply(R"({"status":"3","error-text":"Invalid to address"})")));
    EXPECT_EQ(bad.outcome, Outcome::Rejected);
    EXPECT_EQ(bad.error, "HTTP 200: error status 3: Invalid to address");
    EXPECT_EQ(a.interpret(p, answer(200, reply(R"({"status":"5"})"))).outcome, Outcome::Retry);

    // A two-part text whose second part failed.
    Result partly = a.interpret(p, answer(200, reply(R"({"status":"0","message-id":"A"},{"status":"6"})")));
    EXPECT_EQ(partly.outcome, Outcome::Rejected);

    EXPECT_EQ(a.interpret(p, answer(200, "<html/>")).outcome, Outcome::Retry);
    EXPECT_EQ(a.interpret(p, answer(200, R"({"messages":[]})")).outcome, Outcome::Retry);
    EXPECT_EQ(a.interpret(p, answer(401, R"({"title":"Unauthorized"})")).outcome, Outcome::AuthFailed);
    EXPECT_EQ(a.interpret(p, answer(429, "", "9")).retry_after_s, 9);
    EXPECT_EQ(a.interpret(p, answer(502)).outcome, Outcome::Retry);
    EXPECT_EQ(a.interpret(p, timeout()).outcome, Outcome::Retry);
    expect_clean(a.interpret(p, answer(200, reply(R"({"status":"3","error-text":"bad text 493817 for abcd1234"})"))), p);
}

// ------------------------------------------------------------------ messagebird

TEST(MessageBird, Request) {
    Provider p = provider("messagebird", {{"access_key", "live_mb_key"}}, "Acme");
    auto r = adapter("messagebird").request(p, message()).request;
    ASSERT_TRUE(r);
    EXPECT_EQ(r->url, "https://rest.messagebird.com/messages");
    EXPECT_TRUE(has_header(*r, "Authorization: AccessKey live_mb_key"));
    EXPECT_TRUE(has_header(*r, "Content-Type: application/json"));
    EXPECT_EQ(r->body, R"({"body":"Your code is 493817","originator":"Acme","recipients":[14155550123],"reference":"42"})");
}

TEST(MessageBird, Interpret) {
    Provider p = provider("messagebird", {{"access_key", "live_mb_key"}}, "Acme");
    const auto &a = adapter("messagebird");
    Result ok = a.interpret(p, answer(201, R"({"id":"e8077d803532c0b5937c639b60216938","reference":"42"})"));
    EXPECT_EQ(ok.outcome, Outcome::Sent);
    EXPECT_EQ(ok.message_id, "e8077d803532c0b5937c639b60216938");

    Result auth = a.interpret(p, answer(401, R"j({"errors":[{"code":2,"description":"Request not allowed (incorrect access_key)","parameter":"access_key"}]})j"));
    EXPECT_EQ(auth.outcome, Outcome::AuthFailed);
    EXPECT_EQ(auth.error, "HTTP 401: error 2: Request not allowed (incorrect access_key)");

    Result bad = a.interpret(p, answer(422, R"j({"errors":[{"code":9,"description":"no (correct) recipients found"}]})j"));
    EXPECT_EQ(bad.outcome, Outcome::Rejected);
    EXPECT_EQ(bad.error, "HTTP 422: error 9: no (correct) recipients found");

    Result busy = a.interpret(p, answer(429, "", "12"));
    EXPECT_EQ(busy.outcome, Outcome::Throttled);
    EXPECT_EQ(busy.retry_after_s, 12);
    EXPECT_EQ(a.interpret(p, answer(500, R"({"errors":[{"code":99}]})")).outcome, Outcome::Retry);
    EXPECT_EQ(a.interpret(p, timeout()).outcome, Outcome::Retry);
}

// ------------------------------------------------------------------ plivo

TEST(Plivo, Request) {
    Provider p = provider("plivo", {{"auth_id", "MAXXXXXXXXXXXXXXXXXX"}, {"auth_token", "plivo_token_1"}}, "14155550100");
    auto r = adapter("plivo").request(p, message()).request;
    ASSERT_TRUE(r);
    EXPECT_EQ(r->url, "https://api.plivo.com/v1/Account/MAXXXXXXXXXXXXXXXXXX/Message/");
    EXPECT_EQ(r->basic_user, "MAXXXXXXXXXXXXXXXXXX");
    EXPECT_EQ(r->basic_password, "plivo_token_1");
    EXPECT_TRUE(has_header(*r, "Content-Type: application/json"));
    EXPECT_EQ(r->body, R"({"dst":"14155550123","src":"14155550100","text":"Your code is 493817"})");
}

TEST(Plivo, Interpret) {
    Provider p = provider("plivo", {{"auth_id", "MAXXXXXXXXXXXXXXXXXX"}, {"auth_token", "plivo_token_1"}});
    const auto &a = adapter("plivo");
    Result ok = a.interpret(p, answer(202, R"({"api_id":"x","message":"message(s) queued","message_uuid":["db3ce55a-7f1d-11e1-8ea7-1231380bc196"]})"));
    EXPECT_EQ(ok.outcome, Outcome::Sent);
    EXPECT_EQ(ok.message_id, "db3ce55a-7f1d-11e1-8ea7-1231380bc196");

    Result auth = a.interpret(p, answer(401, R"({"api_id":"x","error":"Authentication failed"})"));
    EXPECT_EQ(auth.outcome, Outcome::AuthFailed);
    EXPECT_EQ(auth.error, "HTTP 401: Authentication failed");
    Result bad = a.interpret(p, answer(400, R"({"api_id":"x","error":"dst parameter is required"})"));
    EXPECT_EQ(bad.outcome, Outcome::Rejected);
    EXPECT_EQ(bad.error, "HTTP 400: dst parameter is required");
    EXPECT_EQ(a.interpret(p, answer(429, "", "2")).retry_after_s, 2);
    EXPECT_EQ(a.interpret(p, answer(500)).outcome, Outcome::Retry);
    EXPECT_EQ(a.interpret(p, timeout()).outcome, Outcome::Retry);
}

// ------------------------------------------------------------------ webhook

TEST(HmacDouble, StandardWebhooksVector) {
    std::string key;
    ASSERT_TRUE(otp::base64_decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key));
    std::string mac = otp::hmac_sha256(key, R"(msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314})");
    EXPECT_EQ(otp::base64_encode(mac), "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(Webhook, RequestIsSigned) {
    Provider p = provider("webhook", {{"secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, "",
                          "http://127.0.0.1:8025/webhook/sms/");
    time_t before = time(nullptr);
    auto r = adapter("webhook").request(p, message()).request;
    time_t after = time(nullptr);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->url, "http://127.0.0.1:8025/webhook/sms/");
    EXPECT_TRUE(r->basic_user.empty());
    EXPECT_TRUE(has_header(*r, "Content-Type: application/json"));
    EXPECT_TRUE(has_header(*r, "webhook-id: msg_42"));
    EXPECT_EQ(r->body,
              R"({"data":{"message_id":42,"session_id":"7d3f2c1e-0000-4000-8000-000000000001",)"
              R"("text":"Your code is 493817","to":"+14155550123"},"id":"msg_42","timestamp":1700000000,)"
              R"("type":"sms.otp"})");

    std::string ts = header_value(*r, "webhook-timestamp");
    long long t = std::stoll(ts);
    EXPECT_GE(t, before);
    EXPECT_LE(t, after);

    std::string key;
    ASSERT_TRUE(otp::base64_decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key));
    std::string expected = "v1," + otp::base64_encode(otp::hmac_sha256(key, "msg_42." + ts + "." + r->body));
    EXPECT_EQ(header_value(*r, "webhook-signature"), expected);
}

TEST(Webhook, PlainSecretAndNoSession) {
    Provider p = provider("webhook", {{"secret", "not-a-whsec-secret"}}, "", "https://hooks.example.com/sms");
    Message m = message();
    m.session_id.clear();
    m.type = "transactional";
    auto r = adapter("webhook").request(p, m).request;
    ASSERT_TRUE(r);
    nlohmann::json doc = nlohmann::json::parse(r->body);
    EXPECT_TRUE(doc["data"]["session_id"].is_null());
    EXPECT_EQ(doc["type"], "sms.transactional");
    std::string ts = header_value(*r, "webhook-timestamp");
    std::string expected = "v1," + otp::base64_encode(otp::hmac_sha256("not-a-whsec-secret", "msg_42." + ts + "." + r->body));
    EXPECT_EQ(header_value(*r, "webhook-signature"), expected);
}

TEST(Webhook, Interpret) {
    Provider p = provider("webhook", {{"secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, "", "http://x/webhook");
    const auto &a = adapter("webhook");
    Result ok = a.interpret(p, answer(200, R"({"ok":true,"id":"msg_abc"})"));
    EXPECT_EQ(ok.outcome, Outcome::Sent);
    EXPECT_EQ(ok.message_id, "msg_abc");
    EXPECT_EQ(a.interpret(p, answer(204)).outcome, Outcome::Sent);
    Result auth = a.interpret(p, answer(401, R"({"ok":false,"error":"signature mismatch"})"));
    EXPECT_EQ(auth.outcome, Outcome::AuthFailed);
    EXPECT_EQ(auth.error, "HTTP 401: signature mismatch");
    EXPECT_EQ(a.interpret(p, answer(429, "", "6")).retry_after_s, 6);
    EXPECT_EQ(a.interpret(p, answer(500)).outcome, Outcome::Retry);
    EXPECT_EQ(a.interpret(p, answer(400)).outcome, Outcome::Rejected);
    EXPECT_EQ(a.interpret(p, timeout()).outcome, Outcome::Retry);
}

// ------------------------------------------------------------------ validity and status callbacks

// The value of a form field as sent (still URL-encoded); nothing when the field is absent.
std::optional<std::string> form_field(const std::string &body, const std::string &name) {
    size_t at = 0;
    while (at <= body.size()) {
        size_t end = body.find('&', at);
        if (end == std::string::npos) end = body.size();
        std::string pair = body.substr(at, end - at);
        if (pair.compare(0, name.size() + 1, name + "=") == 0) return pair.substr(name.size() + 1);
        at = end + 1;
    }
    return std::nullopt;
}

// A message with `left` seconds before it expires, and callbacks asked for.
Message expiring(int64_t left, std::string callback_base = "https://sms.example.com/cb") {
    Message m = message();
    m.expires_unix = static_cast<int64_t>(time(nullptr)) + left;
    m.callback_base = std::move(callback_base);
    return m;
}

// Seconds counted between building the message and the request may take one away.
void expect_about(int64_t got, int64_t want, int64_t unit = 1) {
    EXPECT_LE(got, want) << got;
    EXPECT_GE(got, want - unit) << got;
}

TEST(StatusCallback, UrlNamesKindProviderAndMessage) {
    Provider p = provider("twilio", kTwilioCreds);
    p.name = "twilio-main";
    EXPECT_EQ(providers::status_callback_url(p, expiring(60)), "https://sms.example.com/cb/twilio/twilio-main/status/42");
    EXPECT_EQ(providers::status_callback_url(p, message()), "");  // no callback_url: none asked for
    p.name = "a b/c";  // names are checked by the table; the URL stays one path segment anyway
    EXPECT_EQ(providers::status_callback_url(p, expiring(60)), "https://sms.example.com/cb/twilio/a%20b%2Fc/status/42");
}

TEST(Validity, SecondsLeftClampedToWhatTheProviderTakes) {
    EXPECT_FALSE(providers::validity_seconds(message(), 1, 100));  // never expires: nothing to say
    expect_about(*providers::validity_seconds(expiring(50), 1, 100), 50);
    EXPECT_EQ(providers::validity_seconds(expiring(5000), 1, 100), 100);
    EXPECT_EQ(providers::validity_seconds(expiring(2), 20, 100), 20);
    EXPECT_EQ(providers::validity_seconds(expiring(-30), 1, 100), 1);
}

TEST(Twilio, ValidityPeriodAndStatusCallback) {
    Provider p = provider("twilio", kTwilioCreds);
    auto r = adapter("twilio").request(p, expiring(600)).request;
    ASSERT_TRUE(r);
    EXPECT_EQ(form_field(r->body, "StatusCallback"),
              "https%3A%2F%2Fsms.example.com%2Fcb%2Ftwilio%2Ftwilio-test%2Fstatus%2F42");
    expect_about(std::stoll(form_field(r->body, "ValidityPeriod").value_or("0")), 600);
    EXPECT_EQ(r->body.find("To=%2B14155550123&From=%2B15550001111&Body=Your%20code%20is%20493817&"), 0u) << r->body;

    // 1 to 36,000 seconds (Twilio errors 21624 / 90007).
    EXPECT_EQ(form_field(adapter("twilio").request(p, expiring(86400)).request->body, "ValidityPeriod"), "36000");
    EXPECT_EQ(form_field(adapter("twilio").request(p, expiring(0)).request->body, "ValidityPeriod"), "1");
    // Neither asked for: neither sent.
    auto plain = adapter("twilio").request(p, message()).request;
    EXPECT_FALSE(form_field(plain->body, "ValidityPeriod"));
    EXPECT_FALSE(form_field(plain->body, "StatusCallback"));
}

TEST(Twilio, CallbackUrlReplacesTheStatusCallbackCredential) {
    nlohmann::json creds = kTwilioCreds;
    creds["status_callback"] = "https://example.com/sms/status";
    Provider p = provider("twilio", creds);
    EXPECT_EQ(form_field(adapter("twilio").request(p, expiring(60)).request->body, "StatusCallback"),
              "https%3A%2F%2Fsms.example.com%2Fcb%2Ftwilio%2Ftwilio-test%2Fstatus%2F42");
    // Without sms_otp.callback_url the credential still works, as it did in 1.0.
    EXPECT_EQ(form_field(adapter("twilio").request(p, message()).request->body, "StatusCallback"),
              "https%3A%2F%2Fexample.com%2Fsms%2Fstatus%3Foutbox_id%3D42");
}

TEST(Vonage, TtlInMillisecondsAndCallback) {
    Provider p = provider("vonage", kVonageCreds, "AcmeInc");
    auto r = adapter("vonage").request(p, expiring(600)).request;
    ASSERT_TRUE(r);
    expect_about(std::stoll(form_field(r->body, "ttl").value_or("0")), 600000, 1000);
    EXPECT_EQ(form_field(r->body, "callback"), "https%3A%2F%2Fsms.example.com%2Fcb%2Fvonage%2Fvonage-test%2Fstatus%2F42");
    EXPECT_EQ(form_field(r->body, "client-ref"), "42");

    // 20,000 to 604,800,000 ms.
    EXPECT_EQ(form_field(adapter("vonage").request(p, expiring(3)).request->body, "ttl"), "20000");
    EXPECT_EQ(form_field(adapter("vonage").request(p, expiring(30 * 86400)).request->body, "ttl"), "604800000");
    // Vonage takes callbacks of 100 characters at most: a longer one is left out (the
    // account's webhook gets the receipt), not sent to fail the message.
    Message m = expiring(600, "https://sms.example.com/" + std::string(80, 'c'));
    auto longer = adapter("vonage").request(p, m).request;
    EXPECT_FALSE(form_field(longer->body, "callback"));
    EXPECT_TRUE(form_field(longer->body, "ttl"));
    auto plain = adapter("vonage").request(p, message()).request;
    EXPECT_FALSE(form_field(plain->body, "ttl"));
    EXPECT_FALSE(form_field(plain->body, "callback"));
}

TEST(MessageBird, ValidityAndReportUrl) {
    Provider p = provider("messagebird", {{"access_key", "live_mb_key"}}, "Acme");
    auto r = adapter("messagebird").request(p, expiring(600)).request;
    ASSERT_TRUE(r);
    nlohmann::json doc = nlohmann::json::parse(r->body);
    expect_about(doc["validity"].get<int64_t>(), 600);
    EXPECT_EQ(doc["reportUrl"], "https://sms.example.com/cb/messagebird/messagebird-test/status/42");
    EXPECT_EQ(doc["reference"], "42");
    EXPECT_EQ(nlohmann::json::parse(adapter("messagebird").request(p, expiring(-5)).request->body)["validity"], 1);
}

TEST(Plivo, MessageExpiryAndStatusUrl) {
    Provider p = provider("plivo", {{"auth_id", "MAXXXXXXXXXXXXXXXXXX"}, {"auth_token", "plivo_token_1"}}, "14155550100");
    auto r = adapter("plivo").request(p, expiring(600)).request;
    ASSERT_TRUE(r);
    nlohmann::json doc = nlohmann::json::parse(r->body);
    EXPECT_EQ(doc["url"], "https://sms.example.com/cb/plivo/plivo-test/status/42");
    EXPECT_EQ(doc["method"], "POST");
    expect_about(doc["message_expiry"].get<int64_t>(), 600);
    // 5 to 10,799 seconds.
    EXPECT_EQ(nlohmann::json::parse(adapter("plivo").request(p, expiring(1)).request->body)["message_expiry"], 5);
    EXPECT_EQ(nlohmann::json::parse(adapter("plivo").request(p, expiring(86400)).request->body)["message_expiry"], 10799);
}

TEST(Webhook, ExpiresAtAndStatusCallback) {
    Provider p = provider("webhook", {{"secret", "not-a-whsec-secret"}}, "", "https://hooks.example.com/sms");
    p.name = "hook";
    Message m = expiring(600);
    auto r = adapter("webhook").request(p, m).request;
    ASSERT_TRUE(r);
    nlohmann::json doc = nlohmann::json::parse(r->body);
    EXPECT_EQ(doc["data"]["expires_at"], m.expires_unix);
    EXPECT_EQ(doc["data"]["status_callback"], "https://sms.example.com/cb/webhook/hook/status/42");
    EXPECT_EQ(doc["data"]["message_id"], 42);
    // Both are signed with the rest of the body.
    std::string ts = header_value(*r, "webhook-timestamp");
    EXPECT_EQ(header_value(*r, "webhook-signature"),
              "v1," + otp::base64_encode(otp::hmac_sha256("not-a-whsec-secret", "msg_42." + ts + "." + r->body)));
}

TEST(StatusCallback, NoneForVerifyNorConsole) {
    nlohmann::json creds = kTwilioCreds;
    creds["service_sid"] = "VA0123456789abcdef0123456789abcdef";
    auto r = adapter("twilio_verify").request(provider("twilio_verify", creds), expiring(600)).request;
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "To=%2B14155550123&Channel=sms");
    EXPECT_FALSE(adapter("console").request(provider("console", nlohmann::json::object()), expiring(600)).request);
}

// ------------------------------------------------------------------ refusals

// Every kind, with the credentials it needs: a control character in any of them, or in the
// sender, means no request at all, whatever the kind would have written where.
struct KindCase {
    const char *kind;
    nlohmann::json credentials;
};

const KindCase kKinds[] = {
    {"twilio", kTwilioCreds},
    {"twilio_verify",
     {{"account_sid", "AC0123456789abcdef0123456789abcdef"}, {"auth_token", "tok"}, {"service_sid", "VA01"}}},
    {"vonage", {{"api_key", "key1"}, {"api_secret", "sec1"}}},
    {"vonage_verify", {{"api_key", "key1"}, {"api_secret", "sec1"}}},
    {"messagebird", {{"access_key", "live_abc"}}},
    {"plivo", {{"auth_id", "MAXXXX"}, {"auth_token", "ptok"}}},
    {"webhook", {{"secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}},
};

TEST(Refusal, FitRowsBuildRequests) {
    for (const auto &k : kKinds) {
        providers::Outgoing out = adapter(k.kind).request(provider(k.kind, k.credentials, "Acme", "https://x.example"), message());
        EXPECT_TRUE(out.request) << k.kind;
        EXPECT_FALSE(out.refused) << k.kind;
    }
}

TEST(Refusal, ControlCharactersInCredentials) {
    const std::string bad[] = {"\r\nX-Injected: 1", "a\nb", std::string("a\0b", 3), "tab\there", "del\x7f", "\x1b[31m"};
    for (const auto &k : kKinds) {
        for (const auto &item : k.credentials.items()) {
            for (const auto &b : bad) {
                nlohmann::json creds = k.credentials;
                creds[item.key()] = item.value().get<std::string>() + b;
                Provider p = provider(k.kind, creds, "Acme", "https://x.example");
                providers::Outgoing out = adapter(k.kind).request(p, message());
                EXPECT_FALSE(out.request) << k.kind << "." << item.key();
                ASSERT_TRUE(out.refused) << k.kind << "." << item.key();
                EXPECT_EQ(out.refused->outcome, Outcome::AuthFailed);
                EXPECT_EQ(out.refused->error, "credentials contain control characters");
            }
        }
    }
    // Values the adapter does not use, and nested ones, count too: the row is unfit.
    nlohmann::json creds = kTwilioCreds;
    creds["status_callback"] = "https://example.com/cb\r\nX: 1";
    EXPECT_TRUE(adapter("twilio").request(provider("twilio", creds), message()).refused);
    creds = kTwilioCreds;
    creds["extra"] = {{"nested", {"ok", "bad\n"}}};
    EXPECT_TRUE(adapter("twilio").request(provider("twilio", creds), message()).refused);
}

TEST(Refusal, ControlCharactersInSenderOrBaseUrl) {
    for (const auto &k : kKinds) {
        Provider p = provider(k.kind, k.credentials, "Acme\r\nBcc: x", "https://x.example");
        providers::Outgoing out = adapter(k.kind).request(p, message());
        EXPECT_FALSE(out.request) << k.kind;
        ASSERT_TRUE(out.refused) << k.kind;
        EXPECT_EQ(out.refused->error, "credentials contain control characters");

        p = provider(k.kind, k.credentials, "Acme", "https://x.example/\r\nHost: evil");
        out = adapter(k.kind).request(p, message());
        EXPECT_FALSE(out.request) << k.kind;
        ASSERT_TRUE(out.refused) << k.kind;
        EXPECT_EQ(out.refused->error, "base_url contains control characters");
    }
    // Printable text beyond ASCII is fine.
    EXPECT_TRUE(adapter("vonage").request(provider("vonage", kKinds[2].credentials, "Café"), message()).request);
}

TEST(Refusal, VerifyCheckRefusedToo) {
    for (const char *kind : {"twilio_verify", "vonage_verify"}) {
        nlohmann::json creds = kTwilioCreds;
        creds["service_sid"] = "VA01";
        creds["api_key"] = "key1";
        creds["api_secret"] = "sec\r\nX: 1";
        creds["auth_token"] = "tok\r\nX: 1";
        providers::Outgoing out = adapter(kind).check_request(provider(kind, creds), "VE01", "1234");
        EXPECT_FALSE(out.request) << kind;
        ASSERT_TRUE(out.refused) << kind;
        EXPECT_EQ(out.refused->outcome, Outcome::AuthFailed) << kind;
    }
}

TEST(Refusal, OurOwnRefusalsReadAsThemselves) {
    http::Response r;
    r.refused = true;
    r.error = "answer too large: more than 65536 bytes";
    Result out = providers::classify(r);
    EXPECT_EQ(out.outcome, Outcome::Retry);
    EXPECT_EQ(out.error, "answer too large: more than 65536 bytes");
    r.error = "destination not allowed: internal address";
    Result twilio = adapter("twilio").interpret(provider("twilio", kTwilioCreds), r);
    EXPECT_EQ(twilio.outcome, Outcome::Retry);
    EXPECT_EQ(twilio.error, "destination not allowed: internal address");
}

TEST(Refusal, CredentialSplitByAControlCharacterStaysHidden) {
    // The worker drops control characters before storing an error; a credential with one
    // inside must be found before that, not revealed by it.
    Provider p = provider("webhook", {{"secret", "tok-Secret-xyz"}}, "", "https://x.example/hook");
    Result r = adapter("webhook").interpret(p, answer(500, R"({"error":"bad signature for tok-Secret\u0001-xyz"})"));
    EXPECT_EQ(r.error, "HTTP 500: bad signature for ***");
    Result tw = adapter("twilio").interpret(provider("twilio", kTwilioCreds),
                                            answer(400, R"({"code":"tok_s\u0000ecret_twilio","message":"x"})"));
    EXPECT_EQ(tw.error.find("tok_secret_twilio"), std::string::npos) << tw.error;
}

TEST(Refusal, DeepJsonIsCutNotRecursed) {
    // 30,000 levels: parsing, copying and printing this whole would recurse that deep.
    std::string deep = R"({"error":)" + std::string(30000, '[') + std::string(30000, ']') + "}";
    Provider p = provider("plivo", {{"auth_id", "MAXXXX"}, {"auth_token", "ptok"}});
    Result r = adapter("plivo").interpret(p, answer(400, deep));
    EXPECT_EQ(r.outcome, Outcome::Rejected);
    EXPECT_LE(r.error.size(), 400u);
    nlohmann::json doc = providers::parse_body(deep);
    ASSERT_TRUE(doc.is_object());
    int depth = 0;
    for (const nlohmann::json *v = &doc["error"]; v->is_array() && !v->empty(); v = &v->front()) depth++;
    EXPECT_LT(depth, 40);
}

// ------------------------------------------------------------------ console

TEST(Console, NoRequestAlwaysSent) {
    Provider p = provider("console", nlohmann::json::object());
    EXPECT_FALSE(adapter("console").request(p, message()).request);
    EXPECT_EQ(adapter("console").interpret(p, answer(200)).outcome, Outcome::Sent);
    EXPECT_EQ(adapter("console").interpret(p, http::Response()).outcome, Outcome::Sent);
}

}  // namespace
