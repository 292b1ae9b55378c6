// Lanes: codes are claimed before transactional and promo messages, and keep request slots of
// their own, so no backlog of the other kinds stands between a user and their code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Mock, waitFor, useStack } from './harness.mjs';

const maxInFlight = 16;
const reserved = 4;
const cluster = new Cluster([
  'sms_otp.poll_interval = 200ms',
  'sms_otp.lease = 60s',
  'sms_otp.request_timeout = 20s',
  'sms_otp.resend_cooldown = 0',
  'sms_otp.rate_limit_per_minute = 1000000',
  'sms_otp.rate_limit_per_day = 1000000',
  `sms_otp.max_in_flight = ${maxInFlight}`,
  `sms_otp.otp_reserved_in_flight = ${reserved}`,
]);
const mock = new Mock();
useStack(cluster, mock);

const user = 'a0000000-0000-4000-8000-00000000a001';
const phone = '+14155550199';

function twilio() {
  cluster.sql('DELETE FROM sms_otp.api_integrations');
  cluster.sql(`INSERT INTO sms_otp.api_integrations (name, kind, base_url, sender, credentials)
    VALUES ('twilio', 'twilio', '${mock.url}', '+15005550006',
            '{"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "tok"}')`);
  cluster.sql(`INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES ('${user}', '${phone}', true)
               ON CONFLICT (user_id) DO NOTHING`);
}

// Rows queued as a superuser would, in one statement: no wake-up, the poll finds them.
function backlog(n, kind = 'transactional') {
  cluster.sql(`INSERT INTO sms_otp.sms_outbox (kind, "to", body)
               SELECT '${kind}', '+14155550100', '${kind} ' || g FROM generate_series(1, ${n}) g`);
}

function otpSend() {
  const claims = JSON.stringify({ sub: user, role: 'authenticated', session_id: 'lanes' });
  const out = cluster.value(`SELECT sms_otp.otp_send()
    FROM (SELECT set_config('request.jwt.claims', '${claims}', true)) AS request`);
  return JSON.parse(out);
}

const isCode = (r) => r.form?.To === phone;
// Queued and not yet claimed (a claimed message keeps status queued, with a lease).
const waiting = (kind) => Number(cluster.value(
  `SELECT count(*) FROM sms_otp.sms_outbox WHERE kind = '${kind}' AND status = 'queued' AND lease_until IS NULL`));

test('a code goes ahead of 20,000 queued transactional messages', async () => {
  twilio();
  // Slow enough that the backlog takes half a minute: the code must not wait for it.
  await mock.config({ delay_ms: 20 });
  try {
    backlog(20000);
    await waitFor('the backlog to start', async () => (await mock.call('GET', '/_mock/stats')).total > 50);
    const started = Date.now();
    const { session_id: session } = otpSend();
    assert.ok(session, 'otp_send queued a code');
    const code = await waitFor('the code at the provider', async () => (await mock.requests('twilio')).find(isCode),
      { interval: 10 });
    const latency = Date.now() - started;
    const before = code.seq - 1;  // requests the mock had seen before the code
    const left = waiting('transactional');
    // From otp_send's transaction to the provider, by the clocks of the database and the mock.
    const queuedAt = Number(cluster.value(
      `SELECT extract(epoch FROM created_at) * 1000 FROM sms_otp.sms_otp_sessions WHERE id = '${session}'`));
    console.log(`# code reached the provider ${Date.parse(code.time) - queuedAt} ms after otp_send began `
      + `(${latency} ms as the test saw it), after ${before} of 20000 transactional requests`);
    assert.ok(before < 2000, `the code came after ${before} transactional requests`);
    assert.ok(left > 15000, `only ${left} transactional messages were still waiting`);
    // Generous next to the backlog's half minute: the latch woke the worker, no poll was awaited.
    assert.ok(latency < 3000, `the code took ${latency} ms`);
    await waitFor('the session sent', () =>
      cluster.value(`SELECT status FROM sms_otp.sms_otp_sessions WHERE id = '${session}'`) === 'sent');
  } finally {
    cluster.sql("UPDATE sms_otp.sms_outbox SET status = 'cancelled' WHERE status = 'queued'");
    await mock.config({ delay_ms: 0 });
  }
});

