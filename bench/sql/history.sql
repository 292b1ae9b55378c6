-- History: :rows sessions and :rows log rows spread evenly over the users and the last 30
-- days (for 10 million rows and 100,000 users: 100 sessions per user, 3 a day), all settled
-- long ago. psql variables: rows, part (sessions | log), so the two parts can load at once.
-- Indexes are dropped for the load and built again after it: the end state is the same as
-- inserting row by row, in a fraction of the time.
SET maintenance_work_mem = '512MB';

CREATE FUNCTION pg_temp.bulk_load(tbl regclass, fill text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    indexes text[];
    pk_name text;
    pk_def  text;
    def     text;
BEGIN
    SELECT array_agg(pg_get_indexdef(i.indexrelid)) INTO indexes
    FROM pg_index i
    WHERE i.indrelid = tbl AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid);
    SELECT c.conname, pg_get_constraintdef(c.oid) INTO pk_name, pk_def
    FROM pg_constraint c WHERE c.conrelid = tbl AND c.contype = 'p';
    FOR def IN
        SELECT format('DROP INDEX %s', i.indexrelid::regclass)
        FROM pg_index i
        WHERE i.indrelid = tbl AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
    LOOP
        EXECUTE def;
    END LOOP;
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', tbl, pk_name);

    EXECUTE fill;

    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', tbl, pk_name, pk_def);
    FOREACH def IN ARRAY coalesce(indexes, '{}') LOOP
        EXECUTE def;
    END LOOP;
END $$;

-- Session ids are md5-based: as evenly spread as gen_random_uuid(), at a fraction of its cost.
SELECT CASE :'part'
WHEN 'sessions' THEN format($q$SELECT pg_temp.bulk_load('sms_otp.sms_otp_sessions', %L)$q$, format($fill$
    INSERT INTO sms_otp.sms_otp_sessions
        (id, user_id, phone, client_ip, client_net, login_session, provider_name, provider_session_id, status,
         attempts, max_attempts, expires_at, resend_available_at, created_at, sent_at, verified_at, updated_at)
    SELECT md5('session' || x.g)::uuid, u.id, u.phone, u.ip, sms_otp._client_net(u.ip, 64), 'history',
           'twilio', 'SM' || to_hex(x.g),
           x.status, CASE WHEN x.status = 'locked' THEN 5 ELSE x.g %% 2 END, 5,
           x.t + interval '5 minutes', x.t + interval '30 seconds', x.t, x.t + interval '2 seconds',
           CASE WHEN x.status = 'verified' THEN x.t + interval '40 seconds' END, x.t + interval '1 minute'
    FROM (SELECT g, 1 + (hashint4(g) & 2147483647) %% (SELECT count(*) FROM bench.users) AS n,
                 now() - interval '10 minutes' - (g %% 2592000) * interval '1 second' AS t,
                 CASE WHEN g %% 100 < 75 THEN 'verified' WHEN g %% 100 < 88 THEN 'expired'
                      WHEN g %% 100 < 96 THEN 'superseded' WHEN g %% 100 < 99 THEN 'failed'
                      ELSE 'locked' END AS status
          FROM generate_series(1, %s) g) x
    JOIN bench.users u USING (n)
    $fill$, :rows))
WHEN 'log' THEN format($q$SELECT pg_temp.bulk_load('sms_otp.sms_messages_log', %L)$q$, format($fill$
    INSERT INTO sms_otp.sms_messages_log
        (user_id, "to", type, text, provider_name, status_code, response_time_ms, outcome, created_at)
    SELECT u.id, u.phone, CASE WHEN x.g %% 10 = 0 THEN 'transactional' ELSE 'otp' END,
           'Your verification code is ******. It expires in 5 min.', 'twilio', 201, 80 + x.g %% 400, 'sent', x.t
    FROM (SELECT g, 1 + (hashint4(g + 7) & 2147483647) %% (SELECT count(*) FROM bench.users) AS n,
                 now() - interval '10 minutes' - (hashint4(g) & 2147483647) %% 2592000 * interval '1 second' AS t
          FROM generate_series(1, %s) g) x
    JOIN bench.users u USING (n)
    $fill$, :rows))
END \gexec

-- Settled history, as autovacuum would leave it: visibility map set, statistics fresh.
SELECT format('VACUUM (ANALYZE) %s', CASE :'part' WHEN 'sessions' THEN 'sms_otp.sms_otp_sessions'
                                                  ELSE 'sms_otp.sms_messages_log' END) \gexec
