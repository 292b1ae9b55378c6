--------------------------------------------------------------------------------------------
-- From 1.0: what the tables and types gain. Everything else (functions, policies, grants) is
-- made by the same parts as a fresh install, with CREATE OR REPLACE.
--------------------------------------------------------------------------------------------

ALTER TYPE sms_otp._config
    ADD ATTRIBUTE ip_per_minute int,
    ADD ATTRIBUTE ip_per_day int,
    ADD ATTRIBUTE ipv6_prefix int;

CREATE TYPE sms_otp._guesses AS (
    attempts     int,
    failures     int,
    locked_until timestamptz
);

-- Functions whose signature changed or that are gone (wrong codes are counted in shared
-- memory now, by _guess_wrong).
DROP FUNCTION sms_otp._send_wait(uuid, text, inet, sms_otp._config);
DROP FUNCTION sms_otp._count_failure(uuid, sms_otp._config);
-- Provider code checks name the verification by its id and answer with what they learnt.
DROP FUNCTION sms_otp._provider_check(text, text, text);

-- A hint may only pick a provider marked selectable; none is until an administrator says so.
ALTER TABLE sms_otp.api_integrations ADD COLUMN selectable boolean NOT NULL DEFAULT false;
-- A provider's cap on requests open at once, shared by the database's workers.
ALTER TABLE sms_otp.api_integrations ADD COLUMN max_concurrent int CHECK (max_concurrent > 0);
-- Vonage Verify (API v2), a provider that keeps the code.
ALTER TABLE sms_otp.api_integrations DROP CONSTRAINT api_integrations_kind_check,
    ADD CONSTRAINT api_integrations_kind_check CHECK (kind IN ('twilio', 'twilio_verify', 'vonage', 'vonage_verify',
                                                               'messagebird', 'plivo', 'webhook', 'console'));
-- The log tells a provider's code check from a send (the dashboards count sends only).
ALTER TABLE sms_otp.sms_messages_log
    ADD COLUMN operation text NOT NULL DEFAULT 'send' CHECK (operation IN ('send', 'check'));

-- Per-address limits count IPv6 clients by network. They look back one day, so only the
-- sessions of the last day need the new column filled (a large table is not rewritten whole).
ALTER TABLE sms_otp.sms_otp_sessions ADD COLUMN client_net cidr;
UPDATE sms_otp.sms_otp_sessions
SET client_net = CASE WHEN pg_catalog.family(client_ip) = 6
                      THEN pg_catalog.network(pg_catalog.set_masklen(client_ip, 64))
                      ELSE pg_catalog.network(pg_catalog.set_masklen(client_ip, 32)) END
WHERE client_ip IS NOT NULL AND created_at > pg_catalog.now() - interval '1 day';
DROP INDEX sms_otp.sms_otp_sessions_ip_created_idx;
CREATE INDEX sms_otp_sessions_net_created_idx ON sms_otp.sms_otp_sessions (client_net, created_at)
    WHERE client_net IS NOT NULL;

-- A code session is for signing in or for enrolling its phone as the user's number.
ALTER TABLE sms_otp.sms_otp_sessions
    ADD COLUMN purpose text NOT NULL DEFAULT 'sign_in' CHECK (purpose IN ('sign_in', 'enrol'));

-- The worker claims by lane now, from one index per kind (transactional_tables.sql).
DROP INDEX sms_otp.sms_outbox_due_idx;
