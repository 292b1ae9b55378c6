-- A snapshot of what database A holds, taken before the update (phase=before) and after it
-- (phase=after), into upgrade_check.snapshot: for every table of the extension its row count and
-- a digest of its rows over the columns it had before the update (columns an update adds are
-- checked on their own), every sequence's position, the key of the code hashes, and each
-- table's OID and file node (the same objects, not rewritten: the update needs no dump and
-- restore). psql variable: phase.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE TABLE IF NOT EXISTS upgrade_check.columns_before AS
SELECT c.relname AS tbl,
       string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) AS cols
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relnamespace = 'sms_otp'::regnamespace AND c.relkind = 'r'
GROUP BY c.relname;

CREATE TABLE IF NOT EXISTS upgrade_check.snapshot (phase text, item text, value text, PRIMARY KEY (phase, item));

CREATE OR REPLACE FUNCTION upgrade_check.table_digest(tbl text, cols text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    EXECUTE format($q$SELECT count(*) || ' rows, md5 ' || md5(coalesce(string_agg(r::text, E'\n' ORDER BY r::text), ''))
                      FROM (SELECT %s FROM sms_otp.%I) r$q$, cols, tbl)
        INTO result;
    RETURN result;
END $$;

DELETE FROM upgrade_check.snapshot WHERE phase = :'phase';
INSERT INTO upgrade_check.snapshot
SELECT :'phase', 'rows of ' || b.tbl, upgrade_check.table_digest(b.tbl, b.cols)
FROM upgrade_check.columns_before b
UNION ALL
SELECT :'phase', 'sequence ' || s.sequencename, format('last_value=%s', s.last_value)
FROM pg_sequences s WHERE s.schemaname = 'sms_otp'
UNION ALL
SELECT :'phase', 'secret', md5(k.key) FROM sms_otp._secret k
UNION ALL
SELECT :'phase', 'file of ' || c.relname, format('oid=%s relfilenode=%s', c.oid, c.relfilenode)
FROM pg_class c WHERE c.relnamespace = 'sms_otp'::regnamespace AND c.relkind = 'r';
