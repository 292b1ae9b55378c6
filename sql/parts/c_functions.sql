--------------------------------------------------------------------------------------------
-- Functions in C++ (EXECUTE revoked from PUBLIC in security.sql, except the public ones).
-- Every function of the extension pins search_path with pg_temp last: with '' PostgreSQL
-- still searches pg_temp first for types and relations, so a caller's temporary objects
-- could stand in for built-in ones.
--------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION sms_otp._settings() RETURNS sms_otp._config
    LANGUAGE c STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_settings';
CREATE OR REPLACE FUNCTION sms_otp._generate_code(digits int) RETURNS text
    LANGUAGE c VOLATILE STRICT SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_generate_code';
CREATE OR REPLACE FUNCTION sms_otp._random_bytes(n int) RETURNS bytea
    LANGUAGE c VOLATILE STRICT SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_random_bytes';
CREATE OR REPLACE FUNCTION sms_otp._hmac(key bytea, message text) RETURNS bytea
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_hmac';
CREATE OR REPLACE FUNCTION sms_otp._hash_equal(a bytea, b bytea) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_hash_equal';
CREATE OR REPLACE FUNCTION sms_otp._wake_worker_on_commit() RETURNS void
    LANGUAGE c VOLATILE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_wake_on_commit';
-- A code queued: the code worker's latch (the delivery worker's while no code worker runs).
CREATE OR REPLACE FUNCTION sms_otp._wake_code_worker_on_commit() RETURNS void
    LANGUAGE c VOLATILE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_wake_codes_on_commit';

-- For providers that keep the code (Twilio Verify, Vonage Verify): ask them, naming the
-- verification by the id they gave it at send time (bounded by sms_otp.verify_timeout).
-- {"result": approved | wrong | expired | locked | unavailable, "status_code", "response_time_ms",
-- "error"}; never raises for what the provider does.
CREATE OR REPLACE FUNCTION sms_otp._provider_check(provider text, verification_id text, code text) RETURNS jsonb
    LANGUAGE c VOLATILE STRICT SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_provider_verdict';

-- Wrong codes counted outside the transaction, in shared memory, so that a guess whose
-- transaction rolls back still counts. _guess_check reconciles with what the tables say
-- (the larger attempt count, the later lockout) and returns the effective state; NULL when
-- the library was not preloaded (no shared memory: otp_verify then refuses to check codes).
CREATE OR REPLACE FUNCTION sms_otp._guess_check(session uuid, attempts int, uid uuid, failures int,
                                                locked_until timestamptz) RETURNS sms_otp._guesses
    LANGUAGE c VOLATILE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_guess_check';
-- Count one wrong code for the session and the user; the user is locked out for
-- lockout_duration seconds once failures reach lockout_threshold. Returns the new state.
CREATE OR REPLACE FUNCTION sms_otp._guess_wrong(session uuid, uid uuid, lockout_threshold int,
                                                lockout_duration int) RETURNS sms_otp._guesses
    LANGUAGE c VOLATILE STRICT SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_guess_wrong';
-- A right code: the session is done and the user's failures start again from zero.
-- clear_lockout also forgets a lockout (reset_lockout, by the service role).
CREATE OR REPLACE FUNCTION sms_otp._guess_forget(session uuid, uid uuid, clear_lockout boolean) RETURNS void
    LANGUAGE c VOLATILE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_guess_forget';

-- CAPTCHA tokens that did not pass, counted in shared memory (a refusal raises, so nothing it
-- wrote would stay) by user and by client network (captcha.sql). _captcha_take, before a token
-- is looked at: the seconds until the user or the network may have one checked again, when
-- either reached its limit (sms_otp.captcha_refusals_per_minute,
-- sms_otp.ip_captcha_refusals_per_minute) in the minute its first one opened; otherwise NULL,
-- and the token counts for both (checked and counted at once, so tokens sent together cannot
-- all slip under the limit). _captcha_give_back: the token passed and counts no more. Without
-- shared memory (not preloaded) nothing is counted and _captcha_take is NULL.
CREATE OR REPLACE FUNCTION sms_otp._captcha_take(uid uuid, net cidr) RETURNS int
    LANGUAGE c VOLATILE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_captcha_take';
CREATE OR REPLACE FUNCTION sms_otp._captcha_give_back(uid uuid, net cidr) RETURNS void
    LANGUAGE c VOLATILE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_captcha_give_back';

-- The delivery worker's state: in flight, counters, each provider's health (for monitoring).
CREATE OR REPLACE FUNCTION sms_otp.worker_status() RETURNS jsonb
    LANGUAGE c VOLATILE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_worker_status';
COMMENT ON FUNCTION sms_otp.worker_status() IS
    'The delivery worker: running, pid, in flight, sent/failed counters and each provider''s health.';

-- Public: E.164 form of a phone number, NULL when it is not a valid number.
CREATE OR REPLACE FUNCTION sms_otp.normalize_phone(phone text) RETURNS text
    LANGUAGE c STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_normalize_phone';
COMMENT ON FUNCTION sms_otp.normalize_phone(text) IS
    'E.164 form of a phone number (libphonenumber), or NULL when it is not a valid number.';

-- A template filled in from data: {"text"} or {"error", "placeholder"} (send_transactional
-- turns an error into a 400).
CREATE OR REPLACE FUNCTION sms_otp._render_template(body text, data jsonb) RETURNS jsonb
    LANGUAGE c IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_render_template';

-- A provider's callback (delivery receipt or inbound message), its signature checked against
-- the provider row's credentials: {"ok": true, "event" | "inbound", "dedupe"} or
-- {"ok": false, "status", "code", "message"}. Reads nothing but its arguments.
CREATE OR REPLACE FUNCTION sms_otp._callback_read(kind text, direction text, url text, method text,
                                                  content_type text, headers jsonb, body text,
                                                  credentials jsonb, now_unix bigint, tolerance_s int) RETURNS jsonb
    LANGUAGE c STABLE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_callback_read';

-- Campaign quiet hours: the IANA time zones a number may be in. Every zone tzdata's zone.tab
-- lists for its country; for US and Canadian numbers, those of the state or province of the
-- area code. Sorted; empty for anything that is not a valid E.164 number. STABLE: zone.tab
-- changes with tzdata.
CREATE OR REPLACE FUNCTION sms_otp._phone_zones(phone text) RETURNS text[]
    LANGUAGE c STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_phone_zones';
COMMENT ON FUNCTION sms_otp._phone_zones(text) IS
    'IANA time zones an E.164 number may be in (zone.tab by country, by state or province for US/CA), sorted; empty when unknown.';

-- Dashboards: the country (ISO 3166 alpha-2) of an E.164 number, from libphonenumber: the
-- number's region when it is valid, else the main country of its calling code; NULL for what
-- belongs to no country. STABLE: the metadata changes with libphonenumber.
CREATE OR REPLACE FUNCTION sms_otp.phone_country(phone text) RETURNS text
    LANGUAGE c STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_phone_country';
COMMENT ON FUNCTION sms_otp.phone_country(text) IS
    'ISO 3166 alpha-2 country of an E.164 number (its region, else its calling code''s main country); NULL when none.';
