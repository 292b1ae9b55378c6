--------------------------------------------------------------------------------------------
-- The API (contract)
--------------------------------------------------------------------------------------------

-- Seconds until the caller may send again (cooldown, then per-minute and per-day limits per
-- user and phone, then the address limits, which are larger because offices and carriers put
-- many people behind one address), with the limit that applies; NULL when a send is allowed.
-- PL/pgSQL rather than SQL: its plan is kept for the session instead of made per transaction.
CREATE OR REPLACE FUNCTION sms_otp._send_wait(uid uuid, phone text, net cidr, cfg sms_otp._config,
                                              OUT reason text, OUT wait_seconds int)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
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
                WHERE s.client_net = net AND s.created_at > now() - interval '1 minute'
                ORDER BY s.created_at DESC OFFSET cfg.ip_per_minute - 1 LIMIT 1) + interval '1 minute'
        UNION ALL
        SELECT 'ip_per_day',
               (SELECT s.created_at FROM sms_otp.sms_otp_sessions s
                WHERE s.client_net = net AND s.created_at > now() - interval '1 day'
                ORDER BY s.created_at DESC OFFSET cfg.ip_per_day - 1 LIMIT 1) + interval '1 day'
    ) AS w
    WHERE w.until > now()
    ORDER BY w.until DESC
    LIMIT 1
    INTO reason, wait_seconds;
END $$;

-- Seconds the user stays locked out after too many wrong codes, or NULL, from what the table
-- says (failures, locked_until) and, when shared memory knows of a later lockout (set by a guess
-- whose transaction rolled back), that one.
CREATE OR REPLACE FUNCTION sms_otp._lockout_seconds(uid uuid, failures int, locked_until timestamptz) RETURNS int
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    locked_until := greatest(locked_until,
                             (sms_otp._guess_check(NULL, NULL, uid, coalesce(failures, 0), locked_until)).locked_until);
    RETURN CASE WHEN locked_until > now() THEN ceil(extract(epoch FROM locked_until - now()))::int END;
END $$;

-- The same, reading the table.
CREATE OR REPLACE FUNCTION sms_otp._lockout_wait(uid uuid) RETURNS int
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
    SELECT sms_otp._lockout_seconds(uid, l.failures, l.locked_until)
    FROM (SELECT) AS one LEFT JOIN sms_otp.user_lockouts l ON l.user_id = uid
$$;

CREATE OR REPLACE FUNCTION sms_otp._locked_out_body(wait int) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
    SELECT sms_otp._respond(429, jsonb_build_object(
        'error', 'locked_out',
        'message', 'Too many wrong codes. Try again in ' || wait || ' seconds.'), wait)
$$;

-- The login of the caller, or a 401 when the token names none and sms_otp.login_fallback is
-- reject: a code is bound to the login that asked for it, so one without a login would be
-- anyone's.
CREATE OR REPLACE FUNCTION sms_otp._require_login() RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    login text := sms_otp._login_session();
BEGIN
    IF login IS NULL THEN
        PERFORM sms_otp._raise('no_login_session', 401,
            'This sign-in token does not say which login it belongs to.',
            'Issue tokens with the claim named by sms_otp.login_claim, or set sms_otp.login_fallback.');
    END IF;
    RETURN login;
END $$;

-- Sends are serialised per user and per address with advisory locks, which only hold at READ
-- COMMITTED: at REPEATABLE READ or SERIALIZABLE the snapshot is taken before the lock, so two
-- sends could both pass a limit. Refuse those levels with a clear error instead.
CREATE OR REPLACE FUNCTION sms_otp._require_read_committed() RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF current_setting('transaction_isolation') NOT IN ('read committed', 'read uncommitted') THEN
        PERFORM sms_otp._raise('unsupported_isolation', 500,
            'otp_send runs only at READ COMMITTED isolation; this transaction is ' ||
            upper(current_setting('transaction_isolation')) || '.',
            'Set default_transaction_isolation = ''read committed'' for the role PostgREST connects as.');
    END IF;
END $$;

