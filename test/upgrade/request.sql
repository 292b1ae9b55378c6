-- Shared by the upgrade scripts (\ir): one API call made the way PostgREST makes it, and a
-- table of checks that run.sh turns into TAP lines.

-- request(role, claims, headers, call): role, claims and headers for this call only, then the
-- call. Returns {"status", "body"} when the function returned, {"status", "error"} for a raised
-- PGRST error (rolled back, as PostgREST does), {"sqlstate", "error"} for any other error.
CREATE FUNCTION pg_temp.request(role text, claims jsonb, headers jsonb, call text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    body   jsonb;
    result jsonb;
    msg    text;
    detail text;
BEGIN
    PERFORM set_config('request.jwt.claims', coalesce(claims::text, ''), true);
    PERFORM set_config('request.headers', coalesce(headers::text, ''), true);
    PERFORM set_config('response.status', '', true);
    BEGIN
        EXECUTE format('SET LOCAL ROLE %I', role);
        EXECUTE 'SELECT to_jsonb(' || call || ')' INTO body;
        RESET ROLE;
        result := jsonb_build_object(
            'status', coalesce(nullif(current_setting('response.status', true), '')::int, 200), 'body', body);
    EXCEPTION
        WHEN SQLSTATE 'PGRST' THEN
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
            result := jsonb_build_object('status', (detail::jsonb ->> 'status')::int, 'error', msg::jsonb);
        WHEN OTHERS THEN
            result := jsonb_build_object('sqlstate', SQLSTATE, 'error', SQLERRM);
    END;
    PERFORM set_config('request.jwt.claims', '', true);
    PERFORM set_config('request.headers', '', true);
    RETURN result;
END $$;

-- The claims of a user's login, as PostgREST (or Supabase) passes them.
CREATE FUNCTION pg_temp.claims(uid uuid, login text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('sub', uid, 'role', 'authenticated', 'session_id', login)
$$;

CREATE FUNCTION pg_temp.xff(address text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('x-forwarded-for', address)
$$;

-- check(description, passed, detail): one TAP line, printed by run.sh in order.
CREATE TEMP TABLE checks (n serial, description text, passed boolean, detail text);
CREATE FUNCTION pg_temp.check(description text, passed boolean, detail text DEFAULT NULL) RETURNS boolean
LANGUAGE sql AS $$
    INSERT INTO checks (description, passed, detail)
    VALUES (description, coalesce(passed, false), CASE WHEN NOT coalesce(passed, false) THEN coalesce(detail, 'got NULL') END)
    RETURNING passed
$$;
