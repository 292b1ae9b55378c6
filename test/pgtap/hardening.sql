-- Hostile input: huge strings, NULLs, SQL, control characters, binary junk, emoji, identities
-- that are not uuids. Each call must end in its documented error (the code and HTTP status of
-- the PGRST error, or of the returned body), write nothing, and leave the backend alive. A
-- hostile provider hint is no error: it is dropped, and the send goes ahead without it.
-- User H (e0000000-0000-4000-8000-00000000000e) has SMS codes on and a pending session S in its
-- login "h"; user N (f0000000-0000-4000-8000-00000000000f) has them off; user G (90000000-...09)
-- has a session too.
BEGIN;
SELECT plan(101);

--------------------------------------------------------------------------------------------
-- Helpers
--------------------------------------------------------------------------------------------

-- Everything a call could write, as the superuser sees it.
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
    SELECT md5(concat_ws('|',
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM sms_otp.sms_otp_sessions t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM sms_otp.sms_outbox t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM sms_otp.sms_messages_log t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM sms_otp.user_lockouts t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM sms_otp.user_contact_settings t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM sms_otp.api_integrations t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM sms_otp._secret t)))
$$;

-- One PostgREST request (role, claims, headers, call) and its outcome: {"status", "code", "wrote"}
-- with the code of the raised PGRST error (its JSON MESSAGE, the status from DETAIL) or the
-- "error"/"reason" of a returned body (then "body" too); {"sqlstate", "wrote"} for any other error.
-- "wrote" compares every table before and after, so a write that survives the call shows.
\ir request.psql