test('transactional and promo messages never take the slots kept for codes', async () => {
  twilio();
  // Every request is held at the provider for a while: the slots stay taken.
  await mock.fault({ provider: 'twilio', mode: 'slow', delay_ms: 4000 });
  backlog(60);
  backlog(30, 'promo');
  const others = maxInFlight - reserved;
  const held = async () => (await mock.requests('twilio')).filter((r) => r.status === null);
  await waitFor(`${others} requests held`, async () => (await held()).length >= others);
  await sleep(500);  // time for the worker to take more, if it would
  assert.equal((await held()).length, others, 'other messages fill all but the reserved slots');
  assert.equal(JSON.parse(cluster.value('SELECT sms_otp.worker_status()')).in_flight, others);

  const started = Date.now();
  otpSend();
  const code = await waitFor('the code at the provider', async () => (await held()).find(isCode), { interval: 10 });
  const latency = Date.now() - started;
  assert.ok(code, 'the code took a reserved slot');
  assert.ok(latency < 2000, `the code took ${latency} ms while every other slot was held`);
  const stillHeld = (await held()).filter((r) => !isCode(r));
  assert.equal(stillHeld.length, others, 'the other requests were still at the provider');
  // Claim order: transactional messages before promo ones.
  assert.ok(stillHeld.every((r) => r.form.Body.startsWith('transactional ')), 'no promo message went first');
  // Claimed ahead: three times as many again wait in the worker, ready for the next free slot;
  // no more (the worker holds four times the slots it may use).
  assert.equal(waiting('transactional'), 60 - 4 * others);
  assert.equal(waiting('promo'), 30);
  await mock.call('DELETE', '/_mock/faults');
  // Sent to the end (the held requests, those claimed ahead, the promo lane), so none of them
  // meets the next test's faults.
  await waitFor('the backlog sent', () => cluster.value(
    "SELECT count(*) FROM sms_otp.sms_outbox WHERE kind IN ('transactional', 'promo') AND status = 'queued'") === '0',
  { timeout: 30000 });
});

