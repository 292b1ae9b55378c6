// Claimed messages in flight: each goes to the first available provider of its route, moves
// on to the next when a provider fails it, and ends sent, failed, expired or queued again.
//
// Claimed ahead: a claim may take more than the free request slots. Requests are handed to the
// transport (http::Multi), up to twice sms_otp.max_in_flight; it opens max_in_flight at most,
// codes first, and the next waiting one the moment an answer frees a slot, whatever the worker
// is doing. What cannot be handed over yet waits here, codes first. Requests open plus answers
// not yet written stay within twice max_in_flight (the transport opens none past that): what a
// crash can send again.
#pragma once

#include "http/client.h"
#include "worker/queue.h"
#include "worker/router.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

namespace sms_otp::worker {

class Dispatcher {
public:
    explicit Dispatcher(http::Multi &multi, int64_t throttle_margin_us = 20000)
        : multi_(multi), throttle_(throttle_margin_us) {}

    // Hands max_in_flight and the slots of other messages to the transport (at the start and
    // after a reload).
    void set_limits();
    Router &router() { return router_; }
    Throttle &throttle() { return throttle_; }
    // A claimed message: sent now if a request slot is free, else kept ready for the next one.
    void start(Claimed claimed);
    // Wait up to timeout_ms for answers, act on them, and send what is ready into the freed slots.
    void run(int timeout_ms);
    // Requests handed to the transport: open (max_in_flight at most), or waiting there for the
    // next free slot.
    int in_flight() const { return static_cast<int>(in_flight_.size()); }
    // Of those, the requests of transactional and promo messages (the rest are codes).
    int others_in_flight() const { return others_in_flight_; }
    // Claimed messages waiting for a request slot, and of them the transactional and promo ones.
    int ready() const { return static_cast<int>(ready_codes_.size() + ready_others_.size()); }
    int others_ready() const { return static_cast<int>(ready_others_.size()); }
    // Ready messages wait for a provider's max_concurrent (other workers' requests): look again soon.
    bool waiting_for_provider() const { return capped_; }

    // Results not yet written, added to `results` (and forgotten here) by take().
    bool has_results() const { return !finals_.empty() || !attempts_.empty(); }
    // Messages settled and not taken yet, and when the first of them was (Unix microseconds).
    size_t results() const { return finals_.size(); }
    int64_t oldest_result_us() const { return oldest_final_us_; }
    void take(Results &results);
    // `n` of the messages taken were written: their requests no longer count against the bound.
    void written(size_t n);

private:
    struct Job {
        Claimed claimed;
        std::vector<ProviderRef> route;
        size_t next = 0;            // index in route of the next provider to ask
        bool only_rejections = true;
        ProviderRef current;
        std::string last_error;     // of the latest failed attempt
        // A campaign's message: the throttle keys of the current attempt, its sender, and when
        // its request left (set by the request's before_send; 0 while it has not).
        std::vector<std::string> keys;
        std::string sender;
        std::shared_ptr<int64_t> sent_at;
        int64_t ready_since_us = 0;  // when it was handed over, claimed
        // Not a code: kept within the request slots that sms_otp.otp_reserved_in_flight leaves.
        bool other() const { return claimed.message.type != "otp"; }
    };

    // Send ready messages while request slots are free (codes first).
    void pump();
    std::deque<Job> &ready_queue(const Job &job) {
        return job.claimed.message.type == "otp" ? ready_codes_ : ready_others_;
    }
    // Back to the queue with no attempt spent, due again in wait_ms.
    void put_back(const Claimed &c, const char *why, int64_t wait_ms);
    void launch(Job job);
    // Whether a request may be handed to the transport now (a campaign's: opened at once).
    bool slot_free(bool code, bool campaign = false) const;
    // Returns false when the job went back, first, to its ready queue: every provider left is
    // at its max_concurrent.
    bool advance(Job job);
    void finish(Final f);
    // Both return advance()'s answer when they hand the job on to the next provider, else true.
    bool handle(Job job, const http::Response &response);
    bool settle(Job job, const providers::Result &r, const http::Response &response);
    // The limits every request carries: answer size, allowed hosts, timeout.
    void limit(http::Request &request);
    void log_attempt(const Job &job, const providers::Result &r, const http::Response &response);

    http::Multi &multi_;
    Router router_;
    Throttle throttle_;
    std::unordered_map<uint64_t, Job> in_flight_;
    int others_in_flight_ = 0;
    std::deque<Job> ready_codes_, ready_others_;
    size_t unwritten_ = 0;
    int64_t oldest_final_us_ = 0;    // messages settled here or taken, and not yet written
    bool capped_ = false;     // the last pump stopped at a provider's max_concurrent
    uint64_t next_tag_ = 1;
    std::vector<Final> finals_;
    std::vector<Attempt> attempts_;
    std::string hosts_setting_;               // sms_otp.http_allowed_hosts as last read
    std::vector<std::string> allowed_hosts_;  // ... and parsed
};

// Request slots transactional and promo messages may take: max_in_flight less those kept for
// codes (sms_otp.otp_reserved_in_flight, leaving them one at least).
int others_slots();

// The text of a message as the log keeps it: OTP codes (runs of 4+ digits) masked.
std::string redact(const std::string &text, const std::string &type);

}  // namespace sms_otp::worker
