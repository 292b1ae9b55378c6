// The worker's chores besides sending, each a small batch in a short transaction of its own
// (1.1 only): expired idempotency keys of send_transactional go; the dashboards' rollups are
// folded and old rows deleted past their retention.
#pragma once

namespace sms_otp::worker {

// Deletes at most `limit` idempotency keys past their expires_at; returns how many went. Keys
// locked by a caller (a send in flight with that key) are left for a later batch.
int delete_expired_idempotency_keys(int limit);

// Folds at most `hours` closed hours of the dashboards' rollups (sms_otp.stats_compact);
// returns how many it folded.
int compact_stats_hours(int hours);

// Deletes at most `limit` rows of each raw table past sms_otp.log_retention and the rollups past
// sms_otp.stats_retention (sms_otp.stats_prune); returns the most rows that went from one table.
int prune_old_rows(int limit);

}  // namespace sms_otp::worker
