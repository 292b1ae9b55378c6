#!/usr/bin/env bash
# The SMS-pumping guard against a simulated attack (issue #13): 1,000 code requests to 200 numbers
# of one prefix, from a new account and a new address each, none ever verified, spread through
# a replay of ordinary traffic (20 countries by weight, 88% of codes entered 1 to 200 requests
# after they were sent). Every request goes through otp_send (and every entered code through
# otp_verify) in a transaction of its own, in enforce mode. The replay stands for one hour of
# traffic: the previous 7 days are loaded as counter rows at the same hourly rate (the guard's
# baseline), so the hourly and daily windows see what an hour of this traffic would give them.
# Printed: attack SMS sent (target ≤ 20) and ordinary codes refused (target ≤ 0.1%), then how
# both move with the prefix's hourly limit, the conversion rule's minimum and the prefix length,
# an attack spread over 10 prefixes, record_only; and otp_send's time with the guard off and on.
#   bash bench/guard.sh                 the full run (6 to 8 minutes on two cores)
#   bash bench/guard.sh --smoke         200 attack requests (40 numbers) in 1,000 ordinary ones, under a
#                                       minute; fails when a target is missed
#   bash bench/guard.sh --write-docs    the full run, then its section of docs/benchmarks.md
# Sizes: BENCH_GUARD_ORDINARY (20,000 ordinary codes in the main run), BENCH_GUARD_SWEEP (5,000 in
# each run of the settings table), BENCH_GUARD_COST (2,000 sends per cost round), BENCH_GUARD_SEED.
# BENCH_SKIP_BUILD=1 measures the installed extension; BENCH_KEEP=1 leaves the cluster running.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

. bench/args.sh
. bench/results_block.sh
. bench/workdir.sh
if [ "$smoke" -eq 1 ]; then defaults=(1000 0 300 200 40); else defaults=(20000 5000 2000 1000 200); fi
ordinary=${BENCH_GUARD_ORDINARY:-${defaults[0]}}
sweep=${BENCH_GUARD_SWEEP:-${defaults[1]}}
cost_n=${BENCH_GUARD_COST:-${defaults[2]}}
attack=${defaults[3]}
attack_numbers=${defaults[4]}
seed=${BENCH_GUARD_SEED:-0.42}
verified=0.88
delay=200

