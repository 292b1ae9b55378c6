-- Who may do what (docs/security.md, "Row-level security matrix"): every client role (anon
-- without claims, a user before and after the SMS step of the login in the token, a user without
-- SMS codes, the service role) against every table and every operation; the columns no client
-- may read; the function grants, SECURITY DEFINER hygiene, the policies, the contract indexes and
-- RLS on every table.
-- Users: A = a0000000-0000-4000-8000-00000000000a (codes on; logins a-pending, a-stale, a-done),
-- B = b0000000-0000-4000-8000-00000000000b (codes on; login b-done),
-- C = c0000000-0000-4000-8000-00000000000c (codes off; login c-1, verified while codes were on).
-- A login "passed" when it has a session verified within sms_otp.verified_ttl (12 h).
BEGIN;
SELECT plan(212);

--------------------------------------------------------------------------------------------
-- Fixtures, written by the superuser (the extension's owner, as the worker is)
--------------------------------------------------------------------------------------------
-- Wrong codes are counted in shared memory, which outlives this file's rolled-back
-- transaction: start these users from a clean count.
SELECT sms_otp._guess_forget(NULL, u, true)
FROM unnest(ARRAY['a0000000-0000-4000-8000-00000000000a', 'b0000000-0000-4000-8000-00000000000b',
                  'c0000000-0000-4000-8000-00000000000c', 'd0000000-0000-4000-8000-00000000000d']::uuid[]) AS u;

INSERT INTO sms_otp.api_integrations (name, kind, priority, sender, credentials, selectable) VALUES
    ('primary', 'twilio', 10, '+15005550006', '{"account_sid": "AC0", "auth_token": "tok"}', true),
    ('fallback', 'console', 20, NULL, '{}', false);
INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled, preferred_provider) VALUES
    ('a0000000-0000-4000-8000-00000000000a', '+14155550101', true, 'primary'),
    ('b0000000-0000-4000-8000-00000000000b', '+14155550102', true, NULL),
    ('c0000000-0000-4000-8000-00000000000c', '+14155550103', false, NULL);
-- Sessions: A 3 (one per login), B 1, C 1; every column a client must not read is filled in.
INSERT INTO sms_otp.sms_otp_sessions (id, user_id, phone, client_ip, client_net, login_session, provider_name,
                                      provider_session_id, status, max_attempts, code_hash, outbox_id,
                                      created_at, expires_at, resend_available_at, verified_at)
SELECT v.id::uuid, v.u::uuid, v.p, '198.51.100.9', '198.51.100.9/32', v.login, 'primary', 'SM' || v.login, v.status, 5,
       CASE WHEN v.status = 'pending' THEN sha256(convert_to(v.id, 'UTF8')) END, NULL,
       now() - v.age, now() - v.age + interval '5 min', now() - v.age + interval '30 s',
       CASE WHEN v.status = 'verified' THEN now() - v.age + interval '20 s' END
FROM (VALUES ('aaaaaaaa-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-00000000000a', '+14155550101', 'a-pending', 'pending', interval '0'),
             ('aaaaaaaa-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-00000000000a', '+14155550101', 'a-stale', 'verified', interval '13 hours'),
             ('aaaaaaaa-0000-4000-8000-000000000003', 'a0000000-0000-4000-8000-00000000000a', '+14155550101', 'a-done', 'verified', interval '2 min'),
             ('bbbbbbbb-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-00000000000b', '+14155550102', 'b-done', 'verified', interval '2 min'),
             ('cccccccc-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-00000000000c', '+14155550103', 'c-1', 'verified', interval '2 min'))
     AS v(id, u, p, login, status, age);
-- Log: A 1, B 2, C 1, and one message to nobody's account.
INSERT INTO sms_otp.sms_messages_log (user_id, "to", type, text, provider_name, status_code) VALUES
    ('a0000000-0000-4000-8000-00000000000a', '+14155550101', 'otp', 'Your code is ######', 'primary', 201),
    ('b0000000-0000-4000-8000-00000000000b', '+14155550102', 'otp', 'Your code is ######', 'primary', 201),
    ('b0000000-0000-4000-8000-00000000000b', '+14155550102', 'transactional', 'Your order shipped', 'primary', 201),
    ('c0000000-0000-4000-8000-00000000000c', '+14155550103', 'promo', 'Sale!', 'fallback', 200),
    (NULL, '+14155550104', 'transactional', 'Welcome', 'fallback', 200);
