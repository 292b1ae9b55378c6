-- The baseline of send_transactional.sql: the same transaction shape (settings, one statement,
-- commit) inserting, as the superuser, the outbox row the call would leave, with the template
-- already rendered; with -D key=1 also the idempotency key row it would keep. The same tables
-- and indexes, in a copy of the database the calls run in, and nothing else: no role switch,
-- no checks, no template lookup, no segment count, no opt-out probe, no advisory lock.
\set n random(1, 1000000)
BEGIN;
SELECT set_config('request.jwt.claims', '{"role":"service_role"}', true),
       set_config('request.headers', '{}', true);
\if :key
WITH o AS (
    INSERT INTO sms_otp.sms_outbox (kind, "to", body, next_attempt_at, expires_at, category, template, locale,
                                    segments, encoding)
    VALUES ('transactional', '+4474' || lpad(:n::text, 8, '0'),
            'Hi Ada, your table for booking BK-' || :n || ' is confirmed for 18:30. Reply STOP to opt out.',
            now(), now() + interval '1 day', 'transactional', 'booking_confirmed', 'en', 1, 'GSM-7')
    RETURNING id, status, segments, encoding, next_attempt_at, expires_at)
INSERT INTO sms_otp.sms_idempotency_keys (key, request_hash, response, message_id, expires_at)
SELECT :client_id || '-' || random(), sha256(convert_to(o.id::text, 'UTF8')),
       jsonb_build_object('message_id', o.id, 'status', o.status, 'segments', o.segments, 'encoding', o.encoding,
                          'send_at', o.next_attempt_at, 'expires_at', o.expires_at, 'duplicate', false),
       o.id, now() + interval '1 day'
FROM o;
\else
INSERT INTO sms_otp.sms_outbox (kind, "to", body, next_attempt_at, expires_at, category, template, locale,
                                segments, encoding)
VALUES ('transactional', '+4474' || lpad(:n::text, 8, '0'),
        'Hi Ada, your table for booking BK-' || :n || ' is confirmed for 18:30. Reply STOP to opt out.',
        now(), now() + interval '1 day', 'transactional', 'booking_confirmed', 'en', 1, 'GSM-7');
\endif
COMMIT;
