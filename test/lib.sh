# Shared by the test, demo and benchmark scripts: a free port, the psql of a throwaway cluster,
# a work directory the cluster's owner can write, and a plain HTTP probe.

free_port() {
    local port
    for port in $(seq "${1:-25432}" 32767); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# port_taken PORT: something listens on 127.0.0.1:PORT.
port_taken() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# http_status PORT PATH: the status code of GET PATH on 127.0.0.1:PORT, or nothing (no curl
# needed).
http_status() {
    timeout 2 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
        printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$1" >&3
        read -r _ status _ <&3 && echo "$status"' "$1" "$2" 2>/dev/null || true
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