INSERT INTO sms_otp.sms_outbox (kind, user_id, session_id, "to", body) VALUES
    ('otp', 'a0000000-0000-4000-8000-00000000000a', 'aaaaaaaa-0000-4000-8000-000000000001', '+14155550101',
     'Your verification code is 123456.'),
    ('transactional', 'b0000000-0000-4000-8000-00000000000b', NULL, '+14155550102', 'Your order shipped');
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
                  'sms_otp._secret',
                  -- phase 2 (each role x operation: rls_phase2.sql)
                  'sms_otp.sms_templates', 'sms_otp.sms_categories', 'sms_otp.sms_keywords',
                  'sms_otp.sms_idempotency_keys', 'sms_otp.sms_opt_outs', 'sms_otp.sms_opt_out_events',
                  'sms_otp.sms_delivery_events', 'sms_otp.sms_inbound_messages',
                  'sms_otp.sms_throttles', 'sms_otp.sms_quiet_hours', 'sms_otp.sms_campaigns',
                  'sms_otp.sms_campaign_recipients',
                  -- dashboards (each role x operation: dashboards.sql)
                  'sms_otp.sms_prices', 'sms_otp.stats_messages', 'sms_otp.stats_latency',
                  'sms_otp.stats_otp',
                  -- the SMS-pumping guard (each rule and role: guard.sql)
                  'sms_otp.guard_country_policy', 'sms_otp.guard_safe_list', 'sms_otp.guard_decisions',
                  'sms_otp.guard_blocks', 'sms_otp.guard_counts',
                  -- the CAPTCHA check's accepted tokens (captcha.sql)
                  'sms_otp.captcha_tokens']::regclass[]) AS tbl;

-- Every write a client might try, aimed at A's rows (or at rows A would like to exist). No
-- client role holds INSERT, UPDATE or DELETE on any table: each is "permission denied", whoever
-- asks and whatever the policies would have allowed.
CREATE TEMP TABLE client_writes (n int, label text, stmt text);
INSERT INTO client_writes VALUES
    (1, 'INSERT sms_otp_sessions (a verified session for A)',
     $$INSERT INTO sms_otp.sms_otp_sessions (user_id, phone, login_session, max_attempts, status, expires_at, resend_available_at, verified_at)
       VALUES ('a0000000-0000-4000-8000-00000000000a', '+14155550101', 'a-pending', 5, 'verified', now() + interval '5 min', now(), now())$$),
    (2, 'INSERT sms_messages_log', $$INSERT INTO sms_otp.sms_messages_log (user_id, "to", type, text)
                                     VALUES ('a0000000-0000-4000-8000-00000000000a', '+14155550101', 'otp', 'x')$$),
    (3, 'INSERT user_contact_settings', $$INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled)
                                          VALUES ('d0000000-0000-4000-8000-00000000000d', '+14155550105', false)$$),
    (4, 'INSERT api_integrations', $$INSERT INTO sms_otp.api_integrations (name, kind) VALUES ('evil', 'console')$$),
    (5, 'INSERT sms_outbox', $$INSERT INTO sms_otp.sms_outbox (kind, user_id, "to", body)
                               VALUES ('otp', 'a0000000-0000-4000-8000-00000000000a', '+15555550000', 'x')$$),
    (6, 'INSERT user_lockouts', $$INSERT INTO sms_otp.user_lockouts (user_id) VALUES ('d0000000-0000-4000-8000-00000000000d')$$),
    (7, 'INSERT _secret', $$INSERT INTO sms_otp._secret (id, key) VALUES (true, '\x00')$$),
    (8, 'UPDATE sms_otp_sessions (A''s, to verified)',
     $$UPDATE sms_otp.sms_otp_sessions SET status = 'verified', verified_at = now(), attempts = 0
       WHERE user_id = 'a0000000-0000-4000-8000-00000000000a'$$),
    (9, 'UPDATE sms_messages_log', $$UPDATE sms_otp.sms_messages_log SET text = 'x' WHERE user_id = 'a0000000-0000-4000-8000-00000000000a'$$),
    (10, 'UPDATE user_contact_settings (A''s: codes off, another phone)',
     $$UPDATE sms_otp.user_contact_settings SET otp_enabled = false, phone = '+14155550199'
       WHERE user_id = 'a0000000-0000-4000-8000-00000000000a'$$),
    (11, 'UPDATE api_integrations', $$UPDATE sms_otp.api_integrations SET base_url = 'https://attacker.example', selectable = true, max_concurrent = 1$$),
    (12, 'UPDATE sms_outbox', $$UPDATE sms_otp.sms_outbox SET "to" = '+15555550000'$$),
    (13, 'UPDATE user_lockouts', $$UPDATE sms_otp.user_lockouts SET failures = 0, locked_until = NULL$$),
    (14, 'UPDATE _secret', $$UPDATE sms_otp._secret SET key = '\x00'$$),
    (15, 'DELETE sms_otp_sessions', $$DELETE FROM sms_otp.sms_otp_sessions WHERE user_id = 'a0000000-0000-4000-8000-00000000000a'$$),
    (16, 'DELETE sms_messages_log', $$DELETE FROM sms_otp.sms_messages_log WHERE user_id = 'a0000000-0000-4000-8000-00000000000a'$$),
    (17, 'DELETE user_contact_settings (A''s)', $$DELETE FROM sms_otp.user_contact_settings WHERE user_id = 'a0000000-0000-4000-8000-00000000000a'$$),
    (18, 'DELETE api_integrations', 'DELETE FROM sms_otp.api_integrations'),
    (19, 'DELETE sms_outbox', 'DELETE FROM sms_otp.sms_outbox'),
    (20, 'DELETE user_lockouts', 'DELETE FROM sms_otp.user_lockouts'),
    (21, 'DELETE _secret', 'DELETE FROM sms_otp._secret');
