// Transactional sends through the real PostgREST 12.0.2: POST /rpc/send_transactional from a
// backend holding the service role's key, with templates, the Idempotency-Key header of the
// IETF draft, business references, input that must be refused before anything is written, and
// the opt-out ledger (POST /rpc/opt_out, /rpc/opt_in). The worker hands the messages to the
// mock provider (as Twilio, the seeded provider), whose inbox shows what a phone would get.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Stack } from '../stack.mjs';
import { ALICE, calls, assertRaised } from './calls.mjs';
import { countOf, freeProxyPort, inbox, outboxRow, tokens, until } from './service.mjs';

const stack = new Stack();
const { call, rpc } = calls(stack);
const { service, user } = tokens(stack);

before(() => {
  freeProxyPort();
  stack.start();
});
after(() => stack.stop());

beforeEach(async () => {
  // Only the mock (as Twilio) sends: console would "deliver" anything without a trace.
  stack.sql(`UPDATE sms_otp.sms_outbox SET status = 'cancelled', body = NULL WHERE status = 'queued';
             DELETE FROM sms_otp.sms_opt_outs;
             DELETE FROM sms_otp.sms_templates;
             DELETE FROM sms_otp.sms_categories;
             UPDATE sms_otp.api_integrations SET enabled = (kind = 'twilio'), selectable = false;`);
  await fetch(`${stack.mock}/_mock/reset`, { method: 'POST' });
});

// ------------------------------------------------------------------ helpers

// A number of its own for each send, so inboxes and opt-outs never meet across tests.
let numbers = 0;
const nextPhone = () => `+1415555${String(3000 + numbers++).padStart(4, '0')}`;

const send = (body, headers = {}, token = service()) => rpc('send_transactional', body, token, headers);

// Everything a refused call must not have written.
function written() {
  return {
    outbox: countOf(stack, 'SELECT 1 FROM sms_otp.sms_outbox'),
    keys: countOf(stack, 'SELECT 1 FROM sms_otp.sms_idempotency_keys'),
    opt_outs: countOf(stack, 'SELECT 1 FROM sms_otp.sms_opt_outs'),
  };
}

// The SMS the mock got for phone, once the worker has handed the message over.
async function delivered(phone, id) {
  await until(() => outboxRow(stack, id).status !== 'queued', `message ${id} leaves the queue`);
  assert.equal(outboxRow(stack, id).status, 'sent', `message ${id}`);
  return until(async () => {
    const got = await inbox(stack, phone);
    return got.length > 0 && got;
  }, `the SMS to ${phone} in the mock's inbox`);
}

// {placeholder} filled from data, written here from the documentation's rule, not the server's.
const render = (body, data) => body.replace(/\{([a-z_]+)\}/g, (_, name) => String(data[name]));

const near = (iso, expectedMs, what) => {
  const at = Date.parse(iso);
  assert.ok(Number.isFinite(at), `${what}: ${iso}`);
  assert.ok(Math.abs(at - expectedMs) < 60000, `${what}: ${iso}, expected about ${new Date(expectedMs).toISOString()}`);
};

const seconds = (setting) => Number(stack.value(`SELECT extract(epoch FROM current_setting('${setting}')::interval)`));

// probe() holds for 10 answers in a row: a reloaded setting has reached PostgREST's
// connections (each takes it at its next statement after the postmaster passes it on).
async function steadily(probe, what) {
  const deadline = Date.now() + 10000;
  for (let streak = 0; Date.now() < deadline; await sleep(20)) {
    streak = (await probe()) ? streak + 1 : 0;
    if (streak === 10) return;
  }
  throw new Error(`not within 10 s: ${what}`);
}

// ------------------------------------------------------------------ sending

