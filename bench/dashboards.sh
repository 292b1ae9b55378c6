#!/usr/bin/env bash
# The dashboards at 10 million log rows: each dashboard read as the service role (target ≤ 100 ms),
# beside the same figure computed straight from the raw log in the same run; and what keeping the
# rollups costs the writes that feed them (the worker's results, receipts, code sessions), per
# 1,000 messages, with the rollup triggers on and off in alternating runs. A cluster of its own.
#   bash bench/dashboards.sh                 the full run (20 to 30 minutes on two cores, most of it the load)
#   bash bench/dashboards.sh --smoke         20,000 log rows, one short run of each: proves the script works
#   bash bench/dashboards.sh --write-docs    the full run, then its section of docs/benchmarks.md
# Sizes: BENCH_DASH_ROWS (10,000,000 log rows over 30 days), BENCH_DASH_SESSIONS (1,000,000 code
# sessions), BENCH_DASH_USERS (1,000,000), BENCH_DASH_ROUNDS (3 rounds of every read),
# BENCH_DASH_SECS (5 seconds of pgbench per dashboard read and round), BENCH_DASH_UPKEEP_ROUNDS
# (3 pairs of runs per write path), BENCH_DASH_UPKEEP_SECS (5 seconds a run).
# BENCH_SKIP_BUILD=1 measures the installed extension; BENCH_KEEP=1 leaves the cluster running.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

. bench/args.sh
. bench/results_block.sh
. bench/workdir.sh
if [ "$smoke" -eq 1 ]; then defaults=(20000 2000 2000 1 1 1 1); else defaults=(10000000 1000000 1000000 3 5 3 5); fi
rows=${BENCH_DASH_ROWS:-${defaults[0]}}
sessions=${BENCH_DASH_SESSIONS:-${defaults[1]}}
users=${BENCH_DASH_USERS:-${defaults[2]}}
rounds=${BENCH_DASH_ROUNDS:-${defaults[3]}}
secs=${BENCH_DASH_SECS:-${defaults[4]}}
upkeep_rounds=${BENCH_DASH_UPKEEP_ROUNDS:-${defaults[5]}}
upkeep_secs=${BENCH_DASH_UPKEEP_SECS:-${defaults[6]}}
# Rows per load statement: 100,000 log rows (the triggers aggregate each statement's rows at
# once), 50,000 sessions; the late receipts update a range of 500,000 ids at a time.
log_batch=$((rows >= 1000000 ? 100000 : 2000))
session_batch=$((log_batch / 2))
receipt_batch=$((log_batch * 5))
upkeep_batches=$((smoke ? 20 : 200))   # distinct results statements of 64 rows the upkeep runs pick from
target_ms=100

log() { printf '%s  %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
started=$SECONDS
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    make -s -j2
    if [ "$(id -u)" -eq 0 ]; then make -s install; else sudo make -s install; fi
fi
bindir=$(pg_config --bindir)
# What is measured: the tree as it is now (others may install another build during the run).
head=$(git rev-parse HEAD 2>/dev/null || echo unknown)
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src sql 2>/dev/null || echo ' with uncommitted changes in src/ or sql/')"
installed() { stat -c %Y "$(pg_config --pkglibdir)/sms_otp.so" "$(pg_config --sharedir)/extension/sms_otp--1.1.sql" | tr '\n' ' '; }
installed_at_start=$(installed)
# reinstalled: a note when a build was installed while the run went on.
reinstalled() {
    if [ "$(installed)" = "$installed_at_start" ]; then return; fi
    if git diff --quiet "$head" -- src sql 2>/dev/null; then
        echo ' (a build of the same src/ and sql/ was installed again during the run)'
    else
        echo ' (another build was installed during the run: new connections loaded its library)'
    fi
}

bench_workdir sms_otp_dash 26600
mkdir -p "$work/scripts" "$work/logs" "$work/upkeep"

# wal_level = minimal as in bench/rls_reads.sh; the worker watches another database, so nothing
# here is claimed, sent or compacted but by this script.
log "cluster in $work (port $port)"
bash test/cluster.sh start "$pgdir" "$port" "sms_otp.database = 'postgres'" \
    "shared_buffers = '1GB'" "wal_level = minimal" "max_wal_senders = 0" "max_wal_size = '8GB'" \
    "checkpoint_timeout = '30min'"