log() { printf '%s  %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
started=$SECONDS

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    make -s -j2
    if [ "$(id -u)" -eq 0 ]; then make -s install; else sudo make -s install; fi
fi

bench_workdir sms_otp_guard 26400
log "cluster in $work (port $port)"
bash test/cluster.sh start "$pgdir" "$port"
q postgres -c "CREATE DATABASE guard"
q guard -f bench/sql/guard_sim.sql >/dev/null
countries=$(q guard -c "SELECT string_agg(country, ',' ORDER BY country) FROM guard_sim.countries")

# run LABEL ORDINARY ATTACK NUMBERS PREFIXES [SETTING=VALUE ...]: one replay from a fresh state;
# prints "attack_sent attack ordinary_refused ordinary other_refusals seconds".
run() {
    local label=$1 n=$2 a=$3 numbers=$4 prefixes=$5
    shift 5
    local sets=(-c "SET sms_otp.guard_mode = 'enforce'" -c "SET sms_otp.guard_countries = '$countries'")
    for s in "$@"; do sets+=(-c "SET sms_otp.${s%%=*} = '${s#*=}'"); done
    local t0=$SECONDS
    q guard -c "TRUNCATE sms_otp.sms_otp_sessions, sms_otp.sms_outbox, sms_otp.user_contact_settings CASCADE" >/dev/null
    q guard -c "CALL guard_sim.plan($seed, $n, $a, $numbers, $prefixes, $verified, $delay)" >/dev/null
    q guard -c "CALL guard_sim.baseline($n, 7, $verified)" >/dev/null
    q guard "${sets[@]}" -c "CALL guard_sim.replay()" >/dev/null
    q guard -c "SELECT count(*) FILTER (WHERE kind = 'attack' AND outcome = 'sent'),
                       count(*) FILTER (WHERE kind = 'attack'),
                       count(*) FILTER (WHERE kind = 'ordinary' AND outcome = 'sms_unavailable'),
                       count(*) FILTER (WHERE kind = 'ordinary'),
                       count(*) FILTER (WHERE outcome NOT IN ('sent', 'sms_unavailable'))
                FROM guard_sim.results" | tr '|' ' ' | sed "s/\$/ $((SECONDS - t0))/"
    log "  $label: done in $((SECONDS - t0))s"
}
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f%%", b ? 100 * a / b : 0 }'; }
judge() { if awk "BEGIN { exit !($1) }"; then echo yes; else echo NO; fi; }

# ------------------------------------------------------------------ the issue's attack
log "attack: $attack requests to $attack_numbers numbers of one prefix in $ordinary ordinary codes"
run main "$ordinary" "$attack" "$attack_numbers" 1 >"$work/main.txt"
read -r a_sent a_total o_refused o_total other secs <"$work/main.txt"
blocked_at=$(q guard -c "SELECT coalesce(min(step)::text, 'never') FROM guard_sim.results WHERE kind = 'attack' AND outcome = 'sms_unavailable'")
# The rules behind the refusals of each kind of request (a decision names the request's account).
refused_rules() {
    q guard -c "SELECT coalesce(string_agg(r || ' ' || n, ', ' ORDER BY n DESC, r), 'none') FROM (
                    SELECT r, count(*) AS n
                    FROM sms_otp.guard_decisions d JOIN guard_sim.requests x ON x.uid = d.user_id, unnest(d.rules) r
                    WHERE d.outcome = 'refused' AND x.kind = '$1' GROUP BY r) y"
}
rules=$(refused_rules attack)
o_rules=$(refused_rules ordinary)
# Ordinary numbers drawn inside the attacked prefix: refused by its block like the attack's.
o_inside=$(q guard -c "SELECT count(*) FROM guard_sim.requests x JOIN guard_sim.results r USING (step)
                       WHERE x.kind = 'ordinary' AND r.outcome = 'sms_unavailable'
                         AND left(x.phone, length(x.phone) - 3) IN (SELECT left(a.phone, length(a.phone) - 3)
                                                                    FROM guard_sim.requests a WHERE a.kind = 'attack')")
log "  attack SMS sent: $a_sent of $a_total; ordinary refused: $o_refused of $o_total ($(pct "$o_refused" "$o_total")); other refusals $other"

# ------------------------------------------------------------------ how the figures move
rows=()
if [ "$sweep" -gt 0 ]; then
    sweep_a=$attack
    sweep_runs=(
        "prefix_per_hour 5|guard_prefix_per_hour=5"
        "prefix_per_hour 10 (default)|guard_prefix_per_hour=10"
        "prefix_per_hour 20|guard_prefix_per_hour=20"
        "conversion_min_prefix 4|guard_conversion_min_prefix=4"
        "conversion_min_prefix 16|guard_conversion_min_prefix=16"
        "conversion_min_prefix 16, prefix_per_hour 50|guard_conversion_min_prefix=16 guard_prefix_per_hour=50"
        "prefix_digits 2|guard_prefix_digits=2"
        "prefix_digits 4|guard_prefix_digits=4"
        "attack spread over 10 prefixes (defaults)|prefixes=10"
        "record_only (defaults)|guard_mode=record_only"
    )
    for entry in "${sweep_runs[@]}"; do
        label=${entry%%|*}
        prefixes=1
        settings=()
        for s in ${entry#*|}; do
            if [ "${s%%=*}" = prefixes ]; then prefixes=${s#*=}; else settings+=("$s"); fi
        done
        log "settings: $label"
        run "$label" "$sweep" "$sweep_a" "$attack_numbers" "$prefixes" "${settings[@]}" >"$work/sweep.txt"
        read -r s_sent s_total s_refused s_ord _ _ <"$work/sweep.txt"
        # record_only sends every code: the decisions say what enforce would have refused.
        flagged=""
        if [[ "$label" == record_only* ]]; then
            flagged=" ($(q guard -c "SELECT count(*) FROM sms_otp.guard_decisions d JOIN guard_sim.requests x ON x.uid = d.user_id
                                      WHERE d.outcome = 'flagged' AND x.kind = 'attack'") flagged)"
        fi
        rows+=("| $label | $s_sent of $s_total$flagged | $s_refused of $s_ord ($(pct "$s_refused" "$s_ord")) |")
    done
fi

# ------------------------------------------------------------------ what the guard costs
log "otp_send with the guard off and in enforce mode: 3 alternating rounds of $cost_n sends"
q guard -c "TRUNCATE sms_otp.sms_otp_sessions, sms_otp.sms_outbox, sms_otp.user_contact_settings CASCADE" \
        -c "CALL guard_sim.baseline($ordinary, 7, $verified)" >/dev/null
: >"$work/cost-off.txt"
: >"$work/cost-enforce.txt"
for r in 1 2 3; do
    for mode in off enforce; do
        us=$(q guard -c "SET sms_otp.guard_countries = '$countries'" -c "CALL guard_sim.cost('$mode', $cost_n)")
        echo "$us" >>"$work/cost-$mode.txt"
        log "  round $r: $mode $(printf '%.0f' "$us") µs"
    done
done
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
cost_off=$(median <"$work/cost-off.txt")
cost_on=$(median <"$work/cost-enforce.txt")

# ------------------------------------------------------------------ the results
table=$(cat <<EOF
| figure | value | target | met |
|---|---:|---|---|
| attack SMS sent ($a_total requests, $attack_numbers numbers of one prefix, none verified) | $a_sent | ≤ 20 | $(judge "$a_sent <= 20") |
| ordinary codes refused by the guard | $o_refused of $o_total ($(pct "$o_refused" "$o_total")) | ≤ 0.1% | $(judge "$o_refused * 1000 <= $o_total") |
| otp_send, median, guard off | $(printf '%.0f' "$cost_off") µs | | |
| otp_send, median, guard enforcing | $(printf '%.0f' "$cost_on") µs (+$(awk -v a="$cost_on" -v b="$cost_off" 'BEGIN { printf "%.0f", a - b }') µs) | (no target) | – |
EOF
)
details=$(cat <<EOF
- The attack's first refusal came at request $blocked_at of $((a_total + o_total)); the rules that refused its requests: ${rules:-none}. Rules behind ordinary refusals: $o_rules ($o_inside of them to numbers inside the attacked prefix). Other refusals (rate limits): $other.
- Replay: $o_total ordinary codes to 20 countries by weight ($countries), $verified of them entered 1 to $delay requests later, and $a_total attack requests spread evenly through them; seed $seed; $secs s.
EOF
)
sweep_table=""
if [ "${#rows[@]}" -gt 0 ]; then
    sweep_table=$(printf '%s\n' "| settings (others at their defaults) | attack SMS sent | ordinary codes refused |" "|---|---:|---:|" "${rows[@]}")
fi
machine="- $(nproc) cores, load average at the start $(cut -d' ' -f1-3 /proc/loadavg); $(q postgres -c "SELECT version()" | cut -d, -f1); commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src sql 2>/dev/null || echo ' with uncommitted changes in src/ or sql/'), $(date -u '+%Y-%m-%d %H:%M UTC'), \`$( [ "$smoke" -eq 1 ] && echo 'bash bench/guard.sh --smoke' || echo 'make bench')\`, $((SECONDS - started)) s."

{
    echo
    echo "$table"
    echo
    echo "$details"
    if [ -n "$sweep_table" ]; then echo; echo "$sweep_table"; fi
    echo
    echo "$machine"
} | tee "$work/results.md"

if [ "$write_docs" -eq 1 ] && [ "$smoke" -eq 0 ]; then
    replace_results_block guard-results "$work/results.md"
    log "docs/benchmarks.md updated"
fi

# The targets hold at every size: a smoke run that misses one fails (so does a full run).
fail=0
[ "$a_sent" -le 20 ] || { echo "attack: $a_sent SMS sent (target ≤ 20)" >&2; fail=1; }
[ $((o_refused * 1000)) -le "$o_total" ] || { echo "ordinary: $o_refused of $o_total refused (target ≤ 0.1%)" >&2; fail=1; }
[ "$a_total" -gt 0 ] && [ "$o_total" -gt 0 ] || { echo "the replay ran no requests" >&2; fail=1; }
exit "$fail"
