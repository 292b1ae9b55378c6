-- DEMO ONLY: a week of made-up traffic, so the web demo's operator dashboard (/dashboard) has
-- something to show on first start. make demo (test/demo.sh) runs it once the stack is up, as a
-- superuser, after seed.sql; the dashboard's browser test (web/e2e/dashboard.test.mjs) loads it
-- too and checks the page against these rows.
--
-- Rows go in through the tables' ordinary inserts, so the dashboards' rollup triggers count
-- them exactly as they count the worker's own writes: one INSERT into sms_messages_log (every
-- provider attempt of the week, with the receipts they ended with) and one into
-- sms_otp_sessions (the codes behind the OTP attempts). Times are relative to now().
--
-- The story it tells:
--   - traffic rises by day and falls by night, 60 % codes, 30 % transactional, 10 % promo;
--   - twilio carries most of it and delivers 97 % of what gets a final receipt; vonage, the
--     second provider, does worse, and worse again in the last 2 days;
--   - most codes are typed in and verified, but codes to Indonesia (+62) grow in the last two
--     days and are almost never entered: what SMS pumping looks like;
--   - receipts: delivered, undelivered, failed, and some that never came (unknown).
-- Psql variables: mock_url (the mock SMS provider: vonage points at it, as twilio does).

-- The same week every time (relative to now()).
DO $$ BEGIN PERFORM setseed(0.1207); END $$;

-- The second provider, for the fallback (the mock answers as Vonage too, and takes any key).
INSERT INTO sms_otp.api_integrations (name, kind, priority, base_url, sender, credentials) VALUES
    ('vonage', 'vonage', 20, :'mock_url', 'DemoShop', '{"api_key": "demo", "api_secret": "demo-secret"}');

