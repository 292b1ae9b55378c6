// The dashboards (sql/parts/dashboards.sql, metrics.sql) through the real PostgREST 12.0.2, fed by
// the real worker and the mock provider's receipts: the figures are the ones the test caused,
// only the service role reads them, bad arguments are a clear 400, /rpc/metrics is what
// Prometheus parses (promtool), and docs/prometheus/ (scrape config, alert rules and their unit
// tests) checks with promtool and works with a real Prometheus server scraping this stack.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Stack, root, signJwt } from '../stack.mjs';
import { calls, assertRaised, wrong } from './calls.mjs';
import { accounts } from './providers.mjs';
import { freeProxyPort, tokens, until } from './service.mjs';

const stack = new Stack();
const { call, rpc, codeFor } = calls(stack);
const { service, user } = tokens(stack);

// What Prometheus 2.x asks a target for.
const PROM_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,'
  + 'text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const DOCS = `${root}/docs/prometheus`;

let suiteStart;
before(() => {
  freeProxyPort();
  stack.start();
  suiteStart = Date.now();
});
after(() => stack.stop());

// ------------------------------------------------------------------ helpers

async function mock(method, path, body) {
  const r = await fetch(stack.mock + path, {
    method,
    headers: body !== undefined ? { 'Content-Type': 'application/json' } : {},
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

async function mockRule(path, spec) {
  const r = await mock('POST', path, spec);
  assert.equal(r.status, 201, JSON.stringify(r.json));
}

const callbacksPosted = () => until(async () => (await mock('GET', '/_mock/callbacks/pending')).json.pending === 0,
  'the mock has posted its callbacks');

// A Twilio-kind provider of its own (the mock's account), the only one enabled: its name keeps the
// test's figures apart from every other test's.
function onlyProvider(name) {
  const { account_sid, auth_token } = accounts(stack).twilio;
  stack.sql(`INSERT INTO sms_otp.api_integrations (name, kind, priority, base_url, sender, credentials)
             VALUES ('${name}', 'twilio', 10, '${stack.mock}', '+15005550006',
                     '${JSON.stringify({ account_sid, auth_token })}'::jsonb)
             ON CONFLICT (name) DO NOTHING;
             UPDATE sms_otp.api_integrations SET enabled = (name = '${name}'), selectable = false;`);
}

// The range the tests read: from an hour before the suite to an hour ahead.
const range = () => ({
  since: new Date(suiteStart - 3600e3).toISOString(),
  until: new Date(Date.now() + 3600e3).toISOString(),
});

async function dashboard(fn, args = {}) {
  const r = await rpc(fn, args, service());
  assert.equal(r.status, 200, `${fn}(${JSON.stringify(args)}): ${r.text}`);
  assert.ok(Array.isArray(r.json), r.text);
  return r.json;
}

const rowsOf = (rows, match) => rows.filter((r) => Object.entries(match).every(([k, v]) => r[k] === v));

function oneRow(rows, match) {
  const found = rowsOf(rows, match);
  assert.equal(found.length, 1, `one row ${JSON.stringify(match)} in ${JSON.stringify(rows)}`);
  return found[0];
}

const FIGURES = ['attempted', 'accepted', 'rejected', 'retried', 'delivered', 'undelivered', 'failed', 'unknown', 'segments'];
const figures = (row) => Object.fromEntries(FIGURES.map((k) => [k, row[k]]));
const sumFigures = (rows) => Object.fromEntries(FIGURES.map((k) => [k, rows.reduce((s, r) => s + r[k], 0)]));

let phones = 0;
const nextUsPhone = () => `+1415555${String(8000 + phones++).padStart(4, '0')}`;

// A user with SMS codes on and this phone; their token, bound to a login session of their own.
function codeUser(id, phone) {
  stack.sql(`INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES ('${id}', '${phone}', true)
             ON CONFLICT (user_id) DO UPDATE SET phone = excluded.phone, otp_enabled = true`);
  return user(id);
}

async function sendCode(token) {
  const r = await rpc('otp_send', {}, token);
  assert.equal(r.status, 200, r.text);
  return r.json.session_id;
}

async function metricsText(method = 'GET', token = service()) {
  const r = await call(method, '/rpc/metrics', { token, headers: { Accept: PROM_ACCEPT } });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4(;|$)/);
  return r.text;
}

// The text exposition format 0.0.4, parsed strictly enough to catch a label value that was not
// escaped (a raw newline splits its line; a raw quote ends the value early).
function parseExposition(text) {
  const types = new Map();
  const samples = [];
  const lines = text.split('\n');
  assert.equal(lines.pop(), '', 'the exposition ends with a newline');
  for (const line of lines) {
    let m = line.match(/^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/);
    if (m) {
      if (m[1] === 'TYPE') types.set(m[2], m[3]);
      continue;
    }
    assert.ok(!line.startsWith('#'), `a comment that is neither HELP nor TYPE: ${line}`);
    m = line.match(/^[a-zA-Z_:][a-zA-Z0-9_:]*/);
    assert.ok(m, `a sample line: ${JSON.stringify(line)}`);
    const name = m[0];
    let i = name.length;
    const labels = {};
    if (line[i] === '{') {
      i++;
      while (line[i] !== '}') {
        const l = line.slice(i).match(/^([a-zA-Z_][a-zA-Z0-9_]*)="/);
        assert.ok(l, `a label at ${i} of ${JSON.stringify(line)}`);
        i += l[0].length;
        let value = '';
        for (;;) {
          assert.ok(i < line.length, `an unterminated label value in ${JSON.stringify(line)}`);
          const c = line[i++];
          if (c === '"') break;
          if (c === '\\') {
            const e = line[i++];
            assert.ok(e === '\\' || e === '"' || e === 'n', `escape \\${e} in ${JSON.stringify(line)}`);
            value += e === 'n' ? '\n' : e;
          } else {
            value += c;
          }
        }
        assert.ok(!(l[1] in labels), `label ${l[1]} twice in ${line}`);
        labels[l[1]] = value;
        if (line[i] === ',') i++;
        else assert.equal(line[i], '}', `after a label value in ${JSON.stringify(line)}`);
      }
      i++;
    }
    const rest = line.slice(i).match(/^ (\S+)$/);
    assert.ok(rest, `a value at the end of ${JSON.stringify(line)}`);
    const value = rest[1] === '+Inf' ? Infinity : rest[1] === '-Inf' ? -Infinity : Number(rest[1]);
    assert.ok(!Number.isNaN(value) || rest[1] === 'NaN', `a number: ${line}`);
    samples.push({ name, labels, value });
  }
  return { types, samples };
}

const familyOf = (name, types) => (types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, ''));

// The value of the one sample of `name` whose labels include `labels`.
function sampleValue({ samples }, name, labels) {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.equal(found.length, 1, `one sample ${name}${JSON.stringify(labels)}, found ${JSON.stringify(found)}`);
  return found[0].value;
}

// promtool check metrics: the body on stdin; exit status and whatever it said.
function promtoolCheckMetrics(body) {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

function promtool(...args) {
  const r = spawnSync('promtool', args, { encoding: 'utf8', cwd: DOCS });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

function freePort() {
  const start = 20000 + Math.floor(Math.random() * 10000);
  return Number(String(execFileSync('bash', ['-c', `. "${root}/test/lib.sh"; free_port ${start}`])).trim());
}

function restartWorker() {
  const pid = Number(stack.value("SELECT pid FROM pg_stat_activity WHERE backend_type = 'sms_otp delivery worker'"));
  assert.ok(pid > 0, 'the delivery worker runs');
  stack.sql(`SELECT pg_terminate_backend(${pid})`);
  return until(() => {
    const now = Number(stack.value("SELECT pid FROM pg_stat_activity WHERE backend_type = 'sms_otp delivery worker'") || 0);
    return now > 0 && now !== pid;
  }, 'a new delivery worker');
}

// ------------------------------------------------------------------ end to end

// Eight messages through provider dash-tx, each with its own fate at the provider and its receipts.
const TX = {};

test('transactional messages through the worker: the exact attempts, outcomes, receipts, parts, cost and send latency', async () => {
  await mock('POST', '/_mock/reset');
  onlyProvider('dash-tx');
  // The most specific price wins: dash-tx in the US, then dash-tx anywhere, then any provider in a country.
  stack.sql(`INSERT INTO sms_otp.sms_prices (provider_name, country, price_per_segment) VALUES
             ('dash-tx', 'US', 0.0075), ('dash-tx', '*', 0.05), ('*', 'US', 1), ('*', 'GB', 2)
             ON CONFLICT (provider_name, country) DO UPDATE SET price_per_segment = excluded.price_per_segment`);
  for (const k of ['delivered', 'undelivered', 'failed', 'lost', 'rejected', 'retried', 'flipped']) TX[k] = nextUsPhone();
  TX.abroad = '+447400123456';
  await mockRule('/_mock/faults', [
    { provider: 'twilio', to: TX.rejected, mode: 'status', status: 400 },
    { provider: 'twilio', to: TX.retried, mode: 'status', status: 500, count: 1 },
  ]);
  // Receipts as providers send them: late, repeated, out of order, or changing their mind.
  await mockRule('/_mock/callbacks', [
    { provider: 'twilio', to: TX.delivered, duplicate: 2 },
    { provider: 'twilio', to: TX.undelivered, outcome: 'undelivered' },
    { provider: 'twilio', to: TX.failed, outcome: 'failed' },
    { provider: 'twilio', to: TX.lost, events: [] },
    { provider: 'twilio', to: TX.flipped, events: ['failed', 'delivered'] },
    { provider: 'twilio', to: TX.abroad, order: 'reversed' },
  ]);

  const ids = {};
  for (const [k, to] of Object.entries(TX)) {
    const r = await rpc('send_transactional', { to, text: `Message ${k}.` }, service());
    assert.equal(r.status, 200, r.text);
    ids[k] = r.json.message_id;
  }

  const state = (id) => stack.sql(`SELECT status, coalesce(delivery_status, '-') FROM sms_otp.sms_outbox WHERE id = ${id}`)[0].join(' ');
  const want = {
    delivered: 'sent delivered', undelivered: 'sent undelivered', failed: 'sent failed', lost: 'sent accepted',
    rejected: 'failed failed', retried: 'sent delivered', flipped: 'sent delivered', abroad: 'sent delivered',
  };
  await until(() => Object.entries(want).every(([k, s]) => state(ids[k]) === s),
    () => `the messages settle: ${JSON.stringify(Object.fromEntries(Object.keys(want).map((k) => [k, state(ids[k])])))}`, 20000);
  await callbacksPosted();

  const rows = await dashboard('dashboard_delivery', { ...range(), bucket: 'all', dims: ['provider', 'country', 'type'] });
  const us = oneRow(rows, { provider: 'dash-tx', country: 'US', type: 'transactional' });
  assert.deepEqual(figures(us), {
    attempted: 8, accepted: 6, rejected: 1, retried: 1, delivered: 3, undelivered: 1, failed: 1, unknown: 1, segments: 6,
  });
  assert.equal(us.bucket_start, null);
  assert.equal(Number(us.delivery_rate), 0.6);
  assert.equal(Number(us.unknown_share), 0.1667);
  assert.equal(Number(us.cost), 0.045);  // 6 parts at 0.0075
  const gb = oneRow(rows, { provider: 'dash-tx', country: 'GB', type: 'transactional' });
  assert.deepEqual(figures(gb), {
    attempted: 1, accepted: 1, rejected: 0, retried: 0, delivered: 1, undelivered: 0, failed: 0, unknown: 0, segments: 1,
  });
  assert.equal(Number(gb.cost), 0.05);

  // Hour and day buckets add up to the same; GET with the arguments in the query string too.
  const hours = rowsOf(await dashboard('dashboard_delivery', { ...range(), bucket: 'hour', dims: ['provider', 'country'] }),
    { provider: 'dash-tx', country: 'US' });
  assert.ok(hours.length >= 1 && hours.every((r) => /T\d\d:00:00/.test(r.bucket_start)), JSON.stringify(hours));
  assert.deepEqual(sumFigures(hours), figures(us));
  const q = new URLSearchParams({ ...range(), bucket: 'day', dims: '{provider}' });
  const got = await call('GET', `/rpc/dashboard_delivery?${q}`, { token: service() });
  assert.equal(got.status, 200, got.text);
  const days = rowsOf(got.json, { provider: 'dash-tx' });
  assert.deepEqual(sumFigures(days), sumFigures([us, gb]));

  // The worker wrote when each message was queued: the outbox row's creation.
  assert.deepEqual(stack.sql(`SELECT count(*), count(*) FILTER (WHERE l.queued_at = o.created_at AND l.queued_at <= l.requested_at)
                              FROM sms_otp.sms_messages_log l JOIN sms_otp.sms_outbox o ON o.id = l.outbox_id
                              WHERE l.provider_name = 'dash-tx'`), [['9', '9']]);

  // Send latency: one per accepted attempt. The retried message waited out the retry delay
  // (sms_otp.retry_delay, 2 s) after being queued, so the slowest is above a second.
  const latency = await dashboard('dashboard_latency', { ...range(), bucket: 'all', dims: ['provider'] });
  const send = oneRow(latency, { provider: 'dash-tx', stage: 'send' });
  assert.equal(send.count, 7);
  assert.ok(send.p50_ms >= 0 && send.p50_ms <= send.p95_ms && send.p95_ms <= send.p99_ms, JSON.stringify(send));
  assert.ok(send.p99_ms >= 1000, `the retried message's wait shows: ${JSON.stringify(send)}`);
  assert.equal(oneRow(latency, { provider: 'dash-tx', stage: 'delivery' }).count, 4);
});

// Three users in one number prefix (+336123, France): one verifies, one guesses wrong, one never
// types the code (and it is not delivered).
const FUNNEL = { prefix: '+336123' };

test('the code funnel after real codes: requested, sent, delivered, entered, verified', async () => {
  await mock('POST', '/_mock/reset');
  onlyProvider('dash-otp');
  const users = ['verifies', 'guesses', 'ignores'].map((role, i) => ({
    role, id: `d0000000-0000-4000-8000-00000000f00${i}`, phone: `+3361234567${i}`,
  }));
  await mockRule('/_mock/callbacks', { provider: 'twilio', to: users[2].phone, outcome: 'undelivered' });
  for (const u of users) {
    u.token = codeUser(u.id, u.phone);
    u.session = await sendCode(u.token);
  }
  for (const u of users) u.code = await codeFor(u.phone, u.session);

  const ok = await rpc('otp_verify', { session_id: users[0].session, otp: users[0].code }, users[0].token);
  assert.equal(ok.status, 200, ok.text);
  const bad = await rpc('otp_verify', { session_id: users[1].session, otp: wrong(users[1].code) }, users[1].token);
  assert.notEqual(bad.status, 200, bad.text);
  assert.equal(stack.value(`SELECT attempts FROM sms_otp.sms_otp_sessions WHERE id = '${users[1].session}'`), '1');

  const sessions = users.map((u) => `'${u.session}'`).join(', ');
  await until(() => stack.value(`SELECT count(*) FROM sms_otp.sms_messages_log WHERE session_id IN (${sessions})
                                 AND delivery_status IN ('delivered', 'undelivered')`) === '3', 'the codes\' receipts');
  await callbacksPosted();

  const want = { requested: 3, sent: 3, delivered: 2, entered: 2, verified: 1 };
  const byPrefix = oneRow(await dashboard('dashboard_otp', { ...range(), by: 'prefix' }), { prefix: FUNNEL.prefix });
  assert.equal(byPrefix.country, 'FR');
  assert.deepEqual({ ...byPrefix, conversion: Number(byPrefix.conversion), never_entered: Number(byPrefix.never_entered) },
    { country: 'FR', prefix: FUNNEL.prefix, ...want, conversion: 0.3333, never_entered: 0.3333 });
  const byCountry = oneRow(await dashboard('dashboard_otp', { ...range(), by: 'country' }), { country: 'FR' });
  assert.equal(byCountry.prefix, null);
  assert.deepEqual(Object.fromEntries(Object.keys(want).map((k) => [k, byCountry[k]])), want);
  assert.equal((await dashboard('dashboard_otp', { ...range(), by: 'country', top: 1 })).length, 1);
  FUNNEL.want = want;

  const delivery = oneRow(await dashboard('dashboard_delivery', { ...range(), bucket: 'all', dims: ['provider', 'type'] }),
    { provider: 'dash-otp', type: 'otp' });
  assert.deepEqual(figures(delivery), {
    attempted: 3, accepted: 3, rejected: 0, retried: 0, delivered: 2, undelivered: 1, failed: 0, unknown: 0, segments: 3,
  });
  const latency = await dashboard('dashboard_latency', { ...range(), bucket: 'all', dims: ['provider', 'type'] });
  assert.equal(oneRow(latency, { provider: 'dash-otp', type: 'otp', stage: 'send' }).count, 3);
  assert.deepEqual(stack.sql(`SELECT count(*) FROM sms_otp.sms_messages_log WHERE session_id IN (${sessions}) AND queued_at IS NULL`), [['0']]);
});

// ------------------------------------------------------------------ access

test('only the service role reads the dashboards and the metrics; the rollups and prices are no client\'s', async () => {
  await mock('POST', '/_mock/reset');
  onlyProvider('dash-otp');
  // A user who has passed the SMS step (the strongest an end user gets), and one who has not.
  const passed = codeUser('d0000000-0000-4000-8000-00000000a001', '+4915112345678');
  const session = await sendCode(passed);
  const code = await codeFor('+4915112345678', session);
  assert.equal((await rpc('otp_verify', { session_id: session, otp: code }, passed)).status, 200);
  const check = await rpc('otp_is_verified', {}, passed);
  assert.equal(check.json, true, `the step is passed: ${check.text}`);
  // Its receipt too, before the rollups are taken as they are.
  await until(() => stack.value(`SELECT delivery_status FROM sms_otp.sms_messages_log WHERE session_id = '${session}'`) === 'delivered',
    'the code\'s receipt');
  await callbacksPosted();
  const firstFactor = user('d0000000-0000-4000-8000-00000000a002');

  const now = Math.floor(Date.now() / 1000);
  const forged = signJwt({ role: 'service_role', iat: now, exp: now + 600 }, 'not-the-secret-'.repeat(4));
  const expired = signJwt({ role: 'service_role', iat: now - 7200, exp: now - 3600 }, stack.secret);

  // The hourly figures (summed over shards, so the worker's compaction does not change them) and the prices.
  const rollups = () => stack.value(`SELECT md5(string_agg(t, ',' ORDER BY t)) FROM (
      SELECT concat_ws('|', start, provider, country, type, sum(attempted), sum(accepted), sum(rejected), sum(retried),
                       sum(delivered), sum(undelivered), sum(failed), sum(segments), sum(cost)) AS t
      FROM sms_otp.stats_messages WHERE grain = 'h' GROUP BY start, provider, country, type
      UNION ALL
      SELECT concat_ws('|', start, provider, country, type, stage, bucket, sum(n), sum(ms))
      FROM sms_otp.stats_latency WHERE grain = 'h' GROUP BY start, provider, country, type, stage, bucket
      UNION ALL
      SELECT concat_ws('|', start, country, prefix, sum(requested), sum(sent), sum(delivered), sum(entered), sum(verified))
      FROM sms_otp.stats_otp WHERE grain = 'h' GROUP BY start, country, prefix
      UNION ALL
      SELECT p::text FROM sms_otp.sms_prices p) x`);
  const before = rollups();

  const reads = ['dashboard_delivery', 'dashboard_latency', 'dashboard_otp', 'dashboard_campaigns', 'dashboard_queue',
    'dashboard_providers', 'metrics'];
  for (const [who, token] of [['a user past the SMS step', passed], ['a user before it', firstFactor]]) {
    for (const fn of [...reads, 'stats_compact', 'stats_prune']) {
      const r = await rpc(fn, {}, token);
      assertRaised(r, 403, 'forbidden');
      assert.doesNotMatch(r.text, /sms_otp_/, `${who}: ${fn}`);
    }
    for (const fn of reads) {
      const r = await call('GET', `/rpc/${fn}`, { token, headers: { Accept: PROM_ACCEPT } });
      assert.equal(r.status, 403, `${who}: GET ${fn}: ${r.text}`);
      assert.equal(r.json?.code, 'forbidden', r.text);
    }
  }
  for (const [who, token] of [['anonymous', undefined], ['a forged service token', forged], ['an expired service token', expired]]) {
    for (const fn of [...reads, 'stats_compact', 'stats_prune']) {
      for (const method of fn.startsWith('stats_') ? ['POST'] : ['GET', 'POST']) {
        const r = await call(method, `/rpc/${fn}`, { token, body: method === 'POST' ? {} : undefined, headers: { Accept: PROM_ACCEPT } });
        assert.ok([401, 403].includes(r.status), `${who}: ${method} ${fn}: ${r.status} ${r.text}`);
        assert.doesNotMatch(r.text, /sms_otp_|"attempted"|"lane"/, `${who}: ${method} ${fn}`);
      }
    }
  }

  // The tables behind them: no rows for a client, whatever the verb; even the service role
  // only reads the rollups (they change through the triggers and the upkeep functions).
  for (const [who, token] of [['anonymous', undefined], ['a user past the SMS step', passed], ['a user before it', firstFactor]]) {
    for (const table of ['stats_messages', 'stats_latency', 'stats_otp', 'sms_prices']) {
      const r = await call('GET', `/${table}?limit=1`, { token });
      assert.ok([401, 403].includes(r.status), `${who}: GET /${table}: ${r.status} ${r.text}`);
      assert.ok(!Array.isArray(r.json), r.text);
    }
    const write = await call('POST', '/sms_prices', { token, body: { provider_name: 'dash-tx', country: 'US', price_per_segment: 0 } });
    assert.ok([401, 403].includes(write.status), `${who}: POST /sms_prices: ${write.text}`);
    const forge = await call('POST', '/stats_otp', {
      token, body: { grain: 'h', start: new Date().toISOString(), country: 'FR', prefix: '+336123', shard: 0, verified: 1000 },
    });
    assert.ok([401, 403].includes(forge.status), `${who}: POST /stats_otp: ${forge.text}`);
    for (const fn of ['_stats_log_apply', '_stats_sessions_changed', '_metric_line']) {
      const r = await rpc(fn, {}, token);
      assert.ok(r.status >= 400 && r.status < 500, `${who}: ${fn}: ${r.status} ${r.text}`);
    }
  }
  const asService = await call('GET', '/stats_messages?provider=eq.dash-tx', { token: service() });
  assert.equal(asService.status, 200, asService.text);
  assert.ok(asService.json.length >= 1, 'the service role reads the rollups');
  const inflate = await call('POST', '/stats_messages', {
    token: service(), body: { grain: 'h', start: new Date().toISOString(), provider: 'dash-tx', country: 'US', type: 'otp', shard: 0, delivered: 1000 },
  });
  assert.equal(inflate.status, 403, `the service role cannot write a rollup: ${inflate.text}`);
  const apply = await rpc('_stats_log_apply', {
    changes: [{ created_at: new Date().toISOString(), provider_name: 'dash-tx', to: '+14155550000', type: 'otp', sign: 1, outcome: 'sent', attempt: true }],
  }, service());
  assert.ok(apply.status >= 400 && apply.status < 500, `the trigger's function is not an endpoint: ${apply.text}`);

  assert.equal(rollups(), before, 'nothing was written');
});

test('bad arguments are a 400 with a stable code and a sentence that names the argument', async () => {
  const day = 86400e3;
  const t = (ms) => new Date(ms).toISOString();
  const cases = [
    ['dashboard_delivery', { bucket: 'week' }, 'invalid_bucket', /bucket/],
    ['dashboard_delivery', { bucket: null }, 'invalid_bucket', /bucket/],
    ['dashboard_delivery', { dims: ['phone'] }, 'invalid_dims', /dims/],
    ['dashboard_delivery', { dims: ['provider', null] }, 'invalid_dims', /dims/],
    ['dashboard_delivery', { dims: null }, 'invalid_dims', /dims/],
    ['dashboard_delivery', { since: t(Date.now()), until: t(Date.now() - day) }, 'invalid_range', /since/],
    ['dashboard_delivery', { since: t(Date.now() - 100 * day), until: t(Date.now()), bucket: 'hour' }, 'range_too_long', /day/],
    ['dashboard_latency', { bucket: 'week' }, 'invalid_bucket', /bucket/],
    ['dashboard_latency', { dims: ['phone'] }, 'invalid_dims', /dims/],
    ['dashboard_latency', { since: t(Date.now()), until: t(Date.now() - day) }, 'invalid_range', /since/],
    ['dashboard_otp', { top: 0 }, 'invalid_top', /top/],
    ['dashboard_otp', { top: 1001 }, 'invalid_top', /top/],
    ['dashboard_otp', { by: 'x' }, 'invalid_by', /by/],
    ['dashboard_otp', { by: 'phone' }, 'invalid_by', /by/],
    ['dashboard_otp', { since: t(Date.now()), until: t(Date.now() - day) }, 'invalid_range', /since/],
    ['dashboard_campaigns', { top: 0 }, 'invalid_top', /top/],
  ];
  for (const [fn, args, code, names] of cases) {
    const r = await rpc(fn, args, service());
    assertRaised(r, 400, code);
    assert.match(r.json.message, names, `${fn}(${JSON.stringify(args)}): ${r.json.message}`);
  }
  const get = await call('GET', '/rpc/dashboard_delivery?bucket=week', { token: service() });
  assertRaised(get, 400, 'invalid_bucket');
  // Not a time, not an integer: PostgreSQL's own 400.
  for (const [fn, args] of [['dashboard_delivery', { since: 'yesterday-ish' }], ['dashboard_otp', { top: 'ten' }]]) {
    const r = await rpc(fn, args, service());
    assert.equal(r.status, 400, r.text);
  }
});

// ------------------------------------------------------------------ Prometheus

test('GET and POST /rpc/metrics with Prometheus\'s Accept header: text 0.0.4 that promtool accepts, with the figures sent', async () => {
  const get = await metricsText('GET');
  const post = await metricsText('POST');
  for (const body of [get, post]) {
    const lint = promtoolCheckMetrics(body);
    assert.equal(lint.status, 0, lint.output);
    assert.equal(lint.output, '', `promtool check metrics had something to say:\n${lint.output}`);
  }
  const m = parseExposition(get);

  // Every sample belongs to a family with a TYPE; no series twice; counters never negative;
  // histograms cumulative, with +Inf equal to _count.
  const seen = new Set();
  for (const s of m.samples) {
    const family = familyOf(s.name, m.types);
    assert.ok(m.types.has(family), `a TYPE for ${s.name}`);
    const key = `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`;
    assert.ok(!seen.has(key), `a series twice: ${key}`);
    seen.add(key);
    if (m.types.get(family) === 'counter') assert.ok(s.value >= 0, `a counter below 0: ${key} ${s.value}`);
    assert.match(family, /^sms_otp_/);
  }
  for (const c of m.samples.filter((s) => s.name === 'sms_otp_latency_seconds_count')) {
    const buckets = m.samples.filter((s) => s.name === 'sms_otp_latency_seconds_bucket'
      && s.labels.provider === c.labels.provider && s.labels.stage === c.labels.stage);
    assert.equal(buckets.length, 13);
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i].value >= buckets[i - 1].value, 'cumulative buckets');
    assert.equal(buckets.at(-1).labels.le, '+Inf');
    assert.equal(buckets.at(-1).value, c.value);
  }

  // What the first two tests sent.
  const us = { provider: 'dash-tx', country: 'US', type: 'transactional' };
  const want = { accepted: 6, rejected: 1, retried: 1 };
  for (const [outcome, n] of Object.entries(want)) assert.equal(sampleValue(m, 'sms_otp_attempts_total', { ...us, outcome }), n, outcome);
  // Receipts count each move into a final state: the message that failed and was then
  // delivered counts a failed receipt and a delivered one (the dashboards count it delivered).
  for (const [status, n] of Object.entries({ delivered: 3, undelivered: 1, failed: 2 })) {
    assert.equal(sampleValue(m, 'sms_otp_receipts_total', { ...us, status }), n, status);
  }
  assert.equal(sampleValue(m, 'sms_otp_segments_total', us), 6);
  assert.equal(sampleValue(m, 'sms_otp_cost_total', us), 0.045);
  assert.equal(sampleValue(m, 'sms_otp_cost_total', { ...us, country: 'GB' }), 0.05);
  assert.equal(sampleValue(m, 'sms_otp_latency_seconds_count', { provider: 'dash-tx', stage: 'send' }), 7);
  assert.ok(sampleValue(m, 'sms_otp_latency_seconds_bucket', { provider: 'dash-tx', stage: 'send', le: '1' }) <= 6,
    'the retried message took more than a second');
  assert.equal(sampleValue(m, 'sms_otp_latency_seconds_count', { provider: 'dash-tx', stage: 'delivery' }), 4);
  assert.ok(FUNNEL.want, 'the funnel test ran');
  for (const [stage, n] of Object.entries(FUNNEL.want)) assert.equal(sampleValue(m, 'sms_otp_codes_total', { country: 'FR', stage }), n, stage);
  assert.equal(sampleValue(m, 'sms_otp_worker_up', {}), 1);
  for (const lane of ['otp', 'transactional', 'promo']) {
    assert.equal(sampleValue(m, 'sms_otp_queue_oldest_age_seconds', { lane }), 0, lane);
    for (const state of ['due', 'leased', 'waiting']) assert.equal(sampleValue(m, 'sms_otp_queue_messages', { lane, state }), 0);
  }
  assert.equal(sampleValue(m, 'sms_otp_provider_available', { provider: 'dash-otp' }), 1);
  assert.equal(sampleValue(m, 'sms_otp_provider_available', { provider: 'dash-tx' }), 0, 'disabled');
  assert.equal(sampleValue(m, 'sms_otp_provider_breaker_open', { provider: 'dash-otp' }), 0);

  // The same counters as the dashboards, for every provider, country and type.
  const all = await dashboard('dashboard_delivery', {
    since: '2000-01-01T00:00:00Z', until: new Date(Date.now() + 86400e3).toISOString(), bucket: 'all', dims: ['provider', 'country', 'type'],
  });
  for (const row of all) {
    const key = { provider: row.provider, country: row.country, type: row.type };
    assert.equal(sampleValue(m, 'sms_otp_attempts_total', { ...key, outcome: 'accepted' }), row.accepted, JSON.stringify(key));
    assert.equal(sampleValue(m, 'sms_otp_receipts_total', { ...key, status: 'delivered' }), row.delivered, JSON.stringify(key));
  }
  assert.equal(m.samples.filter((s) => s.name === 'sms_otp_attempts_total').length, 3 * all.length);
});

test('label values with quotes, backslashes and newlines are escaped (a campaign\'s name)', async () => {
  const name = 'a"b\\c\nd} x="y" # é';
  const startsAt = new Date(Date.now() + 30 * 86400e3).toISOString();  // scheduled: its recipients are a gauge
  const created = await rpc('campaign_create', { name, text: 'Sale!', audience: ['+14155557101', '+14155557102'], starts_at: startsAt }, service());
  assert.equal(created.status, 200, created.text);
  const id = created.json.campaign_id;
  try {
    const launched = await rpc('campaign_launch', { campaign_id: id }, service());
    assert.equal(launched.status, 200, launched.text);
    assert.equal(launched.json.status, 'scheduled');

    const body = await metricsText();
    assert.ok(body.includes(`sms_otp_campaign_recipients{campaign="${id}",name="a\\"b\\\\c\\nd} x=\\"y\\" # é",state="pending"} 2\n`),
      body.split('\n').filter((l) => l.includes('campaign_recipients')).join('\n'));
    const m = parseExposition(body);
    assert.equal(sampleValue(m, 'sms_otp_campaign_recipients', { campaign: String(id), state: 'pending' }), 2);
    assert.equal(m.samples.find((s) => s.labels.campaign === String(id)).labels.name, name, 'the name parses back whole');
    const lint = promtoolCheckMetrics(body);
    assert.equal(lint.status, 0, lint.output);
    assert.equal(lint.output, '');
  } finally {
    await rpc('campaign_cancel', { campaign_id: id }, service());
  }
});

// ------------------------------------------------------------------ upkeep

test('compaction by the worker and by the service role, and retention of raw rows, leave every figure as it was', async () => {
  // Attempts of a provider no other test uses, written as the worker writes them, in a closed
  // hour of today-ish and on a day three days ago. The triggers count them in live shards (seen
  // before the commit: the worker's compaction may fold them any time after).
  const live = () => Number(stack.value("SELECT count(*) FROM sms_otp.stats_messages WHERE provider = 'dash-old' AND shard > 0"));
  const written = stack.sql(`BEGIN;
             INSERT INTO sms_otp.sms_messages_log ("to", type, provider_name, outcome, segments, status_code, response_time_ms,
                                                   queued_at, requested_at, created_at, delivery_status, delivery_at)
             SELECT v."to", 'transactional', 'dash-old', v.outcome, 1, 201, 120, t - interval '2 seconds', t - interval '1 second', t,
                    v.delivery, CASE WHEN v.delivery IS NOT NULL THEN t + interval '4 seconds' END
             FROM (VALUES ('+14155559001', 'sent', 'delivered', date_trunc('hour', now()) - interval '2 hours 50 minutes'),
                          ('+14155559002', 'rejected', NULL, date_trunc('hour', now()) - interval '2 hours 50 minutes'),
                          ('+447400123457', 'sent', 'undelivered', date_trunc('day', now()) - interval '3 days' + interval '10 hours'))
                  AS v("to", outcome, delivery, t);
             SELECT count(*) FROM sms_otp.stats_messages WHERE provider = 'dash-old' AND shard > 0;
             COMMIT;`);
  assert.deepEqual(written.at(-1), ['2'], 'an hour row for each key');
  const span = { since: new Date(Date.now() - 5 * 86400e3).toISOString(), until: new Date(Date.now() + 3600e3).toISOString() };
  const snapshot = async () => ({
    hour: rowsOf(await dashboard('dashboard_delivery', { ...span, bucket: 'hour', dims: ['provider', 'country'] }), { provider: 'dash-old' }),
    day: rowsOf(await dashboard('dashboard_delivery', { ...span, bucket: 'day', dims: ['provider', 'country'] }), { provider: 'dash-old' }),
    all: rowsOf(await dashboard('dashboard_delivery', { ...span, bucket: 'all', dims: ['provider', 'country'] }), { provider: 'dash-old' }),
    latency: rowsOf(await dashboard('dashboard_latency', { ...span, bucket: 'all', dims: ['provider'] }), { provider: 'dash-old' }),
    metrics: parseExposition(await metricsText()).samples.filter((s) => s.labels.provider === 'dash-old'),
  });
  const was = await snapshot();
  assert.deepEqual(was.all.map((r) => [r.country, figures(r)]), [
    ['GB', { attempted: 1, accepted: 1, rejected: 0, retried: 0, delivered: 0, undelivered: 1, failed: 0, unknown: 0, segments: 1 }],
    ['US', { attempted: 2, accepted: 1, rejected: 1, retried: 0, delivered: 1, undelivered: 0, failed: 0, unknown: 0, segments: 1 }],
  ]);
  assert.equal(was.hour.length, 2);
  assert.deepEqual(was.latency.map((r) => [r.stage, r.count]), [['delivery', 1], ['send', 2]]);

  // A worker starts with its chores: the closed hours are folded.
  await restartWorker();
  await until(() => live() === 0, 'the worker folds the closed hours');
  assert.deepEqual(stack.sql(`SELECT grain, count(*) FROM sms_otp.stats_messages WHERE provider = 'dash-old' GROUP BY 1 ORDER BY 1`),
    [['d', '2'], ['h', '2'], ['t', '2']], 'hours folded into their days and into the totals');
  assert.deepEqual(await snapshot(), was);

  // The service role may run it too; again is harmless.
  const compact = await rpc('stats_compact', {}, service());
  assert.equal(compact.status, 200, compact.text);
  assert.ok(Number.isInteger(compact.json) && compact.json >= 0, compact.text);
  assert.deepEqual(await snapshot(), was);

  // Retention: raw rows older than a day go (from the start of yesterday); the figures stay.
  const old = () => stack.value("SELECT count(*) FROM sms_otp.sms_messages_log WHERE provider_name = 'dash-old' AND created_at < now() - interval '2 days'");
  assert.equal(old(), '1');
  stack.sql("ALTER SYSTEM SET sms_otp.log_retention = '1d'");
  try {
    stack.sql('SELECT pg_reload_conf()');
    await until(() => stack.value("SELECT current_setting('sms_otp.log_retention')") === '1d', 'the setting');
    await restartWorker();
    await until(() => old() === '0', 'the worker deletes the old raw row');
    assert.equal(stack.value("SELECT count(*) FROM sms_otp.sms_messages_log WHERE provider_name = 'dash-old'"), '2');
    assert.deepEqual(await snapshot(), was);
  } finally {
    stack.sql('ALTER SYSTEM RESET sms_otp.log_retention');
    stack.sql('SELECT pg_reload_conf()');
  }
});

// ------------------------------------------------------------------ docs/prometheus

test('docs/prometheus: promtool checks the scrape config and the rules, and the rules\' unit tests pass', async () => {
  let r = promtool('check', 'config', '--syntax-only', 'prometheus.yml');
  assert.equal(r.status, 0, r.output);
  r = promtool('check', 'rules', 'alerts.yml');
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /SUCCESS: 6 rules found/);
  r = promtool('test', 'rules', 'alerts.test.yml');
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /SUCCESS/);

  // In full (the token file and the rules must exist), as installed next to a token file.
  const dir = mkdtempSync('/tmp/sms_otp_prom_check.');
  try {
    const conf = readFileSync(`${DOCS}/prometheus.yml`, 'utf8');
    const from = 'credentials_file: /etc/prometheus/sms_otp_service_role.jwt';
    assert.ok(conf.includes(from));
    writeFileSync(`${dir}/prometheus.yml`, conf.replace(from, `credentials_file: ${dir}/token.jwt`));
    copyFileSync(`${DOCS}/alerts.yml`, `${dir}/alerts.yml`);
    writeFileSync(`${dir}/token.jwt`, `${service()}\n`, { mode: 0o600 });
    const full = spawnSync('promtool', ['check', 'config', `${dir}/prometheus.yml`], { encoding: 'utf8' });
    assert.equal(full.status, 0, full.stdout + full.stderr);
    assert.match(full.stdout, /SUCCESS: 6 rules found/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // The rules name only metrics and label values /rpc/metrics serves.
  const m = parseExposition(await metricsText());
  const rules = readFileSync(`${DOCS}/alerts.yml`, 'utf8').split('\n').filter((l) => !l.trim().startsWith('#')).join('\n');
  const selectors = [...rules.matchAll(/\b(sms_otp_[a-z_]+)(\{([^}]*)\})?/g)];
  assert.ok(selectors.length >= 5);
  for (const [, name, , matchers = ''] of selectors) {
    assert.equal(m.types.has(name) ? name : null, name, `alerts.yml names ${name}, which /rpc/metrics does not serve`);
    for (const [, label, value] of matchers.matchAll(/([a-z_]+)="([^"]*)"/g)) {
      assert.ok(m.samples.some((s) => s.name === name && s.labels[label] === value), `no ${name}{${label}="${value}"} in /rpc/metrics`);
    }
  }
});

