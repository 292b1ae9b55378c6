--------------------------------------------------------------------------------------------
-- Promo campaigns: an audience snapshotted at launch into one row per recipient, sent by the
-- worker through the promo lane within exact throttles and the recipients' quiet hours, with
-- pause, resume, cancel and retry of transient failures. docs/campaigns.md tells the story.
--------------------------------------------------------------------------------------------

-- The quiet-hours rule of a number: its longest prefix in sms_quiet_hours.
CREATE OR REPLACE FUNCTION sms_otp._quiet_rule(phone text) RETURNS sms_otp.sms_quiet_hours
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT q.* FROM sms_otp.sms_quiet_hours q
    WHERE starts_with(coalesce(phone, ''), q.prefix)
    ORDER BY length(q.prefix) DESC
    LIMIT 1
$$;

-- The first instant at or after `from` when the rule's hours are open in every one of zones
-- (the strictest wins); NULL when zones is empty (unknown: never) or they share no open hour
-- within two weeks.
CREATE OR REPLACE FUNCTION sms_otp._quiet_next_open(zones text[], opens time, closes time, days int[],
                                                    "from" timestamptz) RETURNS timestamptz
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t       timestamptz := "from";
    latest  timestamptz;
    z       text;
    local   timestamp;
    day     date;
    candidate timestamptz;
    i       int;
BEGIN
    IF zones IS NULL OR cardinality(zones) = 0 THEN
        RETURN NULL;
    END IF;
    FOR round IN 1..32 LOOP
        latest := t;
        FOREACH z IN ARRAY zones LOOP
            local := t AT TIME ZONE z;
            IF local::time >= opens AND local::time < closes AND extract(isodow FROM local)::int = ANY (days) THEN
                CONTINUE;  -- open there now
            END IF;
            candidate := NULL;
            FOR i IN 0..8 LOOP
                day := local::date + i;
                IF extract(isodow FROM day)::int = ANY (days) AND day + opens > local THEN
                    candidate := (day + opens) AT TIME ZONE z;
                    EXIT;
                END IF;
            END LOOP;
            IF candidate IS NULL THEN
                RETURN NULL;
            END IF;
            latest := greatest(latest, candidate);
        END LOOP;
        IF latest = t THEN
            RETURN t;
        END IF;
        IF latest > "from" + interval '14 days' THEN
            RETURN NULL;
        END IF;
        t := latest;
    END LOOP;
    RETURN NULL;
END $$;

-- When a promo message may reach phone (in zones) at `from` or after: `from` itself while its
-- hours are open, else when they open; NULL: never (unknown zone).
-- No rule at all (the builtin '' row deleted): no quiet hours, as at launch.
CREATE OR REPLACE FUNCTION sms_otp._quiet_next_open(phone text, zones text[], "from" timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN r.prefix IS NULL THEN "from"
                ELSE sms_otp._quiet_next_open(zones, r.opens, r.closes, r.days, "from") END
    FROM sms_otp._quiet_rule(phone) r
$$;

-- A campaign's message fed into the outbox a while ago, about to be claimed: are its
-- recipient's hours closed now (a pause, a throttle or a provider's backoff held it)?
CREATE OR REPLACE FUNCTION sms_otp._campaign_hours_closed(campaign_id bigint, recipient_id bigint) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.quiet_hours AND coalesce(sms_otp._quiet_next_open(r.phone, r.zones, now()) > now(), true)
    FROM sms_otp.sms_campaigns c
    JOIN sms_otp.sms_campaign_recipients r ON r.campaign_id = c.id AND r.id = _campaign_hours_closed.recipient_id
    WHERE c.id = _campaign_hours_closed.campaign_id
$$;


