-- Dashboards: each read against figures computed by hand on a fixed data set (receipts out of
-- order, unknowns, a late receipt), the rollups against a full recomputation after random
-- inserts, late receipts, compaction and retention, and who may read them.
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(49);

-- The roles come from test/roles.sql (anon, authenticated, service_role).
INSERT INTO sms_otp.sms_prices (provider_name, country, price_per_segment)
VALUES ('twilio', 'US', 0.01), ('vonage', '*', 0.02), ('*', '*', 0.05);

-- A fixed day: hour 10 and hour 11 of 2026-01-05.
INSERT INTO sms_otp.sms_messages_log ("to", type, provider_name, outcome, response_time_ms, segments, requested_at,
                                      queued_at, created_at, delivery_status, delivery_at, outbox_id, provider_message_id)
VALUES
    -- 1: a code, delivered (its receipt came while in flight): send 300 ms, delivery 2 s
    ('+14155550101', 'otp', 'twilio', 'sent', 200, 1, '2026-01-05 10:10:00+00', '2026-01-05 10:09:59.9+00',
     '2026-01-05 10:10:00.2+00', 'delivered', '2026-01-05 10:10:02.2+00', 1, 'm1'),
    -- 2: a code; its receipts come later, out of order
    ('+14155550102', 'otp', 'twilio', 'sent', 100, 1, '2026-01-05 10:20:00+00', NULL,
     '2026-01-05 10:20:00.1+00', NULL, NULL, 2, 'm2'),
    -- 3: transactional, 2 parts, accepted, then failed
    ('+447400123456', 'transactional', 'vonage', 'sent', 100, 2, '2026-01-05 10:30:00+00', NULL,
     '2026-01-05 10:30:00.1+00', NULL, NULL, 3, 'm3'),
    -- 4: transactional, rejected
    ('+447400123457', 'transactional', 'vonage', 'rejected', 100, 1, '2026-01-05 10:31:00+00', NULL,
     '2026-01-05 10:31:00.1+00', NULL, NULL, 4, NULL),
    -- 5: promo, accepted, never a receipt (unknown): send 2 s
    ('+33612345678', 'promo', 'twilio', 'sent', 1000, 1, '2026-01-05 11:05:00+00', '2026-01-05 11:04:59+00',
     '2026-01-05 11:05:01+00', NULL, NULL, 5, 'm5'),
    -- 6: promo, to be retried
    ('+33612345679', 'promo', 'twilio', 'retry', 100, 1, '2026-01-05 11:06:00+00', NULL,
     '2026-01-05 11:06:00.1+00', NULL, NULL, 6, NULL);
-- Receipts as _apply_receipt writes them: one row a statement, upwards only.
UPDATE sms_otp.sms_messages_log SET delivery_status = 'undelivered', delivery_at = '2026-01-05 10:20:05.1+00' WHERE provider_message_id = 'm2';
UPDATE sms_otp.sms_messages_log SET delivery_status = 'delivered', delivery_at = '2026-01-05 10:20:10.1+00' WHERE provider_message_id = 'm2';
UPDATE sms_otp.sms_messages_log SET delivery_status = 'failed', delivery_at = '2026-01-05 10:30:09+00' WHERE provider_message_id = 'm3';

-- Code sessions for +1415555...: one verified after a guess, one sent and never entered, one
-- never sent.
INSERT INTO sms_otp.sms_otp_sessions (id, user_id, phone, status, max_attempts, expires_at, resend_available_at, created_at)
VALUES ('00000000-0000-4000-8000-00000000000a', gen_random_uuid(), '+14155550101', 'pending', 5, '2026-01-05 10:15:00+00', '2026-01-05 10:10:30+00', '2026-01-05 10:10:00+00'),
       ('00000000-0000-4000-8000-00000000000b', gen_random_uuid(), '+14155550102', 'pending', 5, '2026-01-05 10:25:00+00', '2026-01-05 10:20:30+00', '2026-01-05 10:20:00+00'),
       ('00000000-0000-4000-8000-00000000000c', gen_random_uuid(), '+14155550103', 'pending', 5, '2026-01-05 10:45:00+00', '2026-01-05 10:40:30+00', '2026-01-05 10:40:00+00');
