// sms_otp over HTTP: the real PostgREST 12.0.2 in front of the database, the delivery worker
// and the mock SMS provider (test/stack.sh). Every status, header and body a client sees,
// through @supabase/postgrest-js and through plain fetch.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { PostgrestClient } from '@supabase/postgrest-js';
import { Stack, signJwt } from '../stack.mjs';
import { ALICE, BOB, UUID, calls, claimsOf, wrong, assertRaised } from './calls.mjs';

// A short cooldown so the test can wait it out; per-minute and per-day limits (per user, phone
// and address) out of the way (each test starts from no sessions anyway).
const stack = new Stack({
  settings: [
    'sms_otp.resend_cooldown = 2s',
    'sms_otp.rate_limit_per_minute = 1000',
    'sms_otp.rate_limit_per_day = 1000',
    'sms_otp.ip_rate_limit_per_minute = 1000',
    'sms_otp.ip_rate_limit_per_day = 1000',
  ],
});
const { call, rpc, login, codeFor } = calls(stack);

before(() => stack.start());
after(() => stack.stop());

// Wrong codes are counted in shared memory too (so that rolled-back guesses count), which a
// DELETE does not reach: lockouts are forgotten the way an operator does it, reset_lockout().
beforeEach(async () => {
  stack.sql(`DELETE FROM sms_otp.sms_otp_sessions;
             SELECT sms_otp.reset_lockout(id) FROM (VALUES ('${ALICE.id}'::uuid), ('${BOB.id}')) AS u (id);
             UPDATE sms_otp.sms_outbox SET status = 'cancelled', body = NULL WHERE status = 'queued';
             UPDATE sms_otp.api_integrations SET enabled = true, selectable = false;`);
  await fetch(`${stack.mock}/_mock/reset`, { method: 'POST' });
});

function client(token, schema = 'sms_otp') {
  return new PostgrestClient(stack.api, { schema, headers: token ? { Authorization: `Bearer ${token}` } : {} });
}

// ------------------------------------------------------------------ login (demo schema)

test('demo login: a JWT with sub, role, session_id, iat and a one-hour exp', async () => {
  const r = await rpc('login', { email: ALICE.email, password: ALICE.password }, undefined, { 'Content-Profile': 'demo' });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-profile'), 'demo');
  assert.equal(r.json.user_id, ALICE.id);
  const claims = claimsOf(r.json.token);
  assert.equal(claims.sub, ALICE.id);
  assert.equal(claims.role, 'authenticated');
  assert.match(claims.session_id, UUID);
  assert.equal(claims.exp - claims.iat, 3600);
  assert.ok(Math.abs(claims.iat - Date.now() / 1000) < 60);
  // One session_id per login.
  assert.notEqual(claimsOf(await login(ALICE)).session_id, claims.session_id);

  const bad = await rpc('login', { email: ALICE.email, password: 'wrong' }, undefined, { 'Content-Profile': 'demo' });
  assertRaised(bad, 401, 'invalid_credentials');
  const unknown = await rpc('login', { email: 'nobody@example.com', password: 'x' }, undefined, { 'Content-Profile': 'demo' });
  assertRaised(unknown, 401, 'invalid_credentials');
});

test('demo schema: the users and the JWT secret are not readable over HTTP', async () => {
  const token = await login(ALICE);
  for (const table of ['users', 'jwt_secret']) {
    const anon = await call('GET', `/${table}`, { headers: { 'Accept-Profile': 'demo' } });
    assert.equal(anon.status, 401, anon.text);
    assert.equal(anon.json.code, '42501');
    const user = await call('GET', `/${table}`, { token, headers: { 'Accept-Profile': 'demo' } });
    assert.equal(user.status, 403, user.text);
    assert.equal(user.json.code, '42501');
  }
  // Helpers are not callable either.
  const helper = await rpc('jwt_hs256', { claims: { role: 'service_role' }, secret: 'x'.repeat(32) }, token, { 'Content-Profile': 'demo' });
  assert.equal(helper.status, 403, helper.text);
});

// ------------------------------------------------------------------ the happy path

