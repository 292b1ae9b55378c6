// Codes kept by the provider (Twilio Verify, Vonage Verify), sent by the real worker and checked
// by otp_verify against the mock provider: the check names the verification by the id the
// provider gave it, each verdict does what it should to the session, every check is a log row
// the dashboards do not count, hostile answers approve nothing and cost no attempt, and a
// provider that hangs is given up on after sms_otp.verify_timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Cluster, Mock, waitFor, useStack, enqueue, delivered as settled } from './harness.mjs';

const VERIFY_TIMEOUT_MS = 3000;
const cluster = new Cluster([
  'sms_otp.poll_interval = 200ms',
  'sms_otp.resend_cooldown = 0',
  'sms_otp.rate_limit_per_minute = 1000000',
  'sms_otp.rate_limit_per_day = 1000000',
  `sms_otp.verify_timeout = ${VERIFY_TIMEOUT_MS}ms`,
]);
const mock = new Mock();
useStack(cluster, mock);

const TWILIO = { account_sid: 'AC0123456789abcdef0123456789abcdef', auth_token: 'tok-verify', service_sid: 'VA0123456789abcdef0123456789abcdef' };
const VONAGE = { api_key: 'abcd1234', api_secret: 'vonage-secret' };

function providers(rows) {
  cluster.sql('DELETE FROM sms_otp.api_integrations');
  for (const r of rows) {
    cluster.sql(`INSERT INTO sms_otp.api_integrations (name, kind, priority, base_url, sender, credentials)
      VALUES ('${r.name}', '${r.kind}', ${r.priority ?? 10}, ${r.kind === 'console' ? 'NULL' : `'${mock.url}'`},
              ${r.sender ? `'${r.sender}'` : 'NULL'}, '${JSON.stringify(r.credentials ?? {})}')`);
  }
}
const twilioVerify = { name: 'tv', kind: 'twilio_verify', credentials: TWILIO };
const vonageVerify = { name: 'vv', kind: 'vonage_verify', sender: 'Acme', credentials: VONAGE };

let users = 0;
// A new user with codes on and a number of its own, and its claims for login `login`.
function newUser() {
  users += 1;
  const n = String(users).padStart(2, '0');
  const id = `a0000000-0000-4000-8000-0000000007${n}`;
  const phone = `+141555507${n}`;
  cluster.sql(`INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES ('${id}', '${phone}', true)`);
  cluster.sql(`SELECT sms_otp.reset_lockout('${id}')`);
  const claims = (login = 'login-1') => `SET request.jwt.claims = '{"sub":"${id}","session_id":"${login}"}';`;
  return { id, phone, claims };
}

const send = (u) => JSON.parse(cluster.sql(`${u.claims()} SELECT sms_otp.otp_send()`)[0][0]).session_id;
const verify = (u, session, code, login) =>
  JSON.parse(cluster.sql(`${u.claims(login)} SELECT sms_otp.otp_verify('${session}', '${code}')`)[0][0]);
const session = (id) => {
  const [[status, attempts, provider, psid]] = cluster.sql(
    `SELECT status, attempts, coalesce(provider_name, ''), coalesce(provider_session_id, '') FROM sms_otp.sms_otp_sessions WHERE id = '${id}'`);
  return { status, attempts: Number(attempts), provider, psid };
};
const checks = (id) => cluster.sql(
  `SELECT outcome, coalesce(status_code::text, ''), provider_name, provider_message_id, response_time_ms, coalesce(error, '')
   FROM sms_otp.sms_messages_log WHERE session_id = '${id}' AND operation = 'check' ORDER BY id`)
  .map(([outcome, status, provider, pmid, ms, error]) => ({ outcome, status, provider, pmid, ms: Number(ms), error }));

