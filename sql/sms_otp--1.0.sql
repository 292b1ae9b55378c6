-- sms_otp 1.0: schema, row-level security and the OTP API.
\echo Use "CREATE EXTENSION sms_otp" to load this file. \quit

--------------------------------------------------------------------------------------------
-- Internal C functions (EXECUTE revoked from PUBLIC at the end of this file)
--------------------------------------------------------------------------------------------

-- Every API setting, read in one call; typed so the PL/pgSQL below needs no casts.
CREATE TYPE sms_otp._config AS (
    code_length       int,
    otp_ttl           int,   -- seconds
    max_attempts      int,
    resend_cooldown   int,   -- seconds
    per_minute        int,
    per_day           int,
    trusted_proxies   int,
    lockout_threshold int,
    lockout_duration  int,   -- seconds
    verified_ttl      int,   -- seconds
    service_role      text,
    webotp_domain     text,
    message_template  text,
    verify_timeout    int    -- milliseconds
);

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

--------------------------------------------------------------------------------------------
-- Errors: {"code", "message", "hint"} for PostgREST, with the HTTP status it will send
--------------------------------------------------------------------------------------------

-- Raise an error that PostgREST turns into the given HTTP status (nothing is saved).
CREATE FUNCTION sms_otp._raise(code text, status int, message text, hint text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
    RAISE SQLSTATE 'PGRST' USING
        MESSAGE = pg_catalog.jsonb_build_object('code', code, 'message', message, 'hint', hint)::text,
        DETAIL  = pg_catalog.jsonb_build_object('status', status, 'headers', '{}'::jsonb)::text;
END $$;

-- Return an error body with an HTTP status, when what the call did must be saved.
CREATE FUNCTION sms_otp._respond(status int, body jsonb, retry_after int DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
    PERFORM pg_catalog.set_config('response.status', status::text, true);
    IF retry_after IS NOT NULL THEN
        PERFORM pg_catalog.set_config('response.headers',
            pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('Retry-After', retry_after::text))::text, true);
        RETURN body || pg_catalog.jsonb_build_object('retry_after_seconds', retry_after);
    END IF;
    RETURN body;
END $$;

--------------------------------------------------------------------------------------------
-- Identity and origin, as PostgREST hands them over
--------------------------------------------------------------------------------------------

-- The caller's user id: the JWT's "sub" claim when it is a uuid, else NULL.
CREATE FUNCTION sms_otp.current_user_id() RETURNS uuid
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'sms_otp_current_user_id';
COMMENT ON FUNCTION sms_otp.current_user_id() IS
    'The caller''s user id: the "sub" claim of the PostgREST JWT when it is a uuid, else NULL.';

-- The login session a verification belongs to: the JWT's "session_id" claim (Supabase and
-- the demo login set it). NULL when the token has none.
CREATE FUNCTION sms_otp._login_session() RETURNS text
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'sms_otp_login_session';

-- True when the current role is (a member of) the service role named by sms_otp.service_role.
CREATE FUNCTION sms_otp.is_service_role() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_catalog.pg_roles r
        WHERE r.rolname = coalesce(nullif(pg_catalog.current_setting('sms_otp.service_role', true), ''), 'service_role')
          AND pg_catalog.pg_has_role(r.oid, 'MEMBER'))
$$;
COMMENT ON FUNCTION sms_otp.is_service_role() IS
    'True when the current role is a member of the role named by sms_otp.service_role.';

