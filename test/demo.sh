#!/usr/bin/env bash
# make demo: build and install sms_otp, start the local stack (PostgreSQL with the extension
# and its worker, the mock SMS provider with its inbox page, PostgREST 12.0.2 behind nginx) and,
# when web/ is there, the web demo; print how to use it; stop everything on Ctrl-C.
#   DEMO_EXIT_AFTER=N   stop by itself after N seconds (a smoke run)
#   STACK_PROXY_PORT (8026), STACK_MOCK_PORT (8025), DEMO_WEB_PORT (5173): the ports
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

web_port=${DEMO_WEB_PORT:-5173}
proxy_url="http://127.0.0.1:${STACK_PROXY_PORT:-8026}"
# Clients reach PostgREST only through nginx (deploy/nginx/sms_otp_api.conf).
api_url="$proxy_url/rest"
mock_url="http://127.0.0.1:${STACK_MOCK_PORT:-8025}"
with_web=false
[ -f web/package.json ] && with_web=true
if $with_web && port_taken "$web_port"; then
    echo "demo: port $web_port (web app) is taken; choose another with DEMO_WEB_PORT" >&2
    exit 1
fi

bash test/install-deps.sh
make -s -j2
if [ "$(id -u)" -eq 0 ]; then make -s install; else sudo make -s install; fi
bash test/postgrest/install.sh >/dev/null

work=$(make_workdir sms_otp_demo)
web_pid=""
stopping=false
cleanup() {
    $stopping && return
    stopping=true
    echo
    echo "demo: stopping"
    if [ -n "$web_pid" ] && kill -0 "$web_pid" 2>/dev/null; then
        kill -TERM -- "-$web_pid" 2>/dev/null || kill -TERM "$web_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$web_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$web_pid" 2>/dev/null || true
    fi
    bash test/stack.sh stop "$work" || true
    rm -rf "$work"
}
trap 'cleanup; exit 0' INT TERM
trap 'status=$?; cleanup; exit $status' EXIT

# The SMS ends with the WebOTP line for the demo's origin, so browsers that support it fill the code in.
STACK_FRONT=nginx STACK_CORS_ORIGINS="http://127.0.0.1:$web_port http://localhost:$web_port" \
    STACK_PG_SETTINGS="${STACK_PG_SETTINGS:-sms_otp.webotp_domain = '127.0.0.1'}" bash test/stack.sh start "$work"

# Something for the operator dashboard to show: a week of made-up traffic, and a campaign
# that runs for the first few minutes (test/demo/history.sql, test/demo/campaign.sql).
echo "demo: seeding a week of traffic and a running campaign for the dashboard"
pg_port=$(sed -nE 's/^PGPORT=([0-9]+)$/\1/p' "$work/stack.env")
pg "$work/pg" "$pg_port" -d sms_otp_demo -v mock_url="$mock_url" -f test/demo/history.sql
pg "$work/pg" "$pg_port" -d sms_otp_demo -f test/demo/campaign.sql >/dev/null

if $with_web; then
    echo "demo: installing and starting the web demo (web/)"
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
    # Its own session, so that stopping it also stops what npx started.
    (cd web && VITE_API_URL="$api_url" VITE_INBOX_URL="$mock_url" \
        exec setsid npx --no-install vite --host 127.0.0.1 --port "$web_port" --strictPort) \
        >"$work/web.log" 2>&1 </dev/null &
    web_pid=$!
    for i in $(seq 600); do
        [ "$(http_status "$web_port" /)" = 200 ] && break
        if ! kill -0 "$web_pid" 2>/dev/null || [ "$i" -eq 600 ]; then
            tail -n 30 "$work/web.log" >&2
            echo "demo: the web demo did not start (log above)" >&2
            exit 1
        fi
        sleep 0.1
    done
fi

cat <<EOF

================================================================================
 sms_otp demo is running
================================================================================
 API (nginx, PostgREST 12.0.2)  $proxy_url/otp/send, /otp/verify, /sms/send-transactional
                          and everything else under $api_url/
 SMS inbox (mock)         $mock_url/        (every SMS sent shows up here)
EOF
if $with_web; then
    echo " Web app                  http://127.0.0.1:$web_port/"
    echo " Operator dashboard       http://127.0.0.1:$web_port/dashboard  (sign in as operator@example.com)"
fi
cat <<EOF

 Demo logins (demo-only login in schema "demo")
   alice@example.com / alice-password   SMS step on, phone +1 415 555 0101
   bob@example.com   / bob-password     SMS step off
   operator@example.com / operator-password   the operator dashboard (service role)

 What to do
EOF
if $with_web; then
    cat <<EOF
   1. Open http://127.0.0.1:$web_port/ and sign in as alice.
   2. Send the code, read it on the SMS inbox page, type it in. Try a wrong code,
      Resend, and bob (no SMS step).
   3. Sign in as operator@example.com: http://127.0.0.1:$web_port/dashboard shows delivery,
      latency, cost, codes by country (Indonesia looks like SMS pumping), the queue, the
      providers and a campaign in progress. alice gets "operators only" there.
EOF
fi
cat <<EOF
   With curl (node only reads the JSON):
   API=$api_url
   json() { node -pe "JSON.parse(require('fs').readFileSync(0))\$1"; }
   # 1. log in (demo schema: Content-Profile: demo)
   TOKEN=\$(curl -s "\$API/rpc/login" -H 'Content-Profile: demo' -H 'Content-Type: application/json' \\
     -d '{"email":"alice@example.com","password":"alice-password"}' | json .token)
   # 2. ask for a code (the fixed path; /rest/rpc/otp_send is the same call)
   SESSION=\$(curl -s "$proxy_url/otp/send" -H "Authorization: Bearer \$TOKEN" \\
     -H 'Content-Type: application/json' -d '{}' | json .session_id)
   # 3. read it from the inbox (the worker sends within milliseconds)
   sleep 0.5; CODE=\$(curl -s '$mock_url/inbox.json?to=%2B14155550101&limit=1' | json '[0].code')
   # 4. verify it: {"verified": true, ...}
   curl -s "$proxy_url/otp/verify" -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
     -d "{\\"session_id\\": \\"\$SESSION\\", \\"otp\\": \\"\$CODE\\"}"
   # and: curl -s -X POST "\$API/rpc/otp_status" -H "Authorization: Bearer \$TOKEN"
   A second send within 30 s answers 429 with Retry-After. docs/postgrest.md has every call.

 psql: set -a; . $work/stack.env; set +a; psql
 Logs: $work/*.log, $work/pg/server.log
================================================================================
EOF

if [ -n "${DEMO_EXIT_AFTER:-}" ]; then
    echo "demo: stopping in $DEMO_EXIT_AFTER s (DEMO_EXIT_AFTER)"
    sleep "$DEMO_EXIT_AFTER" &
else
    echo "Press Ctrl-C to stop."
    sleep infinity &
fi
wait $! || true
cleanup
trap - EXIT
exit 0
