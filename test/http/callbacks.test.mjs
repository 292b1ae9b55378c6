// Provider callbacks through the callback proxy (nginx, deploy/nginx/sms_otp_callbacks.conf) and
// the real PostgREST 12.0.2: delivery receipts and inbound messages as each provider kind posts
// them, signed as it signs them. The mock provider posts them for the messages the worker hands
// it; where the test itself is the provider, it signs with the provider's own library (npm
// twilio, standardwebhooks). A refused callback must leave nothing behind.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import twilio from 'twilio';
import { Webhook } from 'standardwebhooks';
import { Stack } from '../stack.mjs';
import { calls, assertRaised } from './calls.mjs';
import { KINDS, UNDELIVERED_AS, accounts, configureMock, installIntegrations, useOnly } from './providers.mjs';
import { countOf, freeProxyPort, inbox, outboxRow, tokens, until } from './service.mjs';

const stack = new Stack();
const { rpc } = calls(stack);
const { service } = tokens(stack);
let creds;

before(() => {
  freeProxyPort();
  stack.start();
  creds = accounts(stack);
  installIntegrations(stack, creds);
});
after(() => stack.stop());

beforeEach(async () => {
  stack.sql(`UPDATE sms_otp.sms_outbox SET status = 'cancelled', body = NULL WHERE status = 'queued';
             DELETE FROM sms_otp.sms_opt_outs;`);
  await mock('POST', '/_mock/reset');
  await configureMock(stack, creds);
});

// ------------------------------------------------------------------ helpers

let numbers = 0;
const nextPhone = () => `+1415555${String(5000 + numbers++).padStart(4, '0')}`;
// The number the provider's customers text (our sender); one for every kind.
const OUR_NUMBER = '+14155550100';

async function mock(method, path, body) {
  const r = await fetch(stack.mock + path, {
    method,
    headers: body !== undefined ? { 'Content-Type': 'application/json' } : {},
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

// A mock rule for the next messages' callbacks (outcome, order, duplicates, delays, signing).
async function rule(spec) {
  const r = await mock('POST', '/_mock/callbacks', spec);
  assert.equal(r.status, 201, JSON.stringify(r.json));
}

// Sends through `kind` only; the message id.
async function sendVia(kind, body) {
  useOnly(stack, kind);
  const r = await rpc('send_transactional', { text: `A ${kind} message.`, ...body }, service());
  assert.equal(r.status, 200, r.text);
  return r.json.message_id;
}

// The message's row once `done` holds for it and the mock has posted all it meant to.
async function settle(id, done, what) {
  const row = await until(() => {
    const r = outboxRow(stack, id);
    return done(r) && r;
  }, () => `message ${id}: ${what} (now ${JSON.stringify(outboxRow(stack, id))})`);
  await until(async () => (await mock('GET', '/_mock/callbacks/pending')).json.pending === 0, 'the mock has posted its callbacks');
  return outboxRow(stack, id) ?? row;
}

const terminal = (r) => ['delivered', 'undelivered', 'failed'].includes(r.delivery_status);

// What the mock posted about a message (by the provider's id for it), in order.
async function posted(row) {
  const r = await mock('GET', `/_mock/callbacks/log?kind=status&message_id=${encodeURIComponent(row.provider_message_id)}`);
  return r.json;
}

const events = (id) => stack.sql(`SELECT status, provider_name, applied::text FROM sms_otp.sms_delivery_events
                                  WHERE outbox_id = ${Number(id)} ORDER BY id`);
const eventCount = () => countOf(stack, 'SELECT 1 FROM sms_otp.sms_delivery_events');
const logRow = (id) => stack.sql(`SELECT coalesce(delivery_status, '<null>'), coalesce(delivery_at::text, '<null>'),
                                         coalesce(delivery_error, '<null>')
                                  FROM sms_otp.sms_messages_log WHERE outbox_id = ${Number(id)} AND provider_message_id IS NOT NULL`);

// Everything a callback can write, read in one query.
function stored() {
  const [row] = stack.sql(`SELECT (SELECT count(*) FROM sms_otp.sms_delivery_events),
                                  (SELECT count(*) FROM sms_otp.sms_inbound_messages),
                                  (SELECT count(*) FROM sms_otp.sms_opt_outs),
                                  (SELECT count(*) FROM sms_otp.sms_opt_out_events),
                                  (SELECT md5(string_agg(concat_ws('|', id, status, delivery_status, delivery_at,
                                                                   delivery_error, provider_message_id), ',' ORDER BY id))
                                   FROM sms_otp.sms_outbox)`);
  return { events: Number(row[0]), inbound: Number(row[1]), opt_outs: Number(row[2]), opt_out_events: Number(row[3]), outbox: row[4] };
}

// A response body of PostgREST's, as the mock logged it.
const parsed = (entry) => { try { return JSON.parse(entry.response_body); } catch { return null; } };

async function postForm(url, params, headers = {}) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, text, json };
}

// A Standard Webhooks event posted as the webhook provider would, signed with the library:
// `signed` (default: the payload itself) under `key` at time `at`; `drop` leaves a header out.
async function postEvent(url, payload, { key = creds.webhook.secret, at = new Date(), signed = payload, drop } = {}) {
  const msgId = `msg_${randomUUID()}`;
  const headers = {
    'Content-Type': 'application/json',
    'webhook-id': msgId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(key).sign(msgId, at, signed),
  };
  if (drop) delete headers[drop];
  const r = await fetch(url, { method: 'POST', headers, body: payload });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, text, json };
}

