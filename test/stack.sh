#!/usr/bin/env bash
# The local stack that the demo, the HTTP tests, the browser tests and the benchmarks share:
# a throwaway PostgreSQL cluster with sms_otp and its delivery worker, the mock SMS provider,
# and the real PostgREST 12.0.2 in front of the database.
#
#   test/stack.sh start DIR    set DIR up (or restart a stopped stack there) and start it
#   test/stack.sh stop DIR     stop everything start started in DIR
#
# DIR gets: pg/ (the cluster), postgrest.conf, *.pid, *.log, and stack.env, which a shell
# reads with `set -a; . DIR/stack.env; set +a` and node with process.loadEnvFile():
#   PGHOST PGPORT PGDATABASE PGUSER POSTGREST_URL MOCK_URL PROXY_URL CALLBACK_URL JWT_SECRET DIR
#
# Environment:
#   STACK_API_PORT     PostgREST port (default 3000)
#   STACK_MOCK_PORT    mock SMS provider port (default 8025)
#   STACK_PROXY_PORT   nginx port for provider callbacks (default 8026); sms_otp.callback_url
#                      is http://127.0.0.1:PORT/callbacks (deploy/nginx/sms_otp_callbacks.conf)
#   STACK_PG_PORT      PostgreSQL port (default: the first free one from 25432)
#   STACK_PG_SETTINGS  extra postgresql.conf lines for a new cluster, separated by ';' or
#                      newlines, e.g. "sms_otp.resend_cooldown = 1; sms_otp.rate_limit_per_minute = 1000"
#   STACK_LOG_LEVEL    PostgREST log-level (default info: one line per request)
#   STACK_DB_TX_END    PostgREST db-tx-end (default commit). commit-allow-override lets a client
#                      ask for "Prefer: tx=rollback": the HTTP tests use it to show that guesses
#                      in rolled-back transactions still count. Never for a real deployment.
#   POSTGREST_BIN      a PostgREST binary to use instead of test/postgrest/install.sh's
#   STACK_FRONT        nginx: the API is served only through nginx (deploy/nginx/sms_otp_api.conf):
#                      PostgREST listens on a unix socket, sms_otp.trusted_proxies = 1, and
#                      POSTGREST_URL is PROXY_URL/rest. Default: PostgREST on STACK_API_PORT,
#                      reached directly (trusted_proxies = 0), nginx for callbacks only.
#   STACK_CORS_ORIGINS origins (space-separated) nginx allows, e.g. the web demo's
#   STACK_POOLER       pgbouncer: PostgREST reaches PostgreSQL through pgbouncer in transaction
#                      pooling mode on STACK_POOLER_PORT (default: the first free from 6432)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/test/lib.sh"

database=sms_otp_demo

