--------------------------------------------------------------------------------------------
-- The optional CAPTCHA check of otp_send (sms_otp.captcha: off, turnstile or hcaptcha). The
-- token comes in the X-Captcha-Token header; it is checked once with the provider's
-- siteverify endpoint, by a bounded synchronous request made before otp_send takes any lock,
-- and remembered (captcha_tokens) so that it buys one code only. Every refusal is raised:
-- nothing is written when a token is refused, and no code, session or rate-limit count exists
-- yet; a token that does not pass is counted in shared memory instead (_captcha_take), by user
-- and by client network, and past their limits the verifier is not asked until the minute is
-- over. Internal: EXECUTE revoked from PUBLIC in security.sql.
--------------------------------------------------------------------------------------------

-- The x-captcha-token member of request.headers; NULL when absent or empty (or the headers
-- are unreadable or larger than 64 kB). A token longer than 2048 bytes comes back cut just
-- past that length.
CREATE OR REPLACE FUNCTION sms_otp._captcha_token() RETURNS text
    LANGUAGE c VOLATILE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_captcha_token';

-- One siteverify request (sms_otp.captcha_timeout, sms_otp.http_allowed_hosts):
-- {"result": passed | failed | unavailable, "status_code", "response_time_ms", "error"}; never
-- raises for what the verifier does. "error" is for the server log only.
CREATE OR REPLACE FUNCTION sms_otp._captcha_verify(token text, remoteip text) RETURNS jsonb
    LANGUAGE c VOLATILE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_captcha_verify';

-- Raises captcha_required (403) without a token, captcha_failed (403) for any token not
-- accepted (too long, seen before, refused by the verifier: one answer, so a client learns
-- nothing about which), captcha_unavailable (503) when the verifier cannot say (down, slow,
-- an unreadable answer, our secret refused): the check fails closed. Returns the rate_limited
-- answer (429, limit captcha_per_minute) when the user or the client network net (ip's, as
-- otp_send groups addresses; ip goes to the verifier as remoteip) had its limit of tokens not
-- passed (refused, or the verifier unavailable) this minute, before the token is looked at;
-- NULL when the token passed, or when sms_otp.captcha is off.
CREATE OR REPLACE FUNCTION sms_otp._captcha_check(uid uuid, ip inet, net cidr) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    token   text;
    digest  bytea;
    verdict jsonb;
    kept    int;
    wait    int;
BEGIN
    IF pg_catalog.current_setting('sms_otp.captcha') = 'off' THEN
        RETURN NULL;
    END IF;
    token := sms_otp._captcha_token();
    IF token IS NULL THEN
        PERFORM sms_otp._raise('captcha_required', 403, 'Complete the CAPTCHA before asking for a code.',
                               'Send the CAPTCHA token in the X-Captcha-Token header.');
    END IF;
    -- Counted now, given back if it passes: a refusal raises, and what it wrote would not stay.
    wait := sms_otp._captcha_take(uid, net);
    IF wait IS NOT NULL THEN
        RETURN sms_otp._respond(429, pg_catalog.jsonb_build_object(
            'error', 'rate_limited', 'limit', 'captcha_per_minute',
            'message', 'Too many CAPTCHA attempts failed. Try again in ' || wait || ' seconds.'), wait);
    END IF;
    IF pg_catalog.octet_length(token) > 2048 THEN
        PERFORM sms_otp._raise('captcha_failed', 403, 'The CAPTCHA was not accepted. Complete it again.');
    END IF;
    digest := pg_catalog.sha256(pg_catalog.convert_to(token, 'UTF8'));
    IF EXISTS (SELECT 1 FROM sms_otp.captcha_tokens t
               WHERE t.token_hash = digest
                 AND t.expires_at > pg_catalog.now()) THEN
        PERFORM sms_otp._raise('captcha_failed', 403, 'The CAPTCHA was not accepted. Complete it again.');
    END IF;

    verdict := sms_otp._captcha_verify(token, pg_catalog.host(ip));
    IF verdict ->> 'result' = 'failed' THEN
        PERFORM sms_otp._raise('captcha_failed', 403, 'The CAPTCHA was not accepted. Complete it again.');
    ELSIF verdict ->> 'result' IS DISTINCT FROM 'passed' THEN
        RAISE LOG 'sms_otp: CAPTCHA verifier unavailable: %', verdict;
        PERFORM sms_otp._raise('captcha_unavailable', 503, 'The CAPTCHA cannot be checked right now. Try again shortly.');
    END IF;

    -- Remembered for Turnstile's validity window (hCaptcha's is shorter). A token another
    -- transaction is accepting at the same moment waits for it here, and is then refused.
    INSERT INTO sms_otp.captcha_tokens AS t (token_hash, expires_at)
    VALUES (digest, pg_catalog.now() + interval '300 seconds')
    ON CONFLICT (token_hash) DO UPDATE SET expires_at = excluded.expires_at
        WHERE t.expires_at <= pg_catalog.now();
    GET DIAGNOSTICS kept = ROW_COUNT;
    IF kept = 0 THEN
        PERFORM sms_otp._raise('captcha_failed', 403, 'The CAPTCHA was not accepted. Complete it again.');
    END IF;
    PERFORM sms_otp._captcha_give_back(uid, net);
    -- Each accepted token clears a few expired ones: the table stays the size of five minutes
    -- of sends.
    DELETE FROM sms_otp.captcha_tokens t
    WHERE t.ctid = ANY (ARRAY(
        SELECT o.ctid FROM sms_otp.captcha_tokens o
        WHERE o.expires_at <= pg_catalog.now()
        ORDER BY o.expires_at LIMIT 50 FOR UPDATE SKIP LOCKED));
    RETURN NULL;
END $$;
