-- The whole flow as a frontend drives it through PostgREST: the claims PostgREST would set,
-- a send, the message in the outbox, a wrong code, the right code, and what the user can see
-- before and after the SMS step.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
-- Each file starts from a fresh install. Wrong codes are also counted in shared memory, which
-- outlives the install: forget what earlier runs left there for this file's users.
DROP EXTENSION IF EXISTS sms_otp CASCADE;
CREATE EXTENSION sms_otp;
DO $$ BEGIN
    PERFORM sms_otp._guess_forget(NULL, u, true)
    FROM unnest(ARRAY['a0000000-0000-4000-8000-00000000000a', 'b0000000-0000-4000-8000-00000000000b']::uuid[]) AS u;
END $$;

-- A provider, and two users: Alice with SMS codes on, Bob without.
INSERT INTO sms_otp.api_integrations (name, kind, priority) VALUES ('console', 'console', 10);
INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES
    ('a0000000-0000-4000-8000-00000000000a', '+1 (415) 555-0100', true),
    ('b0000000-0000-4000-8000-00000000000b', '+44 20 7946 0958', false);
-- Numbers are stored in E.164.
SELECT user_id, phone, otp_enabled FROM sms_otp.user_contact_settings ORDER BY user_id;

-- Alice signs in on her laptop: PostgREST switches to the role of her token and sets its
-- claims. "session_id" names this login (sms_otp.login_claim): her code will belong to it.
SET ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub":"a0000000-0000-4000-8000-00000000000a","role":"authenticated","session_id":"alice-laptop"}', false);
SELECT set_config('request.headers', '{"x-forwarded-for":"198.51.100.7"}', false);
SELECT sms_otp.current_user_id(), sms_otp.client_ip();

-- Before sending: the step is required and not done.
SELECT s->'otp_required' AS required, s->'verified' AS verified, s->'session' AS session, s->>'phone_hint' AS phone
FROM sms_otp.otp_status() s;

-- Send. The answer names the session and its deadlines.
SELECT (r->>'session_id') IS NOT NULL AS has_session,
       (r->>'expires_at')::timestamptz - now() AS valid_for,
       (r->>'resend_available_at')::timestamptz - now() AS resend_after,
       r->'attempts_remaining' AS attempts_remaining
FROM sms_otp.otp_send() r \gset send_
SELECT :'send_has_session', :'send_valid_for', :'send_resend_after', :'send_attempts_remaining';
SELECT id AS session FROM sms_otp.sms_otp_sessions \gset

-- Alice sees her session, but not its code hash, nor the phone, address and login it holds.
SELECT status, attempts, max_attempts FROM sms_otp.sms_otp_sessions;
SELECT code_hash FROM sms_otp.sms_otp_sessions;
SELECT phone, client_ip, login_session FROM sms_otp.sms_otp_sessions;
-- Until she passes the SMS step, her token is only a first factor: no contact settings (her
-- full number) and no message log. otp_status() gave the masked number for the screen.
SELECT count(*) AS contact_rows FROM sms_otp.user_contact_settings;
SELECT count(*) AS log_rows FROM sms_otp.sms_messages_log;

-- The worker (here: the superuser, reading the outbox) finds the message with the code.
RESET ROLE;
SELECT kind, "to", status, regexp_replace(body, '[0-9]{6}', '######') AS body FROM sms_otp.sms_outbox;
SELECT substring(body FROM '[0-9]{6}') AS code FROM sms_otp.sms_outbox \gset
-- The code itself is stored nowhere else: the session holds a 32-byte HMAC.
SELECT length(code_hash) AS hash_bytes, position(convert_to(:'code', 'UTF8') IN code_hash) AS code_in_hash
FROM sms_otp.sms_otp_sessions;
SET ROLE authenticated;

-- A wrong code: refused, counted, HTTP 400 for PostgREST (which runs each request in one
-- transaction, as BEGIN ... COMMIT does here).
SELECT CASE WHEN :'code' = '000000' THEN '111111' ELSE '000000' END AS wrong \gset
BEGIN;
SELECT sms_otp.otp_verify(:'session', :'wrong') - 'message' AS result;
SELECT current_setting('response.status') AS http_status;
COMMIT;
SELECT status, attempts FROM sms_otp.sms_otp_sessions;

-- A wrong code whose transaction rolls back counts all the same: it was counted in shared
-- memory first. The table catches up at the next call.
BEGIN;
SELECT sms_otp.otp_verify(:'session', :'wrong') - 'message' AS result;
ROLLBACK;
SELECT status, attempts FROM sms_otp.sms_otp_sessions;

-- Her phone, signed in as another login of Alice, asks for nothing and cannot use the
-- laptop's code: the session is not found for that login.
SELECT set_config('request.jwt.claims', '{"sub":"a0000000-0000-4000-8000-00000000000a","role":"authenticated","session_id":"alice-phone"}', false);
SELECT count(*) AS sessions_seen FROM sms_otp.sms_otp_sessions;
SELECT sms_otp.otp_verify(:'session', :'code');
SELECT set_config('request.jwt.claims', '{"sub":"a0000000-0000-4000-8000-00000000000a","role":"authenticated","session_id":"alice-laptop"}', false);

-- The right code, on the laptop: verified, once. Both wrong codes are on the session now.
SELECT sms_otp.otp_verify(:'session', :'code') - 'session_id' AS result;
SELECT status, attempts, verified_at IS NOT NULL AS verified FROM sms_otp.sms_otp_sessions;
BEGIN;
SELECT sms_otp.otp_verify(:'session', :'code') - 'message' AS result;
SELECT current_setting('response.status') AS http_status;
COMMIT;
SELECT sms_otp.otp_is_verified();
SELECT s->'verified' AS verified, s->'session' AS session FROM sms_otp.otp_status() s;
-- Past the SMS step, this login reads her contact settings too.
SELECT phone, otp_enabled FROM sms_otp.user_contact_settings;

-- The step belongs to the login that passed it: her phone is not verified.
SELECT set_config('request.jwt.claims', '{"sub":"a0000000-0000-4000-8000-00000000000a","role":"authenticated","session_id":"alice-phone"}', false);
SELECT sms_otp.otp_is_verified();
SELECT count(*) AS contact_rows FROM sms_otp.user_contact_settings;

-- Bob has no SMS step: he is verified as he is, and cannot ask for a code.
SELECT set_config('request.jwt.claims', '{"sub":"b0000000-0000-4000-8000-00000000000b","role":"authenticated","session_id":"bob-1"}', false);
SELECT sms_otp.otp_is_verified();
SELECT s->'otp_required' AS required FROM sms_otp.otp_status() s;
SELECT sms_otp.otp_send();
-- ... and he sees none of Alice's rows, nor his own contact settings: without SMS codes his
-- token is only ever a first factor.
SELECT count(*) FROM sms_otp.sms_otp_sessions;
SELECT count(*) FROM sms_otp.user_contact_settings;

RESET ROLE;
-- Once terminal, the message body is scrubbed by the worker; the session keeps no code.
SELECT status, code_hash IS NULL AS hash_cleared FROM sms_otp.sms_otp_sessions;
