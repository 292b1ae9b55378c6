// Self-service enrolment over HTTP: the real PostgREST 12.0.2, database, worker and mock SMS
// provider (test/stack.sh). A user turns codes on with a number of their own, changes it,
// turns codes off; and the attacks on each step: another login, no fresh code, two enrolments
// at once, oversized input, limits shared with sign-in codes.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Stack, signJwt } from '../stack.mjs';
import { calls, wrong, assertRaised } from './calls.mjs';

const stack = new Stack({
  settings: [
    'sms_otp.resend_cooldown = 2s',
    'sms_otp.rate_limit_per_minute = 1000',
    'sms_otp.rate_limit_per_day = 1000',
    'sms_otp.ip_rate_limit_per_minute = 1000',
    'sms_otp.ip_rate_limit_per_day = 1000',
  ],
});
const { rpc, codeFor } = calls(stack);

before(() => stack.start());
after(() => stack.stop());
beforeEach(async () => {
  await fetch(`${stack.mock}/_mock/reset`, { method: 'POST' });
});

// A new user of the application (a random id), and tokens for its logins.
function newUser() {
  const id = randomUUID();
  const now = Math.floor(Date.now() / 1000);
  return {
    id,
    token: (login = 'web-1') => signJwt({ sub: id, role: 'authenticated', session_id: login, iat: now, exp: now + 3600 }, stack.secret),
  };
}
// Each test its own numbers, so the mock's inbox never mixes them up.
let next = 10;
const number = () => `+1415555${String(3000 + next++).padStart(4, '0')}`;
const contact = (user) => stack.sql(`SELECT coalesce(phone, '-'), otp_enabled::text FROM sms_otp.user_contact_settings WHERE user_id = '${user.id}'`)[0] ?? null;
// The cooldown (2 s) passes for a user: its sessions move into the past.
const pastCooldown = (user) => stack.sql(`UPDATE sms_otp.sms_otp_sessions SET created_at = created_at - interval '3 s' WHERE user_id = '${user.id}'`);

async function enrol(user, phone, login = 'web-1') {
  const sent = await rpc('otp_send', { phone }, user.token(login));
  assert.equal(sent.status, 200, sent.text);
  const code = await codeFor(phone.replace(/[^+\d]/g, ''), sent.json.session_id);
  return { sent, code };
}

test('a new user turns codes on: the code goes to the new number, and only entering it stores the number', async () => {
  const user = newUser();
  const phone = number();
  const token = user.token();
  const pretty = `${phone.slice(0, 2)} (${phone.slice(2, 5)}) ${phone.slice(5, 8)}-${phone.slice(8)}`;
  const sent = await rpc('otp_send', { phone: pretty }, token);
  assert.equal(sent.status, 200, sent.text);
  assert.deepEqual(Object.keys(sent.json).sort(),
    ['attempts_remaining', 'expires_at', 'phone_hint', 'purpose', 'resend_available_at', 'server_time', 'session_id']);
  assert.equal(sent.json.purpose, 'enrol');
  assert.equal(sent.json.phone_hint, `${phone.slice(0, 3)}•••••••${phone.slice(-2)}`);
  assert.equal(contact(user), null, 'nothing stored yet');

  const status = await rpc('otp_status', {}, token);
  assert.equal(status.status, 200);
  assert.equal(status.json.otp_required, false);
  assert.equal(status.json.enrolment.session_id, sent.json.session_id);
  assert.equal(status.json.enrolment.phone_hint, sent.json.phone_hint);

  const code = await codeFor(phone, sent.json.session_id);
  const inbox = await (await fetch(`${stack.mock}/inbox.json?to=${encodeURIComponent(phone)}`)).json();
  assert.equal(inbox.length, 1, 'exactly one SMS, to the number being enrolled');

  const bad = await rpc('otp_verify', { session_id: sent.json.session_id, otp: wrong(code) }, token);
  assert.equal(bad.status, 400);
  assert.equal(bad.json.reason, 'invalid_code');
  assert.equal(contact(user), null, 'a wrong code stores nothing');

  const ok = await rpc('otp_verify', { session_id: sent.json.session_id, otp: code }, token);
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(ok.json, { verified: true, session_id: sent.json.session_id, enrolled: true, phone_hint: sent.json.phone_hint });
  assert.deepEqual(contact(user), [phone, 'true']);

  const after = await rpc('otp_status', {}, token);
  assert.equal(after.json.otp_required, true);
  assert.equal(after.json.verified, true, 'the login that enrolled has proven the number');
  assert.equal(after.json.enrolment, null);
  assert.ok(Date.parse(after.json.reverify_until) > Date.parse(after.json.server_time));
  assert.equal((await rpc('otp_is_verified', {}, token)).json, true);
  // Another login of the same user must pass the new number first.
  assert.equal((await rpc('otp_is_verified', {}, user.token('web-2'))).json, false);
  assert.equal((await rpc('otp_status', {}, user.token('web-2'))).json.verified, false);
});

test('another login cannot enter the enrolment code', async () => {
  const user = newUser();
  const { sent, code } = await enrol(user, number());
  const stolen = await rpc('otp_verify', { session_id: sent.json.session_id, otp: code }, user.token('web-2'));
  assertRaised(stolen, 404, 'session_not_found');
  assert.equal(contact(user), null);
  // The login that asked still can.
  assert.equal((await rpc('otp_verify', { session_id: sent.json.session_id, otp: code }, user.token())).status, 200);
});

