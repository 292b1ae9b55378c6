-- Database shop before the dump, second part, once the worker has sent the first: user 1 enters
-- the code the phone got, user 4 enters wrong ones until locked out (sms_otp.lockout_threshold
-- is 3 in this database), the provider posts a delivery receipt and an inbound STOP (signed as
-- Standard Webhooks signs them, as they come through the callback proxy).
-- Variables: code1 (user 1's code, from the mock provider's inbox), wrong4 (a code user 4 did not
-- get), secret (the webhook secret).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
\ir ../pgtap/request.psql

CREATE FUNCTION pg_temp.user_call(n int, call text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.request('authenticated',
        jsonb_build_object('sub', 'b0000000-0000-4000-8000-00000000000' || n, 'role', 'authenticated',
                           'session_id', 'login-' || n), '{}', call)
$$;
CREATE FUNCTION pg_temp.session_of(n int) RETURNS uuid LANGUAGE sql AS $$
    SELECT s.id FROM sms_otp.sms_otp_sessions s
    WHERE s.user_id = ('b0000000-0000-4000-8000-00000000000' || n)::uuid ORDER BY s.created_at DESC LIMIT 1
$$;
-- A callback as the proxy hands it to PostgREST's anonymous role: the URI called, signed headers.
CREATE FUNCTION pg_temp.callback(fn text, uri text, body text, secret text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.request('anon', NULL,
        jsonb_build_object('x-original-uri', uri, 'x-original-method', 'POST',
                           'x-original-content-type', 'application/json',
                           'webhook-id', 'msg_' || md5(body), 'webhook-timestamp', ts::text,
                           'webhook-signature', 'v1,' || encode(sms_otp._hmac(decode(substr(secret, 7), 'base64'),
                                                            'msg_' || md5(body) || '.' || ts || '.' || body), 'base64')),
        format('%s(%L)', fn, body))
    FROM (SELECT extract(epoch FROM now())::bigint AS ts) t
$$;
CREATE FUNCTION pg_temp.must(r jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF r -> 'body' IS NULL OR coalesce((r ->> 'status')::int, 500) >= 300 THEN
        RAISE EXCEPTION 'call refused: %', r;
    END IF;
    RETURN r -> 'body';
END $$;

SELECT pg_temp.must(pg_temp.user_call(1, format('sms_otp.otp_verify(%L, %L)', pg_temp.session_of(1), :'code1')))
       ->> 'verified' AS verified_1 \gset
\if :verified_1
\else
    \echo user 1 could not verify the code the phone got
    SELECT 1/0;
\endif
-- Three wrong codes (wrong4: not the code user 4's phone got).
SELECT pg_temp.user_call(4, format('sms_otp.otp_verify(%L, %L)', pg_temp.session_of(4), :'wrong4')) ->> 'status' AS wrong_1 \gset
SELECT pg_temp.user_call(4, format('sms_otp.otp_verify(%L, %L)', pg_temp.session_of(4), :'wrong4')) ->> 'status' AS wrong_2 \gset
SELECT pg_temp.user_call(4, format('sms_otp.otp_verify(%L, %L)', pg_temp.session_of(4), :'wrong4')) ->> 'status' AS wrong_3 \gset

SELECT pg_temp.must(pg_temp.callback('sms_otp.receipt_webhook', '/callbacks/webhook/hook/status/' || o.id,
    jsonb_build_object('type', 'sms.status',
                       'data', jsonb_build_object('message_id', o.id::text, 'provider_message_id', o.provider_message_id,
                                                  'status', 'delivered', 'timestamp', extract(epoch FROM now())::bigint))::text,
    :'secret')) IS NOT NULL AS receipt
FROM sms_otp.sms_outbox o WHERE o.kind = 'transactional' \gset
SELECT pg_temp.must(pg_temp.callback('sms_otp.inbound_webhook', '/callbacks/webhook/hook/inbound',
    '{"type": "sms.inbound", "data": {"from": "+14155550130", "to": "+15005550006", "text": "stop", "id": "in-1"}}',
    :'secret')) IS NOT NULL AS inbound \gset