UPDATE sms_otp.sms_otp_sessions SET status = 'sent', sent_at = created_at + interval '1 s'
WHERE id IN ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000b');
UPDATE sms_otp.sms_otp_sessions SET attempts = 1 WHERE id = '00000000-0000-4000-8000-00000000000a';
UPDATE sms_otp.sms_otp_sessions SET status = 'verified', verified_at = created_at + interval '30 s'
WHERE id = '00000000-0000-4000-8000-00000000000a';
UPDATE sms_otp.sms_otp_sessions SET status = 'expired' WHERE id = '00000000-0000-4000-8000-00000000000b';
UPDATE sms_otp.sms_otp_sessions SET status = 'failed' WHERE id = '00000000-0000-4000-8000-00000000000c';

SET LOCAL ROLE service_role;

--------------------------------------------------------------------------------------------
-- Delivery
--------------------------------------------------------------------------------------------
SELECT results_eq(
    $$SELECT provider, attempted, accepted, rejected, retried, delivered, undelivered, failed, unknown,
             delivery_rate, unknown_share, segments, cost
      FROM sms_otp.dashboard_delivery('2026-01-05', '2026-01-06', 'all', '{provider}')$$,
    $$VALUES ('twilio'::text, 4::bigint, 3::bigint, 0::bigint, 1::bigint, 2::bigint, 0::bigint, 0::bigint, 1::bigint,
              1.0000::numeric, 0.3333::numeric, 3::bigint, 0.07::numeric),
             ('vonage', 2, 1, 1, 0, 0, 0, 1, 0, 0.0000, 0.0000, 2, 0.04)$$,
    'delivery by provider: attempts, outcomes, receipts (the late delivered over undelivered), unknowns apart, parts and cost');
SELECT results_eq(
    $$SELECT bucket_start, type, attempted, delivered, failed, unknown
      FROM sms_otp.dashboard_delivery('2026-01-05', '2026-01-06', 'hour', '{type}')$$,
    $$VALUES ('2026-01-05 10:00+00'::timestamptz, 'otp'::text, 2::bigint, 2::bigint, 0::bigint, 0::bigint),
             ('2026-01-05 10:00+00', 'transactional', 2, 0, 1, 0),
             ('2026-01-05 11:00+00', 'promo', 2, 0, 0, 1)$$,
    'delivery by hour and type');
SELECT results_eq(
    $$SELECT country, attempted, cost FROM sms_otp.dashboard_delivery('2026-01-05', '2026-01-06', 'all', '{country}')$$,
    $$VALUES ('FR'::text, 2::bigint, 0.05::numeric), ('GB', 2, 0.04), ('US', 2, 0.02)$$,
    'delivery by country: the most specific price wins (twilio/US, vonage/*, then */*)');
SELECT results_eq(
    $$SELECT bucket_start, attempted FROM sms_otp.dashboard_delivery('2026-01-05 11:00', '2026-01-05 12:00', 'hour', '{}')$$,
    $$VALUES ('2026-01-05 11:00+00'::timestamptz, 2::bigint)$$,
    'a range reads its hours only');

--------------------------------------------------------------------------------------------
-- Latency (histogram buckets: 250-500 ms, 1-2.5 s, 5-10 s)
--------------------------------------------------------------------------------------------
SELECT results_eq(
    $$SELECT provider, stage, count, p50_ms, p99_ms
      FROM sms_otp.dashboard_latency('2026-01-05', '2026-01-06', 'all', '{provider}')$$,
    $$VALUES ('twilio'::text, 'delivery'::text, 2::bigint, 2500::float8, 9900::float8),
             ('twilio', 'send', 2, 500, 2470)$$,
    'latency: send (queued to accepted: 300 ms, 2 s) and delivery (2 s, and 10 s for the late receipt), interpolated in their buckets');

--------------------------------------------------------------------------------------------
-- The code funnel
--------------------------------------------------------------------------------------------
SELECT results_eq(
    $$SELECT country, prefix, requested, sent, delivered, entered, verified, conversion, never_entered
      FROM sms_otp.dashboard_otp('2026-01-05', '2026-01-06')$$,
    $$VALUES ('US'::text, NULL::text, 3::bigint, 2::bigint, 2::bigint, 1::bigint, 1::bigint, 0.5000::numeric, 0.5000::numeric)$$,
    'the funnel: 3 requested, 2 sent, 2 delivered, 1 entered, 1 verified');
