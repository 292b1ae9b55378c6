// Several delivery workers per database (sms_otp.workers), several databases (sms_otp.database),
// and a provider's cap on requests open at once shared by them all (max_concurrent): every
// message sent once, the cap held and used, a killed worker's messages sent again within the
// crash bound, each database's workers its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Mock, root, waitFor, useStack } from './harness.mjs';

const workers = 3;
const maxInFlight = 64;
const other = 'sms_otp_it_b';  // the second database the workers serve
const cluster = new Cluster([
  `sms_otp.workers = ${workers}`,
  `sms_otp.database = 'sms_otp_it, ${other}'`,
  `sms_otp.max_in_flight = ${maxInFlight}`,
  // Two databases of a code worker and three delivery workers each, and PostgreSQL's own.
  'max_worker_processes = 16',
  // Generous: a loaded machine makes no request time out, nor a claim outlive its lease. Tests of
  // leases run with the least there is (withLease).
  'sms_otp.lease = 30s',
  'sms_otp.request_timeout = 20s',
  'sms_otp.poll_interval = 200ms',
  'sms_otp.retry_delay = 200ms',
  'sms_otp.resend_cooldown = 0',
  'sms_otp.rate_limit_per_minute = 1000000',
  'sms_otp.rate_limit_per_day = 1000000',
]);
const mock = new Mock();
useStack(cluster, mock);

const sid = { [cluster.db]: 'AC0123456789abcdef0123456789abcdef', [other]: 'ACfedcba9876543210fedcba9876543210' };

// One twilio provider pointing at the mock, its account telling the databases apart.
function provider(db = cluster.db, { maxConcurrent = null } = {}) {
  cluster.sql('DELETE FROM sms_otp.api_integrations', db);
  cluster.sql(`INSERT INTO sms_otp.api_integrations (name, kind, base_url, sender, credentials, max_concurrent)
    VALUES ('twilio', 'twilio', '${mock.url}', '+15005550006',
            '{"account_sid": "${sid[db]}", "auth_token": "tok"}', ${maxConcurrent ?? 'NULL'})`, db);
}

// n transactional messages "<tag> 1" .. "<tag> n" in one transaction that wakes the workers.
function queue(n, tag, db = cluster.db) {
  const [[first, last]] = cluster.sql(`BEGIN;
    WITH m AS (INSERT INTO sms_otp.sms_outbox (kind, "to", body)
               SELECT 'transactional', '+14155550100', '${tag} ' || g FROM generate_series(1, ${n}) g RETURNING id)
    SELECT min(id), max(id) FROM m;
    SELECT sms_otp._wake_worker_on_commit();
    COMMIT;`, db);
  return `id BETWEEN ${first} AND ${last}`;
}

const count = (where, db) => Number(cluster.value(`SELECT count(*) FROM sms_otp.sms_outbox WHERE ${where}`, db));
const status = (db = cluster.db) => JSON.parse(cluster.value('SELECT sms_otp.worker_status()', db));
const deliveryPids = (db = cluster.db) => cluster.sql(`SELECT pid FROM pg_stat_activity
  WHERE backend_type = 'sms_otp delivery worker' AND datname = '${db}' ORDER BY pid`, 'postgres').map((r) => Number(r[0]));

// How many requests reached the mock for each message of `tag` (the request log keeps 10,000).
async function taken(tag) {
  const seen = new Map();
  for (const r of await mock.requests('twilio')) {
    const body = r.form?.Body;
    if (body?.startsWith(`${tag} `)) seen.set(body, (seen.get(body) ?? 0) + 1);
  }
  return seen;
}

// Every one of the n messages reached the provider, and nothing else of `tag`: the requests sent again.
async function expectAllTaken(tag, n) {
  const seen = await taken(tag);
  for (let i = 1; i <= n; i++) assert.ok(seen.has(`${tag} ${i}`), `${tag} ${i} reached the provider`);
  assert.equal(seen.size, n, 'no request for a message that was not queued');
  return [...seen.values()].reduce((sum, c) => sum + c - 1, 0);
}

// Wait until none of the messages is queued (sample() runs meanwhile): how they ended.
async function settled(where, { sample = () => {}, db = cluster.db, timeout = 60000 } = {}) {
  await waitFor('the messages settled', () => {
    sample();
    return count(`${where} AND status = 'queued'`, db) === 0;
  }, { timeout, interval: 20 });
  return cluster.sql(`SELECT status, coalesce(last_error, ''), count(*) FROM sms_otp.sms_outbox
                      WHERE ${where} GROUP BY 1, 2 ORDER BY 1, 2`, db);
}

