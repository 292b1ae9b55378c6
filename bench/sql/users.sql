-- The extension, :users users with OTP on and distinct valid phone numbers, and a provider.
-- psql variables: users (count), provider_url (base URL of the mock; empty: a console provider).
-- A user's uuid, phone and client address are derived from its number 1..:users, so the
-- pgbench scripts can pick a user at random without a lookup:
--   uuid  00000000-0000-4000-8000-<number in 12 hex digits>
--   phone +4474<number in 8 digits>   (a UK mobile range libphonenumber accepts)
--   ip    10.<number / 65536 % 256>.<number / 256 % 256>.<number % 256>
-- The helpers are immutable expressions (no text || int, which is only stable), so the planner
-- inlines them and the pgbench scripts pay nothing for them.
CREATE EXTENSION IF NOT EXISTS sms_otp;

CREATE SCHEMA bench;
CREATE FUNCTION bench.user_id(n int) RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ('00000000-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid;
CREATE FUNCTION bench.phone(n int) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN '+4474' || lpad(n::text, 8, '0');
CREATE FUNCTION bench.ip(n int) RETURNS inet LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ('10.' || (n / 65536 % 256)::text || '.' || (n / 256 % 256)::text || '.' || (n % 256)::text)::inet;

-- The same, looked up by number: what the history load joins with.
CREATE TABLE bench.users AS
SELECT n, bench.user_id(n) AS id, bench.phone(n) AS phone, bench.ip(n) AS ip FROM generate_series(1, :users) n;
ALTER TABLE bench.users ADD PRIMARY KEY (n);

INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled)
SELECT id, phone, true FROM bench.users ORDER BY n;

SELECT CASE WHEN :'provider_url' = '' THEN
    $$INSERT INTO sms_otp.api_integrations (name, kind, priority) VALUES ('console', 'console', 10)$$
ELSE format($$INSERT INTO sms_otp.api_integrations (name, kind, priority, base_url, sender, credentials)
              VALUES ('twilio', 'twilio', 10, %L, '+15005550006',
                      '{"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "bench"}')$$,
              :'provider_url') END \gexec

VACUUM ANALYZE sms_otp.user_contact_settings, bench.users;
