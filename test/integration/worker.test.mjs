// The delivery worker against the mock provider: each adapter's request byte for byte,
// fallback, backoff, the hint, expiry, crash safety, reload and restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Mock, waitFor, enqueue, outbox, delivered, useStack } from './harness.mjs';

const cluster = new Cluster([
  'sms_otp.poll_interval = 200ms',
  'sms_otp.lease = 5s',
  'sms_otp.retry_delay = 200ms',
  'sms_otp.request_timeout = 2s',
  'sms_otp.resend_cooldown = 0',
  'sms_otp.rate_limit_per_minute = 1000000',
  'sms_otp.rate_limit_per_day = 1000000',
]);
const mock = new Mock();
const secret = 'whsec_' + Buffer.from('a webhook secret of 32 bytes!!!!').toString('base64');

function providers(rows) {
  cluster.sql('DELETE FROM sms_otp.api_integrations');
  for (const r of rows) {
    cluster.sql(`INSERT INTO sms_otp.api_integrations (name, kind, priority, base_url, sender, credentials, selectable)
      VALUES ('${r.name}', '${r.kind}', ${r.priority ?? 10}, ${r.base_url === null ? 'NULL' : `'${r.base_url ?? mock.url}'`},
              ${r.sender ? `'${r.sender}'` : 'NULL'}, '${JSON.stringify(r.credentials ?? {})}', ${r.selectable ?? false})`);
  }
}

const twilio = { name: 'twilio', kind: 'twilio', sender: '+15005550006', credentials: { account_sid: 'AC0123456789abcdef0123456789abcdef', auth_token: 'tok' } };
const vonage = { name: 'vonage', kind: 'vonage', sender: 'Acme', credentials: { api_key: 'key1', api_secret: 'sec1' } };

useStack(cluster, mock);

test('twilio: form-encoded Messages request with Basic auth', async () => {
  providers([twilio]);
  const id = enqueue(cluster, { body: 'Your code is 123456 & more' });
  const o = await delivered(cluster, id);
  assert.equal(o.status, 'sent');
  const [r] = await mock.requests('twilio');
  assert.equal(r.method, 'POST');
  assert.equal(r.path, '/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json');
  assert.deepEqual(r.auth, { scheme: 'Basic', user: 'AC0123456789abcdef0123456789abcdef', password: 'tok' });
  assert.match(r.headers['content-type'], /^application\/x-www-form-urlencoded/);
  assert.equal(r.form.To, '+14155550100');
  assert.equal(r.form.From, '+15005550006');
  assert.equal(r.form.Body, 'Your code is 123456 & more');
  assert.match(r.body, /Body=Your%20code%20is%20123456%20%26%20more/);
  // The provider's message id is kept.
  assert.match(cluster.value(`SELECT provider_message_id FROM sms_otp.sms_outbox WHERE id = ${id}`), /^SM[0-9a-f]{32}$/);
});

test('vonage: form with key, secret, to without plus and client-ref', async () => {
  providers([vonage]);
  const id = enqueue(cluster, { body: 'hi' });
  assert.equal((await delivered(cluster, id)).status, 'sent');
  const [r] = await mock.requests('vonage');
  assert.equal(r.path, '/sms/json');
  assert.equal(r.form.api_key, 'key1');
  assert.equal(r.form.api_secret, 'sec1');
  assert.equal(r.form.to, '14155550100');
  assert.equal(r.form.from, 'Acme');
  assert.equal(r.form.text, 'hi');
  assert.equal(r.form['client-ref'], String(id));
});

test('messagebird: JSON with AccessKey and reference', async () => {
  providers([{ name: 'mb', kind: 'messagebird', sender: 'Acme', credentials: { access_key: 'live_abc' } }]);
  const id = enqueue(cluster, { body: 'hi there' });
  assert.equal((await delivered(cluster, id)).status, 'sent');
  const [r] = await mock.requests('messagebird');
  assert.equal(r.path, '/messages');
  assert.equal(r.headers.authorization, 'AccessKey live_abc');
  assert.match(r.headers['content-type'], /^application\/json/);
  assert.equal(r.json.originator, 'Acme');
  assert.equal(r.json.body, 'hi there');
  assert.equal(r.json.reference, String(id));
  assert.equal(String(r.json.recipients[0]), '14155550100');
});

