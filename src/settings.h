// The sms_otp.* settings (GUCs). Limits are superuser-only: a client cannot loosen its own.
#pragma once

#include <string>
#include <vector>

namespace sms_otp::settings {

// API
extern int code_length;
extern int otp_ttl_s;
extern int max_attempts;
extern int resend_cooldown_s;
extern int rate_limit_per_minute;
extern int rate_limit_per_day;
extern int trusted_proxies;
extern int lockout_threshold;
extern int lockout_duration_s;
extern int verified_ttl_s;
extern int reverify_window_s;
extern char *service_role;
extern char *webotp_domain;
extern char *default_region;
extern char *message_template;
extern char *login_claim;
extern int login_fallback;          // LoginFallback
extern int ip_rate_limit_per_minute;
extern int ip_rate_limit_per_day;
extern int ipv6_prefix;
extern int guess_slots;

// phase 2: transactional sends, callbacks, opt-outs
extern char *callback_url;
extern int callback_tolerance_s;
extern bool idempotency_required;
extern int idempotency_ttl_s;
extern int message_validity_s;
extern int max_segments;
extern int log_retention_s;    // sms_otp.log_retention: raw rows older than this go (0: kept)
extern int stats_retention_s;  // sms_otp.stats_retention: rollups older than this go
extern int promo_frequency_cap_s;  // sms_otp.promo_frequency_cap: one promo per number in this time
extern bool code_worker;            // sms_otp.code_worker: codes have a worker process of their own
extern int throttle_margin_ms;     // sms_otp.throttle_margin: added to every throttle window
extern char *default_locale;
extern char *help_reply;

// What identifies a login when the token has no login claim.
enum LoginFallback { kLoginReject = 0, kLoginToken = 1, kLoginUser = 2 };

// worker
extern char *database;             // sms_otp.database: one name or several, comma-separated
extern int workers;                // sms_otp.workers: delivery worker processes per database
extern int poll_interval_ms;
extern int batch_size;
extern int max_in_flight;
extern int request_timeout_ms;
extern int verify_timeout_ms;
extern int lease_s;
extern int max_send_attempts;
extern int retry_delay_ms;
extern int breaker_threshold;
extern int breaker_cooldown_s;
extern char *http_allowed_hosts;
extern int max_response_bytes;
extern int otp_reserved_in_flight;

void define();

// The SMS-pumping guard's settings (src/guard_settings.cpp), defined by define().
enum GuardMode { kGuardOff = 0, kGuardRecordOnly = 1, kGuardEnforce = 2 };
extern int guard_mode;  // GuardMode
void define_guard();
// The names in sms_otp.database, in order.
std::vector<std::string> databases();

}  // namespace sms_otp::settings
