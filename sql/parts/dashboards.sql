--------------------------------------------------------------------------------------------
-- Dashboards: what operators watch (delivery, latency, cost, the code funnel, campaigns, the
-- queue, the providers), as functions for the service role and as Prometheus metrics.
--
-- The figures come from rollups, never from a scan of the log. Triggers on the log and on the
-- code sessions add each change to an hourly row as it is written: one statement-level
-- trigger per statement, so the worker's batch of results costs one upsert per key, not one
-- per message. A row is keyed by hour, by what it describes, and by a shard (1..4, from the
-- writing backend), so that concurrent writers rarely wait on each other's row. Closed hours
-- are compacted (sms_otp.stats_compact(), the worker's housekeeping): their shards fold into
-- shard 0 and into the day's row, so reads stay small. Every read sums the shards, so a
-- figure is exact whether or not its hour was compacted yet.
--
-- Retention (sms_otp.stats_prune(), the worker's housekeeping): raw rows older than
-- sms_otp.log_retention go (0 keeps them), rollups older than sms_otp.stats_retention.
--------------------------------------------------------------------------------------------

-- When the message an attempt carried was queued: what "commit to provider accepted" counts
-- from. Written by the worker with the attempt. And when the receipt that set delivery_status
-- came in, on this server's clock (delivery_at is the provider's, to the minute for some).
ALTER TABLE sms_otp.sms_messages_log ADD COLUMN queued_at timestamptz,
                                     ADD COLUMN delivery_received_at timestamptz;

-- Retention deletes the oldest rows; BRIN indexes find them at almost no cost to inserts.
CREATE INDEX sms_messages_log_created_brin ON sms_otp.sms_messages_log USING brin (created_at);
CREATE INDEX sms_otp_sessions_created_brin ON sms_otp.sms_otp_sessions USING brin (created_at);
CREATE INDEX sms_delivery_events_received_brin ON sms_otp.sms_delivery_events USING brin (received_at);

-- What a provider charges per SMS part, by destination country ('*' for any provider or any
-- country; the most specific row wins). Cost = parts x price, counted when a provider accepts.
CREATE TABLE sms_otp.sms_prices (
    provider_name     text NOT NULL CHECK (length(provider_name) BETWEEN 1 AND 100),
    country           text NOT NULL CHECK (country = '*' OR country ~ '^[A-Z]{2}$'),
    price_per_segment numeric(12, 6) NOT NULL CHECK (price_per_segment >= 0),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider_name, country)
);
COMMENT ON TABLE sms_otp.sms_prices IS
    'Price per SMS part by provider and country (''*'' for any); the dashboards'' cost is parts x price.';

-- grain 'h': hourly rows (shard 0 compacted, 1..4 live); grain 'd': daily rows (shard 0 only);
-- grain 't': totals since the rows began (start -infinity, shard 0), never pruned, for the
-- Prometheus counters.
CREATE TABLE sms_otp.stats_messages (
    grain       "char" NOT NULL CHECK (grain IN ('h', 'd', 't')),
    start       timestamptz NOT NULL,
    provider    text NOT NULL,
    country     text NOT NULL,
    type        text NOT NULL,
    shard       smallint NOT NULL,
    attempted   bigint NOT NULL DEFAULT 0,
    accepted    bigint NOT NULL DEFAULT 0,
    rejected    bigint NOT NULL DEFAULT 0,
    retried     bigint NOT NULL DEFAULT 0,
    delivered   bigint NOT NULL DEFAULT 0,
    undelivered bigint NOT NULL DEFAULT 0,
    failed      bigint NOT NULL DEFAULT 0,
    -- receipts that moved a message into a final state, each counted once: they only grow
    delivered_receipts   bigint NOT NULL DEFAULT 0,
    undelivered_receipts bigint NOT NULL DEFAULT 0,
    failed_receipts      bigint NOT NULL DEFAULT 0,
    segments    bigint NOT NULL DEFAULT 0,
    cost        numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (grain, start, provider, country, type, shard)
);
-- The live shards: what compaction and the day reads look for among the hours.
CREATE INDEX stats_messages_live_idx ON sms_otp.stats_messages (start) WHERE shard > 0;
COMMENT ON TABLE sms_otp.stats_messages IS
    'Dashboard rollup: provider attempts and their receipts by hour or day, provider, country and type.';

-- Latency histograms: stage 'send' (queued -> provider accepted) and 'delivery' (accepted ->
-- delivered), counts per bucket of sms_otp._stats_bounds(). Besides the hour ('h'), day ('d')
-- and total ('t') rows, compaction writes day rows by provider alone (grain 'p', country and
-- type ''): a month by provider reads about 4,000 of them instead of 200,000 day rows.
CREATE TABLE sms_otp.stats_latency (
    grain    "char" NOT NULL CHECK (grain IN ('h', 'd', 'p', 't')),
    start    timestamptz NOT NULL,
    provider text NOT NULL,
    country  text NOT NULL,
    type     text NOT NULL,
    stage    text NOT NULL CHECK (stage IN ('send', 'delivery')),
    bucket   smallint NOT NULL,
    shard    smallint NOT NULL,
    n        bigint NOT NULL DEFAULT 0,
    ms       double precision NOT NULL DEFAULT 0,   -- the latencies' sum
    PRIMARY KEY (grain, start, provider, country, type, stage, bucket, shard)
);
CREATE INDEX stats_latency_live_idx ON sms_otp.stats_latency (start) WHERE shard > 0;
COMMENT ON TABLE sms_otp.stats_latency IS
    'Dashboard rollup: latency histograms (send, delivery) by hour or day, provider, country and type.';

-- The code funnel by country and number prefix (the first 7 characters of the number):
-- requested (sessions), sent (a provider took the code), delivered (its receipt said so),
-- entered (at least one guess, or verified), verified.
CREATE TABLE sms_otp.stats_otp (
    grain     "char" NOT NULL CHECK (grain IN ('h', 'd', 't')),
    start     timestamptz NOT NULL,
    country   text NOT NULL,
    prefix    text NOT NULL,
    shard     smallint NOT NULL,
    requested bigint NOT NULL DEFAULT 0,
    sent      bigint NOT NULL DEFAULT 0,
    delivered bigint NOT NULL DEFAULT 0,
    entered   bigint NOT NULL DEFAULT 0,
    verified  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (grain, start, country, prefix, shard)
);
CREATE INDEX stats_otp_live_idx ON sms_otp.stats_otp (start) WHERE shard > 0;
COMMENT ON TABLE sms_otp.stats_otp IS
    'Dashboard rollup: the code funnel (requested, sent, delivered, entered, verified) by hour or day, country and prefix.';

-- Backups: a rollup row is dumped when its raw rows are gone (older than the retention
-- horizon); newer ones are rebuilt by the triggers as the raw rows are restored. The totals
-- start again from what a restore brings back (a counter reset to Prometheus).
CREATE OR REPLACE FUNCTION sms_otp._stats_horizon() RETURNS timestamptz
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN coalesce(nullif(current_setting('sms_otp.log_retention', true), ''), '0')::interval
                     <= interval '0' THEN '-infinity'::timestamptz
                ELSE date_trunc('day', now() - current_setting('sms_otp.log_retention')::interval, 'UTC') END
