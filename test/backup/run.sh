#!/usr/bin/env bash
# pg_dump of a database with sms_otp and its data, restored into a new cluster as
# docs/installing.md §7 says, then each claim of §7 checked (TAP output):
#   source cluster, database shop: providers, users, codes sent and verified, a lockout,
#     transactional messages, receipts, opt-outs, templates, categories, keywords, quiet hours,
#     throttles, campaigns, database settings, all written through the API (fill-*.sql). The
#     worker serves shop while the first messages go (fill-sent.sql, fill-answered.sql), then
#     the cluster restarts with the worker on database postgres, so that what is queued next
#     (fill-queued.sql: a code, a transactional message, a campaign's recipients) is still
#     queued when pg_dump -Fc runs, as in a dump taken while messages wait.
#   target cluster, new: its worker serves shop from the start (the database does not exist
#     yet), roles from pg_dumpall --roles-only, then the restore in two steps: the database with
#     its settings, then everything in it in one transaction. The worker starts on the restored
#     queue at that commit, so the rows are compared in a second restore of the same dump into
#     shop_copy, a database no worker serves.
#   checks: what came back (every table's rows, sequences, catalog, settings, grants), what did
#     not (queued codes, builtin rows as changed, the key), and what the restored install does:
#     the worker sends what was queued, a code from before the dump is refused, a new one
#     verifies, the lockout, opt-outs and idempotency keys hold, and RLS shows each user their own rows.
#   bash test/backup/run.sh          BACKUP_KEEP=1 leaves both clusters running and prints where
# Exit status 0 when every check passed.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
. test/lib.sh
here=test/backup

work=$(make_workdir sms_otp_backup)
src_port=
dst_port=
mock_pid=
dst_starting=
cleanup() {
    if [ -n "$mock_pid" ]; then kill "$mock_pid" 2>/dev/null || true; fi
    if [ -n "$dst_starting" ]; then wait "$dst_starting" 2>/dev/null || true; fi
    if [ -n "${BACKUP_KEEP:-}" ]; then
        echo "# clusters left running: $work/src (port $src_port), $work/dst (port $dst_port)" >&2
    else
        bash test/cluster.sh stop "$work/src" || true
        bash test/cluster.sh stop "$work/dst" || true
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ TAP
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
    n=$((n + 1)); failed=$((failed + 1))
    echo "not ok $n - $1"
    if [ -n "${2:-}" ]; then sed 's/^/#   /' <<<"$2"; fi
}
# check DESCRIPTION EXPECTED ACTUAL
check() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "expected: $2"$'\n'"got:      $3"; fi
}
# stop DESCRIPTION DETAIL: a step the later checks need failed; end here.
stop() { not_ok "$1" "$2"; echo "1..$n"; exit 1; }

# start_cluster NAME [setting ...]: test/cluster.sh start on a free port, and on another one if
# someone else takes it first (other suites start clusters on this machine too); the port is
# written to $work/NAME.port.
start_cluster() {
    local c=$1 port i
    shift
    port=$(cat "$work/$c.port" 2>/dev/null || free_port $((21000 + RANDOM % 9000)))
    for i in 1 2 3 4 5; do
        if [ -f "$work/$c/data/PG_VERSION" ]; then
            bash test/cluster.sh run "$work/$c" sh -c "echo 'port = $port' >>'$work/$c/data/postgresql.conf'"
        fi
        if bash test/cluster.sh start "$work/$c" "$port" "$@"; then
            echo "$port" >"$work/$c.port"
            return 0
        fi
        grep -q 'already in use' "$work/$c/server.log" || return 1
        port=$(free_port $((21000 + RANDOM % 9000)))
    done
    return 1
}

