-- Database A under 1.0: providers and users written by the superuser, sessions made by users
-- through the 1.0 API (otp_send and otp_verify as role authenticated, with the claims and
-- headers PostgREST passes), then what the delivery worker would have written. The codes are
-- kept in upgrade_check.codes (read from the outbox bodies, as only the superuser can) so that
-- after the update a code sent under 1.0 can be entered under 1.1.
--
-- Should the 1.0 API fail with the installed library, that is a failed check, and the rows it
-- would have written are written directly (same columns, same hash), so that the rest of the
-- run still says something about the update.
\set ON_ERROR_STOP 1
\ir request.sql

CREATE SCHEMA upgrade_check;
CREATE TABLE upgrade_check.codes (label text PRIMARY KEY, user_id uuid, login text, session_id uuid, code text);

-- Providers: a console one and a Twilio one with credentials and a base URL, one disabled.
INSERT INTO sms_otp.api_integrations (name, kind, priority, enabled, base_url, sender, credentials) VALUES
    ('console', 'console', 100, true, NULL, NULL, '{}'),
    ('twilio-main', 'twilio', 10, true, 'https://api.twilio.example.com', '+15005550006',
     '{"account_sid": "AC00000000000000000000000000000001", "auth_token": "upgrade-test-token"}'),
    ('vonage-spare', 'vonage', 50, false, NULL, 'sms_otp', '{"api_key": "k", "api_secret": "s"}');

-- Users: OTP on (one with a preferred provider), OTP off, and one locked out.
INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled, preferred_provider) VALUES
    ('11111111-1111-4111-8111-111111111111', '+1 415 555 0101', true, 'twilio-main'),
    ('22222222-2222-4222-8222-222222222222', '+14155550102', true, NULL),
    ('33333333-3333-4333-8333-333333333333', '+14155550103', true, 'console'),
    ('44444444-4444-4444-8444-444444444444', '+14155550104', true, NULL),
    ('55555555-5555-4555-8555-555555555555', '+14155550105', false, NULL),
    ('66666666-6666-4666-8666-666666666666', '+14155550106', true, NULL);
INSERT INTO sms_otp.user_lockouts (user_id, failures, locked_until) VALUES
    ('66666666-6666-4666-8666-666666666666', 0, now() + interval '1 hour');

-- send(label, user, login, client address): otp_send through the 1.0 API; the code goes to
-- upgrade_check.codes.
CREATE FUNCTION pg_temp.send(label text, uid uuid, login text, ip text) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    r    jsonb := pg_temp.request('authenticated', pg_temp.claims(uid, login), pg_temp.xff(ip), 'sms_otp.otp_send()');
    sid  uuid;
    code text;
    box  bigint;
