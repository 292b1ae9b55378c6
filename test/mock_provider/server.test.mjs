// Tests of the mock SMS provider. They start the real server as a child
// process on a free port and talk to it over HTTP, as the worker does.
// Run: node --test test/mock_provider/

import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const SERVER = fileURLToPath(new URL('./server.mjs', import.meta.url));

const TWILIO = { account_sid: `AC${'a'.repeat(32)}`, auth_token: 'twilio-token' };
const VERIFY_SERVICE = `VA${'b'.repeat(32)}`;
const VONAGE = { api_key: 'abcd1234', api_secret: 'vonage-secret' };
const MESSAGEBIRD = { access_key: 'live_messagebird_key' };
const PLIVO = { auth_id: 'MAXXXXXXXXXXXXXXXXXX', auth_token: 'plivo-token' };
const WEBHOOK_SECRET = `whsec_${randomBytes(24).toString('base64')}`;

async function startServer(args = []) {
  const child = spawn(process.execPath, [SERVER, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const line = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 5000);
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, nl));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${stderr}`));
    });
  });
  const m = /^mock provider listening on (http:\/\/127\.0\.0\.1:(\d+))$/.exec(line);
  assert.ok(m, `unexpected first line: ${line}`);
  assert.notEqual(Number(m[2]), 0);
  return { child, base: m[1] };
}

async function stopServer(child) {
  if (child.exitCode !== null) return child.exitCode;
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  return code;
}

let server;
let base;

before(async () => {
  server = await startServer();
  base = server.base;
});

after(async () => {
  await stopServer(server.child);
});

beforeEach(async () => {
  const res = await fetch(`${base}/_mock/reset`, { method: 'POST' });
  assert.equal(res.status, 204);
});

// ---------------------------------------------------------------- helpers

const basic = (user, password) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function call(path, { method = 'POST', headers = {}, form, json, body, signal } = {}) {
  const init = { method, headers: { ...headers }, signal };
  if (form) init.body = new URLSearchParams(form);
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['content-type'] = 'application/json';
  }
  if (body !== undefined) init.body = body;
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  let parsed = null;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json: parsed };
}

const control = (path, options) => call(`/_mock${path}`, options);
const configure = (doc) => control('/config', { json: doc });
const configureAll = () => configure({
  twilio: TWILIO, vonage: VONAGE, messagebird: MESSAGEBIRD, plivo: PLIVO, webhook: { secret: WEBHOOK_SECRET },
});
const inbox = async () => (await call('/inbox.json', { method: 'GET' })).json;
const requests = async (query = '') => (await control(`/requests${query}`, { method: 'GET' })).json;
const addFault = (rule) => control('/faults', { json: rule });

function sendTwilio(fields = {}, auth = basic(TWILIO.account_sid, TWILIO.auth_token), sid = TWILIO.account_sid) {
  return call(`/2010-04-01/Accounts/${sid}/Messages.json`, {
    headers: auth ? { authorization: auth } : {},
    form: { To: '+15551230001', From: '+15550009999', Body: 'Your code is 482913', ...fields },
  });
}

const verifyAuth = { authorization: basic(TWILIO.account_sid, TWILIO.auth_token) };
const startVerification = (to, headers = verifyAuth) => call(`/v2/Services/${VERIFY_SERVICE}/Verifications`, {
  headers, form: { To: to, Channel: 'sms' },
});
const checkVerification = (to, code) => call(`/v2/Services/${VERIFY_SERVICE}/VerificationCheck`, {
  headers: verifyAuth, form: { To: to, Code: code },
});

function signWebhook(secret, id, timestamp, body) {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

function sendWebhook(payload, { secret = WEBHOOK_SECRET, tamper = false, path = '/webhook' } = {}) {
  const body = JSON.stringify(payload);
  const id = `msg_${randomBytes(8).toString('hex')}`;
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = signWebhook(secret, id, timestamp, tamper ? `${body} ` : body);
  return call(path, {
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': timestamp,
      'webhook-signature': signature,
    },
    body,
  });
}

// ---------------------------------------------------------------- basics

test('health answers ok', async () => {
  const res = await control('/health', { method: 'GET' });
  assert.equal(res.status, 200);
  assert.equal(res.text, 'ok');
});

// ---------------------------------------------------------------- Twilio Messages

test('twilio: 201 with a message resource and the SMS in the inbox', async () => {
  await configureAll();
  const res = await sendTwilio({ StatusCallback: 'http://example.test/cb/42' });
  assert.equal(res.status, 201);
  assert.match(res.headers.get('content-type'), /^application\/json/);
  const m = res.json;
  assert.match(m.sid, /^SM[0-9a-f]{32}$/);
  assert.equal(m.status, 'queued');
  assert.equal(m.to, '+15551230001');
  assert.equal(m.from, '+15550009999');
  assert.equal(m.body, 'Your code is 482913');
  assert.equal(m.account_sid, TWILIO.account_sid);
  assert.equal(m.direction, 'outbound-api');
  assert.equal(m.api_version, '2010-04-01');
  assert.equal(m.num_segments, '1');
  assert.match(m.date_created, /^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);
  assert.equal(m.uri, `/2010-04-01/Accounts/${TWILIO.account_sid}/Messages/${m.sid}.json`);

  const [sms] = await inbox();
  assert.equal(sms.provider, 'twilio');
  assert.equal(sms.to, '+15551230001');
  assert.equal(sms.text, 'Your code is 482913');
  assert.equal(sms.code, '482913');
});

test('twilio: a Messaging Service instead of From is accepted', async () => {
  const res = await sendTwilio({ From: '', MessagingServiceSid: `MG${'c'.repeat(32)}` });
  assert.equal(res.status, 201);
  assert.equal(res.json.from, null);
  assert.equal(res.json.messaging_service_sid, `MG${'c'.repeat(32)}`);
});

test('twilio: missing or wrong auth is 401 with error 20003', async () => {
  await configureAll();
  const expected = {
    code: 20003, message: 'Authenticate', more_info: 'https://www.twilio.com/docs/errors/20003', status: 401,
  };
  for (const auth of [null, basic(TWILIO.account_sid, 'wrong'), basic(`AC${'f'.repeat(32)}`, TWILIO.auth_token)]) {
    const res = await sendTwilio({}, auth);
    assert.equal(res.status, 401);
    assert.deepEqual(res.json, expected);
  }
  // Right credentials but another account in the path.
  const res = await sendTwilio({}, basic(TWILIO.account_sid, TWILIO.auth_token), `AC${'e'.repeat(32)}`);
  assert.equal(res.status, 401);
  assert.deepEqual(await inbox(), []);
});

test('twilio: any non-empty credentials pass when none are configured', async () => {
  const res = await sendTwilio({}, basic('ACanything', 'x'), 'ACanything');
  assert.equal(res.status, 201);
  assert.equal((await sendTwilio({}, basic('ACanything', ''), 'ACanything')).status, 401);
});

test('twilio: missing To, Body or From and a malformed To are 400', async () => {
  let res = await sendTwilio({ To: '' });
  assert.equal(res.status, 400);
  assert.equal(res.json.code, 21604);
  assert.equal(res.json.status, 400);
  res = await sendTwilio({ Body: '' });
  assert.equal(res.status, 400);
  assert.equal(res.json.code, 21602);
  res = await sendTwilio({ From: '' });
  assert.equal(res.json.code, 21603);
  res = await sendTwilio({ To: ' 15551230001' }); // a '+' that was not URL-encoded
  assert.equal(res.status, 400);
  assert.equal(res.json.code, 21211);
  assert.deepEqual(await inbox(), []);
});

// ---------------------------------------------------------------- Twilio Verify

test('verify: send puts a code in the inbox, the right code approves once', async () => {
  await configureAll();
  const to = '+15551230002';
  const sent = await startVerification(to);
  assert.equal(sent.status, 201);
  assert.match(sent.json.sid, /^VE[0-9a-f]{32}$/);
  assert.equal(sent.json.status, 'pending');
  assert.equal(sent.json.valid, false);
  assert.equal(sent.json.to, to);
  assert.equal(sent.json.channel, 'sms');
  assert.equal(sent.json.service_sid, VERIFY_SERVICE);

  const [sms] = await inbox();
  assert.equal(sms.provider, 'twilio_verify');
  assert.match(sms.text, /^Your verification code is: \d{6}$/);
  assert.equal(sms.code, sms.text.slice(-6));

  const wrongCode = sms.code === '000000' ? '111111' : '000000';
  const wrong = await checkVerification(to, wrongCode);
  assert.equal(wrong.status, 200);
  assert.equal(wrong.json.status, 'pending');
  assert.equal(wrong.json.valid, false);

  const right = await checkVerification(to, sms.code);
  assert.equal(right.status, 200);
  assert.equal(right.json.status, 'approved');
  assert.equal(right.json.valid, true);
  assert.equal(right.json.sid, sent.json.sid);

  // Consumed: a second check finds nothing.
  const again = await checkVerification(to, sms.code);
  assert.equal(again.status, 404);
  assert.equal(again.json.code, 20404);
});

test('verify: a resend while pending keeps the same code', async () => {
  const to = '+15551230003';
  const first = await startVerification(to);
  const second = await startVerification(to);
  assert.equal(second.json.sid, first.json.sid);
  assert.equal(second.json.send_code_attempts.length, 2);
  const [a, b] = await inbox();
  assert.equal(a.code, b.code);
});

test('verify: checking without a pending verification is 404 (20404)', async () => {
  const res = await checkVerification('+15551230004', '123456');
  assert.equal(res.status, 404);
  assert.equal(res.json.code, 20404);
  assert.equal(res.json.status, 404);
});

test('verify: wrong auth is 401', async () => {
  await configureAll();
  const res = await startVerification('+15551230005', { authorization: basic(TWILIO.account_sid, 'nope') });
  assert.equal(res.status, 401);
  assert.equal(res.json.code, 20003);
  assert.deepEqual(await inbox(), []);
});

// ---------------------------------------------------------------- Vonage

test('vonage: form and JSON bodies are accepted, client-ref comes back', async () => {
  await configureAll();
  const fields = { ...VONAGE, from: 'Acme', to: '15551230006', text: 'Code 5521', 'client-ref': 'otp-17' };
  for (const res of [await call('/sms/json', { form: fields }), await call('/sms/json', { json: fields })]) {
    assert.equal(res.status, 200);
    assert.equal(res.json['message-count'], '1');
    const [m] = res.json.messages;
    assert.equal(m.status, '0');
    assert.equal(m.to, '15551230006');
    assert.equal(m['client-ref'], 'otp-17');
    assert.match(m['message-id'], /^[0-9A-F]{16}$/);
    assert.match(m['remaining-balance'], /^\d+\.\d{8}$/);
    assert.match(m['message-price'], /^\d+\.\d{8}$/);
    assert.ok(m.network);
  }
  const [sms] = await inbox();
  assert.equal(sms.provider, 'vonage');
  assert.equal(sms.to, '+15551230006');
  assert.equal(sms.code, '5521');
});

test('vonage: bad credentials are HTTP 200 with status 4', async () => {
  await configureAll();
  const res = await call('/sms/json', {
    form: { api_key: VONAGE.api_key, api_secret: 'wrong', from: 'Acme', to: '15551230007', text: 'hi' },
  });
  assert.equal(res.status, 200);
  assert.equal(res.json.messages[0].status, '4');
  assert.equal(res.json.messages[0]['error-text'], 'Bad Credentials');
  assert.deepEqual(await inbox(), []);
});

test('vonage: a long text is reported as several parts', async () => {
  const res = await call('/sms/json', {
    form: { api_key: 'k', api_secret: 's', from: 'Acme', to: '15551230008', text: 'x'.repeat(200) },
  });
  assert.equal(res.json['message-count'], '2');
  assert.equal(res.json.messages.length, 2);
});

test('vonage: GET with query parameters works; other providers answer GET with 405', async () => {
  const q = new URLSearchParams({ api_key: 'k', api_secret: 's', from: 'Acme', to: '15551230019', text: 'Code 6060' });
  const res = await call(`/sms/json?${q}`, { method: 'GET' });
  assert.equal(res.json.messages[0].status, '0');
  const twilio = await call(`/2010-04-01/Accounts/${TWILIO.account_sid}/Messages.json`, { method: 'GET' });
  assert.equal(twilio.status, 405);
  assert.equal(twilio.json.status, 405);
  assert.deepEqual((await requests()).map((r) => r.status), [200, 405]);
});

// ---------------------------------------------------------------- MessageBird

test('messagebird: 201 with a message object', async () => {
  await configureAll();
  const res = await call('/messages', {
    headers: { authorization: `AccessKey ${MESSAGEBIRD.access_key}` },
    json: { originator: 'Acme', recipients: ['+31612345678'], body: 'Code 8812', reference: 'otp-18' },
  });
  assert.equal(res.status, 201);
  const m = res.json;
  assert.match(m.id, /^[0-9a-f]{32}$/);
  assert.equal(m.href, `${base}/messages/${m.id}`);
  assert.equal(m.direction, 'mt');
  assert.equal(m.originator, 'Acme');
  assert.equal(m.body, 'Code 8812');
  assert.equal(m.reference, 'otp-18');
  assert.equal(m.recipients.totalCount, 1);
  assert.equal(m.recipients.items[0].recipient, 31612345678);
  assert.equal(m.recipients.items[0].status, 'sent');
  const [sms] = await inbox();
  assert.equal(sms.provider, 'messagebird');
  assert.equal(sms.to, '+31612345678');
});

test('messagebird: a bad access key is 401 with error code 2', async () => {
  await configureAll();
  const res = await call('/messages', {
    headers: { authorization: 'AccessKey wrong' },
    json: { originator: 'Acme', recipients: ['31612345678'], body: 'hi' },
  });
  assert.equal(res.status, 401);
  assert.deepEqual(res.json, {
    errors: [{ code: 2, description: 'Request not allowed (incorrect access_key)', parameter: 'access_key' }],
  });
});

// ---------------------------------------------------------------- Plivo

test('plivo: 202 with api_id and message_uuid', async () => {
  await configureAll();
  const res = await call(`/v1/Account/${PLIVO.auth_id}/Message/`, {
    headers: { authorization: basic(PLIVO.auth_id, PLIVO.auth_token) },
    json: { src: '+15550009999', dst: '15551230009', text: 'Code 90210' },
  });
  assert.equal(res.status, 202);
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  assert.match(res.json.api_id, uuid);
  assert.equal(res.json.message, 'message(s) queued');
  assert.equal(res.json.message_uuid.length, 1);
  assert.match(res.json.message_uuid[0], uuid);
  const [sms] = await inbox();
  assert.equal(sms.provider, 'plivo');
  assert.equal(sms.code, '90210');
});

test('plivo: bad auth is 401', async () => {
  await configureAll();
  const res = await call(`/v1/Account/${PLIVO.auth_id}/Message/`, {
    headers: { authorization: basic(PLIVO.auth_id, 'wrong') },
    json: { src: '+15550009999', dst: '15551230009', text: 'hi' },
  });
  assert.equal(res.status, 401);
  assert.ok(res.json.api_id);
  assert.ok(res.json.error);
});

// ---------------------------------------------------------------- webhook

test('webhook: a valid Standard Webhooks signature is accepted', async () => {
  await configureAll();
  const res = await sendWebhook({ to: '+15551230010', text: 'Code 3141' }, { path: '/webhook/sms' });
  assert.equal(res.status, 200);
  assert.equal(res.json.ok, true);
  assert.ok(res.json.id);
  const [sms] = await inbox();
  assert.equal(sms.provider, 'webhook');
  assert.equal(sms.code, '3141');
  const [logged] = await requests();
  assert.equal(logged.signature_valid, true);
  assert.equal(logged.path, '/webhook/sms');
});

test('webhook: "body" is accepted in place of "text"', async () => {
  await configureAll();
  const res = await sendWebhook({ to: '+15551230011', body: 'Code 2718' });
  assert.equal(res.status, 200);
  assert.equal((await inbox())[0].text, 'Code 2718');
});

test('webhook: a bad signature or wrong secret is 401 and recorded as invalid', async () => {
  await configureAll();
  const tampered = await sendWebhook({ to: '+15551230012', text: 'Code 1111' }, { tamper: true });
  assert.equal(tampered.status, 401);
  const otherSecret = `whsec_${randomBytes(24).toString('base64')}`;
  const wrongKey = await sendWebhook({ to: '+15551230012', text: 'Code 1111' }, { secret: otherSecret });
  assert.equal(wrongKey.status, 401);
  const missing = await call('/webhook', { json: { to: '+15551230012', text: 'Code 1111' } });
  assert.equal(missing.status, 400);
  const log = await requests();
  assert.deepEqual(log.map((r) => r.signature_valid), [false, false, false]);
  assert.deepEqual(log.map((r) => r.status), [401, 401, 400]);
  assert.deepEqual(await inbox(), []);
});

// ---------------------------------------------------------------- faults

test('fault: status 500 with count 1 fails once, then answers normally', async () => {
  const added = await addFault({ provider: 'twilio', mode: 'status', status: 500, count: 1 });
  assert.equal(added.status, 201);
  assert.equal((await control('/faults', { method: 'GET' })).json.length, 1);

  const failed = await sendTwilio();
  assert.equal(failed.status, 500);
  assert.equal(failed.json.code, 20500);
  assert.deepEqual((await control('/faults', { method: 'GET' })).json, []);
  assert.equal((await sendTwilio()).status, 201);

  const log = await requests();
  assert.equal(log[0].fault.mode, 'status');
  assert.equal(log[0].status, 500);
  assert.equal(log[1].fault, null);
  assert.equal((await inbox()).length, 1);
});

test('fault: a rule for one provider leaves the others alone; "*" matches all', async () => {
  await addFault({ provider: 'vonage', mode: 'status', status: 503 });
  assert.equal((await sendTwilio()).status, 201);
  await control('/faults', { method: 'DELETE' });
  await addFault({ provider: '*', mode: 'status', status: 503 });
  assert.equal((await sendTwilio()).status, 503);
});

test('fault: 429 carries Retry-After and each provider\'s own body', async () => {
  await addFault({ provider: '*', mode: 'status', status: 429, retry_after: 3 });
  const twilio = await sendTwilio();
  assert.equal(twilio.status, 429);
  assert.equal(twilio.headers.get('retry-after'), '3');
  assert.deepEqual(twilio.json, {
    code: 20429, message: 'Too Many Requests', more_info: 'https://www.twilio.com/docs/errors/20429', status: 429,
  });
  const mb = await call('/messages', { headers: { authorization: 'AccessKey k' }, json: {} });
  assert.equal(mb.status, 429);
  assert.equal(mb.headers.get('retry-after'), '3');
  assert.ok(Array.isArray(mb.json.errors));
  assert.deepEqual(await inbox(), []);
});

test('fault: throttle is HTTP 200 with status 1 for Vonage', async () => {
  await addFault({ provider: 'vonage', mode: 'throttle', count: 1 });
  const res = await call('/sms/json', { form: { api_key: 'k', api_secret: 's', from: 'A', to: '15551230013', text: 'hi' } });
  assert.equal(res.status, 200);
  assert.equal(res.json.messages[0].status, '1');
  assert.equal(res.json.messages[0]['error-text'], 'Throttled');
});

test('fault: a custom body is sent as given', async () => {
  await addFault({ provider: 'twilio', mode: 'status', status: 502, body: { custom: true } });
  const res = await sendTwilio();
  assert.equal(res.status, 502);
  assert.deepEqual(res.json, { custom: true });
});

test('fault: slow answers normally after delay_ms', async () => {
  await addFault({ provider: 'twilio', mode: 'slow', delay_ms: 300, count: 1 });
  const started = performance.now();
  const res = await sendTwilio();
  const elapsed = performance.now() - started;
  assert.equal(res.status, 201);
  assert.ok(elapsed >= 290, `answered after ${elapsed} ms`);
});

test('fault: drop closes the connection without an answer', async () => {
  await addFault({ provider: 'twilio', mode: 'drop', count: 1 });
  await assert.rejects(sendTwilio(), TypeError);
  const [logged] = await requests();
  assert.equal(logged.fault.mode, 'drop');
  assert.equal(logged.status, null);
  assert.equal((await sendTwilio()).status, 201);
});

test('fault: timeout never answers until the client gives up', async () => {
  await addFault({ provider: 'twilio', mode: 'timeout', count: 1 });
  const started = performance.now();
  await assert.rejects(
    call(`/2010-04-01/Accounts/${TWILIO.account_sid}/Messages.json`, {
      headers: verifyAuth,
      form: { To: '+15551230014', From: '+15550009999', Body: 'hi' },
      signal: AbortSignal.timeout(400),
    }),
    (err) => err.name === 'TimeoutError',
  );
  assert.ok(performance.now() - started >= 390);
  assert.equal((await sendTwilio()).status, 201);
  assert.equal((await control('/stats', { method: 'GET' })).json.by_status.timeout, 1);
});

test('fault: invalid rules are refused and DELETE clears all', async () => {
  assert.equal((await addFault({ provider: 'twilio', mode: 'explode' })).status, 400);
  assert.equal((await addFault({ provider: 'twilio', mode: 'status' })).status, 400);
  assert.equal((await addFault({ provider: 'twilio', mode: 'slow' })).status, 400);
  await addFault([{ mode: 'status', status: 500 }, { mode: 'drop' }]);
  assert.equal((await control('/faults', { method: 'GET' })).json.length, 2);
  assert.equal((await control('/faults', { method: 'DELETE' })).status, 204);
  assert.deepEqual((await control('/faults', { method: 'GET' })).json, []);
});

test('delay_ms delays every answer without serialising them', async () => {
  await configure({ delay_ms: 250 });
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: 8 }, () => sendTwilio()));
  const elapsed = performance.now() - started;
  assert.deepEqual(results.map((r) => r.status), Array(8).fill(201));
  assert.ok(elapsed >= 240, `answered after ${elapsed} ms`);
  // Eight answers one after another would take two seconds.
  assert.ok(elapsed < 1500, `answers were serialised: ${elapsed} ms`);
});

// ---------------------------------------------------------------- inbox

test('inbox.json is newest first and extracts the code', async () => {
  await sendTwilio({ Body: 'Welcome aboard' });
  await sendTwilio({ Body: 'Call +15551230000 and enter 004711 now' });
  await sendTwilio({ Body: 'Short 123 and long 12345678901' });
  const res = await call('/inbox.json', { method: 'GET' });
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  const items = res.json;
  assert.deepEqual(items.map((m) => m.code), [null, '004711', null]);
  assert.ok(items[0].id > items[1].id && items[1].id > items[2].id);
  for (const m of items) assert.deepEqual(Object.keys(m).sort(), ['code', 'id', 'provider', 'text', 'time', 'to']);
  const filtered = (await call('/inbox.json?to=%2B15551230001&limit=1', { method: 'GET' })).json;
  assert.equal(filtered.length, 1);
  assert.equal(filtered[0].id, items[0].id);
});

test('inbox page: served as HTML, empty state, and text is escaped', async () => {
  let page = await call('/', { method: 'GET' });
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /^text\/html/);
  assert.match(page.text, /<title>SMS inbox<\/title>/);
  assert.match(page.text, /No messages yet/);
  assert.doesNotMatch(page.text, /<(link|img|iframe)\b|src="http/);

  await sendTwilio({ Body: '<script>alert("x")</script> code 246810 & more' });
  page = await call('/inbox', { method: 'GET' });
  assert.doesNotMatch(page.text, /<script>alert/);
  assert.match(page.text, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; code 246810 &amp; more/);
  assert.match(page.text, /<div class="code"[^>]*>246810<\/div>/);

  // The inline script must at least parse.
  const scripts = [...page.text.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
  assert.equal(scripts.length, 1);
  assert.doesNotThrow(() => new vm.Script(scripts[0]));
});

// ---------------------------------------------------------------- control API

test('requests log: every field, filters, and clearing', async () => {
  await sendTwilio();
  await call('/sms/json?type=text', {
    json: { api_key: 'k', api_secret: 's', from: 'Acme', to: '15551230015', text: 'Code 4242' },
  });
  const log = await requests();
  assert.equal(log.length, 2);
  const [t, v] = log;
  assert.equal(t.seq + 1, v.seq);
  assert.ok(!Number.isNaN(Date.parse(t.time)));
  assert.equal(t.provider, 'twilio');
  assert.equal(t.method, 'POST');
  assert.equal(t.path, `/2010-04-01/Accounts/${TWILIO.account_sid}/Messages.json`);
  assert.equal(t.headers['content-type'], 'application/x-www-form-urlencoded;charset=UTF-8');
  for (const name of Object.keys(t.headers)) assert.equal(name, name.toLowerCase());
  assert.match(t.body, /^To=%2B15551230001&/);
  assert.equal(t.form.To, '+15551230001');
  assert.deepEqual(t.auth, { scheme: 'Basic', user: TWILIO.account_sid, password: TWILIO.auth_token });
  assert.equal(t.status, 201);
  assert.equal(t.fault, null);
  assert.equal(v.provider, 'vonage');
  assert.deepEqual(v.query, { type: 'text' });
  assert.equal(v.json.text, 'Code 4242');

  assert.deepEqual((await requests('?provider=vonage')).map((r) => r.seq), [v.seq]);
  assert.deepEqual((await requests(`?since=${t.seq}`)).map((r) => r.seq), [v.seq]);
  const res = await control('/requests', { method: 'GET' });
  assert.equal(res.headers.get('access-control-allow-origin'), '*');

  assert.equal((await control('/requests', { method: 'DELETE' })).status, 204);
  assert.deepEqual(await requests(), []);
  assert.deepEqual(await inbox(), []);
});

test('stats count by provider and status', async () => {
  await configureAll();
  await sendTwilio();
  await sendTwilio({}, basic(TWILIO.account_sid, 'wrong'));
  await call('/sms/json', { form: { ...VONAGE, from: 'A', to: '15551230016', text: 'x' } });
  const stats = (await control('/stats', { method: 'GET' })).json;
  assert.deepEqual(stats, { total: 3, by_provider: { twilio: 2, vonage: 1 }, by_status: { 201: 1, 401: 1, 200: 1 } });
});

test('config: credentials are replaced per provider, removed with null, and validated', async () => {
  await configure({ twilio: TWILIO });
  assert.equal((await sendTwilio({}, basic('ACother', 'x'), 'ACother')).status, 401);
  await configure({ twilio: null });
  assert.equal((await sendTwilio({}, basic('ACother', 'x'), 'ACother')).status, 201);
  assert.equal((await configure({ bogus: 1 })).status, 400);
  assert.equal((await configure({ delay_ms: -5 })).status, 400);
  assert.equal((await control('/config', { method: 'GET' })).json.delay_ms, 0);
});

test('CORS preflight on the control API', async () => {
  const res = await fetch(`${base}/_mock/faults`, {
    method: 'OPTIONS',
    headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST' },
  });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  assert.match(res.headers.get('access-control-allow-methods'), /POST/);
});

test('memory is bounded: 10,000 requests and 1,000 inbox entries are kept', async () => {
  const total = 10_050;
  let next = 0;
  const worker = async () => {
    while (next < total) {
      next++;
      const res = await call('/sms/json', { form: { api_key: 'k', api_secret: 's', from: 'A', to: '15551230017', text: 'Code 1234' } });
      assert.equal(res.status, 200);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));

  const log = await requests();
  assert.equal(log.length, 10_000);
  assert.equal(log[0].seq, total - 10_000 + 1);
  assert.equal(log.at(-1).seq, total);
  assert.equal((await inbox()).length, 1_000);
  assert.equal((await control('/stats', { method: 'GET' })).json.total, total);
});

// ---------------------------------------------------------------- command line

test('--config and --no-record at start; SIGTERM exits cleanly with a request held open', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mock-provider-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ twilio: TWILIO }));
  const other = await startServer(['--config', file, '--no-record']);
  try {
    const post = (auth) => fetch(`${other.base}/2010-04-01/Accounts/${TWILIO.account_sid}/Messages.json`, {
      method: 'POST',
      headers: { authorization: auth },
      body: new URLSearchParams({ To: '+15551230018', From: '+15550009999', Body: 'Code 5678' }),
    });
    assert.equal((await post(basic(TWILIO.account_sid, 'wrong'))).status, 401);
    assert.equal((await post(basic(TWILIO.account_sid, TWILIO.auth_token))).status, 201);
    assert.deepEqual(await (await fetch(`${other.base}/_mock/requests`)).json(), []);
    assert.equal((await (await fetch(`${other.base}/_mock/stats`)).json()).total, 2);
    assert.equal((await (await fetch(`${other.base}/inbox.json`)).json())[0].code, '5678');

    await fetch(`${other.base}/_mock/faults`, { method: 'POST', body: JSON.stringify({ mode: 'timeout' }) });
    const held = post(basic(TWILIO.account_sid, TWILIO.auth_token)).catch((err) => err);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(await stopServer(other.child), 0);
    assert.ok((await held) instanceof Error);
  } finally {
    await stopServer(other.child);
  }
});