-- The client's address: counted from the right of X-Forwarded-For past sms_otp.trusted_proxies
-- hops (entries further left are written by the client and can be forged; only the right-hand
-- end of the header is read, so padding cannot hide the proxies' entries), else the address of
-- the connection.
CREATE FUNCTION sms_otp.client_ip() RETURNS inet
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'sms_otp_client_ip';
COMMENT ON FUNCTION sms_otp.client_ip() IS
    'The client address: X-Forwarded-For counted from the right past sms_otp.trusted_proxies, else the connection address.';

--------------------------------------------------------------------------------------------
-- Tables
--------------------------------------------------------------------------------------------

-- The SMS providers, tried by ascending priority.
CREATE TABLE sms_otp.api_integrations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    kind        text NOT NULL CHECK (kind IN ('twilio', 'twilio_verify', 'vonage', 'messagebird',
                                              'plivo', 'webhook', 'console')),
    priority    int NOT NULL DEFAULT 100,
    enabled     boolean NOT NULL DEFAULT true,
    base_url    text CHECK (base_url ~ '^https?://[^\s/?#]+(/[^\s]*)?$' AND length(base_url) <= 2048),
    sender      text CHECK (length(sender) <= 64),
    credentials jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(credentials) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sms_otp.api_integrations IS
    'SMS providers, lower priority first. credentials is write-only for clients.';

-- Credentials each kind needs, checked on write so a typo is an error, not a failed send.
CREATE FUNCTION sms_otp._check_integration() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    required text[] := CASE NEW.kind
        WHEN 'twilio'        THEN ARRAY['account_sid', 'auth_token']
        WHEN 'twilio_verify' THEN ARRAY['account_sid', 'auth_token', 'service_sid']
        WHEN 'vonage'        THEN ARRAY['api_key', 'api_secret']
        WHEN 'messagebird'   THEN ARRAY['access_key']
        WHEN 'plivo'         THEN ARRAY['auth_id', 'auth_token']
        WHEN 'webhook'       THEN ARRAY['secret']
        ELSE ARRAY[]::text[] END;
    key text;
BEGIN
    FOREACH key IN ARRAY required LOOP
        IF coalesce(NEW.credentials ->> key, '') = '' THEN
            RAISE EXCEPTION 'provider "%" of kind % needs credentials.%', NEW.name, NEW.kind, key
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Required keys: ' || array_to_string(required, ', ') || '.';
        END IF;
    END LOOP;
    IF NEW.kind = 'webhook' AND NEW.base_url IS NULL THEN
        RAISE EXCEPTION 'provider "%" of kind webhook needs base_url (the URL to POST to)', NEW.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.kind IN ('twilio', 'vonage', 'messagebird', 'plivo') AND coalesce(NEW.sender, '') = '' THEN
        RAISE EXCEPTION 'provider "%" of kind % needs a sender (the From number or name)', NEW.name, NEW.kind
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $$;
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

-- Phone numbers are stored in E.164 only: what the limits and the comparison in otp_send use.
CREATE FUNCTION sms_otp._normalize_contact() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    e164 text;
BEGIN
    IF NEW.phone IS NOT NULL THEN
        e164 := sms_otp.normalize_phone(NEW.phone);
        IF e164 IS NULL THEN
            RAISE EXCEPTION 'invalid phone number: %', left(NEW.phone, 64)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Write it in international format, such as +14155550123, or set sms_otp.default_region.';
        END IF;
        NEW.phone := e164;
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $$;
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
    updated_at          timestamptz NOT NULL DEFAULT now()
);
-- contract: the active session of a user
CREATE INDEX sms_otp_sessions_user_status_expires_idx ON sms_otp.sms_otp_sessions (user_id, status, expires_at);
-- rate limits: the newest sends per user, per phone and per address, read newest first
CREATE INDEX sms_otp_sessions_user_created_idx ON sms_otp.sms_otp_sessions (user_id, created_at);
CREATE INDEX sms_otp_sessions_phone_created_idx ON sms_otp.sms_otp_sessions (phone, created_at);
CREATE INDEX sms_otp_sessions_ip_created_idx ON sms_otp.sms_otp_sessions (client_ip, created_at)
    WHERE client_ip IS NOT NULL;

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
    created_at          timestamptz NOT NULL DEFAULT now()
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
-- the worker's claim: due messages, oldest first; the index holds only live rows
CREATE INDEX sms_outbox_due_idx ON sms_otp.sms_outbox (next_attempt_at) WHERE status = 'queued';

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

