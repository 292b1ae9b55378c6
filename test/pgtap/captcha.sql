-- The CAPTCHA check of otp_send (sql/parts/captcha.sql): its settings, the secret kept from
-- clients, and every refusal that needs no verifier answer. The verifier here is a closed
-- local port, so a token that reaches it gets 503 captcha_unavailable at once: a 403 instead
-- proves that the token was refused before any request. Tokens a verifier accepts or rejects
-- are in test/http/captcha.test.mjs (the mock provider as siteverify).
-- User n is 00000000-0000-4000-8000-0000000003nn with phone +1 415 555 03nn, login "login-n".
BEGIN;
SELECT plan(74);

\ir request.psql

CREATE FUNCTION pg_temp.uid(n int) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
    SELECT ('00000000-0000-4000-8000-' || lpad((300 + n)::text, 12, '0'))::uuid
$$;
-- otp_send as user n, with these request headers besides x-forwarded-for.
CREATE FUNCTION pg_temp.send(n int, headers jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.request('authenticated',
                           jsonb_build_object('sub', pg_temp.uid(n), 'role', 'authenticated', 'session_id', 'login-' || n),
                           jsonb_build_object('x-forwarded-for', '198.19.3.' || n) || headers,
                           'sms_otp.otp_send()')
$$;
CREATE FUNCTION pg_temp.token(t text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('x-captcha-token', t)
$$;
-- status and code, or status alone for a success.
CREATE FUNCTION pg_temp.seen(r jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT (r ->> 'status') || coalesce(' ' || (r #>> '{error,code}'), ' ' || (r #>> '{body,error}'), '')
$$;
CREATE FUNCTION pg_temp.sessions(n int) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM sms_otp.sms_otp_sessions s WHERE s.user_id = pg_temp.uid(n)
$$;
-- The header reader alone, as the owner.
CREATE FUNCTION pg_temp.read_token(headers text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('request.headers', headers, true);
    RETURN sms_otp._captcha_token();
END $$;

SELECT sms_otp._guess_forget(NULL, pg_temp.uid(n), true) FROM generate_series(1, 9) AS n;
-- Tokens that do not pass are counted in shared memory, which outlives this transaction: the
-- sections before the one on that limit lift it, and that one uses users and addresses new
-- to every run.
SET LOCAL sms_otp.captcha_refusals_per_minute = 100000;
SET LOCAL sms_otp.ip_captcha_refusals_per_minute = 100000;
DELETE FROM sms_otp.api_integrations;
INSERT INTO sms_otp.api_integrations (name, kind, priority) VALUES ('console', 'console', 10);
INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled)
SELECT pg_temp.uid(n), '+1415555' || lpad((300 + n)::text, 4, '0'), true FROM generate_series(1, 9) AS n;

--------------------------------------------------------------------------------------------
-- Settings
--------------------------------------------------------------------------------------------
SELECT is(current_setting('sms_otp.captcha'), 'off', 'sms_otp.captcha is off by default');
SELECT is(pg_temp.seen(pg_temp.send(1)), '200', 'with the check off, otp_send needs no token');
SELECT throws_ok($$SET LOCAL sms_otp.captcha = 'recaptcha'$$, '22023', NULL, 'sms_otp.captcha takes off, turnstile or hcaptcha only');
SELECT throws_ok($$SET LOCAL sms_otp.captcha_verify_url = 'ftp://127.0.0.1/siteverify'$$, '22023', NULL,
                 'the verify URL must be http(s)');
SELECT throws_ok($$SET LOCAL sms_otp.captcha_verify_url = E'https://example.com/siteverify\r\nX-Evil: 1'$$, '22023', NULL,
                 'the verify URL may hold no control characters');
SELECT throws_ok($$SET LOCAL sms_otp.captcha_verify_url = 'https:///siteverify'$$, '22023', NULL,
                 'the verify URL must name a host');
SELECT throws_ok($$SET LOCAL sms_otp.captcha_secret = E'abc\ndef'$$, '22023', NULL,
                 'a secret with a newline is refused');
SELECT throws_ok($$SET LOCAL sms_otp.captcha_secret = 'has space'$$, '22023', NULL, 'a secret with a space is refused');
SELECT throws_ok(format('SET LOCAL sms_otp.captcha_secret = %L', repeat('s', 257)), '22023', NULL,
                 'a secret longer than 256 bytes is refused');
SELECT throws_ok($$SET LOCAL sms_otp.captcha_timeout = 50$$, '22023', NULL, 'the timeout is at least 100 ms');
SELECT throws_ok($$SET LOCAL sms_otp.captcha_timeout = '31s'$$, '22023', NULL, 'the timeout is at most 30 s');

-- A client can neither turn the check off nor point it elsewhere, nor read the secret.
SET LOCAL sms_otp.captcha = 'turnstile';
SET LOCAL sms_otp.captcha_secret = '1x0000000000000000000000000000000AA';
SET LOCAL sms_otp.captcha_verify_url = 'http://127.0.0.1:9/turnstile/v0/siteverify';
SELECT is(pg_temp.request('authenticated', NULL, NULL, $$set_config('sms_otp.captcha', 'off', true)$$) ->> 'sqlstate',
          '42501', 'a client cannot SET sms_otp.captcha');
SELECT is(pg_temp.request('authenticated', NULL, NULL,
                          $$set_config('sms_otp.captcha_verify_url', 'http://127.0.0.1:1/', true)$$) ->> 'sqlstate',
          '42501', 'a client cannot SET sms_otp.captcha_verify_url');
SELECT is(pg_temp.request('authenticated', NULL, NULL, $$current_setting('sms_otp.captcha_secret')$$) ->> 'sqlstate',
          '42501', 'a client cannot read sms_otp.captcha_secret');
SELECT is(pg_temp.request('anon', NULL, NULL,
                          $$(SELECT count(*) FROM pg_catalog.pg_settings WHERE name = 'sms_otp.captcha_secret')$$) -> 'body',
          '0'::jsonb, 'pg_settings does not list the secret to a client');
SELECT is(pg_temp.request('authenticated', NULL, NULL,
                          $$(SELECT string_agg(s.setting, ',') FROM pg_catalog.pg_settings s WHERE s.setting LIKE '%0000AA%')$$) -> 'body',
          'null'::jsonb, 'no setting a client can list holds the secret''s value');
SELECT is(current_setting('sms_otp.captcha_secret'), '1x0000000000000000000000000000000AA', 'a superuser reads the secret');

--------------------------------------------------------------------------------------------
-- Refusals before the verifier
--------------------------------------------------------------------------------------------
SELECT is(pg_temp.seen(pg_temp.send(2)), '403 captcha_required', 'no token: 403 captcha_required');
SELECT is(pg_temp.seen(pg_temp.send(2, '{"x-captcha-token": ""}')), '403 captcha_required', 'an empty token is no token');
SELECT is(pg_temp.seen(pg_temp.send(2, '{"x-captcha-token": 12345}')), '403 captcha_required', 'a token that is not a string is no token');
SELECT is(pg_temp.seen(pg_temp.send(2, '{"X-Captcha-Token": "tok"}')), '403 captcha_required',
          'PostgREST lower-cases header names: another spelling is not read');
SELECT is(pg_temp.seen(pg_temp.request('anon', NULL, pg_temp.token('tok'), 'sms_otp.otp_send()')), '401 not_authenticated',
          'an anonymous caller is refused before any CAPTCHA request');
SELECT is(pg_temp.seen(pg_temp.send(2, pg_temp.token(repeat('a', 2049)))), '403 captcha_failed',
          'a token of 2049 bytes is refused without asking the verifier');
SELECT is(pg_temp.seen(pg_temp.send(2, pg_temp.token(repeat('é', 1025)))), '403 captcha_failed',
          'the cap counts bytes, not characters');
SELECT is(pg_temp.seen(pg_temp.send(2, pg_temp.token(repeat('a', 2048)))), '503 captcha_unavailable',
          'a token of 2048 bytes is sent to the verifier (down here: 503, fail closed)');
SELECT is(pg_temp.read_token(pg_temp.token(repeat('a', 2048) || 'ééé')::text), repeat('a', 2048) || 'é',
          'a long token is cut past the cap on a character boundary');
SELECT is(pg_temp.read_token('{"x-captcha-token": "' || repeat('a', 70000) || '"}'), NULL,
          'headers over 64 kB are not parsed');
SELECT is(pg_temp.read_token('["x-captcha-token", "tok"]'), NULL, 'headers that are not a JSON object hold no token');
SELECT is(pg_temp.read_token('{"x-captcha-token": "tok"'), NULL, 'unreadable headers hold no token');
SELECT is(pg_temp.read_token('{"x-captcha-token": "tok", "x-captcha-token": "other"}'), 'other',
          'a repeated member: the last one, as jsonb reads it');

-- A token accepted before is refused until its window ends, without asking the verifier.
INSERT INTO sms_otp.captcha_tokens VALUES (sha256(convert_to('seen-token', 'UTF8')), now() + interval '1 min'),
                                          (sha256(convert_to('old-token', 'UTF8')), now() - interval '1 s');
SELECT is(pg_temp.seen(pg_temp.send(2, pg_temp.token('seen-token'))), '403 captcha_failed',
          'a replayed token: 403 captcha_failed, the same answer as a rejected one');
SELECT is(pg_temp.seen(pg_temp.send(2, pg_temp.token('old-token'))), '503 captcha_unavailable',
          'a token remembered past its window is asked about again');

-- The verifier down, or unreachable by our rules, or no secret: 503, nothing sent.
SELECT is(pg_temp.seen(pg_temp.send(2, pg_temp.token('fresh-token'))), '503 captcha_unavailable',
          'verifier down: 503 captcha_unavailable');
SELECT is(pg_temp.sessions(2), 0::bigint, 'no refusal made a session or queued a code');
SET LOCAL sms_otp.captcha_verify_url = 'http://10.1.2.3/siteverify';
SELECT is(sms_otp._captcha_verify('fresh-token', NULL) ->> 'result', 'unavailable',
          'a verifier at an address sms_otp.http_allowed_hosts does not list is not asked');
SET LOCAL sms_otp.captcha_verify_url = 'http://127.0.0.1:9/siteverify';
SELECT is(sms_otp._captcha_verify(E'tok\r\nen', NULL) - 'response_time_ms',
          '{"result": "failed", "status_code": null, "error": "token refused before sending"}'::jsonb,
          'a token with control characters is refused without a request');
SET LOCAL sms_otp.captcha_secret = '';
SELECT is(sms_otp._captcha_verify('fresh-token', NULL) ->> 'status_code', NULL,
          'without a secret nothing is sent');
SELECT is(pg_temp.seen(pg_temp.send(2, pg_temp.token('fresh-token'))), '503 captcha_unavailable',
          'without a secret every token fails closed');

-- Refusals count for no limit: more of them than the per-minute and per-day limits, and then a
-- send with the check off goes through.
SELECT is((SELECT count(*) FROM generate_series(1, 12) AS i, pg_temp.send(3, pg_temp.token('t' || i)) AS r
            WHERE pg_temp.seen(r) = '503 captcha_unavailable'), 12::bigint, '12 sends refused 503');
SELECT is((SELECT count(*) FROM generate_series(1, 12) AS i, pg_temp.send(3, jsonb_build_object('x-n', i)) AS r
            WHERE pg_temp.seen(r) = '403 captcha_required'), 12::bigint, '12 sends refused 403');
SET LOCAL sms_otp.captcha = 'off';
SELECT is(pg_temp.seen(pg_temp.send(3)), '200', 'after 24 refused sends, the first send is not rate limited');
SELECT is(sms_otp._captcha_verify('fresh-token', NULL) ->> 'result', 'unavailable', 'with the check off, nothing passes the verifier function');
SET LOCAL sms_otp.captcha = 'turnstile';

--------------------------------------------------------------------------------------------
-- Refused tokens are limited, per user and per address, in shared memory: a refusal raises,
-- so nothing it wrote stays, and the count stays all the same
--------------------------------------------------------------------------------------------
SELECT is((SELECT boot_val FROM pg_settings WHERE name = 'sms_otp.captcha_refusals_per_minute'), '10',
          'a user may have 10 tokens not pass a minute by default');
SELECT is((SELECT boot_val FROM pg_settings WHERE name = 'sms_otp.ip_captcha_refusals_per_minute'), '100',
          'an address 100 by default');
SELECT throws_ok($$SET LOCAL sms_otp.captcha_refusals_per_minute = -1$$, '22023', NULL, 'the user limit is not negative');
SELECT is(pg_temp.request('authenticated', NULL, NULL,
                          $$set_config('sms_otp.captcha_refusals_per_minute', '0', true)$$) ->> 'sqlstate',
          '42501', 'a client cannot SET sms_otp.captcha_refusals_per_minute');
SELECT is(pg_temp.request('authenticated', NULL, NULL,
                          $$set_config('sms_otp.ip_captcha_refusals_per_minute', '0', true)$$) ->> 'sqlstate',
          '42501', 'a client cannot SET sms_otp.ip_captcha_refusals_per_minute');

-- Users and addresses of this run: users 1..4 (phones +1 415 555 04nn), three IPv4 addresses
-- of a 10.a.b.0/24 and two IPv6 /64s of 2001:db8::/32, drawn at random.
CREATE TEMP TABLE fresh AS
SELECT n, gen_random_uuid() AS id, '+1415555' || lpad((400 + n)::text, 4, '0') AS phone FROM generate_series(1, 4) AS n;
INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) SELECT id, phone, true FROM fresh;
CREATE TEMP TABLE here AS
SELECT v4 || '1' AS v4a, v4 || '2' AS v4b, v4 || '3' AS v4c, v6 || '0' AS v6a, v6 || '1' AS v6b
FROM (SELECT '10.' || (random() * 255)::int || '.' || (random() * 255)::int || '.' AS v4,
             '2001:db8:' || to_hex((random() * 65535)::int) || ':' || to_hex((random() * 4095)::int) AS v6) AS r;
-- otp_send as fresh user n from address ip, with these headers besides.
CREATE FUNCTION pg_temp.send_as(n int, ip text, headers jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.request('authenticated',
                           jsonb_build_object('sub', (SELECT id FROM fresh WHERE fresh.n = send_as.n), 'role', 'authenticated',
                                              'session_id', 'fresh-' || n),
                           jsonb_build_object('x-forwarded-for', ip) || headers, 'sms_otp.otp_send()')
$$;

SET LOCAL sms_otp.captcha_refusals_per_minute = 3;
SELECT is((SELECT string_agg(pg_temp.seen(pg_temp.send_as(1, v4a, pg_temp.token(t))), ',')
             FROM here, unnest(ARRAY[repeat('b', 2049), 'seen-token', 'fresh-token']) AS t),
          '403 captcha_failed,403 captcha_failed,503 captcha_unavailable',
          'an oversized token, a replayed one and one the verifier could not check');
CREATE TEMP TABLE limited AS SELECT pg_temp.send_as(1, v4a, pg_temp.token('fresh-token')) AS r FROM here;
SELECT is(pg_temp.seen(r), '429 rate_limited',
          'each counted: the fourth, at the limit, is 429, and the verifier (down here: 503) is not asked') FROM limited;
SELECT is(r #>> '{body,limit}', 'captcha_per_minute', 'the limit named is captcha_per_minute') FROM limited;
SELECT ok((r #>> '{body,retry_after_seconds}')::int BETWEEN 1 AND 60,
          'it says to wait what is left of the minute of the first one (1 to 60 s)') FROM limited;
SELECT is(r #>> '{body,message}', 'Too many CAPTCHA attempts failed. Try again in '
                                  || (r #>> '{body,retry_after_seconds}') || ' seconds.', 'and says so in words') FROM limited;
SELECT is(pg_temp.seen(pg_temp.send_as(1, v4a, pg_temp.token(repeat('b', 2049)))), '429 rate_limited',
          'at the limit an oversized token gets the same 429') FROM here;
SELECT is(pg_temp.seen(pg_temp.send_as(1, v4a)), '403 captcha_required', 'no token is still captcha_required') FROM here;
SELECT is(pg_temp.seen(pg_temp.send_as(2, v4b, pg_temp.token(repeat('b', 2049)))), '403 captcha_failed',
          'another user at another address is not held back') FROM here;
SET LOCAL sms_otp.captcha_refusals_per_minute = 0;
SELECT is(pg_temp.seen(pg_temp.send_as(1, v4a, pg_temp.token('fresh-token'))), '503 captcha_unavailable',
          'with the user limit at 0 the user is not limited') FROM here;
SELECT is((SELECT count(*) FROM sms_otp.sms_otp_sessions s JOIN fresh f ON f.id = s.user_id), 0::bigint,
          'no session came of any of it');

-- Per address: two users behind one address share its count; the users' own limit is off.
SET LOCAL sms_otp.ip_captcha_refusals_per_minute = 2;
SELECT is((SELECT string_agg(pg_temp.seen(pg_temp.send_as(3, v4c, pg_temp.token(repeat('c', 2049)))), ',')
             FROM here, generate_series(1, 2)), '403 captcha_failed,403 captcha_failed', 'two refused tokens from one address');
SELECT is(pg_temp.seen(pg_temp.send_as(4, v4c, pg_temp.token('fresh-token'))), '429 rate_limited',
          'another user from that address: 429 before the verifier') FROM here;
SELECT is(pg_temp.seen(pg_temp.send_as(4, v4b, pg_temp.token(repeat('c', 2049)))), '403 captcha_failed',
          'the same user from another address: not held back') FROM here;
SELECT is(pg_temp.seen(pg_temp.send_as(4, v6a || '::1', pg_temp.token(repeat('c', 2049)))), '403 captcha_failed',
          'an IPv6 address: one refusal') FROM here;
SELECT is(pg_temp.seen(pg_temp.send_as(4, v6a || '::2', pg_temp.token(repeat('c', 2049)))), '403 captcha_failed',
          'another address of the same /64: the second') FROM here;
SELECT is(pg_temp.seen(pg_temp.send_as(4, v6a || ':ffff::9', pg_temp.token('fresh-token'))), '429 rate_limited',
          'a third address of that /64 is held back: the network is counted, not the address') FROM here;
SELECT is(pg_temp.seen(pg_temp.send_as(4, v6b || '::9', pg_temp.token(repeat('c', 2049)))), '403 captcha_failed',
          'an address of another /64 is not') FROM here;

-- A full table (sms_otp.guess_slots networks, 16,384 here): the least recently touched make
-- room, and the wrong-code counts, in a table of their own, stay.
SET LOCAL sms_otp.captcha_refusals_per_minute = 0;
SET LOCAL sms_otp.ip_captcha_refusals_per_minute = 1;
CREATE TEMP TABLE flood AS
SELECT '2001:db8:' || to_hex((random() * 65535)::int) || ':' AS base, gen_random_uuid() AS session, gen_random_uuid() AS uid;
SELECT is((sms_otp._guess_wrong(session, uid, 1000, 60)).attempts, 1, 'a wrong code counted before the flood') FROM flood;
SELECT is((SELECT count(*) FROM flood, generate_series(1, 17000) AS i
            WHERE sms_otp._captcha_take(NULL, (base || to_hex(i) || '::/64')::cidr) IS NULL), 17000::bigint,
          '17,000 networks new to the table, one token each: each taken in, the table making room') FROM flood;
SELECT isnt(sms_otp._captcha_take(NULL, (base || to_hex(17000) || '::/64')::cidr), NULL,
            'the network touched last is still counted: its second token waits') FROM flood;
SELECT is(sms_otp._captcha_take(NULL, (base || to_hex(1) || '::/64')::cidr), NULL,
          'the one touched first made room: it starts again') FROM flood;
SELECT is((sms_otp._guess_check(session, 0, uid, 0, NULL)).attempts, 1, 'the wrong code is still counted') FROM flood;

--------------------------------------------------------------------------------------------
-- Clients reach none of it
--------------------------------------------------------------------------------------------
SELECT is(pg_temp.request('authenticated', '{"sub": "00000000-0000-4000-8000-000000000301", "role": "authenticated"}',
                          NULL, $$sms_otp._captcha_verify('tok', NULL)$$) ->> 'sqlstate', '42501',
          'a client cannot call the verifier');
SELECT is(pg_temp.request('authenticated', NULL, NULL, $$sms_otp._captcha_check(NULL, NULL, NULL)$$) ->> 'sqlstate', '42501',
          'a client cannot call the check');
SELECT is(pg_temp.request('authenticated', NULL, NULL, $$sms_otp._captcha_take(NULL, NULL)$$) ->> 'sqlstate', '42501',
          'a client cannot count tokens');
SELECT is(pg_temp.request('authenticated', NULL, NULL, $$sms_otp._captcha_give_back(NULL, NULL)$$) ->> 'sqlstate', '42501',
          'a client cannot take a count back');
SELECT is(pg_temp.request('service_role', NULL, NULL, $$(SELECT count(*) FROM sms_otp.captcha_tokens)$$) ->> 'sqlstate', '42501',
          'not even the service role reads the accepted tokens');

SELECT * FROM finish();
ROLLBACK;
