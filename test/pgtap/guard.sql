-- The SMS-pumping guard (sql/parts/guard.sql): each rule through otp_send as PostgREST calls it
-- (country list and policy, number types, safe list, prefix and country velocity with the
-- verified baseline, conversion, temporary blocks and their end, budgets), the modes, the
-- decision records and counters, one answer for every refusal, and what clients may not do
-- (read or write the guard's tables, call its functions, loosen its settings, reformat a number
-- to dodge its prefix). Everything happens in one transaction, so now() is one instant: windows
-- are set by writing counter rows with the times wanted.
BEGIN;
SELECT plan(116);

\ir request.psql

SET LOCAL sms_otp.guard_mode = 'enforce';
SET LOCAL sms_otp.guard_countries = 'GB, US';
SET LOCAL sms_otp.ip_rate_limit_per_minute = 1000000;
SET LOCAL sms_otp.ip_rate_limit_per_day = 1000000;
-- Start from nothing (other files roll back, but a database may hold a past run's rows).
DELETE FROM sms_otp.guard_decisions;
DELETE FROM sms_otp.guard_counts;
DELETE FROM sms_otp.guard_blocks;
DELETE FROM sms_otp.guard_country_policy;
DELETE FROM sms_otp.guard_safe_list;
INSERT INTO sms_otp.api_integrations (name, kind, priority) VALUES ('guard_console', 'console', 1);

-- A new user with codes on for `phone`, and their send as PostgREST makes it, from an address
-- and a login of their own (so no per-user or per-address limit is what refuses).
CREATE TEMP SEQUENCE caller;
CREATE FUNCTION pg_temp.send_to(phone text, call text DEFAULT 'sms_otp.otp_send()', codes_on boolean DEFAULT true)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    uid uuid := gen_random_uuid();
    i   int := nextval('pg_temp.caller');
BEGIN
    INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES (uid, phone, codes_on);
    RETURN pg_temp.request('authenticated',
                           jsonb_build_object('sub', uid, 'role', 'authenticated', 'session_id', 'g' || i),
                           jsonb_build_object('x-forwarded-for', '10.' || (i / 65536 % 256) || '.' || (i / 256 % 256) || '.' || (i % 256)),
                           call);
END $$;
CREATE FUNCTION pg_temp.last() RETURNS sms_otp.guard_decisions LANGUAGE sql AS $$
    SELECT * FROM sms_otp.guard_decisions ORDER BY id DESC LIMIT 1
$$;
CREATE FUNCTION pg_temp.counted(scope "char", key text, grain "char") RETURNS bigint[] LANGUAGE sql AS $$
    SELECT ARRAY[coalesce(sum(g.sent), 0), coalesce(sum(g.verified), 0)]::bigint[]
    FROM sms_otp.guard_counts g WHERE g.scope = counted.scope AND g.key = counted.key AND g.grain = counted.grain
$$;
-- Counter rows written directly: `sent` and `verified` codes for a scope at a time.
CREATE FUNCTION pg_temp.history(scope "char", key text, grain "char", start timestamptz, sent int, verified int)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO sms_otp.guard_counts (scope, key, grain, start, shard, sent, verified)
    VALUES (scope, key, grain, start, 0, sent, verified)
$$;

--------------------------------------------------------------------------------------------
-- The number's type, in C (libphonenumber)
--------------------------------------------------------------------------------------------
SELECT is(sms_otp._phone_type('+449012345678'), 'premium_rate', '_phone_type: a UK premium-rate number');
SELECT is(sms_otp._phone_type('+447400123456'), 'mobile', '_phone_type: a UK mobile');
SELECT is(sms_otp._phone_type('+44 7400 123456'), NULL, '_phone_type: only E.164 (spaces refused)');
SELECT is(sms_otp._phone_type(repeat('9', 1000000)), NULL, '_phone_type: a megabyte is refused by its size');
SELECT is(sms_otp._phone_type(''), NULL, '_phone_type: empty');

--------------------------------------------------------------------------------------------
-- Modes
--------------------------------------------------------------------------------------------
SET LOCAL sms_otp.guard_mode = 'off';
SELECT is((pg_temp.send_to('+33612345601')) -> 'status', '200', 'off: a code to an unlisted country goes');
SELECT is((SELECT count(*)::int FROM sms_otp.guard_decisions), 0, 'off: no decision is recorded');

SET LOCAL sms_otp.guard_mode = 'record_only';
SELECT is((pg_temp.send_to('+33612345602')) -> 'status', '200', 'record_only: a code to an unlisted country goes');
SELECT is((SELECT (d.mode, d.outcome, d.rules, d.country, d.prefix, d.number_type, d.purpose)::text FROM pg_temp.last() d),
          '(record_only,flagged,{country_not_listed},FR,+33612345,mobile,sign_in)',
          'record_only: the decision says which rule would have refused it, and the code was sent (flagged)');
SELECT isnt((pg_temp.last()).session_id, NULL, 'record_only: the decision names the code''s session');

SET LOCAL sms_otp.guard_mode = 'enforce';
SELECT pg_temp.send_to('+33612345603') AS r \gset
SELECT is((:'r'::jsonb) -> 'status', '429', 'enforce: a code to an unlisted country is refused with 429');
SELECT is((:'r'::jsonb) -> 'body' ->> 'error', 'sms_unavailable', 'enforce: the refusal''s code is sms_unavailable');
SELECT is((SELECT (d.mode, d.outcome, d.rules, d.session_id)::text FROM pg_temp.last() d),
          '(enforce,refused,{country_not_listed},)', 'enforce: the refusal is recorded, with no session');
SELECT is((SELECT count(*)::int FROM sms_otp.sms_otp_sessions s WHERE s.phone = '+33612345603'), 0,
          'enforce: a refused code opens no session');
SELECT is((SELECT count(*)::int FROM sms_otp.sms_outbox o WHERE o."to" = '+33612345603'), 0,
          'enforce: a refused code queues no message');
SELECT is((pg_temp.send_to('+447400100001')) -> 'status', '200', 'enforce: a code to a listed country goes');
SELECT is((SELECT (d.outcome, d.rules)::text FROM pg_temp.last() d), '(allowed,{})', 'enforce: allowed, no rule');

--------------------------------------------------------------------------------------------
-- Country policy
--------------------------------------------------------------------------------------------
INSERT INTO sms_otp.guard_country_policy (country, action) VALUES ('FR', 'allow'), ('US', 'block'), ('DE', 'monitor');
SELECT is((pg_temp.send_to('+33612345604')) -> 'status', '200', 'policy allow: an unlisted country is allowed');
SELECT is((pg_temp.send_to('+14155550161')) -> 'status', '429', 'policy block: a listed country is refused');
SELECT is((pg_temp.last()).rules, '{country_policy}', 'policy block: the rule is country_policy');
SELECT is((pg_temp.send_to('+4915112345601')) -> 'status', '200', 'policy monitor: an unlisted country is sent');
SELECT is((SELECT (d.outcome, d.rules)::text FROM pg_temp.last() d), '(allowed,{country_monitor})',
          'policy monitor: allowed, and marked for review');
SET LOCAL sms_otp.guard_countries = '*';
SELECT is((pg_temp.send_to('+393123456701')) -> 'status', '200', 'guard_countries *: any country is listed');
SELECT is((pg_temp.send_to('+14155550162')) -> 'status', '429', 'guard_countries *: the policy''s block still holds');
SET LOCAL sms_otp.guard_countries = 'GB, US';
DELETE FROM sms_otp.guard_country_policy WHERE country = 'US';
SELECT throws_ok($$INSERT INTO sms_otp.guard_country_policy (country, action) VALUES ('gb', 'allow')$$, '23514', NULL,
                 'policy: a country code must be two capitals');
SELECT throws_ok($$INSERT INTO sms_otp.guard_country_policy (country, action) VALUES ('GB', 'maybe')$$, '23514', NULL,
                 'policy: the action is allow, monitor or block');

--------------------------------------------------------------------------------------------
-- Number types
--------------------------------------------------------------------------------------------
SELECT is((pg_temp.send_to('+449012345678')) -> 'status', '429', 'number type: a premium-rate number is refused');
SELECT is((SELECT (d.rules, d.number_type)::text FROM pg_temp.last() d), '({number_type},premium_rate)',
          'number type: the rule and the type are recorded');
SELECT is((pg_temp.send_to('+445512345678')) -> 'status', '429', 'number type: a UAN number is refused');
SET LOCAL sms_otp.guard_number_types = 'pager';
SELECT is((pg_temp.send_to('+449012345679')) -> 'status', '200', 'number type: premium rate goes once the setting leaves it out');
SET LOCAL sms_otp.guard_number_types = 'premium_rate, shared_cost, uan, pager, voicemail';

--------------------------------------------------------------------------------------------
-- Prefix velocity, temporary blocks, and the safe list
--------------------------------------------------------------------------------------------
SET LOCAL sms_otp.guard_prefix_per_hour = 3;
SELECT is(ARRAY(SELECT (pg_temp.send_to('+44740020000' || n)) ->> 'status' FROM generate_series(1, 3) n),
          '{200,200,200}', 'prefix velocity: three codes to one prefix go (limit 3 an hour)');
SELECT is((pg_temp.send_to('+447400200004')) -> 'status', '429', 'prefix velocity: the fourth is refused');
SELECT is((pg_temp.last()).rules, '{prefix_hour}', 'prefix velocity: the rule is prefix_hour');
SELECT is((SELECT (k.rule, k.until = now() + interval '1 hour')::text FROM sms_otp.guard_blocks k
           WHERE k.scope = 'prefix' AND k.key = '+447400200'), '(prefix_hour,t)',
          'prefix velocity: the prefix is blocked for sms_otp.guard_block_duration');
SELECT is(pg_temp.counted('p', '+447400200', 'q'), '{3,0}', 'prefix velocity: only the codes sent are counted');
SET LOCAL sms_otp.guard_prefix_per_hour = 100;
SELECT is((pg_temp.send_to('+447400200005')) -> 'status', '429', 'block: under a higher limit the blocked prefix still refuses');
SELECT is((pg_temp.last()).rules, '{prefix_blocked}', 'block: the rule is prefix_blocked');
-- Evasion: the same prefix written otherwise (a contact's number is stored in E.164 by its
-- trigger; the guard normalises what it is handed too).
SELECT is((SELECT (d.phone, d.prefix)::text
           FROM (SELECT sms_otp._guard('+44 7400 200-006', NULL, NULL, gen_random_uuid(), 'sign_in')) x,
                LATERAL pg_temp.last() d),
          '(+447400200006,+447400200)', 'evasion: a number written another way is judged in E.164, in its prefix');
SELECT is((pg_temp.last()).rules, '{prefix_blocked}', 'evasion: and refused by the block');
SELECT is((pg_temp.send_to('+447400201001')) -> 'status', '200', 'block: a neighbouring prefix is not blocked');

INSERT INTO sms_otp.guard_safe_list (entry, kind) VALUES ('+447400200007', 'number'), ('+44740020008', 'prefix');
SELECT is((pg_temp.send_to('+447400200007')) -> 'status', '200', 'safe list: a listed number skips the block');
SELECT is((pg_temp.last()).rules, '{safe_list}', 'safe list: recorded as safe_list');
SELECT is((pg_temp.send_to('+447400200081')) -> 'status', '200', 'safe list: a number under a listed prefix skips it');
SELECT is((pg_temp.send_to('+447400200009')) -> 'status', '429', 'safe list: a number next to a listed one does not');
SELECT throws_ok($$INSERT INTO sms_otp.guard_safe_list (entry, kind) VALUES ('+44 7400', 'prefix')$$, '23514', NULL,
                 'safe list: entries are E.164 digits');

-- Blocks end by themselves, and early by the service role.
UPDATE sms_otp.guard_blocks SET until = now() - interval '1 s' WHERE scope = 'prefix' AND key = '+447400200';
SET LOCAL sms_otp.guard_prefix_per_hour = 100;
SELECT is((pg_temp.send_to('+447400200010')) -> 'status', '200', 'block: once ended, the prefix takes codes again');
SET LOCAL sms_otp.guard_prefix_per_hour = 3;
SELECT is((pg_temp.send_to('+447400200011')) -> 'status', '429', 'block: still over its limit, it is blocked again');
SET LOCAL ROLE service_role;
SELECT is((SELECT count(*)::int FROM sms_otp.guard_block_list() b WHERE b.key = '+447400200'), 1,
          'guard_block_list: the service role sees the block');
SELECT is(sms_otp.guard_block_clear('prefix', '+447400200'), 1, 'guard_block_clear: the service role ends it');
SELECT is(sms_otp.guard_block_clear('prefix', '+447400200'), 0, 'guard_block_clear: nothing left to end');
SELECT throws_ok($$SELECT sms_otp.guard_block_clear('user', NULL)$$, 'PGRST', NULL, 'guard_block_clear: an unknown scope is a 400');
RESET ROLE;
SET LOCAL sms_otp.guard_prefix_per_hour = 100;
SELECT is((pg_temp.send_to('+447400200012')) -> 'status', '200', 'guard_block_clear: the prefix takes codes again');
SET LOCAL sms_otp.guard_prefix_per_hour = 10;

--------------------------------------------------------------------------------------------
-- The verified baseline and the conversion rule
--------------------------------------------------------------------------------------------
-- 2,400 verified codes to +447400300 over the 7 baseline days: an average hour is 14.3, so the
-- hourly limit is 3 x 14.3 = 43 (over the setting's 10), the daily 3 x 342.9 = 1029.
SELECT pg_temp.history('p', '+447400300', 'd', date_trunc('day', now(), 'UTC') - make_interval(days => d), 400, 2400 / 7 + (d = 1)::int * (2400 % 7))
FROM generate_series(1, 7) d;
SELECT is(pg_temp.counted('p', '+447400300', 'd'), '{2800,2400}', 'baseline: the history is in place');
SET LOCAL ROLE service_role;
SELECT is((SELECT (x -> 'details' ->> 'prefix_hour_limit', x -> 'details' ->> 'prefix_day_limit')::text
           FROM sms_otp.guard_explain('+447400300001') x), '(43,1029)',
          'baseline: a prefix with verified traffic gets limits of 3 x its average hour and day');
SELECT is((SELECT x -> 'details' ->> 'prefix_hour_limit' FROM sms_otp.guard_explain('+447400300999') x), '43',
          'baseline: every number of the prefix shares it');
SELECT is((SELECT x -> 'details' ->> 'prefix_hour_limit' FROM sms_otp.guard_explain('+447400301001') x), '10',
          'baseline: a prefix with no verified traffic keeps the setting''s limit');
RESET ROLE;
-- Codes sent but never entered are no baseline: the same counts without verified.
SELECT pg_temp.history('p', '+447400310', 'd', date_trunc('day', now(), 'UTC') - make_interval(days => d), 400, 0)
FROM generate_series(1, 7) d;
SET LOCAL ROLE service_role;
SELECT is((SELECT x -> 'details' ->> 'prefix_hour_limit' FROM sms_otp.guard_explain('+447400310001') x), '10',
          'baseline: codes that were never verified raise no limit');
RESET ROLE;

-- Conversion: 8 codes to +447400400 in the window, none verified: the next is refused, and the
-- prefix blocked. A prefix whose codes are entered is not.
SET LOCAL sms_otp.guard_conversion_min_prefix = 8;
SELECT pg_temp.history('p', '+447400400', 'q', date_bin('10 minutes', now() - interval '20 minutes', 'epoch'), 8, 0);
SELECT pg_temp.history('p', '+447400410', 'q', date_bin('10 minutes', now() - interval '20 minutes', 'epoch'), 8, 6);
SELECT pg_temp.history('p', '+447400420', 'q', date_bin('10 minutes', now() - interval '20 minutes', 'epoch'), 7, 0);
SELECT pg_temp.history('p', '+447400430', 'q', date_bin('10 minutes', now() - interval '2 hours', 'epoch'), 8, 0);
SELECT is((pg_temp.send_to('+447400400001')) -> 'status', '429', 'conversion: a prefix whose codes are never entered is refused');
SELECT is((pg_temp.last()).rules, '{prefix_conversion}', 'conversion: the rule is prefix_conversion');
SELECT is((SELECT k.rule FROM sms_otp.guard_blocks k WHERE k.scope = 'prefix' AND k.key = '+447400400'),
          'prefix_conversion', 'conversion: the prefix is blocked');
SELECT is((pg_temp.send_to('+447400410001')) -> 'status', '200', 'conversion: 6 of 8 verified is no anomaly');
SELECT is((pg_temp.send_to('+447400420001')) -> 'status', '200', 'conversion: 7 codes are too few to judge');
SELECT is((pg_temp.send_to('+447400430001')) -> 'status', '200', 'conversion: codes older than the window do not count');
-- Country: the same rule on a country's codes (here the window holds 200 to DE, 10 entered).
SELECT pg_temp.history('c', 'DE', 'q', date_bin('10 minutes', now() - interval '20 minutes', 'epoch'), 200, 10);
SELECT is((pg_temp.send_to('+4915112345602')) -> 'status', '429', 'conversion: a country whose codes are not entered is refused');
SELECT is((pg_temp.last()).rules, '{country_monitor,country_conversion}', 'conversion: the rule is country_conversion');
SELECT is((SELECT k.rule FROM sms_otp.guard_blocks k WHERE k.scope = 'country' AND k.key = 'DE'), 'country_conversion',
          'conversion: the country is blocked');
SELECT is((pg_temp.send_to('+4915112345603')) -> 'status', '429', 'conversion: the next code to the country is refused');
SELECT is((pg_temp.last()).rules, '{country_monitor,country_blocked,country_conversion}',
          'conversion: the next code to the country meets the block');

--------------------------------------------------------------------------------------------
-- Verified codes are counted where they were sent
--------------------------------------------------------------------------------------------
SELECT pg_temp.send_to('+447400500001') AS r \gset
UPDATE sms_otp.sms_otp_sessions SET status = 'verified', verified_at = now()
WHERE id = ((:'r'::jsonb) -> 'body' ->> 'session_id')::uuid;
SELECT is(pg_temp.counted('p', '+447400500', 'q'), '{1,1}', 'verified: counted for the prefix (ten minutes)');
SELECT is(pg_temp.counted('p', '+447400500', 'd'), '{1,1}', 'verified: counted for the prefix (day)');
UPDATE sms_otp.sms_otp_sessions SET updated_at = now() WHERE id = ((:'r'::jsonb) -> 'body' ->> 'session_id')::uuid;
SELECT is(pg_temp.counted('p', '+447400500', 'd'), '{1,1}', 'verified: a later update of the session counts nothing more');

--------------------------------------------------------------------------------------------
-- Country velocity and budgets
--------------------------------------------------------------------------------------------
SELECT pg_temp.history('c', 'US', 'q', date_bin('10 minutes', now(), 'epoch'), 5, 5);
SET LOCAL sms_otp.guard_country_per_hour = 6;
SELECT is((pg_temp.send_to('+14155550171')) -> 'status', '200', 'country velocity: the sixth code to US in the hour goes');
SELECT is((pg_temp.send_to('+14155550172')) -> 'status', '429', 'country velocity: the seventh is refused');
SELECT is((pg_temp.last()).rules, '{country_hour}', 'country velocity: the rule is country_hour');
SELECT is((SELECT count(*)::int FROM sms_otp.guard_blocks k WHERE k.scope = 'country' AND k.key = 'US'), 0,
          'country velocity: a country over its hourly limit is not blocked (codes go again as the hour slides)');
SET LOCAL sms_otp.guard_country_per_hour = 2000;

SELECT coalesce(sum(g.sent), 0)::int AS today FROM sms_otp.guard_counts g
WHERE g.scope = 'g' AND g.grain = 'd' AND g.start = date_trunc('day', now(), 'UTC') \gset
SELECT set_config('sms_otp.guard_daily_budget', (:today + 1)::text, true) AS budget \gset
SELECT is((pg_temp.send_to('+447400600001')) -> 'status', '200', 'budget: the last code of the day''s budget goes');
SELECT is((pg_temp.send_to('+447400600002')) -> 'status', '429', 'budget: the next is refused');
SELECT is((pg_temp.last()).rules, '{budget_global}', 'budget: the rule is budget_global');
SELECT is((pg_temp.send_to('+447400200007')) -> 'status', '429', 'budget: a safe-listed number is refused too');
SET LOCAL sms_otp.guard_daily_budget = 0;
UPDATE sms_otp.guard_country_policy SET daily_budget = 0 WHERE country = 'FR';
SELECT is((pg_temp.send_to('+33612345605')) -> 'status', '429', 'budget: a country''s budget from the policy table');
SELECT is((pg_temp.last()).rules, '{budget_country}', 'budget: the rule is budget_country');
UPDATE sms_otp.guard_country_policy SET daily_budget = NULL WHERE country = 'FR';

--------------------------------------------------------------------------------------------
-- One answer for every refusal
--------------------------------------------------------------------------------------------
CREATE TEMP TABLE answers AS
SELECT rule, pg_temp.send_to(phone) AS r FROM (VALUES
    ('country_not_listed', '+393123456702'),
    ('number_type', '+449012345670'),
    ('prefix_blocked', '+447400400002'),
    ('country_blocked', '+4915112345604')) AS v(rule, phone);
INSERT INTO sms_otp.guard_country_policy (country, action) VALUES ('ES', 'block');
INSERT INTO answers SELECT 'country_policy', pg_temp.send_to('+34612345601');
SELECT is((SELECT count(DISTINCT a.r)::int FROM answers a), 1,
          'answers: status, body and Retry-After are the same whatever the rule');
SELECT is((SELECT a.r FROM answers a LIMIT 1),
          '{"status": 429, "body": {"error": "sms_unavailable", "message": "We cannot send a code to this number right now. Try again later, or use another number.", "retry_after_seconds": 3600}, "headers": [{"Retry-After": "3600"}]}',
          'answers: the refusal names no rule and no figure');
SELECT is((SELECT array_agg(DISTINCT d.outcome) FROM sms_otp.guard_decisions d WHERE d.phone IN
              ('+393123456702', '+449012345670', '+447400400002', '+4915112345604', '+34612345601')),
          '{refused}', 'answers: each of them was recorded as refused');

--------------------------------------------------------------------------------------------
-- Enrolment codes: judged the same way
--------------------------------------------------------------------------------------------
SELECT is((pg_temp.send_to(NULL, $$sms_otp.otp_send(phone => '+449012345671')$$, false)) -> 'status', '429',
          'enrolment: a code to enrol a premium-rate number is refused');
SELECT is((SELECT (d.purpose, d.rules)::text FROM pg_temp.last() d), '(enrol,{number_type})',
          'enrolment: recorded with its purpose');

--------------------------------------------------------------------------------------------
-- Records, counters, metrics, retention
--------------------------------------------------------------------------------------------
SELECT is((SELECT count(*)::int FROM sms_otp.guard_decisions d
           WHERE d.outcome = 'refused' AND d.session_id IS NOT NULL), 0, 'records: no refused decision names a session');
SELECT is((SELECT sum(g.sent)::int FROM sms_otp.guard_counts g WHERE g.scope = 'o'),
          (SELECT count(*)::int FROM sms_otp.guard_decisions), 'counters: one outcome counted per decision');
SELECT is((SELECT sum(g.sent)::int FROM sms_otp.guard_counts g WHERE g.scope = 'r' AND g.key = 'number_type:refused'),
          (SELECT count(*)::int FROM sms_otp.guard_decisions d WHERE 'number_type' = ANY (d.rules) AND d.outcome = 'refused'),
          'counters: each rule counted by outcome');
SET LOCAL ROLE service_role;
SELECT matches(convert_from(sms_otp.metrics(), 'UTF8'),
               format('sms_otp_guard_decisions_total\{outcome="refused"\} %s',
                      (SELECT sum(g.sent) FROM sms_otp.guard_counts g WHERE g.scope = 'o' AND g.key = 'refused')),
               'metrics: guard decisions by outcome');
SELECT matches(convert_from(sms_otp.metrics(), 'UTF8'), 'sms_otp_guard_rules_total\{outcome="refused",rule="prefix_hour"\} [1-9]',
               'metrics: guard rules by rule and outcome');
RESET ROLE;
SELECT pg_temp.history('p', '+447400900', 'q', now() - interval '3 days', 1, 0);
SELECT pg_temp.history('p', '+447400900', 'd', now() - interval '40 days', 1, 0);
INSERT INTO sms_otp.guard_decisions (created_at, phone, country, prefix, mode, outcome)
VALUES (now() - interval '40 days', '+447400900001', 'GB', '+447400900', 'enforce', 'allowed');
DO $$ BEGIN PERFORM sms_otp._guard_prune(1000); END $$;
SELECT is((SELECT count(*)::int FROM sms_otp.guard_counts g WHERE g.key = '+447400900'), 0,
          'retention: old ten-minute and day counters go');
SELECT is((SELECT count(*)::int FROM sms_otp.guard_decisions d WHERE d.phone = '+447400900001'), 1,
          'retention: decisions stay while sms_otp.log_retention is 0');
SET LOCAL sms_otp.log_retention = '30d';
DO $$ BEGIN PERFORM sms_otp._guard_prune(1000); END $$;
SELECT is((SELECT count(*)::int FROM sms_otp.guard_decisions d WHERE d.phone = '+447400900001'), 0,
          'retention: decisions past sms_otp.log_retention go');
SELECT isnt((SELECT count(*)::int FROM sms_otp.guard_decisions), 0, 'retention: recent decisions stay');
RESET sms_otp.log_retention;

--------------------------------------------------------------------------------------------
-- Settings: validated, and no client may loosen them
--------------------------------------------------------------------------------------------
SELECT throws_ok($$SET sms_otp.guard_countries = 'gb'$$, '22023', NULL, 'settings: lower-case countries are refused');
SELECT throws_ok($$SET sms_otp.guard_countries = 'GBR'$$, '22023', NULL, 'settings: three-letter codes are refused');
SELECT throws_ok($$SET sms_otp.guard_number_types = 'premium'$$, '22023', NULL, 'settings: unknown number types are refused');
SELECT throws_ok($$SET sms_otp.guard_mode = 'lenient'$$, '22023', NULL, 'settings: unknown modes are refused');
SELECT throws_ok($$SET sms_otp.guard_conversion_threshold = 1.5$$, '22023', NULL, 'settings: a share above 1 is refused');
SET LOCAL ROLE authenticated;
SELECT throws_ok($$SET sms_otp.guard_mode = 'off'$$, '42501', NULL, 'settings: a client cannot turn the guard off');
SELECT throws_ok($$SET sms_otp.guard_countries = '*'$$, '42501', NULL, 'settings: a client cannot list countries');
SELECT throws_ok($$SET sms_otp.guard_prefix_per_hour = 1000000$$, '42501', NULL, 'settings: a client cannot raise a limit');
RESET ROLE;

--------------------------------------------------------------------------------------------
-- What clients may not do
--------------------------------------------------------------------------------------------
SET LOCAL ROLE authenticated;
SET LOCAL request.jwt.claims = '{"sub": "a0000000-0000-4000-8000-00000000000a", "role": "authenticated", "session_id": "x"}';
SELECT throws_ok('SELECT * FROM sms_otp.guard_decisions', '42501', NULL, 'clients: the decisions are not readable');
SELECT throws_ok('SELECT * FROM sms_otp.guard_blocks', '42501', NULL, 'clients: the blocks are not readable');
SELECT throws_ok('SELECT * FROM sms_otp.guard_country_policy', '42501', NULL, 'clients: the country policy is not readable');
SELECT throws_ok($$INSERT INTO sms_otp.guard_country_policy (country, action) VALUES ('ZZ', 'allow')$$, '42501', NULL,
                 'clients: the country policy is not writable');
SELECT throws_ok($$INSERT INTO sms_otp.guard_safe_list (entry, kind) VALUES ('+4', 'prefix')$$, '42501', NULL,
                 'clients: the safe list is not writable');
SELECT throws_ok('DELETE FROM sms_otp.guard_counts', '42501', NULL, 'clients: the counters are not writable');
SELECT throws_ok($$SELECT sms_otp.guard_block_clear()$$, 'PGRST', NULL, 'clients: guard_block_clear is refused (403)');
SELECT throws_ok($$SELECT sms_otp.guard_explain('+447400400001')$$, 'PGRST', NULL,
                 'clients: guard_explain is refused (403): it would tell which rule applies');
SELECT throws_ok($$SELECT sms_otp._guard('+447400400001', NULL, NULL, gen_random_uuid(), 'sign_in')$$, '42501', NULL,
                 'clients: the guard itself is not callable');
RESET ROLE;
SET LOCAL ROLE service_role;
SELECT lives_ok($$INSERT INTO sms_otp.guard_safe_list (entry, kind) VALUES ('+4420', 'prefix')$$,
                'service role: writes the safe list');
SELECT isnt_empty('SELECT 1 FROM sms_otp.guard_decisions', 'service role: reads the decisions');
SELECT throws_ok($$UPDATE sms_otp.guard_decisions SET outcome = 'allowed'$$, '42501', NULL,
                 'service role: cannot rewrite a decision');
SELECT throws_ok($$INSERT INTO sms_otp.guard_blocks (scope, key, rule, until) VALUES ('prefix', '+1', 'x', now())$$,
                 '42501', NULL, 'service role: blocks are set by the guard only');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