--------------------------------------------------------------------------------------------
-- The API (contract)
--------------------------------------------------------------------------------------------

-- Seconds until the caller may send again (cooldown, then per-minute and per-day limits per
-- user, phone and address), with the limit that applies; NULL when a send is allowed now.
-- PL/pgSQL rather than SQL: its plan is kept for the session instead of made per transaction.
CREATE FUNCTION sms_otp._send_wait(uid uuid, phone text, ip inet, cfg sms_otp._config,
                                   OUT reason text, OUT wait_seconds int)
LANGUAGE plpgsql STABLE SET search_path = '' AS $$
BEGIN
    SELECT w.reason, ceil(extract(epoch FROM w.until - now()))::int
    FROM (
        -- No cooldown means none: a send that waited for this user's previous one to commit
        -- would otherwise see that one's start as later than its own.
        SELECT 'cooldown' AS reason,
               (SELECT s.created_at FROM sms_otp.sms_otp_sessions s WHERE s.user_id = uid AND cfg.resend_cooldown > 0
                ORDER BY s.created_at DESC LIMIT 1) + make_interval(secs => cfg.resend_cooldown) AS until
        UNION ALL
        SELECT 'user_per_minute',
               (SELECT s.created_at FROM sms_otp.sms_otp_sessions s
                WHERE s.user_id = uid AND s.created_at > now() - interval '1 minute'
                ORDER BY s.created_at DESC OFFSET cfg.per_minute - 1 LIMIT 1) + interval '1 minute'
        UNION ALL
        SELECT 'user_per_day',
               (SELECT s.created_at FROM sms_otp.sms_otp_sessions s
                WHERE s.user_id = uid AND s.created_at > now() - interval '1 day'
                ORDER BY s.created_at DESC OFFSET cfg.per_day - 1 LIMIT 1) + interval '1 day'
        UNION ALL
        SELECT 'phone_per_minute',
               (SELECT s.created_at FROM sms_otp.sms_otp_sessions s
                WHERE s.phone = _send_wait.phone AND s.created_at > now() - interval '1 minute'
                ORDER BY s.created_at DESC OFFSET cfg.per_minute - 1 LIMIT 1) + interval '1 minute'
        UNION ALL
        SELECT 'phone_per_day',
               (SELECT s.created_at FROM sms_otp.sms_otp_sessions s
                WHERE s.phone = _send_wait.phone AND s.created_at > now() - interval '1 day'
                ORDER BY s.created_at DESC OFFSET cfg.per_day - 1 LIMIT 1) + interval '1 day'
        UNION ALL
        SELECT 'ip_per_minute',
               (SELECT s.created_at FROM sms_otp.sms_otp_sessions s
                WHERE s.client_ip = ip AND s.created_at > now() - interval '1 minute'
                ORDER BY s.created_at DESC OFFSET cfg.per_minute - 1 LIMIT 1) + interval '1 minute'
        UNION ALL
        SELECT 'ip_per_day',
               (SELECT s.created_at FROM sms_otp.sms_otp_sessions s
                WHERE s.client_ip = ip AND s.created_at > now() - interval '1 day'
                ORDER BY s.created_at DESC OFFSET cfg.per_day - 1 LIMIT 1) + interval '1 day'
    ) AS w
    WHERE w.until > now()
    ORDER BY w.until DESC
    LIMIT 1
    INTO reason, wait_seconds;
END $$;

-- Seconds the user stays locked out after too many wrong codes, or NULL.
CREATE FUNCTION sms_otp._lockout_wait(uid uuid) RETURNS int
LANGUAGE plpgsql STABLE SET search_path = '' AS $$
BEGIN
    RETURN (SELECT ceil(extract(epoch FROM l.locked_until - now()))::int
            FROM sms_otp.user_lockouts l
            WHERE l.user_id = uid AND l.locked_until > now());
END $$;

