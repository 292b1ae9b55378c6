-- :n transactional messages queued at once, due now, as send_transactional leaves them (the
-- template rendered, its segments counted), each to a number of its own in the +4477 range,
-- apart from the users' +4474 numbers, so the mock tells them from the codes. Committed in one
-- transaction that wakes the worker; prints "commit_at <epoch seconds>" (taken right before COMMIT).
BEGIN;
INSERT INTO sms_otp.sms_outbox (kind, "to", body, next_attempt_at, expires_at, category, template, locale,
                                segments, encoding)
SELECT 'transactional', '+4477' || lpad(g::text, 8, '0'),
       'Hi Ada, your table for booking BK-' || g || ' is confirmed for 18:30. Reply STOP to opt out.',
       now(), now() + interval '1 day', 'transactional', 'booking_confirmed', 'en', 1, 'GSM-7'
FROM generate_series(1, :n) g;
SELECT sms_otp._wake_worker_on_commit() \g /dev/null
SELECT 'commit_at ' || extract(epoch FROM clock_timestamp());
COMMIT;
