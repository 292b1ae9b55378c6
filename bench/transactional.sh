#!/usr/bin/env bash
# Transactional sends: send_transactional() throughput beside a bare insert of the rows it
# leaves, and a code's commit-to-provider latency with and without a backlog of transactional
# messages queued ahead of it (the lanes: codes are claimed first, and keep request slots of
# their own). A cluster of its own; each figure beside a baseline measured in the same run.
#   bash bench/transactional.sh                 the full run (about 7 minutes on two cores)
#   bash bench/transactional.sh --smoke         a 20,000-message backlog, a few sends: proves the script works
#   bash bench/transactional.sh --write-docs    the full run, then its section of docs/benchmarks.md
# Sizes: BENCH_TX_CLIENTS (8), BENCH_TX_ROUNDS (3), BENCH_TX_SECS (10 seconds of pgbench per run),
# BENCH_TX_BACKLOG (1,000,000), BENCH_TX_IDLE_SENDS (400 codes, half before the backlog, half
# after), BENCH_TX_BACKLOG_SECS (150: codes are sent for that long after the backlog's commit,
# then the rest of it is cancelled), BENCH_TX_BACKLOG_SENDS (at most 5,000 such codes),
# BENCH_IN_FLIGHT (256).
# BENCH_SKIP_BUILD=1 measures the installed extension; BENCH_KEEP=1 leaves the cluster running.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

. bench/args.sh
. bench/results_block.sh
. bench/workdir.sh
if [ "$smoke" -eq 1 ]; then defaults=(4 1 1 20000 10 20 5); else defaults=(8 3 10 1000000 400 5000 150); fi
clients=${BENCH_TX_CLIENTS:-${defaults[0]}}
rounds=${BENCH_TX_ROUNDS:-${defaults[1]}}
secs=${BENCH_TX_SECS:-${defaults[2]}}
backlog=${BENCH_TX_BACKLOG:-${defaults[3]}}
idle_sends=${BENCH_TX_IDLE_SENDS:-${defaults[4]}}
backlog_sends=${BENCH_TX_BACKLOG_SENDS:-${defaults[5]}}
backlog_secs=${BENCH_TX_BACKLOG_SECS:-${defaults[6]}}
in_flight=${BENCH_IN_FLIGHT:-256}   # sms_otp.max_in_flight and batch_size, as in bench/run.sh
mock_delay_ms=20