-- The columns of sms_otp_sessions no client may read (code, phone, addresses, login, provider ids).
CREATE TEMP TABLE hidden_session_columns (col name);
INSERT INTO hidden_session_columns VALUES
    ('code_hash'), ('phone'), ('client_ip'), ('client_net'), ('login_session'), ('provider_session_id'), ('outbox_id');
GRANT SELECT ON client_writes, hidden_session_columns TO PUBLIC;

--------------------------------------------------------------------------------------------
-- anon: no claims. Sees no row, reads no hidden column, writes nothing.
--------------------------------------------------------------------------------------------
SET ROLE anon;
SET request.jwt.claims = '';

SELECT is(count(*)::int, 0, 'anon: SELECT sms_otp_sessions returns no rows') FROM sms_otp.sms_otp_sessions;
SELECT is(count(*)::int, 0, 'anon: SELECT sms_messages_log returns no rows') FROM sms_otp.sms_messages_log;
SELECT is(count(*)::int, 0, 'anon: SELECT user_contact_settings returns no rows') FROM sms_otp.user_contact_settings;
SELECT throws_ok('SELECT id, name, kind, priority, enabled FROM sms_otp.api_integrations', '42501', NULL,
                 'anon: SELECT api_integrations is denied');
SELECT throws_ok('SELECT id, kind, user_id, status FROM sms_otp.sms_outbox', '42501', NULL, 'anon: SELECT sms_outbox is denied');
SELECT throws_ok('SELECT user_id, failures FROM sms_otp.user_lockouts', '42501', NULL, 'anon: SELECT user_lockouts is denied');
SELECT throws_ok('SELECT id FROM sms_otp._secret', '42501', NULL, 'anon: SELECT _secret is denied');

SELECT throws_ok(format('SELECT %I FROM sms_otp.sms_otp_sessions', col), '42501', NULL,
                 format('anon: sms_otp_sessions.%s is not readable', col))
FROM hidden_session_columns;
SELECT throws_ok('SELECT credentials FROM sms_otp.api_integrations', '42501', NULL, 'anon: api_integrations.credentials is not readable');
SELECT throws_ok('SELECT body FROM sms_otp.sms_outbox', '42501', NULL, 'anon: sms_outbox.body is not readable');

SELECT throws_ok(stmt, '42501', NULL, 'anon: ' || label || ' is denied') FROM client_writes ORDER BY n;
SELECT throws_like('SELECT sms_otp.otp_disable()', '%"not_authenticated"%', 'anon: otp_disable is refused (401)');

--------------------------------------------------------------------------------------------
-- authenticated as A: what a token reads depends on its login (the session_id claim)
--------------------------------------------------------------------------------------------
RESET ROLE;
SET ROLE authenticated;

-- A token without the login claim is no login: not even A's sessions.
SET request.jwt.claims = '{"sub": "a0000000-0000-4000-8000-00000000000a", "role": "authenticated"}';
SELECT is(count(*)::int, 0, 'user A without a login claim: no sessions') FROM sms_otp.sms_otp_sessions;
SELECT is(count(*)::int, 0, 'user A without a login claim: no log rows') FROM sms_otp.sms_messages_log;
SELECT is(count(*)::int, 0, 'user A without a login claim: no contact settings') FROM sms_otp.user_contact_settings;

-- A new login that has asked for nothing yet.
SET request.jwt.claims = '{"sub": "a0000000-0000-4000-8000-00000000000a", "role": "authenticated", "session_id": "a-new"}';
SELECT is(count(*)::int, 0, 'user A, a new login: no sessions (those of A''s other logins stay out of sight)')
FROM sms_otp.sms_otp_sessions;
SELECT is(count(*)::int, 0, 'user A, a new login: no log rows') FROM sms_otp.sms_messages_log;
SELECT is(count(*)::int, 0, 'user A, a new login: no contact settings') FROM sms_otp.user_contact_settings;

-- Before the SMS step: the sessions of this login alone.
SET request.jwt.claims = '{"sub": "a0000000-0000-4000-8000-00000000000a", "role": "authenticated", "session_id": "a-pending"}';
SELECT is(array_agg(id::text ORDER BY id), ARRAY['aaaaaaaa-0000-4000-8000-000000000001'],
          'user A before the SMS step: SELECT sms_otp_sessions returns this login''s session only') FROM sms_otp.sms_otp_sessions;
SELECT is(count(*)::int, 0, 'user A before the SMS step: no log rows') FROM sms_otp.sms_messages_log;
SELECT is(count(*)::int, 0, 'user A before the SMS step: no contact settings (the full phone number)')
FROM sms_otp.user_contact_settings;
SELECT throws_like('SELECT sms_otp.otp_disable()', '%"reverify_required"%',
                   'user A before the SMS step: otp_disable is refused (403 reverify_required)');

