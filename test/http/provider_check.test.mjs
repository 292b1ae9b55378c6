// Codes a provider keeps (Twilio Verify, Vonage Verify) over HTTP: the real PostgREST, the
// delivery worker and the mock provider (test/stack.sh). What a client sees of each answer
// (status, Retry-After, body), a provider that hangs (the call ends within the timeout and
// holds up neither a second call nor a send), and a session that is not the caller's.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { Stack } from '../stack.mjs';
import { ALICE, BOB, calls, assertRaised } from './calls.mjs';
import { accounts } from './providers.mjs';

const VERIFY_TIMEOUT_MS = 3000;
const stack = new Stack({
  settings: [
    'sms_otp.resend_cooldown = 0',
    'sms_otp.rate_limit_per_minute = 1000',
    'sms_otp.rate_limit_per_day = 1000',
    'sms_otp.ip_rate_limit_per_minute = 1000',
    'sms_otp.ip_rate_limit_per_day = 1000',
    `sms_otp.verify_timeout = ${VERIFY_TIMEOUT_MS}ms`,
  ],
});
const { rpc, call, login, codeFor } = calls(stack);
const SERVICE_SID = 'VA0123456789abcdef0123456789abcdef';
const VONAGE = { api_key: 'abcd1234', api_secret: 'vonage-secret' };

before(() => stack.start());
after(() => stack.stop());

beforeEach(async () => {
  await fetch(`${stack.mock}/_mock/reset`, { method: 'POST' });
  const twilio = accounts(stack).twilio;
  stack.sql(`DELETE FROM sms_otp.sms_otp_sessions;
             SELECT sms_otp.reset_lockout('${ALICE.id}');
             UPDATE sms_otp.sms_outbox SET status = 'cancelled', body = NULL WHERE status = 'queued';
             DELETE FROM sms_otp.api_integrations WHERE name IN ('tv', 'vv');
             INSERT INTO sms_otp.api_integrations (name, kind, priority, base_url, sender, credentials) VALUES
               ('tv', 'twilio_verify', 1, '${stack.mock}', NULL, '${JSON.stringify({ ...twilio, service_sid: SERVICE_SID })}'),
               ('vv', 'vonage_verify', 2, '${stack.mock}', 'Acme', '${JSON.stringify(VONAGE)}');`);
});