// The least lease (5 s), a request timeout within it, for the length of fn.
async function withLease(fn) {
  const settings = { 'sms_otp.lease': '5s', 'sms_otp.request_timeout': '4s' };
  cluster.reload(settings);
  await waitFor('the lease setting', () => cluster.value("SELECT current_setting('sms_otp.lease')") === '5s');
  await sleep(300);  // the workers' reload
  try {
    return await fn();
  } finally {
    for (const k of Object.keys(settings)) cluster.sql(`ALTER SYSTEM RESET ${k}`, 'postgres');
    cluster.sql('SELECT pg_reload_conf()', 'postgres');
    await sleep(300);
  }
}

async function drained(where, n, options) {
  assert.deepEqual(await settled(where, options), [['sent', '', String(n)]], 'every message sent');
}

test(`${workers} delivery workers share one queue: 3,000 messages, each sent once, by all of them`, async () => {
  provider();
  await waitFor(`${workers} delivery workers`, () => deliveryPids().length === workers);
  const pids = deliveryPids();
  const before = await waitFor('worker_status() to show them', () => {
    const s = status();
    return s.workers.length === workers && s.workers.every((w) => w.running) ? s : null;
  });
  assert.deepEqual(before.workers.map((w) => w.number), [1, 2, 3]);
  assert.deepEqual(before.workers.map((w) => w.pid).sort((a, b) => a - b), pids, 'the pids of pg_stat_activity');
  assert.equal(new Set(before.workers.map((w) => w.pid)).size, workers);
  assert.ok(!pids.includes(cluster.codeWorkerPid()), 'the code worker is none of them');

  await mock.config({ delay_ms: 30 });
  const n = 3000;
  const tag = `share ${Date.now()}`;
  const mine = queue(n, tag);
  const busy = new Set();  // workers seen with requests open
  await drained(mine, n, { sample: () => {
    for (const w of status().workers) if (w.in_flight > 0) busy.add(w.number);
  } });
  const after = status();
  const claimed = after.workers.filter((w, i) => w.last_batch_at !== before.workers[i].last_batch_at).map((w) => w.number);
  console.log(`# workers seen with requests open: ${[...busy]}; workers that claimed: ${claimed}`);
  assert.deepEqual(claimed, [1, 2, 3], 'every worker claimed some of them');
  assert.ok(busy.size > 1, `only worker ${[...busy]} was seen sending`);
  assert.equal(await expectAllTaken(tag, n), 0, 'no message was sent twice');
  assert.deepEqual(deliveryPids(), pids, 'no worker was restarted meanwhile');
});

test('max_concurrent = 10 holds across the workers, and is used: 1,000 messages at 50 ms', async () => {
  provider(cluster.db, { maxConcurrent: 10 });
  await mock.config({ delay_ms: 50 });
  await mock.resetStats();
  const n = 1000;
  const tag = `capped ${Date.now()}`;
  const mine = queue(n, tag);
  let most = 0;
  let sampled = 0;
  await drained(mine, n, { sample: () => {
    const p = status().providers.find((x) => x.name === 'twilio');
    if (!p) return;
    sampled++;
    most = Math.max(most, p.in_flight);
    assert.ok(p.in_flight <= 10, `worker_status() shows ${p.in_flight} requests open to twilio`);
    assert.equal(p.max_concurrent, 10);
  } });
  const stats = await mock.stats();
  console.log(`# mock peak ${stats.peak}; worker_status() showed up to ${most} open in ${sampled} samples`);
  assert.ok(stats.peak <= 10, `${stats.peak} requests were open at once at the provider`);
  assert.equal(stats.peak, 10, 'the cap was used, not starved');
  assert.ok(most > 0, 'worker_status() saw requests open');
  assert.equal(await expectAllTaken(tag, n), 0, 'no message was sent twice');
  // Drained: every slot given back.
  await waitFor('the slots given back', () => {
    const s = status();
    return s.providers.find((x) => x.name === 'twilio').in_flight === 0 && s.workers.every((w) => w.in_flight === 0);
  }, { timeout: 5000 });
  assert.equal((await mock.stats()).open, 0);
});

test('a cap tighter than the claims: messages waiting for a slot past their lease are sent once', () => withLease(async () => {
  // 2 at a time, 100 ms each: 20 a second. Each worker claims dozens ahead, so the last of 200
  // wait ten seconds for a slot, twice the lease: another worker may claim them meanwhile.
  provider(cluster.db, { maxConcurrent: 2 });
  await mock.config({ delay_ms: 100 });
  await mock.resetStats();
  const n = 200;
  const tag = `tight ${Date.now()}`;
  const started = Date.now();
  const mine = queue(n, tag);
  const ended = await settled(mine, { timeout: 40000 });
  const took = Date.now() - started;
  assert.ok(took > 7000, `the premise: claims outlived the lease (the drain took ${took} ms)`);
  assert.ok((await mock.stats()).peak <= 2);
  const again = await expectAllTaken(tag, n);
  assert.equal(again, 0, `${again} requests sent again for messages whose lease ran out while they waited for a slot; `
    + `the messages ended ${JSON.stringify(ended)}`);
  assert.deepEqual(ended, [['sent', '', String(n)]], 'every message sent');
}));

