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
port=$(free_port 55432)
cleanup() { bash test/cluster.sh stop "$work/pg" || true; }
trap cleanup EXIT

passed=0
failed=0
count() { passed=$((passed + $1)); failed=$((failed + $2)); }

# The suites read their inputs from a copy the cluster's owner can read.
cp -r sql expected test "$work/"
mkdir -p "$work/out"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$work"

# The worker watches another database, so these suites see the outbox as otp_send left it.
bash test/cluster.sh start "$work/pg" "$port" "sms_otp.database = 'postgres'"
pg "$work/pg" "$port" -d postgres -f test/roles.sql

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

for suite in test/integration/*.sh; do
    [ -e "$suite" ] || continue
    echo "== $suite"
    if bash "$suite" "$work"; then count 1 0; else count 0 1; fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