// The SMS the provider sent to the user, once the worker has written the provider's id.
async function delivered(u, id) {
  const sms = await waitFor('the SMS', async () => (await mock.inbox()).find((m) => m.to === u.phone));
  await waitFor('session sent', () => session(id).status === 'sent');
  return sms;
}
const checkRequests = async (kind, pathPart) => (await mock.requests(kind)).filter((r) => r.path.includes(pathPart));
const otherCode = (code) => (code[0] === '0' ? '1' : '0') + code.slice(1);

test('twilio_verify: checked by VerificationSid, never by phone; wrong then right; each check logged, none counted as a send', async () => {
  providers([twilioVerify]);
  const u = newUser();
  const s = send(u);
  const sms = await delivered(u, s);
  const { psid } = session(s);
  assert.match(psid, /^VE[0-9a-f]{32}$/);
  const attemptedBefore = Number(cluster.value('SELECT coalesce(sum(attempted), 0) FROM sms_otp.stats_messages'));

  const bad = verify(u, s, otherCode(sms.code));
  assert.equal(bad.reason, 'invalid_code');
  assert.equal(bad.attempts_remaining, 4);
  const good = verify(u, s, sms.code);
  assert.equal(good.verified, true);

  const reqs = await checkRequests('twilio_verify', '/VerificationCheck');
  assert.equal(reqs.length, 2);
  for (const r of reqs) {
    assert.deepEqual(Object.keys(r.form).sort(), ['Code', 'VerificationSid']);
    assert.equal(r.form.VerificationSid, psid);
    assert.deepEqual(r.auth, { scheme: 'Basic', user: TWILIO.account_sid, password: TWILIO.auth_token });
  }
  assert.equal(reqs[1].form.Code, sms.code);

  const logged = checks(s);
  assert.deepEqual(logged.map((c) => [c.outcome, c.status, c.provider, c.pmid, c.error]),
    [['wrong', '200', 'tv', psid, ''], ['approved', '200', 'tv', psid, '']]);
  assert.ok(logged.every((c) => c.ms >= 0 && c.ms < VERIFY_TIMEOUT_MS));
  assert.equal(cluster.value(`SELECT count(*) FROM sms_otp.sms_messages_log WHERE session_id = '${s}' AND operation = 'send'`), '1');
  assert.equal(Number(cluster.value('SELECT coalesce(sum(attempted), 0) FROM sms_otp.stats_messages')), attemptedBefore,
    'the dashboards counted no check as an attempt');
});

test('vonage_verify: the v2 wire format, a 4-digit code with code_length 6, verified by request_id', async () => {
  providers([vonageVerify]);
  await mock.config({ vonage_verify: VONAGE });
  const u = newUser();
  const s = send(u);
  const sms = await delivered(u, s);
  assert.match(sms.code, /^\d{4}$/);
  assert.equal(sms.text, `Your Acme verification code is ${sms.code}`);
  const [start] = await checkRequests('vonage_verify', '/v2/verify');
  assert.equal(start.path, '/v2/verify');
  assert.deepEqual(start.auth, { scheme: 'Basic', user: VONAGE.api_key, password: VONAGE.api_secret });
  assert.equal(start.json.brand, 'Acme');
  assert.deepEqual(start.json.workflow, [{ channel: 'sms', to: u.phone.slice(1) }]);
  assert.match(start.json.client_ref, /^\d+$/);
  // The code lives as long as ours (otp_ttl 300 s), give or take the queue.
  assert.ok(start.json.channel_timeout > 280 && start.json.channel_timeout <= 300, String(start.json.channel_timeout));
  const { psid } = session(s);
  assert.match(psid, /^[0-9a-f-]{36}$/);

  assert.equal(verify(u, s, sms.code).verified, true);
  const [check] = await checkRequests('vonage_verify', `/v2/verify/${psid}`);
  assert.deepEqual(check.json, { code: sms.code });
  assert.deepEqual(checks(s).map((c) => [c.outcome, c.status, c.pmid]), [['approved', '200', psid]]);
});