-- A verification older than sms_otp.verified_ttl is a step no longer passed.
SET request.jwt.claims = '{"sub": "a0000000-0000-4000-8000-00000000000a", "role": "authenticated", "session_id": "a-stale"}';
SELECT is(array_agg(id::text ORDER BY id), ARRAY['aaaaaaaa-0000-4000-8000-000000000002'],
          'user A, verified 13 h ago (past verified_ttl): this login''s session only') FROM sms_otp.sms_otp_sessions;
SELECT is(count(*)::int, 0, 'user A, verified 13 h ago: no log rows') FROM sms_otp.sms_messages_log;
SELECT is(count(*)::int, 0, 'user A, verified 13 h ago: no contact settings') FROM sms_otp.user_contact_settings;

-- Login strings are not global: B's verified login named in A's token opens nothing of A's.
SET request.jwt.claims = '{"sub": "a0000000-0000-4000-8000-00000000000a", "role": "authenticated", "session_id": "b-done"}';
SELECT is(count(*)::int + (SELECT count(*)::int FROM sms_otp.sms_messages_log), 0,
          'user A under the login id of B''s verified login: no sessions, no log rows') FROM sms_otp.sms_otp_sessions;

-- After the SMS step: every own row of the three user tables, nothing of anyone else.
SET request.jwt.claims = '{"sub": "a0000000-0000-4000-8000-00000000000a", "role": "authenticated", "session_id": "a-done"}';
SELECT is(array_agg(id::text ORDER BY id), ARRAY['aaaaaaaa-0000-4000-8000-000000000001', 'aaaaaaaa-0000-4000-8000-000000000002',
                                                 'aaaaaaaa-0000-4000-8000-000000000003'],
          'user A after the SMS step: SELECT sms_otp_sessions returns A''s 3 sessions, of every login') FROM sms_otp.sms_otp_sessions;
SELECT is(array_agg(user_id::text ORDER BY id), ARRAY['a0000000-0000-4000-8000-00000000000a'],
          'user A after the SMS step: SELECT sms_messages_log returns exactly A''s row') FROM sms_otp.sms_messages_log;
SELECT is(array_agg(user_id::text), ARRAY['a0000000-0000-4000-8000-00000000000a'],
          'user A after the SMS step: SELECT user_contact_settings returns exactly A''s row') FROM sms_otp.user_contact_settings;
SELECT lives_ok($$SELECT id, user_id, provider_name, status, attempts, max_attempts, expires_at, resend_available_at,
                         created_at, sent_at, verified_at, updated_at FROM sms_otp.sms_otp_sessions$$,
                'user A: the public columns of sms_otp_sessions are readable');
SELECT throws_ok('SELECT id, name, kind, priority, enabled FROM sms_otp.api_integrations', '42501', NULL,
                 'user A: SELECT api_integrations is denied');
SELECT throws_ok('SELECT id, kind, user_id, status FROM sms_otp.sms_outbox', '42501', NULL,
                 'user A: SELECT sms_outbox is denied, A''s own messages included');
SELECT throws_ok('SELECT user_id, failures FROM sms_otp.user_lockouts', '42501', NULL, 'user A: SELECT user_lockouts is denied');
SELECT throws_ok('SELECT id FROM sms_otp._secret', '42501', NULL, 'user A: SELECT _secret is denied');

SELECT throws_ok(format('SELECT %I FROM sms_otp.sms_otp_sessions', col), '42501', NULL,
                 format('user A: sms_otp_sessions.%s is not readable, even after the SMS step', col))
FROM hidden_session_columns;
SELECT throws_ok('SELECT credentials FROM sms_otp.api_integrations', '42501', NULL, 'user A: api_integrations.credentials is not readable');
SELECT throws_ok('SELECT body FROM sms_otp.sms_outbox', '42501', NULL, 'user A: sms_outbox.body is not readable');

SELECT throws_ok(stmt, '42501', NULL, 'user A after the SMS step: ' || label || ' is denied') FROM client_writes ORDER BY n;

-- The step lasts sms_otp.verified_ttl: with 1 min, A's verification 100 s ago no longer counts.
RESET ROLE;
SET LOCAL sms_otp.verified_ttl = '1min';
SET ROLE authenticated;
SELECT is(array_agg(id::text ORDER BY id), ARRAY['aaaaaaaa-0000-4000-8000-000000000003'],
          'user A with verified_ttl 1 min, verified 100 s ago: this login''s session only') FROM sms_otp.sms_otp_sessions;
SELECT is(count(*)::int, 0, 'user A with verified_ttl 1 min, verified 100 s ago: no log rows') FROM sms_otp.sms_messages_log;
RESET ROLE;
RESET sms_otp.verified_ttl;
SET ROLE authenticated;

--------------------------------------------------------------------------------------------
-- authenticated as B (passed the step): A's rows stay out of sight and out of reach
--------------------------------------------------------------------------------------------
SET request.jwt.claims = '{"sub": "b0000000-0000-4000-8000-00000000000b", "role": "authenticated", "session_id": "b-done"}';

SELECT is(array_agg(id::text ORDER BY id), ARRAY['bbbbbbbb-0000-4000-8000-000000000001'],
          'user B: SELECT sms_otp_sessions returns exactly B''s session') FROM sms_otp.sms_otp_sessions;
