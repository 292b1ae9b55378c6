-- Who may do what with the tables of phase 2 (docs/security.md, "Row-level security matrix"):
-- no client role reads or writes any of them; the service role writes what a backend
-- configures (templates, categories, keywords, throttles, quiet hours) and reads the rest,
-- through its own policy. Campaigns and their recipients change through the campaign functions.
-- The ledger changes only through opt_out()/opt_in() and inbound messages, so that every change
-- has its event; receipts and inbound messages only through the signed callbacks.
BEGIN;
SELECT plan(149);

INSERT INTO sms_otp.sms_templates (name, locale, body) VALUES ('t', 'en', 'Hi {name}');
INSERT INTO sms_otp.sms_categories (name) VALUES ('c');
INSERT INTO sms_otp.sms_idempotency_keys (key, request_hash, response, expires_at)
VALUES ('k', '\x01', '{"message_id": 1}', now() + interval '1 day');
INSERT INTO sms_otp.sms_opt_outs (phone, scope, source) VALUES ('+14155550101', 'all', 'sms');
INSERT INTO sms_otp.sms_opt_out_events (phone, scope, action, source) VALUES ('+14155550101', 'all', 'opt_out', 'sms');
INSERT INTO sms_otp.sms_delivery_events (outbox_id, provider_name, status, applied, dedupe) VALUES (1, 'p', 'sent', true, 'd');
INSERT INTO sms_otp.sms_inbound_messages (provider_name, "from", text, dedupe) VALUES ('p', '+14155550101', 'STOP', 'i');
INSERT INTO sms_otp.sms_throttles (scope, name, per_second) VALUES ('provider', 'p', 10);
INSERT INTO sms_otp.sms_quiet_hours (prefix, opens, closes) VALUES ('+33', '08:00', '20:00');
INSERT INTO sms_otp.sms_campaigns (name, text, audience) VALUES ('c', 'Sale', '["+14155550101"]');
INSERT INTO sms_otp.sms_campaign_recipients (campaign_id, id, given, phone, state)
VALUES (1, 1, '+14155550101', '+14155550101', 'pending');

-- Each table with one statement per operation (aimed at the row above).
CREATE TEMP TABLE ops (tbl text, op text, stmt text);
INSERT INTO ops
SELECT t.tbl, o.op, format(o.stmt, t.tbl, t.col, t.val)
FROM (VALUES ('sms_templates', 'body', '''x'''), ('sms_categories', 'description', '''x'''),
             ('sms_keywords', 'locale', '''xx'''), ('sms_idempotency_keys', 'key', '''k2'''),
             ('sms_opt_outs', 'source', '''x'''), ('sms_opt_out_events', 'source', '''x'''),
             ('sms_delivery_events', 'error_code', '''x'''), ('sms_inbound_messages', 'text', '''x'''),
             ('sms_throttles', 'per_second', '5'), ('sms_quiet_hours', 'closes', '''22:00'''),
             ('sms_campaigns', 'name', '''x'''), ('sms_campaign_recipients', 'error', '''x''')) t(tbl, col, val)
CROSS JOIN (VALUES ('SELECT', 'SELECT count(*) FROM sms_otp.%1$I'),
                   ('INSERT', 'INSERT INTO sms_otp.%1$I OVERRIDING SYSTEM VALUE SELECT * FROM sms_otp.%1$I LIMIT 0'),
                   ('UPDATE', 'UPDATE sms_otp.%1$I SET %2$I = %3$s'),
                   ('DELETE', 'DELETE FROM sms_otp.%1$I')) o(op, stmt);
GRANT SELECT ON ops TO PUBLIC;

