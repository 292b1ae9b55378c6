--------------------------------------------------------------------------------------------
-- The SMS-pumping guard: before otp_send makes a code, it judges the number the code would go
-- to (sign-in and enrolment codes alike) against a country policy, the number's type, velocity
-- per prefix and per country (adaptive to the verified traffic of the baseline days), the share
-- of codes verified per prefix and per country, temporary blocks, and daily budgets. Every
-- decision is recorded (guard_decisions) with the rules that fired; in enforce mode a refusal
-- is returned (so the record and the counters commit) with one answer whatever the rule.
-- Settings: sms_otp.guard_* (src/guard_settings.cpp, docs/configuration.md).
--------------------------------------------------------------------------------------------

-- libphonenumber's type of an E.164 number (mobile, premium_rate, ...), NULL when it is not
-- E.164 (src/sms/number_type.cpp).
CREATE OR REPLACE FUNCTION sms_otp._phone_type(phone text) RETURNS text
    LANGUAGE c STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_phone_type';

-- A number's prefix: without its last `digits` digits (never shorter than '+' and one digit).
-- (_guard writes the same expression in place.)
CREATE OR REPLACE FUNCTION sms_otp._guard_prefix(e164 text, digits int) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT left(e164, greatest(length(e164) - digits, 2))
$$;

-- A setting with a time unit ('1h', '3600s') in seconds.
CREATE OR REPLACE FUNCTION sms_otp._guard_seconds(name text) RETURNS int
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT extract(epoch FROM current_setting(name)::interval)::int
$$;

