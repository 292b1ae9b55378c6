--------------------------------------------------------------------------------------------
-- Tables of promo campaigns: the campaign, one row per recipient snapshotted at launch, the
-- throttles of providers and senders, and the quiet hours by number prefix. Made by the same
-- part in a fresh install and in the update from 1.0.
--------------------------------------------------------------------------------------------

-- Messages of a campaign name it and their recipient row; the log keeps what throttles count
-- (when the request left, its sender and parts), so a restarted worker knows what it spent.
ALTER TABLE sms_otp.sms_outbox
    ADD COLUMN campaign_id  bigint,
    ADD COLUMN recipient_id bigint,
    ADD COLUMN sender       text;
CREATE INDEX sms_outbox_campaign_idx ON sms_otp.sms_outbox (campaign_id) WHERE campaign_id IS NOT NULL;
-- Promo messages are claimed campaign by campaign (only running ones), oldest first.
DROP INDEX sms_otp.sms_outbox_due_promo_idx;
CREATE INDEX sms_outbox_due_promo_idx ON sms_otp.sms_outbox (campaign_id, next_attempt_at)
    WHERE status = 'queued' AND kind = 'promo';

ALTER TABLE sms_otp.sms_messages_log
    ADD COLUMN campaign_id  bigint,
    ADD COLUMN sender       text,
    ADD COLUMN segments     int,
    ADD COLUMN requested_at timestamptz;
CREATE INDEX sms_messages_log_promo_requested_idx ON sms_otp.sms_messages_log (requested_at)
    WHERE type = 'promo';

-- A time zone PostgreSQL knows (a day's reset zone, an audience's time_zone).
CREATE OR REPLACE FUNCTION sms_otp._valid_zone(zone text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names n WHERE n.name = zone)
$$;

-- Throttles of a provider (its api_integrations name) or a sender (the number or name a
-- message goes out from). Second and minute are sliding windows; a day starts at midnight in
-- day_zone. NULL: no limit. They hold promo messages only: codes and transactional messages
-- are never held back by a campaign's budget.
CREATE TABLE sms_otp.sms_throttles (
    scope               text NOT NULL CHECK (scope IN ('provider', 'sender')),
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    per_second          int CHECK (per_second > 0),
    per_minute          int CHECK (per_minute > 0),
    per_day             int CHECK (per_day > 0),
    segments_per_second int CHECK (segments_per_second > 0),
    segments_per_minute int CHECK (segments_per_minute > 0),
    segments_per_day    int CHECK (segments_per_day > 0),
    day_zone            text NOT NULL DEFAULT 'UTC',
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, name)
);
COMMENT ON TABLE sms_otp.sms_throttles IS
    'Promo throttles of providers and senders: messages and SMS parts per second, minute (sliding) and day (from midnight in day_zone).';

-- When promo messages may reach a phone, in its own time: the rule of the longest prefix of
-- the number ('' is every number). A number in several zones gets the hours open in all.
CREATE TABLE sms_otp.sms_quiet_hours (
    -- at most 7 characters: a campaign looks rules up once per 7-character prefix of its numbers
    prefix  text PRIMARY KEY CHECK (prefix = '' OR prefix ~ '^\+[1-9][0-9]{0,5}$'),
    opens   time NOT NULL,
    closes  time NOT NULL CHECK (closes > opens),
    days    int[] NOT NULL DEFAULT '{1,2,3,4,5,6,7}'
        CHECK (days <@ '{1,2,3,4,5,6,7}' AND cardinality(days) > 0),
    builtin boolean NOT NULL DEFAULT false
);
INSERT INTO sms_otp.sms_quiet_hours (prefix, opens, closes, builtin) VALUES ('', '08:00', '21:00', true);
COMMENT ON TABLE sms_otp.sms_quiet_hours IS
    'Hours promo messages may arrive, in the recipient''s local time, by longest number prefix (days: ISO 1 = Monday).';

