#!/usr/bin/env bash
# Promo campaigns: campaign_launch's snapshot of a million recipients beside a plain copy of the
# same rows; the worker's drain of an unthrottled campaign beside wrk's ceiling of the mock, of
# a throttled one beside its limit, and of transactional messages of the same number (what
# feeding a campaign costs the worker); a code's commit-to-provider latency while a
# million-recipient campaign drains, beside the same codes with nothing queued. A cluster of
# its own; each figure beside a baseline measured in the same run.
#   bash bench/campaigns.sh                 the full run (about 15 minutes on two cores)
#   bash bench/campaigns.sh --smoke         20,000 customers, short drains, a few codes: proves the script works
#   bash bench/campaigns.sh --write-docs    the full run, then its section of docs/benchmarks.md
# Every phase is bounded in time, so that a slow build still gives its figures: a launch that
# runs past BENCH_CAMP_LAUNCH_TIMEOUT is cancelled (and reported as such), a drain that is not
# over after BENCH_CAMP_DRAIN_SECS is measured on what was sent, then cancelled.
# Sizes: BENCH_CAMP_AUDIENCE (1,000,000 customers: the launches and the campaign behind the
# codes), BENCH_CAMP_LAUNCH_ROUNDS (2: launches and baselines alternate),
# BENCH_CAMP_LAUNCH_TIMEOUT (300 s), BENCH_CAMP_DRAIN_N (50,000: the unthrottled and the
# transactional drain), BENCH_CAMP_DRAIN_SECS (90), BENCH_CAMP_THROTTLED_N (15,000) at
# BENCH_CAMP_PER_SECOND (500), BENCH_CAMP_WRK_SECS (30: the longest wrk run),
# BENCH_CAMP_IDLE_SENDS (400 codes, half before the campaign, half after), BENCH_CAMP_SECS (120:
# codes are sent for that long after the launch's commit, then the campaign is cancelled),
# BENCH_CAMP_SENDS (at most 5,000 such codes), BENCH_IN_FLIGHT (256).
# BENCH_SKIP_BUILD=1 measures the installed extension; BENCH_KEEP=1 leaves the cluster running.
set -euo pipefail
shopt -s inherit_errexit  # a failing psql inside $(...) stops the run too
cd "$(dirname "$0")/.."
. test/lib.sh

. bench/args.sh
. bench/results_block.sh
. bench/workdir.sh
if [ "$smoke" -eq 1 ]; then
    defaults=(20000 1 10 5000 5 1000 500 1 6 10 3)
else
    defaults=(1000000 2 300 50000 90 15000 500 30 400 120 5000)
fi
audience=${BENCH_CAMP_AUDIENCE:-${defaults[0]}}
launch_rounds=${BENCH_CAMP_LAUNCH_ROUNDS:-${defaults[1]}}
launch_timeout=${BENCH_CAMP_LAUNCH_TIMEOUT:-${defaults[2]}}
drain_n=${BENCH_CAMP_DRAIN_N:-${defaults[3]}}
drain_secs=${BENCH_CAMP_DRAIN_SECS:-${defaults[4]}}
throttled_n=${BENCH_CAMP_THROTTLED_N:-${defaults[5]}}
per_second=${BENCH_CAMP_PER_SECOND:-${defaults[6]}}
wrk_max_secs=${BENCH_CAMP_WRK_SECS:-${defaults[7]}}
idle_sends=${BENCH_CAMP_IDLE_SENDS:-${defaults[8]}}
campaign_secs=${BENCH_CAMP_SECS:-${defaults[9]}}
campaign_sends=${BENCH_CAMP_SENDS:-${defaults[10]}}
in_flight=${BENCH_IN_FLIGHT:-256}   # sms_otp.max_in_flight and batch_size, as in bench/run.sh
mock_delay_ms=20

log() { printf '%s  %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
started=$SECONDS
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)

command -v wrk >/dev/null || EXTRA_PACKAGES="wrk" bash test/install-deps.sh
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    make -s -j2
    if [ "$(id -u)" -eq 0 ]; then make -s install; else sudo make -s install; fi
fi

bench_workdir sms_otp_campaigns 26200

