-- Every rule of the API (DESIGN.md §3), each checked so that removing the rule fails the check.
-- The file runs as the superuser; each API call runs as PostgREST would run it (role
-- authenticated, the user's claims, an X-Forwarded-For header) through pg_temp.request().
-- now() is constant in this one transaction: time passes by moving rows into the past.
-- User n is 00000000-0000-4000-8000-0000000000nn with phone +1 415 555 01nn; each signs in once,
-- as login "login-n" (the session_id claim), unless a test says otherwise.
BEGIN;
SELECT plan(182);

--------------------------------------------------------------------------------------------
-- Helpers
--------------------------------------------------------------------------------------------

\ir request.psql

CREATE FUNCTION pg_temp.uid(n int) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
    SELECT ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid
$$;

-- User n calls the API from its login (by default "login-n") and from an address of its own
-- (by default 198.18.x.n).
CREATE FUNCTION pg_temp.rpc(n int, call text, ip text DEFAULT NULL, login text DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.request('authenticated',
                           jsonb_build_object('sub', pg_temp.uid(n), 'role', 'authenticated',
                                              'session_id', coalesce(login, 'login-' || n)),
                           jsonb_build_object('x-forwarded-for',
                                              coalesce(ip, '198.18.' || (n / 256)::text || '.' || (n % 256)::text)),
                           call)
$$;
CREATE FUNCTION pg_temp.send(n int, args text DEFAULT '', ip text DEFAULT NULL, login text DEFAULT NULL) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT pg_temp.rpc(n, 'sms_otp.otp_send(' || args || ')', ip, login)
$$;
CREATE FUNCTION pg_temp.verify(n int, session text, otp text, login text DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.rpc(n, format('sms_otp.otp_verify(%L::uuid, %L)', session, otp), NULL, login)
$$;
-- User n calls with a token that carries no login claim.
CREATE FUNCTION pg_temp.no_login(n int, call text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.request('authenticated', jsonb_build_object('sub', pg_temp.uid(n), 'role', 'authenticated'),
                           jsonb_build_object('x-forwarded-for', '198.18.0.' || n), call)
$$;

-- What the client sees, without the human message: the status and the body, or the status and
-- the code of a raised error.
CREATE FUNCTION pg_temp.seen(r jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT CASE
        WHEN r ? 'sqlstate' THEN r
        WHEN r ? 'error' THEN jsonb_build_object('status', r -> 'status', 'code', r #> '{error,code}')
        WHEN jsonb_typeof(r -> 'body') = 'object' THEN jsonb_build_object('status', r -> 'status') || ((r -> 'body') - 'message')
        ELSE r - 'headers' END
$$;
-- The Retry-After header PostgREST would send.
CREATE FUNCTION pg_temp.retry_after_header(r jsonb) RETURNS int LANGUAGE sql AS $$
    SELECT (h ->> 'Retry-After')::int FROM jsonb_array_elements(r -> 'headers') AS h WHERE h ? 'Retry-After'
$$;

-- The code as the worker reads it from the queued message.
CREATE FUNCTION pg_temp.code_of(session text) RETURNS text LANGUAGE sql AS $$
    SELECT substring(o.body FROM '[0-9]{' || current_setting('sms_otp.code_length') || '}')
    FROM sms_otp.sms_outbox o WHERE o.session_id = session::uuid
$$;
CREATE FUNCTION pg_temp.wrong_code(session text) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN c ~ '^0+$' THEN repeat('1', length(c)) ELSE repeat('0', length(c)) END
    FROM pg_temp.code_of(session) AS c
$$;
CREATE FUNCTION pg_temp.session(id text) RETURNS sms_otp.sms_otp_sessions LANGUAGE sql AS $$
    SELECT * FROM sms_otp.sms_otp_sessions s WHERE s.id = session.id::uuid
$$;
-- A user's wrong codes and lockout as shared memory counts them (where a rollback cannot undo them).
CREATE FUNCTION pg_temp.guesses(n int) RETURNS sms_otp._guesses LANGUAGE sql AS $$
    SELECT sms_otp._guess_check(NULL, NULL, pg_temp.uid(n), 0, NULL)
$$;

--------------------------------------------------------------------------------------------
-- Fixtures: providers, and users 1-30 and 60-79 with SMS codes on (22 has them off)
--------------------------------------------------------------------------------------------
-- Wrong codes and lockouts are counted in shared memory, which outlives this file's rolled-back
-- transaction: start every user of the file from a clean count.
SELECT sms_otp._guess_forget(NULL, pg_temp.uid(n), true)
FROM (SELECT generate_series(1, 30) UNION ALL SELECT generate_series(60, 79)) AS users(n);
-- Hints may pick only "backup": "console" is not selectable, "retired" is not enabled.
INSERT INTO sms_otp.api_integrations (name, kind, priority, enabled, selectable) VALUES
    ('console', 'console', 10, true, false), ('backup', 'console', 20, true, true), ('retired', 'console', 30, false, true);
INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled)
SELECT pg_temp.uid(n), '+1415555' || lpad((100 + n)::text, 4, '0'), n <> 22
FROM generate_series(1, 30) AS n UNION ALL
SELECT pg_temp.uid(n), '+1415555' || lpad((100 + n)::text, 4, '0'), true
FROM generate_series(60, 79) AS n;

--------------------------------------------------------------------------------------------
-- otp_send: one session and one queued outbox row, written together (user 1)
--------------------------------------------------------------------------------------------
SELECT r AS send1, r #>> '{body,session_id}' AS s1 FROM pg_temp.send(1) AS r \gset
SELECT is(pg_temp.seen(:'send1') - 'session_id' - 'expires_at' - 'resend_available_at' - 'server_time',
          '{"status": 200, "attempts_remaining": 5}', 'otp_send: 200 with attempts_remaining = max_attempts');
SELECT is((:'send1'::jsonb #>> '{body,expires_at}')::timestamptz, now() + interval '5 min',
          'otp_send: expires_at is now + otp_ttl');
SELECT is((:'send1'::jsonb #>> '{body,resend_available_at}')::timestamptz, now() + interval '30 s',
          'otp_send: resend_available_at is now + resend_cooldown');
SELECT is((:'send1'::jsonb #>> '{body,server_time}')::timestamptz, now(),
          'otp_send: server_time is the clock the deadlines were set by');
SELECT is(count(*)::int, 1, 'otp_send writes exactly one session')
FROM sms_otp.sms_otp_sessions WHERE user_id = pg_temp.uid(1);
SELECT is(count(*)::int, 1, 'otp_send writes exactly one outbox row')
FROM sms_otp.sms_outbox WHERE user_id = pg_temp.uid(1);
SELECT is((o.session_id::text, o.kind, o.status, o."to", s.outbox_id = o.id, o.created_at = s.created_at)::text,
          (:'s1', 'otp', 'queued', '+14155550101', true, true)::text,
          'the outbox row: same session_id, kind otp, queued to the E.164 number, written in the same transaction')
FROM sms_otp.sms_outbox o JOIN sms_otp.sms_otp_sessions s ON s.id = :'s1' WHERE o.user_id = pg_temp.uid(1);
SELECT is((s.status, s.attempts, s.phone, s.client_ip, s.client_net, s.login_session)::text,
          ('pending', 0, '+14155550101', '198.18.0.1'::inet, '198.18.0.1/32'::cidr, 'login-1')::text,
          'the session: pending, no attempts, the registered phone, the client address (an IPv4 address counts as itself), the login that asked')
FROM sms_otp.sms_otp_sessions s WHERE s.id = :'s1';
SELECT unalike(o.body, '%@%', 'no WebOTP line while sms_otp.webotp_domain is unset')
FROM sms_otp.sms_outbox o WHERE o.session_id = :'s1';

--------------------------------------------------------------------------------------------
-- Codes: digits, random, stored only as a session-keyed 32-byte hash (users 60-79)
--------------------------------------------------------------------------------------------
SET sms_otp.message_template = '{code}';
DO $$ BEGIN PERFORM pg_temp.send(n) FROM generate_series(60, 79) AS n; END $$;
CREATE TEMP TABLE sent AS
SELECT s.id, s.user_id, s.code_hash, o.body AS code
FROM sms_otp.sms_otp_sessions s JOIN sms_otp.sms_outbox o ON o.session_id = s.id
WHERE s.user_id IN (SELECT pg_temp.uid(n) FROM generate_series(60, 79) AS n);
RESET sms_otp.message_template;

SELECT is(count(*)::int, 20, '20 users, 20 sessions, each with its message') FROM sent;
SELECT is_empty($$SELECT code FROM sent WHERE code !~ '^[0-9]{6}$'$$, 'every code is exactly 6 decimal digits');
SELECT cmp_ok(count(DISTINCT code)::int, '>=', 15, 'codes differ between sends (at least 15 distinct of 20)') FROM sent;
SELECT is_empty($$SELECT id FROM sent WHERE length(code_hash) IS DISTINCT FROM 32$$,
                'every session stores a 32-byte hash');
SELECT is_empty(
    $$SELECT id FROM sent
      WHERE code_hash IN (convert_to(code, 'UTF8'), sha256(convert_to(code, 'UTF8')),
                          sha256(convert_to(id::text || ':' || code, 'UTF8')))
         OR position(convert_to(code, 'UTF8') IN code_hash) > 0$$,
    'the hash is neither the code nor an unkeyed digest of it');
SELECT is(count(DISTINCT code_hash)::int, 20, 'no two sessions share a hash') FROM sent;
SELECT is(count(*)::int, 1, 'one secret, of at least 32 bytes') FROM sms_otp._secret WHERE length(key) >= 32;

-- The same code hashes differently in another session: user 61's session given user 60's hash
-- does not accept user 60's code.
SELECT id AS s60, code AS code60 FROM sent WHERE user_id = pg_temp.uid(60) \gset
SELECT id AS s61 FROM sent WHERE user_id = pg_temp.uid(61) \gset
UPDATE sms_otp.sms_otp_sessions SET code_hash = (SELECT code_hash FROM sent WHERE id = :'s60') WHERE id = :'s61';
SELECT is(pg_temp.seen(pg_temp.verify(61, :'s61', :'code60')),
          '{"status": 400, "verified": false, "reason": "invalid_code", "attempts_remaining": 4}',
          'a hash copied from another session does not accept that session''s code (keyed with the session id)');
SELECT is(pg_temp.seen(pg_temp.verify(60, :'s60', :'code60')) - 'session_id', '{"status": 200, "verified": true}',
          'the code verifies in its own session');

--------------------------------------------------------------------------------------------
-- sms_otp.code_length (user 2)
--------------------------------------------------------------------------------------------
SET sms_otp.code_length = 8;
SELECT r #>> '{body,session_id}' AS s2 FROM pg_temp.send(2) AS r \gset
SELECT pg_temp.code_of(:'s2') AS code2 \gset
SELECT matches(o.body, '(^|[^0-9])[0-9]{8}([^0-9]|$)', 'with code_length 8 the message holds an 8-digit code')
FROM sms_otp.sms_outbox o WHERE o.session_id = :'s2';
SELECT is(pg_temp.seen(pg_temp.verify(2, :'s2', left(:'code2', 6))), '{"status": 400, "code": "invalid_code_format"}',
          'with code_length 8 a 6-digit code is refused as malformed');
SELECT is(pg_temp.seen(pg_temp.verify(2, :'s2', :'code2' || '0')), '{"status": 400, "code": "invalid_code_format"}',
          'with code_length 8 a 9-digit code is refused as malformed');
SELECT is((pg_temp.session(:'s2')).attempts, 0, 'malformed codes are not counted as attempts');
SELECT is(pg_temp.seen(pg_temp.verify(2, :'s2', :'code2')) - 'session_id', '{"status": 200, "verified": true}',
          'the 8-digit code verifies');
RESET sms_otp.code_length;

--------------------------------------------------------------------------------------------
-- Wrong code, right code, single use (user 3)
--------------------------------------------------------------------------------------------
SELECT r #>> '{body,session_id}' AS s3 FROM pg_temp.send(3) AS r \gset
SELECT pg_temp.code_of(:'s3') AS code3, pg_temp.wrong_code(:'s3') AS wrong3 \gset
SELECT is(pg_temp.seen(pg_temp.verify(3, :'s3', :'wrong3')),
          '{"status": 400, "verified": false, "reason": "invalid_code", "attempts_remaining": 4}',
          'a wrong code: 400, invalid_code, attempts_remaining 4');
-- The second wrong code, called directly: otp_verify returns (so PostgREST commits the attempt).
SET ROLE authenticated;
SET request.jwt.claims = '{"sub": "00000000-0000-4000-8000-000000000003", "role": "authenticated", "session_id": "login-3"}';
SELECT lives_ok(format('SELECT sms_otp.otp_verify(%L, %L)', :'s3', :'wrong3'),
                'a wrong code returns instead of raising');
SELECT is(current_setting('response.status', true), '400', 'a wrong code sets response.status 400');
RESET ROLE;
SELECT is((pg_temp.session(:'s3')).attempts, 2, 'both wrong codes are counted on the session');
SELECT is(failures, 2, 'both wrong codes are counted against the user') FROM sms_otp.user_lockouts WHERE user_id = pg_temp.uid(3);
SELECT is((pg_temp.guesses(3)).failures, 2, '... in shared memory too, where a rollback cannot undo them');
SELECT is(pg_temp.seen(pg_temp.verify(3, :'s3', :'code3')) - 'session_id', '{"status": 200, "verified": true}',
          'the right code verifies');
SELECT is((s.status, s.verified_at = now(), s.code_hash IS NULL)::text, '(verified,t,t)',
          'the session is verified and keeps no hash') FROM pg_temp.session(:'s3') AS s;
SELECT is(pg_temp.seen(pg_temp.verify(3, :'s3', :'code3')),
          '{"status": 409, "verified": false, "reason": "already_used", "attempts_remaining": 3}',
          'the right code a second time: 409 already_used');

--------------------------------------------------------------------------------------------
-- Attempt cap per session (user 4; max_attempts 5)
--------------------------------------------------------------------------------------------
SELECT r #>> '{body,session_id}' AS s4 FROM pg_temp.send(4) AS r \gset
SELECT pg_temp.code_of(:'s4') AS code4, pg_temp.wrong_code(:'s4') AS wrong4 \gset
SELECT is(array_agg(pg_temp.verify(4, :'s4', :'wrong4') #>> '{body,attempts_remaining}' ORDER BY i),
          ARRAY['4', '3', '2', '1'], 'four wrong codes count attempts_remaining down')
FROM generate_series(1, 4) AS i;
SELECT is(pg_temp.seen(pg_temp.verify(4, :'s4', :'wrong4')),
          '{"status": 403, "verified": false, "reason": "locked", "attempts_remaining": 0}',
          'the fifth wrong code locks the session: 403 locked');
SELECT is((pg_temp.session(:'s4')).status, 'locked', 'the session is locked');
SELECT is(pg_temp.seen(pg_temp.verify(4, :'s4', :'code4')),
          '{"status": 403, "verified": false, "reason": "locked", "attempts_remaining": 0}',
          'a locked session refuses even the right code');
SELECT is((s.status, s.verified_at)::text, '(locked,)', 'the locked session was not verified') FROM pg_temp.session(:'s4') AS s;

--------------------------------------------------------------------------------------------
-- Failures count per user across sessions (user 5; lockout_threshold 3, max_attempts 5)
--------------------------------------------------------------------------------------------
SET sms_otp.lockout_threshold = 3;
SELECT r #>> '{body,session_id}' AS s5a FROM pg_temp.send(5) AS r \gset
SELECT pg_temp.wrong_code(:'s5a') AS wrong5a \gset
SELECT is(array_agg(pg_temp.seen(pg_temp.verify(5, :'s5a', :'wrong5a')) ->> 'reason' ORDER BY i),
          ARRAY['invalid_code', 'invalid_code'], 'two wrong codes in the first session')
FROM generate_series(1, 2) AS i;
UPDATE sms_otp.sms_otp_sessions SET created_at = created_at - interval '1 min' WHERE id = :'s5a';
SELECT r #>> '{body,session_id}' AS s5b FROM pg_temp.send(5) AS r \gset
SELECT pg_temp.code_of(:'s5b') AS code5b, pg_temp.wrong_code(:'s5b') AS wrong5b \gset
SELECT is(pg_temp.seen(pg_temp.verify(5, :'s5b', :'wrong5b')),
          '{"status": 400, "verified": false, "reason": "invalid_code", "attempts_remaining": 4}',
          'one wrong code in a new session (a new code does not reset the count)');
SELECT r AS locked5v FROM pg_temp.verify(5, :'s5b', :'code5b') AS r \gset
SELECT is(pg_temp.seen(:'locked5v') - 'retry_after_seconds', '{"status": 429, "error": "locked_out", "verified": false}',
          'after the third failure the user is locked out: otp_verify answers 429 locked_out, even for the right code');
-- The lockout starts at the third failure, by the clock (now() stands still in this transaction).
SELECT ok(locked_until BETWEEN now() + interval '900 s' AND clock_timestamp() + interval '900 s',
          'the lockout lasts sms_otp.lockout_duration (15 min) from the third failure')
FROM sms_otp.user_lockouts WHERE user_id = pg_temp.uid(5);
SELECT is((pg_temp.guesses(5)).locked_until, locked_until, 'shared memory holds the same lockout')
FROM sms_otp.user_lockouts WHERE user_id = pg_temp.uid(5);
SELECT is((:'locked5v'::jsonb #>> '{body,retry_after_seconds}')::int, ceil(extract(epoch FROM locked_until - now()))::int,
          'otp_verify: retry_after_seconds is what remains of the lockout')
FROM sms_otp.user_lockouts WHERE user_id = pg_temp.uid(5);
SELECT is(pg_temp.retry_after_header(:'locked5v'), (:'locked5v'::jsonb #>> '{body,retry_after_seconds}')::int,
          'otp_verify: the Retry-After header says the same');
SELECT r AS locked5s FROM pg_temp.send(5) AS r \gset
SELECT is(pg_temp.seen(:'locked5s') - 'retry_after_seconds', '{"status": 429, "error": "locked_out"}',
          'a locked-out user cannot ask for a new code: otp_send answers 429 locked_out');
SELECT cmp_ok((:'locked5s'::jsonb #>> '{body,retry_after_seconds}')::int, '>', 0, 'otp_send: retry_after_seconds > 0');
SELECT is(pg_temp.retry_after_header(:'locked5s'), (:'locked5s'::jsonb #>> '{body,retry_after_seconds}')::int,
          'otp_send: Retry-After header = retry_after_seconds');
SELECT is((s.status, s.attempts)::text, '(pending,1)', 'refused while locked out: not verified, not counted')
FROM pg_temp.session(:'s5b') AS s;
-- The table is not the only record: a lockout reached by guesses that rolled back is only in
-- shared memory, so moving the table's row into the past does not lift it.
UPDATE sms_otp.user_lockouts SET locked_until = now() - interval '1 s' WHERE user_id = pg_temp.uid(5);
SELECT is(pg_temp.seen(pg_temp.verify(5, :'s5b', :'code5b')) - 'retry_after_seconds',
          '{"status": 429, "error": "locked_out", "verified": false}',
          'a lockout edited away in the table alone still holds (shared memory keeps it)');
-- Time cannot pass inside this transaction: the service role's reset ends the lockout as its end would.
SELECT is(pg_temp.request('service_role', NULL, NULL, format('sms_otp.reset_lockout(%L)', pg_temp.uid(5))) -> 'status', '200',
          'the service role resets the lockout');
SELECT is(pg_temp.seen(pg_temp.verify(5, :'s5b', :'code5b')) - 'session_id', '{"status": 200, "verified": true}',
          'once the lockout is over the right code verifies: the session outlived it');

-- A right code resets the count (user 6): 2 failures, success, 2 failures is no lockout.
SELECT r #>> '{body,session_id}' AS s6a FROM pg_temp.send(6) AS r \gset
SELECT pg_temp.code_of(:'s6a') AS code6a, pg_temp.wrong_code(:'s6a') AS wrong6a \gset
SELECT pg_temp.verify(6, :'s6a', :'wrong6a') IS NOT NULL AS w1, pg_temp.verify(6, :'s6a', :'wrong6a') IS NOT NULL AS w2 \gset
SELECT is(pg_temp.seen(pg_temp.verify(6, :'s6a', :'code6a')) - 'session_id', '{"status": 200, "verified": true}',
          'two failures, then the right code');
SELECT is(failures, 0, 'the right code resets the user''s failure count') FROM sms_otp.user_lockouts WHERE user_id = pg_temp.uid(6);
UPDATE sms_otp.sms_otp_sessions SET created_at = created_at - interval '1 min' WHERE id = :'s6a';
SELECT r #>> '{body,session_id}' AS s6b FROM pg_temp.send(6) AS r \gset
SELECT pg_temp.code_of(:'s6b') AS code6b, pg_temp.wrong_code(:'s6b') AS wrong6b \gset
SELECT is(array_agg(pg_temp.seen(pg_temp.verify(6, :'s6b', :'wrong6b')) ->> 'reason' ORDER BY i),
          ARRAY['invalid_code', 'invalid_code'], 'two more failures after the reset are not a lockout')
FROM generate_series(1, 2) AS i;
SELECT is(pg_temp.seen(pg_temp.verify(6, :'s6b', :'code6b')) - 'session_id', '{"status": 200, "verified": true}',
          'and the right code still verifies');
RESET sms_otp.lockout_threshold;

--------------------------------------------------------------------------------------------
-- Expiry (user 7)
--------------------------------------------------------------------------------------------
SELECT r #>> '{body,session_id}' AS s7 FROM pg_temp.send(7) AS r \gset
SELECT pg_temp.code_of(:'s7') AS code7 \gset
UPDATE sms_otp.sms_otp_sessions SET expires_at = now() - interval '1 s' WHERE id = :'s7';
SELECT is(pg_temp.seen(pg_temp.verify(7, :'s7', :'code7')),
          '{"status": 400, "verified": false, "reason": "expired", "attempts_remaining": 5}',
          'the right code after expires_at: 400 expired');
SELECT is((s.status, s.verified_at)::text, '(expired,)', 'the session becomes expired') FROM pg_temp.session(:'s7') AS s;

--------------------------------------------------------------------------------------------
-- A new send supersedes the pending one of the same login (user 8)
--------------------------------------------------------------------------------------------
SELECT r #>> '{body,session_id}' AS s8a FROM pg_temp.send(8) AS r \gset
SELECT pg_temp.code_of(:'s8a') AS code8a \gset
UPDATE sms_otp.sms_otp_sessions SET created_at = created_at - interval '31 s' WHERE id = :'s8a';
SELECT r AS send8b, r #>> '{body,session_id}' AS s8b FROM pg_temp.send(8) AS r \gset
SELECT is((:'send8b'::jsonb ->> 'status')::int, 200, 'a second send after the cooldown is accepted');
SELECT is((s.status, s.code_hash IS NULL)::text, '(superseded,t)', 'the first session is superseded and keeps no hash')
FROM pg_temp.session(:'s8a') AS s;
SELECT is((o.status, o.body IS NULL)::text, '(cancelled,t)', 'its queued message is cancelled and its body cleared')
FROM sms_otp.sms_outbox o WHERE o.session_id = :'s8a';
SELECT is((o.status, o.body IS NOT NULL)::text, '(queued,t)', 'the new message is queued')
FROM sms_otp.sms_outbox o WHERE o.session_id = :'s8b';
SELECT is(pg_temp.seen(pg_temp.verify(8, :'s8a', :'code8a')),
          '{"status": 409, "verified": false, "reason": "superseded", "attempts_remaining": 5}',
          'the old code in the old session: 409 superseded');
-- Another login of the same user (another device) asks for a code of its own: this login's code
-- stays pending, and neither login can enter the other's code.
UPDATE sms_otp.sms_otp_sessions SET created_at = created_at - interval '31 s' WHERE id = :'s8b';
SELECT r #>> '{body,session_id}' AS s8c FROM pg_temp.send(8, '', NULL, 'login-8-phone') AS r \gset
SELECT is((s.status, s.code_hash IS NOT NULL)::text, '(pending,t)',
          'a send from another login of the user does not supersede this login''s code')
FROM pg_temp.session(:'s8b') AS s;
SELECT is(pg_temp.seen(pg_temp.verify(8, :'s8b', pg_temp.code_of(:'s8b'), 'login-8-phone')),
          '{"status": 404, "code": "session_not_found"}', 'the code of one login entered in another: 404 session_not_found');
SELECT is(pg_temp.seen(pg_temp.verify(8, :'s8c', pg_temp.code_of(:'s8c'))), '{"status": 404, "code": "session_not_found"}',
          '... either way round');
SELECT is((pg_temp.session(:'s8b')).attempts + (pg_temp.session(:'s8c')).attempts, 0,
          'a code entered in the wrong login costs neither session an attempt');
SELECT is(pg_temp.seen(pg_temp.verify(8, :'s8b', pg_temp.code_of(:'s8b'))) - 'session_id', '{"status": 200, "verified": true}',
          'the new code verifies in its own login');
SELECT is(pg_temp.seen(pg_temp.verify(8, :'s8c', pg_temp.code_of(:'s8c'), 'login-8-phone')) - 'session_id',
          '{"status": 200, "verified": true}', 'and the other login''s code in that login');

--------------------------------------------------------------------------------------------
-- Rate limits
--------------------------------------------------------------------------------------------
-- Resend cooldown (user 9).
SELECT pg_temp.send(9) IS NOT NULL AS first9 \gset
SELECT r AS again9 FROM pg_temp.send(9) AS r \gset
SELECT is(pg_temp.seen(:'again9') - 'retry_after_seconds', '{"status": 429, "error": "rate_limited", "limit": "cooldown"}',
          'a second send within 30 s: 429 rate_limited, limit cooldown');
SELECT ok((:'again9'::jsonb #>> '{body,retry_after_seconds}')::int BETWEEN 1 AND 30,
          'cooldown: retry_after_seconds between 1 and 30');
SELECT is(pg_temp.retry_after_header(:'again9'), (:'again9'::jsonb #>> '{body,retry_after_seconds}')::int,
          'cooldown: Retry-After header = retry_after_seconds');
SELECT is((SELECT count(*) FROM sms_otp.sms_otp_sessions WHERE user_id = pg_temp.uid(9))
          + (SELECT count(*) FROM sms_otp.sms_outbox WHERE user_id = pg_temp.uid(9)), 2::bigint,
          'a rate-limited send writes no session and queues nothing');

SET sms_otp.resend_cooldown = 0;
-- Per user per minute (user 10): five sends, each to a new number from a new address, so only
-- the per-user count reaches the limit.
DO $$
BEGIN
    FOR i IN 1..5 LOOP
        UPDATE sms_otp.user_contact_settings SET phone = '+141555501' || (90 + i) WHERE user_id = pg_temp.uid(10);
        PERFORM pg_temp.send(10, '', '198.19.0.' || i);
    END LOOP;
END $$;
SELECT is(count(*)::int, 5, 'five sends within a minute are accepted') FROM sms_otp.sms_otp_sessions WHERE user_id = pg_temp.uid(10);
UPDATE sms_otp.user_contact_settings SET phone = '+14155550196' WHERE user_id = pg_temp.uid(10);
SELECT is(pg_temp.seen(pg_temp.send(10, '', '198.19.0.6')),
          '{"status": 429, "error": "rate_limited", "limit": "user_per_minute", "retry_after_seconds": 60}',
          'the sixth send within a minute: 429 user_per_minute');

-- Per user per day (user 11): ten earlier sends (to a former number) over the last 23 hours.
INSERT INTO sms_otp.sms_otp_sessions (user_id, phone, status, max_attempts, created_at, expires_at, resend_available_at)
SELECT pg_temp.uid(11), '+14155550190', 'expired', 5, t, t + interval '5 min', t + interval '30 s'
FROM (SELECT now() - interval '23 hours' + i * interval '2 hours' AS t FROM generate_series(0, 9) AS i) AS times;
SELECT r AS day11 FROM pg_temp.send(11) AS r \gset
SELECT is(pg_temp.seen(:'day11') - 'retry_after_seconds', '{"status": 429, "error": "rate_limited", "limit": "user_per_day"}',
          'the eleventh send in a day: 429 user_per_day');
SELECT is((:'day11'::jsonb #>> '{body,retry_after_seconds}')::int, 3600,
          'user_per_day: retry_after_seconds is when the oldest send leaves the window (1 h)');
UPDATE sms_otp.sms_otp_sessions SET created_at = now() - interval '24 hours 1 second'
WHERE user_id = pg_temp.uid(11) AND created_at = now() - interval '23 hours';
SELECT is((pg_temp.send(11) ->> 'status')::int, 200, 'once the oldest is a day old the send is accepted');

-- Per address: limits of their own (sms_otp.ip_rate_limit_per_minute 30, ..._per_day 500), larger
-- than the per-user ones because offices and carriers put many people behind one address.
-- Per minute: 28 sends by other people from 203.0.113.77 within the minute, then users 12 and 13.
INSERT INTO sms_otp.sms_otp_sessions (user_id, phone, client_ip, client_net, status, max_attempts, expires_at, resend_available_at)
SELECT gen_random_uuid(), '+1415555' || (2000 + i), '203.0.113.77', '203.0.113.77/32', 'expired', 5,
       now() + interval '5 min', now()
FROM generate_series(1, 28) AS i;
SELECT is(jsonb_build_array(pg_temp.send(12, '', '203.0.113.77') -> 'status', pg_temp.send(13, '', '203.0.113.77') -> 'status'),
          '[200, 200]', 'the 29th and 30th sends from one address within a minute are accepted');
SELECT is(pg_temp.seen(pg_temp.send(13, '', '203.0.113.77')),
          '{"status": 429, "error": "rate_limited", "limit": "ip_per_minute", "retry_after_seconds": 60}',
          'the 31st send from one address within a minute: 429 ip_per_minute');
SELECT is((pg_temp.send(14, '', '203.0.113.78') ->> 'status')::int, 200, 'another address is not limited');
SELECT is((pg_temp.send(12, '', '203.0.113.79') ->> 'status')::int, 200, 'the limit is the address''s, not the user''s');
-- Per day: 499 sends from 203.0.113.90 over the last 23 hours (none within the minute), then
-- users 27 and 28.
INSERT INTO sms_otp.sms_otp_sessions (user_id, phone, client_ip, client_net, status, max_attempts, created_at, expires_at,
                                      resend_available_at)
SELECT gen_random_uuid(), '+1415556' || (2000 + i), '203.0.113.90', '203.0.113.90/32', 'expired', 5, t, t + interval '5 min', t
FROM (SELECT i, now() - interval '23 hours' + i * interval '2 min' AS t FROM generate_series(0, 498) AS i) AS times;
SELECT is((pg_temp.send(27, '', '203.0.113.90') ->> 'status')::int, 200, 'the 500th send from one address in a day is accepted');
SELECT is(pg_temp.seen(pg_temp.send(28, '', '203.0.113.90')),
          '{"status": 429, "error": "rate_limited", "limit": "ip_per_day", "retry_after_seconds": 3600}',
          'the 501st: 429 ip_per_day, until the oldest send leaves the window (1 h)');
-- IPv6 clients are counted by network, sms_otp.ipv6_prefix bits (64) long: one subscriber gets
-- a whole /64 and could rotate addresses within it.
SELECT is(s.client_net, '2001:db8:a:b::/64'::cidr, 'an IPv6 client is counted by its /64')
FROM sms_otp.sms_otp_sessions s WHERE s.id = (pg_temp.send(29, '', '2001:db8:a:b:c:d:e:f') #>> '{body,session_id}')::uuid;
SET sms_otp.ipv6_prefix = 48;
SELECT is(s.client_net, '2001:db8:a::/48'::cidr, 'with ipv6_prefix 48, by its /48')
FROM sms_otp.sms_otp_sessions s WHERE s.id = (pg_temp.send(29, '', '2001:db8:a:b:c:d:e:f') #>> '{body,session_id}')::uuid;
RESET sms_otp.ipv6_prefix;

-- Per phone (users 15 and 16 share a number, each from an address of its own).
UPDATE sms_otp.user_contact_settings SET phone = '+14155550115' WHERE user_id = pg_temp.uid(16);
DO $$
BEGIN
    PERFORM pg_temp.send(15) FROM generate_series(1, 3);
    PERFORM pg_temp.send(16) FROM generate_series(1, 2);
END $$;
SELECT is(pg_temp.seen(pg_temp.send(16)),
          '{"status": 429, "error": "rate_limited", "limit": "phone_per_minute", "retry_after_seconds": 60}',
          'two users sharing a number share its limit: 429 phone_per_minute');
RESET sms_otp.resend_cooldown;

--------------------------------------------------------------------------------------------
-- The client address and trusted proxies (user 17)
--------------------------------------------------------------------------------------------
SELECT is(pg_temp.rpc(17, 'sms_otp.client_ip()', 'spoofed, 203.0.113.9') ->> 'body', '203.0.113.9',
          'trusted_proxies 1: the right-most entry, written by the proxy');
SELECT is(pg_temp.rpc(17, 'sms_otp.client_ip()', '198.51.100.66, 203.0.113.9') ->> 'body', '203.0.113.9',
          'trusted_proxies 1: a forged address on the left is ignored');
-- The client writes everything left of the proxy's entry, so how much it writes must not matter.
SELECT is(pg_temp.rpc(17, 'sms_otp.client_ip()', repeat('198.51.100.66, ', 300) || '203.0.113.9') ->> 'body', '203.0.113.9',
          'trusted_proxies 1: a client-padded header (over 4 kB) still yields the proxy''s entry');
SET sms_otp.trusted_proxies = 2;
SELECT is(pg_temp.rpc(17, 'sms_otp.client_ip()', 'a, 203.0.113.9, 10.0.0.1') ->> 'body', '203.0.113.9',
          'trusted_proxies 2: the second entry from the right');
SET sms_otp.trusted_proxies = 0;
SELECT is((pg_temp.rpc(17, 'sms_otp.client_ip()', '203.0.113.9') ->> 'body')::inet, inet_client_addr(),
          'trusted_proxies 0: the header is ignored, the connection address is used');
RESET sms_otp.trusted_proxies;
SELECT is((pg_temp.rpc(17, 'sms_otp.client_ip()', 'not an address') ->> 'body')::inet, inet_client_addr(),
          'a garbage header falls back to the connection address');
SELECT is((pg_temp.rpc(17, 'sms_otp.client_ip()', '203.0.113.9, 999.1.1.1') ->> 'body')::inet, inet_client_addr(),
          'an invalid right-most entry falls back to the connection address (never to a left entry)');

--------------------------------------------------------------------------------------------
-- Settings: superuser-only, and checked
--------------------------------------------------------------------------------------------
SET ROLE authenticated;
SELECT throws_ok(format('SET %s = %L', g, v), '42501', NULL, format('a client cannot SET %s', g))
FROM (VALUES ('sms_otp.code_length', '4'), ('sms_otp.otp_ttl', '1d'), ('sms_otp.max_attempts', '100'),
             ('sms_otp.resend_cooldown', '0'), ('sms_otp.rate_limit_per_minute', '1000'),
             ('sms_otp.rate_limit_per_day', '1000'), ('sms_otp.trusted_proxies', '16'),
             ('sms_otp.lockout_threshold', '1000'), ('sms_otp.lockout_duration', '1'),
             ('sms_otp.verified_ttl', '30d'), ('sms_otp.service_role', 'authenticated'),
             ('sms_otp.webotp_domain', 'attacker.example'), ('sms_otp.message_template', 'Call +1 555 {code}'),
             ('sms_otp.default_region', 'US'), ('sms_otp.ip_rate_limit_per_minute', '1000000'),
             ('sms_otp.ip_rate_limit_per_day', '1000000'), ('sms_otp.ipv6_prefix', '128'),
             ('sms_otp.login_claim', 'sub'), ('sms_otp.login_fallback', 'user')) AS settings(g, v);
SELECT throws_ok($$SELECT set_config('sms_otp.service_role', 'authenticated', false)$$, '42501', NULL,
                 'a client cannot make itself the service role with set_config');
RESET ROLE;
-- The host allow-list is read from the server's configuration only, by the worker too.
SELECT throws_ok($$SET sms_otp.http_allowed_hosts = '10.0.0.1'$$, '55P02', NULL,
                 'sms_otp.http_allowed_hosts cannot be SET in a session, even by a superuser');
SELECT throws_ok(format('SET %s = %L', g, v), '22023', NULL, format('%s = %L is refused', g, v))
FROM (VALUES ('sms_otp.code_length', '3'), ('sms_otp.code_length', '11'), ('sms_otp.otp_ttl', '-5min'),
             ('sms_otp.max_attempts', '0'), ('sms_otp.resend_cooldown', '-1'),
             ('sms_otp.rate_limit_per_minute', '0'), ('sms_otp.rate_limit_per_day', '0'),
             ('sms_otp.trusted_proxies', '-1'), ('sms_otp.lockout_threshold', '0'),
             ('sms_otp.webotp_domain', 'bad domain!'), ('sms_otp.message_template', 'no code here'),
             ('sms_otp.default_region', 'usa'), ('sms_otp.service_role', ''),
             ('sms_otp.ip_rate_limit_per_minute', '0'), ('sms_otp.ip_rate_limit_per_day', '0'),
             ('sms_otp.ipv6_prefix', '31'), ('sms_otp.ipv6_prefix', '129'), ('sms_otp.login_claim', ''),
             ('sms_otp.login_claim', 'session id'), ('sms_otp.login_fallback', 'none')) AS settings(g, v);

--------------------------------------------------------------------------------------------
-- The phone argument must be the registered number (user 18)
--------------------------------------------------------------------------------------------
SELECT is(pg_temp.seen(pg_temp.send(18, $$phone => '+1 415 555 0199'$$)), '{"status": 400, "code": "phone_mismatch"}',
          'another number: 400 phone_mismatch');
SELECT is(pg_temp.seen(pg_temp.send(18, $$phone => '555'$$)), '{"status": 400, "code": "invalid_phone"}',
          'not a number: 400 invalid_phone');
SELECT is(count(*)::int, 0, 'refused sends write nothing') FROM sms_otp.sms_otp_sessions WHERE user_id = pg_temp.uid(18);
SELECT is((pg_temp.send(18, $$phone => '+1 (415) 555-0118'$$) ->> 'status')::int, 200,
          'the registered number in another format is accepted');
SELECT is(phone, '+14155550118', 'the session holds the E.164 number') FROM sms_otp.sms_otp_sessions WHERE user_id = pg_temp.uid(18);

--------------------------------------------------------------------------------------------
-- provider_hint (user 19): a preference among the enabled providers marked selectable. Any other
-- hint is dropped without a word, so the configured order applies and no answer tells which
-- providers exist. One send per hint, each from a login of its own.
--------------------------------------------------------------------------------------------
SET sms_otp.resend_cooldown = 0;
CREATE TEMP TABLE hints AS
SELECT h.hint, h.label, pg_temp.send(19, format('provider_hint => %L', h.hint), NULL, 'login-19-' || h.i) AS r
FROM (VALUES (1, 'backup', 'enabled and selectable'), (2, 'console', 'enabled, not selectable'),
             (3, 'retired', 'selectable, not enabled'), (4, 'nope', 'unknown'),
             (5, 'BACKUP', 'a selectable name in other letters')) AS h(i, hint, label);
RESET sms_otp.resend_cooldown;
SELECT is(jsonb_build_object('status', h.r -> 'status', 'provider_hint', o.provider_hint),
          jsonb_build_object('status', 200, 'provider_hint', CASE WHEN h.hint = 'backup' THEN 'backup' END),
          format('provider_hint %L (%s): 200, and the queued message carries %s', h.hint, h.label,
                 CASE WHEN h.hint = 'backup' THEN 'the hint' ELSE 'no hint' END))
FROM hints h JOIN sms_otp.sms_outbox o ON o.session_id = (h.r #>> '{body,session_id}')::uuid
ORDER BY h.hint = 'backup' DESC, h.hint;
SELECT is(count(DISTINCT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(h.r -> 'body') AS k)::text || (h.r ->> 'status'))::int,
          1, 'the answers for a selectable, an unselectable, a disabled and an unknown provider look alike')
FROM hints h;

--------------------------------------------------------------------------------------------
-- WebOTP line (user 20)
--------------------------------------------------------------------------------------------
SET sms_otp.webotp_domain = 'example.com';
SELECT r #>> '{body,session_id}' AS s20 FROM pg_temp.send(20) AS r \gset
RESET sms_otp.webotp_domain;
SELECT pg_temp.code_of(:'s20') AS code20 \gset
SELECT is(substring(o.body FROM E'\n([^\n]*)$'), '@example.com #' || :'code20',
          'the message ends with the line @example.com #<code>')
FROM sms_otp.sms_outbox o WHERE o.session_id = :'s20';
SELECT is(pg_temp.seen(pg_temp.verify(20, :'s20', :'code20')) - 'session_id', '{"status": 200, "verified": true}',
          'the code on the WebOTP line is the session''s code');

--------------------------------------------------------------------------------------------
-- otp_status() (user 21; user 22 has SMS codes off)
--------------------------------------------------------------------------------------------
SELECT is((pg_temp.rpc(21, 'sms_otp.otp_status()') -> 'body') - 'phone_hint' - 'next_send_at' - 'server_time',
          '{"otp_required": true, "verified": false, "session": null, "enrolment": null, "reverify_until": null}',
          'otp_status before a send: required, not verified, no session, no enrolment');
SELECT r #>> '{body,session_id}' AS s21 FROM pg_temp.send(21) AS r \gset
SELECT r -> 'body' AS status21 FROM pg_temp.rpc(21, 'sms_otp.otp_status()') AS r \gset
SELECT is(:'status21'::jsonb #>> '{session,session_id}', :'s21', 'otp_status after a send: the pending session');
SELECT is((:'status21'::jsonb #>> '{session,attempts_remaining}')::int, 5, 'otp_status: attempts_remaining');
SELECT is((:'status21'::jsonb #>> '{session,resend_available_at}')::timestamptz, now() + interval '30 s',
          'otp_status: resend_available_at');
SELECT cmp_ok((:'status21'::jsonb ->> 'next_send_at')::timestamptz, '>=',
              (:'status21'::jsonb #>> '{session,resend_available_at}')::timestamptz,
              'otp_status: next_send_at is not before resend_available_at while cooling down');
SELECT pg_temp.verify(21, :'s21', pg_temp.wrong_code(:'s21')) IS NOT NULL AS wrong21 \gset
SELECT is((pg_temp.rpc(21, 'sms_otp.otp_status()') #>> '{body,session,attempts_remaining}')::int, 4,
          'otp_status: attempts_remaining after a wrong code');
SELECT is(count(*)::int, 1, 'otp_status sends nothing') FROM sms_otp.sms_outbox WHERE user_id = pg_temp.uid(21);
SELECT is((pg_temp.rpc(21, 'sms_otp.otp_status()', NULL, 'login-21-phone') -> 'body') - 'phone_hint' - 'next_send_at' - 'server_time',
          '{"otp_required": true, "verified": false, "session": null, "enrolment": null, "reverify_until": null}',
          'otp_status in another login of the user: that login has no session (a code belongs to its login)');
SELECT is(pg_temp.seen(pg_temp.no_login(21, 'sms_otp.otp_status()')), '{"status": 401, "code": "no_login_session"}',
          'otp_status without a login claim, for a user with SMS codes on: 401 no_login_session');
SELECT is((pg_temp.rpc(22, 'sms_otp.otp_status()') -> 'body') - 'server_time' - 'next_send_at',
          '{"otp_required": false, "verified": true, "session": null, "enrolment": null, "reverify_until": null}',
          'otp_status for a user with SMS codes off');
SELECT is((pg_temp.no_login(22, 'sms_otp.otp_status()') -> 'body') - 'server_time' - 'next_send_at',
          '{"otp_required": false, "verified": true, "session": null, "enrolment": null, "reverify_until": null}',
          'otp_status for a user with SMS codes off needs no login claim');

--------------------------------------------------------------------------------------------
-- otp_is_verified() (user 23; 22 has SMS codes off)
--------------------------------------------------------------------------------------------
SELECT is(pg_temp.rpc(23, 'sms_otp.otp_is_verified()') -> 'body', 'false', 'otp_is_verified before verifying: false');
SELECT r #>> '{body,session_id}' AS s23 FROM pg_temp.send(23) AS r \gset
SELECT pg_temp.verify(23, :'s23', pg_temp.code_of(:'s23')) IS NOT NULL AS ok23 \gset
SELECT is(pg_temp.rpc(23, 'sms_otp.otp_is_verified()') -> 'body', 'true', 'otp_is_verified after verifying: true');
UPDATE sms_otp.sms_otp_sessions SET verified_at = now() - interval '10 min' WHERE id = :'s23';
SELECT is(pg_temp.rpc(23, $$sms_otp.otp_is_verified('5 minutes')$$) -> 'body', 'false',
          'verified 10 minutes ago does not satisfy max_age 5 minutes');
SELECT is(pg_temp.rpc(23, $$sms_otp.otp_is_verified('1 hour')$$) -> 'body', 'true',
          'verified 10 minutes ago satisfies max_age 1 hour');
UPDATE sms_otp.sms_otp_sessions SET verified_at = now() - interval '13 hours' WHERE id = :'s23';
SELECT is(pg_temp.rpc(23, 'sms_otp.otp_is_verified()') -> 'body', 'false',
          'verified 13 hours ago is past the default sms_otp.verified_ttl (12 h)');
SELECT is(pg_temp.rpc(22, 'sms_otp.otp_is_verified()') -> 'body', 'true', 'a user with SMS codes off counts as verified');
SELECT is(pg_temp.request('anon', NULL, NULL, 'sms_otp.otp_is_verified()') -> 'body', 'false',
          'anon (no claims) is not verified');

-- A verification belongs to the login session of the token it was made with (user 24).
SELECT r #>> '{body,session_id}' AS s24
FROM pg_temp.request('authenticated', jsonb_build_object('sub', pg_temp.uid(24), 'session_id', 's1'),
                     '{"x-forwarded-for": "198.18.0.24"}', 'sms_otp.otp_send()') AS r \gset
SELECT is(pg_temp.seen(pg_temp.request('authenticated', jsonb_build_object('sub', pg_temp.uid(24), 'session_id', 's1'),
                                       '{"x-forwarded-for": "198.18.0.24"}',
                                       format('sms_otp.otp_verify(%L, %L)', :'s24', pg_temp.code_of(:'s24')))) - 'session_id',
          '{"status": 200, "verified": true}', 'verified with login session s1');
SELECT is(pg_temp.request('authenticated', jsonb_build_object('sub', pg_temp.uid(24), 'session_id', 's1'), NULL,
                          'sms_otp.otp_is_verified()') -> 'body', 'true', 'counts for a token of login session s1');
SELECT is(pg_temp.request('authenticated', jsonb_build_object('sub', pg_temp.uid(24), 'session_id', 's2'), NULL,
                          'sms_otp.otp_is_verified()') -> 'body', 'false', 'does not count for a token of login session s2');

--------------------------------------------------------------------------------------------
-- The login claim (user 25): codes are asked for, entered and shown only within one login
--------------------------------------------------------------------------------------------
SELECT r #>> '{body,session_id}' AS s25 FROM pg_temp.send(25) AS r \gset
SELECT pg_temp.code_of(:'s25') AS code25 \gset
SELECT is(pg_temp.seen(pg_temp.no_login(25, 'sms_otp.otp_send()')), '{"status": 401, "code": "no_login_session"}',
          'otp_send with a token that names no login: 401 no_login_session');
SELECT is(pg_temp.seen(pg_temp.no_login(25, format('sms_otp.otp_verify(%L, %L)', :'s25', :'code25'))),
          '{"status": 401, "code": "no_login_session"}', 'otp_verify, even with the right code: 401 no_login_session');
SELECT is(pg_temp.seen(pg_temp.request('authenticated', jsonb_build_object('sub', pg_temp.uid(25), 'session_id', ''), NULL,
                                       format('sms_otp.otp_verify(%L, %L)', :'s25', :'code25'))),
          '{"status": 401, "code": "no_login_session"}', 'an empty login claim is no login');
SELECT is(pg_temp.no_login(25, 'sms_otp.otp_is_verified()') -> 'body', 'false', 'otp_is_verified without a login claim: false');
SELECT is((s.status, s.attempts)::text, '(pending,0)', 'the session is untouched by calls without a login')
FROM pg_temp.session(:'s25') AS s;
SELECT is(pg_temp.seen(pg_temp.verify(25, :'s25', :'code25')) - 'session_id', '{"status": 200, "verified": true}',
          'its own login enters the code');
-- sms_otp.login_fallback = user: tokens without the claim are accepted, with no binding to a login.
SET sms_otp.login_fallback = 'user';
UPDATE sms_otp.sms_otp_sessions SET created_at = created_at - interval '31 s' WHERE id = :'s25';
SELECT r #>> '{body,session_id}' AS s25u FROM pg_temp.no_login(25, 'sms_otp.otp_send()') AS r \gset
SELECT is((pg_temp.session(:'s25u')).login_session, 'user', 'login_fallback = user: a token without the claim may send');
SELECT is(pg_temp.seen(pg_temp.no_login(25, format('sms_otp.otp_verify(%L, %L)', :'s25u', pg_temp.code_of(:'s25u')))) - 'session_id',
          '{"status": 200, "verified": true}', 'login_fallback = user: ... and verify');
RESET sms_otp.login_fallback;

--------------------------------------------------------------------------------------------
-- reset_lockout (user 26): the service role's, forgets the lockout in the table and in shared memory
--------------------------------------------------------------------------------------------
SET sms_otp.lockout_threshold = 1;
SELECT r #>> '{body,session_id}' AS s26 FROM pg_temp.send(26) AS r \gset
SELECT pg_temp.code_of(:'s26') AS code26 \gset
SELECT pg_temp.verify(26, :'s26', pg_temp.wrong_code(:'s26')) IS NOT NULL AS wrong26 \gset
RESET sms_otp.lockout_threshold;
SELECT is(pg_temp.seen(pg_temp.verify(26, :'s26', :'code26')) ->> 'error', 'locked_out', 'user 26 is locked out');
SELECT is(pg_temp.seen(pg_temp.rpc(26, format('sms_otp.reset_lockout(%L)', pg_temp.uid(26)))),
          '{"status": 403, "code": "forbidden"}', 'a user cannot reset their own lockout: 403 forbidden');
SELECT is(pg_temp.seen(pg_temp.request('anon', NULL, NULL, format('sms_otp.reset_lockout(%L)', pg_temp.uid(26)))),
          '{"status": 403, "code": "forbidden"}', 'anon cannot reset a lockout: 403 forbidden');
SELECT ok((pg_temp.guesses(26)).locked_until > now() AND
          (SELECT l.locked_until > now() FROM sms_otp.user_lockouts l WHERE l.user_id = pg_temp.uid(26)),
          'refused resets leave the lockout in the table and in shared memory');
SELECT is(pg_temp.request('service_role', NULL, NULL, format('sms_otp.reset_lockout(%L)', pg_temp.uid(26))),
          '{"status": 200, "body": "", "headers": null}', 'the service role resets it');
SELECT is((SELECT count(*)::int FROM sms_otp.user_lockouts l WHERE l.user_id = pg_temp.uid(26)), 0,
          'reset_lockout removes the user''s row of user_lockouts');
SELECT is(pg_temp.guesses(26), '(,0,)'::sms_otp._guesses, 'reset_lockout forgets the user''s failures and lockout in shared memory');
SELECT is(pg_temp.seen(pg_temp.verify(26, :'s26', :'code26')) - 'session_id', '{"status": 200, "verified": true}',
          'after the reset the right code verifies');

SELECT * FROM finish();
ROLLBACK;