test('postgrest-js: login, otp_send, the code from the inbox, otp_verify', async () => {
  const auth = new PostgrestClient(stack.api, { schema: 'demo' });
  const { data: session, error: loginError } = await auth.rpc('login', { email: ALICE.email, password: ALICE.password });
  assert.equal(loginError, null);
  const otp = client(session.token);

  const sent = await otp.rpc('otp_send');
  assert.equal(sent.error, null);
  assert.equal(sent.status, 200);
  assert.match(sent.data.session_id, UUID);
  assert.equal(sent.data.attempts_remaining, 5);
  const now = Date.now();
  const expires = Date.parse(sent.data.expires_at);
  const resend = Date.parse(sent.data.resend_available_at);
  assert.ok(Math.abs(expires - now - 300_000) < 30_000, `expires_at ${sent.data.expires_at}`);
  assert.ok(Math.abs(resend - now - 2_000) < 30_000, `resend_available_at ${sent.data.resend_available_at}`);

  const code = await codeFor(ALICE.phone, sent.data.session_id);
  assert.match(code, /^\d{6}$/);

  const verified = await otp.rpc('otp_verify', { session_id: sent.data.session_id, otp: code });
  assert.equal(verified.error, null);
  assert.equal(verified.status, 200);
  assert.deepEqual(verified.data, { verified: true, session_id: sent.data.session_id });

  // The session is bound to the login that asked for it.
  assert.equal(stack.value(`SELECT login_session FROM sms_otp.sms_otp_sessions WHERE id = '${sent.data.session_id}'`),
    claimsOf(session.token).session_id);

  // Single use: the same code again is refused, with the status PostgREST sends.
  const again = await otp.rpc('otp_verify', { session_id: sent.data.session_id, otp: code });
  assert.equal(again.status, 409);
  assert.equal(again.data, null);
  assert.equal(again.error.reason, 'already_used');
  assert.equal(again.error.verified, false);
});

test('fetch: otp_send 200 with its fields and headers, otp_verify 200', async () => {
  const token = await login(ALICE);
  const sent = await rpc('otp_send', {}, token);
  assert.equal(sent.status, 200);
  assert.match(sent.headers.get('content-type'), /^application\/json/);
  assert.equal(sent.headers.get('content-profile'), 'sms_otp');
  assert.deepEqual(Object.keys(sent.json).sort(), ['attempts_remaining', 'expires_at', 'resend_available_at', 'server_time', 'session_id']);
  assert.equal(stack.value(`SELECT user_id FROM sms_otp.sms_otp_sessions WHERE id = '${sent.json.session_id}'`), ALICE.id);

  const code = await codeFor(ALICE.phone, sent.json.session_id);
  const verified = await rpc('otp_verify', { session_id: sent.json.session_id, otp: code }, token);
  assert.equal(verified.status, 200, verified.text);
  assert.deepEqual(verified.json, { verified: true, session_id: sent.json.session_id });
  assert.equal(stack.value(`SELECT status FROM sms_otp.sms_otp_sessions WHERE id = '${sent.json.session_id}'`), 'verified');
});

test('otp_send accepts the registered phone in another notation', async () => {
  const token = await login(ALICE);
  const sent = await rpc('otp_send', { phone: '+1 (415) 555-0101' }, token);
  assert.equal(sent.status, 200, sent.text);
});

test('otp_status and otp_is_verified over HTTP, bound to the login session', async () => {
  const token = await login(ALICE);

  let status = await rpc('otp_status', {}, token);
  assert.equal(status.status, 200);
  assert.equal(status.json.otp_required, true);
  assert.equal(status.json.verified, false);
  assert.equal(status.json.session, null);
  assert.match(status.json.phone_hint, /^\+14.*01$/);
  assert.ok(!status.json.phone_hint.includes('5550'), 'the number is masked');

  const sent = await rpc('otp_send', {}, token);
  status = await rpc('otp_status', {}, token);
  assert.equal(status.json.session.session_id, sent.json.session_id);
  assert.equal(status.json.session.attempts_remaining, 5);
  assert.ok(['pending', 'sent'].includes(status.json.session.status));

  let isVerified = await rpc('otp_is_verified', {}, token);
  assert.equal(isVerified.status, 200);
  assert.equal(isVerified.json, false);

  const code = await codeFor(ALICE.phone, sent.json.session_id);
  assert.equal((await rpc('otp_verify', { session_id: sent.json.session_id, otp: code }, token)).status, 200);

  status = await rpc('otp_status', {}, token);
  assert.equal(status.json.verified, true);
  assert.equal(status.json.session, null);
  isVerified = await rpc('otp_is_verified', {}, token);
  assert.equal(isVerified.json, true);
  // Stable functions answer GET too, with arguments in the query string.
  const viaGet = await call('GET', '/rpc/otp_is_verified?max_age=1%20hour', { token });
  assert.equal(viaGet.status, 200, viaGet.text);
  assert.equal(viaGet.json, true);
  const statusGet = await call('GET', '/rpc/otp_status', { token });
  assert.equal(statusGet.status, 200);
  assert.equal(statusGet.json.verified, true);

  // Another login of the same user (another session_id) has not passed the step.
  const other = await login(ALICE);
  assert.equal((await rpc('otp_is_verified', {}, other)).json, false);
  assert.equal((await rpc('otp_status', {}, other)).json.verified, false);

  // With postgrest-js.
  const { data, error } = await client(token).rpc('otp_is_verified', { max_age: '1 hour' });
  assert.equal(error, null);
  assert.equal(data, true);
});

