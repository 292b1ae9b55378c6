#!/usr/bin/env bash
# Does test/upgrade/run.sh fail when the update script misses something? Each mutation below
# removes or changes one statement of the installed sms_otp--1.0--1.1.sql, in a private copy of
# the PostgreSQL installation (the system one is untouched), and run.sh must then fail. The 1.0
# data is written by the 1.0 release build (from-release.sh), and run.sh must pass first with
# the script as it is. Prints TAP: one line per mutation, with the checks that caught it. About
# a minute a mutation, plus the release build the first time.
#   bash test/upgrade/mutations.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/upgrade/tree.sh

work=$(make_workdir sms_otp_mutations)
trap 'rm -rf "$work"' EXIT
release_bindir=$(bash test/upgrade/from-release.sh --bindir)
bindir=$(private_tree "$work/tree")
script=$("$bindir/pg_config" --sharedir)/extension/sms_otp--1.0--1.1.sql
cp "$script" "$work/original.sql"

# label | perl substitution applied to the whole update script (-0: one string)
mutations=(
    "an attribute of _config not added|s/,\n\s*ADD ATTRIBUTE ipv6_prefix int;/;/"
    "the new type _guesses not created|s/CREATE TYPE sms_otp\._guesses AS \(.*?\);\n//s"
    "a column of api_integrations not added|s/ALTER TABLE sms_otp\.api_integrations ADD COLUMN selectable[^;]*;\n//"
    "client_net of old sessions not filled in|s/UPDATE sms_otp\.sms_otp_sessions\nSET client_net.*?WHERE client_ip IS NOT NULL;\n//s"
    "1.0's address index not dropped|s/DROP INDEX sms_otp\.sms_otp_sessions_ip_created_idx;\n//"
    "1.0's _count_failure not dropped|s/DROP FUNCTION sms_otp\._count_failure\([^)]*\);\n//"
    "1.0's service_delete policy not dropped|s/    DROP POLICY IF EXISTS service_delete ON sms_otp\.user_contact_settings;\n//"
    "1.0's table grants to PUBLIC not revoked|s/REVOKE ALL ON ALL TABLES IN SCHEMA sms_otp FROM PUBLIC;\n//"
    "a C function keeps 1.0's empty settings (no SET search_path)|s/(FUNCTION sms_otp\._hmac\(key bytea, message text\) RETURNS bytea\n\s*LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE) SET search_path = pg_catalog, pg_temp/\$1/"
    "a comment keeps its 1.0 text|s/COMMENT ON FUNCTION sms_otp\.otp_status\(\) IS\n[^;]*;\n//"
)

n=1
failed=0
run() { PATH="$bindir:$PATH" UPGRADE_FROM_BINDIR=$release_bindir bash test/upgrade/run.sh >"$work/run.log" 2>&1; }
if run; then
    echo "ok 1 - the update script as installed: run.sh passes"
else
    echo "not ok 1 - the update script as installed: run.sh passes"
    grep '^not ok' "$work/run.log" | sed 's/^/#   /'
    echo "1..1"
    exit 1
fi
for mutation in "${mutations[@]}"; do
    label=${mutation%%|*}
    n=$((n + 1))
    perl -0pe "${mutation#*|}" "$work/original.sql" >"$script"
    if cmp -s "$script" "$work/original.sql"; then
        failed=$((failed + 1)); echo "not ok $n - $label (the mutation did not apply: the script changed?)"
        continue
    fi
    set +e
    run
    rc=$?
    set -e
    if [ $rc -ne 0 ]; then
        echo "ok $n - $label: run.sh fails"
        grep '^not ok' "$work/run.log" | sed 's/^/#   /'
    else
        failed=$((failed + 1)); echo "not ok $n - $label: run.sh passes anyway"
    fi
done
cp "$work/original.sql" "$script"
echo "1..$n"
[ "$failed" -eq 0 ]
