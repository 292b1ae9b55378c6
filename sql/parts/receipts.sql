--------------------------------------------------------------------------------------------
-- Provider callbacks: delivery receipts and inbound messages.
--
-- Providers post to the callback proxy (deploy/nginx), which hands PostgREST the raw body as
-- text/plain with the URI, method and content type the provider used in X-Original-* headers;
-- PostgREST passes a text/plain body whole to a function with one unnamed text parameter.
-- The worker asks for receipts at {callback_url}/{kind}/{integration}/status/{outbox id};
-- inbound messages come to {callback_url}/{kind}/{integration}/inbound. Nothing is written
-- before the provider's signature over that URL and body has been checked.
--------------------------------------------------------------------------------------------

-- How far along a message is; a receipt only ever moves it up. A terminal state outranks the
-- others, and of two terminal ones the handset's word wins: delivered over undelivered over
-- failed. Taking the maximum makes the outcome the same in any order of arrival.
CREATE OR REPLACE FUNCTION sms_otp._delivery_rank(status text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE status WHEN 'queued' THEN 0 WHEN 'accepted' THEN 1 WHEN 'sent' THEN 2 WHEN 'failed' THEN 3
                       WHEN 'undelivered' THEN 4 WHEN 'delivered' THEN 5 ELSE -1 END
$$;

-- Does an event (status, at, error) replace the current state? A higher rank does; at the same
-- status the earlier event (then the smaller error code) stands, so duplicates and reorderings
-- end in the same row.
CREATE OR REPLACE FUNCTION sms_otp._delivery_wins(status text, at timestamptz, error text,
                                                  cur_status text, cur_at timestamptz, cur_error text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT sms_otp._delivery_rank(status) > sms_otp._delivery_rank(coalesce(cur_status, 'queued'))
        OR (status = cur_status
            AND (at < cur_at OR (at = cur_at AND coalesce(error, '') < coalesce(cur_error, ''))))
$$;

-- Move a message (and the log row of the attempt the provider accepted) to a receipt's state,
-- if that is forward. True when the message moved.
CREATE OR REPLACE FUNCTION sms_otp._apply_delivery(ref bigint, pmid text, st text, at timestamptz, err text)
RETURNS boolean LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    moved boolean;
BEGIN
    UPDATE sms_otp.sms_outbox x
    SET delivery_status = st, delivery_at = at, delivery_error = err, updated_at = now()
    WHERE x.id = ref
      AND (pmid IS NULL OR x.provider_message_id IS NULL OR x.provider_message_id = pmid)
      AND sms_otp._delivery_wins(st, at, err, x.delivery_status, x.delivery_at, x.delivery_error);
    moved := FOUND;
    -- delivery_received_at: when this server first heard of the state (the dashboards' latency)
    UPDATE sms_otp.sms_messages_log l
    SET delivery_status = st, delivery_at = at, delivery_error = err,
        delivery_received_at = CASE WHEN l.delivery_status IS DISTINCT FROM st THEN now() ELSE l.delivery_received_at END
    WHERE l.outbox_id = ref AND l.provider_message_id = pmid
      AND sms_otp._delivery_wins(st, at, err, l.delivery_status, l.delivery_at, l.delivery_error);
    RETURN moved;
END $$;

-- A receipt, checked: kept once (dedupe), then applied to the message and to the log row of
-- the attempt it is about, if it moves them forward. The message is the one the callback URL
-- names (or the payload's reference to it), and it must be one this provider row handled: a
-- receipt signed with one provider's key says nothing about another provider's message (404,
-- nothing kept). A receipt that comes while the message is still in flight, before the worker
-- has written which provider took it, is kept and applied by the worker when it writes that
-- (_apply_pending_receipts): it is neither lost nor taken on trust.
CREATE OR REPLACE FUNCTION sms_otp._apply_receipt(integration text, url_id bigint, ev jsonb, event_key text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ref     bigint := coalesce(url_id, CASE WHEN ev ->> 'reference' ~ '^[0-9]{1,18}$'
                                            THEN (ev ->> 'reference')::bigint END);
    o       sms_otp.sms_outbox;
    pmid    text := left(ev ->> 'provider_message_id', 200);
    st      text := ev ->> 'status';
    err     text := left(ev ->> 'error_code', 64);
    at      timestamptz := coalesce((ev ->> 'occurred_at')::timestamptz, now());
    ev_id   bigint;
    applied boolean := false;
BEGIN
    IF ref IS NOT NULL THEN
        SELECT * INTO o FROM sms_otp.sms_outbox x WHERE x.id = ref;
    END IF;
    IF o.id IS NULL OR o.provider_name IS DISTINCT FROM integration AND o.provider_name IS NOT NULL THEN
        PERFORM sms_otp._raise('unknown_message', 404, 'This callback is about no message this provider sent from here.');
    END IF;
    INSERT INTO sms_otp.sms_delivery_events AS e (outbox_id, provider_name, provider_message_id, status,
                                                  provider_status, error_code, occurred_at, applied, dedupe)
    VALUES (ref, integration, pmid, st, left(ev ->> 'provider_status', 64), err,
            (ev ->> 'occurred_at')::timestamptz, false, event_key)
    ON CONFLICT (dedupe) DO NOTHING
    RETURNING e.id INTO ev_id;
    IF ev_id IS NULL THEN
        RETURN jsonb_build_object('ok', true, 'message_id', ref, 'duplicate', true, 'applied', false);
    END IF;
    IF st IS NOT NULL AND o.provider_name IS NOT NULL THEN
        applied := sms_otp._apply_delivery(ref, pmid, st, at, err);
        IF applied THEN
            UPDATE sms_otp.sms_delivery_events e SET applied = true WHERE e.id = ev_id;
        END IF;
    END IF;
    RETURN jsonb_build_object('ok', true, 'message_id', ref, 'duplicate', false, 'applied', applied,
                              'pending', o.provider_name IS NULL);
END $$;

-- The receipts that came while these messages were in flight, applied now that the worker has
-- written which provider took each (only that provider's, for the message id it gave).
CREATE OR REPLACE FUNCTION sms_otp._apply_pending_receipts(ids bigint[]) RETURNS int
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e     record;
    moved int := 0;
BEGIN
    FOR e IN
        SELECT d.id, d.outbox_id, d.provider_message_id, d.status, d.error_code,
               coalesce(d.occurred_at, d.received_at) AS at
        FROM sms_otp.sms_delivery_events d
        JOIN sms_otp.sms_outbox o ON o.id = d.outbox_id
        WHERE d.outbox_id = ANY (ids) AND NOT d.applied AND d.status IS NOT NULL
          AND d.provider_name = o.provider_name
          AND (d.provider_message_id IS NULL OR d.provider_message_id = o.provider_message_id)
        ORDER BY d.outbox_id, d.id
    LOOP
        IF sms_otp._apply_delivery(e.outbox_id, e.provider_message_id, e.status, e.at, e.error_code) THEN
            UPDATE sms_otp.sms_delivery_events d SET applied = true WHERE d.id = e.id;
            moved := moved + 1;
        END IF;
    END LOOP;
    RETURN moved;
END $$;

-- An inbound message: kept once, and acted on when it is a keyword (sms_keywords) as a whole.
CREATE OR REPLACE FUNCTION sms_otp._apply_inbound(integration text, msg jsonb, event_key text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sender text := left(msg ->> 'from', 64);
    phone  text := coalesce(sms_otp.normalize_phone(sender), sender);
    -- upper() by Unicode rules whatever the database's collation (arrêt is ARRÊT)
    word   text := upper(btrim(coalesce(msg ->> 'text', ''), E' \t\r\n.!') COLLATE "und-x-icu");
    act    text;
    id     bigint;
BEGIN
    IF sender IS NULL OR sender = '' THEN
        PERFORM sms_otp._raise('malformed_callback', 400, 'The inbound message has no sender.');
    END IF;
    SELECT k.action INTO act FROM sms_otp.sms_keywords k WHERE k.keyword = word;
    INSERT INTO sms_otp.sms_inbound_messages AS m (provider_name, "from", "to", text, provider_message_id, action, dedupe)
    VALUES (integration, phone, left(msg ->> 'to', 64), left(msg ->> 'text', 1600),
            left(msg ->> 'provider_message_id', 200), act, event_key)
    ON CONFLICT (dedupe) DO NOTHING
    RETURNING m.id INTO id;
    IF id IS NULL THEN
        RETURN jsonb_build_object('ok', true, 'duplicate', true, 'action', act);
    END IF;
    IF act = 'stop' THEN
        PERFORM sms_otp._record_opt_out(phone, 'all', 'sms', word, integration);
    ELSIF act = 'start' THEN
        PERFORM sms_otp._record_opt_in(phone, NULL, 'sms', word, integration);
    ELSIF act = 'help' THEN
        PERFORM sms_otp._help_reply(phone, integration, word);
    END IF;
    RETURN jsonb_build_object('ok', true, 'duplicate', false, 'action', act);
END $$;

-- One callback, from the proxy to the table.
CREATE OR REPLACE FUNCTION sms_otp._callback(kind text, direction text, body text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    headers jsonb := coalesce(nullif(current_setting('request.headers', true), '')::jsonb, '{}');
    base    text := current_setting('sms_otp.callback_url');
    uri     text := headers ->> 'x-original-uri';
    origin  text;
    prefix  text;
    path    text;
    m       text[];
    integ   sms_otp.api_integrations;
    got     jsonb;
BEGIN
    IF base = '' THEN
        PERFORM sms_otp._raise('callbacks_not_configured', 503, 'This server takes no provider callbacks.',
                               'Set sms_otp.callback_url to the public URL of the callback proxy.');
    END IF;
    IF uri IS NULL OR uri !~ '^/[\x21-\x7E]*$' THEN
        PERFORM sms_otp._raise('proxy_required', 400, 'Callbacks come through the callback proxy.',
                               'The proxy passes the URI the provider called in X-Original-URI (deploy/nginx).');
    END IF;
    origin := substring(base FROM '^https?://[^/]+');
    prefix := substr(base, length(origin) + 1);
    path := split_part(uri, '?', 1);
    IF left(path, length(prefix) + 1) = prefix || '/' THEN
        m := regexp_match(substr(path, length(prefix) + 2),
                          '^([a-z_]+)/([a-z0-9][a-z0-9_.-]{0,62})/(status|inbound)(?:/([0-9]{1,18}))?$');
    END IF;
    IF m IS NULL OR m[1] <> kind OR m[3] <> direction OR (direction = 'inbound' AND m[4] IS NOT NULL) THEN
        PERFORM sms_otp._raise('unknown_callback', 404, 'There is no such callback address.',
                               'Receipts go to {callback_url}/{kind}/{provider name}/status/{message id}, '
                               || 'inbound messages to {callback_url}/{kind}/{provider name}/inbound.');
    END IF;
    -- Disabled providers still report on what they sent.
    SELECT * INTO integ FROM sms_otp.api_integrations a WHERE a.name = m[2] AND a.kind = _callback.kind;
    IF NOT FOUND THEN
        PERFORM sms_otp._raise('unknown_integration', 404, 'There is no ' || kind || ' provider of that name.');
    END IF;
    got := sms_otp._callback_read(kind, direction, origin || uri, coalesce(headers ->> 'x-original-method', 'POST'),
                                  headers ->> 'x-original-content-type', headers, body, integ.credentials,
                                  extract(epoch FROM now())::bigint,
                                  extract(epoch FROM current_setting('sms_otp.callback_tolerance')::interval)::int);
    IF NOT coalesce((got ->> 'ok')::boolean, false) THEN
        PERFORM sms_otp._raise(got ->> 'code', (got ->> 'status')::int, got ->> 'message');
    END IF;
    IF direction = 'status' THEN
        RETURN sms_otp._apply_receipt(integ.name, m[4]::bigint, got -> 'event', got ->> 'dedupe');
    END IF;
    RETURN sms_otp._apply_inbound(integ.name, got -> 'inbound', got ->> 'dedupe');
END $$;

-- One function per provider kind and direction: POST /rpc/receipt_twilio and so on, with the
-- raw body as text/plain (the proxy sends it so).
CREATE OR REPLACE FUNCTION sms_otp.receipt_twilio(text) RETURNS jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$ SELECT sms_otp._callback('twilio', 'status', $1) $$;
CREATE OR REPLACE FUNCTION sms_otp.receipt_vonage(text) RETURNS jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$ SELECT sms_otp._callback('vonage', 'status', $1) $$;
CREATE OR REPLACE FUNCTION sms_otp.receipt_messagebird(text) RETURNS jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$ SELECT sms_otp._callback('messagebird', 'status', $1) $$;
CREATE OR REPLACE FUNCTION sms_otp.receipt_plivo(text) RETURNS jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$ SELECT sms_otp._callback('plivo', 'status', $1) $$;
CREATE OR REPLACE FUNCTION sms_otp.receipt_webhook(text) RETURNS jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$ SELECT sms_otp._callback('webhook', 'status', $1) $$;
CREATE OR REPLACE FUNCTION sms_otp.inbound_twilio(text) RETURNS jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$ SELECT sms_otp._callback('twilio', 'inbound', $1) $$;
CREATE OR REPLACE FUNCTION sms_otp.inbound_vonage(text) RETURNS jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$ SELECT sms_otp._callback('vonage', 'inbound', $1) $$;
CREATE OR REPLACE FUNCTION sms_otp.inbound_messagebird(text) RETURNS jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$ SELECT sms_otp._callback('messagebird', 'inbound', $1) $$;
CREATE OR REPLACE FUNCTION sms_otp.inbound_plivo(text) RETURNS jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$ SELECT sms_otp._callback('plivo', 'inbound', $1) $$;
CREATE OR REPLACE FUNCTION sms_otp.inbound_webhook(text) RETURNS jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$ SELECT sms_otp._callback('webhook', 'inbound', $1) $$;
COMMENT ON FUNCTION sms_otp.receipt_twilio(text) IS 'Twilio status callback, through the callback proxy.';
COMMENT ON FUNCTION sms_otp.receipt_vonage(text) IS 'Vonage delivery receipt, through the callback proxy.';
COMMENT ON FUNCTION sms_otp.receipt_messagebird(text) IS 'MessageBird status report, through the callback proxy.';
COMMENT ON FUNCTION sms_otp.receipt_plivo(text) IS 'Plivo message status callback, through the callback proxy.';
COMMENT ON FUNCTION sms_otp.receipt_webhook(text) IS 'Signed webhook status event, through the callback proxy.';
COMMENT ON FUNCTION sms_otp.inbound_twilio(text) IS 'Twilio incoming message, through the callback proxy.';
COMMENT ON FUNCTION sms_otp.inbound_vonage(text) IS 'Vonage inbound SMS, through the callback proxy.';
COMMENT ON FUNCTION sms_otp.inbound_messagebird(text) IS 'MessageBird inbound SMS, through the callback proxy.';
COMMENT ON FUNCTION sms_otp.inbound_plivo(text) IS 'Plivo incoming message, through the callback proxy.';
COMMENT ON FUNCTION sms_otp.inbound_webhook(text) IS 'Signed webhook inbound message, through the callback proxy.';
