--------------------------------------------------------------------------------------------
-- Identity and origin, as PostgREST hands them over
--------------------------------------------------------------------------------------------

-- The caller's user id: the JWT's "sub" claim when it is a uuid, else NULL.
CREATE OR REPLACE FUNCTION sms_otp.current_user_id() RETURNS uuid
    LANGUAGE c STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_current_user_id';
COMMENT ON FUNCTION sms_otp.current_user_id() IS
    'The caller''s user id: the "sub" claim of the PostgREST JWT when it is a uuid, else NULL.';

-- The login a code belongs to: the claim named by sms_otp.login_claim (session_id: Supabase and
-- the demo login; sid: OIDC/Auth0). Without it, sms_otp.login_fallback decides: NULL (reject,
-- the default: the API refuses), a digest of the whole token (token) or "user" (no binding).
CREATE OR REPLACE FUNCTION sms_otp._login_session() RETURNS text
    LANGUAGE c STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_login_session';

-- True when the current role is (a member of) the service role named by sms_otp.service_role.
-- In C: it reads the library's own setting (a placeholder set before the library loaded does
-- not count) and compares role ids, with no operator a caller could provide.
CREATE OR REPLACE FUNCTION sms_otp.is_service_role() RETURNS boolean
    LANGUAGE c STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_is_service_role';
COMMENT ON FUNCTION sms_otp.is_service_role() IS
    'True when the current role is a member of the role named by sms_otp.service_role.';

-- The client's address: counted from the right of X-Forwarded-For past sms_otp.trusted_proxies
-- hops (entries further left are written by the client and can be forged; only the right-hand
-- end of the header is read, so padding cannot hide the proxies' entries), else the address of
-- the connection.
CREATE OR REPLACE FUNCTION sms_otp.client_ip() RETURNS inet
    LANGUAGE c STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_client_ip';
COMMENT ON FUNCTION sms_otp.client_ip() IS
    'The client address: X-Forwarded-For counted from the right past sms_otp.trusted_proxies, else the connection address.';

-- What per-address limits count: the address itself for IPv4, its network of
-- sms_otp.ipv6_prefix bits for IPv6 (one subscriber gets a whole /64 and can rotate within it).
CREATE OR REPLACE FUNCTION sms_otp._client_net(ip inet, ipv6_prefix int) RETURNS cidr
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN pg_catalog.family(ip) OPERATOR(pg_catalog.=) 6
                THEN pg_catalog.network(pg_catalog.set_masklen(ip, ipv6_prefix))
                ELSE pg_catalog.network(pg_catalog.set_masklen(ip, 32)) END
$$;
