-- Database A after ALTER EXTENSION sms_otp UPDATE: the data is what it was, the columns 1.1
-- adds are filled in, and what users did under 1.0 still works under 1.1's rules: the pending
-- code verifies (for the login that asked for it only), the wrong guess still counts, the
-- verified login is still verified, the lockout still holds.
\set ON_ERROR_STOP 1
\ir request.sql

SELECT pg_temp.check('the extension is at version 1.1',
                     (SELECT extversion = '1.1' FROM pg_extension WHERE extname = 'sms_otp'),
                     (SELECT extversion FROM pg_extension WHERE extname = 'sms_otp'));

-- Data: the snapshot after against the one before, item by item.
SELECT pg_temp.check(format('data: %s unchanged by the update', coalesce(b.item, a.item)),
                     b.value IS NOT DISTINCT FROM a.value
                     -- a sequence of a table 1.1 adds: new, and never used yet
                     OR (b.item IS NULL AND a.item LIKE 'sequence %' AND a.value = 'last_value='),
                     format('before: %s; after: %s', b.value, a.value))
FROM (SELECT * FROM upgrade_check.snapshot WHERE phase = 'before' AND item NOT LIKE 'file of %') b
FULL JOIN (SELECT * FROM upgrade_check.snapshot WHERE phase = 'after' AND item NOT LIKE 'file of %') a USING (item)
ORDER BY coalesce(b.item, a.item);
SELECT pg_temp.check('in place: every table is the same object, with the same data file (no dump and restore, no rewrite)',
                     count(*) = (SELECT count(*) FROM upgrade_check.snapshot WHERE phase = 'before' AND item LIKE 'file of %')
                     AND bool_and(b.value = a.value),
                     string_agg(format('%s: %s -> %s', b.item, b.value, a.value), '; ') FILTER (WHERE b.value <> a.value))
FROM (SELECT * FROM upgrade_check.snapshot WHERE phase = 'before' AND item LIKE 'file of %') b
JOIN (SELECT * FROM upgrade_check.snapshot WHERE phase = 'after' AND item LIKE 'file of %') a USING (item);
SELECT pg_temp.check('data: the key of the code hashes is the one 1.0 made',
                     (SELECT value FROM upgrade_check.snapshot WHERE phase = 'before' AND item = 'secret')
                     = (SELECT md5(key) FROM sms_otp._secret));

-- The columns 1.1 adds.
SELECT pg_temp.check('new column: client_net of each 1.0 session is its address (IPv4) or its /64 (IPv6)',
                     bool_and(s.client_net IS NOT DISTINCT FROM
                              CASE family(s.client_ip) WHEN 4 THEN set_masklen(s.client_ip, 32)::cidr
                                                       WHEN 6 THEN network(set_masklen(s.client_ip, 64)) END)
                     AND count(*) FILTER (WHERE masklen(s.client_net) = 64) = 3,
                     string_agg(format('%s -> %s', s.client_ip, s.client_net), '; '))
FROM sms_otp.sms_otp_sessions s;
SELECT pg_temp.check('new column: no 1.0 provider becomes selectable by a hint',
                     bool_and(NOT selectable) AND count(*) = 3)
FROM sms_otp.api_integrations;

-- What anon and the users see and do under 1.1.
SELECT pg_temp.check('1.1: anon reads no session, log row or contact',
                     (r ->> 'body')::int = 0, r::text)
FROM pg_temp.request('anon', NULL, NULL,
                     '(SELECT count(*) FROM sms_otp.sms_otp_sessions) + (SELECT count(*) FROM sms_otp.sms_messages_log)'
                     ' + (SELECT count(*) FROM sms_otp.user_contact_settings)') r;

SELECT pg_temp.check('1.1: a login without the SMS step reads only its own sessions, no log rows',
                     (r ->> 'body') = '1 sessions, 0 log', r::text)
FROM upgrade_check.codes c,
     pg_temp.request('authenticated', pg_temp.claims(c.user_id, c.login), NULL,
                     $$(SELECT count(*) || ' sessions, ' FROM sms_otp.sms_otp_sessions) ||
                       (SELECT count(*) || ' log' FROM sms_otp.sms_messages_log)$$) r
WHERE c.label = 'u1';

