#!/usr/bin/env bash
# What sms_otp.phone_country costs a number, against libphonenumber's full parse of the same
# numbers in the same run (bench/phone_country.cpp; the dashboards' rollups ask it for every
# message). Plain C++, no cluster; built with the extension's optimization (-O2).
#   bash bench/phone_country.sh                 20,000 numbers a kind, 5 alternating rounds
#   bash bench/phone_country.sh --smoke         1,000 numbers, 1 round: proves the script works
#   bash bench/phone_country.sh --write-docs    the full run, then its section of docs/benchmarks.md
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/args.sh
. bench/results_block.sh

command="bash bench/phone_country.sh"
if [ "$smoke" -eq 1 ]; then n=1000 rounds=1 command+=" --smoke"; else n=20000 rounds=5; fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
g++ -std=c++17 -O2 -Wall -Wextra -Werror -Isrc -o "$out/phone_country" bench/phone_country.cpp src/sms/zones.cpp \
    -lphonenumber -lgeocoding -licuuc
"$out/phone_country" "$n" "$rounds" >"$out/table.md"
{
    cat "$out/table.md"
    echo
    if [ "$rounds" -eq 1 ]; then each="once each"; else each="$rounds times each, medians"; fi
    echo "- $n numbers of each kind; the two alternate, $each. Every answer of the two was compared first: equal."
    echo "- Commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u '+%Y-%m-%d %H:%M UTC'), \`$command\`;" \
        "libphonenumber $(dpkg-query -W -f '${Version}' libphonenumber8 2>/dev/null || echo '(version unknown)'); $(nproc) cores (shared machine)."
} >"$out/results.md"
cat "$out/results.md"
if [ "$write_docs" -eq 1 ]; then
    [ "$smoke" -eq 0 ] || { echo "bench/phone_country.sh: --write-docs needs the full run" >&2; exit 2; }
    replace_results_block phone_country "$out/results.md"
    echo "docs/benchmarks.md updated" >&2
fi