CREATE OR REPLACE FUNCTION sms_otp._require_service_role(what text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT sms_otp.is_service_role() THEN
        PERFORM sms_otp._raise('forbidden', 403, 'Only the service role may ' || what || '.',
                               'Call it from your backend with the service role''s key.');
    END IF;
END $$;

-- A campaign by id, unlocked, or a 404. Functions that change recipients take their locks in
-- the order the worker's results and the receipts take them (outbox, recipients, campaign),
-- so they read the campaign without locking it first.
CREATE OR REPLACE FUNCTION sms_otp._campaign(campaign_id bigint) RETURNS sms_otp.sms_campaigns
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c sms_otp.sms_campaigns;
BEGIN
    SELECT * INTO c FROM sms_otp.sms_campaigns x WHERE x.id = campaign_id;
    IF NOT FOUND THEN
        PERFORM sms_otp._raise('campaign_not_found', 404, 'There is no campaign ' || coalesce(campaign_id::text, 'NULL') || '.');
    END IF;
    RETURN c;
END $$;

-- A campaign by id, locked, or a 404.
CREATE OR REPLACE FUNCTION sms_otp._campaign_locked(campaign_id bigint) RETURNS sms_otp.sms_campaigns
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c sms_otp.sms_campaigns;
BEGIN
    SELECT * INTO c FROM sms_otp.sms_campaigns x WHERE x.id = campaign_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM sms_otp._raise('campaign_not_found', 404, 'There is no campaign ' || coalesce(campaign_id::text, 'NULL') || '.');
    END IF;
    RETURN c;
END $$;

-- A throttle as a campaign or sms_throttles takes it: {"per_second", "per_minute", "per_day",
-- "segments_per_second", "segments_per_minute", "segments_per_day", "day_zone"}, each optional.
CREATE OR REPLACE FUNCTION sms_otp._throttle_args(throttle jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k text;
    v jsonb;
BEGIN
    IF throttle IS NULL THEN
        RETURN '{}';
    END IF;
    IF jsonb_typeof(throttle) <> 'object' THEN
        PERFORM sms_otp._raise('invalid_throttle', 400, 'throttle must be a JSON object such as {"per_second": 10}.');
    END IF;
    FOR k, v IN SELECT * FROM jsonb_each(throttle) LOOP
        IF k = 'day_zone' THEN
            IF jsonb_typeof(v) <> 'string' OR NOT sms_otp._valid_zone(v #>> '{}') THEN
                PERFORM sms_otp._raise('invalid_throttle', 400, 'day_zone must be a time zone name such as Europe/Paris.');
            END IF;
        ELSIF k IN ('per_second', 'per_minute', 'per_day', 'segments_per_second', 'segments_per_minute', 'segments_per_day') THEN
            IF v = 'null' THEN
                CONTINUE;
            END IF;
            IF jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric <> trunc((v #>> '{}')::numeric)
               OR (v #>> '{}')::numeric < 1 OR (v #>> '{}')::numeric > 2147483647 THEN
                PERFORM sms_otp._raise('invalid_throttle', 400,
                                       'throttle.' || k || ' must be a whole number of at least 1 (leave it out for no limit).');
            END IF;
        ELSE
            PERFORM sms_otp._raise('invalid_throttle', 400, 'throttle has no setting ' || quote_literal(k) || '.',
                                   'Use per_second, per_minute, per_day, segments_per_second, segments_per_minute, segments_per_day, day_zone.');
        END IF;
    END LOOP;
    RETURN throttle;
END $$;

-- Create a campaign (status draft). Nothing is sent before campaign_launch.
CREATE OR REPLACE FUNCTION sms_otp.campaign_create(
    name text, template text DEFAULT NULL, text text DEFAULT NULL, data jsonb DEFAULT '{}',
    audience_query text DEFAULT NULL, audience jsonb DEFAULT NULL, provider text DEFAULT NULL,
    sender text DEFAULT NULL, throttle jsonb DEFAULT NULL, quiet_hours boolean DEFAULT true,
    starts_at timestamptz DEFAULT NULL, valid_for interval DEFAULT '3 days', locale text DEFAULT NULL,
    allowed_prefixes text[] DEFAULT NULL, auto_pause jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t   jsonb;
    ap  jsonb := coalesce(auto_pause, '{}');
    row sms_otp.sms_campaigns;
BEGIN
    PERFORM sms_otp._require_service_role('create campaigns');
    IF name IS NULL OR length(name) NOT BETWEEN 1 AND 200 THEN
        PERFORM sms_otp._raise('invalid_name', 400, 'A campaign needs a name of 1 to 200 characters.');
    END IF;
    IF (template IS NULL) = (text IS NULL) THEN
        PERFORM sms_otp._raise('template_or_text', 400, 'Give either a template or a text, not both.');
    END IF;
    IF template IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sms_otp.sms_templates x WHERE x.name = template) THEN
        PERFORM sms_otp._raise('unknown_template', 400, 'There is no template named ' || quote_literal(template) || '.',
                               'Templates are rows of sms_otp.sms_templates.');
    END IF;
    IF text IS NOT NULL AND (btrim(text, E' \t\r\n') = '' OR sms_otp._unfit_text(text) OR length(text) > 1600) THEN
        PERFORM sms_otp._raise('invalid_text', 400, 'The text is empty, too long, or holds control characters SMS cannot carry.');
    END IF;
    IF data IS NULL OR jsonb_typeof(data) <> 'object' THEN
        PERFORM sms_otp._raise('invalid_template_data', 400, 'data must be a JSON object of placeholder values.');
    END IF;
    IF locale IS NOT NULL AND locale !~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$' THEN
        PERFORM sms_otp._raise('invalid_locale', 400, 'A locale is a language tag such as en or pt-BR.');
    END IF;
    IF (audience_query IS NULL) = (audience IS NULL) THEN
        PERFORM sms_otp._raise('audience_required', 400,
                               'Give the audience either as a query (audience_query) or as a list (audience), not both.');
    END IF;
    IF audience IS NOT NULL AND jsonb_typeof(audience) <> 'array' THEN
        PERFORM sms_otp._raise('invalid_audience', 400,
                               'audience is a JSON array of numbers, or of objects {"phone", "user_id", "time_zone", "data"}.');
    END IF;
    IF audience_query IS NOT NULL AND (length(audience_query) > 100000 OR btrim(audience_query) = '') THEN
        PERFORM sms_otp._raise('invalid_audience', 400, 'audience_query must be one SELECT of at most 100000 characters.');
    END IF;
    IF provider IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sms_otp.api_integrations a WHERE a.name = provider) THEN
        PERFORM sms_otp._raise('unknown_provider', 400, 'There is no provider named ' || quote_literal(provider) || '.');
    END IF;
    IF sender IS NOT NULL AND (length(sender) NOT BETWEEN 1 AND 32 OR sender ~ '[[:cntrl:]]' OR sms_otp._unfit_text(sender)) THEN
        PERFORM sms_otp._raise('invalid_sender', 400, 'A sender is a number or a name of 1 to 32 characters.');
    END IF;
    t := sms_otp._throttle_args(throttle);
    IF starts_at IS NOT NULL AND starts_at < now() - interval '1 minute' THEN
        PERFORM sms_otp._raise('invalid_starts_at', 400, 'starts_at is in the past.', 'Leave it out to start at launch.');
    END IF;
    IF starts_at > now() + interval '90 days' THEN
        PERFORM sms_otp._raise('invalid_starts_at', 400, 'starts_at is at most 90 days ahead.');
    END IF;
    IF valid_for IS NULL OR valid_for < interval '1 minute' OR valid_for > interval '30 days' THEN
        PERFORM sms_otp._raise('invalid_valid_for', 400, 'valid_for is between 1 minute and 30 days.');
    END IF;
    IF allowed_prefixes IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(allowed_prefixes) p
                                                WHERE p IS NULL OR p !~ '^\+[1-9][0-9]{0,6}$') THEN
        PERFORM sms_otp._raise('invalid_allowed_prefixes', 400,
                               'allowed_prefixes are number prefixes such as +1 or +4420.');
    END IF;
    IF jsonb_typeof(ap) <> 'object' OR EXISTS (SELECT 1 FROM jsonb_object_keys(ap) k
                                               WHERE k NOT IN ('max_error_rate', 'max_stop_rate', 'min_sample')) THEN
        PERFORM sms_otp._raise('invalid_auto_pause', 400,
                               'auto_pause is {"max_error_rate", "max_stop_rate", "min_sample"}.');
    END IF;
    BEGIN
        INSERT INTO sms_otp.sms_campaigns AS c (name, template, locale, text, data, audience_query, audience, provider,
                                                sender, per_second, per_minute, per_day, segments_per_second,
                                                segments_per_minute, segments_per_day, day_zone, quiet_hours,
                                                allowed_prefixes, starts_at, valid_for, max_error_rate, max_stop_rate,
                                                min_sample)
        VALUES (name, template, locale, text, data, audience_query, audience, provider, sender,
                (t ->> 'per_second')::int, (t ->> 'per_minute')::int, (t ->> 'per_day')::int,
                (t ->> 'segments_per_second')::int, (t ->> 'segments_per_minute')::int, (t ->> 'segments_per_day')::int,
                coalesce(t ->> 'day_zone', 'UTC'), coalesce(quiet_hours, true), allowed_prefixes, starts_at, valid_for,
                coalesce((ap ->> 'max_error_rate')::numeric, 0.2), coalesce((ap ->> 'max_stop_rate')::numeric, 0.02),
                coalesce((ap ->> 'min_sample')::int, 100))
        RETURNING c.* INTO row;
    EXCEPTION WHEN check_violation OR invalid_text_representation OR numeric_value_out_of_range THEN
        PERFORM sms_otp._raise('invalid_auto_pause', 400,
                               'auto_pause: rates are between 0 (exclusive) and 1, min_sample a whole number of at least 1.');
    END;
    RETURN jsonb_build_object('campaign_id', row.id, 'status', row.status);
END $$;
COMMENT ON FUNCTION sms_otp.campaign_create(text, text, text, jsonb, text, jsonb, text, text, jsonb, boolean,
                                            timestamptz, interval, text, text[], jsonb) IS
    'Create a promo campaign (draft): template or text, audience query or list, provider, sender, throttle, quiet hours, schedule. Service role only.';

-- The snapshot of a launch: one recipient row per audience entry, judged once (invalid,
-- duplicate, outside allowed_prefixes, opted out, capped by another campaign's message), its
-- text rendered and its first sending time set by its quiet hours.
--
-- campaign_launch ran the audience query as its caller into a temporary table of plain
-- columns (id bigint, phone text, user_id uuid, time_zone text, data jsonb). This function
-- reads that table with the extension's rights, so it makes sure first that reading it runs
-- nothing of the caller's: an ordinary table of this session, with exactly those columns of
-- built-in types, and no trigger, rule or row-level policy.
CREATE OR REPLACE FUNCTION sms_otp._campaign_snapshot(campaign_id bigint, audience text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c          sms_otp.sms_campaigns;
    tmpl       sms_otp.sms_templates;
    starts     timestamptz;
    cap        interval := current_setting('sms_otp.promo_frequency_cap')::interval;
    max_parts  int := current_setting('sms_otp.max_segments')::int;
    bad        record;
    n          bigint;
    per_row    boolean;
    shared     jsonb;
    shared_parts int;
    counts     jsonb;
    rel        oid;
    bad_data   boolean;
BEGIN
    PERFORM sms_otp._require_service_role('launch campaigns');
    c := sms_otp._campaign_locked(campaign_id);
    IF c.status <> 'draft' THEN
        PERFORM sms_otp._raise('already_launched', 409, 'Campaign ' || c.id || ' was launched already (it is ' || c.status || ').',
                               'Create a new campaign to send again.');
    END IF;
    SELECT t.oid INTO rel FROM pg_catalog.pg_class t
    WHERE t.relname = audience AND audience ~ '^sms_otp_audience_[0-9a-f]{32}$'
      AND t.relnamespace = pg_catalog.pg_my_temp_schema() AND t.relkind = 'r'
      AND NOT t.relhastriggers AND NOT t.relhasrules AND NOT t.relrowsecurity
      AND (SELECT pg_catalog.array_agg(a.attname::text || ':' || a.atttypid::regtype::text ORDER BY a.attnum)
           FROM pg_catalog.pg_attribute a WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped)
          = ARRAY['id:bigint', 'phone:text', 'user_id:uuid', 'time_zone:text', 'data:jsonb']
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attrdef d WHERE d.adrelid = t.oid);
    IF rel IS NULL THEN
        PERFORM sms_otp._raise('invalid_audience', 400, 'The audience must come from campaign_launch.');
    END IF;
    EXECUTE format('SELECT count(*), bool_or(a.data IS NOT NULL AND a.data <> ''{}''), '
                   || 'bool_or(a.data IS NOT NULL AND jsonb_typeof(a.data) <> ''object'') FROM pg_temp.%I a', audience)
    INTO n, per_row, bad_data;
    IF n = 0 THEN
        PERFORM sms_otp._raise('empty_audience', 400, 'The audience is empty.', 'Check the audience query or list.');
    END IF;
    IF n > 10000000 THEN
        PERFORM sms_otp._raise('audience_too_large', 400, 'An audience holds at most 10,000,000 recipients.');
    END IF;
    IF bad_data THEN
        PERFORM sms_otp._raise('invalid_template_data', 400, 'Each recipient''s data must be a JSON object.');
    END IF;
    EXECUTE format('SELECT z.time_zone FROM (SELECT DISTINCT a.time_zone FROM pg_temp.%I a WHERE a.time_zone IS NOT NULL) z '
                   || 'WHERE NOT sms_otp._valid_zone(z.time_zone) LIMIT 1', audience) INTO bad;
    IF bad.time_zone IS NOT NULL THEN
        PERFORM sms_otp._raise('invalid_time_zone', 400, 'The audience names an unknown time zone: ' || quote_literal(bad.time_zone) || '.',
                               'Use IANA names such as America/New_York, or leave time_zone out.');
    END IF;
    IF c.template IS NOT NULL THEN
        tmpl := sms_otp._template_body(c.template, coalesce(c.locale, current_setting('sms_otp.default_locale')));
        IF tmpl.name IS NULL THEN
            PERFORM sms_otp._raise('unknown_template', 400, 'There is no template named ' || quote_literal(c.template)
                                   || ' for this locale.');
        END IF;
    END IF;
    starts := greatest(coalesce(c.starts_at, now()), now());
    per_row := coalesce(per_row, false);

    -- The text once when every recipient gets the same.
    IF NOT per_row THEN
        shared := CASE WHEN tmpl.name IS NULL THEN jsonb_build_object('text', c.text)
                       ELSE sms_otp._render_template(tmpl.body, c.data) END;
        shared_parts := (sms_otp.sms_segments(shared ->> 'text') ->> 'segments')::int;
    END IF;

    -- Work tables of this function's own making: a table of these names the caller made first
    -- (with a trigger or an index expression of theirs) is dropped, never written.
    DROP TABLE IF EXISTS pg_temp.sms_otp_snapshot, pg_temp.sms_otp_places;
    CREATE TEMP TABLE sms_otp_snapshot (
        id bigint, given text, phone text, user_id uuid, zone text, data jsonb, rendered jsonb
    ) ON COMMIT DROP;
    EXECUTE format($q$
        INSERT INTO pg_temp.sms_otp_snapshot
        SELECT a.id, a.phone, sms_otp.normalize_phone(a.phone), a.user_id, a.time_zone, a.data,
               CASE WHEN $1 THEN
                   CASE WHEN $2 IS NULL THEN pg_catalog.jsonb_build_object('text', $3)
                        ELSE sms_otp._render_template($2, $4 || coalesce(a.data, '{}')) END
               END
        FROM pg_temp.%I a$q$, audience)
    USING per_row, tmpl.body, c.text, c.data;
    -- so that the joins below hash it instead of looping over it
    ANALYZE pg_temp.sms_otp_snapshot;

    -- A template with a field some recipient lacks: nothing is launched.
    IF NOT per_row AND shared ? 'error' THEN
        PERFORM sms_otp._raise(shared ->> 'error', 400,
                               'The template needs {' || (shared ->> 'placeholder') || '}, which the campaign''s data lacks.');
    END IF;

    -- Where each number is (its time zones, its quiet-hours rule) depends on its first seven
    -- characters (a country code and, for +1, the area code): looked up once per prefix, and
    -- the hours' next opening once per zones and rule, not once per recipient.
    CREATE TEMP TABLE sms_otp_places (key text, zones text[], rule text) ON COMMIT DROP;
    INSERT INTO pg_temp.sms_otp_places
    SELECT p.key, sms_otp._phone_zones(p.sample), (SELECT q.prefix FROM sms_otp._quiet_rule(p.sample) q)
    FROM (SELECT left(s.phone, 7) AS key, min(s.phone) AS sample FROM pg_temp.sms_otp_snapshot s
          WHERE s.phone IS NOT NULL GROUP BY 1) p;
    ANALYZE pg_temp.sms_otp_places;

    INSERT INTO sms_otp.sms_campaign_recipients (campaign_id, id, given, phone, user_id, zones, body, segments, state,
                                                 skip_reason, next_at, deferred)
    WITH
    -- Numbers another campaign texted within the cap, read once before a row is written: a
    -- probe per row would read the table this statement fills (and, planned for an empty
    -- table after a TRUNCATE, scan it whole each time).
    recent AS MATERIALIZED (
        SELECT DISTINCT r.phone FROM sms_otp.sms_campaign_recipients r
        WHERE cap > interval '0' AND r.queued_at > now() - cap AND r.campaign_id <> c.id),
    s AS (
        SELECT x.*, row_number() OVER (PARTITION BY x.phone ORDER BY x.id) AS dup,
               CASE WHEN x.zone IS NOT NULL THEN ARRAY[x.zone] ELSE p.zones END AS zones, p.rule
        FROM pg_temp.sms_otp_snapshot x LEFT JOIN pg_temp.sms_otp_places p ON p.key = left(x.phone, 7)),
    opening AS (
        SELECT d.zones, d.rule,
               CASE WHEN NOT c.quiet_hours OR q.prefix IS NULL THEN starts
                    -- an unknown zone waits (to the campaign's end, then skipped), never sends
                    ELSE coalesce(sms_otp._quiet_next_open(d.zones, q.opens, q.closes, q.days, starts),
                                  starts + c.valid_for) END AS next_at
        FROM (SELECT DISTINCT s.zones, s.rule FROM s WHERE s.phone IS NOT NULL) d
        LEFT JOIN sms_otp.sms_quiet_hours q ON q.prefix = d.rule),
    judged AS (
        SELECT s.*, coalesce(s.rendered, shared) AS out,
               CASE WHEN s.phone IS NULL THEN 'invalid_number'
                    WHEN s.dup > 1 THEN 'duplicate'
                    WHEN c.allowed_prefixes IS NOT NULL
                         AND NOT EXISTS (SELECT 1 FROM unnest(c.allowed_prefixes) p WHERE starts_with(s.phone, p))
                        THEN 'country_blocked'
                    WHEN EXISTS (SELECT 1 FROM sms_otp.sms_opt_outs o
                                 WHERE o.phone = s.phone AND o.scope IN ('all', 'promo')) THEN 'opted_out'
                    WHEN s.phone IN (SELECT recent.phone FROM recent) THEN 'frequency_capped'
               END AS reason,
               o.next_at
        FROM s LEFT JOIN opening o ON o.zones = s.zones AND coalesce(o.rule, '') = coalesce(s.rule, ''))
    SELECT c.id, j.id, j.given, j.phone, j.user_id, j.zones, j.out ->> 'text',
           CASE WHEN per_row THEN (sms_otp.sms_segments(j.out ->> 'text') ->> 'segments')::int ELSE shared_parts END,
           CASE WHEN j.reason IS NULL THEN 'pending' ELSE 'skipped' END, j.reason,
           CASE WHEN j.reason IS NULL THEN j.next_at END,
           j.reason IS NULL AND j.next_at > starts
    FROM judged j;

    -- A template field some recipient to be sent lacks: nothing is launched.
    IF per_row THEN
        -- a rendering that failed left the body empty
        SELECT s.id, s.given, s.rendered INTO bad
        FROM pg_temp.sms_otp_snapshot s
        WHERE s.id = (SELECT min(r.id) FROM sms_otp.sms_campaign_recipients r
                      WHERE r.campaign_id = c.id AND r.state = 'pending' AND r.body IS NULL);
        IF FOUND THEN
            PERFORM sms_otp._raise(bad.rendered ->> 'error', 400,
                                   'Recipient ' || bad.id || ' (' || coalesce(bad.given, 'no number') || ') has no usable value for {'
                                   || (bad.rendered ->> 'placeholder') || '}; '
                                   || (SELECT count(*) FROM sms_otp.sms_campaign_recipients r
                                       WHERE r.campaign_id = c.id AND r.state = 'pending' AND r.body IS NULL)
                                   || ' recipients in all.', 'Give every recipient the field, or put it in the campaign''s data.');
        END IF;
    END IF;

    -- Every text within the parts a message may take, else nothing is launched.
    IF NOT per_row AND (shared_parts > max_parts OR btrim(shared ->> 'text', E' \t\r\n') = ''
                        OR sms_otp._unfit_text(shared ->> 'text')) THEN
        PERFORM sms_otp._raise(CASE WHEN shared_parts > max_parts THEN 'message_too_long' ELSE 'invalid_text' END, 400,
                               'The message takes ' || shared_parts || ' SMS parts (at most ' || max_parts
                               || '), is empty, or holds control characters SMS cannot carry.');
    END IF;
    SELECT r.id, r.segments INTO bad FROM sms_otp.sms_campaign_recipients r
    WHERE per_row AND r.campaign_id = c.id AND r.state = 'pending' AND (r.segments IS NULL OR r.segments > max_parts)
    ORDER BY r.id LIMIT 1;
    IF FOUND THEN
        PERFORM sms_otp._raise('message_too_long', 400, 'The message to recipient ' || bad.id || ' takes '
                               || coalesce(bad.segments::text, 'no') || ' SMS parts; at most ' || max_parts || ' are sent.');
    END IF;
    IF per_row AND EXISTS (SELECT 1 FROM sms_otp.sms_campaign_recipients r WHERE r.campaign_id = c.id AND r.state = 'pending'
               AND (btrim(r.body, E' \t\r\n') = '' OR sms_otp._unfit_text(r.body))) THEN
        PERFORM sms_otp._raise('invalid_text', 400, 'A rendered message is empty or holds control characters SMS cannot carry.');
    END IF;

    SELECT jsonb_build_object(
               'recipients', sum(g.n),
               'pending', coalesce(sum(g.n) FILTER (WHERE g.skip_reason IS NULL), 0),
               'deferred', coalesce(sum(g.n) FILTER (WHERE g.skip_reason IS NULL AND g.deferred), 0),
               'skipped', coalesce(jsonb_object_agg(g.skip_reason, g.n) FILTER (WHERE g.skip_reason IS NOT NULL), '{}'))
    INTO counts
    FROM (SELECT r.skip_reason, r.deferred, count(*) AS n FROM sms_otp.sms_campaign_recipients r
          WHERE r.campaign_id = c.id GROUP BY 1, 2) g;

    UPDATE sms_otp.sms_campaigns x
    SET status = CASE WHEN (counts ->> 'pending')::int = 0 THEN 'finished'
                      WHEN starts > now() THEN 'scheduled' ELSE 'running' END,
        starts_at = starts,
        ends_at = starts + x.valid_for,
        launched_at = now(),
        finished_at = CASE WHEN (counts ->> 'pending')::int = 0 THEN now() END,
        recipients = (counts ->> 'recipients')::int,
        pending = (counts ->> 'pending')::int,
        skipped = (counts ->> 'recipients')::int - (counts ->> 'pending')::int,
        updated_at = now()
    WHERE x.id = c.id
    RETURNING * INTO c;
    -- The worker's plans for this table must know its size.
    IF n >= 10000 THEN
        ANALYZE sms_otp.sms_campaign_recipients;
    END IF;
    PERFORM sms_otp._wake_worker_on_commit();
    RETURN jsonb_build_object('campaign_id', c.id, 'status', c.status, 'starts_at', c.starts_at, 'ends_at', c.ends_at)
           || counts;
END $$;

-- Launch: the audience is read now, as the caller (an audience query runs with the caller's
-- rights, never with the extension's), into a temporary table that _campaign_snapshot turns
-- into recipient rows. Nothing is launched when the query fails, returns no phone column, or
-- any recipient cannot be sent.
CREATE OR REPLACE FUNCTION sms_otp.campaign_launch(campaign_id bigint) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c       record;
    first   jsonb;
    q       text;
    tmp     text := 'sms_otp_audience_' || replace(gen_random_uuid()::text, '-', '');
BEGIN
    PERFORM sms_otp._require_service_role('launch campaigns');
    SELECT x.id, x.status, x.audience_query, x.audience INTO c FROM sms_otp.sms_campaigns x WHERE x.id = campaign_id;
    IF NOT FOUND THEN
        PERFORM sms_otp._raise('campaign_not_found', 404, 'There is no campaign ' || coalesce(campaign_id::text, 'NULL') || '.');
    END IF;
    IF c.status <> 'draft' THEN
        PERFORM sms_otp._raise('already_launched', 409, 'Campaign ' || c.id || ' was launched already (it is ' || c.status || ').',
                               'Create a new campaign to send again.');
    END IF;
    IF c.audience IS NOT NULL THEN
        IF EXISTS (SELECT 1 FROM jsonb_array_elements(c.audience) e
                   WHERE jsonb_typeof(e) NOT IN ('string', 'object')
                      OR (jsonb_typeof(e) = 'object' AND (jsonb_typeof(e -> 'phone') IS DISTINCT FROM 'string'
                          OR (e ? 'data' AND jsonb_typeof(e -> 'data') NOT IN ('object', 'null'))
                          OR (e ? 'user_id' AND jsonb_typeof(e -> 'user_id') NOT IN ('string', 'null'))
                          OR (e ? 'time_zone' AND jsonb_typeof(e -> 'time_zone') NOT IN ('string', 'null'))))) THEN
            PERFORM sms_otp._raise('invalid_audience', 400,
                                   'Each audience entry is a phone number or an object {"phone", "user_id", "time_zone", "data"}.');
        END IF;
        BEGIN
            EXECUTE format($q$
                CREATE TEMP TABLE %I ON COMMIT DROP AS
                SELECT a.o::bigint AS id,
                       CASE WHEN jsonb_typeof(a.e) = 'string' THEN a.e #>> '{}' ELSE a.e ->> 'phone' END AS phone,
                       (a.e ->> 'user_id')::uuid AS user_id, (a.e ->> 'time_zone') AS time_zone,
                       CASE WHEN jsonb_typeof(a.e -> 'data') = 'object' THEN a.e -> 'data' END AS data
                FROM jsonb_array_elements($1) WITH ORDINALITY AS a(e, o)$q$, tmp) USING c.audience;
        EXCEPTION WHEN invalid_text_representation THEN
            PERFORM sms_otp._raise('invalid_audience', 400, 'An audience entry''s user_id is not a UUID.');
        END;
    ELSE
        q := rtrim(btrim(c.audience_query), ';');
        BEGIN
            EXECUTE 'SELECT pg_catalog.to_jsonb(a) FROM (' || q || E'\n) a LIMIT 1' INTO first;
            IF first IS NULL THEN
                PERFORM sms_otp._raise('empty_audience', 400, 'The audience query returned no rows.');
            END IF;
            IF NOT first ? 'phone' THEN
                PERFORM sms_otp._raise('invalid_audience', 400, 'The audience query must return a column named phone.',
                                       'For example: SELECT phone, id AS user_id FROM public.customers WHERE ...');
            END IF;
            -- Built-in types only, whatever the query's columns are: reading them runs nothing.
            EXECUTE format('CREATE TEMP TABLE %I ON COMMIT DROP AS SELECT '
                 || '(pg_catalog.row_number() OVER ())::pg_catalog.int8 AS id, a.phone::pg_catalog.text AS phone, '
                 || CASE WHEN first ? 'user_id' THEN 'a.user_id::pg_catalog.text::pg_catalog.uuid' ELSE 'NULL::pg_catalog.uuid' END
                 || ' AS user_id, '
                 || CASE WHEN first ? 'time_zone' THEN 'a.time_zone::pg_catalog.text' ELSE 'NULL::pg_catalog.text' END
                 || ' AS time_zone, '
                 || CASE WHEN first ? 'data' THEN 'a.data::pg_catalog.text::pg_catalog.jsonb' ELSE 'NULL::pg_catalog.jsonb' END
                 || ' AS data FROM (' || q || E'\n) a', tmp);
        EXCEPTION
            WHEN sqlstate 'PGRST' THEN RAISE;
            WHEN OTHERS THEN
                PERFORM sms_otp._raise('audience_query_failed', 400, 'The audience query failed: ' || SQLERRM,
                                       'It runs as you, with search_path pg_catalog: name tables with their schema.');
        END;
    END IF;
    RETURN sms_otp._campaign_snapshot(c.id, tmp);
END $$;
COMMENT ON FUNCTION sms_otp.campaign_launch(bigint) IS
    'Snapshot a draft campaign''s audience into one row per recipient and start sending (or wait for starts_at). Service role only.';

CREATE OR REPLACE FUNCTION sms_otp._campaign_answer(c sms_otp.sms_campaigns) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('campaign_id', c.id, 'status', c.status, 'pause_reason', c.pause_reason,
                              'pending', c.pending)
$$;

CREATE OR REPLACE FUNCTION sms_otp.campaign_pause(campaign_id bigint, reason text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c sms_otp.sms_campaigns;
BEGIN
    PERFORM sms_otp._require_service_role('pause campaigns');
    c := sms_otp._campaign_locked(campaign_id);
    IF c.status NOT IN ('running', 'scheduled', 'paused') THEN
        PERFORM sms_otp._raise('campaign_not_running', 409, 'Campaign ' || c.id || ' is ' || c.status
                               || '; only a running or scheduled one can pause.');
    END IF;
    -- Messages in flight finish; queued ones wait in the outbox until resume.
    UPDATE sms_otp.sms_campaigns x
    SET status = 'paused', pause_reason = coalesce(left(reason, 500), 'paused by the service role'),
        paused_at = coalesce(x.paused_at, now()), updated_at = now()
    WHERE x.id = c.id RETURNING * INTO c;
    RETURN sms_otp._campaign_answer(c);
END $$;

CREATE OR REPLACE FUNCTION sms_otp.campaign_resume(campaign_id bigint) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c sms_otp.sms_campaigns;
BEGIN
    PERFORM sms_otp._require_service_role('resume campaigns');
    c := sms_otp._campaign_locked(campaign_id);
    IF c.status <> 'paused' THEN
        PERFORM sms_otp._raise('campaign_not_paused', 409, 'Campaign ' || c.id || ' is ' || c.status || ', not paused.');
    END IF;
    UPDATE sms_otp.sms_campaigns x
    SET status = CASE WHEN x.pending = 0 THEN 'finished' WHEN x.starts_at > now() THEN 'scheduled' ELSE 'running' END,
        finished_at = CASE WHEN x.pending = 0 THEN now() END,
        pause_reason = NULL, paused_at = NULL, updated_at = now()
    WHERE x.id = c.id RETURNING * INTO c;
    PERFORM sms_otp._wake_worker_on_commit();
    RETURN sms_otp._campaign_answer(c);
END $$;

-- Cancel: recipients not yet sent are skipped ('cancelled'); a message in flight ends as its
-- provider answers. The campaign row is changed first: from then on the worker feeds none of
-- its recipients and claims none of its messages. Rows the worker holds at that moment (being
-- fed, or their results being written) are passed over here, not waited for, and ended by the
-- worker's next round (sms_otp._campaign_expire): the cancel waits for nothing but the campaign
-- row, so it can never deadlock with the worker's writes, whatever their order.
CREATE OR REPLACE FUNCTION sms_otp.campaign_cancel(campaign_id bigint) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c sms_otp.sms_campaigns;
    n int;
BEGIN
    PERFORM sms_otp._require_service_role('cancel campaigns');
    c := sms_otp._campaign(campaign_id);
    UPDATE sms_otp.sms_campaigns x SET status = 'cancelled', finished_at = now(), updated_at = now()
    WHERE x.id = c.id AND x.status NOT IN ('cancelled', 'finished')
    RETURNING * INTO c;
    IF NOT FOUND THEN
        c := sms_otp._campaign(campaign_id);
        PERFORM sms_otp._raise('campaign_ended', 409, 'Campaign ' || c.id || ' is ' || c.status || ' already.');
    END IF;
    -- queued messages not in flight: cancelled (the trigger skips their recipients)
    UPDATE sms_otp.sms_outbox o SET status = 'cancelled', last_error = 'campaign cancelled', updated_at = now()
    WHERE o.id IN (SELECT q.id FROM sms_otp.sms_outbox q
                   WHERE q.campaign_id = c.id AND q.kind = 'promo' AND q.status = 'queued'
                     AND (q.lease_until IS NULL OR q.lease_until < now())
                   FOR UPDATE SKIP LOCKED);
    UPDATE sms_otp.sms_campaign_recipients r
    SET state = 'skipped', skip_reason = 'cancelled', next_at = NULL, updated_at = now()
    WHERE (r.campaign_id, r.id) IN (
        SELECT x.campaign_id, x.id FROM sms_otp.sms_campaign_recipients x
        WHERE x.campaign_id = c.id AND x.state = 'pending'
          AND (x.outbox_id IS NULL OR NOT EXISTS (SELECT 1 FROM sms_otp.sms_outbox o
                                                  WHERE o.id = x.outbox_id AND o.status = 'queued'))
        FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE sms_otp.sms_campaigns x
    SET pending = x.pending - n, skipped = x.skipped + n, updated_at = now()
    WHERE x.id = c.id RETURNING * INTO c;
    -- those skipped here and those whose queued message the trigger ended
    RETURN sms_otp._campaign_answer(c)
        || jsonb_build_object('cancelled', (SELECT count(*) FROM sms_otp.sms_campaign_recipients r
                                            WHERE r.campaign_id = c.id AND r.skip_reason = 'cancelled'));
END $$;

-- Retry the failures no provider or carrier decided (outages, timeouts, throttling): those
-- recipients are pending again, to be sent once more. Refused numbers stay failed.
CREATE OR REPLACE FUNCTION sms_otp.campaign_retry_failed(campaign_id bigint) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c sms_otp.sms_campaigns;
    n int;
BEGIN
    PERFORM sms_otp._require_service_role('retry campaigns');
    c := sms_otp._campaign(campaign_id);
    IF c.status = 'draft' THEN
        PERFORM sms_otp._raise('campaign_not_launched', 409, 'Campaign ' || c.id || ' has not been launched.');
    END IF;
    IF c.status = 'cancelled' THEN
        PERFORM sms_otp._raise('campaign_ended', 409, 'Campaign ' || c.id || ' is cancelled.');
    END IF;
    IF c.ends_at <= now() THEN
        PERFORM sms_otp._raise('campaign_expired', 409, 'Campaign ' || c.id || ' ended at ' || c.ends_at || '.');
    END IF;
    UPDATE sms_otp.sms_campaign_recipients r
    SET state = 'pending', outbox_id = NULL, next_at = now(), error = NULL, transient = NULL, updated_at = now()
    WHERE r.campaign_id = c.id AND r.state = 'failed' AND r.transient;
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE sms_otp.sms_campaigns x
    SET pending = x.pending + n, failed = x.failed - n,
        status = CASE WHEN n > 0 AND x.status = 'finished' THEN 'running' ELSE x.status END,
        pause_reason = CASE WHEN n > 0 AND x.status = 'finished' THEN NULL ELSE x.pause_reason END,
        -- the retried rows are due now, wherever they stand: the feed starts again from the top
        fed_next_at = CASE WHEN n > 0 THEN '-infinity' ELSE x.fed_next_at END,
        fed_id = CASE WHEN n > 0 THEN 0 ELSE x.fed_id END,
        finished_at = CASE WHEN n > 0 THEN NULL ELSE x.finished_at END, updated_at = now()
    WHERE x.id = c.id RETURNING * INTO c;
    IF n > 0 THEN
        PERFORM sms_otp._wake_worker_on_commit();
    END IF;
    RETURN sms_otp._campaign_answer(c) || jsonb_build_object('retrying', n);
END $$;

-- Progress as data: counts by state and skip reason, the rate of the last minute and the ETA.
CREATE OR REPLACE FUNCTION sms_otp.campaign_progress(campaign_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c        sms_otp.sms_campaigns;
    states   jsonb;
    reasons  jsonb;
    deferred int;
    rate     numeric;
BEGIN
    PERFORM sms_otp._require_service_role('read campaigns');
    SELECT * INTO c FROM sms_otp.sms_campaigns x WHERE x.id = campaign_id;
    IF NOT FOUND THEN
        PERFORM sms_otp._raise('campaign_not_found', 404, 'There is no campaign ' || coalesce(campaign_id::text, 'NULL') || '.');
    END IF;
    SELECT coalesce(jsonb_object_agg(s.state, s.n), '{}') INTO states
    FROM (SELECT r.state, count(*) AS n FROM sms_otp.sms_campaign_recipients r
          WHERE r.campaign_id = c.id GROUP BY r.state) s;
    SELECT coalesce(jsonb_object_agg(s.skip_reason, s.n), '{}') INTO reasons
    FROM (SELECT r.skip_reason, count(*) AS n FROM sms_otp.sms_campaign_recipients r
          WHERE r.campaign_id = c.id AND r.state = 'skipped' GROUP BY r.skip_reason) s;
    SELECT count(*) INTO deferred FROM sms_otp.sms_campaign_recipients r
    WHERE r.campaign_id = c.id AND r.state = 'pending' AND r.outbox_id IS NULL AND r.next_at > now();
    SELECT count(*) / 60.0 INTO rate FROM sms_otp.sms_messages_log l
    WHERE l.type = 'promo' AND l.requested_at > now() - interval '1 minute' AND l.campaign_id = c.id;
    RETURN jsonb_build_object(
        'campaign_id', c.id, 'name', c.name, 'status', c.status, 'pause_reason', c.pause_reason,
        'recipients', c.recipients, 'states', states, 'skip_reasons', reasons, 'deferred', deferred,
        'stops', c.stops, 'rate_per_second', round(rate, 2),
        'eta_seconds', CASE WHEN c.status = 'running' AND rate > 0 THEN ceil(c.pending / rate) END,
        'launched_at', c.launched_at, 'starts_at', c.starts_at, 'ends_at', c.ends_at, 'finished_at', c.finished_at);
END $$;

-- Who got it: a recipient's row and every attempt of its messages (provider, when, outcome,
-- delivery).
CREATE OR REPLACE FUNCTION sms_otp.campaign_recipient(campaign_id bigint, phone text) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    number text := coalesce(sms_otp.normalize_phone(campaign_recipient.phone), campaign_recipient.phone);
    answer jsonb;
BEGIN
    PERFORM sms_otp._require_service_role('read campaigns');
    SELECT jsonb_agg(jsonb_build_object(
               'id', r.id, 'given', r.given, 'phone', r.phone, 'state', r.state, 'skip_reason', r.skip_reason,
               'next_at', r.next_at, 'deferred', r.deferred, 'queued_at', r.queued_at, 'sent_at', r.sent_at,
               'delivered_at', r.delivered_at, 'provider', r.provider_name, 'error', r.error,
               'attempts', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                'outbox_id', l.outbox_id, 'provider', l.provider_name, 'requested_at', l.requested_at,
                                'outcome', l.outcome, 'status_code', l.status_code, 'error', l.error,
                                'delivery_status', l.delivery_status, 'delivery_at', l.delivery_at) ORDER BY l.id), '[]')
                            FROM sms_otp.sms_outbox o JOIN sms_otp.sms_messages_log l ON l.outbox_id = o.id
                            WHERE o.campaign_id = r.campaign_id AND o.recipient_id = r.id)) ORDER BY r.id)
    INTO answer
    FROM sms_otp.sms_campaign_recipients r
    WHERE r.campaign_id = campaign_recipient.campaign_id AND (r.phone = number OR r.given = campaign_recipient.phone);
    IF answer IS NULL THEN
        PERFORM sms_otp._raise('recipient_not_found', 404, 'That number is not in campaign ' || campaign_id || '.');
    END IF;
    RETURN answer;
END $$;

-- Auto-pause: errors or STOPs past the campaign's thresholds, once min_sample messages went.
CREATE OR REPLACE FUNCTION sms_otp._campaign_check_health(campaign_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE sms_otp.sms_campaigns x
    SET status = 'paused', paused_at = now(), updated_at = now(),
        pause_reason = CASE
            WHEN x.failed::numeric / (x.sent + x.failed) > x.max_error_rate
                THEN format('auto: %s of %s messages failed (above max_error_rate %s)', x.failed, x.sent + x.failed, x.max_error_rate)
            ELSE format('auto: %s STOP replies to %s messages (above max_stop_rate %s)', x.stops, x.sent, x.max_stop_rate) END
    WHERE x.id = campaign_id AND x.status = 'running' AND x.sent + x.failed >= x.min_sample
      AND (x.failed::numeric / (x.sent + x.failed) > x.max_error_rate
           OR x.stops::numeric / greatest(x.sent, 1) > x.max_stop_rate);
END $$;

-- A STOP from a number counts against the campaign that texted it last (within a week).
CREATE OR REPLACE FUNCTION sms_otp._campaign_note_stop(phone text) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    last bigint;
BEGIN
    SELECT r.campaign_id INTO last FROM sms_otp.sms_campaign_recipients r
    WHERE r.phone = _campaign_note_stop.phone AND r.queued_at > now() - interval '7 days'
      AND r.state IN ('sent', 'delivered')
    ORDER BY r.queued_at DESC LIMIT 1;
    IF last IS NOT NULL THEN
        UPDATE sms_otp.sms_campaigns x SET stops = x.stops + 1, updated_at = now() WHERE x.id = last;
        PERFORM sms_otp._campaign_check_health(last);
    END IF;
END $$;

-- A campaign message changed in the outbox: its recipient follows, and the campaign's counts.
-- Sent: 'sent'; delivered by receipt: 'delivered'; failed, or undelivered by receipt: 'failed'
-- (transient when no provider refused it: retry_failed sends it again); cancelled because the
-- number opted out meanwhile: skipped 'opted_out'; expired: skipped ('quiet_hours_deferred'
-- when its hours kept it back, else 'expired').
CREATE OR REPLACE FUNCTION sms_otp._campaign_outbox_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    to_check bigint[];
BEGIN
    -- Once per statement, for all its rows: a round of the worker writes dozens of results,
    -- and each campaign's counts change once, not once a message. Most updates of the outbox
    -- end no campaign message (claims, codes): they stop here.
    IF NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.campaign_id IS NOT NULL AND n.status <> 'queued') THEN
        RETURN NULL;
    END IF;
    WITH changed AS MATERIALIZED (
        SELECT n.id, n.campaign_id, n.recipient_id, n.status, n.delivery_status, n.delivery_at,
               n.delivery_error, n.last_error, n.provider_name
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.campaign_id IS NOT NULL AND n.status <> 'queued'
          AND (o.status IS DISTINCT FROM n.status OR o.delivery_status IS DISTINCT FROM n.delivery_status)),
    -- the recipients still tied to these messages, locked in key order (as every writer does)
    locked AS MATERIALIZED (
        SELECT x.campaign_id, x.id, x.state, x.deferred, c.id AS outbox_id, c.status, c.delivery_status,
               c.delivery_at, c.delivery_error, c.last_error, c.provider_name
        FROM sms_otp.sms_campaign_recipients x
        JOIN changed c ON x.campaign_id = c.campaign_id AND x.id = c.recipient_id AND x.outbox_id = c.id
        ORDER BY x.campaign_id, x.id
        FOR UPDATE OF x),
    judged AS MATERIALIZED (
        SELECT l.*,
               -- claimed after its recipient's hours closed: back to the recipient, deferred
               l.status = 'cancelled' AND l.last_error = 'quiet hours closed' AS quiet,
               CASE WHEN l.status = 'sent' AND l.delivery_status = 'delivered' THEN 'delivered'
                    WHEN l.status = 'sent' AND l.delivery_status IN ('undelivered', 'failed') THEN 'failed'
                    WHEN l.status = 'sent' THEN 'sent'
                    WHEN l.status = 'failed' THEN 'failed'
                    WHEN l.status IN ('cancelled', 'expired') THEN 'skipped'
                    ELSE l.state END AS next_state
        FROM locked l),
    deferred AS (
        UPDATE sms_otp.sms_campaign_recipients x
        SET outbox_id = NULL, deferred = true, updated_at = now(),
            next_at = coalesce(sms_otp._quiet_next_open(x.phone, x.zones, now()),
                               (SELECT c.ends_at FROM sms_otp.sms_campaigns c WHERE c.id = x.campaign_id))
        FROM judged j
        WHERE j.quiet AND x.campaign_id = j.campaign_id AND x.id = j.id),
    moved AS (
        UPDATE sms_otp.sms_campaign_recipients x
        SET state = j.next_state,
            skip_reason = CASE WHEN j.next_state <> 'skipped' THEN NULL
                               WHEN j.last_error = 'opted_out' THEN 'opted_out'
                               WHEN j.status = 'expired' AND j.deferred THEN 'quiet_hours_deferred'
                               WHEN j.status = 'expired' THEN 'expired'
                               ELSE 'cancelled' END,
            sent_at = CASE WHEN j.status = 'sent' THEN coalesce(x.sent_at, now()) ELSE x.sent_at END,
            delivered_at = CASE WHEN j.next_state = 'delivered' THEN j.delivery_at ELSE x.delivered_at END,
            provider_name = coalesce(j.provider_name, x.provider_name),
            error = CASE WHEN j.next_state = 'failed' THEN coalesce(j.delivery_error, j.last_error) END,
            transient = CASE WHEN j.next_state <> 'failed' THEN NULL
                             WHEN j.status = 'sent' THEN false  -- a carrier said it could not deliver
                             WHEN j.last_error LIKE 'the message takes more SMS parts%' THEN false
                             ELSE NOT EXISTS (SELECT 1 FROM sms_otp.sms_messages_log g
                                              WHERE g.outbox_id = j.outbox_id AND g.outcome = 'rejected') END,
            next_at = NULL, updated_at = now()
        FROM judged j
        WHERE NOT j.quiet AND j.next_state <> j.state AND x.campaign_id = j.campaign_id AND x.id = j.id
        RETURNING j.campaign_id, j.state, j.next_state, j.status),
    counts AS (
        SELECT m.campaign_id,
               count(*) FILTER (WHERE m.state = 'pending') AS settled,
               count(*) FILTER (WHERE m.state = 'pending' AND (m.next_state IN ('sent', 'delivered')
                                                               OR m.next_state = 'failed' AND m.status = 'sent')) AS sent,
               count(*) FILTER (WHERE m.next_state = 'delivered') - count(*) FILTER (WHERE m.state = 'delivered') AS delivered,
               count(*) FILTER (WHERE m.next_state = 'failed') - count(*) FILTER (WHERE m.state = 'failed') AS failed,
               count(*) FILTER (WHERE m.next_state = 'skipped') AS skipped,
               -- a result may cross min_sample, a failure the error rate
               bool_or(m.state = 'pending' OR m.next_state = 'failed') AS check_health
        FROM moved m GROUP BY m.campaign_id),
    campaigns AS (
        UPDATE sms_otp.sms_campaigns c
        SET pending   = c.pending - n.settled,
            sent      = c.sent + n.sent,
            delivered = c.delivered + n.delivered,
            failed    = c.failed + n.failed,
            skipped   = c.skipped + n.skipped,
            status    = CASE WHEN c.pending - n.settled = 0 AND c.status IN ('running', 'paused', 'scheduled')
                             THEN 'finished' ELSE c.status END,
            finished_at = CASE WHEN c.pending - n.settled = 0 AND c.status IN ('running', 'paused', 'scheduled')
                               THEN now() ELSE c.finished_at END,
            updated_at = now()
        FROM (SELECT * FROM counts ORDER BY campaign_id) n
        WHERE c.id = n.campaign_id
        RETURNING c.id, n.check_health)
    SELECT array_agg(x.id ORDER BY x.id) FILTER (WHERE x.check_health) INTO to_check FROM campaigns x;
    PERFORM sms_otp._campaign_check_health(h) FROM unnest(to_check) AS h;
    RETURN NULL;
END $$;

-- A statement-level trigger (transition tables need one without a column list): it looks at
-- the rows whose status or delivery_status changed.
DROP TRIGGER IF EXISTS campaign_outbox_changed ON sms_otp.sms_outbox;
CREATE TRIGGER campaign_outbox_changed
    AFTER UPDATE ON sms_otp.sms_outbox
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION sms_otp._campaign_outbox_changed();

-- For the worker: each running campaign with recipients due now, the keys its messages are
-- throttled by (its provider, sender, itself) and how many are due (at most cap).
CREATE OR REPLACE FUNCTION sms_otp._campaign_demand(cap int)
RETURNS TABLE (campaign_id bigint, provider text, sender text, due int, segments int, limits jsonb,
               next_due_us bigint)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- Scheduled campaigns whose time came; campaigns whose time ran out end their pending rows.
    UPDATE sms_otp.sms_campaigns x SET status = 'running', updated_at = now()
    WHERE x.status = 'scheduled' AND x.starts_at <= now();
    PERFORM sms_otp._campaign_expire();
    RETURN QUERY
    SELECT c.id, p.name, coalesce(c.sender, p.sender, ''),
           -- (past the campaign's fed mark, so that no scan walks the index entries its feeds left)
           (SELECT count(*)::int FROM (SELECT 1 FROM sms_otp.sms_campaign_recipients r
                                       WHERE r.campaign_id = c.id AND r.state = 'pending' AND r.outbox_id IS NULL
                                         AND (r.next_at, r.id) > (c.fed_next_at, c.fed_id)
                                         AND r.next_at <= now() ORDER BY r.next_at, r.id LIMIT cap) d)
           + (SELECT count(*)::int FROM (SELECT 1 FROM sms_otp.sms_outbox o
                                         WHERE o.campaign_id = c.id AND o.status = 'queued' AND o.kind = 'promo'
                                           AND o.next_attempt_at <= now() ORDER BY o.next_attempt_at LIMIT cap) q),
           coalesce((SELECT max(r.segments) FROM (SELECT r.segments FROM sms_otp.sms_campaign_recipients r
                                                 WHERE r.campaign_id = c.id AND r.state = 'pending' AND r.outbox_id IS NULL
                                                   AND (r.next_at, r.id) > (c.fed_next_at, c.fed_id)
                                                   AND r.next_at <= now() ORDER BY r.next_at, r.id LIMIT 16) r), 1),
           jsonb_strip_nulls(jsonb_build_object(
               'per_second', c.per_second, 'per_minute', c.per_minute, 'per_day', c.per_day,
               'segments_per_second', c.segments_per_second, 'segments_per_minute', c.segments_per_minute,
               'segments_per_day', c.segments_per_day,
               'day_start_us', sms_otp._day_start_us(c.day_zone))),
           -- when the next recipient or queued message falls due
           (extract(epoch FROM least(
               (SELECT r.next_at FROM sms_otp.sms_campaign_recipients r
                WHERE r.campaign_id = c.id AND r.state = 'pending' AND r.outbox_id IS NULL
                  AND (r.next_at, r.id) > (c.fed_next_at, c.fed_id)
                ORDER BY r.next_at, r.id LIMIT 1),
               (SELECT o.next_attempt_at FROM sms_otp.sms_outbox o
                WHERE o.campaign_id = c.id AND o.status = 'queued' AND o.kind = 'promo'
                ORDER BY o.next_attempt_at LIMIT 1))) * 1000000)::bigint
    FROM sms_otp.sms_campaigns c
    LEFT JOIN LATERAL (SELECT a.name, a.sender FROM sms_otp.api_integrations a
                       WHERE a.enabled AND (c.provider IS NULL OR a.name = c.provider)
                       ORDER BY a.priority, a.name LIMIT 1) p ON true
    WHERE c.status = 'running' AND p.name IS NOT NULL
    ORDER BY c.id;
END $$;

-- Microseconds since the Unix epoch of the last midnight in zone: a day's throttle restarts there.
CREATE OR REPLACE FUNCTION sms_otp._day_start_us(zone text) RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT (extract(epoch FROM (date_trunc('day', now() AT TIME ZONE zone) AT TIME ZONE zone)) * 1000000)::bigint
$$;

-- The worker's throttles of providers and senders, as the campaign's limits above.
-- PL/pgSQL: the worker reads it at every claim, and a SQL function pinning its search_path
-- would be planned again at every call.
CREATE OR REPLACE FUNCTION sms_otp._throttle_limits()
RETURNS TABLE (key text, limits jsonb)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN QUERY
    SELECT t.scope || ':' || t.name,
           jsonb_strip_nulls(jsonb_build_object(
               'per_second', t.per_second, 'per_minute', t.per_minute, 'per_day', t.per_day,
               'segments_per_second', t.segments_per_second, 'segments_per_minute', t.segments_per_minute,
               'segments_per_day', t.segments_per_day, 'day_start_us', sms_otp._day_start_us(t.day_zone)))
    FROM sms_otp.sms_throttles t;
END $$;

-- Campaigns past ends_at: what was not sent is skipped (quiet_hours_deferred when its hours
-- held it back, else expired), and the campaign finishes.
CREATE OR REPLACE FUNCTION sms_otp._campaign_expire() RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c record;
    n int;
BEGIN
    -- A cancelled campaign's messages that came back to the queue after the cancel (a retry,
    -- a throttle's hold): ended as the cancel ended the others (the trigger skips their recipients).
    UPDATE sms_otp.sms_outbox o SET status = 'cancelled', last_error = 'campaign cancelled', updated_at = now()
    FROM sms_otp.sms_campaigns x
    WHERE x.status = 'cancelled' AND x.pending > 0 AND o.campaign_id = x.id AND o.kind = 'promo'
      AND o.status = 'queued' AND (o.lease_until IS NULL OR o.lease_until < now());
    -- and its recipients the cancel passed over because this worker held them then (being fed)
    FOR c IN SELECT x.id FROM sms_otp.sms_campaigns x WHERE x.status = 'cancelled' AND x.pending > 0 LOOP
        UPDATE sms_otp.sms_campaign_recipients r
        SET state = 'skipped', skip_reason = 'cancelled', next_at = NULL, updated_at = now()
        WHERE r.campaign_id = c.id AND r.state = 'pending' AND r.outbox_id IS NULL;
        GET DIAGNOSTICS n = ROW_COUNT;
        UPDATE sms_otp.sms_campaigns x SET pending = x.pending - n, skipped = x.skipped + n, updated_at = now()
        WHERE x.id = c.id AND n > 0;
    END LOOP;
    -- recipients first, then the campaign: the lock order of results and receipts
    FOR c IN SELECT x.id FROM sms_otp.sms_campaigns x
             WHERE x.status IN ('running', 'paused') AND x.ends_at <= now() LOOP
        -- queued, not in flight: expired (the trigger skips their recipients)
        UPDATE sms_otp.sms_outbox o SET status = 'expired', last_error = 'expired before it could be sent',
            updated_at = now()
        WHERE o.campaign_id = c.id AND o.kind = 'promo' AND o.status = 'queued'
          AND (o.lease_until IS NULL OR o.lease_until < now());
        UPDATE sms_otp.sms_campaign_recipients r
        SET state = 'skipped', skip_reason = CASE WHEN r.deferred THEN 'quiet_hours_deferred' ELSE 'expired' END,
            next_at = NULL, updated_at = now()
        WHERE r.campaign_id = c.id AND r.state = 'pending' AND r.outbox_id IS NULL;
        GET DIAGNOSTICS n = ROW_COUNT;
        UPDATE sms_otp.sms_campaigns x
        SET pending = x.pending - n, skipped = x.skipped + n,
            status = CASE WHEN x.pending - n = 0 THEN 'finished' ELSE x.status END,
            finished_at = CASE WHEN x.pending - n = 0 THEN now() END, updated_at = now()
        WHERE x.id = c.id;
    END LOOP;
END $$;

-- For the worker, in its claim transaction: move each campaign's allowance of due recipients
-- into the outbox (allowances: [{"campaign_id", "messages", "segments"}]). A recipient whose
-- quiet hours closed meanwhile is deferred to their next opening; one another campaign texted
-- within sms_otp.promo_frequency_cap is skipped. The claim that follows takes the new rows
-- and checks opt-outs once more, right before sending.
CREATE OR REPLACE FUNCTION sms_otp._campaign_feed(allowances jsonb) RETURNS int
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a      record;
    c      sms_otp.sms_campaigns;
    cap    interval := current_setting('sms_otp.promo_frequency_cap')::interval;
    fed    int := 0;
    n      int;
    capped int;
BEGIN
    FOR a IN SELECT * FROM jsonb_to_recordset(allowances) AS x(campaign_id bigint, messages int, segments bigint) LOOP
        SELECT * INTO c FROM sms_otp.sms_campaigns x WHERE x.id = a.campaign_id AND x.status = 'running';
        CONTINUE WHEN NOT FOUND OR a.messages <= 0;
        -- Messages fed before and still waiting for a claim take their share of the allowance.
        SELECT a.messages - count(*) INTO n FROM (
            SELECT 1 FROM sms_otp.sms_outbox o
            WHERE o.campaign_id = c.id AND o.status = 'queued' AND o.kind = 'promo'
              AND o.next_attempt_at <= now() AND (o.lease_until IS NULL OR o.lease_until < now())
            LIMIT a.messages) w;
        CONTINUE WHEN n <= 0;
        a.messages := n;
        WITH cand AS MATERIALIZED (
            -- due rows in order, a few more than allowed (some may be deferred or capped)
            SELECT r.id, r.phone, r.zones, r.body, r.segments, r.next_at
            FROM sms_otp.sms_campaign_recipients r
            WHERE r.campaign_id = c.id AND r.state = 'pending' AND r.outbox_id IS NULL AND r.next_at <= now()
              AND (r.next_at, r.id) > (c.fed_next_at, c.fed_id)
            ORDER BY r.next_at, r.id
            LIMIT a.messages * 2 + 8
            FOR UPDATE SKIP LOCKED),
        judged AS MATERIALIZED (
            SELECT x.*,
                   CASE WHEN c.quiet_hours THEN sms_otp._quiet_next_open(x.phone, x.zones, now()) ELSE now() END AS open_at,
                   cap > interval '0' AND EXISTS (SELECT 1 FROM sms_otp.sms_campaign_recipients o
                                                  WHERE o.phone = x.phone AND o.queued_at > now() - cap
                                                    AND o.campaign_id <> c.id) AS capped
            FROM cand x),
        -- hours closed: wait for the next opening (or the campaign's end)
        deferred AS (
            UPDATE sms_otp.sms_campaign_recipients r
            SET next_at = coalesce(j.open_at, c.ends_at), deferred = true, updated_at = now()
            FROM judged j
            WHERE r.campaign_id = c.id AND r.id = j.id AND (j.open_at IS NULL OR j.open_at > now())
            RETURNING 1),
        -- texted by another campaign meanwhile
        skipped AS (
            UPDATE sms_otp.sms_campaign_recipients r
            SET state = 'skipped', skip_reason = 'frequency_capped', next_at = NULL, updated_at = now()
            FROM judged j
            WHERE r.campaign_id = c.id AND r.id = j.id AND j.capped AND j.open_at <= now()
            RETURNING 1),
        -- the rest, within the allowance in messages and in parts, become outbox messages
        eligible AS (
            SELECT j.*, sum(j.segments) OVER (ORDER BY j.next_at, j.id) AS parts,
                   row_number() OVER (ORDER BY j.next_at, j.id) AS k
            FROM judged j WHERE j.open_at <= now() AND NOT j.capped),
        go AS (
            SELECT e.* FROM eligible e
            WHERE e.k <= a.messages AND (a.segments IS NULL OR e.parts <= a.segments)),
        -- The fed mark moves past every row this feed settled (fed, deferred, skipped), up to the
        -- first one left for a later feed: the next scans start there.
        left_over AS (
            SELECT e.next_at, e.id FROM eligible e WHERE e.id NOT IN (SELECT go.id FROM go)
            ORDER BY e.next_at, e.id LIMIT 1),
        mark AS (
            SELECT j.next_at, j.id FROM judged j
            WHERE NOT EXISTS (SELECT 1 FROM left_over) OR (j.next_at, j.id) < (SELECT l.next_at, l.id FROM left_over l)
            ORDER BY j.next_at DESC, j.id DESC LIMIT 1),
        moved AS (
            UPDATE sms_otp.sms_campaigns x SET fed_next_at = m.next_at, fed_id = m.id
            FROM mark m WHERE x.id = c.id
            RETURNING 1),
        queued AS (
            INSERT INTO sms_otp.sms_outbox (kind, "to", body, provider_hint, expires_at, segments, campaign_id,
                                            recipient_id, sender, category)
            SELECT 'promo', go.phone, go.body, c.provider, c.ends_at, go.segments, c.id, go.id, c.sender, 'promo'
            FROM go ORDER BY go.next_at, go.id
            RETURNING id, recipient_id),
        marked AS (
            UPDATE sms_otp.sms_campaign_recipients r
            SET outbox_id = q.id, queued_at = now(), updated_at = now()
            FROM queued q
            WHERE r.campaign_id = c.id AND r.id = q.recipient_id
            RETURNING 1)
        SELECT (SELECT count(*) FROM marked),
               (SELECT count(*) FROM skipped) + 0 * (SELECT count(*) FROM deferred) + 0 * (SELECT count(*) FROM moved)
        INTO n, capped;
        IF capped > 0 THEN
            UPDATE sms_otp.sms_campaigns x SET pending = x.pending - capped, skipped = x.skipped + capped,
                status = CASE WHEN x.pending - capped = 0 THEN 'finished' ELSE x.status END,
                finished_at = CASE WHEN x.pending - capped = 0 THEN now() END, updated_at = now()
            WHERE x.id = c.id;
        END IF;
        fed := fed + n;
    END LOOP;
    RETURN fed;
END $$;
