// The CAPTCHA settings. All PGC_SUSET: a client that could SET sms_otp.captcha could turn the
// check off for its own sends, or point it at a verifier of its own. The secret is also hidden
// from everyone but superusers (SHOW, pg_settings, current_setting).
#include "captcha/captcha.h"

#include "pg/server.h"

extern "C" {
#include "utils/guc.h"
}

#include <cstring>

namespace sms_otp::settings {

int captcha_mode = kCaptchaOff;
char *captcha_secret = nullptr;
char *captcha_verify_url = nullptr;
int captcha_timeout_ms = 3000;
int captcha_refusals_per_minute = 10;
int ip_captcha_refusals_per_minute = 100;

namespace {

const struct config_enum_entry captcha_options[] = {
    {"off", kCaptchaOff, false},
    {"turnstile", kCaptchaTurnstile, false},
    {"hcaptcha", kCaptchaHcaptcha, false},
    {nullptr, 0, false},
};

// Printable ASCII only: the secret goes into a form body, and is refused rather than escaped
// into something the provider never issued.
bool check_secret(char **value, void **, GucSource) {
    const char *s = *value ? *value : "";
    bool ok = std::strlen(s) <= 256;
    for (const char *p = s; ok && *p; p++) ok = *p > 0x20 && *p < 0x7f;
    if (!ok) GUC_check_errdetail("sms_otp.captcha_secret must be printable ASCII without spaces, at most 256 bytes.");
    return ok;
}

// An absolute http(s) URL without control characters, spaces or a fragment. Whether its host
// may be reached is decided per request (sms_otp.http_allowed_hosts, as for providers).
bool check_verify_url(char **value, void **, GucSource) {
    if (*value == nullptr || **value == '\0') return true;
    std::string s(*value);
    bool ok = s.size() <= 1024 && (s.rfind("https://", 0) == 0 || s.rfind("http://", 0) == 0);
    size_t host = ok ? s.find("://") + 3 : 0;
    ok = ok && host < s.size() && s[host] != '/';
    for (char c : s) ok = ok && c > 0x20 && c < 0x7f && c != '#' && c != '"' && c != '\\';
    if (!ok)
        GUC_check_errdetail("sms_otp.captcha_verify_url must be an http(s) URL such as "
                            "https://challenges.cloudflare.com/turnstile/v0/siteverify.");
    return ok;
}

}  // namespace

void define_captcha() {
    DefineCustomEnumVariable("sms_otp.captcha",
                             "CAPTCHA token otp_send requires in the x-captcha-token header: off, turnstile or hcaptcha.",
                             nullptr, &captcha_mode, kCaptchaOff, captcha_options, PGC_SUSET, 0, nullptr, nullptr,
                             nullptr);
    DefineCustomStringVariable("sms_otp.captcha_secret", "Secret key sent to the CAPTCHA verifier.", nullptr,
                               &captcha_secret, "", PGC_SUSET, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL, check_secret,
                               nullptr, nullptr);
    DefineCustomStringVariable("sms_otp.captcha_verify_url",
                               "siteverify URL of the CAPTCHA verifier (empty: the provider's public one).", nullptr,
                               &captcha_verify_url, "", PGC_SUSET, 0, check_verify_url, nullptr, nullptr);
    DefineCustomIntVariable("sms_otp.captcha_timeout", "Longest wait for the CAPTCHA verifier's answer in otp_send().",
                            nullptr, &captcha_timeout_ms, 3000, 100, 30000, PGC_SUSET, GUC_UNIT_MS, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("sms_otp.captcha_refusals_per_minute",
                            "Refused CAPTCHA tokens a user may send in a minute before otp_send answers "
                            "rate_limited without asking the verifier (0: no limit).",
                            nullptr, &captcha_refusals_per_minute, 10, 0, 100000, PGC_SUSET, 0, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("sms_otp.ip_captcha_refusals_per_minute",
                            "Refused CAPTCHA tokens one client address (IPv6: network) may send in a minute "
                            "before otp_send answers rate_limited without asking the verifier (0: no limit).",
                            nullptr, &ip_captcha_refusals_per_minute, 100, 0, 100000, PGC_SUSET, 0, nullptr, nullptr,
                            nullptr);
}

}  // namespace sms_otp::settings
