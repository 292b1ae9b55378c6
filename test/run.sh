#!/usr/bin/env bash
# make test: install what is needed, build, install, and run every suite on throwaway clusters.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. test/lib.sh

bash test/install-deps.sh
make -s -j2
if [ "$(id -u)" -eq 0 ]; then make -s install; else sudo make -s install; fi

work=$(make_workdir sms_otp_test)
port=$(free_port 25432)
cleanup() { bash test/cluster.sh stop "$work/pg" || true; }
trap cleanup EXIT

passed=0
failed=0
count() { passed=$((passed + ${1:-0})); failed=$((failed + ${2:-0})); }

# The suites read their inputs from a copy the cluster's owner can read.
cp -r sql expected test "$work/"
mkdir -p "$work/out"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$work"

# The worker watches another database, so these suites see the outbox as otp_send left it.
bash test/cluster.sh start "$work/pg" "$port" "sms_otp.database = 'postgres'" "sms_otp.http_allowed_hosts = '127.0.0.1'"
pg "$work/pg" "$port" -d postgres -f test/roles.sql

echo "== unit tests (adapters, HTTP helpers)"
set +e
make -s -C test/unit 2>&1 | tee "$work/unit.log"
set -e
count "$(sed -nE 's/^\[  PASSED  \] ([0-9]+) tests?\./\1/p' "$work/unit.log" | tail -1)" \
      "$(sed -nE 's/^\[  FAILED  \] ([0-9]+) tests?, listed below:/\1/p' "$work/unit.log" | tail -1)"
grep -q '^\[  PASSED  \]' "$work/unit.log" || failed=$((failed + 1))

echo "== fuzz smoke (libFuzzer, a few seconds a target)"
set +e
FUZZ_WORK="$work/fuzz" bash test/fuzz/run.sh "${FUZZ_SECONDS:-10}" 2>&1 | tee "$work/fuzz.log"
set -e
fuzz_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$work/fuzz.log" | tail -1)
count "$(sed -nE 's/^([0-9]+) passed.*/\1/p' <<<"$fuzz_line")" "$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$fuzz_line")"
[ -n "$fuzz_line" ] || failed=$((failed + 1))

# TAP on standard output: count its ok / not ok lines (and a missing plan as a failure).
tap_script() {
    local name=$1
    shift
    echo "== $name"
    set +e
    "$@" 2>&1 | tee "$work/$name.tap"
    local rc=${PIPESTATUS[0]}
    set -e
    count "$(grep -cE '^ok ' "$work/$name.tap" || true)" "$(grep -cE '^not ok ' "$work/$name.tap" || true)"
    if [ "$rc" -ne 0 ] && ! grep -qE '^not ok ' "$work/$name.tap"; then failed=$((failed + 1)); fi
}
tap_script no_preload bash test/security/no_preload.sh "$work" "$(free_port $((port + 1)))"

echo "== pg_regress"
regress_tests=$(cd sql && ls [a-z]*.sql | grep -v '^sms_otp--' | sed 's/\.sql$//' | sort)
set +e
bash test/cluster.sh run "$work/pg" "$(pg_config --pkglibdir)/pgxs/src/test/regress/pg_regress" \
    --inputdir="$work" --outputdir="$work/out" --host="$work/pg" --port="$port" --user=postgres \
    --dbname=sms_otp_regress $regress_tests | tee "$work/regress.log"
set -e
count "$(grep -cE '^(ok|test) .* ok' "$work/regress.log" || true)" "$(grep -cE 'FAILED|failed \(' "$work/regress.log" || true)"
if [ -f "$work/out/regression.diffs" ]; then cat "$work/out/regression.diffs"; fi