SELECT is(array_agg(user_id::text ORDER BY id), ARRAY['b0000000-0000-4000-8000-00000000000b',
                                                      'b0000000-0000-4000-8000-00000000000b'],
          'user B: SELECT sms_messages_log returns exactly B''s 2 rows') FROM sms_otp.sms_messages_log;
SELECT is(array_agg(user_id::text), ARRAY['b0000000-0000-4000-8000-00000000000b'],
          'user B: SELECT user_contact_settings returns exactly B''s row') FROM sms_otp.user_contact_settings;
SELECT is(count(*)::int, 0, 'user B: a filter on A''s user id finds nothing')
FROM sms_otp.sms_otp_sessions WHERE user_id = 'a0000000-0000-4000-8000-00000000000a';
SELECT throws_ok('SELECT id, name FROM sms_otp.api_integrations', '42501', NULL, 'user B: SELECT api_integrations is denied');
SELECT throws_ok('SELECT id, status FROM sms_otp.sms_outbox', '42501', NULL, 'user B: SELECT sms_outbox is denied');
SELECT throws_ok('SELECT user_id FROM sms_otp.user_lockouts', '42501', NULL, 'user B: SELECT user_lockouts is denied');
SELECT throws_ok('SELECT id FROM sms_otp._secret', '42501', NULL, 'user B: SELECT _secret is denied');

SELECT throws_ok(stmt, '42501', NULL, 'user B: ' || label || ' is denied') FROM client_writes ORDER BY n;

--------------------------------------------------------------------------------------------
-- authenticated as C (SMS codes off): no second factor, so never more than this login's sessions
--------------------------------------------------------------------------------------------
SET request.jwt.claims = '{"sub": "c0000000-0000-4000-8000-00000000000c", "role": "authenticated", "session_id": "c-1"}';

SELECT is(array_agg(id::text ORDER BY id), ARRAY['cccccccc-0000-4000-8000-000000000001'],
          'user C (codes off): SELECT sms_otp_sessions returns this login''s session') FROM sms_otp.sms_otp_sessions;
SELECT is(count(*)::int, 0, 'user C (codes off), even with a verified session: no log rows') FROM sms_otp.sms_messages_log;
SELECT is(count(*)::int, 0, 'user C (codes off), even with a verified session: no contact settings')
FROM sms_otp.user_contact_settings;
SELECT throws_like('SELECT sms_otp.otp_disable()', '%"otp_not_enabled"%', 'user C (codes off): otp_disable is refused (409)');
SET request.jwt.claims = '{"sub": "c0000000-0000-4000-8000-00000000000c", "role": "authenticated", "session_id": "c-2"}';
SELECT is(count(*)::int, 0, 'user C (codes off), another login: no sessions') FROM sms_otp.sms_otp_sessions;

-- Whatever the statements above reported, no table changed.
RESET ROLE;
SELECT is(pg_temp.fingerprint(b.tbl), b.fp, format('anon and users changed no row of %s', b.tbl))
FROM before_clients b ORDER BY b.tbl::text;

--------------------------------------------------------------------------------------------
-- service_role: reads every row (not the secret columns), writes the tables it administers
--------------------------------------------------------------------------------------------
SET ROLE service_role;
SET request.jwt.claims = '{"role": "service_role"}';

SELECT is(count(*)::int, 5, 'service_role: SELECT sms_otp_sessions returns all 5 rows') FROM sms_otp.sms_otp_sessions;
SELECT is(count(*)::int, 5, 'service_role: SELECT sms_messages_log returns all 5 rows') FROM sms_otp.sms_messages_log;
SELECT is(count(*)::int, 3, 'service_role: SELECT user_contact_settings returns all 3 rows') FROM sms_otp.user_contact_settings;
SELECT is(count(*)::int, 2, 'service_role: SELECT api_integrations (all but credentials) returns all 2 rows')
FROM (SELECT id, name, kind, priority, enabled, base_url, sender, created_at, updated_at, selectable, max_concurrent FROM sms_otp.api_integrations) AS t;
SELECT is(count(*)::int, 2, 'service_role: SELECT sms_outbox (all but body) returns all 2 rows')
FROM (SELECT id, kind, user_id, session_id, "to", provider_hint, status, attempts, next_attempt_at, lease_until, expires_at,
             dedupe_key, provider_name, provider_message_id, last_error, created_at, updated_at FROM sms_otp.sms_outbox) AS t;
SELECT is(count(*)::int, 5, 'service_role: the phone, addresses, login ids and provider ids of sessions are readable')
FROM (SELECT phone, client_ip, client_net, login_session, provider_session_id, outbox_id FROM sms_otp.sms_otp_sessions) AS t;
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
SELECT lives_ok($$INSERT INTO sms_otp.api_integrations (name, kind, priority, sender, credentials, selectable)
                  VALUES ('spare', 'vonage', 30, 'Example', '{"api_key": "k", "api_secret": "s"}', true)$$,
                'service_role: INSERT api_integrations, credentials included (write-only)');
-- A provider's cap on open requests, shared by the workers: the service role sets it; it is
-- a positive number or none.
SELECT lives_ok($$UPDATE sms_otp.api_integrations SET max_concurrent = 10 WHERE name = 'spare'$$,
                'service_role: UPDATE api_integrations.max_concurrent');