// ------------------------------------------------------------------ errors

test('401 without a token: otp_send, otp_verify, otp_status; otp_is_verified is false', async () => {
  const send = await rpc('otp_send', {});
  assertRaised(send, 401, 'not_authenticated');
  assert.equal(send.json.message, 'Sign in before asking for a code.');
  const verify = await rpc('otp_verify', { session_id: '00000000-0000-4000-8000-000000000000', otp: '123456' });
  assertRaised(verify, 401, 'not_authenticated');
  assert.equal(verify.json.message, 'Sign in before entering a code.');
  const status = await rpc('otp_status', {});
  assertRaised(status, 401, 'not_authenticated');
  assert.equal(status.json.message, 'Sign in first.');

  const isVerified = await rpc('otp_is_verified', {});
  assert.equal(isVerified.status, 200);
  assert.equal(isVerified.json, false);

  // postgrest-js hands the same body back as the error.
  const { data, error, status: code } = await client().rpc('otp_send');
  assert.equal(data, null);
  assert.equal(code, 401);
  assert.equal(error.code, 'not_authenticated');
  assert.equal(error.message, 'Sign in before asking for a code.');
});

test('400 invalid_phone and phone_mismatch: nothing saved', async () => {
  const token = await login(ALICE);
  const invalid = await rpc('otp_send', { phone: 'not a phone' }, token);
  assertRaised(invalid, 400, 'invalid_phone');
  assert.match(invalid.json.hint, /international format/);
  const mismatch = await rpc('otp_send', { phone: '+14155550102' }, token);
  assertRaised(mismatch, 400, 'phone_mismatch');
  assert.equal(stack.value('SELECT count(*) FROM sms_otp.sms_otp_sessions'), '0');
});

test('provider_hint picks a selectable provider; any other hint is dropped, never a 400', async () => {
  const token = await login(ALICE);
  const hintOf = (r) => stack.value(`SELECT coalesce(provider_hint, '-') FROM sms_otp.sms_outbox WHERE session_id = '${r.json.session_id}'`);
  // Which provider the worker handed the code to.
  const sentBy = async (r) => {
    const deadline = Date.now() + 10000;
    for (;;) {
      const [status, provider] = stack.sql(`SELECT status, provider_name FROM sms_otp.sms_otp_sessions WHERE id = '${r.json.session_id}'`)[0];
      if (status !== 'pending' || Date.now() > deadline) return `${status} by ${provider}`;
      await sleep(20);
    }
  };
  // console is not selectable (the default): the hint is dropped and the configured order
  // applies, twilio first.
  const dropped = await rpc('otp_send', { provider_hint: 'console' }, token);
  assert.equal(dropped.status, 200, dropped.text);
  assert.equal(hintOf(dropped), '-');
  assert.equal(await sentBy(dropped), 'sent by twilio');
  stack.sql("UPDATE sms_otp.sms_otp_sessions SET created_at = created_at - interval '1 minute'");   // past the cooldown
  stack.sql("UPDATE sms_otp.api_integrations SET selectable = true WHERE name = 'console'");
  const hinted = await rpc('otp_send', { provider_hint: 'console' }, token);
  assert.equal(hinted.status, 200, hinted.text);
  assert.equal(hintOf(hinted), 'console');
  assert.equal(await sentBy(hinted), 'sent by console');
});