test('a drain whose results are written in parts: each message sent once, every attempt logged, codes sent meanwhile', async () => {
  twilio();
  cluster.sql(`INSERT INTO sms_otp.api_integrations (name, kind, priority, base_url, sender, credentials)
    VALUES ('vonage', 'vonage', 200, '${mock.url}', 'Acme', '{"api_key": "key1", "api_secret": "sec1"}')`);
  // Room for a few hundred answers between two rounds: more results than one part takes.
  // The breaker stays shut: a message claimed ahead and sent after the refusals would otherwise
  // skip twilio for vonage, and only the 60 refused ones are to go there.
  cluster.reload({ 'sms_otp.max_in_flight': 300, 'sms_otp.otp_reserved_in_flight': 8, 'sms_otp.batch_size': 300,
    'sms_otp.breaker_threshold': 1000 });
  await mock.config({ delay_ms: 30 });
  // The first 60 requests to twilio for the backlog's number fail: those messages go on to
  // vonage, two attempts each (the codes go to another number, whenever they come).
  await mock.fault({ provider: 'twilio', to: '+14155550100', mode: 'status', status: 500, count: 60 });
  const n = 1500;
  try {
    await waitFor('the settings', () => cluster.value("SELECT current_setting('sms_otp.max_in_flight')") === '300');
    await sleep(300);  // the worker's reload
    const first = Number(cluster.value('SELECT coalesce(max(id), 0) + 1 FROM sms_otp.sms_outbox'));
    const tag = `parts ${Date.now()}`;
    cluster.sql(`INSERT INTO sms_otp.sms_outbox (kind, "to", body)
                 SELECT 'transactional', '+14155550100', '${tag} ' || g FROM generate_series(1, ${n}) g`);
    const mine = `kind = 'transactional' AND id >= ${first}`;
    // The refusals go to the backlog alone: codes come once they are past.
    await waitFor('the backlog to start', async () => (await mock.call('GET', '/_mock/stats')).total > 100);
    const sessions = [];
    for (let i = 0; i < 5; i++) {
      await sleep(100);
      sessions.push(otpSend().session_id);
    }
    await waitFor('the backlog sent', () => waiting('transactional') === 0
      && cluster.value(`SELECT count(*) FROM sms_otp.sms_outbox WHERE ${mine} AND status = 'sent'`) === String(n),
    { timeout: 60000 });
    // Each code replaces the one before it: the last is sent, and none is left behind.
    await waitFor('the last code sent', () =>
      cluster.value(`SELECT status FROM sms_otp.sms_otp_sessions WHERE id = '${sessions.at(-1)}'`) === 'sent');
    const codesSent = Number(cluster.value(`SELECT count(*) FROM sms_otp.sms_outbox WHERE session_id IN
      (SELECT id FROM sms_otp.sms_otp_sessions WHERE id::text = ANY ('{${sessions.join(',')}}')) AND status = 'sent'`));
    assert.ok(codesSent >= 1, 'codes were sent during the drain');

    // Each message claimed once and taken by one provider once.
    const requests = await mock.requests();
    const taken = new Map();
    for (const r of requests) {
      const body = r.provider === 'twilio' ? r.form?.Body : r.form?.text;
      if (!body?.startsWith(tag) || r.fault) continue;
      taken.set(body, (taken.get(body) ?? 0) + 1);
    }
    // A code replaced while in flight was still taken by the provider: at most once each.
    const codeBodies = requests.filter((r) => !r.fault && (r.form?.To === phone || r.form?.to === phone.slice(1)))
      .map((r) => r.form.Body ?? r.form.text);
    assert.ok(codeBodies.length >= codesSent && codeBodies.length <= sessions.length, `${codeBodies.length} codes taken`);
    assert.equal(new Set(codeBodies).size, codeBodies.length, 'no code was taken twice');
    assert.equal(taken.size, n, 'every message reached a provider');
    assert.ok([...taken.values()].every((c) => c === 1), 'no message was taken twice');
    assert.equal(cluster.value(`SELECT count(*) FROM sms_otp.sms_outbox WHERE ${mine} AND attempts <> 1`), '0');
    // One log row per attempt: a sent one per message, carrying the message's delivery state as
    // its result left it, and the 60 refusals of twilio before vonage took those messages.
    const [[sent, retried, accepted, messages]] = cluster.sql(`
      SELECT count(*) FILTER (WHERE l.outcome = 'sent'), count(*) FILTER (WHERE l.outcome <> 'sent'),
             count(*) FILTER (WHERE l.outcome = 'sent' AND l.delivery_status = 'accepted'),
             count(DISTINCT l.outbox_id) FILTER (WHERE l.outcome = 'sent')
      FROM sms_otp.sms_messages_log l JOIN sms_otp.sms_outbox o ON o.id = l.outbox_id
      WHERE o.kind = 'transactional' AND o.id >= ${first}`);
    assert.deepEqual([sent, retried, accepted, messages], [String(n), '60', String(n), String(n)]);
    assert.equal(cluster.value(`SELECT count(*) FROM sms_otp.sms_outbox WHERE ${mine} AND provider_name = 'vonage'`), '60');
  } finally {
    cluster.sql("UPDATE sms_otp.sms_outbox SET status = 'cancelled' WHERE status = 'queued'");
    cluster.sql('DELETE FROM sms_otp.api_integrations WHERE name = \'vonage\'');
    for (const k of ['sms_otp.max_in_flight', 'sms_otp.otp_reserved_in_flight', 'sms_otp.batch_size', 'sms_otp.breaker_threshold'])
      cluster.sql(`ALTER SYSTEM RESET ${k}`, 'postgres');
    cluster.sql('SELECT pg_reload_conf()', 'postgres');
    await mock.config({ delay_ms: 0 });
    await sleep(300);  // the worker's reload
  }
});