test('vonage_verify: two wrong codes count, the third ends the workflow at the provider (410): locked, not counted', async () => {
  providers([vonageVerify]);
  const u = newUser();
  const s = send(u);
  const sms = await delivered(u, s);
  const wrong = otherCode(sms.code);
  assert.deepEqual([verify(u, s, wrong).attempts_remaining, verify(u, s, wrong).attempts_remaining], [4, 3]);
  const third = verify(u, s, wrong);
  assert.deepEqual({ reason: third.reason, attempts_remaining: third.attempts_remaining }, { reason: 'locked', attempts_remaining: 0 });
  assert.deepEqual(session(s).status, 'locked');
  assert.equal(session(s).attempts, 2, 'the provider\'s refusal is not one more guess');
  // Locked: even the right code is not asked about.
  assert.equal(verify(u, s, sms.code).reason, 'locked');
  assert.deepEqual(checks(s).map((c) => [c.outcome, c.status]), [['wrong', '400'], ['wrong', '400'], ['locked', '410']]);
});

test('the provider no longer knows the verification (404): the session expires, nothing counted', async () => {
  providers([twilioVerify]);
  const u = newUser();
  const s = send(u);
  const sms = await delivered(u, s);
  await mock.fault({ provider: 'twilio_verify', path: '/VerificationCheck', mode: 'status', status: 404, count: 1 });
  const r = verify(u, s, sms.code);
  assert.deepEqual({ reason: r.reason, attempts_remaining: r.attempts_remaining }, { reason: 'expired', attempts_remaining: 5 });
  assert.deepEqual(session(s), { ...session(s), status: 'expired', attempts: 0 });
  assert.deepEqual(checks(s).map((c) => [c.outcome, c.status]), [['expired', '404']]);
  assert.match(checks(s)[0].error, /^HTTP 404: error 20404/);
});

test('hostile answers to a check approve nothing and cost no attempt; the right code still works after', async () => {
  providers([twilioVerify]);
  const u = newUser();
  const s = send(u);
  const sms = await delivered(u, s);
  const hostile = [
    { status: 200, body: 'garbage' },
    { status: 200, body: { status: 'approved', valid: false } },
    { status: 200, body: { status: ['approved'] } },
    { status: 200, body: { valid: 'true' } },
    { status: 200, body: { status: 'approved', pad: 'x'.repeat(70000) } },  // past sms_otp.max_response_bytes
    { status: 302, body: { status: 'approved', valid: true } },
    { status: 500, body: { status: 'approved', valid: true } },
    { status: 429, body: { code: 20429, message: `throttled ${TWILIO.auth_token} ${u.phone}` } },
  ];
  for (const h of hostile) {
    await mock.fault({ provider: 'twilio_verify', path: '/VerificationCheck', mode: 'status', count: 1, ...h });
    const r = verify(u, s, sms.code);
    assert.equal(r.reason, 'provider_unavailable', JSON.stringify(h).slice(0, 80));
  }
  assert.deepEqual(session(s), { ...session(s), status: 'sent', attempts: 0 });
  const logged = checks(s);
  assert.equal(logged.length, hostile.length);
  assert.ok(logged.every((c) => c.outcome === 'unavailable'));
  assert.match(logged[4].error, /answer too large/);
  for (const c of logged) {
    assert.ok(!c.error.includes(TWILIO.auth_token), c.error);
    assert.ok(!c.error.includes(u.phone.slice(2)), c.error);
    assert.ok(c.error.length <= 400);
  }
  assert.equal(verify(u, s, sms.code).verified, true);
});

test('a session of another user or another login: 404, and the provider is not asked', async () => {
  providers([twilioVerify]);
  const u = newUser();
  const other = newUser();
  const s = send(u);
  const sms = await delivered(u, s);
  for (const [who, login] of [[other, 'login-1'], [u, 'login-2']]) {
    assert.throws(() => verify(who, s, sms.code, login), /session_not_found/);
    assert.throws(() => verify(who, s, '4821', login), /session_not_found/);
  }
  assert.equal((await checkRequests('twilio_verify', '/VerificationCheck')).length, 0);
  assert.equal(checks(s).length, 0);
  assert.equal(verify(u, s, sms.code).verified, true);
});