test('400 invalid_code_format, 400 for a malformed uuid (PostgreSQL 22P02)', async () => {
  const token = await login(ALICE);
  const sent = await rpc('otp_send', {}, token);
  for (const otp of ['12345', '1234567', '12a456', '']) {
    const r = await rpc('otp_verify', { session_id: sent.json.session_id, otp }, token);
    assertRaised(r, 400, 'invalid_code_format');
    assert.equal(r.json.message, 'The code must be 6 digits.');
  }
  const malformed = await rpc('otp_verify', { session_id: 'not-a-uuid', otp: '123456' }, token);
  assert.equal(malformed.status, 400, malformed.text);
  assert.equal(malformed.json.code, '22P02');
  assert.match(malformed.json.message, /invalid input syntax for type uuid/);
  // None of these counted as an attempt.
  assert.equal(stack.value(`SELECT attempts FROM sms_otp.sms_otp_sessions WHERE id = '${sent.json.session_id}'`), '0');
});

test("404 session_not_found: another user's session, or none", async () => {
  const alice = await login(ALICE);
  const bob = await login(BOB);
  const sent = await rpc('otp_send', {}, alice);
  const code = await codeFor(ALICE.phone, sent.json.session_id);
  const stolen = await rpc('otp_verify', { session_id: sent.json.session_id, otp: code }, bob);
  assertRaised(stolen, 404, 'session_not_found');
  const none = await rpc('otp_verify', { session_id: '00000000-0000-4000-8000-000000000000', otp: code }, alice);
  assertRaised(none, 404, 'session_not_found');
  // alice's session is untouched.
  assert.equal(stack.value(`SELECT attempts FROM sms_otp.sms_otp_sessions WHERE id = '${sent.json.session_id}'`), '0');
});

test('409 otp_not_enabled for bob; his status says no step is needed', async () => {
  const token = await login(BOB);
  const sent = await rpc('otp_send', {}, token);
  assertRaised(sent, 409, 'otp_not_enabled');
  const status = await rpc('otp_status', {}, token);
  assert.equal(status.status, 200);
  assert.equal(status.json.otp_required, false);
  assert.equal(status.json.verified, true);
  assert.equal((await rpc('otp_is_verified', {}, token)).json, true);
});

test('429 rate_limited: Retry-After header and retry_after_seconds, then the cooldown passes', async () => {
  const token = await login(ALICE);
  assert.equal((await rpc('otp_send', {}, token)).status, 200);
  const limited = await rpc('otp_send', {}, token);
  assert.equal(limited.status, 429, limited.text);
  const retryAfter = limited.headers.get('retry-after');
  assert.match(retryAfter, /^[0-9]+$/);
  assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 2, `Retry-After ${retryAfter}`);
  assert.equal(limited.json.error, 'rate_limited');
  assert.equal(limited.json.limit, 'cooldown');
  assert.equal(limited.json.retry_after_seconds, Number(retryAfter));
  assert.match(limited.json.message, /wait/);
  // Returned, not raised: the refused attempt made no session.
  assert.equal(stack.value('SELECT count(*) FROM sms_otp.sms_otp_sessions'), '1');

  // postgrest-js: the body is the error, so the wait is readable without the header.
  const viaJs = await client(token).rpc('otp_send');
  assert.equal(viaJs.status, 429);
  assert.equal(viaJs.error.error, 'rate_limited');
  assert.ok(viaJs.error.retry_after_seconds >= 1);

  await sleep(Number(retryAfter) * 1000 + 100);
  const later = await rpc('otp_send', {}, token);
  assert.equal(later.status, 200, later.text);
});

test('400 invalid_code with attempts_remaining, committed', async () => {
  const token = await login(ALICE);
  const sent = await rpc('otp_send', {}, token);
  const code = await codeFor(ALICE.phone, sent.json.session_id);
  const r = await rpc('otp_verify', { session_id: sent.json.session_id, otp: wrong(code) }, token);
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.verified, false);
  assert.equal(r.json.reason, 'invalid_code');
  assert.equal(r.json.attempts_remaining, 4);
  assert.equal(r.headers.get('retry-after'), null);
  // PostgREST committed the attempt (the function returned; it did not raise).
  assert.equal(stack.value(`SELECT attempts FROM sms_otp.sms_otp_sessions WHERE id = '${sent.json.session_id}'`), '1');
  // The right code still works.
  assert.equal((await rpc('otp_verify', { session_id: sent.json.session_id, otp: code }, token)).status, 200);
});

