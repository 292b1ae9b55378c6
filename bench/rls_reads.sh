#!/usr/bin/env bash
# Read costs under row-level security: the reads PostgREST makes for anon and for a signed-in
# user against sms_messages_log and sms_otp_sessions with 10 million rows each over a million
# users, beside a primary-key probe by the superuser in the same run; the plans; and, for
# contrast, the 1.0 policy form on the same data.
#   bash bench/rls_reads.sh                 the full run (about 10 minutes on two cores)
#   bash bench/rls_reads.sh --smoke         20,000 rows, a few seconds: proves the script works
#   bash bench/rls_reads.sh --write-docs    the full run, then its section of docs/benchmarks.md
# Sizes: BENCH_RLS_USERS (1,000,000), BENCH_RLS_ROWS (10,000,000 per table), BENCH_RLS_ROUNDS (5),
# BENCH_RLS_SECS (4 seconds of pgbench per query and round). BENCH_SKIP_BUILD=1 measures the
# installed extension; BENCH_KEEP=1 leaves the cluster running.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

. bench/args.sh
. bench/results_block.sh
if [ "$smoke" -eq 1 ]; then defaults=(2000 20000 1 1); else defaults=(1000000 10000000 5 4); fi
users=${BENCH_RLS_USERS:-${defaults[0]}}
rows=${BENCH_RLS_ROWS:-${defaults[1]}}
rounds=${BENCH_RLS_ROUNDS:-${defaults[2]}}
secs=${BENCH_RLS_SECS:-${defaults[3]}}
v10_timeout=${BENCH_RLS_V10_TIMEOUT:-60}   # seconds allowed to one read under the 1.0 policies

