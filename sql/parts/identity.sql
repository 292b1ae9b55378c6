--------------------------------------------------------------------------------------------
-- Identity and origin, as PostgREST hands them over
--------------------------------------------------------------------------------------------

-- The caller's user id: the JWT's "sub" claim when it is a uuid, else NULL.
CREATE FUNCTION sms_otp.current_user_id() RETURNS uuid
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'sms_otp_current_user_id';
COMMENT ON FUNCTION sms_otp.current_user_id() IS
    'The caller''s user id: the "sub" claim of the PostgREST JWT when it is a uuid, else NULL.';

-- The login session a verification belongs to: the JWT's "session_id" claim (Supabase and
-- the demo login set it). NULL when the token has none.
CREATE FUNCTION sms_otp._login_session() RETURNS text
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'sms_otp_login_session';

-- True when the current role is (a member of) the service role named by sms_otp.service_role.
CREATE FUNCTION sms_otp.is_service_role() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_catalog.pg_roles r
        WHERE r.rolname = coalesce(nullif(pg_catalog.current_setting('sms_otp.service_role', true), ''), 'service_role')
          AND pg_catalog.pg_has_role(r.oid, 'MEMBER'))
$$;
COMMENT ON FUNCTION sms_otp.is_service_role() IS
    'True when the current role is a member of the role named by sms_otp.service_role.';

-- The client's address: counted from the right of X-Forwarded-For past sms_otp.trusted_proxies
-- hops (entries further left are written by the client and can be forged; only the right-hand
-- end of the header is read, so padding cannot hide the proxies' entries), else the address of
-- the connection.
CREATE FUNCTION sms_otp.client_ip() RETURNS inet
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'sms_otp_client_ip';
COMMENT ON FUNCTION sms_otp.client_ip() IS
    'The client address: X-Forwarded-For counted from the right past sms_otp.trusted_proxies, else the connection address.';

