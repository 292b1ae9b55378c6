-- Who may do what: every client role (anon without claims, user A, user B, the service role)
-- against every table and every operation, the columns no client may read, the function grants,
-- SECURITY DEFINER hygiene, the contract indexes and RLS on every table.
-- Users: A = a0000000-0000-4000-8000-00000000000a, B = b0000000-0000-4000-8000-00000000000b,
-- C = c0000000-0000-4000-8000-00000000000c (rows nobody but the service role may see).
BEGIN;
SELECT plan(145);

--------------------------------------------------------------------------------------------
-- Fixtures, written by the superuser (the extension's owner, as the worker is)
--------------------------------------------------------------------------------------------
INSERT INTO sms_otp.api_integrations (name, kind, priority, sender, credentials) VALUES
    ('primary', 'twilio', 10, '+15005550006', '{"account_sid": "AC0", "auth_token": "tok"}'),
    ('fallback', 'console', 20, NULL, '{}');
INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled, preferred_provider) VALUES
    ('a0000000-0000-4000-8000-00000000000a', '+14155550101', true, 'primary'),
    ('b0000000-0000-4000-8000-00000000000b', '+14155550102', true, NULL),
    ('c0000000-0000-4000-8000-00000000000c', '+14155550103', false, NULL);
-- Sessions: A 2, B 1, C 1.
INSERT INTO sms_otp.sms_otp_sessions (user_id, phone, max_attempts, code_hash, expires_at, resend_available_at)
SELECT v.u::uuid, v.p, 5, sha256(convert_to(v.u || v.n, 'UTF8')), now() + interval '5 min', now() + interval '30 s'
FROM (VALUES ('a0000000-0000-4000-8000-00000000000a', '+14155550101', 1),
             ('a0000000-0000-4000-8000-00000000000a', '+14155550101', 2),
             ('b0000000-0000-4000-8000-00000000000b', '+14155550102', 1),
             ('c0000000-0000-4000-8000-00000000000c', '+14155550103', 1)) AS v(u, p, n);
-- Log: A 1, B 2, C 1, and one message to nobody's account.
INSERT INTO sms_otp.sms_messages_log (user_id, "to", type, text, provider_name, status_code) VALUES
    ('a0000000-0000-4000-8000-00000000000a', '+14155550101', 'otp', 'Your code is ######', 'primary', 201),
    ('b0000000-0000-4000-8000-00000000000b', '+14155550102', 'otp', 'Your code is ######', 'primary', 201),
    ('b0000000-0000-4000-8000-00000000000b', '+14155550102', 'transactional', 'Your order shipped', 'primary', 201),
    ('c0000000-0000-4000-8000-00000000000c', '+14155550103', 'promo', 'Sale!', 'fallback', 200),
    (NULL, '+14155550104', 'transactional', 'Welcome', 'fallback', 200);
INSERT INTO sms_otp.sms_outbox (kind, user_id, session_id, "to", body)
SELECT 'otp', s.user_id, s.id, s.phone, 'Your verification code is 123456.'
FROM sms_otp.sms_otp_sessions s WHERE s.user_id = 'a0000000-0000-4000-8000-00000000000a' ORDER BY s.id LIMIT 1;
INSERT INTO sms_otp.sms_outbox (kind, user_id, "to", body) VALUES
    ('transactional', 'b0000000-0000-4000-8000-00000000000b', '+14155550102', 'Your order shipped');
INSERT INTO sms_otp.user_lockouts (user_id, failures) VALUES ('a0000000-0000-4000-8000-00000000000a', 2);

