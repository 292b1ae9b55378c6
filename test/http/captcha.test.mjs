// The CAPTCHA check of otp_send over HTTP: the real PostgREST, the delivery worker, and the mock
// provider as both the SMS provider and the siteverify endpoint (Turnstile, then hCaptcha). What
// a client sees for a good, missing, rejected, replayed and oversized token, and for a verifier
// that fails or hangs; that only a good token ever sends an SMS; that the secret goes to the
// verifier and nowhere else; that a hanging verifier holds no lock another user's send waits on.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Stack } from '../stack.mjs';
import { ALICE, BOB, calls, assertRaised } from './calls.mjs';

const CAPTCHA_TIMEOUT_MS = 1500;
const SECRET = '0x4AAAAAAAtest-secret';
const BOB_PHONE = '+14155550102';
const stack = new Stack({
  settings: [
    'sms_otp.resend_cooldown = 0',
    'sms_otp.rate_limit_per_minute = 3',
    'sms_otp.rate_limit_per_day = 1000',
    'sms_otp.ip_rate_limit_per_minute = 1000',
    'sms_otp.ip_rate_limit_per_day = 1000',
    `sms_otp.captcha_timeout = ${CAPTCHA_TIMEOUT_MS}ms`,
    `sms_otp.captcha_secret = '${SECRET}'`,
    // Refused tokens are limited (per user and per address, in shared memory); the tests
    // before the last one refuse more than the defaults allow in a minute.
    'sms_otp.captcha_refusals_per_minute = 1000',
    'sms_otp.ip_captcha_refusals_per_minute = 1000',
  ],
});
const { rpc, login, codeFor } = calls(stack);

// The setting as the API's backends see it, after a reload.
async function setSystem(settings) {
  for (const [name, value] of Object.entries(settings)) stack.sql(`ALTER SYSTEM SET ${name} = '${value}'`);
  stack.sql('SELECT pg_reload_conf()');
  // Every PostgREST connection reads the file at its next command; a few calls make sure.
  await sleep(300);
}

