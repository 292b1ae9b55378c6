-- The baseline: the same transaction shape as otp_send.sql, inserting the same two rows (an
-- outbox row and a pending session) into the same tables, with their indexes, in a copy of
-- the database otp_send runs in, and nothing else: no limits, no row lock, no code, no hash key.
\set n random(1, :users)
BEGIN;
SELECT set_config('request.jwt.claims', '{"role":"authenticated","sub":"' || bench.user_id(:n::int) || '","session_id":"bench-' || :n || '"}', true),
       set_config('request.headers', '{"x-forwarded-for":"' || host(bench.ip(:n::int)) || '"}', true);
WITH o AS (
    INSERT INTO sms_otp.sms_outbox (kind, user_id, session_id, "to", body, expires_at)
    VALUES ('otp', bench.user_id(:n::int), gen_random_uuid(), bench.phone(:n::int),
            'Your verification code is 123456. It expires in 5 min.', now() + interval '5 minutes')
    RETURNING id, user_id, session_id, "to", expires_at)
INSERT INTO sms_otp.sms_otp_sessions (id, user_id, phone, client_ip, status, attempts, max_attempts, code_hash,
                                      outbox_id, expires_at, resend_available_at)
SELECT o.session_id, o.user_id, o."to", bench.ip(:n::int), 'pending', 0, 5, sha256(o.session_id::text::bytea),
       o.id, o.expires_at, now()
FROM o;
COMMIT;