test('a template filled from data: the answer, the queued row, and the text the phone gets', async () => {
  const en = 'Hi {name}, booking {ref} is confirmed for {when}.';
  const pt = 'Olá {name}, a reserva {ref} está confirmada para {when}.';
  stack.sql(`INSERT INTO sms_otp.sms_templates (name, locale, body) VALUES
             ('booking_confirmed', 'en', '${en}'), ('booking_confirmed', 'pt', '${pt}')`);
  const data = { name: 'Ana', ref: 'B-1042', when: 'Friday 18:00' };
  const phone = nextPhone();

  const started = Date.now();
  const r = await send({ to: phone, template: 'booking_confirmed', data });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  for (const key of ['message_id', 'status', 'segments', 'encoding', 'expires_at']) assert.ok(key in r.json, `${key} in ${r.text}`);
  assert.ok(Number.isSafeInteger(r.json.message_id) && r.json.message_id > 0, r.text);
  assert.equal(r.json.status, 'queued');
  assert.equal(r.json.segments, 1);
  assert.equal(r.json.encoding, 'GSM-7');
  near(r.json.expires_at, started + seconds('sms_otp.message_validity') * 1000, 'expires_at (sms_otp.message_validity)');
  assert.equal(r.headers.get('idempotent-replayed'), null);

  const row = outboxRow(stack, r.json.message_id);
  assert.equal(row.kind, 'transactional');
  assert.equal(row.to, phone);
  assert.equal(row.template, 'booking_confirmed');
  assert.equal(row.category, 'transactional');

  const got = await delivered(phone, r.json.message_id);
  assert.equal(got.length, 1);
  assert.equal(got[0].text, render(en, data));

  // pt-BR falls back to the pt text, which GSM-7 cannot carry (á, ã are not in its alphabet);
  // valid_for sets the expiry.
  const phone2 = nextPhone();
  const r2 = await send({ to: phone2, template: 'booking_confirmed', data, locale: 'pt-BR', valid_for: '2 hours' });
  assert.equal(r2.status, 200, r2.text);
  assert.equal(r2.json.encoding, 'UCS-2');
  near(r2.json.expires_at, Date.now() + 2 * 3600 * 1000, 'expires_at (valid_for 2 hours)');
  assert.equal((await delivered(phone2, r2.json.message_id))[0].text, render(pt, data));

  // A value is put in as it is: braces in it are text, not placeholders of their own.
  const phone3 = nextPhone();
  const tricky = { name: '{ref}', ref: 'B-7', when: '{when}' };
  const r3 = await send({ to: phone3, template: 'booking_confirmed', data: tricky });
  assert.equal(r3.status, 200, r3.text);
  assert.equal((await delivered(phone3, r3.json.message_id))[0].text, render(en, tricky));
  assert.equal(render(en, tricky), 'Hi {ref}, booking B-7 is confirmed for {when}.');
});

test('a text without a template: sent as given, counted in SMS parts', async () => {
  const phone = nextPhone();
  const text = 'Your parcel 8842 is out for delivery.';
  const r = await send({ to: phone, text });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.segments, 1);
  assert.equal(outboxRow(stack, r.json.message_id).template, null);
  assert.equal((await delivered(phone, r.json.message_id))[0].text, text);

  // 160 GSM-7 characters fit one SMS; 161 take two parts of at most 153.
  const one = await send({ to: nextPhone(), text: 'x'.repeat(160) });
  assert.equal(one.status, 200, one.text);
  assert.equal(one.json.segments, 1);
  const two = await send({ to: nextPhone(), text: 'x'.repeat(161) });
  assert.equal(two.status, 200, two.text);
  assert.equal(two.json.segments, 2);
  // The most parts a message may take is still accepted (the refusals below are one part more).
  const max = Number(stack.value('SHOW sms_otp.max_segments'));
  const longest = await send({ to: nextPhone(), text: 'x'.repeat(153 * max) });
  assert.equal(longest.status, 200, longest.text);
  assert.equal(longest.json.segments, max);
});

// ------------------------------------------------------------------ idempotency