$$;
-- The raw rows past the horizon are not dumped either: retention deletes them a batch at a
-- time, and a restore that brought back a row whose day is in the dumped rollups would count it
-- twice. With sms_otp.log_retention at 0 the horizon is -infinity and every row is dumped.
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_messages_log', 'WHERE created_at >= sms_otp._stats_horizon()');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_otp_sessions',
                                           'WHERE created_at >= sms_otp._stats_horizon() OR expires_at >= now()');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_delivery_events', 'WHERE received_at >= sms_otp._stats_horizon()');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_prices', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.stats_messages', 'WHERE grain <> ''t'' AND start < sms_otp._stats_horizon()');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.stats_latency', 'WHERE grain <> ''t'' AND start < sms_otp._stats_horizon()');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.stats_otp', 'WHERE grain <> ''t'' AND start < sms_otp._stats_horizon()');

--------------------------------------------------------------------------------------------
-- Upkeep: the triggers
--------------------------------------------------------------------------------------------

-- Upper bounds (ms) of the latency buckets; the last bucket (index 12) is everything above.
CREATE OR REPLACE FUNCTION sms_otp._stats_bounds() RETURNS int[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT '{50,100,250,500,1000,2500,5000,10000,30000,60000,300000,1800000}'::int[]
$$;

-- The log's new rows: the attempts, the send latency of accepted ones, and the receipts they
-- already carry (a receipt that came while the request was in flight). Receipts move a log
-- row's delivery_status later (upwards only, but from one terminal state to another too:
-- failed < undelivered < delivered): the old state's counts come off, the new state's go on,
-- in the row's own hour. One statement for the three rollups.
-- added: rows counted in (sign 1); removed: their versions before an update, counted out (sign
-- -1, matched to added by id: a row whose delivery_status moved counts a receipt). attempt:
-- the added rows are new attempts (inserted), not receipts moving them.
-- The rows come as arrays of the table's own row type, not as JSON: the worker's results
-- statement runs this for every part it writes, and building and reading a document per row
-- cost more than the upkeep itself.
-- PL/pgSQL, so that the statement's plan is kept for the session (a SQL function's would be
-- made again at every call), and the helpers are written out in it (a call each per row
-- otherwise): the shard, the country, the latency and its bucket (the buckets counted from
-- the top: 12 - width_bucket(-ms, -bounds) is the number of bounds below ms).
CREATE OR REPLACE FUNCTION sms_otp._stats_log_apply(added sms_otp.sms_messages_log[], removed sms_otp.sms_messages_log[],
                                                    attempt boolean) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    my_shard smallint := (pg_backend_pid() % 4 + 1)::smallint;
    neg      float8[] := ARRAY(SELECT -b::float8 FROM unnest(sms_otp._stats_bounds()) b ORDER BY 1);
BEGIN
    WITH x AS (
        SELECT a.created_at, a.provider_name, a."to", a.type, a.outcome, a.segments, a.delivery_status,
               a.requested_at, a.response_time_ms, a.queued_at, a.delivery_at, a.delivery_received_at,
               1 AS sign, attempt AS attempt,
               b.id IS NULL OR a.delivery_status IS DISTINCT FROM b.delivery_status AS moved
        FROM unnest(added) a LEFT JOIN unnest(removed) b ON b.id = a.id
        UNION ALL
        SELECT b.created_at, b.provider_name, b."to", b.type, b.outcome, b.segments, b.delivery_status,
               b.requested_at, b.response_time_ms, b.queued_at, b.delivery_at, b.delivery_received_at,
               -1, false, false
        FROM unnest(removed) b),
    r AS MATERIALIZED (
        SELECT date_trunc('hour', x.created_at, 'UTC') AS start, coalesce(x.provider_name, 'none') AS provider,
               coalesce(sms_otp.phone_country(x."to"), 'ZZ') AS country, x.type, left(x."to", 7) AS prefix, x.sign,
               x.outcome,
               coalesce(x.segments, 1) AS segments, x.delivery_status,
               coalesce(x.requested_at + make_interval(secs => coalesce(x.response_time_ms, 0) / 1000.0),
                        x.created_at) AS accepted_at,
               x.queued_at, coalesce(x.delivery_received_at, x.delivery_at) AS delivery_at, x.attempt,
               x.sign = 1 AND x.moved AND x.outcome = 'sent' AS receipt
        FROM x),
    messages AS (
        INSERT INTO sms_otp.stats_messages AS s (grain, start, provider, country, type, shard, attempted, accepted,
                                                  rejected, retried, delivered, undelivered, failed,
                                                  delivered_receipts, undelivered_receipts, failed_receipts, segments,
                                                  cost)
        SELECT 'h', r.start, r.provider, r.country, r.type, my_shard,
               coalesce(sum(r.sign) FILTER (WHERE r.attempt), 0),
               coalesce(sum(r.sign) FILTER (WHERE r.attempt AND r.outcome = 'sent'), 0),
               coalesce(sum(r.sign) FILTER (WHERE r.attempt AND r.outcome IN ('rejected', 'auth_failed')), 0),
               coalesce(sum(r.sign) FILTER (WHERE r.attempt AND r.outcome IN ('retry', 'throttled')), 0),
               coalesce(sum(r.sign) FILTER (WHERE r.outcome = 'sent' AND r.delivery_status = 'delivered'), 0),
               coalesce(sum(r.sign) FILTER (WHERE r.outcome = 'sent' AND r.delivery_status = 'undelivered'), 0),
               coalesce(sum(r.sign) FILTER (WHERE r.outcome = 'sent' AND r.delivery_status = 'failed'), 0),
               count(*) FILTER (WHERE r.receipt AND r.delivery_status = 'delivered'),
               count(*) FILTER (WHERE r.receipt AND r.delivery_status = 'undelivered'),
               count(*) FILTER (WHERE r.receipt AND r.delivery_status = 'failed'),
               coalesce(sum(r.sign * r.segments) FILTER (WHERE r.attempt AND r.outcome = 'sent'), 0),
               -- the price: the most specific row of sms_prices (provider and country, then '*')
               CASE WHEN bool_or(r.attempt AND r.outcome = 'sent') THEN
                   coalesce(sum(r.sign * r.segments) FILTER (WHERE r.attempt AND r.outcome = 'sent'), 0)
                   * coalesce((SELECT p.price_per_segment FROM sms_otp.sms_prices p
                               WHERE p.provider_name IN (r.provider, '*') AND p.country IN (r.country, '*')
                               ORDER BY p.provider_name = '*', p.country = '*' LIMIT 1), 0)
               ELSE 0 END
        FROM r
        GROUP BY r.start, r.provider, r.country, r.type
        ORDER BY r.start, r.provider, r.country, r.type
        ON CONFLICT (grain, start, provider, country, type, shard) DO UPDATE
        SET attempted = s.attempted + excluded.attempted, accepted = s.accepted + excluded.accepted,
            rejected = s.rejected + excluded.rejected, retried = s.retried + excluded.retried,
            delivered = s.delivered + excluded.delivered, undelivered = s.undelivered + excluded.undelivered,
            failed = s.failed + excluded.failed, delivered_receipts = s.delivered_receipts + excluded.delivered_receipts,
            undelivered_receipts = s.undelivered_receipts + excluded.undelivered_receipts,
            failed_receipts = s.failed_receipts + excluded.failed_receipts, segments = s.segments + excluded.segments,
            cost = s.cost + excluded.cost
        RETURNING 1),
    latency AS (
        INSERT INTO sms_otp.stats_latency AS s (grain, start, provider, country, type, stage, bucket, shard, n, ms)
        SELECT 'h', m.start, m.provider, m.country, m.type, m.stage, m.bucket, my_shard, sum(m.sign), sum(m.sign * m.ms)
        FROM (SELECT l.*, (cardinality(neg) - width_bucket(-l.ms, neg))::smallint AS bucket
              FROM (SELECT r.start, r.provider, r.country, r.type, 'send' AS stage, r.sign,
                           greatest(extract(epoch FROM r.accepted_at - r.queued_at) * 1000, 0)::float8 AS ms
                    FROM r WHERE r.attempt AND r.outcome = 'sent' AND r.queued_at IS NOT NULL
                    UNION ALL
                    SELECT r.start, r.provider, r.country, r.type, 'delivery', r.sign,
                           greatest(extract(epoch FROM r.delivery_at - r.accepted_at) * 1000, 0)::float8
                    FROM r WHERE r.outcome = 'sent' AND r.delivery_status = 'delivered' AND r.delivery_at IS NOT NULL) l) m
        GROUP BY m.start, m.provider, m.country, m.type, m.stage, m.bucket
        HAVING sum(m.sign) <> 0 OR sum(m.sign * m.ms) <> 0
        ORDER BY m.start, m.provider, m.country, m.type, m.stage, m.bucket
        ON CONFLICT (grain, start, provider, country, type, stage, bucket, shard) DO UPDATE
        SET n = s.n + excluded.n, ms = s.ms + excluded.ms
        RETURNING 1)
    INSERT INTO sms_otp.stats_otp AS s (grain, start, country, prefix, shard, delivered)
    SELECT 'h', r.start, r.country, r.prefix, my_shard, sum(r.sign)
    FROM r
    WHERE r.type = 'otp' AND r.outcome = 'sent' AND r.delivery_status = 'delivered'
    GROUP BY r.start, r.country, r.prefix
    HAVING sum(r.sign) <> 0
    ORDER BY r.start, r.country, r.prefix
    ON CONFLICT (grain, start, country, prefix, shard) DO UPDATE SET delivered = s.delivered + excluded.delivered;
