// A hostile provider against the worker: endless and dripping answers, header floods, a
// redirect loop, an absurd Retry-After, NUL bytes in ids, broken JSON. Each time the worker
// process survives (same pid, postmaster not restarted), the hostile attempt is logged with a
// sensible error, and the other messages of the same round are sent exactly once. Then the
// writing of results under failure, and a message whose send kills the worker every time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Mock, waitFor, enqueue, enqueueAll, outbox, delivered, useStack } from './harness.mjs';
import { HostileServer } from './hostile_server.mjs';

const cluster = new Cluster([
  'sms_otp.poll_interval = 200ms',
  'sms_otp.lease = 5s',
  'sms_otp.retry_delay = 200ms',
  'sms_otp.request_timeout = 2s',
  'sms_otp.max_send_attempts = 3',
  'sms_otp.resend_cooldown = 0',
  'sms_otp.rate_limit_per_minute = 1000000',
  'sms_otp.rate_limit_per_day = 1000000',
]);
const mock = new Mock();
const hostile = new HostileServer();

const twilioCreds = { account_sid: 'AC0123456789abcdef0123456789abcdef', auth_token: 'tok' };
const twilio = { name: 'twilio', kind: 'twilio', sender: '+15005550006', credentials: twilioCreds };

function providers(rows) {
  cluster.sql('DELETE FROM sms_otp.api_integrations');
  for (const r of rows) {
    cluster.sql(`INSERT INTO sms_otp.api_integrations (name, kind, priority, base_url, sender, credentials, selectable)
      VALUES ('${r.name}', '${r.kind}', ${r.priority ?? 10}, '${r.base_url ?? mock.url}', '${r.sender ?? 'Acme'}',
              '${JSON.stringify(r.credentials)}', ${r.selectable ?? false})`);
  }
}

// The mock first for ordinary messages; the hostile one only for messages that hint at it.
function evilAndMock(mode, kind = 'twilio') {
  const credentials = kind === 'vonage' ? { api_key: 'key1', api_secret: 'sec1' } : twilioCreds;
  providers([{ ...twilio, priority: 1 }, { name: 'evil', kind, priority: 2, base_url: `${hostile.url}/${mode}`, credentials, selectable: true }]);
}

function log(id) {
  return cluster.sql(`SELECT provider_name, outcome, coalesce(error, ''), status_code FROM sms_otp.sms_messages_log
                      WHERE outbox_id = ${id} ORDER BY id`);
}

function serverLog() { return readFileSync(`${cluster.dir}/pg/server.log`, 'utf8'); }

// One hostile message and three ordinary ones, queued together so the worker claims them in one
// round. Returns what happened to the hostile one after checking the ordinary ones. With
// `lease`, wait out a lease first: a result lost on the way to the table shows up as a second send.
async function round(mode, kind, { lease = false } = {}) {
  evilAndMock(mode, kind);
  const pid = cluster.workerPid();
  const started = cluster.postmasterStart();
  const tag = `${mode}-${Date.now()}`;
  const [evil, ...ok] = enqueueAll(cluster, [
    { hint: 'evil', body: `hostile ${tag}` },
    { body: `ok 1 ${tag}` }, { body: `ok 2 ${tag}` }, { body: `ok 3 ${tag}` },
  ]);
  const settled = await delivered(cluster, evil, 30000);
  for (const id of ok) assert.equal((await delivered(cluster, id, 30000)).status, 'sent');
  if (lease) await sleep(6000);
  const bodies = (await mock.requests('twilio')).map((r) => r.form.Body);
  for (const [i, id] of ok.entries()) {
    const body = `ok ${i + 1} ${tag}`;
    assert.equal(bodies.filter((b) => b === body).length, 1, `${body} reached the provider once`);
    assert.deepEqual(log(id).map((r) => [r[0], r[1]]), [['twilio', 'sent']], `${body} logged once`);
    const o = outbox(cluster, id);
    assert.deepEqual([o.status, o.attempts], ['sent', 1]);
  }
  assert.equal(cluster.workerPid(), pid, 'the same worker process');
  assert.equal(cluster.postmasterStart(), started, 'the postmaster did not restart');
  assert.doesNotMatch(serverLog(), /terminated by signal|server process .* was terminated/);
  return { id: evil, outbox: settled, log: log(evil) };
}