q postgres -q -f test/roles.sql
q postgres -c "CREATE DATABASE dash"
load() { q dash -v "part=$1" "${@:2}" -f bench/sql/dashboards_load.sql >/dev/null; }
# timed NAME COMMAND...: runs it, writes its seconds to $work/NAME.secs.
timed() { local t=$SECONDS; "${@:2}"; echo $((SECONDS - t)) >"$work/$1.secs"; }

# ------------------------------------------------------------------ the month
label() { awk -v n="$1" 'BEGIN { if (n >= 1e6) printf "%.3g M", n / 1e6; else if (n >= 1e3) printf "%.3g k", n / 1e3; else printf "%d", n }'; }
log "load: $(label "$rows") log rows and $(label "$sessions") code sessions over 30 days, $log_batch log rows a statement"
t_load=$SECONDS
timed setup load setup -v rows="$rows" -v session_count="$sessions" -v users="$users"
# Two writers of the log (as two workers would be), a third of the sessions: two cores busy.
timed log0 load log -v rows="$rows" -v batch="$log_batch" -v stream=0 -v streams=2 &
log0=$!
timed log1 load log -v rows="$rows" -v batch="$log_batch" -v stream=1 -v streams=2 &
log1=$!
timed sessions load sessions -v session_count="$sessions" -v batch="$session_batch"
wait "$log0"
wait "$log1"
log_secs=$(cat "$work/log0.secs" "$work/log1.secs" | sort -n | tail -1)
log "  log rows in ${log_secs}s, sessions in $(cat "$work/sessions.secs")s"
timed receipts load receipts -v batch="$receipt_batch"
late=$(q dash -c "SELECT count(*) FROM sms_otp.sms_messages_log
                  WHERE outcome = 'sent' AND delivery_status = 'delivered' AND bench.h(outbox_id - 1, 12) % 1000 < 10")
log "  $late late receipts in $(cat "$work/receipts.secs")s"
rollup_rows() {
    q dash -F ' ' -c "SELECT count(*) FILTER (WHERE grain = 'h' AND shard > 0), count(*) FILTER (WHERE grain = 'h' AND shard = 0),
                             count(*) FILTER (WHERE grain = 'd'), pg_total_relation_size('sms_otp.$1')
                      FROM sms_otp.$1"
}
read -r msg_live_before _ _ _ < <(rollup_rows stats_messages)
t=$SECONDS
folded=$(q dash -c "SELECT sms_otp.stats_compact(100000)")
compact_secs=$((SECONDS - t))
log "  stats_compact folded $folded hours ($msg_live_before live stats_messages rows) in ${compact_secs}s"
t=$SECONDS
q dash -c "VACUUM (ANALYZE)" -c "CHECKPOINT"
vacuum_secs=$((SECONDS - t))
load_secs=$((SECONDS - t_load))
log "  loaded in ${load_secs}s"

# What the rollups hold must be what the raw rows say.
read -r raw_n raw_acc raw_dlv < <(q dash -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE outcome = 'sent'),
    count(*) FILTER (WHERE outcome = 'sent' AND delivery_status = 'delivered') FROM sms_otp.sms_messages_log")
read -r roll_n roll_acc roll_dlv < <(q dash -F ' ' -c "SELECT sum(attempted), sum(accepted), sum(delivered)
    FROM sms_otp.stats_messages WHERE grain = 'd' OR (grain = 'h' AND shard > 0)")
read -r roll_req roll_ver < <(q dash -F ' ' -c "SELECT sum(requested), sum(verified)
    FROM sms_otp.stats_otp WHERE grain = 'd' OR (grain = 'h' AND shard > 0)")
read -r raw_req raw_ver < <(q dash -F ' ' -c "SELECT count(*), count(verified_at) FROM sms_otp.sms_otp_sessions")
if [ "$raw_n $raw_acc $raw_dlv $raw_req $raw_ver" != "$roll_n $roll_acc $roll_dlv $roll_req $roll_ver" ]; then
    echo "the rollups disagree with the raw rows: log $raw_n $raw_acc $raw_dlv, sessions $raw_req $raw_ver;" \
         "rollups $roll_n $roll_acc $roll_dlv, $roll_req $roll_ver" >&2
    exit 1
fi
# Each number's country as the rollups see it is the country it was made for.
read -r numbers_right numbers_tried < <(q dash -F ' ' -c "SELECT count(*) FILTER (WHERE sms_otp.phone_country(bench.number(s, g, 2)) = s.country), count(*)
    FROM generate_series(1, 10000) g JOIN bench.slots s ON s.slot = bench.h(g, 1) % (SELECT slots FROM bench.cfg)")
read -r countries prefixes < <(q dash -F ' ' -c "SELECT count(DISTINCT country), count(DISTINCT prefix) FROM sms_otp.stats_otp")
log "  rollups match the raw rows; $numbers_right of $numbers_tried numbers in their country; $countries countries, $prefixes prefixes"
# What a raw read grouping by country would add: libphonenumber per number.
# (the difference between counting up to 100,000 numbers with and without it, psql's \timing)
psql_ms() {
    psql -X -q -h "$pgdir" -p "$port" -U postgres -d dash -c '\timing on' -c "$1" | sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p'
}
sample_n=$((rows < 100000 ? rows : 100000))
sample="(SELECT \"to\" FROM sms_otp.sms_messages_log LIMIT $sample_n) l"
psql_ms "SELECT count(\"to\") FROM $sample" >/dev/null
country_us=$(awk -v a="$(psql_ms "SELECT count(sms_otp.phone_country(\"to\")) FROM $sample")" \
                 -v b="$(psql_ms "SELECT count(\"to\") FROM $sample")" -v n="$sample_n" 'BEGIN { printf "%.1f", (a - b) * 1000 / n }')

# ------------------------------------------------------------------ the reads
# name | role (empty: the superuser) | query | what | the raw read of the same figure
d="now() - interval '1 day'"; w="now() - interval '7 days'"; m="now() - interval '30 days'"
reads=(
    "delivery_24h|service_role|SELECT * FROM sms_otp.dashboard_delivery($d, now(), 'hour', '{provider}')|dashboard_delivery, 24 h, hourly, by provider|raw_delivery_24h"
    "delivery_7d|service_role|SELECT * FROM sms_otp.dashboard_delivery($w, now(), 'day', '{provider}')|dashboard_delivery, 7 d, daily, by provider|raw_delivery_7d"
    "delivery_30d|service_role|SELECT * FROM sms_otp.dashboard_delivery($m, now(), 'all', '{provider,country,type}')|dashboard_delivery, 30 d, all, by provider, country and type|raw_delivery_30d"
    "latency_24h|service_role|SELECT * FROM sms_otp.dashboard_latency($d, now(), 'hour', '{provider}')|dashboard_latency, 24 h, hourly, by provider|raw_latency_24h"
    "latency_30d|service_role|SELECT * FROM sms_otp.dashboard_latency($m, now(), 'all', '{provider}')|dashboard_latency, 30 d, all, by provider|raw_latency_30d"
    "otp_country|service_role|SELECT * FROM sms_otp.dashboard_otp($m, now(), 'country', 50)|dashboard_otp, 30 d, by country|raw_otp_prefix"
    "otp_prefix|service_role|SELECT * FROM sms_otp.dashboard_otp($m, now(), 'prefix', 50)|dashboard_otp, 30 d, by prefix, top 50|raw_otp_prefix"
    "campaigns|service_role|SELECT * FROM sms_otp.dashboard_campaigns()|dashboard_campaigns (60 campaigns)|"
    "queue|service_role|SELECT * FROM sms_otp.dashboard_queue()|dashboard_queue ($(label $((rows / 500 > 100 ? rows / 500 : 100))) queued)|"
    "providers|service_role|SELECT * FROM sms_otp.dashboard_providers()|dashboard_providers (5 providers)|"
    "metrics|service_role|SELECT sms_otp.metrics()|metrics() (every counter of the retained month)|"
)
# The same figures from the raw rows, as the superuser (no policy in the way). Cost needs the
# prices and is left out; 30 d by country is read by provider and type only, and the code
# funnel by prefix (by country it would also ask libphonenumber for each row's country).
accepted="count(*) FILTER (WHERE outcome = 'sent')"
delivery_cols="count(*) AS attempted, $accepted AS accepted,
    count(*) FILTER (WHERE outcome IN ('rejected', 'auth_failed')) AS rejected,
    count(*) FILTER (WHERE outcome IN ('retry', 'throttled')) AS retried,
    count(*) FILTER (WHERE outcome = 'sent' AND delivery_status = 'delivered') AS delivered,
    count(*) FILTER (WHERE outcome = 'sent' AND delivery_status = 'undelivered') AS undelivered,
    count(*) FILTER (WHERE outcome = 'sent' AND delivery_status = 'failed') AS failed,
    sum(coalesce(segments, 1)) FILTER (WHERE outcome = 'sent') AS segments"
# the two latencies of each accepted attempt (send: queued -> accepted; delivery: accepted -> delivered)
latency_from="sms_otp.sms_messages_log l, LATERAL (SELECT l.requested_at + l.response_time_ms * interval '1 ms' AS accepted_at) a,
    LATERAL (VALUES ('send', extract(epoch FROM a.accepted_at - l.queued_at) * 1000),
                    ('delivery', CASE WHEN l.delivery_status = 'delivered' THEN extract(epoch FROM l.delivery_at - a.accepted_at) * 1000 END)) s(stage, ms)"
latency_cols="count(*), percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY s.ms)"
delivery_cols=${delivery_cols//$'\n'/ }; latency_from=${latency_from//$'\n'/ }   # one line a read
raw_reads=(
    "raw_delivery_24h|SELECT date_trunc('hour', created_at), provider_name, $delivery_cols FROM sms_otp.sms_messages_log WHERE created_at >= date_trunc('hour', $d) AND created_at < now() GROUP BY 1, 2 ORDER BY 1, 2|the same from the log: GROUP BY hour, provider"
    "raw_delivery_7d|SELECT date_trunc('day', created_at), provider_name, $delivery_cols FROM sms_otp.sms_messages_log WHERE created_at >= date_trunc('day', $w) AND created_at < now() GROUP BY 1, 2 ORDER BY 1, 2|GROUP BY day, provider"
    "raw_delivery_30d|SELECT provider_name, type, $delivery_cols FROM sms_otp.sms_messages_log WHERE created_at >= date_trunc('day', $m) AND created_at < now() GROUP BY 1, 2 ORDER BY 1, 2|GROUP BY provider, type (no country)"
    "raw_latency_24h|SELECT date_trunc('hour', l.created_at), l.provider_name, s.stage, $latency_cols FROM $latency_from WHERE l.created_at >= date_trunc('hour', $d) AND l.created_at < now() AND l.outcome = 'sent' AND s.ms IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3|exact percentiles by hour, provider, stage"
    "raw_latency_30d|SELECT l.provider_name, s.stage, $latency_cols FROM $latency_from WHERE l.created_at >= date_trunc('day', $m) AND l.created_at < now() AND l.outcome = 'sent' AND s.ms IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2|exact percentiles by provider, stage"
    "raw_otp_prefix|SELECT prefix, sum(requested) AS requested, sum(sent) AS sent, sum(delivered) AS delivered, sum(entered) AS entered, sum(verified) AS verified FROM (SELECT left(phone, 7) AS prefix, count(*) AS requested, count(*) FILTER (WHERE sent_at IS NOT NULL OR status IN ('sent', 'verified')) AS sent, 0 AS delivered, count(*) FILTER (WHERE attempts > 0 OR verified_at IS NOT NULL) AS entered, count(verified_at) AS verified FROM sms_otp.sms_otp_sessions WHERE created_at >= date_trunc('day', $m) AND created_at < now() GROUP BY 1 UNION ALL SELECT left(\"to\", 7), 0, 0, count(*), 0, 0 FROM sms_otp.sms_messages_log WHERE created_at >= date_trunc('day', $m) AND created_at < now() AND type = 'otp' AND outcome = 'sent' AND delivery_status = 'delivered' GROUP BY 1) x GROUP BY 1 ORDER BY sent DESC LIMIT 50|the funnel by prefix from the sessions and the log"
)
field() { local IFS='|'; local -a f; read -r -a f <<<"$1"; echo "${f[$2]:-}"; }
for r in "${reads[@]}" "${raw_reads[@]}"; do
    name=$(field "$r" 0)
    query=$(field "$r" 2); [[ $name == raw_* ]] && query=$(field "$r" 1)
    echo "$query;" >"$work/scripts/$name.sql"
done
as() { if [ -n "$1" ]; then echo "-c role=$1"; fi; }

# Plans: the dashboards' statements run inside their functions, so auto_explain logs them
# (nested statements of 1 ms or more, with their row counts and buffers); the raw reads by
# EXPLAIN ANALYZE.
: >"$work/plans.txt"
for r in "${reads[@]}"; do
    name=$(field "$r" 0)
    {
        echo "-- $name: $(field "$r" 3)"
        PGOPTIONS="$(as "$(field "$r" 1)")" psql -X -q -h "$pgdir" -p "$port" -U postgres -d dash \
            -c "SET ROLE postgres" -c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 1" \
            -c "SET auto_explain.log_analyze = on" -c "SET auto_explain.log_buffers = on" \
            -c "SET auto_explain.log_timing = on" -c "SET auto_explain.log_nested_statements = on" \
            -c "SET auto_explain.log_level = notice" -c "SET client_min_messages = notice" \
            -c "RESET ROLE" -c "$(cat "$work/scripts/$name.sql")" 2>&1 >/dev/null | sed -E 's/^(psql:[^ ]+ )?NOTICE:  //'
        echo
    } >>"$work/plans.$name.txt"
    cat "$work/plans.$name.txt" >>"$work/plans.txt"
done
for r in "${raw_reads[@]}"; do
    name=$(field "$r" 0)
    {
        echo "-- $name: $(field "$r" 2)"
        q dash -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) $(field "$r" 1)"
        echo
    } >>"$work/plans.txt"
done
returned() { PGOPTIONS="$(as "$2")" q dash -c "SELECT count(*) FROM ($1) x"; }

log "timing: $rounds rounds; each dashboard read for ${secs}s, each raw read once; one connection, interleaved"
# run_read NAME ROLE ROUND PGBENCH_ARGS...: one pgbench run of a read, every transaction logged.
run_read() {
    PGOPTIONS="$(as "$2")" "$bindir/pgbench" -n -M prepared -c 1 -j 1 "${@:4}" \
        -f "$work/scripts/$1.sql" -l --log-prefix="$work/logs/$1.$3" \
        -h "$pgdir" -p "$port" -U postgres dash >"$work/logs/$1.$3.out" 2>&1 \
        || { cat "$work/logs/$1.$3.out" >&2; exit 1; }
}
for round in $(seq "$rounds"); do
    for r in "${reads[@]}"; do run_read "$(field "$r" 0)" "$(field "$r" 1)" "$round" -T "$secs"; done
    for r in "${raw_reads[@]}"; do run_read "$(field "$r" 0)" "" "$round" -t 1; done
    log "  round $round done"
done
# median / p95 (ms) and count of every transaction of a read (pgbench's log: µs in field 3)
stats() {
    cat "$work/logs/$1".*.[0-9]* | awk '{ print $3 }' | sort -n |
        awk '{ v[NR] = $1 } END { printf "%.2f %.2f %d\n", v[int((NR + 1) / 2)] / 1000, v[int(NR * 0.95 + 0.5)] / 1000, NR }'
}

# ------------------------------------------------------------------ upkeep per 1,000 messages
# Each write path with its rollup trigger on and off, in alternating runs (on-off, off-on, ...)
# of the same statements on the same tables; ms per 1,000 messages from pgbench's latency.
log "upkeep: $upkeep_rounds pairs of ${upkeep_secs}s runs per write path, the rollup trigger on and off"
load upkeep -v rows="$rows" -v batches="$upkeep_batches"
slots=$(q dash -c "SELECT slots FROM bench.cfg")
cat >"$work/scripts/upkeep_results.sql" <<EOF
\\set b random(1, $upkeep_batches)
INSERT INTO sms_otp.sms_messages_log (user_id, "to", type, text, provider_name, status_code, response_time_ms, outcome,
                                      error, outbox_id, provider_message_id, delivery_status, segments, requested_at, queued_at)
SELECT a.user_id, a."to", a.type, a.text, a.provider_name, a.status_code, a.response_time_ms, a.outcome, a.error,
       nextval('bench.upkeep_outbox'), a.provider_message_id, a.delivery_status, a.segments,
       now() - a.response_time_ms * interval '1 ms', now() - (a.response_time_ms + a.wait_ms) * interval '1 ms'
FROM bench.upkeep_batches b,
     jsonb_to_recordset(b.rows) AS a(user_id uuid, "to" text, type text, text text, provider_name text, status_code int,
                                     response_time_ms int, outcome text, error text, provider_message_id text,
                                     delivery_status text, segments int, wait_ms int)
WHERE b.b = :b;
EOF
cat >"$work/scripts/upkeep_receipt.sql" <<'EOF'
\set i random(1, :pool)
UPDATE sms_otp.sms_messages_log l SET delivery_status = 'delivered', delivery_at = clock_timestamp()
FROM bench.receipt_pool p
WHERE p.i = :i AND l.outbox_id = p.outbox_id AND l.provider_message_id = p.provider_message_id;
EOF
cat >"$work/scripts/upkeep_session.sql" <<EOF
\\set s random(0, $((slots - 1)))
\\set g random(1, 2000000000)
INSERT INTO sms_otp.sms_otp_sessions (user_id, phone, client_ip, client_net, login_session, provider_name, status,
                                      max_attempts, code_hash, expires_at, resend_available_at)
SELECT bench.user_id(1 + :g % $users), bench.number(s, :g, 40), '10.1.2.3', '10.1.2.3', 'login-' || :g, 'twilio',
       'pending', 5, decode(md5(:g::text), 'hex'), now() + interval '5 minutes', now() + interval '30 seconds'
FROM bench.slots s WHERE s.slot = :s;
EOF
# upkeep PATH TABLE TRIGGER MESSAGES_PER_STATEMENT [pgbench -D ...]: the runs of one path; one
# "on off" line of ms per 1,000 messages per round in $work/upkeep/PATH.txt.
upkeep() {
    local path=$1 table=$2 trigger=$3 per=$4 round arm out lat
    declare -A ms
    : >"$work/upkeep/$path.txt"
    run() {
        out=$("$bindir/pgbench" -n -M prepared -c 1 -j 1 -T "$1" "${@:2}" -f "$work/scripts/upkeep_$path.sql" \
            -h "$pgdir" -p "$port" -U postgres dash 2>&1) || { echo "$out" >&2; exit 1; }
    }
    run 1 "${@:5}"   # warm-up, trigger on
    for round in $(seq "$upkeep_rounds"); do
        for arm in $([ $((round % 2)) -eq 1 ] && echo "on off" || echo "off on"); do
            q dash -c "ALTER TABLE sms_otp.$table $([ "$arm" = on ] && echo ENABLE || echo DISABLE) TRIGGER $trigger"
            run "$upkeep_secs" "${@:5}"
            lat=$(sed -nE 's/^latency average = ([0-9.]+) ms$/\1/p' <<<"$out")
            ms[$arm]=$(awk -v l="$lat" -v n="$per" 'BEGIN { printf "%.1f", l * 1000 / n }')
        done
        q dash -c "ALTER TABLE sms_otp.$table ENABLE TRIGGER $trigger"
        echo "${ms[on]} ${ms[off]}" >>"$work/upkeep/$path.txt"
        log "  $path round $round: ${ms[on]} ms per 1,000 messages with the rollups, ${ms[off]} without"
    done
}
upkeep results sms_messages_log stats_inserted 64
q dash -c "CREATE TABLE bench.receipt_pool AS
           SELECT row_number() OVER (ORDER BY outbox_id)::int AS i, outbox_id, provider_message_id
           FROM sms_otp.sms_messages_log WHERE outbox_id > 1000000000 AND outcome = 'sent'" \
       -c "ALTER TABLE bench.receipt_pool ADD PRIMARY KEY (i)" -c "ANALYZE bench.receipt_pool" \
       -c "VACUUM (ANALYZE) sms_otp.sms_messages_log"
pool=$(q dash -c "SELECT count(*) FROM bench.receipt_pool")
upkeep receipt sms_messages_log stats_updated 1 -D pool="$pool"
upkeep session sms_otp_sessions stats_inserted 1
q dash -c "VACUUM (ANALYZE) sms_otp.sms_messages_log, sms_otp.sms_otp_sessions"

# ------------------------------------------------------------------ the tables
median_col() { awk -v c="$2" '{ print $c }' "$1" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
judge() { if [ "$smoke" -eq 1 ]; then echo "(smoke)"; elif awk "BEGIN { exit !($1) }"; then echo yes; else echo NO; fi; }
# plan_excerpt FILE: the statements of a read's auto_explain log that took plan_min_ms or more,
# each query's text cut to its first line; not the read's own top-level call.
plan_min_ms=25
plan_excerpt() {
    awk -v min="$plan_min_ms" '
        function flush() { if (buf != "" && ms >= min && !top) printf "%s\n", buf; buf = "" }
        NR == 1 { print; next }
        /^duration: / { flush(); buf = $0; ms = $2 + 0; top = 0; text = 0; next }
        /^Query Text: / { top = ($0 ~ /^Query Text: SELECT (\* FROM sms_otp\.dashboard_|sms_otp\.metrics\(\))/)
                          first = $0; sub(/[ \t]+$/, "", first); text = 1; cont = 0; next }
        text && /^[A-Z][A-Za-z ]*[A-Za-z]  \(cost=/ {
            buf = buf "\n" first (cont ? " …" : ""); text = 0 }
        text { if (first == "Query Text:") { l = $0; sub(/^[ \t]+/, "", l); if (l != "") first = first " " l }
               else if ($0 !~ /^[ \t]*$/) cont = 1
               next }
        buf != "" { buf = buf "\n" $0 }
        END { flush() }' "$1"
    echo
}
over=()
table="| read (as service_role) | rows returned | median ms | p95 ms | runs | target | met | the same from the raw rows (superuser) | median ms | raw / rollup |
|---|---:|---:|---:|---:|---|---|---|---:|---:|"
for r in "${reads[@]}"; do
    name=$(field "$r" 0); raw=$(field "$r" 4)
    read -r med p95 count < <(stats "$name")
    met=$(judge "$med <= $target_ms")
    if [ "$met" = NO ]; then over+=("$name"); fi
    raw_what=""; raw_med=""; ratio=""
    if [ -n "$raw" ]; then
        for x in "${raw_reads[@]}"; do
            if [ "$(field "$x" 0)" = "$raw" ]; then raw_what=$(field "$x" 2); fi
        done
        read -r raw_med _ _ < <(stats "$raw")
        ratio=$(awk -v a="$raw_med" -v b="$med" 'BEGIN { printf "%.0f×", a / b }')
    fi
    table+=$'\n'"| $(field "$r" 3) | $(returned "$(field "$r" 2)" service_role) | $med | $p95 | $count | ≤ $target_ms ms | $met | $raw_what | $raw_med | $ratio |"
done

upkeep_table="| write path (one connection) | with the rollups, ms per 1,000 messages | trigger disabled | added per 1,000 | ratio |
|---|---:|---:|---:|---:|"
for p in "results|the worker's results: INSERT of 64 log rows a statement (from a JSON array)" \
         "receipt|a receipt: UPDATE of one log row's delivery_status and delivery_at" \
         "session|a code: INSERT of one sms_otp_sessions row"; do
    path=${p%%|*}
    on=$(median_col "$work/upkeep/$path.txt" 1); off=$(median_col "$work/upkeep/$path.txt" 2)
    upkeep_table+=$'\n'"| ${p#*|} | $on | $off | $(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.1f", a - b }') | $(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.2f", a / b }') |"
done

rollup_line() {
    local live h0 day bytes
    read -r live h0 day bytes < <(rollup_rows "$1")
    printf '%s %s hour rows (%s live), %s day rows, %s' "$1" "$((live + h0))" "$live" "$day" \
        "$(awk -v b="$bytes" 'BEGIN { printf "%.1f MB", b / 1048576 }')"
}
log_mb=$(q dash -c "SELECT round(pg_total_relation_size('sms_otp.sms_messages_log') / 1048576.0)")
setup=$(cat <<EOF
- The month: $(label "$rows") log rows (7 in 10 codes, 2 transactional, 1 promo; five providers; 95.5% accepted, 2.5% retried, 2% rejected; of the accepted 87% delivered, 3% undelivered, 2% failed, the rest without a receipt) and $(label "$sessions") code sessions over the last 30 days, numbers of $countries countries and $prefixes prefixes weighted by traffic ($numbers_right of $numbers_tried sampled numbers are in their country for sms_otp.phone_country). Written by INSERT statements of $(label "$log_batch") log rows ($(label "$session_batch") sessions) in time order, two writers of the log and one of the sessions at once, so the triggers built the rollups; then $late late receipts (UPDATEs of delivery_status, $(label "$receipt_batch") ids a statement), sms_otp.stats_compact(100000) ($folded hours folded), VACUUM ANALYZE. The log: $log_mb MB with its indexes.
- Load: ${load_secs}s in all; log rows ${log_secs}s, sessions $(cat "$work/sessions.secs")s (at the same time), late receipts $(cat "$work/receipts.secs")s, stats_compact ${compact_secs}s, VACUUM ANALYZE and CHECKPOINT ${vacuum_secs}s. The rollups after it agree with the raw rows (attempts, accepted, delivered; sessions, verified).
- Rollups: $(rollup_line stats_messages); $(rollup_line stats_latency); $(rollup_line stats_otp).
- Reads: pgbench, one connection, \`-M prepared\`, the dashboards as service_role (\`-c role=service_role\`), ${secs}s of each per round, $rounds rounds, interleaved with the raw reads (one run each per round); median and p95 over every transaction. A queue of $(label $((rows / 500 > 100 ? rows / 500 : 100))) messages (due, leased and waiting, all lanes), 60 campaigns, 5 providers. Raw reads: the same figures from sms_messages_log and sms_otp_sessions (BRIN on created_at; parallel workers as configured), cost left out (it needs the prices); grouping by country would add sms_otp.phone_country, $country_us µs a number here ($(awk -v u="$country_us" -v n="$rows" 'BEGIN { printf "%.0f", u * n / 1e6 }') s more for the month), so those read by provider and type, and the code funnel by prefix.
- Upkeep: pgbench, one connection, \`-M prepared\`, $upkeep_rounds pairs of ${upkeep_secs}s runs per path after a 1 s warm-up, the trigger (stats_inserted or stats_updated) enabled and disabled by ALTER TABLE between runs, the order alternating; medians. Results: $upkeep_batches statements of 64 rows of the same mix (no receipt yet), now()'s hour; receipts: random rows among the $(label "$pool") accepted ones those runs wrote; codes: a pending session for a number of the same mix.
- Machine: $(nproc) cores ($(lscpu | sed -nE 's/^Model name:\s+//p' | head -1)), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM; load average at the start $load_at_start, at the end $(cut -d' ' -f1-3 /proc/loadavg) (shared machine). $(q dash -c "SELECT version()" | cut -d, -f1); test/cluster.sh defaults (fsync off) plus shared_buffers 1GB, wal_level minimal.
- Commit $commit$(reinstalled), $(date -u '+%Y-%m-%d %H:%M UTC'), \`$( [ "$smoke" -eq 1 ] && echo 'bash bench/dashboards.sh --smoke' || echo 'bash bench/dashboards.sh --write-docs')\`, $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s.
EOF
)

{
    echo "$table"
    echo
    echo "$upkeep_table"
    echo
    echo "$setup"
    if [ "${#over[@]}" -gt 0 ]; then
        echo
        echo "Plans of the reads over ${target_ms} ms: their statements of ${plan_min_ms} ms or more (auto_explain inside the functions, EXPLAIN ANALYZE with buffers, one run):"
        echo
        echo '```'
        for name in "${over[@]}"; do plan_excerpt "$work/plans.$name.txt"; done
        echo '```'
    fi
} | tee "$work/results.md"
log "plans in $work/plans.txt; pgbench logs in $work/logs"

if [ "$write_docs" -eq 1 ] && [ "$smoke" -eq 0 ]; then
    replace_results_block dashboards "$work/results.md"
    log "docs/benchmarks.md updated"
fi