-- What the tables hold before any client role touches them; compared once anon and the users
-- are done, so a write that slipped through (whatever it reported) fails the suite.
CREATE FUNCTION pg_temp.fingerprint(tbl regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    EXECUTE format('SELECT md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) FROM %s t', tbl)
        INTO result;
    RETURN result;
END $$;
CREATE TEMP TABLE before_clients AS
SELECT tbl, pg_temp.fingerprint(tbl) AS fp
FROM unnest(ARRAY['sms_otp.sms_otp_sessions', 'sms_otp.sms_messages_log', 'sms_otp.user_contact_settings',
                  'sms_otp.api_integrations', 'sms_otp.sms_outbox', 'sms_otp.user_lockouts',
                  'sms_otp._secret']::regclass[]) AS tbl;

--------------------------------------------------------------------------------------------
-- anon: no claims. Sees nothing, writes nothing.
--------------------------------------------------------------------------------------------
SET ROLE anon;
SET request.jwt.claims = '';

SELECT is(count(*)::int, 0, 'anon: SELECT sms_otp_sessions returns no rows') FROM sms_otp.sms_otp_sessions;
SELECT is(count(*)::int, 0, 'anon: SELECT sms_messages_log returns no rows') FROM sms_otp.sms_messages_log;
SELECT is(count(*)::int, 0, 'anon: SELECT user_contact_settings returns no rows') FROM sms_otp.user_contact_settings;
SELECT is(count(*)::int, 0, 'anon: SELECT api_integrations (public columns) returns no rows')
FROM (SELECT id, name, kind, priority, enabled FROM sms_otp.api_integrations) AS t;
SELECT is(count(*)::int, 0, 'anon: SELECT sms_outbox (public columns) returns no rows')
FROM (SELECT id, kind, user_id, "to", status FROM sms_otp.sms_outbox) AS t;
SELECT throws_ok('SELECT user_id, failures FROM sms_otp.user_lockouts', '42501', NULL, 'anon: SELECT user_lockouts is denied');
SELECT throws_ok('SELECT id FROM sms_otp._secret', '42501', NULL, 'anon: SELECT _secret is denied');

SELECT throws_ok('SELECT code_hash FROM sms_otp.sms_otp_sessions', '42501', NULL, 'anon: sms_otp_sessions.code_hash is not readable');
SELECT throws_ok('SELECT credentials FROM sms_otp.api_integrations', '42501', NULL, 'anon: api_integrations.credentials is not readable');
SELECT throws_ok('SELECT body FROM sms_otp.sms_outbox', '42501', NULL, 'anon: sms_outbox.body is not readable');

SELECT throws_ok($$INSERT INTO sms_otp.sms_otp_sessions (user_id, phone, max_attempts, status, expires_at, resend_available_at)
                   VALUES ('a0000000-0000-4000-8000-00000000000a', '+14155550101', 5, 'verified', now() + interval '5 min', now())$$,
                 '42501', NULL, 'anon: INSERT sms_otp_sessions violates RLS');
SELECT throws_ok($$INSERT INTO sms_otp.sms_messages_log ("to", type, text) VALUES ('+14155550101', 'otp', 'x')$$,
                 '42501', NULL, 'anon: INSERT sms_messages_log violates RLS');
SELECT throws_ok($$INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled)
                   VALUES ('d0000000-0000-4000-8000-00000000000d', '+14155550105', false)$$,
                 '42501', NULL, 'anon: INSERT user_contact_settings violates RLS');
SELECT throws_ok($$INSERT INTO sms_otp.api_integrations (name, kind) VALUES ('evil', 'console')$$,
                 '42501', NULL, 'anon: INSERT api_integrations violates RLS');
SELECT throws_ok($$INSERT INTO sms_otp.sms_outbox (kind, "to", body) VALUES ('promo', '+14155550101', 'x')$$,
                 '42501', NULL, 'anon: INSERT sms_outbox is denied');
SELECT throws_ok($$INSERT INTO sms_otp.user_lockouts (user_id) VALUES ('d0000000-0000-4000-8000-00000000000d')$$,
                 '42501', NULL, 'anon: INSERT user_lockouts is denied');
SELECT throws_ok($$INSERT INTO sms_otp._secret (id, key) VALUES (true, '\x00')$$,
                 '42501', NULL, 'anon: INSERT _secret is denied');

WITH changed AS (UPDATE sms_otp.sms_otp_sessions SET status = 'verified', verified_at = now() RETURNING 1)
SELECT is(count(*)::int, 0, 'anon: UPDATE sms_otp_sessions changes no row') FROM changed;
WITH changed AS (UPDATE sms_otp.sms_messages_log SET text = 'x' RETURNING 1)
SELECT is(count(*)::int, 0, 'anon: UPDATE sms_messages_log changes no row') FROM changed;
WITH changed AS (UPDATE sms_otp.user_contact_settings SET otp_enabled = false RETURNING 1)
SELECT is(count(*)::int, 0, 'anon: UPDATE user_contact_settings changes no row') FROM changed;
WITH changed AS (UPDATE sms_otp.api_integrations SET enabled = false RETURNING 1)
SELECT is(count(*)::int, 0, 'anon: UPDATE api_integrations changes no row') FROM changed;
SELECT throws_ok($$UPDATE sms_otp.sms_outbox SET status = 'cancelled'$$, '42501', NULL, 'anon: UPDATE sms_outbox is denied');
SELECT throws_ok($$UPDATE sms_otp.user_lockouts SET failures = 0$$, '42501', NULL, 'anon: UPDATE user_lockouts is denied');
SELECT throws_ok($$UPDATE sms_otp._secret SET key = '\x00'$$, '42501', NULL, 'anon: UPDATE _secret is denied');

