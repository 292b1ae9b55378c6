-- Data for bench/dashboards.sh: :rows log rows and :session_count code sessions over the last 30
-- days, written by ordinary INSERT statements of :batch rows each, so the dashboards' triggers
-- build the rollups as they would have been built row by row over the month. psql variables:
-- part, and
--   part=setup     rows, session_count, users: the extension, the bench schema (countries, row
--                  makers), five providers, campaigns and a queued backlog (run first)
--   part=log       batch, stream, streams: the log rows in time order, batch k of the month
--                  by stream k % streams                    } run at once, each stream
--   part=sessions  batch: the sessions in time order       } in a session of its own
--   part=receipts  batch: late receipts, an UPDATE of delivery_status of 1% of the accepted
--                  log rows (after part=log)
--   part=upkeep    batches: what bench/dashboards.sh's upkeep runs insert, :batches results
--                  statements of 64 log rows each as the worker writes them (no receipt yet)
-- Row g of each table is a pure function of g (hashes of g pick its country, provider, type,
-- outcome, receipt and times), so every run loads the same month.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT :'part' = 'setup' AS is_setup, :'part' = 'log' AS is_log, :'part' = 'sessions' AS is_sessions,
       :'part' = 'receipts' AS is_receipts, :'part' = 'upkeep' AS is_upkeep \gset

