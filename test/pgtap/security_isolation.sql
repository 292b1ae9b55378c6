-- Hole 9: sends are serialised by advisory locks, which hold only at READ COMMITTED. At
-- REPEATABLE READ (or SERIALIZABLE) the snapshot is older than the lock, so two sends could both
-- pass a limit (1.0 let them); 1.1 refuses with a clear error instead. Codes can still be
-- checked at any level: the session row is locked and wrong codes are counted outside the
-- transaction.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT plan(3);

\ir request.psql

INSERT INTO sms_otp.api_integrations (name, kind, priority) VALUES ('console', 'console', 10);
INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled)
VALUES ('5ec00010-0000-4000-8000-000000000010', '+14155550310', true);

SELECT pg_temp.request('authenticated',
    '{"sub": "5ec00010-0000-4000-8000-000000000010", "role": "authenticated", "session_id": "rr"}', NULL,
    'sms_otp.otp_send()') AS r \gset
SELECT is(:'r'::jsonb #>> '{error,code}', 'unsupported_isolation', 'otp_send refuses REPEATABLE READ');
SELECT is(:'r'::jsonb -> 'status', '500', '... as a server error (the database is set up wrong, not the request)');
SELECT is((SELECT count(*) FROM sms_otp.sms_outbox), 0::bigint, '... and queues nothing');

SELECT * FROM finish();
ROLLBACK;
