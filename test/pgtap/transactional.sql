-- Transactional sends, idempotency, templates, the opt-out ledger and delivery receipts
-- (DESIGN.md §7): each rule checked so that removing it fails a check. Runs as the superuser;
-- API calls run as PostgREST would run them, through pg_temp.request().
BEGIN;
SELECT plan(133);

\ir request.psql

-- The backend (service role) calls; headers as PostgREST passes them.
CREATE FUNCTION pg_temp.backend(call text, headers jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.request('service_role', '{"role": "service_role"}', headers, call)
$$;
CREATE FUNCTION pg_temp.user_call(call text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.request('authenticated',
                           '{"sub": "00000000-0000-4000-8000-000000000001", "role": "authenticated", "session_id": "s1"}',
                           '{}', call)
$$;
-- The body queued by a call (read in a statement of its own, which sees the call's insert).
CREATE FUNCTION pg_temp.sent_body(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    message bigint := pg_temp.backend(call) -> 'body' ->> 'message_id';
BEGIN
    RETURN (SELECT o.body FROM sms_otp.sms_outbox o WHERE o.id = message);
END $$;
CREATE FUNCTION pg_temp.outbox_count() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM sms_otp.sms_outbox
$$;
CREATE FUNCTION pg_temp.code(r jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(r -> 'error' ->> 'code', r ->> 'sqlstate')
$$;

INSERT INTO sms_otp.sms_templates (name, locale, body) VALUES
    ('booking_confirmed', 'en', 'Hi {name}, booking {ref} is confirmed for {when}. Total {total} EUR.'),
    ('booking_confirmed', 'pt', 'Olá {name}, a reserva {ref} está confirmada para {when}.'),
    ('booking_confirmed', 'pt-BR', 'Oi {name}, sua reserva {ref} foi confirmada para {when}.'),
    ('braces', 'en', 'Use {{code}} literally, then {x}; {not a placeholder} stays.'),
    ('long', 'en', '{filler}');

--------------------------------------------------------------------------------------------
-- Who may send
--------------------------------------------------------------------------------------------
SELECT is(pg_temp.code(pg_temp.user_call($$sms_otp.send_transactional('+14155550101', text => 'hi')$$)), 'forbidden',
          'a signed-in user may not send transactional messages');
SELECT is((pg_temp.user_call($$sms_otp.send_transactional('+14155550101', text => 'hi')$$) ->> 'status')::int, 403,
          '... 403');
SELECT is(pg_temp.code(pg_temp.request('anon', NULL, '{}', $$sms_otp.send_transactional('+14155550101', text => 'hi')$$)),
          'forbidden', 'nor can the anonymous role');

--------------------------------------------------------------------------------------------
-- Input: each refusal a 400 with its code, nothing written
--------------------------------------------------------------------------------------------
CREATE TEMP TABLE refusals (call text, code text, status int);
INSERT INTO refusals VALUES
    ($$sms_otp.send_transactional('+14155550101')$$, 'template_or_text', 400),
    ($$sms_otp.send_transactional('+14155550101', template => 'booking_confirmed', text => 'x')$$, 'template_or_text', 400),
    ($$sms_otp.send_transactional('not a number', text => 'hi')$$, 'invalid_phone', 400),
    ($$sms_otp.send_transactional('+1415555', text => 'hi')$$, 'invalid_phone', 400),
    ($$sms_otp.send_transactional('+14155550101', template => 'no_such_template', data => '{}')$$, 'unknown_template', 400),
    ($$sms_otp.send_transactional('+14155550101', template => 'booking_confirmed', data => '{"name": "Ana"}')$$,
     'template_data_missing', 400),
    ($$sms_otp.send_transactional('+14155550101', template => 'booking_confirmed',
        data => '{"name": {"first": "Ana"}, "ref": "1", "when": "x", "total": 1}')$$, 'invalid_template_data', 400),
    ($$sms_otp.send_transactional('+14155550101', template => 'booking_confirmed', data => '[1, 2]')$$,
     'invalid_template_data', 400),
    ($$sms_otp.send_transactional('+14155550101', text => E'bell \x07 rings')$$, 'invalid_text', 400),
    ($$sms_otp.send_transactional('+14155550101', text => E'\u0085next line')$$, 'invalid_text', 400),
    ($$sms_otp.send_transactional('+14155550101', text => '   ')$$, 'empty_text', 400),
    ($$sms_otp.send_transactional('+14155550101', text => repeat('a', 1531))$$, 'message_too_long', 400),
    ($$sms_otp.send_transactional('+14155550101', text => repeat('€', 761))$$, 'message_too_long', 400),
    ($$sms_otp.send_transactional('+14155550101', text => repeat('ж', 671))$$, 'message_too_long', 400),
    ($$sms_otp.send_transactional('+14155550101', text => repeat('😀', 331))$$, 'message_too_long', 400),
    ($$sms_otp.send_transactional('+14155550101', text => repeat('a', 100000))$$, 'message_too_long', 400),
    ($$sms_otp.send_transactional('+14155550101', template => 'long', data => jsonb_build_object('filler', repeat('x', 20000)))$$,
     'message_too_long', 400),
    ($$sms_otp.send_transactional('+14155550101', text => 'hi', category => 'Promo Blast')$$, 'invalid_category', 400),
    ($$sms_otp.send_transactional('+14155550101', text => 'hi', category => 'promo')$$, 'invalid_category', 400),
    ($$sms_otp.send_transactional('+14155550101', text => 'hi', business_ref => E'a\nb')$$, 'invalid_business_ref', 400),
    ($$sms_otp.send_transactional('+14155550101', text => 'hi', business_ref => repeat('r', 201))$$, 'invalid_business_ref', 400),
    ($$sms_otp.send_transactional('+14155550101', text => 'hi', send_at => now() + interval '31 days')$$, 'invalid_send_at', 400),
    ($$sms_otp.send_transactional('+14155550101', text => 'hi', valid_for => interval '10 seconds')$$, 'invalid_valid_for', 400),
    ($$sms_otp.send_transactional('+14155550101', text => 'hi', valid_for => interval '8 days')$$, 'invalid_valid_for', 400),
    ($$sms_otp.send_transactional('+14155550101', text => 'hi', locale => 'english please')$$, 'invalid_locale', 400),
    ($$sms_otp.send_transactional('+14155550101', text => 'hi', idempotency_key => 'has space')$$, 'invalid_idempotency_key', 400),
    ($$sms_otp.send_transactional('+14155550101', text => 'hi', idempotency_key => repeat('k', 256))$$, 'invalid_idempotency_key', 400);

SELECT is(pg_temp.code(pg_temp.backend(r.call)), r.code, 'refused: ' || left(r.call, 110)) FROM refusals r;
SELECT is(count(*), 0::bigint, 'every refusal answered with its HTTP status')
FROM refusals r WHERE (pg_temp.backend(r.call) -> 'status')::int IS DISTINCT FROM r.status;
SELECT is(pg_temp.outbox_count(), 0::bigint, 'no refused call wrote a message');
SELECT is((SELECT count(*) FROM sms_otp.sms_idempotency_keys), 0::bigint, '... nor a key');

--------------------------------------------------------------------------------------------
-- Templates and counting
--------------------------------------------------------------------------------------------
CREATE TEMP TABLE r AS SELECT pg_temp.backend($$sms_otp.send_transactional('+1 (415) 555-0101', template => 'booking_confirmed',
    data => '{"name": "Ana", "ref": "B-42", "when": "Fri 18:00", "total": 99.5, "unused": true}')$$) AS v;
SELECT is((SELECT (v ->> 'status')::int FROM r), 200, 'a template with its data is queued');
SELECT is((SELECT v -> 'body' ->> 'status' FROM r), 'queued', '... status queued');
SELECT is((SELECT body FROM sms_otp.sms_outbox o, r WHERE o.id = (v -> 'body' ->> 'message_id')::bigint),
          'Hi Ana, booking B-42 is confirmed for Fri 18:00. Total 99.5 EUR.', '... rendered in the database');
SELECT is((SELECT "to" FROM sms_otp.sms_outbox o, r WHERE o.id = (v -> 'body' ->> 'message_id')::bigint),
          '+14155550101', '... to the number in E.164');
SELECT is((SELECT kind || '/' || category || '/' || template || '/' || locale FROM sms_otp.sms_outbox o, r
           WHERE o.id = (v -> 'body' ->> 'message_id')::bigint),
          'transactional/transactional/booking_confirmed/en', '... in the transactional lane, category, template, locale');
SELECT is((SELECT (v -> 'body' ->> 'segments')::int || ' ' || (v -> 'body' ->> 'encoding') FROM r), '1 GSM-7',
          '... one GSM-7 segment');
SELECT ok((SELECT (v -> 'body' ->> 'expires_at')::timestamptz = now() + interval '1 day' FROM r),
          '... valid for sms_otp.message_validity (1 day) by default');
SELECT is((SELECT v -> 'body' ->> 'duplicate' FROM r), 'false', '... not a duplicate');

SELECT is(pg_temp.sent_body($$sms_otp.send_transactional('+14155550102',
            template => 'booking_confirmed', locale => 'pt-BR', data => '{"name": "Bia", "ref": "7", "when": "sex"}')$$),
          'Oi Bia, sua reserva 7 foi confirmada para sex.', 'the locale''s own template');
SELECT is(pg_temp.sent_body($$sms_otp.send_transactional('+14155550103',
            template => 'booking_confirmed', locale => 'pt-PT', data => '{"name": "Rui", "ref": "8", "when": "6ª"}')$$),
          'Olá Rui, a reserva 8 está confirmada para 6ª.', 'else its language''s');
SELECT is(pg_temp.sent_body($$sms_otp.send_transactional('+14155550104',
            template => 'booking_confirmed', locale => 'de', data => '{"name": "Jo", "ref": "9", "when": "Fr", "total": 1}')$$),
          'Hi Jo, booking 9 is confirmed for Fr. Total 1 EUR.', 'else the default locale''s');
SELECT is(pg_temp.sent_body($$sms_otp.send_transactional('+14155550105',
            template => 'braces', data => '{"x": "{code}", "code": "SECRET"}')$$),
          'Use {code} literally, then {code}; {not a placeholder} stays.',
          'braces doubled are literal, a value is not filled in again, a non-name stays');

SELECT is(pg_temp.backend($$sms_otp.send_transactional('+14155550106', text => repeat('a', 1530))$$) -> 'body' ->> 'segments',
          '10', '1,530 GSM-7 characters are 10 segments, allowed');
SELECT is(pg_temp.backend($$sms_otp.send_transactional('+14155550106', text => repeat('€', 760))$$) -> 'body' ->> 'segments',
          '10', '760 euro signs (two septets each, 76 a part: none is split) are 10 segments, 761 are 11');
SELECT is(pg_temp.backend($$sms_otp.send_transactional('+14155550106', text => repeat('😀', 330))$$) -> 'body' ->> 'segments',
          '10', '330 emoji (surrogate pairs, 33 a part) are 10 UCS-2 segments, 331 are 11');
SELECT is(pg_temp.backend($$sms_otp.send_transactional('+14155550106', text => 'Grüße')$$) -> 'body' ->> 'encoding',
          'GSM-7', 'ü is in the GSM-7 alphabet');
SELECT is(pg_temp.backend($$sms_otp.send_transactional('+14155550106', text => 'Привет')$$) -> 'body' ->> 'encoding',
          'UCS-2', 'Cyrillic is UCS-2');
SET LOCAL sms_otp.max_segments = 2;
SELECT is(pg_temp.code(pg_temp.backend($$sms_otp.send_transactional('+14155550106', text => repeat('a', 307))$$)),
          'message_too_long', 'sms_otp.max_segments lowers the cap');
RESET sms_otp.max_segments;

--------------------------------------------------------------------------------------------
-- When
--------------------------------------------------------------------------------------------
CREATE TEMP TABLE later AS SELECT pg_temp.backend($$sms_otp.send_transactional('+14155550107', text => 'later',
    send_at => now() + interval '2 hours', valid_for => interval '30 minutes')$$) -> 'body' AS v;
SELECT is((SELECT next_attempt_at FROM sms_otp.sms_outbox o, later WHERE o.id = (v ->> 'message_id')::bigint),
          now() + interval '2 hours', 'send_at: not due before');
SELECT is((SELECT (v ->> 'expires_at')::timestamptz FROM later), now() + interval '2 hours 30 minutes',
          'valid_for counts from send_at');
SELECT is(pg_temp.backend($$sms_otp.send_transactional('+14155550107', text => 'past',
            send_at => now() - interval '1 day')$$) -> 'body' ->> 'send_at', to_jsonb(now()) ->> 0, 'a send_at in the past means now');

--------------------------------------------------------------------------------------------
-- business_ref dedupes without a key
--------------------------------------------------------------------------------------------
CREATE TEMP TABLE refs AS
SELECT pg_temp.backend($$sms_otp.send_transactional('+14155550108', template => 'booking_confirmed',
    data => '{"name": "A", "ref": "1", "when": "x", "total": 1}', business_ref => 'booking:1:confirmed')$$) -> 'body' AS first,
       pg_temp.backend($$sms_otp.send_transactional('+1 415 555 0108', template => 'booking_confirmed',
    data => '{"name": "A", "ref": "1", "when": "x", "total": 2}', business_ref => 'booking:1:confirmed')$$) -> 'body' AS again,
       pg_temp.backend($$sms_otp.send_transactional('+14155550108', template => 'braces',
    data => '{"x": 1}', business_ref => 'booking:1:confirmed')$$) -> 'body' AS other_template,
       pg_temp.backend($$sms_otp.send_transactional('+14155550109', template => 'booking_confirmed',
    data => '{"name": "A", "ref": "1", "when": "x", "total": 1}', business_ref => 'booking:1:confirmed')$$) -> 'body' AS other_number;
SELECT is((SELECT again ->> 'message_id' FROM refs), (SELECT first ->> 'message_id' FROM refs),
          'the same recipient, template and business_ref: the first message');
SELECT is((SELECT again ->> 'duplicate' FROM refs), 'true', '... marked duplicate');
SELECT is((SELECT count(*) FROM sms_otp.sms_outbox WHERE business_ref = 'booking:1:confirmed'), 3::bigint,
          'another template or another number is another message');

--------------------------------------------------------------------------------------------
-- Idempotency keys
--------------------------------------------------------------------------------------------
CREATE TEMP TABLE idem AS
SELECT pg_temp.backend($$sms_otp.send_transactional('+14155550110', text => 'Payment received')$$,
                       '{"idempotency-key": "pay-1"}') AS first,
       pg_temp.backend($$sms_otp.send_transactional('+14155550110', text => 'Payment received')$$,
                       '{"idempotency-key": "pay-1"}') AS replay,
       pg_temp.backend($$sms_otp.send_transactional('+14155550110', text => 'Payment received!')$$,
                       '{"idempotency-key": "pay-1"}') AS other_payload,
       pg_temp.backend($$sms_otp.send_transactional('+14155550110', text => 'Payment received', idempotency_key => 'pay-1')$$)
           AS by_argument,
       pg_temp.backend($$sms_otp.send_transactional('+14155550110', text => 'x', idempotency_key => 'a')$$,
                       '{"idempotency-key": "b"}') AS both_differ;
SELECT is((SELECT replay -> 'body' FROM idem), (SELECT first -> 'body' FROM idem), 'a replay answers the first answer');
SELECT is((SELECT replay -> 'headers' FROM idem), '[{"Idempotent-Replayed": "true"}]', '... and says so in a header');
SELECT is((SELECT first -> 'headers' FROM idem), 'null'::jsonb, 'the first answer does not');
SELECT is((SELECT pg_temp.code(other_payload) || ' ' || (other_payload ->> 'status') FROM idem),
          'idempotency_key_reused 422', 'the same key with another payload: 422');
SELECT is((SELECT by_argument -> 'body' FROM idem), (SELECT first -> 'body' FROM idem), 'the key may come as an argument');
SELECT is((SELECT pg_temp.code(both_differ) FROM idem), 'idempotency_key_conflict', 'header and argument must agree');
SELECT is((SELECT count(*) FROM sms_otp.sms_outbox WHERE "to" = '+14155550110'), 1::bigint, 'one message for the key');
SELECT ok((SELECT expires_at >= now() + interval '24 hours' FROM sms_otp.sms_idempotency_keys WHERE key = 'pay-1'),
          'keys are kept 24 hours');
UPDATE sms_otp.sms_idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'pay-1';
SELECT isnt(pg_temp.backend($$sms_otp.send_transactional('+14155550110', text => 'Payment received')$$,
                            '{"idempotency-key": "pay-1"}') -> 'body' ->> 'message_id',
            (SELECT first -> 'body' ->> 'message_id' FROM idem), 'an expired key starts anew');
SET LOCAL sms_otp.idempotency_required = on;
SELECT is(pg_temp.code(pg_temp.backend($$sms_otp.send_transactional('+14155550111', text => 'x')$$)),
          'idempotency_key_missing', 'a missing key where the settings require one: 400');
SELECT is((pg_temp.backend($$sms_otp.send_transactional('+14155550111', text => 'x')$$,
                           '{"idempotency-key": "k-required"}') ->> 'status')::int, 200, '... with one it goes');
RESET sms_otp.idempotency_required;
SELECT throws_ok($$SET sms_otp.idempotency_ttl = '1h'$$, '22023', NULL, 'keys cannot be kept less than 24 hours');

--------------------------------------------------------------------------------------------
-- The opt-out ledger
--------------------------------------------------------------------------------------------
SELECT is(pg_temp.code(pg_temp.user_call($$sms_otp.opt_out('+14155550120')$$)), 'forbidden', 'opt_out: service role only');
SELECT is(pg_temp.code(pg_temp.backend($$sms_otp.opt_out('nope')$$)), 'invalid_phone', 'opt_out: a valid number');
SELECT is(pg_temp.code(pg_temp.backend($$sms_otp.opt_out('+14155550120', 'Everything!')$$)), 'invalid_scope', 'opt_out: a scope');
SELECT is(pg_temp.code(pg_temp.backend($$sms_otp.opt_out('+14155550120', 'all', '')$$)), 'invalid_source', 'opt_out: a source');
SELECT is(pg_temp.backend($$sms_otp.opt_out('+1 415 555 0120', 'all', 'web_form')$$) -> 'body',
          '{"phone": "+14155550120", "scope": "all", "changed": true, "opted_out": true}', 'opt_out records the number');
SELECT is((SELECT source FROM sms_otp.sms_opt_outs WHERE phone = '+14155550120'), 'web_form', '... with its source');
SELECT is(pg_temp.code(pg_temp.backend($$sms_otp.send_transactional('+14155550120', text => 'hi')$$)), 'opted_out',
          'a transactional message to an opted-out number is refused');
SELECT is((pg_temp.backend($$sms_otp.send_transactional('+14155550120', text => 'hi')$$) ->> 'status')::int, 422, '... 422');
INSERT INTO sms_otp.sms_categories (name, honours_opt_out) VALUES ('fraud_alert', false), ('reminders', true);
SELECT is((pg_temp.backend($$sms_otp.send_transactional('+14155550120', text => 'Card used', category => 'fraud_alert')$$)
           ->> 'status')::int, 200, 'unless its category does not honour opt-outs');
SELECT is(pg_temp.backend($$sms_otp.opt_out('+14155550121', 'promo', 'support')$$) -> 'body' ->> 'changed', 'true',
          'an opt-out of promo only');
SELECT is((pg_temp.backend($$sms_otp.send_transactional('+14155550121', text => 'Receipt')$$) ->> 'status')::int, 200,
          '... does not stop transactional messages');
SELECT ok(sms_otp._opted_out('+14155550121', 'promo', NULL), '... but stops promo');
SELECT ok(NOT sms_otp._opted_out('+14155550121', 'otp', NULL), 'codes never stop at the ledger');
SELECT is(pg_temp.backend($$sms_otp.opt_out('+14155550122', 'reminders', 'support')$$) -> 'body' ->> 'changed', 'true',
          'an opt-out of one category');
SELECT is(pg_temp.code(pg_temp.backend($$sms_otp.send_transactional('+14155550122', text => 'x', category => 'reminders')$$)),
          'opted_out', '... stops that category');
SELECT is((pg_temp.backend($$sms_otp.send_transactional('+14155550122', text => 'x')$$) ->> 'status')::int, 200,
          '... not another');
SELECT is(pg_temp.backend($$sms_otp.opt_out('+14155550120')$$) -> 'body' ->> 'changed', 'false',
          'opting out twice changes nothing');
SELECT is(pg_temp.backend($$sms_otp.opt_in('+14155550120')$$) -> 'body' ->> 'changed', 'true', 'opt_in withdraws it');
SELECT is((pg_temp.backend($$sms_otp.send_transactional('+14155550120', text => 'welcome back')$$) ->> 'status')::int, 200,
          '... and messages go again');
SELECT is((SELECT string_agg(action || ':' || source, ',' ORDER BY id) FROM sms_otp.sms_opt_out_events
           WHERE phone = '+14155550120'), 'opt_out:web_form,opt_out:api,opt_in:api', 'every change is in the history');

--------------------------------------------------------------------------------------------
-- Inbound keywords
--------------------------------------------------------------------------------------------
INSERT INTO sms_otp.api_integrations (name, kind, sender, credentials)
VALUES ('tw', 'twilio', '+15005550006', '{"account_sid": "AC1", "auth_token": "t"}');
SELECT is(sms_otp._apply_inbound('tw', '{"from": "+14155550130", "to": "+15005550006", "text": " stop! "}', 'in-1') ->> 'action',
          'stop', 'STOP in any case, with spaces and a "!", is a stop');
SELECT is((SELECT scope || ' ' || source FROM sms_otp.sms_opt_outs WHERE phone = '+14155550130'), 'all sms',
          '... recorded for every scope, from SMS');
SELECT is((SELECT keyword || ' ' || provider_name FROM sms_otp.sms_opt_out_events WHERE phone = '+14155550130'), 'STOP tw',
          '... with the keyword and provider');
SELECT is(sms_otp._apply_inbound('tw', '{"from": "+14155550130", "to": "+15005550006", "text": " stop! "}', 'in-1') ->> 'duplicate',
          'true', 'the same inbound message twice is a duplicate');
SELECT is((SELECT count(*) FROM sms_otp.sms_opt_out_events WHERE phone = '+14155550130'), 1::bigint, '... and records nothing again');
SELECT is(pg_temp.code(pg_temp.backend($$sms_otp.send_transactional('+14155550130', text => 'x')$$)), 'opted_out',
          'an SMS STOP stops the next send');
SELECT is(sms_otp._apply_inbound('tw', '{"from": "+14155550130", "text": "Stop sending me these please"}', 'in-2') ->> 'action',
          NULL, 'a sentence holding STOP is not a keyword');
SELECT is((SELECT count(*) FROM sms_otp.sms_inbound_messages WHERE "from" = '+14155550130'), 2::bigint, '... but is kept');
SELECT is(sms_otp._apply_inbound('tw', '{"from": "+14155550130", "text": "UNSTOP"}', 'in-3') ->> 'action', 'start',
          'UNSTOP opts in again');
SELECT is((SELECT count(*) FROM sms_otp.sms_opt_outs WHERE phone = '+14155550130'), 0::bigint, '... every scope');
SELECT is(sms_otp._apply_inbound('tw', '{"from": "+14155550131", "text": "arrêt"}', 'in-4') ->> 'action', 'stop',
          'French ARRÊT is a stop keyword');
SELECT is(sms_otp._apply_inbound('tw', '{"from": "+14155550131", "text": "START"}', 'in-5') ->> 'action', 'start', 'START');
INSERT INTO sms_otp.sms_keywords (keyword, action, locale) VALUES ('HALT', 'stop', 'en');
SELECT is(sms_otp._apply_inbound('tw', '{"from": "+14155550132", "text": "halt"}', 'in-6') ->> 'action', 'stop',
          'keywords are configurable');
SELECT is(sms_otp._apply_inbound('tw', '{"from": "+14155550132", "text": "HELP"}', 'in-7') ->> 'action', 'help', 'HELP');
SELECT is((SELECT body || '|' || category || '|' || provider_hint FROM sms_otp.sms_outbox WHERE "to" = '+14155550132'),
          current_setting('sms_otp.help_reply') || '|help|tw', '... queues the help reply through that provider');
SELECT ok(NOT sms_otp._opted_out('+14155550132', 'transactional', 'help'), '... which goes to an opted-out number too');
SELECT is(sms_otp._apply_inbound('tw', '{"from": "+14155550132", "text": "help"}', 'in-8') ->> 'action', 'help', 'HELP again');
SELECT is((SELECT count(*) FROM sms_otp.sms_outbox WHERE "to" = '+14155550132'), 1::bigint,
          '... within ten minutes: no second reply');
SELECT is(pg_temp.code(pg_temp.request('anon', NULL, '{}', $$sms_otp._apply_inbound('tw', '{"from": "+1", "text": "STOP"}', 'x')$$)),
          '42501', 'the anonymous role cannot apply inbound messages directly');

--------------------------------------------------------------------------------------------
-- Receipts: a monotone state machine
--------------------------------------------------------------------------------------------
INSERT INTO sms_otp.sms_outbox (kind, "to", body, status, provider_name, provider_message_id)
VALUES ('transactional', '+14155550140', 'r1', 'sent', 'tw', 'SM1'),
       ('transactional', '+14155550141', 'r2', 'queued', NULL, NULL);
INSERT INTO sms_otp.sms_messages_log ("to", type, text, provider_name, outcome, outbox_id, provider_message_id)
SELECT "to", 'transactional', body, 'tw', 'sent', id, 'SM1' FROM sms_otp.sms_outbox WHERE body = 'r1';
CREATE FUNCTION pg_temp.rid(b text) RETURNS bigint LANGUAGE sql AS $$ SELECT id FROM sms_otp.sms_outbox WHERE body = b $$;
CREATE FUNCTION pg_temp.ev(st text, at text, err text DEFAULT NULL, pmid text DEFAULT 'SM1') RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('provider_message_id', pmid, 'status', st, 'provider_status', st, 'error_code', err,
                              'occurred_at', at)
$$;
CREATE FUNCTION pg_temp.state(b text) RETURNS text LANGUAGE sql AS $$
    SELECT delivery_status || ' ' || coalesce(to_char(delivery_at AT TIME ZONE 'UTC', 'HH24:MI'), '-') || ' '
           || coalesce(delivery_error, '-') FROM sms_otp.sms_outbox WHERE body = b
$$;

SELECT is(sms_otp._apply_receipt('tw', pg_temp.rid('r1'), pg_temp.ev('delivered', '2026-01-01T10:05:00Z'), 'e1') ->> 'applied',
          'true', 'delivered applies');
SELECT is(pg_temp.state('r1'), 'delivered 10:05 -', '... with the time of the event');
SELECT is(sms_otp._apply_receipt('tw', pg_temp.rid('r1'), pg_temp.ev('sent', '2026-01-01T10:01:00Z'), 'e2') ->> 'applied',
          'false', 'a late "sent" is kept but does not move it back');
SELECT is(pg_temp.state('r1'), 'delivered 10:05 -', '... still delivered');
SELECT is(sms_otp._apply_receipt('tw', pg_temp.rid('r1'), pg_temp.ev('failed', '2026-01-01T10:09:00Z', '30008'), 'e3') ->> 'applied',
          'false', 'nor does a failure after delivery');
SELECT is((SELECT count(*) FROM sms_otp.sms_delivery_events WHERE outbox_id = pg_temp.rid('r1')), 3::bigint, 'all three are kept');
SELECT is(sms_otp._apply_receipt('tw', pg_temp.rid('r1'), pg_temp.ev('delivered', '2026-01-01T10:05:00Z'), 'e1') ->> 'duplicate',
          'true', 'the same receipt twice is a duplicate');
SELECT is((SELECT count(*) FROM sms_otp.sms_delivery_events WHERE outbox_id = pg_temp.rid('r1')), 3::bigint, '... kept once');
SELECT is((SELECT delivery_status || ' ' || to_char(delivery_at AT TIME ZONE 'UTC', 'HH24:MI') FROM sms_otp.sms_messages_log
           WHERE provider_message_id = 'SM1'), 'delivered 10:05', 'the log row of the attempt shows it too');

-- A receipt before the worker has written the provider's answer: the message exists (in
-- flight: no provider, no provider id yet). The receipt is kept, not applied: nothing yet says
-- this provider took the message. Once the worker writes that, it applies what waited.
SELECT is(sms_otp._apply_receipt('tw', pg_temp.rid('r2'), pg_temp.ev('undelivered', '2026-01-01T11:00:00Z', '30003', 'SM2'), 'e4')
          ->> 'pending', 'true', 'a receipt that comes before the send''s own result is kept as pending');
SELECT is(pg_temp.state('r2'), 'queued - -', '... and not taken on trust');
SELECT is(sms_otp._apply_receipt('tw', pg_temp.rid('r2'), pg_temp.ev('delivered', '2026-01-01T11:00:00Z', NULL, 'SM-OTHER'), 'e5')
          ->> 'applied', 'false', 'another one, for another provider message id');
UPDATE sms_otp.sms_outbox SET status = 'sent', provider_name = 'tw', provider_message_id = 'SM2' WHERE body = 'r2';
SELECT is(sms_otp._apply_pending_receipts(ARRAY[pg_temp.rid('r2')]), 1,
          'when the worker writes the provider''s answer, the waiting receipt for its message id applies');
SELECT is(pg_temp.state('r2'), 'undelivered 11:00 30003', '... with the provider''s error code (the other id''s does not)');
SELECT is(sms_otp._apply_pending_receipts(ARRAY[pg_temp.rid('r2')]), 0, '... once');

-- A receipt signed with another provider row's key, about a message this one did not send.
INSERT INTO sms_otp.api_integrations (name, kind, base_url, credentials)
VALUES ('hook', 'webhook', 'https://hooks.example/sms', '{"secret": "whsec_c2VjcmV0"}');
SELECT is(pg_temp.code(pg_temp.request('postgres', NULL, '{}',
          format($$sms_otp._apply_receipt('hook', %s, '{"status": "delivered"}', 'e9')$$, pg_temp.rid('r2')))),
          'unknown_message', 'a receipt from a provider that did not send the message is refused');
SELECT is((SELECT count(*) FROM sms_otp.sms_delivery_events WHERE dedupe = 'e9'), 0::bigint, '... and not kept');
SELECT is(pg_temp.code(pg_temp.request('postgres', NULL, '{}', $$sms_otp._apply_receipt('tw', 999999999, '{"status": "delivered"}', 'e6')$$)),
          'unknown_message', 'a receipt for an unknown message is refused');
SELECT is(pg_temp.code(pg_temp.request('postgres', NULL, '{}', $$sms_otp._apply_receipt('tw', NULL, '{"status": "delivered"}', 'e7')$$)),
          'unknown_message', '... as is one that names no message');
SELECT is((SELECT count(*) FROM sms_otp.sms_delivery_events WHERE dedupe IN ('e6', 'e7')), 0::bigint, '... and nothing is kept');
SELECT is(sms_otp._apply_receipt('tw', NULL, ('{"reference": "' || pg_temp.rid('r2') || '", "status": "sent"}')::jsonb, 'e8') ->> 'message_id',
          pg_temp.rid('r2')::text, 'the payload''s reference names the message when the URL does not');

-- 10,000 receipts for 2,000 messages, applied in one random order and then again in another:
-- the same end state, the one the ranking says.
INSERT INTO sms_otp.sms_outbox (kind, "to", body, status, provider_name, provider_message_id)
SELECT 'transactional', '+14155550150', 'bulk-' || i, 'sent', 'tw', 'BULK' || i FROM generate_series(1, 2000) i;
CREATE TEMP TABLE receipts AS
SELECT o.id, o.provider_message_id AS pmid, e.n,
       (ARRAY['accepted', 'sent', 'delivered', 'undelivered', 'failed'])[1 + floor(random() * 5)::int] AS st,
       timestamptz '2026-01-01 12:00Z' + make_interval(secs => floor(random() * 600)::int) AS at,
       (ARRAY[NULL, '30003', '30005'])[1 + floor(random() * 3)::int] AS err
FROM sms_otp.sms_outbox o, generate_series(1, 5) e(n)
WHERE o.body LIKE 'bulk-%';
CREATE FUNCTION pg_temp.apply_all() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FILTER (WHERE (sms_otp._apply_receipt('tw', r.id,
               jsonb_build_object('provider_message_id', r.pmid, 'status', r.st, 'provider_status', r.st,
                                  'error_code', r.err, 'occurred_at', r.at), 'bulk:' || r.id || ':' || r.n)
               ->> 'duplicate')::boolean)
    FROM (SELECT * FROM receipts ORDER BY random()) r
$$;
SELECT is(pg_temp.apply_all(), 0::bigint, '10,000 shuffled receipts: none a duplicate the first time');
CREATE TEMP TABLE once AS
SELECT id, delivery_status, delivery_at, delivery_error FROM sms_otp.sms_outbox WHERE body LIKE 'bulk-%';
SELECT is(pg_temp.apply_all(), 10000::bigint, '... all duplicates the second time, in another order');
SELECT is((SELECT count(*) FROM once o JOIN sms_otp.sms_outbox x USING (id)
           WHERE (o.delivery_status, o.delivery_at, o.delivery_error) IS DISTINCT FROM
                 (x.delivery_status, x.delivery_at, x.delivery_error)), 0::bigint, '... and the states are identical');
SELECT is((SELECT count(*) FROM once o
           JOIN LATERAL (SELECT r.st, r.at, r.err FROM receipts r WHERE r.id = o.id
                         ORDER BY sms_otp._delivery_rank(r.st) DESC, r.at, coalesce(r.err, '') LIMIT 1) best ON true
           WHERE (o.delivery_status, o.delivery_at, o.delivery_error) IS DISTINCT FROM (best.st, best.at, best.err)),
          0::bigint, '... the highest-ranked event of each message, whatever the order');

SELECT * FROM finish();
ROLLBACK;
