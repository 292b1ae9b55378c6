-- Database shop before the dump, last part, while no worker serves it: what is queued at dump
-- time stays queued. User 3 asks for a code (a queued OTP message), the backend sends a
-- transactional message (queued), and a second campaign is launched (its recipients wait for
-- the worker's feed).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
\ir ../pgtap/request.psql

CREATE FUNCTION pg_temp.backend(call text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.request('service_role', '{"role": "service_role"}', '{}', call)
$$;
CREATE FUNCTION pg_temp.must(r jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF r -> 'body' IS NULL OR coalesce((r ->> 'status')::int, 500) >= 300 THEN
        RAISE EXCEPTION 'call refused: %', r;
    END IF;
    RETURN r -> 'body';
END $$;

SELECT pg_temp.must(pg_temp.request('authenticated',
    '{"sub": "b0000000-0000-4000-8000-000000000003", "role": "authenticated", "session_id": "login-3"}', '{}',
    'sms_otp.otp_send()')) IS NOT NULL AS sent_3 \gset
SELECT pg_temp.must(pg_temp.backend($$sms_otp.send_transactional('+14155550111',
    text => 'Your table for 4 is booked for Friday 20:00.', business_ref => 'T-77',
    idempotency_key => 'book-T-77')$$)) IS NOT NULL AS booked \gset
SELECT (pg_temp.must(pg_temp.backend($$sms_otp.campaign_create(name => 'Autumn sale', text => 'Autumn sale: 30% off this weekend.',
    quiet_hours => false,
    audience => '[{"phone": "+14155550140"}, {"phone": "+14155550141"}]')$$)) ->> 'campaign_id')::bigint AS autumn \gset
SELECT pg_temp.must(pg_temp.backend(format('sms_otp.campaign_launch(%s)', :autumn))) IS NOT NULL AS launched \gset

-- History past sms_otp.log_retention (set for database shop below): raw rows the worker's
-- housekeeping has not deleted yet, and the rollups they made. A dump takes the rollups of
-- those days and leaves the raw rows out, so a restore neither loses the days' figures nor
-- counts them twice.
INSERT INTO sms_otp.sms_messages_log ("to", type, provider_name, outcome, response_time_ms, segments, requested_at,
                                      queued_at, created_at, delivery_status, delivery_at)
SELECT '+1415555' || lpad(i::text, 4, '0'), (ARRAY['otp', 'transactional', 'promo'])[1 + i % 3], 'twilio-main',
       (ARRAY['sent', 'sent', 'rejected'])[1 + i % 3], 150, 1, t, t - interval '1 s', t + interval '150 ms',
       CASE WHEN i % 3 < 2 THEN (ARRAY['delivered', 'undelivered'])[1 + i % 2] END, t + interval '4 s'
FROM generate_series(1, 30) i, LATERAL (SELECT now() - interval '12 days' + i * interval '7 minutes' AS t) x;
INSERT INTO sms_otp.sms_otp_sessions (user_id, phone, status, attempts, max_attempts, created_at, sent_at, verified_at,
                                      expires_at, resend_available_at)
SELECT 'b0000000-0000-4000-8000-000000000001', '+14155550101', 'verified', 0, 5, t, t, t + interval '20 s',
       t + interval '5 minutes', t + interval '30 s'
FROM (SELECT now() - interval '12 days' AS t) x;
ALTER DATABASE shop SET sms_otp.log_retention = '5d';
