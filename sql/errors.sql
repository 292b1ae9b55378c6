-- Every error a client can meet, each with its stable code, its message and the HTTP status
-- PostgREST sends. Raised errors (SQLSTATE PGRST) save nothing; returned ones save the attempt.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
-- Each file starts from a fresh install. Wrong codes are also counted in shared memory, which
-- outlives the install: forget what earlier runs left there for this file's users.
DROP EXTENSION IF EXISTS sms_otp CASCADE;
CREATE EXTENSION sms_otp;
DO $$ BEGIN
    PERFORM sms_otp._guess_forget(NULL, u, true)
    FROM unnest(ARRAY['a0000000-0000-4000-8000-00000000000a', 'b0000000-0000-4000-8000-00000000000b',
                      'c0000000-0000-4000-8000-00000000000c']::uuid[]) AS u;
END $$;
INSERT INTO sms_otp.api_integrations (name, kind, priority) VALUES ('console', 'console', 10);
INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES
    ('a0000000-0000-4000-8000-00000000000a', '+14155550100', true),
    ('c0000000-0000-4000-8000-00000000000c', NULL, true);
SET ROLE authenticated;

-- 401: no token (PostgREST's anonymous role has no claims).
SELECT sms_otp.otp_send();
SELECT sms_otp.otp_verify('00000000-0000-4000-8000-000000000000', '123456');
SELECT sms_otp.otp_status();
-- A "sub" that is not a uuid is no identity either.
SELECT set_config('request.jwt.claims', '{"sub":"alice; DROP TABLE x"}', false);
SELECT sms_otp.current_user_id();
SELECT sms_otp.otp_send();
-- 401: a token that does not say which login it belongs to (no "session_id", the claim named by
-- sms_otp.login_claim). A code belongs to the login that asked for it, so without one there is
-- no code to send, enter or show (sms_otp.login_fallback = reject, the default).
SELECT set_config('request.jwt.claims', '{"sub":"a0000000-0000-4000-8000-00000000000a"}', false);
SELECT sms_otp.otp_send();
SELECT sms_otp.otp_verify('00000000-0000-4000-8000-000000000000', '123456');
SELECT sms_otp.otp_status();

SELECT set_config('request.jwt.claims', '{"sub":"a0000000-0000-4000-8000-00000000000a","session_id":"a-1"}', false);
-- 400: a phone that is not a number, or not the registered one.
SELECT sms_otp.otp_send(phone => 'call me maybe');
SELECT sms_otp.otp_send(phone => repeat('9', 100000));
SELECT sms_otp.otp_send(phone => '''; DROP TABLE sms_otp.sms_outbox; --');
SELECT sms_otp.otp_send(phone => '+1 415 555 0199');
-- Nothing was written by any of these.
RESET ROLE;
SELECT count(*) AS sessions FROM sms_otp.sms_otp_sessions;
SELECT count(*) AS queued FROM sms_otp.sms_outbox;
SET ROLE authenticated;

-- The same number in another format is accepted. A provider hint is never an error: one that
-- names no enabled provider marked selectable is dropped and the configured order applies, so
-- an answer never tells which providers exist.
SELECT sms_otp.otp_send(phone => '+1 (415) 555-0100', provider_hint => 'no-such-provider') ? 'session_id' AS sent;
SELECT id AS session FROM sms_otp.sms_otp_sessions \gset
RESET ROLE;
SELECT "to", provider_hint IS NULL AS hint_dropped FROM sms_otp.sms_outbox;
SET ROLE authenticated;

-- 400: codes that are not the configured number of digits.
SELECT sms_otp.otp_verify(:'session', NULL);
SELECT sms_otp.otp_verify(:'session', '');
SELECT sms_otp.otp_verify(:'session', '12345');
SELECT sms_otp.otp_verify(:'session', '12345a');
SELECT sms_otp.otp_verify(:'session', repeat('1', 100000));
SELECT sms_otp.otp_verify(NULL, '123456');
-- A malformed uuid never reaches the function (PostgREST answers 400 for 22P02).
SELECT sms_otp.otp_verify('not-a-uuid', '123456');
-- None of these counted as an attempt.
SELECT attempts FROM sms_otp.sms_otp_sessions;

-- 404: a session that does not exist, or is someone else's, or was asked for by another login
-- of the same user.
SELECT sms_otp.otp_verify('00000000-0000-4000-8000-000000000000', '123456');
SELECT set_config('request.jwt.claims', '{"sub":"a0000000-0000-4000-8000-00000000000a","session_id":"a-2"}', false);
SELECT sms_otp.otp_verify(:'session', '123456');
SELECT set_config('request.jwt.claims', '{"sub":"b0000000-0000-4000-8000-00000000000b","session_id":"b-1"}', false);
SELECT sms_otp.otp_verify(:'session', '123456');

-- 409: OTP not turned on, or no phone.
SELECT sms_otp.otp_send();
SELECT set_config('request.jwt.claims', '{"sub":"c0000000-0000-4000-8000-00000000000c","session_id":"c-1"}', false);
SELECT sms_otp.otp_send();

-- 429: the resend cooldown, returned (not raised) with Retry-After.
SELECT set_config('request.jwt.claims', '{"sub":"a0000000-0000-4000-8000-00000000000a","session_id":"a-1"}', false);
BEGIN;
SELECT sms_otp.otp_send() - 'retry_after_seconds' - 'message' AS result;
SELECT current_setting('response.status') AS http_status,
       current_setting('response.headers')::jsonb->0 ? 'Retry-After' AS has_retry_after;
COMMIT;

-- 500: otp_send runs only at READ COMMITTED; a setup that starts requests at a stricter level
-- is refused before any limit is read.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT sms_otp.otp_send();
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT sms_otp.otp_send();
ROLLBACK;

-- 403: only the service role may lift a user's lockout.
SELECT sms_otp.reset_lockout('a0000000-0000-4000-8000-00000000000a');

-- 503: no provider enabled (nothing is queued for no one to send).
RESET ROLE;
UPDATE sms_otp.api_integrations SET enabled = false;
UPDATE sms_otp.sms_otp_sessions SET created_at = created_at - interval '1 hour';
SET ROLE authenticated;
SELECT sms_otp.otp_send();
RESET ROLE;
SELECT count(*) AS queued FROM sms_otp.sms_outbox;

-- Settings: limits are for superusers only, and nonsense is refused.
SET ROLE authenticated;
SET sms_otp.rate_limit_per_minute = 1000;
SET sms_otp.login_fallback = 'user';
RESET ROLE;
SET sms_otp.code_length = 3;
SET sms_otp.otp_ttl = '-5min';
SET sms_otp.default_region = 'usa';
SET sms_otp.webotp_domain = 'bad domain!';
SET sms_otp.message_template = 'no code here';
SET sms_otp.trusted_proxies = -1;
SET sms_otp.ip_rate_limit_per_minute = 0;
SET sms_otp.ipv6_prefix = 16;
SET sms_otp.login_claim = 'session id';
SET sms_otp.login_fallback = 'anyone';
-- The hosts allowed over plain http or at internal addresses come from the server's configuration.
SET sms_otp.http_allowed_hosts = '10.0.0.1';

\set VERBOSITY terse
-- Provider rows are checked for the credentials their kind needs.
INSERT INTO sms_otp.api_integrations (name, kind, sender, credentials) VALUES ('t', 'twilio', '+15005550006', '{"account_sid":"AC1"}');
INSERT INTO sms_otp.api_integrations (name, kind, credentials) VALUES ('w', 'webhook', '{"secret":"whsec_x"}');
INSERT INTO sms_otp.api_integrations (name, kind) VALUES ('Bad Name', 'console');
INSERT INTO sms_otp.api_integrations (name, kind) VALUES ('sms', 'carrier-pigeon');
-- No control character in a credential or a sender: it would end up in an HTTP header.
INSERT INTO sms_otp.api_integrations (name, kind, sender, credentials)
VALUES ('t', 'twilio', '+15005550006', E'{"account_sid":"AC1","auth_token":"tok\\r\\nX-Injected: 1"}');
INSERT INTO sms_otp.api_integrations (name, kind, sender, credentials)
VALUES ('v', 'vonage', E'Shop\nX-Injected: 1', '{"api_key":"k","api_secret":"s"}');
-- Messages go out over https, and not to this machine or its network (unless the host is in
-- sms_otp.http_allowed_hosts, as the local mock provider of the tests is).
INSERT INTO sms_otp.api_integrations (name, kind, base_url, credentials) VALUES ('w', 'webhook', 'http://sms.example.com/hook', '{"secret":"whsec_x"}');
INSERT INTO sms_otp.api_integrations (name, kind, base_url, credentials) VALUES ('w', 'webhook', 'https://10.0.0.5/hook', '{"secret":"whsec_x"}');
INSERT INTO sms_otp.api_integrations (name, kind, base_url, credentials) VALUES ('w', 'webhook', 'https://169.254.169.254/latest', '{"secret":"whsec_x"}');
INSERT INTO sms_otp.api_integrations (name, kind, base_url, credentials) VALUES ('w', 'webhook', 'https://metadata.google.internal/', '{"secret":"whsec_x"}');
-- Phone numbers are checked where they are registered.
INSERT INTO sms_otp.user_contact_settings (user_id, phone) VALUES (gen_random_uuid(), '555-0100');