SELECT throws_ok($$UPDATE sms_otp.api_integrations SET max_concurrent = 0 WHERE name = 'spare'$$, '23514', NULL,
                 'max_concurrent = 0 is refused (a cap of none would stop the provider: NULL means no cap)');
SELECT throws_ok($$UPDATE sms_otp.api_integrations SET max_concurrent = -5 WHERE name = 'spare'$$, '23514', NULL,
                 'a negative max_concurrent is refused');
-- A provider's address is the service role's to set too (its checks run as the writing role).
SELECT lives_ok($$INSERT INTO sms_otp.api_integrations (name, kind, priority, base_url, credentials)
                  VALUES ('hook', 'webhook', 40, 'https://hooks.example/sms', '{"secret": "whsec"}')$$,
                'service_role: INSERT api_integrations with a base_url');
SELECT throws_ok($$INSERT INTO sms_otp.sms_outbox (kind, "to", body) VALUES ('promo', '+14155550101', 'x')$$,
                 '42501', NULL, 'service_role: INSERT sms_outbox is denied (the API and the worker own the queue)');
SELECT throws_ok($$INSERT INTO sms_otp.user_lockouts (user_id) VALUES ('d0000000-0000-4000-8000-00000000000d')$$,
                 '42501', NULL, 'service_role: INSERT user_lockouts is denied (reset_lockout() is the way)');
SELECT throws_ok($$INSERT INTO sms_otp._secret (id, key) VALUES (true, '\x00')$$,
                 '42501', NULL, 'service_role: INSERT _secret is denied');

WITH changed AS (UPDATE sms_otp.sms_otp_sessions SET provider_name = 'primary' RETURNING 1)
SELECT is(count(*)::int, 6, 'service_role: UPDATE sms_otp_sessions reaches all 6 rows (the inserted one too)') FROM changed;
WITH changed AS (UPDATE sms_otp.sms_messages_log SET response_time_ms = 42 RETURNING 1)
SELECT is(count(*)::int, 6, 'service_role: UPDATE sms_messages_log reaches all 6 rows') FROM changed;
WITH changed AS (UPDATE sms_otp.user_contact_settings SET otp_enabled = true
                 WHERE user_id = 'c0000000-0000-4000-8000-00000000000c' RETURNING 1)
SELECT is(count(*)::int, 1, 'service_role: UPDATE user_contact_settings') FROM changed;
WITH changed AS (UPDATE sms_otp.api_integrations SET priority = priority + 1 WHERE name <> 'hook' RETURNING 1)
SELECT is(count(*)::int, 3, 'service_role: UPDATE api_integrations reaches all 3 rows (the inserted one too)') FROM changed;
SELECT lives_ok($$UPDATE sms_otp.api_integrations SET base_url = 'https://api.twilio.example' WHERE name = 'primary'$$,
                'service_role: UPDATE api_integrations.base_url');
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
-- Column grants: exactly the columns the matrix names
--------------------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.readable(role text, tbl regclass) RETURNS SETOF name LANGUAGE sql AS $$
    SELECT a.attname FROM pg_attribute a
    WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped AND has_column_privilege(role, tbl, a.attnum, 'SELECT')
$$;
SELECT set_eq($$SELECT pg_temp.readable('public', 'sms_otp.sms_otp_sessions')$$,
              $$VALUES ('id'::name), ('user_id'), ('provider_name'), ('status'), ('attempts'), ('max_attempts'), ('expires_at'),
                       ('resend_available_at'), ('created_at'), ('sent_at'), ('verified_at'), ('updated_at'), ('purpose')$$,
              'PUBLIC may read exactly the thirteen public columns of sms_otp_sessions');
SELECT set_eq($$SELECT pg_temp.readable('service_role', 'sms_otp.sms_otp_sessions')$$,
              $$SELECT a.attname FROM pg_attribute a WHERE a.attrelid = 'sms_otp.sms_otp_sessions'::regclass
                  AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> 'code_hash'$$,
              'service_role may read every column of sms_otp_sessions but code_hash');
SELECT set_eq($$SELECT pg_temp.readable('service_role', 'sms_otp.api_integrations')$$,
              $$SELECT a.attname FROM pg_attribute a WHERE a.attrelid = 'sms_otp.api_integrations'::regclass
                  AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> 'credentials'$$,
              'service_role may read every column of api_integrations but credentials');
SELECT set_eq($$SELECT pg_temp.readable('service_role', 'sms_otp.sms_outbox')$$,
              $$SELECT a.attname FROM pg_attribute a WHERE a.attrelid = 'sms_otp.sms_outbox'::regclass
                  AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> 'body'$$,
              'service_role may read every column of sms_outbox but body');