# The worker drains database "campaigns" (users with OTP on for the codes, the customers, the
# mock as provider). The launches are measured in "launch", which no worker drains, so that
# what they launch is never sent. promo_frequency_cap is 0 so that one campaign does not skip
# the customers of the one before; the launches set it back to its default (24 hours), so each
# recipient is checked against other campaigns as it would be.
log "cluster in $work (port $port)"
bash test/cluster.sh start "$pgdir" "$port" \
    "sms_otp.database = 'campaigns'" \
    "shared_buffers = '1GB'" "max_wal_size = '8GB'" "checkpoint_timeout = '30min'" \
    "sms_otp.resend_cooldown = 0" "sms_otp.rate_limit_per_minute = 1000000" "sms_otp.rate_limit_per_day = 1000000" \
    "sms_otp.ip_rate_limit_per_minute = 1000000" "sms_otp.ip_rate_limit_per_day = 1000000" \
    "sms_otp.http_allowed_hosts = '127.0.0.1'" "sms_otp.promo_frequency_cap = 0" \
    "sms_otp.max_in_flight = $in_flight" "sms_otp.batch_size = $in_flight"
q postgres -c "CREATE DATABASE campaigns" -c "CREATE DATABASE launch" \
    -c "ALTER DATABASE launch SET sms_otp.promo_frequency_cap = '24h'"
t0=$SECONDS
q campaigns -v users=1000 -v provider_url="http://127.0.0.1:9" -f bench/sql/users.sql >/dev/null
q campaigns -v n="$audience" -f bench/sql/campaigns_customers.sql >/dev/null
q launch -c "CREATE EXTENSION sms_otp" -v n="$audience" -f bench/sql/campaigns_customers.sql >/dev/null
log "  $audience customers loaded in each database in $((SECONDS - t0))s"
worker_pid() { q postgres -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'sms_otp delivery worker'"; }
for _ in $(seq 100); do [ -n "$(worker_pid)" ] && break; sleep 0.1; done
[ -n "$(worker_pid)" ] || { echo "the delivery worker did not start" >&2; exit 1; }
wpid=$(worker_pid)
code_worker_pid() { q postgres -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'sms_otp code worker'"; }
for _ in $(seq 100); do [ -n "$(code_worker_pid)" ] && break; sleep 0.1; done
[ -n "$(code_worker_pid)" ] || { echo "the code worker did not start" >&2; exit 1; }
cwpid=$(code_worker_pid)
reserved=$(q postgres -c "SHOW sms_otp.otp_reserved_in_flight")
margin=$(q postgres -c "SHOW sms_otp.throttle_margin")

label() { awk -v n="$1" 'BEGIN { if (n >= 1e6) printf "%.3g M", n / 1e6; else printf "%.3g k", n / 1e3 }'; }
mean() { awk '{ s += $1 } END { printf "%.2f\n", s / NR }'; }
field() { sed -n "s/^$1 //p" <<<"$2"; }   # field NAME OUTPUT: the value of a "NAME value" line

# ------------------------------------------------------------------ launch vs a plain copy
# Each launch and baseline starts from the same state: no recipient rows, a checkpoint.
fresh_launch_db() {
    q launch -c "TRUNCATE sms_otp.sms_campaign_recipients" -c "DELETE FROM sms_otp.sms_campaigns" -c "CHECKPOINT"
}
# launch_once PER_ROW: prints the seconds of campaign_launch (BEGIN to the end of COMMIT), or
# "> T" when statement_timeout (T = $launch_timeout s) cancelled it.
launch_once() {
    local out
    fresh_launch_db
    if ! out=$(PGOPTIONS="-c statement_timeout=${launch_timeout}s" q launch -v n="$audience" -v per_row="$1" \
                   -v quiet=true -v throttle= -f bench/sql/campaigns_launch.sql 2>"$work/launch.err"); then
        grep -q 'statement timeout' "$work/launch.err" || { cat "$work/launch.err" >&2; return 1; }
        echo "> $launch_timeout"
        return
    fi
    field launched "$out" >"$work/launched-$1.json"
    field launch_s "$out"
}
baseline_once() {
    fresh_launch_db
    field baseline_s "$(q launch -v n="$audience" -v kind="$1" -f bench/sql/campaigns_baseline.sql)"
}
# shown SECONDS: "x s", or "> T s (cancelled ...)". seconds FILE: the mean of a file of launch
# times, or "> T" when one of them was cancelled; rounds FILE: for the table, the mean, or each
# round's time when one was cancelled.
shown() { case "$1" in ">"*) echo "$1 s (cancelled by statement_timeout)" ;; *) echo "$1 s" ;; esac; }
seconds() { if grep -q '>' "$1"; then echo "> $launch_timeout"; else mean <"$1"; fi; }
rounds() {
    if grep -q '>' "$1"; then echo "$(paste -sd';' "$1" | sed 's/;/ s, /g') s (by round; cancelled by statement_timeout)"
    else echo "$(mean <"$1") s"; fi
}
log "launch: $(label "$audience") recipients, $launch_rounds rounds of: one text, the plain copy, the recipient rows, per-recipient data"
for f in launch-text launch-data copy rows; do : >"$work/$f.txt"; done
for r in $(seq "$launch_rounds"); do
    # A kind of launch once cancelled is not tried again: the run stays within its time.
    if ! grep -q '>' "$work/launch-text.txt"; then
        s=$(launch_once 0); echo "$s" >>"$work/launch-text.txt"; log "  round $r: campaign_launch, one text: $(shown "$s")"
    fi
    s=$(baseline_once copy); echo "$s" >>"$work/copy.txt"; log "  round $r: CREATE TABLE AS with normalize_phone: ${s}s"
    s=$(baseline_once rows); echo "$s" >>"$work/rows.txt"; log "  round $r: INSERT into a recipients-shaped table: ${s}s"
    if ! grep -q '>' "$work/launch-data.txt"; then
        s=$(launch_once 1); echo "$s" >>"$work/launch-data.txt"; log "  round $r: campaign_launch, {name} from each recipient's data: $(shown "$s")"
    fi