SELECT pg_temp.check('1.1: the 1.0 code is refused to another login of the same user (session_not_found, nothing counted)',
                     (r ->> 'status')::int = 404 AND r #>> '{error,code}' = 'session_not_found', r::text)
FROM upgrade_check.codes c,
     pg_temp.request('authenticated', pg_temp.claims(c.user_id, 'another-login'), NULL,
                     format('sms_otp.otp_verify(%L, %L)', c.session_id, c.code)) r
WHERE c.label = 'u1';
SELECT pg_temp.check('1.1: a code sent under 1.0 verifies under 1.1 for the login that asked for it',
                     (r #>> '{body,verified}')::boolean, r::text)
FROM upgrade_check.codes c,
     pg_temp.request('authenticated', pg_temp.claims(c.user_id, c.login), NULL,
                     format('sms_otp.otp_verify(%L, %L)', c.session_id, c.code)) r
WHERE c.label = 'u1';
SELECT pg_temp.check('1.1: ... and the session is now verified',
                     s.status = 'verified' AND s.verified_at IS NOT NULL AND s.code_hash IS NULL,
                     format('%s %s', s.status, s.verified_at))
FROM upgrade_check.codes c JOIN sms_otp.sms_otp_sessions s ON s.id = c.session_id WHERE c.label = 'u1';
SELECT pg_temp.check('1.1: ... once (the same code again: already_used)',
                     r #>> '{body,reason}' = 'already_used', r::text)
FROM upgrade_check.codes c,
     pg_temp.request('authenticated', pg_temp.claims(c.user_id, c.login), NULL,
                     format('sms_otp.otp_verify(%L, %L)', c.session_id, c.code)) r
WHERE c.label = 'u1';
SELECT pg_temp.check('1.1: ... after which that login reads its own log row',
                     (r ->> 'body') = '1 log', r::text)
FROM upgrade_check.codes c,
     pg_temp.request('authenticated', pg_temp.claims(c.user_id, c.login), NULL,
                     $$(SELECT count(*) || ' log' FROM sms_otp.sms_messages_log)$$) r
WHERE c.label = 'u1';

SELECT pg_temp.check('1.1: the wrong guess made under 1.0 still counts (2 of 5 used after one more)',
                     (r #>> '{body,reason}') = 'invalid_code' AND (r #>> '{body,attempts_remaining}')::int = 3, r::text)
FROM upgrade_check.codes c,
     pg_temp.request('authenticated', pg_temp.claims(c.user_id, c.login), NULL,
                     format('sms_otp.otp_verify(%L, %L)', c.session_id,
                            lpad(((c.code::int + 2) % 1000000)::text, 6, '0'))) r
WHERE c.label = 'u2';
SELECT pg_temp.check('1.1: ... and the user''s failures go on from 1.0''s count',
                     (SELECT failures = 2 FROM sms_otp.user_lockouts WHERE user_id = '22222222-2222-4222-8222-222222222222'),
                     (SELECT row_to_json(l)::text FROM sms_otp.user_lockouts l WHERE user_id = '22222222-2222-4222-8222-222222222222'));

SELECT pg_temp.check('1.1: the login verified under 1.0 is verified (otp_is_verified)',
                     (r ->> 'body')::boolean, r::text)
FROM upgrade_check.codes c,
     pg_temp.request('authenticated', pg_temp.claims(c.user_id, c.login), NULL, 'sms_otp.otp_is_verified()') r
WHERE c.label = 'u3';
SELECT pg_temp.check('1.1: ... only that login (another login of the user is not)',
                     NOT (r ->> 'body')::boolean, r::text)
FROM upgrade_check.codes c,
     pg_temp.request('authenticated', pg_temp.claims(c.user_id, 'another-login'), NULL, 'sms_otp.otp_is_verified()') r
WHERE c.label = 'u3';
SELECT pg_temp.check('1.1: the verified login reads its own log rows and contact, nobody else''s',
                     (r ->> 'body') = '1 log, 1 contact', r::text)
FROM upgrade_check.codes c,
     pg_temp.request('authenticated', pg_temp.claims(c.user_id, c.login), NULL,
                     $$(SELECT count(*) || ' log, ' FROM sms_otp.sms_messages_log) ||
                       (SELECT count(*) || ' contact' FROM sms_otp.user_contact_settings)$$) r
WHERE c.label = 'u3';

SELECT pg_temp.check('1.1: the lockout written under 1.0 holds (otp_send answers 429 locked_out)',
                     (r ->> 'status')::int = 429 AND r #>> '{body,error}' = 'locked_out', r::text)
FROM pg_temp.request('authenticated', pg_temp.claims('66666666-6666-4666-8666-666666666666', 'login-u6'),
                     pg_temp.xff('192.0.2.66'), 'sms_otp.otp_send()') r;
SELECT pg_temp.check('1.1: a user with OTP off under 1.0 needs no code',
                     (r #>> '{body,otp_required}')::boolean = false, r::text)
FROM pg_temp.request('authenticated', pg_temp.claims('55555555-5555-4555-8555-555555555555', 'login-u5'), NULL,
                     'sms_otp.otp_status()') r;
-- (The answer first, the rows after: a statement does not see what the functions it calls wrote.)
CREATE TEMP TABLE u4_send AS
SELECT c.session_id AS old_session, r
FROM upgrade_check.codes c,
     pg_temp.request('authenticated', pg_temp.claims(c.user_id, c.login), pg_temp.xff('2001:db8:abcd:12::99'),
                     'sms_otp.otp_send()') r
WHERE c.label = 'u4';
SELECT pg_temp.check('1.1: a new send supersedes the code pending from 1.0 and records its IPv6 network',
                     r #>> '{body,session_id}' IS NOT NULL
                     AND (SELECT status FROM sms_otp.sms_otp_sessions WHERE id = old_session) = 'superseded'
                     AND (SELECT client_net = '2001:db8:abcd:12::/64'::cidr FROM sms_otp.sms_otp_sessions
                          WHERE id = (r #>> '{body,session_id}')::uuid),
                     r::text)
FROM u4_send;

-- The dashboards start with the history 1.0 kept: the update rebuilt their rollups from it.
SELECT pg_temp.check('1.1: the dashboards count every attempt the 1.0 log holds',
                     (SELECT sum(attempted) FROM sms_otp.dashboard_delivery('-infinity', 'infinity', 'all', '{}'))
                     = (SELECT count(*) FROM sms_otp.sms_messages_log)
                     AND (SELECT count(*) FROM sms_otp.sms_messages_log) > 0,
                     (SELECT string_agg(d::text, '; ') FROM sms_otp.dashboard_delivery('-infinity', 'infinity', 'all', '{type}') d));
SELECT pg_temp.check('1.1: and every code session 1.0 made (before this file''s own sends)',
                     (SELECT sum(requested) FROM sms_otp.dashboard_otp('-infinity', 'infinity', 'country', 1000))
                     = (SELECT count(*) FROM sms_otp.sms_otp_sessions),
                     (SELECT string_agg(d::text, '; ') FROM sms_otp.dashboard_otp('-infinity', 'infinity', 'country', 1000) d));

SELECT format('check|%s|%s|%s', description, passed, replace(coalesce(detail, ''), E'\n', ' ')) FROM checks ORDER BY n;
