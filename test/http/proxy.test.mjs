// The API behind nginx (deploy/nginx/sms_otp_api.conf), as a deployment runs it: the fixed
// paths of the SMS step, /rest/ for the rest, the address nginx sees counted and a client's own
// X-Forwarded-For ignored, body limits, CORS answered once. PostgREST listens on a unix socket
// only nginx uses.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Stack, signJwt } from '../stack.mjs';
import { ALICE, BOB, calls, wrong, assertRaised } from './calls.mjs';

const APP = 'http://app.example.test';
const IP_PER_MINUTE = 4;
const CROWD = Array.from({ length: 6 }, (_, i) => ({ id: `f1000000-0000-4000-8000-00000000000${i}`, phone: `+1415555030${i}` }));

const stack = new Stack({
  front: 'nginx',
  corsOrigins: [APP],
  settings: [
    'sms_otp.resend_cooldown = 0',
    'sms_otp.rate_limit_per_minute = 1000',
    'sms_otp.rate_limit_per_day = 1000',
    `sms_otp.ip_rate_limit_per_minute = ${IP_PER_MINUTE}`,
  ],
});
const { rpc, login, codeFor } = calls(stack);

before(() => {
  stack.start();
  stack.sql(`INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled)
             VALUES ${CROWD.map((u) => `('${u.id}', '${u.phone}', true)`).join(', ')}`);
});
after(() => stack.stop());

beforeEach(async () => {
  const users = [ALICE.id, BOB.id, ...CROWD.map((u) => u.id)].map((id) => `('${id}'::uuid)`).join(', ');
  stack.sql(`DELETE FROM sms_otp.sms_otp_sessions;
             SELECT sms_otp.reset_lockout(id) FROM (VALUES ${users}) AS u (id);`);
});

function token(sub, extra = {}) {
  const now = Math.floor(Date.now() / 1000);
  return signJwt({ sub, role: 'authenticated', iat: now, exp: now + 600, ...extra }, stack.secret);
}
const serviceToken = () => signJwt({ role: 'service_role', exp: Math.floor(Date.now() / 1000) + 600 }, stack.secret);

// A request to nginx by path (not under /rest/).
async function post(path, body, { token: bearer, headers = {}, raw } = {}) {
  const res = await fetch(stack.proxy + path, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}),
      ...headers,
    },
    body: raw ?? JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, json, text };
}

test('the fixed paths answer as the RPC endpoints do: send, a wrong code, the right code, the errors', async () => {
  const alice = await login(ALICE);
  const sent = await post('/otp/send', {}, { token: alice });
  assert.equal(sent.status, 200, sent.text);
  assert.deepEqual(Object.keys(sent.json).sort(), ['attempts_remaining', 'expires_at', 'resend_available_at', 'server_time', 'session_id']);
  assert.equal(stack.value(`SELECT count(*) FROM sms_otp.sms_otp_sessions WHERE id = '${sent.json.session_id}'`), '1');
  const code = await codeFor(ALICE.phone, sent.json.session_id);

  const bad = await post('/otp/verify', { session_id: sent.json.session_id, otp: wrong(code) }, { token: alice });
  const badRpc = await rpc('otp_verify', { session_id: sent.json.session_id, otp: wrong(code) }, alice);
  assert.equal(bad.status, badRpc.status, bad.text);
  assert.deepEqual(Object.keys(bad.json).sort(), Object.keys(badRpc.json).sort());
  assert.equal(bad.json.attempts_remaining - 1, badRpc.json.attempts_remaining, 'both guesses counted');

  const good = await post('/otp/verify', { session_id: sent.json.session_id, otp: code }, { token: alice });
  assert.equal(good.status, 200, good.text);
  assert.equal(good.json.verified, true);

  // Errors keep PostgREST's status and body: no token, a malformed body, an unknown argument.
  const anonymous = await post('/otp/send', {});
  const anonymousRpc = await rpc('otp_send', {});
  assert.equal(anonymous.status, anonymousRpc.status);
  assert.equal(anonymous.text, anonymousRpc.text);
  assertRaised(await post('/otp/verify', { session_id: 'nope', otp: '1' }, { token: alice }),
    (await rpc('otp_verify', { session_id: 'nope', otp: '1' }, alice)).status,
    (await rpc('otp_verify', { session_id: 'nope', otp: '1' }, alice)).json.code);
  const broken = await post('/otp/send', null, { token: alice, raw: '{"provider_hint":' });
  assert.equal(broken.status, 400, broken.text);
});

