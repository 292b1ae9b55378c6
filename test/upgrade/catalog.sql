-- Everything the catalog says about schema sms_otp and the extension, one sorted text line per
-- fact, with no OIDs: two databases hold the same extension exactly when their outputs are equal.
-- test/upgrade/run.sh compares a 1.0 install updated to 1.1 against a fresh 1.1 install with it.
-- ACLs are normalised (NULL means the built-in default, so it is written out as acldefault) and
-- sorted item by item, so the order of GRANTs does not matter but what they grant does.
WITH
ns AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'sms_otp'),
ext AS (SELECT * FROM pg_catalog.pg_extension WHERE extname = 'sms_otp'),
rel AS (SELECT c.* FROM pg_catalog.pg_class c WHERE c.relnamespace = (SELECT oid FROM ns)),
fn AS (SELECT p.* FROM pg_catalog.pg_proc p WHERE p.pronamespace = (SELECT oid FROM ns)),
lines(line) AS (
    -- The schema
    SELECT format('schema sms_otp owner=%s acl=%s', n.nspowner::regrole,
                  (SELECT string_agg(a::text, ',' ORDER BY a::text)
                   FROM unnest(coalesce(n.nspacl, acldefault('n', n.nspowner))) a))
    FROM pg_catalog.pg_namespace n WHERE n.oid = (SELECT oid FROM ns)

    -- The extension: version, schema, config-dump tables with their filters
    UNION ALL
    SELECT format('extension %s version=%s schema=%s relocatable=%s owner=%s',
                  e.extname, e.extversion, e.extnamespace::regnamespace, e.extrelocatable, e.extowner::regrole)
    FROM ext e
    UNION ALL
    SELECT format('extension config-dump %s condition=%L', c.tbl::regclass, c.cond)
    FROM ext e, unnest(e.extconfig, e.extcondition) AS c(tbl, cond)
    -- Every member object of the extension
    UNION ALL
    SELECT format('member %s %s', o.type, o.identity)
    FROM pg_catalog.pg_depend d, ext e, pg_identify_object(d.classid, d.objid, d.objsubid) o
    WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = e.oid AND d.deptype = 'e'
    -- Initial privileges recorded for the members (what pg_dump compares current ACLs with)
    UNION ALL
    SELECT format('init-privs %s %s %s: %s', o.type, o.identity, i.privtype,
                  (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(i.initprivs) a))
    FROM pg_catalog.pg_init_privs i, pg_identify_object(i.classoid, i.objoid, i.objsubid) o
    WHERE o.schema = 'sms_otp'
       OR (i.classoid = 'pg_catalog.pg_namespace'::regclass AND i.objoid = (SELECT oid FROM ns))

    -- Relations: tables, sequences, indexes, composite types
    UNION ALL
    SELECT format('relation %s kind=%s persistence=%s owner=%s rls=%s force-rls=%s options=%s am=%s acl=%s',
                  c.relname, c.relkind, c.relpersistence, c.relowner::regrole, c.relrowsecurity,
                  c.relforcerowsecurity, c.reloptions, coalesce(am.amname, '-'),
                  CASE WHEN c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') THEN
                      (SELECT string_agg(a::text, ',' ORDER BY a::text)
                       FROM unnest(coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's'::"char" ELSE 'r'::"char" END,
                                                                 c.relowner))) a)
                  ELSE '-' END)
    FROM rel c LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
    -- Columns in their visible order (dropped ones skipped), for tables and composite types
    UNION ALL
    SELECT format('column %s #%s %s type=%s not-null=%s default=%s identity=%s generated=%s collation=%s '
                  'stattarget=%s options=%s acl=%s',
                  c.relname, row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum), a.attname,
                  format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid),
                  nullif(a.attidentity, ''), nullif(a.attgenerated, ''),
                  CASE WHEN a.attcollation <> 0 THEN (SELECT collname FROM pg_catalog.pg_collation WHERE oid = a.attcollation) END,
                  a.attstattarget,
                  -- (this build stamps every column with a pg_attver option of its own: not ours)
                  (SELECT array_agg(o ORDER BY o) FROM unnest(a.attoptions) o WHERE o NOT LIKE 'pg\_attver=%'),
                  (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a.attacl) x))
    FROM rel c
    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
    -- Sequences
    UNION ALL
    SELECT format('sequence %s type=%s start=%s increment=%s min=%s max=%s cache=%s cycle=%s owned-by=%s',
                  c.relname, s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache,
                  s.seqcycle,
                  (SELECT string_agg(pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid) || ' (' || d.deptype::text || ')', ', ')
                   FROM pg_catalog.pg_depend d
                   WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
    FROM rel c JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid
    -- Constraints of tables, and of domains and types in the schema
    UNION ALL
    SELECT format('constraint %s %s type=%s deferrable=%s deferred=%s validated=%s no-inherit=%s def=%s',
                  coalesce(cr.relname, ct.typname), k.conname, k.contype, k.condeferrable, k.condeferred,
                  k.convalidated, k.connoinherit, pg_get_constraintdef(k.oid))
    FROM pg_catalog.pg_constraint k
    LEFT JOIN pg_catalog.pg_class cr ON cr.oid = k.conrelid
    LEFT JOIN pg_catalog.pg_type ct ON ct.oid = k.contypid
    WHERE k.connamespace = (SELECT oid FROM ns)
    -- Indexes
    UNION ALL
    SELECT format('index %s %s valid=%s ready=%s clustered=%s replident=%s def=%s',
                  t.relname, ic.relname, i.indisvalid, i.indisready, i.indisclustered, i.indisreplident,
                  pg_get_indexdef(i.indexrelid))
    FROM pg_catalog.pg_index i
    JOIN rel t ON t.oid = i.indrelid
    JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
    -- Triggers written by the extension (not the internal ones of foreign keys, named by OID)
    UNION ALL
    SELECT format('trigger %s %s enabled=%s def=%s', t.relname, g.tgname, g.tgenabled, pg_get_triggerdef(g.oid))
    FROM pg_catalog.pg_trigger g JOIN rel t ON t.oid = g.tgrelid
    WHERE NOT g.tgisinternal
    -- Row-level security policies
    UNION ALL
    SELECT format('policy %s %s cmd=%s permissive=%s roles=%s using=%s with-check=%s',
                  t.relname, p.polname, p.polcmd, p.polpermissive,
                  (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END, ',' ORDER BY 1)
                   FROM unnest(p.polroles) r),
                  pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
    FROM pg_catalog.pg_policy p JOIN rel t ON t.oid = p.polrelid
    -- Functions: attributes, then the full definition line by line (it carries SECURITY
    -- DEFINER, volatility, strictness, parallel safety, cost and the SET clauses)
    UNION ALL
    SELECT format('function %s kind=%s owner=%s secdef=%s volatile=%s strict=%s parallel=%s leakproof=%s '
                  'cost=%s rows=%s config=%s lang=%s acl=%s',
                  p.oid::regprocedure, p.prokind, p.proowner::regrole, p.prosecdef, p.provolatile, p.proisstrict,
                  p.proparallel, p.proleakproof, p.procost, p.prorows, p.proconfig,
                  (SELECT lanname FROM pg_catalog.pg_language WHERE oid = p.prolang),
                  (SELECT string_agg(a::text, ',' ORDER BY a::text)
                   FROM unnest(coalesce(p.proacl, acldefault('f', p.proowner))) a))
    FROM fn p
    UNION ALL
    SELECT format('function %s line %s: %s', p.oid::regprocedure, lpad(l.n::text, 4, '0'), l.text)
    FROM fn p, regexp_split_to_table(pg_get_functiondef(p.oid), E'\n') WITH ORDINALITY AS l(text, n)
    WHERE p.prokind IN ('f', 'p')
    -- Types: composite, domain, enum, base, and the array types PostgreSQL makes for them
    UNION ALL
    SELECT format('type %s type=%s category=%s relation=%s element=%s base=%s not-null=%s default=%s owner=%s acl=%s',
                  t.typname, t.typtype, t.typcategory,
                  (SELECT relkind FROM pg_catalog.pg_class WHERE oid = t.typrelid),
                  nullif(t.typelem, 0)::regtype, nullif(t.typbasetype, 0)::regtype, t.typnotnull, t.typdefault,
                  t.typowner::regrole,
                  (SELECT string_agg(a::text, ',' ORDER BY a::text)
                   FROM unnest(coalesce(t.typacl, acldefault('T', t.typowner))) a))
    FROM pg_catalog.pg_type t WHERE t.typnamespace = (SELECT oid FROM ns)
    UNION ALL
    SELECT format('enum %s #%s %s', t.typname, row_number() OVER (PARTITION BY t.oid ORDER BY e.enumsortorder), e.enumlabel)
    FROM pg_catalog.pg_type t JOIN pg_catalog.pg_enum e ON e.enumtypid = t.oid
    WHERE t.typnamespace = (SELECT oid FROM ns)
    -- Comments on anything in the schema (tables, columns, functions, types, ...), the schema
    -- and the extension
    UNION ALL
    SELECT format('comment %s %s: %s', o.type, o.identity, d.description)
    FROM pg_catalog.pg_description d, pg_identify_object(d.classoid, d.objoid, d.objsubid) o
    WHERE o.schema = 'sms_otp'
       OR (d.classoid = 'pg_catalog.pg_namespace'::regclass AND d.objoid = (SELECT oid FROM ns))
       OR (d.classoid = 'pg_catalog.pg_extension'::regclass AND d.objoid = (SELECT oid FROM ext))
       OR (d.classoid IN ('pg_catalog.pg_policy'::regclass, 'pg_catalog.pg_trigger'::regclass,
                          'pg_catalog.pg_constraint'::regclass)
           AND o.identity LIKE '% on sms_otp.%')
    -- Dependencies between objects of the schema, as pg_depend records them (a policy on the
    -- functions it calls, a default on a sequence, a function on its types, ...)
    UNION ALL
    SELECT format('depends %s -> %s (%s)', pg_describe_object(d.classid, d.objid, d.objsubid),
                  pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid), d.deptype)
    FROM pg_catalog.pg_depend d,
         pg_identify_object(d.classid, d.objid, d.objsubid) o,
         pg_identify_object(d.refclassid, d.refobjid, d.refobjsubid) r
    WHERE d.deptype <> 'e'
      -- foreign keys' internal triggers are named by OID; the constraint line stands for them
      AND NOT (d.classid = 'pg_catalog.pg_trigger'::regclass
               AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g WHERE g.oid = d.objid AND g.tgisinternal))
      AND (o.schema = 'sms_otp' OR o.identity LIKE '% on sms_otp.%')
      AND (r.schema = 'sms_otp' OR r.identity LIKE '% on sms_otp.%'
           OR (d.refclassid = 'pg_catalog.pg_namespace'::regclass AND d.refobjid = (SELECT oid FROM ns)))
)
SELECT line FROM lines ORDER BY line COLLATE "C";
