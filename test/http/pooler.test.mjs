// The API through pgbouncer in transaction pooling (PostgREST -> pgbouncer -> PostgreSQL): one
// server connection serves many clients' transactions in turn, so nothing may outlive a
// transaction. Each rule that leans on transaction scope is tried under concurrency here:
// claims and settings (set_config(..., true)), advisory locks, the cooldown, the per-address
// limit, the attempt cap and the lockout. test/run.sh also runs the whole HTTP suite this way.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Stack, signJwt } from '../stack.mjs';
import { ALICE, BOB, calls, wrong } from './calls.mjs';

const IP_PER_MINUTE = 6;
const MAX_ATTEMPTS = 5;
const LOCKOUT_THRESHOLD = 8;
const CROWD = Array.from({ length: 10 }, (_, i) => ({ id: `f2000000-0000-4000-8000-0000000000${String(i).padStart(2, '0')}`, phone: `+141555504${String(i).padStart(2, '0')}` }));

const stack = new Stack({
  pooler: 'pgbouncer',
  settings: [
    `sms_otp.ip_rate_limit_per_minute = ${IP_PER_MINUTE}`,
    `sms_otp.max_attempts = ${MAX_ATTEMPTS}`,
    `sms_otp.lockout_threshold = ${LOCKOUT_THRESHOLD}`,
  ],
});
const { rpc, login, codeFor } = calls(stack);

before(() => {
  stack.start();
  stack.sql(`INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled)
             VALUES ${CROWD.map((u) => `('${u.id}', '${u.phone}', true)`).join(', ')}`);
});
after(() => stack.stop());

beforeEach(() => {
  const users = [ALICE.id, BOB.id, ...CROWD.map((u) => u.id)].map((id) => `('${id}'::uuid)`).join(', ');
  stack.sql(`DELETE FROM sms_otp.sms_otp_sessions;
             SELECT sms_otp.reset_lockout(id) FROM (VALUES ${users}) AS u (id);`);
});

function token(sub, extra = {}) {
  const now = Math.floor(Date.now() / 1000);
  return signJwt({ sub, role: 'authenticated', iat: now, exp: now + 600, ...extra }, stack.secret);
}

// pgbouncer's console: SHOW STATS / SHOW POOLS as rows of named fields.
function pgbouncer(command) {
  const out = execFileSync('psql', ['-X', '-q', '-A', '-F', '\t', '-h', '127.0.0.1', '-p', stack.env.POOLER_PORT,
    '-U', 'postgres', '-d', 'pgbouncer', '-c', command], { encoding: 'utf8' });
  const [head, ...rows] = out.split('\n').filter((l) => l && !/^\(\d+ rows?\)$/.test(l));
  const names = head.split('\t');
  return rows.map((r) => Object.fromEntries(r.split('\t').map((v, i) => [names[i], v])));
}
const transactions = () => Number(pgbouncer('SHOW STATS').find((r) => r.database === stack.env.PGDATABASE).total_xact_count);

test('PostgREST reaches the database through pgbouncer, in transaction pooling', async () => {
  assert.match(stack.env.POOLER_PORT, /^[0-9]+$/);
  const pool = pgbouncer('SHOW POOLS').find((r) => r.database === stack.env.PGDATABASE && r.user === 'authenticator');
  assert.ok(pool, 'authenticator has a pool');
  assert.equal(pool.pool_mode, 'transaction');
  const before = transactions();
  const alice = await login(ALICE);
  for (let i = 0; i < 5; i++) assert.equal((await rpc('otp_status', {}, alice)).status, 200);
  // pgbouncer's counters are updated once a second.
  let after = before;
  for (let i = 0; i < 40 && after < before + 6; i++) {
    await new Promise((r) => setTimeout(r, 100));
    after = transactions();
  }
  assert.ok(after >= before + 6, `pgbouncer counted the calls (${before} -> ${after})`);
});

test('claims never cross requests that share a server connection', async () => {
  const alice = await login(ALICE);
  const bob = await login(BOB);
  const calls = Array.from({ length: 60 }, (_, i) => ['alice', 'bob', 'nobody'][i % 3]);
  const answers = await Promise.all(calls.map((who) => rpc('otp_status', {}, who === 'alice' ? alice : who === 'bob' ? bob : undefined)));
  answers.forEach((r, i) => {
    if (calls[i] === 'nobody') {
      assert.equal(r.status, 401, `an anonymous call after others' on the same connections: ${r.text}`);
    } else {
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.otp_required, calls[i] === 'alice', `${calls[i]}'s own status`);
    }
  });
  // More clients than server connections: they were shared.
  const pool = pgbouncer('SHOW POOLS').find((r) => r.database === stack.env.PGDATABASE && r.user === 'authenticator');
  assert.ok(Number(pool.sv_idle) + Number(pool.sv_active) + Number(pool.sv_used) <= 10, 'at most default_pool_size server connections');
});