echo "== pgTAP"
pg "$work/pg" "$port" -d postgres -c "DROP DATABASE IF EXISTS sms_otp_tap" -c "CREATE DATABASE sms_otp_tap"
pg "$work/pg" "$port" -d sms_otp_tap -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION sms_otp"
set +e
(cd "$work" && bash "$root/test/cluster.sh" run "$work/pg" pg_prove -h "$work/pg" -p "$port" -U postgres \
    -d sms_otp_tap test/pgtap/*.sql) 2>&1 | tee "$work/tap.log"
set -e
tap_total=$(sed -nE 's/^Files=[0-9]+, Tests=([0-9]+).*/\1/p' "$work/tap.log")
tap_failed=$(sed -nE 's/.*Failed ([0-9]+)\/[0-9]+ subtests.*/\1/p' "$work/tap.log" | awk '{s+=$1} END {print s+0}')
tap_bad_files=$(grep -cE 'Wstat|Parse errors|No subtests run' "$work/tap.log" || true)
count "$(( ${tap_total:-0} - tap_failed ))" "$(( tap_failed + tap_bad_files ))"
grep -q '^Result: PASS' "$work/tap.log" || failed=$((failed + 1))

# 1.0 with data, updated, against a fresh 1.1: the same catalog and the same data (own cluster).
tap_script upgrade bash test/upgrade/run.sh
grep -qE '^1\.\.[0-9]+$' "$work/upgrade.tap" || failed=$((failed + 1))  # stopped before its plan

# A dump of a database with the extension and data, restored into a new cluster (own clusters).
tap_script backup bash test/backup/run.sh
grep -qE '^1\.\.[0-9]+$' "$work/backup.tap" || failed=$((failed + 1))

# High availability: two nodes under Patroni with etcd, a failover mid-drain and a switchover.
tap_script ha bash test/ha/run.sh
grep -qE '^1\.\.[0-9]+$' "$work/ha.tap" || failed=$((failed + 1))

# node:test suites: the mock provider's own, then the worker against it on its own cluster.
node_suite() {
    local name=$1
    shift
    echo "== $name"
    set +e
    node --test --test-reporter=tap --test-concurrency=1 "$@" 2>&1 | tee "$work/$name.tap" | grep -vE '^\s+(---|\.\.\.|duration_ms|type:)' 
    set -e
    local p f
    p=$(sed -nE 's/^# pass ([0-9]+)/\1/p' "$work/$name.tap" | tail -1)
    f=$(sed -nE 's/^# fail ([0-9]+)/\1/p' "$work/$name.tap" | tail -1)
    [ -n "$p" ] || f=$((${f:-0} + 1))
    count "${p:-0}" "${f:-0}"
}
(cd test/mock_provider && npm ci --no-audit --no-fund --loglevel=error)
node_suite mock_provider test/mock_provider/*.test.mjs
node_suite integration test/integration/*.test.mjs
# The real PostgREST in front of the extension, with the real postgrest-js client.
bash test/postgrest/install.sh >/dev/null
(cd test/http && npm ci --no-audit --no-fund --loglevel=error)
node_suite http test/http/*.test.mjs
# The same calls with pgbouncer between PostgREST and PostgreSQL, in transaction pooling.
export STACK_POOLER=pgbouncer
node_suite http_pooled $(ls test/http/*.test.mjs | grep -v -e '/proxy\.' -e '/pooler\.')
unset STACK_POOLER

# The React overlay: unit tests (Vitest), then Chromium driving the built app on the real stack.
echo "== web unit tests"
(cd web && npm ci --no-audit --no-fund --loglevel=error)
set +e
(cd web && NO_COLOR=1 npx --no-install vitest run) 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | tee "$work/web-unit.log"
set -e
tests_line=$(grep -E '^ *Tests +[0-9]' "$work/web-unit.log" | tail -1 || true)
web_passed=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$tests_line")
web_failed=$(sed -nE 's/.*Tests +([0-9]+) failed.*/\1/p' <<<"$tests_line")
[ -n "$web_passed$web_failed" ] || web_failed=1
count "${web_passed:-0}" "${web_failed:-0}"
export SCREENSHOTS=${SCREENSHOTS:-0}  # CI keeps the committed screenshots as they are
node_suite web_e2e web/e2e/*.test.mjs

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
