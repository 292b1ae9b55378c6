#include "worker/router.h"

#include "worker/shared_state.h"

#include <algorithm>
#include <cstring>

namespace sms_otp::worker {

using providers::Outcome;

void Router::set_providers(std::vector<providers::Provider> list) {
    providers_.clear();
    std::map<std::string, std::string> versions;
    for (auto &p : list) {
        versions[p.name] = p.version;
        auto old = versions_.find(p.name);
        if (old == versions_.end() || old->second != p.version) health_.erase(p.name);
        providers_.push_back(std::make_shared<const providers::Provider>(std::move(p)));
    }
    for (auto it = health_.begin(); it != health_.end();)
        it = versions.count(it->first) ? std::next(it) : health_.erase(it);
    versions_ = std::move(versions);
    publish();
}

std::vector<ProviderRef> Router::route(const Claimed &c) const {
    std::vector<ProviderRef> order;
    // Providers that keep the code (Twilio Verify, Vonage Verify) send a code of their own,
    // never a text: they carry codes only.
    bool code = c.message.type == "otp";
    auto fits = [&](const providers::Provider &p) {
        if (code) return true;
        const providers::Adapter *a = providers::adapter_for(p.kind);
        return !a || !a->keeps_code();
    };
    auto add = [&](const std::string &name, bool only_selectable) {
        for (const auto &p : providers_)
            if (p->name == name && (!only_selectable || p->selectable) && fits(*p) &&
                std::find(order.begin(), order.end(), p) == order.end())
                order.push_back(p);
    };
    // A campaign that names its provider goes out through it alone: its sender and its budget
    // are that provider's.
    if (c.campaign_id > 0 && !c.hint.empty()) {
        add(c.hint, false);
        return order;
    }
    // otp_send keeps a hint only when it names a selectable provider; checked again here, in
    // case a row was changed since or the outbox was written some other way.
    if (!c.hint.empty()) add(c.hint, true);
    if (!c.preferred.empty()) add(c.preferred, false);
    for (const auto &p : providers_) add(p->name, false);
    return order;
}

// A 429 heard by another worker of the database holds this one back too.
bool Router::available(const providers::Provider &p, int64_t now_us) const {
    if (shared_backoff(p.name, p.version) > now_us) return false;
    auto it = health_.find(p.name);
    if (it == health_.end()) return true;
    return it->second.backoff_until_us <= now_us && it->second.breaker_until_us <= now_us;
}

int64_t Router::wait_us(const std::vector<ProviderRef> &route, int64_t now_us) const {
    int64_t best = -1;
    for (const auto &p : route) {
        auto it = health_.find(p->name);
        int64_t until = it == health_.end() ? now_us
                                            : std::max(it->second.backoff_until_us, it->second.breaker_until_us);
        until = std::max(until, shared_backoff(p->name, p->version));
        int64_t wait = std::max<int64_t>(until - now_us, 0);
        if (best < 0 || wait < best) best = wait;
    }
    return std::max<int64_t>(best, 0);
}

void Router::record(const std::string &provider, const providers::Result &r, long status, int64_t now_us,
                    int breaker_threshold, int breaker_cooldown_s) {
    Health &h = health_[provider];
    update(h, r, status, now_us, breaker_threshold, breaker_cooldown_s);
    if (r.outcome == Outcome::Throttled) {
        auto v = versions_.find(provider);
        if (v != versions_.end()) share_backoff(provider, v->second, h.backoff_until_us);
    }
    publish();
}

void Router::update(Health &h, const providers::Result &r, long status, int64_t now_us, int breaker_threshold,
                    int breaker_cooldown_s) {
    h.last_status = status;
    switch (r.outcome) {
        case Outcome::Sent:
            h.consecutive_failures = 0;
            h.auth_failed = false;
            h.breaker_until_us = 0;
            h.sent++;
            return;
        case Outcome::Throttled:
            // Not a fault of the provider: no breaker, just the wait it asked for.
            h.backoff_until_us = now_us + int64_t(std::max(r.retry_after_s, 1)) * 1000000;
            h.failed++;
            return;
        case Outcome::AuthFailed:
            h.auth_failed = true;
            h.breaker_until_us = now_us + int64_t(breaker_cooldown_s) * 1000000;
            h.failed++;
            return;
        case Outcome::Rejected:
            // The message was refused, not the provider: its health is unchanged.
            h.failed++;
            return;
        case Outcome::Retry:
            h.failed++;
            if (++h.consecutive_failures >= breaker_threshold) {
                h.breaker_until_us = now_us + int64_t(breaker_cooldown_s) * 1000000;
                // Half-open after the cooldown: one more failure opens it again at once.
                h.consecutive_failures = breaker_threshold - 1;
            }
            return;
    }
}

// worker_status() shows delivery worker 1's view; the other workers keep their own (a code
// meets a provider's breaker by itself, from its own answers; a 429's backoff is shared).
void Router::publish() const {
    SharedState *s = shared();
    if (!s || my_number != 1) return;
    DatabaseState *db = my_database();
    SpinLockAcquire(&s->mutex);
    int i = 0;
    for (const auto &p : providers_) {
        if (i >= kMaxProviders) break;
        ProviderHealth &out = db->providers[i++];
        std::memset(&out, 0, sizeof(out));
        out.in_use = true;
        strlcpy(out.name, p->name.c_str(), sizeof(out.name));
        auto it = health_.find(p->name);
        if (it != health_.end()) {
            const Health &h = it->second;
            out.unhealthy = h.auth_failed;
            out.consecutive_failures = h.consecutive_failures;
            // TimestampTz counts microseconds from 2000-01-01; ours are Unix microseconds.
            constexpr int64_t kEpochShift = int64_t(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000000;
            out.backoff_until = h.backoff_until_us ? h.backoff_until_us - kEpochShift : 0;
            out.breaker_open_until = h.breaker_until_us ? h.breaker_until_us - kEpochShift : 0;
            out.sent = h.sent;
            out.failed = h.failed;
            out.last_status = static_cast<int>(h.last_status);
        }
    }
    for (; i < kMaxProviders; i++) db->providers[i].in_use = false;
    SpinLockRelease(&s->mutex);
}

}  // namespace sms_otp::worker