test('20 sends at once for one user: one code, the cooldown answers the rest; no advisory lock left', async () => {
  const alice = await login(ALICE);
  const answers = await Promise.all(Array.from({ length: 20 }, () => rpc('otp_send', {}, alice)));
  const statuses = answers.map((r) => r.status).sort();
  assert.equal(statuses.filter((s) => s === 200).length, 1, JSON.stringify(statuses));
  for (const r of answers.filter((a) => a.status !== 200)) {
    assert.equal(r.status, 429, r.text);
    assert.equal(r.json.limit, 'cooldown');
  }
  assert.equal(stack.value(`SELECT count(*) FROM sms_otp.sms_otp_sessions WHERE user_id = '${ALICE.id}'`), '1');
  assert.equal(stack.value("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"), '0');
});

test('sends from many users at once: the per-address limit admits exactly its number', async () => {
  const answers = await Promise.all(CROWD.map((u) => rpc('otp_send', {}, token(u.id, { session_id: randomUUID() }))));
  const admitted = answers.filter((r) => r.status === 200).length;
  assert.equal(admitted, IP_PER_MINUTE, JSON.stringify(answers.map((r) => r.status)));
  for (const r of answers.filter((a) => a.status !== 200)) assert.equal(r.json.limit, 'ip_per_minute', r.text);
});

test('wrong codes at once: the attempt cap counts each exactly once, then the right code is refused', async () => {
  const alice = await login(ALICE);
  const sent = await rpc('otp_send', {}, alice);
  assert.equal(sent.status, 200, sent.text);
  const code = await codeFor(ALICE.phone, sent.json.session_id);
  const answers = await Promise.all(Array.from({ length: 12 }, () =>
    rpc('otp_verify', { session_id: sent.json.session_id, otp: wrong(code) }, alice)));
  const remaining = answers.filter((r) => r.json.reason === 'invalid_code' || r.status === 403)
    .map((r) => r.json.attempts_remaining);
  // The counted attempts saw 4, 3, 2, 1 left, then the one that used the last got "locked".
  assert.deepEqual(answers.filter((r) => r.json.reason === 'invalid_code').map((r) => r.json.attempts_remaining).sort(),
    [1, 2, 3, 4], JSON.stringify(remaining));
  assert.equal(stack.value(`SELECT attempts FROM sms_otp.sms_otp_sessions WHERE id = '${sent.json.session_id}'`), String(MAX_ATTEMPTS));
  const right = await rpc('otp_verify', { session_id: sent.json.session_id, otp: code }, alice);
  assert.equal(right.json.verified, false);
  assert.equal(right.json.reason, 'locked');
});

test('the lockout holds across pooled connections: wrong codes over two sessions lock the user once', async () => {
  const user = CROWD[0];
  const bearer = token(user.id, { session_id: randomUUID() });
  const send = async () => {
    stack.sql(`UPDATE sms_otp.sms_otp_sessions SET created_at = created_at - interval '1 minute' WHERE user_id = '${user.id}'`);
    const s = await rpc('otp_send', {}, bearer);
    assert.equal(s.status, 200, s.text);
    return { id: s.json.session_id, code: await codeFor(user.phone, s.json.session_id) };
  };
  const guess = (s, n) => Promise.all(Array.from({ length: n }, () => rpc('otp_verify', { session_id: s.id, otp: wrong(s.code) }, bearer)));

  const first = await send();
  await guess(first, MAX_ATTEMPTS);
  assert.equal(stack.value(`SELECT failures FROM sms_otp.user_lockouts WHERE user_id = '${user.id}'`), String(MAX_ATTEMPTS));
  const second = await send();
  const answers = await guess(second, 6);
  assert.ok(answers.every((r) => r.json.verified === false), 'no guess passed');
  // Only the guesses up to the threshold counted; the user is locked out now.
  assert.equal(stack.value(`SELECT attempts FROM sms_otp.sms_otp_sessions WHERE id = '${second.id}'`),
    String(LOCKOUT_THRESHOLD - MAX_ATTEMPTS));
  assert.equal(stack.value(`SELECT locked_until > now() FROM sms_otp.user_lockouts WHERE user_id = '${user.id}'`), 't');
  assert.ok(answers.some((r) => r.status === 429 && r.json.error === 'locked_out'), JSON.stringify(answers.map((r) => r.status)));
  const refused = await rpc('otp_verify', { session_id: second.id, otp: second.code }, bearer);
  assert.equal(refused.status, 429, refused.text);
  assert.equal(refused.json.error, 'locked_out');
  assert.equal(stack.value("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"), '0');
});