END $$;

-- Sends only: a provider's code check (operation 'check', written by otp_verify) is no message.
CREATE OR REPLACE FUNCTION sms_otp._stats_log_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    added   sms_otp.sms_messages_log[];
    removed sms_otp.sms_messages_log[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n::sms_otp.sms_messages_log) INTO added FROM new_rows n WHERE n.operation = 'send';
        IF added IS NOT NULL THEN
            PERFORM sms_otp._stats_log_apply(added, '{}', true);
        END IF;
    ELSE
        -- Only receipts move: the attempt itself is counted once, when it is written.
        SELECT array_agg(n::sms_otp.sms_messages_log), array_agg(o::sms_otp.sms_messages_log) INTO added, removed
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (n.delivery_status, n.delivery_at, n.delivery_received_at)
              IS DISTINCT FROM (o.delivery_status, o.delivery_at, o.delivery_received_at)
          AND o.operation = 'send';
        IF added IS NOT NULL THEN
            PERFORM sms_otp._stats_log_apply(added, removed, false);
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER stats_inserted AFTER INSERT ON sms_otp.sms_messages_log
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sms_otp._stats_log_changed();
CREATE TRIGGER stats_updated AFTER UPDATE ON sms_otp.sms_messages_log
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sms_otp._stats_log_changed();

