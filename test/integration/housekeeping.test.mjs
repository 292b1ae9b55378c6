// The worker's chores: expired idempotency keys go, in small batches, without a caller.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, Mock, waitFor, useStack } from './harness.mjs';

const cluster = new Cluster(['sms_otp.poll_interval = 200ms']);
const mock = new Mock();
useStack(cluster, mock);

test('expired idempotency keys are deleted, batch after batch; live ones stay', async () => {
  // More than one batch of them (500 a batch).
  cluster.sql(`INSERT INTO sms_otp.sms_idempotency_keys (key, request_hash, response, expires_at)
    SELECT 'old-' || g, '\\x00', '{}', now() - interval '1 minute' FROM generate_series(1, 1200) g`);
  cluster.sql(`INSERT INTO sms_otp.sms_idempotency_keys (key, request_hash, response, expires_at)
    VALUES ('live', '\\x00', '{}', now() + interval '1 day')`);
  // A worker starting does its chores at once; afterwards once a minute.
  const pid = cluster.workerPid();
  cluster.sql(`SELECT pg_terminate_backend(${pid})`, 'postgres');
  await waitFor('a new worker', () => { const p = cluster.workerPid(); return p > 0 && p !== pid; });
  await waitFor('the expired keys gone', () =>
    cluster.value("SELECT count(*) FROM sms_otp.sms_idempotency_keys WHERE key LIKE 'old-%'") === '0');
  assert.deepEqual(cluster.sql('SELECT key FROM sms_otp.sms_idempotency_keys'), [['live']]);
});