\if :is_setup
CREATE EXTENSION IF NOT EXISTS sms_otp;
CREATE SCHEMA bench;
CREATE FUNCTION bench.h(g bigint, k int) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN hashint8extended(g, k) & 9223372036854775807;
CREATE FUNCTION bench.user_id(n bigint) RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ('00000000-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid;

-- The month: its first second, the step between two log rows and between two sessions.
CREATE TABLE bench.cfg AS
SELECT date_trunc('second', now()) - interval '30 days' AS t0,
       interval '30 days' / :rows AS log_step, interval '30 days' / :session_count AS session_step,
       :users::bigint AS users;

-- Destinations: a mobile range of each country (its share of traffic in weight), numbers of
-- len characters. Each range is split by its next digit; the sub-ranges kept are those whose
-- numbers libphonenumber takes as valid numbers of that country (200 tried of each), so the
-- rollups see real countries and real prefixes (left(number, 7)).
CREATE TABLE bench.countries (country text PRIMARY KEY, range text NOT NULL, len int NOT NULL, weight int NOT NULL);
INSERT INTO bench.countries VALUES
    ('GB', '+4477', 13, 150), ('US', '+1415', 12, 140), ('IN', '+9198', 13, 90), ('BR', '+55119', 14, 60),
    ('DE', '+4915', 14, 50), ('FR', '+3367', 12, 50), ('ES', '+3461', 12, 35), ('IT', '+3933', 13, 35),
    ('MX', '+5255', 13, 30), ('CA', '+1416', 12, 25), ('NL', '+3161', 12, 20), ('PL', '+4850', 12, 20),
    ('TR', '+9053', 13, 20), ('ID', '+62812', 14, 20), ('PH', '+63917', 13, 15), ('NG', '+23480', 14, 15),
    ('AU', '+6141', 12, 15), ('JP', '+8190', 13, 15), ('KR', '+8210', 13, 12), ('ZA', '+2782', 12, 12),
    ('AR', '+54911', 14, 12), ('CO', '+5731', 13, 12), ('SE', '+46701', 12, 10), ('BE', '+32470', 12, 10),
    ('PT', '+35191', 13, 10), ('IE', '+35385', 13, 10), ('CH', '+41791', 12, 10), ('AT', '+43664', 13, 10),
    ('EG', '+20100', 13, 10), ('VN', '+84912', 12, 10), ('SA', '+96650', 13, 10), ('AE', '+97150', 13, 10),
    ('CL', '+56991', 12, 8), ('RO', '+40721', 12, 8), ('GR', '+30694', 13, 8), ('CZ', '+42060', 13, 8),
    ('HU', '+36201', 12, 8), ('DK', '+45201', 11, 6), ('NO', '+47412', 11, 6), ('FI', '+35840', 13, 6),
    ('UA', '+38050', 13, 6), ('KE', '+25471', 13, 6), ('IL', '+97252', 13, 6), ('NZ', '+64211', 12, 5),
    ('SG', '+65812', 11, 5);
CREATE TABLE bench.ranges AS
SELECT c.country, c.range || d AS range, c.len - length(c.range) - 1 AS digits, c.weight
FROM bench.countries c, generate_series(0, 9) d
WHERE (SELECT bool_and(sms_otp.normalize_phone(n) = n AND sms_otp.phone_country(n) = c.country)
       FROM (SELECT c.range || d || lpad((bench.h(g, d) % (10 ^ (c.len - length(c.range) - 1))::bigint)::text,
                                          c.len - length(c.range) - 1, '0') AS n
             FROM generate_series(1, 200) g) x);
-- One slot per unit of weight, a country's slots over its sub-ranges in turn.
CREATE TABLE bench.slots AS
SELECT (row_number() OVER (ORDER BY r.country, k) - 1)::int AS slot, r.country, r.range, r.digits,
       (10 ^ r.digits)::bigint AS span
FROM (SELECT r.*, row_number() OVER (PARTITION BY r.country ORDER BY r.range) - 1 AS i,
             count(*) OVER (PARTITION BY r.country) AS n FROM bench.ranges r) r
JOIN generate_series(0, 999) k ON k < r.weight AND k % r.n = r.i;
ALTER TABLE bench.slots ADD PRIMARY KEY (slot);
ALTER TABLE bench.cfg ADD COLUMN slots int;
UPDATE bench.cfg SET slots = (SELECT count(*) FROM bench.slots);
ANALYZE bench.slots, bench.cfg;

-- bench.number(s, g, k): a number of slot s's range, its digits from hash k of g.
CREATE FUNCTION bench.number(s bench.slots, g bigint, k int) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN s.range || lpad((bench.h(g, k) % s.span)::text, s.digits, '0');

-- Log rows lo..hi of the month, as the worker writes them: one provider attempt each. 70% codes,
-- 20% transactional, 10% promo; five providers; 95.5% accepted, 2.5% retried, 2% rejected. Of
-- the accepted: 87% delivered, 3% undelivered, 2% failed, 1% a receipt that comes late (part
-- receipts), 3.5% accepted and no receipt (yet), 3.5% a provider that sends none (NULL).
CREATE FUNCTION bench.log_rows(lo bigint, hi bigint, t0 timestamptz, step interval)
RETURNS TABLE (user_id uuid, "to" text, type text, text text, provider_name text, status_code int,
               response_time_ms int, outcome text, error text, outbox_id bigint, provider_message_id text,
               delivery_status text, delivery_at timestamptz, delivery_error text, segments int,
               requested_at timestamptz, queued_at timestamptz, created_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT bench.user_id(1 + bench.h(g, 0) % c.users), bench.number(s, g, 2), x.type,
           CASE x.type WHEN 'otp' THEN 'Your verification code is ******. It expires in 5 min.'
                       WHEN 'transactional' THEN 'Your order ' || g || ' has shipped. Track it at https://example.com/t/' || g
                       ELSE 'Spring sale: 20% off everything this weekend. Reply STOP to opt out.' END,
           x.provider, CASE x.outcome WHEN 'sent' THEN 201 WHEN 'retry' THEN 503 ELSE 400 END, x.resp_ms, x.outcome,
           CASE x.outcome WHEN 'retry' THEN 'HTTP 503' WHEN 'rejected' THEN 'invalid destination' END,
           g + 1, CASE WHEN x.outcome = 'sent' THEN 'SM' || to_hex(g) END,
           y.status, CASE WHEN y.status IN ('delivered', 'undelivered', 'failed') THEN y.at + x.dlv_ms * interval '1 ms' END,
           CASE WHEN y.status IN ('undelivered', 'failed') THEN 'carrier error' END,
           CASE x.type WHEN 'otp' THEN 1 WHEN 'transactional' THEN 1 + (bench.h(g, 9) % 10 = 0)::int ELSE 1 + bench.h(g, 9) % 3 END,
           y.at - x.resp_ms * interval '1 ms', y.at - (x.resp_ms + x.wait_ms) * interval '1 ms', y.at
    FROM bench.cfg c CROSS JOIN generate_series(lo, hi) g
    JOIN bench.slots s ON s.slot = bench.h(g, 1) % c.slots
    CROSS JOIN LATERAL (
        SELECT t.type, p.provider, o.outcome,
               -- a provider's usual answer time, and a slow answer now and then
               p.base + (bench.h(g, 5) % 200)::int + CASE WHEN bench.h(g, 5) % 50 = 0 THEN 1000 + (bench.h(g, 6) % 4000)::int ELSE 0 END AS resp_ms,
               -- queued -> request: codes at once, transactional messages soon, promo behind throttles
               CASE t.type WHEN 'otp' THEN 5 + bench.h(g, 7) % 200 WHEN 'transactional' THEN 20 + bench.h(g, 7) % 1500
                           ELSE bench.h(g, 7) % 300000 END AS wait_ms,
               -- accepted -> receipt: seconds, and minutes for a few
               CASE WHEN bench.h(g, 10) % 100 = 0 THEN 60000 + bench.h(g, 11) % 540000 ELSE 1500 + bench.h(g, 11) % 15000 END AS dlv_ms
        FROM (SELECT CASE WHEN bench.h(g, 3) % 100 < 70 THEN 'otp' WHEN bench.h(g, 3) % 100 < 90 THEN 'transactional'
                          ELSE 'promo' END AS type) t,
             (SELECT (ARRAY['twilio', 'vonage', 'messagebird', 'plivo', 'sinch'])[i] AS provider,
                     (ARRAY[120, 180, 220, 150, 260])[i] AS base
              FROM (SELECT CASE WHEN bench.h(g, 4) % 100 < 35 THEN 1 WHEN bench.h(g, 4) % 100 < 60 THEN 2
                                WHEN bench.h(g, 4) % 100 < 80 THEN 3 WHEN bench.h(g, 4) % 100 < 92 THEN 4 ELSE 5 END AS i) i) p,
             (SELECT CASE WHEN bench.h(g, 8) % 1000 < 955 THEN 'sent' WHEN bench.h(g, 8) % 1000 < 980 THEN 'retry'
                          ELSE 'rejected' END AS outcome) o) x
    CROSS JOIN LATERAL (
        SELECT t0 + g * step AS at,
               CASE WHEN x.outcome <> 'sent' THEN NULL
                    WHEN bench.h(g, 12) % 1000 < 10 THEN 'sent'       -- its receipt comes late
                    WHEN bench.h(g, 12) % 1000 < 880 THEN 'delivered'
                    WHEN bench.h(g, 12) % 1000 < 910 THEN 'undelivered'
                    WHEN bench.h(g, 12) % 1000 < 930 THEN 'failed'
                    WHEN bench.h(g, 12) % 1000 < 965 THEN 'sent'
                    END AS status) y
$$;

-- Sessions lo..hi of the month: 74% verified, 18% expired (most never entered), 3% failed
-- (no provider took the code), 4% superseded, 1% locked; those of the last 5 minutes still
-- open ('sent').
CREATE FUNCTION bench.session_rows(lo bigint, hi bigint, t0 timestamptz, step interval)
RETURNS TABLE (id uuid, user_id uuid, phone text, client_ip inet, client_net cidr, login_session text,
               provider_name text, provider_session_id text, status text, attempts int, max_attempts int,
               code_hash bytea, expires_at timestamptz, resend_available_at timestamptz, created_at timestamptz,
               sent_at timestamptz, verified_at timestamptz, updated_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT md5('session' || g)::uuid, bench.user_id(1 + bench.h(g, 20) % c.users), bench.number(s, g, 22), i.ip, i.ip::cidr,
           'login-' || g, (ARRAY['twilio', 'vonage', 'messagebird', 'plivo', 'sinch'])[1 + bench.h(g, 23) % 5],
           CASE WHEN x.status <> 'failed' THEN 'SM' || to_hex(g) END, x.status,
           CASE x.status WHEN 'verified' THEN 1 + (bench.h(g, 24) % 10 = 0)::int WHEN 'locked' THEN 5
                         WHEN 'expired' THEN CASE WHEN bench.h(g, 24) % 100 < 70 THEN 0 ELSE 1 + bench.h(g, 24) % 3 END
                         ELSE 0 END,
           5, CASE WHEN x.status = 'sent' THEN decode(md5('code' || g), 'hex') END,
           x.at + interval '5 minutes', x.at + interval '30 seconds', x.at,
           CASE WHEN x.status <> 'failed' THEN x.at + (1000 + bench.h(g, 25) % 2000) * interval '1 ms' END,
           CASE WHEN x.status = 'verified' THEN x.at + (15 + bench.h(g, 26) % 100) * interval '1 second' END,
           x.at + interval '1 minute'
    FROM bench.cfg c CROSS JOIN generate_series(lo, hi) g
    JOIN bench.slots s ON s.slot = bench.h(g, 21) % c.slots
    CROSS JOIN LATERAL (SELECT ('10.' || (g / 65536 % 256) || '.' || (g / 256 % 256) || '.' || (g % 256))::inet AS ip) i
    CROSS JOIN LATERAL (
        SELECT t0 + g * step AS at,
               CASE WHEN t0 + g * step > now() - interval '5 minutes' AND bench.h(g, 27) % 100 < 92 THEN 'sent'
                    WHEN bench.h(g, 27) % 100 < 74 THEN 'verified' WHEN bench.h(g, 27) % 100 < 92 THEN 'expired'
                    WHEN bench.h(g, 27) % 100 < 95 THEN 'failed' WHEN bench.h(g, 27) % 100 < 99 THEN 'superseded'
                    ELSE 'locked' END AS status) x
$$;

-- Five providers (console: nothing to send with; no worker runs in this database anyway).
INSERT INTO sms_otp.api_integrations (name, kind, priority)
VALUES ('twilio', 'console', 10), ('vonage', 'console', 20), ('messagebird', 'console', 30),
       ('plivo', 'console', 40), ('sinch', 'console', 50);
-- Sixty campaigns of the last three months, three still running.
INSERT INTO sms_otp.sms_campaigns (name, status, text, audience_query, recipients, pending, sent, delivered, failed,
                                   skipped, stops, created_at, launched_at, finished_at)
SELECT 'Campaign ' || k, CASE WHEN k > 57 THEN 'running' ELSE 'finished' END, 'Spring sale: 20% off.',
       'SELECT phone FROM customers', 50000, CASE WHEN k > 57 THEN 20000 ELSE 0 END,
       CASE WHEN k > 57 THEN 1500 ELSE 2500 END, CASE WHEN k > 57 THEN 26000 ELSE 44000 END,
       CASE WHEN k > 57 THEN 900 ELSE 1500 END, CASE WHEN k > 57 THEN 1600 ELSE 2000 END, 120,
       now() - (61 - k) * interval '36 hours', now() - (61 - k) * interval '36 hours' + interval '1 hour',
       CASE WHEN k <= 57 THEN now() - (61 - k) * interval '36 hours' + interval '20 hours' END
FROM generate_series(1, 60) k;
-- A backlog in the queue: due, leased, and retries waiting, in every lane.
INSERT INTO sms_otp.sms_outbox (kind, "to", body, next_attempt_at, lease_until, created_at)
SELECT (ARRAY['otp', 'transactional', 'promo', 'promo', 'promo'])[1 + k % 5], bench.number(s, k, 31), 'Queued message',
       now() + CASE WHEN k % 10 = 0 THEN interval '1 minute' ELSE -k * interval '1 ms' END,
       CASE WHEN k % 20 = 1 THEN now() + interval '10 seconds' END, now() - k * interval '1 ms'
FROM bench.cfg c CROSS JOIN generate_series(1, greatest(:rows / 500, 100)) k
JOIN bench.slots s ON s.slot = bench.h(k, 30) % c.slots;
ANALYZE sms_otp.sms_campaigns, sms_otp.sms_outbox, sms_otp.api_integrations;
\endif

-- One INSERT statement per batch, each its own transaction, in time order as they were written.
\if :is_log
SELECT format('INSERT INTO sms_otp.sms_messages_log (user_id, "to", type, text, provider_name, status_code, response_time_ms,
                   outcome, error, outbox_id, provider_message_id, delivery_status, delivery_at, delivery_error, segments,
                   requested_at, queued_at, created_at)
               SELECT * FROM bench.log_rows(%s, %s, %L, %L)', lo, least(lo + :batch - 1, :rows - 1), c.t0, c.log_step)
FROM bench.cfg c, generate_series(:stream * :batch, :rows - 1, :streams * :batch) lo
ORDER BY lo \gexec
\endif

\if :is_sessions
SELECT format('INSERT INTO sms_otp.sms_otp_sessions (id, user_id, phone, client_ip, client_net, login_session, provider_name,
                   provider_session_id, status, attempts, max_attempts, code_hash, expires_at, resend_available_at, created_at,
                   sent_at, verified_at, updated_at)
               SELECT * FROM bench.session_rows(%s, %s, %L, %L)', lo, least(lo + :batch - 1, :session_count - 1), c.t0, c.session_step)
FROM bench.cfg c, generate_series(0, :session_count - 1, :batch) lo
ORDER BY lo \gexec
\endif

-- Late receipts: the accepted rows whose receipt was held back (bench.log_rows), delivered
-- minutes to hours after the attempt; one UPDATE per range of :batch ids.
\if :is_receipts
SELECT format('UPDATE sms_otp.sms_messages_log l
               SET delivery_status = ''delivered'',
                   delivery_at = least(l.created_at + (300 + bench.h(l.outbox_id, 13) %% 10800) * interval ''1 second'', now())
               WHERE l.id BETWEEN %s AND %s AND l.delivery_status = ''sent'' AND bench.h(l.outbox_id - 1, 12) %% 1000 < 10',
              lo, lo + :batch - 1)
FROM generate_series((SELECT min(id) FROM sms_otp.sms_messages_log), (SELECT max(id) FROM sms_otp.sms_messages_log), :batch) lo
ORDER BY lo \gexec
\endif

-- The worker's results statement writes up to 64 log rows from a JSON array; the upkeep runs
-- insert batch b of these with the times of now() and outbox ids from bench.upkeep_outbox.
\if :is_upkeep
CREATE TABLE bench.upkeep_batches AS
SELECT (l.outbox_id - 1 - :rows) / 64 + 1 AS b,
       jsonb_agg(jsonb_build_object('user_id', l.user_id, 'to', l."to", 'type', l.type, 'text', l.text,
                                    'provider_name', l.provider_name, 'status_code', l.status_code,
                                    'response_time_ms', l.response_time_ms, 'outcome', l.outcome, 'error', l.error,
                                    'provider_message_id', l.provider_message_id, 'segments', l.segments,
                                    'delivery_status', CASE WHEN l.outcome = 'sent' THEN 'sent' END,
                                    'wait_ms', round(extract(epoch FROM l.requested_at - l.queued_at) * 1000)::int)) AS rows
FROM bench.cfg c CROSS JOIN LATERAL bench.log_rows(:rows, :rows + :batches * 64 - 1, c.t0, c.log_step) l
GROUP BY 1;
ALTER TABLE bench.upkeep_batches ADD PRIMARY KEY (b);
CREATE SEQUENCE bench.upkeep_outbox START 1000000001;
ANALYZE bench.upkeep_batches;
\endif