BEGIN
    IF pg_temp.check(format('1.0: otp_send as authenticated queues a code (%s, client %s)', label, ip),
                     r #>> '{body,session_id}' IS NOT NULL, r::text) THEN
        sid := r #>> '{body,session_id}';
        SELECT substring(o.body FROM '[0-9]{6}') INTO code FROM sms_otp.sms_outbox o WHERE o.session_id = sid;
    ELSE
        -- What 1.0's otp_send writes: supersede, cancel, queue, record.
        sid := gen_random_uuid();
        code := sms_otp._generate_code(6);
        WITH old AS (
            UPDATE sms_otp.sms_otp_sessions s SET status = 'superseded', code_hash = NULL, updated_at = now()
            WHERE s.user_id = uid AND s.status IN ('pending', 'sent') RETURNING s.outbox_id)
        UPDATE sms_otp.sms_outbox o SET status = 'cancelled', body = NULL, lease_until = NULL, updated_at = now()
        FROM old WHERE o.id = old.outbox_id AND o.status = 'queued';
        INSERT INTO sms_otp.sms_outbox (kind, user_id, session_id, "to", body, expires_at)
        SELECT 'otp', uid, sid, c.phone, 'Your verification code is ' || code || '. It expires in 5 minutes.',
               now() + interval '5 minutes'
        FROM sms_otp.user_contact_settings c WHERE c.user_id = uid
        RETURNING id INTO box;
        INSERT INTO sms_otp.sms_otp_sessions (id, user_id, phone, client_ip, login_session, status, attempts,
                                              max_attempts, code_hash, outbox_id, expires_at, resend_available_at)
        SELECT sid, uid, c.phone, ip::inet, login, 'pending', 0, 5,
               sms_otp._hmac(k.key, sid::text || ':' || code), box, now() + interval '5 minutes', now()
        FROM sms_otp.user_contact_settings c, sms_otp._secret k WHERE c.user_id = uid;
    END IF;
    INSERT INTO upgrade_check.codes VALUES (label, uid, login, sid, code);
    RETURN sid;
END $$;

-- verify(label, code to enter, expected answer): otp_verify through the 1.0 API.
CREATE FUNCTION pg_temp.verify(label text, otp text, expect_verified boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    c upgrade_check.codes := (SELECT x FROM upgrade_check.codes x WHERE x.label = verify.label);
    r jsonb := pg_temp.request('authenticated', pg_temp.claims(c.user_id, c.login), NULL,
                               format('sms_otp.otp_verify(%L, %L)', c.session_id, otp));
BEGIN
    IF NOT pg_temp.check(format('1.0: otp_verify with the %s code answers verified=%s (%s)',
                                CASE WHEN expect_verified THEN 'right' ELSE 'wrong' END, expect_verified, label),
                         (r #>> '{body,verified}')::boolean IS NOT DISTINCT FROM expect_verified, r::text) THEN
        -- What 1.0's otp_verify writes.
        IF expect_verified THEN
            UPDATE sms_otp.sms_otp_sessions s SET status = 'verified', verified_at = now(), code_hash = NULL,
                                                  updated_at = now()
            WHERE s.id = c.session_id;
        ELSE
            INSERT INTO sms_otp.user_lockouts AS l (user_id, failures) VALUES (c.user_id, 1)
            ON CONFLICT (user_id) DO UPDATE SET failures = l.failures + 1, updated_at = now();
            UPDATE sms_otp.sms_otp_sessions s SET attempts = s.attempts + 1, updated_at = now()
            WHERE s.id = c.session_id;
        END IF;
    END IF;
END $$;

-- u1: IPv4 client, code left pending (entered after the update).
SELECT pg_temp.send('u1', '11111111-1111-4111-8111-111111111111', 'login-u1', '203.0.113.7');
-- u2: IPv6 client, one wrong code.
SELECT pg_temp.send('u2', '22222222-2222-4222-8222-222222222222', 'login-u2', '2001:db8:1:2::5');
SELECT pg_temp.verify('u2', (SELECT lpad(((code::int + 1) % 1000000)::text, 6, '0')
                             FROM upgrade_check.codes WHERE label = 'u2'), false);
-- u3: IPv4 client; the worker delivers it, then the user enters it.
SELECT pg_temp.send('u3', '33333333-3333-4333-8333-333333333333', 'login-u3', '198.51.100.20');
UPDATE sms_otp.sms_outbox o
SET status = 'sent', body = NULL, attempts = 1, provider_name = 'console', provider_message_id = 'console-1',
    updated_at = now()
WHERE o.session_id = (SELECT session_id FROM upgrade_check.codes WHERE label = 'u3');
UPDATE sms_otp.sms_otp_sessions s
SET status = 'sent', provider_name = 'console', provider_session_id = 'console-1', sent_at = now(), updated_at = now()
WHERE s.id = (SELECT session_id FROM upgrade_check.codes WHERE label = 'u3');
SELECT pg_temp.verify('u3', (SELECT code FROM upgrade_check.codes WHERE label = 'u3'), true);
-- u4: IPv6 client asks twice; the first code is superseded and its queued message cancelled.
SELECT pg_temp.send('u4-first', '44444444-4444-4444-8444-444444444444', 'login-u4', '2001:db8:abcd:12::1');
SELECT pg_temp.send('u4', '44444444-4444-4444-8444-444444444444', 'login-u4', '2001:db8:abcd:12::1');

-- What the worker logs, and a transactional message waiting in the queue.
INSERT INTO sms_otp.sms_messages_log (user_id, "to", type, text, provider_name, status_code, response_time_ms,
                                      outcome, outbox_id, session_id, provider_message_id)
SELECT c.user_id, s.phone, 'otp', 'Your verification code is ******. It expires in 5 minutes.', 'console', 200, 3,
       'sent', s.outbox_id, s.id, 'console-1'
FROM upgrade_check.codes c JOIN sms_otp.sms_otp_sessions s ON s.id = c.session_id WHERE c.label = 'u3';
INSERT INTO sms_otp.sms_messages_log (user_id, "to", type, text, provider_name, status_code, response_time_ms,
                                      outcome, error) VALUES
    ('11111111-1111-4111-8111-111111111111', '+14155550101', 'promo', 'Spring sale', 'twilio-main', 201, 180, 'sent', NULL),
    (NULL, '+14155550199', 'transactional', 'Your order shipped', 'twilio-main', 503, 2000, 'failed', 'HTTP 503');
INSERT INTO sms_otp.sms_outbox (kind, user_id, "to", body, dedupe_key, provider_hint)
VALUES ('transactional', '55555555-5555-4555-8555-555555555555', '+14155550105', 'Your order #42 shipped',
        'order-42', 'twilio-main');

-- The state 1.0 left, as the checks after the update expect it.
SELECT pg_temp.check('1.0: five sessions (pending, superseded, verified, one wrong attempt)',
                     (SELECT count(*) = 5 AND count(*) FILTER (WHERE status = 'verified') = 1
                             AND count(*) FILTER (WHERE status = 'superseded') = 1
                             AND count(*) FILTER (WHERE status = 'pending') = 3
                             AND sum(attempts) = 1
                             AND count(*) FILTER (WHERE family(client_ip) = 6) = 3
                      FROM sms_otp.sms_otp_sessions),
                     (SELECT string_agg(format('%s %s attempts=%s ip=%s', user_id, status, attempts, client_ip), '; ')
                      FROM sms_otp.sms_otp_sessions));
SELECT pg_temp.check('1.0: every session carries its login claim',
                     NOT EXISTS (SELECT 1 FROM sms_otp.sms_otp_sessions s JOIN upgrade_check.codes c ON c.session_id = s.id
                                 WHERE s.login_session IS DISTINCT FROM c.login));
SELECT pg_temp.check('1.0: the wrong code counted against the user',
                     (SELECT failures = 1 FROM sms_otp.user_lockouts WHERE user_id = '22222222-2222-4222-8222-222222222222'));

SELECT format('check|%s|%s|%s', description, passed, replace(coalesce(detail, ''), E'\n', ' ')) FROM checks ORDER BY n;
