#!/usr/bin/env bash
# The library loaded late (not in shared_preload_libraries): a placeholder setting that a plain
# login SET before the library loaded must not make it the service role, and codes are not
# checked without the shared memory that counts wrong ones. Prints TAP.
#   test/security/no_preload.sh WORKDIR PORT
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/test/lib.sh"
work=${1:?work directory}
port=${2:?port}
dir="$work/no_preload"
bash "$root/test/cluster.sh" start "$dir" "$port" "shared_preload_libraries = ''" >/dev/null
trap 'bash "$root/test/cluster.sh" stop "$dir" || true' EXIT
pg "$dir" "$port" -d postgres -f "$root/test/roles.sql" >/dev/null
pg "$dir" "$port" -d postgres -c "CREATE EXTENSION sms_otp" \
    -c "CREATE ROLE np_mallory LOGIN" -c "GRANT authenticated TO np_mallory" \
    -c "INSERT INTO sms_otp.api_integrations (name, kind) VALUES ('console', 'console')" \
    -c "INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES ('5ec000a1-0000-4000-8000-0000000000a1', '+14155550401', true)" >/dev/null

# Each check: a new session of np_mallory (so the library is not loaded yet when it starts).
as_mallory() {
    psql -X -q -At -h "$dir" -p "$port" -U np_mallory -d postgres -v ON_ERROR_STOP=1 "$@" 2>&1 || true
}
n=0
failed=0
check() {  # check NAME EXPECTED ACTUAL
    n=$((n + 1))
    if [ "$2" = "$3" ]; then
        echo "ok $n - $1"
    else
        echo "not ok $n - $1"
        echo "#   expected: $2"
        echo "#   got:      $3"
        failed=$((failed + 1))
    fi
}

echo "1..5"
check "library not loaded in a new session" "f" \
    "$(as_mallory -c "SELECT count(*) > 0 FROM pg_settings WHERE name = 'sms_otp.service_role'")"
check "a placeholder SET before the library loads does not make a plain login the service role" "f" \
    "$(as_mallory -c "SET sms_otp.service_role = 'np_mallory'" -c "SELECT sms_otp.is_service_role()" | tail -n 1)"
check "... and the setting is the configured one once the library has loaded" "service_role" \
    "$(as_mallory -c "SET sms_otp.service_role = 'np_mallory'" -c "SELECT sms_otp.is_service_role()" \
                  -c "SHOW sms_otp.service_role" | tail -n 1)"
check "... and the service role's rows stay hidden" "0" \
    "$(as_mallory -c "SET sms_otp.service_role = 'np_mallory'" -c "SET ROLE authenticated" \
                  -c "SELECT count(*) FROM sms_otp.user_contact_settings" | tail -n 1)"
verify=$(as_mallory -c "SET ROLE authenticated" \
    -c "SELECT set_config('request.jwt.claims', '{\"sub\": \"5ec000a1-0000-4000-8000-0000000000a1\", \"session_id\": \"np\"}', false)" \
    -c "SELECT (sms_otp.otp_send()) ->> 'session_id'" \
    -c "SELECT sms_otp.otp_verify((SELECT id FROM sms_otp.sms_otp_sessions LIMIT 1), '123456')")
check "otp_verify refuses to check codes without shared memory (not_preloaded)" "1" \
    "$(grep -c '"code": "not_preloaded"' <<<"$verify")"
[ "$failed" -eq 0 ]