SELECT throws_ok('DELETE FROM sms_otp.sms_otp_sessions', '42501', NULL, 'anon: DELETE sms_otp_sessions is denied');
SELECT throws_ok('DELETE FROM sms_otp.sms_messages_log', '42501', NULL, 'anon: DELETE sms_messages_log is denied');
WITH gone AS (DELETE FROM sms_otp.user_contact_settings RETURNING 1)
SELECT is(count(*)::int, 0, 'anon: DELETE user_contact_settings removes no row') FROM gone;
WITH gone AS (DELETE FROM sms_otp.api_integrations RETURNING 1)
SELECT is(count(*)::int, 0, 'anon: DELETE api_integrations removes no row') FROM gone;
SELECT throws_ok('DELETE FROM sms_otp.sms_outbox', '42501', NULL, 'anon: DELETE sms_outbox is denied');
SELECT throws_ok('DELETE FROM sms_otp.user_lockouts', '42501', NULL, 'anon: DELETE user_lockouts is denied');
SELECT throws_ok('DELETE FROM sms_otp._secret', '42501', NULL, 'anon: DELETE _secret is denied');

--------------------------------------------------------------------------------------------
-- authenticated as A: reads A's rows of the three user tables, nothing else, writes nothing
--------------------------------------------------------------------------------------------
RESET ROLE;
SET ROLE authenticated;
SET request.jwt.claims = '{"sub": "a0000000-0000-4000-8000-00000000000a", "role": "authenticated"}';

SELECT is(array_agg(user_id::text ORDER BY id), ARRAY['a0000000-0000-4000-8000-00000000000a',
                                                      'a0000000-0000-4000-8000-00000000000a'],
          'user A: SELECT sms_otp_sessions returns exactly A''s 2 rows') FROM sms_otp.sms_otp_sessions;
SELECT is(array_agg(user_id::text ORDER BY id), ARRAY['a0000000-0000-4000-8000-00000000000a'],
          'user A: SELECT sms_messages_log returns exactly A''s row') FROM sms_otp.sms_messages_log;
SELECT is(array_agg(user_id::text), ARRAY['a0000000-0000-4000-8000-00000000000a'],
          'user A: SELECT user_contact_settings returns exactly A''s row') FROM sms_otp.user_contact_settings;
SELECT is(count(*)::int, 0, 'user A: SELECT api_integrations (public columns) returns no rows')
FROM (SELECT id, name, kind, priority, enabled FROM sms_otp.api_integrations) AS t;
SELECT is(count(*)::int, 0, 'user A: SELECT sms_outbox (public columns) returns no rows, not even A''s')
FROM (SELECT id, kind, user_id, "to", status FROM sms_otp.sms_outbox) AS t;
SELECT throws_ok('SELECT user_id, failures FROM sms_otp.user_lockouts', '42501', NULL, 'user A: SELECT user_lockouts is denied');
SELECT throws_ok('SELECT id FROM sms_otp._secret', '42501', NULL, 'user A: SELECT _secret is denied');

SELECT throws_ok('SELECT code_hash FROM sms_otp.sms_otp_sessions', '42501', NULL, 'user A: sms_otp_sessions.code_hash is not readable');
SELECT throws_ok('SELECT credentials FROM sms_otp.api_integrations', '42501', NULL, 'user A: api_integrations.credentials is not readable');
SELECT throws_ok('SELECT body FROM sms_otp.sms_outbox', '42501', NULL, 'user A: sms_outbox.body is not readable');

SELECT throws_ok($$INSERT INTO sms_otp.sms_otp_sessions (user_id, phone, max_attempts, status, expires_at, resend_available_at, verified_at)
                   VALUES ('a0000000-0000-4000-8000-00000000000a', '+14155550101', 5, 'verified', now() + interval '5 min', now(), now())$$,
                 '42501', NULL, 'user A: INSERT of an own verified session violates RLS');
SELECT throws_ok($$INSERT INTO sms_otp.sms_messages_log (user_id, "to", type, text)
                   VALUES ('a0000000-0000-4000-8000-00000000000a', '+14155550101', 'otp', 'x')$$,
                 '42501', NULL, 'user A: INSERT sms_messages_log violates RLS');
SELECT throws_ok($$INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled)
                   VALUES ('d0000000-0000-4000-8000-00000000000d', '+14155550105', false)$$,
                 '42501', NULL, 'user A: INSERT user_contact_settings violates RLS');
