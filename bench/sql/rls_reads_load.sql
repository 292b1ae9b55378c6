-- Data for bench/rls_reads.sh: :users users with OTP on, :rows sessions and :rows log rows
-- spread over them by a hash (about :rows / :users each, over the last 30 days), and two probe
-- users whose reads are timed. psql variables: users, rows, part:
--   part=base      the extension, the users, the probe users' own rows (run first)
--   part=sessions  the sessions    } run at once, each in its own session: each table is emptied
--   part=log       the log rows    } and filled in one transaction, its indexes built after the
--                                    fill (with wal_level = minimal nothing is written to WAL)
-- User n has the uuid 00000000-0000-4000-8000-<n in 12 hex digits>. The history's sessions belong
-- to logins "h<n>-<0..6>", never to the probe logins:
--   probe 1 (no SMS step passed): user 1, login "probe-login-1": 3 sessions of its own login
--   probe 2 (SMS step passed):    user 2, login "probe-login-2": the same, one of them verified
--                                 now, so _step_passed() is true for that login
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET maintenance_work_mem = '512MB';

SELECT :'part' = 'base' AS base, :'part' = 'sessions' AS sessions, :'part' = 'log' AS log \gset

\if :base
CREATE EXTENSION IF NOT EXISTS sms_otp;
CREATE SCHEMA IF NOT EXISTS bench;
CREATE FUNCTION bench.user_id(n int) RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ('00000000-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid;

-- Phones are written in E.164 already: the normalising trigger is left out of the load.
ALTER TABLE sms_otp.user_contact_settings DISABLE TRIGGER USER;
INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled)
SELECT bench.user_id(n), '+4474' || lpad(n::text, 8, '0'), true FROM generate_series(1, :users) n;
ALTER TABLE sms_otp.user_contact_settings ENABLE TRIGGER USER;
INSERT INTO sms_otp.api_integrations (name, kind, priority) VALUES ('console', 'console', 10);
VACUUM (ANALYZE) sms_otp.user_contact_settings;
\endif

\if :sessions
BEGIN;
TRUNCATE sms_otp.sms_otp_sessions;
CREATE TEMP TABLE kept_indexes AS
SELECT pg_get_indexdef(i.indexrelid) AS def, i.indexrelid::regclass::text AS name
FROM pg_index i WHERE i.indrelid = 'sms_otp.sms_otp_sessions'::regclass AND NOT i.indisprimary;
SELECT format('DROP INDEX %s', name) FROM kept_indexes \gexec
ALTER TABLE sms_otp.sms_otp_sessions DROP CONSTRAINT sms_otp_sessions_pkey;
-- Session ids are md5-based: as evenly spread as gen_random_uuid(), at a fraction of its cost.
INSERT INTO sms_otp.sms_otp_sessions
    (id, user_id, phone, client_ip, client_net, login_session, provider_name, provider_session_id, status,
     attempts, max_attempts, expires_at, resend_available_at, created_at, sent_at, verified_at, updated_at)
SELECT md5('session' || g)::uuid, bench.user_id(n), '+4474' || lpad(n::text, 8, '0'), ip, ip::cidr,
       'h' || n || '-' || g % 7, 'console', 'SM' || to_hex(g), status,
       CASE WHEN status = 'locked' THEN 5 ELSE g % 2 END, 5,
       t + interval '5 minutes', t + interval '30 seconds', t, t + interval '2 seconds',
       CASE WHEN status = 'verified' THEN t + interval '40 seconds' END, t + interval '1 minute'
FROM (SELECT g, 1 + (hashint4(g) & 2147483647) % :users AS n,
             ('10.' || (g / 65536 % 256) || '.' || (g / 256 % 256) || '.' || (g % 256))::inet AS ip,
             now() - interval '1 hour' - (g % 2592000) * interval '1 second' AS t,
             CASE WHEN g % 100 < 75 THEN 'verified' WHEN g % 100 < 88 THEN 'expired'
                  WHEN g % 100 < 96 THEN 'superseded' WHEN g % 100 < 99 THEN 'failed'
                  ELSE 'locked' END AS status
      FROM generate_series(1, :rows) g) x;
-- The probe users' own logins: three sessions each, the last one of probe 2 verified just now.
INSERT INTO sms_otp.sms_otp_sessions
    (user_id, phone, login_session, provider_name, status, attempts, max_attempts, expires_at,
     resend_available_at, created_at, sent_at, verified_at)
SELECT bench.user_id(p), '+4474' || lpad(p::text, 8, '0'), 'probe-login-' || p, 'console',
       CASE WHEN p = 2 AND k = 3 THEN 'verified' ELSE 'expired' END, 0, 5,
       now() - (3 - k) * interval '1 hour' + interval '5 minutes', now(), now() - (3 - k) * interval '1 hour',
       now() - (3 - k) * interval '1 hour', CASE WHEN p = 2 AND k = 3 THEN now() END
FROM generate_series(1, 2) p, generate_series(1, 3) k;
ALTER TABLE sms_otp.sms_otp_sessions ADD CONSTRAINT sms_otp_sessions_pkey PRIMARY KEY (id);
SELECT def FROM kept_indexes \gexec
COMMIT;
VACUUM (ANALYZE) sms_otp.sms_otp_sessions;
\endif

\if :log
BEGIN;
TRUNCATE sms_otp.sms_messages_log;
CREATE TEMP TABLE kept_indexes AS
SELECT pg_get_indexdef(i.indexrelid) AS def, i.indexrelid::regclass::text AS name
FROM pg_index i WHERE i.indrelid = 'sms_otp.sms_messages_log'::regclass AND NOT i.indisprimary;
SELECT format('DROP INDEX %s', name) FROM kept_indexes \gexec
ALTER TABLE sms_otp.sms_messages_log DROP CONSTRAINT sms_messages_log_pkey;
INSERT INTO sms_otp.sms_messages_log
    (user_id, "to", type, text, provider_name, status_code, response_time_ms, outcome, created_at)
SELECT bench.user_id(n), '+4474' || lpad(n::text, 8, '0'), CASE WHEN g % 10 = 0 THEN 'transactional' ELSE 'otp' END,
       'Your verification code is ******. It expires in 5 min.', 'console', 200, 80 + g % 400, 'sent', t
FROM (SELECT g, 1 + (hashint4(g + 7) & 2147483647) % :users AS n,
             now() - interval '1 hour' - (hashint4(g) & 2147483647) % 2592000 * interval '1 second' AS t
      FROM generate_series(1, :rows) g) x;
ALTER TABLE sms_otp.sms_messages_log ADD CONSTRAINT sms_messages_log_pkey PRIMARY KEY (id);
SELECT def FROM kept_indexes \gexec
COMMIT;
VACUUM (ANALYZE) sms_otp.sms_messages_log;
\endif