-- What a part costs, by provider and country (the dashboards' cost is parts x price).
INSERT INTO sms_otp.sms_prices (provider_name, country, price_per_segment) VALUES
    ('twilio', '*', 0.0079), ('twilio', 'GB', 0.0400), ('twilio', 'DE', 0.0780), ('twilio', 'FR', 0.0740),
    ('twilio', 'BR', 0.0500), ('twilio', 'IN', 0.0050), ('twilio', 'ID', 0.3300),
    ('vonage', '*', 0.0068), ('vonage', 'GB', 0.0380), ('vonage', 'DE', 0.0700), ('vonage', 'ID', 0.3100);

-- One row per message of the week: when, where, what, through whom, and how it ended.
CREATE TEMP TABLE demo_traffic AS
WITH hours AS (
    SELECT h, date_trunc('hour', now()) - h * interval '1 hour' AS start
    FROM generate_series(0, 167) h),
volume AS (
    -- busiest at 15:00 UTC, quietest at 03:00; the current hour only up to now
    SELECT h, start,
           round((12 + 40 * (0.5 + 0.5 * cos((extract(hour FROM start) - 15) / 24 * 2 * pi())))
                 * CASE WHEN h = 0 THEN extract(epoch FROM now() - start) / 3600 ELSE 1 END)::int AS n
    FROM hours),
draws AS (
    SELECT v.h, v.start + random() * greatest(least(interval '1 hour', now() - v.start - interval '1 second'), interval '0') AS at,
           random() AS r_country, random() AS r_type, random() AS r_provider, random() AS r_outcome,
           random() AS r_receipt, random() AS r_number, random() AS r_entered,
           -- latencies: log-normal-ish, a long tail
           (60 + 300 * random() ^ 3 + 40 * random())::int AS response_ms,
           (15 + 250 * random() ^ 4)::int AS queue_ms,
           (1200 + 9000 * random() ^ 5 + 800 * random())::int AS delivery_ms
    FROM volume v, generate_series(1, v.n) i),
pumping AS (
    -- in the last 48 hours, extra codes to Indonesia: about 9 an hour
    SELECT v.h, v.start + random() * greatest(least(interval '1 hour', now() - v.start - interval '1 second'), interval '0') AS at,
           0.999 AS r_country, 0.0 AS r_type, random() AS r_provider, random() AS r_outcome,
           random() AS r_receipt, random() AS r_number, random() AS r_entered,
           (60 + 300 * random() ^ 3 + 40 * random())::int AS response_ms,
           (15 + 250 * random() ^ 4)::int AS queue_ms,
           (1500 + 15000 * random() ^ 4)::int AS delivery_ms
    FROM volume v, generate_series(1, CASE WHEN v.h < 48 THEN round(9 * v.n / 32.0)::int ELSE 0 END) i),
picked AS (
    SELECT d.*,
           CASE WHEN d.r_country < 0.42 THEN 'US' WHEN d.r_country < 0.57 THEN 'GB' WHEN d.r_country < 0.68 THEN 'DE'
                WHEN d.r_country < 0.77 THEN 'FR' WHEN d.r_country < 0.86 THEN 'BR' WHEN d.r_country < 0.95 THEN 'IN'
                ELSE 'ID' END AS country,
           CASE WHEN d.r_type < 0.6 THEN 'otp' WHEN d.r_type < 0.9 THEN 'transactional' ELSE 'promo' END AS type,
           CASE WHEN d.r_provider < 0.78 THEN 'twilio' ELSE 'vonage' END AS provider
    FROM (SELECT * FROM draws UNION ALL SELECT * FROM pumping) d)
SELECT p.*,
       -- numbers libphonenumber places in each country
       CASE p.country
           WHEN 'US' THEN '+1415555' || lpad((1000 + floor(p.r_number * 8999))::text, 4, '0')
           WHEN 'GB' THEN '+447400' || lpad(floor(p.r_number * 999999)::text, 6, '0')
           WHEN 'DE' THEN '+49151' || lpad(floor(p.r_number * 99999999)::text, 8, '0')
           WHEN 'FR' THEN '+336' || lpad(floor(p.r_number * 99999999)::text, 8, '0')
           WHEN 'BR' THEN '+55119' || lpad(floor(p.r_number * 99999999)::text, 8, '0')
           WHEN 'IN' THEN '+9198' || lpad(floor(p.r_number * 99999999)::text, 8, '0')
           ELSE '+62812' || lpad(floor(p.r_number * 99999999)::text, 8, '0') END AS phone,
       CASE WHEN p.r_outcome < 0.965 THEN 'sent' WHEN p.r_outcome < 0.98 THEN 'retry'
            WHEN p.r_outcome < 0.985 THEN 'throttled' ELSE 'rejected' END AS outcome,
       -- final receipts: vonage is worse, and worse again in the last two days
       CASE WHEN p.r_receipt < 0.03 THEN NULL   -- no receipt came (unknown)
            WHEN p.r_receipt < CASE WHEN p.provider = 'twilio' THEN 0.97
                                    WHEN p.h < 48 THEN 0.80 ELSE 0.92 END
                 - CASE WHEN p.country = 'ID' THEN 0.10 ELSE 0 END THEN 'delivered'
            WHEN p.r_receipt < 0.985 THEN 'undelivered'
            ELSE 'failed' END AS receipt,
       CASE WHEN p.type = 'promo' AND p.r_number < 0.3 THEN 2 ELSE 1 END AS segments,
       gen_random_uuid() AS session_id
FROM picked p;

-- The log: one attempt per message. The request left at requested_at and the provider answered
-- response_time_ms later; the message had been queued queue_ms before that (send latency is
-- queued -> accepted); delivery_at is the handset's receipt.
INSERT INTO sms_otp.sms_messages_log (user_id, "to", type, text, provider_name, status_code, response_time_ms,
                                      outcome, error, session_id, provider_message_id, delivery_status,
                                      delivery_at, segments, requested_at, queued_at, created_at)
SELECT NULL, t.phone, t.type,
       CASE t.type WHEN 'otp' THEN 'Your DemoShop code is ******'
                   WHEN 'transactional' THEN 'Your DemoShop order has shipped.'
                   ELSE 'DemoShop: winter sale, 20% off until Sunday. Reply STOP to opt out.' END,
       t.provider,
       CASE t.outcome WHEN 'sent' THEN CASE t.provider WHEN 'twilio' THEN 201 ELSE 200 END
                      WHEN 'retry' THEN 503 WHEN 'throttled' THEN 429 ELSE 400 END,
       t.response_ms, t.outcome,
       CASE t.outcome WHEN 'sent' THEN NULL WHEN 'retry' THEN 'HTTP 503' WHEN 'throttled' THEN 'HTTP 429'
                      ELSE 'invalid destination' END,
       CASE WHEN t.type = 'otp' THEN t.session_id END,
       CASE WHEN t.outcome = 'sent' THEN 'demo-' || md5(t.session_id::text) END,
       CASE WHEN t.outcome = 'sent' THEN coalesce(t.receipt, 'sent') END,
       CASE WHEN t.outcome = 'sent' AND t.receipt IS NOT NULL
            THEN t.at + make_interval(secs => t.delivery_ms / 1000.0) END,
       t.segments,
       t.at - make_interval(secs => t.response_ms / 1000.0),
       t.at - make_interval(secs => (t.response_ms + t.queue_ms) / 1000.0),
       t.at
FROM demo_traffic t
ORDER BY t.at;

-- The codes: requested with each OTP message; sent when a provider took it; entered and
-- verified by most people, almost never for the numbers in Indonesia.
INSERT INTO sms_otp.sms_otp_sessions (id, user_id, phone, login_session, provider_name, status, attempts, max_attempts,
                                      expires_at, resend_available_at, created_at, sent_at, verified_at, updated_at)
SELECT t.session_id, gen_random_uuid(), t.phone, 'demo', t.provider,
       CASE WHEN t.outcome <> 'sent' THEN 'failed' WHEN v.verified THEN 'verified' ELSE 'expired' END,
       CASE WHEN v.entered THEN 1 + (NOT v.verified)::int ELSE 0 END, 5,
       t.at + interval '5 minutes', t.at + interval '30 seconds',
       t.at - make_interval(secs => (t.response_ms + t.queue_ms) / 1000.0),
       CASE WHEN t.outcome = 'sent' THEN t.at END,
       CASE WHEN v.verified THEN t.at + make_interval(secs => 12 + t.delivery_ms / 1000.0) END,
       t.at
FROM demo_traffic t
CROSS JOIN LATERAL (
    SELECT t.outcome = 'sent' AND t.r_entered < CASE WHEN t.country = 'ID' THEN 0.06 ELSE 0.9 END AS entered) e
CROSS JOIN LATERAL (
    SELECT e.entered, e.entered AND t.r_entered < CASE WHEN t.country = 'ID' THEN 0.05 ELSE 0.86 END AS verified) v
WHERE t.type = 'otp'
ORDER BY t.at;

-- A campaign that ran last week, finished.
INSERT INTO sms_otp.sms_campaigns (name, status, text, audience, provider, recipients, pending, sent, delivered,
                                   failed, skipped, stops, created_at, launched_at, finished_at, updated_at)
VALUES ('Black Friday 2026', 'finished', 'DemoShop: Black Friday, 30% off everything today. Reply STOP to opt out.',
        '[]', 'twilio', 1200, 0, 1140, 1096, 14, 60, 9,
        now() - interval '6 days 3 hours', now() - interval '6 days 2 hours', now() - interval '5 days 20 hours',
        now() - interval '5 days 20 hours');

DROP TABLE demo_traffic;