test('a delivery worker terminated mid-drain: none lost, at most 2 x max_in_flight sent again, it comes back', () => withLease(async () => {
  provider();
  // 192 requests open at 250 ms each: two seconds or more to drain, time to stop one mid-way.
  await mock.config({ delay_ms: 250 });
  const n = 2000;
  const tag = `killed ${Date.now()}`;
  const mine = queue(n, tag);
  // As soon as it has requests open.
  const victim = await waitFor('worker 2 sending', () => status().workers.find((w) => w.number === 2 && w.in_flight > 0),
    { interval: 5 });
  cluster.sql(`SELECT pg_terminate_backend(${victim.pid})`, 'postgres');
  const left = count(`${mine} AND status = 'queued'`);
  console.log(`# worker 2 (pid ${victim.pid}) terminated with ${left} of ${n} messages not yet sent`);
  assert.ok(left >= n / 4, `the worker was terminated with only ${left} messages left`);

  const back = await waitFor('worker 2 back', () => {
    const w = status().workers.find((x) => x.number === 2);
    return w.running && w.pid !== victim.pid ? w : null;
  }, { timeout: 5000 });
  assert.ok(deliveryPids().includes(back.pid), 'pg_stat_activity shows the new worker 2');
  assert.ok(!deliveryPids().includes(victim.pid));

  // Its claims come back when their lease (5 s) runs out.
  await drained(mine, n, { timeout: 30000 });
  const again = await expectAllTaken(tag, n);
  console.log(`# ${again} messages sent twice`);
  assert.ok(again <= 2 * maxInFlight, `${again} messages sent again, more than 2 x max_in_flight`);
}));

test('two databases: each has its own workers, providers, queue and wake-ups', async () => {
  // Created after the cluster started: its workers, restarted until it exists, connect then.
  cluster.sql(`CREATE DATABASE ${other}`, 'postgres');
  cluster.sql('CREATE EXTENSION sms_otp', other);
  await waitFor(`the workers of ${other}`, () => deliveryPids(other).length === workers, { timeout: 10000 });
  for (const db of [cluster.db, other]) {
    const codeWorkers = cluster.value(`SELECT count(*) FROM pg_stat_activity
      WHERE backend_type = 'sms_otp code worker' AND datname = '${db}'`, 'postgres');
    assert.equal(codeWorkers, '1', `one code worker in ${db}`);
  }
  const a = status();
  const b = await waitFor(`worker_status() in ${other}`, () => {
    const s = status(other);
    return s.workers.length === workers && s.workers.every((w) => w.running) ? s : null;
  });
  assert.equal(a.database, cluster.db);
  assert.equal(b.database, other);
  assert.deepEqual(a.workers.map((w) => w.pid).sort((x, y) => x - y), deliveryPids(cluster.db));
  assert.deepEqual(b.workers.map((w) => w.pid).sort((x, y) => x - y), deliveryPids(other));
  assert.equal(new Set([...a.workers, ...b.workers].map((w) => w.pid)).size, 2 * workers, 'no worker serves both');

  provider(cluster.db);
  provider(other);
  await mock.config({ delay_ms: 0 });
  const tagA = `db a ${Date.now()}`;
  const tagB = `db b ${Date.now()}`;
  const inA = queue(50, tagA);
  const inB = queue(50, tagB, other);
  await drained(inA, 50);
  await drained(inB, 50, { db: other });
  // Each database's messages went out with its own provider's account.
  const requests = await mock.requests('twilio');
  for (const [tag, db] of [[tagA, cluster.db], [tagB, other]]) {
    const mine = requests.filter((r) => r.form?.Body?.startsWith(`${tag} `));
    assert.equal(mine.length, 50, `${db}: each message once`);
    assert.ok(mine.every((r) => r.auth.user === sid[db]), `${db}'s messages were sent with its own provider`);
  }

  // A commit wakes the workers of its own database only.
  const wakeups = (db) => Number(status(db).wakeups);
  const [beforeA, beforeB] = [wakeups(cluster.db), wakeups(other)];
  for (let i = 0; i < 3; i++) cluster.sql('SELECT sms_otp._wake_worker_on_commit()', other);
  assert.equal(wakeups(other), beforeB + 3, `three commits in ${other} woke its workers three times`);
  assert.equal(wakeups(cluster.db), beforeA, `a commit in ${other} woke none of ${cluster.db}'s`);
  cluster.sql('SELECT sms_otp._wake_worker_on_commit()');
  assert.equal(wakeups(cluster.db), beforeA + 1);
  assert.equal(wakeups(other), beforeB + 3);
});