const mock = (method, path, body) => fetch(`${stack.mock}${path}`, {
  method, headers: body ? { 'Content-Type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined,
});
const verifierRequests = async (provider) =>
  (await (await mock('GET', `/_mock/requests?provider=${provider}`)).json());
const inboxCount = async () => (await (await mock('GET', '/inbox.json')).json()).length;
const sessionsOf = (id) => Number(stack.value(`SELECT count(*) FROM sms_otp.sms_otp_sessions WHERE user_id = '${id}'`));
const send = (token, captcha, extra = {}) =>
  rpc('otp_send', {}, token, { ...(captcha !== undefined ? { 'X-Captcha-Token': captcha } : {}), ...extra });

before(async () => {
  stack.start();
  stack.sql(`UPDATE sms_otp.user_contact_settings SET phone = '${BOB_PHONE}', otp_enabled = true
             WHERE user_id = '${BOB.id}'`);
  await setSystem({ 'sms_otp.captcha': 'turnstile', 'sms_otp.captcha_verify_url': `${stack.mock}/turnstile/v0/siteverify` });
});
after(() => stack.stop());

beforeEach(async () => {
  await mock('POST', '/_mock/reset');
  await mock('POST', '/_mock/config', {
    turnstile: { secret: SECRET, tokens: ['good-1', 'good-2', 'good-3', 'replay-me', 'for-bob', 'x'.repeat(2048)] },
    hcaptcha: { secret: SECRET, tokens: ['hc-good'] },
  });
  stack.sql(`DELETE FROM sms_otp.sms_otp_sessions; DELETE FROM sms_otp.captcha_tokens;
             UPDATE sms_otp.sms_outbox SET status = 'cancelled', body = NULL WHERE status = 'queued';`);
});

test('a good token: 200, the code is sent; the verifier got our secret, the token and the client address', async () => {
  const token = await login(ALICE);
  // Without a trusted proxy (PostgREST straight), the X-Forwarded-For a client writes is not
  // believed: the verifier is told the connection's address (behind nginx, the one nginx saw).
  const r = await send(token, 'good-1', { 'X-Forwarded-For': '203.0.113.9' });
  assert.equal(r.status, 200, r.text);
  assert.match(await codeFor(ALICE.phone, r.json.session_id), /^\d{6}$/);
  const asked = await verifierRequests('turnstile');
  assert.equal(asked.length, 1);
  assert.equal(asked[0].headers['content-type'], 'application/x-www-form-urlencoded');
  assert.deepEqual(asked[0].form, { secret: SECRET, response: 'good-1', remoteip: '127.0.0.1' });
});

test('missing, rejected and oversized tokens: 403 with a stable code, no SMS, no session', async () => {
  const token = await login(ALICE);
  assertRaised(await send(token), 403, 'captcha_required');
  assertRaised(await send(token, ''), 403, 'captcha_required');
  const rejected = await send(token, 'forged-token');
  assertRaised(rejected, 403, 'captcha_failed');
  const oversized = await send(token, 'x'.repeat(2049));
  assertRaised(oversized, 403, 'captcha_failed');
  // The same answer whatever the reason: nothing tells a forged token from an oversized one.
  assert.deepEqual(rejected.json, oversized.json);
  // The 2049-byte token never reached the verifier; the forged one did, once.
  assert.deepEqual((await verifierRequests('turnstile')).map((q) => q.form.response), ['forged-token']);
  await sleep(200);
  assert.equal(sessionsOf(ALICE.id), 0);
  assert.equal(await inboxCount(), 0);
  // The verifier's own 2048-byte limit is ours too: a token of exactly 2048 bytes is asked about.
  const longest = await send(token, 'x'.repeat(2048));
  assert.equal(longest.status, 200, longest.text);
});

test('a replayed token is refused locally, even when the verifier would take it again', async () => {
  await mock('POST', '/_mock/config', { turnstile: { secret: SECRET, tokens: ['replay-me'], single_use: false } });
  const token = await login(ALICE);
  const first = await send(token, 'replay-me');
  assert.equal(first.status, 200, first.text);
  await codeFor(ALICE.phone, first.json.session_id);
  const inbox = await inboxCount();
  const again = await send(await login(ALICE), 'replay-me');
  assertRaised(again, 403, 'captcha_failed');
  assert.equal((await verifierRequests('turnstile')).length, 1, 'the replay was not even sent to the verifier');
  await sleep(300);
  assert.equal(await inboxCount(), inbox, 'no second SMS');
  // Kept as a hash, for the token's five minutes.
  assert.equal(stack.value(`SELECT count(*) FROM sms_otp.captcha_tokens
                            WHERE token_hash = sha256('replay-me') AND expires_at > now() + interval '290 s'`), '1');
});

test('two sends racing with one token (a verifier that takes it twice): exactly one passes', async () => {
  await mock('POST', '/_mock/config', { turnstile: { secret: SECRET, tokens: ['race'], single_use: false } });
  const [a, b] = await Promise.all([login(ALICE), login(BOB)]);
  const results = await Promise.all([send(a, 'race'), send(b, 'race')]);
  assert.deepEqual(results.map((r) => r.status).sort(), [200, 403], results.map((r) => r.text).join(' | '));
  assertRaised(results.find((r) => r.status === 403), 403, 'captcha_failed');
});

test('a browser may send the header: the preflight allows it', async () => {
  const r = await fetch(`${stack.api}/rpc/otp_send`, {
    method: 'OPTIONS',
    headers: { Origin: 'http://app.test', 'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'authorization, content-type, x-captcha-token' },
  });
  assert.ok(r.status < 300, String(r.status));
  assert.ok((r.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/,\s*/).includes('x-captcha-token'));
});

test('each accepted token clears up to 50 expired ones; live ones stay', async () => {
  stack.sql(`INSERT INTO sms_otp.captcha_tokens
             SELECT sha256(('old-' || i)::bytea), now() - interval '1 s' FROM generate_series(1, 60) AS i;
             INSERT INTO sms_otp.captcha_tokens VALUES (sha256('live'::bytea), now() + interval '1 min');`);
  const r = await send(await login(ALICE), 'good-1');
  assert.equal(r.status, 200, r.text);
  assert.equal(stack.value(`SELECT count(*) FROM sms_otp.captcha_tokens WHERE expires_at <= now()`), '10');
  assert.equal(stack.value(`SELECT count(*) FROM sms_otp.captcha_tokens WHERE expires_at > now()`), '2');
});

test('the provider\'s own single use: a token accepted elsewhere first is refused (403)', async () => {
  await fetch(`${stack.mock}/turnstile/v0/siteverify`, { method: 'POST', body: new URLSearchParams({ secret: SECRET, response: 'good-2' }) });
  assertRaised(await send(await login(ALICE), 'good-2'), 403, 'captcha_failed');
});

test('verifier down (5xx, dropped connection, unreadable answer) or refusing our secret: 503, no SMS', async () => {
  const token = await login(ALICE);
  for (const fault of [{ mode: 'status', status: 500 }, { mode: 'drop' }, { mode: 'status', status: 200, body: 'success: true' },
    { mode: 'status', status: 200, body: { success: 'true' } }, { mode: 'status', status: 302, body: { success: true } }]) {
    await mock('POST', '/_mock/faults', { provider: 'turnstile', count: 1, ...fault });
    assertRaised(await send(token, 'good-3'), 503, 'captcha_unavailable');
  }
  await mock('POST', '/_mock/config', { turnstile: { secret: 'another-secret', tokens: ['good-3'] } });
  assertRaised(await send(token, 'good-3'), 503, 'captcha_unavailable');
  assert.equal(sessionsOf(ALICE.id), 0);
  assert.equal(await inboxCount(), 0);
});

test('refusals count for no rate limit: five refused sends, then three good ones pass a limit of 3 a minute', async () => {
  const token = await login(ALICE);
  for (let i = 0; i < 5; i++) assertRaised(await send(token, `bad-${i}`), 403, 'captcha_failed');
  for (const t of ['good-1', 'good-2', 'good-3']) {
    const r = await send(token, t);
    assert.equal(r.status, 200, r.text);
  }
});

test('a hanging verifier: 503 within the timeout, and another user\'s send meanwhile is not held up', async () => {
  await mock('POST', '/_mock/faults', { provider: 'turnstile', mode: 'timeout', count: 1 });
  const alice = await login(ALICE);
  const bob = await login(BOB);
  const started = Date.now();
  const hanging = send(alice, 'good-1').then((r) => ({ ...r, ms: Date.now() - started }));
  const deadline = Date.now() + 5000;
  while ((await verifierRequests('turnstile')).length === 0 && Date.now() < deadline) await sleep(20);

  // Bob, and Alice's own other login, send while Alice's check hangs: neither waits on it.
  let t = Date.now();
  const other = await send(bob, 'for-bob');
  const otherMs = Date.now() - t;
  assert.equal(other.status, 200, other.text);
  assert.ok(otherMs < CAPTCHA_TIMEOUT_MS / 2, `Bob's otp_send took ${otherMs} ms`);
  t = Date.now();
  const same = await send(await login(ALICE), 'good-2');
  assert.equal(same.status, 200, same.text);
  assert.ok(Date.now() - t < CAPTCHA_TIMEOUT_MS / 2, 'Alice\'s other login was not held up');

  const first = await hanging;
  assertRaised(first, 503, 'captcha_unavailable');
  assert.ok(first.ms >= CAPTCHA_TIMEOUT_MS - 50 && first.ms < CAPTCHA_TIMEOUT_MS + 1500, `the hanging check took ${first.ms} ms`);
  assert.match(await codeFor(BOB_PHONE, other.json.session_id), /^\d{6}$/);
});

test('hCaptcha: the same answers against /siteverify', async () => {
  await setSystem({ 'sms_otp.captcha': 'hcaptcha', 'sms_otp.captcha_verify_url': `${stack.mock}/siteverify` });
  try {
    const token = await login(ALICE);
    assertRaised(await send(token, 'forged'), 403, 'captcha_failed');
    const r = await send(token, 'hc-good');
    assert.equal(r.status, 200, r.text);
    assertRaised(await send(token, 'hc-good'), 403, 'captcha_failed');
    assert.deepEqual((await verifierRequests('hcaptcha')).map((q) => q.form.response), ['forged', 'hc-good']);
  } finally {
    await setSystem({ 'sms_otp.captcha': 'turnstile', 'sms_otp.captcha_verify_url': `${stack.mock}/turnstile/v0/siteverify` });
  }
});

// Users of their own for the limit on tokens that do not pass: the tests before counted
// refusals for alice and bob.
const newUser = (name, n) => {
  const u = { id: `0000000${n}-0000-4000-8000-00000000000${n}`, email: `${name}@example.com`, password: `${name}-password` };
  stack.sql(`INSERT INTO demo.users (id, email, password_hash)
             VALUES ('${u.id}', '${u.email}', extensions.crypt('${u.password}', extensions.gen_salt('bf', 4)));
             INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES ('${u.id}', '+1415555010${n}', true)`);
  return u;
};

test('refused tokens are limited: past the user\'s limit, 429 with Retry-After and the verifier is not asked', async () => {
  const carol = newUser('carol', 4);
  const dave = newUser('dave', 5);
  await setSystem({ 'sms_otp.captcha_refusals_per_minute': '3' });
  try {
    const token = await login(carol);
    for (let i = 0; i < 2; i++) assertRaised(await send(token, `nope-${i}`), 403, 'captcha_failed');
    // Each refusal rolled its transaction back; PostgREST's tx=rollback changes nothing either.
    assertRaised(await send(token, 'nope-2', { Prefer: 'tx=rollback' }), 403, 'captcha_failed');
    const asked = (await verifierRequests('turnstile')).length;
    assert.equal(asked, 3);
    const limited = await send(token, 'good-1');
    assert.equal(limited.status, 429, limited.text);
    assert.equal(limited.json.error, 'rate_limited');
    assert.equal(limited.json.limit, 'captcha_per_minute');
    const wait = limited.json.retry_after_seconds;
    assert.ok(wait >= 1 && wait <= 60, `retry_after_seconds ${wait}`);
    assert.equal(limited.headers.get('retry-after'), String(wait));
    assert.equal((await verifierRequests('turnstile')).length, asked, 'the verifier was not asked');
    assert.equal(sessionsOf(carol.id), 0);
    assert.equal(await inboxCount(), 0);
    // Another user, from the same address (its limit is 1000 here), is not held back.
    const other = await send(await login(dave), 'good-2');
    assert.equal(other.status, 200, other.text);
  } finally {
    await setSystem({ 'sms_otp.captcha_refusals_per_minute': '1000' });
  }
});

test('tokens sent at once cannot all slip under the limit: each is counted before the verifier is asked', async () => {
  const erin = newUser('erin', 6);
  await setSystem({ 'sms_otp.captcha_refusals_per_minute': '3' });
  try {
    const token = await login(erin);
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => send(token, `at-once-${i}`)));
    const statuses = answers.map((r) => r.status).sort();
    assert.deepEqual(statuses, [403, 403, 403, 429, 429, 429, 429, 429], JSON.stringify(statuses));
    assert.equal((await verifierRequests('turnstile')).length, 3, 'three tokens reached the verifier');
  } finally {
    await setSystem({ 'sms_otp.captcha_refusals_per_minute': '1000' });
  }
});