// The SMS the mock got for a number, once there is one.
const received = (phone) => until(async () => {
  const got = await inbox(stack, phone);
  return got.length > 0 && got;
}, `an SMS to ${phone} in the mock's inbox`);

const statusUrl = (kind, id) => `${stack.env.CALLBACK_URL}/${kind}/${kind}/status/${id}`;

// ------------------------------------------------------------------ receipts, each kind

for (const kind of KINDS) {
  test(`${kind}: the mock's receipts reach the message and its log row (delivered; undelivered by rule)`, async () => {
    const id = await sendVia(kind, { to: nextPhone() });
    const row = await settle(id, terminal, 'a final receipt');
    assert.equal(row.status, 'sent');
    assert.equal(row.provider_name, kind);
    assert.ok(row.provider_message_id, 'the provider\'s id for it');
    assert.equal(row.delivery_status, 'delivered');
    assert.ok(row.delivery_at, 'delivery_at');
    assert.equal(row.delivery_error, null);
    const log = logRow(id);
    assert.equal(log.length, 1, 'one log row for the accepted attempt');
    assert.equal(log[0][0], 'delivered');
    assert.notEqual(log[0][1], '<null>', 'its delivery_at');
    assert.equal(log[0][2], '<null>');

    const sent = await posted(row);
    assert.ok(sent.length >= 2, `the mock posted the events (${sent.length})`);
    for (const e of sent) {
      assert.equal(e.url.split('?')[0], statusUrl(kind, id));
      assert.equal(e.status, 200, `${e.event}: ${e.status} ${e.response_body}`);
      assert.equal(parsed(e).message_id, id);
    }
    const got = events(id);
    assert.equal(got.length, sent.length, 'one event kept per receipt');
    assert.ok(got.every(([, provider]) => provider === kind));
    assert.equal(got.at(-1)[0], 'delivered');

    // The carrier could not deliver the next one.
    await rule({ provider: kind, outcome: 'undelivered', error_code: '471' });
    const id2 = await sendVia(kind, { to: nextPhone() });
    const row2 = await settle(id2, terminal, 'a final receipt');
    assert.equal(row2.delivery_status, UNDELIVERED_AS[kind]);
    assert.equal(row2.delivery_error, '471');
    assert.ok(row2.delivery_at);
    const log2 = logRow(id2);
    assert.equal(log2.length, 1);
    assert.equal(log2[0][0], UNDELIVERED_AS[kind]);
    assert.equal(log2[0][2], '471');
  });

  test(`${kind}: badly signed and unsigned receipts are refused and leave nothing`, async () => {
    await rule({ provider: kind, sign: 'bad', count: 1 });
    await rule({ provider: kind, sign: 'none', count: 1 });
    const before = eventCount();
    for (const [sign, status, code] of [['bad', 403, 'bad_signature'], ['none', 401, 'missing_signature']]) {
      const id = await sendVia(kind, { to: nextPhone() });
      const row = await settle(id, (r) => r.status === 'sent', 'handed to the provider');
      const sent = await posted(row);
      assert.ok(sent.length >= 2, `the mock posted (${sent.length})`);
      for (const e of sent) {
        assert.equal(e.sign, sign);
        assert.equal(e.status, status, `${sign}: ${e.response_body}`);
        assert.equal(parsed(e).code, code);
      }
      assert.equal(outboxRow(stack, id).delivery_status, 'accepted', 'what the worker wrote, and no more');
      assert.deepEqual(events(id), []);
    }
    assert.equal(eventCount(), before);
  });

  test(`${kind}: out of order, duplicated, late and replayed receipts end in the same state`, async () => {
    // The final word first, then the "sent" it overtook; each posted three times.
    await rule({ provider: kind, order: 'reversed', duplicate: 2, count: 1 });
    const id = await sendVia(kind, { to: nextPhone() });
    const row = await settle(id, terminal, 'a final receipt');
    await until(async () => (await posted(row)).length === 6, 'six posts');
    const sent = await posted(row);
    assert.ok(sent.every((e) => e.status === 200), JSON.stringify(sent.map((e) => [e.event, e.status, e.response_body])));
    assert.deepEqual(sent.map((e) => e.event === 'delivered'), [true, true, true, false, false, false], 'the final status came first');
    assert.deepEqual(sent.map((e) => parsed(e).duplicate), [false, true, true, false, true, true]);
    assert.equal(row.delivery_status, 'delivered');
    const kept = events(id);
    assert.equal(kept.length, 2, 'each event once');
    assert.deepEqual(kept.map(([, , applied]) => applied), ['true', 'false'], 'the overtaken status did not apply');

    // The final word late: the message stays at its earlier status until it comes.
    await rule({ provider: kind, outcome: 'undelivered', late_ms: 1500, count: 1 });
    const id2 = await sendVia(kind, { to: nextPhone() });
    const early = await until(() => {
      const r = outboxRow(stack, id2);
      return r.delivery_status === 'sent' && r;
    }, 'the first receipt');
    assert.equal(early.delivery_status, 'sent');
    const row2 = await settle(id2, terminal, 'the late receipt');
    assert.equal(row2.delivery_status, UNDELIVERED_AS[kind]);
    assert.ok(row2.delivery_at);

    // Every callback of both messages again, byte for byte: all answered, nothing changes.
    const state = stored();
    const logs = [id, id2].map((m) => logRow(m));
    for (const e of [...sent, ...(await posted(row2))]) {
      const again = await mock('POST', `/_mock/callbacks/replay/${e.seq}`);
      assert.equal(again.status, 200, JSON.stringify(again.json));
      assert.equal(again.json.status, 200, `replay of ${e.event}: ${again.json.response_body}`);
      assert.equal(parsed(again.json).duplicate, true);
    }
    assert.deepEqual(stored(), state);
    assert.deepEqual([id, id2].map((m) => logRow(m)), logs);
  });
}

