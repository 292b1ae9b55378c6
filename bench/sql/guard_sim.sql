-- The SMS-pumping guard's simulation (bench/guard.sh): the numbers, the accounts, the baseline
-- and a replay of ordinary traffic with an attack mixed in, through otp_send and otp_verify, one
-- transaction per call. Everything random comes from setseed(), so a run is reproducible.
CREATE EXTENSION IF NOT EXISTS sms_otp;
CREATE SCHEMA IF NOT EXISTS guard_sim;

INSERT INTO sms_otp.api_integrations (name, kind, priority) VALUES ('console', 'console', 10)
ON CONFLICT DO NOTHING;

-- Where ordinary codes go: a share of the traffic per country, and ranges of its mobile numbers
-- (prefixes and how many random digits follow). Numbers libphonenumber does not take as valid
-- mobile numbers are drawn again.
CREATE TABLE guard_sim.countries (country text PRIMARY KEY, weight int, prefixes text[], digits int);
INSERT INTO guard_sim.countries VALUES
    ('US', 20, '{+1201,+1212,+1305,+1312,+1415,+1512,+1617,+1702,+1713,+1917}', 7),
    ('IN', 12, '{+9198,+9199,+9197,+9190}', 8),
    ('BR', 8, '{+55119,+55219}', 8),
    ('GB', 8, '{+4474,+4475,+4477,+4478,+4479}', 8),
    ('DE', 7, '{+49151,+49160,+49170,+49176}', 8),
    ('FR', 6, '{+336,+337}', 8),
    ('ID', 6, '{+62812,+62813,+62821}', 8),
    ('MX', 5, '{+5255,+5233,+5281}', 8),
    ('IT', 4, '{+39320,+39333,+39347}', 7),
    ('ES', 4, '{+346}', 8),
    ('PH', 4, '{+63917,+63918}', 7),
    ('NG', 3, '{+234803,+234806}', 7),
    ('TR', 3, '{+90532,+90542}', 7),
    ('PL', 2, '{+4850,+4851,+4860}', 7),
    ('NL', 2, '{+316}', 8),
    ('CA', 2, '{+1416,+1604,+1514}', 7),
    ('AU', 2, '{+614}', 8),
    ('JP', 1, '{+8190,+8180}', 8),
    ('SE', 1, '{+4670,+4672}', 7),
    ('ZA', 1, '{+2782,+2783}', 7);

-- A random valid mobile number of a country (NULL after 50 draws that were not).
CREATE FUNCTION guard_sim.number(c text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    p text[];
    d int;
    n text;
BEGIN
    SELECT x.prefixes, x.digits INTO p, d FROM guard_sim.countries x WHERE x.country = c;
    FOR i IN 1..50 LOOP
        n := p[1 + floor(random() * cardinality(p))::int] || lpad(floor(random() * 10 ^ d)::bigint::text, d, '0');
        IF sms_otp.normalize_phone(n) = n AND sms_otp._phone_type(n) IN ('mobile', 'fixed_line_or_mobile')
           AND sms_otp.phone_country(n) = c THEN
            RETURN n;
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

-- A country drawn by weight.
CREATE FUNCTION guard_sim.country() RETURNS text LANGUAGE sql AS $$
    SELECT c.country FROM (SELECT x.country, sum(x.weight) OVER (ORDER BY x.country) AS upto, sum(x.weight) OVER () AS total
                           FROM guard_sim.countries x) c
    WHERE c.upto > (SELECT random()) * c.total ORDER BY c.upto LIMIT 1
$$;

-- One request of the replay: step, kind (ordinary, attack), the account, its number and address;
-- verify_at: the step after which an ordinary code is entered (NULL: never).
CREATE TABLE guard_sim.requests (step int PRIMARY KEY, kind text, uid uuid, phone text, ip text, verify_at int);
-- What each request got.
CREATE TABLE guard_sim.results (step int PRIMARY KEY, kind text, outcome text, session uuid);

-- The plan of a run: `ordinary` codes to the countries by weight (a share `verified` of them
-- entered 1 to `delay` requests later), and `attack` requests spread evenly among them, to
-- `attack_numbers` numbers of `attack_prefixes` ranges of one Indonesian prefix, each from a
-- new account and a new address. Accounts get their number with codes on.
CREATE PROCEDURE guard_sim.plan(seed double precision, ordinary int, attack int, attack_numbers int,
                                attack_prefixes int, verified double precision, delay int)
LANGUAGE plpgsql AS $$
DECLARE
    total int := ordinary + attack;
    every double precision := total::double precision / greatest(attack, 1);
    a int := 0;
    kind text;
    phone text;
BEGIN
    PERFORM setseed(seed);
    TRUNCATE guard_sim.requests, guard_sim.results;
    FOR step IN 1..total LOOP
        -- The attack's requests fall evenly through the replay.
        IF a < attack AND step >= (a + 0.5) * every THEN
            kind := 'attack';
            a := a + 1;
            -- Numbers +6281234 5PP NNN: PP picks the range (attack_prefixes of them), NNN the number.
            phone := '+62812345' || lpad(((a % attack_prefixes) * (100 / greatest(attack_prefixes, 1)))::text, 2, '0')
                     || lpad(((a % attack_numbers) * 1000 / attack_numbers)::text, 3, '0');
        ELSE
            kind := 'ordinary';
            phone := guard_sim.number(guard_sim.country());
        END IF;
        INSERT INTO guard_sim.requests VALUES (step, kind, gen_random_uuid(), phone,
            (10 + step / 16777216) || '.' || (step / 65536 % 256) || '.' || (step / 256 % 256) || '.' || (step % 256),
            CASE WHEN kind = 'ordinary' AND random() < verified THEN step + 1 + floor(random() * delay)::int END);
    END LOOP;
    DELETE FROM guard_sim.requests x WHERE x.phone IS NULL;
    INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled)
    SELECT r.uid, r.phone, true FROM guard_sim.requests r ORDER BY r.step;
    -- The replay looks requests up by step and by verify_at: plans made on a table the planner
    -- believes empty would scan it whole every time.
    ANALYZE guard_sim.requests, sms_otp.user_contact_settings;