CREATE FUNCTION sms_otp._locked_out_body(wait int) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = '' AS $$
    SELECT sms_otp._respond(429, jsonb_build_object(
        'error', 'locked_out',
        'message', 'Too many wrong codes. Try again in ' || wait || ' seconds.'), wait)
$$;

-- Three statements against the tables: one read, the rate-limit query, one write. Each costs
-- an executor start, so the work is gathered into as few as the rules allow; generic plans
-- spare the planner on every call.
CREATE FUNCTION sms_otp.otp_send(phone text DEFAULT NULL, provider_hint text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = '' SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    cfg          sms_otp._config := sms_otp._settings();
    uid          uuid := sms_otp.current_user_id();
    ip           inet := sms_otp.client_ip();
    registered   text;
    enabled      boolean;
    locked       int;
    any_provider boolean;
    hinted       boolean;
    wanted       text;
    wait         record;
    session      uuid := gen_random_uuid();
    code         text;
    message      text;
    expires      timestamptz := now() + make_interval(secs => cfg.otp_ttl);
    resend_at    timestamptz := now() + make_interval(secs => cfg.resend_cooldown);
BEGIN
    IF uid IS NULL THEN
        PERFORM sms_otp._raise('not_authenticated', 401, 'Sign in before asking for a code.');
    END IF;
    IF length(provider_hint) > 64 THEN
        PERFORM sms_otp._raise('unknown_provider', 400, 'There is no enabled SMS provider by that name.',
                               'Leave provider_hint empty to use the configured order.');
    END IF;
    -- Sends of one user are serialised, so two at once cannot both pass the limits, and so are
    -- sends from one address, for the per-address limits (locks in memory: cheaper than locking
    -- the user's row, which would write it).
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('sms_otp.user:' || uid::text, 0)),
            CASE WHEN ip IS NOT NULL
                 THEN pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('sms_otp.ip:' || host(ip), 0)) END;

    SELECT c.phone, c.otp_enabled,
           (SELECT ceil(extract(epoch FROM l.locked_until - now()))::int FROM sms_otp.user_lockouts l
            WHERE l.user_id = uid AND l.locked_until > now()),
           EXISTS (SELECT 1 FROM sms_otp.api_integrations a WHERE a.enabled),
           provider_hint IS NULL OR EXISTS (SELECT 1 FROM sms_otp.api_integrations a
                                            WHERE a.name = provider_hint AND a.enabled)
    INTO registered, enabled, locked, any_provider, hinted
    FROM (SELECT) AS one
    LEFT JOIN sms_otp.user_contact_settings c ON c.user_id = uid;

    IF NOT hinted THEN
        PERFORM sms_otp._raise('unknown_provider', 400, 'There is no enabled SMS provider by that name.',
                               'Leave provider_hint empty to use the configured order.');
    END IF;
    IF NOT coalesce(enabled, false) THEN
        PERFORM sms_otp._raise('otp_not_enabled', 409, 'SMS codes are not turned on for this account.');
    END IF;
    IF registered IS NULL THEN
        PERFORM sms_otp._raise('no_phone', 409, 'This account has no phone number for SMS codes.');
    END IF;
    IF otp_send.phone IS NOT NULL THEN
        wanted := sms_otp.normalize_phone(otp_send.phone);
        IF wanted IS NULL THEN
            PERFORM sms_otp._raise('invalid_phone', 400, 'That is not a valid phone number.',
                                   'Write it in international format, such as +14155550123.');
        END IF;
        IF wanted <> registered THEN
            PERFORM sms_otp._raise('phone_mismatch', 400, 'That is not the phone number registered for this account.');
        END IF;
    END IF;

    IF locked IS NOT NULL THEN
        RETURN sms_otp._locked_out_body(locked);
    END IF;
    wait := sms_otp._send_wait(uid, registered, ip, cfg);
    IF wait.reason IS NOT NULL THEN
        RETURN sms_otp._respond(429, jsonb_build_object(
            'error', 'rate_limited', 'limit', wait.reason,
            'message', CASE WHEN wait.reason = 'cooldown'
                            THEN 'Please wait ' || wait.wait_seconds || ' seconds before asking for another code.'
                            ELSE 'Too many codes requested. Try again in ' || wait.wait_seconds || ' seconds.' END),
            wait.wait_seconds);
    END IF;
    IF NOT any_provider THEN
        PERFORM sms_otp._raise('no_provider', 503, 'No SMS provider is available right now.',
                               'An administrator must enable a provider in sms_otp.api_integrations.');
    END IF;

    code := sms_otp._generate_code(cfg.code_length);
    message := replace(replace(cfg.message_template, '{code}', code), '{minutes}', ceil(cfg.otp_ttl / 60.0)::text);
    IF cfg.webotp_domain IS NOT NULL THEN
        message := message || E'\n\n@' || cfg.webotp_domain || ' #' || code;
    END IF;

    -- One write: the pending code, if any, is replaced (it can no longer be verified, and if it
    -- has not left yet it never will), the message is queued and the session recorded.
    WITH old AS (
        UPDATE sms_otp.sms_otp_sessions s
        SET status = 'superseded', code_hash = NULL, updated_at = now()
        WHERE s.user_id = uid AND s.status IN ('pending', 'sent')
        RETURNING s.outbox_id),
    cancelled AS (
        UPDATE sms_otp.sms_outbox o
        SET status = 'cancelled', body = NULL, lease_until = NULL, updated_at = now()
        FROM old
        WHERE o.id = old.outbox_id AND o.status = 'queued'),
    queued AS (
        INSERT INTO sms_otp.sms_outbox (kind, user_id, session_id, "to", body, provider_hint, expires_at)
        VALUES ('otp', uid, session, registered, message, provider_hint, expires)
        RETURNING id)
    INSERT INTO sms_otp.sms_otp_sessions (id, user_id, phone, client_ip, login_session, status, attempts,
                                          max_attempts, code_hash, outbox_id, expires_at, resend_available_at)
    SELECT session, uid, registered, ip, sms_otp._login_session(), 'pending', 0,
           cfg.max_attempts, sms_otp._hmac(k.key, session::text || ':' || code), queued.id, expires, resend_at
    FROM queued, sms_otp._secret k;
    PERFORM sms_otp._wake_worker_on_commit();

    RETURN jsonb_build_object(
        'session_id', session,
        'expires_at', expires,
        'resend_available_at', resend_at,
        'attempts_remaining', cfg.max_attempts);
