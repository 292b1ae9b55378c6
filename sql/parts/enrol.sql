--------------------------------------------------------------------------------------------
-- Self-service enrolment: a user turns SMS codes on, changes the number, or turns them off.
--
-- An enrolment is an ordinary code session (purpose 'enrol', its phone the number being
-- enrolled) sent by otp_send and checked by otp_verify, so it shares their locks, limits,
-- lockout and guard. Entering the code stores the number and turns codes on. While codes are
-- on, changing the number or turning codes off needs this login to have passed the current
-- number within sms_otp.reverify_window: a password alone cannot move or remove the factor.
--------------------------------------------------------------------------------------------

-- sms_otp.reverify_window as an interval. The setting is defined when the library loads: a
-- backend that has not called into it yet loads it through _settings() first.
CREATE OR REPLACE FUNCTION sms_otp._reverify_window() RETURNS interval
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v text := pg_catalog.current_setting('sms_otp.reverify_window', true);
BEGIN
    IF v IS NULL OR v = '' THEN
        PERFORM sms_otp._settings();
        v := pg_catalog.current_setting('sms_otp.reverify_window');
    END IF;
    RETURN v::interval;
END $$;

-- A number as the user may see it without the second factor: +44•••••••23.
CREATE OR REPLACE FUNCTION sms_otp._phone_hint(phone text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN phone IS NOT NULL
                THEN pg_catalog.left(phone, 3) || pg_catalog.repeat('•', greatest(pg_catalog.length(phone) - 5, 0))
                     || pg_catalog.right(phone, 2) END
$$;

-- Has this login entered a code sent to phone (to sign in or to enrol it) since `since`?
CREATE OR REPLACE FUNCTION sms_otp._fresh_factor(uid uuid, login text, phone text, since timestamptz) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (
        SELECT 1 FROM sms_otp.sms_otp_sessions s
        WHERE s.user_id = uid AND s.status = 'verified'
          AND s.expires_at > since          -- a code is entered before it expires: bounds the index scan
          AND s.verified_at > since
          AND s.login_session = login
          AND s.phone = _fresh_factor.phone)
$$;

-- May this login's enrolment of phone, sent at `started`, finish now? Yes while codes are off
-- or no number is set, for the number already set, or when the login had passed the current
-- number within the window before the send. Locks the user's settings row, so that the answer
-- holds until the enrolment is written.
CREATE OR REPLACE FUNCTION sms_otp._may_enrol(uid uuid, login text, phone text, started timestamptz) RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    current_phone text;
    enabled       boolean;
BEGIN
    SELECT c.phone, c.otp_enabled INTO current_phone, enabled
    FROM sms_otp.user_contact_settings c WHERE c.user_id = uid
    FOR UPDATE;
    RETURN NOT coalesce(enabled, false) OR current_phone IS NULL OR current_phone = _may_enrol.phone
        OR sms_otp._fresh_factor(uid, login, current_phone, started - sms_otp._reverify_window());
END $$;

-- A right enrolment code (session s, already marked verified): the number becomes the user's
-- and codes are on. Codes still pending for another number, and every other enrolment, can no
-- longer be used: a code to the old number must not pass the new factor.
CREATE OR REPLACE FUNCTION sms_otp._enrol_finish(uid uuid, s sms_otp.sms_otp_sessions) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO sms_otp.user_contact_settings AS c (user_id, phone, otp_enabled)
    VALUES (uid, s.phone, true)
    ON CONFLICT (user_id) DO UPDATE SET phone = excluded.phone, otp_enabled = true;
    UPDATE sms_otp.sms_otp_sessions x
    SET status = 'superseded', code_hash = NULL, updated_at = pg_catalog.now()
    WHERE x.user_id = uid AND x.status IN ('pending', 'sent') AND x.id <> s.id
      AND (x.purpose = 'enrol' OR x.phone <> s.phone);
    RETURN pg_catalog.jsonb_build_object('verified', true, 'session_id', s.id, 'enrolled', true,
                                         'phone_hint', sms_otp._phone_hint(s.phone));
END $$;

-- What otp_status adds for a settings screen: this login's pending enrolment, until when this
-- login may change or remove the number without a new code (codes on only), and, while an
-- enrolment is pending, when it may send next (the limits are read only then: otp_status of a
-- user without codes is asked on every page load).
CREATE OR REPLACE FUNCTION sms_otp._enrol_status(uid uuid, login text, contact sms_otp.user_contact_settings,
                                                 cfg sms_otp._config) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e          sms_otp.sms_otp_sessions;
    wait_s     int;
    win        interval := sms_otp._reverify_window();
    fresh      timestamptz;
BEGIN
    IF login IS NOT NULL THEN
        SELECT * INTO e FROM sms_otp.sms_otp_sessions x
        WHERE x.user_id = uid AND x.login_session = login AND x.status IN ('pending', 'sent')
          AND x.expires_at > pg_catalog.now() AND x.purpose = 'enrol'
        ORDER BY x.created_at DESC LIMIT 1;
        IF contact.otp_enabled AND contact.phone IS NOT NULL THEN
            SELECT max(x.verified_at) + win INTO fresh FROM sms_otp.sms_otp_sessions x
            WHERE x.user_id = uid AND x.status = 'verified' AND x.expires_at > pg_catalog.now() - win
              AND x.verified_at > pg_catalog.now() - win AND x.login_session = login AND x.phone = contact.phone;
        END IF;
    END IF;
    IF e.id IS NOT NULL THEN
        SELECT greatest(w.wait_seconds, sms_otp._lockout_wait(uid)) INTO wait_s
        FROM sms_otp._send_wait(uid, e.phone, sms_otp._client_net(sms_otp.client_ip(), cfg.ipv6_prefix), cfg) AS w;
    END IF;
    RETURN pg_catalog.jsonb_build_object(
        'enrolment', CASE WHEN e.id IS NOT NULL THEN pg_catalog.jsonb_build_object(
            'session_id', e.id, 'phone_hint', sms_otp._phone_hint(e.phone), 'status', e.status,
            'expires_at', e.expires_at, 'resend_available_at', e.resend_available_at,
            'attempts_remaining', e.max_attempts - e.attempts,
            'delivery', (SELECT o.delivery_status FROM sms_otp.sms_outbox o WHERE o.id = e.outbox_id)) END,
        'reverify_until', fresh,
        'next_send_at', pg_catalog.now() + pg_catalog.make_interval(secs => coalesce(wait_s, 0)));
END $$;

-- Turn SMS codes off and forget the number. Needs this login to have passed the current
-- number within sms_otp.reverify_window; nothing is written otherwise, so the refusals raise.
CREATE OR REPLACE FUNCTION sms_otp.otp_disable() RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    uid     uuid := sms_otp.current_user_id();
    login   text;
    phone   text;
    enabled boolean;
BEGIN
    IF uid IS NULL THEN
        PERFORM sms_otp._raise('not_authenticated', 401, 'Sign in before changing SMS codes.');
    END IF;
    login := sms_otp._require_login();
    -- The same lock as sends and enrolments of this user: none of them interleaves with this.
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('sms_otp.user:' || uid::text, 0));
    SELECT c.phone, c.otp_enabled INTO phone, enabled
    FROM sms_otp.user_contact_settings c WHERE c.user_id = uid
    FOR UPDATE;
    IF NOT coalesce(enabled, false) THEN
        PERFORM sms_otp._raise('otp_not_enabled', 409, 'SMS codes are not turned on for this account.');
    END IF;
    IF phone IS NULL THEN
        -- Codes required with no number yet: the user enrols one, and cannot opt out alone.
        PERFORM sms_otp._raise('no_phone', 409, 'This account has no phone number for SMS codes.');
    END IF;
    IF NOT sms_otp._fresh_factor(uid, login, phone, pg_catalog.now() - sms_otp._reverify_window()) THEN
        PERFORM sms_otp._raise('reverify_required', 403,
            'Enter a code sent to your current number first.',
            'Call otp_send without a phone and otp_verify, then try again within sms_otp.reverify_window.');
    END IF;
    UPDATE sms_otp.user_contact_settings c SET otp_enabled = false, phone = NULL WHERE c.user_id = uid;
    -- Codes still on their way to the number are void.
    UPDATE sms_otp.sms_otp_sessions x
    SET status = 'superseded', code_hash = NULL, updated_at = pg_catalog.now()
    WHERE x.user_id = uid AND x.status IN ('pending', 'sent') AND x.purpose = 'sign_in';
    RETURN pg_catalog.jsonb_build_object('otp_enabled', false);
END $$;
COMMENT ON FUNCTION sms_otp.otp_disable() IS
    'Turn SMS codes off and forget the number; needs a code entered within sms_otp.reverify_window. POST /rpc/otp_disable.';
