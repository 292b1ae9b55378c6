-- One POST /rpc/send_transactional as PostgREST runs it for the service role's key: the role
-- switch, the token's claims and the request's headers, the call with a template and its
-- data, commit. -D key=1 adds an Idempotency-Key header, new on every call (each call is a
-- first request: no replay is measured). -D key=0 sends no key.
\set n random(1, 1000000)
BEGIN;
\if :key
SELECT set_config('role', 'service_role', true),
       set_config('request.jwt.claims', '{"role":"service_role"}', true),
       set_config('request.headers', json_build_object('idempotency-key', :client_id || '-' || random())::text, true);
\else
SELECT set_config('role', 'service_role', true),
       set_config('request.jwt.claims', '{"role":"service_role"}', true),
       set_config('request.headers', '{}', true);
\endif
SELECT sms_otp.send_transactional("to" => '+4474' || lpad(:n::text, 8, '0'), template => 'booking_confirmed',
                                  data => jsonb_build_object('name', 'Ada', 'ref', 'BK-' || :n, 'time', '18:30'));
COMMIT;