SELECT throws_ok($$INSERT INTO sms_otp.api_integrations (name, kind) VALUES ('evil', 'console')$$,
                 '42501', NULL, 'user A: INSERT api_integrations violates RLS');
SELECT throws_ok($$INSERT INTO sms_otp.sms_outbox (kind, user_id, "to", body)
                   VALUES ('otp', 'a0000000-0000-4000-8000-00000000000a', '+15555550000', 'x')$$,
                 '42501', NULL, 'user A: INSERT sms_outbox is denied');
SELECT throws_ok($$INSERT INTO sms_otp.user_lockouts (user_id) VALUES ('d0000000-0000-4000-8000-00000000000d')$$,
                 '42501', NULL, 'user A: INSERT user_lockouts is denied');
SELECT throws_ok($$INSERT INTO sms_otp._secret (id, key) VALUES (true, '\x00')$$,
                 '42501', NULL, 'user A: INSERT _secret is denied');

WITH changed AS (UPDATE sms_otp.sms_otp_sessions SET status = 'verified', verified_at = now()
                 WHERE user_id = 'a0000000-0000-4000-8000-00000000000a' RETURNING 1)
SELECT is(count(*)::int, 0, 'user A: UPDATE of own sessions (to verified) changes no row') FROM changed;
WITH changed AS (UPDATE sms_otp.sms_messages_log SET text = 'x' WHERE user_id = 'a0000000-0000-4000-8000-00000000000a' RETURNING 1)
SELECT is(count(*)::int, 0, 'user A: UPDATE of own log rows changes no row') FROM changed;
WITH changed AS (UPDATE sms_otp.user_contact_settings SET otp_enabled = false, phone = '+14155550199'
                 WHERE user_id = 'a0000000-0000-4000-8000-00000000000a' RETURNING 1)
SELECT is(count(*)::int, 0, 'user A: UPDATE of own contact settings (turning OTP off) changes no row') FROM changed;
WITH changed AS (UPDATE sms_otp.api_integrations SET enabled = false RETURNING 1)
SELECT is(count(*)::int, 0, 'user A: UPDATE api_integrations changes no row') FROM changed;
SELECT throws_ok($$UPDATE sms_otp.sms_outbox SET "to" = '+15555550000'$$, '42501', NULL, 'user A: UPDATE sms_outbox is denied');
SELECT throws_ok($$UPDATE sms_otp.user_lockouts SET failures = 0, locked_until = NULL$$, '42501', NULL, 'user A: UPDATE user_lockouts is denied');
SELECT throws_ok($$UPDATE sms_otp._secret SET key = '\x00'$$, '42501', NULL, 'user A: UPDATE _secret is denied');

SELECT throws_ok($$DELETE FROM sms_otp.sms_otp_sessions WHERE user_id = 'a0000000-0000-4000-8000-00000000000a'$$,
                 '42501', NULL, 'user A: DELETE sms_otp_sessions is denied');
SELECT throws_ok($$DELETE FROM sms_otp.sms_messages_log WHERE user_id = 'a0000000-0000-4000-8000-00000000000a'$$,
                 '42501', NULL, 'user A: DELETE sms_messages_log is denied');
WITH gone AS (DELETE FROM sms_otp.user_contact_settings WHERE user_id = 'a0000000-0000-4000-8000-00000000000a' RETURNING 1)
SELECT is(count(*)::int, 0, 'user A: DELETE of own contact settings removes no row') FROM gone;
WITH gone AS (DELETE FROM sms_otp.api_integrations RETURNING 1)
SELECT is(count(*)::int, 0, 'user A: DELETE api_integrations removes no row') FROM gone;
SELECT throws_ok('DELETE FROM sms_otp.sms_outbox', '42501', NULL, 'user A: DELETE sms_outbox is denied');
SELECT throws_ok('DELETE FROM sms_otp.user_lockouts', '42501', NULL, 'user A: DELETE user_lockouts is denied');
SELECT throws_ok('DELETE FROM sms_otp._secret', '42501', NULL, 'user A: DELETE _secret is denied');

--------------------------------------------------------------------------------------------
-- authenticated as B: the same role, another token; A's rows stay out of sight and reach
--------------------------------------------------------------------------------------------
SET request.jwt.claims = '{"sub": "b0000000-0000-4000-8000-00000000000b", "role": "authenticated"}';

SELECT is(array_agg(user_id::text ORDER BY id), ARRAY['b0000000-0000-4000-8000-00000000000b'],
          'user B: SELECT sms_otp_sessions returns exactly B''s row') FROM sms_otp.sms_otp_sessions;