SELECT results_eq(
    $$SELECT prefix, requested FROM sms_otp.dashboard_otp('2026-01-05', '2026-01-06', 'prefix')$$,
    $$VALUES ('+141555'::text, 3::bigint)$$,
    'the funnel by number prefix');

--------------------------------------------------------------------------------------------
-- Compaction keeps every figure
--------------------------------------------------------------------------------------------
RESET ROLE;
CREATE TEMP TABLE before_compact AS
SELECT * FROM sms_otp.dashboard_delivery('2026-01-05', '2026-01-06', 'hour', '{provider,country,type}');
CREATE TEMP TABLE before_compact_latency AS
SELECT * FROM sms_otp.dashboard_latency('2026-01-05', '2026-01-06', 'hour', '{provider,country,type}');
SELECT is(sms_otp.stats_compact(), 2, 'compaction folds the two closed hours');
SELECT is((SELECT count(*)::int FROM sms_otp.stats_messages WHERE shard > 0), 0, 'no live shard is left in closed hours');
SELECT set_eq('SELECT * FROM sms_otp.dashboard_delivery(''2026-01-05'', ''2026-01-06'', ''hour'', ''{provider,country,type}'')',
              'SELECT * FROM before_compact', 'hourly figures are the same after compaction');
SELECT set_eq('SELECT * FROM sms_otp.dashboard_latency(''2026-01-05'', ''2026-01-06'', ''hour'', ''{provider,country,type}'')',
              'SELECT * FROM before_compact_latency', 'latency is the same after compaction');
SELECT results_eq(
    $$SELECT bucket_start, attempted, delivered FROM sms_otp.dashboard_delivery('2026-01-05', '2026-01-06', 'day', '{}')$$,
    $$VALUES ('2026-01-05 00:00+00'::timestamptz, 6::bigint, 2::bigint)$$,
    'day rows hold the folded hours');
-- A receipt after compaction lands in a live shard of its hour and still counts.
UPDATE sms_otp.sms_messages_log SET delivery_status = 'delivered', delivery_at = '2026-01-06 09:00+00' WHERE provider_message_id = 'm5';
SELECT results_eq(
    $$SELECT delivered, unknown FROM sms_otp.dashboard_delivery('2026-01-05', '2026-01-06', 'day', '{}')$$,
    $$VALUES (3::bigint, 0::bigint)$$,
    'a receipt that comes after compaction counts in the day read');
SELECT is(sms_otp.stats_compact(), 1, 'and is folded in turn');
SELECT results_eq(
    $$SELECT delivered, unknown FROM sms_otp.dashboard_delivery('2026-01-05', '2026-01-06', 'all', '{}')$$,
    $$VALUES (3::bigint, 0::bigint)$$,
    'the same after folding');

SELECT matches(convert_from(sms_otp.metrics()::bytea, 'UTF8'),
               'sms_otp_receipts_total\{country="US",provider="twilio",status="undelivered",type="otp"\} 1\n',
               'metrics: a receipt that moved a message to undelivered counts, though a later one made it delivered');
SELECT matches(convert_from(sms_otp.metrics()::bytea, 'UTF8'),
               'sms_otp_receipts_total\{country="US",provider="twilio",status="delivered",type="otp"\} 2\n',
               'metrics: and the delivered receipts count too');
SELECT is((SELECT count(*)::int FROM sms_otp.dashboard_delivery('-infinity', 'infinity', 'all', '{}')), 1,
          'an endless range in one bucket reads day rows');

--------------------------------------------------------------------------------------------
-- Rollups against a full recomputation: random attempts, receipts in any order, compaction
--------------------------------------------------------------------------------------------
SELECT setseed(0.42);
INSERT INTO sms_otp.sms_messages_log ("to", type, provider_name, outcome, response_time_ms, segments, requested_at,
                                      queued_at, created_at, delivery_status, delivery_at, outbox_id, provider_message_id)