log() { printf '%s  %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    make -s -j2
    if [ "$(id -u)" -eq 0 ]; then make -s install; else sudo make -s install; fi
fi
bindir=$(pg_config --bindir)

work=$(make_workdir sms_otp_rls)
port=$(free_port 25900)
pgdir="$work/pg"
cleanup() {
    if [ -z "${BENCH_KEEP:-}" ]; then bash test/cluster.sh stop "$pgdir" && rm -rf "$pgdir" || true; fi
}
trap cleanup EXIT
q() { pg "$pgdir" "$port" -d bench_rls -At "$@"; }

# wal_level = minimal: tables emptied and filled in one transaction skip WAL, so the load takes
# minutes, not a quarter of an hour. The worker watches another database.
log "cluster in $work (port $port)"
bash test/cluster.sh start "$pgdir" "$port" "sms_otp.database = 'postgres'" \
    "shared_buffers = '1GB'" "wal_level = minimal" "max_wal_senders = 0" "max_wal_size = '8GB'" \
    "checkpoint_timeout = '30min'"
pg "$pgdir" "$port" -d postgres -q -f test/roles.sql
pg "$pgdir" "$port" -d postgres -c "CREATE DATABASE bench_rls"

log "load: $users users, $rows sessions and $rows log rows"
t0=$SECONDS
q -v users="$users" -v rows="$rows" -v part=base -f bench/sql/rls_reads_load.sql
q -v users="$users" -v rows="$rows" -v part=sessions -f bench/sql/rls_reads_load.sql &
load_sessions=$!
q -v users="$users" -v rows="$rows" -v part=log -f bench/sql/rls_reads_load.sql
wait "$load_sessions"
q -c "CHECKPOINT"
load_secs=$((SECONDS - t0))
log "  loaded in ${load_secs}s"

label() { awk -v n="$1" 'BEGIN { if (n >= 1e6) printf "%g M", n / 1e6; else printf "%g k", n / 1e3 }'; }
uid() { printf '00000000-0000-4000-8000-%012x' "$1"; }
claims() { printf '{"sub":"%s","role":"authenticated","session_id":"probe-login-%s"}' "$(uid "$1")" "$1"; }
probe_sessions=$(q -c "SELECT count(*) FROM sms_otp.sms_otp_sessions WHERE user_id = '$(uid 2)'")
probe_log=$(q -c "SELECT count(*) FROM sms_otp.sms_messages_log WHERE user_id = '$(uid 2)'")
# The baseline reads one row again and again, as the reads below read one user's rows again and
# again: both from shared buffers. (A random row of 10 M is mostly a miss: shown too.)
hot_id=$(q -c "SELECT min(id) FROM sms_otp.sms_messages_log WHERE user_id = '$(uid 2)'")
probe1_login=$(q -c "SELECT count(*) FROM sms_otp.sms_otp_sessions WHERE user_id = '$(uid 1)' AND login_session = 'probe-login-1'")

# ------------------------------------------------------------------ the reads
# name | role (empty: the superuser) | user whose claims are set (empty: none) | query | what
# The session reads name the columns clients may read: SELECT * is refused on that table, since
# code hashes, phones, addresses and login ids are not granted to them.
session_cols="id, user_id, provider_name, status, attempts, max_attempts, expires_at, created_at, verified_at"
reads=(
    "pk_probe|||SELECT * FROM sms_otp.sms_messages_log WHERE id = $hot_id|superuser, primary-key probe of one sms_messages_log row (baseline)"
    "pk_random|||SELECT * FROM sms_otp.sms_messages_log WHERE id = :id|superuser, primary-key probe of a random row of the $(label "$rows") (pages mostly not in shared buffers)"
    "su_user_log|||SELECT * FROM sms_otp.sms_messages_log WHERE user_id = '$(uid 2)'|superuser, one user's log rows by WHERE user_id (no RLS)"
    "anon_log|anon||SELECT * FROM sms_otp.sms_messages_log LIMIT 1|anon: SELECT * FROM sms_messages_log LIMIT 1"
    "anon_sessions|anon||SELECT $session_cols FROM sms_otp.sms_otp_sessions LIMIT 1|anon: sms_otp_sessions LIMIT 1"
    "user_sessions_nostep|authenticated|1|SELECT $session_cols FROM sms_otp.sms_otp_sessions|user, SMS step not passed: own sessions (this login's)"
    "user_log_nostep|authenticated|1|SELECT * FROM sms_otp.sms_messages_log|user, SMS step not passed: own log rows (none visible)"
    "user_sessions_step|authenticated|2|SELECT $session_cols FROM sms_otp.sms_otp_sessions|user, SMS step passed: own sessions"
    "user_log_step|authenticated|2|SELECT * FROM sms_otp.sms_messages_log|user, SMS step passed: own log rows"
)
field() { local IFS='|'; local -a f; read -r -a f <<<"$1"; echo "${f[$2]:-}"; }
# options NAME: the connection options of a read (role and claims are session settings, as a
# PostgREST transaction sets them; here once per connection so only the query is timed).
options() {
    local role user
    role=$(field "$1" 1); user=$(field "$1" 2)
    [ -n "$role" ] && printf -- '-c role=%s ' "$role"
    [ -n "$user" ] && printf -- '-c request.jwt.claims=%s' "$(claims "$user")"
    true
}
mkdir -p "$work/scripts" "$work/logs"
for r in "${reads[@]}"; do
    name=$(field "$r" 0)
    { [ "$name" = pk_random ] && echo "\\set id random(1, $rows)"; echo "$(field "$r" 3);"; } >"$work/scripts/$name.sql"
done

# Plans first, as each role sees them (EXPLAIN ANALYZE of one run), with the rows returned.
: >"$work/plans.txt"
for r in "${reads[@]}"; do
    name=$(field "$r" 0)
    query=$(field "$r" 3)
    query=${query//:id/$((rows / 2))}
    {
        echo "-- $name: $(field "$r" 4)"
        PGOPTIONS=$(options "$r") q -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF) $query"
        echo
    } >>"$work/plans.txt"
done
# What _step_passed() runs inside (plans of a function's own statements are not shown above).
{
    echo "-- inside _step_passed(): has this login passed the SMS step? (sms_otp._verified_login)"
    q -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF)
          SELECT EXISTS (SELECT 1 FROM sms_otp.sms_otp_sessions s
                         WHERE s.user_id = '$(uid 2)' AND s.status = 'verified'
                           AND s.expires_at > now() - interval '12 hours' - interval '1 day'
                           AND s.verified_at > now() - interval '12 hours' AND s.login_session = 'probe-login-2')"
} >>"$work/plans.txt"
seq_scans=$(grep -cE 'Seq Scan on (sms_messages_log|sms_otp_sessions)' "$work/plans.txt" || true)
[ "$seq_scans" -eq 0 ] || log "  WARNING: $seq_scans sequential scans of a big table in the plans ($work/plans.txt)"

# Rows each read returns, to show the policies do what they say.
returned() { PGOPTIONS=$(options "$1") q -c "SELECT count(*) FROM ($(field "$1" 3 | sed "s/:id/$((rows / 2))/")) x"; }