test('403 locked after the attempt cap; the right code no longer works', async () => {
  const token = await login(ALICE);
  const sent = await rpc('otp_send', {}, token);
  const code = await codeFor(ALICE.phone, sent.json.session_id);
  for (let left = 4; left >= 1; left--) {
    const r = await rpc('otp_verify', { session_id: sent.json.session_id, otp: wrong(code) }, token);
    assert.equal(r.status, 400);
    assert.equal(r.json.attempts_remaining, left);
  }
  const locked = await rpc('otp_verify', { session_id: sent.json.session_id, otp: wrong(code) }, token);
  assert.equal(locked.status, 403, locked.text);
  assert.equal(locked.json.reason, 'locked');
  assert.equal(locked.json.attempts_remaining, 0);
  const right = await rpc('otp_verify', { session_id: sent.json.session_id, otp: code }, token);
  assert.equal(right.status, 403);
  assert.equal(right.json.reason, 'locked');
  assert.equal(stack.value(`SELECT status FROM sms_otp.sms_otp_sessions WHERE id = '${sent.json.session_id}'`), 'locked');
});

test('429 locked_out after too many wrong codes across sessions, with Retry-After', async () => {
  const token = await login(ALICE);
  const threshold = Number(stack.value("SELECT current_setting('sms_otp.lockout_threshold')"));
  let failures = 0;
  let last;
  while (failures < threshold) {
    // A new session when the last one locked; the cooldown is moved out of the way.
    stack.sql("UPDATE sms_otp.sms_otp_sessions SET created_at = created_at - interval '1 minute'");
    const sent = await rpc('otp_send', {}, token);
    assert.equal(sent.status, 200, sent.text);
    for (let i = 0; i < 5 && failures < threshold; i++, failures++) {
      last = await rpc('otp_verify', { session_id: sent.json.session_id, otp: '000000' }, token);
    }
  }
  stack.sql("UPDATE sms_otp.sms_otp_sessions SET created_at = created_at - interval '1 minute'");
  const send = await rpc('otp_send', {}, token);
  assert.equal(send.status, 429, send.text);
  assert.equal(send.json.error, 'locked_out');
  const wait = Number(send.headers.get('retry-after'));
  assert.ok(wait > 60, `Retry-After ${wait}`);
  assert.equal(send.json.retry_after_seconds, wait);
  assert.ok(last.status === 400 || last.status === 403);
  // Verifying is locked out too, even with a session of this login that still takes codes.
  stack.sql(`INSERT INTO sms_otp.sms_otp_sessions (user_id, phone, login_session, max_attempts, expires_at, resend_available_at)
             VALUES ('${ALICE.id}', '${ALICE.phone}', '${claimsOf(token).session_id}', 5, now() + interval '5 minutes', now())`);
  const open = stack.value(`SELECT id FROM sms_otp.sms_otp_sessions WHERE user_id = '${ALICE.id}' AND status = 'pending'`);
  const verify = await rpc('otp_verify', { session_id: open, otp: '000000' }, token);
  assert.equal(verify.status, 429, verify.text);
  assert.equal(verify.json.error, 'locked_out');
  assert.equal(verify.json.verified, false);
  assert.equal(Number(verify.headers.get('retry-after')), verify.json.retry_after_seconds);
  assert.equal(stack.value(`SELECT attempts FROM sms_otp.sms_otp_sessions WHERE id = '${open}'`), '0');
});

test('400 expired once expires_at has passed', async () => {
  const token = await login(ALICE);
  const sent = await rpc('otp_send', {}, token);
  const code = await codeFor(ALICE.phone, sent.json.session_id);
  stack.sql(`UPDATE sms_otp.sms_otp_sessions SET expires_at = now() - interval '1 second' WHERE id = '${sent.json.session_id}'`);
  const r = await rpc('otp_verify', { session_id: sent.json.session_id, otp: code }, token);
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.verified, false);
  assert.equal(r.json.reason, 'expired');
  assert.equal(stack.value(`SELECT status FROM sms_otp.sms_otp_sessions WHERE id = '${sent.json.session_id}'`), 'expired');
});

test('503 no_provider when every provider is disabled', async () => {
  const token = await login(ALICE);
  stack.sql('UPDATE sms_otp.api_integrations SET enabled = false');
  const r = await rpc('otp_send', {}, token);
  assertRaised(r, 503, 'no_provider');
  assert.equal(stack.value('SELECT count(*) FROM sms_otp.sms_otp_sessions'), '0');
  // postgrest-js does not retry a POST.
  const viaJs = await client(token).rpc('otp_send');
  assert.equal(viaJs.status, 503);
  assert.equal(viaJs.error.code, 'no_provider');
});