# psql as the superuser on cluster src or dst, database $2, unaligned; stops at the first error.
q() { local c=$1 db=$2; shift 2; pg "$work/$c" "$(port_of "$c")" -d "$db" -At "$@"; }
port_of() { if [ "$1" = src ]; then echo "$src_port"; else echo "$dst_port"; fi; }
# wait_for DESCRIPTION SECONDS CLUSTER DB QUERY: until QUERY returns t.
wait_for() {
    local what=$1 secs=$2 c=$3 db=$4 query=$5 i
    for ((i = 0; i < secs * 10; i++)); do
        [ "$(q "$c" "$db" -c "$query" 2>/dev/null)" = t ] && return 0
        sleep 0.1
    done
    stop "$what (waited ${secs}s)" "$(q "$c" "$db" -c "$query" 2>&1 || true)"
}
# api CLUSTER USER CALL [EXPR]: CALL as PostgREST makes it for user N of fill-sent.sql (or
# "service" for the service role, "anon" for the anonymous role); prints EXPR over the answer r
# (test/pgtap/request.psql: {"status", "body", "headers"} or {"status", "error"}).
api() {
    local c=$1 who=$2 call=$3 expr=${4:-r::text} role claims
    case $who in
    service) role=service_role; claims='{"role": "service_role"}' ;;
    anon) role=anon; claims='null' ;;
    *) role=authenticated
       claims="{\"sub\": \"b0000000-0000-4000-8000-00000000000$who\", \"role\": \"authenticated\", \"session_id\": \"login-$who\"}" ;;
    esac
    printf '%s\n' "\\ir $root/test/pgtap/request.psql" \
        "SELECT $expr FROM (SELECT pg_temp.request('$role', nullif('$claims', 'null')::jsonb, '{}', \$call\$$call\$call\$) AS r) x;" |
        q "$c" shop -q -f -
}
user_id() { echo "b0000000-0000-4000-8000-00000000000$1"; }
newest_session() {
    q "$1" shop -c "SELECT id FROM sms_otp.sms_otp_sessions WHERE user_id = '$(user_id "$2")' ORDER BY created_at DESC LIMIT 1"
}
# inbox PHONE: the mock provider's newest message to PHONE, as JSON (one plain HTTP/1.0 GET).
inbox() {
    local port=${mock_url##*:}
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
        printf "GET /inbox.json?limit=1&to=%s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$1" >&3
        sed "1,/^\r\$/d" <&3' "$port" "${1/+/%2B}" 2>/dev/null || true
}
# inbox_code PHONE: the code of that message.
inbox_code() { inbox "$1" | grep -oE '"code":"[0-9]+"' | grep -oE '[0-9]+' || true; }

# ------------------------------------------------------------------ the mock provider
node test/mock_provider/server.mjs --port 0 >"$work/mock.out" 2>&1 &
mock_pid=$!
for _ in $(seq 100); do
    mock_url=$(sed -nE 's/.*listening on (http:\/\/[^ ]+).*/\1/p' "$work/mock.out")
    [ -n "$mock_url" ] && break
    sleep 0.1
done
[ -n "$mock_url" ] || stop "the mock provider starts" "$(cat "$work/mock.out")"
secret="whsec_$(printf 'a webhook secret of 32 bytes!!!!' | base64)"

# ------------------------------------------------------------------ the clusters
# The target's worker serves shop from the start, as on a server configured like the old one
# (until shop exists it cannot connect and retries every second). Roles and
# sms_otp.http_allowed_hosts come only after the first restore attempts below, which show why a
# restore needs them. It starts (initdb) while the source is filled.
start_cluster dst "sms_otp.database = 'shop'" "sms_otp.poll_interval = '100ms'" >"$work/dst-start.log" 2>&1 &
dst_starting=$!

echo "# source cluster: database shop, written through the API ($SECONDS s)"
start_cluster src "sms_otp.database = 'shop'" "sms_otp.http_allowed_hosts = '127.0.0.1'" \
    "sms_otp.poll_interval = '100ms'" "sms_otp.callback_url = 'http://127.0.0.1:9/callbacks'"
src_port=$(cat "$work/src.port")
q src postgres -f test/roles.sql
q src postgres -c "CREATE ROLE shop_owner NOLOGIN" -c "CREATE ROLE monitoring NOLOGIN" \
    -c "CREATE DATABASE shop OWNER shop_owner" \
    -c "ALTER DATABASE shop SET sms_otp.resend_cooldown = 0" \
    -c "ALTER DATABASE shop SET sms_otp.lockout_threshold = 3" \
    -c "ALTER DATABASE shop SET sms_otp.webotp_domain = 'shop.example.com'" \
    -c "ALTER DATABASE shop SET sms_otp.default_region = 'US'"
q src shop -c "CREATE EXTENSION sms_otp"
q src shop -q -v mock="$mock_url" -v secret="$secret" -f $here/fill-sent.sql >/dev/null ||
    stop "fill-sent.sql runs" "$(tail -5 "$work/src/server.log")"
wait_for "the source's worker sends codes, the transactional message and the campaign" 20 src shop \
    "SELECT NOT EXISTS (SELECT 1 FROM sms_otp.sms_outbox WHERE status = 'queued')
        AND (SELECT status FROM sms_otp.sms_campaigns WHERE name = 'Spring sale') = 'finished'
        AND (SELECT count(*) FROM sms_otp.sms_otp_sessions WHERE status = 'sent') = 3"
code1=$(inbox_code +14155550101)
code2=$(inbox_code +14155550102)
code4=$(inbox_code +14155550104)
[[ $code1 =~ ^[0-9]{6}$ && $code2 =~ ^[0-9]{6}$ && $code4 =~ ^[0-9]{6}$ ]] ||
    stop "the mock provider got the codes" "codes: '$code1' '$code2' '$code4'"
wrong4=$(printf '%06d' $(((10#$code4 + 1) % 1000000)))
q src shop -q -v code1="$code1" -v wrong4="$wrong4" -v secret="$secret" -f $here/fill-answered.sql >/dev/null ||
    stop "fill-answered.sql runs" "$(tail -5 "$work/src/server.log")"

echo "# source: the worker moved to database postgres; what is queued now stays queued ($SECONDS s)"
q src postgres -c "ALTER SYSTEM SET sms_otp.database = 'postgres'"
bash test/cluster.sh stop "$work/src"
start_cluster src
src_port=$(cat "$work/src.port")
q src shop -q -f $here/fill-queued.sql >/dev/null || stop "fill-queued.sql runs" "$(tail -5 "$work/src/server.log")"
code3=$(q src shop -c "SELECT substring(body FROM '[0-9]{6}') FROM sms_otp.sms_outbox WHERE kind = 'otp' AND status = 'queued'")
[[ $code3 =~ ^[0-9]{6}$ ]] || stop "user 3's code is queued" "'$code3'"

# Every kind of row the test means to carry is there (else the comparisons below prove little).
missing=$(q src shop -c "SELECT string_agg(what, ', ') FROM (VALUES
    ('providers', (SELECT count(*) FROM sms_otp.api_integrations) = 3),
    ('contacts', (SELECT count(*) FROM sms_otp.user_contact_settings) = 5),
    ('a verified session', EXISTS (SELECT 1 FROM sms_otp.sms_otp_sessions WHERE status = 'verified')),
    ('a sent code not entered', EXISTS (SELECT 1 FROM sms_otp.sms_otp_sessions WHERE status = 'sent' AND user_id = '$(user_id 2)')),
    ('a queued code', EXISTS (SELECT 1 FROM sms_otp.sms_outbox WHERE kind = 'otp' AND status = 'queued')),
    ('a queued transactional message', EXISTS (SELECT 1 FROM sms_otp.sms_outbox WHERE kind = 'transactional' AND status = 'queued')),
    ('log rows', EXISTS (SELECT 1 FROM sms_otp.sms_messages_log)),
    ('a lockout', EXISTS (SELECT 1 FROM sms_otp.user_lockouts WHERE locked_until > now())),
    ('receipts', EXISTS (SELECT 1 FROM sms_otp.sms_delivery_events)),
    ('inbound', EXISTS (SELECT 1 FROM sms_otp.sms_inbound_messages)),
    ('opt-outs', (SELECT count(*) FROM sms_otp.sms_opt_outs) = 2),
    ('opt-out events', EXISTS (SELECT 1 FROM sms_otp.sms_opt_out_events)),
    ('idempotency keys', (SELECT count(*) FROM sms_otp.sms_idempotency_keys) = 2),
    ('templates', EXISTS (SELECT 1 FROM sms_otp.sms_templates)),
    ('categories', EXISTS (SELECT 1 FROM sms_otp.sms_categories)),
    ('custom keywords', EXISTS (SELECT 1 FROM sms_otp.sms_keywords WHERE NOT builtin)),
    ('custom quiet hours', EXISTS (SELECT 1 FROM sms_otp.sms_quiet_hours WHERE NOT builtin)),
    ('throttles', EXISTS (SELECT 1 FROM sms_otp.sms_throttles)),
    ('a finished campaign', EXISTS (SELECT 1 FROM sms_otp.sms_campaigns WHERE status = 'finished')),
    ('a running campaign', EXISTS (SELECT 1 FROM sms_otp.sms_campaigns WHERE status = 'running')),
    ('recipients', EXISTS (SELECT 1 FROM sms_otp.sms_campaign_recipients)),
    ('log rows past retention', EXISTS (SELECT 1 FROM sms_otp.sms_messages_log WHERE created_at < sms_otp._stats_horizon())),
    ('rollups past retention', EXISTS (SELECT 1 FROM sms_otp.stats_messages WHERE start < sms_otp._stats_horizon()))) AS t(what, present)
  WHERE NOT present")
if [ -z "$missing" ]; then
    ok "source database shop holds every kind of row the dump is to carry (written through the API)"
else
    stop "source database shop holds every kind of row the dump is to carry" "missing: $missing"
fi

echo "# pg_dump -Fc shop ($SECONDS s)"
if ! out=$(pg_dump -Fc -h "$work/src" -p "$src_port" -U postgres -f "$work/shop.dump" shop 2>&1) || [ -n "$out" ]; then
    stop "pg_dump -Fc runs without a message" "$out"
fi
q src shop -f $here/tables.sql >"$work/src.tables"
# The dashboards' figures as dumped (the controls below verify codes on the source).
figures="SELECT md5(string_agg(d::text, E'\n' ORDER BY d::text)) || ' ' || sum(d.attempted)
         FROM sms_otp.dashboard_delivery('-infinity', 'infinity', 'day', '{provider,country,type}') d"
funnel="SELECT md5(string_agg(d::text, ',' ORDER BY d::text)) || ' ' || sum(d.requested)
        FROM sms_otp.dashboard_otp('-infinity', 'infinity', 'prefix', 1000) d"
src_figures=$(q src shop -c "$figures")
src_funnel=$(q src shop -c "$funnel")
q src shop -f test/upgrade/catalog.sql >"$work/src.catalog"
src_secret=$(q src shop -c "SELECT encode(key, 'hex') FROM sms_otp._secret")
src_settings=$(q src postgres -c "SELECT array_to_string(setconfig, ' ') FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'shop' AND s.setrole = 0")
src_max=$(q src shop -c "SELECT (SELECT max(id) FROM sms_otp.sms_outbox) || ' ' || (SELECT max(id) FROM sms_otp.sms_messages_log)")
read -r src_max_outbox src_max_log <<<"$src_max"

# The codes of users 2 and 3 are right: on the source, after the dump, they verify.
check "control: the codes users 2 (sent) and 3 (queued) hold verify on the source after the dump" "true true" \
    "$(api src 2 "sms_otp.otp_verify('$(newest_session src 2)', '$code2')" "r -> 'body' ->> 'verified'") $(
       api src 3 "sms_otp.otp_verify('$(newest_session src 3)', '$code3')" "r -> 'body' ->> 'verified'")"

# ------------------------------------------------------------------ the restore
echo "# target cluster: new, its worker on shop; roles, then pg_restore ($SECONDS s)"
wait "$dst_starting" || stop "the target cluster starts" "$(cat "$work/dst-start.log"; tail -5 "$work/dst/server.log")"
dst_starting=
dst_port=$(cat "$work/dst.port")
restore_into() {  # restore_into DB: the dump's contents into database DB, in one transaction
    pg_restore --single-transaction --exit-on-error -d "$1" -h "$work/dst" -p "$dst_port" -U postgres "$work/shop.dump" 2>&1
}
extension_in() { q dst "$1" -c "SELECT count(*) FROM pg_extension WHERE extname = 'sms_otp'"; }
# shop_copy: restored too but served by no worker, so its rows stay as restored for the
# comparison; fresh: a new install (after the roles: it would make service_role), what
# builtin rows look like.
q dst postgres -c "CREATE DATABASE shop_copy" -c "CREATE DATABASE fresh"

# Provider rows are checked again as they are restored: a plain-http base_url needs its host in
# the new cluster's sms_otp.http_allowed_hosts too. A failed restore leaves nothing behind.
if out=$(restore_into shop_copy); then
    not_ok "without sms_otp.http_allowed_hosts, a provider at http://127.0.0.1 is refused by the restore" "$out"
else
    check "without sms_otp.http_allowed_hosts, the restore stops at the provider at http://127.0.0.1 (base_url must use https) and leaves no extension behind" \
        "yes 0" "$(grep -q 'base_url must use https' <<<"$out" && echo yes || echo no) $(extension_in shop_copy)"
fi
q dst postgres -c "ALTER SYSTEM SET sms_otp.http_allowed_hosts = '127.0.0.1'" -c "SELECT pg_reload_conf()" >/dev/null

# Without the roles the dump names, the restore stops at the first of them.
if out=$(restore_into shop_copy); then
    not_ok "without the roles, pg_restore fails" "$out"
else
    check "without the roles, pg_restore stops (role \"monitoring\" does not exist) and leaves no extension behind" \
        "yes 0" "$(grep -q 'role "monitoring" does not exist' <<<"$out" && echo yes || echo no) $(extension_in shop_copy)"
fi

# Step 2 of docs/installing.md §7: the roles, from the old cluster (the superuser's own exists
# already: its error is expected).
roles_err=$(pg_dumpall --roles-only -h "$work/src" -p "$src_port" -U postgres |
    psql -X -q -h "$work/dst" -p "$dst_port" -U postgres -d postgres 2>&1 >/dev/null || true)
check "roles: pg_dumpall --roles-only into the new cluster (only error: the superuser exists)" \
    'ERROR:  role "postgres" already exists' "$(grep ERROR <<<"$roles_err" || true)"
q dst fresh -c "CREATE EXTENSION sms_otp"

# Step 3: the database, its owner and its ALTER DATABASE settings (the dump's DATABASE entries).
pg_restore --create --list "$work/shop.dump" | grep ' DATABASE ' >"$work/database.list"
if out=$(pg_restore --create --use-list="$work/database.list" --exit-on-error -d postgres \
        -h "$work/dst" -p "$dst_port" -U postgres "$work/shop.dump" 2>&1) && [ -z "$out" ]; then
    ok "pg_restore --create --use-list=<its DATABASE entries> -d postgres: database shop created, no errors"
else
    stop "pg_restore --create --use-list=<its DATABASE entries> -d postgres" "$out"
fi
# (the workers connect to shop and find no extension: the restore below runs with them there)
for _ in $(seq 100); do
    pids=$(q dst postgres -c "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity
                              WHERE datname = 'shop' AND backend_type LIKE 'sms_otp % worker'")
    waiting=0
    for pid in $pids; do
        grep -q "\[$pid\] sms_otp .* worker LOG:  sms_otp worker: extension sms_otp is not installed in database \"shop\"" \
            "$work/dst/server.log" && waiting=$((waiting + 1))
    done
    [ "$waiting" -eq 2 ] && break
    sleep 0.1
done
[ "$waiting" -eq 2 ] || stop "the target's workers wait in database shop" "$(tail -5 "$work/dst/server.log")"

# Step 4: everything in it, in one transaction: the worker sees all of it at once or nothing.
if out=$(restore_into shop) && [ -z "$out" ]; then
    ok "pg_restore --single-transaction -d shop (its worker running): exit 0, no errors or warnings"
else
    stop "pg_restore --single-transaction -d shop" "$out"
fi
out=$(restore_into shop_copy) && [ -z "$out" ] || stop "pg_restore --single-transaction -d shop_copy" "$out"

# ------------------------------------------------------------------ what came back
echo "# what came back ($SECONDS s)"
check "extension sms_otp is installed at version 1.1" "1.1" \
    "$(q dst shop -c "SELECT extversion FROM pg_extension WHERE extname = 'sms_otp'")"
check "database shop belongs to shop_owner, as on the source" "shop_owner" \
    "$(q dst postgres -c "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'shop'")"
check "ALTER DATABASE shop SET sms_otp.* settings came back" "$src_settings" \
    "$(q dst postgres -c "SELECT array_to_string(setconfig, ' ') FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'shop' AND s.setrole = 0")"
check "... but not into a database created by hand (shop_copy, restored with pg_restore -d)" "" \
    "$(q dst postgres -c "SELECT array_to_string(setconfig, ' ') FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'shop_copy'")"
check "... and apply in a new session (lockout_threshold, resend_cooldown, webotp_domain, default_region)" \
    "3|0|shop.example.com|US" \
    "$(q dst shop -c "SELECT concat_ws('|', current_setting('sms_otp.lockout_threshold'), current_setting('sms_otp.resend_cooldown'),
                                      current_setting('sms_otp.webotp_domain'), current_setting('sms_otp.default_region'))")"

q dst shop_copy -f $here/tables.sql >"$work/dst.tables"
tables=$(grep -c '^table|' "$work/src.tables")
differ=$(diff <(grep '^table|' "$work/src.tables") <(grep '^table|' "$work/dst.tables") | grep -E '^[<>] ' || true)
if [ -z "$differ" ]; then
    ok "rows of all $tables tables of schema sms_otp equal the source's as dumped (md5 of the sorted rows; sms_outbox without queued codes, builtin keywords and quiet hours aside)"
else
    detail=""
    for t in $(sed -nE 's/^[<>] table\|([a-z_]+)\|.*/\1/p' <<<"$differ" | sort -u); do
        detail+="$t (< source, > restored):"$'\n'
        detail+=$(diff <(q src shop -c "SELECT t::text FROM sms_otp.$t t ORDER BY 1") \
                       <(q dst shop_copy -c "SELECT t::text FROM sms_otp.$t t ORDER BY 1") | grep -E '^[<>]' | head -20 || true)
        detail+=$'\n'
    done
    not_ok "rows of every table of schema sms_otp equal the source's as dumped" "$differ"$'\n'"$detail"
fi
# The dashboards: every figure as on the source, the days past retention (their raw rows not
# dumped) from the dumped rollups, the others rebuilt by the triggers as the raw rows came back.
check "the dashboards' figures equal the source's as dumped, days past sms_otp.log_retention included" \
    "$src_figures" "$(q dst shop_copy -c "$figures")"
check "... while the raw rows past it were left out of the dump" "0" \
    "$(q dst shop_copy -c "SELECT count(*) FROM sms_otp.sms_messages_log WHERE created_at < now() - interval '6 days'")"
check "the code funnel equals the source's as dumped" "$src_funnel" "$(q dst shop_copy -c "$funnel")"
if diff=$(diff <(grep '^sequence|' "$work/src.tables") <(grep '^sequence|' "$work/dst.tables")); then
    ok "identity sequences stand where the source's stood ($(grep -c '^sequence|' "$work/src.tables") sequences)"
else
    not_ok "identity sequences stand where the source's stood (< source, > restored)" "$diff"
fi
check "queued codes are not restored: queued OTP messages on the source, after the restore" "1 0" \
    "$(q src shop -c "SELECT count(*) FROM sms_otp.sms_outbox WHERE kind = 'otp' AND status = 'queued'") $(
       q dst shop_copy -c "SELECT count(*) FROM sms_otp.sms_outbox WHERE kind = 'otp' AND status = 'queued'")"
check "the queued transactional message is restored, queued" "queued" \
    "$(q dst shop_copy -c "SELECT status FROM sms_otp.sms_outbox WHERE business_ref = 'T-77'")"

if diff=$(diff -u --label source --label restored "$work/src.catalog" <(q dst shop -f test/upgrade/catalog.sql)); then
    ok "catalog of schema sms_otp (test/upgrade/catalog.sql) equals the source's, the DBA's grant to monitoring included"
else
    not_ok "catalog of schema sms_otp equals the source's" "$diff"
fi
check "monitoring may still run sms_otp.worker_status()" "t" \
    "$(q dst shop -c "SELECT has_function_privilege('monitoring', 'sms_otp.worker_status()', 'EXECUTE')")"

builtin="SELECT string_agg(t::text, ' ' ORDER BY t::text) FROM sms_otp.sms_keywords t WHERE builtin
         UNION ALL SELECT string_agg(t::text, ' ' ORDER BY t::text) FROM sms_otp.sms_quiet_hours t WHERE builtin"
check "builtin keywords and quiet hours are as a fresh install has them, once each (changes made to them are not kept)" \
    "$(q dst fresh -c "$builtin")" "$(q dst shop -c "$builtin")"
check "... while the source had the builtin '' quiet hours changed and keyword YES deleted" "20:00:00 0" \
    "$(q src shop -c "SELECT (SELECT closes FROM sms_otp.sms_quiet_hours WHERE prefix = '') || ' ' || (SELECT count(*) FROM sms_otp.sms_keywords WHERE keyword = 'YES')")"

dst_secret=$(q dst shop -c "SELECT encode(key, 'hex') FROM sms_otp._secret")
if [ ${#dst_secret} -eq 64 ] && [ ${#src_secret} -eq 64 ] && [ "$dst_secret" != "$src_secret" ]; then
    ok "sms_otp._secret is not restored: the new install has a key of its own (32 bytes, not the source's)"
else
    not_ok "sms_otp._secret is a new key" "source $src_secret, restored $dst_secret"
fi

# ------------------------------------------------------------------ the restored install at work
echo "# the worker on the restored database ($SECONDS s)"
wait_for "the restored worker sends the queued transactional message and the running campaign" 20 dst shop \
    "SELECT (SELECT status FROM sms_otp.sms_outbox WHERE business_ref = 'T-77') = 'sent'
        AND (SELECT status FROM sms_otp.sms_campaigns WHERE name = 'Autumn sale') = 'finished'"
check "sms_otp.worker_status() in the restored database: running" "true" \
    "$(q dst shop -c "SELECT sms_otp.worker_status() ->> 'running'")"
check "the worker of the new cluster sends the restored queued transactional message; the provider got it" \
    '"text":"Your table for 4 is booked for Friday 20:00."' "$(inbox +14155550111 | grep -oF '"text":"Your table for 4 is booked for Friday 20:00."')"
check "... and the campaign running at dump time finishes there (both recipients sent)" "sent sent" \
    "$(q dst shop -c "SELECT string_agg(r.state, ' ' ORDER BY r.id) FROM sms_otp.sms_campaign_recipients r
                      JOIN sms_otp.sms_campaigns c ON c.id = r.campaign_id WHERE c.name = 'Autumn sale'")"
check "new rows are numbered after the source's last: the campaign's 2 messages above outbox id $src_max_outbox, their 3 log rows above $src_max_log" \
    "2|true 3|true" \
    "$(q dst shop -c "SELECT count(*) || '|' || bool_and(o.id > $src_max_outbox) FROM sms_otp.sms_outbox o
                      JOIN sms_otp.sms_campaigns c ON c.id = o.campaign_id WHERE c.name = 'Autumn sale'") $(
       q dst shop -c "SELECT count(*) || '|' || bool_and(l.id > $src_max_log) FROM sms_otp.sms_messages_log l
                      JOIN sms_otp.sms_outbox o ON o.id = l.outbox_id
                      WHERE o.business_ref = 'T-77' OR o.campaign_id = (SELECT id FROM sms_otp.sms_campaigns WHERE name = 'Autumn sale')")"

echo "# codes from before the dump ($SECONDS s)"
old2=$(newest_session dst 2)
check "user 2's code, sent before the dump, is refused after the restore: invalid_code, HTTP 400, counted as a wrong code" \
    "400|invalid_code|4" "$(api dst 2 "sms_otp.otp_verify('$old2', '$code2')" \
        "concat_ws('|', r ->> 'status', r -> 'body' ->> 'reason', r -> 'body' ->> 'attempts_remaining')")"
check "user 3's code, queued at dump time, is refused the same way" \
    "400|invalid_code" "$(api dst 3 "sms_otp.otp_verify('$(newest_session dst 3)', '$code3')" \
        "concat_ws('|', r ->> 'status', r -> 'body' ->> 'reason')")"
new2=$(api dst 2 "sms_otp.otp_send()" "r -> 'body' ->> 'session_id'")
[ -n "$new2" ] || stop "user 2 asks for a new code" "$(api dst 2 "sms_otp.otp_send()")"
wait_for "the new code reaches the provider" 20 dst shop \
    "SELECT status = 'sent' FROM sms_otp.sms_otp_sessions WHERE id = '$new2'"
new_code=$(inbox_code +14155550102)
check "user 2 asks for a new code, gets it by SMS (with the restored WebOTP line) and it verifies" \
    "yes|true" "$(inbox +14155550102 | grep -qF "@shop.example.com #$new_code\"" && echo yes || echo no)|$(
                  api dst 2 "sms_otp.otp_verify('$new2', '$new_code')" "r -> 'body' ->> 'verified'")"
check "... and the old session was superseded by it" "superseded" \
    "$(q dst shop -c "SELECT status FROM sms_otp.sms_otp_sessions WHERE id = '$old2'")"

echo "# state that carries over ($SECONDS s)"
check "user 1's verification from before the dump still counts: otp_is_verified()" "true" \
    "$(api dst 1 "sms_otp.otp_is_verified()" "r ->> 'body'")"
check "user 4, locked out before the dump, is still locked out: otp_send answers 429 locked_out" "429|locked_out" \
    "$(api dst 4 "sms_otp.otp_send()" "concat_ws('|', r ->> 'status', r -> 'body' ->> 'error')")"
check "the number that sent STOP before the dump is still opted out: send_transactional answers 422 opted_out" \
    "422|opted_out" "$(api dst service "sms_otp.send_transactional('+14155550130', text => 'Your parcel is on its way.', category => 'orders')" \
        "concat_ws('|', r ->> 'status', coalesce(r -> 'body' ->> 'error', r -> 'error' ->> 'code'))")"
check "an idempotency key from before the dump replays the first answer (same message, Idempotent-Replayed: true)" \
    '200|[{"Idempotent-Replayed": "true"}]|t' \
    "$(api dst service "sms_otp.send_transactional('+14155550111', text => 'Your table for 4 is booked for Friday 20:00.', business_ref => 'T-77', idempotency_key => 'book-T-77')" \
        "concat_ws('|', r ->> 'status', r ->> 'headers', r -> 'body' ->> 'message_id' = (SELECT id::text FROM sms_otp.sms_outbox WHERE business_ref = 'T-77'))")"

echo "# row-level security and grants ($SECONDS s)"
check "an authenticated user reads only their own rows (contact settings, sessions, log)" "1|0|true|true|t" \
    "$(api dst 1 "(SELECT count(*) FROM sms_otp.user_contact_settings)::text" "r ->> 'body'")|$(
       api dst 1 "(SELECT count(*) FROM sms_otp.sms_otp_sessions WHERE user_id <> sms_otp.current_user_id())::text" "r ->> 'body'")|$(
       api dst 1 "(SELECT count(*) > 0 FROM sms_otp.sms_otp_sessions)" "r ->> 'body'")|$(
       api dst 1 "(SELECT bool_and(user_id = sms_otp.current_user_id()) AND count(*) > 0 FROM sms_otp.sms_messages_log)" "r ->> 'body'")|$(
       q dst shop -c "SELECT count(*) > 1 FROM sms_otp.sms_messages_log WHERE user_id IS DISTINCT FROM '$(user_id 1)'")"
check "the anonymous role reads nothing (sessions, log, contact settings)" "0|0|0" \
    "$(api dst anon "(SELECT count(*) FROM sms_otp.sms_otp_sessions)::text" "r ->> 'body'")|$(
       api dst anon "(SELECT count(*) FROM sms_otp.sms_messages_log)::text" "r ->> 'body'")|$(
       api dst anon "(SELECT count(*) FROM sms_otp.user_contact_settings)::text" "r ->> 'body'")"
check "credentials stay unreadable, even for the service role (42501)" "42501" \
    "$(api dst service "(SELECT count(credentials) FROM sms_otp.api_integrations)" "r ->> 'sqlstate'")"
check "the service role reads every contact" "5" \
    "$(api dst service "(SELECT count(*) FROM sms_otp.user_contact_settings)" "r ->> 'body'")"

echo "# done in $SECONDS s"
echo "1..$n"
[ "$failed" -eq 0 ]