CREATE FUNCTION pg_temp.attempt(role text, claims jsonb, headers jsonb, call text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    before text := pg_temp.state();
    r      jsonb := pg_temp.request(role, claims, headers, call);
    result jsonb;
BEGIN
    IF r ? 'sqlstate' THEN
        result := jsonb_build_object('sqlstate', r -> 'sqlstate');
    ELSIF r ? 'error' THEN
        result := jsonb_build_object('status', r -> 'status', 'code', r -> 'error' -> 'code');
    ELSE
        result := jsonb_build_object('status', r -> 'status',
                                     'code', coalesce(r -> 'body' -> 'error', r -> 'body' -> 'reason'),
                                     'body', r -> 'body');
    END IF;
    RETURN result || jsonb_build_object('wrote', pg_temp.state() IS DISTINCT FROM before);
END $$;

-- H calls, as authenticated, from its login "h" and a plain address.
CREATE FUNCTION pg_temp.as_h(call text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.attempt('authenticated',
                           '{"sub": "e0000000-0000-4000-8000-00000000000e", "role": "authenticated", "session_id": "h"}',
                           '{"x-forwarded-for": "198.51.100.80"}', call)
$$;
-- H sends with a hint, in a subtransaction that is then rolled back: the answer's status and the
-- hint the queued message carries (H's cooldown is lifted inside, and undone with the rest).
CREATE FUNCTION pg_temp.h_sends_with_hint(hint text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r      jsonb;
    result jsonb;
BEGIN
    BEGIN
        PERFORM set_config('sms_otp.resend_cooldown', '0', true);
        r := pg_temp.request('authenticated',
                             '{"sub": "e0000000-0000-4000-8000-00000000000e", "role": "authenticated", "session_id": "h"}',
                             '{"x-forwarded-for": "198.51.100.80"}', format('sms_otp.otp_send(provider_hint => %L)', hint));
        SELECT jsonb_build_object('status', r -> 'status', 'queued', count(o.id), 'provider_hint', max(o.provider_hint))
        INTO result
        FROM sms_otp.sms_outbox o WHERE o.session_id = (r #>> '{body,session_id}')::uuid;
        RAISE EXCEPTION 'undo';
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
    RETURN result;
END $$;

--------------------------------------------------------------------------------------------
-- Fixtures
--------------------------------------------------------------------------------------------
-- Wrong codes are counted in shared memory, which outlives this file's rolled-back transaction.
SELECT sms_otp._guess_forget(NULL, u, true)
FROM unnest(ARRAY['e0000000-0000-4000-8000-00000000000e', 'f0000000-0000-4000-8000-00000000000f',
                  '90000000-0000-4000-8000-000000000009']::uuid[]) AS u;
-- The one provider may be picked by a hint: hints that nearly name it must still be dropped.
INSERT INTO sms_otp.api_integrations (name, kind, priority, selectable) VALUES ('console', 'console', 10, true);
INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES
    ('e0000000-0000-4000-8000-00000000000e', '+14155550180', true),
    ('f0000000-0000-4000-8000-00000000000f', '+14155550181', false),
    ('90000000-0000-4000-8000-000000000009', '+14155550182', true);
SELECT pg_temp.as_h('sms_otp.otp_send()') #>> '{body,session_id}' AS s \gset
SELECT pg_temp.attempt('authenticated', '{"sub": "90000000-0000-4000-8000-000000000009", "session_id": "g"}',
                       '{"x-forwarded-for": "198.51.100.82"}', 'sms_otp.otp_send()') #>> '{body,session_id}' AS other_session \gset
SELECT pg_temp.state() AS setup_state, pg_backend_pid() AS pid \gset

--------------------------------------------------------------------------------------------
-- otp_send(phone, provider_hint)
--------------------------------------------------------------------------------------------
CREATE TEMP TABLE bad_phone (label text, phone text);
INSERT INTO bad_phone VALUES
    ('100,000 digits', repeat('9', 100000)),
    ('the registered number followed by 99,988 zeros', '+14155550180' || repeat('0', 99988)),
    ('empty', ''),
    ('SQL', $$'; DROP TABLE sms_otp.sms_outbox; --$$),
    ('the registered number, then SQL', $$+14155550180'); DELETE FROM sms_otp.sms_otp_sessions; --$$),
    ('the registered number OR 1=1', '+14155550180 OR 1=1'),
    ('control characters before the number', E'\x01\x02\x03+14155550180'),
    ('control characters inside the number', E'+1415\x07555\x1b0180'),
    ('C0 controls and DEL', (SELECT string_agg(chr(i), '') FROM generate_series(1, 31) AS i) || chr(127)),
    ('every character U+0001..U+00FF', (SELECT string_agg(chr(i), '') FROM generate_series(1, 255) AS i)),
    ('replacement, non-characters, bidi override, soft hyphen', chr(65533) || chr(65535) || chr(1114111) || chr(8238) || chr(173)),
    ('emoji', '📞📞📞'),
    ('an emoji inside the number', '+1415😀5550180');
SELECT is(pg_temp.as_h(format('sms_otp.otp_send(phone => %L)', phone)),
          '{"status": 400, "code": "invalid_phone", "wrote": false}', 'otp_send phone: ' || label)
FROM bad_phone;

CREATE TEMP TABLE bad_hint (label text, hint text);
INSERT INTO bad_hint VALUES
    ('100,000 characters', repeat('x', 100000)),
    ('SQL', $$console' OR '1'='1$$),
    ('a statement', 'console; DROP TABLE sms_otp.sms_outbox'),
    ('a quoted name', '"console"'),
    ('a name and a newline', E'console\n'),
    ('control characters', E'\x01\x02\x1b'),
    ('emoji', '📡');
-- A hint names a selectable provider exactly or is dropped: the send goes ahead, in the
-- configured order, and the queued message carries no hint.
SELECT is(pg_temp.h_sends_with_hint(hint), '{"status": 200, "queued": 1, "provider_hint": null}',
          'otp_send provider_hint: ' || label || ' is dropped')
FROM bad_hint;

-- NULL arguments are the defaults: H is cooling down, N has SMS codes off.
SELECT is(pg_temp.as_h('sms_otp.otp_send(NULL, NULL)') - 'body',
          '{"status": 429, "code": "rate_limited", "wrote": false}', 'otp_send(NULL, NULL): the defaults, here a rate limit');
SELECT is(pg_temp.attempt('authenticated', '{"sub": "f0000000-0000-4000-8000-00000000000f", "session_id": "n"}', NULL,
                          'sms_otp.otp_send(NULL, NULL)'),
          '{"status": 409, "code": "otp_not_enabled", "wrote": false}', 'otp_send(NULL, NULL) for a user with SMS codes off');

--------------------------------------------------------------------------------------------
-- otp_verify(session_id, otp)
--------------------------------------------------------------------------------------------
CREATE TEMP TABLE bad_otp (label text, otp text);
INSERT INTO bad_otp VALUES
    ('100,000 digits', repeat('1', 100000)),
    ('NULL', NULL),
    ('empty', ''),
    ('SQL', $$1' OR '1'='1$$),
    ('6 digits, then SQL', $$123456'; --$$),
    ('5 digits and a newline', E'12345\n'),
    ('6 digits and a newline', E'123456\n'),
    ('control characters', E'\x01\x02\x03\x04\x05\x06'),
    ('fullwidth digits', '１２３４５６'),
    ('Arabic-Indic digits', '٠١٢٣٤٥'),
    ('emoji', '😀😀😀😀😀😀'),
    ('a sign', '+12345'),
    ('a leading space', ' 12345'),
    ('hex', '12345a');
SELECT is(pg_temp.as_h(format('sms_otp.otp_verify(%L, %L)', :'s', otp)),
          '{"status": 400, "code": "invalid_code_format", "wrote": false}', 'otp_verify otp: ' || label)
FROM bad_otp;

SELECT is(pg_temp.as_h($$sms_otp.otp_verify(NULL, '123456')$$),
          '{"status": 400, "code": "invalid_session_id", "wrote": false}', 'otp_verify: NULL session_id');
SELECT is(pg_temp.as_h('sms_otp.otp_verify(NULL, NULL)'),
          '{"status": 400, "code": "invalid_session_id", "wrote": false}', 'otp_verify(NULL, NULL)');
SELECT is(pg_temp.as_h($$sms_otp.otp_verify(gen_random_uuid(), '123456')$$),
          '{"status": 404, "code": "session_not_found", "wrote": false}', 'otp_verify: a session that does not exist');
SELECT is(pg_temp.as_h(format('sms_otp.otp_verify(%L, %L)', :'other_session', '123456')),
          '{"status": 404, "code": "session_not_found", "wrote": false}', 'otp_verify: another user''s session');
SELECT is(pg_temp.attempt('authenticated', '{"sub": "e0000000-0000-4000-8000-00000000000e", "session_id": "h2"}', NULL,
                          format('sms_otp.otp_verify(%L, %L)', :'s', '123456')),
          '{"status": 404, "code": "session_not_found", "wrote": false}', 'otp_verify: H''s session, from another login of H');
-- Not a uuid: the cast fails before the function runs (PostgREST answers 400 for 22P02).
SELECT is(pg_temp.as_h(format('sms_otp.otp_verify(%L, %L)', v, '123456')),
          '{"sqlstate": "22P02", "wrote": false}', 'otp_verify session_id: ' || label)
FROM (VALUES ('not a uuid', 'not-a-uuid'),
             ('SQL', $$'; DROP TABLE sms_otp.sms_otp_sessions; --$$),
             ('100,000 characters', repeat('a', 100000)),
             ('emoji', '😀')) AS v(label, v);

--------------------------------------------------------------------------------------------
-- Claims that name no user: every API call is 401, the identity is NULL, nothing is verified,
-- whether or not a login claim stands beside them
--------------------------------------------------------------------------------------------
CREATE TEMP TABLE bad_claims (label text, claims jsonb);
INSERT INTO bad_claims VALUES
    ('no claims at all', NULL),
    ('no sub', '{"role": "authenticated"}'),
    ('a sub that is SQL', $${"sub": "alice'; DROP TABLE sms_otp.sms_outbox; --"}$$),
    ('an emoji sub', '{"sub": "😀"}'),
    ('a numeric sub', '{"sub": 123}'),
    ('a null sub', '{"sub": null}'),
    ('an empty sub', '{"sub": ""}'),
    ('a 100,000-character sub', jsonb_build_object('sub', repeat('a', 100000))),
    ('a uuid and a newline', jsonb_build_object('sub', E'e0000000-0000-4000-8000-00000000000e\n')),
    ('a uuid and more', '{"sub": "e0000000-0000-4000-8000-00000000000e OR 1=1"}'),
    ('a uuid with control characters for hyphens', jsonb_build_object('sub', replace('e0000000-0000-4000-8000-00000000000e', '-', E'\x01'))),
    ('an object sub', '{"sub": {"id": "e0000000-0000-4000-8000-00000000000e"}}'),
    ('an array sub', '{"sub": ["e0000000-0000-4000-8000-00000000000e"]}'),
    ('claims that are an array', '["e0000000-0000-4000-8000-00000000000e"]'),
    ('claims that are a string', '"e0000000-0000-4000-8000-00000000000e"'),
    ('claims that are JSON null', 'null');
INSERT INTO bad_claims SELECT label || ', with a login claim', claims || '{"session_id": "h"}'
FROM bad_claims WHERE jsonb_typeof(claims) = 'object' AND octet_length(claims::text) < 1000;
SELECT is(jsonb_build_array(
              pg_temp.attempt('authenticated', claims, NULL, 'sms_otp.otp_send()'),
              pg_temp.attempt('authenticated', claims, NULL, format('sms_otp.otp_verify(%L, %L)', :'s', '123456')),
              pg_temp.attempt('authenticated', claims, NULL, 'sms_otp.otp_status()'),
              pg_temp.attempt('authenticated', claims, NULL, 'sms_otp.current_user_id()'),
              pg_temp.attempt('authenticated', claims, NULL, 'sms_otp.otp_is_verified()')),
          '[{"status": 401, "code": "not_authenticated", "wrote": false},
            {"status": 401, "code": "not_authenticated", "wrote": false},
            {"status": 401, "code": "not_authenticated", "wrote": false},
            {"status": 200, "code": null, "body": null, "wrote": false},
            {"status": 200, "code": null, "body": false, "wrote": false}]',
          'claims with ' || label || ': send, verify and status 401; no user id; not verified')
FROM bad_claims;

--------------------------------------------------------------------------------------------
-- Login claims that name no login: H is refused (401 no_login_session), and is not verified
--------------------------------------------------------------------------------------------
CREATE TEMP TABLE bad_login (label text, login jsonb);
INSERT INTO bad_login VALUES
    ('empty', '""'),
    ('JSON null', 'null'),
    ('a boolean', 'true'),
    ('an object', '{"id": "h"}'),
    ('an array', '["h"]');
SELECT is(jsonb_build_array(
              pg_temp.attempt('authenticated', c, NULL, 'sms_otp.otp_send()'),
              pg_temp.attempt('authenticated', c, NULL, format('sms_otp.otp_verify(%L, %L)', :'s', '123456')),
              pg_temp.attempt('authenticated', c, NULL, 'sms_otp.otp_status()'),
              pg_temp.attempt('authenticated', c, NULL, 'sms_otp.otp_is_verified()')),
          '[{"status": 401, "code": "no_login_session", "wrote": false},
            {"status": 401, "code": "no_login_session", "wrote": false},
            {"status": 401, "code": "no_login_session", "wrote": false},
            {"status": 200, "code": null, "body": false, "wrote": false}]',
          'a login claim that is ' || label || ': send, verify and status 401 no_login_session; not verified')
FROM bad_login, jsonb_build_object('sub', 'e0000000-0000-4000-8000-00000000000e', 'session_id', login) AS c;
-- Claims over 16 kB are not read at all: a long login claim costs H the user id too.
SELECT is(jsonb_build_array(
              pg_temp.attempt('authenticated', c, NULL, 'sms_otp.otp_send()'),
              pg_temp.attempt('authenticated', c, NULL, format('sms_otp.otp_verify(%L, %L)', :'s', '123456')),
              pg_temp.attempt('authenticated', c, NULL, 'sms_otp.current_user_id()')),
          '[{"status": 401, "code": "not_authenticated", "wrote": false},
            {"status": 401, "code": "not_authenticated", "wrote": false},
            {"status": 200, "code": null, "body": null, "wrote": false}]',
          'a 20,000-character login claim: the claims are too long to read, so no user')
FROM jsonb_build_object('sub', 'e0000000-0000-4000-8000-00000000000e', 'session_id', repeat('h', 20000)) AS c;

-- Logins that are H's login "h" written another way are other logins: S is not theirs to verify.
CREATE TEMP TABLE near_login (label text, login jsonb);
INSERT INTO near_login VALUES
    ('in capitals', '"H"'),
    ('with a trailing space', '"h "'),
    ('with a newline', to_jsonb(E'h\n'::text)),
    ('with a no-break space', to_jsonb('h' || chr(160))),
    ('SQL', to_jsonb($$h' OR '1'='1$$::text)),
    ('a number', '0');
SELECT is(pg_temp.attempt('authenticated', jsonb_build_object('sub', 'e0000000-0000-4000-8000-00000000000e', 'session_id', login),
                          NULL, format('sms_otp.otp_verify(%L, %L)', :'s', '123456')),
          '{"status": 404, "code": "session_not_found", "wrote": false}', 'otp_verify of S from the login "h" ' || label)
FROM near_login;

--------------------------------------------------------------------------------------------
-- X-Forwarded-For that is no address: the connection address is used, and sends still work
--------------------------------------------------------------------------------------------
CREATE TEMP TABLE bad_xff (label text, xff jsonb);
INSERT INTO bad_xff VALUES
    ('100,000 characters', to_jsonb(repeat('1.2.3.4,', 12500))),
    ('SQL', to_jsonb($$1.2.3.4'; DROP TABLE sms_otp.sms_outbox; --$$::text)),
    ('control characters', to_jsonb(E'\x01\x02\x03'::text)),
    ('emoji', '"😀"'),
    ('only commas', '",,,,"'),
    ('an address with a port', '"203.0.113.9:443"'),
    ('a network', '"203.0.113.0/24"'),
    ('a zone id', '"fe80::1%eth0"'),
    ('a JSON array', '["203.0.113.9"]'),
    ('a JSON number', '42');
SELECT is(pg_temp.attempt('authenticated', '{"sub": "e0000000-0000-4000-8000-00000000000e"}',
                          jsonb_build_object('x-forwarded-for', xff), 'sms_otp.client_ip()'),
          jsonb_build_object('status', 200, 'code', NULL, 'body', to_jsonb(inet_client_addr()), 'wrote', false),
          'X-Forwarded-For ' || label || ': client_ip() is the connection address')
FROM bad_xff;
SELECT is(pg_temp.attempt('authenticated', '{"sub": "e0000000-0000-4000-8000-00000000000e", "session_id": "h"}',
                          jsonb_build_object('x-forwarded-for', repeat('1.2.3.4,', 12500)), 'sms_otp.otp_send()') - 'body',
          '{"status": 429, "code": "rate_limited", "wrote": false}',
          'otp_send behind a 100,000-character X-Forwarded-For reaches its rate limit check');

--------------------------------------------------------------------------------------------
-- The other public functions
--------------------------------------------------------------------------------------------
SELECT is(pg_temp.as_h('sms_otp.normalize_phone(NULL)') - 'body', '{"status": 200, "code": null, "wrote": false}',
          'normalize_phone(NULL) returns');
SELECT is_empty('SELECT label FROM bad_phone WHERE sms_otp.normalize_phone(phone) IS NOT NULL',
                'normalize_phone is NULL for every bad phone above');
SELECT is(pg_temp.as_h('sms_otp.otp_is_verified(NULL)') -> 'body', 'false', 'otp_is_verified(NULL): the default age; H is not verified');

--------------------------------------------------------------------------------------------
-- Afterwards
--------------------------------------------------------------------------------------------
SELECT is(pg_backend_pid(), :pid, 'the same backend served every call (none crashed)');
SELECT is((s.status, s.attempts)::text, '(pending,0)', 'H''s session took no attempt')
FROM sms_otp.sms_otp_sessions s WHERE s.id = :'s';
SELECT is(pg_temp.state(), :'setup_state', 'no table changed since the fixtures');

SELECT * FROM finish();
ROLLBACK;