test('a code entered while the session is still pending is neither checked nor counted', async () => {
  providers([twilioVerify]);
  const u = newUser();
  const s = send(u);
  const sms = await delivered(u, s);
  const { psid } = session(s);
  // As it is between the provider's answer and the worker's commit.
  cluster.sql(`UPDATE sms_otp.sms_otp_sessions SET status = 'pending', provider_name = NULL, provider_session_id = NULL WHERE id = '${s}'`);
  const r = verify(u, s, sms.code);
  assert.deepEqual({ reason: r.reason, attempts_remaining: r.attempts_remaining, retry: r.retry_after_seconds },
    { reason: 'code_pending', attempts_remaining: 5, retry: 1 });
  assert.equal(session(s).attempts, 0);
  assert.equal((await checkRequests('twilio_verify', '/VerificationCheck')).length, 0);
  cluster.sql(`UPDATE sms_otp.sms_otp_sessions SET status = 'sent', provider_name = 'tv', provider_session_id = '${psid}' WHERE id = '${s}'`);
  assert.equal(verify(u, s, sms.code).verified, true);
});

// psql in a process of its own, so that several calls run at once; resolves with what it
// printed and how long it took.
function psqlAsync(query) {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const p = spawn('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', `${cluster.dir}/pg`, '-p', String(cluster.port),
      '-U', 'postgres', '-d', cluster.db, '-c', query]);
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out: out.trim(), err, ms: Date.now() - started }));
  });
}

test('a hanging provider: otp_verify answers within the timeout, and holds up neither a second check nor a send', async () => {
  providers([twilioVerify]);
  const u = newUser();
  const s = send(u);
  const sms = await delivered(u, s);
  await mock.fault({ provider: 'twilio_verify', path: '/VerificationCheck', mode: 'timeout', count: 1 });

  const hanging = psqlAsync(`${u.claims()} SELECT sms_otp.otp_verify('${s}', '${sms.code}')`);
  await waitFor('the check at the provider', async () => (await checkRequests('twilio_verify', '/VerificationCheck')).length === 1);

  // A second check of the same session meanwhile: told at once, nothing counted.
  const second = await psqlAsync(`${u.claims()} SELECT sms_otp.otp_verify('${s}', '${sms.code}')`);
  assert.equal(second.code, 0, second.err);
  assert.equal(JSON.parse(second.out).reason, 'check_in_progress');
  assert.ok(second.ms < VERIFY_TIMEOUT_MS / 2, `second check took ${second.ms} ms`);

  // A new code for the same user and login replaces the session being checked: no row lock waits.
  const resend = await psqlAsync(`${u.claims()} SELECT sms_otp.otp_send()`);
  assert.equal(resend.code, 0, resend.err);
  assert.ok(resend.ms < VERIFY_TIMEOUT_MS / 2, `otp_send took ${resend.ms} ms`);

  const first = await hanging;
  assert.equal(first.code, 0, first.err);
  assert.ok(first.ms < VERIFY_TIMEOUT_MS + 1000, `the hanging check took ${first.ms} ms`);
  // The session was replaced meanwhile: that is the answer; the provider's silence is logged.
  assert.equal(JSON.parse(first.out).reason, 'superseded');
  const [c] = checks(s);
  assert.deepEqual([c.outcome, c.status], ['unavailable', '0']);
  assert.match(c.error, /timed out/);
  assert.ok(c.ms >= VERIFY_TIMEOUT_MS - 50 && c.ms < VERIFY_TIMEOUT_MS + 500, `${c.ms} ms`);
  assert.equal(session(s).attempts, 0);
});