SELECT is(array_agg(user_id::text ORDER BY id), ARRAY['b0000000-0000-4000-8000-00000000000b',
                                                      'b0000000-0000-4000-8000-00000000000b'],
          'user B: SELECT sms_messages_log returns exactly B''s 2 rows') FROM sms_otp.sms_messages_log;
SELECT is(array_agg(user_id::text), ARRAY['b0000000-0000-4000-8000-00000000000b'],
          'user B: SELECT user_contact_settings returns exactly B''s row') FROM sms_otp.user_contact_settings;
SELECT is(count(*)::int, 0, 'user B: SELECT api_integrations (public columns) returns no rows')
FROM (SELECT id, name, kind, priority, enabled FROM sms_otp.api_integrations) AS t;
SELECT is(count(*)::int, 0, 'user B: SELECT sms_outbox (public columns) returns no rows')
FROM (SELECT id, kind, user_id, "to", status FROM sms_otp.sms_outbox) AS t;
SELECT throws_ok('SELECT user_id, failures FROM sms_otp.user_lockouts', '42501', NULL, 'user B: SELECT user_lockouts is denied');
SELECT throws_ok('SELECT id FROM sms_otp._secret', '42501', NULL, 'user B: SELECT _secret is denied');

SELECT throws_ok('SELECT code_hash FROM sms_otp.sms_otp_sessions', '42501', NULL, 'user B: sms_otp_sessions.code_hash is not readable');
SELECT throws_ok('SELECT credentials FROM sms_otp.api_integrations', '42501', NULL, 'user B: api_integrations.credentials is not readable');
SELECT throws_ok('SELECT body FROM sms_otp.sms_outbox', '42501', NULL, 'user B: sms_outbox.body is not readable');

SELECT throws_ok($$INSERT INTO sms_otp.sms_otp_sessions (user_id, phone, max_attempts, expires_at, resend_available_at)
                   VALUES ('a0000000-0000-4000-8000-00000000000a', '+14155550101', 5, now() + interval '5 min', now())$$,
                 '42501', NULL, 'user B: INSERT of a session for A violates RLS');
SELECT throws_ok($$INSERT INTO sms_otp.sms_messages_log (user_id, "to", type, text)
                   VALUES ('b0000000-0000-4000-8000-00000000000b', '+14155550102', 'promo', 'x')$$,
                 '42501', NULL, 'user B: INSERT sms_messages_log violates RLS');
SELECT throws_ok($$INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled)
                   VALUES ('d0000000-0000-4000-8000-00000000000d', '+14155550105', false)$$,
                 '42501', NULL, 'user B: INSERT user_contact_settings violates RLS');
SELECT throws_ok($$INSERT INTO sms_otp.api_integrations (name, kind) VALUES ('evil', 'console')$$,
                 '42501', NULL, 'user B: INSERT api_integrations violates RLS');
SELECT throws_ok($$INSERT INTO sms_otp.sms_outbox (kind, "to", body) VALUES ('promo', '+14155550101', 'x')$$,
                 '42501', NULL, 'user B: INSERT sms_outbox is denied');
SELECT throws_ok($$INSERT INTO sms_otp.user_lockouts (user_id) VALUES ('d0000000-0000-4000-8000-00000000000d')$$,
                 '42501', NULL, 'user B: INSERT user_lockouts is denied');
SELECT throws_ok($$INSERT INTO sms_otp._secret (id, key) VALUES (true, '\x00')$$,
                 '42501', NULL, 'user B: INSERT _secret is denied');

WITH changed AS (UPDATE sms_otp.sms_otp_sessions SET attempts = 0 WHERE user_id = 'a0000000-0000-4000-8000-00000000000a' RETURNING 1)
SELECT is(count(*)::int, 0, 'user B: UPDATE of A''s sessions changes no row') FROM changed;
WITH changed AS (UPDATE sms_otp.sms_messages_log SET text = 'x' RETURNING 1)
SELECT is(count(*)::int, 0, 'user B: UPDATE sms_messages_log changes no row') FROM changed;
WITH changed AS (UPDATE sms_otp.user_contact_settings SET phone = '+14155550102'
                 WHERE user_id = 'a0000000-0000-4000-8000-00000000000a' RETURNING 1)
