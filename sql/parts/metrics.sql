--------------------------------------------------------------------------------------------
-- Prometheus metrics: GET /rpc/metrics with the service role's token, in the text exposition
-- format 0.0.4. The figures are the dashboards' (the rollups, the queue, worker_status()).
--
-- PostgREST answers a function with the media type of its return type's domain; "*/*" is its
-- handler for any Accept header (Prometheus asks for openmetrics first, then text/plain, then
-- */*), and the function names the real Content-Type itself.
--------------------------------------------------------------------------------------------

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                   WHERE n.nspname = 'sms_otp' AND t.typname = '*/*') THEN
        CREATE DOMAIN sms_otp."*/*" AS bytea;
    END IF;
END $$;

-- A label value in the exposition format: backslash, double quote and newline escaped.
CREATE OR REPLACE FUNCTION sms_otp._metric_label(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT replace(replace(replace(coalesce(value, ''), '\', '\\'), '"', '\"'), E'\n', '\n')
$$;

-- One sample line: name{k="v",...} value. labels: a JSON object, its keys in order.
CREATE OR REPLACE FUNCTION sms_otp._metric_line(name text, labels jsonb, value numeric) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT name
           || CASE WHEN labels IS NULL OR labels = '{}' THEN ''
                   ELSE '{' || (SELECT string_agg(l.key || '="' || sms_otp._metric_label(l.value) || '"', ',' ORDER BY l.key)
                                FROM jsonb_each_text(labels) l) || '}' END
           || ' ' || CASE WHEN value IS NULL THEN 'NaN' ELSE value::text END
$$;

-- HELP and TYPE, then the samples.
CREATE OR REPLACE FUNCTION sms_otp._metric_family(name text, kind text, help text, lines text[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT '# HELP ' || name || ' ' || help || E'\n# TYPE ' || name || ' ' || kind || E'\n'
           || coalesce((SELECT string_agg(x, E'\n') FROM unnest(lines) x) || E'\n', '')
$$;

CREATE OR REPLACE FUNCTION sms_otp.metrics() RETURNS sms_otp."*/*"
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    bounds int[] := sms_otp._stats_bounds();
    ws     jsonb;
    out    text;
BEGIN
    PERFORM sms_otp._require_service_role('read the metrics');
    PERFORM set_config('response.headers', '[{"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}]', true);
    ws := sms_otp.worker_status();

    -- Counters: the totals (grain 't', never pruned) and the hours not folded into them yet;
    -- receipts count each move into a final state, so no counter goes down. Gauges: the
    -- queue, the worker, the providers and the active campaigns now.
    -- The large families are written with format() in this statement, their labels escaped once
    -- a row (a helper call per line costs tens of microseconds).
    WITH m AS MATERIALIZED (
        SELECT sms_otp._metric_label(s.provider) AS provider, sms_otp._metric_label(s.country) AS country,
               sms_otp._metric_label(s.type) AS type, sum(s.accepted) AS accepted, sum(s.rejected) AS rejected,
               sum(s.retried) AS retried, sum(s.delivered_receipts) AS delivered,
               sum(s.undelivered_receipts) AS undelivered, sum(s.failed_receipts) AS failed,
               sum(s.segments) AS segments, sum(s.cost) AS cost
        FROM sms_otp.stats_messages s
        WHERE s.grain = 't' OR (s.grain = 'h' AND s.shard > 0)
        GROUP BY 1, 2, 3),
    h AS MATERIALIZED (
        SELECT s.provider, s.stage, s.bucket, sum(s.n) AS n, sum(s.ms) AS ms
        FROM sms_otp.stats_latency s
        WHERE s.grain = 't' OR (s.grain = 'h' AND s.shard > 0)
        GROUP BY 1, 2, 3),
    hk AS MATERIALIZED (SELECT h.provider, h.stage, sum(h.n) AS n, sum(h.ms) AS ms FROM h GROUP BY 1, 2),
    f AS MATERIALIZED (
        SELECT sms_otp._metric_label(s.country) AS country, sum(s.requested) AS requested, sum(s.sent) AS sent, sum(s.delivered) AS delivered,
               sum(s.entered) AS entered, sum(s.verified) AS verified
        FROM sms_otp.stats_otp s WHERE s.grain = 't' OR (s.grain = 'h' AND s.shard > 0) GROUP BY 1),
    q AS MATERIALIZED (SELECT * FROM sms_otp.dashboard_queue()),
    p AS MATERIALIZED (SELECT * FROM sms_otp.dashboard_providers())
    SELECT
        sms_otp._metric_family('sms_otp_attempts_total', 'counter',
            'Provider attempts by outcome (accepted, rejected, retried).',
            ARRAY(SELECT format('sms_otp_attempts_total{country="%s",outcome="%s",provider="%s",type="%s"} %s',
                                m.country, o.outcome, m.provider, m.type, o.n)
                  FROM m, LATERAL (VALUES ('accepted', m.accepted), ('rejected', m.rejected), ('retried', m.retried)) o(outcome, n)
                  ORDER BY m.provider, m.country, m.type, o.outcome))
     || sms_otp._metric_family('sms_otp_receipts_total', 'counter',
            'Receipts that moved an accepted message into a final state (delivered, undelivered, failed).',
            ARRAY(SELECT format('sms_otp_receipts_total{country="%s",provider="%s",status="%s",type="%s"} %s',
                                m.country, m.provider, o.status, m.type, o.n)
                  FROM m, LATERAL (VALUES ('delivered', m.delivered), ('undelivered', m.undelivered), ('failed', m.failed)) o(status, n)
                  ORDER BY m.provider, m.country, m.type, o.status))
     || sms_otp._metric_family('sms_otp_segments_total', 'counter', 'SMS parts accepted by providers.',
            ARRAY(SELECT format('sms_otp_segments_total{country="%s",provider="%s",type="%s"} %s',
                                m.country, m.provider, m.type, m.segments)
                  FROM m ORDER BY m.provider, m.country, m.type))
     || sms_otp._metric_family('sms_otp_cost_total', 'counter',
            'Spend: accepted parts times sms_otp.sms_prices, in the prices'' currency.',
            ARRAY(SELECT format('sms_otp_cost_total{country="%s",provider="%s",type="%s"} %s',
                                m.country, m.provider, m.type, m.cost)
                  FROM m ORDER BY m.provider, m.country, m.type))
     || sms_otp._metric_family('sms_otp_latency_seconds', 'histogram',
            'Latency: stage send is queued to provider accepted, stage delivery is accepted to delivered.',
            ARRAY(SELECT x.line FROM (
                      SELECT k.provider, k.stage, b.i AS ord,
                             sms_otp._metric_line('sms_otp_latency_seconds_bucket',
                                 jsonb_build_object('provider', k.provider, 'stage', k.stage,
                                                    'le', CASE WHEN b.i > cardinality(bounds) THEN '+Inf'
                                                               ELSE (bounds[b.i] / 1000.0)::float8::text END),
                                 (SELECT coalesce(sum(h.n), 0) FROM h
                                  WHERE h.provider = k.provider AND h.stage = k.stage AND h.bucket < b.i)) AS line
                      FROM hk k CROSS JOIN generate_series(1, cardinality(bounds) + 1) b(i)
                      UNION ALL
                      SELECT k.provider, k.stage, 1000000,
                             sms_otp._metric_line('sms_otp_latency_seconds_sum',
                                 jsonb_build_object('provider', k.provider, 'stage', k.stage), round((k.ms / 1000.0)::numeric, 3))
                      FROM hk k
                      UNION ALL
                      SELECT k.provider, k.stage, 1000001,
                             sms_otp._metric_line('sms_otp_latency_seconds_count',
                                 jsonb_build_object('provider', k.provider, 'stage', k.stage), k.n)
                      FROM hk k) x
                  ORDER BY x.provider, x.stage, x.ord))
     || sms_otp._metric_family('sms_otp_codes_total', 'counter',
            'The code funnel by country: requested, sent, delivered, entered (a guess made), verified.',
            ARRAY(SELECT format('sms_otp_codes_total{country="%s",stage="%s"} %s', f.country, o.stage, o.n)
                  FROM f, LATERAL (VALUES ('requested', f.requested), ('sent', f.sent), ('delivered', f.delivered),
                                          ('entered', f.entered), ('verified', f.verified)) o(stage, n)
                  ORDER BY f.country, o.stage))
     -- The SMS-pumping guard (guard.sql): its totals are never pruned.
     || sms_otp._metric_family('sms_otp_guard_decisions_total', 'counter',
            'Codes judged by the SMS-pumping guard, by outcome (allowed, flagged, refused).',
            ARRAY(SELECT sms_otp._metric_line('sms_otp_guard_decisions_total', jsonb_build_object('outcome', g.key), sum(g.sent))
                  FROM sms_otp.guard_counts g WHERE g.scope = 'o' AND g.grain = 't' GROUP BY g.key ORDER BY g.key))
     || sms_otp._metric_family('sms_otp_guard_rules_total', 'counter',
            'Rules of the SMS-pumping guard that fired, by rule and the outcome of their decision.',
            ARRAY(SELECT sms_otp._metric_line('sms_otp_guard_rules_total',
                      jsonb_build_object('outcome', split_part(g.key, ':', 2), 'rule', split_part(g.key, ':', 1)), sum(g.sent))
                  FROM sms_otp.guard_counts g WHERE g.scope = 'r' AND g.grain = 't' GROUP BY g.key ORDER BY g.key))
     || sms_otp._metric_family('sms_otp_queue_messages', 'gauge', 'Queued messages by lane and state (due, leased, waiting).',
            ARRAY(SELECT sms_otp._metric_line('sms_otp_queue_messages', jsonb_build_object('lane', q.lane, 'state', o.state), o.n)
                  FROM q, LATERAL (VALUES ('due', q.due), ('leased', q.leased),
                                          ('waiting', greatest(q.queued - q.due - q.leased, 0))) o(state, n)
                  ORDER BY q.lane, o.state))
     || sms_otp._metric_family('sms_otp_queue_oldest_age_seconds', 'gauge',
            'Age of the oldest due or leased message of a lane (0 when none).',
            ARRAY(SELECT sms_otp._metric_line('sms_otp_queue_oldest_age_seconds', jsonb_build_object('lane', q.lane),
                                              round(q.oldest_age_s::numeric, 3))
                  FROM q ORDER BY q.lane))
     || sms_otp._metric_family('sms_otp_worker_up', 'gauge', 'Whether delivery worker 1 of this database runs.',
            ARRAY[sms_otp._metric_line('sms_otp_worker_up', NULL,
                                       CASE WHEN coalesce((ws ->> 'running')::boolean, false) THEN 1 ELSE 0 END)])
     || sms_otp._metric_family('sms_otp_provider_available', 'gauge',
            'Whether a provider takes messages now (enabled, not in 429 backoff, breaker closed).',
            ARRAY(SELECT sms_otp._metric_line('sms_otp_provider_available', jsonb_build_object('provider', p.name),
                                              p.available::int) FROM p ORDER BY p.name))
     || sms_otp._metric_family('sms_otp_provider_breaker_open', 'gauge', 'Whether a provider''s breaker is open.',
            ARRAY(SELECT sms_otp._metric_line('sms_otp_provider_breaker_open', jsonb_build_object('provider', p.name),
                                              coalesce(p.breaker_open_until > now(), false)::int)
                  FROM p ORDER BY p.name))
     || sms_otp._metric_family('sms_otp_provider_in_flight', 'gauge', 'A provider''s requests open or waiting in a transport.',
            ARRAY(SELECT sms_otp._metric_line('sms_otp_provider_in_flight', jsonb_build_object('provider', p.name), p.in_flight)
                  FROM p ORDER BY p.name))
     || sms_otp._metric_family('sms_otp_campaign_recipients', 'gauge',
            'Recipients of scheduled, running and paused campaigns by state.',
            ARRAY(SELECT sms_otp._metric_line('sms_otp_campaign_recipients',
                      jsonb_build_object('campaign', c.id::text, 'name', c.name, 'state', o.state), o.n)
                  FROM sms_otp.sms_campaigns c,
                       LATERAL (VALUES ('pending', c.pending), ('sent', c.sent), ('delivered', c.delivered),
                                       ('failed', c.failed), ('skipped', c.skipped), ('stopped', c.stops)) o(state, n)
                  WHERE c.status IN ('scheduled', 'running', 'paused')
                  ORDER BY c.id, o.state))
    INTO out;
    RETURN convert_to(out, 'UTF8');
END $$;
COMMENT ON FUNCTION sms_otp.metrics() IS
    'Prometheus text exposition of the dashboards'' figures. Service role only. GET /rpc/metrics.';
