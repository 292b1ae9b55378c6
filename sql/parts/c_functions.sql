CREATE FUNCTION sms_otp._settings() RETURNS sms_otp._config
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'sms_otp_settings';
CREATE FUNCTION sms_otp._generate_code(digits int) RETURNS text
    LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'sms_otp_generate_code';
CREATE FUNCTION sms_otp._random_bytes(n int) RETURNS bytea
    LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'sms_otp_random_bytes';
CREATE FUNCTION sms_otp._hmac(key bytea, message text) RETURNS bytea
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'sms_otp_hmac';
CREATE FUNCTION sms_otp._hash_equal(a bytea, b bytea) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'sms_otp_hash_equal';
CREATE FUNCTION sms_otp._wake_worker_on_commit() RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'sms_otp_wake_on_commit';

-- For providers that keep the code (Twilio Verify): ask them. NULL when they cannot answer.
CREATE FUNCTION sms_otp._provider_check(provider text, phone text, code text) RETURNS boolean
    LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'sms_otp_provider_check';

-- The delivery worker's state: in flight, counters, each provider's health (for monitoring).
CREATE FUNCTION sms_otp.worker_status() RETURNS jsonb
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'sms_otp_worker_status';
COMMENT ON FUNCTION sms_otp.worker_status() IS
    'The delivery worker: running, pid, in flight, sent/failed counters and each provider''s health.';

-- Public: E.164 form of a phone number, NULL when it is not a valid number.
CREATE FUNCTION sms_otp.normalize_phone(phone text) RETURNS text
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'sms_otp_normalize_phone';
COMMENT ON FUNCTION sms_otp.normalize_phone(text) IS
    'E.164 form of a phone number (libphonenumber), or NULL when it is not a valid number.';