SELECT is(count(*)::int, 0, 'user B: UPDATE of A''s contact settings changes no row') FROM changed;
WITH changed AS (UPDATE sms_otp.api_integrations SET base_url = 'https://attacker.example' RETURNING 1)
SELECT is(count(*)::int, 0, 'user B: UPDATE api_integrations changes no row') FROM changed;
SELECT throws_ok($$UPDATE sms_otp.sms_outbox SET status = 'cancelled'$$, '42501', NULL, 'user B: UPDATE sms_outbox is denied');
SELECT throws_ok($$UPDATE sms_otp.user_lockouts SET failures = 0$$, '42501', NULL, 'user B: UPDATE user_lockouts is denied');
SELECT throws_ok($$UPDATE sms_otp._secret SET key = '\x00'$$, '42501', NULL, 'user B: UPDATE _secret is denied');

SELECT throws_ok('DELETE FROM sms_otp.sms_otp_sessions', '42501', NULL, 'user B: DELETE sms_otp_sessions is denied');
SELECT throws_ok('DELETE FROM sms_otp.sms_messages_log', '42501', NULL, 'user B: DELETE sms_messages_log is denied');
WITH gone AS (DELETE FROM sms_otp.user_contact_settings RETURNING 1)
SELECT is(count(*)::int, 0, 'user B: DELETE user_contact_settings removes no row') FROM gone;
WITH gone AS (DELETE FROM sms_otp.api_integrations RETURNING 1)
SELECT is(count(*)::int, 0, 'user B: DELETE api_integrations removes no row') FROM gone;
SELECT throws_ok('DELETE FROM sms_otp.sms_outbox', '42501', NULL, 'user B: DELETE sms_outbox is denied');
SELECT throws_ok('DELETE FROM sms_otp.user_lockouts', '42501', NULL, 'user B: DELETE user_lockouts is denied');
SELECT throws_ok('DELETE FROM sms_otp._secret', '42501', NULL, 'user B: DELETE _secret is denied');

-- Whatever the statements above reported, no table changed.
RESET ROLE;
SELECT is(pg_temp.fingerprint(b.tbl), b.fp, format('anon and users changed no row of %s', b.tbl))
FROM before_clients b ORDER BY b.tbl::text;

--------------------------------------------------------------------------------------------
-- service_role: reads every row (not the secret columns), writes the tables it administers
--------------------------------------------------------------------------------------------
SET ROLE service_role;
SET request.jwt.claims = '{"role": "service_role"}';

SELECT is(count(*)::int, 4, 'service_role: SELECT sms_otp_sessions returns all 4 rows') FROM sms_otp.sms_otp_sessions;
SELECT is(count(*)::int, 5, 'service_role: SELECT sms_messages_log returns all 5 rows') FROM sms_otp.sms_messages_log;
SELECT is(count(*)::int, 3, 'service_role: SELECT user_contact_settings returns all 3 rows') FROM sms_otp.user_contact_settings;
SELECT is(count(*)::int, 2, 'service_role: SELECT api_integrations (public columns) returns all 2 rows')
FROM (SELECT id, name, kind, priority, enabled, base_url, sender FROM sms_otp.api_integrations) AS t;
SELECT is(count(*)::int, 2, 'service_role: SELECT sms_outbox (public columns) returns all 2 rows')
FROM (SELECT id, kind, user_id, "to", status, attempts, next_attempt_at FROM sms_otp.sms_outbox) AS t;
SELECT throws_ok('SELECT user_id, failures FROM sms_otp.user_lockouts', '42501', NULL, 'service_role: SELECT user_lockouts is denied');
SELECT throws_ok('SELECT id FROM sms_otp._secret', '42501', NULL, 'service_role: SELECT _secret is denied');

SELECT throws_ok('SELECT code_hash FROM sms_otp.sms_otp_sessions', '42501', NULL, 'service_role: sms_otp_sessions.code_hash is not readable');
SELECT throws_ok('SELECT credentials FROM sms_otp.api_integrations', '42501', NULL, 'service_role: api_integrations.credentials is not readable');
SELECT throws_ok('SELECT body FROM sms_otp.sms_outbox', '42501', NULL, 'service_role: sms_outbox.body is not readable');
-- Nor through a filter or RETURNING (a row count is an oracle).
SELECT throws_ok($$UPDATE sms_otp.sms_otp_sessions SET status = status WHERE code_hash IS NOT NULL$$, '42501', NULL,
                 'service_role: no UPDATE may filter on sms_otp_sessions.code_hash');
SELECT throws_ok($$UPDATE sms_otp.api_integrations SET priority = priority WHERE credentials ->> 'auth_token' LIKE 't%'$$, '42501', NULL,
                 'service_role: no UPDATE may filter on api_integrations.credentials');
SELECT throws_ok($$INSERT INTO sms_otp.api_integrations (name, kind) VALUES ('probe', 'console') RETURNING credentials$$, '42501', NULL,
                 'service_role: INSERT ... RETURNING credentials is denied');