test('a hanging provider alone: 503 provider_unavailable after the timeout, returned so the log row stays', async () => {
  providers([twilioVerify]);
  const u = newUser();
  const s = send(u);
  const sms = await delivered(u, s);
  await mock.fault({ provider: 'twilio_verify', path: '/VerificationCheck', mode: 'timeout', count: 1 });
  const r = await psqlAsync(`${u.claims()} SELECT sms_otp.otp_verify('${s}', '${sms.code}')`);
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out).reason, 'provider_unavailable');
  assert.ok(r.ms >= VERIFY_TIMEOUT_MS - 50 && r.ms < VERIFY_TIMEOUT_MS + 1000, `${r.ms} ms`);
  assert.deepEqual(checks(s).map((c) => c.outcome), ['unavailable']);
  assert.deepEqual(session(s), { ...session(s), status: 'sent', attempts: 0 });
  assert.equal(verify(u, s, sms.code).verified, true);
});

test('a transactional message never goes through a provider that keeps the code (it would send its own code instead)', async () => {
  providers([twilioVerify, vonageVerify, { name: 'console', kind: 'console', priority: 20 }]);
  const id = enqueue(cluster, { body: 'Your order has shipped' });
  const o = await settled(cluster, id);
  assert.deepEqual([o.status, o.provider], ['sent', 'console']);
  assert.equal((await mock.requests('twilio_verify')).length + (await mock.requests('vonage_verify')).length, 0);
  // Codes still go to the first of them.
  const u = newUser();
  const s = send(u);
  await delivered(u, s);
  assert.equal(session(s).provider, 'tv');

  // With only providers that keep the code, a transactional message finds no provider and waits.
  providers([twilioVerify]);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const waiting = enqueue(cluster, { body: 'Your order has shipped' });
  await waitFor('an attempt', () => cluster.value(`SELECT last_error FROM sms_otp.sms_outbox WHERE id = ${waiting}`));
  assert.equal(cluster.value(`SELECT status || ': ' || last_error FROM sms_otp.sms_outbox WHERE id = ${waiting}`),
    'queued: no SMS provider is enabled');
  assert.equal((await checkRequests('twilio_verify', '/Verifications')).length, 1, 'only the code went to Verify');
});

// Enrolment through a provider that keeps the code: the code goes to the new number, the
// provider checks it by its own id, and only then is the number stored and codes turned on.
for (const p of [twilioVerify, vonageVerify]) {
  test(`${p.kind}: a user enrols a new number with a code the provider keeps`, async () => {
    providers([p]);
    if (p.kind === 'vonage_verify') await mock.config({ vonage_verify: VONAGE });
    users += 1;
    const n = String(users).padStart(2, '0');
    const id = `a0000000-0000-4000-8000-0000000008${n}`;
    const phone = `+141555508${n}`;
    const claims = `SET request.jwt.claims = '{"sub":"${id}","session_id":"login-1"}';`;
    const u = { id, phone, claims: () => claims };
    const sent = JSON.parse(cluster.sql(`${claims} SELECT sms_otp.otp_send('${phone}')`)[0][0]);
    assert.equal(sent.purpose, 'enrol');
    const s = sent.session_id;
    const sms = await delivered(u, s);
    const { psid } = session(s);
    assert.ok(psid.length > 0, 'the provider gave the verification an id');
    assert.equal(cluster.value(`SELECT count(*) FROM sms_otp.user_contact_settings WHERE user_id = '${id}' AND otp_enabled`), '0',
      'nothing is stored before the code is entered');

    const bad = verify(u, s, otherCode(sms.code));
    assert.equal(bad.reason, 'invalid_code');
    assert.equal(cluster.value(`SELECT count(*) FROM sms_otp.user_contact_settings WHERE user_id = '${id}' AND otp_enabled`), '0',
      'a wrong code stores nothing');
    assert.equal(verify(u, s, sms.code).verified, true);
    assert.equal(cluster.value(`SELECT phone || ' ' || otp_enabled FROM sms_otp.user_contact_settings WHERE user_id = '${id}'`),
      `${phone} true`, 'the right code stores the number and turns codes on');
    assert.deepEqual(checks(s).map((c) => [c.outcome, c.pmid]), [['wrong', psid], ['approved', psid]]);
  });
}
