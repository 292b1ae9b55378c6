// The worker's chores besides sending: expired idempotency keys of send_transactional go, a
// small batch at a time, each batch in a short transaction of its own (1.1 only).
#pragma once

namespace sms_otp::worker {

// Deletes at most `limit` idempotency keys past their expires_at; returns how many went. Keys
// locked by a caller (a send in flight with that key) are left for a later batch.
int delete_expired_idempotency_keys(int limit);

}  // namespace sms_otp::worker