// ------------------------------------------------------------------ JWT

test('an expired JWT is refused with 401 and PostgREST\'s "JWT expired"', async () => {
  const now = Math.floor(Date.now() / 1000);
  const token = signJwt({ sub: ALICE.id, role: 'authenticated', session_id: 'x', iat: now - 7200, exp: now - 3600 }, stack.secret);
  const r = await rpc('otp_status', {}, token);
  assert.equal(r.status, 401, r.text);
  assert.equal(r.json.code, 'PGRST301');
  assert.equal(r.json.message, 'JWT expired');
  assert.match(r.headers.get('www-authenticate'), /^Bearer error="invalid_token"/);
  // The same claims with a future exp pass.
  const fresh = signJwt({ sub: ALICE.id, role: 'authenticated', session_id: 'x', iat: now, exp: now + 60 }, stack.secret);
  assert.equal((await rpc('otp_status', {}, fresh)).status, 200);
});

test('a token signed with another secret is refused with 401', async () => {
  const now = Math.floor(Date.now() / 1000);
  const forged = signJwt({ sub: ALICE.id, role: 'service_role', iat: now, exp: now + 600 }, 'not-the-secret-but-long-enough-0123456789');
  const r = await rpc('otp_status', {}, forged);
  assert.equal(r.status, 401, r.text);
  assert.equal(r.json.code, 'PGRST301');
  assert.match(r.json.message, /JWSInvalidSignature/);
  assert.match(r.headers.get('www-authenticate'), /^Bearer error="invalid_token"/);
  // A real token with its signature altered.
  const real = await login(ALICE);
  const tampered = real.slice(0, -2) + (real.endsWith('AA') ? 'BB' : 'AA');
  assert.equal((await rpc('otp_status', {}, tampered)).status, 401);
});

test('roles: service_role reads every row, authenticated its own, anon none; no role reads code_hash', async () => {
  const now = Math.floor(Date.now() / 1000);
  const service = signJwt({ role: 'service_role', iat: now, exp: now + 600 }, stack.secret);
  const alice = await login(ALICE);
  await rpc('otp_send', {}, alice);
  stack.sql(`INSERT INTO sms_otp.sms_otp_sessions (user_id, phone, max_attempts, expires_at, resend_available_at, status)
             VALUES ('${BOB.id}', '+14155550102', 5, now() + interval '5 minutes', now(), 'expired')`);
  const read = (path, token) => call('GET', path, { token, headers: { 'Accept-Profile': 'sms_otp' } });

  const all = await read('/sms_otp_sessions?select=user_id,status&order=user_id', service);
  assert.equal(all.status, 200, all.text);
  assert.deepEqual(all.json.map((r) => r.user_id), [ALICE.id, BOB.id]);
  const own = await read('/sms_otp_sessions?select=user_id', alice);
  assert.equal(own.status, 200);
  assert.deepEqual(own.json.map((r) => r.user_id), [ALICE.id]);
  const none = await read('/sms_otp_sessions?select=user_id', undefined);
  assert.equal(none.status, 200);
  assert.deepEqual(none.json, []);

  // Providers and the outbox: the service role reads them (providers without credentials); no
  // other role holds a privilege on them at all, so PostgreSQL refuses before any row is read.
  const providers = await read('/api_integrations?select=name,kind,priority&order=priority', service);
  assert.deepEqual(providers.json, [{ name: 'twilio', kind: 'twilio', priority: 10 }, { name: 'console', kind: 'console', priority: 100 }]);
  assert.ok((await read('/sms_outbox?select=id,status', service)).json.length >= 1);
  for (const table of ['api_integrations', 'sms_outbox']) {
    for (const [token, status] of [[undefined, 401], [alice, 403]]) {
      const r = await read(`/${table}?select=id`, token);
      assert.equal(r.status, status, r.text);
      assert.equal(r.json.code, '42501');
      assert.equal(r.json.message, `permission denied for table ${table}`);
    }
  }

  // Column privileges: PostgreSQL's 42501, which PostgREST sends as 401 to anon and 403 to a
  // role from a valid JWT.
  for (const [token, status] of [[undefined, 401], [alice, 403], [service, 403]]) {
    const hash = await read('/sms_otp_sessions?select=code_hash', token);
    assert.equal(hash.status, status, hash.text);
    assert.equal(hash.json.code, '42501');
    assert.match(hash.json.message, /permission denied/);
    const star = await read('/sms_otp_sessions', token);   // select=* names code_hash too
    assert.equal(star.status, status);
    const creds = await read('/api_integrations?select=credentials', token);
    assert.equal(creds.status, status);
    assert.equal(creds.json.code, '42501');
  }

  // Client writes go through the API functions only: no client role may write a table (the
  // service role's grants name that role alone), so an update or an insert is a 403.
  const patch = await call('PATCH', `/sms_otp_sessions?user_id=eq.${ALICE.id}`, {
    token: alice, body: { status: 'verified' }, headers: { 'Content-Profile': 'sms_otp' } });
  assert.equal(patch.status, 403, patch.text);
  assert.equal(patch.json.code, '42501');
  assert.equal(patch.json.message, 'permission denied for table sms_otp_sessions');
  assert.equal(stack.value(`SELECT count(*) FROM sms_otp.sms_otp_sessions WHERE status = 'verified'`), '0');
  const insert = await call('POST', '/user_contact_settings', {
    token: alice, body: { user_id: ALICE.id, phone: '+14155550102', otp_enabled: false }, headers: { 'Content-Profile': 'sms_otp' } });
  assert.equal(insert.status, 403, insert.text);
  assert.equal(insert.json.code, '42501');
  assert.equal(insert.json.message, 'permission denied for table user_contact_settings');
  assert.equal(stack.value(`SELECT phone FROM sms_otp.user_contact_settings WHERE user_id = '${ALICE.id}'`), ALICE.phone);
});

