# Sourced by the bench scripts that run a throwaway cluster and the mock provider.
#
# bench_workdir NAME PORT_BASE: a work directory (work), a port below the ephemeral range
# (port), the cluster's directory (pgdir), and on exit the mock stopped (if mock_pid is set)
# and the cluster stopped and removed (BENCH_KEEP=1 keeps it; the figures stay in $work).
bench_workdir() {
    work=$(make_workdir "$1")
    port=$(free_port "$2")
    pgdir="$work/pg"
    mock_pid=""
    trap bench_cleanup EXIT
}
bench_cleanup() {
    [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null || true
    if [ -z "${BENCH_KEEP:-}" ]; then bash test/cluster.sh stop "$pgdir" && rm -rf "$pgdir" || true; fi
}

# q DB ARGS...: psql on the cluster, unaligned, tuples only.
q() { local db=$1; shift; pg "$pgdir" "$port" -d "$db" -At "$@"; }

# start_mock DELAY_MS: the mock provider (test/mock_provider) in the background, answering every
# request after DELAY_MS, recording nothing; sets mock_pid and mock_url.
start_mock() {
    node test/mock_provider/server.mjs --port 0 --delay-ms "$1" --no-record >"$work/mock.log" 2>&1 &
    mock_pid=$!
    for _ in $(seq 50); do grep -q 'listening on' "$work/mock.log" && break; sleep 0.1; done
    mock_url=$(sed -nE 's/.*listening on (http:\S+).*/\1/p' "$work/mock.log")
    [ -n "$mock_url" ] || { cat "$work/mock.log" >&2; exit 1; }
}

# sched PID...: ns on a CPU and ns runnable but waiting for one, summed over every thread of
# each process (a worker has its transport thread, node its helpers), from their schedstat.
sched() {
    local p f a b s=0 w=0
    for p in "$@"; do
        for f in /proc/"$p"/task/*/schedstat; do
            read -r a b _ 2>/dev/null <"$f" || continue
            s=$((s + a)); w=$((w + b))
        done
    done
    echo "$s $w"
}