done
launch_text=$(seconds "$work/launch-text.txt")
launch_data=$(seconds "$work/launch-data.txt")
copy_s=$(mean <"$work/copy.txt")
rows_s=$(mean <"$work/rows.txt")
launched=$(cat "$work/launched-0.json" 2>/dev/null || echo '{}')
# What one number's normalize_phone costs, by country (the first 100,000 customers).
normalize=$(q launch -F' ' <<'SQL'
CREATE FUNCTION pg_temp.us_per_number(cc text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    k  bigint;
BEGIN
    SELECT count(sms_otp.normalize_phone(c.phone)) INTO k FROM public.customers c WHERE c.id <= 100000 AND starts_with(c.phone, cc);
    RETURN round((extract(epoch FROM clock_timestamp() - t0) * 1e6 / greatest(k, 1))::numeric, 1);
END $$;
SELECT string_agg(cc || ' ' || pg_temp.us_per_number(cc), ', ' ORDER BY o) FROM unnest(ARRAY['+44', '+1', '+33', '+49']) WITH ORDINALITY AS x(cc, o);
SQL
)
log "  normalize_phone, µs a number: $normalize"
q postgres -c "DROP DATABASE launch"

# ------------------------------------------------------------------ drains: unthrottled vs wrk, throttled vs its limit, transactional
start_mock "$mock_delay_ms"
q campaigns -c "UPDATE sms_otp.api_integrations SET base_url = '$mock_url' WHERE name = 'twilio'"

# Each drain starts from tables as autovacuum would leave them.
tidy() {
    q campaigns -c "VACUUM (ANALYZE) sms_otp.sms_outbox, sms_otp.sms_campaign_recipients, sms_otp.sms_campaigns, sms_otp.sms_messages_log"
}
# as_service SQL: a call as PostgREST makes it with the service role's key; prints its answer.
as_service() {
    q campaigns -c "SET ROLE service_role" -c "SET request.jwt.claims = '{\"role\": \"service_role\"}'" -c "$1"
}
# cancel_campaign ID: campaign_cancel, tried again when it deadlocks with the worker's writes
# (as a caller would); each deadlock is counted in cancel_deadlocks.txt.
cancel_campaign() {
    local tries=0
    until as_service "SELECT sms_otp.campaign_cancel($1)" >/dev/null 2>"$work/cancel.err"; do
        # it finished between the last look and the cancel: nothing left to stop
        grep -q 'campaign_ended' "$work/cancel.err" && return 0
        grep -q 'deadlock detected' "$work/cancel.err" && [ $((tries += 1)) -le 5 ] || { cat "$work/cancel.err" >&2; return 1; }
        echo "$1" >>"$work/cancel_deadlocks.txt"
    done
}
# campaign_drain N THROTTLE MAX_SECS: launch a campaign to customers 1..N (no quiet hours) and
# wait until it is finished, or for MAX_SECS after the launch's commit: then what was sent by
# then is measured and the rest cancelled. Prints "rate secs sent stopped worker_cpu%
# worker_us_per_message mock_cpu% request_rate request_span_s busiest_second": rate = messages
# sent / (launch's commit -> last result written, or the stop); request_rate = requests /
# (first -> last request + 1 s), which a throttle of L a second keeps at L at most;
# busiest_second = the most requests in any 1-second window. Requests are timed by the worker
# (sms_messages_log.requested_at) as it hands them to libcurl.
campaign_drain() {
    local n=$1 throttle=$2 max_secs=$3 out id commit_at deadline secs sent stopped=0 w0 w1 m0 m1 stats at
    tidy
    read -r w0 _ < <(sched "$wpid"); read -r m0 _ < <(sched "$mock_pid")
    out=$(q campaigns -v n="$n" -v per_row=0 -v quiet=false -v throttle="$throttle" -f bench/sql/campaigns_launch.sql 2>/dev/null)
    id=$(field campaign_id "$out")
    commit_at=$(field commit_at "$out")
    deadline=$(awk -v c="$commit_at" -v m="$max_secs" 'BEGIN { printf "%.3f", c + m }')
    while [ "$(q campaigns -c "SELECT status FROM sms_otp.sms_campaigns WHERE id = $id")" != finished ]; do
        if awk -v d="$deadline" -v t="$(date +%s.%N)" 'BEGIN { exit !(t >= d) }'; then stopped=1; break; fi
        sleep 0.2
    done
    read -r w1 _ < <(sched "$wpid"); read -r m1 _ < <(sched "$mock_pid")
    if [ "$stopped" -eq 0 ]; then
        at=$(q campaigns -c "SELECT extract(epoch FROM max(updated_at)) FROM sms_otp.sms_outbox WHERE campaign_id = $id")
        sent=$(q campaigns -c "SELECT count(*) FROM sms_otp.sms_outbox WHERE campaign_id = $id AND status = 'sent'")
        [ "$sent" = "$n" ] || { echo "campaign drain: $sent of $n messages sent" >&2; return 1; }
    else
        read -r at sent < <(q campaigns -F' ' -c "SELECT extract(epoch FROM clock_timestamp()), sent FROM sms_otp.sms_campaigns WHERE id = $id")
        cancel_campaign "$id"
        # What is in flight finishes before the next drain starts.
        deadline=$((SECONDS + 600))
        while [ "$(q campaigns -c "SELECT pending FROM sms_otp.sms_campaigns WHERE id = $id")" != 0 ]; do
            [ $SECONDS -lt $deadline ] || { echo "campaign $id: messages still pending 10 minutes after its cancel" >&2; return 1; }
            sleep 0.2
        done
    fi
    secs=$(awk -v a="$at" -v c="$commit_at" 'BEGIN { printf "%.3f", a - c }')
    stats=$(q campaigns -F' ' -c "
        WITH r AS (SELECT requested_at AS at FROM sms_otp.sms_messages_log WHERE campaign_id = $id AND requested_at IS NOT NULL)
        SELECT count(*), coalesce(extract(epoch FROM max(at) - min(at)), 0),
               (SELECT coalesce(max(k), 0) FROM (SELECT count(*) OVER (ORDER BY at RANGE BETWEEN CURRENT ROW AND interval '999999 microseconds' FOLLOWING) AS k FROM r) w)
        FROM r")
    read -r requests span busiest <<<"$stats"
    awk -v n="$sent" -v s="$secs" -v stopped="$stopped" -v w="$((w1 - w0))" -v m="$((m1 - m0))" -v req="$requests" -v span="$span" -v b="$busiest" \
        'BEGIN { d = n > 0 ? n : 1; printf "%.1f %.3f %d %d %.0f %.0f %.0f %.1f %.3f %d\n", n / s, s, n, stopped, w / s / 1e7, w / d / 1e3, m / s / 1e7, req / (span + 1), span, b }'
}
# transactional_drain N: N transactional messages due now, queued in one transaction; prints
# "rate secs worker_cpu% worker_us_per_message mock_cpu%", as campaign_drain.
transactional_drain() {
    local n=$1 after out commit_at deadline secs sent w0 w1 m0 m1
    tidy
    after=$(q campaigns -c "SELECT coalesce(max(id), 0) FROM sms_otp.sms_outbox")
    read -r w0 _ < <(sched "$wpid"); read -r m0 _ < <(sched "$mock_pid")
    out=$(q campaigns -v n="$n" -f bench/sql/transactional_backlog.sql)
    commit_at=$(field commit_at "$out")
    deadline=$((SECONDS + 1200))
    while [ "$(q campaigns -c "SELECT count(*) FROM sms_otp.sms_outbox WHERE status = 'queued' AND kind = 'transactional'")" != 0 ]; do
        [ $SECONDS -lt $deadline ] || { echo "transactional messages still queued after 20 minutes" >&2; exit 1; }
        sleep 0.2
    done
    read -r w1 _ < <(sched "$wpid"); read -r m1 _ < <(sched "$mock_pid")
    secs=$(q campaigns -c "SELECT extract(epoch FROM max(updated_at)) - $commit_at FROM sms_otp.sms_outbox WHERE id > $after")
    sent=$(q campaigns -c "SELECT count(*) FROM sms_otp.sms_outbox WHERE id > $after AND status = 'sent'")
    [ "$sent" = "$n" ] || { echo "transactional drain: $sent of $n messages sent" >&2; exit 1; }
    awk -v n="$n" -v s="$secs" -v w="$((w1 - w0))" -v m="$((m1 - m0))" \
        'BEGIN { printf "%.0f %.3f %.0f %.0f %.0f\n", n / s, s, w / s / 1e7, w / n / 1e3, m / s / 1e7 }'
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

: >"$work/cancel_deadlocks.txt"
log "drains (mock answering in ${mock_delay_ms} ms): warm-up"
campaign_drain $((drain_n / 10 > 100 ? drain_n / 10 : 100)) "" $((drain_secs / 3 > 2 ? drain_secs / 3 : 2)) >/dev/null
# stopped_note N SENT STOPPED SECS: what a drain stopped by its time limit managed.
stopped_note() { [ "$3" -eq 0 ] || echo " (stopped ${4}s after the launch: $2 of $1 sent, the rest cancelled)"; }
read -r c_rate c_secs c_sent c_stopped c_cpu c_us c_mcpu c_req_rate _ _ < <(campaign_drain "$drain_n" "" "$drain_secs")
log "  unthrottled campaign: $c_sent of $(label "$drain_n") recipients in ${c_secs}s = $c_rate msg/s ($c_req_rate requests/s);" \
    "worker on a CPU ${c_cpu}% of the time, $c_us µs a message; mock ${c_mcpu}% of a core$(stopped_note "$drain_n" "$c_sent" "$c_stopped" "$drain_secs")"
wrk_secs=$(awk -v s="$c_secs" -v m="$wrk_max_secs" 'BEGIN { s = int(s + 0.5); if (s > m) s = m; print (s < 1) ? 1 : s }')
read -r wrk_rate wrk_mcpu < <(ceiling "$wrk_secs")
log "  wrk -c$in_flight for ${wrk_secs}s = $wrk_rate req/s (mock ${wrk_mcpu}% of a core)"
read -r t_rate t_secs t_cpu t_us t_mcpu < <(transactional_drain "$drain_n")
log "  transactional: $(label "$drain_n") messages in ${t_secs}s = $t_rate msg/s; worker on a CPU ${t_cpu}% of the time, $t_us µs a message"
throttled_secs=$(( throttled_n * 3 / per_second / 2 + 5 ))   # half as long again as the limit allows, and some
read -r h_rate h_secs h_sent h_stopped h_cpu h_us _ h_req_rate h_span h_busiest < <(campaign_drain "$throttled_n" "{\"per_second\": $per_second}" "$throttled_secs")
log "  throttled at $per_second/s: $h_sent of $(label "$throttled_n") recipients, requests over ${h_span}s: $h_req_rate a second" \
    "(N / (span + 1 s)); the busiest second $h_busiest; worker $h_us µs a message$(stopped_note "$throttled_n" "$h_sent" "$h_stopped" "$throttled_secs")"
kill "$mock_pid" 2>/dev/null || true
wait "$mock_pid" 2>/dev/null || true
mock_pid=""

# ------------------------------------------------------------------ a code's latency while a campaign drains
tidy
log "code latency: $idle_sends codes idle, then for ${campaign_secs}s (at most $campaign_sends codes) while a campaign to $(label "$audience") drains (no throttle, mock answering in ${mock_delay_ms} ms)"
latency=$(node bench/campaigns_latency.mjs --host "$pgdir" --port "$port" --db campaigns \
    --sends "$idle_sends" --audience "$audience" --campaign-sends "$campaign_sends" --campaign-secs "$campaign_secs" \
    --delay-ms "$mock_delay_ms" --out "$work/latency.tsv")
echo "$latency" >"$work/latency.json"
json() { node -e "const v = process.argv[2].split('.').reduce((o, k) => o[k], JSON.parse(process.argv[1])); process.stdout.write(typeof v === 'object' ? JSON.stringify(v) : String(v))" "$latency" "$1"; }
[ "$(worker_pid)" = "$wpid" ] || { echo "the worker restarted during the run" >&2; exit 1; }
[ "$(code_worker_pid)" = "$cwpid" ] || { echo "the code worker restarted during the run" >&2; exit 1; }
[ "$(json campaign.n)" -gt 0 ] || { echo "no code was sent while the campaign drained" >&2; exit 1; }
cid=$(json campaign_id)
campaign_sent=$(q campaigns -c "SELECT count(*) FROM sms_otp.sms_outbox WHERE campaign_id = $cid AND status = 'sent'")
[ "$campaign_sent" = "$(json campaign_seen)" ] \
    || log "  WARNING: $campaign_sent campaign messages sent, $(json campaign_seen) seen by the mock"
twice=$(( $(json campaign_requests) - $(json campaign_seen) ))
[ "$twice" -eq 0 ] || log "  WARNING: $(json campaign_requests) requests for $(json campaign_seen) campaign messages: $twice sent twice"
campaigns_heap=$(q campaigns -F' ' -c "SELECT pg_relation_size('sms_otp.sms_campaigns'), count(*) FROM sms_otp.sms_campaigns")
read -r heap_bytes heap_rows <<<"$campaigns_heap"
log "  idle: p50 $(json idle.p50), p95 $(json idle.p95), p99 $(json idle.p99) ms (before the campaign p99 $(json idle_before.p99), after $(json idle_after.p99)); floor p50 $(json floor_idle.p50) ms"
log "  during the campaign ($(json campaign.n) codes): p50 $(json campaign.p50), p95 $(json campaign.p95), p99 $(json campaign.p99), max $(json campaign.max) ms; floor p50 $(json floor_campaign.p50), p99 $(json floor_campaign.p99) ms"
log "  commit → the request leaving the worker: idle p50 $(json worker_idle.p50), p99 $(json worker_idle.p99) ms; during the campaign p50 $(json worker_campaign.p50), p99 $(json worker_campaign.p99) ms"
log "  the otp_send call itself: idle p50 $(json call_idle.p50) ms, p99 $(json call_idle.p99) ms; during the campaign p50 $(json call_campaign.p50) ms, p99 $(json call_campaign.p99) ms"
log "  campaign launched in $(json launch_s)s; $(json campaign_rate) msg/s over the $(json sends_s)s of codes, $(json left_after_sends) left; campaign_cancel took $(json cancel_s)s for $(json cancelled) recipients"
log "  sms_campaigns: $heap_bytes bytes of heap for $heap_rows campaigns"

# ------------------------------------------------------------------ the table
# ratio A B: A / B; A may be "> x" (a launch cancelled at x seconds).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { p = ""; if (sub(/^> /, "", a)) p = "> "; printf "%s%.2f", p, a / b }'; }
stopped_label() { [ "$2" -eq 0 ] || echo " (stopped after ${3}s, $1 sent)"; }
judge() { if [ "$smoke" -eq 1 ]; then echo "(smoke)"; elif awk "BEGIN { exit !($1) }"; then echo yes; else echo NO; fi; }
au=$(label "$audience")
r_p99=$(ratio "$(json campaign.p99)" "$(json idle.p99)")
r_worker_p99=$(ratio "$(json worker_campaign.p99)" "$(json worker_idle.p99)")
r_throttle=$(ratio "$h_req_rate" "$per_second")
r_busiest=$(ratio "$h_busiest" "$per_second")
feed_us=$((c_us - t_us))
deadlocks=$(( $(wc -l <"$work/cancel_deadlocks.txt") + $(json cancel_deadlocks) ))
quarters=$(node -e '
    const out = [];
    for (const q of JSON.parse(process.argv[1]).quarters)
        if (q.n) out.push(`${q.from_s}–${q.to_s} s after the launch, ${q.left_from} → ${q.left_to} left: p50 ${q.p50}, p99 ${q.p99}, max ${q.max} ms (${q.n} codes)`);
    process.stdout.write(out.join("; "));
' "$latency")
launch_counts=$(node -e '
    const a = JSON.parse(process.argv[1]);
    process.stdout.write(`${a.pending} pending (${a.deferred} deferred by their quiet hours), skipped ${JSON.stringify(a.skipped)}`);
' "$launched")

table=$(cat <<EOF
| metric | value | baseline (same run) | ratio | target | met |
|---|---:|---:|---:|---|---|
| campaign_launch, $au recipients, one text (quiet hours, 24 h frequency cap) | $(rounds "$work/launch-text.txt") | CREATE TABLE AS of the audience with normalize_phone $copy_s s | $(ratio "$launch_text" "$copy_s") | (no target) | – |
| … the same launch | $(rounds "$work/launch-text.txt") | INSERT of the same rows, numbers normalized, into a table shaped like sms_campaign_recipients $rows_s s | $(ratio "$launch_text" "$rows_s") | (no target) | – |
| campaign_launch, $au recipients, a template with each recipient's {name} | $(rounds "$work/launch-data.txt") | CREATE TABLE AS $copy_s s | $(ratio "$launch_data" "$copy_s") | (no target) | – |
| normalize_phone, µs a number (all valid) | $normalize | | | (no target) | – |
| unthrottled campaign drain, $(label "$drain_n") recipients$(stopped_label "$c_sent" "$c_stopped" "$drain_secs"), mock answering in ${mock_delay_ms} ms | $c_rate msg/s | wrk $wrk_rate req/s (-c$in_flight, ${wrk_secs}s) | $(ratio "$c_rate" "$wrk_rate") | (no target) | – |
| … the same drain | $c_rate msg/s | transactional drain of $(label "$drain_n") messages $t_rate msg/s | $(ratio "$c_rate" "$t_rate") | (no target) | – |
| worker CPU per message: the campaign's, beside the transactional drain's (the difference: feeding, demand and the recipient's bookkeeping, $feed_us µs) | $c_us µs | $t_us µs | $(ratio "$c_us" "$t_us") | (no target) | – |
| throttled campaign drain, $(label "$throttled_n") recipients$(stopped_label "$h_sent" "$h_stopped" "$throttled_secs") at per_second $per_second: requests / (first → last request + 1 s) | $h_req_rate msg/s | the limit $per_second/s | $r_throttle | close to 1, never above | $(judge "$r_throttle <= 1.00 && $r_throttle >= 0.90") |
| … the most requests in any 1-second window | $h_busiest | the limit $per_second | $r_busiest | ≤ 1 | $(judge "$r_busiest <= 1.00") |
| code latency p50, commit → request at the mock, while a campaign to $au drains ($(label "$(json left_after_sends)") left at the last code) | $(json campaign.p50) ms | nothing queued $(json idle.p50) ms | $(ratio "$(json campaign.p50)" "$(json idle.p50)") | (no target) | – |
| code latency p95 | $(json campaign.p95) ms | nothing queued $(json idle.p95) ms | $(ratio "$(json campaign.p95)" "$(json idle.p95)") | (no target) | – |
| code latency p99 ($(json campaign.n) codes during the campaign, $(json idle.n) with nothing queued) | $(json campaign.p99) ms | nothing queued $(json idle.p99) ms | $r_p99 | ≤ 1.20× (within 20%) | $(judge "$r_p99 <= 1.20") |
| the system's share: commit → the code's request leaving the worker (sms_messages_log.requested_at), p50 | $(json worker_campaign.p50) ms | nothing queued $(json worker_idle.p50) ms | $(ratio "$(json worker_campaign.p50)" "$(json worker_idle.p50)") | (no target) | – |
| … p99 | $(json worker_campaign.p99) ms | nothing queued $(json worker_idle.p99) ms | $r_worker_p99 | ≤ 1.20× (within 20%) | $(judge "$r_worker_p99 <= 1.20") |
| … nothing queued: p99 of the codes after the campaign, beside those before it | $(json idle_after.p99) ms | $(json idle_before.p99) ms | $(ratio "$(json idle_after.p99)" "$(json idle_before.p99)") | (no target) | – |
| the otp_send call itself (BEGIN → right before COMMIT), p50 / p99 | $(json call_campaign.p50) / $(json call_campaign.p99) ms during the campaign | $(json call_idle.p50) / $(json call_idle.p99) ms nothing queued | $(ratio "$(json call_campaign.p99)" "$(json call_idle.p99)") | (no target) | – |
| the mock seeing a request posted straight to it, p50 / p99 (the machine's share) | $(json floor_campaign.p50) / $(json floor_campaign.p99) ms during the campaign | $(json floor_idle.p50) / $(json floor_idle.p99) ms idle | $(ratio "$(json floor_campaign.p99)" "$(json floor_idle.p99)") | (no target) | – |
| campaign drain while the codes were sent | $(json campaign_rate) msg/s | | | (no target) | – |
| campaign messages the mock received twice | $twice | | | none | $(judge "$twice == 0") |
| campaign_cancel calls that deadlocked with the worker's writes (tried again) | $deadlocks | | | none | $(judge "$deadlocks == 0") |
EOF
)

machine=$(cat <<EOF
- Launches: in a database no worker drains, each from an empty sms_campaign_recipients after a checkpoint, as the service role (role and claims set as PostgREST sets them), audience_query \`SELECT phone FROM public.customers\` (with \`jsonb_build_object('name', name) AS data\` for the template): customers of bench/sql/campaigns_customers.sql, six in ten British, two in ten North American (20 area codes), one French, one German, all valid and distinct. $launch_rounds rounds of launch, baselines and launch with data; means. The text launch's answer: $launch_counts. The same launch in the worker's database, behind the codes: $(json launch_s) s.
- Drains: in the worker's database after VACUUM ANALYZE; campaigns without quiet hours, sms_otp.promo_frequency_cap = 0; the rate is messages sent / (the launch's or the insert's commit → the last result written; or → the moment a drain was stopped by its time limit, the rest of its campaign then cancelled). Worker CPU from /proc/<pid>/task/*/schedstat over the whole drain; unthrottled drain: worker on a CPU ${c_cpu}% of the time, mock ${c_mcpu}%; transactional: worker ${t_cpu}%, mock ${t_mcpu}%; wrk: mock ${wrk_mcpu}%. The throttled campaign's requests as the worker timed them (sms_messages_log.requested_at); sms_otp.throttle_margin = $margin; its worker CPU $h_us µs a message.
- Latency: codes one at a time for one user, 50–100 ms apart, each followed by the floor's direct request; $(json idle_before.n) before the campaign and $(json idle_after.n) after it. The campaign: $au recipients launched in one transaction ($(json launch_s)s); codes sent for $(json sends_s)s after its commit, then campaign_cancel ($(json cancel_s)s, $(json cancelled) recipients). The codes during the campaign, in four runs as sent: $quarters. After the run sms_campaigns holds $heap_rows rows in $(awk -v b="$heap_bytes" 'BEGIN { printf "%.1f MB", b / 1048576 }') of heap.
- sms_otp.max_in_flight = batch_size = $in_flight, otp_reserved_in_flight = $reserved (promo messages may take $((in_flight - reserved)) request slots); codes sent by the code worker (sms_otp.code_worker = on, the default), everything else by the delivery worker; the mock (test/mock_provider, Twilio endpoint) is a process of its own for the drains and wrk, and runs in the measuring process for the latency.
- Machine: $(nproc) cores ($(lscpu | sed -nE 's/^Model name:\s+//p' | head -1)), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM; load average at the start $load_at_start, at the end $(cut -d' ' -f1-3 /proc/loadavg) (shared machine). $(q postgres -c "SELECT version()" | cut -d, -f1); test/cluster.sh defaults (fsync off) plus shared_buffers 1GB, max_wal_size 8GB.
- Commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src sql 2>/dev/null || echo ' with uncommitted changes in src/ or sql/'), $(date -u '+%Y-%m-%d %H:%M UTC'), \`$( [ "$smoke" -eq 1 ] && echo 'bash bench/campaigns.sh --smoke' || echo 'bash bench/campaigns.sh --write-docs')\`, $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s.
EOF
)

{
    echo "$table"
    echo
    echo "$machine"
} | tee "$work/results.md"
log "details in $work (launch-*.txt, copy.txt, rows.txt, latency.tsv: every code's latency, latency.json)"

if [ "$write_docs" -eq 1 ] && [ "$smoke" -eq 0 ]; then
    replace_results_block campaigns-results "$work/results.md"
    log "docs/benchmarks.md updated"
fi