END $$;
COMMENT ON FUNCTION sms_otp.otp_send(text, text) IS
    'Send a one-time code by SMS to the caller''s registered phone. POST /rpc/otp_send.';

-- A wrong code counts against the session and against the user, in this (committing) transaction.
CREATE FUNCTION sms_otp._count_failure(uid uuid, cfg sms_otp._config) RETURNS void
LANGUAGE sql VOLATILE SET search_path = '' AS $$
    INSERT INTO sms_otp.user_lockouts AS l (user_id, failures, updated_at)
    VALUES (uid, 1, now())
    ON CONFLICT (user_id) DO UPDATE
    SET failures = CASE WHEN l.failures + 1 >= cfg.lockout_threshold THEN 0 ELSE l.failures + 1 END,
        locked_until = CASE WHEN l.failures + 1 >= cfg.lockout_threshold
                            THEN now() + make_interval(secs => cfg.lockout_duration) ELSE l.locked_until END,
        updated_at = now()
$$;

CREATE FUNCTION sms_otp.otp_verify(session_id uuid, otp text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    cfg      sms_otp._config := sms_otp._settings();
    uid      uuid := sms_otp.current_user_id();
    s        sms_otp.sms_otp_sessions;
    locked   int;
    matches  boolean;
BEGIN
    IF uid IS NULL THEN
        PERFORM sms_otp._raise('not_authenticated', 401, 'Sign in before entering a code.');
    END IF;
    IF otp_verify.session_id IS NULL THEN
        PERFORM sms_otp._raise('invalid_session_id', 400, 'session_id is required.',
                               'Use the session_id that otp_send returned.');
    END IF;
    IF otp IS NULL OR length(otp) <> cfg.code_length OR otp !~ '^[0-9]+$' THEN
        PERFORM sms_otp._raise('invalid_code_format', 400,
                               'The code must be ' || cfg.code_length || ' digits.');
    END IF;

    SELECT * INTO s FROM sms_otp.sms_otp_sessions x
    WHERE x.id = otp_verify.session_id AND x.user_id = uid
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM sms_otp._raise('session_not_found', 404, 'There is no such code request for this account.',
                               'Ask for a new code.');
    END IF;

    locked := sms_otp._lockout_wait(uid);
    IF locked IS NOT NULL THEN
        RETURN sms_otp._locked_out_body(locked) || jsonb_build_object('verified', false);
    END IF;

    IF s.status IN ('pending', 'sent') AND s.expires_at <= now() THEN
        UPDATE sms_otp.sms_otp_sessions x SET status = 'expired', code_hash = NULL, updated_at = now()
        WHERE x.id = s.id;
        s.status := 'expired';
    END IF;
    IF s.status <> ALL (ARRAY['pending', 'sent']) THEN
        RETURN sms_otp._respond(
            CASE s.status WHEN 'expired' THEN 400 WHEN 'locked' THEN 403 ELSE 409 END,
            jsonb_build_object('verified', false,
                               'reason', CASE s.status WHEN 'verified' THEN 'already_used' ELSE s.status END,
                               'attempts_remaining',
                               greatest(s.max_attempts - s.attempts, 0),
                               'message', CASE s.status
                                   WHEN 'expired' THEN 'This code has expired. Ask for a new one.'
                                   WHEN 'locked' THEN 'Too many wrong codes for this request. Ask for a new code.'
                                   WHEN 'verified' THEN 'This code has already been used.'
                                   WHEN 'superseded' THEN 'A newer code was sent. Enter the latest one.'
                                   ELSE 'This code could not be delivered. Ask for a new one.' END));
    END IF;

    IF EXISTS (SELECT 1 FROM sms_otp.api_integrations a
               WHERE a.name = s.provider_name AND a.kind = 'twilio_verify') THEN
        -- The provider made and keeps this code; only it can tell.
        matches := sms_otp._provider_check(s.provider_name, s.phone, otp);
        IF matches IS NULL THEN
            PERFORM sms_otp._raise('provider_unavailable', 503, 'The code cannot be checked right now. Try again in a moment.');
        END IF;
    ELSE
        SELECT sms_otp._hash_equal(s.code_hash, sms_otp._hmac(k.key, s.id::text || ':' || otp))
        INTO matches FROM sms_otp._secret k;
    END IF;

    IF matches THEN
        UPDATE sms_otp.sms_otp_sessions x
        SET status = 'verified', verified_at = now(), code_hash = NULL, updated_at = now()
        WHERE x.id = s.id;
        UPDATE sms_otp.user_lockouts l SET failures = 0, updated_at = now() WHERE l.user_id = uid;
        RETURN jsonb_build_object('verified', true, 'session_id', s.id);
    END IF;

    PERFORM sms_otp._count_failure(uid, cfg);
    s.attempts := s.attempts + 1;
    UPDATE sms_otp.sms_otp_sessions x
    SET attempts = s.attempts,
        status = CASE WHEN s.attempts >= s.max_attempts THEN 'locked' ELSE x.status END,
        code_hash = CASE WHEN s.attempts >= s.max_attempts THEN NULL ELSE x.code_hash END,
        updated_at = now()
    WHERE x.id = s.id;
    IF s.attempts >= s.max_attempts THEN
        RETURN sms_otp._respond(403, jsonb_build_object(
            'verified', false, 'reason', 'locked', 'attempts_remaining', 0,
            'message', 'Too many wrong codes for this request. Ask for a new code.'));
    END IF;
    RETURN sms_otp._respond(400, jsonb_build_object(
        'verified', false, 'reason', 'invalid_code', 'attempts_remaining', s.max_attempts - s.attempts,
        'message', 'That code is not right. ' || (s.max_attempts - s.attempts) || ' attempts left.'));
END $$;
COMMENT ON FUNCTION sms_otp.otp_verify(uuid, text) IS
    'Check a one-time code. POST /rpc/otp_verify.';

-- True when the caller has passed the SMS step (within max_age, default sms_otp.verified_ttl,
-- and for the login session of the token when it names one), or does not need it.
CREATE FUNCTION sms_otp.otp_is_verified(max_age interval DEFAULT NULL) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    uid uuid := sms_otp.current_user_id();
    ttl interval := coalesce(max_age, make_interval(secs => (sms_otp._settings()).verified_ttl));
BEGIN
    IF uid IS NULL THEN
        RETURN false;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM sms_otp.user_contact_settings c WHERE c.user_id = uid AND c.otp_enabled) THEN
        RETURN true;
    END IF;
    RETURN EXISTS (
        SELECT 1 FROM sms_otp.sms_otp_sessions s
        WHERE s.user_id = uid AND s.status = 'verified'
          AND s.expires_at > now() - ttl - interval '1 day'   -- lets the index bound the scan
          AND s.verified_at > now() - ttl
          AND s.login_session IS NOT DISTINCT FROM sms_otp._login_session());
