// sms_otp.code_worker = off: one worker process sends every kind of message, codes first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, Mock, useStack, enqueue, delivered } from './harness.mjs';

const cluster = new Cluster(['sms_otp.code_worker = off', 'sms_otp.poll_interval = 200ms']);
const mock = new Mock();
useStack(cluster, mock);

test('no code worker: the delivery worker sends codes and the rest', async () => {
  cluster.sql(`INSERT INTO sms_otp.api_integrations (name, kind, base_url, sender, credentials)
    VALUES ('twilio', 'twilio', '${mock.url}', '+15005550006',
            '{"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "tok"}')`);
  assert.equal(cluster.codeWorkerPid(), 0, 'no code worker process');
  const status = JSON.parse(cluster.value('SELECT sms_otp.worker_status()'));
  assert.equal(status.running, true);
  assert.equal(status.code_worker, null);
  assert.equal(cluster.value("SELECT current_setting('sms_otp.code_worker')"), 'off');
  const code = enqueue(cluster, { kind: 'otp', body: 'Your code is 123456' });
  const other = enqueue(cluster, { body: 'Your order shipped' });
  assert.equal((await delivered(cluster, code)).status, 'sent');
  assert.equal((await delivered(cluster, other)).status, 'sent');
  const bodies = (await mock.requests('twilio')).map((r) => r.form.Body);
  assert.deepEqual(bodies.sort(), ['Your code is 123456', 'Your order shipped']);
});