CREATE TABLE sms_otp.sms_campaigns (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status              text NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'scheduled', 'running', 'paused', 'cancelled', 'finished')),
    template            text,
    locale              text,
    text                text,
    data                jsonb NOT NULL DEFAULT '{}',
    audience_query      text,
    audience            jsonb,
    provider            text,
    sender              text,
    per_second          int CHECK (per_second > 0),
    per_minute          int CHECK (per_minute > 0),
    per_day             int CHECK (per_day > 0),
    segments_per_second int CHECK (segments_per_second > 0),
    segments_per_minute int CHECK (segments_per_minute > 0),
    segments_per_day    int CHECK (segments_per_day > 0),
    day_zone            text NOT NULL DEFAULT 'UTC',
    quiet_hours         boolean NOT NULL DEFAULT true,
    allowed_prefixes    text[],
    starts_at           timestamptz,
    valid_for           interval NOT NULL DEFAULT '3 days',
    ends_at             timestamptz,
    max_error_rate      numeric NOT NULL DEFAULT 0.2 CHECK (max_error_rate > 0 AND max_error_rate <= 1),
    max_stop_rate       numeric NOT NULL DEFAULT 0.02 CHECK (max_stop_rate > 0 AND max_stop_rate <= 1),
    min_sample          int NOT NULL DEFAULT 100 CHECK (min_sample > 0),
    pause_reason        text,
    -- how far the feed has gone in (next_at, id) order: every pending recipient not yet fed is
    -- past it (feeds move rows they defer later, retries make rows due at now())
    fed_next_at         timestamptz NOT NULL DEFAULT '-infinity',
    fed_id              bigint NOT NULL DEFAULT 0,
    -- counts kept by the recipients' changes: what the auto-pause and progress read
    recipients          int NOT NULL DEFAULT 0,
    pending             int NOT NULL DEFAULT 0,
    sent                int NOT NULL DEFAULT 0,
    delivered           int NOT NULL DEFAULT 0,
    failed              int NOT NULL DEFAULT 0,
    skipped             int NOT NULL DEFAULT 0,
    stops               int NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    launched_at         timestamptz,
    paused_at           timestamptz,
    finished_at         timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((template IS NULL) <> (text IS NULL)),
    CHECK ((audience_query IS NULL) <> (audience IS NULL))
);
-- A day zone the worker could not read would stop its feeds: refused when written, by a
-- trigger on that column alone (a CHECK would look the zone up again on every update of a
-- campaign's counts, one per message sent).
CREATE OR REPLACE FUNCTION sms_otp._check_day_zone() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT sms_otp._valid_zone(NEW.day_zone) THEN
        RAISE EXCEPTION 'day_zone % is not a time zone', quote_literal(NEW.day_zone)
            USING ERRCODE = 'check_violation', HINT = 'Use a name from pg_timezone_names, such as Europe/Paris.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER check_day_zone BEFORE INSERT OR UPDATE OF day_zone ON sms_otp.sms_throttles
    FOR EACH ROW EXECUTE FUNCTION sms_otp._check_day_zone();
CREATE TRIGGER check_day_zone BEFORE INSERT OR UPDATE OF day_zone ON sms_otp.sms_campaigns
    FOR EACH ROW EXECUTE FUNCTION sms_otp._check_day_zone();

CREATE INDEX sms_campaigns_active_idx ON sms_otp.sms_campaigns (id) WHERE status IN ('scheduled', 'running');
COMMENT ON TABLE sms_otp.sms_campaigns IS
    'Promo campaigns: what to send, to whom (a query or a list, snapshotted at launch), how fast and when.';

-- One row per recipient as the audience gave them, from launch on. state: pending (not yet
-- sent, or deferred to next_at), then sent, delivered or failed; or skipped with a reason.
CREATE TABLE sms_otp.sms_campaign_recipients (
    campaign_id   bigint NOT NULL,
    id            bigint NOT NULL,
    given         text,
    phone         text,
    user_id       uuid,
    zones         text[],
    body          text,
    segments      int,
    state         text NOT NULL CHECK (state IN ('pending', 'sent', 'delivered', 'failed', 'skipped')),
    skip_reason   text CHECK (skip_reason IN ('opted_out', 'duplicate', 'invalid_number', 'frequency_capped',
                                              'country_blocked', 'quiet_hours_deferred', 'expired', 'cancelled')),
    next_at       timestamptz,
    deferred      boolean NOT NULL DEFAULT false,
    outbox_id     bigint,
    queued_at     timestamptz,
    sent_at       timestamptz,
    delivered_at  timestamptz,
    provider_name text,
    error         text,
    transient     boolean,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, id),
    CHECK ((state = 'skipped') = (skip_reason IS NOT NULL))
);
-- The worker takes a campaign's due recipients from here, in order.
CREATE INDEX sms_campaign_recipients_due_idx ON sms_otp.sms_campaign_recipients (campaign_id, next_at, id)
    WHERE state = 'pending' AND outbox_id IS NULL;
-- A number's rows across campaigns: the frequency cap and the STOP rate (who got a promo
-- message lately), and campaign_recipient().
CREATE INDEX sms_campaign_recipients_phone_idx ON sms_otp.sms_campaign_recipients (phone, queued_at);
COMMENT ON TABLE sms_otp.sms_campaign_recipients IS
    'One row per recipient of a campaign: pending, sent, delivered, failed, or skipped with its reason.';

SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_throttles', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_quiet_hours', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_campaigns', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_campaign_recipients', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_campaigns_id_seq', '');