SELECT lives_ok($$INSERT INTO sms_otp.sms_otp_sessions (user_id, phone, max_attempts, expires_at, resend_available_at)
                  VALUES ('c0000000-0000-4000-8000-00000000000c', '+14155550103', 5, now() + interval '5 min', now())$$,
                'service_role: INSERT sms_otp_sessions');
SELECT lives_ok($$INSERT INTO sms_otp.sms_messages_log (user_id, "to", type, text, provider_name, status_code)
                  VALUES ('c0000000-0000-4000-8000-00000000000c', '+14155550103', 'transactional', 'Hello', 'fallback', 200)$$,
                'service_role: INSERT sms_messages_log');
SELECT lives_ok($$INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled)
                  VALUES ('d0000000-0000-4000-8000-00000000000d', '+14155550105', true)$$,
                'service_role: INSERT user_contact_settings');
SELECT lives_ok($$INSERT INTO sms_otp.api_integrations (name, kind, priority, base_url, credentials)
                  VALUES ('spare', 'webhook', 30, 'https://hooks.example/sms', '{"secret": "whsec"}')$$,
                'service_role: INSERT api_integrations, credentials included (write-only)');
SELECT throws_ok($$INSERT INTO sms_otp.sms_outbox (kind, "to", body) VALUES ('promo', '+14155550101', 'x')$$,
                 '42501', NULL, 'service_role: INSERT sms_outbox is denied (the API and the worker own the queue)');
SELECT throws_ok($$INSERT INTO sms_otp.user_lockouts (user_id) VALUES ('d0000000-0000-4000-8000-00000000000d')$$,
                 '42501', NULL, 'service_role: INSERT user_lockouts is denied');
SELECT throws_ok($$INSERT INTO sms_otp._secret (id, key) VALUES (true, '\x00')$$,
                 '42501', NULL, 'service_role: INSERT _secret is denied');

WITH changed AS (UPDATE sms_otp.sms_otp_sessions SET provider_name = 'primary' RETURNING 1)
SELECT is(count(*)::int, 5, 'service_role: UPDATE sms_otp_sessions reaches all 5 rows (the inserted one too)') FROM changed;
WITH changed AS (UPDATE sms_otp.sms_messages_log SET response_time_ms = 42 RETURNING 1)
SELECT is(count(*)::int, 6, 'service_role: UPDATE sms_messages_log reaches all 6 rows') FROM changed;
WITH changed AS (UPDATE sms_otp.user_contact_settings SET otp_enabled = true
                 WHERE user_id = 'c0000000-0000-4000-8000-00000000000c' RETURNING 1)
SELECT is(count(*)::int, 1, 'service_role: UPDATE user_contact_settings') FROM changed;
WITH changed AS (UPDATE sms_otp.api_integrations SET priority = priority + 1 RETURNING 1)
SELECT is(count(*)::int, 3, 'service_role: UPDATE api_integrations reaches all 3 rows') FROM changed;
SELECT throws_ok($$UPDATE sms_otp.sms_outbox SET status = 'cancelled'$$, '42501', NULL, 'service_role: UPDATE sms_outbox is denied');
SELECT throws_ok($$UPDATE sms_otp.user_lockouts SET failures = 0$$, '42501', NULL, 'service_role: UPDATE user_lockouts is denied');
SELECT throws_ok($$UPDATE sms_otp._secret SET key = '\x00'$$, '42501', NULL, 'service_role: UPDATE _secret is denied');

SELECT throws_ok('DELETE FROM sms_otp.sms_otp_sessions', '42501', NULL, 'service_role: DELETE sms_otp_sessions is denied');
SELECT throws_ok('DELETE FROM sms_otp.sms_messages_log', '42501', NULL, 'service_role: DELETE sms_messages_log is denied');
WITH gone AS (DELETE FROM sms_otp.user_contact_settings WHERE user_id = 'd0000000-0000-4000-8000-00000000000d' RETURNING 1)
SELECT is(count(*)::int, 1, 'service_role: DELETE user_contact_settings') FROM gone;
WITH gone AS (DELETE FROM sms_otp.api_integrations WHERE name = 'spare' RETURNING 1)
SELECT is(count(*)::int, 1, 'service_role: DELETE api_integrations') FROM gone;
SELECT throws_ok('DELETE FROM sms_otp.sms_outbox', '42501', NULL, 'service_role: DELETE sms_outbox is denied');
SELECT throws_ok('DELETE FROM sms_otp.user_lockouts', '42501', NULL, 'service_role: DELETE user_lockouts is denied');
SELECT throws_ok('DELETE FROM sms_otp._secret', '42501', NULL, 'service_role: DELETE _secret is denied');

