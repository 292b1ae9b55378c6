--------------------------------------------------------------------------------------------
-- Tables of phase 2: transactional sends, delivery receipts, opt-outs. Made by the same part
-- in a fresh install and in the update from 1.0, so both end with the same columns in the
-- same order.
--------------------------------------------------------------------------------------------

-- What the queue learns of a message besides its text: where it came from, how carriers
-- count it, and what the provider's receipts said of it. delivery_status only moves forward
-- (queued < accepted < sent < failed < undelivered < delivered; see _delivery_wins).
ALTER TABLE sms_otp.sms_outbox
    ADD COLUMN category        text,
    ADD COLUMN business_ref    text,
    ADD COLUMN template        text,
    ADD COLUMN locale          text,
    ADD COLUMN segments        int,
    ADD COLUMN encoding        text,
    ADD COLUMN delivery_status text NOT NULL DEFAULT 'queued'
        CHECK (delivery_status IN ('queued', 'accepted', 'sent', 'delivered', 'undelivered', 'failed')),
    ADD COLUMN delivery_at     timestamptz,
    ADD COLUMN delivery_error  text;

-- Lanes: the worker claims due codes first, then transactional messages, then promo ones, each
-- from an index of its own, so a backlog in one lane costs the others nothing.
CREATE INDEX sms_outbox_due_otp_idx ON sms_otp.sms_outbox (next_attempt_at)
    WHERE status = 'queued' AND kind = 'otp';
CREATE INDEX sms_outbox_due_transactional_idx ON sms_otp.sms_outbox (next_attempt_at)
    WHERE status = 'queued' AND kind = 'transactional';
CREATE INDEX sms_outbox_due_promo_idx ON sms_otp.sms_outbox (next_attempt_at)
    WHERE status = 'queued' AND kind = 'promo';

-- Each attempt's receipts, for the attempt the provider accepted.
ALTER TABLE sms_otp.sms_messages_log
    ADD COLUMN delivery_status text
        CHECK (delivery_status IN ('queued', 'accepted', 'sent', 'delivered', 'undelivered', 'failed')),
    ADD COLUMN delivery_at     timestamptz,
    ADD COLUMN delivery_error  text;
CREATE INDEX sms_messages_log_outbox_idx ON sms_otp.sms_messages_log (outbox_id) WHERE outbox_id IS NOT NULL;

-- Message templates: {placeholders} filled from send_transactional's data.
CREATE TABLE sms_otp.sms_templates (
    name       text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    locale     text NOT NULL DEFAULT 'en' CHECK (locale ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$'),
    body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 1600),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, locale)
);
COMMENT ON TABLE sms_otp.sms_templates IS
    'Texts of transactional messages by name and locale; {name} is replaced by data->>''name''.';

-- Whether a category of transactional message stops at an opt-out (absent: it does).
CREATE TABLE sms_otp.sms_categories (
    name            text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,31}$'),
    honours_opt_out boolean NOT NULL DEFAULT true,
    description     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sms_otp.sms_categories IS
    'Categories of transactional messages; honours_opt_out = false sends them to opted-out numbers too.';

-- Idempotency keys of send_transactional and the answer each got, kept idempotency_ttl.
CREATE TABLE sms_otp.sms_idempotency_keys (
    key          text PRIMARY KEY,
    request_hash bytea NOT NULL,
    response     jsonb NOT NULL,
    message_id   bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sms_idempotency_keys_expires_idx ON sms_otp.sms_idempotency_keys (expires_at);

-- Numbers that must not be texted: scope 'all' (an SMS STOP) or a category / 'promo'.
CREATE TABLE sms_otp.sms_opt_outs (
    phone      text NOT NULL,
    scope      text NOT NULL DEFAULT 'all' CHECK (scope ~ '^[a-z][a-z0-9_]{0,31}$'),
    source     text NOT NULL CHECK (length(source) BETWEEN 1 AND 64),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (phone, scope)
);
COMMENT ON TABLE sms_otp.sms_opt_outs IS
    'Opted-out numbers (E.164) by scope; sms_opt_out_events keeps the history.';

-- Every opt-out, opt-in and help request, as it came.
CREATE TABLE sms_otp.sms_opt_out_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone         text NOT NULL,
    scope         text NOT NULL,
    action        text NOT NULL CHECK (action IN ('opt_out', 'opt_in', 'help')),
    source        text NOT NULL,
    keyword       text,
    provider_name text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sms_opt_out_events_phone_created_idx ON sms_otp.sms_opt_out_events (phone, created_at);

-- Inbound keywords, matched against a whole message (trimmed, any case).
CREATE TABLE sms_otp.sms_keywords (
    keyword text PRIMARY KEY CHECK (keyword = upper(keyword) AND length(keyword) BETWEEN 1 AND 32),
    action  text NOT NULL CHECK (action IN ('stop', 'start', 'help')),
    locale  text NOT NULL DEFAULT 'en',
    builtin boolean NOT NULL DEFAULT false
);
INSERT INTO sms_otp.sms_keywords (keyword, action, locale, builtin) VALUES
    ('STOP', 'stop', 'en', true), ('STOPALL', 'stop', 'en', true), ('UNSUBSCRIBE', 'stop', 'en', true),
    ('CANCEL', 'stop', 'en', true), ('END', 'stop', 'en', true), ('QUIT', 'stop', 'en', true),
    ('START', 'start', 'en', true), ('UNSTOP', 'start', 'en', true), ('YES', 'start', 'en', true),
    ('HELP', 'help', 'en', true), ('INFO', 'help', 'en', true),
    ('ARRET', 'stop', 'fr', true), ('ARRÊT', 'stop', 'fr', true), ('STOPP', 'stop', 'de', true),
    ('BAJA', 'stop', 'es', true), ('PARAR', 'stop', 'pt', true), ('AIUTO', 'help', 'it', true);
COMMENT ON TABLE sms_otp.sms_keywords IS
    'Inbound keywords: stop (opt out), start (opt in again), help (send sms_otp.help_reply).';

-- Delivery receipts as they came, applied or not (late, regressing, unknown status).
CREATE TABLE sms_otp.sms_delivery_events (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id           bigint NOT NULL,
    provider_name       text NOT NULL,
    provider_message_id text,
    status              text CHECK (status IN ('accepted', 'sent', 'delivered', 'undelivered', 'failed')),
    provider_status     text,
    error_code          text,
    occurred_at         timestamptz,
    received_at         timestamptz NOT NULL DEFAULT now(),
    applied             boolean NOT NULL,
    dedupe              text NOT NULL UNIQUE
);
CREATE INDEX sms_delivery_events_outbox_idx ON sms_otp.sms_delivery_events (outbox_id);

-- Inbound messages: keywords acted on, anything else kept for the record.
CREATE TABLE sms_otp.sms_inbound_messages (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider_name       text NOT NULL,
    "from"              text NOT NULL,
    "to"                text,
    text                text,
    provider_message_id text,
    action              text CHECK (action IN ('stop', 'start', 'help')),
    received_at         timestamptz NOT NULL DEFAULT now(),
    dedupe              text NOT NULL UNIQUE
);

SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_templates', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_categories', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_idempotency_keys', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_opt_outs', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_opt_out_events', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_keywords', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_delivery_events', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_inbound_messages', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_opt_out_events_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_delivery_events_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_inbound_messages_id_seq', '');
