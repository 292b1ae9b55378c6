#!/usr/bin/env bash
# The update from 1.0 to 1.1, proved on a throwaway cluster with the installed build (TAP output):
#   database A: CREATE EXTENSION sms_otp VERSION '1.0', data written through the 1.0 API
#               (fill-1.0.sql), a snapshot, ALTER EXTENSION sms_otp UPDATE, the snapshot again
#               and the 1.1 API on the 1.0 data (after-1.1.sql);
#   database B: CREATE EXTENSION sms_otp (a fresh 1.1);
#   then the catalogs of A and B, as catalog.sql lists them and as pg_dump --binary-upgrade
#   writes them, must be equal, and each of a set of hand-made differences applied to B must
#   make catalog.sql's listing differ (so the comparison is known to see such things).
#   bash test/upgrade/run.sh            uses the pg_config on PATH and what is installed there: the
#                                       new library serves 1.0's SQL until the update, as it does
#                                       on a server between the restart and ALTER EXTENSION UPDATE
#   UPGRADE_FROM_BINDIR=DIR bash test/upgrade/run.sh
#                                       writes the 1.0 data with the PostgreSQL installation whose
#                                       binaries are in DIR (one holding the 1.0 release build of
#                                       sms_otp: see from-release.sh), then restarts the cluster
#                                       with the one on PATH and updates: the whole road a DBA takes
#   UPGRADE_KEEP=1 bash test/upgrade/run.sh   leaves the cluster running and prints where
# Exit status 0 when every check passed.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
here=test/upgrade