// ------------------------------------------------------------------ Twilio's own library

test('twilio: signatures made with npm twilio are accepted; tampered, wrong-key, unsigned, misaddressed are not', async () => {
  const token = creds.twilio.auth_token;
  // The mock reports "sent" only; the delivery report is the test's to make.
  await rule({ provider: 'twilio', events: ['sent'] });
  const id = await sendVia('twilio', { to: nextPhone() });
  const row = await settle(id, (r) => r.delivery_status === 'sent', 'the "sent" receipt');
  const other = await sendVia('twilio', { to: nextPhone() });
  await settle(other, (r) => r.delivery_status === 'sent', 'the "sent" receipt');

  // What the mock posted is what Twilio's validator accepts.
  const [logged] = await posted(row);
  const params = Object.fromEntries(new URLSearchParams(logged.body));
  assert.equal(logged.url, statusUrl('twilio', id));
  assert.equal(twilio.validateRequest(token, logged.headers['x-twilio-signature'], logged.url, params), true);
  assert.equal(twilio.validateRequest(token, logged.headers['x-twilio-signature'], statusUrl('twilio', other), params), false);

  const url = statusUrl('twilio', id);
  const delivered = { ...params, MessageStatus: 'delivered', SmsStatus: 'delivered' };
  const sign = (p, u = url, key = token) => twilio.getExpectedTwilioSignature(key, u, p);
  const before = stored();

  // Signed as "sent", posted as "delivered".
  assertRaised(await postForm(url, delivered, { 'X-Twilio-Signature': sign(params) }), 403, 'bad_signature');
  // Another account's token.
  assertRaised(await postForm(url, delivered, { 'X-Twilio-Signature': sign(delivered, url, randomBytes(16).toString('hex')) }), 403, 'bad_signature');
  // No signature.
  assertRaised(await postForm(url, delivered), 401, 'missing_signature');
  // Signed for this message's URL, posted to the other's.
  assertRaised(await postForm(statusUrl('twilio', other), delivered, { 'X-Twilio-Signature': sign(delivered) }), 403, 'bad_signature');
  // Straight to PostgREST, the proxy's headers forged to name the other message.
  const direct = (uri, signature) => fetch(`${stack.api}/rpc/receipt_twilio`, {
    method: 'POST',
    headers: {
      'Content-Type': 'text/plain', 'X-Original-URI': uri, 'X-Original-Method': 'POST',
      'X-Original-Content-Type': 'application/x-www-form-urlencoded', 'X-Twilio-Signature': signature,
    },
    body: new URLSearchParams(delivered).toString(),
  }).then(async (r) => {
    const text = await r.text();
    return { status: r.status, headers: r.headers, text, json: JSON.parse(text) };
  });
  assertRaised(await direct(new URL(statusUrl('twilio', other)).pathname, sign(delivered)), 403, 'bad_signature');
  assert.deepEqual(stored(), before);
  assert.equal(outboxRow(stack, id).delivery_status, 'sent');
  assert.equal(outboxRow(stack, other).delivery_status, 'sent');

  // Signed right: through the proxy, the message is delivered.
  const ok = await postForm(url, delivered, { 'X-Twilio-Signature': sign(delivered) });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.message_id, id);
  assert.equal(ok.json.duplicate, false);
  assert.equal(ok.json.applied, true);
  assert.equal(outboxRow(stack, id).delivery_status, 'delivered');
  assert.equal(logRow(id)[0][0], 'delivered');
  assert.equal(outboxRow(stack, other).delivery_status, 'sent');
  assert.equal(eventCount(), before.events + 1);

  // The same signature and URI straight to PostgREST is this message's receipt again (a duplicate):
  // what refused the forged one above was the URL it named.
  const same = await direct(new URL(url).pathname, sign(delivered));
  assert.equal(same.status, 200, same.text);
  assert.equal(same.json.duplicate, true);

  // A signed receipt for a message that was never sent from here.
  const nobody = statusUrl('twilio', 987654321);
  const counted = eventCount();
  assertRaised(await postForm(nobody, delivered, { 'X-Twilio-Signature': sign(delivered, nobody) }), 404, 'unknown_message');
  // An integration that does not exist, and a kind that is not this integration's.
  const ghost = `${stack.env.CALLBACK_URL}/twilio/ghost/status/${id}`;
  assertRaised(await postForm(ghost, delivered, { 'X-Twilio-Signature': sign(delivered, ghost) }), 404, 'unknown_integration');
  assert.equal(eventCount(), counted);
});