test('plivo: JSON with Basic auth to the account path', async () => {
  providers([{ name: 'plivo', kind: 'plivo', sender: '+15005550006', credentials: { auth_id: 'MAXXXX', auth_token: 'ptok' } }]);
  const id = enqueue(cluster, { body: 'plivo msg' });
  assert.equal((await delivered(cluster, id)).status, 'sent');
  const [r] = await mock.requests('plivo');
  assert.equal(r.path, '/v1/Account/MAXXXX/Message/');
  assert.deepEqual(r.auth, { scheme: 'Basic', user: 'MAXXXX', password: 'ptok' });
  assert.equal(r.json.src, '+15005550006');
  assert.equal(r.json.text, 'plivo msg');
  assert.match(String(r.json.dst), /^\+?14155550100$/);
});

test('webhook: Standard Webhooks signature over id.timestamp.body', async () => {
  await mock.config({ webhook: { secret } });
  providers([{ name: 'hook', kind: 'webhook', base_url: `${mock.url}/webhook/sms`, credentials: { secret } }]);
  const id = enqueue(cluster, { body: 'signed' });
  assert.equal((await delivered(cluster, id)).status, 'sent');
  const [r] = await mock.requests('webhook');
  assert.equal(r.path, '/webhook/sms');
  assert.equal(r.signature_valid ?? true, true);
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key).update(`${r.headers['webhook-id']}.${r.headers['webhook-timestamp']}.${r.body}`).digest('base64');
  assert.equal(r.headers['webhook-signature'], `v1,${expected}`);
  assert.equal(r.headers['webhook-id'], `msg_${id}`);
  assert.ok(Math.abs(Number(r.headers['webhook-timestamp']) - Date.now() / 1000) < 60);
  assert.equal(r.json.data.to, '+14155550100');
  assert.equal(r.json.data.text, 'signed');
});

test('console: logged, marked sent, no HTTP', async () => {
  providers([{ name: 'console', kind: 'console', base_url: null }]);
  const id = enqueue(cluster, { body: 'to the log' });
  const o = await delivered(cluster, id);
  assert.equal(o.status, 'sent');
  assert.equal(o.provider, 'console');
  assert.equal((await mock.requests()).length, 0);
});

test('fallback: a 500 moves the message to the next provider, both attempts logged', async () => {
  providers([{ ...twilio, priority: 1 }, { ...vonage, priority: 2 }]);
  await mock.fault({ provider: 'twilio', mode: 'status', status: 500, count: 1 });
  const id = enqueue(cluster);
  const o = await delivered(cluster, id);
  assert.equal(o.status, 'sent');
  assert.equal(o.provider, 'vonage');
  const log = cluster.sql(`SELECT provider_name, status_code, outcome FROM sms_otp.sms_messages_log WHERE outbox_id = ${id} ORDER BY id`);
  assert.deepEqual(log, [['twilio', '500', 'retry'], ['vonage', '200', 'sent']]);
});

test('fallback: a timeout moves the message on, logged with no status', async () => {
  providers([{ ...twilio, priority: 1 }, { ...vonage, priority: 2 }]);
  cluster.reload({ 'sms_otp.request_timeout': '500ms' });
  try {
    await sleep(300);
    await mock.fault({ provider: 'twilio', mode: 'timeout', count: 1 });
    const id = enqueue(cluster);
    const o = await delivered(cluster, id);
    assert.equal(o.provider, 'vonage');
    const [[status, ms, outcome]] = cluster.sql(`SELECT status_code, response_time_ms, outcome FROM sms_otp.sms_messages_log WHERE outbox_id = ${id} AND provider_name = 'twilio'`);
    assert.equal(status, '0');
    assert.equal(outcome, 'retry');
    assert.ok(Number(ms) >= 450 && Number(ms) < 2000, `timed out after ${ms} ms`);
  } finally {
    cluster.reload({ 'sms_otp.request_timeout': '2s' });
  }
});

test('429: the provider backs off until Retry-After and is not asked before', async () => {
  providers([{ ...twilio, priority: 1 }, { ...vonage, priority: 2 }]);
  await mock.fault({ provider: 'twilio', mode: 'status', status: 429, retry_after: 3, count: 1 });
  const t0 = Date.now();
  const first = enqueue(cluster);
  assert.equal((await delivered(cluster, first)).provider, 'vonage');
  const throttledAt = Date.now();
  const status = JSON.parse(cluster.value('SELECT sms_otp.worker_status()'));
  const tw = status.providers.find((p) => p.name === 'twilio');
  assert.equal(tw.available, false);
  assert.ok(tw.backoff_until);
  // Within the backoff every message skips twilio.
  for (let i = 0; i < 3; i++) {
    const id = enqueue(cluster);
    assert.equal((await delivered(cluster, id)).provider, 'vonage');
  }
  assert.ok(Date.now() - t0 < 3000, 'the check ran inside the backoff window');
  assert.equal((await mock.requests('twilio')).length, 1);
  await sleep(Math.max(0, 3300 - (Date.now() - throttledAt)));
  const later = enqueue(cluster);
  assert.equal((await delivered(cluster, later)).provider, 'twilio');
});