END $$;
COMMENT ON FUNCTION sms_otp.otp_is_verified(interval) IS
    'True when the caller passed the SMS step within max_age (default sms_otp.verified_ttl) or does not need it. For RLS policies.';

-- What the client needs to show the right screen, also after a reload: is the step required,
-- is it done, the pending session (no new SMS is sent), and the server's clock.
CREATE FUNCTION sms_otp.otp_status() RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    cfg     sms_otp._config := sms_otp._settings();
    uid     uuid := sms_otp.current_user_id();
    contact sms_otp.user_contact_settings;
    s       sms_otp.sms_otp_sessions;
    wait    record;
    session jsonb;
BEGIN
    IF uid IS NULL THEN
        PERFORM sms_otp._raise('not_authenticated', 401, 'Sign in first.');
    END IF;
    SELECT * INTO contact FROM sms_otp.user_contact_settings c WHERE c.user_id = uid;
    IF NOT coalesce(contact.otp_enabled, false) THEN
        RETURN jsonb_build_object('otp_required', false, 'verified', true, 'session', NULL,
                                  'server_time', now());
    END IF;
    SELECT * INTO s FROM sms_otp.sms_otp_sessions x
    WHERE x.user_id = uid AND x.status IN ('pending', 'sent') AND x.expires_at > now()
    ORDER BY x.created_at DESC LIMIT 1;
    IF FOUND THEN
        session := jsonb_build_object('session_id', s.id, 'status', s.status, 'expires_at', s.expires_at,
                                      'resend_available_at', s.resend_available_at,
                                      'attempts_remaining', s.max_attempts - s.attempts);
    END IF;
    SELECT * INTO wait FROM sms_otp._send_wait(uid, contact.phone, sms_otp.client_ip(), cfg);
    RETURN jsonb_build_object(
        'otp_required', true,
        'verified', sms_otp.otp_is_verified(),
        'phone_hint', CASE WHEN contact.phone IS NOT NULL
                           THEN left(contact.phone, 3) || repeat('•', greatest(length(contact.phone) - 5, 0)) || right(contact.phone, 2) END,
        'session', session,
        'next_send_at', now() + make_interval(secs => coalesce(greatest(wait.wait_seconds,
                                                                         sms_otp._lockout_wait(uid)), 0)),
        'server_time', now());
