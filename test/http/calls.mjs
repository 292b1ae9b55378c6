// Requests to the local stack as a client makes them: plain fetch against PostgREST, the demo
// login, and the code of a session read from the mock provider's inbox. The HTTP suites share it.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

export const ALICE = { id: 'a11ce000-0000-4000-8000-000000000001', email: 'alice@example.com', password: 'alice-password', phone: '+14155550101' };
export const BOB = { id: 'b0b00000-0000-4000-8000-000000000002', email: 'bob@example.com', password: 'bob-password' };
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// The calls against one stack (a test/stack.mjs Stack); its URLs are read when a call is made,
// so this may be set up before the stack has started.
export function calls(stack) {
  async function call(method, path, { token, body, headers = {} } = {}) {
    const res = await fetch(stack.api + path, {
      method,
      headers: {
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    return { status: res.status, headers: res.headers, json, text };
  }

  const rpc = (fn, body, token, headers) => call('POST', `/rpc/${fn}`, { token, body, headers });

  // A JWT from the demo login (schema demo): each call is a new login with its own session_id.
  async function login(user) {
    const r = await rpc('login', { email: user.email, password: user.password }, undefined, { 'Content-Profile': 'demo' });
    assert.equal(r.status, 200, r.text);
    return r.json.token;
  }

  // The code of a session, from the mock's inbox: once the worker has handed the session's SMS
  // to the provider, it is the newest message to that phone.
  async function codeFor(phone, sessionId) {
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline) {
      const status = stack.value(`SELECT status FROM sms_otp.sms_otp_sessions WHERE id = '${sessionId}'`);
      if (status !== 'pending') {
        assert.equal(status, 'sent', `session ${sessionId}`);
        const inbox = await (await fetch(`${stack.mock}/inbox.json?to=${encodeURIComponent(phone)}&limit=1`)).json();
        assert.equal(inbox.length, 1, 'the SMS is in the inbox');
        return inbox[0].code;
      }
      await sleep(20);
    }
    throw new Error(`session ${sessionId} was not sent within 10 s`);
  }

  return { call, rpc, login, codeFor };
}

export function claimsOf(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

// Another code of the same length.
export function wrong(code) {
  return String((Number(code) + 1) % 1000000).padStart(6, '0');
}

// The error body sms_otp raises through PostgREST: our code and message, PostgREST's shape.
export function assertRaised(r, status, code) {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.equal(r.json.code, code, r.text);
  assert.equal(typeof r.json.message, 'string');
  assert.ok(r.json.message.length > 0);
  assert.ok('details' in r.json && 'hint' in r.json, 'PostgREST error shape');
}