SELECT is_empty($$SELECT r, t FROM unnest(ARRAY['public', 'anon', 'authenticated']) AS r,
                         unnest(ARRAY['sms_otp.api_integrations', 'sms_otp.sms_outbox', 'sms_otp.user_lockouts',
                                      'sms_otp._secret', 'sms_otp.guard_country_policy', 'sms_otp.guard_safe_list',
                                      'sms_otp.guard_decisions', 'sms_otp.guard_blocks', 'sms_otp.guard_counts',
                                      'sms_otp.captcha_tokens']::regclass[]) AS t
                  WHERE EXISTS (SELECT pg_temp.readable(r, t))$$,
                'no client role may read any column of api_integrations, sms_outbox, user_lockouts, _secret, the guard''s tables or captcha_tokens');

--------------------------------------------------------------------------------------------
-- Policies: one per role, named for it
--------------------------------------------------------------------------------------------
SELECT set_eq(
    $$SELECT tablename::text, policyname::text, roles::text, cmd FROM pg_policies WHERE schemaname = 'sms_otp'$$,
    $$VALUES ('sms_otp_sessions', 'own_rows', '{public}', 'SELECT'),
             ('sms_messages_log', 'own_rows', '{public}', 'SELECT'),
             ('user_contact_settings', 'own_rows', '{public}', 'SELECT'),
             ('sms_otp_sessions', 'service_all', '{service_role}', 'ALL'),
             ('sms_messages_log', 'service_all', '{service_role}', 'ALL'),
             ('user_contact_settings', 'service_all', '{service_role}', 'ALL'),
             ('api_integrations', 'service_all', '{service_role}', 'ALL'),
             ('sms_outbox', 'service_all', '{service_role}', 'SELECT'),
             ('sms_templates', 'service_all', '{service_role}', 'ALL'),
             ('sms_categories', 'service_all', '{service_role}', 'ALL'),
             ('sms_keywords', 'service_all', '{service_role}', 'ALL'),
             ('sms_opt_outs', 'service_all', '{service_role}', 'SELECT'),
             ('sms_opt_out_events', 'service_all', '{service_role}', 'SELECT'),
             ('sms_delivery_events', 'service_all', '{service_role}', 'SELECT'),
             ('sms_inbound_messages', 'service_all', '{service_role}', 'SELECT'),
             ('sms_idempotency_keys', 'service_all', '{service_role}', 'SELECT'),
             ('sms_throttles', 'service_all', '{service_role}', 'ALL'),
             ('sms_quiet_hours', 'service_all', '{service_role}', 'ALL'),
             ('sms_campaigns', 'service_all', '{service_role}', 'SELECT'),
             ('sms_campaign_recipients', 'service_all', '{service_role}', 'SELECT'),
             ('sms_prices', 'service_all', '{service_role}', 'ALL'),
             ('stats_messages', 'service_all', '{service_role}', 'SELECT'),
             ('stats_latency', 'service_all', '{service_role}', 'SELECT'),
             ('stats_otp', 'service_all', '{service_role}', 'SELECT'),
             ('guard_country_policy', 'service_all', '{service_role}', 'ALL'),
             ('guard_safe_list', 'service_all', '{service_role}', 'ALL'),
             ('guard_decisions', 'service_all', '{service_role}', 'SELECT'),
             ('guard_blocks', 'service_all', '{service_role}', 'SELECT'),
             ('guard_counts', 'service_all', '{service_role}', 'SELECT')$$,
    'the policies: own rows for everyone (SELECT only), the service role''s own, and nothing else');

