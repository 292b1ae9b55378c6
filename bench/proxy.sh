#!/usr/bin/env bash
# What the deployment layers cost a request: PostgREST reached directly, through nginx
# (deploy/nginx/sms_otp_api.conf), and through pgbouncer in transaction pooling, each measured
# with wrk in the same run, alternating, on the same machine. The call is otp_status as alice
# (a read: JWT check, one transaction, two indexed lookups), so the limits never refuse it.
#   bash bench/proxy.sh [--smoke] [--write-docs]
# One client (wrk -c1) gives the time a layer adds to one request; 16 clients the throughput.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh
. bench/args.sh
. bench/results_block.sh

if [ "$smoke" -eq 1 ]; then secs=1; rounds=1; else secs=${BENCH_PROXY_SECS:-8}; rounds=${BENCH_PROXY_ROUNDS:-3}; fi
log() { printf '%s  %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

EXTRA_PACKAGES="wrk" bash test/install-deps.sh
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    make -s -j2
    if [ "$(id -u)" -eq 0 ]; then make -s install; else sudo make -s install; fi
fi

direct=$(make_workdir sms_otp_bench_proxy)
pooled=$(make_workdir sms_otp_bench_pooler)
cleanup() {
    bash test/stack.sh stop "$direct" >/dev/null 2>&1 || true
    bash test/stack.sh stop "$pooled" >/dev/null 2>&1 || true
    rm -rf "$direct" "$pooled"
}
trap cleanup EXIT

# Two stacks: one with PostgREST on a port and nginx beside it (both paths measurable), one with
# pgbouncer between PostgREST and PostgreSQL.
start_stack() {
    local dir=$1 base=$2
    shift 2
    local api mock proxy pg pooler
    api=$(free_port "$base"); mock=$(free_port $((api + 1))); proxy=$(free_port $((mock + 1)))
    pg=$(free_port $((proxy + 1))); pooler=$(free_port $((pg + 1)))
    env STACK_API_PORT="$api" STACK_MOCK_PORT="$mock" STACK_PROXY_PORT="$proxy" STACK_PG_PORT="$pg" \
        STACK_POOLER_PORT="$pooler" STACK_LOG_LEVEL=crit "$@" bash test/stack.sh start "$dir" 2>"$dir.start.log" ||
        { cat "$dir.start.log" >&2; exit 1; }
}
# Ports below the kernel's ephemeral range (32768 and up on Linux), so that no outgoing
# connection holds one of them between free_port and the server's bind.
log "stacks in $direct and $pooled"
start_stack "$direct" 21100
start_stack "$pooled" 21200 STACK_POOLER=pgbouncer

url_of() { sed -nE "s/^$2=(.*)$/\1/p" "$1/stack.env"; }
token=$(curl -s "$(url_of "$direct" POSTGREST_URL)/rpc/login" -H 'Content-Profile: demo' -H 'Content-Type: application/json' \
    -d '{"email":"alice@example.com","password":"alice-password"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')
pooled_token=$(curl -s "$(url_of "$pooled" POSTGREST_URL)/rpc/login" -H 'Content-Profile: demo' -H 'Content-Type: application/json' \
    -d '{"email":"alice@example.com","password":"alice-password"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')

# measure NAME BASE PATH TOKEN CLIENTS: one wrk run; appends "NAME CLIENTS req/s p50_us p99_us" to results.
results="$direct/results.txt"
: >"$results"
measure() {
    local name=$1 base=$2 path=$3 tok=$4 clients=$5 out
    local threads=$((clients < 2 ? 1 : 2))
    out=$(BENCH_PATH="$path" BENCH_TOKEN="$tok" wrk -t"$threads" -c"$clients" -d"${secs}s" -s bench/wrk/api_call.lua "$base" | grep '^wrk_result')
    local requests seconds non2xx errors p50 p99
    requests=$(sed -nE 's/.*requests=([0-9]+).*/\1/p' <<<"$out"); seconds=$(sed -nE 's/.*seconds=([0-9.]+).*/\1/p' <<<"$out")
    non2xx=$(sed -nE 's/.*non_2xx=([0-9]+).*/\1/p' <<<"$out"); errors=$(sed -nE 's/.* errors=([0-9]+).*/\1/p' <<<"$out")
    p50=$(sed -nE 's/.*p50_us=([0-9]+).*/\1/p' <<<"$out"); p99=$(sed -nE 's/.*p99_us=([0-9]+).*/\1/p' <<<"$out")
    if [ "$non2xx" != 0 ] || [ "$errors" != 0 ] || [ "${requests:-0}" -eq 0 ]; then
        echo "bench/proxy.sh: $name answered $non2xx non-2xx and $errors errors in $requests requests" >&2
        exit 1
    fi
    echo "$name $clients $(awk -v r="$requests" -v s="$seconds" 'BEGIN { printf "%.0f", r / s }') $p50 $p99" >>"$results"
}

api=$(url_of "$direct" POSTGREST_URL)
proxy=$(url_of "$direct" PROXY_URL)
pooled_api=$(url_of "$pooled" POSTGREST_URL)
for round in $(seq "$rounds"); do
    for clients in 1 16; do
        log "round $round/$rounds, $clients client(s)"
        measure direct "$api" /rpc/otp_status "$token" "$clients"
        measure nginx "$proxy" /rest/rpc/otp_status "$token" "$clients"
        measure pgbouncer "$pooled_api" /rpc/otp_status "$pooled_token" "$clients"
    done
done

# Medians over the rounds; overhead = a layer's p50 at one client minus direct's.
table="$direct/table.md"
node -e '
    const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => l.split(" "));
    const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
    const pick = (name, clients, col) => median(rows.filter((r) => r[0] === name && r[1] === String(clients)).map((r) => Number(r[col])));
    const ms = (us) => (us / 1000).toFixed(2);
    const out = [];
    out.push("| path | 1 client: p50 | p99 | added per request (p50) | 16 clients: req/s | against direct |");
    out.push("|---|---|---|---|---|---|");
    for (const [name, label] of [["direct", "PostgREST directly (baseline)"], ["nginx", "nginx → PostgREST"], ["pgbouncer", "PostgREST → pgbouncer → PostgreSQL"]]) {
        const p50 = pick(name, 1, 3), p99 = pick(name, 1, 4), rate = pick(name, 16, 2);
        const added = name === "direct" ? "" : `${((p50 - pick("direct", 1, 3)) / 1000).toFixed(3)} ms`;
        const ratio = (rate / pick("direct", 16, 2)).toFixed(2);
        out.push(`| ${label} | ${ms(p50)} ms | ${ms(p99)} ms | ${added} | ${rate} | ${ratio}× |`);
    }
    console.log(out.join("\n"));
' "$results" | tee "$table"

if [ "$write_docs" -eq 1 ] && [ "$smoke" -eq 0 ]; then
    {
        echo "Measured by \`bash bench/proxy.sh --write-docs\` on $(date -u +%Y-%m-%d), $(nproc) cores, ${secs} s a run, median of $rounds rounds; the call is \`otp_status\` as alice."
        echo
        cat "$table"
    } >"$direct/block.md"
    replace_results_block proxy "$direct/block.md"
    log "docs/benchmarks.md updated"
fi
