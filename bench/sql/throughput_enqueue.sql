-- :n transactional messages queued at once, due now, each for one of the users :first ..
-- :first + :users - 1 (bench.user_id and bench.phone of bench/sql/users.sql), spread over them,
-- so that the worker's claim looks up each one's preferred provider in
-- sms_otp.user_contact_settings. Committed in one transaction that wakes the worker.
-- Prints "after_id <id>" (the new rows' ids are larger) and "commit_at <epoch seconds>" (taken right before COMMIT).
BEGIN;
SELECT 'after_id ' || coalesce(max(id), 0) FROM sms_otp.sms_outbox;
INSERT INTO sms_otp.sms_outbox (kind, user_id, "to", body, next_attempt_at, expires_at, category, template, locale,
                                segments, encoding)
SELECT 'transactional', bench.user_id(u), bench.phone(u),
       'Hi Ada, your table for booking BK-' || g || ' is confirmed for 18:30. Reply STOP to opt out.',
       now(), now() + interval '1 hour', 'transactional', 'booking_confirmed', 'en', 1, 'GSM-7'
FROM generate_series(1, :n) g
CROSS JOIN LATERAL (SELECT (:first + g::bigint * 7919 % :users)::int AS u) x;
SELECT sms_otp._wake_worker_on_commit() \g /dev/null
SELECT 'commit_at ' || extract(epoch FROM clock_timestamp());
COMMIT;