test('vonage throttling (HTTP 200, status "1") is a backoff too', async () => {
  providers([{ ...vonage, priority: 1 }, { ...twilio, priority: 2 }]);
  await mock.fault({ provider: 'vonage', mode: 'throttle', count: 1 });
  const id = enqueue(cluster);
  assert.equal((await delivered(cluster, id)).provider, 'twilio');
  const [[outcome]] = cluster.sql(`SELECT outcome FROM sms_otp.sms_messages_log WHERE outbox_id = ${id} AND provider_name = 'vonage'`);
  assert.equal(outcome, 'throttled');
});

test('a dropped connection moves the message on', async () => {
  providers([{ ...twilio, priority: 1 }, { ...vonage, priority: 2 }]);
  // Two: libcurl retries once by itself when a reused keep-alive connection was closed.
  await mock.fault({ provider: 'twilio', mode: 'drop', count: 2 });
  const id = enqueue(cluster);
  assert.equal((await delivered(cluster, id)).provider, 'vonage');
  const [[status, outcome]] = cluster.sql(`SELECT status_code, outcome FROM sms_otp.sms_messages_log WHERE outbox_id = ${id} AND provider_name = 'twilio'`);
  assert.deepEqual([status, outcome], ['0', 'retry']);
});

test('repeated failures open the circuit breaker: the provider is skipped until the cooldown', async () => {
  providers([{ ...twilio, priority: 1 }, { ...vonage, priority: 2 }]);
  cluster.reload({ 'sms_otp.breaker_threshold': '3', 'sms_otp.breaker_cooldown': '2s' });
  try {
    await sleep(300);
    await mock.fault({ provider: 'twilio', mode: 'status', status: 502, count: 3 });
    for (let i = 0; i < 3; i++) assert.equal((await delivered(cluster, enqueue(cluster))).provider, 'vonage');
    const tw = JSON.parse(cluster.value('SELECT sms_otp.worker_status()')).providers.find((p) => p.name === 'twilio');
    assert.equal(tw.available, false);
    assert.ok(tw.breaker_open_until);
    // Open: twilio is not asked even though it would answer now.
    assert.equal((await delivered(cluster, enqueue(cluster))).provider, 'vonage');
    assert.equal((await mock.requests('twilio')).length, 3);
    await sleep(2200);
    // Half-open after the cooldown: one success closes it.
    assert.equal((await delivered(cluster, enqueue(cluster))).provider, 'twilio');
  } finally {
    cluster.reload({ 'sms_otp.breaker_threshold': '5', 'sms_otp.breaker_cooldown': '30s' });
  }
});

test('SIGTERM: the worker exits cleanly and a new one takes over', async () => {
  providers([twilio]);
  const pid = cluster.workerPid();
  cluster.sql(`SELECT pg_terminate_backend(${pid})`, 'postgres');
  await waitFor('a new worker', () => { const p = cluster.workerPid(); return p > 0 && p !== pid; });
  const log = readFileSync(`${cluster.dir}/pg/server.log`, 'utf8');
  assert.match(log, new RegExp(`\\(PID ${pid}\\) exited with exit code 1`));
  assert.doesNotMatch(log, new RegExp(`\\(PID ${pid}\\) was terminated by signal`));
  const id = enqueue(cluster);
  assert.equal((await delivered(cluster, id)).status, 'sent');
});

test('401: credentials refused mark the provider unhealthy and the next one sends', async () => {
  providers([{ ...twilio, priority: 1 }, { ...vonage, priority: 2 }]);
  await mock.config({ twilio: { account_sid: twilio.credentials.account_sid, auth_token: 'another' } });
  const id = enqueue(cluster);
  assert.equal((await delivered(cluster, id)).provider, 'vonage');
  const tw = JSON.parse(cluster.value('SELECT sms_otp.worker_status()')).providers.find((p) => p.name === 'twilio');
  assert.equal(tw.credentials_refused, true);
  assert.equal(tw.available, false);
});

