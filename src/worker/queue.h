// The worker's side of the tables: claim due messages with a lease, write results back.
// Each call is one short transaction; none is open while requests are in flight.
#pragma once

#include "providers/provider.h"

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
};

struct Batch {
    bool extension_present = false;
    std::vector<providers::Provider> providers;  // enabled, by priority
    std::vector<Claimed> messages;
};

// One row of sms_messages_log.
struct Attempt {
    int64_t outbox_id = 0;
    std::string user_id, session_id, to, type, text, provider, outcome, error, provider_message_id;
    long status_code = 0;
    int response_ms = 0;
};

// What becomes of a claimed message: sent, failed, expired, or queued again after retry_ms.
struct Final {
    int64_t outbox_id = 0;
    int claim = 0;            // Claimed::attempts: a result lands only if no later claim took the row
    std::string status;
    std::string provider, provider_message_id, error;
    int retry_ms = 0;
};

// One round, in one transaction: write the results gathered since the last round, then claim
// up to `limit` due messages (none when limit is 0). The statements' plans are kept for the
// worker's life; after an error they are made anew.
Batch round(const std::vector<Final> &finals, const std::vector<Attempt> &attempts, int limit, int lease_s);

}  // namespace sms_otp::worker
