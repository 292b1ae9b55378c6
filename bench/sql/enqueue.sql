-- :n OTP messages queued at once, as :n calls of otp_send would leave them (an outbox row and
-- a pending session each), committed in one transaction that wakes the code worker as otp_send's
-- commit does (the delivery worker while no code worker runs).
-- Prints "after_id <id>" (the new rows' ids are larger) and "commit_at <epoch seconds>" (taken right before COMMIT).
BEGIN;
SELECT 'after_id ' || coalesce(max(id), 0) FROM sms_otp.sms_outbox;
WITH o AS (
    INSERT INTO sms_otp.sms_outbox (kind, user_id, session_id, "to", body, expires_at)
    SELECT 'otp', u.id, gen_random_uuid(), u.phone,
           'Your verification code is ' || lpad((g * 7919 % 1000000)::text, 6, '0') || '. It expires in 5 min.',
           now() + interval '1 hour'  -- the longest run must not expire its tail
    FROM generate_series(1, :n) g
    JOIN bench.users u ON u.n = 1 + g % (SELECT count(*) FROM bench.users)
    RETURNING id, user_id, session_id, "to", expires_at)
INSERT INTO sms_otp.sms_otp_sessions (id, user_id, phone, status, max_attempts, code_hash, outbox_id,
                                      expires_at, resend_available_at)
SELECT session_id, user_id, "to", 'pending', 5, sha256(session_id::text::bytea), id, expires_at, now()
FROM o;
SELECT sms_otp._wake_code_worker_on_commit() \g /dev/null
SELECT 'commit_at ' || extract(epoch FROM clock_timestamp());
COMMIT;
