#include "worker/dispatcher.h"

#include "http/destination.h"
#include "pg/guard.h"
#include "settings.h"
#include "worker/shared_state.h"

extern "C" {
#include "utils/timestamp.h"
}

#include <cctype>

namespace sms_otp::worker {

using providers::Outcome;

namespace {

const char *outcome_name(Outcome o) {
    switch (o) {
        case Outcome::Sent: return "sent";
        case Outcome::Retry: return "retry";
        case Outcome::AuthFailed: return "auth_failed";
        case Outcome::Throttled: return "throttled";
        case Outcome::Rejected: return "rejected";
    }
    return "retry";
}

}  // namespace

std::string redact(const std::string &text, const std::string &type) {
    if (type != "otp") return text;
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        size_t j = i;
        while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) j++;
        if (j - i >= 4) {
            out.append(j - i, '*');
            i = j;
        } else if (j > i) {
            out.append(text, i, j - i);
            i = j;
        } else {
            out.push_back(text[i++]);
        }
    }
    return out;
}

void Dispatcher::finish(Final f) {
    if (finals_.empty()) oldest_final_us_ = wall_clock_us();
    finals_.push_back(std::move(f));
    unwritten_++;
}

void Dispatcher::start(Claimed claimed) {
    if (claimed.expired) {
        finish({claimed.message.id, claimed.attempts, "expired", "", "", "expired before it could be sent", 0});
        return;
    }
    Job job;
    job.route = router_.route(claimed);
    job.claimed = std::move(claimed);
    job.ready_since_us = wall_clock_us();
    ready_queue(job).push_back(std::move(job));
    pump();
}

int others_slots() {
    return settings::max_in_flight - std::min(settings::otp_reserved_in_flight, settings::max_in_flight - 1);
}

// Requests are handed to the transport up to twice max_in_flight: it opens max_in_flight at
// most, and the next waiting one the moment an answer frees a slot, whatever this thread is
// doing. It opens none while requests open plus answers not yet written reach twice
// max_in_flight: what a crash can send again.
//
// A campaign's request is handed over only when it can open at once: its throttles count it
// when it leaves (before_send, on the transport's thread), and the next claim shares out the
// throttles' room by what they counted. Kept waiting in the transport, it would be counted
// late, the claim would share out room it had taken, and the campaign fed more would lose the
// difference to its held-back requests.
bool Dispatcher::slot_free(bool code, bool campaign) const {
    if (campaign) return in_flight() < settings::max_in_flight && others_in_flight_ < others_slots();
    if (in_flight() >= 2 * settings::max_in_flight) return false;
    return code || others_in_flight_ < 2 * others_slots();
}

void Dispatcher::set_limits() {
    multi_.set_max_host_connections(settings::max_in_flight);
    multi_.set_open_limits(settings::max_in_flight, others_slots(), 2 * settings::max_in_flight);
}

void Dispatcher::written(size_t n) {
    unwritten_ -= std::min(unwritten_, n);
    multi_.set_unwritten(static_cast<int>(unwritten_));
}

void Dispatcher::put_back(const Claimed &c, const char *why, int64_t wait_ms) {
    Final f{c.message.id, c.attempts, "queued", "", "", why, static_cast<int>(wait_ms)};
    f.unclaim = true;
    finish(std::move(f));
}

void Dispatcher::pump() {
    capped_ = false;
    for (;;) {
        std::deque<Job> *queue = nullptr;
        if (!ready_codes_.empty() && slot_free(true))
            queue = &ready_codes_;
        else if (!ready_others_.empty() && slot_free(false, ready_others_.front().claimed.campaign_id > 0))
            queue = &ready_others_;
        if (!queue) break;
        Job job = std::move(queue->front());
        queue->pop_front();
        // Waiting (for a provider's max_concurrent) past half its lease, it could be claimed
        // again by another worker before its request left: it goes back to the queue instead.
        if (!job.current && wall_clock_us() - job.ready_since_us > int64_t(settings::lease_s) * 500000) {
            put_back(job.claimed, "waited for a request slot past half its lease", 0);
            continue;
        }
        // Its providers are at their max_concurrent: it waits first in line for an answer
        // (this worker's or another's) to free one.
        if (!advance(std::move(job))) {
            capped_ = true;
            break;
        }
    }
    pg_atomic_write_u32(&my_slot().in_flight, uint32(multi_.open()));
}

