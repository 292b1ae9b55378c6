# Shared by the test, demo and benchmark scripts: a free port, the psql of a throwaway cluster,
# and a work directory the cluster's owner can write.

free_port() {
    local port
    for port in $(seq "${1:-55432}" 65000); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# make_workdir PREFIX: a fresh directory under /tmp, writable by the cluster's owner.
make_workdir() {
    local dir
    dir=$(mktemp -d "/tmp/${1:-sms_otp}.XXXXXX")
    chmod 755 "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
    echo "$dir"
}

# pg DIR PORT [psql args...]: psql as the superuser postgres over the cluster's socket.
pg() {
    local dir=$1 port=$2
    shift 2
    psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres "$@"
}
