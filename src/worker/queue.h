// The worker's side of the tables: claim due messages with a lease, write results back.
// Each call is one short transaction; none is open while requests are in flight.
#pragma once

#include "providers/provider.h"
#include "worker/throttle.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sms_otp::worker {

struct Claimed {
    providers::Message message;
    std::string user_id;
    std::string hint;         // provider_hint of otp_send
    std::string preferred;    // the user's preferred provider
    int attempts = 0;         // delivery rounds, this one included: also the claim's token
    bool expired = false;     // an OTP whose code expired before it could be sent
    // Promo messages of a campaign: throttled by provider, sender and campaign, in parts.
    int64_t campaign_id = 0;
    std::string sender;       // the campaign's sender, else the provider's own
    int segments = 1;
};

// How many messages one round may claim. Lanes are claimed in order, each from its own index:
// codes (kind otp) first, then transactional, then promo messages, which together take at most
// `others` of what the codes leave of `total`.
struct ClaimLimits {
    int total = 0;
    int others = 0;
    int codes = -1;  // at most this many codes; -1: as many as total allows
    int promo = -1;  // at most this many promo messages (of `others`); -1: as many as others allows
};

struct Batch {
    bool extension_present = false;
    bool legacy = false;  // the database is still at 1.0: one lane, no opt-outs nor receipts
    std::vector<providers::Provider> providers;  // enabled, by priority
    std::vector<Claimed> messages;
    // Rows taken per lane, counting those the claim ended itself (a transactional or promo
    // message claimed after it expired, or to a number that opted out: never sent).
    int codes_claimed = 0;
    int others_claimed = 0;
    // When running campaigns may have more to send (their next recipient is due, or their
    // throttle opens again): the worker looks then without waiting for the poll. 0: none.
    int64_t promo_wake_us = 0;
};

// One row of sms_messages_log.
struct Attempt {
    int64_t outbox_id = 0;
    std::string user_id, session_id, to, type, text, provider, outcome, error, provider_message_id;
    long status_code = 0;
    int response_ms = 0;
    int64_t campaign_id = 0;
    std::string sender;
    int segments = 0;
    int64_t requested_us = 0;  // when the request left: what throttles count
};

// What becomes of a claimed message: sent, failed, expired, or queued again after retry_ms.
struct Final {
    int64_t outbox_id = 0;
    int claim = 0;            // Claimed::attempts: a result lands only if no later claim took the row
    std::string status;
    std::string provider, provider_message_id, error;
    int retry_ms = 0;
    bool unclaim = false;     // held back by a throttle before any provider was asked: no attempt spent
};

// Results not yet written. They stay here across rounds until a commit takes them: a round
// that fails (deadlock, a bad value, a failed claim) loses none of them.
struct Results {
    std::vector<Final> finals;
    std::vector<Attempt> attempts;
    int failures = 0;  // rounds in a row that could not write them

    bool empty() const { return finals.empty() && attempts.empty(); }
    void clear() {
        finals.clear();
        attempts.clear();
        failures = 0;
    }
    // Moved out: the first n finals and the log rows of their messages, or everything left
    // when no more than n finals are (log rows of messages still in flight go last). A part
    // carries the failures count, so a part that keeps failing is written row by row.
    Results split(size_t n);
    // A part that could not be written goes back in front, with its failures count.
    void put_back(Results &&part);
};

// Microseconds since the Unix epoch: the clock of throttles, leases in memory and backoffs.
int64_t wall_clock_us();

// One round, in one transaction: write the pending results, then claim due messages within
// `limits` (none when limits.total is 0). A message already claimed max_claims times without a
// result (its send killed the worker each time) is failed instead of handed out again.
//
// The statements follow the installed version of the extension, read each round: a database
// still at 1.0 (before ALTER EXTENSION UPDATE) has none of the columns and tables of 1.1.
//
// Results written and committed leave `results`; on failure they stay for the next round.
// After two failed rounds they are written one by one, each in a subtransaction, and only one
// that fails alone is dropped (with a WARNING). When the claim fails, the results are written
// in a transaction of their own before the error is thrown.
//
// The statements' plans are kept for the worker's life; after an error they are made anew.
//
// With a throttle, running campaigns' due recipients are first moved into the outbox, as many
// as the throttle allows now, shared fairly among campaigns (sms_otp._campaign_feed).
Batch round(Results &results, ClaimLimits limits, int lease_s, int max_claims, Throttle *throttle = nullptr);

}  // namespace sms_otp::worker