const status = () => JSON.parse(cluster.value('SELECT sms_otp.worker_status()'));

test('codes have a worker process of their own: the delivery worker claims none while it runs', async () => {
  twilio();
  const before = status();
  assert.equal(before.code_worker?.running, true, 'worker_status() shows the code worker');
  assert.equal(before.code_worker.pid, cluster.codeWorkerPid());
  assert.notEqual(before.code_worker.pid, before.pid, 'a process apart from the delivery worker');
  const { session_id: session } = otpSend();
  await waitFor('the code sent', () =>
    cluster.value(`SELECT status FROM sms_otp.sms_otp_sessions WHERE id = '${session}'`) === 'sent');
  const after = status();
  // Each process stamps the rounds in which it claimed something.
  assert.notEqual(after.code_worker.last_batch_at, before.code_worker.last_batch_at, 'the code worker claimed it');
  assert.equal(after.last_batch_at, before.last_batch_at, 'the delivery worker claimed nothing');

  // A transactional message is the delivery worker's, never the code worker's.
  backlog(1);
  await waitFor('the message sent', () => waiting('transactional') === 0
    && cluster.value("SELECT count(*) FROM sms_otp.sms_outbox WHERE kind = 'transactional' AND status = 'queued'") === '0');
  const third = status();
  assert.notEqual(third.last_batch_at, after.last_batch_at, 'the delivery worker claimed it');
  assert.equal(third.code_worker.last_batch_at, after.code_worker.last_batch_at, 'the code worker did not');
});

test('the code worker stopped: codes still go out, and it comes back', async () => {
  twilio();
  const pid = cluster.codeWorkerPid();
  assert.ok(pid > 0);
  cluster.sql(`SELECT pg_terminate_backend(${pid})`, 'postgres');
  // Sent at once: while no code worker runs, the delivery worker sends codes too.
  const sessions = [];
  for (let i = 0; i < 3; i++) {
    sessions.push(otpSend().session_id);
    await sleep(300);
  }
  await waitFor('the last code sent', () =>
    cluster.value(`SELECT status FROM sms_otp.sms_otp_sessions WHERE id = '${sessions.at(-1)}'`) === 'sent');
  await waitFor('a new code worker', () => { const p = cluster.codeWorkerPid(); return p > 0 && p !== pid; });
  await waitFor('worker_status() shows it', () => status().code_worker.pid === cluster.codeWorkerPid());
  const { session_id: session } = otpSend();
  await waitFor('a code sent by the new one', () =>
    cluster.value(`SELECT status FROM sms_otp.sms_otp_sessions WHERE id = '${session}'`) === 'sent');
});

test('only commits in the database the workers serve wake them', () => {
  cluster.sql('DROP DATABASE IF EXISTS lanes_other', 'postgres');
  cluster.sql('CREATE DATABASE lanes_other', 'postgres');
  try {
    cluster.sql('CREATE EXTENSION sms_otp', 'lanes_other');
    const wakeups = () => Number(status().wakeups);
    const before = wakeups();
    for (let i = 0; i < 5; i++) cluster.sql('SELECT sms_otp._wake_worker_on_commit()', 'lanes_other');
    assert.equal(wakeups(), before, 'commits in another database woke nobody');
    cluster.sql('SELECT sms_otp._wake_worker_on_commit()');
    assert.equal(wakeups(), before + 1, 'a commit in the served database wakes the delivery worker');
    // A code's commit wakes the code worker, not the delivery worker.
    cluster.sql('SELECT sms_otp._wake_code_worker_on_commit()');
    assert.equal(wakeups(), before + 1, "a code's commit leaves the delivery worker asleep");
  } finally {
    cluster.sql('DROP DATABASE IF EXISTS lanes_other', 'postgres');
  }
});