// Only `name` sends.
const useOnly = (name) => stack.sql(`UPDATE sms_otp.api_integrations SET enabled = (name = '${name}')`);
const mockCall = (method, path, body) => fetch(`${stack.mock}${path}`, {
  method, headers: body ? { 'Content-Type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined,
}).then((r) => r.json());
const checkRequests = async (part) => (await mockCall('GET', '/_mock/requests')).filter((r) => r.path.includes(part));
const otherCode = (code) => (code[0] === '0' ? '1' : '0') + code.slice(1);

async function sent(token) {
  const r = await rpc('otp_send', {}, token);
  assert.equal(r.status, 200, r.text);
  return { session: r.json.session_id, code: await codeFor(ALICE.phone, r.json.session_id) };
}

test('twilio_verify over HTTP: 400 for a wrong code, 200 for the right one; the user reads the checks in the log', async () => {
  useOnly('tv');
  const token = await login(ALICE);
  const { session, code } = await sent(token);
  const bad = await rpc('otp_verify', { session_id: session, otp: otherCode(code) }, token);
  assert.equal(bad.status, 400, bad.text);
  assert.deepEqual({ ...bad.json, message: undefined },
    { verified: false, reason: 'invalid_code', attempts_remaining: 4, message: undefined });
  const good = await rpc('otp_verify', { session_id: session, otp: code }, token);
  assert.equal(good.status, 200, good.text);
  assert.equal(good.json.verified, true);
  // Past the second factor the user reads their own log rows, checks among them.
  const log = await call('GET', `/sms_messages_log?session_id=eq.${session}&operation=eq.check&order=id&select=outcome,status_code,provider_name`,
    { token, headers: { 'Accept-Profile': 'sms_otp' } });
  assert.equal(log.status, 200, log.text);
  assert.deepEqual(log.json, [
    { outcome: 'wrong', status_code: 200, provider_name: 'tv' },
    { outcome: 'approved', status_code: 200, provider_name: 'tv' },
  ]);
});

test('vonage_verify over HTTP: the provider\'s 4-digit code is taken with code_length 6; a 5-digit one is asked about too', async () => {
  useOnly('vv');
  const token = await login(ALICE);
  const { session, code } = await sent(token);
  assert.match(code, /^\d{4}$/);
  const five = await rpc('otp_verify', { session_id: session, otp: `${code}0` }, token);
  assert.equal(five.status, 400, five.text);
  assert.equal(five.json.reason, 'invalid_code');
  const good = await rpc('otp_verify', { session_id: session, otp: code }, token);
  assert.equal(good.status, 200, good.text);
  assert.equal(good.json.verified, true);
  assert.equal((await checkRequests('/v2/verify/')).length, 2);
});

test('a code while the session is pending: 409 code_pending with Retry-After 1, nothing counted', async () => {
  useOnly('tv');
  const token = await login(ALICE);
  const { session, code } = await sent(token);
  const psid = stack.value(`SELECT provider_session_id FROM sms_otp.sms_otp_sessions WHERE id = '${session}'`);
  stack.sql(`UPDATE sms_otp.sms_otp_sessions SET status = 'pending', provider_name = NULL, provider_session_id = NULL WHERE id = '${session}'`);
  const r = await rpc('otp_verify', { session_id: session, otp: code }, token);
  assert.equal(r.status, 409, r.text);
  assert.equal(r.headers.get('retry-after'), '1');
  assert.deepEqual(r.json, {
    verified: false, reason: 'code_pending', attempts_remaining: 5, retry_after_seconds: 1,
    message: 'Your code is still on its way to us. Try again in a moment.',
  });
  assert.equal(stack.value(`SELECT attempts FROM sms_otp.sms_otp_sessions WHERE id = '${session}'`), '0');
  stack.sql(`UPDATE sms_otp.sms_otp_sessions SET status = 'sent', provider_name = 'tv', provider_session_id = '${psid}' WHERE id = '${session}'`);
  assert.equal((await rpc('otp_verify', { session_id: session, otp: code }, token)).json.verified, true);
});

test('a hanging provider: 503 within the timeout; meanwhile a second check is 409 at once and a send is not held up', async () => {
  useOnly('tv');
  const token = await login(ALICE);
  const { session, code } = await sent(token);
  await mockCall('POST', '/_mock/faults', { provider: 'twilio_verify', path: '/VerificationCheck', mode: 'timeout', count: 1 });

  const started = Date.now();
  const hanging = rpc('otp_verify', { session_id: session, otp: code }, token).then((r) => ({ ...r, ms: Date.now() - started }));
  const deadline = Date.now() + 5000;
  while ((await checkRequests('/VerificationCheck')).length === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));

  let t = Date.now();
  const second = await rpc('otp_verify', { session_id: session, otp: code }, token);
  const secondMs = Date.now() - t;
  assert.equal(second.status, 409, second.text);
  assert.equal(second.json.reason, 'check_in_progress');
  assert.equal(second.headers.get('retry-after'), '1');
  assert.ok(secondMs < VERIFY_TIMEOUT_MS / 2, `the second check took ${secondMs} ms`);

  // Another login of the same user sends a code: not held up by the check in flight.
  const other = await login(ALICE);
  t = Date.now();
  const resend = await rpc('otp_send', {}, other);
  const resendMs = Date.now() - t;
  assert.equal(resend.status, 200, resend.text);
  assert.ok(resendMs < VERIFY_TIMEOUT_MS / 2, `otp_send took ${resendMs} ms`);

  const first = await hanging;
  assert.equal(first.status, 503, first.text);
  assert.equal(first.json.reason, 'provider_unavailable');
  assert.equal(first.json.attempts_remaining, 5);
  assert.ok(first.ms >= VERIFY_TIMEOUT_MS - 50 && first.ms < VERIFY_TIMEOUT_MS + 1000, `the hanging check took ${first.ms} ms`);
  assert.equal(stack.value(`SELECT outcome || ' ' || status_code FROM sms_otp.sms_messages_log
                            WHERE session_id = '${session}' AND operation = 'check'`), 'unavailable 0');
  // Nothing was counted; the provider answers again, and the code works.
  const good = await rpc('otp_verify', { session_id: session, otp: code }, token);
  assert.equal(good.status, 200, good.text);
});

test('attacks: another user\'s session id, wrong-length codes, oversized codes; the provider is never asked', async () => {
  useOnly('tv');
  const alice = await login(ALICE);
  const { session, code } = await sent(alice);
  const bob = await login(BOB);
  for (const otp of [code, '4821', '48213957']) {
    assertRaised(await rpc('otp_verify', { session_id: session, otp }, bob), 404, 'session_not_found');
  }
  for (const otp of ['482', '48213957201', '4'.repeat(100000), '48 21', '４８２１']) {
    assertRaised(await rpc('otp_verify', { session_id: session, otp }, alice), 400, 'invalid_code_format');
  }
  assert.equal((await checkRequests('/VerificationCheck')).length, 0);
  assert.equal(stack.value(`SELECT attempts FROM sms_otp.sms_otp_sessions WHERE id = '${session}'`), '0');
  assert.equal((await rpc('otp_verify', { session_id: session, otp: code }, alice)).json.verified, true);
});