END $$;

-- The guard's state back to nothing but the baseline: the previous `days` days of ordinary
-- traffic, `per_hour` codes an hour (the replay's own rate: the replay stands for one hour of
-- it), by country weight, `verified` of them entered.
CREATE PROCEDURE guard_sim.baseline(per_hour int, days int, verified double precision)
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE sms_otp.guard_decisions, sms_otp.guard_counts, sms_otp.guard_blocks;
    INSERT INTO sms_otp.guard_counts (scope, key, grain, start, shard, sent, verified)
    SELECT 'c', c.country, 'd', date_trunc('day', now(), 'UTC') - make_interval(days => d), 0,
           round(per_hour * 24.0 * c.weight / t.total), round(per_hour * 24.0 * c.weight / t.total * verified)
    FROM guard_sim.countries c, (SELECT sum(weight) AS total FROM guard_sim.countries) t, generate_series(1, days) d;
END $$;

-- The replay: every request through otp_send as its account, from its address, one transaction
-- each; due codes entered through otp_verify after each request.
CREATE PROCEDURE guard_sim.replay()
LANGUAGE plpgsql AS $$
DECLARE
    r      guard_sim.requests;
    v      record;
    answer jsonb;
    outcome text;
BEGIN
    FOR i IN 1..(SELECT max(step) FROM guard_sim.requests) LOOP
        -- Statistics as the tables grow: the replay packs hours into minutes, faster than
        -- autovacuum analyzes, and plans made while a table was small would scan it whole.
        IF i % 500 = 1 OR i IN (25, 50, 100, 200, 300) THEN
            ANALYZE sms_otp.sms_outbox, sms_otp.sms_otp_sessions, sms_otp.guard_counts, sms_otp.guard_decisions,
                    guard_sim.results;
            COMMIT;
        END IF;
        SELECT * INTO r FROM guard_sim.requests x WHERE x.step = i;
        CONTINUE WHEN NOT FOUND;
        PERFORM set_config('request.jwt.claims', jsonb_build_object('sub', r.uid, 'role', 'authenticated',
                                                                    'session_id', 'sim')::text, true);
        PERFORM set_config('request.headers', jsonb_build_object('x-forwarded-for', r.ip)::text, true);
        answer := sms_otp.otp_send();
        outcome := CASE WHEN answer ? 'session_id' THEN 'sent' ELSE coalesce(answer ->> 'error', 'error') END;
        INSERT INTO guard_sim.results VALUES (i, r.kind, outcome, (answer ->> 'session_id')::uuid);
        COMMIT;
        FOR v IN SELECT q.uid, s.session, substring(o.body FROM '([0-9]{6})') AS code
                 FROM guard_sim.requests q
                 JOIN guard_sim.results s ON s.step = q.step AND s.outcome = 'sent'
                 JOIN sms_otp.sms_otp_sessions x ON x.id = s.session
                 JOIN sms_otp.sms_outbox o ON o.id = x.outbox_id
                 WHERE q.verify_at = i LOOP
            PERFORM set_config('request.jwt.claims', jsonb_build_object('sub', v.uid, 'role', 'authenticated',
                                                                        'session_id', 'sim')::text, true);
            PERFORM sms_otp.otp_verify(v.session, v.code);
            COMMIT;
        END LOOP;
    END LOOP;
END $$;
CREATE INDEX ON guard_sim.requests (verify_at);

-- What otp_send costs with the guard in a mode: `n` sends to new accounts (US numbers, all
-- allowed), each timed inside its transaction; the median in microseconds.
CREATE PROCEDURE guard_sim.cost(mode text, n int, INOUT median_us double precision DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    u  uuid;
BEGIN
    PERFORM set_config('sms_otp.guard_mode', mode, false);
    CREATE TEMP TABLE IF NOT EXISTS cost_runs (us double precision);
    TRUNCATE cost_runs;
    FOR i IN 1..n LOOP
        u := gen_random_uuid();
        INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES (u, guard_sim.number('US'), true);
        PERFORM set_config('request.jwt.claims', jsonb_build_object('sub', u, 'role', 'authenticated', 'session_id', 'c')::text, true);
        PERFORM set_config('request.headers', jsonb_build_object('x-forwarded-for', '172.16.' || (i / 256 % 256) || '.' || (i % 256))::text, true);
        t0 := clock_timestamp();
        PERFORM sms_otp.otp_send();
        INSERT INTO cost_runs VALUES (extract(epoch FROM clock_timestamp() - t0) * 1e6);
        COMMIT;
    END LOOP;
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY us) INTO median_us FROM cost_runs;
END $$;
