#!/usr/bin/env bash
# Worker throughput: how close the workers come to what their request slots allow. One cluster
# of its own and one mock provider, so that every ratio is against a baseline of the same run:
#   1. pipeline efficiency at the default settings: the drain against max_in_flight / the mock's
#      latency (20 and 100 ms), for codes (the code worker) and transactional messages (the
#      delivery worker);
#   2. max_in_flight = batch_size = 256: the drain against wrk posting to the same mock with as
#      many connections, alternating; the worker's CPU per message;
#   3. sms_otp.workers = 1, 2, 4 delivery workers, at max_in_flight 64 and 256: each drain
#      against one worker's;
#   4. plans that outlive the data: a drain right after a bulk load of users into
#      user_contact_settings, which the workers planned for when it held 100, against the same
#      drain after the workers restarted.
#   bash bench/throughput.sh                 the full run (about 10 minutes on two cores)
#   bash bench/throughput.sh --smoke         500-message drains, one of each: proves the script works
#   bash bench/throughput.sh --write-docs    the full run, then its section of docs/benchmarks.md
# Sizes: BENCH_TP_N (20,000 messages a drain), BENCH_TP_ROUNDS (3 drains of each kind at 20 ms;
# medians), BENCH_TP_SLOW_ROUNDS (1 at 100 ms), BENCH_TP_WRK_SECS (4: the shortest wrk run),
# BENCH_TP_WORKERS ("1 2 4"), BENCH_TP_USERS ("100000 1000000": part 4's bulk loads, each
# measured on its own), BENCH_TP_SMALL_USERS (100: the users the plans are made for).
# BENCH_SKIP_BUILD=1 measures the installed extension; BENCH_KEEP=1 leaves the cluster running.
set -euo pipefail
shopt -s inherit_errexit  # a failing psql inside $(...) stops the run too
cd "$(dirname "$0")/.."
. test/lib.sh

. bench/args.sh
. bench/results_block.sh
. bench/workdir.sh
if [ "$smoke" -eq 1 ]; then
    defaults=(500 1 1 1 "1 2 4" "10000" 100)
else
    defaults=(20000 3 1 4 "1 2 4" "100000 1000000" 100)
fi
n=${BENCH_TP_N:-${defaults[0]}}
rounds=${BENCH_TP_ROUNDS:-${defaults[1]}}
slow_rounds=${BENCH_TP_SLOW_ROUNDS:-${defaults[2]}}
wrk_min_secs=${BENCH_TP_WRK_SECS:-${defaults[3]}}
worker_counts=${BENCH_TP_WORKERS:-${defaults[4]}}
user_loads=${BENCH_TP_USERS:-${defaults[5]}}
small_users=${BENCH_TP_SMALL_USERS:-${defaults[6]}}
warm_n=$((n / 10 > 100 ? n / 10 : 100))  # the drain before each measured one: plans, connections
high=256                                  # part 2 and 3: max_in_flight, batch_size, wrk's connections
fast_ms=20
cores=$(nproc)
slow_ms=100

log() { printf '%s  %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() { echo "bench/throughput.sh: $*" >&2; exit 1; }
started=$SECONDS
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)

command -v wrk >/dev/null || EXTRA_PACKAGES="wrk" bash test/install-deps.sh
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    make -s -j2
    if [ "$(id -u)" -eq 0 ]; then make -s install; else sudo make -s install; fi
fi

# Parts 3 and 4 restart the cluster: a library installed meanwhile would be measured from there on.
library="$(pg_config --pkglibdir)/sms_otp.so"
library_sum=$(md5sum <"$library")

bench_workdir sms_otp_throughput 26400

# The workers drain database tp. Nothing else runs there. max_in_flight and batch_size are left
# at their defaults for part 1, then set with ALTER SYSTEM (both are reloadable).
log "cluster in $work (port $port)"
bash test/cluster.sh start "$pgdir" "$port" \
    "sms_otp.database = 'tp'" \
    "shared_buffers = '1GB'" "max_wal_size = '8GB'" "checkpoint_timeout = '30min'" \
    "sms_otp.http_allowed_hosts = '127.0.0.1'"
q postgres -c "CREATE DATABASE tp"
q tp -v users="$small_users" -v provider_url="http://127.0.0.1:9" -f bench/sql/users.sql >/dev/null

