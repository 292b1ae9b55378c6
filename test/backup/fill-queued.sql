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
