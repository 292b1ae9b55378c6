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