// ------------------------------------------------------------------ Standard Webhooks' own library

test('webhook: events signed with npm standardwebhooks are accepted; tampered, wrong-key, unsigned, stale are not', async () => {
  const secret = creds.webhook.secret;
  await rule({ provider: 'webhook', events: ['sent'] });
  const phone = nextPhone();
  const id = await sendVia('webhook', { to: phone });
  const row = await settle(id, (r) => r.delivery_status === 'sent', 'the "sent" receipt');

  // What the mock posted passes the library's verification.
  const [logged] = await posted(row);
  assert.equal(logged.url, statusUrl('webhook', id));
  const doc = new Webhook(secret).verify(logged.body, logged.headers);
  assert.equal(doc.data.status, 'sent');

  const url = statusUrl('webhook', id);
  const tolerance = Number(stack.value("SELECT extract(epoch FROM current_setting('sms_otp.callback_tolerance')::interval)"));
  const event = (status) => JSON.stringify({
    type: 'sms.status',
    timestamp: new Date().toISOString(),
    data: { message_id: id, provider_message_id: row.provider_message_id, to: phone, status, error_code: null,
      timestamp: Math.floor(Date.now() / 1000) },
  });
  const post = (payload, options) => postEvent(url, payload, options);
  const delivered = event('delivered');
  const before = stored();
  assertRaised(await post(delivered, { signed: event('sent') }), 403, 'bad_signature');
  assertRaised(await post(delivered.replace('"delivered"', '"failed"'), { signed: delivered }), 403, 'bad_signature');
  assertRaised(await post(delivered, { key: `whsec_${randomBytes(24).toString('base64')}` }), 403, 'bad_signature');
  assertRaised(await post(delivered, { drop: 'webhook-signature' }), 401, 'missing_signature');
  assertRaised(await post(delivered, { at: new Date(Date.now() - (tolerance + 120) * 1000) }), 403, 'stale_callback');
  assertRaised(await post(delivered, { at: new Date(Date.now() + (tolerance + 120) * 1000) }), 403, 'stale_callback');
  assert.deepEqual(stored(), before);
  assert.equal(outboxRow(stack, id).delivery_status, 'sent');

  // Signed right, a minute old (inside the tolerance): delivered.
  const ok = await post(delivered, { at: new Date(Date.now() - 60 * 1000) });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.applied, true);
  assert.equal(outboxRow(stack, id).delivery_status, 'delivered');
  assert.equal(logRow(id)[0][0], 'delivered');
  assert.equal(eventCount(), before.events + 1);

  // A signed event about a message id that was never sent from here.
  const counted = eventCount();
  assertRaised(await postEvent(`${stack.env.CALLBACK_URL}/webhook/webhook/status/987654321`, delivered), 404, 'unknown_message');
  assert.equal(eventCount(), counted);
});