log "timing: $rounds rounds of ${secs}s per read, one connection, reads interleaved"
for round in $(seq "$rounds"); do
    for r in "${reads[@]}"; do
        name=$(field "$r" 0)
        PGOPTIONS=$(options "$r") "$bindir/pgbench" -n -M prepared -c 1 -j 1 -T "$secs" \
            -f "$work/scripts/$name.sql" -l --log-prefix="$work/logs/$name.$round" \
            -h "$pgdir" -p "$port" -U postgres bench_rls >"$work/logs/$name.$round.out" 2>&1 \
            || { cat "$work/logs/$name.$round.out" >&2; exit 1; }
    done
    log "  round $round done"
done
# median / p95 of every transaction's latency (third field of pgbench's log, in µs), in ms
stats() {
    cat "$work/logs/$1".*.[0-9]* | awk '{ print $3 }' | sort -n |
        awk '{ v[NR] = $1 } END { printf "%.3f %.3f %d\n", v[int((NR + 1) / 2)] / 1000, v[int(NR * 0.95 + 0.5)] / 1000, NR }'
}

# ------------------------------------------------------------------ 1.0's policy form
# The same reads under 1.0's policies, on the same tables: "user_id = current_user_id() OR
# is_service_role()" with 1.0's is_service_role (a SQL function reading pg_roles). No index can
# serve an OR with a function of no column, so each read scans the table.
log "1.0 policy form: the same reads with 1.0's policies swapped in"
q -c "CREATE SCHEMA bench_v10" -c "CREATE FUNCTION bench_v10.is_service_role() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS \$\$
    SELECT EXISTS (
        SELECT 1 FROM pg_catalog.pg_roles r
        WHERE r.rolname = coalesce(nullif(pg_catalog.current_setting('sms_otp.service_role', true), ''), 'service_role')
          AND pg_catalog.pg_has_role(r.oid, 'MEMBER'))
\$\$" -c "GRANT USAGE ON SCHEMA bench_v10 TO PUBLIC"
saved_log=$(q -c "SELECT pg_get_expr(polqual, polrelid) FROM pg_policy WHERE polname = 'own_rows' AND polrelid = 'sms_otp.sms_messages_log'::regclass")
saved_sessions=$(q -c "SELECT pg_get_expr(polqual, polrelid) FROM pg_policy WHERE polname = 'own_rows' AND polrelid = 'sms_otp.sms_otp_sessions'::regclass")
v10_policy="user_id = sms_otp.current_user_id() OR bench_v10.is_service_role()"
q -c "ALTER POLICY own_rows ON sms_otp.sms_messages_log USING ($v10_policy)" \
  -c "ALTER POLICY own_rows ON sms_otp.sms_otp_sessions USING ($v10_policy)"
# name | role | user | query | what | runs. A read of the whole table under this form takes
# minutes at 10 M rows (measured once, cancelled after BENCH_RLS_V10_TIMEOUT seconds); the same
# read over the first 100,000 ids gives the cost per row of the policy.
slice=$((rows < 100000 ? rows : 100000))
v10_reads=(
    "v10_anon_log|anon||SELECT * FROM sms_otp.sms_messages_log LIMIT 1|anon: SELECT * FROM sms_messages_log LIMIT 1|1"
    "v10_user_log|authenticated|2|SELECT * FROM sms_otp.sms_messages_log|user: own log rows|1"
    "v10_anon_slice|anon||SELECT * FROM sms_otp.sms_messages_log WHERE id <= $slice LIMIT 1|anon: the same over ids 1..$slice|3"
    "v10_user_slice|authenticated|2|SELECT * FROM sms_otp.sms_messages_log WHERE id <= $slice|user: own log rows over ids 1..$slice|3"
)
: >"$work/plans-v10.txt"
for r in "${v10_reads[@]}"; do
    name=$(field "$r" 0)
    {
        echo "-- $name under 1.0's policy: $(field "$r" 4)"
        PGOPTIONS=$(options "$r") q -c "EXPLAIN (COSTS OFF) $(field "$r" 3)"
        echo
    } >>"$work/plans-v10.txt"
    : >"$work/logs/$name"
    for _ in $(seq "$(field "$r" 5)"); do
        # psql's \timing: the time of the statement as the client sees it, in ms
        # psql prints a time for a cancelled statement too: the error tells them apart.
        out=$(PGOPTIONS="$(options "$r") -c statement_timeout=${v10_timeout}s" \
              psql -X -q -h "$pgdir" -p "$port" -U postgres -d bench_rls -c '\timing on' -c "$(field "$r" 3)" 2>&1 || true)
        if grep -q 'canceling statement due to statement timeout' <<<"$out"; then
            echo cancelled
        else
            sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p' <<<"$out" | tail -1
        fi >>"$work/logs/$name"
    done
    log "  $name: $(tr '\n' ' ' <"$work/logs/$name")(ms)"