test('Idempotency-Key: a replay gets the same body and Idempotent-Replayed; another payload 422; one row', async () => {
  const key = randomUUID();
  const phone = nextPhone();
  const body = { to: phone, text: 'Payment of 42.00 EUR received.' };
  const first = await send(body, { 'Idempotency-Key': key });
  assert.equal(first.status, 200, first.text);
  assert.equal(first.headers.get('idempotent-replayed'), null);
  await delivered(phone, first.json.message_id);

  // After the message went out (its row says sent now), the replay still answers as the first call did.
  const again = await send(body, { 'Idempotency-Key': key });
  assert.equal(again.status, 200, again.text);
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  assert.equal(again.text, first.text);
  assert.deepEqual(again.json, first.json);

  // The key as an argument is the same key.
  const viaArg = await send({ ...body, idempotency_key: key });
  assert.equal(viaArg.status, 200, viaArg.text);
  assert.equal(viaArg.headers.get('idempotent-replayed'), 'true');
  assert.deepEqual(viaArg.json, first.json);

  const before = written();
  assertRaised(await send({ ...body, text: 'Payment of 43.00 EUR received.' }, { 'Idempotency-Key': key }), 422, 'idempotency_key_reused');
  assertRaised(await send({ ...body, to: nextPhone() }, { 'Idempotency-Key': key }), 422, 'idempotency_key_reused');
  // Header and argument must not name two keys.
  assertRaised(await send({ ...body, idempotency_key: randomUUID() }, { 'Idempotency-Key': key }), 400, 'idempotency_key_conflict');
  assert.deepEqual(written(), before);

  assert.equal(countOf(stack, `SELECT 1 FROM sms_otp.sms_outbox WHERE "to" = '${phone}'`), 1);
  assert.equal((await inbox(stack, phone)).length, 1);
  // A new key is a new message.
  const other = await send(body, { 'Idempotency-Key': randomUUID() });
  assert.equal(other.status, 200, other.text);
  assert.notEqual(other.json.message_id, first.json.message_id);
});

test('sms_otp.idempotency_required: a send without a key is 400 idempotency_key_missing, with one it goes', async () => {
  // Probed with a number that is refused either way, so that probing writes nothing.
  const probe = async () => (await send({ to: '+1415555', text: 'probe' })).json?.code;
  stack.sql('ALTER SYSTEM SET sms_otp.idempotency_required = on');
  stack.sql('SELECT pg_reload_conf()');
  try {
    await steadily(async () => (await probe()) === 'idempotency_key_missing', 'idempotency_required on');
    const before = written();
    const phone = nextPhone();
    assertRaised(await send({ to: phone, text: 'Your code of conduct was updated.' }), 400, 'idempotency_key_missing');
    assert.deepEqual(written(), before);
    const keyed = await send({ to: phone, text: 'Your code of conduct was updated.' }, { 'Idempotency-Key': randomUUID() });
    assert.equal(keyed.status, 200, keyed.text);
  } finally {
    stack.sql('ALTER SYSTEM RESET sms_otp.idempotency_required');
    stack.sql('SELECT pg_reload_conf()');
    await steadily(async () => (await probe()) === 'invalid_phone', 'idempotency_required off');
  }
  const plain = await send({ to: nextPhone(), text: 'No key needed again.' });
  assert.equal(plain.status, 200, plain.text);
});