test('a refused send keeps its status, its Retry-After header and its body through nginx', async () => {
  stack.sql('ALTER SYSTEM SET sms_otp.resend_cooldown = 30');
  stack.sql('SELECT pg_reload_conf()');
  try {
    const alice = await login(ALICE);
    let limited = null;
    // The reload reaches PostgREST's connections at their next statement.
    for (let i = 0; i < 50 && !limited; i++) {
      const r = await post('/otp/send', {}, { token: alice });
      if (r.status === 429) limited = r;
      else assert.equal(r.status, 200, r.text);
    }
    assert.ok(limited, 'the cooldown answered 429');
    assert.equal(limited.json.error, 'rate_limited');
    assert.equal(limited.json.limit, 'cooldown');
    assert.equal(limited.headers.get('retry-after'), String(limited.json.retry_after_seconds));
  } finally {
    stack.sql('ALTER SYSTEM RESET sms_otp.resend_cooldown');
    stack.sql('SELECT pg_reload_conf()');
  }
});

test('POST /sms/send-transactional is send_transactional: service role only, Idempotency-Key honoured', async () => {
  const body = { to: '+14155550188', text: 'Your table for two is booked for 19:30.', category: 'booking' };
  const key = randomUUID();
  const first = await post('/sms/send-transactional', body, { token: serviceToken(), headers: { 'Idempotency-Key': key } });
  assert.equal(first.status, 200, first.text);
  assert.equal(first.json.duplicate, false);
  const again = await post('/sms/send-transactional', body, { token: serviceToken(), headers: { 'Idempotency-Key': key } });
  assert.equal(again.status, 200, again.text);
  assert.equal(again.json.message_id, first.json.message_id);
  assert.equal(again.headers.get('idempotent-replayed'), 'true');

  // An end user's token is refused as the RPC endpoint refuses it, and nothing is queued.
  const before = stack.value('SELECT count(*) FROM sms_otp.sms_outbox');
  const user = await post('/sms/send-transactional', body, { token: await login(ALICE) });
  const userRpc = await rpc('send_transactional', body, await login(ALICE));
  assert.ok(user.status === 401 || user.status === 403, user.text);
  assert.equal(user.status, userRpc.status);
  assert.equal(stack.value('SELECT count(*) FROM sms_otp.sms_outbox'), before);
});

test('a client cannot choose its address: X-Forwarded-For is appended by nginx, and nginx\'s is counted', async () => {
  const ip = await rpc('client_ip', {}, undefined, { 'X-Forwarded-For': '203.0.113.7' });
  assert.equal(ip.status, 200, ip.text);
  assert.equal(ip.json, '127.0.0.1');
  assert.equal(stack.value("SELECT current_setting('sms_otp.trusted_proxies')"), '1');

  // Each send forges a new address; the per-address limit still counts one address.
  for (let i = 0; i < IP_PER_MINUTE; i++) {
    const r = await post('/otp/send', {}, { token: token(CROWD[i].id, { session_id: randomUUID() }),
      headers: { 'X-Forwarded-For': `198.51.100.${i + 1}` } });
    assert.equal(r.status, 200, r.text);
  }
  const limited = await post('/otp/send', {}, { token: token(CROWD[IP_PER_MINUTE].id, { session_id: randomUUID() }),
    headers: { 'X-Forwarded-For': '198.51.100.99, 10.0.0.1' } });
  assert.equal(limited.status, 429, limited.text);
  assert.equal(limited.json.limit, 'ip_per_minute');
  assert.deepEqual(stack.sql('SELECT DISTINCT host(client_ip) FROM sms_otp.sms_otp_sessions'), [['127.0.0.1']]);
});

