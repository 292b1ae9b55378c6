--------------------------------------------------------------------------------------------
-- The SMS-pumping guard's tables (the rules are in guard.sql). New in 1.1: the fresh install
-- and the update from 1.0 both create them.
--------------------------------------------------------------------------------------------

-- Per-country override of sms_otp.guard_countries: allow (send even when the setting does not
-- list it), monitor (send, and mark every decision for review), block (never send). A budget
-- here replaces sms_otp.guard_country_daily_budget for the country.
CREATE TABLE sms_otp.guard_country_policy (
    country      text PRIMARY KEY CHECK (country ~ '^[A-Z]{2}$'),
    action       text NOT NULL CHECK (action IN ('allow', 'monitor', 'block')),
    daily_budget int CHECK (daily_budget >= 0),
    note         text CHECK (length(note) <= 500),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sms_otp.guard_country_policy IS
    'SMS-pumping guard: allow, monitor or block codes to a country, and its daily budget. Service role writes.';

-- Numbers and prefixes (E.164 digits, '+' first) whose codes skip the velocity and conversion
-- rules and the temporary blocks: a support desk's test phones, a partner's range. The country
-- policy, number types and budgets still apply.
CREATE TABLE sms_otp.guard_safe_list (
    entry      text PRIMARY KEY CHECK (entry ~ '^\+[1-9][0-9]{0,14}$'),
    kind       text NOT NULL CHECK (kind IN ('number', 'prefix')),
    note       text CHECK (length(note) <= 500),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sms_otp.guard_safe_list IS
    'SMS-pumping guard: numbers and prefixes exempt from velocity, conversion and temporary blocks. Service role writes.';

-- One row per code the guard judged (every send while sms_otp.guard_mode is not off): the rules
-- that fired, the mode, and what happened. outcome: allowed (no refusing rule), refused
-- (enforce: no code was sent), flagged (record_only: a refusing rule fired, the code was sent).
CREATE TABLE sms_otp.guard_decisions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    session_id  uuid,                  -- the code's session; NULL when refused
    user_id     uuid,
    purpose     text,                  -- sign_in or enrol
    phone       text NOT NULL,         -- E.164 when the number is valid
    country     text NOT NULL,         -- ISO 3166 alpha-2; ZZ when unknown
    prefix      text NOT NULL,         -- the number without its last sms_otp.guard_prefix_digits digits
    number_type text,
    client_net  cidr,
    mode        text NOT NULL CHECK (mode IN ('record_only', 'enforce')),
    outcome     text NOT NULL CHECK (outcome IN ('allowed', 'refused', 'flagged')),
    rules       text[] NOT NULL DEFAULT '{}',
    details     jsonb NOT NULL DEFAULT '{}'   -- the counts and limits the rules compared
);
CREATE INDEX guard_decisions_created_brin ON sms_otp.guard_decisions USING brin (created_at);
CREATE INDEX guard_decisions_session_idx ON sms_otp.guard_decisions (session_id) WHERE session_id IS NOT NULL;
COMMENT ON TABLE sms_otp.guard_decisions IS
    'SMS-pumping guard: one record per code judged (rules fired, mode, outcome, country, prefix). Service role reads.';

-- Temporary blocks of a prefix or a country, set by the velocity and conversion rules; they
-- end by themselves at `until` (guard_block_clear() ends one early).
CREATE TABLE sms_otp.guard_blocks (
    scope      text NOT NULL CHECK (scope IN ('prefix', 'country')),
    key        text NOT NULL CHECK (length(key) <= 16),
    rule       text NOT NULL,
    blocked_at timestamptz NOT NULL DEFAULT now(),
    until      timestamptz NOT NULL,
    details    jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (scope, key)
);
COMMENT ON TABLE sms_otp.guard_blocks IS
    'SMS-pumping guard: temporary blocks of a prefix or country, ending at until. Service role reads.';

-- Counters the rules read: codes sent and later verified, per prefix ('p'), country ('c') and
-- overall ('g'), in ten-minute buckets ('q') and UTC days ('d'); and decisions per outcome ('o')
-- and per rule and outcome ('r'), as totals ('t', start -infinity) for the Prometheus counters.
-- A row is split over shards by the writing backend, so that concurrent sends rarely wait on
-- one row: 1..4 for sends, 5..8 for verifications (0: rows written otherwise); reads sum them.
CREATE TABLE sms_otp.guard_counts (
    scope    "char" NOT NULL CHECK (scope IN ('p', 'c', 'g', 'o', 'r')),
    key      text NOT NULL,
    grain    "char" NOT NULL CHECK (grain IN ('q', 'd', 't')),
    start    timestamptz NOT NULL,
    shard    smallint NOT NULL,
    sent     bigint NOT NULL DEFAULT 0,
    verified bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, key, grain, start, shard)
);
COMMENT ON TABLE sms_otp.guard_counts IS
    'SMS-pumping guard: codes sent and verified per prefix, country and overall (ten minutes, days), and decision totals.';

SELECT pg_catalog.pg_extension_config_dump('sms_otp.guard_country_policy', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.guard_safe_list', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.guard_decisions', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.guard_decisions_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.guard_blocks', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.guard_counts', '');
