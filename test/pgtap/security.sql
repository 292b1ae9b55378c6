-- The adversarial suite: each hole found in 1.0, attacked the way it was found, from a plain
-- login role, from `authenticated` with forged claims, and through the tables directly.
-- Each test here failed on 1.0 (what 1.0 did is said beside it) and passes on 1.1.
-- Users: 5ec0000N-0000-4000-8000-00000000000N, used by no other suite (wrong codes are counted
-- in shared memory, which outlives this file's rolled-back transaction).
BEGIN;
SELECT plan(79);

\ir request.psql

-- One call as `authenticated` with the given sub and login (session_id), from an address.
CREATE FUNCTION pg_temp.as_user(n int, login text, call text, ip text DEFAULT '198.51.100.1') RETURNS jsonb
LANGUAGE sql AS $$
    SELECT pg_temp.request('authenticated',
        jsonb_build_object('sub', format('5ec0000%s-0000-4000-8000-00000000000%s', n, n), 'role', 'authenticated')
        || CASE WHEN login IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('session_id', login) END,
        jsonb_build_object('x-forwarded-for', ip), call)
$$;
CREATE FUNCTION pg_temp.uid(n int) RETURNS uuid LANGUAGE sql AS $$
    SELECT format('5ec0000%s-0000-4000-8000-00000000000%s', n, n)::uuid
$$;
-- The code of a session, as only the server knows it (from the queued message).
CREATE FUNCTION pg_temp.code_of(session uuid) RETURNS text LANGUAGE sql AS $$
    SELECT substring(o.body FROM '[0-9]{6}') FROM sms_otp.sms_outbox o
    JOIN sms_otp.sms_otp_sessions s ON s.outbox_id = o.id WHERE s.id = session
$$;
-- The same call, in a subtransaction that is then rolled back (BEGIN; ...; ROLLBACK).
CREATE FUNCTION pg_temp.rolled_back(n int, login text, call text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    BEGIN
        r := pg_temp.as_user(n, login, call);
        RAISE EXCEPTION 'undo';
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
    RETURN r;
END $$;
-- The plan of a query run as role with claims.
CREATE FUNCTION pg_temp.full_plan(role text, claims jsonb, query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    line text;
    plan text := '';
BEGIN
    PERFORM set_config('request.jwt.claims', claims::text, true);
    EXECUTE format('SET LOCAL ROLE %I', role);
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        plan := plan || line || E'\n';
    END LOOP;
    RESET ROLE;
    RETURN plan;
END $$;
-- A query's row count as role with claims, or the SQLSTATE it failed with.
CREATE FUNCTION pg_temp.rows_as(role text, claims jsonb, query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM set_config('request.jwt.claims', coalesce(claims::text, ''), true);
    BEGIN
        EXECUTE format('SET LOCAL ROLE %I', role);
        EXECUTE 'SELECT count(*) FROM (' || query || ') q' INTO n;
        RESET ROLE;
        RETURN n::text;
    EXCEPTION WHEN OTHERS THEN
        RETURN SQLSTATE;
    END;
END $$;
-- A statement run as role: 'ok', or the SQLSTATE it failed with.
CREATE FUNCTION pg_temp.exec_as(role text, statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SET LOCAL ROLE %I', role);
    EXECUTE statement;
    RESET ROLE;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END $$;
CREATE FUNCTION pg_temp.claims(n int, login text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('sub', pg_temp.uid(n)::text, 'role', 'authenticated', 'session_id', login)
$$;

-- Fixtures: providers and users 1..9 with SMS codes on (9: off), no cooldown between sends.
SET LOCAL sms_otp.resend_cooldown = 0;
INSERT INTO sms_otp.api_integrations (name, kind, priority, selectable) VALUES
    ('console', 'console', 10, false),
    ('backup', 'console', 20, true);
INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled)
SELECT pg_temp.uid(n), '+1415555' || lpad((200 + n)::text, 4, '0'), n <> 9 FROM generate_series(1, 9) n;
SELECT sms_otp._guess_forget(NULL, pg_temp.uid(n), true) FROM generate_series(1, 9) n;

--------------------------------------------------------------------------------------------
-- 1. Privilege escalation through type names (1.0: search_path = '' searched pg_temp first
--    for types, so a temp domain's CHECK ran the caller's function as the extension's owner).
--------------------------------------------------------------------------------------------
CREATE TABLE public.pwned (who text);
GRANT INSERT, SELECT ON public.pwned TO PUBLIC;
CREATE ROLE sec_mallory LOGIN;
GRANT authenticated TO sec_mallory;
CREATE SCHEMA sec_evil AUTHORIZATION sec_mallory;

SET LOCAL ROLE sec_mallory;
CREATE FUNCTION pg_temp.evil(anyelement) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.pwned VALUES (current_user);
    IF current_user <> 'sec_mallory' THEN
        EXECUTE 'ALTER ROLE sec_mallory SUPERUSER';
    END IF;
    RETURN true;
END $$;
CREATE DOMAIN pg_temp.uuid AS pg_catalog.uuid CHECK (pg_temp.evil(VALUE));
CREATE DOMAIN pg_temp.jsonb AS pg_catalog.jsonb CHECK (pg_temp.evil(VALUE));
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (pg_temp.evil(VALUE));
CREATE DOMAIN pg_temp.timestamptz AS pg_catalog.timestamptz CHECK (pg_temp.evil(VALUE));
CREATE DOMAIN pg_temp.inet AS pg_catalog.inet CHECK (pg_temp.evil(VALUE));
CREATE DOMAIN pg_temp.cidr AS pg_catalog.cidr CHECK (pg_temp.evil(VALUE));
CREATE DOMAIN pg_temp.bytea AS pg_catalog.bytea CHECK (pg_temp.evil(VALUE));
SELECT set_config('request.jwt.claims', pg_temp.claims(1, 'evil')::pg_catalog.text, true) IS NOT NULL AS claims_set \gset
DO $$
BEGIN
    BEGIN PERFORM sms_otp.otp_is_verified(); EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN PERFORM sms_otp.otp_status(); EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN PERFORM sms_otp.otp_send(); EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN PERFORM sms_otp.otp_verify(gen_random_uuid(), '123456'); EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN PERFORM sms_otp.current_user_id(); EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN PERFORM sms_otp.client_ip(); EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN PERFORM sms_otp.is_service_role(); EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN PERFORM sms_otp.normalize_phone('+14155550100'); EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN PERFORM sms_otp.reset_lockout(gen_random_uuid()); EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN PERFORM count(*) FROM sms_otp.sms_otp_sessions; EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN PERFORM count(*) FROM sms_otp.sms_messages_log; EXCEPTION WHEN OTHERS THEN NULL; END;
END $$;
-- An operator of its own for (name, text), first in the path: 1.0's is_service_role() was SQL
-- inlined into the caller's query, and compared role names with whatever "=" the path found.
CREATE FUNCTION sec_evil.always(name, pg_catalog.text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR sec_evil.= (LEFTARG = name, RIGHTARG = pg_catalog.text, FUNCTION = sec_evil.always);
SET LOCAL search_path = sec_evil, pg_catalog, public;
SELECT sms_otp.is_service_role() AS fooled \gset
RESET search_path;
RESET ROLE;
DROP DOMAIN pg_temp.uuid, pg_temp.jsonb, pg_temp.text, pg_temp.timestamptz, pg_temp.inet, pg_temp.cidr, pg_temp.bytea;

SELECT is((SELECT count(*) FROM public.pwned WHERE who <> 'sec_mallory'), 0::bigint,
          'no function of the extension runs a caller''s temporary domain check as its owner');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'sec_mallory'), false,
          'a plain login stays a plain login after calling every API function');
SELECT is(:'fooled'::boolean, false, 'is_service_role() is not fooled by an "=" operator first in the caller''s path');
SELECT is((SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'sms_otp'
             AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)), 0::bigint,
          'every function of the extension pins search_path = pg_catalog, pg_temp (pg_temp last)');
SET LOCAL ROLE sec_mallory;
SELECT throws_ok($$SET sms_otp.service_role = 'sec_mallory'$$, '42501', NULL,
                 'a plain login cannot name itself the service role');
SELECT is(sms_otp.is_service_role(), false, 'a plain login is not the service role');
RESET ROLE;

--------------------------------------------------------------------------------------------
-- 2. A code verifies only its own login (1.0: any login of the user could read and verify
--    another login's pending code).
--------------------------------------------------------------------------------------------
SELECT pg_temp.as_user(1, 'login-B', 'sms_otp.otp_send()') #>> '{body,session_id}' AS b_session \gset
SELECT pg_temp.as_user(1, 'login-A', 'sms_otp.otp_send()') #>> '{body,session_id}' AS a_session \gset
SELECT is(pg_temp.as_user(1, 'login-A', 'sms_otp.otp_status()') #>> '{body,session,session_id}', :'a_session',
          'otp_status under login A shows A''s session');
SELECT is((SELECT s.status FROM sms_otp.sms_otp_sessions s WHERE s.id = :'b_session'), 'pending',
          'A''s send did not supersede B''s pending code');
SELECT is(pg_temp.as_user(1, 'login-A', format('sms_otp.otp_verify(%L, %L)', :'b_session', pg_temp.code_of(:'b_session')))
          #>> '{error,code}', 'session_not_found', 'login A typing the code sent to login B gets 404');
SELECT is((SELECT s.status FROM sms_otp.sms_otp_sessions s WHERE s.id = :'b_session'), 'pending',
          '... and B''s session stays unverified');
SELECT is(pg_temp.rows_as('authenticated', pg_temp.claims(1, 'login-A'),
                          format('SELECT 1 FROM sms_otp.sms_otp_sessions WHERE id = %L', :'b_session')), '0',
          'login A cannot read login B''s session row');
SELECT is(pg_temp.as_user(1, 'login-B', format('sms_otp.otp_verify(%L, %L)', :'b_session', pg_temp.code_of(:'b_session')))
          #>> '{body,verified}', 'true', 'login B verifies its own code');
SELECT is(pg_temp.as_user(1, 'login-A', 'sms_otp.otp_is_verified()') ->> 'body', 'false',
          'B''s verification does not count for login A');
SELECT is(pg_temp.as_user(1, 'login-B', 'sms_otp.otp_is_verified()') ->> 'body', 'true',
          'B''s verification counts for login B');
SELECT is(pg_temp.as_user(1, NULL, 'sms_otp.otp_send()') #>> '{error,code}', 'no_login_session',
          'a token without a login claim cannot ask for a code');
SELECT is(pg_temp.as_user(1, NULL, format('sms_otp.otp_verify(%L, %L)', :'a_session', '123456')) -> 'status', '401',
          'a token without a login claim cannot enter a code (401)');
SELECT is(pg_temp.as_user(1, NULL, 'sms_otp.otp_status()') #>> '{error,code}', 'no_login_session',
          'otp_status refuses a token without a login claim for a user with codes on');
SELECT is(pg_temp.as_user(1, NULL, 'sms_otp.otp_is_verified()') ->> 'body', 'false',
          'otp_is_verified is false for a token without a login claim');
SELECT is(pg_temp.as_user(9, NULL, 'sms_otp.otp_status()') #>> '{body,otp_required}', 'false',
          'a user with codes off still gets otp_status without a login claim');
-- The claim's name and the fallback are settings.
SET LOCAL sms_otp.login_claim = 'sid';
SELECT is(pg_temp.request('authenticated', jsonb_build_object('sub', pg_temp.uid(2)::text, 'sid', 'auth0-sid-1'), NULL,
                          'sms_otp.otp_send()') -> 'status', '200', 'login_claim = sid: an OIDC sid names the login');
SELECT is(pg_temp.as_user(2, 'not-the-sid', 'sms_otp.otp_send()') #>> '{error,code}', 'no_login_session',
          'login_claim = sid: session_id no longer counts');
RESET sms_otp.login_claim;
SET LOCAL sms_otp.login_fallback = 'token';
SELECT pg_temp.request('authenticated', jsonb_build_object('sub', pg_temp.uid(2)::text, 'iat', 1), NULL,
                       'sms_otp.otp_send()') #>> '{body,session_id}' AS token_session \gset
SELECT is(pg_temp.request('authenticated', jsonb_build_object('sub', pg_temp.uid(2)::text, 'iat', 2), NULL,
                          format('sms_otp.otp_verify(%L, %L)', :'token_session', pg_temp.code_of(:'token_session')))
          #>> '{error,code}', 'session_not_found', 'login_fallback = token: another token of the same user is another login');
SELECT is(pg_temp.request('authenticated', jsonb_build_object('sub', pg_temp.uid(2)::text, 'iat', 1), NULL,
                          format('sms_otp.otp_verify(%L, %L)', :'token_session', pg_temp.code_of(:'token_session')))
          #>> '{body,verified}', 'true', 'login_fallback = token: the same token verifies');
RESET sms_otp.login_fallback;

--------------------------------------------------------------------------------------------
-- 3. Guesses that roll back count (1.0: BEGIN; otp_verify(s, guess); ROLLBACK was free).
--------------------------------------------------------------------------------------------
SELECT pg_temp.as_user(3, 'L', 'sms_otp.otp_send()') #>> '{body,session_id}' AS s3 \gset
SELECT is(pg_temp.rolled_back(3, 'L', format('sms_otp.otp_verify(%L, %L)', :'s3', '000000')) #>> '{body,attempts_remaining}',
          '4', 'a rolled-back wrong guess: 4 attempts left');
SELECT is(pg_temp.rolled_back(3, 'L', format('sms_otp.otp_verify(%L, %L)', :'s3', '000001')) #>> '{body,attempts_remaining}',
          '3', 'the next rolled-back guess still counts: 3 left');
SELECT count(pg_temp.rolled_back(3, 'L', format('sms_otp.otp_verify(%L, %L)', :'s3', '00000' || i))) AS guesses FROM generate_series(2, 3) i \gset
SELECT is(pg_temp.rolled_back(3, 'L', format('sms_otp.otp_verify(%L, %L)', :'s3', '000004')) #>> '{body,reason}',
          'locked', 'the fifth rolled-back wrong guess locks the session');
SELECT is((SELECT s.attempts FROM sms_otp.sms_otp_sessions s WHERE s.id = :'s3'), 0,
          'the table saw none of those guesses (all rolled back)');
SELECT is(pg_temp.as_user(3, 'L', format('sms_otp.otp_verify(%L, %L)', :'s3', pg_temp.code_of(:'s3'))) #>> '{body,reason}',
          'locked', 'the right code after max_attempts rolled-back guesses is refused');
SELECT is((SELECT s.status FROM sms_otp.sms_otp_sessions s WHERE s.id = :'s3'), 'locked',
          'and the session is now locked in the table too');
-- The per-user lockout across sessions holds the same way.
SET LOCAL sms_otp.lockout_threshold = 3;
SELECT pg_temp.as_user(4, 'L', 'sms_otp.otp_send()') #>> '{body,session_id}' AS s4 \gset
SELECT count(pg_temp.rolled_back(4, 'L', format('sms_otp.otp_verify(%L, %L)', :'s4', '00000' || i))) AS guesses FROM generate_series(0, 2) i \gset
SELECT is(pg_temp.as_user(4, 'L', format('sms_otp.otp_verify(%L, %L)', :'s4', pg_temp.code_of(:'s4'))) #>> '{body,error}',
          'locked_out', 'three rolled-back failures lock the user out (lockout_threshold 3)');
SELECT is(pg_temp.as_user(4, 'L', 'sms_otp.otp_send()') #>> '{body,error}', 'locked_out',
          'a locked-out user cannot ask for a new code to start over');
SELECT is(pg_temp.request('service_role', NULL, NULL, format('sms_otp.reset_lockout(%L)', pg_temp.uid(4))) -> 'status',
          '200', 'the service role can reset the lockout');
SELECT is(pg_temp.as_user(4, 'L', format('sms_otp.otp_verify(%L, %L)', :'s4', pg_temp.code_of(:'s4'))) #>> '{body,verified}',
          'true', 'after the reset the right code verifies');
SELECT is(pg_temp.as_user(4, 'L', format('sms_otp.reset_lockout(%L)', pg_temp.uid(4))) #>> '{error,code}', 'forbidden',
          'a user cannot reset their own lockout');
RESET sms_otp.lockout_threshold;

--------------------------------------------------------------------------------------------
-- 4. Reads cost an index probe (1.0: "user_id = f() OR is_service_role()" scanned every row).
--------------------------------------------------------------------------------------------
INSERT INTO sms_otp.sms_messages_log (user_id, "to", type, text, created_at)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i % 5000), 12, '0'))::uuid, '+14155550100', 'otp', 'x',
       now() - i * interval '1 second'
FROM generate_series(1, 20000) i;
INSERT INTO sms_otp.sms_otp_sessions (user_id, phone, max_attempts, expires_at, resend_available_at, login_session, status)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i % 5000), 12, '0'))::uuid, '+14155550100', 5, now(), now(), 'x', 'expired'
FROM generate_series(1, 20000) i;
ANALYZE sms_otp.sms_messages_log, sms_otp.sms_otp_sessions, sms_otp.user_contact_settings;
SELECT unalike(pg_temp.full_plan('anon', '{"role": "anon"}', 'SELECT * FROM sms_otp.sms_messages_log LIMIT 1'),
              '%Seq Scan%', 'anon reading the log: no sequential scan');
SELECT unalike(pg_temp.full_plan('anon', '{"role": "anon"}', 'SELECT id, status FROM sms_otp.sms_otp_sessions LIMIT 1'),
              '%Seq Scan%', 'anon reading sessions: no sequential scan');
SELECT unalike(pg_temp.full_plan('authenticated', pg_temp.claims(1, 'login-B'), 'SELECT id, status FROM sms_otp.sms_otp_sessions'),
              '%Seq Scan%', 'a user reading their sessions: an index probe');
SELECT unalike(pg_temp.full_plan('authenticated', pg_temp.claims(1, 'login-B'), 'SELECT * FROM sms_otp.sms_messages_log'),
              '%Seq Scan%', 'a user reading their log: an index probe');
SELECT is(pg_temp.rows_as('anon', '{"role": "anon"}', 'SELECT 1 FROM sms_otp.sms_messages_log'), '0', 'anon reads no log row');
SELECT is(pg_temp.rows_as('anon', '{"role": "anon"}', 'SELECT id FROM sms_otp.sms_otp_sessions'), '0', 'anon reads no session');
SELECT is(pg_temp.rows_as('anon', '{"role": "anon"}', 'SELECT 1 FROM sms_otp.user_contact_settings'), '0',
          'anon reads no contact settings');
SELECT is(pg_temp.rows_as('anon', '{"role": "anon"}', 'SELECT 1 FROM sms_otp.api_integrations'), '42501',
          'anon may not read providers at all');
SELECT is(pg_temp.rows_as('anon', '{"role": "anon"}', 'SELECT 1 FROM sms_otp.sms_outbox'), '42501',
          'anon may not read the outbox at all');

--------------------------------------------------------------------------------------------
-- 5. Before the second factor, the first factor reads only what the overlay needs (1.0: the
--    full phone, past addresses and login ids, and the whole log).
--------------------------------------------------------------------------------------------
SELECT pg_temp.as_user(5, 'first', 'sms_otp.otp_send()') #>> '{body,session_id}' AS s5 \gset
SELECT pg_temp.as_user(5, 'other', 'sms_otp.otp_send()') IS NOT NULL AS sent_other \gset
INSERT INTO sms_otp.sms_messages_log (user_id, "to", type, text) VALUES (pg_temp.uid(5), '+14155550205', 'otp', 'x');
SELECT is(pg_temp.rows_as('authenticated', pg_temp.claims(5, 'first'), 'SELECT 1 FROM sms_otp.sms_messages_log'), '0',
          'first factor only: no log rows');
SELECT is(pg_temp.rows_as('authenticated', pg_temp.claims(5, 'first'), 'SELECT 1 FROM sms_otp.user_contact_settings'), '0',
          'first factor only: no contact settings (the full phone number)');
SELECT is(pg_temp.rows_as('authenticated', pg_temp.claims(5, 'first'), 'SELECT id FROM sms_otp.sms_otp_sessions'), '1',
          'first factor only: the sessions of this login alone');
SELECT is(pg_temp.rows_as('authenticated', pg_temp.claims(5, 'first'), 'SELECT phone FROM sms_otp.sms_otp_sessions'), '42501',
          'sessions: the phone column is not readable by clients');
SELECT is(pg_temp.rows_as('authenticated', pg_temp.claims(5, 'first'), 'SELECT client_ip FROM sms_otp.sms_otp_sessions'), '42501',
          'sessions: client addresses are not readable by clients');
SELECT is(pg_temp.rows_as('authenticated', pg_temp.claims(5, 'first'), 'SELECT login_session FROM sms_otp.sms_otp_sessions'),
          '42501', 'sessions: login ids are not readable by clients');
SELECT is(pg_temp.as_user(5, 'first', 'sms_otp.otp_status()') #>> '{body,phone_hint}', '+14•••••••05',
          'otp_status gives the masked phone the overlay shows');
SELECT is(pg_temp.as_user(5, 'first', format('sms_otp.otp_verify(%L, %L)', :'s5', pg_temp.code_of(:'s5'))) #>> '{body,verified}',
          'true', 'the second factor passed');
SELECT is(pg_temp.rows_as('authenticated', pg_temp.claims(5, 'first'), 'SELECT 1 FROM sms_otp.sms_messages_log'), '1',
          'after the SMS step: the user''s own log rows');
SELECT is(pg_temp.rows_as('authenticated', pg_temp.claims(5, 'first'), 'SELECT 1 FROM sms_otp.user_contact_settings'), '1',
          'after the SMS step: the user''s own contact settings');
SELECT is(pg_temp.rows_as('authenticated', pg_temp.claims(5, 'first'), 'SELECT id FROM sms_otp.sms_otp_sessions'), '2',
          'after the SMS step: the sessions of the user''s other logins too');
SELECT is(pg_temp.rows_as('authenticated', pg_temp.claims(9, 'x'), 'SELECT 1 FROM sms_otp.user_contact_settings'), '0',
          'a user without SMS codes has no second factor: no contact settings');

--------------------------------------------------------------------------------------------
-- 7. Shared addresses (1.0: per-address limits were the per-user ones; IPv6 counted per address).
--------------------------------------------------------------------------------------------
CREATE TEMP TABLE office AS
SELECT n, pg_temp.as_user(n, 'office', 'sms_otp.otp_send()', '203.0.113.7') AS r FROM generate_series(6, 8) n;
SELECT is((SELECT count(*) FROM office WHERE r ->> 'status' = '200'), 3::bigint,
          'three users behind one office address all get codes');
SET LOCAL sms_otp.ip_rate_limit_per_minute = 2;
SELECT is(pg_temp.as_user(6, 'v6', 'sms_otp.otp_send()', '2001:db8:1:1::10') -> 'status', '200', 'IPv6: first send from a /64');
SELECT is(pg_temp.as_user(7, 'v6', 'sms_otp.otp_send()', '2001:db8:1:1:ffff::99') -> 'status', '200',
          'IPv6: second send from another address in that /64');
SELECT is(pg_temp.as_user(8, 'v6', 'sms_otp.otp_send()', '2001:db8:1:1:abcd::1') #>> '{body,limit}', 'ip_per_minute',
          'IPv6: the third address in the same /64 meets the per-address limit');
SELECT is(pg_temp.as_user(8, 'v6b', 'sms_otp.otp_send()', '2001:db8:1:2::1') -> 'status', '200',
          'IPv6: another /64 is another address');
RESET sms_otp.ip_rate_limit_per_minute;

--------------------------------------------------------------------------------------------
-- 8. Hints and destinations (1.0: any user could pick any provider and learn which exist;
--    base_url took http and internal addresses; a credential could inject a header).
--------------------------------------------------------------------------------------------
CREATE TEMP TABLE hints AS
SELECT hint, pg_temp.as_user(2, 'hints-' || hint, format('sms_otp.otp_send(provider_hint => %L)', hint)) AS r
FROM unnest(ARRAY['backup', 'console', 'no-such-provider']) hint;
SELECT is((SELECT o.provider_hint FROM sms_otp.sms_outbox o JOIN sms_otp.sms_otp_sessions s ON s.outbox_id = o.id
           WHERE s.id = (SELECT (r #>> '{body,session_id}')::uuid FROM hints WHERE hint = 'backup')), 'backup',
          'a hint naming a selectable provider is kept');
SELECT is((SELECT count(*) FROM hints h JOIN sms_otp.sms_otp_sessions s ON s.id = (h.r #>> '{body,session_id}')::uuid
           JOIN sms_otp.sms_outbox o ON o.id = s.outbox_id WHERE h.hint <> 'backup' AND o.provider_hint IS NULL), 2::bigint,
          'an unselectable or unknown hint is dropped: the configured order applies');
SELECT is((SELECT count(DISTINCT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(r -> 'body') k)::text || (r ->> 'status'))
           FROM hints), 1::bigint, 'the answers for a real, an unselectable and an unknown provider look alike');

CREATE TEMP TABLE bad_url (label text, url text);
INSERT INTO bad_url VALUES
    ('plain http', 'http://sms.example.com/hook'),
    ('loopback', 'https://127.0.0.2/hook'),
    ('a private network', 'https://10.1.2.3/hook'),
    ('cloud metadata', 'https://169.254.169.254/latest/meta-data'),
    ('IPv6 loopback', 'https://[::1]/hook'),
    ('IPv4-mapped loopback', 'https://[::ffff:127.0.0.1]/hook'),
    ('a decimal address', 'https://2130706433/hook'),
    ('a hex address', 'https://0x7f.1/hook'),
    ('localhost', 'https://localhost/hook'),
    ('a .internal name', 'https://metadata.google.internal/computeMetadata');
SELECT throws_ok(format($$INSERT INTO sms_otp.api_integrations (name, kind, base_url, credentials)
                         VALUES ('hook-%s', 'webhook', %L, '{"secret": "s3cr3t-value"}')$$, md5(label), url),
                 '22023', NULL, 'base_url refused: ' || label)
FROM bad_url;
SELECT lives_ok($$INSERT INTO sms_otp.api_integrations (name, kind, base_url, credentials)
                  VALUES ('hook-public', 'webhook', 'https://sms.example.com/hook', '{"secret": "s3cr3t-value"}')$$,
                'base_url accepted: https to a public name');
-- The same checks when the service role (not a superuser) writes the row.
SELECT is(pg_temp.exec_as('service_role', $$
              INSERT INTO sms_otp.api_integrations (name, kind, base_url, credentials)
              VALUES ('hook-by-service', 'webhook', 'https://sms.example.net/hook', '{"secret": "s3cr3t-value"}')$$), 'ok',
          'the service role can write a provider with an https base_url');
SELECT is(pg_temp.exec_as('service_role', $$
              INSERT INTO sms_otp.api_integrations (name, kind, base_url, credentials)
              VALUES ('hook-meta', 'webhook', 'https://169.254.169.254/', '{"secret": "s3cr3t-value"}')$$), '22023',
          'the service role cannot point a provider at cloud metadata');
SELECT lives_ok($$INSERT INTO sms_otp.api_integrations (name, kind, base_url, credentials)
                  VALUES ('hook-mock', 'webhook', 'http://127.0.0.1:9/hook', '{"secret": "s3cr3t-value"}')$$,
                'base_url accepted: plain http to a host in sms_otp.http_allowed_hosts (a local mock)');
SELECT throws_ok($$INSERT INTO sms_otp.api_integrations (name, kind, sender, credentials)
                   VALUES ('crlf', 'twilio', '+14155550100', '{"account_sid": "AC1", "auth_token": "tok\r\nX-Injected: 1"}')$$,
                 '22023', NULL, 'a credential with a line break is refused');

-- Found by the phone fuzz target: libphonenumber calls some 17-digit German numbers valid.
SELECT is(sms_otp.normalize_phone('+49 30 3450303456767'), NULL, 'a number longer than E.164''s 15 digits is refused');

SELECT * FROM finish();
ROLLBACK;