RESET ROLE;
RESET request.jwt.claims;

--------------------------------------------------------------------------------------------
-- Function grants: the API for everyone, nothing else for any client role
--------------------------------------------------------------------------------------------
CREATE TEMP TABLE api (fn regprocedure);
INSERT INTO api VALUES
    ('sms_otp.otp_send(text, text)'), ('sms_otp.otp_verify(uuid, text)'), ('sms_otp.otp_status()'),
    ('sms_otp.otp_is_verified(interval)'), ('sms_otp.current_user_id()'), ('sms_otp.client_ip()'),
    ('sms_otp.is_service_role()'), ('sms_otp.normalize_phone(text)');

SELECT ok(has_schema_privilege('public', 'sms_otp', 'USAGE'), 'USAGE on schema sms_otp is granted to PUBLIC');
SELECT set_eq(
    $$SELECT p.oid::regprocedure FROM pg_proc p
      WHERE p.pronamespace = 'sms_otp'::regnamespace AND has_function_privilege('public', p.oid, 'EXECUTE')$$,
    'SELECT fn FROM api',
    'EXECUTE is granted to PUBLIC on exactly the eight API functions');
SELECT is_empty(
    $$SELECT r.rolname, a.fn FROM api a
      CROSS JOIN (VALUES ('anon'), ('authenticated'), ('service_role')) AS r(rolname)
      WHERE NOT has_function_privilege(r.rolname, a.fn, 'EXECUTE')$$,
    'anon, authenticated and service_role can execute every API function');
SELECT isnt_empty(
    $$SELECT p.oid FROM pg_proc p
      WHERE p.pronamespace = 'sms_otp'::regnamespace AND p.oid NOT IN (SELECT fn FROM api)$$,
    'the schema has internal functions to check');
SELECT is_empty(
    $$SELECT r.rolname, p.oid::regprocedure FROM pg_proc p
      CROSS JOIN (VALUES ('anon'), ('authenticated'), ('service_role')) AS r(rolname)
      WHERE p.pronamespace = 'sms_otp'::regnamespace AND p.oid NOT IN (SELECT fn FROM api)
        AND has_function_privilege(r.rolname, p.oid, 'EXECUTE')$$,
    'no internal function of sms_otp is executable by anon, authenticated or service_role');

--------------------------------------------------------------------------------------------
-- SECURITY DEFINER hygiene
--------------------------------------------------------------------------------------------
SELECT is_empty(
    $$SELECT p.oid::regprocedure FROM pg_proc p
      WHERE p.pronamespace = 'sms_otp'::regnamespace
        AND p.proname IN ('otp_send', 'otp_verify', 'otp_status', 'otp_is_verified') AND NOT p.prosecdef$$,
    'the API functions that touch the tables are SECURITY DEFINER');
SELECT is_empty(
    $$SELECT p.oid::regprocedure, p.proconfig FROM pg_proc p
      WHERE p.pronamespace = 'sms_otp'::regnamespace AND p.prosecdef
        AND NOT coalesce('search_path=""' = ANY (p.proconfig), false)$$,
    'every SECURITY DEFINER function in sms_otp sets search_path = ''''');

--------------------------------------------------------------------------------------------
-- Contract indexes and RLS on every table
--------------------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.has_index_on(tbl regclass, cols name[]) RETURNS boolean LANGUAGE sql AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_index i
        WHERE i.indrelid = tbl AND i.indisvalid AND i.indpred IS NULL
          AND (SELECT array_agg(a.attname ORDER BY k.ord)
               FROM unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) = cols)
$$;
SELECT ok(pg_temp.has_index_on('sms_otp.sms_otp_sessions', ARRAY['user_id', 'status', 'expires_at']),
          'index on sms_otp_sessions (user_id, status, expires_at)');
SELECT ok(pg_temp.has_index_on('sms_otp.sms_messages_log', ARRAY['user_id', 'type', 'created_at']),
          'index on sms_messages_log (user_id, type, created_at)');

SELECT set_eq(
    $$SELECT c.oid::regclass FROM pg_class c WHERE c.relnamespace = 'sms_otp'::regnamespace AND c.relkind IN ('r', 'p')$$,
    'SELECT tbl FROM before_clients',
    'the matrix above covers every table of sms_otp');
SELECT is_empty(
    $$SELECT c.oid::regclass FROM pg_class c
      WHERE c.relnamespace = 'sms_otp'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity$$,
    'row-level security is enabled on every table of sms_otp');

SELECT * FROM finish();
ROLLBACK;