-- Four statements against the tables: one read, the rate-limit query, the lock of the queued
-- message a new code replaces, one write. Each costs an executor start, so the work is
-- gathered into as few as the rules allow; generic plans spare the planner on every call.
CREATE OR REPLACE FUNCTION sms_otp.otp_send(phone text DEFAULT NULL, provider_hint text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    cfg          sms_otp._config := sms_otp._settings();
    uid          uuid := sms_otp.current_user_id();
    login        text;
    ip           inet := sms_otp.client_ip();
    net          cidr := sms_otp._client_net(ip, cfg.ipv6_prefix);
    registered   text;
    enabled      boolean;
    failures     int;
    locked_until timestamptz;
    locked       int;
    any_provider boolean;
    hint         text;
    wanted       text;
    destination  text;                -- the number the code goes to
    purpose      text := 'sign_in';   -- or enrol: the code makes destination the registered number
    wait         record;
    guard        jsonb;
    captcha      jsonb;
    session      uuid := gen_random_uuid();
    code         text;
    message      text;
    expires      timestamptz := now() + make_interval(secs => cfg.otp_ttl);
    resend_at    timestamptz := now() + make_interval(secs => cfg.resend_cooldown);
BEGIN
    IF uid IS NULL THEN
        PERFORM sms_otp._raise('not_authenticated', 401, 'Sign in before asking for a code.');
    END IF;
    login := sms_otp._require_login();
    PERFORM sms_otp._require_read_committed();
    -- The CAPTCHA (captcha.sql), when sms_otp.captcha is on: checked before any lock is taken,
    -- so a slow verifier holds up this caller alone. A refusal counts for none of the limits
    -- below, only for the CAPTCHA's own (in shared memory), which answers here.
    captcha := sms_otp._captcha_check(uid, ip, net);
    IF captcha IS NOT NULL THEN
        RETURN captcha;
    END IF;
    -- Sends of one user are serialised, so two at once cannot both pass the limits, and so are
    -- sends from one address, for the per-address limits (locks in memory: cheaper than locking
    -- the user's row, which would write it).
    PERFORM pg_advisory_xact_lock(hashtextextended('sms_otp.user:' || uid::text, 0)),
            CASE WHEN net IS NOT NULL
                 THEN pg_advisory_xact_lock(hashtextextended('sms_otp.ip:' || net::text, 0)) END;

    -- A hint is a preference among the providers marked selectable; any other hint (unknown,
    -- disabled, not selectable) is dropped and the configured order applies, so an answer
    -- never tells which providers exist.
    SELECT c.phone, c.otp_enabled, l.failures, l.locked_until,
           EXISTS (SELECT 1 FROM sms_otp.api_integrations a WHERE a.enabled),
           (SELECT a.name FROM sms_otp.api_integrations a
            WHERE a.name = left(provider_hint, 64) AND a.enabled AND a.selectable)
    INTO registered, enabled, failures, locked_until, any_provider, hint
    FROM (SELECT) AS one
    LEFT JOIN sms_otp.user_contact_settings c ON c.user_id = uid
    LEFT JOIN sms_otp.user_lockouts l ON l.user_id = uid;

    IF otp_send.phone IS NOT NULL THEN
        wanted := CASE WHEN length(otp_send.phone) <= 64 THEN sms_otp.normalize_phone(otp_send.phone) END;
        IF wanted IS NULL THEN
            PERFORM sms_otp._raise('invalid_phone', 400, 'That is not a valid phone number.',
                                   'Write it in international format, such as +14155550123.');
        END IF;
    END IF;
    -- Another number than the one codes go to enrols it (the code goes there, and entering it
    -- stores it): freely while codes are off or no number is set, else only for a login that
    -- has just passed the current number (an attacker with the password alone must not move the
    -- factor). Anything else is the sign-in path, with 1.0's answers.
    IF wanted IS NOT NULL AND (NOT coalesce(enabled, false) OR registered IS NULL OR wanted <> registered) THEN
        IF coalesce(enabled, false) AND registered IS NOT NULL
           AND NOT sms_otp._fresh_factor(uid, login, registered, now() - sms_otp._reverify_window()) THEN
            PERFORM sms_otp._raise('phone_mismatch', 400, 'That is not the phone number registered for this account.');
        END IF;
        purpose := 'enrol';
        destination := wanted;
    ELSE
        IF NOT coalesce(enabled, false) THEN
            PERFORM sms_otp._raise('otp_not_enabled', 409, 'SMS codes are not turned on for this account.');
        END IF;
        IF registered IS NULL THEN
            PERFORM sms_otp._raise('no_phone', 409, 'This account has no phone number for SMS codes.');
        END IF;
        destination := registered;
    END IF;

    locked := sms_otp._lockout_seconds(uid, failures, locked_until);
    IF locked IS NOT NULL THEN
        RETURN sms_otp._locked_out_body(locked);
    END IF;
    wait := sms_otp._send_wait(uid, destination, net, cfg);
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
    -- The SMS-pumping guard (guard.sql) judges the number; a refusal is returned, not raised,
    -- so that its decision record and counters commit.
    guard := sms_otp._guard(destination, uid, net, session, purpose);
    IF guard IS NOT NULL THEN
        RETURN guard;
    END IF;

    code := sms_otp._generate_code(cfg.code_length);
    message := replace(replace(cfg.message_template, '{code}', code), '{minutes}', ceil(cfg.otp_ttl / 60.0)::text);
    IF cfg.webotp_domain IS NOT NULL THEN
        message := message || E'\n\n@' || cfg.webotp_domain || ' #' || code;
    END IF;

    -- The queued message of the code this one replaces is locked first: the worker locks
    -- outbox rows before sessions too, and the same order everywhere means no deadlock.
    PERFORM 1 FROM sms_otp.sms_outbox o
    WHERE o.id IN (SELECT s.outbox_id FROM sms_otp.sms_otp_sessions s
                   WHERE s.user_id = uid AND s.login_session = login AND s.status IN ('pending', 'sent'))
      AND o.status = 'queued'
    FOR UPDATE OF o;

    -- One write: this login's pending code, if any, is replaced (it can no longer be verified,
    -- and if it has not left yet it never will), the message is queued and the session recorded.
    -- Codes of the user's other logins stay theirs.
    WITH old AS (
        UPDATE sms_otp.sms_otp_sessions s
        SET status = 'superseded', code_hash = NULL, updated_at = now()
        WHERE s.user_id = uid AND s.login_session = login AND s.status IN ('pending', 'sent')
        RETURNING s.outbox_id),
    cancelled AS (
        UPDATE sms_otp.sms_outbox o
        SET status = 'cancelled', body = NULL, lease_until = NULL, updated_at = now()
        FROM old
        WHERE o.id = old.outbox_id AND o.status = 'queued'),
    queued AS (
        INSERT INTO sms_otp.sms_outbox (kind, user_id, session_id, "to", body, provider_hint, expires_at)
        VALUES ('otp', uid, session, destination, message, hint, expires)
        RETURNING id)
    INSERT INTO sms_otp.sms_otp_sessions (id, user_id, phone, client_ip, client_net, login_session, status,
                                          attempts, max_attempts, code_hash, outbox_id, expires_at,
                                          resend_available_at, purpose)
    SELECT session, uid, destination, ip, net, login, 'pending', 0,
           cfg.max_attempts, sms_otp._hmac(k.key, session::text || ':' || code), queued.id, expires, resend_at,
           purpose
    FROM queued, sms_otp._secret k;
    PERFORM sms_otp._wake_code_worker_on_commit();

    RETURN jsonb_build_object(
        'session_id', session,
        'expires_at', expires,
        'resend_available_at', resend_at,
        'attempts_remaining', cfg.max_attempts,
        'server_time', now())
        -- an enrolment says so, and where the code went
        || CASE WHEN purpose = 'enrol'
                THEN jsonb_build_object('purpose', purpose, 'phone_hint', sms_otp._phone_hint(destination))
                ELSE '{}' END;
END $$;
COMMENT ON FUNCTION sms_otp.otp_send(text, text) IS
    'Send a one-time code by SMS to the caller''s registered phone, or to another number to enrol it. POST /rpc/otp_send.';

-- Whether a session's code is its provider's, not ours: the provider that took it keeps codes
-- (Twilio Verify, Vonage Verify); while none has taken it yet, whether an enabled provider that
-- keeps codes could (the code entered may then be the provider's, and nothing can check it
-- before the worker has written the provider's id for it).
CREATE OR REPLACE FUNCTION sms_otp._code_kept(provider text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM sms_otp.api_integrations a
                   WHERE a.kind IN ('twilio_verify', 'vonage_verify')
                     AND CASE WHEN provider IS NULL THEN a.enabled ELSE a.name = provider END)
$$;

-- The first half of otp_verify: the code's format, and for a code its provider keeps, the
-- provider's word on it, asked before any row is locked (sms_otp.verify_timeout bounds it), so
-- that a slow provider holds up no send, receipt or worker write on the session.
--
-- Codes are 4 to 10 digits whatever the session: what providers that keep them may use
-- (Vonage's are 4 digits unless told otherwise). Our own codes must be sms_otp.code_length long,
-- which is said only once the session is known to be the caller's: no answer tells what kind
-- of code someone else's session holds. Returns NULL for our own code (and for a session that
-- is not the caller's: otp_verify answers 404); else {"kept": true} with the provider's answer
-- under "verdict" when it was asked, or an answer to return at once under "answer".
--
-- One check of a session runs at a time: a second one while the first is with the provider is
-- told so at once (409 check_in_progress, nothing counted), never queued behind it. It was asked
-- only when otp_verify will judge the code: the session sent, not expired, attempts left, the
-- user not locked out. Each check is logged (sms_messages_log, operation 'check').
CREATE OR REPLACE FUNCTION sms_otp._verify_provider_first(uid uuid, login text, session uuid, otp text,
                                                          cfg sms_otp._config) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s       sms_otp.sms_otp_sessions;
    l       sms_otp.user_lockouts;
    g       sms_otp._guesses;
    started timestamptz;
    verdict jsonb;
BEGIN
    IF otp IS NULL OR length(otp) > 10 OR otp !~ '^[0-9]{4,10}$' THEN
        PERFORM sms_otp._raise('invalid_code_format', 400, 'The code must be ' || cfg.code_length || ' digits.');
    END IF;
    SELECT * INTO s FROM sms_otp.sms_otp_sessions x
    WHERE x.id = session AND x.user_id = uid AND x.login_session = login;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF NOT sms_otp._code_kept(s.provider_name) THEN
        IF length(otp) <> cfg.code_length THEN
            PERFORM sms_otp._raise('invalid_code_format', 400, 'The code must be ' || cfg.code_length || ' digits.');
        END IF;
        RETURN NULL;
    END IF;

    IF NOT pg_try_advisory_xact_lock(hashtextextended('sms_otp.check:' || s.id::text, 0)) THEN
        RETURN jsonb_build_object('kept', true, 'answer', sms_otp._respond(409, jsonb_build_object(
            'verified', false, 'reason', 'check_in_progress',
            'attempts_remaining', greatest(s.max_attempts - s.attempts, 0),
            'message', 'This code is being checked already. Try again in a moment.'), 1));
    END IF;
    -- Read again: a check that held the lock before this one has committed what it learnt.
    SELECT * INTO s FROM sms_otp.sms_otp_sessions x WHERE x.id = session;
    SELECT * INTO l FROM sms_otp.user_lockouts x WHERE x.user_id = uid;
    g := sms_otp._guess_check(s.id, s.attempts, uid, coalesce(l.failures, 0), l.locked_until);
    IF g IS NULL OR g.locked_until > now() OR s.status <> 'sent' OR s.expires_at <= now()
       OR greatest(g.attempts, s.attempts) >= s.max_attempts THEN
        RETURN jsonb_build_object('kept', true);
    END IF;

    started := clock_timestamp();
    verdict := sms_otp._provider_check(coalesce(s.provider_name, ''), coalesce(s.provider_session_id, ''), otp);
    INSERT INTO sms_otp.sms_messages_log (user_id, "to", type, provider_name, status_code, response_time_ms, outcome,
                                          error, session_id, provider_message_id, requested_at, operation)
    VALUES (uid, s.phone, 'otp', s.provider_name, (verdict ->> 'status_code')::int,
            (verdict ->> 'response_time_ms')::int, verdict ->> 'result', verdict ->> 'error', s.id,
            s.provider_session_id, started, 'check');
    RETURN jsonb_build_object('kept', true, 'verdict', verdict);
END $$;

-- Wrong codes are counted in shared memory first (_guess_wrong), outside the transaction, so
-- that BEGIN; otp_verify(wrong); ROLLBACK costs a guess like any other; the tables get the
-- same numbers in this transaction and keep them across restarts. Any isolation level works:
-- the session row is locked and the counts come from shared memory. A code its provider keeps
-- is checked with the provider first, before the row is locked (_verify_provider_first).
CREATE OR REPLACE FUNCTION sms_otp.otp_verify(session_id uuid, otp text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cfg      sms_otp._config := sms_otp._settings();
    uid      uuid := sms_otp.current_user_id();
    login    text;
    s        sms_otp.sms_otp_sessions;
    l        sms_otp.user_lockouts;
    g        sms_otp._guesses;
    matches  boolean;
    kept     jsonb;    -- a code its provider keeps: what the provider said (_verify_provider_first)
    verdict  text;
BEGIN
    IF uid IS NULL THEN
        PERFORM sms_otp._raise('not_authenticated', 401, 'Sign in before entering a code.');
    END IF;
    login := sms_otp._require_login();
    IF otp_verify.session_id IS NULL THEN
        PERFORM sms_otp._raise('invalid_session_id', 400, 'session_id is required.',
                               'Use the session_id that otp_send returned.');
    END IF;
    kept := sms_otp._verify_provider_first(uid, login, otp_verify.session_id, otp, cfg);
    IF kept ? 'answer' THEN
        RETURN kept -> 'answer';
    END IF;
    verdict := kept #>> '{verdict,result}';

    -- An enrolment changes the user's number: it waits for the user's sends and other
    -- enrolments (the lock otp_send takes), before the session row, as otp_send locks too.
    IF EXISTS (SELECT 1 FROM sms_otp.sms_otp_sessions x
               WHERE x.id = otp_verify.session_id AND x.user_id = uid AND x.purpose = 'enrol') THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('sms_otp.user:' || uid::text, 0));
    END IF;

    -- Only the login that asked for the code may enter it.
    SELECT * INTO s FROM sms_otp.sms_otp_sessions x
    WHERE x.id = otp_verify.session_id AND x.user_id = uid AND x.login_session = login
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM sms_otp._raise('session_not_found', 404, 'There is no such code request for this account.',
                               'Ask for a new code.');
    END IF;

    SELECT * INTO l FROM sms_otp.user_lockouts x WHERE x.user_id = uid;
    g := sms_otp._guess_check(s.id, s.attempts, uid, coalesce(l.failures, 0), l.locked_until);
    IF g IS NULL THEN
        PERFORM sms_otp._raise('not_preloaded', 503, 'Codes cannot be checked on this server right now.',
            'sms_otp must be listed in shared_preload_libraries: wrong codes are counted in shared memory.');
    END IF;
    IF g.locked_until > now() THEN
        RETURN sms_otp._locked_out_body(ceil(extract(epoch FROM g.locked_until - now()))::int)
               || jsonb_build_object('verified', false);
    END IF;

    -- Guesses whose transactions rolled back count too.
    IF g.attempts > s.attempts THEN
        s.attempts := g.attempts;
        IF s.attempts >= s.max_attempts AND s.status IN ('pending', 'sent') THEN
            s.status := 'locked';
        END IF;
        UPDATE sms_otp.sms_otp_sessions x
        SET attempts = s.attempts, status = s.status,
            code_hash = CASE WHEN s.status = 'locked' THEN NULL ELSE x.code_hash END, updated_at = now()
        WHERE x.id = s.id;
    END IF;

    IF s.status IN ('pending', 'sent') AND s.expires_at <= now() THEN
        UPDATE sms_otp.sms_otp_sessions x SET status = 'expired', code_hash = NULL, updated_at = now()
        WHERE x.id = s.id;
        s.status := 'expired';
    END IF;
    -- A provider that keeps the code ended its verification itself: it expired there (or was
    -- used or cancelled), or too many wrong codes were entered.
    IF verdict IN ('expired', 'locked') AND s.status IN ('pending', 'sent') THEN
        UPDATE sms_otp.sms_otp_sessions x SET status = verdict, code_hash = NULL, updated_at = now()
        WHERE x.id = s.id;
        s.status := verdict;
    END IF;
    IF s.status <> ALL (ARRAY['pending', 'sent']) THEN
        RETURN sms_otp._respond(
            CASE s.status WHEN 'expired' THEN 400 WHEN 'locked' THEN 403 ELSE 409 END,
            jsonb_build_object('verified', false,
                               'reason', CASE s.status WHEN 'verified' THEN 'already_used' ELSE s.status END,
                               'attempts_remaining',
                               CASE WHEN s.status = 'locked' THEN 0 ELSE greatest(s.max_attempts - s.attempts, 0) END,
                               'message', CASE s.status
                                   WHEN 'expired' THEN 'This code has expired. Ask for a new one.'
                                   WHEN 'locked' THEN 'Too many wrong codes for this request. Ask for a new code.'
                                   WHEN 'verified' THEN 'This code has already been used.'
                                   WHEN 'superseded' THEN 'A newer code was sent. Enter the latest one.'
                                   ELSE 'This code could not be delivered. Ask for a new one.' END));
    END IF;

    -- An enrolment finishes only from where it may start: codes off, no number, the same
    -- number, or this login passed the current number shortly before asking. Otherwise the
    -- user's settings changed since the send (another login enrolled a number, say), and the
    -- code is spent without being checked.
    IF s.purpose = 'enrol' AND NOT sms_otp._may_enrol(uid, login, s.phone, s.created_at) THEN
        UPDATE sms_otp.sms_otp_sessions x SET status = 'superseded', code_hash = NULL, updated_at = now()
        WHERE x.id = s.id;
        RETURN sms_otp._respond(409, jsonb_build_object(
            'verified', false, 'reason', 'superseded', 'attempts_remaining', greatest(s.max_attempts - s.attempts, 0),
            'message', 'Your SMS code settings changed since this code was sent. Start again.'));
    END IF;

    IF kept IS NOT NULL THEN
        -- The provider made and keeps this code; only it can tell, and it was asked above. Not
        -- asked: the code has not left yet (the worker has not written the provider's id), so
        -- the code entered may be right; nothing is counted. Its answers are returned, never
        -- raised, so the log row of the check is kept.
        IF verdict IS NULL THEN
            RETURN sms_otp._respond(409, jsonb_build_object(
                'verified', false, 'reason', 'code_pending', 'attempts_remaining', greatest(s.max_attempts - s.attempts, 0),
                'message', 'Your code is still on its way to us. Try again in a moment.'), 1);
        ELSIF verdict NOT IN ('approved', 'wrong') THEN
            RETURN sms_otp._respond(503, jsonb_build_object(
                'verified', false, 'reason', 'provider_unavailable',
                'attempts_remaining', greatest(s.max_attempts - s.attempts, 0),
                'message', 'The code cannot be checked right now. Try again in a moment.'));
        END IF;
        matches := verdict = 'approved';
    ELSE
        SELECT sms_otp._hash_equal(s.code_hash, sms_otp._hmac(k.key, s.id::text || ':' || otp))
        INTO matches FROM sms_otp._secret k;
    END IF;

    IF matches THEN
        UPDATE sms_otp.sms_otp_sessions x
        SET status = 'verified', verified_at = now(), code_hash = NULL, updated_at = now()
        WHERE x.id = s.id;
        UPDATE sms_otp.user_lockouts x SET failures = 0, updated_at = now() WHERE x.user_id = uid;
        PERFORM sms_otp._guess_forget(s.id, uid, false);
        IF s.purpose = 'enrol' THEN
            RETURN sms_otp._enrol_finish(uid, s);
        END IF;
        RETURN jsonb_build_object('verified', true, 'session_id', s.id);
    END IF;

    g := sms_otp._guess_wrong(s.id, uid, cfg.lockout_threshold, cfg.lockout_duration);
    s.attempts := greatest(g.attempts, s.attempts + 1);
    INSERT INTO sms_otp.user_lockouts AS x (user_id, failures, locked_until, updated_at)
    VALUES (uid, g.failures, g.locked_until, now())
    ON CONFLICT (user_id) DO UPDATE
    SET failures = excluded.failures, locked_until = excluded.locked_until, updated_at = now();
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

-- Forget a user's lockout and failure count (after a support check, say): the table and
-- shared memory. For the service role.
CREATE OR REPLACE FUNCTION sms_otp.reset_lockout(user_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT sms_otp.is_service_role() THEN
        PERFORM sms_otp._raise('forbidden', 403, 'Only the service role may reset a lockout.');
    END IF;
    DELETE FROM sms_otp.user_lockouts l WHERE l.user_id = reset_lockout.user_id;
    PERFORM sms_otp._guess_forget(NULL, reset_lockout.user_id, true);
END $$;
COMMENT ON FUNCTION sms_otp.reset_lockout(uuid) IS
    'Forget a user''s wrong-code lockout and failure count. Service role only.';

-- Has this login passed the SMS step within ttl?
CREATE OR REPLACE FUNCTION sms_otp._verified_login(uid uuid, login text, ttl interval) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (
        SELECT 1 FROM sms_otp.sms_otp_sessions s
        WHERE s.user_id = uid AND s.status = 'verified'
          AND s.expires_at > now() - ttl - interval '1 day'   -- lets the index bound the scan
          AND s.verified_at > now() - ttl
          AND s.login_session = login)
$$;

-- True when the caller has passed the SMS step (within max_age, default sms_otp.verified_ttl,
-- in the login of the token), or does not need it.
CREATE OR REPLACE FUNCTION sms_otp.otp_is_verified(max_age interval DEFAULT NULL) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    uid uuid := sms_otp.current_user_id();
BEGIN
    IF uid IS NULL THEN
        RETURN false;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM sms_otp.user_contact_settings c WHERE c.user_id = uid AND c.otp_enabled) THEN
        RETURN true;
    END IF;
    RETURN sms_otp._verified_login(uid, sms_otp._login_session(),
                                   coalesce(max_age, make_interval(secs => (sms_otp._settings()).verified_ttl)));
END $$;
COMMENT ON FUNCTION sms_otp.otp_is_verified(interval) IS
    'True when the caller passed the SMS step within max_age (default sms_otp.verified_ttl) or does not need it. For RLS policies.';

-- For the read policies: has this login passed an SMS step (not merely "does not need one")?
-- Until then a token is only a first factor, and reads only what the overlay needs.
CREATE OR REPLACE FUNCTION sms_otp._step_passed() RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    uid uuid := sms_otp.current_user_id();
BEGIN
    RETURN uid IS NOT NULL
       AND EXISTS (SELECT 1 FROM sms_otp.user_contact_settings c WHERE c.user_id = uid AND c.otp_enabled)
       AND sms_otp._verified_login(uid, sms_otp._login_session(),
                                   make_interval(secs => (sms_otp._settings()).verified_ttl));
END $$;

-- What the client needs to show the right screen, also after a reload: is the step required,
-- is it done, this login's pending session (no new SMS is sent), and the server's clock.
CREATE OR REPLACE FUNCTION sms_otp.otp_status() RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cfg     sms_otp._config := sms_otp._settings();
    uid     uuid := sms_otp.current_user_id();
    login   text;
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
        -- No step to pass; a settings screen still needs this login's pending enrolment and
        -- when it may send.
        RETURN jsonb_build_object('otp_required', false, 'verified', true, 'session', NULL,
                                  'server_time', now())
               || sms_otp._enrol_status(uid, sms_otp._login_session(), contact, cfg);
    END IF;
    login := sms_otp._require_login();
    SELECT * INTO s FROM sms_otp.sms_otp_sessions x
    WHERE x.user_id = uid AND x.login_session = login AND x.status IN ('pending', 'sent') AND x.expires_at > now()
      AND x.purpose = 'sign_in'
    ORDER BY x.created_at DESC LIMIT 1;
    IF FOUND THEN
        -- What the provider's receipts said of the code's SMS (delivered, undelivered, failed),
        -- so the client can tell the user to ask for another code instead of waiting.
        session := jsonb_build_object('session_id', s.id, 'status', s.status, 'expires_at', s.expires_at,
                                      'resend_available_at', s.resend_available_at,
                                      'attempts_remaining', s.max_attempts - s.attempts,
                                      'delivery', (SELECT o.delivery_status FROM sms_otp.sms_outbox o
                                                   WHERE o.id = s.outbox_id));
    END IF;
    SELECT * INTO wait FROM sms_otp._send_wait(uid, contact.phone,
                                               sms_otp._client_net(sms_otp.client_ip(), cfg.ipv6_prefix), cfg);
    RETURN jsonb_build_object(
        'otp_required', true,
        'verified', sms_otp._verified_login(uid, login, make_interval(secs => cfg.verified_ttl)),
        'phone_hint', CASE WHEN contact.phone IS NOT NULL
                           THEN left(contact.phone, 3) || repeat('•', greatest(length(contact.phone) - 5, 0)) || right(contact.phone, 2) END,
        'session', session,
        'next_send_at', now() + make_interval(secs => coalesce(greatest(wait.wait_seconds,
                                                                         sms_otp._lockout_wait(uid)), 0)),
        'server_time', now())
        || (sms_otp._enrol_status(uid, login, contact, cfg) - 'next_send_at');
END $$;
COMMENT ON FUNCTION sms_otp.otp_status() IS
    'Whether the caller needs the SMS step, whether it is done, and this login''s pending session. POST /rpc/otp_status.';