test('1,000 concurrent calls with one Idempotency-Key: one row, each answer 200 (same message) or 409 in flight', async () => {
  const key = randomUUID();
  const phone = nextPhone();
  const body = { to: phone, text: 'Your order 77 has shipped.' };
  const answers = await Promise.all(Array.from({ length: 1000 }, () => send(body, { 'Idempotency-Key': key })));

  const ok = answers.filter((a) => a.status === 200);
  const busy = answers.filter((a) => a.status === 409);
  const other = answers.filter((a) => a.status !== 200 && a.status !== 409);
  assert.deepEqual(other.map((a) => `${a.status} ${a.text}`), []);
  assert.ok(ok.length >= 1, 'at least one call succeeded');
  assert.equal(new Set(ok.map((a) => a.json.message_id)).size, 1, 'one message id');
  for (const a of ok) assert.deepEqual(a.json, ok[0].json);
  for (const a of busy) {
    assertRaised(a, 409, 'idempotency_in_flight');
    assert.ok(Number(a.headers.get('retry-after')) >= 1, 'Retry-After on 409');
  }
  // Of the 200s, only the first is the original; the rest are replays.
  assert.equal(ok.filter((a) => a.headers.get('idempotent-replayed') !== 'true').length, 1);

  assert.equal(countOf(stack, `SELECT 1 FROM sms_otp.sms_outbox WHERE "to" = '${phone}'`), 1);
  assert.equal(countOf(stack, `SELECT 1 FROM sms_otp.sms_idempotency_keys WHERE key = '${key}'`), 1);
  await delivered(phone, ok[0].json.message_id);
  await sleep(500);
  assert.equal((await inbox(stack, phone)).length, 1, 'one SMS reached the provider');
});

test('1,000 concurrent calls with one business_ref and no key: one row, every answer names it', async () => {
  const phone = nextPhone();
  const ref = `booking:${randomUUID()}:confirmed`;
  const body = { to: phone, text: 'Booking confirmed.', business_ref: ref };
  const answers = await Promise.all(Array.from({ length: 1000 }, () => send(body)));

  assert.deepEqual(answers.filter((a) => a.status !== 200).map((a) => `${a.status} ${a.text}`), []);
  const ids = new Set(answers.map((a) => a.json.message_id));
  assert.equal(ids.size, 1, 'one message id');
  assert.equal(countOf(stack, `SELECT 1 FROM sms_otp.sms_outbox WHERE business_ref = '${ref}'`), 1);
  assert.equal(countOf(stack, `SELECT 1 FROM sms_otp.sms_outbox WHERE "to" = '${phone}'`), 1);
  if ('duplicate' in answers[0].json) {
    assert.equal(answers.filter((a) => a.json.duplicate === false).length, 1, 'one answer is the original');
  }
  await delivered(phone, [...ids][0]);
  await sleep(500);
  assert.equal((await inbox(stack, phone)).length, 1, 'one SMS reached the provider');

  // Another reference to the same number is another message.
  const next = await send({ ...body, business_ref: `${ref}:reminder` });
  assert.equal(next.status, 200, next.text);
  assert.ok(!ids.has(next.json.message_id));
});

// ------------------------------------------------------------------ refusals

test('only the service role sends: a signed-in user and anon get 403 forbidden, nothing is written', async () => {
  const before = written();
  const body = { to: nextPhone(), text: 'Hello from someone else.' };
  assertRaised(await send(body, {}, user(ALICE.id)), 403, 'forbidden');
  assertRaised(await call('POST', '/rpc/send_transactional', { body }), 403, 'forbidden');
  // A key does not get past the role check either, and is not used up by it.
  const key = randomUUID();
  assertRaised(await send(body, { 'Idempotency-Key': key }, user(ALICE.id)), 403, 'forbidden');
  assertRaised(await call('POST', '/rpc/send_transactional', { body, headers: { 'Idempotency-Key': key } }), 403, 'forbidden');
  assert.deepEqual(written(), before);
  // The same call from the service role, so the refusals above were the role's doing.
  const ok = await send(body, { 'Idempotency-Key': key });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.headers.get('idempotent-replayed'), null);
});