setting() { q postgres -c "SHOW $1"; }
set_config() {  # set_config NAME=VALUE|NAME ...: ALTER SYSTEM SET (or RESET), then reload
    local a args=()
    for a in "$@"; do
        if [[ "$a" == *=* ]]; then args+=(-c "ALTER SYSTEM SET ${a%%=*} = ${a#*=}"); else args+=(-c "ALTER SYSTEM RESET $a"); fi
    done
    q postgres "${args[@]}" -c "SELECT pg_reload_conf()" >/dev/null
    sleep 0.5  # the workers read the file when the SIGHUP wakes them
}
default_in_flight=$(setting sms_otp.max_in_flight)
default_batch=$(setting sms_otp.batch_size)
reserved=$(setting sms_otp.otp_reserved_in_flight)
code_worker=$(setting sms_otp.code_worker)
have_workers=$(q postgres -c "SELECT count(*) FROM pg_settings WHERE name = 'sms_otp.workers'")

# ------------------------------------------------------------------ the workers
delivery='sms_otp delivery worker'
codes='sms_otp code worker'
pids_of() { q postgres -c "SELECT pid FROM pg_stat_activity WHERE backend_type = '$1' ORDER BY pid" | paste -sd' '; }
count_words() { wc -w <<<"$1" | tr -d ' '; }
# wait_workers N [OLD_PIDS]: until N delivery workers and the code worker run, none of OLD_PIDS.
wait_workers() {
    local want=$1 old=${2:-} d c p deadline=$((SECONDS + 30))
    while :; do
        d=$(pids_of "$delivery"); c=$(pids_of "$codes")
        if [ "$(count_words "$d")" = "$want" ] && { [ "$code_worker" != on ] || [ -n "$c" ]; }; then
            local stale=0
            for p in $old; do [[ " $d $c " == *" $p "* ]] && stale=1; done
            [ "$stale" -eq 0 ] && return 0
        fi
        [ $SECONDS -lt $deadline ] || fail "expected $want delivery workers (and the code worker); running: '$d' and '$c'"
        sleep 0.1
    done
}
expected_workers=1
wait_workers 1
restart_cluster() {
    bash test/cluster.sh stop "$pgdir"
    bash test/cluster.sh start "$pgdir" "$port"
    wait_workers "$expected_workers"
}
# restart_workers: every worker ended with pg_terminate_backend; the postmaster starts them again
# (bgw_restart_time 1 s), and their statements are planned anew on first use.
restart_workers() {
    local old
    old="$(pids_of "$delivery") $(pids_of "$codes")"
    q postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                   WHERE backend_type IN ('$delivery', '$codes')" >/dev/null
    wait_workers "$expected_workers" "$old"
}

# ------------------------------------------------------------------ the mock provider
start_mock "$fast_ms"
q tp -c "UPDATE sms_otp.api_integrations SET base_url = '$mock_url' WHERE name = 'twilio'"
mock_delay() {
    curl -sf -X POST "$mock_url/_mock/config" -H 'Content-Type: application/json' -d "{\"delay_ms\": $1}" >/dev/null \
        || fail "the mock refused delay_ms $1"
}

