-- Self-service enrolment (docs/api.md "Enrolment", docs/security.md "Enrolment"): a user turns
-- SMS codes on by entering a code sent to a new number, changes it, turns codes off; and every
-- way an attacker holding only a password, or racing, or rolling back, might bend that.
-- Runs as the superuser; each API call runs as PostgREST would (pg_temp.request). now() is
-- constant in this one transaction: time passes by moving a user's sessions into the past.
-- User n is e0000000-0000-4000-8000-0000000000nn, calling from login "login-n" and address
-- 198.18.1.n unless a test says otherwise. Registered numbers are +1 415 555 02nn, numbers
-- being enrolled +1 415 555 03nn.
BEGIN;
SELECT plan(105);

\ir request.psql

CREATE FUNCTION pg_temp.uid(n int) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
    SELECT ('e0000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid
$$;
CREATE FUNCTION pg_temp.rpc(n int, call text, login text DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.request('authenticated',
                           jsonb_build_object('sub', pg_temp.uid(n), 'role', 'authenticated',
                                              'session_id', coalesce(login, 'login-' || n)),
                           jsonb_build_object('x-forwarded-for', '198.18.1.' || n),
                           call)
$$;
CREATE FUNCTION pg_temp.send(n int, phone text DEFAULT NULL, login text DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.rpc(n, CASE WHEN phone IS NULL THEN 'sms_otp.otp_send()'
                               ELSE format('sms_otp.otp_send(phone => %L)', phone) END, login)
$$;
CREATE FUNCTION pg_temp.verify(n int, session text, otp text, login text DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.rpc(n, format('sms_otp.otp_verify(%L::uuid, %L)', session, otp), login)
$$;
CREATE FUNCTION pg_temp.disable(n int, login text DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.rpc(n, 'sms_otp.otp_disable()', login)
$$;
CREATE FUNCTION pg_temp.status(n int, login text DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.rpc(n, 'sms_otp.otp_status()', login) -> 'body'
$$;
CREATE FUNCTION pg_temp.is_verified(n int, login text DEFAULT NULL) RETURNS boolean LANGUAGE sql AS $$
    SELECT (pg_temp.rpc(n, 'sms_otp.otp_is_verified()', login) ->> 'body')::boolean
$$;
-- "200", "400 phone_mismatch" (raised), "409 superseded" (returned): what a client sees.
CREATE FUNCTION pg_temp.outcome(r jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN r ? 'sqlstate' THEN 'sqlstate ' || (r ->> 'sqlstate') || ': ' || (r ->> 'error')
                WHEN r ? 'error' THEN (r ->> 'status') || ' ' || (r #>> '{error,code}')
                ELSE (r ->> 'status') || coalesce(' ' || coalesce(r #>> '{body,error}', r #>> '{body,reason}'), '') END
$$;
CREATE FUNCTION pg_temp.code_of(session text) RETURNS text LANGUAGE sql AS $$
    SELECT substring(o.body FROM '[0-9]{' || current_setting('sms_otp.code_length') || '}')
    FROM sms_otp.sms_outbox o WHERE o.session_id = session::uuid
$$;
CREATE FUNCTION pg_temp.wrong_code(session text) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN c ~ '^0+$' THEN repeat('1', length(c)) ELSE repeat('0', length(c)) END
    FROM pg_temp.code_of(session) AS c
$$;
CREATE FUNCTION pg_temp.contact(n int) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce((SELECT coalesce(c.phone, '-') || ' ' || c.otp_enabled FROM sms_otp.user_contact_settings c
                     WHERE c.user_id = pg_temp.uid(n)), 'none')
$$;
CREATE FUNCTION pg_temp.session_status(session text) RETURNS text LANGUAGE sql AS $$
    SELECT s.status FROM sms_otp.sms_otp_sessions s WHERE s.id = session::uuid
$$;
-- Time passes for user n: its sessions move into the past (past the resend cooldown, say).
CREATE FUNCTION pg_temp.age(n int, by interval) RETURNS void LANGUAGE sql AS $$
    UPDATE sms_otp.sms_otp_sessions
    SET created_at = created_at - by, expires_at = expires_at - by, resend_available_at = resend_available_at - by,
        sent_at = sent_at - by, verified_at = verified_at - by
    WHERE user_id = pg_temp.uid(n)
$$;
-- The same call, in a subtransaction that is then rolled back (BEGIN; ...; ROLLBACK).
CREATE FUNCTION pg_temp.rolled_back(r_call text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    BEGIN
        EXECUTE 'SELECT ' || r_call INTO r;
        RAISE EXCEPTION 'undo';
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
    RETURN r;
END $$;
-- Signs user n's login in with an SMS code to its registered number, now.
CREATE FUNCTION pg_temp.sign_in(n int, login text DEFAULT NULL) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r jsonb := pg_temp.send(n, NULL, login);
BEGIN
    r := pg_temp.verify(n, r #>> '{body,session_id}', pg_temp.code_of(r #>> '{body,session_id}'), login);
    RETURN pg_temp.outcome(r);
END $$;

-- Wrong codes are counted in shared memory, which outlives this file's transaction.
SELECT sms_otp._guess_forget(NULL, pg_temp.uid(n), true) FROM generate_series(1, 40) AS n;
INSERT INTO sms_otp.api_integrations (name, kind, priority) VALUES ('console', 'console', 10);
-- 1, 6, 7, 9, 10, 12, 16-21, 22, 23: no settings (codes off). 2, 8, 11, 13, 24, 25: codes on.
-- 3: codes on, no number yet (an administrator requires them). 4: a number, codes off.
-- 5: codes on with the number 9 will enrol.
INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES
    (pg_temp.uid(2), '+14155550202', true), (pg_temp.uid(3), NULL, true), (pg_temp.uid(4), '+14155550204', false),
    (pg_temp.uid(5), '+14155550205', true), (pg_temp.uid(8), '+14155550208', true),
    (pg_temp.uid(11), '+14155550211', true), (pg_temp.uid(13), '+14155550213', true),
    (pg_temp.uid(24), '+14155550224', true), (pg_temp.uid(25), '+14155550225', true);

--------------------------------------------------------------------------------------------
-- A new user turns codes on (user 1)
--------------------------------------------------------------------------------------------
SELECT r AS e1, r #>> '{body,session_id}' AS s1 FROM pg_temp.send(1, '+1 (415) 555-0301') AS r \gset
SELECT is(pg_temp.outcome(:'e1'), '200', 'codes off, a number given: otp_send starts an enrolment (200)');
SELECT is((:'e1'::jsonb -> 'body') - 'session_id' - 'expires_at' - 'resend_available_at' - 'server_time',
          '{"purpose": "enrol", "phone_hint": "+14•••••••01", "attempts_remaining": 5}',
          'the answer says it is an enrolment and where the code went, masked');
SELECT is((s.purpose, s.phone, s.status, s.login_session)::text, ('enrol', '+14155550301', 'pending', 'login-1')::text,
          'the session: purpose enrol, the E.164 number being enrolled, pending, this login''s')
FROM sms_otp.sms_otp_sessions s WHERE s.id = :'s1';
SELECT is(o."to", '+14155550301', 'the code is queued to the number being enrolled') FROM sms_otp.sms_outbox o WHERE o.session_id = :'s1';
SELECT is(pg_temp.contact(1), 'none', 'sending changes no setting');
SELECT is(pg_temp.status(1) #>> '{enrolment,session_id}', :'s1', 'otp_status reports this login''s pending enrolment');
SELECT is((pg_temp.status(1) -> 'enrolment') - 'session_id' - 'expires_at' - 'resend_available_at',
          '{"status": "pending", "delivery": "queued", "phone_hint": "+14•••••••01", "attempts_remaining": 5}',
          'the enrolment''s status, masked number and attempts');
SELECT is((pg_temp.status(1) ->> 'otp_required', pg_temp.status(1) ->> 'session')::text, '(false,)',
          'otp_status: still no step required, no sign-in session');
SELECT is((pg_temp.status(1) ->> 'next_send_at')::timestamptz, now() + interval '30 s',
          'otp_status: the next send waits for the cooldown');
SELECT is(pg_temp.status(1, 'login-1b') -> 'enrolment', 'null'::jsonb, 'another login of the user sees no enrolment of its own');

SELECT is(pg_temp.outcome(pg_temp.verify(1, :'s1', pg_temp.code_of(:'s1'), 'login-1b')), '404 session_not_found',
          'the right code from another login of the same user: 404, the enrolment belongs to the login that asked');
SELECT is(pg_temp.outcome(pg_temp.verify(1, :'s1', pg_temp.wrong_code(:'s1'))), '400 invalid_code',
          'a wrong enrolment code: 400 invalid_code');
SELECT is(pg_temp.contact(1), 'none', 'a wrong code stores nothing');
SELECT is((sms_otp._guess_check(NULL, NULL, pg_temp.uid(1), 0, NULL)).failures, 1,
          'the wrong enrolment code counts toward the user''s lockout');

SELECT r AS v1 FROM pg_temp.verify(1, :'s1', pg_temp.code_of(:'s1')) AS r \gset
SELECT is(:'v1'::jsonb -> 'body', jsonb_build_object('verified', true, 'session_id', :'s1', 'enrolled', true,
                                                    'phone_hint', '+14•••••••01'),
          'the right code: verified and enrolled');
SELECT is(pg_temp.contact(1), '+14155550301 true', 'the number is stored and codes are on');
SELECT is(pg_temp.session_status(:'s1'), 'verified', 'the enrolment session is verified (single use)');
SELECT is(pg_temp.outcome(pg_temp.verify(1, :'s1', pg_temp.code_of(:'s1'))), '409 already_used', 'the code cannot be used twice');
SELECT ok(pg_temp.is_verified(1), 'the login that enrolled has proven the number: otp_is_verified');
SELECT is(pg_temp.status(1) - 'server_time' - 'next_send_at' - 'reverify_until',
          '{"session": null, "verified": true, "enrolment": null, "phone_hint": "+14•••••••01", "otp_required": true}',
          'otp_status: codes required now, this login verified, no pending enrolment');
SELECT is((pg_temp.status(1) ->> 'reverify_until')::timestamptz, now() + interval '5 min',
          'otp_status: this login may change the number for sms_otp.reverify_window');
SELECT ok(NOT pg_temp.is_verified(1, 'login-1b'), 'another login of the user must pass the new number first');
SELECT is(pg_temp.status(1, 'login-1b') -> 'reverify_until', 'null'::jsonb, 'and may not change the number');

--------------------------------------------------------------------------------------------
-- Changing the number needs the current one, just passed (user 2)
--------------------------------------------------------------------------------------------
SELECT is(pg_temp.outcome(pg_temp.send(2, '+14155550302')), '400 phone_mismatch',
          'codes on, the login has not passed the number: another number is refused as in 1.0 (400 phone_mismatch)');
SELECT is(count(*)::int, 0, 'the refusal writes nothing') FROM sms_otp.sms_otp_sessions WHERE user_id = pg_temp.uid(2);
SELECT is(pg_temp.outcome(pg_temp.disable(2)), '403 reverify_required', 'turning codes off without the factor: 403 reverify_required');
SELECT r AS c2, r #>> '{body,session_id}' AS s2old FROM pg_temp.send(2, NULL, 'login-2c') AS r \gset
SELECT is(pg_temp.outcome(:'c2'), '200', 'another login of user 2 asks for a sign-in code to the current number');
SELECT pg_temp.age(2, interval '31 s');
SELECT is(pg_temp.sign_in(2), '200', 'user 2''s login passes the current number');
SELECT is(pg_temp.outcome(pg_temp.send(2, '+14155550302')), '429 rate_limited',
          'an enrolment right after a sign-in code waits for the same cooldown (shared limits)');
SELECT pg_temp.age(2, interval '31 s');
SELECT r AS e2, r #>> '{body,session_id}' AS s2 FROM pg_temp.send(2, '+14155550302') AS r \gset
SELECT is(pg_temp.outcome(:'e2'), '200', 'just after passing the current number: an enrolment to a new one');
SELECT is(pg_temp.contact(2), '+14155550202 true', 'the old number stays until the new code is entered');
SELECT is(pg_temp.outcome(pg_temp.verify(2, :'s2', pg_temp.code_of(:'s2'))), '200', 'the new number''s code');
SELECT is(pg_temp.contact(2), '+14155550302 true', 'the number is changed');
SELECT is(pg_temp.session_status(:'s2old'), 'superseded',
          'a code still pending to the old number (another login''s) is void: the old phone no longer passes the step');
SELECT is(pg_temp.outcome(pg_temp.verify(2, :'s2old', pg_temp.code_of(:'s2old'), 'login-2c')), '409 superseded',
          'and entering it is refused');
SELECT ok(NOT pg_temp.is_verified(2, 'login-2c'), 'so that login is not verified');

-- The window: a login verified 10 minutes ago is still signed in, but may not move the factor.
SELECT pg_temp.age(2, interval '10 min');
SELECT ok(pg_temp.is_verified(2), 'user 2''s login, verified 10 min ago, is still verified (sms_otp.verified_ttl)');
SELECT is(pg_temp.outcome(pg_temp.send(2, '+14155550303')), '400 phone_mismatch',
          'but past sms_otp.reverify_window (5 min) it may not enrol another number');
SELECT is(pg_temp.outcome(pg_temp.disable(2)), '403 reverify_required', 'nor turn codes off');
SET LOCAL sms_otp.reverify_window = '15min';
SELECT is(pg_temp.outcome(pg_temp.send(2, '+14155550303')), '200', 'with sms_otp.reverify_window = 15min it may');
RESET sms_otp.reverify_window;
SELECT pg_temp.age(2, interval '31 s');
SELECT is(pg_temp.outcome(pg_temp.send(2, '+1 415 555 0302')), '200',
          'the registered number, however written, is the sign-in path even for a fresh login');
SELECT is(s.purpose, 'sign_in', 'a sign-in session') FROM sms_otp.sms_otp_sessions s
WHERE s.user_id = pg_temp.uid(2) ORDER BY s.created_at DESC LIMIT 1;

--------------------------------------------------------------------------------------------
-- The client may not loosen the window
--------------------------------------------------------------------------------------------
SET ROLE authenticated;
SELECT throws_ok($$SET sms_otp.reverify_window = '30d'$$, '42501', NULL, 'a client cannot SET sms_otp.reverify_window');
RESET ROLE;
SELECT throws_ok($$SET sms_otp.reverify_window = '10s'$$, '22023', NULL, 'sms_otp.reverify_window under 30 s is refused');
SELECT throws_ok($$SET sms_otp.reverify_window = '2d'$$, '22023', NULL, 'sms_otp.reverify_window over 1 day is refused');

--------------------------------------------------------------------------------------------
-- Codes required, no number yet (user 3); a number set by the service role, codes off (user 4)
--------------------------------------------------------------------------------------------
SELECT is(pg_temp.outcome(pg_temp.send(3)), '409 no_phone', 'codes on without a number: a sign-in send is 409 no_phone, as in 1.0');
SELECT is(pg_temp.outcome(pg_temp.disable(3)), '409 no_phone', 'and codes cannot be turned off by the user');
SELECT r AS e3, r #>> '{body,session_id}' AS s3 FROM pg_temp.send(3, '+14155550303') AS r \gset
SELECT is(pg_temp.outcome(:'e3'), '200', 'but the user may enrol a number');
SELECT is(pg_temp.outcome(pg_temp.verify(3, :'s3', pg_temp.code_of(:'s3'))), '200', 'and enter its code');
SELECT is(pg_temp.contact(3), '+14155550303 true', 'the required number is set');
SELECT ok(pg_temp.is_verified(3), 'and that login is verified');

SELECT is(pg_temp.outcome(pg_temp.send(4)), '409 otp_not_enabled', 'codes off, no number given: 409 otp_not_enabled, as in 1.0');
SELECT r AS e4, r #>> '{body,session_id}' AS s4 FROM pg_temp.send(4, '+14155550204') AS r \gset
SELECT is(:'e4'::jsonb #>> '{body,purpose}', 'enrol', 'codes off, the stored number given: an enrolment that confirms it');
SELECT is(pg_temp.outcome(pg_temp.verify(4, :'s4', pg_temp.code_of(:'s4'))), '200', 'its code');
SELECT is(pg_temp.contact(4), '+14155550204 true', 'codes are on for the confirmed number');

--------------------------------------------------------------------------------------------
-- Supersede: a newer enrolment voids the pending one (user 6)
--------------------------------------------------------------------------------------------
SELECT r #>> '{body,session_id}' AS s6a FROM pg_temp.send(6, '+14155550306') AS r \gset
-- The code as the phone received it (a superseded message's queued body is cleared).
SELECT pg_temp.code_of(:'s6a') AS code6a \gset
SELECT pg_temp.age(6, interval '31 s');
SELECT r #>> '{body,session_id}' AS s6b FROM pg_temp.send(6, '+14155550316') AS r \gset
SELECT is(pg_temp.session_status(:'s6a'), 'superseded', 'a second enrolment supersedes the first');
SELECT is(pg_temp.outcome(pg_temp.verify(6, :'s6a', :'code6a')), '409 superseded',
          'the first number''s code no longer enrols it');
SELECT is(pg_temp.outcome(pg_temp.verify(6, :'s6b', pg_temp.code_of(:'s6b'))), '200', 'the second one''s does');
SELECT is(pg_temp.contact(6), '+14155550316 true', 'the second number is stored');

--------------------------------------------------------------------------------------------
-- An enrolment started while codes were off cannot finish once they are on (user 7): the
-- password alone must not replace a number the user set in the meantime
--------------------------------------------------------------------------------------------
SELECT r #>> '{body,session_id}' AS s7att FROM pg_temp.send(7, '+14155550377', 'attacker') AS r \gset
SELECT pg_temp.age(7, interval '31 s');
SELECT r #>> '{body,session_id}' AS s7 FROM pg_temp.send(7, '+14155550307') AS r \gset
SELECT is(pg_temp.session_status(:'s7att'), 'pending', 'two logins'' enrolments are pending at once');
SELECT is(pg_temp.outcome(pg_temp.verify(7, :'s7', pg_temp.code_of(:'s7'))), '200', 'the user enrols a number');
SELECT is(pg_temp.outcome(pg_temp.verify(7, :'s7att', pg_temp.code_of(:'s7att'), 'attacker')), '409 superseded',
          'the other login''s pending enrolment, with its right code, is refused');
SELECT is(pg_temp.contact(7), '+14155550307 true', 'the user''s number stays');
SELECT ok(NOT pg_temp.is_verified(7, 'attacker'), 'and the other login has not passed the step');

-- The same when the service role turned codes on directly after the send.
SELECT r #>> '{body,session_id}' AS s12 FROM pg_temp.send(12, '+14155550312', 'attacker') AS r \gset
INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES (pg_temp.uid(12), '+14155550212', true);
SELECT is(pg_temp.outcome(pg_temp.verify(12, :'s12', pg_temp.code_of(:'s12'), 'attacker')), '409 superseded',
          'an enrolment sent before the service role set a number and turned codes on is refused');
SELECT is(pg_temp.session_status(:'s12'), 'superseded', 'and spent');
SELECT is(pg_temp.contact(12), '+14155550212 true', 'the service role''s number stays');

--------------------------------------------------------------------------------------------
-- Turning codes off (users 1, 8)
--------------------------------------------------------------------------------------------
SELECT is(pg_temp.outcome(pg_temp.disable(8)), '403 reverify_required', 'a login that has not passed the number: 403');
SELECT is(pg_temp.sign_in(8, 'login-8b'), '200', 'another login of user 8 passes the number');
SELECT is(pg_temp.outcome(pg_temp.disable(8)), '403 reverify_required', 'that does not let this login turn codes off');
SELECT is(pg_temp.contact(8), '+14155550208 true', 'nothing changed');
SELECT pg_temp.age(1, interval '31 s');
SELECT r #>> '{body,session_id}' AS s1pending FROM pg_temp.send(1, NULL, 'login-1b') AS r \gset
SELECT is(pg_temp.disable(1) -> 'body', '{"otp_enabled": false}', 'the login that just enrolled may turn codes off');
SELECT is(pg_temp.contact(1), '- false', 'codes are off and the number forgotten');
SELECT is(pg_temp.session_status(:'s1pending'), 'superseded', 'a sign-in code still pending is void');
SELECT is(pg_temp.outcome(pg_temp.disable(1)), '409 otp_not_enabled', 'turning off again: 409 otp_not_enabled');
SELECT ok(pg_temp.is_verified(1, 'login-1b'), 'with codes off, every login passes otp_is_verified');

--------------------------------------------------------------------------------------------
-- Another account's number: allowed, and the answer is the same as for any number (users 9, 10)
--------------------------------------------------------------------------------------------
SELECT r AS e9, r #>> '{body,session_id}' AS s9 FROM pg_temp.send(9, '+14155550205') AS r \gset
SELECT r AS e10 FROM pg_temp.send(10, '+14155550310') AS r \gset
SELECT is(jsonb_object_keys_sorted, (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(:'e10'::jsonb -> 'body') AS k),
          'enrolling a number another account uses answers with the same keys as any number')
FROM (SELECT array_agg(k ORDER BY k) AS jsonb_object_keys_sorted FROM jsonb_object_keys(:'e9'::jsonb -> 'body') AS k) AS t;
SELECT is((pg_temp.outcome(:'e9'), :'e9'::jsonb #>> '{body,attempts_remaining}')::text,
          (pg_temp.outcome(:'e10'), :'e10'::jsonb #>> '{body,attempts_remaining}')::text, 'and the same status');
SELECT is(pg_temp.outcome(pg_temp.verify(9, :'s9', pg_temp.code_of(:'s9'))), '200', 'the number is enrolled');
SELECT is((pg_temp.contact(9), pg_temp.contact(5))::text, ('+14155550205 true', '+14155550205 true')::text,
          'both accounts hold the number (a shared phone)');

--------------------------------------------------------------------------------------------
-- Malformed and oversized numbers (user 23)
--------------------------------------------------------------------------------------------
SELECT is(pg_temp.outcome(pg_temp.send(23, p)), '400 invalid_phone', format('%s: 400 invalid_phone', label))
FROM (VALUES ('not a phone', 'letters'), ('', 'an empty string'), ('+1 415 555 0323' || repeat(' ', 60), 'a number padded past 64 characters'),
             (repeat('1', 100000), '100,000 digits'), ('+999 1234 5678', 'no such country')) AS t(p, label);
SELECT is(count(*)::int, 0, 'none of them wrote anything') FROM sms_otp.sms_otp_sessions WHERE user_id = pg_temp.uid(23);
SELECT is(pg_temp.status(23) - 'server_time',
          jsonb_build_object('otp_required', false, 'verified', true, 'session', NULL, 'enrolment', NULL,
                             'reverify_until', NULL, 'next_send_at', now()),
          'otp_status with codes off and nothing pending: no enrolment, and no wait read');

--------------------------------------------------------------------------------------------
-- Limits, lockout and rollbacks are those of sign-in codes
--------------------------------------------------------------------------------------------
-- Per number: five users enrolling one number in a minute fill its per-minute limit.
SET LOCAL sms_otp.resend_cooldown = 0;
SELECT is(array_agg(pg_temp.outcome(pg_temp.send(n, '+14155550399')) ORDER BY n),
          ARRAY['200', '200', '200', '200', '200', '429 rate_limited'],
          'enrolment sends count toward the per-number limit (5 a minute), whoever sends them')
FROM generate_series(16, 21) AS n;
SELECT is(pg_temp.send(21, '+14155550399') #>> '{body,limit}', 'phone_per_minute', 'the limit that applied');
RESET sms_otp.resend_cooldown;

-- Lockout: wrong enrolment codes lock the user out like wrong sign-in codes.
SET LOCAL sms_otp.lockout_threshold = 2;
SELECT r #>> '{body,session_id}' AS s22 FROM pg_temp.send(22, '+14155550322') AS r \gset
SELECT is(pg_temp.outcome(pg_temp.verify(22, :'s22', pg_temp.wrong_code(:'s22'))), '400 invalid_code', 'a first wrong code');
SELECT is(pg_temp.outcome(pg_temp.verify(22, :'s22', pg_temp.wrong_code(:'s22'))), '400 invalid_code',
          'the second reaches sms_otp.lockout_threshold');
SELECT is(pg_temp.outcome(pg_temp.verify(22, :'s22', pg_temp.code_of(:'s22'))), '429 locked_out',
          'the right code is refused while locked out');
SELECT pg_temp.age(22, interval '31 s');
SELECT is(pg_temp.outcome(pg_temp.send(22, '+14155550332')), '429 locked_out', 'and no new enrolment may be sent');
SELECT is(pg_temp.contact(22), 'none', 'nothing was enrolled');
RESET sms_otp.lockout_threshold;

-- A rolled-back wrong guess still counts; a rolled-back right code enrols nothing.
SELECT pg_temp.age(10, interval '31 s');
SELECT r #>> '{body,session_id}' AS s11 FROM pg_temp.send(10, '+14155550311', 'login-10b') AS r \gset
SELECT is(pg_temp.outcome(pg_temp.rolled_back(format('pg_temp.verify(10, %L, %L, %L)', :'s11', pg_temp.wrong_code(:'s11'), 'login-10b'))),
          '400 invalid_code', 'a wrong enrolment code in a transaction that rolls back');
SELECT is(pg_temp.verify(10, :'s11', pg_temp.wrong_code(:'s11'), 'login-10b') #>> '{body,attempts_remaining}', '3',
          'still counted: the next wrong code leaves 3 attempts, not 4');
SELECT is(pg_temp.outcome(pg_temp.rolled_back(format('pg_temp.verify(10, %L, %L, %L)', :'s11', pg_temp.code_of(:'s11'), 'login-10b'))),
          '200', 'the right enrolment code in a transaction that rolls back');
SELECT is(pg_temp.contact(10), 'none', 'enrols nothing');
SELECT is(pg_temp.verify(10, :'s11', pg_temp.code_of(:'s11'), 'login-10b') #>> '{body,enrolled}', 'true',
          'and the code still works afterwards');

--------------------------------------------------------------------------------------------
-- A user with codes on cannot use enrolment to skip signing in (user 24)
--------------------------------------------------------------------------------------------
SELECT is(pg_temp.outcome(pg_temp.send(24, '+14155550324')), '400 phone_mismatch',
          'codes on, not signed in: no enrolment to another number');
SELECT r #>> '{body,session_id}' AS s24 FROM pg_temp.send(24, '+14155550224') AS r \gset
SELECT is((s.purpose, s.phone)::text, '(sign_in,+14155550224)', 'the registered number is a sign-in code, not an enrolment')
FROM sms_otp.sms_otp_sessions s WHERE s.id = :'s24';
-- An enrolment session the user could not have made (written as the service role could):
-- entering its code neither changes the number nor passes the step.
INSERT INTO sms_otp.sms_otp_sessions (id, user_id, phone, login_session, status, max_attempts, code_hash, expires_at,
                                      resend_available_at, purpose)
SELECT '24242424-0000-4000-8000-000000000024', pg_temp.uid(24), '+14155550344', 'login-24b', 'sent', 5,
       sms_otp._hmac(k.key, '24242424-0000-4000-8000-000000000024:123456'), now() + interval '5 min', now(), 'enrol'
FROM sms_otp._secret k;
SELECT is(pg_temp.outcome(pg_temp.verify(24, '24242424-0000-4000-8000-000000000024', '123456', 'login-24b')), '409 superseded',
          'an enrolment for a login that has not passed the current number is refused, right code or not');
SELECT is(pg_temp.contact(24), '+14155550224 true', 'the number stays');
SELECT ok(NOT pg_temp.is_verified(24, 'login-24b'), 'and the login is not verified');

--------------------------------------------------------------------------------------------
-- The service role still sets numbers directly (user 25)
--------------------------------------------------------------------------------------------
SET ROLE service_role;
SET request.jwt.claims = '{"role": "service_role"}';
UPDATE sms_otp.user_contact_settings SET phone = '+1 415 555 0335' WHERE user_id = pg_temp.uid(25);
RESET ROLE;
SELECT is(pg_temp.contact(25), '+14155550335 true', 'the service role changes a number (normalised)');
SELECT is(o."to", '+14155550335', 'sign-in codes go to it')
FROM pg_temp.send(25) AS r JOIN sms_otp.sms_outbox o ON o.session_id = (r #>> '{body,session_id}')::uuid;

SELECT * FROM finish();
ROLLBACK;
