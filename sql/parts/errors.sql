--------------------------------------------------------------------------------------------
-- Errors: {"code", "message", "hint"} for PostgREST, with the HTTP status it will send
--------------------------------------------------------------------------------------------

-- Raise an error that PostgREST turns into the given HTTP status (nothing is saved).
CREATE OR REPLACE FUNCTION sms_otp._raise(code text, status int, message text, hint text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE SQLSTATE 'PGRST' USING
        MESSAGE = pg_catalog.jsonb_build_object('code', code, 'message', message, 'hint', hint)::pg_catalog.text,
        DETAIL  = pg_catalog.jsonb_build_object('status', status, 'headers', '{}'::pg_catalog.jsonb)::pg_catalog.text;
END $$;

-- Return an error body with an HTTP status, when what the call did must be saved.
CREATE OR REPLACE FUNCTION sms_otp._respond(status int, body jsonb, retry_after int DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pg_catalog.set_config('response.status', status::pg_catalog.text, true);
    IF retry_after IS NOT NULL THEN
        PERFORM pg_catalog.set_config('response.headers',
            pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('Retry-After', retry_after::pg_catalog.text))::pg_catalog.text,
            true);
        RETURN body OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('retry_after_seconds', retry_after);
    END IF;
    RETURN body;
END $$;