useStack(cluster, mock, [hostile]);

test('an endless body is cut at sms_otp.max_response_bytes', async () => {
  const r = await round('endless', 'twilio', { lease: true });
  assert.deepEqual(r.log[0].slice(0, 3), ['evil', 'retry', 'answer too large: more than 65536 bytes']);
  assert.equal(r.outbox.provider, 'twilio', 'the next provider sent it');
  assert.ok(hostile.sent.endless < 64 * 1024 * 1024, `the worker hung up early (${hostile.sent.endless} bytes sent)`);
});

test('an endless body from the only provider: the message fails after its attempts', async () => {
  providers([{ name: 'evil', kind: 'twilio', base_url: `${hostile.url}/endless`, credentials: twilioCreds }]);
  const pid = cluster.workerPid();
  const id = enqueue(cluster, { body: 'alone' });
  const o = await delivered(cluster, id, 30000);
  assert.equal(o.status, 'failed');
  assert.equal(o.attempts, 3);
  assert.equal(cluster.value(`SELECT last_error FROM sms_otp.sms_outbox WHERE id = ${id}`),
    'every provider failed this message (last: answer too large: more than 65536 bytes)');
  assert.equal(hostile.count('endless'), 3);
  assert.equal(cluster.workerPid(), pid);
});

test('a smaller sms_otp.max_response_bytes applies on reload', async () => {
  cluster.reload({ 'sms_otp.max_response_bytes': '2kB' });
  try {
    await sleep(300);
    const r = await round('endless');
    assert.equal(r.log[0][2], 'answer too large: more than 2048 bytes');
  } finally {
    cluster.reload({ 'sms_otp.max_response_bytes': '64kB' });
  }
});

test('a body dripping one byte a second ends at the request timeout', async () => {
  const r = await round('drip');
  assert.deepEqual(r.log[0].slice(0, 3), ['evil', 'retry', 'no answer: timed out']);
  assert.equal(r.outbox.provider, 'twilio');
});

test('endless headers are cut at 64 KiB', async () => {
  const r = await round('headers');
  assert.deepEqual(r.log[0].slice(0, 3), ['evil', 'retry', 'answer too large: headers of more than 65536 bytes']);
  assert.ok(hostile.sent.headers < 64 * 1024 * 1024);
});

test('a redirect loop is not followed: one request per attempt', async () => {
  const r = await round('redirect');
  assert.deepEqual(r.log[0], ['evil', 'retry', 'HTTP 302', '302']);
  assert.equal(hostile.count('redirect'), 1);
  assert.equal(r.outbox.provider, 'twilio');
});

test('a 429 with an absurd Retry-After backs off at most a day', async () => {
  const before = Date.now();
  const r = await round('throttle');
  assert.equal(r.log[0][0], 'evil');
  assert.equal(r.log[0][1], 'throttled');
  assert.equal(r.outbox.provider, 'twilio');
  const evil = JSON.parse(cluster.value('SELECT sms_otp.worker_status()')).providers.find((p) => p.name === 'evil');
  const until = Date.parse(evil.backoff_until);
  assert.ok(until > before + 86400000 - 60000 && until <= Date.now() + 86400000 + 1000, evil.backoff_until);
});

test('NUL bytes and a 1000-byte message id: stored cleaned and cut, the round intact', async () => {
  const r = await round('nul', 'twilio', { lease: true });
  assert.equal(r.outbox.status, 'sent');
  assert.equal(r.outbox.provider, 'evil');
  const id = cluster.value(`SELECT provider_message_id FROM sms_otp.sms_outbox WHERE id = ${r.id}`);
  assert.equal(id, 'SM' + 'x'.repeat(126));
  assert.equal(cluster.value(`SELECT provider_message_id FROM sms_otp.sms_messages_log WHERE outbox_id = ${r.id}`), id);
});