// ------------------------------------------------------------------ HTTP methods and CORS

test('GET /rpc/otp_send is refused: 405 from the read-only transaction of a GET', async () => {
  const token = await login(ALICE);
  const r = await call('GET', '/rpc/otp_send', { token });
  assert.equal(r.status, 405, r.text);
  assert.equal(r.json.code, '25006');
  assert.match(r.json.message, /read-only transaction/);
  assert.equal(stack.value('SELECT count(*) FROM sms_otp.sms_otp_sessions'), '0');
  const verify = await call('GET', '/rpc/otp_verify?session_id=00000000-0000-4000-8000-000000000000&otp=123456', { token });
  assert.equal(verify.status, 405, verify.text);
  assert.equal(verify.json.code, '25006');
  // OPTIONS lists the methods a volatile function takes.
  const options = await call('OPTIONS', '/rpc/otp_send');
  assert.equal(options.status, 200);
  assert.equal(options.headers.get('allow'), 'OPTIONS,POST');
});

test('CORS preflight from the web app origin is allowed', async () => {
  const r = await call('OPTIONS', '/rpc/otp_send', {
    headers: {
      Origin: 'http://127.0.0.1:5173',
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'authorization, content-type, content-profile',
    },
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
  const methods = r.headers.get('access-control-allow-methods').split(/,\s*/);
  assert.ok(methods.includes('POST') && methods.includes('GET'), methods.join());
  const allowed = r.headers.get('access-control-allow-headers').toLowerCase().split(/,\s*/);
  for (const h of ['authorization', 'content-type', 'content-profile', 'accept']) assert.ok(allowed.includes(h), `${h} in ${allowed}`);
  assert.equal(r.headers.get('access-control-max-age'), '86400');
  assert.equal(r.headers.get('access-control-allow-credentials'), null);
});

test('CORS responses do not expose Retry-After: the wait is in the body', async () => {
  const token = await login(ALICE);
  const headers = { Origin: 'http://127.0.0.1:5173' };
  await rpc('otp_send', {}, token, headers);
  const limited = await rpc('otp_send', {}, token, headers);
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get('access-control-allow-origin'), '*');
  const exposed = limited.headers.get('access-control-expose-headers').toLowerCase().split(/,\s*/);
  assert.deepEqual(exposed.sort(), ['content-encoding', 'content-location', 'content-range', 'content-type', 'date',
    'location', 'range-unit', 'server', 'transfer-encoding']);
  assert.ok(!exposed.includes('retry-after'));
  assert.ok(limited.headers.get('retry-after'));       // sent, but a browser script cannot read it
  assert.ok(limited.json.retry_after_seconds >= 1);    // readable
});
