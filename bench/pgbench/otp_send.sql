-- One POST /rpc/otp_send as PostgREST runs it: the request's claims and headers, the call, commit.
\set n random(1, :users)
BEGIN;
SELECT set_config('request.jwt.claims', '{"role":"authenticated","sub":"' || bench.user_id(:n::int) || '","session_id":"bench-' || :n || '"}', true),
       set_config('request.headers', '{"x-forwarded-for":"' || host(bench.ip(:n::int)) || '"}', true);
SELECT sms_otp.otp_send();
COMMIT;
