// Wrong codes counted outside the transaction: a table in shared memory, keyed by OTP session
// and by user, so that a guess made in a transaction that then rolls back still counts.
// The tables keep the same numbers durably; on first sight of a session or a user the entry
// starts from what the tables say, and from then on the larger count and the later lockout win.
// Beside them, in a table of their own with its own lock, CAPTCHA tokens that did not pass, by
// user and by client network (_captcha_take, _captcha_give_back): a refusal raises, so only
// shared memory keeps its count.
#pragma once

namespace sms_otp::otp {

// From _PG_init, when preloaded: reserve the memory and its lock.
void request_guess_memory();

}  // namespace sms_otp::otp