// ------------------------------------------------------------------ whose message it is

test('a receipt signed by another integration does not move a message that integration did not send', async () => {
  // Twilio sent it and reported "sent"; the webhook integration's key signs a "delivered" for it.
  await rule({ provider: 'twilio', events: ['sent'] });
  const id = await sendVia('twilio', { to: nextPhone() });
  await settle(id, (r) => r.delivery_status === 'sent', 'the "sent" receipt');
  const before = stored();
  const url = statusUrl('webhook', id);
  for (const data of [{ message_id: id, status: 'delivered' }, { message_id: id, provider_message_id: 'msg_other', status: 'delivered' }]) {
    const r = await postEvent(url, JSON.stringify({ type: 'sms.status', timestamp: new Date().toISOString(), data }));
    assert.ok(r.status >= 400 || r.json?.applied === false, `${JSON.stringify(data)}: ${r.status} ${r.text}`);
    assert.equal(outboxRow(stack, id).delivery_status, 'sent', `${JSON.stringify(data)}: ${r.status} ${r.text}`);
  }
  assert.equal(stored().outbox, before.outbox);
});

test('a callback body over the proxy\'s 64 KiB is refused before it reaches the database', async () => {
  const before = stored();
  const url = statusUrl('twilio', 1);
  const params = { MessageSid: `SM${'0'.repeat(32)}`, MessageStatus: 'delivered', Padding: 'x'.repeat(70 * 1024) };
  const r = await postForm(url, params, { 'X-Twilio-Signature': twilio.getExpectedTwilioSignature(creds.twilio.auth_token, url, params) });
  assert.equal(r.status, 413, r.text.slice(0, 200));
  assert.deepEqual(stored(), before);
});

// ------------------------------------------------------------------ inbound: STOP, START, HELP

// The phone texts `words` to our number through `kind` (the mock posts it, signed or not).
async function textUs(kind, phone, words, sign) {
  const r = await mock('POST', '/_mock/inbound', { provider: kind, from: phone, to: OUR_NUMBER, text: words, ...(sign ? { sign } : {}) });
  return r.json;
}