test('bad input: 400 with a stable code, no row and no idempotency key written', async () => {
  stack.sql(`INSERT INTO sms_otp.sms_templates (name, locale, body) VALUES ('pickup', 'en', 'Hi {name}, pick up at {place}.')`);
  const max = Number(stack.value('SHOW sms_otp.max_segments'));
  const to = nextPhone();
  const cases = [
    ['an unknown template', { to, template: 'no_such_template', data: { name: 'Ana' } }, 'unknown_template'],
    ['a missing placeholder', { to, template: 'pickup', data: { name: 'Ana' } }, 'template_data_missing'],
    ['a placeholder that is not text', { to, template: 'pickup', data: { name: 'Ana', place: { x: 1 } } }, 'invalid_template_data'],
    ['data that is not an object', { to, template: 'pickup', data: ['Ana'] }, 'invalid_template_data'],
    ['a number too short', { to: '+1415555', text: 'Hi' }, 'invalid_phone'],
    ['no number at all', { to: 'alice', text: 'Hi' }, 'invalid_phone'],
    ['both a template and a text', { to, template: 'pickup', data: { name: 'A', place: 'B' }, text: 'Hi' }, 'template_or_text'],
    ['neither a template nor a text', { to }, 'template_or_text'],
    [`${max + 1} GSM-7 parts`, { to, text: 'x'.repeat(153 * max + 1) }, 'message_too_long'],
    [`${max + 1} UCS-2 parts`, { to, text: 'я'.repeat(67 * max + 1) }, 'message_too_long'],
    ['a template that renders too long', { to, template: 'pickup', data: { name: 'x'.repeat(153 * max), place: 'B' } }, 'message_too_long'],
    ['a bell character', { to, text: 'Ding\u0007 dong' }, 'invalid_text'],
    ['a control character from the data', { to, template: 'pickup', data: { name: 'Ana\u0008', place: 'B' } }, 'invalid_text'],
    ['a Unicode non-character', { to, text: 'Odd \uFFFE one' }, 'invalid_text'],
    ['an escape sequence', { to, text: 'Red \u001b[31mtext' }, 'invalid_text'],
    ['a C1 control', { to, text: 'Next\u0085line' }, 'invalid_text'],
    ['a blank text', { to, text: ' \n\t ' }, 'empty_text'],
    ['a body of 1 MB', { to, text: 'x'.repeat(1024 * 1024) }, 'message_too_long'],
    ['the promo category', { to, text: 'Hi', category: 'promo' }, 'invalid_category'],
    ['a category that is no name', { to, text: 'Hi', category: 'Not A Name' }, 'invalid_category'],
    ['send_at two months ahead', { to, text: 'Hi', send_at: new Date(Date.now() + 60 * 86400e3).toISOString() }, 'invalid_send_at'],
    ['valid_for of 10 seconds', { to, text: 'Hi', valid_for: '10 seconds' }, 'invalid_valid_for'],
    ['a business_ref with a newline', { to, text: 'Hi', business_ref: 'a\nb' }, 'invalid_business_ref'],
    ['a locale that is no tag', { to, template: 'pickup', data: { name: 'A', place: 'B' }, locale: '../etc' }, 'invalid_locale'],
  ];
  const before = written();
  for (const [what, body, code] of cases) {
    const r = await send(body, { 'Idempotency-Key': randomUUID() });
    assert.equal(r.status, 400, `${what}: ${r.status} ${r.text.slice(0, 300)}`);
    assertRaised(r, 400, code);
  }
  assertRaised(await send({ to, text: 'Hi' }, { 'Idempotency-Key': 'two words' }), 400, 'invalid_idempotency_key');
  assertRaised(await send({ to, text: 'Hi' }, { 'Idempotency-Key': 'k'.repeat(256) }), 400, 'invalid_idempotency_key');
  assert.deepEqual(written(), before);

  // Each refused body, put right, goes: the refusals were about what was wrong.
  const fixed = await send({ to, template: 'pickup', data: { name: 'Ana', place: 'Gate 3' } });
  assert.equal(fixed.status, 200, fixed.text);
  assert.equal((await delivered(to, fixed.json.message_id))[0].text, 'Hi Ana, pick up at Gate 3.');
});

// ------------------------------------------------------------------ opt-outs

