--------------------------------------------------------------------------------------------
-- The opt-out ledger: STOP by SMS (receipts.sql), or another channel through opt_out() /
-- opt_in() (a form, support). sms_opt_outs says who is out now, sms_opt_out_events how it
-- came to be. send_transactional and the worker's claim both read it (_opted_out), so an
-- opt-out also stops messages already queued.
--------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION sms_otp._record_opt_out(phone text, scope text, source text, keyword text,
                                                   provider text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    added boolean;
BEGIN
    INSERT INTO sms_otp.sms_opt_outs AS o (phone, scope, source) VALUES (phone, scope, source)
    ON CONFLICT ON CONSTRAINT sms_opt_outs_pkey DO NOTHING;
    added := FOUND;
    INSERT INTO sms_otp.sms_opt_out_events (phone, scope, action, source, keyword, provider_name)
    VALUES (phone, scope, 'opt_out', source, keyword, provider);
    -- a STOP replied to a campaign counts against it (its STOP rate may pause it)
    IF added AND source = 'sms' THEN
        PERFORM sms_otp._campaign_note_stop(phone);
    END IF;
    RETURN added;
END $$;

-- scope NULL: every scope (an SMS START undoes the STOP and any other opt-out of the number).
CREATE OR REPLACE FUNCTION sms_otp._record_opt_in(phone text, scope text, source text, keyword text,
                                                  provider text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    removed boolean;
BEGIN
    DELETE FROM sms_otp.sms_opt_outs o
    WHERE o.phone = _record_opt_in.phone AND (_record_opt_in.scope IS NULL OR o.scope = _record_opt_in.scope);
    removed := FOUND;
    INSERT INTO sms_otp.sms_opt_out_events (phone, scope, action, source, keyword, provider_name)
    VALUES (phone, coalesce(scope, 'all'), 'opt_in', source, keyword, provider);
    RETURN removed;
END $$;

-- HELP: the configured reply, through the provider the question came in on, at most one per
-- number in ten minutes (a phone texting HELP in a loop does not make us text back in one).
CREATE OR REPLACE FUNCTION sms_otp._help_reply(phone text, provider text, keyword text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    recent boolean;
BEGIN
    recent := EXISTS (SELECT 1 FROM sms_otp.sms_opt_out_events e
                      WHERE e.phone = _help_reply.phone AND e.created_at > now() - interval '10 minutes'
                        AND e.action = 'help');
    INSERT INTO sms_otp.sms_opt_out_events (phone, scope, action, source, keyword, provider_name)
    VALUES (phone, 'all', 'help', 'sms', keyword, provider);
    IF recent OR sms_otp.normalize_phone(phone) IS NULL THEN
        RETURN false;
    END IF;
    INSERT INTO sms_otp.sms_outbox (kind, "to", body, provider_hint, category, expires_at, segments, encoding)
    SELECT 'transactional', phone, r, provider, 'help', now() + interval '1 hour',
           (c ->> 'segments')::int, c ->> 'encoding'
    FROM (SELECT current_setting('sms_otp.help_reply') AS r) x, sms_otp.sms_segments(x.r) AS c;
    PERFORM sms_otp._wake_worker_on_commit();
    RETURN true;
END $$;

CREATE OR REPLACE FUNCTION sms_otp._opt_args(phone text, scope text, source text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    normalized text := sms_otp.normalize_phone(phone);
BEGIN
    IF NOT sms_otp.is_service_role() THEN
        PERFORM sms_otp._raise('forbidden', 403, 'Only the service role may change opt-outs.');
    END IF;
    IF normalized IS NULL THEN
        PERFORM sms_otp._raise('invalid_phone', 400, 'That is not a valid phone number.',
                               'Write it in international format, such as +14155550123.');
    END IF;
    IF scope IS NULL OR scope !~ '^[a-z][a-z0-9_]{0,31}$' THEN
        PERFORM sms_otp._raise('invalid_scope', 400,
                               'A scope is all, promo or a category: lower-case letters, digits, underscores.');
    END IF;
    IF source IS NULL OR length(source) NOT BETWEEN 1 AND 64 OR source !~ '^[\x20-\x7E]+$' THEN
        PERFORM sms_otp._raise('invalid_source', 400, 'A source is 1 to 64 printable ASCII characters, such as web_form.');
    END IF;
    RETURN normalized;
END $$;

CREATE OR REPLACE FUNCTION sms_otp.opt_out(phone text, scope text DEFAULT 'all', source text DEFAULT 'api') RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    number text := sms_otp._opt_args(phone, scope, source);
BEGIN
    RETURN jsonb_build_object('phone', number, 'scope', scope, 'opted_out', true,
                              'changed', sms_otp._record_opt_out(number, scope, source, NULL, NULL));
END $$;
COMMENT ON FUNCTION sms_otp.opt_out(text, text, text) IS
    'Record an opt-out from another channel (scope all, promo or a category). Service role only. POST /rpc/opt_out.';

CREATE OR REPLACE FUNCTION sms_otp.opt_in(phone text, scope text DEFAULT 'all', source text DEFAULT 'api') RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    number text := sms_otp._opt_args(phone, scope, source);
BEGIN
    RETURN jsonb_build_object('phone', number, 'scope', scope, 'opted_out', false,
                              'changed', sms_otp._record_opt_in(number, scope, source, NULL, NULL));
END $$;
COMMENT ON FUNCTION sms_otp.opt_in(text, text, text) IS
    'Withdraw an opt-out of one scope (the number asked again). Service role only. POST /rpc/opt_in.';