END $$;
COMMENT ON FUNCTION sms_otp.otp_status() IS
    'Whether the caller needs the SMS step, whether it is done, and the pending session. POST /rpc/otp_status.';

--------------------------------------------------------------------------------------------
-- Privileges and row-level security
--------------------------------------------------------------------------------------------

GRANT USAGE ON SCHEMA sms_otp TO PUBLIC;

-- Every function is callable only by its owner unless granted below.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA sms_otp FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    sms_otp.otp_send(text, text),
    sms_otp.otp_verify(uuid, text),
    sms_otp.otp_status(),
    sms_otp.otp_is_verified(interval),
    sms_otp.current_user_id(),
    sms_otp.client_ip(),
    sms_otp.is_service_role(),
    sms_otp.normalize_phone(text)
TO PUBLIC;

-- Reads: every column but code hashes, credentials and queued bodies; rows through RLS.
GRANT SELECT (id, user_id, phone, client_ip, login_session, provider_name, provider_session_id, status,
              attempts, max_attempts, outbox_id, expires_at, resend_available_at, created_at, sent_at,
              verified_at, updated_at)
    ON sms_otp.sms_otp_sessions TO PUBLIC;
GRANT SELECT ON sms_otp.sms_messages_log, sms_otp.user_contact_settings TO PUBLIC;
GRANT SELECT (id, name, kind, priority, enabled, base_url, sender, created_at, updated_at)
    ON sms_otp.api_integrations TO PUBLIC;