test('changing the number needs a fresh code to the current one; the old number stops working', async () => {
  const user = newUser();
  const first = number();
  const { sent, code } = await enrol(user, first);
  assert.equal((await rpc('otp_verify', { session_id: sent.json.session_id, otp: code }, user.token())).status, 200);

  // A second login, signed in with the password only, cannot move the factor.
  const attacker = user.token('web-2');
  pastCooldown(user);
  const moved = await rpc('otp_send', { phone: number() }, attacker);
  assertRaised(moved, 400, 'phone_mismatch');
  assert.equal(moved.json.message, 'That is not the phone number registered for this account.');
  const off = await rpc('otp_disable', {}, attacker);
  assertRaised(off, 403, 'reverify_required');
  // It asks for a sign-in code to the current number, which it cannot read.
  const pending = await rpc('otp_send', {}, attacker);
  assert.equal(pending.status, 200, pending.text);
  const oldCode = await codeFor(first, pending.json.session_id);   // as the old phone received it

  // The user's login changes the number (it entered a code moments ago).
  pastCooldown(user);
  const second = number();
  const change = await enrol(user, second);
  assert.deepEqual(contact(user), [first, 'true'], 'the old number stays until the new code is entered');
  const done = await rpc('otp_verify', { session_id: change.sent.json.session_id, otp: change.code }, user.token());
  assert.equal(done.status, 200, done.text);
  assert.deepEqual(contact(user), [second, 'true']);

  // The sign-in code the other login asked for went to the old number: it is void now.
  const late = await rpc('otp_verify', { session_id: pending.json.session_id, otp: oldCode }, attacker);
  assert.equal(late.status, 409, late.text);
  assert.equal(late.json.reason, 'superseded');
  assert.equal((await rpc('otp_is_verified', {}, attacker)).json, false);
});

test('turning codes off: refused without a fresh code, then done, and the number is forgotten', async () => {
  const user = newUser();
  const phone = number();
  stack.sql(`INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES ('${user.id}', '${phone}', true)`);
  const token = user.token();
  assertRaised(await rpc('otp_disable', {}, token), 403, 'reverify_required');
  assertRaised(await rpc('otp_disable', {}), 401, 'not_authenticated');

  const sent = await rpc('otp_send', {}, token);
  const code = await codeFor(phone, sent.json.session_id);
  assert.equal((await rpc('otp_verify', { session_id: sent.json.session_id, otp: code }, token)).status, 200);
  const off = await rpc('otp_disable', {}, token);
  assert.equal(off.status, 200, off.text);
  assert.deepEqual(off.json, { otp_enabled: false });
  assert.deepEqual(contact(user), ['-', 'false']);
  assertRaised(await rpc('otp_disable', {}, token), 409, 'otp_not_enabled');
  const status = await rpc('otp_status', {}, token);
  assert.equal(status.json.otp_required, false);
});

test('two enrolments of one user finishing at once: exactly one wins', async () => {
  const user = newUser();
  const a = await enrol(user, number(), 'web-a');
  pastCooldown(user);
  const b = await enrol(user, number(), 'web-b');
  const [ra, rb] = await Promise.all([
    rpc('otp_verify', { session_id: a.sent.json.session_id, otp: a.code }, user.token('web-a')),
    rpc('otp_verify', { session_id: b.sent.json.session_id, otp: b.code }, user.token('web-b')),
  ]);
  const statuses = [ra.status, rb.status].sort();
  assert.deepEqual(statuses, [200, 409], `${ra.text} / ${rb.text}`);
  const winner = ra.status === 200 ? a : b;
  const loser = ra.status === 200 ? rb : ra;
  assert.equal(loser.json.reason, 'superseded');
  assert.equal(contact(user)[0], stack.value(`SELECT phone FROM sms_otp.sms_otp_sessions WHERE id = '${winner.sent.json.session_id}'`));
});

test('limits are shared with sign-in codes; bad numbers are refused before anything is written', async () => {
  const user = newUser();
  const token = user.token();
  const { sent } = await enrol(user, number());
  const again = await rpc('otp_send', { phone: number() }, token);
  assert.equal(again.status, 429, again.text);
  assert.equal(again.json.error, 'rate_limited');
  assert.equal(again.json.limit, 'cooldown');
  assert.ok(sent.json.session_id);

  const fresh = newUser();
  for (const phone of ['not a phone', '9'.repeat(100000), `${number()}${' '.repeat(60)}`, '']) {
    const r = await rpc('otp_send', { phone }, fresh.token());
    assertRaised(r, 400, 'invalid_phone');
  }
  assert.equal(stack.value(`SELECT count(*) FROM sms_otp.sms_otp_sessions WHERE user_id = '${fresh.id}'`), '0');
});

test('a number another account uses: the same answer as any number', async () => {
  const owner = newUser();
  const shared = number();
  stack.sql(`INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES ('${owner.id}', '${shared}', true)`);
  const other = newUser();
  const taken = await rpc('otp_send', { phone: shared }, other.token());
  const unused = await rpc('otp_send', { phone: number() }, newUser().token());
  assert.equal(taken.status, unused.status);
  assert.deepEqual(Object.keys(taken.json).sort(), Object.keys(unused.json).sort());
  assert.equal(taken.json.attempts_remaining, unused.json.attempts_remaining);
});
