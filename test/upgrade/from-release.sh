#!/usr/bin/env bash
# The update as a DBA makes it: the 1.0 data written by the 1.0 release build (library and
# scripts), then the server restarted on the installed build and ALTER EXTENSION sms_otp UPDATE.
#   bash test/upgrade/from-release.sh [COMMIT]
#   bash test/upgrade/from-release.sh --bindir [COMMIT]   only build (or find) it; print its bin directory
# COMMIT is the 1.0 release (default: tag v1.0 if there is one, else the commit before 1.1's
# first part in sql/parts). Its build is kept in /tmp/sms_otp_release_<commit> for the next run
# (a few minutes on two cores); run.sh then does the rest and prints TAP.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/upgrade/tree.sh

print_bindir=0
if [ "${1:-}" = --bindir ]; then print_bindir=1; shift; fi
release=${1:-$(git rev-parse -q --verify 'v1.0^{commit}' ||
               git rev-parse "$(git log --format=%H --diff-filter=A -- sql/parts | tail -1)^")}
release=$(git rev-parse "$release^{commit}")
cache=/tmp/sms_otp_release_${release:0:12}
echo "# 1.0 release: $(git log -1 --format='%h %s' "$release" | cut -c1-100)" >&2

if [ ! -f "$cache/built" ]; then
    if [ ! -f "$cache/src/sms_otp.so" ]; then
        rm -rf "$cache"
        mkdir -p "$cache/src"
        git archive "$release" | tar -x -C "$cache/src"
        grep -q "default_version = '1.0'" "$cache/src/sms_otp.control" \
            || { echo "$release does not ship 1.0 as its default version" >&2; exit 2; }
        echo "# building it in $cache/src" >&2
        make -s -C "$cache/src" -j2 >"$cache/build.log" 2>&1 || { tail -30 "$cache/build.log" >&2; exit 2; }
    fi
    rm -rf "$cache/tree"
    bindir=$(private_tree "$cache/tree")
    libdir=$("$bindir/pg_config" --pkglibdir)
    extdir=$("$bindir/pg_config" --sharedir)/extension
    rm -f "$extdir"/sms_otp*
    cp "$cache/src/sms_otp.so" "$libdir/"
    cp "$cache/src/sms_otp.control" "$cache/src/sql/sms_otp--1.0.sql" "$extdir/"
    echo "$bindir" >"$cache/built"
fi
chmod -R a+rX "$cache/tree"

if [ "$print_bindir" -eq 1 ]; then
    cat "$cache/built"
else
    UPGRADE_FROM_BINDIR=$(cat "$cache/built") bash test/upgrade/run.sh
fi