test('JSON cut off halfway: an unreadable answer, tried elsewhere', async () => {
  const r = await round('malformed', 'vonage');
  assert.deepEqual(r.log[0].slice(0, 3), ['evil', 'retry', 'HTTP 200: unreadable answer']);
  assert.equal(r.outbox.provider, 'twilio');
});

// ---------------------------------------------------------------- writing results

// A trigger that fails the worker's statements on demand: a stand-in for a deadlock, a
// serialization failure or a value the table refuses.
function installSabotage() {
  cluster.sql(`
    CREATE TABLE IF NOT EXISTS public.sabotage (what text PRIMARY KEY);
    CREATE OR REPLACE FUNCTION public.sabotage_claim() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.attempts > OLD.attempts AND EXISTS (SELECT 1 FROM public.sabotage WHERE what = 'claim') THEN
        RAISE EXCEPTION 'sabotaged claim';
      END IF;
      RETURN NEW;
    END $$;
    CREATE OR REPLACE FUNCTION public.sabotage_log() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.text LIKE 'poison%' THEN RAISE EXCEPTION 'sabotaged log row'; END IF;
      RETURN NEW;
    END $$;
    DROP TRIGGER IF EXISTS sabotage_claim ON sms_otp.sms_outbox;
    CREATE TRIGGER sabotage_claim BEFORE UPDATE ON sms_otp.sms_outbox FOR EACH ROW EXECUTE FUNCTION public.sabotage_claim();
    DROP TRIGGER IF EXISTS sabotage_log ON sms_otp.sms_messages_log;
    CREATE TRIGGER sabotage_log BEFORE INSERT ON sms_otp.sms_messages_log FOR EACH ROW EXECUTE FUNCTION public.sabotage_log();`);
}

function removeSabotage() {
  cluster.sql(`DROP TRIGGER IF EXISTS sabotage_claim ON sms_otp.sms_outbox;
               DROP TRIGGER IF EXISTS sabotage_log ON sms_otp.sms_messages_log;
               DELETE FROM public.sabotage;`);
}

test('results survive a failing claim: written on their own, sent once', async () => {
  providers([twilio]);
  installSabotage();
  // Polling all the time, and woken all the time: the rounds that carry the answers claim too.
  cluster.reload({ 'sms_otp.poll_interval': '10ms' });
  let waker;
  try {
    await sleep(300);
    await mock.fault({ provider: 'twilio', mode: 'slow', delay_ms: 1500, count: 5 });
    const tag = Date.now();
    const firsts = enqueueAll(cluster, [1, 2, 3, 4, 5].map((i) => ({ body: `answered while claims fail ${i} ${tag}` })));
    await waitFor('the requests in flight', async () => (await mock.requests('twilio')).length === 5);
    // From now on every claim that finds a due message fails; one is due.
    cluster.sql("INSERT INTO public.sabotage VALUES ('claim')");
    const second = enqueue(cluster, { body: 'waits for the claim' });
    waker = spawn('psql', ['-X', '-q', '-h', `${cluster.dir}/pg`, '-p', String(cluster.port), '-U', 'postgres', '-d', cluster.db,
      '-c', `DO $$ BEGIN FOR i IN 1..2000 LOOP PERFORM sms_otp._wake_worker_on_commit(); COMMIT; PERFORM pg_sleep(0.002); END LOOP; END $$`],
    { stdio: 'ignore' });
    for (const id of firsts) assert.equal((await delivered(cluster, id, 10000)).status, 'sent');
    assert.equal(outbox(cluster, second).status, 'queued');
    // Results are written in transactions of their own; the claims are what fail.
    assert.match(serverLog(), /sms_otp worker could not claim messages.*sabotaged claim/);
    cluster.sql('DELETE FROM public.sabotage');
    assert.equal((await delivered(cluster, second, 10000)).status, 'sent');
    await sleep(6000);  // a lost result would bring its message back after the lease
    const bodies = (await mock.requests('twilio')).map((r) => r.form.Body);
    for (let i = 1; i <= 5; i++) assert.equal(bodies.filter((b) => b === `answered while claims fail ${i} ${tag}`).length, 1);
    for (const id of firsts) assert.equal(log(id).length, 1);
  } finally {
    waker?.kill();
    removeSabotage();
    cluster.reload({ 'sms_otp.poll_interval': '200ms' });
  }
});