test('the hint picks a selectable provider, then priority resumes', async () => {
  providers([{ ...twilio, priority: 1 }, { ...vonage, priority: 2, selectable: true }]);
  const hinted = enqueue(cluster, { hint: 'vonage' });
  assert.equal((await delivered(cluster, hinted)).provider, 'vonage');
  const plain = enqueue(cluster);
  assert.equal((await delivered(cluster, plain)).provider, 'twilio');
});

test('a hint naming a provider that is not selectable is ignored by the worker too', async () => {
  // otp_send drops such hints; an outbox row written some other way is routed by priority.
  providers([{ ...twilio, priority: 1 }, { ...vonage, priority: 2 }]);
  const hinted = enqueue(cluster, { hint: 'vonage' });
  assert.equal((await delivered(cluster, hinted)).provider, 'twilio');
  assert.equal((await mock.requests('vonage')).length, 0);
});

test('no provider answering: the message waits and fails after the maximum attempts', async () => {
  providers([twilio]);
  cluster.reload({ 'sms_otp.max_send_attempts': '3' });
  try {
    await sleep(300);
    await mock.fault({ provider: 'twilio', mode: 'status', status: 503 });
    const id = enqueue(cluster);
    const o = await delivered(cluster, id, 20000);
    assert.equal(o.status, 'failed');
    assert.equal(o.attempts, 3);
    assert.equal(Number(cluster.value(`SELECT count(*) FROM sms_otp.sms_messages_log WHERE outbox_id = ${id}`)), 3);
  } finally {
    cluster.reload({ 'sms_otp.max_send_attempts': '5' });
  }
});

test('an OTP that expired in the queue is not sent', async () => {
  providers([twilio]);
  cluster.sql("UPDATE sms_otp.api_integrations SET enabled = false");
  const id = enqueue(cluster, { kind: 'otp', body: 'code 123456', expires: 'now()' });
  cluster.sql("UPDATE sms_otp.api_integrations SET enabled = true");
  cluster.sql(`UPDATE sms_otp.sms_outbox SET expires_at = now() - interval '1 second', next_attempt_at = now() WHERE id = ${id}`);
  const o = await delivered(cluster, id);
  assert.equal(o.status, 'expired');
  assert.equal(o.body, '<null>');
  assert.equal((await mock.requests()).length, 0);
});

test('the OTP flow end to end: the code reaches the phone, the log has it masked, the body is scrubbed', async () => {
  providers([twilio]);
  const user = 'a0000000-0000-4000-8000-0000000000e2';
  cluster.sql(`INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES ('${user}', '+14155550111', true)
               ON CONFLICT (user_id) DO NOTHING`);
  const claims = `SET request.jwt.claims = '{"sub":"${user}","session_id":"login-1"}';`;
  const [[sent]] = cluster.sql(`${claims} SELECT sms_otp.otp_send()`);
  const session = JSON.parse(sent).session_id;
  const msg = await waitFor('the SMS', async () => (await mock.inbox()).find((m) => m.to === '+14155550111'));
  assert.match(msg.code, /^\d{6}$/);
  await waitFor('session sent', () => cluster.value(`SELECT status FROM sms_otp.sms_otp_sessions WHERE id = '${session}'`) === 'sent');
  const [[pname, psid]] = cluster.sql(`SELECT provider_name, provider_session_id FROM sms_otp.sms_otp_sessions WHERE id = '${session}'`);
  assert.equal(pname, 'twilio');
  assert.match(psid, /^SM/);
  const [[text]] = cluster.sql(`SELECT text FROM sms_otp.sms_messages_log WHERE session_id = '${session}'`);
  assert.ok(!text.includes(msg.code), 'the log keeps no code');
  assert.match(text, /\*{6}/);
  assert.equal(cluster.value(`SELECT coalesce(body, '<null>') FROM sms_otp.sms_outbox WHERE session_id = '${session}'`), '<null>');
  const [[verified]] = cluster.sql(`${claims} SELECT sms_otp.otp_verify('${session}', '${msg.code}')`);
  assert.equal(JSON.parse(verified).verified, true);
});