test('opt_out and opt_in over HTTP: an opted-out number gets 422 opted_out until it opts in again', async () => {
  const phone = nextPhone();
  const spaced = `${phone.slice(0, 2)} ${phone.slice(2, 5)} ${phone.slice(5, 8)} ${phone.slice(8)}`;
  const text = 'Your appointment is tomorrow at 9:00.';

  // Only the service role changes the ledger.
  const before = written();
  assertRaised(await rpc('opt_out', { phone }, user(ALICE.id)), 403, 'forbidden');
  assertRaised(await rpc('opt_out', { phone }), 403, 'forbidden');
  assertRaised(await rpc('opt_in', { phone }, user(ALICE.id)), 403, 'forbidden');
  assertRaised(await rpc('opt_out', { phone: 'alice' }, service()), 400, 'invalid_phone');
  assertRaised(await rpc('opt_out', { phone, scope: 'All Of It' }, service()), 400, 'invalid_scope');
  assert.deepEqual(written(), before);

  const out = await rpc('opt_out', { phone: spaced, source: 'web_form' }, service());
  assert.equal(out.status, 200, out.text);
  assert.deepEqual(out.json, { phone, scope: 'all', opted_out: true, changed: true });
  assert.deepEqual(stack.sql(`SELECT scope, source FROM sms_otp.sms_opt_outs WHERE phone = '${phone}'`), [['all', 'web_form']]);
  const again = await rpc('opt_out', { phone }, service());
  assert.equal(again.json.changed, false);

  const held = written();
  assertRaised(await send({ to: phone, text }), 422, 'opted_out');
  assertRaised(await send({ to: spaced, text }, { 'Idempotency-Key': randomUUID() }), 422, 'opted_out');
  assert.deepEqual(written(), held);

  const back = await rpc('opt_in', { phone }, service());
  assert.equal(back.status, 200, back.text);
  assert.deepEqual(back.json, { phone, scope: 'all', opted_out: false, changed: true });
  assert.equal(countOf(stack, `SELECT 1 FROM sms_otp.sms_opt_outs WHERE phone = '${phone}'`), 0);
  assert.deepEqual(stack.sql(`SELECT action FROM sms_otp.sms_opt_out_events WHERE phone = '${phone}' ORDER BY id`),
    [['opt_out'], ['opt_out'], ['opt_in']]);

  const sent = await send({ to: phone, text });
  assert.equal(sent.status, 200, sent.text);
  assert.equal((await delivered(phone, sent.json.message_id))[0].text, text);
});

test('opt-outs by category: a scoped opt-out stops that category only; a category may ignore opt-outs', async () => {
  stack.sql(`INSERT INTO sms_otp.sms_categories (name, honours_opt_out) VALUES ('marketing_tips', true), ('fraud_alert', false)`);
  const phone = nextPhone();
  const out = await rpc('opt_out', { phone, scope: 'marketing_tips' }, service());
  assert.equal(out.status, 200, out.text);
  assertRaised(await send({ to: phone, text: 'Tip of the day', category: 'marketing_tips' }), 422, 'opted_out');
  const plain = await send({ to: phone, text: 'Your receipt', category: 'transactional' });
  assert.equal(plain.status, 200, plain.text);

  // Out of everything: the fraud alert still goes, as its category says.
  assert.equal((await rpc('opt_out', { phone }, service())).status, 200);
  assertRaised(await send({ to: phone, text: 'Your receipt', category: 'transactional' }), 422, 'opted_out');
  const alert = await send({ to: phone, text: 'Was this card payment you?', category: 'fraud_alert' });
  assert.equal(alert.status, 200, alert.text);

  // opt_in of one scope leaves the others.
  assert.equal((await rpc('opt_in', { phone, scope: 'marketing_tips' }, service())).json.changed, true);
  assertRaised(await send({ to: phone, text: 'Tip of the day', category: 'marketing_tips' }), 422, 'opted_out');
  assert.deepEqual(stack.sql(`SELECT scope FROM sms_otp.sms_opt_outs WHERE phone = '${phone}'`), [['all']]);
});