for (const kind of KINDS) {
  test(`${kind} inbound: STOP opts out and cancels what is queued, START opts back in, HELP is answered`, async () => {
    useOnly(stack, kind);
    const phone = nextPhone();
    const bystander = nextPhone();
    const text = `Your ${kind} table is ready.`;

    // Messages queued before the STOP, for later (the test brings their time forward below).
    const later = new Date(Date.now() + 3600e3).toISOString();
    const queued = await sendVia(kind, { to: phone, text, send_at: later });
    const control = await sendVia(kind, { to: bystander, text, send_at: later });
    assert.equal(outboxRow(stack, queued).status, 'queued');

    // Forged STOPs change nothing.
    const before = stored();
    for (const [sign, status, code] of [['bad', 403, 'bad_signature'], ['none', 401, 'missing_signature']]) {
      const forged = await textUs(kind, phone, 'STOP', sign);
      assert.equal(forged.url.split('?')[0], `${stack.env.CALLBACK_URL}/${kind}/${kind}/inbound`);
      assert.equal(forged.status, status, forged.response_body);
      assert.equal(parsed(forged).code, code);
    }
    assert.deepEqual(stored(), before);

    const stop = await textUs(kind, phone, 'Stop');
    assert.equal(stop.status, 200, stop.response_body);
    assert.equal(parsed(stop).action, 'stop');
    assert.deepEqual(stack.sql(`SELECT scope, source FROM sms_otp.sms_opt_outs WHERE phone = '${phone}'`), [['all', 'sms']]);
    assert.deepEqual(stack.sql(`SELECT action, keyword, provider_name FROM sms_otp.sms_opt_out_events
                                WHERE phone = '${phone}' ORDER BY id`), [['opt_out', 'STOP', kind]]);
    assert.deepEqual(stack.sql(`SELECT provider_name, action FROM sms_otp.sms_inbound_messages WHERE "from" = '${phone}'`),
      [[kind, 'stop']]);
    // The same inbound message again (the provider retried it): kept once.
    const again = await mock('POST', `/_mock/callbacks/replay/${stop.seq}`);
    assert.equal(again.json.status, 200, again.json.response_body);
    assert.equal(parsed(again.json).duplicate, true);
    assert.equal(countOf(stack, `SELECT 1 FROM sms_otp.sms_opt_out_events WHERE phone = '${phone}'`), 1);

    const held = stored();
    assertRaised(await rpc('send_transactional', { to: phone, text }, service()), 422, 'opted_out');
    assert.deepEqual(stored(), held);

    // Their time comes: the worker cancels the opted-out number's message instead of sending it.
    stack.sql(`UPDATE sms_otp.sms_outbox SET next_attempt_at = now() WHERE id IN (${queued}, ${control})`);
    const cancelled = await until(() => {
      const r = outboxRow(stack, queued);
      return r.status !== 'queued' && r;
    }, 'the queued message is taken up');
    assert.equal(cancelled.status, 'cancelled');
    assert.equal(cancelled.last_error, 'opted_out');
    await until(() => outboxRow(stack, control).status === 'sent', 'the bystander\'s message is sent');
    assert.deepEqual((await received(bystander)).map((m) => m.text), [text]);
    assert.deepEqual(await inbox(stack, phone), []);

    // START: back in, and sends go through again.
    const start = await textUs(kind, phone, 'START');
    assert.equal(start.status, 200, start.response_body);
    assert.equal(parsed(start).action, 'start');
    assert.equal(countOf(stack, `SELECT 1 FROM sms_otp.sms_opt_outs WHERE phone = '${phone}'`), 0);
    const after = await rpc('send_transactional', { to: phone, text: `${text} Again.` }, service());
    assert.equal(after.status, 200, after.text);
    await until(() => outboxRow(stack, after.json.message_id).status === 'sent', 'sent after START');

    // HELP: the configured reply, through the provider it came in on; a second help keyword
    // within minutes is recorded but not answered again.
    const help = await textUs(kind, phone, 'help');
    assert.equal(help.status, 200, help.response_body);
    assert.equal(parsed(help).action, 'help');
    const info = await textUs(kind, phone, 'INFO');
    assert.equal(parsed(info).action, 'help');
    const helpRows = stack.sql(`SELECT id, provider_hint FROM sms_otp.sms_outbox WHERE "to" = '${phone}' AND category = 'help'`);
    assert.deepEqual(helpRows.map(([, hint]) => hint), [kind]);
    assert.equal(countOf(stack, `SELECT 1 FROM sms_otp.sms_opt_out_events WHERE phone = '${phone}' AND action = 'help'`), 2);
    await until(() => outboxRow(stack, helpRows[0][0]).status === 'sent', 'the help reply is sent');
    const reply = stack.value('SHOW sms_otp.help_reply');
    await until(async () => (await inbox(stack, phone)).length === 2, 'two SMS to the number');
    // Newest first; the message queued before the STOP never reached the provider.
    assert.deepEqual((await inbox(stack, phone)).map((m) => m.text), [reply, `${text} Again.`]);
  });
}

test('HELP from an opted-out number is answered all the same (carriers require it)', async () => {
  useOnly(stack, 'twilio');
  const phone = nextPhone();
  assert.equal((await textUs('twilio', phone, 'STOP')).status, 200);
  const help = await textUs('twilio', phone, 'HELP');
  assert.equal(help.status, 200, help.response_body);
  assert.equal(parsed(help).action, 'help');
  const [[id]] = stack.sql(`SELECT id FROM sms_otp.sms_outbox WHERE "to" = '${phone}' AND category = 'help'`);
  const row = await until(() => {
    const r = outboxRow(stack, id);
    return r.status !== 'queued' && r;
  }, 'the help reply is taken up');
  assert.deepEqual([row.status, row.last_error], ['sent', null]);
  assert.deepEqual((await received(phone)).map((m) => m.text), [stack.value('SHOW sms_otp.help_reply')]);
  // Still opted out of everything else.
  assertRaised(await rpc('send_transactional', { to: phone, text: 'Anything else' }, service()), 422, 'opted_out');
});
