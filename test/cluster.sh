#!/usr/bin/env bash
# A throwaway PostgreSQL cluster with sms_otp preloaded, never the system one.
#   test/cluster.sh start DIR PORT [setting=value ...]   initdb (if needed) and start
#   test/cluster.sh stop DIR                              stop it (fast shutdown)
#   test/cluster.sh run DIR COMMAND ...                   run a command as the cluster's owner
# As root the cluster belongs to the postgres user (PostgreSQL refuses to run as root).
set -euo pipefail
bindir=$(pg_config --bindir)

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd=${1:?usage: cluster.sh start|stop|run DIR ...}
dir=${2:?cluster directory}
shift 2
case "$cmd" in
start)
    port=${1:?port}
    shift
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        mkdir -p "$dir"
        [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
        as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 --locale=C >"$dir/initdb.log"
        {
            echo "port = $port"
            echo "listen_addresses = '127.0.0.1'"
            echo "unix_socket_directories = '$dir'"
            echo "shared_preload_libraries = 'sms_otp'"
            echo "fsync = off"
            echo "max_connections = 200"
            echo "log_min_messages = warning"
            echo "log_line_prefix = '%m [%p] %b '"
            for setting in "$@"; do echo "$setting"; done
        } | as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
    fi
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
    ;;
stop)
    [ -f "$dir/data/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    ;;
run)
    as_owner "$@"
    ;;
*)
    echo "unknown command $cmd" >&2
    exit 2
    ;;
esac