test('a result the database refuses is dropped alone after two failed rounds; the rest are written once', async () => {
  providers([twilio]);
  installSabotage();
  try {
    const pid = cluster.workerPid();
    const tag = Date.now();
    const [poison, ...ok] = enqueueAll(cluster, [
      { body: `poison ${tag}` }, { body: `fine 1 ${tag}` }, { body: `fine 2 ${tag}` }, { body: `fine 3 ${tag}` },
    ]);
    for (const id of ok) assert.equal((await delivered(cluster, id, 15000)).status, 'sent');
    assert.equal((await delivered(cluster, poison, 15000)).status, 'sent', 'its outbox result is fine and written');
    await sleep(6000);
    const bodies = (await mock.requests('twilio')).map((r) => r.form.Body);
    for (const id of ok) assert.equal(log(id).length, 1);
    for (let i = 1; i <= 3; i++) assert.equal(bodies.filter((b) => b === `fine ${i} ${tag}`).length, 1);
    assert.equal(bodies.filter((b) => b === `poison ${tag}`).length, 1);
    assert.equal(log(poison).length, 0, 'only the refused log row is gone');
    assert.match(serverLog(), new RegExp(`dropped the log row of an attempt of message ${poison}: sabotaged log row`));
    assert.equal(cluster.workerPid(), pid);
  } finally {
    removeSabotage();
  }
});

// ---------------------------------------------------------------- a send that kills the worker

test('a message whose send kills the worker every time fails after max_send_attempts claims', async () => {
  providers([twilio]);
  const user = 'a0000000-0000-4000-8000-0000000000f1';
  cluster.sql(`INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES ('${user}', '+14155550177', true)
               ON CONFLICT (user_id) DO NOTHING`);
  await mock.fault({ provider: 'twilio', mode: 'timeout' });  // held: the send is in flight until we kill
  const claims = `SET request.jwt.claims = '{"sub":"${user}","session_id":"login-kill"}';`;
  const session = JSON.parse(cluster.sql(`${claims} SELECT sms_otp.otp_send()`)[0][0]).session_id;
  const id = Number(cluster.value(`SELECT id FROM sms_otp.sms_outbox WHERE session_id = '${session}'`));
  const started = cluster.postmasterStart();
  // Codes are the code worker's: it is the process the send kills.
  for (let k = 1; k <= 3; k++) {
    await waitFor(`send ${k} in flight`, async () => (await mock.requests('twilio')).length === k, { timeout: 30000 });
    const pid = cluster.codeWorkerPid();
    cluster.sql(`SELECT pg_terminate_backend(${pid})`, 'postgres');
    await waitFor('a new code worker', () => { const p = cluster.codeWorkerPid(); return p > 0 && p !== pid; });
  }
  const o = await delivered(cluster, id, 30000);
  assert.equal(o.status, 'failed');
  assert.equal(o.attempts, 3);
  assert.equal(o.body, '<null>', 'the code left the outbox');
  assert.equal(cluster.value(`SELECT last_error FROM sms_otp.sms_outbox WHERE id = ${id}`), 'claimed 3 times without a result');
  assert.equal(cluster.value(`SELECT status FROM sms_otp.sms_otp_sessions WHERE id = '${session}'`), 'failed');
  assert.equal(cluster.value(`SELECT code_hash IS NULL FROM sms_otp.sms_otp_sessions WHERE id = '${session}'`), 't');
  await sleep(1000);
  assert.equal((await mock.requests('twilio')).length, 3, 'not handed out a fourth time');
  assert.equal(cluster.postmasterStart(), started);
});
