// Tests of the mock SMS provider. They start the real server as a child
// process on a free port and talk to it over HTTP, as the worker does; a
// small receiver in this process stands in for the customer's server that
// gets status callbacks and inbound messages. Signatures are checked with an
// independent computation here and with the providers' own libraries
// (devDependencies in package.json: `npm ci` in this folder).
// Run: node --test test/mock_provider/

import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createHash, createHmac, createSecretKey, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
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

// The customer's server: records every request and answers 200 "ok" unless
// told otherwise.
async function startReceiver() {
  const got = [];
  let waiters = [];
  let respond = null;
  const srv = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const q = req.url.indexOf('?');
      const entry = {
        method: req.method,
        url: req.url,
        path: q < 0 ? req.url : req.url.slice(0, q),
        query: Object.fromEntries(new URLSearchParams(q < 0 ? '' : req.url.slice(q + 1))),
        headers: req.headers,
        raw,
        body: raw.toString('utf8'),
        at: performance.now(),
      };
      entry.full_url = `${receiver.base}${req.url}`;
      got.push(entry);
      const answer = respond ? respond(entry) : { status: 200, body: 'ok' };
      res.writeHead(answer.status, { 'content-type': 'text/plain' });
      res.end(answer.body ?? '');
      waiters = waiters.filter((w) => !w.check());
    });
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const receiver = {
    base: `http://127.0.0.1:${srv.address().port}`,
    got,
    clear() {
      got.length = 0;
      respond = null;
    },
    respondWith(fn) {
      respond = fn;
    },
    // Resolves with the requests under `prefix` once there are `n` of them.
    waitFor(n, prefix = '/', timeoutMs = 5000) {
      const picked = () => got.filter((e) => e.path.startsWith(prefix));
      return new Promise((resolve, reject) => {
        const w = {
          check() {
            if (picked().length < n) return false;
            clearTimeout(w.timer);
            resolve(picked());
            return true;
          },
        };
        if (w.check()) return;
        w.timer = setTimeout(() => {
          waiters = waiters.filter((x) => x !== w);
          reject(new Error(`got ${picked().length} of ${n} requests under ${prefix}: ${picked().map((e) => e.url).join(', ')}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    close() {
      srv.closeAllConnections();
      return new Promise((resolve) => srv.close(resolve));
    },
  };
  return receiver;
}

let server;
let base;
let receiver;

before(async () => {
  server = await startServer();
  base = server.base;
  receiver = await startReceiver();
});

after(async () => {
  await stopServer(server.child);
  await receiver.close();
});

beforeEach(async () => {
  const res = await fetch(`${base}/_mock/reset`, { method: 'POST' });
  assert.equal(res.status, 204);
  receiver.clear();
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

const vonageVerifyAuth = { authorization: basic(VONAGE.api_key, VONAGE.api_secret) };
const startVonageVerify = (json, headers = vonageVerifyAuth) => call('/v2/verify', { headers, json });
const checkVonageVerify = (id, code, headers = vonageVerifyAuth) => call(`/v2/verify/${id}`, { headers, json: { code } });
const smsWorkflow = (to) => ({ brand: 'Acme', workflow: [{ channel: 'sms', to }] });

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

// ---------------------------------------------------------------- Vonage Verify (v2)

test('vonage verify: 202 with a request_id, a 4-digit code by default, the right code completes once', async () => {
  await configureAll();
  const sent = await startVonageVerify({ ...smsWorkflow('15551230101'), client_ref: '42', channel_timeout: 120 });
  assert.equal(sent.status, 202);
  assert.match(sent.json.request_id, /^[0-9a-f-]{36}$/);
  assert.deepEqual(Object.keys(sent.json), ['request_id']);
  const [sms] = await inbox();
  assert.equal(sms.provider, 'vonage_verify');
  assert.equal(sms.to, '+15551230101');
  assert.match(sms.code, /^\d{4}$/);
  assert.equal(sms.text, `Your Acme verification code is ${sms.code}`);

  const wrong = await checkVonageVerify(sent.json.request_id, sms.code === '0000' ? '1111' : '0000');
  assert.equal(wrong.status, 400);
  assert.equal(wrong.json.title, 'Invalid Code');
  assert.match(wrong.json.type, /#invalid-code$/);
  const right = await checkVonageVerify(sent.json.request_id, sms.code);
  assert.equal(right.status, 200);
  assert.deepEqual(right.json, { request_id: sent.json.request_id, status: 'completed' });
  const again = await checkVonageVerify(sent.json.request_id, sms.code);
  assert.equal(again.status, 404);
  assert.equal(again.json.title, 'Not Found');
});

test('vonage verify: code_length, a running verification to the number is 409, three wrong codes end it (410)', async () => {
  const sent = await startVonageVerify({ ...smsWorkflow('15551230102'), code_length: 8 });
  assert.equal(sent.status, 202);
  const [sms] = await inbox();
  assert.match(sms.code, /^\d{8}$/);
  const second = await startVonageVerify(smsWorkflow('15551230102'));
  assert.equal(second.status, 409);
  assert.equal(second.json.detail, 'Concurrent verifications to the same number are not allowed');
  assert.equal(second.json.request_id, sent.json.request_id);
  const wrong = sms.code === '00000000' ? '11111111' : '00000000';
  assert.equal((await checkVonageVerify(sent.json.request_id, wrong)).status, 400);
  assert.equal((await checkVonageVerify(sent.json.request_id, wrong)).status, 400);
  const ended = await checkVonageVerify(sent.json.request_id, wrong);
  assert.equal(ended.status, 410);
  assert.match(ended.json.detail, /too many times/);
  // Ended: even the right code finds nothing, and the number is free again.
  assert.equal((await checkVonageVerify(sent.json.request_id, sms.code)).status, 404);
  assert.equal((await startVonageVerify(smsWorkflow('15551230102'))).status, 202);
});

test('vonage verify: bad credentials 401, bad parameters 422, nothing sent', async () => {
  await configureAll();
  const denied = await startVonageVerify(smsWorkflow('15551230103'), { authorization: basic(VONAGE.api_key, 'nope') });
  assert.equal(denied.status, 401);
  assert.equal(denied.json.title, 'Unauthorized');
  for (const body of [
    { ...smsWorkflow('15551230103'), brand: 'A brand that is far too long' },
    { brand: 'Acme', workflow: [{ channel: 'voice', to: '15551230103' }] },
    smsWorkflow('+15551230103'),
    { ...smsWorkflow('15551230103'), code_length: 3 },
    { ...smsWorkflow('15551230103'), channel_timeout: 30 },
    { ...smsWorkflow('15551230103'), client_ref: 'x'.repeat(17) },
  ]) {
    const res = await startVonageVerify(body);
    assert.equal(res.status, 422, JSON.stringify(body));
    assert.equal(res.json.title, 'Invalid params');
  }
  assert.deepEqual(await inbox(), []);
  const check = await checkVonageVerify('no-such-id', '1234', { authorization: basic(VONAGE.api_key, 'nope') });
  assert.equal(check.status, 401);
  assert.equal((await checkVonageVerify('no-such-id', '12')).status, 422);
});

test('faults: a path limits a rule to the requests whose path holds it (a check apart from its send)', async () => {
  await addFault({ provider: 'vonage_verify', path: '/v2/verify/', mode: 'status', status: 503 });
  const sent = await startVonageVerify(smsWorkflow('15551230104'));
  assert.equal(sent.status, 202);
  const check = await checkVonageVerify(sent.json.request_id, '1234');
  assert.equal(check.status, 503);
  assert.equal(check.json.title, 'Service Unavailable');
  assert.equal((await addFault({ provider: '*', mode: 'slow', delay_ms: 1, path: '' })).status, 400);
  await control('/faults', { method: 'DELETE' });
  await addFault({ provider: 'vonage_verify', mode: 'throttle' });
  const throttled = await startVonageVerify(smsWorkflow('15551230105'));
  assert.equal(throttled.status, 429);
  assert.equal(throttled.json.title, 'Rate Limit Hit');
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

test('fault: a rule naming phones applies to requests to those phones only', async () => {
  await addFault({ provider: '*', mode: 'status', status: 500, to: ['+15551230021', '15551230022'] });
  assert.equal((await sendTwilio({ To: '+15551230021' })).status, 500);
  assert.equal((await sendTwilio({ To: '+15551230023' })).status, 201);
  // Vonage sends digits without the plus: the same phone.
  const vonage = await call('/sms/json', { form: { api_key: 'k', api_secret: 's', from: 'A', to: '15551230022', text: 'hi' } });
  assert.equal(vonage.status, 500);
  // One of several recipients is enough (MessageBird).
  const mb = await call('/messages', {
    headers: { authorization: 'AccessKey k' },
    json: { originator: 'A', recipients: [15551230029, 15551230021], body: 'hi' },
  });
  assert.equal(mb.status, 500);
  const log = await requests();
  assert.deepEqual(log.map((r) => r.status), [500, 201, 500, 500]);
  assert.deepEqual(log[0].fault.to, ['+15551230021', '+15551230022']);
  assert.equal(log[1].fault, null);
  assert.equal((await addFault({ mode: 'drop', to: [] })).status, 400);
  assert.equal((await addFault({ mode: 'drop', to: 5 })).status, 400);
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
  for (const m of items) {
    assert.deepEqual(Object.keys(m).sort(), [
      'callback_url', 'code', 'expires_at', 'from', 'id', 'provider', 'text', 'time', 'to', 'validity_s',
    ]);
    assert.equal(m.from, '+15550009999');
    assert.equal(m.callback_url, null);
  }
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
  assert.deepEqual(stats, {
    total: 3, by_provider: { twilio: 2, vonage: 1 }, by_status: { 201: 1, 401: 1, 200: 1 }, open: 0, peak: 1,
  });
});

test('stats: open and peak count delayed requests held at once; DELETE resets them to what is open', async () => {
  const stats = async () => (await control('/stats', { method: 'GET' })).json;
  await configure({ delay_ms: 400 });
  const answers = Promise.all(Array.from({ length: 5 }, (_, i) => sendTwilio({ To: `+1555123010${i}` })));
  const held = await eventually(async () => { const s = await stats(); return s.open === 5 ? s : null; });
  assert.deepEqual([held.peak, held.total], [5, 5]);
  // Reset while they are held: the peak starts again from the five still open.
  assert.equal((await control('/stats', { method: 'DELETE' })).status, 204);
  assert.deepEqual(await stats(), { total: 0, by_provider: {}, by_status: {}, open: 5, peak: 5 });
  assert.deepEqual((await answers).map((r) => r.status), Array(5).fill(201));
  let after = await stats();
  assert.deepEqual([after.open, after.peak, after.total], [0, 5, 0]);

  // All answered: a reset brings the peak down to zero, and requests one at a time peak at one.
  await control('/stats', { method: 'DELETE' });
  assert.deepEqual(await stats(), { total: 0, by_provider: {}, by_status: {}, open: 0, peak: 0 });
  await sendTwilio();
  await sendTwilio();
  after = await stats();
  assert.deepEqual([after.open, after.peak, after.total], [0, 1, 2]);
});

test('stats: a request never answered is open until its client gives up; control calls are not counted', async () => {
  const stats = async () => (await control('/stats', { method: 'GET' })).json;
  await addFault({ provider: 'twilio', mode: 'timeout', count: 1 });
  const client = new AbortController();
  const held = call(`/2010-04-01/Accounts/${TWILIO.account_sid}/Messages.json`, {
    headers: { authorization: basic(TWILIO.account_sid, TWILIO.auth_token) },
    form: { To: '+15551230110', From: '+15550009999', Body: 'held' },
    signal: client.signal,
  }).catch((err) => err);
  await eventually(async () => (await stats()).open === 1);
  await requests();
  await inbox();
  assert.deepEqual(await stats().then((s) => [s.open, s.peak]), [1, 1]);
  // A reset keeps counting it: it is still open.
  assert.equal((await fetch(`${base}/_mock/reset`, { method: 'POST' })).status, 204);
  assert.deepEqual(await stats().then((s) => [s.open, s.peak]), [1, 1]);
  client.abort();
  assert.ok((await held) instanceof Error);
  await eventually(async () => (await stats()).open === 0);
  assert.equal((await stats()).peak, 1);
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
  writeFileSync(file, JSON.stringify({ twilio: TWILIO, callbacks: [{ provider: 'twilio', outcome: 'failed' }] }));
  const other = await startServer(['--config', file, '--no-record']);
  try {
    const rules = await (await fetch(`${other.base}/_mock/callbacks`)).json();
    assert.deepEqual(rules.map((r) => [r.provider, r.outcome]), [['twilio', 'failed']]);
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

// ================================================================ callbacks
//
// The providers' own libraries check the signatures when they are installed
// (`npm ci` in test/mock_provider); the independent computations below run
// either way.

async function optionalImport(name) {
  try {
    return await import(name);
  } catch (err) {
    if (err.code === 'ERR_MODULE_NOT_FOUND') return null;
    throw err;
  }
}

const libs = {
  twilio: (await optionalImport('twilio'))?.default ?? null,
  standardwebhooks: await optionalImport('standardwebhooks'),
  plivo: (await optionalImport('plivo'))?.default ?? null,
  messagebird: (await optionalImport('messagebird/lib/webhook-signature-jwt.js'))?.default ?? null,
  vonageSms: await optionalImport('@vonage/sms'),
  vonageAuth: await optionalImport('@vonage/auth'),
};
const missingLibs = Object.entries(libs).filter(([, v]) => !v).map(([k]) => k);

const VONAGE_SIGNING = { ...VONAGE, signature_secret: 'vonage-signature-secret', signature_method: 'sha256' };
const MB_SIGNING_KEY = 'messagebird-signing-key';
const CALLBACK_SECRET = `whsec_${randomBytes(24).toString('base64')}`;

const statusUrl = (kind, id) => `${receiver.base}/callbacks/${kind}/main/status/${id}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const callbackLog = async (query = '') => (await control(`/callbacks/log${query}`, { method: 'GET' })).json;
const addCallbackRule = (rule) => control('/callbacks', { json: rule });

// Polls until `fn` returns something truthy.
async function eventually(fn, timeoutMs = 5000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(20);
  }
}

// The mock logs a callback once its answer is in.
const logSettled = (n, query = '') => eventually(async () => {
  const log = await callbackLog(query);
  return log.length >= n && log.every((e) => e.status !== null || e.error) ? log : null;
});

const formOf = (entry) => Object.fromEntries(new URLSearchParams(entry.body));

// ---------------------------------------------------------------- independent checks

function expectTwilioSignature(token, url, params) {
  let data = url;
  for (const k of Object.keys(params).sort()) data += k + params[k];
  return createHmac('sha1', token).update(data).digest('base64');
}

function expectVonageSig(params, secret, method) {
  const data = Object.keys(params).filter((k) => k !== 'sig').sort()
    .map((k) => `&${k}=${String(params[k]).replace(/[&=]/g, '_')}`).join('');
  return method === 'md5hash'
    ? createHash('md5').update(data + secret).digest('hex')
    : createHmac(method, secret).update(data).digest('hex');
}

function checkMessagebirdJwt(jwt, key, url, body) {
  const [h, p, sig] = jwt.split('.');
  const expected = createHmac('sha256', key).update(`${h}.${p}`).digest();
  assert.ok(timingSafeEqual(Buffer.from(sig, 'base64url'), expected), 'JWT HMAC');
  assert.deepEqual(JSON.parse(Buffer.from(h, 'base64url')), { alg: 'HS256', typ: 'JWT' });
  const claims = JSON.parse(Buffer.from(p, 'base64url'));
  assert.equal(claims.iss, 'MessageBird');
  const now = Date.now() / 1000;
  assert.ok(claims.nbf <= now + 1 && claims.exp > now, 'nbf/exp around now');
  assert.match(claims.jti, /\S/);
  assert.equal(claims.url_hash, createHash('sha256').update(url).digest('hex'));
  if (body && body.length) assert.equal(claims.payload_hash, createHash('sha256').update(body).digest('hex'));
  else assert.equal(claims.payload_hash, undefined);
  return claims;
}

// Plivo V3, written from its description: URL without query, "?" + sorted
// query, "." before POST params when both, POST params sorted as key+value.
function expectPlivoV3(token, method, url, params, nonce) {
  const u = new URL(url);
  const pairs = [...u.searchParams].map(([k, v]) => `${k}=${v}`).sort();
  let s = `${u.origin}${u.pathname}`;
  const post = method === 'POST' ? Object.keys(params).sort().map((k) => k + params[k]).join('') : '';
  const hasPost = method === 'POST' && Object.keys(params).length > 0;
  if (pairs.length || hasPost) s += `?${pairs.join('&')}`;
  if (pairs.length && hasPost) s += '.';
  s += post;
  return createHmac('sha256', token).update(`${s}.${nonce}`).digest('base64');
}

function expectWebhookSignature(secret, headers, body) {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const mac = createHmac('sha256', key).update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`).digest('base64');
  return `v1,${mac}`;
}

// ---------------------------------------------------------------- library checks

function twilioValid(token, entry, params) {
  const ours = entry.headers['x-twilio-signature'] === expectTwilioSignature(token, entry.full_url, params);
  if (!libs.twilio) return ours;
  assert.equal(libs.twilio.getExpectedTwilioSignature(token, entry.full_url, params), expectTwilioSignature(token, entry.full_url, params));
  const theirs = libs.twilio.validateRequest(token, entry.headers['x-twilio-signature'], entry.full_url, params);
  assert.equal(theirs, ours, 'twilio library and independent check agree');
  return theirs;
}

function vonageValid(params, secret, method) {
  const ours = typeof params.sig === 'string' && params.sig.toLowerCase() === expectVonageSig(params, secret, method).toLowerCase();
  if (!libs.vonageSms) return ours;
  const sms = new libs.vonageSms.SMS(new libs.vonageAuth.Auth({ apiKey: VONAGE.api_key, apiSecret: VONAGE.api_secret }));
  const algorithm = { md5hash: 'MD5HASH', md5: 'MD5HMAC', sha1: 'SHA1HMAC', sha256: 'SHA256HMAC', sha512: 'SHA512HMAC' }[method];
  const theirs = sms.verifySignature(params.sig ?? '', params, secret, algorithm);
  assert.equal(theirs, ours, 'vonage library and independent check agree');
  return theirs;
}

async function messagebirdValid(key, entry) {
  const jwt = entry.headers['messagebird-signature-jwt'];
  if (!jwt) return false;
  let ours = true;
  try {
    checkMessagebirdJwt(jwt, key, entry.full_url, entry.raw);
  } catch {
    ours = false;
  }
  if (!libs.messagebird) return ours;
  const theirs = await libs.messagebird.verify(entry.full_url, entry.raw.length ? entry.raw : null, jwt, createSecretKey(Buffer.from(key)))
    .then(() => true, () => false);
  assert.equal(theirs, ours, 'messagebird library and independent check agree');
  return theirs;
}

function plivoValid(token, entry, params) {
  const nonce = entry.headers['x-plivo-signature-v3-nonce'];
  const sig = entry.headers['x-plivo-signature-v3'];
  if (!nonce || !sig) return false;
  const ours = sig === expectPlivoV3(token, entry.method, entry.full_url, params, nonce);
  if (!libs.plivo) return ours;
  const theirs = libs.plivo.validateV3Signature(entry.method, entry.full_url, nonce, token, sig, entry.method === 'POST' ? params : {});
  assert.equal(theirs, ours, 'plivo library and independent check agree');
  return theirs;
}

function webhookValid(secret, entry) {
  const ours = entry.headers['webhook-signature'] === expectWebhookSignature(secret, entry.headers, entry.body);
  if (!libs.standardwebhooks) return ours;
  let theirs = true;
  try {
    new libs.standardwebhooks.Webhook(secret).verify(entry.body, entry.headers);
  } catch {
    theirs = false;
  }
  assert.equal(theirs, ours, 'standardwebhooks library and independent check agree');
  return theirs;
}

test('callbacks: the providers\' libraries are installed for the signature checks', (t) => {
  if (missingLibs.length) {
    t.skip(`not installed: ${missingLibs.join(', ')} (npm ci in test/mock_provider); independent checks only`);
  }
});

// ---------------------------------------------------------------- Twilio

test('twilio: "sent" then "delivered" to StatusCallback, form-encoded and signed with the auth token', async () => {
  await configureAll();
  const url = `${statusUrl('twilio', 42)}?outbox_id=42`;
  const sent = await sendTwilio({ StatusCallback: url, ValidityPeriod: '600' });
  assert.equal(sent.status, 201);
  const got = await receiver.waitFor(2, '/callbacks/twilio/');
  assert.deepEqual(got.map((e) => formOf(e).MessageStatus), ['sent', 'delivered']);
  for (const e of got) {
    assert.equal(e.method, 'POST');
    assert.equal(e.url, '/callbacks/twilio/main/status/42?outbox_id=42');
    assert.match(e.headers['content-type'], /^application\/x-www-form-urlencoded/);
    const f = formOf(e);
    assert.equal(f.MessageSid, sent.json.sid);
    assert.equal(f.SmsSid, sent.json.sid);
    assert.equal(f.SmsStatus, f.MessageStatus);
    assert.equal(f.AccountSid, TWILIO.account_sid);
    assert.equal(f.From, '+15550009999');
    assert.equal(f.To, '+15551230001');
    assert.equal(f.ApiVersion, '2010-04-01');
    assert.equal(f.ErrorCode, undefined);
    assert.ok(twilioValid(TWILIO.auth_token, e, f), 'X-Twilio-Signature');
    assert.ok(!twilioValid('another-token', e, f));
  }
  assert.match(formOf(got[1]).RawDlrDoneDate, /^\d{10}$/);
  assert.ok(got[1].at - got[0].at >= 40, 'the events are about 50 ms apart');

  const [logged] = await requests();
  assert.equal(logged.callback.url, url);
  assert.equal(logged.callback.method, 'POST');
  assert.equal(logged.callback.validity_s, 600);
  assert.ok(Math.abs(Date.parse(logged.callback.expires_at) - (Date.parse(logged.time) + 600_000)) < 1000);
  const [sms] = await inbox();
  assert.equal(sms.callback_url, url);
  assert.equal(sms.validity_s, 600);
  assert.equal(sms.expires_at, logged.callback.expires_at);

  const log = await logSettled(2);
  assert.deepEqual(log.map((e) => [e.kind, e.provider, e.event, e.status, e.response_body]), [
    ['status', 'twilio', 'sent', 200, 'ok'], ['status', 'twilio', 'delivered', 200, 'ok'],
  ]);
  assert.equal(log[0].message_id, sent.json.sid);
  assert.equal(log[0].url, url);
  assert.equal(log[0].body, got[0].body);
  assert.equal(log[0].headers['x-twilio-signature'], got[0].headers['x-twilio-signature']);
  assert.ok(!Number.isNaN(Date.parse(log[0].time)));
});

test('twilio: without configured credentials the callbacks are signed with the token the send used', async () => {
  await sendTwilio({ StatusCallback: statusUrl('twilio', 1) }, basic('ACunconfigured', 'token-used'), 'ACunconfigured');
  const got = await receiver.waitFor(2, '/callbacks/twilio/');
  for (const e of got) assert.ok(twilioValid('token-used', e, formOf(e)));
  assert.equal(formOf(got[0]).AccountSid, 'ACunconfigured');
});

test('twilio: no StatusCallback, no callbacks; Verify never calls back', async () => {
  await sendTwilio();
  await startVerification('+15551230040');
  await sleep(200);
  assert.deepEqual(receiver.got, []);
  assert.deepEqual(await callbackLog(), []);
  assert.equal((await requests())[0].callback.url, null);
});

test('twilio: undelivered and failed carry ErrorCode; a rule sets the code', async () => {
  await configureAll();
  await addCallbackRule([
    { provider: 'twilio', to: '+15551230041', outcome: 'undelivered', error_code: '30005', count: 1 },
    { provider: 'twilio', outcome: 'failed', count: 1 },
  ]);
  await sendTwilio({ To: '+15551230041', StatusCallback: statusUrl('twilio', 'u') });
  await sendTwilio({ To: '+15551230042', StatusCallback: statusUrl('twilio', 'f') });
  const undelivered = (await receiver.waitFor(2, '/callbacks/twilio/main/status/u')).map(formOf);
  assert.deepEqual(undelivered.map((f) => [f.MessageStatus, f.ErrorCode]), [['sent', undefined], ['undelivered', '30005']]);
  const failed = (await receiver.waitFor(1, '/callbacks/twilio/main/status/f')).map(formOf);
  assert.deepEqual(failed.map((f) => [f.MessageStatus, f.ErrorCode]), [['failed', '30008']]);
  await sleep(150);
  assert.equal(receiver.got.length, 3);
  // Both rules were used up.
  assert.deepEqual((await control('/callbacks', { method: 'GET' })).json, []);
});

test('twilio: sign "bad" sends a wrong signature, "none" no header', async () => {
  await configureAll();
  await addCallbackRule({ provider: 'twilio', sign: 'bad', count: 1 });
  await sendTwilio({ StatusCallback: statusUrl('twilio', 'bad') });
  for (const e of await receiver.waitFor(2, '/callbacks/twilio/main/status/bad')) {
    assert.match(e.headers['x-twilio-signature'], /^[A-Za-z0-9+/]{27}=$/);
    assert.ok(!twilioValid(TWILIO.auth_token, e, formOf(e)));
  }
  await addCallbackRule({ provider: 'twilio', sign: 'none', count: 1 });
  await sendTwilio({ StatusCallback: statusUrl('twilio', 'none') });
  for (const e of await receiver.waitFor(2, '/callbacks/twilio/main/status/none')) {
    assert.equal(e.headers['x-twilio-signature'], undefined);
  }
});

// ---------------------------------------------------------------- Vonage

const sendVonage = (fields = {}) => call('/sms/json', {
  form: { ...VONAGE, from: 'AcmeInc', to: '15551230020', text: 'Code 1234', 'client-ref': '43', ...fields },
});

test('vonage: DLRs go to `callback` as JSON, signed with the signature secret (sha256 HMAC)', async () => {
  await configure({ vonage: VONAGE_SIGNING });
  const sent = await sendVonage({ callback: statusUrl('vonage', 43), ttl: '300000' });
  assert.equal(sent.json.messages[0].status, '0');
  const got = await receiver.waitFor(2, '/callbacks/vonage/');
  const docs = got.map((e) => JSON.parse(e.body));
  assert.deepEqual(docs.map((d) => d.status), ['accepted', 'delivered']);
  for (const [i, d] of docs.entries()) {
    assert.equal(got[i].method, 'POST');
    assert.match(got[i].headers['content-type'], /^application\/json/);
    assert.equal(d.messageId, sent.json.messages[0]['message-id']);
    assert.equal(d.msisdn, '15551230020');
    assert.equal(d.to, 'AcmeInc');
    assert.equal(d['client-ref'], '43');
    assert.equal(d['err-code'], '0');
    assert.equal(d['api-key'], VONAGE.api_key);
    assert.equal(d['network-code'], '23410');
    assert.match(d.price, /^\d+\.\d{8}$/);
    assert.match(d.scts, /^\d{10}$/);
    assert.match(d['message-timestamp'], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    assert.ok(Math.abs(Number(d.timestamp) - Date.now() / 1000) < 5);
    assert.match(d.nonce, /\S/);
    for (const v of Object.values(d)) assert.equal(typeof v, 'string');
    assert.match(d.sig, /^[0-9A-F]{64}$/);
    assert.ok(vonageValid(d, VONAGE_SIGNING.signature_secret, 'sha256'), 'sig');
    assert.ok(!vonageValid({ ...d, status: 'failed' }, VONAGE_SIGNING.signature_secret, 'sha256'), 'a changed field fails');
  }
  const [logged] = await requests();
  assert.equal(logged.callback.validity_s, 300);
  assert.equal(logged.callback.reference, '43');
});

test('vonage: dlr_method GET puts the DLR in the query, POST in a form; md5hash signs too', async () => {
  await configure({ vonage: { ...VONAGE_SIGNING, signature_method: 'md5hash', dlr_method: 'GET' } });
  await sendVonage({ callback: statusUrl('vonage', 'get') });
  for (const e of await receiver.waitFor(2, '/callbacks/vonage/main/status/get')) {
    assert.equal(e.method, 'GET');
    assert.equal(e.body, '');
    assert.match(e.query.sig, /^[0-9a-f]{32}$/);
    assert.ok(vonageValid(e.query, VONAGE_SIGNING.signature_secret, 'md5hash'));
  }
  await configure({ vonage: { ...VONAGE_SIGNING, signature_method: 'sha512', dlr_method: 'POST' } });
  await sendVonage({ callback: statusUrl('vonage', 'form') });
  for (const e of await receiver.waitFor(2, '/callbacks/vonage/main/status/form')) {
    assert.equal(e.method, 'POST');
    assert.match(e.headers['content-type'], /^application\/x-www-form-urlencoded/);
    assert.ok(vonageValid(formOf(e), VONAGE_SIGNING.signature_secret, 'sha512'));
  }
});

test('vonage: unsigned without a signature secret; a long text gets receipts per part', async () => {
  await configure({ vonage: VONAGE });
  const sent = await sendVonage({ callback: statusUrl('vonage', 'parts'), text: 'x'.repeat(200) });
  assert.equal(sent.json.messages.length, 2);
  const got = await receiver.waitFor(4, '/callbacks/vonage/main/status/parts');
  const docs = got.map((e) => JSON.parse(e.body));
  for (const d of docs) assert.equal(d.sig, undefined);
  const byPart = {};
  for (const d of docs) (byPart[d.messageId] ??= []).push(d);
  assert.deepEqual(Object.keys(byPart).sort(), sent.json.messages.map((m) => m['message-id']).sort());
  for (const part of Object.values(byPart)) assert.deepEqual(part.map((d) => d.status), ['accepted', 'delivered']);
});

test('vonage: undelivered and failed outcomes, and status-report-req=0 asks for nothing', async () => {
  await configure({ vonage: VONAGE_SIGNING });
  await addCallbackRule([{ provider: 'vonage', outcome: 'undelivered', count: 1 }, { provider: 'vonage', outcome: 'failed', error_code: 6, count: 1 }]);
  await sendVonage({ callback: statusUrl('vonage', 'u') });
  await sendVonage({ callback: statusUrl('vonage', 'f') });
  await sendVonage({ callback: statusUrl('vonage', 'none'), 'status-report-req': '0' });
  const u = (await receiver.waitFor(2, '/callbacks/vonage/main/status/u')).map((e) => JSON.parse(e.body));
  assert.deepEqual(u.map((d) => [d.status, d['err-code']]), [['accepted', '0'], ['failed', '2']]);
  const f = (await receiver.waitFor(1, '/callbacks/vonage/main/status/f')).map((e) => JSON.parse(e.body));
  assert.deepEqual(f.map((d) => [d.status, d['err-code']]), [['rejected', '6']]);
  await sleep(150);
  assert.equal(receiver.got.filter((e) => e.path.endsWith('/none')).length, 0);
});

// ---------------------------------------------------------------- MessageBird

const sendMessagebird = (fields = {}) => call('/messages', {
  headers: { authorization: `AccessKey ${MESSAGEBIRD.access_key}` },
  json: { originator: 'Acme', recipients: [31612345678], body: 'Code 8812', reference: '44', ...fields },
});

test('messagebird: status reports are GETs to reportUrl with a MessageBird-Signature-JWT', async () => {
  await configure({ messagebird: { ...MESSAGEBIRD, signing_key: MB_SIGNING_KEY } });
  const sent = await sendMessagebird({ reportUrl: statusUrl('messagebird', 44), validity: 120 });
  assert.equal(sent.status, 201);
  const got = await receiver.waitFor(2, '/callbacks/messagebird/');
  assert.deepEqual(got.map((e) => e.query.status), ['sent', 'delivered']);
  for (const e of got) {
    assert.equal(e.method, 'GET');
    assert.equal(e.body, '');
    assert.equal(e.query.id, sent.json.id);
    assert.equal(e.query.reference, '44');
    assert.equal(e.query.recipient, '31612345678');
    assert.match(e.query.statusDatetime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/);
    assert.equal(e.query.statusErrorCode, undefined);
    assert.ok(e.query.mccmnc);
    assert.ok(await messagebirdValid(MB_SIGNING_KEY, e), 'JWT');
    assert.ok(!(await messagebirdValid('another-key', e)));
    // The URL is part of the signature.
    assert.ok(!(await messagebirdValid(MB_SIGNING_KEY, { ...e, full_url: e.full_url.replace('status=', 'status=x') })));
  }
  assert.equal(got[1].query.statusReason, 'successfully delivered');
  const [logged] = await requests();
  assert.equal(logged.callback.method, 'GET');
  assert.equal(logged.callback.validity_s, 120);
});

test('messagebird: no reference, no status reports; delivery_failed carries statusErrorCode', async () => {
  await configure({ messagebird: { ...MESSAGEBIRD, signing_key: MB_SIGNING_KEY } });
  await sendMessagebird({ reference: undefined, reportUrl: statusUrl('messagebird', 'noref') });
  await addCallbackRule({ provider: 'messagebird', outcome: 'undelivered', error_code: '104', count: 1 });
  await sendMessagebird({ reportUrl: statusUrl('messagebird', 'u') });
  const got = await receiver.waitFor(2, '/callbacks/messagebird/main/status/u');
  assert.deepEqual(got.map((e) => [e.query.status, e.query.statusErrorCode]), [['sent', undefined], ['delivery_failed', '104']]);
  assert.equal(receiver.got.filter((e) => e.path.endsWith('/noref')).length, 0);
});

test('messagebird: one report per recipient', async () => {
  await sendMessagebird({ recipients: [31612345678, 31612345679], reportUrl: statusUrl('messagebird', 'two') });
  const got = await receiver.waitFor(4, '/callbacks/messagebird/main/status/two');
  assert.deepEqual([...new Set(got.map((e) => e.query.recipient))].sort(), ['31612345678', '31612345679']);
  // Unsigned without a signing key.
  for (const e of got) assert.equal(e.headers['messagebird-signature-jwt'], undefined);
});

// ---------------------------------------------------------------- Plivo

const sendPlivo = (fields = {}) => call(`/v1/Account/${PLIVO.auth_id}/Message/`, {
  headers: { authorization: basic(PLIVO.auth_id, PLIVO.auth_token) },
  json: { src: '15550009999', dst: '15551230030', text: 'Code 90210', ...fields },
});

test('plivo: callbacks to `url` as a form, signed with X-Plivo-Signature-V3', async () => {
  await configureAll();
  const sent = await sendPlivo({ url: statusUrl('plivo', 46), method: 'POST', message_expiry: 300 });
  assert.equal(sent.status, 202);
  const got = await receiver.waitFor(2, '/callbacks/plivo/');
  const forms = got.map(formOf);
  assert.deepEqual(forms.map((f) => f.Status), ['sent', 'delivered']);
  for (const [i, f] of forms.entries()) {
    const e = got[i];
    assert.equal(e.method, 'POST');
    assert.match(e.headers['content-type'], /^application\/x-www-form-urlencoded/);
    assert.equal(f.MessageUUID, sent.json.message_uuid[0]);
    assert.equal(f.From, '15550009999');
    assert.equal(f.To, '15551230030');
    assert.equal(f.Units, '1');
    assert.equal(f.Sequence, String(i + 1));
    assert.equal(f.ErrorCode, undefined);
    assert.ok(f.TotalRate && f.TotalAmount);
    assert.match(e.headers['x-plivo-signature-v3-nonce'], /^\d{20}$/);
    assert.ok(plivoValid(PLIVO.auth_token, e, f), 'V3 signature');
    assert.ok(!plivoValid('another-token', e, f));
    assert.ok(!plivoValid(PLIVO.auth_token, e, { ...f, Status: 'failed' }));
  }
  assert.ok(forms[1].DeliveryReportTime);
  assert.equal((await requests())[0].callback.validity_s, 300);
});

test('plivo: method GET sends the parameters in the query; several dst get callbacks each', async () => {
  await configureAll();
  const sent = await sendPlivo({ dst: '15551230031<15551230032', url: statusUrl('plivo', 'get'), method: 'GET' });
  const got = await receiver.waitFor(4, '/callbacks/plivo/main/status/get');
  for (const e of got) {
    assert.equal(e.method, 'GET');
    assert.equal(e.body, '');
    assert.ok(plivoValid(PLIVO.auth_token, e, {}));
  }
  assert.deepEqual([...new Set(got.map((e) => e.query.MessageUUID))].sort(), [...sent.json.message_uuid].sort());
  await addCallbackRule({ provider: 'plivo', outcome: 'failed', count: 1 });
  await sendPlivo({ url: statusUrl('plivo', 'f') });
  const [failed] = await receiver.waitFor(1, '/callbacks/plivo/main/status/f');
  assert.deepEqual([formOf(failed).Status, formOf(failed).ErrorCode], ['failed', '300']);
});

// ---------------------------------------------------------------- webhook

function sendWebhookMessage(data, opts) {
  return sendWebhook({ type: 'sms.otp', timestamp: new Date().toISOString(), data: { to: '+15551230050', text: 'Code 5050', ...data } }, opts);
}

test('webhook: sms.status events to data.status_callback, Standard Webhooks signed with callback_secret', async () => {
  await configure({ webhook: { secret: WEBHOOK_SECRET, callback_secret: CALLBACK_SECRET } });
  const expires = Math.floor(Date.now() / 1000) + 600;
  const sent = await sendWebhookMessage({ message_id: 45, status_callback: statusUrl('webhook', 45), expires_at: expires });
  assert.equal(sent.status, 200);
  const got = await receiver.waitFor(2, '/callbacks/webhook/');
  const docs = got.map((e) => JSON.parse(e.body));
  assert.deepEqual(docs.map((d) => d.data.status), ['sent', 'delivered']);
  for (const [i, d] of docs.entries()) {
    const e = got[i];
    assert.equal(e.method, 'POST');
    assert.match(e.headers['content-type'], /^application\/json/);
    assert.equal(d.type, 'sms.status');
    assert.ok(!Number.isNaN(Date.parse(d.timestamp)));
    assert.equal(d.data.message_id, 45, 'our id comes back as it was sent');
    assert.equal(d.data.provider_message_id, sent.json.id);
    assert.equal(d.data.error_code, null);
    assert.ok(Math.abs(d.data.timestamp - Date.now() / 1000) < 5);
    assert.match(e.headers['webhook-id'], /^msg_/);
    assert.ok(webhookValid(CALLBACK_SECRET, e), 'webhook-signature with callback_secret');
    assert.ok(!webhookValid(WEBHOOK_SECRET, e));
  }
  assert.notEqual(got[0].headers['webhook-id'], got[1].headers['webhook-id']);
  const [logged] = await requests();
  assert.equal(logged.callback.expires_at, new Date(expires * 1000).toISOString());
  assert.ok(Math.abs(logged.callback.validity_s - 600) <= 1);
});

test('webhook: signed with `secret` when there is no callback_secret; failures carry error_code', async () => {
  await configure({ webhook: { secret: WEBHOOK_SECRET } });
  await addCallbackRule({ provider: 'webhook', outcome: 'undelivered', error_code: 'absent_subscriber', count: 1 });
  await sendWebhookMessage({ message_id: 'm-1', status_callback: statusUrl('webhook', 'u') });
  const got = await receiver.waitFor(2, '/callbacks/webhook/main/status/u');
  assert.deepEqual(got.map((e) => [JSON.parse(e.body).data.status, JSON.parse(e.body).data.error_code]), [
    ['sent', null], ['undelivered', 'absent_subscriber'],
  ]);
  for (const e of got) assert.ok(webhookValid(WEBHOOK_SECRET, e));
});

// ---------------------------------------------------------------- rules

test('rules: reversed order, duplicates, late terminal event, explicit events, to-match', async () => {
  await configure({ webhook: { secret: WEBHOOK_SECRET } });
  await addCallbackRule([
    { provider: 'webhook', to: '+15551230061', order: 'reversed' },
    { provider: 'webhook', to: '+15551230062', duplicate: 2 },
    { provider: 'webhook', to: '+15551230063', late_ms: 400, delay_ms: 10 },
    { provider: '*', to: '+15551230064', events: ['sent', 'sent', 'failed', 'delivered'], delay_ms: 0 },
    { provider: 'webhook', to: '+15551230065', events: [] },
  ]);
  const send = (to, id) => sendWebhookMessage({ to, message_id: id, status_callback: statusUrl('webhook', id) });
  const status = (entries) => entries.map((e) => JSON.parse(e.body).data.status);

  await send('+15551230061', 'rev');
  assert.deepEqual(status(await receiver.waitFor(2, '/callbacks/webhook/main/status/rev')), ['delivered', 'sent']);

  await send('+15551230062', 'dup');
  const dup = await receiver.waitFor(6, '/callbacks/webhook/main/status/dup');
  assert.deepEqual(status(dup), ['sent', 'sent', 'sent', 'delivered', 'delivered', 'delivered']);
  // A duplicate is the same event delivered again: same webhook-id, each validly signed.
  assert.equal(new Set(dup.slice(0, 3).map((e) => e.headers['webhook-id'])).size, 1);
  assert.notEqual(dup[0].headers['webhook-id'], dup[3].headers['webhook-id']);
  for (const e of dup) assert.ok(webhookValid(WEBHOOK_SECRET, e));
  assert.deepEqual((await logSettled(8, '?provider=webhook')).slice(2).map((e) => e.copy), [0, 1, 2, 0, 1, 2]);

  const started = performance.now();
  await send('+15551230063', 'late');
  const [first] = await receiver.waitFor(1, '/callbacks/webhook/main/status/late');
  assert.ok(first.at - started < 300, 'the first event is not held');
  const late = await receiver.waitFor(2, '/callbacks/webhook/main/status/late');
  assert.ok(late[1].at - late[0].at >= 390, `terminal event held ${late[1].at - late[0].at} ms`);

  await send('+15551230064', 'explicit');
  assert.deepEqual(status(await receiver.waitFor(4, '/callbacks/webhook/main/status/explicit')), ['sent', 'sent', 'failed', 'delivered']);

  await send('+15551230065', 'silent');
  await sleep(200);
  assert.equal(receiver.got.filter((e) => e.path.endsWith('/silent')).length, 0);
  // Rules without a count stay.
  assert.equal((await control('/callbacks', { method: 'GET' })).json.length, 5);
});

test('rules: delay_ms spaces the events; callback_delay_ms sets the default', async () => {
  await configure({ webhook: { secret: WEBHOOK_SECRET }, callback_delay_ms: 250 });
  assert.equal((await control('/config', { method: 'GET' })).json.callback_delay_ms, 250);
  const started = performance.now();
  await sendWebhookMessage({ message_id: 'slow', status_callback: statusUrl('webhook', 'slow') });
  const got = await receiver.waitFor(2, '/callbacks/webhook/main/status/slow');
  assert.ok(got[0].at - started >= 240);
  assert.ok(got[1].at - got[0].at >= 240);
  await addCallbackRule({ delay_ms: 0, count: 1 });
  await sendWebhookMessage({ message_id: 'fast', status_callback: statusUrl('webhook', 'fast') });
  const fast = await receiver.waitFor(2, '/callbacks/webhook/main/status/fast');
  assert.ok(fast[1].at - fast[0].at < 200);
});

test('rules: validated, listed, removed one by one and cleared', async () => {
  for (const bad of [
    { provider: 'sinch' }, { outcome: 'lost' }, { order: 'random' }, { duplicate: -1 }, { late_ms: 'x' },
    { provider: 'twilio', events: ['delivrd'] }, { events: 'sent' }, { sign: 'maybe' }, { count: 0 }, { colour: 'red' },
  ]) {
    const res = await addCallbackRule(bad);
    assert.equal(res.status, 400, JSON.stringify(bad));
    assert.ok(res.json.error);
  }
  const added = (await addCallbackRule([{ provider: 'twilio', outcome: 'failed' }, { to: '15551230070' }])).json;
  assert.equal(added.length, 2);
  assert.equal(added[1].to, '+15551230070');
  assert.equal(added[1].provider, '*');
  assert.equal((await control(`/callbacks/${added[0].id}`, { method: 'DELETE' })).status, 204);
  assert.equal((await control(`/callbacks/${added[0].id}`, { method: 'DELETE' })).status, 404);
  assert.deepEqual((await control('/callbacks', { method: 'GET' })).json.map((r) => r.id), [added[1].id]);
  assert.equal((await control('/callbacks', { method: 'DELETE' })).status, 204);
  assert.deepEqual((await control('/callbacks', { method: 'GET' })).json, []);
});

// ---------------------------------------------------------------- log and replay

test('log: answers and errors are recorded; replay posts a logged callback again unchanged', async () => {
  await configureAll();
  receiver.respondWith((e) => (e.path.endsWith('/busy') ? { status: 503, body: 'try later' } : { status: 204 }));
  await sendTwilio({ StatusCallback: statusUrl('twilio', 'busy') });
  const log = await logSettled(2);
  assert.deepEqual(log.map((e) => [e.status, e.response_body]), [[503, 'try later'], [503, 'try later']]);

  receiver.clear();
  const original = log[1];
  const replayed = await control(`/callbacks/replay/${original.seq}`, {});
  assert.equal(replayed.status, 200);
  assert.equal(replayed.json.replay_of, original.seq);
  assert.equal(replayed.json.status, 200);
  const [again] = await receiver.waitFor(1, '/callbacks/twilio/');
  assert.equal(again.body, original.body);
  assert.equal(again.headers['x-twilio-signature'], original.headers['x-twilio-signature']);
  assert.equal(again.method, original.method);
  assert.equal((await control('/callbacks/replay/99999', {})).status, 404);

  // A receiver that is not there: the error is logged.
  await sendTwilio({ StatusCallback: 'http://127.0.0.1:1/nobody/home' });
  const failed = await eventually(async () => {
    const errors = (await callbackLog('?provider=twilio')).filter((e) => e.error);
    return errors.length ? errors : null;
  });
  assert.equal(failed[0].status, null);
  assert.match(failed[0].error, /ECONNREFUSED|connect/);

  assert.deepEqual((await callbackLog(`?message_id=${original.message_id}`)).map((e) => e.seq), [log[0].seq, log[1].seq, replayed.json.seq]);
  assert.equal((await control('/callbacks/log', { method: 'DELETE' })).status, 204);
  assert.deepEqual(await callbackLog(), []);
});

test('reset cancels callbacks not yet posted; pending counts them', async () => {
  await configure({ callback_delay_ms: 300 });
  await sendTwilio({ StatusCallback: statusUrl('twilio', 'cancelled') });
  assert.equal((await control('/callbacks/pending', { method: 'GET' })).json.pending, 2);
  await control('/reset', {});
  assert.equal((await control('/callbacks/pending', { method: 'GET' })).json.pending, 0);
  await sleep(800);
  assert.deepEqual(receiver.got, []);
});

// ---------------------------------------------------------------- inbound

const inboundConfig = () => configure({
  callback_url: `${receiver.base}/callbacks/`,
  twilio: { ...TWILIO, integration: 'twilio-main' },
  vonage: { ...VONAGE_SIGNING, integration: 'vonage' },
  messagebird: { ...MESSAGEBIRD, signing_key: MB_SIGNING_KEY, integration: 'mb' },
  plivo: { ...PLIVO, integration: 'plivo' },
  webhook: { secret: WEBHOOK_SECRET, inbound_url: `${receiver.base}/elsewhere/inbound` },
});
const postInbound = (doc) => control('/inbound', { json: doc });

test('inbound: twilio posts the reply as a signed form to {callback_url}/twilio/{integration}/inbound', async () => {
  await inboundConfig();
  const res = await postInbound({ provider: 'twilio', from: '+15551230080', to: '+15550009999', text: 'STOP' });
  assert.equal(res.status, 200);
  assert.equal(res.json.kind, 'inbound');
  assert.equal(res.json.status, 200);
  assert.equal(res.json.url, `${receiver.base}/callbacks/twilio/twilio-main/inbound`);
  const [e] = receiver.got;
  assert.equal(e.path, '/callbacks/twilio/twilio-main/inbound');
  const f = formOf(e);
  assert.equal(f.From, '+15551230080');
  assert.equal(f.To, '+15550009999');
  assert.equal(f.Body, 'STOP');
  assert.equal(f.SmsStatus, 'received');
  assert.equal(f.AccountSid, TWILIO.account_sid);
  assert.match(f.MessageSid, /^SM[0-9a-f]{32}$/);
  assert.ok(twilioValid(TWILIO.auth_token, e, f));
  const [logged] = await callbackLog('?kind=inbound');
  assert.equal(logged.body, e.body);
});

test('inbound: vonage, messagebird, plivo and webhook each in their own format and signature', async () => {
  await inboundConfig();
  const send = (provider) => postInbound({ provider, from: '+15551230081', to: '+15550009999', text: 'help me' });

  assert.equal((await send('vonage')).status, 200);
  const v = receiver.got.at(-1);
  assert.equal(v.path, '/callbacks/vonage/vonage/inbound');
  const vd = JSON.parse(v.body);
  assert.deepEqual([vd.msisdn, vd.to, vd.text, vd.type, vd.keyword], ['15551230081', '15550009999', 'help me', 'text', 'HELP']);
  assert.match(vd.messageId, /^[0-9A-F]{16}$/);
  assert.ok(vonageValid(vd, VONAGE_SIGNING.signature_secret, 'sha256'));

  assert.equal((await send('messagebird')).status, 200);
  const m = receiver.got.at(-1);
  assert.equal(m.method, 'GET');
  assert.equal(m.path, '/callbacks/messagebird/mb/inbound');
  assert.deepEqual([m.query.originator, m.query.recipient, m.query.body], ['15551230081', '15550009999', 'help me']);
  assert.ok(await messagebirdValid(MB_SIGNING_KEY, m));

  assert.equal((await send('plivo')).status, 200);
  const p = receiver.got.at(-1);
  const pf = formOf(p);
  assert.deepEqual([pf.From, pf.To, pf.Text, pf.Type], ['15551230081', '15550009999', 'help me', 'sms']);
  assert.ok(plivoValid(PLIVO.auth_token, p, pf));

  assert.equal((await send('webhook')).status, 200);
  const w = receiver.got.at(-1);
  assert.equal(w.path, '/elsewhere/inbound', 'inbound_url wins over callback_url');
  const wd = JSON.parse(w.body);
  assert.equal(wd.type, 'sms.inbound');
  assert.deepEqual([wd.data.from, wd.data.to, wd.data.text], ['+15551230081', '+15550009999', 'help me']);
  assert.ok(webhookValid(WEBHOOK_SECRET, w));
});

test('inbound: reply_to answers an inbox message; sign "bad"; errors', async () => {
  await inboundConfig();
  await sendTwilio({ To: '+15551230082' });
  const [sms] = await inbox();
  const res = await postInbound({ reply_to: sms.id, text: 'START', sign: 'bad' });
  assert.equal(res.status, 200);
  const [e] = receiver.got;
  const f = formOf(e);
  assert.deepEqual([f.From, f.To, f.Body], ['+15551230082', '+15550009999', 'START']);
  assert.ok(!twilioValid(TWILIO.auth_token, e, f));

  receiver.respondWith(() => ({ status: 403, body: 'bad signature' }));
  const refused = await postInbound({ reply_to: sms.id, text: 'STOP' });
  assert.equal(refused.status, 200, 'the receiver answered');
  assert.equal(refused.json.status, 403);
  assert.equal(refused.json.response_body, 'bad signature');

  assert.equal((await postInbound({ reply_to: 999999, text: 'STOP' })).status, 404);
  assert.equal((await postInbound({ provider: 'sinch', from: '+15551230083', text: 'STOP' })).status, 400);
  assert.equal((await postInbound({ provider: 'twilio', text: 'STOP' })).status, 400);
  await configure({ twilio: TWILIO });
  const unset = await postInbound({ provider: 'twilio', from: '+15551230083', text: 'STOP' });
  assert.equal(unset.status, 409);
  assert.match(unset.json.error, /inbound_url/);
  await configure({ twilio: { ...TWILIO, inbound_url: 'http://127.0.0.1:1/inbound' } });
  const down = await postInbound({ provider: 'twilio', from: '+15551230083', text: 'STOP' });
  assert.equal(down.status, 502);
  assert.ok(down.json.error);
});

test('config: callback keys are validated', async () => {
  for (const bad of [
    { callback_url: 'ftp://x' }, { callback_delay_ms: -1 }, { vonage: { signature_method: 'sha3' } },
    { vonage: { dlr_method: 'PUT' } }, { twilio: { inbound_url: 'nope' } }, { plivo: { integration: '' } },
  ]) {
    assert.equal((await configure(bad)).status, 400, JSON.stringify(bad));
  }
  const ok = await configure({ callback_url: 'http://127.0.0.1:9/cb/', vonage: { dlr_method: 'post_json' } });
  assert.equal(ok.status, 200);
  assert.equal(ok.json.callback_url, 'http://127.0.0.1:9/cb');
  assert.equal(ok.json.vonage.dlr_method, 'POST-JSON');
});

test('inbox page: every message has a reply form with STOP, START and HELP', async () => {
  await sendTwilio({ Body: 'Code 111222' });
  const page = await call('/', { method: 'GET' });
  const [, form] = /<form class="reply" data-id="(\d+)">/.exec(page.text) ?? [];
  assert.equal(Number(form), (await inbox())[0].id);
  for (const t of ['STOP', 'START', 'HELP']) assert.match(page.text, new RegExp(`data-text="${t}">${t}</button>`));
  assert.match(page.text, /placeholder="Reply from \+15551230001"/);
});

// ---------------------------------------------------------------- CAPTCHA verifiers

test('captcha: Turnstile and hCaptcha siteverify pass a configured token once, then answer the duplicate code', async () => {
  await configure({ turnstile: { secret: 'ts-secret', tokens: ['good-t'] }, hcaptcha: { secret: 'hc-secret', tokens: ['good-h'] } });
  const ts = (fields) => call('/turnstile/v0/siteverify', { form: fields });
  const hc = (fields) => call('/siteverify', { form: fields });

  const first = await ts({ secret: 'ts-secret', response: 'good-t', remoteip: '198.51.100.7' });
  assert.equal(first.status, 200);
  assert.equal(first.json.success, true);
  assert.deepEqual(first.json['error-codes'], []);
  assert.equal(typeof first.json.challenge_ts, 'string');
  assert.deepEqual((await ts({ secret: 'ts-secret', response: 'good-t' })).json,
    { success: false, 'error-codes': ['timeout-or-duplicate'] });
  assert.deepEqual((await ts({ secret: 'ts-secret', response: 'forged' })).json,
    { success: false, 'error-codes': ['invalid-input-response'] });
  assert.deepEqual((await ts({ secret: 'wrong', response: 'good-t' })).json,
    { success: false, 'error-codes': ['invalid-input-secret'] });
  assert.deepEqual((await ts({ response: 'good-t' })).json, { success: false, 'error-codes': ['missing-input-secret'] });
  assert.deepEqual((await ts({ secret: 'ts-secret' })).json, { success: false, 'error-codes': ['missing-input-response'] });
  // Turnstile also takes JSON.
  await configure({ turnstile: { secret: 'ts-secret', tokens: ['json-t'] } });
  assert.equal((await call('/turnstile/v0/siteverify', { json: { secret: 'ts-secret', response: 'json-t' } })).json.success, true);

  const h = await hc({ secret: 'hc-secret', response: 'good-h' });
  assert.equal(h.json.success, true);
  assert.equal(h.json.credit, false);
  assert.deepEqual((await hc({ secret: 'hc-secret', response: 'good-h' })).json,
    { success: false, 'error-codes': ['invalid-or-already-seen-response'] });
  // Each provider keeps its own tokens: Turnstile's token is no hCaptcha token.
  assert.deepEqual((await hc({ secret: 'hc-secret', response: 'good-t' })).json,
    { success: false, 'error-codes': ['invalid-input-response'] });
  assert.equal((await call('/siteverify', { method: 'GET' })).status, 405);

  const log = await requests('?provider=turnstile');
  assert.equal(log[0].path, '/turnstile/v0/siteverify');
  assert.deepEqual(log[0].form, { secret: 'ts-secret', response: 'good-t', remoteip: '198.51.100.7' });
  assert.equal((await requests('?provider=hcaptcha')).length, 4);
});

test('captcha: single_use false plays a verifier that accepts a replay; reset forgets used tokens', async () => {
  await configure({ turnstile: { tokens: ['again'], single_use: false } });
  for (let i = 0; i < 3; i++) {
    assert.equal((await call('/turnstile/v0/siteverify', { form: { secret: 'any', response: 'again' } })).json.success, true);
  }
  await configure({ turnstile: { tokens: ['once'] } });
  assert.equal((await call('/turnstile/v0/siteverify', { form: { secret: 'any', response: 'once' } })).json.success, true);
  assert.equal((await control('/reset')).status, 204);
  await configure({ turnstile: { tokens: ['once'] } });
  assert.equal((await call('/turnstile/v0/siteverify', { form: { secret: 'any', response: 'once' } })).json.success, true);
});

test('captcha: fault rules make the verifier fail or hang; bad config is refused', async () => {
  await configure({ turnstile: { tokens: ['t1'] } });
  await addFault({ provider: 'turnstile', mode: 'status', status: 500, count: 1 });
  const failed = await call('/turnstile/v0/siteverify', { form: { secret: 's', response: 't1' } });
  assert.equal(failed.status, 500);
  await addFault({ provider: 'turnstile', mode: 'timeout', count: 1 });
  await assert.rejects(call('/turnstile/v0/siteverify', { form: { secret: 's', response: 't1' }, signal: AbortSignal.timeout(300) }));
  // The faults took the requests: the token is still unused.
  assert.equal((await call('/turnstile/v0/siteverify', { form: { secret: 's', response: 't1' } })).json.success, true);
  for (const bad of [{ turnstile: { tokens: 'x' } }, { hcaptcha: { tokens: [1] } }, { hcaptcha: { secret: 5 } },
    { turnstile: { single_use: 'no' } }]) {
    assert.equal((await configure(bad)).status, 400, JSON.stringify(bad));
  }
});