# ------------------------------------------------------------------ drains
# The messages of a transactional drain are for users msg_first .. msg_first + msg_users - 1.
msg_first=1
msg_users=$small_users
# wait_drained KIND AFTER_ID N: until none of the N queued after AFTER_ID is queued. One session
# looks every 50 ms (a connection every time would take CPU from the drain it measures), through
# the lane's partial index, and commits between looks so that it holds back no vacuum.
wait_drained() {
    local limit=$((60 + $3 / 100))
    q tp -c "DO \$\$
        DECLARE deadline timestamptz := clock_timestamp() + interval '$limit s';
        BEGIN
            WHILE EXISTS (SELECT FROM sms_otp.sms_outbox WHERE status = 'queued' AND kind = '$1' AND id > $2) LOOP
                IF clock_timestamp() > deadline THEN
                    RAISE EXCEPTION '% of $3 messages still queued after ${limit}s', (SELECT count(*)
                        FROM sms_otp.sms_outbox WHERE status = 'queued' AND kind = '$1' AND id > $2);
                END IF;
                COMMIT;
                PERFORM pg_sleep(0.05);
            END LOOP;
        END \$\$" || fail "drain of $3 $1 messages did not end"
}
# main_thread PID...: ns on a CPU of each process's main thread (a worker's: every statement
# runs there; its transport thread is apart), summed.
main_thread() {
    local p a s=0
    for p in "$@"; do read -r a _ 2>/dev/null <"/proc/$p/task/$p/schedstat" && s=$((s + a)); done
    echo "$s"
}
# busy: clock ticks of the whole machine from /proc/stat: busy, taken by the host (steal), in all.
busy() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6 - $9, $9, t }' /proc/stat; }
# drain KIND N: queue N messages (otp: bench/sql/enqueue.sql, codes of users 1..$small_users,
# sent by the code worker; transactional: bench/sql/throughput_enqueue.sql, sent by the
# delivery workers) in one transaction, wait until every one is sent. Prints "rate seconds
# cpu_us_per_message cpu% wait% mock_requests mock_peak_open main_us_per_message
# mock_us_per_message machine_busy% steal%": the CPU summed over the processes that send KIND,
# from the commit to the last result written; of that, their main threads'; the mock's CPU; how
# busy the machine's cores were, and how much of them the host took (100% a core).
drain() {
    local kind=$1 count=$2 type pids now_pids c0 w0 c1 w1 out after_id commit_at secs sent stats
    local m0 m1 k0 k1 b0 h0 t0 b1 h1 t1
    type=$([ "$kind" = otp ] && [ "$code_worker" = on ] && echo "$codes" || echo "$delivery")
    pids=$(pids_of "$type")
    [ -n "$pids" ] || fail "no $type runs"
    # shellcheck disable=SC2086  # one argument a pid
    read -r c0 w0 < <(sched $pids)
    # shellcheck disable=SC2086
    m0=$(main_thread $pids); read -r k0 _ < <(sched "$mock_pid"); read -r b0 h0 t0 < <(busy)
    curl -sf -X DELETE "$mock_url/_mock/stats" >/dev/null
    if [ "$kind" = otp ]; then
        out=$(q tp -v n="$count" -f bench/sql/enqueue.sql)
    else
        out=$(q tp -v n="$count" -v first="$msg_first" -v users="$msg_users" -f bench/sql/throughput_enqueue.sql)
    fi
    after_id=$(sed -n 's/^after_id //p' <<<"$out")
    commit_at=$(sed -n 's/^commit_at //p' <<<"$out")
    wait_drained "$kind" "$after_id" "$count"
    # shellcheck disable=SC2086
    read -r c1 w1 < <(sched $pids)
    # shellcheck disable=SC2086
    m1=$(main_thread $pids); read -r k1 _ < <(sched "$mock_pid"); read -r b1 h1 t1 < <(busy)
    # The last result was written in a transaction that began after its answer arrived.
    read -r secs sent now_pids < <(q tp -F' ' -c "
        SELECT extract(epoch FROM max(updated_at)) - $commit_at, count(*) FILTER (WHERE status = 'sent'),
               (SELECT string_agg(pid::text, ' ' ORDER BY pid) FROM pg_stat_activity WHERE backend_type = '$type')
        FROM sms_otp.sms_outbox WHERE id > $after_id")
    [ "$now_pids" = "$pids" ] || fail "a $type restarted during a drain"
    [ "$sent" = "$count" ] || fail "drain of $count $kind messages: $sent sent ($(q tp -c "SELECT string_agg(status || ' ' || n, ', ')
        FROM (SELECT status, count(*) n FROM sms_otp.sms_outbox WHERE id > $after_id GROUP BY 1) s"))"
    stats=$(curl -sf "$mock_url/_mock/stats" | sed -nE 's/^\{"total":([0-9]+),.*"peak":([0-9]+)\}$/\1 \2/p')
    awk -v n="$count" -v s="$secs" -v c="$((c1 - c0))" -v w="$((w1 - w0))" -v m="$stats" \
        -v main="$((m1 - m0))" -v mock="$((k1 - k0))" -v b="$((b1 - b0))" -v h="$((h1 - h0))" -v t="$((t1 - t0))" -v cores="$cores" 'BEGIN {
        if (t < 1) t = 1
        printf "%.0f %.3f %.0f %.0f %.0f %s %.0f %.0f %.0f %.0f\n", n / s, s, c / n / 1e3, c / s / 1e7, w / s / 1e7, m,
            main / n / 1e3, mock / n / 1e3, b / t * cores * 100, h / t * cores * 100 }'
}
# drains LABEL KIND ROUNDS: ROUNDS drains of $n; their lines appended to $work/LABEL.txt.
drains() {
    local label=$1 kind=$2 r out rate secs us cpu wait total peak main mock machine steal
    for r in $(seq "$3"); do
        out=$(drain "$kind" "$n")
        echo "$out" >>"$work/$label.txt"
        read -r rate secs us cpu wait total peak main mock machine steal <<<"$out"
        log "  $label: $n in ${secs}s = $rate msg/s; on a CPU ${cpu}% of a core ($us µs a message, $main in" \
            "the main thread), waiting for one ${wait}%; the mock got $total requests, $peak open at most" \
            "($mock µs a request); the machine ${machine}% busy, ${steal}% taken by the host"
        [ "$total" -ge "$n" ] || fail "the mock got $total requests for $n messages"
    done
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
med() { awk -v c="$2" '{ print $c }' "$work/$1.txt" | median; }  # med LABEL COLUMN (1 rate, 3 µs a message, 7 peak open)
peaks() { awk '{ print $7 }' "$work/$1.txt" | sort -n | uniq | paste -sd/; }
warm_up() { drain "$1" "$warm_n" >/dev/null; }
several() { if [ "$1" = 1 ]; then echo "1 $2"; else echo "$1 $2s"; fi; }  # several N WORD
# Dead outbox versions of earlier drains are not left for the next one to step over, nor their
# dirty pages for it to write.
settle() {
    q tp -c "VACUUM (ANALYZE) sms_otp.sms_outbox, sms_otp.sms_otp_sessions, sms_otp.sms_messages_log"
    [ "$smoke" -eq 1 ] || q tp -c "CHECKPOINT"
}
# ceiling SECONDS [CONNECTIONS THREADS]: wrk posting the worker's request to the mock with
# $high connections (two threads) unless told; prints its req/s.
ceiling() {
    local out
    out=$(wrk -t"${3:-2}" -c"${2:-$high}" -d"$1"s -s bench/wrk/twilio_send.lua "$mock_url")
    grep -q 'non_2xx=0 errors=0' <<<"$out" || fail "wrk: $out"
    awk '/^wrk_result/ { split($2, r, "="); split($3, s, "="); printf "%.0f\n", r[2] / s[2] }' <<<"$out"
}

# ------------------------------------------------------------------ 1. the defaults
others_slots=$((default_in_flight - (reserved < default_in_flight - 1 ? reserved : default_in_flight - 1)))
log "1. defaults (max_in_flight $default_in_flight, batch_size $default_batch; $reserved slots kept for codes):" \
    "$n codes and $n transactional messages, mock answering in $fast_ms ms, then in $slow_ms ms"
settle
warm_up otp
warm_up transactional
for _ in $(seq "$rounds"); do
    drains p1-otp-$fast_ms otp 1
    drains p1-tx-$fast_ms transactional 1
done
# What the mock itself allows at the defaults' concurrency: its turnaround on this machine, with
# nothing else running, is the drain's floor (no target).
mock_alone=$(ceiling "$wrk_min_secs" "$default_in_flight" 1)
log "  the mock alone: wrk -t1 -c$default_in_flight, $fast_ms ms: $mock_alone req/s"
mock_delay "$slow_ms"
for _ in $(seq "$slow_rounds"); do
    drains p1-otp-$slow_ms otp 1
    drains p1-tx-$slow_ms transactional 1
done
mock_delay "$fast_ms"

# ------------------------------------------------------------------ 2. 256 in flight, against wrk
log "2. max_in_flight = batch_size = $high: $n transactional messages against wrk -c$high, alternating"
set_config sms_otp.max_in_flight=$high sms_otp.batch_size=$high
settle
warm_up transactional
: >"$work/p2-wrk.txt"
for _ in $(seq "$rounds"); do
    drains p2-drain transactional 1
    secs=$(tail -1 "$work/p2-drain.txt" | cut -d' ' -f2)
    wsecs=$(awk -v s="$secs" -v m="$wrk_min_secs" 'BEGIN { s = int(s + 0.5); print (s > m) ? s : m }')
    read -r k0 _ < <(sched "$mock_pid")
    wrate=$(ceiling "$wsecs")
    read -r k1 _ < <(sched "$mock_pid")
    wmock=$(awk -v k="$((k1 - k0))" -v r="$wrate" -v s="$wsecs" 'BEGIN { printf "%.0f", k / (r * s) / 1e3 }')
    echo "$wrate $wmock" >>"$work/p2-wrk.txt"
    log "  wrk -t2 -c$high for ${wsecs}s: $wrate req/s (the mock $wmock µs a request)"
done

# ------------------------------------------------------------------ 3. several delivery workers
if [ "$have_workers" = 1 ]; then
    counts=$worker_counts
else
    counts=1
    log "3. sms_otp.workers is not in the installed build: one delivery worker only"
fi
for w in $counts; do
    if [ "$have_workers" = 1 ] && [ "$w" != "$expected_workers" ]; then
        log "3. sms_otp.workers = $w (a restart)"
        q postgres -c "ALTER SYSTEM SET sms_otp.workers = $w" >/dev/null
        expected_workers=$w
        restart_cluster
    else
        log "3. $(several "$w" "delivery worker")"
    fi
    for f in "$default_in_flight" "$high"; do
        if [ "$f" = "$default_in_flight" ]; then set_config sms_otp.max_in_flight sms_otp.batch_size
        else set_config "sms_otp.max_in_flight=$f" "sms_otp.batch_size=$f"; fi
        log "  $(several "$w" "delivery worker"), max_in_flight $f: $n transactional messages"
        settle
        warm_up transactional
        drains "p3-w$w-f$f" transactional "$rounds"
    done
done

# ------------------------------------------------------------------ 4. plans that outlive the data
# The claim reads user_contact_settings by user_id for every message (its preferred provider).
# Autovacuum is off for that table, and for the outbox, sessions and log while this part runs:
# an ANALYZE of the outbox would plan the claim, which reads both tables, again, and hide what
# the workers do by themselves.
log "4. plans made for $small_users users, then bulk loads of users: ${user_loads// /, }"
if [ "$expected_workers" != 1 ]; then
    q postgres -c "ALTER SYSTEM RESET sms_otp.workers" >/dev/null
    expected_workers=1
    restart_cluster
fi
set_config sms_otp.max_in_flight=$high sms_otp.batch_size=$high
q tp -c "ALTER TABLE sms_otp.user_contact_settings SET (autovacuum_enabled = false, toast.autovacuum_enabled = false)" \
    -c "ALTER TABLE sms_otp.sms_outbox SET (autovacuum_enabled = false)" \
    -c "ALTER TABLE sms_otp.sms_otp_sessions SET (autovacuum_enabled = false)" \
    -c "ALTER TABLE sms_otp.sms_messages_log SET (autovacuum_enabled = false)"
scans() { q tp -F' ' -c "SELECT coalesce(seq_scan, 0), coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relid = 'sms_otp.user_contact_settings'::regclass"; }
# measured LABEL: $rounds drains of $n for the users of the bulk load (no ANALYZE comes between
# them, so the plans stay those the workers hold), then the table's scans during them (as the
# workers' statistics reported them) in $work/LABEL.scans.
measured() {
    local s0 i0 s1 i1
    sleep 1.5  # the warm-up's own scans reported first
    read -r s0 i0 < <(scans)
    drains "$1" transactional "$rounds"
    sleep 1.5  # a process reports its table statistics a second apart at most
    read -r s1 i1 < <(scans)
    echo "$((s1 - s0)) $((i1 - i0))" >"$work/$1.scans"
    log "    user_contact_settings meanwhile: $((s1 - s0)) sequential scans, $((i1 - i0)) index scans"
}
: >"$work/p4-loads.txt"
for size in $user_loads; do
    [ "$size" -gt "$small_users" ] || fail "BENCH_TP_USERS: $size is not above $small_users"
    log "  $small_users users, analyzed; the workers restarted and plan for them"
    settle
    q tp -c "TRUNCATE sms_otp.user_contact_settings" \
        -c "INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled, preferred_provider)
            SELECT bench.user_id(n), bench.phone(n), true, 'twilio' FROM generate_series(1, $small_users) n" \
        -c "ANALYZE sms_otp.user_contact_settings"
    restart_workers
    msg_first=1 msg_users=$small_users
    warm_up transactional
    t0=$(date +%s.%N)
    q tp -c "INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled, preferred_provider)
             SELECT bench.user_id(n), bench.phone(n), true, 'twilio' FROM generate_series($((small_users + 1)), $size) n"
    load_secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    # A first read sets the new rows' hint bits (and the checkpoint writes them), as a VACUUM
    # would, but sends no invalidation: what is left to the drain is the plans.
    q tp -c "SELECT count(*) FROM sms_otp.user_contact_settings" >/dev/null
    [ "$smoke" -eq 1 ] || q tp -c "CHECKPOINT"
    pages=$(q tp -c "SELECT pg_relation_size('sms_otp.user_contact_settings') / 8192")
    echo "$size $load_secs $pages" >>"$work/p4-loads.txt"
    log "  $size users loaded in ${load_secs}s ($pages pages); $n messages for them, with the plans of $small_users users"
    msg_first=$((small_users + 1)) msg_users=$((size - small_users))
    measured "p4-$size-stale"
    log "  the workers restarted: the same drain"
    settle
    restart_workers
    warm_up transactional
    measured "p4-$size-fresh"
    msg_first=1 msg_users=$small_users
done
q tp -c "ALTER TABLE sms_otp.user_contact_settings RESET (autovacuum_enabled, toast.autovacuum_enabled)" \
    -c "ALTER TABLE sms_otp.sms_outbox RESET (autovacuum_enabled)" \
    -c "ALTER TABLE sms_otp.sms_otp_sessions RESET (autovacuum_enabled)" \
    -c "ALTER TABLE sms_otp.sms_messages_log RESET (autovacuum_enabled)"

# ------------------------------------------------------------------ the table
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
judge() { if [ "$smoke" -eq 1 ]; then echo "(smoke)"; elif awk "BEGIN { exit !($1) }"; then echo yes; else echo NO; fi; }
label() { awk -v n="$1" 'BEGIN { if (n >= 1e6) printf "%g M", n / 1e6; else if (n >= 1e3) printf "%g k", n / 1e3; else printf "%d", n }'; }
ideal() { awk -v s="$1" -v ms="$2" 'BEGIN { printf "%.0f", s * 1000 / ms }'; }  # slots / latency

rows=()
for ms in $fast_ms $slow_ms; do
    otp=$(med "p1-otp-$ms" 1); tx=$(med "p1-tx-$ms" 1)
    r_otp=$(ratio "$otp" "$(ideal "$default_in_flight" "$ms")"); r_tx=$(ratio "$tx" "$(ideal "$others_slots" "$ms")")
    rows+=("| codes (the code worker), defaults (max_in_flight $default_in_flight, batch_size $default_batch), mock answering in $ms ms | $otp msg/s | $default_in_flight / $ms ms = $(ideal "$default_in_flight" "$ms")/s | $r_otp | ≥ 0.9 | $(judge "$r_otp >= 0.9") |")
    rows+=("| transactional messages (the delivery worker), the same | $tx msg/s | ($default_in_flight − $reserved slots kept for codes) / $ms ms = $(ideal "$others_slots" "$ms")/s | $r_tx | ≥ 0.9 | $(judge "$r_tx >= 0.9") |")
done
rows+=("| the mock alone at the defaults' concurrency, answering in $fast_ms ms (what is left of the pipe for any client on this machine) | wrk -t1 -c$default_in_flight $mock_alone req/s | $default_in_flight / $fast_ms ms = $(ideal "$default_in_flight" "$fast_ms")/s | $(ratio "$mock_alone" "$(ideal "$default_in_flight" "$fast_ms")") | (no target) | – |")
drain_high=$(med p2-drain 1); wrk_high=$(median <"$work/p2-wrk.txt"); r_high=$(ratio "$drain_high" "$wrk_high")
rows+=("| transactional drain, max_in_flight = batch_size = $high, mock answering in $fast_ms ms | $drain_high msg/s | wrk -t2 -c$high $wrk_high req/s | $r_high | ≥ 0.8 | $(judge "$r_high >= 0.8") |")
rows+=("| worker CPU per message in that drain | $(med p2-drain 3) µs | | | (no target) | – |")
# What bounds that drain on this machine: the worker's main thread runs every statement one after
# another, so it cannot pass one core; and the worker's two threads and the mock share the cores.
main_high=$(med p2-drain 8); mock_high=$(med p2-drain 9)
one_core=$(awk -v m="$main_high" 'BEGIN { printf "%.0f", 1e6 / m }')
all_cores=$(awk -v c="$cores" -v w="$(med p2-drain 3)" -v m="$mock_high" 'BEGIN { printf "%.0f", c * 1e6 / (w + m) }')
rows+=("| … of which the worker's main thread (every statement runs there; on a CPU $(awk -v m="$main_high" -v r="$drain_high" 'BEGIN { printf "%.0f", m * r / 1e4 }')% of the drain); the rate one whole core allows it | $main_high µs; 1e6 / $main_high = $one_core msg/s | wrk $wrk_high req/s | $(ratio "$one_core" "$wrk_high") | (no target) | – |")
rows+=("| … the worker's and the mock's CPU a message together ($mock_high µs the mock; $(awk '{ print $2 }' "$work/p2-wrk.txt" | median) µs a request under wrk); the rate all $cores cores allow them | $(med p2-drain 3) + $mock_high µs; $all_cores msg/s | wrk $wrk_high req/s | $(ratio "$all_cores" "$wrk_high") | (no target) | – |")
rows+=("| … the machine's cores busy during the drain; taken by the host (steal) | $(med p2-drain 10)% of $((cores * 100))%; $(med p2-drain 11)% | | | (no target) | – |")
for f in "$default_in_flight" "$high"; do
    one=$(med "p3-w1-f$f" 1)
    for w in $worker_counts; do
        if [ -f "$work/p3-w$w-f$f.txt" ]; then
            rate=$(med "p3-w$w-f$f" 1)
            if [ "$w" = 1 ]; then base="(the baseline)"; r=1.00; else base="1 worker $one msg/s"; r=$(ratio "$rate" "$one"); fi
            rows+=("| $(several "$w" "delivery worker") (sms_otp.workers), max_in_flight $f each: drain; CPU per message | $rate msg/s; $(med "p3-w$w-f$f" 3) µs | $base | $r | (no target) | – |")
        else
            rows+=("| $w delivery workers, max_in_flight $f each | not measured: sms_otp.workers is not in the installed build | | | (no target) | – |")
        fi
    done
done
for size in $user_loads; do
    stale=$(med "p4-$size-stale" 1); fresh=$(med "p4-$size-fresh" 1); r=$(ratio "$stale" "$fresh")
    su=$(med "p4-$size-stale" 3); fu=$(med "p4-$size-fresh" 3)
    rows+=("| drain right after $(label "$size") users were loaded into user_contact_settings, plans made for $small_users (stale) | $stale msg/s | after the workers restarted (fresh) $fresh msg/s | $r | ≥ 0.9 | $(judge "$r >= 0.9") |")
    first=$(head -1 "$work/p4-$size-stale.txt" | cut -d' ' -f1)
    [ "$rounds" -eq 1 ] || rows+=("| … the first drain after the load alone | $first msg/s | fresh $fresh msg/s | $(ratio "$first" "$fresh") | (no target) | – |")
    rows+=("| … worker CPU per message, stale / fresh | $su µs | $fu µs | $(ratio "$su" "$fu") | (no target) | – |")
done

p4_setup=()
while read -r size secs pages; do
    read -r ss si <"$work/p4-$size-stale.scans"; read -r fs fi_ <"$work/p4-$size-fresh.scans"
    p4_setup+=("$(label "$size") users loaded in ${secs}s ($pages pages), user_contact_settings scanned during the stale $(several "$rounds" drain) $ss times sequentially and $si times by index, during the fresh $(several "$rounds" drain) $fs and $fi_")
done <"$work/p4-loads.txt"
p4_text=""
for line in "${p4_setup[@]}"; do p4_text+="${p4_text:+; }$line"; done
workers_text=$([ "$have_workers" = 1 ] && echo "sms_otp.workers = ${worker_counts// /, } (a cluster restart each), max_in_flight $default_in_flight (batch_size $default_batch) then $high (batch_size $high)" \
    || echo "sms_otp.workers is not in the installed build: one delivery worker, max_in_flight $default_in_flight then $high")
elapsed=$((SECONDS - started))
library_note=""
if [ "$(md5sum <"$library")" != "$library_sum" ]; then
    library_note=" WARNING: $library was replaced during the run; the parts after that restart measured the new one."
    log "WARNING: $library was replaced during the run"
fi

{
    echo "| figure | value | baseline (same run) | ratio | target | met |"
    echo "|---|---:|---:|---:|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    cat <<EOF
Setup:
- One cluster (test/cluster.sh defaults: fsync off; plus shared_buffers 1GB, max_wal_size 8GB), one database; the mock provider (test/mock_provider, Twilio endpoint) a process of its own answering every request after $fast_ms ms ($slow_ms ms set through POST /_mock/config for the slow drains).
- A drain: $(label "$n") messages committed in one transaction; the rate is messages sent / (that commit → the last result written). Codes: an outbox row and a pending session each (bench/sql/enqueue.sql), sent by the code worker; transactional messages: each for a user of user_contact_settings (bench/sql/throughput_enqueue.sql), sent by the delivery workers. Before each setting: VACUUM ANALYZE of the outbox, sessions and log$([ "$smoke" -eq 1 ] || echo ' and a CHECKPOINT'), then a warm-up drain of $(label "$warm_n"). CPU: /proc/<pid>/task/*/schedstat of every process that sends the drain's messages, summed.
- 1: the settings as installed; $(several "$rounds" drain) of each kind at $fast_ms ms (alternating), $slow_rounds at $slow_ms ms; medians. Transactional messages may use $others_slots of the $default_in_flight request slots (sms_otp.otp_reserved_in_flight = $reserved). Most requests open at once at the mock: codes $(peaks p1-otp-$fast_ms), transactional $(peaks p1-tx-$fast_ms) ($fast_ms ms); $(peaks p1-otp-$slow_ms) and $(peaks p1-tx-$slow_ms) ($slow_ms ms); after the drains at $fast_ms ms, wrk -t1 -c$default_in_flight for ${wrk_min_secs}s against the mock with nothing else sending (bench/wrk/twilio_send.lua).
- 2: $(several "$rounds" drain) and as many wrk runs, alternating (wrk as long as the drain, ${wrk_min_secs}s at least; bench/wrk/twilio_send.lua); medians. Transactional messages may use $((high - reserved)) of the $high slots.
- 3: $workers_text; $(several "$rounds" drain) each, medians; CPU summed over the delivery workers.
- 4: one delivery worker, max_in_flight = batch_size = $high; autovacuum off for user_contact_settings (and for the outbox, sessions and log, whose ANALYZE would plan the claim again); the table truncated, $small_users users inserted and analyzed, the workers restarted (pg_terminate_backend) and a drain for those users; then the bulk load, a count(*) of the table (sets the new rows' hint bits, invalidates no plan)$([ "$smoke" -eq 1 ] || echo ' and a CHECKPOINT'), $(several "$rounds" drain) for the loaded users (stale: the first right after the load; no ANALYZE between them, so the workers keep the plans made for $small_users users), the workers restarted, a warm-up drain, $(several "$rounds" drain) the same (fresh); medians. $p4_text.
- Machine: $(nproc) cores ($(lscpu | sed -nE 's/^Model name:\s+//p' | head -1)), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM; load average at the start $load_at_start, at the end $(cut -d' ' -f1-3 /proc/loadavg) (shared machine). $(q postgres -c "SELECT version()" | cut -d, -f1).
- Commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src sql 2>/dev/null || echo ' with uncommitted changes in src/ or sql/'), $(date -u '+%Y-%m-%d %H:%M UTC'), \`bash bench/throughput.sh$([ "$smoke" -eq 1 ] && echo ' --smoke')$([ "$write_docs" -eq 1 ] && echo ' --write-docs')\`, $((elapsed / 60)) min $((elapsed % 60)) s.$library_note
EOF
} | tee "$work/results.md"
log "details in $work (p*.txt: rate, seconds, µs a message, CPU%, wait%, mock requests, peak open, main thread µs a message, mock µs a request, machine busy%, steal%)"

if [ "$write_docs" -eq 1 ] && [ "$smoke" -eq 0 ]; then
    replace_results_block throughput "$work/results.md"
    log "docs/benchmarks.md updated"
fi