GRANT SELECT (id, kind, user_id, session_id, "to", provider_hint, status, attempts, next_attempt_at,
              lease_until, expires_at, dedupe_key, provider_name, provider_message_id, last_error,
              created_at, updated_at)
    ON sms_otp.sms_outbox TO PUBLIC;
-- Writes: RLS lets only the service role through.
GRANT INSERT, UPDATE ON sms_otp.sms_otp_sessions, sms_otp.sms_messages_log TO PUBLIC;
GRANT INSERT, UPDATE, DELETE ON sms_otp.user_contact_settings, sms_otp.api_integrations TO PUBLIC;

ALTER TABLE sms_otp.sms_otp_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.sms_messages_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.user_contact_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.api_integrations ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.sms_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.user_lockouts ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp._secret ENABLE ROW LEVEL SECURITY;

CREATE POLICY own_rows ON sms_otp.sms_otp_sessions FOR SELECT
    USING (user_id = sms_otp.current_user_id() OR sms_otp.is_service_role());
CREATE POLICY service_insert ON sms_otp.sms_otp_sessions FOR INSERT WITH CHECK (sms_otp.is_service_role());
CREATE POLICY service_update ON sms_otp.sms_otp_sessions FOR UPDATE
    USING (sms_otp.is_service_role()) WITH CHECK (sms_otp.is_service_role());

CREATE POLICY own_rows ON sms_otp.sms_messages_log FOR SELECT
    USING (user_id = sms_otp.current_user_id() OR sms_otp.is_service_role());
CREATE POLICY service_insert ON sms_otp.sms_messages_log FOR INSERT WITH CHECK (sms_otp.is_service_role());
CREATE POLICY service_update ON sms_otp.sms_messages_log FOR UPDATE
    USING (sms_otp.is_service_role()) WITH CHECK (sms_otp.is_service_role());

CREATE POLICY own_rows ON sms_otp.user_contact_settings FOR SELECT
    USING (user_id = sms_otp.current_user_id() OR sms_otp.is_service_role());
CREATE POLICY service_insert ON sms_otp.user_contact_settings FOR INSERT WITH CHECK (sms_otp.is_service_role());
CREATE POLICY service_update ON sms_otp.user_contact_settings FOR UPDATE
    USING (sms_otp.is_service_role()) WITH CHECK (sms_otp.is_service_role());
CREATE POLICY service_delete ON sms_otp.user_contact_settings FOR DELETE USING (sms_otp.is_service_role());

CREATE POLICY service_all ON sms_otp.api_integrations FOR ALL
    USING (sms_otp.is_service_role()) WITH CHECK (sms_otp.is_service_role());

CREATE POLICY service_select ON sms_otp.sms_outbox FOR SELECT USING (sms_otp.is_service_role());