test('PostgREST is reachable only through nginx', async () => {
  assert.equal(stack.api, `${stack.proxy}/rest`);
  await assert.rejects(fetch(`http://127.0.0.1:${stack.apiPort}/`), 'nothing listens on the API port');
  const root = await fetch(`${stack.proxy}/rest/`);
  assert.equal(root.status, 200);
  await root.arrayBuffer();
});

test('bodies past the limits are refused by nginx before PostgREST: 16 kB on the fixed paths, 1 MB under /rest/', async () => {
  const alice = await login(ALICE);
  const big = JSON.stringify({ provider_hint: 'x'.repeat(20_000) });
  const refused = await post('/otp/send', null, { token: alice, raw: big });
  assert.equal(refused.status, 413);
  assert.equal(stack.value('SELECT count(*) FROM sms_otp.sms_otp_sessions'), '0');
  // The same body is within /rest/'s limit and reaches the function, which refuses the hint.
  const passed = await post('/rest/rpc/otp_send', null, { token: alice, raw: big });
  assert.notEqual(passed.status, 413, passed.text.slice(0, 200));
  const huge = await post('/rest/rpc/otp_send', null, { token: alice, raw: JSON.stringify({ provider_hint: 'x'.repeat(1_100_000) }) });
  assert.equal(huge.status, 413);
});

test('the fixed paths take POST only; other methods get 405', async () => {
  for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
    const r = await fetch(`${stack.proxy}/otp/send`, { method });
    assert.equal(r.status, 405, method);
    await r.arrayBuffer();
  }
  const unknown = await fetch(`${stack.proxy}/otp/other`, { method: 'POST' });
  assert.equal(unknown.status, 404);
  await unknown.arrayBuffer();
});

test('CORS is answered once, by nginx: an allowed origin gets one set of headers, another origin none', async () => {
  const preflight = (path, origin) => fetch(stack.proxy + path, {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type, idempotency-key' },
  });
  for (const path of ['/otp/send', '/otp/verify', '/sms/send-transactional', '/rest/rpc/otp_status']) {
    const ok = await preflight(path, APP);
    assert.equal(ok.status, 204, path);
    // fetch joins repeated headers with ", ": one value means one header.
    assert.equal(ok.headers.get('access-control-allow-origin'), APP, path);
    assert.equal(ok.headers.get('access-control-allow-headers'), 'authorization, content-type, idempotency-key');
    assert.match(ok.headers.get('access-control-allow-methods'), /\bPOST\b/);
    assert.equal(ok.headers.get('access-control-max-age'), '86400');
    const other = await preflight(path, 'http://evil.example.test');
    assert.equal(other.status, 204);
    for (const h of ['access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers']) {
      assert.equal(other.headers.get(h), null, `${path} ${h} for another origin`);
    }
  }
  // An actual call: PostgREST's "*" is replaced by the one allowed origin; Retry-After exposed.
  const alice = await login(ALICE);
  const r = await post('/otp/send', {}, { token: alice, headers: { Origin: APP } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('access-control-allow-origin'), APP);
  assert.match(r.headers.get('access-control-expose-headers'), /^Retry-After, /);
  const direct = await rpc('otp_status', {}, alice, { Origin: 'http://evil.example.test' });
  assert.equal(direct.status, 200, direct.text);
  assert.equal(direct.headers.get('access-control-allow-origin'), null);
});

test('provider callbacks keep their own paths next to the API', async () => {
  const r = await fetch(`${stack.proxy}/callbacks/twilio/none/status/1`, { method: 'POST', body: 'x=1',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
  // An unknown integration is refused by the function (its own 404 body), not by nginx.
  assert.equal(r.status, 404);
  assert.equal((await r.json()).code, 'unknown_integration');
  const other = await fetch(`${stack.proxy}/callbacks/other`, { method: 'POST' });
  assert.equal(other.status, 404);
  await other.arrayBuffer();
});
