// The optional CAPTCHA check of otp_send (Cloudflare Turnstile or hCaptcha): its settings, and
// the reading of a verifier's answer (plain C++, so unit tests link it without PostgreSQL).
#pragma once

#include <string>
#include <string_view>

namespace sms_otp::settings {

enum CaptchaMode { kCaptchaOff = 0, kCaptchaTurnstile = 1, kCaptchaHcaptcha = 2 };
extern int captcha_mode;           // sms_otp.captcha (CaptchaMode)
extern char *captcha_secret;       // sms_otp.captcha_secret (superuser-only, hidden)
extern char *captcha_verify_url;   // sms_otp.captcha_verify_url (empty: the provider's own)
extern int captcha_timeout_ms;     // sms_otp.captcha_timeout
extern int captcha_refusals_per_minute;     // sms_otp.captcha_refusals_per_minute, a user's (0: no limit)
extern int ip_captcha_refusals_per_minute;  // sms_otp.ip_captcha_refusals_per_minute, an address's

// Defined by settings::define().
void define_captcha();

}  // namespace sms_otp::settings

namespace sms_otp::captcha {

// Tokens longer than this are refused before anything is sent (Turnstile's documented maximum;
// hCaptcha's are shorter).
inline constexpr std::size_t kMaxTokenBytes = 2048;

// The public siteverify endpoints.
inline constexpr const char *kTurnstileUrl = "https://challenges.cloudflare.com/turnstile/v0/siteverify";
inline constexpr const char *kHcaptchaUrl = "https://api.hcaptcha.com/siteverify";

enum class Verdict { Passed, Failed, Unavailable };
const char *verdict_name(Verdict v);

struct Reading {
    Verdict verdict = Verdict::Unavailable;
    std::string error;  // why, for the server log; never shown to the client
};

// A siteverify answer (HTTP status, body) read strictly: Passed only for a 200 whose body is a
// JSON object with "success": true (the boolean, not a string or number). A 200 with
// "success": false is Failed, unless its error codes blame our own side (the secret, the
// verifier itself), which is Unavailable; anything else (no answer, another status, a body
// that is not such an object) is Unavailable.
Reading read_answer(long status, std::string_view body);

// The form siteverify takes: secret, response and, when given, remoteip, URL-encoded.
std::string form(const std::string &secret, const std::string &token, const std::string &remoteip);

}  // namespace sms_otp::captcha
