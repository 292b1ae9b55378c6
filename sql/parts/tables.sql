--------------------------------------------------------------------------------------------
-- Tables
--------------------------------------------------------------------------------------------

-- The SMS providers, tried by ascending priority.
CREATE TABLE sms_otp.api_integrations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    kind        text NOT NULL CHECK (kind IN ('twilio', 'twilio_verify', 'vonage', 'vonage_verify',
                                              'messagebird', 'plivo', 'webhook', 'console')),
    priority    int NOT NULL DEFAULT 100,
    enabled     boolean NOT NULL DEFAULT true,
    base_url    text CHECK (base_url ~ '^https?://[^\s/?#]+(/[^\s]*)?$' AND length(base_url) <= 2048),
    sender      text CHECK (length(sender) <= 64),
    credentials jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(credentials) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- otp_send's provider_hint may pick this provider (else hints fall back to the order)
    selectable  boolean NOT NULL DEFAULT false,
    -- requests open at once to this provider, across all the workers of the database (NULL:
    -- only each worker's sms_otp.max_in_flight)
    max_concurrent int CHECK (max_concurrent > 0)
);
COMMENT ON TABLE sms_otp.api_integrations IS
    'SMS providers, lower priority first. credentials is write-only for clients.';

CREATE TRIGGER check_integration BEFORE INSERT OR UPDATE ON sms_otp.api_integrations
    FOR EACH ROW EXECUTE FUNCTION sms_otp._check_integration();

-- Who has OTP turned on, and where to send it.
CREATE TABLE sms_otp.user_contact_settings (
    user_id            uuid PRIMARY KEY,
    phone              text,
    otp_enabled        boolean NOT NULL DEFAULT false,
    preferred_provider text REFERENCES sms_otp.api_integrations (name) ON UPDATE CASCADE ON DELETE SET NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER normalize_contact BEFORE INSERT OR UPDATE ON sms_otp.user_contact_settings
    FOR EACH ROW EXECUTE FUNCTION sms_otp._normalize_contact();

-- One row per code sent. The code itself is never stored: code_hash is
-- HMAC-SHA-256(secret, session id || ':' || code), readable by no client role.
CREATE TABLE sms_otp.sms_otp_sessions (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id             uuid NOT NULL,
    phone               text NOT NULL,
    client_ip           inet,
    login_session       text,
    provider_name       text,
    provider_session_id text,
    status              text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'verified', 'expired', 'locked', 'failed', 'superseded')),
    attempts            int NOT NULL DEFAULT 0,
    max_attempts        int NOT NULL,
    code_hash           bytea,
    outbox_id           bigint,
    expires_at          timestamptz NOT NULL,
    resend_available_at timestamptz NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    verified_at         timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    client_net          cidr,   -- what per-address limits count (_client_net)
    -- sign_in: a code to the registered number; enrol: a code to phone that, once entered,
    -- makes phone the registered number and turns codes on (otp_send, otp_verify)
    purpose             text NOT NULL DEFAULT 'sign_in' CHECK (purpose IN ('sign_in', 'enrol'))
);
-- contract: the active session of a user
CREATE INDEX sms_otp_sessions_user_status_expires_idx ON sms_otp.sms_otp_sessions (user_id, status, expires_at);
-- rate limits: the newest sends per user, per phone and per address, read newest first
CREATE INDEX sms_otp_sessions_user_created_idx ON sms_otp.sms_otp_sessions (user_id, created_at);
CREATE INDEX sms_otp_sessions_phone_created_idx ON sms_otp.sms_otp_sessions (phone, created_at);
CREATE INDEX sms_otp_sessions_net_created_idx ON sms_otp.sms_otp_sessions (client_net, created_at)
    WHERE client_net IS NOT NULL;

-- One row per provider attempt. OTP codes never appear in text.
CREATE TABLE sms_otp.sms_messages_log (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id             uuid,
    "to"                text NOT NULL,
    type                text NOT NULL CHECK (type IN ('otp', 'transactional', 'promo')),
    text                text,
    provider_name       text,
    status_code         int,
    response_time_ms    int,
    outcome             text,
    error               text,
    outbox_id           bigint,
    session_id          uuid,
    provider_message_id text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    -- send: an attempt to deliver a message; check: otp_verify asking a provider that keeps the
    -- code whether one entered is right (counted by no delivery figure)
    operation           text NOT NULL DEFAULT 'send' CHECK (operation IN ('send', 'check'))
);
-- contract: a user's messages by type and time
CREATE INDEX sms_messages_log_user_type_created_idx ON sms_otp.sms_messages_log (user_id, type, created_at);

-- The queue the delivery worker drains. Bodies holding a code are cleared once terminal.
CREATE TABLE sms_otp.sms_outbox (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind                text NOT NULL CHECK (kind IN ('otp', 'transactional', 'promo')),
    user_id             uuid,
    session_id          uuid,
    "to"                text NOT NULL,
    body                text,
    provider_hint       text,
    status              text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'sent', 'failed', 'expired', 'cancelled')),
    attempts            int NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    lease_until         timestamptz,
    expires_at          timestamptz,
    dedupe_key          text UNIQUE,
    provider_name       text,
    provider_message_id text,
    last_error          text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
-- the worker's claim reads due messages by lane: indexes in transactional_tables.sql

-- Failed code entries per user across sessions (a new code does not reset them).
CREATE TABLE sms_otp.user_lockouts (
    user_id      uuid PRIMARY KEY,
    failures     int NOT NULL DEFAULT 0,
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- The key of the code hashes, made at install; no client role can read it.
CREATE TABLE sms_otp._secret (
    id  boolean PRIMARY KEY DEFAULT true CHECK (id),
    key bytea NOT NULL CHECK (length(key) >= 32)
);
INSERT INTO sms_otp._secret (key) VALUES (sms_otp._random_bytes(32));

-- pg_dump keeps what a DBA configured and what users did; the secret is made anew on restore.
SELECT pg_catalog.pg_extension_config_dump('sms_otp.api_integrations', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.user_contact_settings', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_otp_sessions', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_messages_log', '');
-- Queued codes are left out: the restored install has a new secret, so they could not be verified.
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_outbox', 'WHERE kind <> ''otp'' OR status <> ''queued''');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.user_lockouts', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.api_integrations_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_messages_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('sms_otp.sms_outbox_id_seq', '');