log() { printf '%s  %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
started=$SECONDS
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    make -s -j2
    if [ "$(id -u)" -eq 0 ]; then make -s install; else sudo make -s install; fi
fi
bindir=$(pg_config --bindir)

bench_workdir sms_otp_tx 26000

# The worker drains tx_latency. send_transactional is measured in tx_send, where no worker
# claims what it queues, and its baseline in tx_bare, a file copy of tx_send made just before.
# Limits are raised and the cooldown is 0 so that no code is refused.
log "cluster in $work (port $port)"
bash test/cluster.sh start "$pgdir" "$port" \
    "sms_otp.database = 'tx_latency'" \
    "shared_buffers = '1GB'" "max_wal_size = '8GB'" "checkpoint_timeout = '30min'" \
    "sms_otp.resend_cooldown = 0" "sms_otp.rate_limit_per_minute = 1000000" "sms_otp.rate_limit_per_day = 1000000" \
    "sms_otp.ip_rate_limit_per_minute = 1000000" "sms_otp.ip_rate_limit_per_day = 1000000" \
    "sms_otp.http_allowed_hosts = '127.0.0.1'" \
    "sms_otp.max_in_flight = $in_flight" "sms_otp.batch_size = $in_flight"
q postgres -c "CREATE DATABASE tx_latency" -c "CREATE DATABASE tx_send"
q tx_latency -v users=1000 -v provider_url="http://127.0.0.1:9" -f bench/sql/users.sql >/dev/null
q tx_send -f bench/sql/transactional_setup.sql >/dev/null
copy_for_baseline() {
    q postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS tx_bare" \
        -c "CREATE DATABASE tx_bare TEMPLATE tx_send STRATEGY FILE_COPY"
}
worker_pid() { q postgres -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'sms_otp delivery worker'"; }
for _ in $(seq 100); do [ -n "$(worker_pid)" ] && break; sleep 0.1; done
[ -n "$(worker_pid)" ] || { echo "the delivery worker did not start" >&2; exit 1; }
wpid=$(worker_pid)
reserved=$(q postgres -c "SHOW sms_otp.otp_reserved_in_flight")

# ------------------------------------------------------------------ send_transactional vs bare insert
# run_pgbench SCRIPT KEY SECS: one pgbench run of bench/pgbench/SCRIPT.sql with -D key=KEY;
# prints "tx/s worker_cpu%": the worker's time on a CPU per second of the run (every commit of
# a send wakes it, whatever the database; it finds nothing to claim in tx_latency).
run_pgbench() {
    local script=$1 key=$2 t=$3 db out before after processed missing w0 w1
    db=$([ "$script" = send_transactional ] && echo tx_send || echo tx_bare)
    before=$(q "$db" -c "SELECT coalesce(max(id), 0) FROM sms_otp.sms_outbox")
    w0=$(sched "$wpid" | cut -d' ' -f1)
    out=$("$bindir/pgbench" -n -M prepared -c "$clients" -j 2 -T "$t" -D key="$key" \
        -f "bench/pgbench/$script.sql" -h "$pgdir" -p "$port" -U postgres "$db" 2>&1) || { echo "$out" >&2; exit 1; }
    w1=$(sched "$wpid" | cut -d' ' -f1)
    after=$(q "$db" -c "SELECT coalesce(max(id), 0) FROM sms_otp.sms_outbox")
    processed=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' <<<"$out")
    # Every transaction queues one message (no business_ref: nothing is deduplicated).
    missing=$((processed - (after - before)))
    [ "${missing#-}" -le $((processed / 1000)) ] \
        || { echo "$script key=$key: $processed transactions, $((after - before)) messages" >&2; exit 1; }
    awk -v tps="$(sed -nE 's/^tps = ([0-9.]+) .*/\1/p' <<<"$out")" -v w="$((w1 - w0))" -v t="$t" \
        'BEGIN { printf "%.0f %.0f\n", tps, w / t / 1e7 }'
}
log "send_transactional vs bare insert: $clients clients, $rounds rounds of ${secs}s"
# A first short run of each, then statistics, then the copy for the baselines.
for key in 0 1; do run_pgbench send_transactional "$key" "$((secs > 4 ? 3 : 1))" >/dev/null; done
q tx_send -c "VACUUM (ANALYZE) sms_otp.sms_outbox, sms_otp.sms_idempotency_keys"
copy_for_baseline
for key in 0 1; do : >"$work/tps-bare_transactional-$key.txt"; : >"$work/tps-send_transactional-$key.txt"; done
: >"$work/worker_cpu.txt"
for r in $(seq "$rounds"); do
    for key in 0 1; do
        for script in bare_transactional send_transactional; do
            out=$(run_pgbench "$script" "$key" "$secs")
            read -r tps wcpu <<<"$out"
            echo "$tps" >>"$work/tps-$script-$key.txt"
            [ "$script" = send_transactional ] && echo "$wcpu" >>"$work/worker_cpu.txt"
            log "  round $r: $script key=$key $tps tx/s (worker on a CPU ${wcpu}% of the run)"
        done
    done
done
mean() { awk '{ s += $1 } END { printf "%.0f\n", s / NR }'; }
send_plain=$(mean <"$work/tps-send_transactional-0.txt")
bare_plain=$(mean <"$work/tps-bare_transactional-0.txt")
send_key=$(mean <"$work/tps-send_transactional-1.txt")
bare_key=$(mean <"$work/tps-bare_transactional-1.txt")
worker_cpu=$(mean <"$work/worker_cpu.txt")

# ------------------------------------------------------------------ code latency, idle and behind a backlog
label() { awk -v n="$1" 'BEGIN { if (n >= 1e6) printf "%.3g M", n / 1e6; else printf "%.3g k", n / 1e3 }'; }
log "code latency: $idle_sends codes idle, then for ${backlog_secs}s (at most $backlog_sends codes) behind $(label "$backlog") transactional messages (mock answering in ${mock_delay_ms} ms)"
latency=$(node bench/transactional_latency.mjs --host "$pgdir" --port "$port" --db tx_latency \
    --sends "$idle_sends" --backlog "$backlog" --backlog-sends "$backlog_sends" --backlog-secs "$backlog_secs" \
    --delay-ms "$mock_delay_ms" --out "$work/latency.tsv")
echo "$latency" >"$work/latency.json"
json() { node -e "const v = process.argv[2].split('.').reduce((o, k) => o[k], JSON.parse(process.argv[1])); process.stdout.write(typeof v === 'object' ? JSON.stringify(v) : String(v))" "$latency" "$1"; }
[ "$(worker_pid)" = "$wpid" ] || { echo "the worker restarted during the latency run" >&2; exit 1; }
# Every backlog message was sent or cancelled, and each sent one reached the mock once.
counts=$(q tx_latency -F' ' -c "SELECT count(*) FILTER (WHERE status = 'sent'),
    count(*) FILTER (WHERE status = 'cancelled') FROM sms_otp.sms_outbox WHERE kind = 'transactional'")
read -r backlog_sent backlog_cancelled <<<"$counts"
[ "$((backlog_sent + backlog_cancelled))" = "$backlog" ] && [ "$backlog_sent" = "$(json backlog_seen)" ] \
    || log "  WARNING: of $backlog backlog messages $backlog_sent sent, $backlog_cancelled cancelled, $(json backlog_seen) seen by the mock"
[ "$(json backlog.n)" -gt 0 ] || { echo "no code was sent behind the backlog" >&2; exit 1; }
twice=$(( $(json backlog_requests) - $(json backlog_seen) ))
[ "$twice" -eq 0 ] || log "  WARNING: $(json backlog_requests) requests for $(json backlog_seen) backlog messages: $twice sent twice"
# Each attempt as the worker saw it: how long the mock's 20 ms answer took to reach it, and the
# attempts it gave up on (no answer within sms_otp.request_timeout) and tried again.
attempts=$(q tx_latency -F' ' -c "SELECT count(*) FILTER (WHERE outcome <> 'sent'),
    coalesce(percentile_disc(0.5) WITHIN GROUP (ORDER BY response_time_ms) FILTER (WHERE outcome = 'sent'), 0),
    coalesce(max(response_time_ms) FILTER (WHERE outcome = 'sent'), 0)
    FROM sms_otp.sms_messages_log WHERE type = 'transactional'")
read -r attempts_unanswered answer_p50 answer_max <<<"$attempts"
request_timeout=$(q postgres -c "SHOW sms_otp.request_timeout")
# The worker's rounds while the codes were sent: one transaction writes a round's results and
# claims the next messages, and a result's updated_at is its round's start (now()). A code
# committed during a round is claimed by the next one.
round_stats=$(q tx_latency -F' ' -c "
    WITH r AS (
        SELECT updated_at AS at, count(*) AS n FROM sms_otp.sms_outbox
        WHERE kind = 'transactional' AND status = 'sent'
          AND updated_at BETWEEN to_timestamp($(json backlog_commit_at)) AND to_timestamp($(json sends_end_at))
        GROUP BY updated_at),
    g AS (SELECT n, extract(epoch FROM at - lag(at) OVER (ORDER BY at)) * 1000 AS gap_ms FROM r)
    SELECT count(*), percentile_disc(0.5) WITHIN GROUP (ORDER BY n),
           round(percentile_disc(0.5) WITHIN GROUP (ORDER BY gap_ms)::numeric, 1),
           round(percentile_disc(0.99) WITHIN GROUP (ORDER BY gap_ms)::numeric, 1), round(max(gap_ms)::numeric, 1)
    FROM g")
read -r rounds_n round_results round_p50 round_p99 round_max <<<"$round_stats"
log "  idle: p50 $(json idle.p50) ms, p99 $(json idle.p99) ms (before the backlog $(json idle_before.p99), after $(json idle_after.p99)); floor p50 $(json floor_idle.p50) ms"
log "  backlog ($(json backlog.n) codes): p50 $(json backlog.p50) ms, p99 $(json backlog.p99) ms, max $(json backlog.max) ms; floor p50 $(json floor_backlog.p50) ms, p99 $(json floor_backlog.p99) ms"
log "  the otp_send call itself: idle p50 $(json call_idle.p50) ms, p99 $(json call_idle.p99) ms; behind the backlog p50 $(json call_backlog.p50) ms, p99 $(json call_backlog.p99) ms, max $(json call_backlog.max) ms"
log "  autovacuum analyzed the outbox $(json analyzed_after_s) s after the backlog's commit (null: not while the codes were sent); codes before: $(json backlog_before_analyze.n) (p99 $(json backlog_before_analyze.p99) ms), after: $(json backlog_after_analyze.n) (p99 $(json backlog_after_analyze.p99) ms)"
log "  backlog loaded in $(json backlog_load_s)s; $(json backlog_rate) msg/s over the $(json backlog_sends_s)s of codes, $(json backlog_left_after_sends) left, $backlog_cancelled cancelled"
log "  worker rounds meanwhile: $rounds_n, one every $round_p50 ms (median; p99 $round_p99, max $round_max), $round_results results each (median)"

# ------------------------------------------------------------------ the table
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
judge() { if [ "$smoke" -eq 1 ]; then echo "(smoke)"; elif awk "BEGIN { exit !($1) }"; then echo yes; else echo NO; fi; }
idle_p99=$(json idle.p99); backlog_p99=$(json backlog.p99)
r_p99=$(ratio "$backlog_p99" "$idle_p99")
bl=$(label "$backlog")
# p50_p99 KEY: "p50 / p99 ms (n codes)" of a set of samples, or "(none)"; p99_ratio KEY BASE.
p50_p99() { if [ "$(json "$1.n")" -gt 0 ]; then echo "$(json "$1.p50") / $(json "$1.p99") ms ($(json "$1.n"))"; else echo "(none)"; fi; }
p99_ratio() { if [ "$(json "$1.n")" -gt 0 ]; then ratio "$(json "$1.p99")" "$(json "$2.p99")"; else echo "–"; fi; }
if [ "$(json analyzed_after_s)" = null ]; then analyzed="not analyzed while the codes were sent"; else analyzed="analyzed $(json analyzed_after_s) s after the load's commit"; fi
behind="behind $bl transactional messages ($(label "$(json backlog_left_after_sends)") left at the last code)"
quarters=$(node -e '
    const out = [];
    for (const q of JSON.parse(process.argv[1]).quarters)
        if (q.n) out.push(`${q.from_s}–${q.to_s} s into the drain, ${q.left_from} → ${q.left_to} left: p50 ${q.p50}, p99 ${q.p99}, max ${q.max} ms (${q.n} codes)`);
    process.stdout.write(out.join("; "));
' "$latency")

table=$(cat <<EOF
| metric | value | baseline (same run) | ratio | target | met |
|---|---:|---:|---:|---|---|
| send_transactional, template + data ($clients clients) | $send_plain tx/s | bare insert of the outbox row $bare_plain tx/s | $(ratio "$send_plain" "$bare_plain") | (no target) | – |
| send_transactional, template + data + Idempotency-Key | $send_key tx/s | bare insert of the outbox row and the key row $bare_key tx/s | $(ratio "$send_key" "$bare_key") | (no target) | – |
| code latency p50, commit → request at the mock, $behind | $(json backlog.p50) ms | nothing queued $(json idle.p50) ms | $(ratio "$(json backlog.p50)" "$(json idle.p50)") | (no target) | – |
| code latency p99 ($(json backlog.n) codes behind the backlog, $(json idle.n) with nothing queued) | $backlog_p99 ms | nothing queued $idle_p99 ms | $r_p99 | ≤ 1.20× (within 20%) | $(judge "$r_p99 <= 1.20") |
| … p50 / p99 of the codes sent before autovacuum's first ANALYZE of the outbox after the load ($analyzed) | $(p50_p99 backlog_before_analyze) | $(p50_p99 idle) | $(p99_ratio backlog_before_analyze idle) | (no target) | – |
| … p50 / p99 of the codes sent after it | $(p50_p99 backlog_after_analyze) | $(p50_p99 idle) | $(p99_ratio backlog_after_analyze idle) | (no target) | – |
| the otp_send call itself (BEGIN → right before COMMIT), p50 / p99, before that ANALYZE | $(p50_p99 call_before_analyze) | nothing queued $(p50_p99 call_idle) | $(p99_ratio call_before_analyze call_idle) | (no target) | – |
| … after it | $(p50_p99 call_after_analyze) | nothing queued $(p50_p99 call_idle) | $(p99_ratio call_after_analyze call_idle) | (no target) | – |
| the mock seeing a request posted straight to it, p50 / p99 (the machine's share) | $(json floor_backlog.p50) / $(json floor_backlog.p99) ms during the drain | $(json floor_idle.p50) / $(json floor_idle.p99) ms idle | $(ratio "$(json floor_backlog.p99)" "$(json floor_idle.p99)") | (no target) | – |
| transactional drain while the codes were sent (mock answering in ${mock_delay_ms} ms) | $(json backlog_rate) msg/s | | | (no target) | – |
| worker transactions writing results meanwhile (a part of results each, at most a quarter of max_in_flight: 32 to 128; claims apart) | one every $round_p50 ms (median; p99 $round_p99), $round_results results each | | | (no target) | – |
| the mock's answer to a backlog message as the worker timed it, p50 / max | $answer_p50 / $answer_max ms | the mock answers in ${mock_delay_ms} ms | | (no target) | – |
| backlog attempts given up as unanswered (request_timeout $request_timeout) and tried again; messages the mock received twice | $attempts_unanswered; $twice | | | none | $(judge "$twice == 0") |
EOF
)

machine=$(cat <<EOF
- Throughput: pgbench \`-M prepared\`, $clients connections, each transaction as PostgREST runs a call with the service role's key (role, claims and headers set, the call, commit); the baselines insert as the superuser in a file copy of the database made just before. Each send and its baseline alternate, $rounds runs of ${secs}s each; means. The delivery worker was on a CPU ${worker_cpu}% of the time during the sends: every commit of a send wakes it, whatever the database.
- Latency: codes one at a time for one user, 50–100 ms apart, each followed by the floor's direct request; $(json idle_before.n) before the backlog and $(json idle_after.n) after it (p99 $(json idle_before.p99) and $(json idle_after.p99) ms). The backlog: $bl transactional messages due now, queued in one transaction (loaded in $(json backlog_load_s)s); codes sent for $(json backlog_sends_s)s after its commit, then the $backlog_cancelled never claimed were cancelled. The codes behind the backlog, in four runs as sent: $quarters.
- sms_otp.max_in_flight = batch_size = $in_flight, otp_reserved_in_flight = $reserved; the mock (test/mock_provider, Twilio endpoint) runs in the measuring process.
- Machine: $(nproc) cores ($(lscpu | sed -nE 's/^Model name:\s+//p' | head -1)), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM; load average at the start $load_at_start (shared machine). $(q postgres -c "SELECT version()" | cut -d, -f1); test/cluster.sh defaults (fsync off) plus shared_buffers 1GB, max_wal_size 8GB.
- Commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src sql 2>/dev/null || echo ' with uncommitted changes in src/ or sql/'), $(date -u '+%Y-%m-%d %H:%M UTC'), \`$( [ "$smoke" -eq 1 ] && echo 'bash bench/transactional.sh --smoke' || echo 'bash bench/transactional.sh --write-docs')\`, $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s.
EOF
)

{
    echo "$table"
    echo
    echo "$machine"
} | tee "$work/results.md"
log "details in $work (tps-*.txt, latency.tsv: every code's latency, latency.json)"

if [ "$write_docs" -eq 1 ] && [ "$smoke" -eq 0 ]; then
    replace_results_block transactional-results "$work/results.md"
    log "docs/benchmarks.md updated"
fi