test('a real Prometheus scrapes /rpc/metrics with docs/prometheus/prometheus.yml and evaluates the rules', async () => {
  const dir = mkdtempSync('/tmp/sms_otp_prometheus.');
  const port = freePort();
  let proc;
  try {
    // The documented config, pointed at this stack's PostgREST and a token file here, scraping
    // and evaluating every second instead of every 30 so the test need not wait.
    let conf = readFileSync(`${DOCS}/prometheus.yml`, 'utf8');
    for (const [from, to] of [
      ["targets: ['127.0.0.1:3000']", `targets: ['127.0.0.1:${stack.apiPort}']`],
      ['credentials_file: /etc/prometheus/sms_otp_service_role.jwt', `credentials_file: ${dir}/token.jwt`],
      ['scrape_interval: 30s', 'scrape_interval: 1s'],
      ['evaluation_interval: 30s', 'evaluation_interval: 1s'],
      ['scrape_timeout: 10s', 'scrape_timeout: 1s'],
    ]) {
      assert.ok(conf.includes(from), `prometheus.yml has ${from}`);
      conf = conf.replaceAll(from, to);
    }
    writeFileSync(`${dir}/prometheus.yml`, conf);
    copyFileSync(`${DOCS}/alerts.yml`, `${dir}/alerts.yml`);
    // First an end user's token: the scrape is refused.
    writeFileSync(`${dir}/token.jwt`, `${user('d0000000-0000-4000-8000-00000000a002')}\n`, { mode: 0o600 });

    let log = '';
    proc = spawn('/usr/bin/prometheus', [`--config.file=${dir}/prometheus.yml`, `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout.on('data', (d) => { log += d; });
    proc.stderr.on('data', (d) => { log += d; });
    const exited = new Promise((resolve) => proc.on('exit', resolve));
    const api = async (path) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      return res.json();
    };
    await until(async () => {
      assert.equal(proc.exitCode, null, `prometheus exited:\n${log}`);
      try { return (await fetch(`http://127.0.0.1:${port}/-/ready`)).status === 200; } catch { return false; }
    }, () => `prometheus ready (log: ${log})`, 30000);

    const target = async () => (await api('/api/v1/targets')).data.activeTargets.find((t) => t.labels.job === 'sms_otp');
    const refused = await until(async () => { const t = await target(); return t?.health === 'down' && t; }, 'a refused scrape', 15000);
    assert.match(refused.lastError, /403/, JSON.stringify(refused));
    assert.equal(new URL(refused.scrapeUrl).pathname, '/rpc/metrics');
    const alerts = async () => (await api('/api/v1/alerts')).data.alerts;
    await until(async () => (await alerts()).some((x) => x.labels.alertname === 'SmsOtpMetricsDown' && x.state === 'pending'),
      async () => `SmsOtpMetricsDown pending while the scrape is refused: ${JSON.stringify(await alerts())}`, 15000);

    // The service role's token in the file: picked up without a reload.
    writeFileSync(`${dir}/token.jwt`, `${service()}\n`);
    const up = await until(async () => { const t = await target(); return t?.health === 'up' && t; },
      async () => `a good scrape: ${JSON.stringify(await target())}`, 15000);
    assert.equal(up.lastError, '');

    const query = async (q) => (await api(`/api/v1/query?query=${encodeURIComponent(q)}`)).data.result;
    const accepted = await until(async () => { const res = await query('sms_otp_attempts_total{provider="dash-tx",country="US",outcome="accepted"}'); return res.length === 1 && res; },
      'sms_otp_attempts_total in Prometheus', 15000);
    assert.equal(accepted[0].value[1], '6');
    assert.equal(accepted[0].metric.job, 'sms_otp');
    assert.equal((await query('sms_otp_worker_up'))[0].value[1], '1');
    assert.equal((await query(`sum(sms_otp_codes_total{country="FR",stage="verified"})`))[0].value[1], '1');
    const p99 = await query('histogram_quantile(0.99, sum by (le) (sms_otp_latency_seconds_bucket{provider="dash-tx",stage="send"}))');
    assert.ok(Number(p99[0].value[1]) >= 1, `the retried message's wait shows in Prometheus's p99: ${JSON.stringify(p99)}`);

    // Every rule evaluates without error on the real series, and none fires on this healthy stack.
    const rules = await until(async () => {
      const groups = (await api('/api/v1/rules')).data.groups;
      const all = groups.flatMap((g) => g.rules);
      return all.length === 6 && all.every((r) => r.health === 'ok') && all;
    }, async () => `the rules evaluated: ${JSON.stringify((await api('/api/v1/rules')).data)}`, 15000);
    for (const r of rules) assert.ok(!r.lastError, `${r.name}: ${r.lastError}`);
    await until(async () => (await alerts()).length === 0, async () => `no alert: ${JSON.stringify(await alerts())}`, 15000);

    proc.kill('SIGTERM');
    await exited;
  } finally {
    if (proc && proc.exitCode === null) proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------ counters, latency, parts, time zones, bad bounds

test('counters never go down: a receipt that moves a message from failed to delivered', async () => {
  await mock('POST', '/_mock/reset');
  onlyProvider('dash-flip');
  const to = nextUsPhone();
  await mockRule('/_mock/callbacks', { provider: 'twilio', to, events: ['failed', 'delivered'], delay_ms: 1500 });
  const r = await rpc('send_transactional', { to, text: 'Flip.' }, service());
  assert.equal(r.status, 200, r.text);
  const id = r.json.message_id;
  const scrapes = [];
  await until(async () => {
    scrapes.push(parseExposition(await metricsText()).samples.filter((s) => s.labels.provider === 'dash-flip' && s.name.endsWith('_total')));
    return stack.value(`SELECT delivery_status FROM sms_otp.sms_outbox WHERE id = ${id}`) === 'delivered';
  }, 'the delivered receipt', 15000);
  scrapes.push(parseExposition(await metricsText()).samples.filter((s) => s.labels.provider === 'dash-flip' && s.name.endsWith('_total')));
  const key = (s) => `${s.name}${JSON.stringify(s.labels)}`;
  const last = new Map();
  for (const samples of scrapes) {
    for (const s of samples) {
      assert.ok(!(last.get(key(s)) > s.value), `${key(s)} went from ${last.get(key(s))} down to ${s.value}`);
      last.set(key(s), s.value);
    }
  }
});

test('delivery latency: a receipt that comes 2.5 s after the provider took the message counts about 2.5 s', async () => {
  await mock('POST', '/_mock/reset');
  onlyProvider('dash-late');
  const to = nextUsPhone();
  await mockRule('/_mock/callbacks', { provider: 'twilio', to, late_ms: 2500 });
  const r = await rpc('send_transactional', { to, text: 'Late receipt.' }, service());
  assert.equal(r.status, 200, r.text);
  await until(() => stack.value(`SELECT delivery_status FROM sms_otp.sms_outbox WHERE id = ${r.json.message_id}`) === 'delivered',
    'delivered', 15000);
  const row = oneRow(await dashboard('dashboard_latency', { ...range(), bucket: 'all', dims: ['provider'] }),
    { provider: 'dash-late', stage: 'delivery' });
  assert.equal(row.count, 1);
  assert.ok(row.p50_ms >= 2500, `the delivery took at least 2.5 s, the dashboard says ${JSON.stringify(row)}`);
});

test('a message of two SMS parts counts two parts, and costs two', async () => {
  await mock('POST', '/_mock/reset');
  onlyProvider('dash-parts');
  stack.sql(`INSERT INTO sms_otp.sms_prices (provider_name, country, price_per_segment) VALUES ('dash-parts', '*', 0.01)
             ON CONFLICT (provider_name, country) DO NOTHING`);
  const r = await rpc('send_transactional', { to: nextUsPhone(), text: `Your order has shipped. ${'Track it on our site. '.repeat(8)}` }, service());
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.segments, 2);
  await until(() => stack.value(`SELECT delivery_status FROM sms_otp.sms_outbox WHERE id = ${r.json.message_id}`) === 'delivered', 'delivered');
  const row = oneRow(await dashboard('dashboard_delivery', { ...range(), bucket: 'all', dims: ['provider'] }), { provider: 'dash-parts' });
  assert.deepEqual([row.accepted, row.segments, Number(row.cost)], [1, 2, 0.02]);
});

test('a caller\'s time zone (Prefer: timezone) does not move the hour a rollup counts in', async () => {
  await mock('POST', '/_mock/reset');
  onlyProvider('dash-otp');
  const token = codeUser('d0000000-0000-4000-8000-00000000b001', '+5511912345678');
  const r = await call('POST', '/rpc/otp_send', { token, body: {}, headers: { Prefer: 'timezone=Asia/Kathmandu' } });
  assert.equal(r.status, 200, r.text);
  await until(() => stack.value(`SELECT status FROM sms_otp.sms_otp_sessions WHERE id = '${r.json.session_id}'`) === 'sent', 'the code sent');
  assert.deepEqual(stack.sql(`SELECT DISTINCT to_char(start AT TIME ZONE 'UTC', 'MI:SS') FROM sms_otp.stats_otp WHERE country = 'BR'`),
    [['00:00']], 'every BR row starts on the hour');
});

test('an infinite range reads day rows (hour buckets refuse it), and a bad number of hours to compact is a 400 with a stable code', async () => {
  const all = await rpc('dashboard_delivery', { since: '-infinity', until: 'infinity', bucket: 'all', dims: [] }, service());
  const hourly = await rpc('dashboard_delivery', { since: '-infinity', bucket: 'hour' }, service());
  const hours = await rpc('stats_compact', { hours: -1 }, service());
  const none = await rpc('stats_compact', { hours: null }, service());
  // Our codes are words (invalid_range, invalid_top, ...), never a bare SQLSTATE.
  assert.deepEqual([all.status, hourly.status, hourly.json?.code, hours.status, hours.json?.code, none.status, none.json?.code],
    [200, 400, 'range_too_long', 400, 'invalid_hours', 400, 'invalid_hours'], `${all.text}\n${hourly.text}\n${hours.text}`);
  assert.ok(all.json.length === 1 && all.json[0].attempted > 0, all.text);
});