-- What the rules say of a number, from the tables as they are (nothing is written). rules: every
-- rule that fired, in a fixed order; refuse: one of them refuses (all but country_monitor and
-- safe_list do); block_prefix / block_country: a velocity or conversion rule asks for a
-- temporary block; details: the counts and limits compared; budget_left: codes left today before
-- the tighter budget (NULL without one).
CREATE OR REPLACE FUNCTION sms_otp._guard_evaluate(
    e164 text, country text, prefix text, number_type text,
    OUT rules text[], OUT refuse boolean, OUT block_prefix boolean, OUT block_country boolean,
    OUT details jsonb, OUT budget_left bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    today       timestamptz := date_trunc('day', now(), 'UTC');
    -- the share of today gone: yesterday's count weighs what is left of a sliding day
    day_left    double precision := 1 - extract(epoch FROM now() - date_trunc('day', now(), 'UTC')) / 86400;
    hour_from   timestamptz := date_bin('10 minutes', now() - interval '1 hour', 'epoch');
    -- (settings read in place: a helper function pinning its search_path is a call each time)
    conv_from   timestamptz := date_bin('10 minutes', now() - current_setting('sms_otp.guard_conversion_window')::interval, 'epoch');
    base_days   int := current_setting('sms_otp.guard_baseline_days')::int;
    factor      double precision := current_setting('sms_otp.guard_baseline_factor')::double precision;
    threshold   double precision := current_setting('sms_otp.guard_conversion_threshold')::double precision;
    min_prefix  int := current_setting('sms_otp.guard_conversion_min_prefix')::int;
    min_country int := current_setting('sms_otp.guard_conversion_min_country')::int;
    budget      bigint := nullif(current_setting('sms_otp.guard_daily_budget')::bigint, 0);
    policy      sms_otp.guard_country_policy;
    safe        boolean;
    c           record;
    b           record;
    limits      record;
    country_budget bigint;
BEGIN
    SELECT * INTO policy FROM sms_otp.guard_country_policy p WHERE p.country = _guard_evaluate.country;
    -- Every prefix of the number, for the safe list's prefixes.
    safe := EXISTS (SELECT 1 FROM sms_otp.guard_safe_list s
                    WHERE s.entry = ANY (ARRAY(SELECT left(e164, n) FROM generate_series(2, least(length(e164), 16)) n))
                      AND (s.kind = 'prefix' OR s.entry = e164));
    SELECT bool_or(k.scope = 'prefix') AS prefix, bool_or(k.scope = 'country') AS country INTO b
    FROM sms_otp.guard_blocks k
    WHERE k.until > now()
      AND ((k.scope = 'prefix' AND k.key = _guard_evaluate.prefix) OR (k.scope = 'country' AND k.key = _guard_evaluate.country));

    -- One index range per scope and grain: the last hour and the conversion window in ten-minute
    -- buckets, today and yesterday, and the baseline days.
    SELECT coalesce(sum(x.sent) FILTER (WHERE x.scope = 'p' AND x.grain = 'q' AND x.start >= hour_from), 0) AS p_hour,
           coalesce(sum(x.sent) FILTER (WHERE x.scope = 'p' AND x.grain = 'q' AND x.start >= conv_from), 0) AS p_conv_sent,
           coalesce(sum(x.verified) FILTER (WHERE x.scope = 'p' AND x.grain = 'q' AND x.start >= conv_from), 0) AS p_conv_verified,
           coalesce(sum(x.sent) FILTER (WHERE x.scope = 'p' AND x.grain = 'd' AND x.start = today), 0)
             + coalesce(sum(x.sent) FILTER (WHERE x.scope = 'p' AND x.grain = 'd' AND x.start = today - interval '1 day'), 0) * day_left AS p_day,
           coalesce(sum(x.verified) FILTER (WHERE x.scope = 'p' AND x.grain = 'd' AND x.start < today), 0) AS p_base,
           coalesce(sum(x.sent) FILTER (WHERE x.scope = 'c' AND x.grain = 'q' AND x.start >= hour_from), 0) AS c_hour,
           coalesce(sum(x.sent) FILTER (WHERE x.scope = 'c' AND x.grain = 'q' AND x.start >= conv_from), 0) AS c_conv_sent,
           coalesce(sum(x.verified) FILTER (WHERE x.scope = 'c' AND x.grain = 'q' AND x.start >= conv_from), 0) AS c_conv_verified,
           coalesce(sum(x.sent) FILTER (WHERE x.scope = 'c' AND x.grain = 'd' AND x.start = today), 0)
             + coalesce(sum(x.sent) FILTER (WHERE x.scope = 'c' AND x.grain = 'd' AND x.start = today - interval '1 day'), 0) * day_left AS c_day,
           coalesce(sum(x.sent) FILTER (WHERE x.scope = 'c' AND x.grain = 'd' AND x.start = today), 0) AS c_today,
           coalesce(sum(x.verified) FILTER (WHERE x.scope = 'c' AND x.grain = 'd' AND x.start < today), 0) AS c_base,
           coalesce(sum(x.sent) FILTER (WHERE x.scope = 'g'), 0) AS g_today
    INTO c
    FROM (SELECT g.scope, g.grain, g.start, g.sent, g.verified FROM sms_otp.guard_counts g
          WHERE g.scope = 'p' AND g.key = _guard_evaluate.prefix AND g.grain = 'q' AND g.start >= least(hour_from, conv_from)
          UNION ALL
          SELECT g.scope, g.grain, g.start, g.sent, g.verified FROM sms_otp.guard_counts g
          WHERE g.scope = 'p' AND g.key = _guard_evaluate.prefix AND g.grain = 'd' AND g.start >= today - make_interval(days => base_days)
          UNION ALL
          SELECT g.scope, g.grain, g.start, g.sent, g.verified FROM sms_otp.guard_counts g
          WHERE g.scope = 'c' AND g.key = _guard_evaluate.country AND g.grain = 'q' AND g.start >= least(hour_from, conv_from)
          UNION ALL
          SELECT g.scope, g.grain, g.start, g.sent, g.verified FROM sms_otp.guard_counts g
          WHERE g.scope = 'c' AND g.key = _guard_evaluate.country AND g.grain = 'd' AND g.start >= today - make_interval(days => base_days)
          UNION ALL
          SELECT g.scope, g.grain, g.start, g.sent, g.verified FROM sms_otp.guard_counts g
          WHERE g.scope = 'g' AND g.key = '' AND g.grain = 'd' AND g.start = today) x;

    -- Velocity limits: the settings, or more where the baseline's verified codes say ordinary
    -- traffic is larger (factor x an average hour or day of it).
    SELECT greatest(current_setting('sms_otp.guard_prefix_per_hour')::bigint, ceil(factor * c.p_base / base_days / 24)) AS p_hour,
           greatest(current_setting('sms_otp.guard_prefix_per_day')::bigint, ceil(factor * c.p_base / base_days)) AS p_day,
           greatest(current_setting('sms_otp.guard_country_per_hour')::bigint, ceil(factor * c.c_base / base_days / 24)) AS c_hour,
           greatest(current_setting('sms_otp.guard_country_per_day')::bigint, ceil(factor * c.c_base / base_days)) AS c_day
    INTO limits;
    country_budget := coalesce(policy.daily_budget::bigint, nullif(current_setting('sms_otp.guard_country_daily_budget')::bigint, 0));

    rules := '{}';
    IF policy.action = 'block' THEN
        rules := array_append(rules, 'country_policy');
    ELSIF policy.action IS NULL AND NOT (current_setting('sms_otp.guard_countries') = '*' AND country <> 'ZZ'
                                         OR country = ANY (string_to_array(replace(current_setting('sms_otp.guard_countries'), ' ', ''), ','))) THEN
        rules := array_append(rules, 'country_not_listed');
    ELSIF policy.action = 'monitor' THEN
        rules := array_append(rules, 'country_monitor');
    END IF;
    IF number_type = ANY (string_to_array(replace(current_setting('sms_otp.guard_number_types'), ' ', ''), ',')) THEN
        rules := array_append(rules, 'number_type');
    END IF;
    IF safe THEN
        rules := array_append(rules, 'safe_list');
    ELSE
        IF b.prefix THEN rules := array_append(rules, 'prefix_blocked'); END IF;
        IF b.country THEN rules := array_append(rules, 'country_blocked'); END IF;
        IF c.p_hour >= limits.p_hour THEN rules := array_append(rules, 'prefix_hour'); END IF;
        IF c.p_day >= limits.p_day THEN rules := array_append(rules, 'prefix_day'); END IF;
        IF c.c_hour >= limits.c_hour THEN rules := array_append(rules, 'country_hour'); END IF;
        IF c.c_day >= limits.c_day THEN rules := array_append(rules, 'country_day'); END IF;
        IF c.p_conv_sent >= min_prefix AND c.p_conv_verified < threshold * c.p_conv_sent THEN
            rules := array_append(rules, 'prefix_conversion');
        END IF;
        IF c.c_conv_sent >= min_country AND c.c_conv_verified < threshold * c.c_conv_sent THEN
            rules := array_append(rules, 'country_conversion');
        END IF;
    END IF;
    IF c.g_today >= budget THEN rules := array_append(rules, 'budget_global'); END IF;
    IF c.c_today >= country_budget THEN rules := array_append(rules, 'budget_country'); END IF;

    refuse := rules && ARRAY['country_policy', 'country_not_listed', 'number_type', 'prefix_blocked', 'country_blocked',
                             'prefix_hour', 'prefix_day', 'country_hour', 'country_day', 'prefix_conversion',
                             'country_conversion', 'budget_global', 'budget_country'];
    block_prefix := rules && ARRAY['prefix_hour', 'prefix_day', 'prefix_conversion'];
    block_country := rules && ARRAY['country_conversion'];
    budget_left := least(budget - c.g_today, country_budget - c.c_today);
    details := jsonb_build_object(
        'prefix_hour', c.p_hour, 'prefix_hour_limit', limits.p_hour,
        'prefix_day', round(c.p_day::numeric, 1), 'prefix_day_limit', limits.p_day,
        'country_hour', c.c_hour, 'country_hour_limit', limits.c_hour,
        'country_day', round(c.c_day::numeric, 1), 'country_day_limit', limits.c_day,
        'prefix_window_sent', c.p_conv_sent, 'prefix_window_verified', c.p_conv_verified,
        'country_window_sent', c.c_conv_sent, 'country_window_verified', c.c_conv_verified,
        'sent_today', c.g_today, 'country_sent_today', c.c_today)
        || jsonb_strip_nulls(jsonb_build_object('budget', budget, 'country_budget', country_budget));
END $$;

-- The answer to every refusal, whatever the rule: a rule named, or a status, body or wait that
-- differed by rule, would tell an attacker which one to work around.
CREATE OR REPLACE FUNCTION sms_otp._guard_refusal() RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
    SELECT sms_otp._respond(429, jsonb_build_object(
        'error', 'sms_unavailable',
        'message', 'We cannot send a code to this number right now. Try again later, or use another number.'),
        sms_otp._guard_seconds('sms_otp.guard_retry_after'))
$$;

-- Called by otp_send after the rate limits, before a code is made, with the number the code
-- would go to and the session it would open. Records the decision and counts the code; returns
-- the refusal to send back (enforce mode, a refusing rule fired) or NULL to go on.
CREATE OR REPLACE FUNCTION sms_otp._guard(destination text, uid uuid, net cidr, session uuid, purpose text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    mode     text := current_setting('sms_otp.guard_mode');
    e164     text;
    country  text;
    prefix   text;
    ntype    text;
    ev       record;
    outcome  text;
    sending  boolean;
    my_shard smallint := (pg_backend_pid() % 4 + 1)::smallint;
    bucket   timestamptz := date_bin('10 minutes', now(), 'epoch');
    today    timestamptz := date_trunc('day', now(), 'UTC');
    block_s  int;
BEGIN
    IF mode = 'off' THEN
        RETURN NULL;
    END IF;
    -- Whatever way the number was written, the rules see its E.164 form.
    e164 := coalesce(CASE WHEN length(destination) <= 64 THEN sms_otp.normalize_phone(destination) END,
                     left(destination, 16));
    country := coalesce(sms_otp.phone_country(e164), 'ZZ');
    prefix := left(e164, greatest(length(e164) - current_setting('sms_otp.guard_prefix_digits')::int, 2));
    ntype := sms_otp._phone_type(e164);
    -- Sends to one prefix are judged one at a time, so concurrent ones cannot all pass a limit
    -- (otp_send holds the user's and the address's locks already: always taken in that order).
    PERFORM pg_advisory_xact_lock(hashtextextended('sms_otp.guard.prefix:' || prefix, 0));

    ev := sms_otp._guard_evaluate(e164, country, prefix, ntype);
    outcome := CASE WHEN NOT ev.refuse THEN 'allowed' WHEN mode = 'enforce' THEN 'refused' ELSE 'flagged' END;
    sending := outcome <> 'refused';

    INSERT INTO sms_otp.guard_decisions (session_id, user_id, purpose, phone, country, prefix, number_type, client_net,
                                         mode, outcome, rules, details)
    VALUES (CASE WHEN sending THEN session END, uid, purpose, e164, country, prefix, ntype, net,
            mode, outcome, ev.rules, ev.details);

    IF ev.block_prefix OR ev.block_country THEN
        block_s := sms_otp._guard_seconds('sms_otp.guard_block_duration');
        INSERT INTO sms_otp.guard_blocks AS k (scope, key, rule, until, details)
        SELECT x.scope, x.key, x.rule, now() + make_interval(secs => block_s), ev.details
        FROM (SELECT 'country' AS scope, country AS key,
                     'country_conversion' AS rule, ev.block_country AS wanted
              UNION ALL
              SELECT 'prefix', prefix,
                     (SELECT r FROM unnest(ev.rules) r WHERE r IN ('prefix_hour', 'prefix_day', 'prefix_conversion') LIMIT 1),
                     ev.block_prefix) x
        WHERE x.wanted
        ORDER BY x.scope, x.key
        ON CONFLICT (scope, key) DO UPDATE
        SET rule = excluded.rule, blocked_at = CASE WHEN k.until > now() THEN k.blocked_at ELSE now() END,
            until = greatest(k.until, excluded.until), details = excluded.details;
        -- A new block is logged once; while the rule keeps firing the block only lasts longer.
        IF ev.block_prefix AND NOT 'prefix_blocked' = ANY (ev.rules) THEN
            RAISE LOG 'sms_otp guard: prefix % blocked for % s (rules %, mode %)', prefix, block_s,
                array_to_string(ev.rules, ','), mode;
        END IF;
        IF ev.block_country AND NOT 'country_blocked' = ANY (ev.rules) THEN
            RAISE LOG 'sms_otp guard: country % blocked for % s (rules %, mode %)', country, block_s,
                array_to_string(ev.rules, ','), mode;
        END IF;
    END IF;

    -- The counters: the code (when it goes), and the decision's outcome and rules. Rows in key
    -- order, as every writer takes them, so that two sends never wait on each other in a circle.
    INSERT INTO sms_otp.guard_counts AS g (scope, key, grain, start, shard, sent)
    SELECT x.scope, x.key, x.grain, x.start, my_shard, 1
    FROM (SELECT 'p'::"char" AS scope, prefix AS key, 'q'::"char" AS grain, bucket AS start WHERE sending
          UNION ALL SELECT 'p', prefix, 'd', today WHERE sending
          UNION ALL SELECT 'c', country, 'q', bucket WHERE sending
          UNION ALL SELECT 'c', country, 'd', today WHERE sending
          UNION ALL SELECT 'g', '', 'd', today WHERE sending
          UNION ALL SELECT 'o', outcome, 't', '-infinity'
          UNION ALL SELECT 'r', r || ':' || outcome, 't', '-infinity' FROM unnest(ev.rules) r) x
    ORDER BY x.scope, x.key, x.grain, x.start
    ON CONFLICT (scope, key, grain, start, shard) DO UPDATE SET sent = g.sent + 1;

    -- The send that spends the last code of a budget says so (once: the refusals after it do not,
    -- so an attack held off by the budget does not flood the log).
    IF sending AND ev.budget_left <= 1 THEN
        RAISE LOG 'sms_otp guard: daily budget reached (% codes sent today, % to %); further codes are %',
            (ev.details ->> 'sent_today')::bigint + 1, (ev.details ->> 'country_sent_today')::bigint + 1, country,
            CASE WHEN mode = 'enforce' THEN 'refused' ELSE 'only recorded' END;
    END IF;

    IF NOT sending THEN
        RETURN sms_otp._guard_refusal();
    END IF;
    RETURN NULL;
END $$;

-- A code verified: counted against the prefix and country it was sent to, in the buckets of its
-- send, so the conversion rule and the baseline see it. Verifications write shards 5..8, never
-- the rows sends lock (1..4): a send holds its counter rows until it commits, and may then wait
-- for the session row a verification of the same user holds, so sharing rows could deadlock.
CREATE OR REPLACE FUNCTION sms_otp._guard_verified() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    my_shard smallint := (pg_backend_pid() % 4 + 5)::smallint;
BEGIN
    INSERT INTO sms_otp.guard_counts AS g (scope, key, grain, start, shard, verified)
    SELECT x.scope, x.key, x.grain, x.start, my_shard, 1
    FROM sms_otp.guard_decisions d
    CROSS JOIN LATERAL (VALUES ('p'::"char", d.prefix, 'q'::"char", date_bin('10 minutes', d.created_at, 'epoch')),
                               ('p', d.prefix, 'd', date_trunc('day', d.created_at, 'UTC')),
                               ('c', d.country, 'q', date_bin('10 minutes', d.created_at, 'epoch')),
                               ('c', d.country, 'd', date_trunc('day', d.created_at, 'UTC'))) AS x(scope, key, grain, start)
    WHERE d.session_id = NEW.id AND d.outcome <> 'refused'
    ORDER BY x.scope, x.key, x.grain, x.start
    ON CONFLICT (scope, key, grain, start, shard) DO UPDATE SET verified = g.verified + 1;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS guard_verified ON sms_otp.sms_otp_sessions;
CREATE TRIGGER guard_verified AFTER UPDATE OF status ON sms_otp.sms_otp_sessions
    FOR EACH ROW WHEN (NEW.status = 'verified' AND OLD.status IS DISTINCT FROM 'verified')
    EXECUTE FUNCTION sms_otp._guard_verified();

--------------------------------------------------------------------------------------------
-- For the service role: what the guard would decide, the blocks, and their end
--------------------------------------------------------------------------------------------

-- What the guard would decide for a number now (nothing is recorded or counted).
CREATE OR REPLACE FUNCTION sms_otp.guard_explain(phone text) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e164    text;
    country text;
    prefix  text;
    ntype   text;
    ev      record;
BEGIN
    PERFORM sms_otp._require_service_role('ask the guard');
    e164 := CASE WHEN length(phone) <= 64 THEN sms_otp.normalize_phone(phone) END;
    IF e164 IS NULL THEN
        PERFORM sms_otp._raise('invalid_phone', 400, 'That is not a valid phone number.',
                               'Write it in international format, such as +14155550123.');
    END IF;
    country := coalesce(sms_otp.phone_country(e164), 'ZZ');
    prefix := sms_otp._guard_prefix(e164, current_setting('sms_otp.guard_prefix_digits')::int);
    ntype := sms_otp._phone_type(e164);
    ev := sms_otp._guard_evaluate(e164, country, prefix, ntype);
    RETURN jsonb_build_object('phone', e164, 'country', country, 'prefix', prefix, 'number_type', ntype,
                              'mode', current_setting('sms_otp.guard_mode'), 'rules', to_jsonb(ev.rules),
                              'refuse', ev.refuse, 'details', ev.details);
END $$;
COMMENT ON FUNCTION sms_otp.guard_explain(text) IS
    'What the SMS-pumping guard would decide for a number now, with the rules and figures (nothing recorded). Service role only.';

-- The temporary blocks in force.
CREATE OR REPLACE FUNCTION sms_otp.guard_block_list()
RETURNS TABLE (scope text, key text, rule text, blocked_at timestamptz, until timestamptz, details jsonb)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM sms_otp._require_service_role('list the guard''s blocks');
    RETURN QUERY SELECT k.scope, k.key, k.rule, k.blocked_at, k.until, k.details
                 FROM sms_otp.guard_blocks k WHERE k.until > now() ORDER BY k.blocked_at DESC;
END $$;
COMMENT ON FUNCTION sms_otp.guard_block_list() IS
    'The SMS-pumping guard''s temporary blocks in force. Service role only.';

-- Ends blocks now: one (scope and key), every one of a scope (key NULL), or all (both NULL).
-- The velocity and conversion counts stay: a prefix still over its limits is blocked again by
-- its next code. Returns how many blocks in force ended.
CREATE OR REPLACE FUNCTION sms_otp.guard_block_clear(scope text DEFAULT NULL, key text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n int;
BEGIN
    PERFORM sms_otp._require_service_role('clear the guard''s blocks');
    IF guard_block_clear.scope IS NOT NULL AND guard_block_clear.scope NOT IN ('prefix', 'country') THEN
        PERFORM sms_otp._raise('invalid_scope', 400, 'scope must be prefix or country.');
    END IF;
    IF guard_block_clear.key IS NOT NULL AND guard_block_clear.scope IS NULL THEN
        PERFORM sms_otp._raise('invalid_scope', 400, 'A key needs its scope (prefix or country).');
    END IF;
    DELETE FROM sms_otp.guard_blocks k
    WHERE (guard_block_clear.scope IS NULL OR k.scope = guard_block_clear.scope)
      AND (guard_block_clear.key IS NULL OR k.key = guard_block_clear.key)
      AND k.until > now();
    GET DIAGNOSTICS n = ROW_COUNT;
    RAISE LOG 'sms_otp guard: % block(s) cleared (scope %, key %)', n, coalesce(guard_block_clear.scope, 'any'),
        coalesce(guard_block_clear.key, 'any');
    RETURN n;
END $$;
COMMENT ON FUNCTION sms_otp.guard_block_clear(text, text) IS
    'End the SMS-pumping guard''s temporary blocks now: one, a scope''s, or all. Service role only.';

-- Retention (called by stats_prune, the worker's housekeeping): decisions past
-- sms_otp.log_retention (0 keeps them), ten-minute counters after two days, day counters after
-- 32 days (past the longest baseline), blocks a day after they ended. At most `batch` rows of
-- each; returns the most that went from one.
CREATE OR REPLACE FUNCTION sms_otp._guard_prune(batch int) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    horizon timestamptz := sms_otp._stats_horizon();
    n_decisions bigint := 0;
    n_counts bigint;
    n_blocks bigint;
BEGIN
    IF horizon > '-infinity' THEN
        DELETE FROM sms_otp.guard_decisions d
        WHERE d.ctid = ANY (ARRAY(SELECT x.ctid FROM sms_otp.guard_decisions x WHERE x.created_at < horizon LIMIT batch));
        GET DIAGNOSTICS n_decisions = ROW_COUNT;
    END IF;
    DELETE FROM sms_otp.guard_counts g
    WHERE g.ctid = ANY (ARRAY(SELECT x.ctid FROM sms_otp.guard_counts x
                              WHERE (x.grain = 'q' AND x.start < now() - interval '2 days')
                                 OR (x.grain = 'd' AND x.start < now() - interval '32 days')
                              LIMIT batch));
    GET DIAGNOSTICS n_counts = ROW_COUNT;
    DELETE FROM sms_otp.guard_blocks k WHERE k.until < now() - interval '1 day';
    GET DIAGNOSTICS n_blocks = ROW_COUNT;
    RETURN greatest(n_decisions, n_counts, n_blocks);
END $$;