SELECT (ARRAY['+1415555', '+4474001', '+3361234', '+4915123', '+8190123'])[1 + (i % 5)] || lpad((i % 9973)::text, 4, '0'),
       (ARRAY['otp', 'transactional', 'promo'])[1 + (i % 3)],
       (ARRAY['twilio', 'vonage', 'plivo', NULL])[1 + (i % 4)],
       (ARRAY['sent', 'sent', 'sent', 'rejected', 'retry', 'throttled', 'auth_failed'])[1 + (i % 7)],
       (random() * 3000)::int, 1 + (i % 3), t, t - random() * interval '20 s', t + interval '0.5 s',
       (ARRAY[NULL, 'delivered', 'accepted'])[1 + (i % 3)], t + random() * interval '40 s', 1000 + i, 'r' || i
FROM generate_series(1, 3000) i, LATERAL (SELECT '2026-02-01'::timestamptz + (random() + i * 0) * interval '3 days' AS t) x;
-- Receipts, one statement each and some in a batch, in random order, some moving backwards
-- (as the receipts themselves never would, but a service role's UPDATE could).
UPDATE sms_otp.sms_messages_log SET delivery_status = (ARRAY['delivered', 'undelivered', 'failed', 'sent'])[1 + (id % 4)],
                                    delivery_at = created_at + random() * interval '2 hours'
WHERE provider_message_id LIKE 'r%' AND id % 5 = 0;
SELECT sms_otp.stats_compact(1000) > 0 AS folded \gset
UPDATE sms_otp.sms_messages_log SET delivery_status = 'delivered', delivery_at = created_at + interval '3 s'
WHERE provider_message_id LIKE 'r%' AND id % 7 = 0;
CREATE TEMP TABLE recomputed AS
SELECT date_trunc('hour', l.created_at) AS bucket_start, coalesce(l.provider_name, 'none') AS provider,
       coalesce(sms_otp.phone_country(l."to"), 'ZZ') AS country, l.type,
       count(*) AS attempted,
       count(*) FILTER (WHERE l.outcome = 'sent') AS accepted,
       count(*) FILTER (WHERE l.outcome IN ('rejected', 'auth_failed')) AS rejected,
       count(*) FILTER (WHERE l.outcome IN ('retry', 'throttled')) AS retried,
       count(*) FILTER (WHERE l.outcome = 'sent' AND l.delivery_status = 'delivered') AS delivered,
       count(*) FILTER (WHERE l.outcome = 'sent' AND l.delivery_status = 'undelivered') AS undelivered,
       count(*) FILTER (WHERE l.outcome = 'sent' AND l.delivery_status = 'failed') AS failed,
       coalesce(sum(coalesce(l.segments, 1)) FILTER (WHERE l.outcome = 'sent'), 0) AS segments
FROM sms_otp.sms_messages_log l
WHERE l.created_at >= '2026-02-01' AND l.created_at < '2026-02-05'
GROUP BY 1, 2, 3, 4;
SELECT ok(:'folded', 'the random hours were folded between the receipts');
SELECT set_eq(
    $$SELECT bucket_start, provider, country, type, attempted, accepted, rejected, retried, delivered, undelivered,
             failed, segments
      FROM sms_otp.dashboard_delivery('2026-02-01', '2026-02-05', 'hour', '{provider,country,type}')$$,
    'SELECT * FROM recomputed',
    'hourly rollups equal a recomputation from the log after random attempts, receipts and compaction');
SELECT set_eq(
    $$SELECT bucket_start, provider, country, type, attempted, delivered, failed
      FROM sms_otp.dashboard_delivery('2026-02-01', '2026-02-05', 'day', '{provider,country,type}')$$,
    $$SELECT date_trunc('day', bucket_start), provider, country, type, sum(attempted)::bigint AS attempted,
             sum(delivered)::bigint AS delivered, sum(failed)::bigint AS failed FROM recomputed GROUP BY 1, 2, 3, 4$$,
    'daily rollups equal the recomputation');
SELECT is(
    (SELECT sum(count)::bigint FROM sms_otp.dashboard_latency('2026-02-01', '2026-02-05', 'all', '{}') WHERE stage = 'delivery'),
    (SELECT count(*) FROM sms_otp.sms_messages_log l
     WHERE l.created_at >= '2026-02-01' AND l.created_at < '2026-02-05' AND l.outcome = 'sent'
       AND l.delivery_status = 'delivered' AND l.delivery_at IS NOT NULL),
    'the delivery histogram counts every delivered message once');
SELECT is(
    (SELECT sum(count)::bigint FROM sms_otp.dashboard_latency('2026-02-01', '2026-02-05', 'all', '{}') WHERE stage = 'send'),
    (SELECT count(*) FROM sms_otp.sms_messages_log l
     WHERE l.created_at >= '2026-02-01' AND l.created_at < '2026-02-05' AND l.outcome = 'sent' AND l.queued_at IS NOT NULL),
    'the send histogram counts every accepted attempt once');
SELECT set_eq(
    $$SELECT start, provider, stage, bucket, n, round(ms::numeric, 3) FROM sms_otp.stats_latency WHERE grain = 'p'
        AND start >= '2026-02-01' AND start < '2026-02-05' AND country = '' AND type = ''$$,
    $$SELECT start, provider, stage, bucket, sum(n)::bigint AS n, round(sum(ms)::numeric, 3) AS ms
      FROM sms_otp.stats_latency WHERE grain = 'd'
        AND start >= '2026-02-01' AND start < '2026-02-05' GROUP BY 1, 2, 3, 4$$,
    'the day rows by provider alone sum the day rows of every country and type');
SELECT set_eq(
    $$SELECT bucket_start, provider, stage, count, p50_ms, p95_ms, p99_ms
      FROM sms_otp.dashboard_latency('2026-02-01', '2026-02-05', 'day', '{provider}')$$,
    $$SELECT h.day, h.provider, h.stage, sum(h.n)::bigint AS count,
             round(sms_otp._stats_quantile(array_agg(h.bucket), array_agg(h.n), 0.50)::numeric, 1)::double precision AS p50,
             round(sms_otp._stats_quantile(array_agg(h.bucket), array_agg(h.n), 0.95)::numeric, 1)::double precision AS p95,
             round(sms_otp._stats_quantile(array_agg(h.bucket), array_agg(h.n), 0.99)::numeric, 1)::double precision AS p99
      FROM (SELECT date_trunc('day', start, 'UTC') AS day, provider, stage, bucket, sum(n)::bigint AS n
            FROM sms_otp.stats_latency
            WHERE grain = 'h' AND start >= '2026-02-01' AND start < '2026-02-05'
            GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0) h
      GROUP BY 1, 2, 3$$,
    'latency by provider and day, read from the provider rows, equals the same from every hour');

-- A rebuild from the raw rows gives the same figures, and brings back lost rollup rows.
CREATE TEMP TABLE before_rebuild AS
SELECT * FROM sms_otp.dashboard_delivery('2026-01-01', '2026-02-05', 'hour', '{provider,country,type}');
DELETE FROM sms_otp.stats_messages WHERE start >= '2026-02-02' AND start < '2026-02-03';
SELECT is((sms_otp.stats_rebuild('2026-02-01 12:00', '2026-02-03') ->> 'days')::int, 2,
          'a rebuild covers whole days');
SELECT set_eq('SELECT * FROM sms_otp.dashboard_delivery(''2026-01-01'', ''2026-02-05'', ''hour'', ''{provider,country,type}'')',
              'SELECT * FROM before_rebuild', 'the rebuilt rollups give the same figures, the deleted day included');

--------------------------------------------------------------------------------------------
-- Retention: raw rows go, rollups stay
--------------------------------------------------------------------------------------------
CREATE TEMP TABLE before_prune AS
SELECT * FROM sms_otp.dashboard_delivery('2026-01-01', '2026-02-05', 'day', '{provider,country,type}');
SET LOCAL sms_otp.log_retention = '1d';
SELECT is((sms_otp.stats_prune(100000) ->> 'log')::int, 3006, 'retention deletes the log rows past it');
SELECT is((SELECT count(*)::int FROM sms_otp.sms_messages_log WHERE created_at < now() - interval '1 day'), 0,
          'no log row past retention is left');
SELECT is((SELECT count(*)::int FROM sms_otp.sms_otp_sessions WHERE created_at < now() - interval '1 day'), 0,
          'finished code sessions past retention go too');
SELECT set_eq('SELECT * FROM sms_otp.dashboard_delivery(''2026-01-01'', ''2026-02-05'', ''day'', ''{provider,country,type}'')',
              'SELECT * FROM before_prune', 'the rollups keep every figure after the raw rows are gone');
CREATE TEMP TABLE metrics_before AS SELECT convert_from(sms_otp.metrics()::bytea, 'UTF8') AS body;
SET LOCAL sms_otp.stats_retention = '1d';
-- (live shards wait for compaction before a prune takes them)
SELECT sms_otp.stats_compact(1000) IS NOT NULL AS compacted \gset
SELECT cmp_ok((sms_otp.stats_prune() ->> 'rollups')::int, '>', 0, 'rollups past sms_otp.stats_retention go');
SELECT is((SELECT regexp_replace(convert_from(sms_otp.metrics()::bytea, 'UTF8'), 'sms_otp_worker_up [01]', '')),
          (SELECT regexp_replace(body, 'sms_otp_worker_up [01]', '') FROM metrics_before),
          'the Prometheus counters do not drop when rollups are pruned: they read the totals');
SELECT is_empty($$SELECT * FROM sms_otp.dashboard_delivery('2026-01-01', '2026-02-05', 'day', '{}')$$,
                'and with them their figures');
RESET sms_otp.stats_retention;
RESET sms_otp.log_retention;

--------------------------------------------------------------------------------------------
-- Hours are UTC hours, whatever the writer's time zone (PostgREST lets a client set it)
--------------------------------------------------------------------------------------------
SET LOCAL TimeZone = 'Asia/Kathmandu';
INSERT INTO sms_otp.sms_otp_sessions (user_id, phone, status, max_attempts, expires_at, resend_available_at, created_at)
VALUES (gen_random_uuid(), '+5511912345678', 'pending', 5, now() + interval '5 minutes', now(), now());
SELECT is((SELECT array_agg(DISTINCT to_char(start AT TIME ZONE 'UTC', 'MI:SS')) FROM sms_otp.stats_otp WHERE country = 'BR'),
          ARRAY['00:00'], 'a session written in a +05:45 zone counts in a UTC hour');
RESET TimeZone;

--------------------------------------------------------------------------------------------
-- Who may read, and bad arguments
--------------------------------------------------------------------------------------------
SET LOCAL ROLE authenticated;
SELECT throws_like($$SELECT * FROM sms_otp.dashboard_delivery()$$, '%forbidden%', 'an end user cannot read delivery');
SELECT throws_like($$SELECT * FROM sms_otp.dashboard_otp()$$, '%forbidden%', 'nor the funnel');
SELECT throws_like($$SELECT sms_otp.metrics()$$, '%forbidden%', 'nor the metrics');
SELECT throws_like($$SELECT sms_otp.stats_prune()$$, '%forbidden%', 'nor prune');
SELECT throws_like($$SELECT sms_otp.stats_rebuild()$$, '%forbidden%', 'nor rebuild');
SELECT throws_ok($$SELECT * FROM sms_otp.stats_messages$$, '42501', NULL, 'nor read a rollup table');
SELECT throws_ok($$INSERT INTO sms_otp.sms_prices VALUES ('x', '*', 1)$$, '42501', NULL, 'nor write prices');
RESET ROLE;
SET LOCAL ROLE anon;
SELECT throws_like($$SELECT * FROM sms_otp.dashboard_queue()$$, '%forbidden%', 'anonymous callers cannot read the queue');
RESET ROLE;
SET LOCAL ROLE service_role;
SELECT throws_like($$SELECT * FROM sms_otp.dashboard_delivery(bucket => 'week')$$, '%invalid_bucket%', 'a bucket that is not hour, day or all');
SELECT throws_like($$SELECT * FROM sms_otp.dashboard_delivery(dims => '{phone}')$$, '%invalid_dims%', 'a dimension that is not provider, country or type');
SELECT throws_like($$SELECT * FROM sms_otp.dashboard_latency(now(), now() - interval '1 day')$$, '%invalid_range%', 'since after until');
SELECT throws_like($$SELECT * FROM sms_otp.dashboard_delivery('-infinity', now(), 'hour')$$, '%range_too_long%', 'an endless range in hours');
SELECT throws_like($$SELECT sms_otp.stats_compact(0)$$, '%invalid_hours%', 'compaction of no hours');
SELECT throws_like($$SELECT sms_otp.stats_prune(NULL)$$, '%invalid_batch%', 'a prune without a batch size');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