done
q -c "ALTER POLICY own_rows ON sms_otp.sms_messages_log USING ($saved_log)" \
  -c "ALTER POLICY own_rows ON sms_otp.sms_otp_sessions USING ($saved_sessions)"

# ------------------------------------------------------------------ the table
read -r base_ms _ _ < <(stats pk_probe)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
table="| read | as | rows returned | median ms | p95 ms | × PK probe | runs |
|---|---|---:|---:|---:|---:|---:|"
for r in "${reads[@]}"; do
    name=$(field "$r" 0)
    read -r med p95 count < <(stats "$name")
    as=$(field "$r" 1); as=${as:-postgres}
    table+=$'\n'"| $(field "$r" 4) | $as | $(returned "$r") | $med | $p95 | $(ratio "$med" "$base_ms") | $count |"
done
for r in "${v10_reads[@]}"; do
    name=$(field "$r" 0)
    med=$({ grep -v cancelled "$work/logs/$name" || true; } | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
    if [ -z "$med" ]; then
        timeout_ms=$(awk -v t="$v10_timeout" 'BEGIN { print t * 1000 }')
        table+=$'\n'"| 1.0 policy form, $(field "$r" 4) | $(field "$r" 1) | | > $timeout_ms (cancelled) | | > $(ratio "$timeout_ms" "$base_ms") | 1 |"
    else
        what=$(field "$r" 4)
        # a slice: what the whole table would take at the same cost per row
        [[ $name == *_slice ]] && what+=" (at that rate all $(label "$rows") rows: $(awk -v m="$med" -v r="$rows" -v s="$slice" 'BEGIN { printf "%.1f", m * r / s / 1000 }') s)"
        table+=$'\n'"| 1.0 policy form, $what | $(field "$r" 1) | | $(printf '%.1f' "$med") | | $(ratio "$med" "$base_ms") | $(grep -vc cancelled "$work/logs/$name") |"
    fi
done

machine="- $(label "$rows") rows in each of sms_messages_log and sms_otp_sessions over $(label "$users") users (the probe user 2 has $probe_sessions sessions and $probe_log log rows; user 1 has $probe1_login sessions of its own login); loaded, indexed and vacuumed in ${load_secs}s.
- pgbench, one connection, \`-M prepared\`, role and \`request.jwt.claims\` set per connection; $rounds rounds of ${secs}s per read, the reads interleaved; median and p95 over every transaction. 1.0 policy form: psql \`\\timing\`, the median of the runs shown.
- Machine: $(nproc) cores ($(lscpu | sed -nE 's/^Model name:\s+//p' | head -1)), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM; load average at the start $(cut -d' ' -f1-3 /proc/loadavg) (shared machine). $(q -c "SELECT version()" | cut -d, -f1); test/cluster.sh defaults (fsync off) plus shared_buffers 1GB, wal_level minimal.
- Commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src sql 2>/dev/null || echo ' with uncommitted changes in src/ or sql/'), $(date -u '+%Y-%m-%d %H:%M UTC'), \`$( [ "$smoke" -eq 1 ] && echo 'bash bench/rls_reads.sh --smoke' || echo 'bash bench/rls_reads.sh --write-docs')\`."

{
    echo "$table"
    echo
    echo "$machine"
    echo
    echo "Plans (EXPLAIN ANALYZE, as each role runs the read):"
    echo
    echo '```'
    cat "$work/plans.txt"
    echo '```'
    echo
    echo "Under 1.0's policy form (EXPLAIN):"
    echo
    echo '```'
    cat "$work/plans-v10.txt"
    echo '```'
} >"$work/results.md"
{ echo "$table"; echo; echo "$machine"; }
log "plans in $work/results.md; pgbench logs in $work/logs"
# At 10 M rows a sequential scan is the bug this benchmark is there to catch; on the smoke
# run's small tables the planner may rightly prefer one.
if [ "$seq_scans" -ne 0 ] && [ "$smoke" -eq 0 ]; then
    echo "sequential scans of a big table in the 1.1 plans: see above" >&2
    exit 1
fi

if [ "$write_docs" -eq 1 ] && [ "$smoke" -eq 0 ]; then
    replace_results_block rls-results "$work/results.md"
    log "docs/benchmarks.md updated"
fi
