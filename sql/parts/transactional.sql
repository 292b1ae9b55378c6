--------------------------------------------------------------------------------------------
-- Transactional sends: a backend's booking confirmations and payment receipts, through the
-- same queue, worker and providers as the codes, exactly once under retries.
--------------------------------------------------------------------------------------------

-- A request header as PostgREST passes it (names in lower case), NULL when absent.
CREATE OR REPLACE FUNCTION sms_otp._request_header(name text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT nullif(current_setting('request.headers', true), '')::jsonb ->> lower(name)
$$;

-- Opt-outs that stop a message to phone: promo stops at any opt-out of 'all' or 'promo'; a
-- transactional message at 'all' or its own category, unless its category says it does not
-- honour opt-outs (sms_categories). Codes never stop here: the user asked for one just now.
CREATE OR REPLACE FUNCTION sms_otp._opted_out(phone text, kind text, category text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE kind
        WHEN 'promo' THEN EXISTS (SELECT 1 FROM sms_otp.sms_opt_outs o
                                  WHERE o.phone = _opted_out.phone AND o.scope IN ('all', 'promo'))
        WHEN 'transactional' THEN
            -- the answer to HELP goes to opted-out numbers too: carriers require it
            category IS DISTINCT FROM 'help' AND coalesce((SELECT c.honours_opt_out FROM sms_otp.sms_categories c WHERE c.name = _opted_out.category), true)
            AND EXISTS (SELECT 1 FROM sms_otp.sms_opt_outs o
                        WHERE o.phone = _opted_out.phone AND o.scope IN ('all', _opted_out.category))
        ELSE false END
$$;

-- The template body for a name and locale: the locale itself, then its language (pt-BR -> pt),
-- then sms_otp.default_locale.
CREATE OR REPLACE FUNCTION sms_otp._template_body(name text, locale text) RETURNS sms_otp.sms_templates
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT t.* FROM sms_otp.sms_templates t
    WHERE t.name = _template_body.name
      AND t.locale IN (_template_body.locale, split_part(_template_body.locale, '-', 1),
                       current_setting('sms_otp.default_locale'))
    ORDER BY t.locale = _template_body.locale DESC, t.locale = split_part(_template_body.locale, '-', 1) DESC
    LIMIT 1
$$;

-- Characters no message may hold: C0 and C1 controls other than tab, newline and carriage
-- return, and the Unicode non-characters and unpaired-surrogate stand-ins a client may send.
CREATE OR REPLACE FUNCTION sms_otp._unfit_text(body text) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT body ~ '[\x01-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\uFFFE\uFFFF\uFFFD]'
$$;

CREATE OR REPLACE FUNCTION sms_otp._send_transactional(
    to_given text, template_name text, data jsonb, body_given text, category text, business_ref text,
    send_at timestamptz, valid_for interval, key_given text, locale text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    header    text := sms_otp._request_header('idempotency-key');
    idem_key  text := coalesce(key_given, header);
    fingerprint bytea;
    prior     sms_otp.sms_idempotency_keys;
    phone     text;
    tmpl      sms_otp.sms_templates;
    rendered  jsonb;
    body      text;
    counted   jsonb;
    starts    timestamptz;
    expires   timestamptz;
    validity  interval;
    dedupe    text;
    row       sms_otp.sms_outbox;
    duplicate boolean := false;
    answer    jsonb;
    max_parts int := current_setting('sms_otp.max_segments')::int;
BEGIN
    IF NOT sms_otp.is_service_role() THEN
        PERFORM sms_otp._raise('forbidden', 403, 'Only the service role may send transactional messages.',
                               'Call send_transactional from your backend with the service role''s key.');
    END IF;

    -- Idempotency (IETF draft "The Idempotency-Key HTTP Header Field", as Stripe does it).
    IF key_given IS NOT NULL AND header IS NOT NULL AND key_given <> header THEN
        PERFORM sms_otp._raise('idempotency_key_conflict', 400,
                               'The Idempotency-Key header and the idempotency_key argument differ.');
    END IF;
    IF idem_key IS NULL AND current_setting('sms_otp.idempotency_required')::boolean THEN
        PERFORM sms_otp._raise('idempotency_key_missing', 400, 'This server requires an Idempotency-Key.',
                               'Send an Idempotency-Key header (a UUID, say) and reuse it when you retry.');
    END IF;
    IF idem_key IS NOT NULL AND (length(idem_key) NOT BETWEEN 1 AND 255 OR idem_key !~ '^[\x21-\x7E]+$') THEN
        PERFORM sms_otp._raise('invalid_idempotency_key', 400,
                               'An idempotency key is 1 to 255 printable ASCII characters without spaces.');
    END IF;
    IF idem_key IS NOT NULL THEN
        fingerprint := sha256(convert_to(jsonb_build_array(to_given, template_name, data, body_given, category,
                                                           business_ref, send_at, valid_for, locale)::text, 'UTF8'));
        -- A call with the same key still open holds this lock until it commits or rolls back.
        IF NOT pg_try_advisory_xact_lock(1397576497, hashtext(idem_key)) THEN
            RAISE SQLSTATE 'PGRST' USING
                MESSAGE = jsonb_build_object('code', 'idempotency_in_flight',
                                             'message', 'A request with this idempotency key is still being processed.',
                                             'hint', 'Retry after it has finished.')::text,
                DETAIL = '{"status": 409, "headers": {"Retry-After": "1"}}';
        END IF;
        SELECT * INTO prior FROM sms_otp.sms_idempotency_keys k WHERE k.key = idem_key;
        IF FOUND AND prior.expires_at > now() THEN
            IF prior.request_hash <> fingerprint THEN
                PERFORM sms_otp._raise('idempotency_key_reused', 422,
                                       'This idempotency key was used for a different request.',
                                       'Use a new key for a new message.');
            END IF;
            PERFORM pg_catalog.set_config('response.headers', '[{"Idempotent-Replayed": "true"}]', true);
            RETURN prior.response;
        ELSIF FOUND THEN
            DELETE FROM sms_otp.sms_idempotency_keys k WHERE k.key = idem_key;
        END IF;
    END IF;

    -- What to send.
    IF (template_name IS NULL) = (body_given IS NULL) THEN
        PERFORM sms_otp._raise('template_or_text', 400, 'Give either a template or a text, not both.');
    END IF;
    IF category IS NULL OR category !~ '^[a-z][a-z0-9_]{0,31}$' OR category = 'promo' THEN
        PERFORM sms_otp._raise('invalid_category', 400,
                               'A category is 1 to 32 lower-case letters, digits or underscores (not promo).');
    END IF;
    phone := sms_otp.normalize_phone(to_given);
    IF phone IS NULL THEN
        PERFORM sms_otp._raise('invalid_phone', 400, 'That is not a valid phone number.',
                               'Write it in international format, such as +14155550123.');
    END IF;
    IF business_ref IS NOT NULL AND (length(business_ref) NOT BETWEEN 1 AND 200 OR business_ref !~ '^[\x20-\x7E]+$') THEN
        PERFORM sms_otp._raise('invalid_business_ref', 400,
                               'A business_ref is 1 to 200 printable ASCII characters, such as booking:123:confirmed.');
    END IF;
    IF locale IS NOT NULL AND locale !~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$' THEN
        PERFORM sms_otp._raise('invalid_locale', 400, 'A locale is a language tag such as en or pt-BR.');
    END IF;
    IF data IS NOT NULL AND jsonb_typeof(data) <> 'object' THEN
        PERFORM sms_otp._raise('invalid_template_data', 400, 'data must be a JSON object of placeholder values.');
    END IF;

    IF template_name IS NOT NULL THEN
        tmpl := sms_otp._template_body(template_name, coalesce(locale, current_setting('sms_otp.default_locale')));
        IF tmpl.name IS NULL THEN
            PERFORM sms_otp._raise('unknown_template', 400, 'There is no template named ' || quote_literal(template_name)
                                   || ' for this locale.', 'Templates are rows of sms_otp.sms_templates.');
        END IF;
        rendered := sms_otp._render_template(tmpl.body, data);
        IF rendered ? 'error' THEN
            PERFORM sms_otp._raise(rendered ->> 'error', 400,
                CASE rendered ->> 'error'
                    WHEN 'template_data_missing' THEN 'data has no value for {' || (rendered ->> 'placeholder') || '}.'
                    WHEN 'invalid_template_data' THEN 'The value for {' || (rendered ->> 'placeholder')
                                                      || '} must be a string, a number or a boolean.'
                    ELSE 'The message would be too long.' END);
        END IF;
        body := rendered ->> 'text';
    ELSE
        body := body_given;
    END IF;
    IF length(body) > 1600 THEN
        PERFORM sms_otp._raise('message_too_long', 400, 'The message is longer than ' || max_parts || ' SMS parts.');
    END IF;
    IF btrim(body, E' \t\r\n') = '' THEN
        PERFORM sms_otp._raise('empty_text', 400, 'The message is empty.');
    END IF;
    IF sms_otp._unfit_text(body) THEN
        PERFORM sms_otp._raise('invalid_text', 400, 'The message holds control characters that SMS cannot carry.');
    END IF;
    counted := sms_otp.sms_segments(body);
    IF (counted ->> 'segments')::int > max_parts THEN
        PERFORM sms_otp._raise('message_too_long', 400,
                               'The message takes ' || (counted ->> 'segments') || ' SMS parts; at most '
                               || max_parts || ' are sent.', 'Shorten it.');
    END IF;

    -- When, and until when.
    starts := greatest(coalesce(send_at, now()), now());
    IF starts > now() + interval '30 days' THEN
        PERFORM sms_otp._raise('invalid_send_at', 400, 'send_at is at most 30 days ahead.');
    END IF;
    validity := coalesce(valid_for, current_setting('sms_otp.message_validity')::interval);
    IF validity < interval '1 minute' OR validity > interval '7 days' THEN
        PERFORM sms_otp._raise('invalid_valid_for', 400, 'valid_for is between 1 minute and 7 days.');
    END IF;
    expires := starts + validity;

    IF sms_otp._opted_out(phone, 'transactional', category) THEN
        PERFORM sms_otp._raise('opted_out', 422, 'This number has opted out of these messages.',
                               'The recipient can text START to opt in again.');
    END IF;

    -- Without a key, business_ref dedupes: one message per recipient, template and reference.
    IF business_ref IS NOT NULL THEN
        dedupe := 'tx:' || encode(sha256(convert_to(jsonb_build_array(phone, template_name, business_ref)::text,
                                                    'UTF8')), 'hex');
    END IF;
    INSERT INTO sms_otp.sms_outbox AS o (kind, "to", body, next_attempt_at, expires_at, dedupe_key, category,
                                         business_ref, template, locale, segments, encoding)
    VALUES ('transactional', phone, body, starts, expires, dedupe, category, business_ref, tmpl.name, tmpl.locale,
            (counted ->> 'segments')::int, counted ->> 'encoding')
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING o.* INTO row;
    IF row.id IS NULL THEN
        SELECT * INTO row FROM sms_otp.sms_outbox o WHERE o.dedupe_key = dedupe;
        duplicate := true;
    ELSIF starts <= now() THEN
        PERFORM sms_otp._wake_worker_on_commit();
    END IF;

    answer := jsonb_build_object('message_id', row.id, 'status', row.status, 'segments', row.segments,
                                 'encoding', row.encoding, 'send_at', row.next_attempt_at,
                                 'expires_at', row.expires_at, 'duplicate', duplicate);
    IF idem_key IS NOT NULL THEN
        INSERT INTO sms_otp.sms_idempotency_keys (key, request_hash, response, message_id, expires_at)
        VALUES (idem_key, fingerprint, answer, row.id,
                now() + current_setting('sms_otp.idempotency_ttl')::interval);
    END IF;
    RETURN answer;
END $$;

-- The API: POST /rpc/send_transactional {"to", "template", "data"} or {"to", "text"}.
CREATE OR REPLACE FUNCTION sms_otp.send_transactional(
    "to" text, template text DEFAULT NULL, data jsonb DEFAULT NULL, text text DEFAULT NULL,
    category text DEFAULT 'transactional', business_ref text DEFAULT NULL, send_at timestamptz DEFAULT NULL,
    valid_for interval DEFAULT NULL, idempotency_key text DEFAULT NULL, locale text DEFAULT NULL) RETURNS jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT sms_otp._send_transactional($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
$$;
COMMENT ON FUNCTION sms_otp.send_transactional(text, text, jsonb, text, text, text, timestamptz, interval, text, text) IS
    'Queue a transactional SMS (template + data, or text), once per idempotency key or business_ref. Service role only. POST /rpc/send_transactional.';