// psql as `role` (the superuser when null): the SQLSTATE of the error, or null when it ran.
function sqlstate(query, { db = cluster.db, role = null } = {}) {
  const text = role ? `SET ROLE ${role}; ${query}` : query;
  try {
    execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose',
      '-h', `${cluster.dir}/pg`, '-p', String(cluster.port), '-U', 'postgres', '-d', db, '-c', text],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return null;
  } catch (err) {
    return /ERROR:\s+([0-9A-Z]{5}):/.exec(err.stderr)?.[1] ?? err.stderr;
  }
}

test('max_concurrent: zero and negative refused; end users cannot change it', () => {
  cluster.sql(readFileSync(`${root}/test/roles.sql`, 'utf8'), 'postgres');
  provider(cluster.db, { maxConcurrent: 5 });
  const cap = () => cluster.value("SELECT coalesce(max_concurrent::text, 'null') FROM sms_otp.api_integrations WHERE name = 'twilio'");
  for (const v of [0, -1, -2147483648]) {
    assert.equal(sqlstate(`UPDATE sms_otp.api_integrations SET max_concurrent = ${v}`), '23514', `max_concurrent = ${v}`);
    assert.equal(sqlstate(`INSERT INTO sms_otp.api_integrations (name, kind, max_concurrent)
      VALUES ('other', 'console', ${v})`), '23514', `a new provider with max_concurrent = ${v}`);
  }
  assert.equal(cap(), '5');
  // NULL is no cap; a large one is allowed.
  assert.equal(sqlstate('UPDATE sms_otp.api_integrations SET max_concurrent = NULL'), null);
  assert.equal(cap(), 'null');
  assert.equal(sqlstate('UPDATE sms_otp.api_integrations SET max_concurrent = 1000000'), null);

  // The roles PostgREST gives end users change no provider, cap or no cap.
  cluster.sql('UPDATE sms_otp.api_integrations SET max_concurrent = 5');
  for (const role of ['authenticated', 'anon']) {
    for (const v of ['1', '1000', 'NULL']) {
      const code = sqlstate(`UPDATE sms_otp.api_integrations SET max_concurrent = ${v} WHERE name = 'twilio'`, { role });
      assert.equal(code, '42501', `${role} setting max_concurrent = ${v}`);
    }
    assert.equal(sqlstate(`INSERT INTO sms_otp.api_integrations (name, kind, max_concurrent)
      VALUES ('mine', 'console', 1000)`, { role }), '42501', `${role} adding a provider`);
  }
  assert.equal(cap(), '5');
});

test('sms_otp.workers and sms_otp.database: out-of-range values are refused', () => {
  // 22023: invalid_parameter_value; 55P02: cant_change_runtime_param.
  for (const v of ['0', '17', '-1', 'many']) {
    assert.equal(sqlstate(`ALTER SYSTEM SET sms_otp.workers = '${v}'`, { db: 'postgres' }), '22023', `workers = ${v}`);
  }
  assert.equal(sqlstate('SET sms_otp.workers = 2'), '55P02', 'a session cannot change it');
  const nine = Array.from({ length: 9 }, (_, i) => `db${i}`).join(', ');
  assert.equal(sqlstate(`ALTER SYSTEM SET sms_otp.database = '${nine}'`, { db: 'postgres' }), '22023', 'nine databases');
  assert.equal(sqlstate("ALTER SYSTEM SET sms_otp.database = 'a,,b'", { db: 'postgres' }), '22023', 'an empty name');
  assert.equal(cluster.value("SELECT count(*) FROM pg_file_settings WHERE name LIKE 'sms_otp.%' AND sourcefile LIKE '%auto.conf'", 'postgres'), '0',
    'nothing was written to postgresql.auto.conf');
  assert.equal(cluster.value('SHOW sms_otp.workers'), String(workers));
});

test('sms_otp.workers = 0 or 17 in postgresql.conf: not taken, one delivery worker runs', async () => {
  for (const v of [0, 17]) {
    const c = new Cluster([`sms_otp.workers = ${v}`, "sms_otp.database = 'postgres'"]);
    let started = true;
    try {
      c.start();
    } catch {
      started = false;
    }
    try {
      const log = readFileSync(`${c.dir}/pg/server.log`, 'utf8');
      assert.match(log, new RegExp(`${v}.*"sms_otp\\.workers"|"sms_otp\\.workers".*${v}`), `the log names workers = ${v}`);
      if (!started) continue;  // refused to start: as good as a refusal
      assert.equal(c.value('SHOW sms_otp.workers', 'postgres'), '1', `workers = ${v} was not taken`);
      await waitFor('the delivery worker', () => c.workerPid() > 0);
      await sleep(500);  // time for any more to start
      assert.equal(c.value("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'sms_otp delivery worker'", 'postgres'), '1');
    } finally {
      c.stop();
    }
  }
});
