-- DEMO ONLY: a stand-in for an application's own login, so the demo and the HTTP tests have
-- users and tokens. It is not part of the sms_otp extension and is never installed by it.
-- A real application keeps its login (Supabase Auth, its own service, ...) and only hands
-- PostgREST a JWT with "sub", "role" and, ideally, a per-login "session_id".
--
-- POST /rpc/login with "Content-Profile: demo" and {"email": ..., "password": ...} returns
-- {"token": <HS256 JWT>, "user_id": <uuid>}. The JWT is signed here with the secret PostgREST
-- verifies with (jwt-secret); the secret sits in a table only this file's owner can read.
-- A user's role column is the token's "role": authenticated, or service_role for the demo's
-- operator, who signs in to the dashboard the same way (a real deployment keeps its service
-- role key on its servers and gives operators their own way in).
--
-- Needs pgcrypto in schema "extensions" (for crypt() and hmac()).

CREATE SCHEMA demo;
-- PostgREST exposes this schema: anon and authenticated may call login(), nothing else.
GRANT USAGE ON SCHEMA demo TO anon, authenticated, service_role;

CREATE TABLE demo.users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL UNIQUE CHECK (email = lower(email) AND email LIKE '%_@_%'),
    password_hash text NOT NULL,   -- extensions.crypt(password, extensions.gen_salt('bf'))
    -- The PostgREST role of the user's tokens: end users are authenticated; an operator (who
    -- reads the dashboard, sms_otp.dashboard_*) gets the service role.
    role          text NOT NULL DEFAULT 'authenticated' CHECK (role IN ('authenticated', 'service_role')),
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- The JWT secret shared with PostgREST. No grants: only the owner (and so the SECURITY
-- DEFINER login below) reads it.
CREATE TABLE demo.jwt_secret (
    id     boolean PRIMARY KEY DEFAULT true CHECK (id),
    secret text NOT NULL CHECK (length(secret) >= 32)
);

REVOKE ALL ON demo.users, demo.jwt_secret FROM PUBLIC;

-- Each function pins search_path with pg_temp last, like the extension's: with '' PostgreSQL
-- still looks in pg_temp first for tables and types, which a caller can create.

-- base64url without padding (RFC 7515 section 2), as JWTs are written.
CREATE FUNCTION demo.base64url(data bytea) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
    SELECT rtrim(translate(pg_catalog.encode(data, 'base64'), E'+/\n', '-_'), '=')
$$;

-- A compact HS256 JWT over the given claims.
CREATE FUNCTION demo.jwt_hs256(claims jsonb, secret text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
    SELECT signing_input || '.' ||
           demo.base64url(extensions.hmac(pg_catalog.convert_to(signing_input, 'UTF8'),
                                          pg_catalog.convert_to(secret, 'UTF8'), 'sha256'))
    FROM (SELECT demo.base64url(pg_catalog.convert_to('{"alg":"HS256","typ":"JWT"}', 'UTF8')) || '.' ||
                 demo.base64url(pg_catalog.convert_to(claims::text, 'UTF8')) AS signing_input) AS parts
$$;

CREATE FUNCTION demo.login(email text, password text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    account demo.users;
    hashed  text;
    issued  bigint := extract(epoch FROM now())::bigint;
BEGIN
    SELECT * INTO account FROM demo.users u WHERE u.email = lower(btrim(login.email));
    -- Hash even for an unknown email, so the answer takes as long either way.
    hashed := extensions.crypt(coalesce(password, ''), coalesce(account.password_hash, extensions.gen_salt('bf', 8)));
    IF account.id IS NULL OR hashed IS DISTINCT FROM account.password_hash THEN
        RAISE SQLSTATE 'PGRST' USING
            MESSAGE = '{"code":"invalid_credentials","message":"Wrong email or password.","details":null,"hint":null}',
            DETAIL  = '{"status":401,"headers":{}}';
    END IF;
    RETURN jsonb_build_object(
        'token', demo.jwt_hs256(jsonb_build_object(
                     'sub', account.id,
                     'role', account.role,
                     'email', account.email,
                     'session_id', gen_random_uuid(),   -- one per login: verifications bind to it
                     'iat', issued,
                     'exp', issued + 3600),
                 (SELECT s.secret FROM demo.jwt_secret s)),
        'user_id', account.id);
END $$;
COMMENT ON FUNCTION demo.login(text, text) IS
    'DEMO ONLY: check a demo user''s password and return a one-hour PostgREST JWT.';

REVOKE EXECUTE ON FUNCTION demo.base64url(bytea), demo.jwt_hs256(jsonb, text), demo.login(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION demo.login(text, text) TO anon, authenticated;