work=$(make_workdir sms_otp_upgrade)
port=$(free_port 25640)
cleanup() {
    if [ -n "${UPGRADE_KEEP:-}" ]; then
        echo "# cluster left running: $work/pg, port $port" >&2
    else
        bash test/cluster.sh stop "$work/pg" || true
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# ------------------------------------------------------------------ TAP
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
    n=$((n + 1)); failed=$((failed + 1))
    echo "not ok $n - $1"
    if [ -n "${2:-}" ]; then sed 's/^/#   /' <<<"$2"; fi
}
# tap_checks: lines "check|description|t or f|detail" from the SQL scripts, in order.
tap_checks() {
    local line desc passed detail
    while IFS= read -r line; do
        [[ $line == check\|* ]] || continue
        line=${line#check|}
        desc=${line%%|*}; line=${line#*|}
        passed=${line%%|*}; detail=${line#*|}
        if [ "$passed" = t ]; then ok "$desc"; else not_ok "$desc" "$detail"; fi
    done
}
# psql on database $1 as the superuser, unaligned; stops at the first error.
q() { local db=$1; shift; pg "$work/pg" "$port" -d "$db" -At "$@"; }

# ------------------------------------------------------------------ the cluster
# The worker watches database postgres, where the extension is not installed, so it leaves the
# outboxes of A and B as the API left them. No cooldown, so that a user can ask twice.
new_path=$PATH
if [ -n "${UPGRADE_FROM_BINDIR:-}" ]; then
    PATH="$UPGRADE_FROM_BINDIR:$PATH"
    echo "# 1.0 data written with the installation in $UPGRADE_FROM_BINDIR"
fi
bash test/cluster.sh start "$work/pg" "$port" "sms_otp.database = 'postgres'" "sms_otp.resend_cooldown = 0"
q postgres -f test/roles.sql
q postgres -c "CREATE DATABASE upgraded" -c "CREATE DATABASE fresh"

echo "# database upgraded: 1.0 and its data"
q upgraded -c "CREATE EXTENSION sms_otp VERSION '1.0'"
ok "CREATE EXTENSION sms_otp VERSION '1.0'"
set +e
out=$(q upgraded -f $here/fill-1.0.sql 2>&1)
rc=$?
set -e
tap_checks <<<"$out"
[ $rc -eq 0 ] || { not_ok "fill-1.0.sql ran to the end" "$out"; echo "1..$n"; exit 1; }
q upgraded -v phase=before -f $here/snapshot.sql

if [ "$PATH" != "$new_path" ]; then
    echo "# the new build: restart with the installation on PATH"
    bash test/cluster.sh stop "$work/pg"
    PATH=$new_path
    bash test/cluster.sh start "$work/pg" "$port"
fi

echo "# ALTER EXTENSION sms_otp UPDATE, in place, on the running server"
if out=$(q upgraded -c "ALTER EXTENSION sms_otp UPDATE" 2>&1); then
    ok "ALTER EXTENSION sms_otp UPDATE (1.0 -> 1.1) succeeds with the data in place"
else
    not_ok "ALTER EXTENSION sms_otp UPDATE (1.0 -> 1.1) succeeds with the data in place" "$out"
    echo "1..$n"; exit 1
fi
q upgraded -v phase=after -f $here/snapshot.sql
set +e
out=$(q upgraded -f $here/after-1.1.sql 2>&1)
rc=$?
set -e
tap_checks <<<"$out"
[ $rc -eq 0 ] || not_ok "after-1.1.sql ran to the end" "$out"

echo "# database fresh: CREATE EXTENSION sms_otp (1.1)"
q fresh -c "CREATE EXTENSION sms_otp"
ok "CREATE EXTENSION sms_otp (fresh 1.1)"

# ------------------------------------------------------------------ the catalogs
echo "# catalogs: fresh 1.1 against 1.0 + update"
q fresh -f $here/catalog.sql >"$work/catalog-fresh.txt"
q upgraded -f $here/catalog.sql >"$work/catalog-upgraded.txt"
lines=$(wc -l <"$work/catalog-fresh.txt")
if [ "$lines" -lt 500 ]; then
    not_ok "catalog.sql lists the fresh install ($lines lines; expected hundreds)"
elif diff=$(diff -u --label fresh-1.1 --label "1.0+update" "$work/catalog-fresh.txt" "$work/catalog-upgraded.txt"); then
    ok "catalog of schema sms_otp: 1.0 + update equals a fresh 1.1 ($lines facts: tables, columns, constraints, indexes, triggers, functions, types, ACLs, RLS, policies, comments, members, config dumps, init privileges, dependencies)"
else
    not_ok "catalog of schema sms_otp: 1.0 + update equals a fresh 1.1 (- fresh, + updated)" "$diff"
fi

# The same through pg_dump: --binary-upgrade writes every member of the extension one by one.
# Lines that set OIDs, file nodes and frozen xids, and the sequences' positions, are dropped;
# so is the stored default of a column added by ALTER TABLE (binary_upgrade_set_missing_value:
# how the rows written before the column existed read it, not a difference of the schema).
dump_view() {
    pg_dump --schema-only --binary-upgrade --exclude-schema=upgrade_check -h "$work/pg" -p "$port" -U postgres "$1" |
        sed -E -e '/^\\(un)?restrict /d' -e '/binary_upgrade_set_next_/d' -e '/^SET relfrozenxid = /d' \
            -e "s/^WHERE oid = '[0-9]+';$/WHERE oid = '<toast table>';/" \
            -e '/^-- set missing value\.$/d' -e '/binary_upgrade_set_missing_value\(/d' \
            -e '/^SELECT pg_catalog\.setval\(/d' \
            -e "s/(binary_upgrade_create_empty_extension\('sms_otp', 'sms_otp', [a-z]+, '[^']*', )'\{[0-9,]*\}'/\1'{<config table oids>}'/" |
        cat -s
}
if dump_view fresh >"$work/dump-fresh.sql" 2>"$work/dump.err" && dump_view upgraded >"$work/dump-upgraded.sql" 2>>"$work/dump.err"; then
    if diff=$(diff -u --label fresh-1.1 --label "1.0+update" "$work/dump-fresh.sql" "$work/dump-upgraded.sql"); then
        ok "pg_dump --schema-only --binary-upgrade: 1.0 + update equals a fresh 1.1 ($(wc -l <"$work/dump-fresh.sql") lines)"
    else
        not_ok "pg_dump --schema-only --binary-upgrade: 1.0 + update equals a fresh 1.1 (- fresh, + updated)" "$diff"
    fi
else
    not_ok "pg_dump --schema-only --binary-upgrade runs" "$(cat "$work/dump.err")"
fi
# A plain schema dump prints the extension as one CREATE EXTENSION plus whatever privileges
# differ from those the scripts recorded: equal too.
if diff=$(diff -u --label fresh-1.1 --label "1.0+update" \
        <(pg_dump --schema-only --schema=sms_otp -h "$work/pg" -p "$port" -U postgres fresh | sed -E '/^\\(un)?restrict /d') \
        <(pg_dump --schema-only --schema=sms_otp -h "$work/pg" -p "$port" -U postgres upgraded | sed -E '/^\\(un)?restrict /d')); then
    ok "pg_dump --schema-only: 1.0 + update equals a fresh 1.1"
else
    not_ok "pg_dump --schema-only: 1.0 + update equals a fresh 1.1 (- fresh, + updated)" "$diff"
fi

# ------------------------------------------------------------------ the comparison can fail
# Each hand-made difference, applied to the fresh install in a transaction that is rolled back,
# must show in catalog.sql's listing: a forgotten statement of that kind in the update script
# would show the same way.
echo "# controls: hand-made differences the comparison must see"
controls=(
    "a column default|ALTER TABLE sms_otp.sms_outbox ALTER COLUMN attempts SET DEFAULT 1"
    "a NOT NULL|ALTER TABLE sms_otp.sms_messages_log ALTER COLUMN outcome SET NOT NULL"
    "a column type|ALTER TABLE sms_otp.sms_messages_log ALTER COLUMN response_time_ms TYPE bigint"
    "the order of a type's attributes|ALTER TYPE sms_otp._guesses DROP ATTRIBUTE failures, ADD ATTRIBUTE failures int"
    "an attribute added to a type|ALTER TYPE sms_otp._config ADD ATTRIBUTE extra int"
    "a column added to a table|ALTER TABLE sms_otp.user_lockouts ADD COLUMN note text"
    "a CHECK constraint|ALTER TABLE sms_otp.sms_outbox DROP CONSTRAINT sms_outbox_kind_check"
    "an index|DROP INDEX sms_otp.sms_outbox_due_otp_idx"
    "an index left behind|CREATE INDEX sms_otp_sessions_ip_created_idx ON sms_otp.sms_otp_sessions (client_ip, created_at)"
    "a trigger disabled|ALTER TABLE sms_otp.api_integrations DISABLE TRIGGER check_integration"
    "a function body|CREATE OR REPLACE FUNCTION sms_otp._client_net(ip inet, ipv6_prefix int) RETURNS cidr LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS 'SELECT pg_catalog.network(ip)'"
    "SECURITY DEFINER|ALTER FUNCTION sms_otp.otp_verify(uuid, text) SECURITY INVOKER"
    "volatility|ALTER FUNCTION sms_otp._lockout_wait(uuid) STABLE"
    "strictness|ALTER FUNCTION sms_otp._client_net(inet, int) STRICT"
    "parallel safety|ALTER FUNCTION sms_otp._hmac(bytea, text) PARALLEL UNSAFE"
    "a function's search_path|ALTER FUNCTION sms_otp._raise(text, int, text, text) SET search_path = ''"
    "a function's owner|ALTER FUNCTION sms_otp.otp_status() OWNER TO service_role"
    "EXECUTE granted|GRANT EXECUTE ON FUNCTION sms_otp._hmac(bytea, text) TO PUBLIC"
    "EXECUTE revoked|REVOKE EXECUTE ON FUNCTION sms_otp.otp_send(text, text) FROM PUBLIC"
    "a function left behind|CREATE FUNCTION sms_otp._count_failure(uid uuid) RETURNS void LANGUAGE sql SET search_path = pg_catalog, pg_temp AS 'SELECT'"
    "a table privilege|GRANT SELECT ON sms_otp.sms_outbox TO anon"
    "a column privilege|GRANT SELECT (phone) ON sms_otp.sms_otp_sessions TO PUBLIC"
    "a sequence privilege|GRANT USAGE ON SEQUENCE sms_otp.sms_outbox_id_seq TO service_role"
    "a schema privilege|GRANT CREATE ON SCHEMA sms_otp TO PUBLIC"
    "RLS enabled|ALTER TABLE sms_otp.user_lockouts DISABLE ROW LEVEL SECURITY"
    "RLS forced|ALTER TABLE sms_otp.sms_outbox FORCE ROW LEVEL SECURITY"
    "a policy's roles|ALTER POLICY own_rows ON sms_otp.sms_messages_log TO authenticated"
    "a policy's USING|ALTER POLICY own_rows ON sms_otp.sms_messages_log USING (user_id = sms_otp.current_user_id())"
    "a policy's WITH CHECK|ALTER POLICY service_all ON sms_otp.api_integrations WITH CHECK (enabled)"
    "a policy left behind|CREATE POLICY service_insert ON sms_otp.sms_otp_sessions FOR INSERT WITH CHECK (sms_otp.is_service_role())"
    "a comment on a function|COMMENT ON FUNCTION sms_otp.otp_verify(uuid, text) IS 'changed'"
    "a comment on a column|COMMENT ON COLUMN sms_otp.sms_outbox.body IS 'the text'"
    "a sequence setting|ALTER SEQUENCE sms_otp.sms_outbox_id_seq CACHE 10"
    "a config-dump table|UPDATE pg_extension SET extconfig = extconfig[1:cardinality(extconfig) - 1], extcondition = extcondition[1:cardinality(extcondition) - 1] WHERE extname = 'sms_otp'"
    "a config-dump filter|UPDATE pg_extension SET extcondition = array_replace(extcondition, '', 'WHERE true') WHERE extname = 'sms_otp'"
    "extension membership|ALTER EXTENSION sms_otp DROP FUNCTION sms_otp._client_net(inet, int)"
)
caught=0
for control in "${controls[@]}"; do
    label=${control%%|*}
    statement=${control#*|}
    if ! out=$(printf '%s\n' 'BEGIN;' "$statement;" "\\i $here/catalog.sql" 'ROLLBACK;' | q fresh -f - 2>&1); then
        not_ok "control: $label (the statement failed)" "$statement"$'\n'"$out"
    elif diff -q "$work/catalog-fresh.txt" - <<<"$out" >/dev/null; then
        not_ok "control: $label is seen by the comparison" "$statement"
    else
        caught=$((caught + 1))
    fi
done
[ "$caught" -eq "${#controls[@]}" ] && ok "controls: each of ${#controls[@]} hand-made differences applied to the fresh install shows in the comparison"

echo "1..$n"
[ "$failed" -eq 0 ]
