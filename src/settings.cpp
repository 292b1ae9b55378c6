#include "settings.h"
#include "captcha/captcha.h"

#include "pg/server.h"

extern "C" {
#include "utils/guc.h"
}

#include <cctype>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

namespace sms_otp::settings {

int code_length = 6;
int otp_ttl_s = 300;
int max_attempts = 5;
int resend_cooldown_s = 30;
int rate_limit_per_minute = 5;
int rate_limit_per_day = 10;
int trusted_proxies = 1;
int lockout_threshold = 10;
int lockout_duration_s = 900;
int verified_ttl_s = 43200;
int reverify_window_s = 300;
char *service_role = nullptr;
char *webotp_domain = nullptr;
char *default_region = nullptr;
char *message_template = nullptr;
char *login_claim = nullptr;
int login_fallback = kLoginReject;
int ip_rate_limit_per_minute = 30;
int ip_rate_limit_per_day = 500;
int ipv6_prefix = 64;
int guess_slots = 16384;

char *callback_url = nullptr;
int callback_tolerance_s = 300;
bool idempotency_required = false;
int idempotency_ttl_s = 86400;
int message_validity_s = 86400;
int max_segments = 10;
int promo_frequency_cap_s = 86400;
int log_retention_s = 0;
int stats_retention_s = 400 * 86400;
int throttle_margin_ms = 20;
bool code_worker = true;
char *default_locale = nullptr;
char *help_reply = nullptr;

char *database = nullptr;
int workers = 1;
int poll_interval_ms = 1000;
int batch_size = 200;
int max_in_flight = 64;
int request_timeout_ms = 10000;
int verify_timeout_ms = 3000;
int lease_s = 60;
int max_send_attempts = 5;
int retry_delay_ms = 2000;
int breaker_threshold = 5;
int breaker_cooldown_s = 30;
char *http_allowed_hosts = nullptr;
int max_response_bytes = 65536;
int otp_reserved_in_flight = 8;

namespace {

// "a, b": trimmed, non-empty, distinct names, NAMEDATALEN - 1 bytes at most, 8 at most.
bool parse_databases(const char *value, std::vector<std::string> &out, std::string &problem) {
    out.clear();
    std::string text = value ? value : "";
    size_t start = 0;
    while (true) {
        size_t comma = text.find(',', start);
        std::string name = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        size_t a = name.find_first_not_of(" \t"), b = name.find_last_not_of(" \t");
        name = a == std::string::npos ? "" : name.substr(a, b - a + 1);
        if (name.empty()) {
            problem = "a database name is empty";
            return false;
        }
        if (name.size() >= NAMEDATALEN) {
            problem = "database name \"" + name + "\" is too long";
            return false;
        }
        for (const auto &n : out)
            if (n == name) {
                problem = "database \"" + name + "\" is named twice";
                return false;
            }
        out.push_back(name);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (out.size() > 8) {
        problem = "at most 8 databases";
        return false;
    }
    return true;
}

bool check_databases(char **value, void **, GucSource) {
    std::vector<std::string> names;
    std::string problem;
    if (parse_databases(*value, names, problem)) return true;
    GUC_check_errdetail("%s", pstrdup(problem.c_str()));
    GUC_check_errhint("List database names separated by commas, e.g. 'app, staging'.");
    return false;
}

// A host name as WebOTP wants it: dot-separated labels of letters, digits and inner hyphens.
bool check_domain(char **value, void **, GucSource) {
    if (*value == nullptr || **value == '\0') return true;
    std::string s(*value);
    bool ok = s.size() <= 253;
    size_t start = 0;
    while (ok && start <= s.size()) {
        size_t end = s.find('.', start);
        if (end == std::string::npos) end = s.size();
        std::string label = s.substr(start, end - start);
        ok = !label.empty() && label.size() <= 63 && label.front() != '-' && label.back() != '-';
        for (char c : label) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-');
        start = end + 1;
    }
    if (!ok) GUC_check_errdetail("sms_otp.webotp_domain must be a host name such as example.com.");
    return ok;
}

// An ISO 3166-1 alpha-2 region such as US or DE, or empty for "international format only".
bool check_region(char **value, void **, GucSource) {
    if (*value == nullptr || **value == '\0') return true;
    bool ok = std::strlen(*value) == 2 && std::isupper(static_cast<unsigned char>((*value)[0])) &&
              std::isupper(static_cast<unsigned char>((*value)[1]));
    if (!ok) GUC_check_errdetail("sms_otp.default_region must be a two-letter region code in capitals, such as US.");
    return ok;
}

bool check_template(char **value, void **, GucSource) {
    bool ok = *value != nullptr && std::strstr(*value, "{code}") != nullptr && std::strlen(*value) <= 480;
    if (!ok) GUC_check_errdetail("sms_otp.message_template must contain {code} and be at most 480 characters.");
    return ok;
}

bool check_role(char **value, void **, GucSource) {
    bool ok = *value != nullptr && **value != '\0' && std::strlen(*value) < NAMEDATALEN;
    if (!ok) GUC_check_errdetail("sms_otp.service_role must name a role.");
    return ok;
}

// A JSON member name: printable ASCII, no quotes or backslashes, at most 64 characters.
bool check_claim(char **value, void **, GucSource) {
    bool ok = *value != nullptr && **value != '\0' && std::strlen(*value) <= 64;
    for (const char *p = ok ? *value : ""; ok && *p; p++)
        ok = *p > 0x20 && *p < 0x7f && *p != '"' && *p != '\\';
    if (!ok) GUC_check_errdetail("sms_otp.login_claim must name a JWT claim, such as session_id or sid.");
    return ok;
}

// Host names or addresses, separated by commas or spaces, each at most 253 characters.
bool check_hosts(char **value, void **, GucSource) {
    if (*value == nullptr || **value == '\0') return true;
    std::string s(*value);
    bool ok = s.size() <= 4096;
    for (char c : s)
        ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == ',' ||
                    c == ' ' || c == '[' || c == ']' || c == '_');
    if (!ok) GUC_check_errdetail("sms_otp.http_allowed_hosts must list host names or addresses, separated by commas.");
    return ok;
}

// The public base URL of the callback proxy: http(s)://host[:port][/path], no query, no
// fragment, no trailing slash. Providers are asked to call {callback_url}/{kind}/...
bool check_callback_url(char **value, void **, GucSource) {
    if (*value == nullptr || **value == '\0') return true;
    std::string s(*value);
    bool ok = s.size() <= 1024 && (s.rfind("https://", 0) == 0 || s.rfind("http://", 0) == 0) && s.back() != '/';
    size_t host = ok ? s.find("://") + 3 : 0;
    ok = ok && host < s.size() && s[host] != '/';
    for (char c : s) ok = ok && c > 0x20 && c < 0x7f && c != '?' && c != '#' && c != '"' && c != '\\';
    if (!ok)
        GUC_check_errdetail("sms_otp.callback_url must be an http(s) URL such as https://sms.example.com/callbacks, "
                            "without query, fragment or trailing slash.");
    return ok;
}

// A BCP 47 language tag as templates use it: en, pt-BR.
bool check_locale(char **value, void **, GucSource) {
    std::string s(*value ? *value : "");
    bool ok = s.size() >= 2 && s.size() <= 35;
    for (char c : s) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-');
    if (!ok) GUC_check_errdetail("sms_otp.default_locale must be a language tag such as en or pt-BR.");
    return ok;
}

bool check_help_reply(char **value, void **, GucSource) {
    bool ok = *value != nullptr && **value != '\0' && std::strlen(*value) <= 480;
    if (!ok) GUC_check_errdetail("sms_otp.help_reply must be a text of 1 to 480 bytes.");
    return ok;
}

const struct config_enum_entry login_fallback_options[] = {
    {"reject", kLoginReject, false},
    {"token", kLoginToken, false},
    {"user", kLoginUser, false},
    {nullptr, 0, false},
};

void define_int(const char *name, const char *desc, int *var, int boot, int min, int max, GucContext ctx,
                int flags = 0) {
    DefineCustomIntVariable(name, desc, nullptr, var, boot, min, max, ctx, flags, nullptr, nullptr, nullptr);
}

}  // namespace

void define() {
    // API: limits and code shape. PGC_SUSET: only a superuser (or postgresql.conf,
    // ALTER DATABASE/ROLE by a superuser) may change them.
    define_int("sms_otp.code_length", "Digits in a one-time code.", &code_length, 6, 4, 10, PGC_SUSET);
    define_int("sms_otp.otp_ttl", "How long a code stays valid.", &otp_ttl_s, 300, 30, 86400, PGC_SUSET,
               GUC_UNIT_S);
    define_int("sms_otp.max_attempts", "Wrong codes allowed per session before it locks.", &max_attempts, 5, 1,
               100, PGC_SUSET);
    define_int("sms_otp.resend_cooldown", "Minimum wait between two sends to one user.", &resend_cooldown_s, 30, 0,
               3600, PGC_SUSET, GUC_UNIT_S);
    define_int("sms_otp.rate_limit_per_minute", "Sends allowed per user, per IP and per phone in one minute.",
               &rate_limit_per_minute, 5, 1, 1000000000, PGC_SUSET);
    define_int("sms_otp.rate_limit_per_day", "Sends allowed per user, per IP and per phone in one day.",
               &rate_limit_per_day, 10, 1, 1000000000, PGC_SUSET);
    define_int("sms_otp.trusted_proxies",
               "Reverse proxies in front of PostgREST that append to X-Forwarded-For (0: ignore the header).",
               &trusted_proxies, 1, 0, 16, PGC_SUSET);
    define_int("sms_otp.lockout_threshold", "Wrong codes across sessions that lock a user out.",
               &lockout_threshold, 10, 1, 1000, PGC_SUSET);
    define_int("sms_otp.lockout_duration", "How long a user stays locked out.", &lockout_duration_s, 900, 1,
               7 * 86400, PGC_SUSET, GUC_UNIT_S);
    define_int("sms_otp.verified_ttl", "How long a verification counts for otp_is_verified() by default.",
               &verified_ttl_s, 43200, 60, 30 * 86400, PGC_SUSET, GUC_UNIT_S);
    define_int("sms_otp.reverify_window",
               "How recently a login must have passed its SMS code to change or remove its number.",
               &reverify_window_s, 300, 30, 86400, PGC_SUSET, GUC_UNIT_S);
    DefineCustomStringVariable("sms_otp.service_role", "Role allowed to write the sms_otp tables directly.",
                               nullptr, &service_role, "service_role", PGC_SUSET, 0, check_role, nullptr, nullptr);
    DefineCustomStringVariable("sms_otp.webotp_domain",
                               "Domain for the WebOTP line '@domain #code' at the end of each code message.",
                               nullptr, &webotp_domain, "", PGC_SUSET, 0, check_domain, nullptr, nullptr);
    DefineCustomStringVariable("sms_otp.default_region",
                               "Region for phone numbers written without a country code (empty: require +).",
                               nullptr, &default_region, "", PGC_SUSET, 0, check_region, nullptr, nullptr);
    DefineCustomStringVariable("sms_otp.message_template",
                               "Text of a code message; {code} and {minutes} are replaced.", nullptr,
                               &message_template, "Your verification code is {code}. It expires in {minutes} min.",
                               PGC_SUSET, 0, check_template, nullptr, nullptr);
    DefineCustomStringVariable("sms_otp.login_claim",
                               "JWT claim that names the login a code belongs to (Supabase: session_id, OIDC: sid).",
                               nullptr, &login_claim, "session_id", PGC_SUSET, 0, check_claim, nullptr, nullptr);
    DefineCustomEnumVariable("sms_otp.login_fallback",
                             "What stands for the login when the token has no login claim: reject (refuse), "
                             "token (each token is its own login) or user (no login binding).",
                             nullptr, &login_fallback, kLoginReject, login_fallback_options, PGC_SUSET, 0, nullptr,
                             nullptr, nullptr);
    define_int("sms_otp.ip_rate_limit_per_minute", "Sends allowed per client address (or IPv6 network) in one minute.",
               &ip_rate_limit_per_minute, 30, 1, 1000000000, PGC_SUSET);
    define_int("sms_otp.ip_rate_limit_per_day", "Sends allowed per client address (or IPv6 network) in one day.",
               &ip_rate_limit_per_day, 500, 1, 1000000000, PGC_SUSET);
    define_int("sms_otp.ipv6_prefix", "IPv6 clients are counted by network of this prefix length.", &ipv6_prefix, 64,
               32, 128, PGC_SUSET);

    // Phase 2: transactional sends, delivery receipts, opt-outs.
    DefineCustomStringVariable("sms_otp.callback_url",
                               "Public base URL of the callback proxy that providers post receipts and inbound "
                               "messages to (empty: ask for no callbacks, refuse those that come).",
                               nullptr, &callback_url, "", PGC_SUSET, 0, check_callback_url, nullptr, nullptr);
    define_int("sms_otp.callback_tolerance", "Clock skew allowed for signed callbacks that carry a timestamp.",
               &callback_tolerance_s, 300, 10, 86400, PGC_SUSET, GUC_UNIT_S);
    DefineCustomBoolVariable("sms_otp.idempotency_required",
                             "send_transactional() refuses calls without an idempotency key.", nullptr,
                             &idempotency_required, false, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    define_int("sms_otp.idempotency_ttl", "How long an idempotency key and its answer are kept.", &idempotency_ttl_s,
               86400, 86400, 30 * 86400, PGC_SUSET, GUC_UNIT_S);
    define_int("sms_otp.message_validity", "How long a transactional message may wait to be sent, by default.",
               &message_validity_s, 86400, 60, 7 * 86400, PGC_SUSET, GUC_UNIT_S);
    define_int("sms_otp.log_retention",
               "Raw log rows, delivery events and expired code sessions older than this are deleted (0 keeps them).",
               &log_retention_s, 0, 0, INT_MAX, PGC_SUSET, GUC_UNIT_S);
    define_int("sms_otp.stats_retention", "Hourly dashboard rollups older than this are deleted.", &stats_retention_s,
               400 * 86400, 86400, INT_MAX, PGC_SUSET, GUC_UNIT_S);
    define_int("sms_otp.promo_frequency_cap", "A number gets at most one promo message in this time, across campaigns.",
               &promo_frequency_cap_s, 86400, 0, 30 * 86400, PGC_SUSET, GUC_UNIT_S);
    define_int("sms_otp.max_segments", "Most SMS parts one transactional message may take.", &max_segments, 10, 1, 10,
               PGC_SUSET);
    DefineCustomStringVariable("sms_otp.default_locale", "Locale of templates when the call names none.", nullptr,
                               &default_locale, "en", PGC_SUSET, 0, check_locale, nullptr, nullptr);
    DefineCustomStringVariable("sms_otp.help_reply", "Reply to an inbound HELP (or another help keyword).", nullptr,
                               &help_reply, "Reply STOP to stop receiving messages, START to receive them again.",
                               PGC_SUSET, 0, check_help_reply, nullptr, nullptr);

    // Settings read only at server start exist only when the library is preloaded: PostgreSQL
    // ends a session (FATAL) that defines one later, and a late-loaded library has no shared
    // memory and no worker for them to shape anyway.
    if (process_shared_preload_libraries_in_progress) {
        // The worker's throttles are made with it: read at server start.
        define_int("sms_otp.throttle_margin", "Added to each throttle window, for the network between worker and provider.",
                   &throttle_margin_ms, 20, 0, 1000, PGC_POSTMASTER, GUC_UNIT_MS);
        define_int("sms_otp.guess_slots",
                   "Sessions and users whose wrong codes are counted in shared memory (so rolled-back guesses count).",
                   &guess_slots, 16384, 256, 1048576, PGC_POSTMASTER);
        DefineCustomBoolVariable("sms_otp.code_worker",
                                 "A second worker process that sends only codes, so no backlog delays one.", nullptr,
                                 &code_worker, true, PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
        DefineCustomStringVariable("sms_otp.database",
                                   "Databases the workers serve: a name, or several separated by commas.", nullptr,
                                   &database, "postgres", PGC_POSTMASTER, 0, check_databases, nullptr, nullptr);
        define_int("sms_otp.workers", "Delivery worker processes for each database; they share its queue.", &workers,
                   1, 1, 16, PGC_POSTMASTER);
    }

    // worker
    define_int("sms_otp.poll_interval", "Safety-net poll of the outbox when no commit wakes the worker.",
               &poll_interval_ms, 1000, 10, 3600000, PGC_SIGHUP, GUC_UNIT_MS);
    define_int("sms_otp.batch_size", "Messages the worker claims at once.", &batch_size, 200, 1, 10000,
               PGC_SIGHUP);
    define_int("sms_otp.max_in_flight", "Provider requests the worker keeps open at once.", &max_in_flight, 64, 1,
               1024, PGC_SIGHUP);
    define_int("sms_otp.request_timeout", "Timeout of one provider request.", &request_timeout_ms, 10000, 100,
               300000, PGC_SIGHUP, GUC_UNIT_MS);
    define_int("sms_otp.verify_timeout", "Timeout of a synchronous provider code check in otp_verify().",
               &verify_timeout_ms, 3000, 100, 60000, PGC_SUSET, GUC_UNIT_MS);
    define_int("sms_otp.lease", "How long a claimed message stays reserved for the worker.", &lease_s, 60, 5, 3600,
               PGC_SIGHUP, GUC_UNIT_S);
    define_int("sms_otp.max_send_attempts", "Delivery attempts before a message fails.", &max_send_attempts, 5, 1,
               100, PGC_SIGHUP);
    define_int("sms_otp.retry_delay", "Wait before a message is tried again when no provider took it.",
               &retry_delay_ms, 2000, 10, 3600000, PGC_SIGHUP, GUC_UNIT_MS);
    define_int("sms_otp.breaker_threshold", "Consecutive failures that open a provider's circuit breaker.",
               &breaker_threshold, 5, 1, 1000, PGC_SIGHUP);
    define_int("sms_otp.breaker_cooldown", "How long an open circuit breaker keeps a provider out.",
               &breaker_cooldown_s, 30, 1, 86400, PGC_SIGHUP, GUC_UNIT_S);

    DefineCustomStringVariable("sms_otp.http_allowed_hosts",
                               "Provider hosts allowed over plain http or at internal addresses (tests, a local mock).",
                               nullptr, &http_allowed_hosts, "", PGC_SIGHUP, 0, check_hosts, nullptr, nullptr);
    define_int("sms_otp.max_response_bytes", "Largest provider answer read; a longer one fails the attempt.",
               &max_response_bytes, 65536, 1024, 16777216, PGC_SIGHUP, GUC_UNIT_BYTE);

    define_int("sms_otp.otp_reserved_in_flight",
               "Provider requests kept free for codes: other messages never fill the last ones.",
               &otp_reserved_in_flight, 8, 0, 1024, PGC_SIGHUP);

    define_guard();
    define_captcha();

    MarkGUCPrefixReserved("sms_otp");
}

std::vector<std::string> databases() {
    std::vector<std::string> names;
    std::string problem;
    parse_databases(database, names, problem);
    return names;
}

}  // namespace sms_otp::settings
