// The SQL-callable side of the CAPTCHA check (sql/parts/captcha.sql):
//   sms_otp._captcha_token(): the x-captcha-token header PostgREST passed in request.headers;
//   sms_otp._captcha_verify(token, remoteip): one bounded siteverify request.
// Both never raise for what a client or the verifier sends.
#include "captcha/captcha.h"
#include "http/client.h"
#include "http/destination.h"
#include "identity/forwarded.h"
#include "pg/guard.h"
#include "pg/text.h"
#include "settings.h"

#include <nlohmann/json.hpp>

extern "C" {
#include "utils/guc.h"
#include "utils/jsonb.h"
}

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

using sms_otp::pg::entry;
using sms_otp::pg::pg_call;
namespace captcha = sms_otp::captcha;
namespace settings = sms_otp::settings;

namespace {

// The token in request.headers, or nothing when the headers are absent, larger than
// identity::kMaxHeadersBytes (not parsed at all), not a JSON object, or the member is missing,
// not a string or empty. A token longer than kMaxTokenBytes comes back cut at the first
// character boundary past that many bytes, so the caller sees it is too long without copying
// the rest.
std::optional<std::string> header_token() {
    const char *headers = pg_call([] { return GetConfigOption("request.headers", true, false); });
    if (!headers || !*headers) return std::nullopt;
    std::string_view text(headers);
    if (text.size() > sms_otp::identity::kMaxHeadersBytes) return std::nullopt;
    nlohmann::json doc = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
    auto member = doc.find("x-captcha-token");
    if (member == doc.end() || !member->is_string()) return std::nullopt;
    std::string token = member->get<std::string>();
    if (token.empty()) return std::nullopt;
    if (token.size() > captcha::kMaxTokenBytes) {
        size_t cut = captcha::kMaxTokenBytes + 1;
        while (cut < token.size() && (static_cast<unsigned char>(token[cut]) & 0xC0) == 0x80) cut++;
        token.resize(cut);
    }
    return token;
}

nlohmann::json verdict_json(captcha::Verdict verdict, std::optional<long> status, double elapsed_ms,
                            const std::string &error) {
    return {
        {"result", captcha::verdict_name(verdict)},
        {"status_code", status ? nlohmann::json(*status) : nlohmann::json()},
        {"response_time_ms", static_cast<int64_t>(std::lround(std::max(elapsed_ms, 0.0)))},
        {"error", error.empty() ? nlohmann::json() : nlohmann::json(error)},
    };
}

nlohmann::json verify(const std::string &token, const std::string &remoteip) {
    using captcha::Verdict;
    if (settings::captcha_mode == settings::kCaptchaOff)
        return verdict_json(Verdict::Unavailable, std::nullopt, 0, "sms_otp.captcha is off");
    std::string secret = settings::captcha_secret ? settings::captcha_secret : "";
    if (secret.empty()) return verdict_json(Verdict::Unavailable, std::nullopt, 0, "sms_otp.captcha_secret is not set");
    // Nothing unfit for the verifier is sent: no token past the cap, none with control bytes.
    bool fit = !token.empty() && token.size() <= captcha::kMaxTokenBytes &&
               std::none_of(token.begin(), token.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
    if (!fit) return verdict_json(Verdict::Failed, std::nullopt, 0, "token refused before sending");

    sms_otp::http::Request request;
    request.method = "POST";
    const char *url = settings::captcha_verify_url;
    request.url = url && *url ? url
                  : settings::captcha_mode == settings::kCaptchaTurnstile ? captcha::kTurnstileUrl
                                                                           : captcha::kHcaptchaUrl;
    request.headers = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json"};
    request.body = captcha::form(secret, token, remoteip);
    request.timeout_ms = settings::captcha_timeout_ms;
    // A siteverify answer is a few hundred bytes; the providers' cap bounds it further.
    request.max_body_bytes = std::min<size_t>(static_cast<size_t>(settings::max_response_bytes), 16384);
    request.max_header_bytes = 16384;
    const char *hosts = settings::http_allowed_hosts;
    request.allowed_hosts = sms_otp::http::parse_hosts(hosts ? hosts : "");
    sms_otp::http::Response response = sms_otp::http::perform(request);
    if (response.status == 0)
        return verdict_json(Verdict::Unavailable, 0L, response.elapsed_ms,
                            response.timed_out ? "siteverify did not answer in time" : response.error);
    captcha::Reading reading = captcha::read_answer(response.status, response.body);
    return verdict_json(reading.verdict, response.status, response.elapsed_ms, reading.error);
}

std::string text_arg(FunctionCallInfo fcinfo, int n) {
    if (PG_ARGISNULL(n)) return "";
    return pg_call([&] { return std::string(text_to_cstring(PG_GETARG_TEXT_PP(n))); });
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(sms_otp_captcha_token);
PG_FUNCTION_INFO_V1(sms_otp_captcha_verify);

Datum sms_otp_captcha_token(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        std::optional<std::string> token = header_token();
        if (!token) PG_RETURN_NULL();
        return sms_otp::pg::text_result(*token);
    });
}

// {"result": "passed" | "failed" | "unavailable", "status_code": the HTTP status (0: no answer;
//  null: no request made), "response_time_ms", "error": why, for the server log only}.
Datum sms_otp_captcha_verify(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        std::string json = verify(text_arg(fcinfo, 0), text_arg(fcinfo, 1))
                               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        return pg_call([&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(json.c_str())); });
    });
}

}  // extern "C"