CREATE FUNCTION pg_temp.fingerprint() RETURNS text LANGUAGE sql AS $$
    SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
        SELECT t::text AS x FROM sms_otp.sms_templates t UNION ALL SELECT t::text FROM sms_otp.sms_categories t
        UNION ALL SELECT t::text FROM sms_otp.sms_keywords t UNION ALL SELECT t::text FROM sms_otp.sms_idempotency_keys t
        UNION ALL SELECT t::text FROM sms_otp.sms_opt_outs t UNION ALL SELECT t::text FROM sms_otp.sms_opt_out_events t
        UNION ALL SELECT t::text FROM sms_otp.sms_delivery_events t UNION ALL SELECT t::text FROM sms_otp.sms_inbound_messages t
        UNION ALL SELECT t::text FROM sms_otp.sms_throttles t UNION ALL SELECT t::text FROM sms_otp.sms_quiet_hours t
        UNION ALL SELECT t::text FROM sms_otp.sms_campaigns t UNION ALL SELECT t::text FROM sms_otp.sms_campaign_recipients t) a
$$;
CREATE TEMP TABLE before AS SELECT pg_temp.fingerprint() AS fp;

-- anon and a signed-in user (who has passed the SMS step): every operation on every table denied.
SET ROLE anon;
SET request.jwt.claims = '';
SELECT throws_ok(o.stmt, '42501', NULL, 'anon: ' || o.op || ' ' || o.tbl || ' is denied') FROM ops o ORDER BY o.tbl, o.op;
RESET ROLE;
SET ROLE authenticated;
SET request.jwt.claims = '{"sub": "a0000000-0000-4000-8000-00000000000a", "role": "authenticated", "session_id": "s"}';
SELECT throws_ok(o.stmt, '42501', NULL, 'user: ' || o.op || ' ' || o.tbl || ' is denied') FROM ops o ORDER BY o.tbl, o.op;
RESET ROLE;
SELECT is(pg_temp.fingerprint(), (SELECT fp FROM before), 'nothing changed under anon or the user');

-- The service role.
SET ROLE service_role;
SET request.jwt.claims = '{"role": "service_role"}';
SELECT lives_ok(o.stmt, 'service_role: ' || o.op || ' ' || o.tbl)
FROM ops o WHERE o.tbl IN ('sms_templates', 'sms_categories', 'sms_keywords', 'sms_throttles', 'sms_quiet_hours') ORDER BY o.tbl, o.op;
SELECT lives_ok(o.stmt, 'service_role: SELECT ' || o.tbl)
FROM ops o WHERE o.op = 'SELECT' AND o.tbl NOT IN ('sms_templates', 'sms_categories', 'sms_keywords', 'sms_throttles', 'sms_quiet_hours', 'sms_idempotency_keys')
ORDER BY o.tbl;
SELECT throws_ok(o.stmt, '42501', NULL, 'service_role: ' || o.op || ' ' || o.tbl || ' is denied (the API writes it)')
FROM ops o WHERE o.op <> 'SELECT' AND o.tbl NOT IN ('sms_templates', 'sms_categories', 'sms_keywords', 'sms_throttles', 'sms_quiet_hours') ORDER BY o.tbl, o.op;
SELECT lives_ok('SELECT key, message_id, created_at, expires_at FROM sms_otp.sms_idempotency_keys',
                'service_role: idempotency keys and their messages are readable');
SELECT throws_ok('SELECT response FROM sms_otp.sms_idempotency_keys', '42501', NULL,
                 'service_role: stored answers are not (the API replays them)');
SELECT throws_ok('SELECT request_hash FROM sms_otp.sms_idempotency_keys', '42501', NULL, '... nor request fingerprints');
SELECT is((SELECT count(*) FROM sms_otp.sms_opt_outs), 1::bigint, 'service_role: the ledger''s rows are all visible');
RESET ROLE;

-- Seeded keywords stay out of a dump (the install makes them); a DBA's own go in.
SELECT is((SELECT pg_catalog.array_to_string(extcondition, ',') FROM pg_extension WHERE extname = 'sms_otp') ~ 'NOT builtin',
          true, 'pg_dump keeps keywords a DBA added, not the built-in ones');

SELECT * FROM finish();
ROLLBACK;