--------------------------------------------------------------------------------------------
-- Function grants: the API for everyone, nothing else for any client role
--------------------------------------------------------------------------------------------
CREATE TEMP TABLE api (fn regprocedure);
INSERT INTO api VALUES
    ('sms_otp.otp_send(text, text)'), ('sms_otp.otp_verify(uuid, text)'), ('sms_otp.otp_status()'),
    ('sms_otp.otp_is_verified(interval)'), ('sms_otp.current_user_id()'), ('sms_otp.client_ip()'),
    ('sms_otp.is_service_role()'), ('sms_otp.normalize_phone(text)'), ('sms_otp.reset_lockout(uuid)'),
    ('sms_otp.sms_segments(text)'), ('sms_otp.otp_disable()'),
    -- phase 2: the service role's calls (they check the role themselves) and the providers'
    -- callbacks (they check the provider's signature)
    ('sms_otp.send_transactional(text, text, jsonb, text, text, text, timestamptz, interval, text, text)'),
    ('sms_otp.opt_out(text, text, text)'), ('sms_otp.opt_in(text, text, text)'),
    ('sms_otp.receipt_twilio(text)'), ('sms_otp.receipt_vonage(text)'), ('sms_otp.receipt_messagebird(text)'),
    ('sms_otp.receipt_plivo(text)'), ('sms_otp.receipt_webhook(text)'),
    ('sms_otp.inbound_twilio(text)'), ('sms_otp.inbound_vonage(text)'), ('sms_otp.inbound_messagebird(text)'),
    ('sms_otp.inbound_plivo(text)'), ('sms_otp.inbound_webhook(text)'),
    -- campaigns (the service role's; each checks the role itself)
    ('sms_otp.campaign_create(text, text, text, jsonb, text, jsonb, text, text, jsonb, boolean, timestamptz, interval, text, text[], jsonb)'),
    ('sms_otp.campaign_launch(bigint)'), ('sms_otp.campaign_pause(bigint, text)'), ('sms_otp.campaign_resume(bigint)'),
    ('sms_otp.campaign_cancel(bigint)'), ('sms_otp.campaign_retry_failed(bigint)'),
    ('sms_otp.campaign_progress(bigint)'), ('sms_otp.campaign_recipient(bigint, text)'),
    -- dashboards (the service role's reads check the role themselves; the upkeep takes the
    -- service role or a superuser) and the country of a number (a pure function)
    ('sms_otp.dashboard_delivery(timestamptz, timestamptz, text, text[])'),
    ('sms_otp.dashboard_latency(timestamptz, timestamptz, text, text[])'),
    ('sms_otp.dashboard_otp(timestamptz, timestamptz, text, int)'), ('sms_otp.dashboard_campaigns(timestamptz, int)'),
    ('sms_otp.dashboard_queue()'), ('sms_otp.dashboard_providers()'), ('sms_otp.metrics()'),
    ('sms_otp.stats_compact(int)'), ('sms_otp.stats_prune(int)'), ('sms_otp.stats_rebuild(timestamptz, timestamptz)'),
    ('sms_otp.phone_country(text)'),
    -- the SMS-pumping guard's (each checks the service role itself)
    ('sms_otp.guard_explain(text)'), ('sms_otp.guard_block_list()'), ('sms_otp.guard_block_clear(text, text)');
-- Run as the calling role: by the read policies, and by the check trigger of api_integrations
-- (so that the service role can write providers).
CREATE TEMP TABLE helpers (fn regprocedure);
INSERT INTO helpers VALUES ('sms_otp._login_session()'), ('sms_otp._step_passed()'),
                           ('sms_otp._allowed_host(text)'), ('sms_otp._internal_host(text)'),
-- and by campaign_launch, which runs as its caller so that the audience query does: its check,
-- its errors, and the snapshot (which checks for the service role again).
                           ('sms_otp._require_service_role(text)'), ('sms_otp._raise(text, int, text, text)'),
                           ('sms_otp._campaign_snapshot(bigint, text)'),
-- and by the check constraints on day_zone (sms_throttles, sms_campaigns), as the writing role
                           ('sms_otp._valid_zone(text)');

SELECT ok(has_schema_privilege('public', 'sms_otp', 'USAGE'), 'USAGE on schema sms_otp is granted to PUBLIC');
SELECT set_eq(
    $$SELECT p.oid::regprocedure FROM pg_proc p
      WHERE p.pronamespace = 'sms_otp'::regnamespace AND has_function_privilege('public', p.oid, 'EXECUTE')$$,
    'SELECT fn FROM api UNION ALL SELECT fn FROM helpers',
    'EXECUTE is granted to PUBLIC on exactly the API functions and the helpers the policies, the provider check and campaign_launch call');
SELECT is_empty(
    $$SELECT r.rolname, a.fn FROM api a
      CROSS JOIN (VALUES ('anon'), ('authenticated'), ('service_role')) AS r(rolname)
      WHERE NOT has_function_privilege(r.rolname, a.fn, 'EXECUTE')$$,
    'anon, authenticated and service_role can execute every API function');
SELECT isnt_empty(
    $$SELECT p.oid FROM pg_proc p
      WHERE p.pronamespace = 'sms_otp'::regnamespace
        AND p.oid NOT IN (SELECT fn FROM api UNION ALL SELECT fn FROM helpers)$$,
    'the schema has internal functions to check');
SELECT is_empty(
    $$SELECT r.rolname, p.oid::regprocedure FROM pg_proc p
      CROSS JOIN (VALUES ('anon'), ('authenticated'), ('service_role')) AS r(rolname)
      WHERE p.pronamespace = 'sms_otp'::regnamespace
        AND p.oid NOT IN (SELECT fn FROM api UNION ALL SELECT fn FROM helpers)
        AND has_function_privilege(r.rolname, p.oid, 'EXECUTE')$$,
    'no internal function of sms_otp is executable by anon, authenticated or service_role');

--------------------------------------------------------------------------------------------
-- SECURITY DEFINER hygiene
--------------------------------------------------------------------------------------------
SELECT is_empty(
    $$SELECT p.oid::regprocedure FROM pg_proc p
      WHERE p.pronamespace = 'sms_otp'::regnamespace
        AND (p.proname IN ('otp_send', 'otp_verify', 'otp_status', 'otp_is_verified', 'otp_disable', 'reset_lockout', '_step_passed',
                           'send_transactional', 'opt_out', 'opt_in', '_callback')
             OR p.proname ~ '^(receipt|inbound)_')
        AND NOT p.prosecdef$$,
    'the functions that touch the tables for a client are SECURITY DEFINER');
SELECT is_empty(
    $$SELECT p.oid::regprocedure, p.proconfig FROM pg_proc p
      WHERE p.pronamespace = 'sms_otp'::regnamespace AND p.prosecdef
        AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)$$,
    'every SECURITY DEFINER function in sms_otp pins search_path = pg_catalog, pg_temp (pg_temp last)');

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
