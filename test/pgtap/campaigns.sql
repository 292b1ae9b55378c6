-- Promo campaigns (DESIGN.md §7): who may run them, what create and launch refuse, the launch
-- snapshot and what it skips, quiet hours, pause/resume/cancel/retry, the outbox trigger, the
-- worker's feed and demand, auto-pause and STOP attribution, progress, and the tables' rights.
-- Each rule checked so that removing it fails a check. Runs as the superuser; API calls run as
-- PostgREST would run them, through pg_temp.request(); the worker's internal functions
-- (_campaign_feed, _campaign_demand, _campaign_expire) are called as the superuser, as the
-- worker calls them, and its sends are simulated by updating the outbox rows the feed made.
-- All in one transaction: now() is one instant, so times are compared exactly.
BEGIN;
SELECT plan(355);

\ir request.psql

CREATE FUNCTION pg_temp.backend(call text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.request('service_role', '{"role": "service_role"}', '{}', call)
$$;
CREATE FUNCTION pg_temp.user_call(call text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.request('authenticated',
                           '{"sub": "00000000-0000-4000-8000-000000000001", "role": "authenticated", "session_id": "s1"}',
                           '{}', call)
$$;
CREATE FUNCTION pg_temp.anon_call(call text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.request('anon', '{"role": "anon"}', '{}', call)
$$;
CREATE FUNCTION pg_temp.code(r jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(r -> 'error' ->> 'code', r ->> 'sqlstate')
$$;
-- campaign_create(args) as the backend; its id (a refusal stops the file: later checks need it).
CREATE FUNCTION pg_temp.new_campaign(args text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    r jsonb := pg_temp.backend('sms_otp.campaign_create(' || args || ')');
BEGIN
    IF r -> 'body' ->> 'campaign_id' IS NULL THEN
        RAISE EXCEPTION 'campaign_create(%) failed: %', args, r;
    END IF;
    RETURN (r -> 'body' ->> 'campaign_id')::bigint;
END $$;
CREATE FUNCTION pg_temp.launch(campaign bigint) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.backend(format('sms_otp.campaign_launch(%s)', campaign))
$$;
CREATE FUNCTION pg_temp.api(fn text, campaign bigint) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.backend(format('sms_otp.%s(%s)', fn, campaign))
$$;
-- A campaign's recipients as "id:state[:reason]", in order.
CREATE FUNCTION pg_temp.states(campaign bigint) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(r.id || ':' || r.state || coalesce(':' || r.skip_reason, ''), ' ' ORDER BY r.id)
    FROM sms_otp.sms_campaign_recipients r WHERE r.campaign_id = campaign
$$;
-- A campaign's status and counts as "status recipients/pending/sent/delivered/failed/skipped".
CREATE FUNCTION pg_temp.counts(campaign bigint) RETURNS text LANGUAGE sql AS $$
    SELECT c.status || ' ' || concat_ws('/', c.recipients, c.pending, c.sent, c.delivered, c.failed, c.skipped)
    FROM sms_otp.sms_campaigns c WHERE c.id = campaign
$$;
CREATE FUNCTION pg_temp.recipient(campaign bigint, n bigint) RETURNS sms_otp.sms_campaign_recipients LANGUAGE sql AS $$
    SELECT * FROM sms_otp.sms_campaign_recipients r WHERE r.campaign_id = campaign AND r.id = n
$$;
CREATE FUNCTION pg_temp.recipient_count(campaign bigint) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM sms_otp.sms_campaign_recipients r WHERE r.campaign_id = campaign
$$;
-- The worker's feed of one campaign (as the superuser, as the worker).
CREATE FUNCTION pg_temp.feed(campaign bigint, messages int, segments int DEFAULT NULL) RETURNS int LANGUAGE sql AS $$
    SELECT sms_otp._campaign_feed(jsonb_build_array(jsonb_strip_nulls(
        jsonb_build_object('campaign_id', campaign, 'messages', messages, 'segments', segments))))
$$;
-- The outbox row of recipient n.
CREATE FUNCTION pg_temp.msg(campaign bigint, n bigint) RETURNS bigint LANGUAGE sql AS $$
    SELECT r.outbox_id FROM sms_otp.sms_campaign_recipients r WHERE r.campaign_id = campaign AND r.id = n
$$;
-- The worker's result for recipient n's message.
CREATE FUNCTION pg_temp.worker_sets(campaign bigint, n bigint, st text, delivery text DEFAULT NULL,
                                    err text DEFAULT NULL) RETURNS void LANGUAGE sql AS $$
    UPDATE sms_otp.sms_outbox o
    SET status = st, provider_name = CASE WHEN st = 'sent' THEN 'tw' ELSE o.provider_name END,
        delivery_status = coalesce(delivery, CASE WHEN st = 'sent' THEN 'accepted' ELSE o.delivery_status END),
        delivery_at = CASE WHEN delivery IS NOT NULL THEN now() END,
        delivery_error = CASE WHEN delivery IS NOT NULL THEN err END,
        last_error = CASE WHEN delivery IS NULL THEN err ELSE o.last_error END
    WHERE o.id = pg_temp.msg(campaign, n)
$$;

-- Providers: tw first (vg has a lower priority number but is disabled), con last, without a sender.
INSERT INTO sms_otp.api_integrations (name, kind, priority, enabled, sender, credentials) VALUES
    ('vg', 'vonage', 5, false, 'VG', '{"api_key": "k", "api_secret": "s"}'),
    ('tw', 'twilio', 10, true, '+15005550006', '{"account_sid": "AC1", "auth_token": "t"}'),
    ('con', 'console', 20, true, NULL, '{}');
INSERT INTO sms_otp.sms_templates (name, locale, body) VALUES
    ('promo', 'en', 'Hi {name}, {offer} today!'),
    ('promo', 'pt', 'Olá {name}, {offer} hoje!');
-- Quiet hours: numbers of +1415 may always be texted, other +1 numbers 09:00-20:00; the
-- built-in rule ('') holds for the rest.
INSERT INTO sms_otp.sms_quiet_hours (prefix, opens, closes) VALUES
    ('+1415', '00:00', '23:59:59.999999'), ('+1', '09:00', '20:00');
-- No frequency cap unless a check sets one.
SET LOCAL sms_otp.promo_frequency_cap = 0;
SET LOCAL client_min_messages = warning;

--------------------------------------------------------------------------------------------
-- 1. Who: the service role only
--------------------------------------------------------------------------------------------
CREATE TEMP TABLE api_calls (call text);
INSERT INTO api_calls VALUES
    ($$sms_otp.campaign_create('x', text => 'hi', audience => '["+14155550101"]')$$),
    ('sms_otp.campaign_launch(1)'), ($$sms_otp.campaign_pause(1, 'x')$$), ('sms_otp.campaign_resume(1)'),
    ('sms_otp.campaign_cancel(1)'), ('sms_otp.campaign_retry_failed(1)'), ('sms_otp.campaign_progress(1)'),
    ($$sms_otp.campaign_recipient(1, '+14155550101')$$),
    ($$sms_otp._campaign_snapshot(1, 'sms_otp_audience_00000000000000000000000000000000')$$);
SELECT is(pg_temp.code(pg_temp.user_call(call)), 'forbidden', 'a signed-in user may not call ' || left(call, 40)) FROM api_calls;
SELECT is(pg_temp.code(pg_temp.anon_call(call)), 'forbidden', 'nor may anon call ' || left(call, 40)) FROM api_calls;
SELECT is(count(*), 0::bigint, 'each of those refusals is a 403')
FROM api_calls WHERE (pg_temp.user_call(call) ->> 'status')::int IS DISTINCT FROM 403
                  OR (pg_temp.anon_call(call) ->> 'status')::int IS DISTINCT FROM 403;
SELECT is((SELECT count(*) FROM sms_otp.sms_campaigns), 0::bigint, '... and nothing was created');
SELECT ok(NOT has_function_privilege(r, f, 'EXECUTE'), r || ' cannot execute ' || f)
FROM unnest(ARRAY['service_role', 'authenticated', 'anon']) r,
     unnest(ARRAY['sms_otp._campaign_feed(jsonb)', 'sms_otp._campaign_demand(int)', 'sms_otp._campaign_expire()',
                  'sms_otp._campaign_note_stop(text)', 'sms_otp._campaign_check_health(bigint)',
                  'sms_otp._throttle_limits()']) f;

--------------------------------------------------------------------------------------------
-- 2. campaign_create: each refusal a 400 with its code, nothing written
--------------------------------------------------------------------------------------------
CREATE TEMP TABLE refusals (args text, code text);
INSERT INTO refusals VALUES
    ($$'c', audience => '["+14155550101"]'$$, 'template_or_text'),
    ($$'c', template => 'promo', text => 'hi', audience => '["+14155550101"]'$$, 'template_or_text'),
    ($$'c', template => 'no_such', audience => '["+14155550101"]'$$, 'unknown_template'),
    ($$'c', text => E'bell \x07 rings', audience => '["+14155550101"]'$$, 'invalid_text'),
    ($$'c', text => '   ', audience => '["+14155550101"]'$$, 'invalid_text'),
    ($$'c', text => repeat('a', 1601), audience => '["+14155550101"]'$$, 'invalid_text'),
    ($$'c', template => 'promo', data => '[1, 2]', audience => '["+14155550101"]'$$, 'invalid_template_data'),
    ($$'c', template => 'promo', data => NULL, audience => '["+14155550101"]'$$, 'invalid_template_data'),
    ($$'c', text => 'hi', locale => 'english please', audience => '["+14155550101"]'$$, 'invalid_locale'),
    ($$'c', text => 'hi'$$, 'audience_required'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', audience_query => 'SELECT 1'$$, 'audience_required'),
    ($$'c', text => 'hi', audience => '{"phone": "+14155550101"}'$$, 'invalid_audience'),
    ($$'c', text => 'hi', audience => '"+14155550101"'$$, 'invalid_audience'),
    ($$'c', text => 'hi', audience_query => '   '$$, 'invalid_audience'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', provider => 'nope'$$, 'unknown_provider'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', sender => ''$$, 'invalid_sender'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', sender => repeat('s', 33)$$, 'invalid_sender'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', sender => E'AC\nME'$$, 'invalid_sender'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', throttle => '{"per_second": 0}'$$, 'invalid_throttle'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', throttle => '{"per_minute": -1}'$$, 'invalid_throttle'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', throttle => '{"per_day": 1.5}'$$, 'invalid_throttle'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', throttle => '{"per_second": "x"}'$$, 'invalid_throttle'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', throttle => '{"per_second": 1e10}'$$, 'invalid_throttle'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', throttle => '{"per_hour": 5}'$$, 'invalid_throttle'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', throttle => '{"day_zone": "Mars/Olympus"}'$$, 'invalid_throttle'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', throttle => '[10]'$$, 'invalid_throttle'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', starts_at => now() - interval '1 day'$$, 'invalid_starts_at'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', starts_at => now() + interval '91 days'$$, 'invalid_starts_at'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', valid_for => interval '30 seconds'$$, 'invalid_valid_for'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', valid_for => interval '31 days'$$, 'invalid_valid_for'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', valid_for => NULL$$, 'invalid_valid_for'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', allowed_prefixes => '{1}'$$, 'invalid_allowed_prefixes'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', allowed_prefixes => '{+0}'$$, 'invalid_allowed_prefixes'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', allowed_prefixes => '{+12345678}'$$, 'invalid_allowed_prefixes'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', allowed_prefixes => '{+1,NULL}'$$, 'invalid_allowed_prefixes'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', auto_pause => '{"max_error_rate": 0}'$$, 'invalid_auto_pause'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', auto_pause => '{"max_stop_rate": 1.5}'$$, 'invalid_auto_pause'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', auto_pause => '{"min_sample": 0}'$$, 'invalid_auto_pause'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', auto_pause => '{"min_sample": "many"}'$$, 'invalid_auto_pause'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', auto_pause => '{"max_errors": 3}'$$, 'invalid_auto_pause'),
    ($$'c', text => 'hi', audience => '["+14155550101"]', auto_pause => '[0.1]'$$, 'invalid_auto_pause'),
    ($$'', text => 'hi', audience => '["+14155550101"]'$$, 'invalid_name');
SELECT is(pg_temp.code(pg_temp.backend('sms_otp.campaign_create(' || args || ')')), code, 'create refused: ' || left(args, 100))
FROM refusals;
SELECT is(count(*), 0::bigint, 'every refusal a 400')
FROM refusals WHERE (pg_temp.backend('sms_otp.campaign_create(' || args || ')') ->> 'status')::int IS DISTINCT FROM 400;
SELECT is((SELECT count(*) FROM sms_otp.sms_campaigns), 0::bigint, 'no refused call wrote a campaign');

CREATE TEMP TABLE good AS SELECT pg_temp.backend($$sms_otp.campaign_create('Spring sale',
    text => 'Spring sale: 20% off. Reply STOP to opt out', audience => '["+14155550101"]', provider => 'con',
    sender => 'ACME', throttle => '{"per_second": 5, "per_minute": null, "segments_per_day": 100, "day_zone": "Europe/Paris"}',
    auto_pause => '{"max_error_rate": 0.1, "min_sample": 50}', allowed_prefixes => '{+1,+44}')$$) AS v;
SELECT is((SELECT (v ->> 'status')::int FROM good), 200, 'the service role creates a campaign');
SELECT is((SELECT (v -> 'body') - 'campaign_id' FROM good), '{"status": "draft"}', '... a draft');
SELECT is((SELECT concat_ws(' ', c.status, c.provider, c.sender, c.per_second, coalesce(c.per_minute::text, '-'),
                            c.segments_per_day, c.day_zone, c.max_error_rate, c.max_stop_rate, c.min_sample, c.allowed_prefixes::text)
           FROM sms_otp.sms_campaigns c, good WHERE c.id = (v -> 'body' ->> 'campaign_id')::bigint),
          'draft con ACME 5 - 100 Europe/Paris 0.1 0.02 50 {+1,+44}', '... holding its provider, sender, throttle and thresholds');
SELECT is((SELECT pg_temp.recipient_count((v -> 'body' ->> 'campaign_id')::bigint) FROM good), 0::bigint,
          '... and no recipient before launch');

--------------------------------------------------------------------------------------------
-- 3. Launch runs nothing of the caller's with the extension's rights. (First: the work tables
-- of a launch are made in the caller's own temporary schema, where a fresh session can put
-- its own before the first launch.)
--------------------------------------------------------------------------------------------
-- Caller code that notes who ran it; run as anyone but the caller, it also advances a sequence
-- (which no rollback of a failed call takes back).
CREATE SEQUENCE public.ran_as_owner;
CREATE TABLE public.ran (what text, who text);
GRANT USAGE ON SEQUENCE public.ran_as_owner TO service_role;
GRANT SELECT, INSERT ON public.ran TO service_role;
CREATE FUNCTION public.note(what text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.ran VALUES (what, current_user);
    IF current_user <> 'service_role' THEN
        PERFORM nextval('public.ran_as_owner');
    END IF;
    RETURN '+14155550199';
END $$;
CREATE FUNCTION public.note_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM public.note(TG_ARGV[0]);
    RETURN NULL;
END $$;
CREATE FUNCTION public.note_immutable(what text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT public.note(what) $$;
CREATE FUNCTION pg_temp.ran_as_owner() RETURNS boolean LANGUAGE sql AS $$ SELECT is_called FROM public.ran_as_owner $$;

SET LOCAL ROLE service_role;
CREATE TEMP TABLE sms_otp_snapshot (id bigint, given text, phone text, user_id uuid, zone text, data jsonb, rendered jsonb);
CREATE TRIGGER note AFTER INSERT ON pg_temp.sms_otp_snapshot FOR EACH STATEMENT EXECUTE FUNCTION public.note_trigger('snapshot');
CREATE TEMP TABLE sms_otp_places (key text, zones text[], rule text);
CREATE INDEX ON pg_temp.sms_otp_places ((public.note_immutable(key)));
RESET ROLE;
SELECT pg_temp.new_campaign($$'First launch of the session', text => 'Hi', audience => '["+14155550190"]', quiet_hours => false$$)
       AS first_launch \gset
CREATE TEMP TABLE first_launch AS SELECT pg_temp.launch(:first_launch) AS v;
SELECT ok(NOT pg_temp.ran_as_owner(), 'a launch runs no trigger or index of the caller''s on its work tables as the owner');
SELECT is((SELECT count(*) FROM public.ran WHERE who <> 'service_role'), 0::bigint, '... none at all');
DROP TABLE IF EXISTS pg_temp.sms_otp_snapshot, pg_temp.sms_otp_places;
TRUNCATE public.ran;
SELECT setval('public.ran_as_owner', 1, false) IS NULL AS reset \gset

-- The audience query runs as the caller.
SELECT pg_temp.new_campaign($$'Who reads', text => 'Hi', quiet_hours => false,
                              audience_query => 'SELECT public.note(''audience'') AS phone'$$) AS who_reads \gset
SELECT is((pg_temp.launch(:who_reads) ->> 'status')::int, 200, 'a query audience launches');
SELECT is((SELECT array_agg(DISTINCT who) FROM public.ran WHERE what = 'audience'), '{service_role}'::text[],
          '... its query ran as the caller (the service role), not as the extension''s owner');
SELECT ok(NOT pg_temp.ran_as_owner(), '... and never as the owner');
SELECT is(pg_temp.states(:who_reads), '1:pending', '... its row is the recipient');
SELECT ok(NOT (SELECT prosecdef FROM pg_proc WHERE oid = 'sms_otp.campaign_launch(bigint)'::regprocedure),
          'campaign_launch is SECURITY INVOKER');

-- _campaign_snapshot reads only a plain temporary table of this session, as launch makes it.
SET LOCAL ROLE service_role;
CREATE TEMP VIEW sms_otp_audience_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa AS
    SELECT 1::bigint AS id, public.note('view') AS phone, NULL::uuid AS user_id, NULL::text AS time_zone, NULL::jsonb AS data;
CREATE TEMP TABLE sms_otp_audience_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb (id bigint, phone text, user_id uuid, time_zone text, data jsonb);
CREATE TRIGGER note AFTER TRUNCATE ON pg_temp.sms_otp_audience_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
    FOR EACH STATEMENT EXECUTE FUNCTION public.note_trigger('trigger');
CREATE TEMP TABLE sms_otp_audience_cccccccccccccccccccccccccccccccc (id bigint, phone text, user_id uuid, time_zone text, data jsonb);
ALTER TABLE pg_temp.sms_otp_audience_cccccccccccccccccccccccccccccccc ENABLE ROW LEVEL SECURITY;
ALTER TABLE pg_temp.sms_otp_audience_cccccccccccccccccccccccccccccccc FORCE ROW LEVEL SECURITY;
CREATE POLICY note ON pg_temp.sms_otp_audience_cccccccccccccccccccccccccccccccc USING (public.note('policy') IS NOT NULL);
CREATE TEMP TABLE sms_otp_audience_dddddddddddddddddddddddddddddddd (id bigint, phone text, user_id uuid, time_zone text, data jsonb,
                                                                     extra int);
CREATE TEMP TABLE sms_otp_audience_eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee (id bigint, phone text DEFAULT public.note('default'),
                                                                     user_id uuid, time_zone text, data jsonb);
CREATE TEMP TABLE sms_otp_audience_ffffffffffffffffffffffffffffffff (id bigint, phone text, user_id uuid, time_zone text, data jsonb);
CREATE RULE note AS ON INSERT TO pg_temp.sms_otp_audience_ffffffffffffffffffffffffffffffff DO ALSO SELECT public.note('rule');
CREATE TEMP TABLE sms_otp_audience_abababababababababababababababab (id bigint, phone varchar, user_id uuid, time_zone text, data jsonb);
CREATE TEMP TABLE my_audience (id bigint, phone text, user_id uuid, time_zone text, data jsonb);
INSERT INTO pg_temp.my_audience VALUES (1, '+14155550191', NULL, NULL, NULL);
CREATE TEMP TABLE sms_otp_audience_0123456789abcdef0123456789abcdef (id bigint, phone text, user_id uuid, time_zone text, data jsonb);
INSERT INTO pg_temp.sms_otp_audience_0123456789abcdef0123456789abcdef VALUES (1, '+14155550191', NULL, NULL, NULL);
RESET ROLE;
CREATE TABLE public.sms_otp_audience_12121212121212121212121212121212 (id bigint, phone text, user_id uuid, time_zone text, data jsonb);
GRANT SELECT ON public.sms_otp_audience_12121212121212121212121212121212 TO service_role;

SELECT pg_temp.new_campaign($$'Crafted', text => 'Hi', audience => '["+14155550191"]', quiet_hours => false$$) AS crafted \gset
SELECT is(pg_temp.code(pg_temp.backend(format('sms_otp._campaign_snapshot(%s, %L)', :crafted, t.name))), 'invalid_audience',
          '_campaign_snapshot refuses ' || t.what)
FROM (VALUES ('sms_otp_audience_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'a temporary view'),
             ('sms_otp_audience_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 'a table with a trigger'),
             ('sms_otp_audience_cccccccccccccccccccccccccccccccc', 'a table with row-level security'),
             ('sms_otp_audience_dddddddddddddddddddddddddddddddd', 'a table with an extra column'),
             ('sms_otp_audience_eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee', 'a table with a default'),
             ('sms_otp_audience_ffffffffffffffffffffffffffffffff', 'a table with a rule'),
             ('sms_otp_audience_abababababababababababababababab', 'a column of another type'),
             ('my_audience', 'a name launch does not make'),
             ('sms_otp_audience_12121212121212121212121212121212', 'a table outside this session''s temporary schema'),
             ('sms_otp_audience_99999999999999999999999999999999', 'a table that does not exist'))
     AS t(name, what);
SELECT ok(NOT pg_temp.ran_as_owner(), '... and ran none of the caller''s code as the owner');
SELECT is((SELECT count(*) FROM public.ran WHERE what <> 'audience'), 0::bigint, '... nor at all');
SELECT is(pg_temp.counts(:crafted) || ' ' || pg_temp.recipient_count(:crafted), 'draft 0/0/0/0/0/0 0',
          '... the campaign is still a draft without recipients');
SELECT is((SELECT (v -> 'body' ->> 'recipients')::int FROM (SELECT pg_temp.backend(format('sms_otp._campaign_snapshot(%s, %L)',
          :crafted, 'sms_otp_audience_0123456789abcdef0123456789abcdef')) AS v) x), 1,
          'a plain temporary table of this session, named as launch names them, is read');

--------------------------------------------------------------------------------------------
-- 4. Launch: one row per audience entry, judged once
--------------------------------------------------------------------------------------------
-- +14155550105 got a promo message just now from another campaign.
SELECT pg_temp.new_campaign($$'Earlier', text => 'Earlier offer', audience => '["+14155550105"]', quiet_hours => false$$) AS l0 \gset
SELECT is(pg_temp.launch(:l0) -> 'body' ->> 'status', 'running', 'a launched campaign without schedule is running');
SELECT is(pg_temp.feed(:l0, 10), 1, '... and the worker queues its message');
INSERT INTO sms_otp.sms_opt_outs (phone, scope, source) VALUES
    ('+14155550102', 'all', 'sms'), ('+14155550103', 'promo', 'api'), ('+14155550104', 'billing', 'api');
SET LOCAL sms_otp.promo_frequency_cap = '1d';
SELECT pg_temp.new_campaign($$'List', text => 'Spring sale: 20% off today', allowed_prefixes => '{+1}', quiet_hours => false,
    audience => '["+1 415 555 0101", "+14155550101", "not a number", "+33612345678", "+14155550102", "+14155550103",
                  "+14155550104", "+14155550105",
                  {"phone": "+14155550106", "user_id": "00000000-0000-4000-8000-000000000006", "time_zone": "America/Chicago"}]'$$)
       AS l1 \gset
CREATE TEMP TABLE l1 AS SELECT pg_temp.launch(:l1) AS v;
SELECT is(pg_temp.states(:l1),
          '1:pending 2:skipped:duplicate 3:skipped:invalid_number 4:skipped:country_blocked 5:skipped:opted_out '
          '6:skipped:opted_out 7:pending 8:skipped:frequency_capped 9:pending',
          'one row per entry in order: duplicate after normalisation, invalid, outside allowed_prefixes, opted out '
          '(all, promo; not billing), texted by another campaign within the frequency cap');
SELECT is((SELECT (v -> 'body') - 'campaign_id' - 'starts_at' - 'ends_at' FROM l1),
          '{"status": "running", "recipients": 9, "pending": 3, "deferred": 0,
            "skipped": {"duplicate": 1, "invalid_number": 1, "country_blocked": 1, "opted_out": 2, "frequency_capped": 1}}',
          'the answer counts them');
SELECT ok((SELECT (v -> 'body' ->> 'starts_at')::timestamptz = now() AND (v -> 'body' ->> 'ends_at')::timestamptz = now() + interval '3 days'
           FROM l1), '... starting now, ending after valid_for (3 days by default)');
SELECT is(pg_temp.counts(:l1), 'running 9/3/0/0/0/6', 'so does the campaign row');
SELECT is((SELECT (r).given || ' ' || (r).phone FROM (SELECT pg_temp.recipient(:l1, 1) AS r) x), '+1 415 555 0101 +14155550101',
          'a recipient keeps the number as given and in E.164');
SELECT is((SELECT (r).phone IS NULL AND (r).given = 'not a number' FROM (SELECT pg_temp.recipient(:l1, 3) AS r) x), true,
          '... an invalid one as given only');
SELECT is((SELECT (r).user_id || ' ' || (r).zones::text FROM (SELECT pg_temp.recipient(:l1, 9) AS r) x),
          '00000000-0000-4000-8000-000000000006 {America/Chicago}', 'an entry''s user_id and time_zone are kept');
SELECT is((SELECT (r).zones::text FROM (SELECT pg_temp.recipient(:l1, 1) AS r) x), '{America/Los_Angeles}',
          '... without a time_zone, the number''s zones');
SELECT is((SELECT count(*) FROM sms_otp.sms_campaign_recipients r
           WHERE r.campaign_id = :l1 AND r.state = 'pending' AND r.body = 'Spring sale: 20% off today' AND r.segments = 1
             AND r.next_at = now() AND NOT r.deferred AND r.outbox_id IS NULL), 3::bigint,
          'pending rows hold the text, its parts, and are due now');
SELECT is((SELECT count(*) FROM sms_otp.sms_campaign_recipients r WHERE r.campaign_id = :l1 AND r.state = 'skipped' AND r.next_at IS NULL),
          6::bigint, 'skipped rows are never due');
SELECT is((SELECT count(*) FROM sms_otp.sms_outbox WHERE campaign_id = :l1), 0::bigint, 'launch queues nothing itself');
SELECT is(pg_temp.code(pg_temp.launch(:l1)), 'already_launched', 'launching twice: already_launched');
SELECT is((pg_temp.launch(:l1) ->> 'status')::int, 409, '... 409');
SELECT is(pg_temp.recipient_count(:l1), 9::bigint, '... and the snapshot is as it was');
UPDATE sms_otp.sms_campaign_recipients SET queued_at = now() - interval '25 hours' WHERE campaign_id = :l0;
SELECT pg_temp.new_campaign($$'Cap passed', text => 'Hi', quiet_hours => false, audience => '["+14155550105"]'$$) AS l3 \gset
SELECT is(pg_temp.launch(:l3) -> 'body' ->> 'pending', '1', 'a message longer ago than the cap (1 day) does not cap');
UPDATE sms_otp.sms_campaign_recipients SET queued_at = now() WHERE campaign_id = :l0;
SET LOCAL sms_otp.promo_frequency_cap = 0;
SELECT pg_temp.new_campaign($$'No cap', text => 'Hi', quiet_hours => false, audience => '["+14155550105"]'$$) AS l2 \gset
SELECT is(pg_temp.launch(:l2) -> 'body' ->> 'pending', '1', 'with sms_otp.promo_frequency_cap = 0 there is no frequency cap');

-- Templates, filled per recipient.
SELECT pg_temp.new_campaign($$'Template', template => 'promo', data => '{"offer": "20% off"}', quiet_hours => false,
    audience => '[{"phone": "+14155550111", "data": {"name": "Ana"}},
                  {"phone": "+14155550112", "data": {"name": "Bo", "offer": "free shipping"}}]'$$) AS t1 \gset
SELECT is(pg_temp.launch(:t1) -> 'body' ->> 'pending', '2', 'a template campaign launches');
SELECT is((SELECT string_agg(body, ' | ' ORDER BY id) FROM sms_otp.sms_campaign_recipients WHERE campaign_id = :t1),
          'Hi Ana, 20% off today! | Hi Bo, free shipping today!',
          '... each text filled from the recipient''s data over the campaign''s');
SELECT pg_temp.new_campaign($$'Template pt', template => 'promo', locale => 'pt', data => '{"offer": "frete grátis", "name": "Rui"}',
    quiet_hours => false, audience => '["+14155550113"]'$$) AS t1b \gset
SELECT is(pg_temp.launch(:t1b) ->> 'status', '200', 'a template campaign with the same data for all launches');
SELECT is((SELECT body FROM sms_otp.sms_campaign_recipients WHERE campaign_id = :t1b), 'Olá Rui, frete grátis hoje!',
          '... the campaign''s locale and data, the same text for all');
SELECT pg_temp.new_campaign($$'Template missing', template => 'promo', data => '{"offer": "20% off"}', quiet_hours => false,
    audience => '[{"phone": "+14155550111", "data": {"name": "Ana"}}, {"phone": "+14155550112", "data": {"nom": "Bo"}}]'$$) AS t2 \gset
CREATE TEMP TABLE t2 AS SELECT pg_temp.launch(:t2) AS v;
SELECT is((SELECT pg_temp.code(v) || ' ' || (v ->> 'status') FROM t2), 'template_data_missing 400',
          'a template field one recipient lacks: 400 template_data_missing');
SELECT ok((SELECT v -> 'error' ->> 'message' LIKE 'Recipient 2 (+14155550112)%{name}%' FROM t2), '... naming the recipient and the field');
SELECT is(pg_temp.counts(:t2) || ' ' || pg_temp.recipient_count(:t2), 'draft 0/0/0/0/0/0 0', '... nothing launched');
SELECT pg_temp.new_campaign($$'Template shared missing', template => 'promo', data => '{"name": "Ana"}', quiet_hours => false,
    audience => '["+14155550111"]'$$) AS t3 \gset
SELECT is(pg_temp.code(pg_temp.launch(:t3)), 'template_data_missing', '... also when the campaign''s own data lacks it');
SELECT pg_temp.new_campaign($$'Too long', text => repeat('a', 1600), quiet_hours => false, audience => '["+14155550111"]'$$) AS t4 \gset
SELECT is(pg_temp.code(pg_temp.launch(:t4)), 'message_too_long', 'a text of 11 parts: message_too_long');
SELECT pg_temp.new_campaign($$'Too long for one', template => 'promo', data => '{"offer": "x"}', quiet_hours => false,
    audience => format('[{"phone": "+14155550111", "data": {"name": "Ana"}}, {"phone": "+14155550112", "data": {"name": "%s"}}]',
                       repeat('B', 1600))::jsonb$$) AS t5 \gset
CREATE TEMP TABLE t5 AS SELECT pg_temp.launch(:t5) AS v;
SELECT is((SELECT pg_temp.code(v) || ' ' || (v ->> 'status') FROM t5), 'message_too_long 400', '... also for one recipient''s text');
SELECT is(pg_temp.counts(:t5) || ' ' || pg_temp.recipient_count(:t5), 'draft 0/0/0/0/0/0 0', '... nothing launched');

-- An audience query over an application's table.
CREATE TABLE public.customers (id int PRIMARY KEY, phone text, uid uuid, tz text, first_name text, active boolean);
INSERT INTO public.customers VALUES
    (1, '+14155550121', '00000000-0000-4000-8000-000000000021', NULL, 'Ana', true),
    (2, '(415) 555-0122', NULL, 'Europe/Lisbon', 'Bo', true),
    (3, '+14155550123', NULL, NULL, 'Cy', false),
    (4, '+14155550124', '00000000-0000-4000-8000-000000000024', 'America/New_York', 'Di', true);
GRANT SELECT ON public.customers TO service_role;
CREATE TABLE public.secrets (phone text);
INSERT INTO public.secrets VALUES ('+14155550129');
SELECT pg_temp.new_campaign($$'Query', template => 'promo', data => '{"offer": "20% off"}', quiet_hours => false,
    audience_query => 'SELECT phone, uid AS user_id, tz AS time_zone, jsonb_build_object(''name'', first_name) AS data
                       FROM public.customers WHERE active ORDER BY id DESC;'$$) AS q1 \gset
SELECT is(pg_temp.launch(:q1) -> 'body' ->> 'recipients', '3', 'a query audience: one recipient per row');
SELECT is((SELECT string_agg(concat_ws(' ', id, state, skip_reason, given, phone, user_id, zones::text, body), ' | ' ORDER BY id)
           FROM sms_otp.sms_campaign_recipients WHERE campaign_id = :q1),
          '1 pending +14155550124 +14155550124 00000000-0000-4000-8000-000000000024 {America/New_York} Hi Di, 20% off today! | '
          '2 skipped invalid_number (415) 555-0122 {Europe/Lisbon} Hi Bo, 20% off today! | '
          '3 pending +14155550121 +14155550121 00000000-0000-4000-8000-000000000021 {America/Los_Angeles} Hi Ana, 20% off today!',
          '... in the query''s order, with its user_id, time_zone and data (a number without country code is invalid)');

CREATE TEMP TABLE failing (campaign bigint, code text, what text);
INSERT INTO failing
SELECT pg_temp.new_campaign(format($$'Failing', text => 'Hi', quiet_hours => false, %s$$, f.args)), f.code, f.what
FROM (VALUES ($$audience_query => 'SELEC phone FROM public.customers'$$, 'audience_query_failed', 'a syntax error'),
             ($$audience_query => 'SELECT phone FROM public.no_such_table'$$, 'audience_query_failed', 'a missing table'),
             ($$audience_query => 'SELECT phone FROM public.secrets'$$, 'audience_query_failed', 'a table the caller cannot read'),
             ($$audience_query => 'SELECT phone FROM customers'$$, 'audience_query_failed', 'a table not named with its schema'),
             ($$audience_query => 'SELECT phone, 1 AS user_id FROM public.customers'$$, 'audience_query_failed', 'a user_id that is no uuid'),
             ($$audience_query => 'SELECT phone AS tel FROM public.customers'$$, 'invalid_audience', 'a query without a phone column'),
             ($$audience_query => 'SELECT phone FROM public.customers WHERE false'$$, 'empty_audience', 'a query with no rows'),
             ($$audience => '[]'$$, 'empty_audience', 'an empty list'),
             ($$audience => '[42]'$$, 'invalid_audience', 'a list entry that is a number'),
             ($$audience => '[{"phone": 14155550131}]'$$, 'invalid_audience', 'a phone that is not a string'),
             ($$audience => '[{"phone": "+14155550131", "user_id": "nope"}]'$$, 'invalid_audience', 'a user_id that is no uuid'),
             ($$audience => '[{"phone": "+14155550131", "data": [1]}]'$$, 'invalid_audience', 'data that is not an object'),
             ($$audience => '[{"phone": "+14155550131", "time_zone": "Mars/Olympus"}]'$$, 'invalid_time_zone', 'an unknown time zone'),
             ($$audience_query => 'SELECT phone, ''Mars/Olympus'' AS time_zone FROM public.customers'$$, 'invalid_time_zone',
              'an unknown time zone from a query'))
     AS f(args, code, what);
CREATE TEMP TABLE failed AS SELECT f.*, pg_temp.launch(f.campaign) AS v FROM failing f;
SELECT is(pg_temp.code(v) || ' ' || (v ->> 'status'), code || ' 400', 'launch refuses ' || what) FROM failed ORDER BY campaign;
SELECT is((SELECT count(*) FROM failed f WHERE pg_temp.counts(f.campaign) <> 'draft 0/0/0/0/0/0'
                                              OR pg_temp.recipient_count(f.campaign) > 0), 0::bigint,
          '... each leaves its campaign a draft without recipients');
SELECT is((SELECT v -> 'error' ->> 'message' FROM failed WHERE what = 'a table the caller cannot read'),
          'The audience query failed: permission denied for table secrets', '... saying why');

-- Scheduled.
SELECT pg_temp.new_campaign($$'Later', text => 'Hi', starts_at => now() + interval '2 hours',
                              audience => '["+14155550171", "+80012345678"]'$$) AS s1 \gset
CREATE TEMP TABLE s1 AS SELECT pg_temp.launch(:s1) AS v;
SELECT is((SELECT v -> 'body' ->> 'status' FROM s1), 'scheduled', 'starts_at ahead: scheduled');
SELECT is((SELECT status || ' ' || (starts_at - now()) || ' ' || (ends_at - now()) FROM sms_otp.sms_campaigns WHERE id = :s1),
          'scheduled 02:00:00 3 days 02:00:00', '... from starts_at for valid_for');
SELECT is((SELECT (r).next_at - now() || ' ' || (r).deferred FROM (SELECT pg_temp.recipient(:s1, 1) AS r) x), '02:00:00 false',
          '... a recipient whose hours are open then is due at starts_at, not deferred');

--------------------------------------------------------------------------------------------
-- 5. Quiet hours
--------------------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.opens(zones text[], "from" timestamptz, opens time DEFAULT '08:00', closes time DEFAULT '21:00',
                              days int[] DEFAULT '{1,2,3,4,5,6,7}') RETURNS timestamptz LANGUAGE sql AS $$
    SELECT sms_otp._quiet_next_open(zones, opens, closes, days, "from")
$$;
-- 2026-06-10 is a Wednesday; New York is UTC-4 then, Los Angeles UTC-7.
SELECT is(pg_temp.opens('{UTC}', '2026-06-10 12:00Z'), '2026-06-10 12:00Z', 'open hours: now');
SELECT is(pg_temp.opens('{UTC}', '2026-06-10 07:59:59Z'), '2026-06-10 08:00Z', 'before they open: at opening');
SELECT is(pg_temp.opens('{UTC}', '2026-06-10 21:00Z'), '2026-06-11 08:00Z', 'at closing time: the next morning');
SELECT is(pg_temp.opens('{UTC}', '2026-06-10 22:00Z'), '2026-06-11 08:00Z', 'at night: the next morning');
SELECT is(pg_temp.opens('{America/New_York}', '2026-06-10 11:00Z'), '2026-06-10 12:00Z', 'in the zone''s own time');
SELECT is(pg_temp.opens('{America/New_York,America/Los_Angeles}', '2026-06-10 13:00Z'), '2026-06-10 15:00Z',
          'two zones: open in New York but not yet in Los Angeles waits for Los Angeles');
SELECT is(pg_temp.opens('{America/New_York,America/Los_Angeles}', '2026-06-10 16:00Z'), '2026-06-10 16:00Z',
          '... open in both: now');
SELECT is(pg_temp.opens('{America/New_York,America/Los_Angeles}', '2026-06-11 02:00Z'), '2026-06-11 15:00Z',
          '... closed in New York (22:00), open in Los Angeles (19:00): when both are open next');
SELECT is(pg_temp.opens('{UTC}', '2026-06-13 10:00Z', days => '{1,2,3,4,5}'), '2026-06-15 08:00Z',
          'weekdays only: a Saturday waits for Monday');
SELECT is(pg_temp.opens('{UTC}', '2026-06-12 21:30Z', days => '{1,2,3,4,5}'), '2026-06-15 08:00Z',
          '... as does Friday night');
SELECT is(pg_temp.opens('{UTC,Asia/Tokyo}', '2026-06-10 12:00Z', '08:00', '09:00'), NULL,
          'zones that share no open hour: never (NULL)');
SELECT is(pg_temp.opens('{}', '2026-06-10 12:00Z'), NULL, 'no zone known: never (NULL)');
SELECT is(pg_temp.opens(NULL, '2026-06-10 12:00Z'), NULL, '... also for NULL');
SELECT is(pg_temp.opens('{America/New_York}', '2026-03-08 05:00Z'), '2026-03-08 12:00Z',
          'the day clocks go forward: 08:00 daylight time (12:00 UTC, not 13:00)');
SELECT is(pg_temp.opens('{America/New_York}', '2026-11-01 04:30Z'), '2026-11-01 13:00Z',
          'the day clocks go back: 08:00 standard time (13:00 UTC)');
SELECT is(pg_temp.opens('{America/New_York}', '2026-11-01 01:30Z', '21:30', '23:00'), '2026-11-01 01:30Z',
          'late hours across the change: still open at 21:30 daylight time');

SELECT is((SELECT prefix FROM sms_otp._quiet_rule('+14155550101')), '+1415', 'the rule of the longest prefix');
SELECT is((SELECT prefix FROM sms_otp._quiet_rule('+12125550101')), '+1', '... or a shorter one');
SELECT is((SELECT prefix || '|' || opens || '-' || closes || ' ' || days::text || ' ' || builtin FROM sms_otp._quiet_rule('+33612345678')),
          '|08:00:00-21:00:00 {1,2,3,4,5,6,7} true', 'else the built-in rule: 08:00-21:00 every day');
SELECT is(sms_otp._quiet_next_open('+12125550101', '{America/New_York}', '2026-06-10 12:30Z'), '2026-06-10 13:00Z',
          'a number''s next opening follows its rule (+1: 09:00 New York time)');
SELECT is(sms_otp._quiet_next_open('+14155550101', '{America/Los_Angeles}', '2026-06-10 10:00Z'), '2026-06-10 10:00Z',
          '... (+1415: always; 03:00 in Los Angeles)');

-- A zone where it is night now (01:00-05:59): the built-in rule opens at 08:00 there today.
SELECT name AS night_zone FROM pg_timezone_names
WHERE name ~ '^Etc/GMT[+-][0-9]+$' AND extract(hour FROM now() AT TIME ZONE name) BETWEEN 1 AND 5
ORDER BY name LIMIT 1 \gset
CREATE TEMP TABLE night AS
SELECT :'night_zone'::text AS zone, ((now() AT TIME ZONE :'night_zone')::date + time '08:00') AT TIME ZONE :'night_zone' AS opens;
SELECT pg_temp.new_campaign(format($$'Night', text => 'Hi', audience => %L$$, jsonb_build_array(
    jsonb_build_object('phone', '+33612345678', 'time_zone', :'night_zone'), '+33612345679', '+80012345678'))) AS n1 \gset
SELECT pg_temp.new_campaign(format($$'Night, no quiet hours', text => 'Hi', quiet_hours => false, audience => %L$$, jsonb_build_array(
    jsonb_build_object('phone', '+33612345678', 'time_zone', :'night_zone'), '+80012345678'))) AS n2 \gset
CREATE TEMP TABLE n1 AS SELECT pg_temp.launch(:n1) AS v;
SELECT is((SELECT (r).zones FROM (SELECT pg_temp.recipient(:n1, 1) AS r) x), ARRAY[:'night_zone'],
          'the audience''s time_zone wins over the number''s zones');
SELECT is((SELECT (r).next_at FROM (SELECT pg_temp.recipient(:n1, 1) AS r) x), (SELECT opens FROM night),
          'at night in the recipient''s zone: due when the hours open there');
SELECT ok((SELECT (r).deferred FROM (SELECT pg_temp.recipient(:n1, 1) AS r) x), '... deferred');
SELECT is((SELECT (r).zones FROM (SELECT pg_temp.recipient(:n1, 2) AS r) x), '{Europe/Paris}',
          'without a time_zone, the number''s zones');
SELECT is((SELECT (r).next_at FROM (SELECT pg_temp.recipient(:n1, 2) AS r) x),
          pg_temp.opens('{Europe/Paris}', now()), '... and their next opening');
SELECT is((SELECT (r).zones::text || ' ' || ((r).next_at = now() + interval '3 days') || ' ' || (r).deferred
           FROM (SELECT pg_temp.recipient(:n1, 3) AS r) x), '{} true true',
          'a number in no known zone waits until the campaign''s end (deferred, never sent)');
SELECT is((SELECT (v -> 'body' ->> 'deferred')::int FROM n1),
          2 + (pg_temp.opens('{Europe/Paris}', now()) > now())::int, 'the answer counts the deferred');
SELECT is(pg_temp.launch(:n2) -> 'body' ->> 'deferred', '0', 'with quiet_hours => false nothing is deferred');
SELECT is((SELECT count(*) FROM sms_otp.sms_campaign_recipients WHERE campaign_id = :n2 AND next_at = now() AND NOT deferred),
          2::bigint, '... all are due now');

--------------------------------------------------------------------------------------------
-- 6. Pause, resume, cancel, retry
--------------------------------------------------------------------------------------------
SELECT pg_temp.new_campaign($$'Controls', text => 'Hi', quiet_hours => false,
    audience => '["+14155550201", "+14155550202", "+14155550203", "+14155550204"]'$$) AS p1 \gset
SELECT is(pg_temp.code(pg_temp.api('campaign_pause', :p1)), 'campaign_not_running', 'a draft cannot pause');
SELECT is((pg_temp.api('campaign_pause', :p1) ->> 'status')::int, 409, '... 409');
SELECT is(pg_temp.code(pg_temp.api('campaign_resume', :p1)), 'campaign_not_paused', 'nor resume');
SELECT is(pg_temp.code(pg_temp.api('campaign_retry_failed', :p1)), 'campaign_not_launched', 'nor retry (not launched)');
SELECT is(pg_temp.code(pg_temp.api('campaign_pause', 999999)), 'campaign_not_found', 'an unknown campaign: campaign_not_found');
SELECT is((pg_temp.api('campaign_cancel', 999999) ->> 'status')::int, 404, '... 404');
SELECT is(pg_temp.launch(:p1) -> 'body' ->> 'status', 'running', 'launched');
SELECT is(pg_temp.code(pg_temp.api('campaign_resume', :p1)), 'campaign_not_paused', 'a running campaign cannot resume');
SELECT is(pg_temp.backend(format($$sms_otp.campaign_pause(%s, 'checking the copy')$$, :p1)) -> 'body',
          jsonb_build_object('campaign_id', :p1, 'status', 'paused', 'pause_reason', 'checking the copy', 'pending', 4),
          'pause answers with the state and the reason');
SELECT is((SELECT status || ' ' || pause_reason || ' ' || (paused_at = now()) FROM sms_otp.sms_campaigns WHERE id = :p1),
          'paused checking the copy true', '... and records them');
SELECT is(pg_temp.feed(:p1, 10), 0, 'a paused campaign is not fed');
SELECT is(pg_temp.api('campaign_resume', :p1) -> 'body',
          jsonb_build_object('campaign_id', :p1, 'status', 'running', 'pause_reason', NULL, 'pending', 4), 'resume runs it again');
SELECT is((SELECT status || ' ' || coalesce(pause_reason, '-') || ' ' || coalesce(paused_at::text, '-')
           FROM sms_otp.sms_campaigns WHERE id = :p1), 'running - -', '... and clears the reason');
SELECT is(pg_temp.api('campaign_pause', :p1) -> 'body' ->> 'pause_reason', 'paused by the service role', 'a pause without reason says who');
SELECT is(pg_temp.api('campaign_resume', :p1) -> 'body' ->> 'status', 'running', '... resumed');
SELECT is(pg_temp.api('campaign_pause', :s1) -> 'body' ->> 'status', 'paused', 'a scheduled campaign can pause');
SELECT is(pg_temp.api('campaign_resume', :s1) -> 'body' ->> 'status', 'scheduled', '... and resumes to scheduled before starts_at');

-- Cancel: two recipients fed, one of them claimed by the worker (leased, in flight).
SELECT is(pg_temp.feed(:p1, 2), 2, 'two messages queued');
UPDATE sms_otp.sms_outbox SET lease_until = now() + interval '1 minute', attempts = 1 WHERE id = pg_temp.msg(:p1, 2);
CREATE TEMP TABLE p1_cancel AS SELECT pg_temp.api('campaign_cancel', :p1) AS v;
SELECT is((SELECT v -> 'body' ->> 'status' FROM p1_cancel), 'cancelled', 'cancel');
SELECT is(pg_temp.states(:p1), '1:skipped:cancelled 2:pending 3:skipped:cancelled 4:skipped:cancelled',
          '... skips the recipients not in flight (queued or not yet fed) as cancelled; the one in flight stays pending');
SELECT is((SELECT v -> 'body' ->> 'cancelled' FROM p1_cancel), '3', '... and says how many it cancelled');
SELECT is((SELECT status || ' ' || last_error FROM sms_otp.sms_outbox WHERE id = pg_temp.msg(:p1, 1)), 'cancelled campaign cancelled',
          '... cancels their queued message');
SELECT is((SELECT status FROM sms_otp.sms_outbox WHERE id = pg_temp.msg(:p1, 2)), 'queued', '... and leaves the leased one alone');
SELECT is(pg_temp.counts(:p1), 'cancelled 4/1/0/0/0/3', '... counts: one pending, three skipped');
SELECT is((SELECT finished_at FROM sms_otp.sms_campaigns WHERE id = :p1), now(), '... finished now');
SELECT is(pg_temp.code(pg_temp.api('campaign_cancel', :p1)), 'campaign_ended', 'cancelled twice: campaign_ended');
SELECT is(pg_temp.code(pg_temp.api('campaign_pause', :p1)), 'campaign_not_running', 'a cancelled campaign cannot pause');
SELECT is(pg_temp.code(pg_temp.api('campaign_resume', :p1)), 'campaign_not_paused', '... resume');
SELECT is(pg_temp.code(pg_temp.api('campaign_retry_failed', :p1)), 'campaign_ended', '... or retry');
SELECT is(pg_temp.feed(:p1, 10), 0, '... and is not fed');
SELECT pg_temp.worker_sets(:p1, 2, 'sent') IS NULL AS ignored \gset
SELECT is(pg_temp.counts(:p1), 'cancelled 4/0/1/0/0/3', 'the message in flight ends as its provider answers; the campaign stays cancelled');
-- A recipient the cancel passed over (the worker was feeding it: locked, so skipped rather
-- than waited for) is ended by the worker's next round.
UPDATE sms_otp.sms_campaign_recipients SET state = 'pending', skip_reason = NULL, outbox_id = NULL
WHERE campaign_id = :p1 AND id = 3;
UPDATE sms_otp.sms_campaigns SET pending = pending + 1, skipped = skipped - 1 WHERE id = :p1;
SELECT sms_otp._campaign_expire();
SELECT is(pg_temp.states(:p1), '1:skipped:cancelled 2:sent 3:skipped:cancelled 4:skipped:cancelled',
          'a recipient left pending by the cancel is skipped by the worker''s next round');
SELECT is(pg_temp.counts(:p1), 'cancelled 4/0/1/0/0/3', '... and counted');

-- Retry: only failures no provider or carrier decided.
SELECT pg_temp.new_campaign($$'Retry', text => 'Hi', quiet_hours => false,
    audience => '["+14155550211", "+14155550212", "+14155550213", "+14155550214"]'$$) AS r1 \gset
SELECT is(pg_temp.launch(:r1) -> 'body' ->> 'status', 'running', 'a campaign to retry');
SELECT is(pg_temp.feed(:r1, 4), 4, '... fed');
INSERT INTO sms_otp.sms_messages_log ("to", type, provider_name, outcome, status_code, outbox_id, campaign_id, requested_at)
VALUES ('+14155550211', 'promo', 'tw', 'rejected', 400, pg_temp.msg(:r1, 1), :r1, now());
SELECT pg_temp.worker_sets(:r1, 1, 'failed', err => '21211 invalid number') IS NULL AS ignored \gset
SELECT pg_temp.worker_sets(:r1, 2, 'failed', err => 'timeout') IS NULL AS ignored \gset
SELECT pg_temp.worker_sets(:r1, 3, 'sent') IS NULL AS ignored \gset
SELECT pg_temp.worker_sets(:r1, 3, 'sent', 'undelivered', '30003') IS NULL AS ignored \gset
SELECT pg_temp.worker_sets(:r1, 4, 'sent', 'delivered') IS NULL AS ignored \gset
SELECT is(pg_temp.counts(:r1), 'finished 4/0/2/1/3/0', 'three failed (one after it went out), one delivered: finished');
CREATE TEMP TABLE r1_retry AS SELECT pg_temp.api('campaign_retry_failed', :r1) AS v;
SELECT is((SELECT (v -> 'body' ->> 'retrying') || ' ' || (v -> 'body' ->> 'status') FROM r1_retry), '1 running',
          'retry_failed resets the transient failure only, and runs the campaign again');
SELECT is(pg_temp.states(:r1), '1:failed 2:pending 3:failed 4:delivered', '... refused and undelivered numbers stay failed');
SELECT is((SELECT concat_ws(' ', (r).outbox_id IS NULL, (r).next_at = now(), (r).error IS NULL, (r).transient IS NULL)
           FROM (SELECT pg_temp.recipient(:r1, 2) AS r) x), 't t t t', '... the retried one is due now, as new');
SELECT is(pg_temp.counts(:r1), 'running 4/1/2/1/2/0', '... counts follow');
SELECT is((SELECT finished_at FROM sms_otp.sms_campaigns WHERE id = :r1), NULL, '... not finished any more');
SELECT is(pg_temp.feed(:r1, 4), 1, '... and it is fed again');
SELECT is(pg_temp.api('campaign_retry_failed', :r1) -> 'body' ->> 'retrying', '0', 'nothing more to retry');
UPDATE sms_otp.sms_campaigns SET ends_at = now() - interval '1 second' WHERE id = :r1;
SELECT is(pg_temp.code(pg_temp.api('campaign_retry_failed', :r1)), 'campaign_expired', 'after its end a campaign cannot retry');
UPDATE sms_otp.sms_campaigns SET ends_at = now() + interval '1 day' WHERE id = :r1;

--------------------------------------------------------------------------------------------
-- 7. The outbox trigger: a recipient follows its message
--------------------------------------------------------------------------------------------
SELECT pg_temp.new_campaign($$'Outcomes', text => 'Weekend deal', quiet_hours => false, provider => 'tw', sender => 'ACME',
    audience => '["+14155550221", "+14155550222", "+14155550223", "+14155550224", "+14155550225", "+14155550226",
                  "+14155550227"]'$$) AS w \gset
SELECT is(pg_temp.launch(:w) -> 'body' ->> 'pending', '7', 'seven recipients');
UPDATE sms_otp.sms_campaign_recipients SET deferred = true WHERE campaign_id = :w AND id = 6;  -- held back by its hours once
SELECT is(pg_temp.feed(:w, 7), 7, 'the feed queues them');
SELECT is((SELECT count(*) FROM sms_otp.sms_outbox o JOIN sms_otp.sms_campaign_recipients r ON r.outbox_id = o.id
           WHERE o.campaign_id = :w AND r.campaign_id = :w AND o.recipient_id = r.id AND o.kind = 'promo' AND o.category = 'promo'
             AND o.status = 'queued' AND o."to" = r.phone AND o.body = 'Weekend deal' AND o.segments = 1
             AND o.provider_hint = 'tw' AND o.sender = 'ACME' AND r.queued_at = now()
             AND o.expires_at = (SELECT ends_at FROM sms_otp.sms_campaigns WHERE id = :w)), 7::bigint,
          '... as promo messages to each number, through the campaign''s provider and sender, until the campaign ends');
SELECT is(pg_temp.counts(:w), 'running 7/7/0/0/0/0', 'queued messages are still pending');

SELECT pg_temp.worker_sets(:w, 1, 'sent') IS NULL AS ignored \gset
SELECT is((SELECT concat_ws(' ', (r).state, (r).provider_name, (r).sent_at = now()) FROM (SELECT pg_temp.recipient(:w, 1) AS r) x),
          'sent tw t', 'sent: the recipient is sent, by its provider');
SELECT is(pg_temp.counts(:w), 'running 7/6/1/0/0/0', '... the campaign counts it');
SELECT pg_temp.worker_sets(:w, 1, 'sent', 'delivered') IS NULL AS ignored \gset
SELECT is((SELECT (r).state || ' ' || ((r).delivered_at = now()) FROM (SELECT pg_temp.recipient(:w, 1) AS r) x), 'delivered true',
          'a delivery receipt: delivered');
SELECT is(pg_temp.counts(:w), 'running 7/6/1/1/0/0', '... counted');
SELECT pg_temp.worker_sets(:w, 2, 'sent') IS NULL AS ignored \gset
SELECT pg_temp.worker_sets(:w, 2, 'sent', 'undelivered', '30003') IS NULL AS ignored \gset
SELECT is((SELECT concat_ws(' ', (r).state, (r).transient, (r).error) FROM (SELECT pg_temp.recipient(:w, 2) AS r) x),
          'failed f 30003', 'undelivered: failed, not transient (the carrier decided), with its error');
SELECT is(pg_temp.counts(:w), 'running 7/5/2/1/1/0', '... it went out and failed');
INSERT INTO sms_otp.sms_messages_log ("to", type, provider_name, outcome, status_code, outbox_id, campaign_id, requested_at)
VALUES ('+14155550223', 'promo', 'tw', 'rejected', 400, pg_temp.msg(:w, 3), :w, now());
SELECT pg_temp.worker_sets(:w, 3, 'failed', err => 'invalid number') IS NULL AS ignored \gset
SELECT is((SELECT concat_ws(' ', (r).state, (r).transient, (r).error) FROM (SELECT pg_temp.recipient(:w, 3) AS r) x),
          'failed f invalid number', 'failed after the provider rejected it: not transient');
SELECT pg_temp.worker_sets(:w, 4, 'failed', err => 'all providers unavailable') IS NULL AS ignored \gset
SELECT is((SELECT concat_ws(' ', (r).state, (r).transient, (r).error) FROM (SELECT pg_temp.recipient(:w, 4) AS r) x),
          'failed t all providers unavailable', 'failed without a refusal: transient');
SELECT pg_temp.worker_sets(:w, 5, 'cancelled', err => 'opted_out') IS NULL AS ignored \gset
SELECT is((pg_temp.recipient(:w, 5)).skip_reason, 'opted_out',
          'cancelled because the number opted out meanwhile: skipped opted_out');
SELECT pg_temp.worker_sets(:w, 6, 'expired') IS NULL AS ignored \gset
SELECT is((pg_temp.recipient(:w, 6)).skip_reason, 'quiet_hours_deferred', 'expired after its hours held it back: quiet_hours_deferred');
SELECT is(pg_temp.counts(:w), 'running 7/1/2/1/3/2', 'one pending left: still running');
SELECT is((SELECT finished_at FROM sms_otp.sms_campaigns WHERE id = :w), NULL, '... not finished');
SELECT pg_temp.worker_sets(:w, 7, 'expired') IS NULL AS ignored \gset
SELECT is((pg_temp.recipient(:w, 7)).skip_reason, 'expired', 'expired otherwise: expired');
SELECT is(pg_temp.counts(:w), 'finished 7/0/2/1/3/3', 'the last pending one ends: finished');
SELECT is((SELECT finished_at FROM sms_otp.sms_campaigns WHERE id = :w), now(), '... now');
SELECT is(pg_temp.states(:w), '1:delivered 2:failed 3:failed 4:failed 5:skipped:opted_out 6:skipped:quiet_hours_deferred 7:skipped:expired',
          'every recipient in its end state');

--------------------------------------------------------------------------------------------
-- 8. The worker's feed, demand and expiry
--------------------------------------------------------------------------------------------
SELECT pg_temp.new_campaign($$'Feed', text => 'Hi', quiet_hours => false,
    audience => '["+14155550301", "+14155550302", "+14155550303", "+14155550304", "+14155550305"]'$$) AS f1 \gset
SELECT is(pg_temp.launch(:f1) -> 'body' ->> 'pending', '5', 'five to feed');
SELECT is(pg_temp.feed(:f1, 2), 2, 'an allowance of two messages feeds two');
SELECT is((SELECT string_agg(id::text, ',' ORDER BY id) FROM sms_otp.sms_campaign_recipients
           WHERE campaign_id = :f1 AND outbox_id IS NOT NULL),
          '1,2', '... the first in order');
SELECT is(pg_temp.feed(:f1, 2), 0, 'messages fed before and not yet claimed take their share of the next allowance');
SELECT is(pg_temp.feed(:f1, 3), 1, '... (three allowed, two waiting: one more)');
UPDATE sms_otp.sms_outbox SET lease_until = now() + interval '1 minute', attempts = 1 WHERE campaign_id = :f1;
SELECT is(pg_temp.feed(:f1, 5), 2, 'claimed ones do not: the rest is fed');
SELECT is(pg_temp.feed(:f1, 5), 0, 'nothing is fed twice');
SELECT is((SELECT count(DISTINCT recipient_id) || '/' || count(*) FROM sms_otp.sms_outbox WHERE campaign_id = :f1), '5/5',
          '... one message per recipient');
SELECT is(pg_temp.counts(:f1), 'running 5/5/0/0/0/0', '... all still pending until sent');
SELECT is(sms_otp._campaign_feed(jsonb_build_array(jsonb_build_object('campaign_id', :f1, 'messages', 0))), 0,
          'an allowance of none feeds none');

SELECT pg_temp.new_campaign($$'Two parts', text => repeat('a', 200), quiet_hours => false,
    audience => '["+14155550311", "+14155550312", "+14155550313"]'$$) AS f2 \gset
SELECT is(pg_temp.launch(:f2) -> 'body' ->> 'pending', '3', 'three messages of two parts each');
SELECT is((SELECT DISTINCT segments FROM sms_otp.sms_campaign_recipients WHERE campaign_id = :f2), 2, '... two parts each');
SELECT is(pg_temp.feed(:f2, 10, 3), 1, 'an allowance of three parts feeds one message of two');
SELECT is((SELECT segments FROM sms_otp.sms_outbox WHERE campaign_id = :f2), 2, '... which carries its parts');
UPDATE sms_otp.sms_outbox SET lease_until = now() + interval '1 minute', attempts = 1 WHERE campaign_id = :f2;
SELECT is(pg_temp.feed(:f2, 10, 4), 2, 'four parts feed two');
SELECT is(pg_temp.feed(:f2, 10, 1), 0, '... (one part feeds none)');

SELECT pg_temp.new_campaign($$'Paused', text => 'Hi', quiet_hours => false, audience => '["+14155550321"]'$$) AS f3 \gset
SELECT is(pg_temp.launch(:f3) -> 'body' ->> 'status', 'running', 'a campaign');
SELECT is(pg_temp.api('campaign_pause', :f3) -> 'body' ->> 'status', 'paused', '... paused');
SELECT is(pg_temp.feed(:f3, 10), 0, '... is not fed');
SELECT is(pg_temp.recipient_count(:f3) || ' ' || (SELECT count(*) FROM sms_otp.sms_outbox WHERE campaign_id = :f3), '1 0',
          '... its recipient waits');

-- Hours that close after launch: the recipient waits for the next opening.
SELECT pg_temp.new_campaign($$'Hours close', text => 'Hi', audience => '["+14155550331", "+14155550332"]'$$) AS f4 \gset
SELECT is(pg_temp.launch(:f4) -> 'body' ->> 'deferred', '0', 'due now at launch (+1415 is always open)');
UPDATE sms_otp.sms_quiet_hours SET opens = '08:00', closes = '21:00',
    days = ARRAY[extract(isodow FROM (now() AT TIME ZONE 'America/Los_Angeles')::date + 1)::int]
WHERE prefix = '+1415';
SELECT is(pg_temp.feed(:f4, 10), 0, 'when its hours closed meanwhile, the feed sends nothing');
SELECT is((SELECT string_agg(concat_ws(' ', r.next_at = (((now() AT TIME ZONE 'America/Los_Angeles')::date + 1) + time '08:00')
                                                     AT TIME ZONE 'America/Los_Angeles',
                                       r.deferred, r.state, r.outbox_id IS NULL), ', ' ORDER BY r.id)
           FROM sms_otp.sms_campaign_recipients r WHERE r.campaign_id = :f4), 't t pending t, t t pending t',
          '... and defers them to the next opening in their zone');
UPDATE sms_otp.sms_quiet_hours SET opens = '00:00', closes = '23:59:59.999999', days = '{1,2,3,4,5,6,7}' WHERE prefix = '+1415';

-- The frequency cap at feed time.
SET LOCAL sms_otp.promo_frequency_cap = '1d';
SELECT pg_temp.new_campaign($$'Cap A', text => 'A', quiet_hours => false, audience => '["+14155550341", "+14155550342"]'$$) AS f5 \gset
SELECT pg_temp.new_campaign($$'Cap B', text => 'B', quiet_hours => false, audience => '["+14155550341"]'$$) AS f6 \gset
SELECT is((pg_temp.launch(:f5) -> 'body' ->> 'pending') || ' ' || (pg_temp.launch(:f6) -> 'body' ->> 'pending'), '2 1',
          'two campaigns to one number, launched before either is sent');
SELECT is(pg_temp.feed(:f5, 10), 2, 'the first one fed');
SELECT is(pg_temp.feed(:f6, 10), 0, 'the second is not fed to the number the first just texted');
SELECT is(pg_temp.states(:f6), '1:skipped:frequency_capped', '... it is skipped: frequency_capped');
SELECT is(pg_temp.counts(:f6), 'finished 1/0/0/0/0/1', '... counted; nothing left: finished');
SET LOCAL sms_otp.promo_frequency_cap = 0;

-- Demand: what the worker must send, through what, within which limits.
INSERT INTO sms_otp.sms_throttles (scope, name, per_second, segments_per_minute, day_zone)
VALUES ('provider', 'tw', 50, 3000, 'America/New_York');
SELECT pg_temp.new_campaign($$'Demand default', text => 'Hi', quiet_hours => false,
    audience => '["+14155550351", "+14155550352", "+14155550353"]'$$) AS d1 \gset
SELECT pg_temp.new_campaign($$'Demand own', text => 'Hi', quiet_hours => false, provider => 'con', sender => 'ACME',
    throttle => '{"per_second": 5, "segments_per_day": 100, "day_zone": "Europe/Paris"}',
    audience => '["+14155550354", "+14155550355"]'$$) AS d2 \gset
SELECT pg_temp.new_campaign($$'Demand no sender', text => 'Hi', quiet_hours => false, provider => 'con',
    audience => '["+14155550356"]'$$) AS d3 \gset
SELECT pg_temp.new_campaign($$'Demand scheduled', text => 'Hi', quiet_hours => false, starts_at => now() + interval '1 hour',
    audience => '["+14155550357"]'$$) AS d4 \gset
SELECT pg_temp.new_campaign($$'Demand disabled provider', text => 'Hi', quiet_hours => false, provider => 'vg',
    audience => '["+14155550358"]'$$) AS d5 \gset
SELECT is(concat_ws(' ', pg_temp.launch(:d1) -> 'body' ->> 'status', pg_temp.launch(:d2) -> 'body' ->> 'status',
                    pg_temp.launch(:d3) -> 'body' ->> 'status', pg_temp.launch(:d4) -> 'body' ->> 'status',
                    pg_temp.launch(:d5) -> 'body' ->> 'status'), 'running running running scheduled running', 'five campaigns');
SELECT is(pg_temp.feed(:d2, 1), 1, 'one of them partly fed');
-- The hour came (the schedule moved, as time would).
UPDATE sms_otp.sms_campaigns SET starts_at = now() - interval '1 second' WHERE id = :d4;
UPDATE sms_otp.sms_campaign_recipients SET next_at = now() - interval '1 second' WHERE campaign_id = :d4;
CREATE TEMP TABLE demand AS SELECT * FROM sms_otp._campaign_demand(1000);
SELECT is((SELECT status FROM sms_otp.sms_campaigns WHERE id = :d4), 'running', 'demand starts a scheduled campaign whose time came');
SELECT is((SELECT concat_ws(' ', provider, sender, due, segments, limits = jsonb_build_object('day_start_us', sms_otp._day_start_us('UTC')))
           FROM demand WHERE campaign_id = :d1), 'tw +15005550006 3 1 t',
          'a campaign without provider: the first enabled by priority, its sender, all due, no limits of its own');
SELECT is((SELECT concat_ws(' ', provider, sender, due) FROM demand WHERE campaign_id = :d2), 'con ACME 2',
          'a campaign''s own provider and sender; due counts queued messages and unfed recipients');
SELECT is((SELECT limits FROM demand WHERE campaign_id = :d2),
          jsonb_build_object('per_second', 5, 'segments_per_day', 100,
                             'day_start_us', (extract(epoch FROM date_trunc('day', now() AT TIME ZONE 'Europe/Paris')
                                                                   AT TIME ZONE 'Europe/Paris') * 1000000)::bigint),
          '... its throttle, the day starting at midnight in its day_zone');
SELECT is((SELECT sender FROM demand WHERE campaign_id = :d3), '', 'a provider without sender: an empty sender');
SELECT is((SELECT provider || ' ' || due FROM demand WHERE campaign_id = :d4), 'tw 1', '... the started one is in demand');
SELECT is((SELECT count(*) FROM demand WHERE campaign_id IN (:d5, :f3, :p1, :s1)), 0::bigint,
          'no demand from a campaign whose provider is disabled, paused, cancelled or scheduled ones');
SELECT is((SELECT limits FROM sms_otp._throttle_limits() WHERE key = 'provider:tw'),
          jsonb_build_object('per_second', 50, 'segments_per_minute', 3000, 'day_start_us', sms_otp._day_start_us('America/New_York')),
          'a provider''s throttle as the worker reads it');

-- Expiry: campaigns past their end skip what was not sent, and finish.
SELECT pg_temp.new_campaign($$'Expires', text => 'Hi', quiet_hours => false,
    audience => '["+14155550361", "+14155550362", "+14155550363"]'$$) AS e1 \gset
SELECT pg_temp.new_campaign($$'Expires whole', text => 'Hi', quiet_hours => false,
    audience => '["+14155550364", "+14155550365"]'$$) AS e2 \gset
SELECT is((pg_temp.launch(:e1) -> 'body' ->> 'pending') || ' ' || (pg_temp.launch(:e2) -> 'body' ->> 'pending'), '3 2',
          'two campaigns about to end');
SELECT is(pg_temp.feed(:e1, 1), 1, 'one message in the outbox');
UPDATE sms_otp.sms_campaign_recipients SET deferred = true, next_at = now() + interval '1 hour' WHERE campaign_id = :e1 AND id = 2;
UPDATE sms_otp.sms_campaigns SET ends_at = now() - interval '1 second' WHERE id IN (:e1, :e2);
SELECT sms_otp._campaign_expire() IS NULL AS ignored \gset
SELECT is(pg_temp.states(:e1), '1:skipped:expired 2:skipped:quiet_hours_deferred 3:skipped:expired',
          'at its end: a deferred recipient is skipped quiet_hours_deferred, the others expired, the one queued in the outbox too');
SELECT is(pg_temp.counts(:e1), 'finished 3/0/0/0/0/3', '... counted; nothing is left waiting, and the campaign finishes');
SELECT pg_temp.worker_sets(:e1, 1, 'expired') IS NULL AS ignored \gset
SELECT is(pg_temp.counts(:e1), 'finished 3/0/0/0/0/3', '... which expires too: finished');
SELECT is(pg_temp.states(:e2) || ' ' || pg_temp.counts(:e2), '1:skipped:expired 2:skipped:expired finished 2/0/0/0/0/2',
          'a campaign with nothing in the outbox finishes at its end');
SELECT is((SELECT finished_at FROM sms_otp.sms_campaigns WHERE id = :e2), now(), '... now');

--------------------------------------------------------------------------------------------
-- 9. Auto-pause: errors, and STOP replies
--------------------------------------------------------------------------------------------
-- Twelve numbers: ten to make the sample, two left pending (a campaign with nothing left finishes).
CREATE FUNCTION pg_temp.twelve(first int) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_agg('+141555504' || lpad(n::text, 2, '0')) FROM generate_series(first, first + 11) n
$$;
SELECT pg_temp.new_campaign(format($$'Errors', text => 'Hi', quiet_hours => false,
    auto_pause => '{"min_sample": 10, "max_error_rate": 0.2}', audience => %L$$, pg_temp.twelve(0))) AS a1 \gset
SELECT is(pg_temp.launch(:a1) -> 'body' ->> 'pending', '12', 'twelve recipients, min_sample 10, max_error_rate 0.2');
SELECT is(pg_temp.feed(:a1, 10), 10, '... ten fed');
UPDATE sms_otp.sms_outbox SET status = 'sent', provider_name = 'tw', delivery_status = 'accepted'
WHERE campaign_id = :a1 AND recipient_id <= 7;
SELECT pg_temp.worker_sets(:a1, 8, 'failed', err => 'timeout') IS NULL AS ignored \gset
SELECT pg_temp.worker_sets(:a1, 9, 'failed', err => 'timeout') IS NULL AS ignored \gset
SELECT is(pg_temp.counts(:a1), 'running 12/3/7/0/2/0', 'two failures of nine: below the sample, still running');
SELECT pg_temp.worker_sets(:a1, 10, 'failed', err => 'timeout') IS NULL AS ignored \gset
SELECT is((SELECT status FROM sms_otp.sms_campaigns WHERE id = :a1), 'paused', 'three failures of ten: paused');
SELECT is((SELECT pause_reason FROM sms_otp.sms_campaigns WHERE id = :a1),
          'auto: 3 of 10 messages failed (above max_error_rate 0.2)', '... saying why (auto:)');
SELECT is((SELECT paused_at FROM sms_otp.sms_campaigns WHERE id = :a1), now(), '... since now');

SELECT pg_temp.new_campaign(format($$'Errors first', text => 'Hi', quiet_hours => false,
    auto_pause => '{"min_sample": 10, "max_error_rate": 0.2}', audience => %L$$, pg_temp.twelve(20))) AS a2 \gset
SELECT is(pg_temp.launch(:a2) -> 'body' ->> 'pending', '12', 'the same, with the failures first');
SELECT is(pg_temp.feed(:a2, 10), 10, '... ten fed');
UPDATE sms_otp.sms_outbox SET status = 'failed', last_error = 'timeout' WHERE campaign_id = :a2 AND recipient_id <= 3;
UPDATE sms_otp.sms_outbox SET status = 'sent', provider_name = 'tw', delivery_status = 'accepted'
WHERE campaign_id = :a2 AND recipient_id BETWEEN 4 AND 9;
SELECT is(pg_temp.counts(:a2), 'running 12/3/6/0/3/0', 'three failures of nine: still running');
SELECT pg_temp.worker_sets(:a2, 10, 'sent') IS NULL AS ignored \gset
SELECT is((SELECT status || ' ' || coalesce(pause_reason, '-') FROM sms_otp.sms_campaigns WHERE id = :a2),
          'paused auto: 3 of 10 messages failed (above max_error_rate 0.2)',
          '... three of ten failed when the tenth (a success) completes the sample: paused');

SELECT pg_temp.new_campaign($$'Healthy', text => 'Hi', quiet_hours => false,
    auto_pause => '{"min_sample": 10, "max_error_rate": 0.2}', audience => '["+14155550421", "+14155550422"]'$$) AS a3 \gset
SELECT is(pg_temp.launch(:a3) -> 'body' ->> 'pending', '2', 'a small campaign');
SELECT is(pg_temp.feed(:a3, 2), 2, '... fed');
UPDATE sms_otp.sms_outbox SET status = 'failed', last_error = 'timeout' WHERE campaign_id = :a3;
SELECT is(pg_temp.counts(:a3), 'finished 2/0/0/0/2/0', 'all failed, but fewer than min_sample: finished, not paused');

-- STOP replies count against the campaign that texted the number last.
SELECT pg_temp.new_campaign($$'Stops older', text => 'Old', quiet_hours => false, audience => '["+14155550431"]'$$) AS st1 \gset
SELECT pg_temp.new_campaign($$'Stops newer', text => 'New', quiet_hours => false, auto_pause => '{"min_sample": 2, "max_stop_rate": 0.3}',
    audience => '["+14155550431", "+14155550432", "+14155550433", "+14155550434"]'$$) AS st2 \gset
SELECT is((pg_temp.launch(:st1) -> 'body' ->> 'pending') || ' ' || (pg_temp.launch(:st2) -> 'body' ->> 'pending'), '1 4',
          'two campaigns text one number');
SELECT is(pg_temp.feed(:st1, 10) + pg_temp.feed(:st2, 3), 4, '... fed (the newer but one)');
UPDATE sms_otp.sms_outbox SET status = 'sent', provider_name = 'tw', delivery_status = 'accepted' WHERE campaign_id IN (:st1, :st2);
UPDATE sms_otp.sms_campaign_recipients SET queued_at = now() - interval '1 hour' WHERE campaign_id = :st1;
SELECT is(pg_temp.counts(:st2), 'running 4/1/3/0/0/0', 'the newer is still running (no STOP yet)');
SELECT ok(sms_otp._record_opt_out('+14155550432', 'all', 'api', NULL, NULL), 'an opt-out through the API');
SELECT is((SELECT stops FROM sms_otp.sms_campaigns WHERE id = :st2), 0, '... is no STOP reply: not counted');
SELECT ok(sms_otp._record_opt_out('+14155550431', 'all', 'sms', 'STOP', 'tw'), 'a STOP by SMS');
SELECT is((SELECT stops FROM sms_otp.sms_campaigns WHERE id = :st2), 1, '... counts against the campaign that texted the number last');
SELECT is((SELECT stops FROM sms_otp.sms_campaigns WHERE id = :st1), 0, '... not an earlier one');
SELECT is((SELECT status || ' ' || pause_reason FROM sms_otp.sms_campaigns WHERE id = :st2),
          'paused auto: 1 STOP replies to 3 messages (above max_stop_rate 0.3)', '... whose STOP rate (1 of 3) pauses it');
SELECT ok(NOT sms_otp._record_opt_out('+14155550431', 'all', 'sms', 'STOP', 'tw'), 'the same STOP again');
SELECT is((SELECT stops FROM sms_otp.sms_campaigns WHERE id = :st2), 1, '... changes nothing and is not counted twice');
UPDATE sms_otp.sms_campaign_recipients SET queued_at = now() - interval '8 days' WHERE campaign_id = :st2 AND id = 3;
SELECT ok(sms_otp._record_opt_out('+14155550433', 'all', 'sms', 'STOP', 'tw'), 'a STOP more than a week after the message');
SELECT is((SELECT stops FROM sms_otp.sms_campaigns WHERE id = :st2), 1, '... is not the campaign''s');

--------------------------------------------------------------------------------------------
-- 10. Progress and one recipient's story
--------------------------------------------------------------------------------------------
CREATE TEMP TABLE progress AS SELECT pg_temp.api('campaign_progress', :l1) -> 'body' AS v;
SELECT is((SELECT jsonb_build_object('status', v -> 'status', 'recipients', v -> 'recipients', 'states', v -> 'states',
                                     'skip_reasons', v -> 'skip_reasons', 'deferred', v -> 'deferred', 'name', v -> 'name') FROM progress),
          '{"status": "running", "recipients": 9, "states": {"pending": 3, "skipped": 6}, "deferred": 0, "name": "List",
            "skip_reasons": {"duplicate": 1, "invalid_number": 1, "country_blocked": 1, "opted_out": 2, "frequency_capped": 1}}',
          'progress counts recipients by state and skip reason');
SELECT is((pg_temp.api('campaign_progress', :n1) -> 'body' ->> 'deferred')::int,
          2 + (pg_temp.opens('{Europe/Paris}', now()) > now())::int, '... and those deferred by their hours');
SELECT is(pg_temp.api('campaign_progress', :w) -> 'body' -> 'states', '{"delivered": 1, "failed": 3, "skipped": 3}',
          '... as the messages ended');
SELECT is(pg_temp.api('campaign_progress', :w) -> 'body' -> 'skip_reasons',
          '{"opted_out": 1, "quiet_hours_deferred": 1, "expired": 1}', '... and why some were skipped');
SELECT is(pg_temp.api('campaign_progress', :st2) -> 'body' ->> 'stops', '1', '... its STOP replies');
SELECT is(pg_temp.code(pg_temp.api('campaign_progress', 999999)), 'campaign_not_found', 'an unknown campaign: 404');

INSERT INTO sms_otp.sms_messages_log ("to", type, provider_name, outcome, status_code, outbox_id, campaign_id, requested_at,
                                      delivery_status)
VALUES ('+14155550221', 'promo', 'tw', 'sent', 201, pg_temp.msg(:w, 1), :w, now(), 'delivered');
CREATE TEMP TABLE story AS SELECT pg_temp.backend(format($$sms_otp.campaign_recipient(%s, '+1 415 555 0221')$$, :w)) AS v;
SELECT is((SELECT jsonb_array_length(v -> 'body') FROM story), 1, 'campaign_recipient finds the number however written');
SELECT is((SELECT concat_ws(' ', v -> 'body' -> 0 ->> 'id', v -> 'body' -> 0 ->> 'phone', v -> 'body' -> 0 ->> 'state',
                            v -> 'body' -> 0 ->> 'provider') FROM story), '1 +14155550221 delivered tw', '... its row');
SELECT is((SELECT v -> 'body' -> 0 -> 'attempts' FROM story),
          jsonb_build_array(jsonb_build_object('outbox_id', pg_temp.msg(:w, 1), 'provider', 'tw', 'requested_at', now(),
                                               'outcome', 'sent', 'status_code', 201, 'error', NULL,
                                               'delivery_status', 'delivered', 'delivery_at', NULL)),
          '... and its attempts');
SELECT is(pg_temp.backend(format($$sms_otp.campaign_recipient(%s, '+14155550227')$$, :w)) -> 'body' -> 0 -> 'attempts', '[]',
          'a recipient without attempts: none');
SELECT is(pg_temp.backend(format($$sms_otp.campaign_recipient(%s, 'not a number')$$, :l1)) -> 'body' -> 0 ->> 'skip_reason',
          'invalid_number', 'an invalid entry is found as given');
CREATE TEMP TABLE nobody AS SELECT pg_temp.backend(format($$sms_otp.campaign_recipient(%s, '+14155559999')$$, :w)) AS v;
SELECT is((SELECT pg_temp.code(v) || ' ' || (v ->> 'status') FROM nobody), 'recipient_not_found 404', 'a number not in the campaign: 404');

--------------------------------------------------------------------------------------------
-- 11. The tables: no client reads them; the service role reads them all, writes throttles and
-- quiet hours, and changes campaigns only through the functions
--------------------------------------------------------------------------------------------
CREATE TEMP TABLE campaign_tables (t text);
INSERT INTO campaign_tables VALUES ('sms_campaigns'), ('sms_campaign_recipients'), ('sms_throttles'), ('sms_quiet_hours');
GRANT SELECT ON campaign_tables TO PUBLIC;
SET ROLE authenticated;
SET request.jwt.claims = '{"sub": "00000000-0000-4000-8000-000000000001", "role": "authenticated", "session_id": "s1"}';
SELECT throws_ok(format('SELECT * FROM sms_otp.%I', t), '42501', NULL, 'a signed-in user cannot read ' || t) FROM campaign_tables;
RESET ROLE;
SET ROLE anon;
SET request.jwt.claims = '';
SELECT throws_ok(format('SELECT * FROM sms_otp.%I', t), '42501', NULL, 'anon cannot read ' || t) FROM campaign_tables;
RESET ROLE;
SELECT count(*) AS all_campaigns FROM sms_otp.sms_campaigns \gset
SELECT count(*) AS all_recipients FROM sms_otp.sms_campaign_recipients \gset
SET ROLE service_role;
SET request.jwt.claims = '{"role": "service_role"}';
SELECT is((SELECT count(*) FROM sms_otp.sms_campaigns), :all_campaigns::bigint, 'the service role reads every campaign');
SELECT is((SELECT count(*) FROM sms_otp.sms_campaign_recipients), :all_recipients::bigint, '... and every recipient');
SELECT lives_ok($$INSERT INTO sms_otp.sms_throttles (scope, name, per_minute) VALUES ('sender', 'ACME', 60)$$,
                'the service role sets a sender''s throttle');
SELECT lives_ok($$UPDATE sms_otp.sms_throttles SET per_minute = 30 WHERE scope = 'sender' AND name = 'ACME'$$, '... changes it');
SELECT is((SELECT per_minute FROM sms_otp.sms_throttles WHERE scope = 'sender' AND name = 'ACME'), 30, '... and reads it');
SELECT lives_ok($$INSERT INTO sms_otp.sms_quiet_hours (prefix, opens, closes, days) VALUES ('+44', '09:00', '20:00', '{1,2,3,4,5,6}')$$,
                'the service role sets quiet hours');
SELECT is((SELECT count(*) FROM sms_otp.sms_quiet_hours), 4::bigint, '... and reads them all');
SELECT throws_ok($$INSERT INTO sms_otp.sms_campaigns (name, text, audience) VALUES ('direct', 'Hi', '["+14155550101"]')$$,
                 '42501', NULL, 'the service role cannot insert a campaign directly');
SELECT throws_ok(format('UPDATE sms_otp.sms_campaigns SET status = %L WHERE id = %s', 'running', :p1),
                 '42501', NULL, '... nor update one');
SELECT throws_ok(format('DELETE FROM sms_otp.sms_campaigns WHERE id = %s', :p1), '42501', NULL, '... nor delete one');
SELECT throws_ok(format($$INSERT INTO sms_otp.sms_campaign_recipients (campaign_id, id, phone, state)
                          VALUES (%s, 99, '+14155550101', 'pending')$$, :l1),
                 '42501', NULL, '... nor insert a recipient');
SELECT throws_ok(format('UPDATE sms_otp.sms_campaign_recipients SET state = %L WHERE campaign_id = %s', 'sent', :l1),
                 '42501', NULL, '... nor update one');
RESET ROLE;
RESET request.jwt.claims;
SELECT is(pg_temp.counts(:l1), 'running 9/3/0/0/0/6', 'the campaigns are as the functions left them');

SELECT * FROM finish();
ROLLBACK;
