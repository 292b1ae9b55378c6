-- What pg_dump must carry over, one line per table of schema sms_otp ("table|rows|md5 of the
-- sorted rows") and per sequence ("sequence|name|last value"). The rows are those
-- docs/installing.md §7 says a dump keeps: every row but queued OTP messages in sms_outbox and
-- the builtin rows of sms_keywords and sms_quiet_hours, and the raw rows past the retention
-- horizon of sms_otp.log_retention. sms_otp._secret is left out (a restore
-- makes a new key). A table added to the schema is listed here by itself, so one whose rows a
-- dump loses shows as a difference. The dashboards' rollups are compared as figures: their
-- hourly rows summed over shards (which backend wrote a row, and whether its hour was folded
-- yet, may differ after a restore; the figures may not).
\set ON_ERROR_STOP on
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET extra_float_digits = 3;
SELECT format($q$SELECT 'table|%s|' || count(*) || '|' || coalesce(md5(string_agg(t::text, E'\n' ORDER BY t::text)), '-')
                 FROM %s t %s$q$,
              c.relname,
              CASE c.relname
                  WHEN 'stats_messages' THEN
                      $f$(SELECT start, provider, country, type, sum(attempted), sum(accepted), sum(rejected), sum(retried),
                                 sum(delivered), sum(undelivered), sum(failed), sum(segments), sum(cost)
                          FROM sms_otp.stats_messages WHERE grain = 'h' GROUP BY 1, 2, 3, 4)$f$
                  WHEN 'stats_latency' THEN
                      $f$(SELECT start, provider, country, type, stage, bucket, sum(n), round(sum(ms)::numeric, 3)
                          FROM sms_otp.stats_latency WHERE grain = 'h' GROUP BY 1, 2, 3, 4, 5, 6)$f$
                  WHEN 'stats_otp' THEN
                      $f$(SELECT start, country, prefix, sum(requested), sum(sent), sum(delivered), sum(entered), sum(verified)
                          FROM sms_otp.stats_otp WHERE grain = 'h' GROUP BY 1, 2, 3)$f$
                  ELSE format('sms_otp.%I', c.relname) END,
              CASE c.relname
                  WHEN 'sms_outbox' THEN $w$WHERE t.kind <> 'otp' OR t.status <> 'queued'$w$
                  WHEN 'sms_keywords' THEN 'WHERE NOT t.builtin'
                  WHEN 'sms_quiet_hours' THEN 'WHERE NOT t.builtin'
                  -- past sms_otp.log_retention: the dashboards' rollups hold them (dashboards.sql)
                  WHEN 'sms_messages_log' THEN 'WHERE t.created_at >= sms_otp._stats_horizon()'
                  WHEN 'sms_delivery_events' THEN 'WHERE t.received_at >= sms_otp._stats_horizon()'
                  WHEN 'sms_otp_sessions' THEN 'WHERE t.created_at >= sms_otp._stats_horizon() OR t.expires_at >= now()'
                  WHEN 'stats_messages' THEN '' WHEN 'stats_latency' THEN '' WHEN 'stats_otp' THEN ''
                  ELSE '' END)
FROM pg_catalog.pg_class c
WHERE c.relnamespace = 'sms_otp'::regnamespace AND c.relkind IN ('r', 'p') AND c.relname <> '_secret'
ORDER BY c.relname \gexec
SELECT 'sequence|' || s.sequencename || '|' || coalesce(s.last_value::text, 'not used')
FROM pg_catalog.pg_sequences s WHERE s.schemaname = 'sms_otp' ORDER BY s.sequencename;