say() { echo "stack: $*" >&2; }
die() { say "$*"; exit 1; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# spawn NAME COMMAND...: run in the background in a session of its own (a Ctrl-C in the
# terminal goes to whoever started the stack, which then stops it), pid in DIR/NAME.pid.
spawn() {
    local name=$1
    shift
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$dir/$name.pid" "$@" >"$dir/$name.log" 2>&1 </dev/null &
    local i
    for i in $(seq 100); do [ -s "$dir/$name.pid" ] && return 0; sleep 0.01; done
    die "$name did not start"
}

# wait_http NAME PORT PATH: until GET PATH answers 200, or fail with the end of the log.
wait_http() {
    local name=$1 port=$2 path=$3 i
    for i in $(seq 300); do
        [ "$(http_status "$port" "$path")" = 200 ] && return 0
        alive "$dir/$name.pid" || { tail -n 20 "$dir/$name.log" >&2; die "$name exited (log: $dir/$name.log)"; }
        sleep 0.1
    done
    tail -n 20 "$dir/$name.log" >&2
    die "$name did not answer on port $port within 30 s (log: $dir/$name.log)"
}

stop_process() {
    local name=$1 pidfile="$dir/$1.pid" pid i
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if kill -TERM "$pid" 2>/dev/null; then
        for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            say "$name ($pid) ignored SIGTERM for 10 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

# nginx with the snippets of deploy/nginx in front of PostgREST: provider callbacks always, the
# API (fixed paths, /rest/, CORS) too. As root its workers would switch to nobody, who cannot
# write DIR/nginx: they stay the user that starts it.
start_proxy() {
    local port=$1 upstream=$2 conf="$dir/nginx"
    mkdir -p "$conf/snippets" "$conf/tmp"
    cp "$root"/deploy/nginx/*.conf "$conf/snippets/"
    local user_line="" origin
    [ "$(id -u)" -ne 0 ] || user_line="user root;"
    {
        echo "# The origins the stack's API allows (STACK_CORS_ORIGINS)."
        echo 'map $http_origin $sms_otp_cors_origin {'
        echo '    default "";'
        for origin in ${STACK_CORS_ORIGINS:-}; do
            [[ "$origin" =~ ^https?://[A-Za-z0-9.:-]+$ ]] || die "STACK_CORS_ORIGINS: $origin is not an origin"
            echo "    \"$origin\" \$http_origin;"
        done
        echo '}'
        echo 'include snippets/sms_otp_cors_headers.conf;'
    } >"$conf/snippets/sms_otp_cors.conf"
    cat >"$conf/nginx.conf" <<EOF
# nginx for the sms_otp local stack (written by test/stack.sh).
$user_line
daemon off;
worker_processes 1;
pid $conf/nginx.pid;
error_log $conf/error.log warn;
events { worker_connections 512; }
http {
    access_log $conf/access.log;
    client_body_temp_path $conf/tmp/body;
    proxy_temp_path $conf/tmp/proxy;
    fastcgi_temp_path $conf/tmp/fastcgi;
    uwsgi_temp_path $conf/tmp/uwsgi;
    scgi_temp_path $conf/tmp/scgi;
    include snippets/sms_otp_cors.conf;
    upstream sms_otp_postgrest { server $upstream; keepalive 16; }
    server {
        listen 127.0.0.1:$port;
        location = /_proxy/health { return 200 "ok"; }
        include snippets/sms_otp_api.conf;
        include snippets/sms_otp_callbacks.conf;
    }
}
EOF
    spawn proxy nginx -p "$conf" -c "$conf/nginx.conf" -e "$conf/error.log"
}

# pgbouncer between PostgREST and PostgreSQL, transaction pooling. It refuses to run as root:
# as root it runs as postgres, like the cluster.
start_pooler() {
    local port=$1 conf="$dir/pgbouncer"
    mkdir -p "$conf"
    printf '"authenticator" ""\n"postgres" ""\n' >"$conf/users.txt"
    cat >"$conf/pgbouncer.ini" <<EOF
; pgbouncer for the sms_otp local stack (written by test/stack.sh; docs/deployment.md).
[databases]
$database = host=127.0.0.1 port=$pg_port dbname=$database
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $conf/users.txt
; SHOW POOLS / SHOW STATS in the console (psql -p PORT -U postgres pgbouncer).
admin_users = postgres
pool_mode = transaction
default_pool_size = 10
max_client_conn = 200
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = $conf/pgbouncer.log
EOF
    local as_postgres=()
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres: "$conf"
        as_postgres=(setpriv --reuid=postgres --regid=postgres --init-groups)
    fi
    spawn pooler "${as_postgres[@]}" pgbouncer "$conf/pgbouncer.ini"
    local i
    for i in $(seq 100); do
        port_taken "$port" && return 0
        alive "$dir/pooler.pid" || break
        sleep 0.1
    done
    tail -n 20 "$dir/pooler.log" "$conf/pgbouncer.log" >&2 || true
    die "pgbouncer did not listen on port $port"
}

stop() {
    stop_process proxy
    stop_process postgrest
    stop_process pooler
    stop_process mock
    bash "$root/test/cluster.sh" stop "$dir/pg"
}

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

setup_database() {
    local secret=$1 sid=$2 token=$3
    pg "$dir/pg" "$pg_port" -d postgres -f "$root/test/roles.sql" -c "
        DO \$\$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticator') THEN
                CREATE ROLE authenticator LOGIN NOINHERIT NOCREATEDB NOCREATEROLE NOSUPERUSER;
            END IF;
        END \$\$;
        GRANT anon, authenticated, service_role TO authenticator;" \
        -c "CREATE DATABASE $database"
    pg "$dir/pg" "$pg_port" -d "$database" -1 \
        -v mock_url="$mock_url" -v twilio_sid="$sid" -v twilio_token="$token" -v jwt_secret="$secret" \
        -c "CREATE EXTENSION sms_otp" \
        -c "CREATE SCHEMA extensions" \
        -c "CREATE EXTENSION pgcrypto SCHEMA extensions" \
        -f "$root/test/demo/login.sql" \
        -f "$root/test/demo/seed.sql"
}

start() {
    if alive "$dir/postgrest.pid" || alive "$dir/mock.pid" || alive "$dir/proxy.pid" || alive "$dir/pooler.pid"; then
        die "a stack is already running in $dir (test/stack.sh stop $dir)"
    fi

    local api_port=${STACK_API_PORT:-3000} mock_port=${STACK_MOCK_PORT:-8025} proxy_port=${STACK_PROXY_PORT:-8026}
    if [ -n "${STACK_PG_PORT:-}" ]; then
        pg_port=$STACK_PG_PORT
    elif [ -f "$dir/pg/data/postgresql.conf" ]; then
        pg_port=$(sed -nE 's/^port = ([0-9]+)$/\1/p' "$dir/pg/data/postgresql.conf" | tail -1)
    else
        pg_port=$(free_port 25432)
    fi
    local name port
    for name in api mock proxy pg; do
        case $name in api) port=$api_port ;; mock) port=$mock_port ;; proxy) port=$proxy_port ;; pg) port=$pg_port ;; esac
        [[ "$port" =~ ^[0-9]+$ ]] || die "bad $name port: $port"
        if port_taken "$port" && ! { [ $name = pg ] && [ -f "$dir/pg/data/postmaster.pid" ]; }; then
            die "port $port ($name) is taken; choose another with STACK_${name^^}_PORT"
        fi
    done
    local front=${STACK_FRONT:-} pooler=${STACK_POOLER:-} pooler_port=""
    case $front in '' | nginx) ;; *) die "STACK_FRONT: $front is not nginx" ;; esac
    case $pooler in
    '') ;;
    pgbouncer)
        pooler_port=${STACK_POOLER_PORT:-$(free_port 6432)}
        [[ "$pooler_port" =~ ^[0-9]+$ ]] || die "bad pooler port: $pooler_port"
        ! port_taken "$pooler_port" || die "port $pooler_port (pooler) is taken; choose another with STACK_POOLER_PORT"
        ;;
    *) die "STACK_POOLER: $pooler is not pgbouncer" ;;
    esac
    local tx_end=${STACK_DB_TX_END:-commit}
    case $tx_end in
    commit | commit-allow-override | rollback | rollback-allow-override) ;;
    *) die "STACK_DB_TX_END: $tx_end is not a db-tx-end value" ;;
    esac
    mock_url="http://127.0.0.1:$mock_port"
    local api_url="http://127.0.0.1:$api_port" proxy_url="http://127.0.0.1:$proxy_port"
    [ "$front" != nginx ] || api_url="$proxy_url/rest"

    local postgrest=${POSTGREST_BIN:-}
    [ -n "$postgrest" ] || postgrest=$(bash "$root/test/postgrest/install.sh")

    # From here on, a failure stops whatever was already started.
    trap 'status=$?; if [ $status -ne 0 ]; then say "start failed; stopping"; stop || true; fi' EXIT

    # Secrets: made once per stack directory, kept for a restart.
    (
        umask 077
        [ -s "$dir/jwt_secret" ] || head -c 48 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=' >"$dir/jwt_secret"
        [ -s "$dir/mock_config.json" ] ||
            printf '{"twilio": {"account_sid": "AC%s", "auth_token": "%s"}}\n' "$(random_hex 16)" "$(random_hex 16)" \
                >"$dir/mock_config.json"
    )
    local secret sid token
    secret=$(cat "$dir/jwt_secret")
    sid=$(sed -nE 's/.*"account_sid": "([^"]+)".*/\1/p' "$dir/mock_config.json")
    token=$(sed -nE 's/.*"auth_token": "([^"]+)".*/\1/p' "$dir/mock_config.json")

    spawn mock node "$root/test/mock_provider/server.mjs" --port "$mock_port" --config "$dir/mock_config.json"

    # The mock provider listens on plain http at 127.0.0.1, which sms_otp refuses for a provider
    # unless the host is on the allow-list.
    # Without STACK_FRONT nothing stands in front of PostgREST, so any X-Forwarded-For it passes
    # on was written by the client: trust no hop. The address counted is then PostgREST's own
    # connection, one for every client, so the per-address limits cap the whole stack. With
    # nginx in front (and PostgREST on a socket only nginx uses), nginx appends the address it
    # sees and that one is trusted.
    local trusted=0
    [ "$front" != nginx ] || trusted=1
    local settings=("sms_otp.database = '$database'" "sms_otp.poll_interval = 200ms"
        "sms_otp.http_allowed_hosts = '127.0.0.1, localhost'" "sms_otp.trusted_proxies = $trusted"
        "sms_otp.callback_url = 'http://127.0.0.1:$proxy_port/callbacks'") line
    while IFS= read -r line; do
        line=$(echo "$line" | sed -E 's/^[[:space:]]+|[[:space:]]+$//g')
        [ -n "$line" ] && settings+=("$line")
    done < <(printf '%s\n' "${STACK_PG_SETTINGS:-}" | tr ';' '\n')
    bash "$root/test/cluster.sh" start "$dir/pg" "$pg_port" "${settings[@]}"
    if [ -z "$(pg "$dir/pg" "$pg_port" -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$database'")" ]; then
        if ! setup_database "$secret" "$sid" "$token" >"$dir/setup.log" 2>&1; then
            cat "$dir/setup.log" >&2
            pg "$dir/pg" "$pg_port" -d postgres -c "DROP DATABASE IF EXISTS $database" || true
            die "database setup failed"
        fi
    fi

    local db_port=$pg_port listen="server-host = \"127.0.0.1\"
server-port = $api_port" upstream="127.0.0.1:$api_port"
    if [ "$pooler" = pgbouncer ]; then
        start_pooler "$pooler_port"
        db_port=$pooler_port
    fi
    if [ "$front" = nginx ]; then
        rm -f "$dir/postgrest.sock"
        listen="server-unix-socket = \"$dir/postgrest.sock\"
server-unix-socket-mode = \"600\""
        upstream="unix:$dir/postgrest.sock"
    fi
    {
        echo "# PostgREST for the sms_otp local stack (written by test/stack.sh)."
        echo "db-uri = \"postgres://authenticator@127.0.0.1:$db_port/$database\""
        echo "db-schemas = \"sms_otp,demo\""
        echo "db-anon-role = \"anon\""
        echo "db-pool = 10"
        echo "jwt-secret = \"$secret\""
        echo "$listen"
        echo "log-level = \"${STACK_LOG_LEVEL:-info}\""
        echo "db-tx-end = \"$tx_end\""
        if [ "$pooler" = pgbouncer ]; then
            echo "# Transaction pooling: no prepared statements, no LISTEN (docs/deployment.md)."
            echo "db-prepared-statements = false"
            echo "db-channel-enabled = false"
        fi
    } >"$dir/postgrest.conf"
    chmod 600 "$dir/postgrest.conf"
    spawn postgrest "$postgrest" "$dir/postgrest.conf"

    start_proxy "$proxy_port" "$upstream"

    wait_http mock "$mock_port" /_mock/health
    wait_http proxy "$proxy_port" /_proxy/health
    if [ "$front" = nginx ]; then
        wait_http postgrest "$proxy_port" /rest/
    else
        wait_http postgrest "$api_port" /
    fi
    local i
    for i in $(seq 200); do
        [ -n "$(pg "$dir/pg" "$pg_port" -d postgres -Atc \
            "SELECT 1 FROM pg_stat_activity WHERE backend_type = 'sms_otp delivery worker'")" ] && break
        [ "$i" -eq 200 ] && die "the sms_otp delivery worker did not start (log: $dir/pg/server.log)"
        sleep 0.1
    done

    cat >"$dir/stack.env" <<EOF
PGHOST=$dir/pg
PGPORT=$pg_port
PGDATABASE=$database
PGUSER=postgres
POSTGREST_URL=$api_url
MOCK_URL=$mock_url
PROXY_URL=$proxy_url
POOLER_PORT=$pooler_port
CALLBACK_URL=http://127.0.0.1:$proxy_port/callbacks
JWT_SECRET=$secret
DIR=$dir
EOF
    trap - EXIT
    say "up: API $api_url, SMS inbox $mock_url/, PostgreSQL port $pg_port; env in $dir/stack.env"
}

cmd=${1:-}
if [ $# -ne 2 ] || { [ "$cmd" != start ] && [ "$cmd" != stop ]; }; then
    echo "usage: $0 start|stop DIR" >&2
    exit 2
fi
[[ "$2" =~ ^[A-Za-z0-9_./-]+$ ]] || die "DIR may hold only letters, digits and _ . / - (it goes into stack.env)"
if [ "$cmd" = stop ] && [ ! -d "$2" ]; then exit 0; fi
mkdir -p "$2"
dir=$(cd "$2" && pwd)
# As root the cluster runs as postgres, which must reach DIR/pg.
[ "$(id -u)" -ne 0 ] || chmod a+x "$dir"

case "$cmd" in
start) start ;;
stop) stop; rm -f "$dir/stack.env" ;;
esac