test('twilio_verify: the provider sends and checks the code', async () => {
  const verify = { name: 'verify', kind: 'twilio_verify', credentials: { ...twilio.credentials, service_sid: 'VA0123456789abcdef0123456789abcdef' } };
  providers([verify]);
  const user = 'a0000000-0000-4000-8000-0000000000e3';
  cluster.sql(`INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES ('${user}', '+14155550122', true)
               ON CONFLICT (user_id) DO NOTHING`);
  const claims = `SET request.jwt.claims = '{"sub":"${user}","session_id":"login-1"}';`;
  const session = JSON.parse(cluster.sql(`${claims} SELECT sms_otp.otp_send()`)[0][0]).session_id;
  const msg = await waitFor('the SMS', async () => (await mock.inbox()).find((m) => m.to === '+14155550122'));
  await waitFor('session sent', () => cluster.value(`SELECT status FROM sms_otp.sms_otp_sessions WHERE id = '${session}'`) === 'sent');
  const [r] = await mock.requests('twilio_verify');
  assert.equal(r.path, '/v2/Services/VA0123456789abcdef0123456789abcdef/Verifications');
  assert.equal(r.form.To, '+14155550122');
  assert.equal(r.form.Channel, 'sms');
  const wrong = msg.code === '000000' ? '111111' : '000000';
  const bad = JSON.parse(cluster.sql(`${claims} SELECT sms_otp.otp_verify('${session}', '${wrong}')`)[0][0]);
  assert.equal(bad.reason, 'invalid_code');
  const good = JSON.parse(cluster.sql(`${claims} SELECT sms_otp.otp_verify('${session}', '${msg.code}')`)[0][0]);
  assert.equal(good.verified, true);
  const checks = (await mock.requests('twilio_verify')).filter((x) => x.path.endsWith('/VerificationCheck'));
  assert.equal(checks.length, 2);
  assert.equal(checks[1].form.Code, msg.code);
});

test('kill -9 of the worker while draining hundreds loses none and leaves none stuck', async () => {
  providers([twilio]);
  await mock.config({ delay_ms: 300 });
  const n = 600;
  cluster.sql(`INSERT INTO sms_otp.sms_outbox (kind, "to", body)
               SELECT 'transactional', '+14155550100', 'bulk ' || g FROM generate_series(1, ${n}) g`);
  const ids = cluster.sql(`SELECT id FROM sms_otp.sms_outbox WHERE body LIKE 'bulk %'`).map((r) => r[0]);
  await waitFor('some sent', () => Number(cluster.value("SELECT count(*) FROM sms_otp.sms_outbox WHERE body IS NOT NULL AND body LIKE 'bulk %' AND status = 'sent'")) > 20);
  const pid = cluster.workerPid();
  execFileSync('kill', ['-9', String(pid)]);
  await waitFor('a new worker', () => { try { const p = cluster.workerPid(); return p > 0 && p !== pid; } catch { return false; } }, { timeout: 30000 });
  await waitFor('every message settled', () => {
    try {
      return Number(cluster.value(`SELECT count(*) FROM sms_otp.sms_outbox WHERE id IN (${ids.join(',')}) AND status = 'queued'`)) === 0;
    } catch { return false; }
  }, { timeout: 60000, interval: 200 });
  const statuses = cluster.sql(`SELECT status, count(*) FROM sms_otp.sms_outbox WHERE id IN (${ids.join(',')}) GROUP BY 1`);
  assert.deepEqual(statuses, [['sent', String(n)]]);
  // At least once: every message reached the provider.
  const seen = new Set((await mock.requests('twilio')).map((r) => r.form.Body));
  for (let i = 1; i <= n; i++) assert.ok(seen.has(`bulk ${i}`), `bulk ${i} reached the provider`);
  await mock.config({ delay_ms: 0 });
});

test('SIGHUP: a changed timeout applies without a restart', async () => {
  providers([twilio]);
  await mock.fault({ provider: 'twilio', mode: 'slow', delay_ms: 800 });
  cluster.reload({ 'sms_otp.request_timeout': '300ms', 'sms_otp.max_send_attempts': '1' });
  const pid = cluster.workerPid();
  try {
    await sleep(300);
    const a = enqueue(cluster);
    assert.equal((await delivered(cluster, a)).status, 'failed');
    cluster.reload({ 'sms_otp.request_timeout': '5s' });
    await sleep(300);
    const b = enqueue(cluster);
    assert.equal((await delivered(cluster, b)).status, 'sent');
    assert.equal(cluster.workerPid(), pid, 'same worker process');
  } finally {
    cluster.reload({ 'sms_otp.request_timeout': '2s', 'sms_otp.max_send_attempts': '5' });
  }
});

test('a postmaster restart: the worker comes back and sends what was queued meanwhile', async () => {
  providers([twilio]);
  cluster.stop();
  cluster.start();
  await waitFor('the worker', () => cluster.workerPid() > 0);
  const id = enqueue(cluster);
  assert.equal((await delivered(cluster, id)).status, 'sent');
  const status = JSON.parse(cluster.value('SELECT sms_otp.worker_status()'));
  assert.equal(status.running, true);
  assert.ok(status.sent >= 1);
});
