#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for SECONDS (default 10) over a copy of its corpus
# in the work directory (test/fuzz/work, or $FUZZ_WORK), so a run never grows the committed
# corpus. Targets run $FUZZ_JOBS at a time (default: the number of cores). The last line is
# "N passed, N failed"; a target that crashes, breaks an invariant, times out or runs out of
# memory fails, and the input that did it is kept under the work directory and printed.
#   test/fuzz/run.sh [SECONDS]
set -uo pipefail
seconds=${1:-10}
here=$(cd "$(dirname "$0")" && pwd)
work=${FUZZ_WORK:-$here/work}
jobs=${FUZZ_JOBS:-$(nproc)}

if ! make -s -C "$here" -j"$jobs" all; then
    echo "fuzz targets did not build"
    echo "0 passed, 1 failed"
    exit 1
fi
read -r -a targets <<<"$(make -s -C "$here" targets)"

rm -rf "$work"
mkdir -p "$work"

run_target() {
    local t=$1
    mkdir -p "$work/corpus/$t" "$work/crashes/$t"
    cp -R "$here/corpus/$t/." "$work/corpus/$t/"
    local dict=()
    [ -f "$here/dict/$t.dict" ] && dict=(-dict="$here/dict/$t.dict")
    "$here/build/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/crashes/$t/" "${dict[@]}" "$work/corpus/$t" >"$work/$t.log" 2>&1
    echo $? >"$work/$t.rc"
}

running=0
for t in "${targets[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    run_target "$t" &
    running=$((running + 1))
done
wait

passed=0
failed=0
for t in "${targets[@]}"; do
    rc=$(cat "$work/$t.rc" 2>/dev/null || echo 1)
    crashes=$(find "$work/crashes/$t" -type f | sort)
    runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$work/$t.log" | grep -o '[0-9]*$')
    if [ "$rc" -eq 0 ] && [ -z "$crashes" ]; then
        passed=$((passed + 1))
        echo "ok   $t (${runs:-?} runs)"
    else
        failed=$((failed + 1))
        echo "FAIL $t (exit $rc): $(grep -m1 -E 'invariant broken|exception escaped|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error' "$work/$t.log")"
        for c in $crashes; do echo "     input kept: $c"; done
        echo "     log: $work/$t.log"
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
