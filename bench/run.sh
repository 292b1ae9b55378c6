#!/usr/bin/env bash
# make bench: otp_send throughput, worker drain rate, idle latency and worker memory, each beside
# a baseline measured in the same run on the same throwaway cluster, printed as one table; then
# the cost of reads under row-level security (bench/rls_reads.sh, a cluster of its own); then
# transactional sends and a code behind a backlog (bench/transactional.sh, a cluster of its own);
# the workers' throughput against their request slots, with several workers and after a bulk
# load (bench/throughput.sh); campaigns (bench/campaigns.sh); what nginx and pgbouncer add to a
# request (bench/proxy.sh); the dashboards' reads and the upkeep of their rollups
# (bench/dashboards.sh); the SMS-pumping guard against a simulated attack (bench/guard.sh); the
# cost of a number's country against libphonenumber's full parse (bench/phone_country.sh).
#   bash bench/run.sh                 the full run (30 to 35 minutes to the transactional sends, about 25 more after)
#   bash bench/run.sh --smoke         a few seconds: proves the scripts work, judges nothing but the
#                                     guard's attack and false-refusal targets (bench/guard.sh)
#   bash bench/run.sh --write-docs    the full run, then the table goes into docs/benchmarks.md
# Sizes can be changed through the environment (BENCH_USERS, BENCH_HISTORY_ROWS, ...; see below).
# BENCH_SKIP_BUILD=1 measures the installed extension as it is; BENCH_KEEP=1 leaves the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

. bench/args.sh
. bench/results_block.sh
. bench/workdir.sh

if [ "$smoke" -eq 1 ]; then
    defaults=(2000 20000 8 1 1 1000 1 1 10 4000 2000)
else
    defaults=(100000 10000000 8 3 12 20000 3 4 300 1000000 100000)
fi
users=${BENCH_USERS:-${defaults[0]}}              # users with OTP on
history_rows=${BENCH_HISTORY_ROWS:-${defaults[1]}}  # rows loaded into sessions and into the log
clients=${BENCH_CLIENTS:-${defaults[2]}}          # pgbench connections
send_rounds=${BENCH_SEND_ROUNDS:-${defaults[3]}}  # otp_send / baseline alternations per table size
send_secs=${BENCH_SEND_SECS:-${defaults[4]}}      # seconds of each pgbench run
drain_n=${BENCH_DRAIN_N:-${defaults[5]}}          # messages per drain
drain_rounds=${BENCH_DRAIN_ROUNDS:-${defaults[6]}} # drain / wrk alternations
wrk_min_secs=${BENCH_WRK_SECS:-${defaults[7]}}    # shortest wrk run (else as long as the drain)
latency_sends=${BENCH_LATENCY_SENDS:-${defaults[8]}}
rss_n=${BENCH_RSS_N:-${defaults[9]}}              # messages between the two RSS readings
rss_chunk=${BENCH_RSS_CHUNK:-${defaults[10]}}     # queued per transaction during the RSS run
in_flight=${BENCH_IN_FLIGHT:-256}                 # sms_otp.max_in_flight, and wrk's connections
mock_delay_ms=20