// Ask the next available provider, or settle the message when none is left. One whose
// max_concurrent requests are all open is passed over for the next; when every provider left
// was passed over so, the message waits, first in the ready queue, for the first of them.
bool Dispatcher::advance(Job job) {
    int64_t now = wall_clock_us();
    long first_capped = -1;
    while (job.next < job.route.size()) {
        size_t index = job.next;
        ProviderRef p = job.route[job.next++];
        if (!router_.available(*p, now)) continue;
        const providers::Adapter *adapter = providers::adapter_for(p->kind);
        if (!adapter) continue;
        // A campaign's message goes from the campaign's sender, within the throttles of its
        // provider, sender and campaign; held back, it waits in the queue for its slot.
        const Claimed &c = job.claimed;
        std::string sender = c.sender.empty() ? p->sender : c.sender;
        std::vector<std::string> keys;
        if (c.campaign_id > 0) {
            keys = {"provider:" + p->name, "campaign:" + std::to_string(c.campaign_id)};
            if (!sender.empty()) keys.push_back("sender:" + sender);
            int64_t at = throttle_.wait_until(keys, c.segments, now);
            if (at == kNever) {
                finish({c.message.id, c.attempts, "failed", "", "",
                        "the message takes more SMS parts than a throttle allows in a window", 0});
                pg_atomic_fetch_add_u64(&my_database()->failed, 1);
                return true;
            }
            if (at != 0) {
                if (job.current) continue;  // a fallback provider with no room: try the next
                int64_t wait_ms = at == kNextDay ? 60 * 1000 : std::max<int64_t>(1, (at - now + 999) / 1000);
                put_back(c, "held back by a throttle", wait_ms);
                return true;
            }
        }
        if (!take_provider_slot(p->name, p->max_concurrent)) {
            if (first_capped < 0) first_capped = static_cast<long>(index);
            continue;
        }
        job.current = p;
        providers::Provider with_sender;
        if (!c.sender.empty()) {
            with_sender = *p;
            with_sender.sender = c.sender;
        }
        providers::Outgoing out = adapter->request(c.sender.empty() ? *p : with_sender, job.claimed.message);
        job.keys = keys;
        job.sender = c.campaign_id > 0 ? sender : "";
        job.sent_at = nullptr;
        if (out.request) {
            // Its time is taken when its first byte leaves, not now: a request may wait in the
            // multi handle (a connection being made, other work of the worker). The log keeps it
            // for every request (requested_at: commit → request is the worker's share of a
            // message's latency), and a throttled one is counted then, so the windows are exact
            // at the provider.
            auto sent_at = std::make_shared<int64_t>(0);
            job.sent_at = sent_at;
            Throttle *throttle = &throttle_;
            int64_t segments = c.segments;
            out.request->before_send = [throttle, keys, segments, sent_at] {
                int64_t at = wall_clock_us();
                if (!keys.empty()) {
                    if (throttle->wait_until(keys, segments, at) != 0) return false;
                    throttle->record(keys, segments, at);
                }
                *sent_at = at;
                return true;
            };
        } else if (!out.refused) {
            if (!keys.empty()) throttle_.record(keys, c.segments, now);  // console: no HTTP, it goes now
            job.sent_at = std::make_shared<int64_t>(now);
        }
        if (!out.request) give_provider_slot(p->name);  // refused, or console: no request open
        if (out.refused) {
            // The provider's row is unfit for a request: an attempt that failed at once.
            providers::Result r = *out.refused;
            return settle(std::move(job), r, http::Response{});
        }
        if (!out.request) {
            // No HTTP (console): the message goes to the server log, for local development.
            const auto &m = job.claimed.message;
            pg::pg_call([&] {
                ereport(LOG, (errmsg("sms_otp console provider \"%s\": to %s: %s", p->name.c_str(), m.to.c_str(),
                                     m.body.c_str())));
            });
            http::Response none;
            none.status = 200;
            return handle(std::move(job), none);
        }
        limit(*out.request);
        uint64_t tag = next_tag_++;
        multi_.add(*out.request, tag, job.other());
        if (job.other()) others_in_flight_++;
        in_flight_.emplace(tag, std::move(job));
        return true;
    }
    if (first_capped >= 0) {
        job.next = static_cast<size_t>(first_capped);
        ready_queue(job).push_front(std::move(job));
        return false;
    }
    // Every provider of the route failed this round, or none was available.
    const Claimed &c = job.claimed;
    Final f{c.message.id, c.attempts, "queued", "", "", "", 0};
    bool tried_any = job.current != nullptr;
    if (job.route.empty()) {
        f.error = "no SMS provider is enabled";
    } else if (!tried_any) {
        f.error = "every provider is backing off or unavailable";
    } else {
        f.error = "every provider failed this message";
        if (!job.last_error.empty()) f.error += " (last: " + job.last_error + ")";
    }
    // A campaign's message no provider was asked for (all backing off after a 429, say) waits
    // without spending an attempt: a long Retry-After must not fail a campaign's recipients.
    if (!tried_any && !job.route.empty() && c.campaign_id > 0) {
        f.unclaim = true;
        f.retry_ms = static_cast<int>(std::max<int64_t>(settings::retry_delay_ms, router_.wait_us(job.route, now) / 1000));
    } else if (c.attempts >= settings::max_send_attempts || (tried_any && job.only_rejections)) {
        f.status = "failed";
        pg_atomic_fetch_add_u64(&my_database()->failed, 1);
    } else {
        int64_t wait_ms = router_.wait_us(job.route, now) / 1000;
        f.retry_ms = static_cast<int>(std::max<int64_t>(settings::retry_delay_ms, wait_ms));
    }
    finish(std::move(f));
    return true;
}

