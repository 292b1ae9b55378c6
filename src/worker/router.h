// Which provider a message goes to, and what each provider's answers tell about its health:
// the hint first (if it names a selectable provider), then the user's preferred provider, then
// the rest by priority, skipping a provider in 429 backoff, one whose credentials were refused,
// and one whose breaker is open.
#pragma once

#include "providers/provider.h"
#include "worker/queue.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sms_otp::worker {

struct Health {
    int consecutive_failures = 0;
    int64_t backoff_until_us = 0;   // 429 Retry-After
    int64_t breaker_until_us = 0;   // open breaker, or refused credentials
    bool auth_failed = false;
    long last_status = 0;
    uint64_t sent = 0, failed = 0;
};

// Jobs in flight keep the provider they were routed with, even after the list is reloaded.
using ProviderRef = std::shared_ptr<const providers::Provider>;

class Router {
public:
    // The enabled providers, by priority. Health survives for a provider whose row is
    // unchanged; editing the row (new credentials, say) starts it afresh.
    void set_providers(std::vector<providers::Provider> list);
    const std::vector<ProviderRef> &providers() const { return providers_; }

    // The providers to try for a message, in order (available or not). Providers that keep the
    // code (Twilio Verify, Vonage Verify) are in the routes of codes only.
    std::vector<ProviderRef> route(const Claimed &c) const;
    bool available(const providers::Provider &p, int64_t now_us) const;
    // Microseconds until some provider of the route is available again (0 if one is now).
    int64_t wait_us(const std::vector<ProviderRef> &route, int64_t now_us) const;

    void record(const std::string &provider, const providers::Result &r, long status, int64_t now_us,
                int breaker_threshold, int breaker_cooldown_s);

    // Copy health into shared memory for sms_otp.worker_status().
    void publish() const;

private:
    static void update(Health &h, const providers::Result &r, long status, int64_t now_us, int breaker_threshold,
                       int breaker_cooldown_s);

    std::vector<ProviderRef> providers_;
    std::map<std::string, Health> health_;
    std::map<std::string, std::string> versions_;
};

}  // namespace sms_otp::worker