log() { printf '%s  %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ------------------------------------------------------------------ tools and the extension
EXTRA_PACKAGES="wrk" bash test/install-deps.sh
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    make -s -j2
    if [ "$(id -u)" -eq 0 ]; then make -s install; else sudo make -s install; fi
fi
bindir=$(pg_config --bindir)

# The cluster holds some 20 GB after a full run; it is removed, the figures stay in $work.
bench_workdir sms_otp_bench 25800

# The worker drains database "bench". otp_send is measured in "bench_send", where no worker
# claims what it queues, and its baseline in "bench_bare", a file copy of bench_send made just
# before: the same tables, indexes and rows. Limits are raised so that no send is refused.
log "cluster in $work (port $port)"
bash test/cluster.sh start "$pgdir" "$port" \
    "sms_otp.database = 'bench'" \
    "shared_buffers = '1GB'" "max_wal_size = '8GB'" "checkpoint_timeout = '30min'" \
    "sms_otp.resend_cooldown = 0" "sms_otp.rate_limit_per_minute = 1000000" "sms_otp.rate_limit_per_day = 1000000" \
    "sms_otp.ip_rate_limit_per_minute = 1000000" "sms_otp.ip_rate_limit_per_day = 1000000" \
    "sms_otp.http_allowed_hosts = '127.0.0.1'" \
    "sms_otp.max_in_flight = $in_flight" "sms_otp.batch_size = $in_flight"
q postgres -c "CREATE DATABASE bench" -c "CREATE DATABASE bench_send"
q bench -v users="$users" -v provider_url="http://127.0.0.1:9" -f bench/sql/users.sql >/dev/null
q bench_send -v users="$users" -v provider_url= -f bench/sql/users.sql >/dev/null
# copy_for_baseline: bench_bare becomes a copy of bench_send as it is now.
copy_for_baseline() {
    q postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS bench_bare" \
        -c "CREATE DATABASE bench_bare TEMPLATE bench_send STRATEGY FILE_COPY"
}

worker_pid() { q postgres -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'sms_otp delivery worker'"; }
for _ in $(seq 100); do [ -n "$(worker_pid)" ] && break; sleep 0.1; done
[ -n "$(worker_pid)" ] || { echo "the delivery worker did not start" >&2; exit 1; }
rss_kb() { awk -v k="$2" '$1 == k ":" {print $2}' "/proc/$1/status"; }

# ------------------------------------------------------------------ idle latency
log "idle latency: $latency_sends sends, one at a time"
latency=$(node bench/latency.mjs --host "$pgdir" --port "$port" --db bench --sends "$latency_sends")
json() { node -e "process.stdout.write(String(JSON.parse(process.argv[1])[process.argv[2]]))" "$latency" "$1"; }
lat_p50=$(json p50_ms); lat_p99=$(json p99_ms); floor_p50=$(json floor_p50_ms); floor_p99=$(json floor_p99_ms)
log "  commit -> mock: p50 $lat_p50 ms, p99 $lat_p99 ms (max $(json max_ms)); direct POST: p50 $floor_p50 ms"

# ------------------------------------------------------------------ worker drain vs wrk
start_mock "$mock_delay_ms"
q bench -c "UPDATE sms_otp.api_integrations SET base_url = '$mock_url' WHERE name = 'twilio'"

# enqueue N: queue N messages in one transaction; sets after_id and commit_at.
enqueue() {
    local out
    out=$(q bench -v n="$1" -f bench/sql/enqueue.sql)
    after_id=$(sed -n 's/^after_id //p' <<<"$out")
    commit_at=$(sed -n 's/^commit_at //p' <<<"$out")
}
wait_drained() {
    local deadline=$((SECONDS + ${2:-600}))
    while [ "$(q bench -c "SELECT count(*) FROM sms_otp.sms_outbox WHERE status = 'queued' AND id > $1")" != 0 ]; do
        [ $SECONDS -lt $deadline ] || { echo "messages still queued after the deadline" >&2; exit 1; }
        sleep 0.1
    done
}
# drain N: queue N, wait until every one is terminal; prints "rate seconds worker_cpu% worker_wait%
# mock_cpu% worker_us_per_message": the worker's time on a CPU, and runnable but waiting for one
# (the machine is shared), per second of the drain.
drain() {
    local n=$1 wpid w0 m0 secs sent
    wpid=$(worker_pid)
    # Both are idle while the messages are queued: their time is the drain's.
    read -r w0 ww0 < <(sched "$wpid"); read -r m0 _ < <(sched "$mock_pid")
    enqueue "$n"
    wait_drained "$after_id"
    # The last result was written in a transaction that began after its answer arrived.
    secs=$(q bench -c "SELECT extract(epoch FROM max(updated_at)) - $commit_at FROM sms_otp.sms_outbox WHERE id > $after_id")
    sent=$(q bench -c "SELECT count(*) FROM sms_otp.sms_outbox WHERE id > $after_id AND status = 'sent'")
    [ "$sent" = "$n" ] || { echo "drain: $sent of $n messages sent" >&2; exit 1; }
    read -r w1 ww1 < <(sched "$wpid"); read -r m1 _ < <(sched "$mock_pid")
    awk -v n="$n" -v s="$secs" -v w="$((w1 - w0))" -v ww="$((ww1 - ww0))" -v m="$((m1 - m0))" \
        'BEGIN { printf "%.0f %.3f %.0f %.0f %.0f %.0f\n", n / s, s, w / s / 1e7, ww / s / 1e7, m / s / 1e7, w / n / 1e3 }'
}
# ceiling SECONDS: wrk at the worker's concurrency; prints "rate mock_cpu%".
ceiling() {
    local m0 out
    read -r m0 _ < <(sched "$mock_pid")
    out=$(wrk -t2 -c"$in_flight" -d"$1"s -s bench/wrk/twilio_send.lua "$mock_url")
    grep -q 'non_2xx=0 errors=0' <<<"$out" || { echo "wrk: $out" >&2; exit 1; }
    awk -v m="$(( $(sched "$mock_pid" | cut -d' ' -f1) - m0 ))" '/^wrk_result/ {
        split($2, r, "="); split($3, s, "=");
        printf "%.0f %.0f\n", r[2] / s[2], m / s[2] / 1e7 }' <<<"$out"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

log "drain: warm-up"
drain $((drain_n / 10 > 100 ? drain_n / 10 : 100)) >/dev/null
: >"$work/drain.txt"
: >"$work/wrk.txt"
: >"$work/worker_us.txt"
for r in $(seq "$drain_rounds"); do
    read -r rate secs wcpu wwait mcpu wus < <(drain "$drain_n")
    echo "$rate" >>"$work/drain.txt"
    echo "$wus" >>"$work/worker_us.txt"
    log "  round $r: worker drained $drain_n in ${secs}s = $rate msg/s; worker on a CPU ${wcpu}% of the time" \
        "(${wus} µs a message), runnable but waiting for a CPU ${wwait}%; mock on a CPU ${mcpu}%"
    wsecs=$(awk -v s="$secs" -v m="$wrk_min_secs" 'BEGIN { s = int(s + 0.5); print (s > m) ? s : m }')
    read -r wrate wmcpu < <(ceiling "$wsecs")
    echo "$wrate" >>"$work/wrk.txt"
    log "  round $r: wrk -c$in_flight for ${wsecs}s = $wrate req/s (mock ${wmcpu}% of a core)"
done
drain_rate=$(median <"$work/drain.txt")
worker_us=$(median <"$work/worker_us.txt")
wrk_rate=$(median <"$work/wrk.txt")

# ------------------------------------------------------------------ otp_send vs bare insert
# pgbench_tps SCRIPT: one pgbench run of bench/pgbench/SCRIPT.sql; prints its tx/s.
pgbench_tps() {
    local script=$1 db out before after processed refused
    db=$([ "$script" = otp_send ] && echo bench_send || echo bench_bare)
    # Each transaction queues one outbox row: ids count them (a refused send queues none).
    before=$(q "$db" -c "SELECT coalesce(max(id), 0) FROM sms_otp.sms_outbox")
    out=$("$bindir/pgbench" -n -M prepared -c "$clients" -j 2 -T "$send_secs" -D users="$users" \
        -f "bench/pgbench/$script.sql" -h "$pgdir" -p "$port" -U postgres "$db" 2>&1) || { echo "$out" >&2; exit 1; }
    after=$(q "$db" -c "SELECT coalesce(max(id), 0) FROM sms_otp.sms_outbox")
    processed=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' <<<"$out")
    # Every transaction must have queued its message: refused sends would flatter the figure. A
    # few are refused as "cooldown" when two sends for one user overlap (the second waits for
    # the first's lock, then finds a session newer than its own now()); they are counted.
    refused=$((processed - (after - before)))
    [ "$refused" -ge 0 ] && [ "$((refused * 1000))" -le "$processed" ] \
        || { echo "$script: $processed transactions, $((after - before)) messages" >&2; exit 1; }
    [ "$refused" -eq 0 ] || log "  ($script: $refused of $processed sends refused)"
    sed -nE 's/^tps = ([0-9.]+) .*/\1/p' <<<"$out"
}
# send_rounds LABEL: alternate baseline and otp_send; one tx/s per line in send-LABEL-SCRIPT.txt.
send_rounds() {
    local label=$1 r tps
    : >"$work/send-$label-bare_insert.txt"
    : >"$work/send-$label-otp_send.txt"
    for r in $(seq "$send_rounds"); do
        for script in bare_insert otp_send; do
            tps=$(pgbench_tps "$script")
            echo "$tps" >>"$work/send-$label-$script.txt"
            log "  $label round $r: $script $tps tx/s"
        done
    done
}
log "otp_send vs bare insert: $clients clients, $users users, empty tables"
# A first short run, then statistics: plans made while the tables were never analyzed would
# otherwise scan them whole until autovacuum gets there.
"$bindir/pgbench" -n -M prepared -c "$clients" -j 2 -T "$((send_secs > 4 ? 3 : 1))" -D users="$users" \
    -f bench/pgbench/otp_send.sql -h "$pgdir" -p "$port" -U postgres bench_send >/dev/null
q bench_send -c "VACUUM (ANALYZE) sms_otp.sms_otp_sessions, sms_otp.sms_outbox, sms_otp.sms_messages_log"
copy_for_baseline
send_rounds empty
log "history: $history_rows rows into sessions and into the log"
t0=$SECONDS
q bench_send -v rows="$history_rows" -v part=sessions -f bench/sql/history.sql >/dev/null &
load_sessions=$!
q bench_send -v rows="$history_rows" -v part=log -f bench/sql/history.sql >/dev/null
wait "$load_sessions"
q bench_send -c "VACUUM (ANALYZE) sms_otp.sms_outbox" -c "CHECKPOINT"
copy_for_baseline
log "  loaded and copied in $((SECONDS - t0))s"
log "otp_send vs bare insert: $history_rows rows of history"
send_rounds history

mean() { awk '{ s += $1 } END { printf "%.0f\n", s / NR }'; }
send_empty=$(mean <"$work/send-empty-otp_send.txt")
bare_empty=$(mean <"$work/send-empty-bare_insert.txt")
send_hist=$(mean <"$work/send-history-otp_send.txt")
bare_hist=$(mean <"$work/send-history-bare_insert.txt")

# ------------------------------------------------------------------ worker memory
log "worker memory: $rss_n messages"
wpid=$(worker_pid)
rss_before=$(rss_kb "$wpid" VmRSS); anon_before=$(rss_kb "$wpid" RssAnon)
echo "sent VmRSS_kB RssAnon_kB" >"$work/rss.txt"
sent_counter() { q bench -c "SELECT (sms_otp.worker_status() ->> 'sent')::bigint"; }
sent0=$(sent_counter)
first_after=$(q bench -c "SELECT coalesce(max(id), 0) FROM sms_otp.sms_outbox")
t0=$(date +%s.%N)
(
    left=$rss_n
    while [ "$left" -gt 0 ]; do
        n=$((left < rss_chunk ? left : rss_chunk))
        q bench -v n="$n" -f bench/sql/enqueue.sql >/dev/null
        left=$((left - n))
    done
) &
filler=$!
deadline=$((SECONDS + 1800))
while :; do
    sent=$(( $(sent_counter) - sent0 ))
    echo "$sent $(rss_kb "$wpid" VmRSS) $(rss_kb "$wpid" RssAnon)" >>"$work/rss.txt"
    [ "$sent" -ge "$rss_n" ] && break
    [ $SECONDS -lt $deadline ] || { echo "worker memory: $sent of $rss_n sent after 30 minutes" >&2; exit 1; }
    sleep 2
done
wait "$filler"
wait_drained "$first_after"
long_secs=$(q bench -c "SELECT extract(epoch FROM max(updated_at)) - $t0 FROM sms_otp.sms_outbox WHERE id > $first_after")
long_rate=$(awk -v n="$rss_n" -v s="$long_secs" 'BEGIN { printf "%.0f", n / s }')
[ "$(worker_pid)" = "$wpid" ] || { echo "the worker restarted during the memory run" >&2; exit 1; }
rss_after=$(rss_kb "$wpid" VmRSS); anon_after=$(rss_kb "$wpid" RssAnon)
log "  VmRSS $rss_before -> $rss_after kB, RssAnon $anon_before -> $anon_after kB ($long_rate msg/s over the run)"

# ------------------------------------------------------------------ the table
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
judge() { if [ "$smoke" -eq 1 ]; then echo "(smoke)"; elif awk "BEGIN { exit !($1) }"; then echo yes; else echo NO; fi; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
r_empty=$(ratio "$send_empty" "$bare_empty")
r_hist=$(ratio "$send_hist" "$bare_hist")
r_drift=$(ratio "$r_hist" "$r_empty")
r_drain=$(ratio "$drain_rate" "$wrk_rate")
r_anon=$(ratio "$anon_after" "$anon_before")
hist_label=$(awk -v n="$history_rows" 'BEGIN { if (n >= 1e6) printf "%g M", n / 1e6; else printf "%g k", n / 1e3 }')
rss_label=$(awk -v n="$rss_n" 'BEGIN { if (n >= 1e6) printf "%g M", n / 1e6; else printf "%g k", n / 1e3 }')

table=$(cat <<EOF
| metric | value | baseline (same run) | ratio | target | met |
|---|---:|---:|---:|---|---|
| otp_send, new tables (a warm-up run, then ANALYZE) | $send_empty tx/s | bare insert $bare_empty tx/s | $r_empty | ≥ 0.5× | $(judge "$r_empty >= 0.5") |
| otp_send, $hist_label rows of history | $send_hist tx/s | bare insert $bare_hist tx/s | $r_hist | ≥ 0.5× | $(judge "$r_hist >= 0.5") |
| otp_send ratio, $hist_label rows vs new tables | $r_hist | $r_empty | $r_drift | ≥ 0.9 (within 10%) | $(judge "$r_drift >= 0.9") |
| worker drain, $drain_n messages, mock answering in ${mock_delay_ms} ms | $drain_rate msg/s | wrk $wrk_rate req/s (-c$in_flight) | $r_drain | ≥ 3,000/s and ≥ 0.5× | $(judge "$drain_rate >= 3000 && $r_drain >= 0.5") |
| idle latency p50, commit → request at the mock | $lat_p50 ms | direct POST $floor_p50 ms | $(ratio "$lat_p50" "$floor_p50") | ≤ 10 ms | $(judge "$lat_p50 <= 10") |
| idle latency p99 ($latency_sends sends) | $lat_p99 ms | direct POST $floor_p99 ms | $(ratio "$lat_p99" "$floor_p99") | ≤ 50 ms | $(judge "$lat_p99 <= 50") |
| worker RssAnon after $rss_label messages | $(mb "$anon_after") | before $(mb "$anon_before") | $r_anon | flat (≤ 1.10×) | $(judge "$r_anon <= 1.10") |
| worker VmRSS after $rss_label messages | $(mb "$rss_after") | before $(mb "$rss_before") | $(ratio "$rss_after" "$rss_before") | (shared buffers touched count here) | – |
| worker CPU per message in the drains | $worker_us µs | | | (no target) | – |
| drain over the $rss_label-message run | $long_rate msg/s | | | (no target) | – |
EOF
)

machine=$(cat <<EOF
- Machine: $(nproc) cores ($(lscpu | sed -nE 's/^Model name:\s+//p' | head -1)), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r); load average at the start $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared).
- $(q postgres -c "SELECT version()" | cut -d, -f1); cluster: test/cluster.sh defaults (fsync off) plus shared_buffers 1GB, max_wal_size 8GB; sms_otp.max_in_flight = batch_size = $in_flight.
- Commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src sql 2>/dev/null || echo ' with uncommitted changes in src/ or sql/'), $(date -u '+%Y-%m-%d %H:%M UTC'), \`$( [ "$smoke" -eq 1 ] && echo 'bash bench/run.sh --smoke' || echo 'make bench')\`.
EOF
)

{
    echo
    echo "$table"
    echo
    echo "$machine"
} | tee "$work/results.md"
log "details in $work (drain.txt, wrk.txt, send-*.txt, rss.txt)"

if [ "$write_docs" -eq 1 ] && [ "$smoke" -eq 0 ]; then
    replace_results_block results "$work/results.md"
    log "docs/benchmarks.md updated"
fi

# ------------------------------------------------------------------ reads under row-level security
log "reads under row-level security: bench/rls_reads.sh"
rls_args=()
[ "$smoke" -eq 1 ] && rls_args+=(--smoke)
[ "$write_docs" -eq 1 ] && rls_args+=(--write-docs)
BENCH_SKIP_BUILD=1 bash bench/rls_reads.sh "${rls_args[@]}"

# ------------------------------------------------------------------ transactional sends and lanes
log "transactional sends and a code behind a backlog: bench/transactional.sh"
BENCH_SKIP_BUILD=1 bash bench/transactional.sh "${rls_args[@]}"

# ------------------------------------------------------------------ worker throughput
log "worker throughput: request slots, wrk, several workers, plans after a bulk load: bench/throughput.sh"
BENCH_SKIP_BUILD=1 bash bench/throughput.sh "${rls_args[@]}"

# ------------------------------------------------------------------ promo campaigns
log "promo campaigns: launch, drains and a code while a campaign drains: bench/campaigns.sh"
BENCH_SKIP_BUILD=1 bash bench/campaigns.sh "${rls_args[@]}"

# ------------------------------------------------------------------ the deployment layers
log "nginx and pgbouncer in front: bench/proxy.sh"
BENCH_SKIP_BUILD=1 bash bench/proxy.sh "${rls_args[@]}"

# ------------------------------------------------------------------ the dashboards
log "dashboards at 10 M log rows and the upkeep of their rollups: bench/dashboards.sh"
BENCH_SKIP_BUILD=1 bash bench/dashboards.sh "${rls_args[@]}"

# ------------------------------------------------------------------ the SMS-pumping guard
log "the SMS-pumping guard against a simulated attack, and its cost: bench/guard.sh"
BENCH_SKIP_BUILD=1 bash bench/guard.sh "${rls_args[@]}"

# ------------------------------------------------------------------ the country of a number
log "what phone_country costs a number, against libphonenumber's full parse: bench/phone_country.sh"
bash bench/phone_country.sh "${rls_args[@]}"
