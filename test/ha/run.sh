#!/usr/bin/env bash
# High availability: etcd, two Patroni nodes running PostgreSQL 15 with sms_otp, the mock SMS
# provider and the real PostgREST (multi-host db-uri, target_session_attrs=read-write), all on
# this machine in a temp directory, on free ports. Kills the primary in the middle of a drain of
# 2,000 messages, brings it back as a standby, switches over to it, and checks what the worker
# and the API do throughout (test/ha/failover.mjs). TAP on standard output.
#
#   bash test/ha/run.sh
#
# Environment: HA_SYNCHRONOUS=off (asynchronous replication instead of Patroni's
# synchronous_mode), HA_MESSAGES, HA_MOCK_DELAY_MS, KEEP_HA=1 (keep the work directory).
# Needs: the Debian packages patroni and etcd-server (test/install-deps.sh), node, the
# extension installed (make install).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/test/lib.sh"

for tool in patroni patronictl etcd node psql pg_config; do
    command -v "$tool" >/dev/null || { echo "Bail out! $tool is missing (bash test/install-deps.sh)"; exit 1; }
done
postgrest=$(bash "$root/test/postgrest/install.sh") || { echo "Bail out! PostgREST could not be installed"; exit 1; }

dir=$(make_workdir sms_otp_ha)

# Whatever failover.mjs left running (it stops everything itself unless it died): each process
# of its pid files, etcd last (Patroni stops best while it can reach etcd), then any PostgreSQL
# still running in a node's data directory.
cleanup() {
    local name file pid i node
    for name in postgrest mock patroni_node1 patroni_node2 etcd; do
        file="$dir/$name.pid"
        [ -f "$file" ] || continue
        pid=$(cat "$file")
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    for node in "$dir"/node*; do
        [ -f "$node/data/postmaster.pid" ] || continue
        bash "$root/test/cluster.sh" run "$dir" "$(pg_config --bindir)/pg_ctl" -D "$node/data" -m immediate -w stop \
            >/dev/null 2>&1 || true
    done
    if [ -n "${KEEP_HA:-}" ]; then
        echo "# work directory kept: $dir" >&2
    else
        rm -rf "$dir"
    fi
}
trap cleanup EXIT

# In the background, so that a signal to this script reaches failover.mjs, which then stops what
# it started before the trap above looks for leftovers.
node "$root/test/ha/failover.mjs" "$dir" "$postgrest" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null || true' INT TERM
status=0
wait "$child" || status=$?
while kill -0 "$child" 2>/dev/null; do wait "$child" || status=$?; done
[ "$status" -le 128 ] || echo "Bail out! failover.mjs ended by signal $((status - 128))"
exit "$status"