void Dispatcher::log_attempt(const Job &job, const providers::Result &r, const http::Response &response) {
    const Claimed &c = job.claimed;
    Attempt a;
    a.outbox_id = c.message.id;
    a.user_id = c.user_id;
    a.session_id = c.message.session_id;
    a.to = c.message.to;
    a.type = c.message.type;
    a.text = redact(c.message.body, c.message.type);
    a.provider = job.current->name;
    a.outcome = outcome_name(r.outcome);
    a.error = r.outcome == Outcome::Sent ? "" : (r.error.empty() ? response.error : r.error);
    a.provider_message_id = r.message_id;
    a.status_code = response.status;
    a.response_ms = static_cast<int>(response.elapsed_ms + 0.5);
    a.campaign_id = c.campaign_id;
    a.sender = job.sender;
    a.segments = c.segments;
    a.requested_us = job.sent_at ? *job.sent_at : 0;
    attempts_.push_back(std::move(a));
}

void Dispatcher::limit(http::Request &request) {
    const char *hosts = settings::http_allowed_hosts ? settings::http_allowed_hosts : "";
    if (hosts_setting_ != hosts) {
        hosts_setting_ = hosts;
        allowed_hosts_ = http::parse_hosts(hosts_setting_);
    }
    request.allowed_hosts = allowed_hosts_;
    request.max_body_bytes = static_cast<size_t>(settings::max_response_bytes);
    request.timeout_ms = settings::request_timeout_ms;
}

bool Dispatcher::handle(Job job, const http::Response &response) {
    if (response.held_back) {
        // The throttle said no at the last moment: back to the queue for its slot, no attempt spent.
        const Claimed &c = job.claimed;
        int64_t now = wall_clock_us();
        int64_t at = throttle_.wait_until(job.keys, c.segments, now);
        int64_t wait_ms = at == kNextDay || at == kNever ? 60 * 1000 : std::max<int64_t>(1, (at - now + 999) / 1000);
        put_back(c, "held back by a throttle", wait_ms);
        return true;
    }
    const providers::Adapter *adapter = providers::adapter_for(job.current->kind);
    providers::Result r = adapter->interpret(*job.current, response);
    return settle(std::move(job), r, response);
}

// One attempt is over: count it, log it, and send the message on or settle it.
bool Dispatcher::settle(Job job, const providers::Result &r, const http::Response &response) {
    pg_atomic_fetch_add_u64(&my_database()->attempts, 1);
    router_.record(job.current->name, r, response.status, wall_clock_us(), settings::breaker_threshold,
                   settings::breaker_cooldown_s);
    log_attempt(job, r, response);
    if (r.outcome == Outcome::Sent) {
        pg_atomic_fetch_add_u64(&my_database()->sent, 1);
        pg_atomic_fetch_add_u64(&my_slot().sent, 1);
        finish({job.claimed.message.id, job.claimed.attempts, "sent", job.current->name, r.message_id, "", 0});
        return true;
    }
    if (r.outcome != Outcome::Rejected) job.only_rejections = false;
    job.last_error = r.error.empty() ? response.error : r.error;
    return advance(std::move(job));
}

void Dispatcher::run(int timeout_ms) {
    if (in_flight_.empty()) {
        pump();  // a provider's slot may have been freed by another worker
        return;
    }
    multi_.run(timeout_ms, [&](uint64_t tag, http::Response &&response) {
        auto it = in_flight_.find(tag);
        if (it == in_flight_.end()) return;
        Job job = std::move(it->second);
        in_flight_.erase(it);
        give_provider_slot(job.current->name);
        if (job.other()) others_in_flight_--;
        handle(std::move(job), response);
    });
    multi_.set_unwritten(static_cast<int>(unwritten_));
    pump();
}

void Dispatcher::take(Results &results) {
    results.finals.insert(results.finals.end(), std::make_move_iterator(finals_.begin()),
                          std::make_move_iterator(finals_.end()));
    results.attempts.insert(results.attempts.end(), std::make_move_iterator(attempts_.begin()),
                            std::make_move_iterator(attempts_.end()));
    finals_.clear();
    attempts_.clear();
}

}  // namespace sms_otp::worker
