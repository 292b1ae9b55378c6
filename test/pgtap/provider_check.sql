-- Codes that a provider keeps (Twilio Verify, Vonage Verify), checked by otp_verify: what can be
-- seen without a provider that answers. The providers' base_url is a closed local port, so
-- every check that is made fails at once as "unavailable"; approvals and wrong codes through a
-- real provider are in test/integration/provider_check.test.mjs. The file runs as the
-- superuser; API calls run as PostgREST would run them (pg_temp.request).
-- User n is 00000000-0000-4000-8000-0000000001nn with phone +1 415 555 02nn, login "login-n".
BEGIN;
SELECT plan(52);

\ir request.psql

CREATE FUNCTION pg_temp.uid(n int) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
    SELECT ('00000000-0000-4000-8000-' || lpad((100 + n)::text, 12, '0'))::uuid
$$;
CREATE FUNCTION pg_temp.rpc(n int, call text, login text DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.request('authenticated',
                           jsonb_build_object('sub', pg_temp.uid(n), 'role', 'authenticated',
                                              'session_id', coalesce(login, 'login-' || n)),
                           jsonb_build_object('x-forwarded-for', '198.19.1.' || n), call)
$$;
CREATE FUNCTION pg_temp.send(n int) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.rpc(n, 'sms_otp.otp_send()') #>> '{body,session_id}'
$$;
CREATE FUNCTION pg_temp.verify(n int, session text, otp text, login text DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.rpc(n, format('sms_otp.otp_verify(%L::uuid, %L)', session, otp), login)
$$;
-- What the client sees, without the human message.
CREATE FUNCTION pg_temp.seen(r jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT CASE
        WHEN r ? 'sqlstate' THEN r
        WHEN r ? 'error' THEN jsonb_build_object('status', r -> 'status', 'code', r #> '{error,code}')
        ELSE jsonb_build_object('status', r -> 'status') || ((r -> 'body') - 'message') END
$$;
CREATE FUNCTION pg_temp.code_of(session text) RETURNS text LANGUAGE sql AS $$
    SELECT substring(o.body FROM '[0-9]{6}') FROM sms_otp.sms_outbox o WHERE o.session_id = session::uuid
$$;
CREATE FUNCTION pg_temp.attempts(session text) RETURNS int LANGUAGE sql AS $$
    SELECT s.attempts FROM sms_otp.sms_otp_sessions s WHERE s.id = session::uuid
$$;
CREATE FUNCTION pg_temp.checks(session text) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM sms_otp.sms_messages_log l WHERE l.session_id = session::uuid AND l.operation = 'check'
$$;
-- A session as the worker leaves it after a provider took it.
CREATE FUNCTION pg_temp.sent_by(session text, provider text, verification text) RETURNS void LANGUAGE sql AS $$
    UPDATE sms_otp.sms_otp_sessions s
    SET status = 'sent', provider_name = provider, provider_session_id = verification, sent_at = now()
    WHERE s.id = session::uuid
$$;

SELECT sms_otp._guess_forget(NULL, pg_temp.uid(n), true) FROM generate_series(1, 9) AS n;
DELETE FROM sms_otp.api_integrations;
INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled)
SELECT pg_temp.uid(n), '+1415555' || lpad((200 + n)::text, 4, '0'), true FROM generate_series(1, 9) AS n;

--------------------------------------------------------------------------------------------
-- The vonage_verify kind
--------------------------------------------------------------------------------------------
SELECT lives_ok($$INSERT INTO sms_otp.api_integrations (name, kind, priority, base_url, sender, credentials)
                  VALUES ('vv', 'vonage_verify', 10, 'http://127.0.0.1:9', 'Acme',
                          '{"api_key": "abcd1234", "api_secret": "vonage-secret"}')$$,
                'a vonage_verify provider: api key and secret, and a brand as its sender');
SELECT throws_ok($$INSERT INTO sms_otp.api_integrations (name, kind, sender, credentials)
                   VALUES ('vv2', 'vonage_verify', 'Acme', '{"api_key": "abcd1234"}')$$,
                 '22023', 'provider "vv2" of kind vonage_verify needs credentials.api_secret',
                 'vonage_verify needs the api secret');
SELECT throws_ok($$INSERT INTO sms_otp.api_integrations (name, kind, credentials)
                   VALUES ('vv3', 'vonage_verify', '{"api_key": "k", "api_secret": "s"}')$$,
                 '22023', NULL, 'vonage_verify needs a brand (sender)');
SELECT throws_ok($$INSERT INTO sms_otp.api_integrations (name, kind, sender, credentials)
                   VALUES ('vv4', 'vonage_verify', 'A brand of seventeen', '{"api_key": "k", "api_secret": "s"}')$$,
                 '22023', NULL, 'a brand longer than 16 characters is refused on write');
SELECT throws_ok($$INSERT INTO sms_otp.api_integrations (name, kind) VALUES ('x', 'vonage_verify2')$$,
                 '23514', NULL, 'the kinds are still a closed list');
INSERT INTO sms_otp.api_integrations (name, kind, priority, base_url, credentials) VALUES
    ('tv', 'twilio_verify', 20, 'http://127.0.0.1:9',
     '{"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "tok", "service_sid": "VA01"}'),
    ('console', 'console', 30, NULL, '{}');

--------------------------------------------------------------------------------------------
-- While a provider that keeps codes is enabled, a pending session checks nothing (user 1)
--------------------------------------------------------------------------------------------
SELECT pg_temp.send(1) AS s1 \gset
SELECT pg_temp.verify(1, :'s1', '4821') AS pending \gset
SELECT is(pg_temp.seen(:'pending'),
          '{"status": 409, "verified": false, "reason": "code_pending", "attempts_remaining": 5, "retry_after_seconds": 1}',
          'pending: 409 code_pending, try again in a second');
SELECT is(:'pending'::jsonb -> 'headers', '[{"Retry-After": "1"}]', 'pending: with Retry-After: 1');
SELECT is(pg_temp.seen(pg_temp.verify(1, :'s1', pg_temp.code_of(:'s1'))),
          '{"status": 409, "verified": false, "reason": "code_pending", "attempts_remaining": 5, "retry_after_seconds": 1}',
          'pending: even our own code is not compared (no free guesses while it waits)');
SELECT is(pg_temp.seen(pg_temp.verify(1, :'s1', '1234567890')),
          '{"status": 409, "verified": false, "reason": "code_pending", "attempts_remaining": 5, "retry_after_seconds": 1}',
          'pending: 10 digits may be a provider''s code');
SELECT is(pg_temp.attempts(:'s1'), 0, 'pending: nothing counted');
SELECT is((sms_otp._guess_check(NULL, NULL, pg_temp.uid(1), 0, NULL)).failures, 0,
          'pending: nothing counted in shared memory either');
SELECT is(pg_temp.checks(:'s1'), 0::bigint, 'pending: no provider asked, nothing logged');

--------------------------------------------------------------------------------------------
-- The format: 4 to 10 digits before any lookup, the same for every session
--------------------------------------------------------------------------------------------
SELECT is(pg_temp.seen(pg_temp.verify(1, :'s1', otp)), '{"status": 400, "code": "invalid_code_format"}',
          'refused before the lookup: ' || label)
FROM (VALUES ('3 digits', '482'), ('11 digits', '48213957201'), ('100,000 digits', repeat('7', 100000)),
             ('letters', '48a1'), ('a trailing newline', E'4821\n'), ('fullwidth digits', '４８２１'),
             ('empty', '')) AS t(label, otp);

--------------------------------------------------------------------------------------------
-- A session sent through Twilio Verify whose provider cannot be reached (user 1)
--------------------------------------------------------------------------------------------
SELECT pg_temp.sent_by(:'s1', 'tv', 'VE0123456789abcdef0123456789abcdef');
SELECT count(*) AS rollups_before, coalesce(sum(attempted), 0) AS attempted_before FROM sms_otp.stats_messages \gset
SELECT pg_temp.verify(1, :'s1', '4821') AS r \gset
SELECT is(pg_temp.seen(:'r'),
          '{"status": 503, "verified": false, "reason": "provider_unavailable", "attempts_remaining": 5}',
          'a 4-digit code goes to the provider (not sms_otp.code_length); no answer: 503, returned');
SELECT is(:'r'::jsonb #>> '{body,message}', 'The code cannot be checked right now. Try again in a moment.',
          'the message says to try again');
SELECT is(pg_temp.attempts(:'s1'), 0, 'an unanswered check is not counted');
SELECT is((SELECT status FROM sms_otp.sms_otp_sessions WHERE id = :'s1'), 'sent', 'the session stays sent');
SELECT is((l.operation, l.type, l."to", l.provider_name, l.outcome, l.status_code, l.provider_message_id,
           l.outbox_id, l.text, l.user_id)::text,
          ('check', 'otp', '+14155550201', 'tv', 'unavailable', 0, 'VE0123456789abcdef0123456789abcdef',
           NULL::bigint, NULL::text, pg_temp.uid(1))::text,
          'the check is logged: operation check, outcome unavailable, status 0 (no answer), the verification id')
FROM sms_otp.sms_messages_log l WHERE l.session_id = :'s1' AND l.operation = 'check';
SELECT ok(l.response_time_ms >= 0 AND l.requested_at IS NOT NULL AND l.error ~ '^no answer', 'with its time and why')
FROM sms_otp.sms_messages_log l WHERE l.session_id = :'s1' AND l.operation = 'check';
SELECT is((SELECT count(*) FROM sms_otp.stats_messages), :'rollups_before'::bigint,
          'the dashboards'' rollups do not count a check as a message');
SELECT pg_temp.verify(1, :'s1', '12345678') AS r8 \gset
SELECT is(pg_temp.seen(:'r8') ->> 'reason', 'provider_unavailable', '8 digits go to the provider too');
SELECT is(pg_temp.checks(:'s1'), 2::bigint, 'each check is one log row');

-- No verification id to name (a provider that answered without one): nothing to ask.
SELECT pg_temp.send(2) AS s2 \gset
SELECT pg_temp.sent_by(:'s2', 'tv', NULL);
SELECT is(pg_temp.seen(pg_temp.verify(2, :'s2', '4821')) ->> 'reason', 'provider_unavailable',
          'no provider_session_id: unavailable, never a check by phone');
SELECT is((l.outcome, l.status_code, l.error)::text, ('unavailable', NULL::int, 'no verification id to check')::text,
          'logged without a status: no request was made')
FROM sms_otp.sms_messages_log l WHERE l.session_id = :'s2' AND l.operation = 'check';

-- Vonage Verify the same way.
SELECT pg_temp.send(3) AS s3 \gset
SELECT pg_temp.sent_by(:'s3', 'vv', 'c11236f4-00bf-4b89-84ba-88b25df97315');
SELECT is(pg_temp.seen(pg_temp.verify(3, :'s3', '4821')) ->> 'reason', 'provider_unavailable', 'vonage_verify: asked, no answer');
SELECT is((l.provider_name, l.provider_message_id)::text, ('vv', 'c11236f4-00bf-4b89-84ba-88b25df97315')::text,
          'vonage_verify: logged with the request_id')
FROM sms_otp.sms_messages_log l WHERE l.session_id = :'s3' AND l.operation = 'check';

-- Expired before the check: nothing is asked.
UPDATE sms_otp.sms_otp_sessions SET expires_at = now() - interval '1 s' WHERE id = :'s3';
SELECT is(pg_temp.seen(pg_temp.verify(3, :'s3', '4821')),
          '{"status": 400, "verified": false, "reason": "expired", "attempts_remaining": 5}', 'expired: 400, as ever');
SELECT is(pg_temp.checks(:'s3'), 1::bigint, 'expired: the provider was not asked');

--------------------------------------------------------------------------------------------
-- Someone else's session: the same 404 whatever kind of code it holds (user 4)
--------------------------------------------------------------------------------------------
SELECT is(pg_temp.seen(pg_temp.verify(4, :'s1', '4821')), '{"status": 404, "code": "session_not_found"}',
          'another user''s provider session: 404');
SELECT is(pg_temp.seen(pg_temp.verify(1, :'s1', '4821', 'another-login')), '{"status": 404, "code": "session_not_found"}',
          'another login''s provider session: 404');
SELECT is(pg_temp.checks(:'s1'), 2::bigint, 'neither asked the provider');

--------------------------------------------------------------------------------------------
-- Our own codes keep the exact length (user 5)
--------------------------------------------------------------------------------------------
UPDATE sms_otp.api_integrations SET enabled = false WHERE kind IN ('twilio_verify', 'vonage_verify');
SELECT pg_temp.send(5) AS s5 \gset
SELECT is(pg_temp.seen(pg_temp.verify(5, :'s5', '48213')), '{"status": 400, "code": "invalid_code_format"}',
          'our own code: 5 digits refused (code_length 6)');
SELECT is(pg_temp.seen(pg_temp.verify(5, :'s5', '4821')), '{"status": 400, "code": "invalid_code_format"}',
          'our own code: 4 digits refused too');
SELECT is(pg_temp.seen(pg_temp.verify(4, :'s5', '48213')), '{"status": 404, "code": "session_not_found"}',
          'another user with a wrong-length code: 404, so the answer tells nothing of the session''s kind');
SELECT is(pg_temp.seen(pg_temp.verify(4, :'s1', '48213')), '{"status": 404, "code": "session_not_found"}',
          '... the same 404 for a session whose provider keeps the code');
SELECT is(pg_temp.attempts(:'s5'), 0, 'format errors are not counted');
SELECT is(pg_temp.seen(pg_temp.verify(5, :'s5', pg_temp.code_of(:'s5'))) - 'session_id', '{"status": 200, "verified": true}',
          'pending, with no provider that keeps codes enabled: our own code is checked as before');
SELECT is(pg_temp.checks(:'s5'), 0::bigint, 'our own codes are never a provider check');

-- A session sent by a provider that keeps codes stays that provider's, enabled or not.
SELECT is(pg_temp.seen(pg_temp.verify(1, :'s1', '4821')) ->> 'reason', 'provider_unavailable',
          'a session Twilio Verify sent is still checked with it');

--------------------------------------------------------------------------------------------
-- The dashboards count sends only
--------------------------------------------------------------------------------------------
SELECT coalesce(sum(attempted), 0) AS attempted0 FROM sms_otp.stats_messages \gset
INSERT INTO sms_otp.sms_messages_log ("to", type, provider_name, status_code, outcome, operation)
VALUES ('+14155550299', 'otp', 'tv', 200, 'approved', 'check');
SELECT is((SELECT coalesce(sum(attempted), 0) FROM sms_otp.stats_messages), :'attempted0'::numeric,
          'a check row adds no attempt');
INSERT INTO sms_otp.sms_messages_log ("to", type, provider_name, status_code, outcome)
VALUES ('+14155550299', 'otp', 'tv', 201, 'sent');
SELECT is((SELECT coalesce(sum(attempted), 0) FROM sms_otp.stats_messages), :'attempted0'::numeric + 1,
          'a send row (operation send by default) adds one');
SELECT is((sms_otp.stats_rebuild(now() - interval '1 day', now() + interval '1 day')) ->> 'log',
          (SELECT count(*)::text FROM sms_otp.sms_messages_log
           WHERE operation = 'send' AND created_at >= date_trunc('day', now() - interval '1 day', 'UTC')
             AND created_at < date_trunc('day', now() + interval '1 day', 'UTC') + interval '1 day'),
          'stats_rebuild reads the sends and skips the checks');
SELECT throws_ok($$INSERT INTO sms_otp.sms_messages_log ("to", type, operation) VALUES ('+1', 'otp', 'peek')$$,
                 '23514', NULL, 'operation is send or check');

--------------------------------------------------------------------------------------------
-- Privileges
--------------------------------------------------------------------------------------------
SELECT ok(NOT has_function_privilege('authenticated', p.oid, 'EXECUTE'), 'no client may call ' || p.oid::regprocedure)
FROM pg_proc p
WHERE p.pronamespace = 'sms_otp'::regnamespace AND p.proname IN ('_provider_check', '_verify_provider_first', '_code_kept');

SELECT * FROM finish();
ROLLBACK;
