-- Database shop before the dump, first part: the worker serves it, so what is sent here is sent
-- by the worker through the mock provider (log rows, receipts, a finished campaign).
-- Variables: mock (the mock provider's URL), secret (the webhook provider's whsec_ secret).
-- Writes go through the API as PostgREST would make them (pg_temp.request), or as the service
-- role where the API is the table itself (providers, contacts, templates, ...).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
\ir ../pgtap/request.psql

CREATE FUNCTION pg_temp.backend(call text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.request('service_role', '{"role": "service_role"}', '{}', call)
$$;
CREATE FUNCTION pg_temp.user_call(n int, call text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.request('authenticated',
        jsonb_build_object('sub', 'b0000000-0000-4000-8000-00000000000' || n, 'role', 'authenticated',
                           'session_id', 'login-' || n), '{}', call)
$$;
-- A call that must succeed (a refusal stops the script: later steps need its result).
CREATE FUNCTION pg_temp.must(r jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF r -> 'body' IS NULL OR coalesce((r ->> 'status')::int, 500) >= 300 THEN
        RAISE EXCEPTION 'call refused: %', r;
    END IF;
    RETURN r -> 'body';
END $$;

SET ROLE service_role;
-- Providers: a signed webhook first, Twilio second (user 1 prefers it), a disabled Vonage.
INSERT INTO sms_otp.api_integrations (name, kind, priority, enabled, base_url, sender, credentials, selectable)
VALUES ('hook', 'webhook', 10, true, :'mock' || '/webhook/sms', NULL, jsonb_build_object('secret', :'secret'), true),
       ('twilio-main', 'twilio', 20, true, :'mock', '+15005550006',
        '{"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "twilio-token-1"}', true),
       ('vonage-spare', 'vonage', 30, false, :'mock', 'Shop', '{"api_key": "key1", "api_secret": "vonage-secret-1"}', false);
INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled, preferred_provider) VALUES
    ('b0000000-0000-4000-8000-000000000001', '+1 415 555 0101', true, 'twilio-main'),
    ('b0000000-0000-4000-8000-000000000002', '+14155550102', true, NULL),
    ('b0000000-0000-4000-8000-000000000003', '(415) 555-0103', true, NULL),
    ('b0000000-0000-4000-8000-000000000004', '+14155550104', true, NULL),
    ('b0000000-0000-4000-8000-000000000005', '+14155550105', false, NULL);
INSERT INTO sms_otp.sms_templates (name, locale, body) VALUES
    ('order_shipped', 'en', 'Hi {name}, order {ref} has shipped.'),
    ('order_shipped', 'pt', 'Olá {name}, a encomenda {ref} foi enviada.'),
    ('spring_sale', 'en', 'Hi {first_name}, spring sale: {discount} off. Reply STOP to opt out.');
INSERT INTO sms_otp.sms_categories (name, honours_opt_out, description) VALUES
    ('orders', true, 'Order updates'),
    ('security', false, 'Account security alerts');
INSERT INTO sms_otp.sms_keywords (keyword, action, locale) VALUES ('ALTO', 'stop', 'es'), ('AYUDA', 'help', 'es');
INSERT INTO sms_otp.sms_quiet_hours (prefix, opens, closes, days) VALUES ('+33', '08:00', '20:00', '{1,2,3,4,5,6}');
INSERT INTO sms_otp.sms_throttles (scope, name, per_second, per_day, day_zone) VALUES ('provider', 'hook', 50, 10000, 'Europe/Paris');
INSERT INTO sms_otp.sms_throttles (scope, name, per_minute) VALUES ('sender', '+15005550006', 100);
RESET ROLE;
-- Builtin rows changed by the DBA: pg_dump keeps neither change (only rows with builtin = false).
UPDATE sms_otp.sms_quiet_hours SET closes = '20:00' WHERE prefix = '';
DELETE FROM sms_otp.sms_keywords WHERE keyword = 'YES';
-- A grant of the DBA's own on the extension: dumped, so its role must exist where it is restored.
GRANT EXECUTE ON FUNCTION sms_otp.worker_status() TO monitoring;

-- Codes for users 1, 2 and 4 (user 1 through Twilio, the others through the webhook).
SELECT pg_temp.must(pg_temp.user_call(1, 'sms_otp.otp_send()')) IS NOT NULL AS sent_1 \gset
SELECT pg_temp.must(pg_temp.user_call(2, 'sms_otp.otp_send()')) IS NOT NULL AS sent_2 \gset
SELECT pg_temp.must(pg_temp.user_call(4, 'sms_otp.otp_send()')) IS NOT NULL AS sent_4 \gset

-- A transactional message with an idempotency key, an opt-out, a campaign of three numbers
-- (one of them opted out of promo messages: skipped at launch).
SELECT pg_temp.must(pg_temp.backend($$sms_otp.send_transactional('+14155550110', template => 'order_shipped',
    data => '{"name": "Ana", "ref": "A-1001"}', category => 'orders', business_ref => 'A-1001',
    idempotency_key => 'ship-A-1001')$$)) IS NOT NULL AS shipped \gset
SELECT pg_temp.must(pg_temp.backend($$sms_otp.opt_out('+14155550199', 'promo', 'web form')$$)) IS NOT NULL AS opted \gset
SELECT (pg_temp.must(pg_temp.backend($$sms_otp.campaign_create(name => 'Spring sale', template => 'spring_sale',
    data => '{"discount": "20%"}', quiet_hours => false,
    audience => '[{"phone": "+14155550120", "data": {"first_name": "Bea"}},
                  {"phone": "+14155550121", "data": {"first_name": "Cal"}},
                  {"phone": "+14155550199", "data": {"first_name": "Dan"}}]')$$)) ->> 'campaign_id')::bigint AS spring \gset
SELECT pg_temp.must(pg_temp.backend(format('sms_otp.campaign_launch(%s)', :spring))) IS NOT NULL AS launched \gset