-- The code sessions: a new one is requested; sent, entered and verified as it moves. added:
-- session rows (created_at, phone, status, sent_at, attempts, verified_at) counted in, each
-- requested once, when it is inserted (inserted); removed: their versions before an update,
-- counted out. (PL/pgSQL, and rows as arrays of the table's row type, for the same reasons as
-- _stats_log_apply.) Sent: a provider took the code.
CREATE OR REPLACE FUNCTION sms_otp._stats_sessions_apply(added sms_otp.sms_otp_sessions[],
                                                         removed sms_otp.sms_otp_sessions[], inserted boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    my_shard smallint := (pg_backend_pid() % 4 + 1)::smallint;
BEGIN
    INSERT INTO sms_otp.stats_otp AS s (grain, start, country, prefix, shard, requested, sent, entered, verified)
    SELECT 'h', d.start, d.country, left(d.phone, 7), my_shard,
           sum(d.requested), sum(d.sent), sum(d.entered), sum(d.verified)
    FROM (SELECT date_trunc('hour', x.created_at, 'UTC') AS start, x.phone,
                 coalesce(sms_otp.phone_country(x.phone), 'ZZ') AS country,
                 x.sign * inserted::int AS requested,
                 x.sign * (x.sent_at IS NOT NULL OR x.status IN ('sent', 'verified'))::int AS sent,
                 x.sign * (x.attempts > 0 OR x.verified_at IS NOT NULL)::int AS entered,
                 x.sign * (x.verified_at IS NOT NULL)::int AS verified
          FROM (SELECT a.created_at, a.phone, a.status, a.sent_at, a.attempts, a.verified_at, 1 AS sign
                FROM unnest(added) a
                UNION ALL
                SELECT b.created_at, b.phone, b.status, b.sent_at, b.attempts, b.verified_at, -1
                FROM unnest(removed) b) x) d
    GROUP BY d.start, d.country, left(d.phone, 7)
    HAVING sum(d.requested) <> 0 OR sum(d.sent) <> 0 OR sum(d.entered) <> 0 OR sum(d.verified) <> 0
    ORDER BY 2, 3, 4
    ON CONFLICT (grain, start, country, prefix, shard) DO UPDATE
    SET requested = s.requested + excluded.requested, sent = s.sent + excluded.sent,
        entered = s.entered + excluded.entered, verified = s.verified + excluded.verified;
END $$;

CREATE OR REPLACE FUNCTION sms_otp._stats_sessions_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    added   sms_otp.sms_otp_sessions[];
    removed sms_otp.sms_otp_sessions[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n::sms_otp.sms_otp_sessions) INTO added FROM new_rows n;
        PERFORM sms_otp._stats_sessions_apply(added, '{}', true);
    ELSE
        -- A session is requested once, when it is written; then its old state comes off and
        -- its new state goes on.
        SELECT array_agg(n::sms_otp.sms_otp_sessions), array_agg(o::sms_otp.sms_otp_sessions) INTO added, removed
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (n.status, n.sent_at, n.attempts > 0, n.verified_at, n.phone, n.created_at)
              IS DISTINCT FROM (o.status, o.sent_at, o.attempts > 0, o.verified_at, o.phone, o.created_at);
        IF added IS NOT NULL THEN
            PERFORM sms_otp._stats_sessions_apply(added, removed, false);
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER stats_inserted AFTER INSERT ON sms_otp.sms_otp_sessions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sms_otp._stats_sessions_changed();
CREATE TRIGGER stats_updated AFTER UPDATE ON sms_otp.sms_otp_sessions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sms_otp._stats_sessions_changed();

--------------------------------------------------------------------------------------------
-- Upkeep: compaction and retention (the worker's housekeeping runs both; pg_cron can too)
--------------------------------------------------------------------------------------------

-- Folds the live shards of closed hours (older than the current hour) into shard 0 of the
-- hour and into the day's row. At most `hours` hours a call; returns how many hours it folded.
CREATE OR REPLACE FUNCTION sms_otp.stats_compact(hours int DEFAULT 24) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    closed timestamptz := date_trunc('hour', now(), 'UTC');
    todo   timestamptz[];
BEGIN
    -- The service role, or a superuser (the worker, a pg_cron job): is_service_role() looks
    -- at the role that called, not at this function's owner.
    PERFORM sms_otp._require_service_role('compact the dashboards'' rollups');
    IF hours IS NULL OR hours NOT BETWEEN 1 AND 100000 THEN
        PERFORM sms_otp._raise('invalid_hours', 400, 'hours must be between 1 and 100000.');
    END IF;
    todo := ARRAY(SELECT DISTINCT x.start FROM (
                      SELECT s.start FROM sms_otp.stats_messages s WHERE s.grain = 'h' AND s.shard > 0 AND s.start < closed
                      UNION SELECT s.start FROM sms_otp.stats_latency s WHERE s.grain = 'h' AND s.shard > 0 AND s.start < closed
                      UNION SELECT s.start FROM sms_otp.stats_otp s WHERE s.grain = 'h' AND s.shard > 0 AND s.start < closed) x
                  ORDER BY 1 LIMIT hours);
    IF cardinality(todo) = 0 THEN
        RETURN 0;
    END IF;

    WITH gone AS (
        DELETE FROM sms_otp.stats_messages s WHERE s.grain = 'h' AND s.shard > 0 AND s.start = ANY (todo) RETURNING s.*),
    sums AS (
        SELECT g.start, g.provider, g.country, g.type, sum(g.attempted) AS attempted, sum(g.accepted) AS accepted,
               sum(g.rejected) AS rejected, sum(g.retried) AS retried, sum(g.delivered) AS delivered,
               sum(g.undelivered) AS undelivered, sum(g.failed) AS failed,
               sum(g.delivered_receipts) AS delivered_receipts, sum(g.undelivered_receipts) AS undelivered_receipts,
               sum(g.failed_receipts) AS failed_receipts, sum(g.segments) AS segments, sum(g.cost) AS cost
        FROM gone g GROUP BY 1, 2, 3, 4)
    INSERT INTO sms_otp.stats_messages AS s (grain, start, provider, country, type, shard, attempted, accepted, rejected,
                                              retried, delivered, undelivered, failed, delivered_receipts,
                                              undelivered_receipts, failed_receipts, segments, cost)
    SELECT k.grain, k.start, x.provider, x.country, x.type, 0, sum(x.attempted), sum(x.accepted), sum(x.rejected),
           sum(x.retried), sum(x.delivered), sum(x.undelivered), sum(x.failed), sum(x.delivered_receipts),
           sum(x.undelivered_receipts), sum(x.failed_receipts), sum(x.segments), sum(x.cost)
    FROM sums x CROSS JOIN LATERAL (VALUES ('h'::"char", x.start), ('d'::"char", date_trunc('day', x.start, 'UTC')),
                                           ('t'::"char", '-infinity'::timestamptz)) k(grain, start)
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (grain, start, provider, country, type, shard) DO UPDATE
    SET attempted = s.attempted + excluded.attempted, accepted = s.accepted + excluded.accepted,
        rejected = s.rejected + excluded.rejected, retried = s.retried + excluded.retried,
        delivered = s.delivered + excluded.delivered, undelivered = s.undelivered + excluded.undelivered,
        failed = s.failed + excluded.failed, delivered_receipts = s.delivered_receipts + excluded.delivered_receipts,
        undelivered_receipts = s.undelivered_receipts + excluded.undelivered_receipts,
        failed_receipts = s.failed_receipts + excluded.failed_receipts, segments = s.segments + excluded.segments,
        cost = s.cost + excluded.cost;

    WITH gone AS (
        DELETE FROM sms_otp.stats_latency s WHERE s.grain = 'h' AND s.shard > 0 AND s.start = ANY (todo) RETURNING s.*)
    INSERT INTO sms_otp.stats_latency AS s (grain, start, provider, country, type, stage, bucket, shard, n, ms)
    SELECT k.grain, k.start, g.provider, k.country, k.type, g.stage, g.bucket, 0, sum(g.n), sum(g.ms)
    FROM gone g CROSS JOIN LATERAL (VALUES ('h'::"char", g.start, g.country, g.type),
                                           ('d'::"char", date_trunc('day', g.start, 'UTC'), g.country, g.type),
                                           ('p'::"char", date_trunc('day', g.start, 'UTC'), '', ''),
                                           ('t'::"char", '-infinity'::timestamptz, g.country, g.type)) k(grain, start, country, type)
    GROUP BY 1, 2, 3, 4, 5, 6, 7
    ORDER BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT (grain, start, provider, country, type, stage, bucket, shard) DO UPDATE
    SET n = s.n + excluded.n, ms = s.ms + excluded.ms;

    WITH gone AS (
        DELETE FROM sms_otp.stats_otp s WHERE s.grain = 'h' AND s.shard > 0 AND s.start = ANY (todo) RETURNING s.*)
    INSERT INTO sms_otp.stats_otp AS s (grain, start, country, prefix, shard, requested, sent, delivered, entered, verified)
    SELECT k.grain, k.start, g.country, g.prefix, 0, sum(g.requested), sum(g.sent), sum(g.delivered), sum(g.entered),
           sum(g.verified)
    FROM gone g CROSS JOIN LATERAL (VALUES ('h'::"char", g.start), ('d'::"char", date_trunc('day', g.start, 'UTC')),
                                           ('t'::"char", '-infinity'::timestamptz)) k(grain, start)
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (grain, start, country, prefix, shard) DO UPDATE
    SET requested = s.requested + excluded.requested, sent = s.sent + excluded.sent,
        delivered = s.delivered + excluded.delivered, entered = s.entered + excluded.entered,
        verified = s.verified + excluded.verified;
    RETURN cardinality(todo);
END $$;
COMMENT ON FUNCTION sms_otp.stats_compact(int) IS
    'Fold the live shards of closed hours of the dashboards'' rollups into the hour''s and the day''s rows; returns the hours folded.';

-- Deletes at most `batch` rows of each raw table past sms_otp.log_retention (log rows,
-- delivery events, expired code sessions), and rollups past sms_otp.stats_retention.
-- Returns how many rows of each went.
CREATE OR REPLACE FUNCTION sms_otp.stats_prune(batch int DEFAULT 10000) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    horizon timestamptz := sms_otp._stats_horizon();
    keep    interval := coalesce(nullif(current_setting('sms_otp.stats_retention', true), ''), '400d')::interval;
    rollups timestamptz := date_trunc('day', now() - keep, 'UTC');
    n_log bigint := 0; n_events bigint := 0; n_sessions bigint := 0; n_rollups bigint := 0; n bigint;
BEGIN
    PERFORM sms_otp._require_service_role('prune the log');
    IF batch IS NULL OR batch NOT BETWEEN 1 AND 1000000 THEN
        PERFORM sms_otp._raise('invalid_batch', 400, 'batch must be between 1 and 1000000.');
    END IF;
    IF horizon > '-infinity' THEN
        DELETE FROM sms_otp.sms_messages_log l
        WHERE l.ctid = ANY (ARRAY(SELECT x.ctid FROM sms_otp.sms_messages_log x WHERE x.created_at < horizon LIMIT batch));
        GET DIAGNOSTICS n_log = ROW_COUNT;
        DELETE FROM sms_otp.sms_delivery_events e
        WHERE e.ctid = ANY (ARRAY(SELECT x.ctid FROM sms_otp.sms_delivery_events x WHERE x.received_at < horizon LIMIT batch));
        GET DIAGNOSTICS n_events = ROW_COUNT;
        -- A session whose code could still be entered stays, whatever its age.
        DELETE FROM sms_otp.sms_otp_sessions s
        WHERE s.ctid = ANY (ARRAY(SELECT x.ctid FROM sms_otp.sms_otp_sessions x
                                  WHERE x.created_at < horizon AND x.expires_at < now() LIMIT batch));
        GET DIAGNOSTICS n_sessions = ROW_COUNT;
    END IF;
    -- Live shards wait for compaction to fold them into the totals; the next prune takes them.
    DELETE FROM sms_otp.stats_messages s WHERE s.grain <> 't' AND s.shard = 0 AND s.start < rollups;
    GET DIAGNOSTICS n = ROW_COUNT;
    n_rollups := n;
    DELETE FROM sms_otp.stats_latency s WHERE s.grain <> 't' AND s.shard = 0 AND s.start < rollups;
    GET DIAGNOSTICS n = ROW_COUNT;
    n_rollups := n_rollups + n;
    DELETE FROM sms_otp.stats_otp s WHERE s.grain <> 't' AND s.shard = 0 AND s.start < rollups;
    GET DIAGNOSTICS n = ROW_COUNT;
    n_rollups := n_rollups + n;
    -- The SMS-pumping guard's decisions (past the same horizon), counters and ended blocks.
    PERFORM sms_otp._guard_prune(batch);
    RETURN jsonb_build_object('log', n_log, 'delivery_events', n_events, 'sessions', n_sessions, 'rollups', n_rollups);
END $$;
COMMENT ON FUNCTION sms_otp.stats_prune(int) IS
    'Delete raw rows past sms_otp.log_retention (a batch of each) and rollups past sms_otp.stats_retention.';

-- Recomputes the rollups of whole days from the raw rows, through the same code the triggers
-- run: [since, until) widened to whole days, and never before the retention horizon (the raw
-- rows of older days are gone, and their rollups stay as they are). Writes to the log and the
-- sessions wait meanwhile (SHARE lock), so no change is counted twice or lost. The update from
-- 1.0 runs it once for the history a 1.0 database holds. Returns the days and rows it read.
CREATE OR REPLACE FUNCTION sms_otp._stats_rebuild(since timestamptz, until timestamptz) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    first_day timestamptz;
    end_day   timestamptz;
    h         timestamptz;
    n_log     bigint := 0;
    n_sess    bigint := 0;
    log_rows     sms_otp.sms_messages_log[];
    session_rows sms_otp.sms_otp_sessions[];
BEGIN
    LOCK TABLE sms_otp.sms_messages_log, sms_otp.sms_otp_sessions IN SHARE MODE;
    -- The days that hold raw rows (least and greatest skip a table without any).
    first_day := date_trunc('day', least((SELECT min(l.created_at) FROM sms_otp.sms_messages_log l),
                                         (SELECT min(s.created_at) FROM sms_otp.sms_otp_sessions s)), 'UTC');
    end_day := date_trunc('day', greatest((SELECT max(l.created_at) FROM sms_otp.sms_messages_log l),
                                          (SELECT max(s.created_at) FROM sms_otp.sms_otp_sessions s)), 'UTC') + interval '24 hours';
    IF first_day IS NULL OR end_day IS NULL OR NOT isfinite(first_day) OR NOT isfinite(end_day) THEN
        RETURN jsonb_build_object('days', 0, 'log', 0, 'sessions', 0);
    END IF;
    first_day := greatest(first_day, date_trunc('day', since, 'UTC'), sms_otp._stats_horizon());
    end_day := least(end_day, date_trunc('day', until - interval '1 microsecond', 'UTC') + interval '24 hours');
    IF first_day >= end_day THEN
        RETURN jsonb_build_object('days', 0, 'log', 0, 'sessions', 0);
    END IF;
    -- The totals hold the folded hours of these days: they come off, and go on again as the
    -- rebuilt hours are folded.
    UPDATE sms_otp.stats_messages t
    SET attempted = t.attempted - x.attempted, accepted = t.accepted - x.accepted, rejected = t.rejected - x.rejected,
        retried = t.retried - x.retried, delivered = t.delivered - x.delivered,
        undelivered = t.undelivered - x.undelivered, failed = t.failed - x.failed,
        delivered_receipts = t.delivered_receipts - x.delivered_receipts,
        undelivered_receipts = t.undelivered_receipts - x.undelivered_receipts,
        failed_receipts = t.failed_receipts - x.failed_receipts, segments = t.segments - x.segments, cost = t.cost - x.cost
    FROM (SELECT h.provider, h.country, h.type, sum(h.attempted) AS attempted, sum(h.accepted) AS accepted,
                 sum(h.rejected) AS rejected, sum(h.retried) AS retried, sum(h.delivered) AS delivered,
                 sum(h.undelivered) AS undelivered, sum(h.failed) AS failed,
                 sum(h.delivered_receipts) AS delivered_receipts, sum(h.undelivered_receipts) AS undelivered_receipts,
                 sum(h.failed_receipts) AS failed_receipts, sum(h.segments) AS segments, sum(h.cost) AS cost
          FROM sms_otp.stats_messages h
          WHERE h.grain = 'h' AND h.shard = 0 AND h.start >= first_day AND h.start < end_day
          GROUP BY 1, 2, 3) x
    WHERE t.grain = 't' AND t.shard = 0 AND (t.provider, t.country, t.type) = (x.provider, x.country, x.type);
    UPDATE sms_otp.stats_latency t SET n = t.n - x.n, ms = t.ms - x.ms
    FROM (SELECT h.provider, h.country, h.type, h.stage, h.bucket, sum(h.n) AS n, sum(h.ms) AS ms
          FROM sms_otp.stats_latency h
          WHERE h.grain = 'h' AND h.shard = 0 AND h.start >= first_day AND h.start < end_day
          GROUP BY 1, 2, 3, 4, 5) x
    WHERE t.grain = 't' AND t.shard = 0
      AND (t.provider, t.country, t.type, t.stage, t.bucket) = (x.provider, x.country, x.type, x.stage, x.bucket);
    UPDATE sms_otp.stats_otp t
    SET requested = t.requested - x.requested, sent = t.sent - x.sent, delivered = t.delivered - x.delivered,
        entered = t.entered - x.entered, verified = t.verified - x.verified
    FROM (SELECT h.country, h.prefix, sum(h.requested) AS requested, sum(h.sent) AS sent, sum(h.delivered) AS delivered,
                 sum(h.entered) AS entered, sum(h.verified) AS verified
          FROM sms_otp.stats_otp h
          WHERE h.grain = 'h' AND h.shard = 0 AND h.start >= first_day AND h.start < end_day
          GROUP BY 1, 2) x
    WHERE t.grain = 't' AND t.shard = 0 AND (t.country, t.prefix) = (x.country, x.prefix);
    DELETE FROM sms_otp.stats_messages s WHERE s.grain <> 't' AND s.start >= first_day AND s.start < end_day;
    DELETE FROM sms_otp.stats_latency s WHERE s.grain <> 't' AND s.start >= first_day AND s.start < end_day;
    DELETE FROM sms_otp.stats_otp s WHERE s.grain <> 't' AND s.start >= first_day AND s.start < end_day;
    -- An hour at a time: the rows of one hour go through the triggers' code in one call.
    h := first_day;
    WHILE h < end_day LOOP
        SELECT array_agg(l) INTO log_rows
        FROM sms_otp.sms_messages_log l
        WHERE l.created_at >= h AND l.created_at < h + interval '1 hour' AND l.operation = 'send';
        IF log_rows IS NOT NULL THEN
            PERFORM sms_otp._stats_log_apply(log_rows, '{}', true);
            n_log := n_log + cardinality(log_rows);
        END IF;
        SELECT array_agg(s) INTO session_rows
        FROM sms_otp.sms_otp_sessions s WHERE s.created_at >= h AND s.created_at < h + interval '1 hour';
        IF session_rows IS NOT NULL THEN
            PERFORM sms_otp._stats_sessions_apply(session_rows, '{}', true);
            n_sess := n_sess + cardinality(session_rows);
        END IF;
        h := h + interval '1 hour';
    END LOOP;
    RETURN jsonb_build_object('days', extract(day FROM end_day - first_day)::int, 'log', n_log, 'sessions', n_sess);
END $$;

CREATE OR REPLACE FUNCTION sms_otp.stats_rebuild(since timestamptz DEFAULT '-infinity',
                                                 until timestamptz DEFAULT 'infinity') RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM sms_otp._require_service_role('rebuild the dashboards'' rollups');
    IF since IS NULL OR until IS NULL OR since >= until THEN
        PERFORM sms_otp._raise('invalid_range', 400, 'since and until must be times, since before until.');
    END IF;
    RETURN sms_otp._stats_rebuild(since, until);
END $$;
COMMENT ON FUNCTION sms_otp.stats_rebuild(timestamptz, timestamptz) IS
    'Recompute the dashboards'' rollups of whole days from the raw rows still kept; writes to the log and sessions wait meanwhile.';

-- The history already in the tables (a database updated from 1.0): nothing in a new install.
SELECT sms_otp._stats_rebuild('-infinity', 'infinity');

--------------------------------------------------------------------------------------------
-- Reads (service role only)
--------------------------------------------------------------------------------------------

-- The grain and the bucket start to read for a range: day rows for 'day' buckets and for
-- 'all' over more than two days, hour rows otherwise.
CREATE OR REPLACE FUNCTION sms_otp._stats_args(since timestamptz, until timestamptz, bucket text, dims text[])
RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF since IS NULL OR until IS NULL OR since > until THEN
        PERFORM sms_otp._raise('invalid_range', 400, 'since and until must be times, since before until.');
    END IF;
    IF bucket IS NULL OR bucket NOT IN ('hour', 'day', 'all') THEN
        PERFORM sms_otp._raise('invalid_bucket', 400, 'bucket must be hour, day or all.');
    END IF;
    IF dims IS NULL OR NOT dims <@ ARRAY['provider', 'country', 'type'] THEN
        PERFORM sms_otp._raise('invalid_dims', 400, 'dims may name provider, country and type.');
    END IF;
    IF bucket = 'hour' AND (NOT isfinite(since) OR NOT isfinite(until) OR until - since > interval '93 days') THEN
        PERFORM sms_otp._raise('range_too_long', 400, 'Hourly buckets cover at most 93 days; use day buckets.');
    END IF;
END $$;

-- Day rows cover whole days: a range read from them starts and ends on day boundaries.
CREATE OR REPLACE FUNCTION sms_otp._stats_grain(since timestamptz, until timestamptz, bucket text) RETURNS "char"
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN bucket = 'day'
                     OR (bucket = 'all' AND (NOT isfinite(since) OR NOT isfinite(until) OR until - since > interval '2 days'))
                THEN 'd' ELSE 'h' END::"char"
$$;

-- Each read takes the rollup rows of its range at its grain in its own statement (the day
-- rows, plus hour rows not yet folded into them), so the planner sees them as the table they
-- are: a function returning them could not be inlined (it pins its search_path).

-- A quantile from histogram counts (index i = bucket i of _stats_bounds()), interpolated
-- linearly within its bucket; the open last bucket answers its lower bound.
CREATE OR REPLACE FUNCTION sms_otp._stats_quantile(buckets smallint[], counts bigint[], q double precision)
RETURNS double precision LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    bounds int[] := sms_otp._stats_bounds();
    per    bigint[] := array_fill(0::bigint, ARRAY[cardinality(bounds) + 1]);
    total  bigint := 0;
    seen   bigint := 0;
    want   double precision;
    lo     double precision;
BEGIN
    FOR i IN 1 .. coalesce(cardinality(buckets), 0) LOOP
        per[buckets[i] + 1] := per[buckets[i] + 1] + counts[i];
        total := total + counts[i];
    END LOOP;
    IF total <= 0 THEN
        RETURN NULL;
    END IF;
    want := q * total;
    FOR b IN 1 .. cardinality(per) LOOP
        IF per[b] > 0 AND seen + per[b] >= want THEN
            lo := CASE WHEN b = 1 THEN 0 ELSE bounds[b - 1] END;
            IF b > cardinality(bounds) THEN
                RETURN lo;
            END IF;
            RETURN lo + (bounds[b] - lo) * greatest(want - seen, 0) / per[b];
        END IF;
        seen := seen + per[b];
    END LOOP;
    RETURN bounds[cardinality(bounds)];
END $$;

CREATE OR REPLACE FUNCTION sms_otp.dashboard_delivery(
    since timestamptz DEFAULT now() - interval '24 hours', until timestamptz DEFAULT now(),
    bucket text DEFAULT 'hour', dims text[] DEFAULT '{provider}')
RETURNS TABLE (bucket_start timestamptz, provider text, country text, type text, attempted bigint, accepted bigint,
               rejected bigint, retried bigint, delivered bigint, undelivered bigint, failed bigint, unknown bigint,
               delivery_rate numeric, unknown_share numeric, segments bigint, cost numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
#variable_conflict use_column
DECLARE
    rows_grain "char";
BEGIN
    PERFORM sms_otp._require_service_role('read the dashboards');
    PERFORM sms_otp._stats_args(since, until, bucket, dims);
    rows_grain := sms_otp._stats_grain(since, until, bucket);
    RETURN QUERY
    SELECT g.b, g.p, g.c, g.t, g.attempted, g.accepted, g.rejected, g.retried, g.delivered, g.undelivered, g.failed,
           g.accepted - g.delivered - g.undelivered - g.failed,
           round(g.delivered::numeric / nullif(g.delivered + g.undelivered + g.failed, 0), 4),
           round((g.accepted - g.delivered - g.undelivered - g.failed)::numeric / nullif(g.accepted, 0), 4),
           g.segments, g.cost
    FROM (SELECT CASE bucket WHEN 'all' THEN NULL WHEN 'day' THEN date_trunc('day', s.start, 'UTC') ELSE s.start END AS b,
                 CASE WHEN 'provider' = ANY (dims) THEN s.provider END AS p,
                 CASE WHEN 'country' = ANY (dims) THEN s.country END AS c,
                 CASE WHEN 'type' = ANY (dims) THEN s.type END AS t,
                 sum(s.attempted)::bigint AS attempted, sum(s.accepted)::bigint AS accepted,
                 sum(s.rejected)::bigint AS rejected, sum(s.retried)::bigint AS retried,
                 sum(s.delivered)::bigint AS delivered, sum(s.undelivered)::bigint AS undelivered,
                 sum(s.failed)::bigint AS failed, sum(s.segments)::bigint AS segments, sum(s.cost) AS cost
          FROM (SELECT x.* FROM sms_otp.stats_messages x
                WHERE rows_grain = 'h' AND x.grain = 'h' AND x.start >= date_trunc('hour', since, 'UTC') AND x.start < until
                UNION ALL
                SELECT x.* FROM sms_otp.stats_messages x
                WHERE rows_grain = 'd' AND x.grain = 'd' AND x.start >= date_trunc('day', since, 'UTC') AND x.start < until
                UNION ALL
                SELECT x.* FROM sms_otp.stats_messages x
                WHERE rows_grain = 'd' AND x.grain = 'h' AND x.shard > 0 AND x.start >= date_trunc('day', since, 'UTC')
                  AND x.start < until) s
          GROUP BY 1, 2, 3, 4) g
    ORDER BY 1, 2, 3, 4;
END $$;
COMMENT ON FUNCTION sms_otp.dashboard_delivery(timestamptz, timestamptz, text, text[]) IS
    'Attempts, receipts, delivery rate, parts and cost by hour or day and by provider, country and type. Service role only.';

CREATE OR REPLACE FUNCTION sms_otp.dashboard_latency(
    since timestamptz DEFAULT now() - interval '24 hours', until timestamptz DEFAULT now(),
    bucket text DEFAULT 'hour', dims text[] DEFAULT '{provider}')
RETURNS TABLE (bucket_start timestamptz, provider text, country text, type text, stage text, count bigint,
               p50_ms double precision, p95_ms double precision, p99_ms double precision)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
#variable_conflict use_column
DECLARE
    rows_grain "char";
    by_place   boolean := 'country' = ANY (dims) OR 'type' = ANY (dims);
BEGIN
    PERFORM sms_otp._require_service_role('read the dashboards');
    PERFORM sms_otp._stats_args(since, until, bucket, dims);
    rows_grain := sms_otp._stats_grain(since, until, bucket);
    RETURN QUERY
    SELECT h.b, h.p, h.c, h.t, h.stage, sum(h.n)::bigint,
           round(sms_otp._stats_quantile(array_agg(h.bucket), array_agg(h.n), 0.50)::numeric, 1)::double precision,
           round(sms_otp._stats_quantile(array_agg(h.bucket), array_agg(h.n), 0.95)::numeric, 1)::double precision,
           round(sms_otp._stats_quantile(array_agg(h.bucket), array_agg(h.n), 0.99)::numeric, 1)::double precision
    FROM (SELECT CASE dashboard_latency.bucket WHEN 'all' THEN NULL WHEN 'day' THEN date_trunc('day', s.start, 'UTC') ELSE s.start END AS b,
                 CASE WHEN 'provider' = ANY (dims) THEN s.provider END AS p,
                 CASE WHEN 'country' = ANY (dims) THEN s.country END AS c,
                 CASE WHEN 'type' = ANY (dims) THEN s.type END AS t,
                 s.stage, s.bucket, sum(s.n)::bigint AS n
          FROM (SELECT x.* FROM sms_otp.stats_latency x
                WHERE rows_grain = 'h' AND x.grain = 'h' AND x.start >= date_trunc('hour', since, 'UTC') AND x.start < until
                UNION ALL
                SELECT x.* FROM sms_otp.stats_latency x
                WHERE rows_grain = 'd' AND by_place AND x.grain = 'd' AND x.start >= date_trunc('day', since, 'UTC') AND x.start < until
                UNION ALL
                -- By provider alone: the folded days' provider rows.
                SELECT x.* FROM sms_otp.stats_latency x
                WHERE rows_grain = 'd' AND NOT by_place AND x.grain = 'p' AND x.start >= date_trunc('day', since, 'UTC')
                  AND x.start < until
                UNION ALL
                SELECT x.* FROM sms_otp.stats_latency x
                WHERE rows_grain = 'd' AND x.grain = 'h' AND x.shard > 0 AND x.start >= date_trunc('day', since, 'UTC')
                  AND x.start < until) s
          GROUP BY 1, 2, 3, 4, 5, 6
          HAVING sum(s.n) <> 0) h
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5;
END $$;
COMMENT ON FUNCTION sms_otp.dashboard_latency(timestamptz, timestamptz, text, text[]) IS
    'Latency percentiles (send: queued to accepted; delivery: accepted to delivered) by hour or day and by provider, country and type. Service role only.';

CREATE OR REPLACE FUNCTION sms_otp.dashboard_otp(
    since timestamptz DEFAULT now() - interval '24 hours', until timestamptz DEFAULT now(),
    "by" text DEFAULT 'country', top int DEFAULT 50)
RETURNS TABLE (country text, prefix text, requested bigint, sent bigint, delivered bigint, entered bigint,
               verified bigint, conversion numeric, never_entered numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
#variable_conflict use_column
DECLARE
    rows_grain "char";
BEGIN
    PERFORM sms_otp._require_service_role('read the dashboards');
    PERFORM sms_otp._stats_args(since, until, 'all', '{}');
    IF "by" IS NULL OR "by" NOT IN ('country', 'prefix') THEN
        PERFORM sms_otp._raise('invalid_by', 400, 'by must be country or prefix.');
    END IF;
    IF top IS NULL OR top NOT BETWEEN 1 AND 1000 THEN
        PERFORM sms_otp._raise('invalid_top', 400, 'top must be between 1 and 1000.');
    END IF;
    rows_grain := sms_otp._stats_grain(since, until, 'all');
    RETURN QUERY
    SELECT g.c, g.p, g.requested, g.sent, g.delivered, g.entered, g.verified,
           round(g.verified::numeric / nullif(g.sent, 0), 4),
           round(greatest(g.sent - g.entered, 0)::numeric / nullif(g.sent, 0), 4)
    FROM (SELECT s.country AS c, CASE WHEN "by" = 'prefix' THEN s.prefix END AS p,
                 sum(s.requested)::bigint AS requested, sum(s.sent)::bigint AS sent,
                 sum(s.delivered)::bigint AS delivered, sum(s.entered)::bigint AS entered,
                 sum(s.verified)::bigint AS verified
          FROM (SELECT x.* FROM sms_otp.stats_otp x
                WHERE rows_grain = 'h' AND x.grain = 'h' AND x.start >= date_trunc('hour', since, 'UTC') AND x.start < until
                UNION ALL
                SELECT x.* FROM sms_otp.stats_otp x
                WHERE rows_grain = 'd' AND x.grain = 'd' AND x.start >= date_trunc('day', since, 'UTC') AND x.start < until
                UNION ALL
                SELECT x.* FROM sms_otp.stats_otp x
                WHERE rows_grain = 'd' AND x.grain = 'h' AND x.shard > 0 AND x.start >= date_trunc('day', since, 'UTC')
                  AND x.start < until) s
          GROUP BY 1, 2) g
    WHERE g.requested <> 0 OR g.sent <> 0 OR g.delivered <> 0
    ORDER BY g.sent DESC, g.requested DESC, 1, 2
    LIMIT top;
END $$;
COMMENT ON FUNCTION sms_otp.dashboard_otp(timestamptz, timestamptz, text, int) IS
    'The code funnel (requested, sent, delivered, entered, verified; conversion, share never entered) by country or number prefix. Service role only.';

CREATE OR REPLACE FUNCTION sms_otp.dashboard_campaigns(since timestamptz DEFAULT now() - interval '30 days', top int DEFAULT 20)
RETURNS TABLE (campaign_id bigint, name text, status text, pause_reason text, recipients int, pending int, sent int,
               delivered int, failed int, skipped int, stops int, progress numeric, delivery_rate numeric,
               stop_rate numeric, created_at timestamptz, launched_at timestamptz, finished_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    PERFORM sms_otp._require_service_role('read the dashboards');
    IF top IS NULL OR top NOT BETWEEN 1 AND 1000 THEN
        PERFORM sms_otp._raise('invalid_top', 400, 'top must be between 1 and 1000.');
    END IF;
    RETURN QUERY
    SELECT c.id, c.name, c.status, c.pause_reason, c.recipients, c.pending, c.sent, c.delivered, c.failed, c.skipped,
           c.stops,
           round((c.recipients - c.pending)::numeric / nullif(c.recipients, 0), 4),
           round(c.delivered::numeric / nullif(c.delivered + c.failed, 0), 4),
           round(c.stops::numeric / nullif(c.sent + c.delivered + c.failed, 0), 4),
           c.created_at, c.launched_at, c.finished_at
    FROM sms_otp.sms_campaigns c
    WHERE c.status IN ('scheduled', 'running', 'paused') OR c.created_at >= since OR c.finished_at >= since
    ORDER BY c.status IN ('scheduled', 'running', 'paused') DESC, c.id DESC
    LIMIT top;
END $$;
COMMENT ON FUNCTION sms_otp.dashboard_campaigns(timestamptz, int) IS
    'Campaigns active or started since: counts, progress, delivery and STOP rates. Service role only.';

CREATE OR REPLACE FUNCTION sms_otp.dashboard_queue()
RETURNS TABLE (lane text, queued bigint, due bigint, leased bigint, oldest_age_s double precision)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    PERFORM sms_otp._require_service_role('read the dashboards');
    -- Each lane through its own partial index (status = 'queued' AND kind = lane).
    RETURN QUERY
    SELECT l.lane, q.queued, q.due, q.leased, coalesce(q.oldest, 0)
    FROM unnest(ARRAY['otp', 'transactional', 'promo']) WITH ORDINALITY l(lane, ord)
    CROSS JOIN LATERAL (
        SELECT count(*) AS queued,
               count(*) FILTER (WHERE o.next_attempt_at <= now()) AS due,
               count(*) FILTER (WHERE o.lease_until > now()) AS leased,
               extract(epoch FROM now() - min(o.created_at) FILTER (WHERE o.next_attempt_at <= now()
                                                                    OR o.lease_until > now()))::double precision AS oldest
        FROM sms_otp.sms_outbox o WHERE o.status = 'queued' AND o.kind = l.lane) q
    ORDER BY l.ord;
END $$;
COMMENT ON FUNCTION sms_otp.dashboard_queue() IS
    'Queue depth per lane: queued, due, leased (in flight), and the age of the oldest due or leased message. Service role only.';

CREATE OR REPLACE FUNCTION sms_otp.dashboard_providers()
RETURNS TABLE (name text, kind text, priority int, enabled boolean, available boolean,
               breaker_open_until timestamptz, backoff_until timestamptz, credentials_refused boolean,
               consecutive_failures int, last_status int, in_flight int, max_concurrent int, worker_running boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    ws jsonb;
BEGIN
    PERFORM sms_otp._require_service_role('read the dashboards');
    ws := sms_otp.worker_status();
    RETURN QUERY
    SELECT a.name, a.kind, a.priority, a.enabled,
           CASE WHEN a.enabled THEN coalesce((w ->> 'available')::boolean, true) ELSE false END,
           (w ->> 'breaker_open_until')::timestamptz, (w ->> 'backoff_until')::timestamptz,
           coalesce((w ->> 'credentials_refused')::boolean, false), coalesce((w ->> 'consecutive_failures')::int, 0),
           (w ->> 'last_status')::int, coalesce((w ->> 'in_flight')::int, 0), a.max_concurrent,
           coalesce((ws ->> 'running')::boolean, false)
    FROM sms_otp.api_integrations a
    LEFT JOIN LATERAL (SELECT p FROM jsonb_array_elements(coalesce(ws -> 'providers', '[]')) p
                       WHERE p ->> 'name' = a.name LIMIT 1) x(w) ON true
    ORDER BY a.enabled DESC, a.priority, a.name;
END $$;
COMMENT ON FUNCTION sms_otp.dashboard_providers() IS
    'Each provider''s health: enabled, available, breaker, backoff, refused credentials, failures, in flight. Service role only.';
