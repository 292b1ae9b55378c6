// Promo campaigns through the real PostgREST 12.0.2, as a backend holding the service role's
// key runs one: POST /rpc/campaign_create, /rpc/campaign_launch, /rpc/campaign_progress,
// /rpc/campaign_recipient, pause and cancel; errors with their HTTP status; and the worker
// sending each recipient once to the mock provider (as Twilio).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { Stack } from '../stack.mjs';
import { calls } from './calls.mjs';
import { freeProxyPort, inbox, tokens, until } from './service.mjs';

const stack = new Stack();
const { rpc } = calls(stack);
const { service, user } = tokens(stack);

before(() => {
  freeProxyPort();
  stack.start();
});
after(() => stack.stop());

beforeEach(async () => {
  stack.sql(`UPDATE sms_otp.sms_outbox SET status = 'cancelled', body = NULL WHERE status = 'queued';
             UPDATE sms_otp.sms_campaigns SET status = 'cancelled' WHERE status IN ('running', 'paused', 'scheduled');
             DELETE FROM sms_otp.sms_opt_outs;
             UPDATE sms_otp.api_integrations SET enabled = (kind = 'twilio'), selectable = false;`);
  await fetch(`${stack.mock}/_mock/reset`, { method: 'POST' });
});

let numbers = 0;
const nextPhone = () => `+1415555${String(6000 + numbers++).padStart(4, '0')}`;

const create = (body, token = service()) => rpc('campaign_create', { name: 'spring sale', ...body }, token);

test('a signed-in user and an anonymous caller cannot run campaigns', async () => {
  const body = { text: 'Sale!', audience: [nextPhone()] };
  const asUser = await create(body, user('a0000000-0000-4000-8000-0000000000c1'));
  assert.equal(asUser.status, 403, asUser.text);
  assert.equal(asUser.json.code, 'forbidden');
  const anon = await create(body, null);
  assert.ok([401, 403].includes(anon.status), anon.text);
  for (const fn of ['campaign_launch', 'campaign_progress', 'campaign_pause', 'campaign_cancel']) {
    const r = await rpc(fn, { campaign_id: 1 }, user('a0000000-0000-4000-8000-0000000000c1'));
    assert.equal(r.status, 403, `${fn}: ${r.text}`);
  }
  assert.equal(Number(stack.value("SELECT count(*) FROM sms_otp.sms_campaigns WHERE name = 'spring sale' AND status = 'draft'")), 0);
});

test('bad input is a 400 with a stable code, and nothing is created', async () => {
  const before = Number(stack.value('SELECT count(*) FROM sms_otp.sms_campaigns'));
  const cases = [
    [{ audience: [nextPhone()] }, 'template_or_text'],
    [{ text: 'Sale!', audience: [nextPhone()], throttle: { per_second: 0 } }, 'invalid_throttle'],
    [{ text: 'Sale!', audience: [nextPhone()], throttle: { per_second: -5 } }, 'invalid_throttle'],
    [{ text: 'Sale!', audience: [nextPhone()], throttle: { per_hour: 5 } }, 'invalid_throttle'],
    [{ text: 'Sale!', audience: [nextPhone()], starts_at: '2020-01-01T00:00:00Z' }, 'invalid_starts_at'],
    [{ text: 'Sale!' }, 'audience_required'],
    [{ text: 'Sale!', audience: { phone: nextPhone() } }, 'invalid_audience'],
    [{ template: 'no_such_template', audience: [nextPhone()] }, 'unknown_template'],
    [{ text: 'Sale!', audience: [nextPhone()], provider: 'nobody' }, 'unknown_provider'],
  ];
  for (const [body, code] of cases) {
    const r = await create(body);
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.json.code, code, JSON.stringify(body));
    assert.ok(r.json.message.length > 10, 'a message a person can read');
  }
  assert.equal(Number(stack.value('SELECT count(*) FROM sms_otp.sms_campaigns')), before);

  // A launch whose audience query fails launches nothing.
  const bad = await create({ text: 'Sale!', audience_query: 'SELECT phone FROM public.no_such_table' });
  assert.equal(bad.status, 200, bad.text);
  const id = bad.json.campaign_id;
  const launch = await rpc('campaign_launch', { campaign_id: id }, service());
  assert.equal(launch.status, 400, launch.text);
  assert.equal(launch.json.code, 'audience_query_failed');
  assert.match(launch.json.message, /no_such_table/);
  assert.equal(stack.value(`SELECT status FROM sms_otp.sms_campaigns WHERE id = ${id}`), 'draft');
  assert.equal(Number(stack.value(`SELECT count(*) FROM sms_otp.sms_campaign_recipients WHERE campaign_id = ${id}`)), 0);

  const missing = await rpc('campaign_progress', { campaign_id: 999999 }, service());
  assert.equal(missing.status, 404, missing.text);
  assert.equal(missing.json.code, 'campaign_not_found');
});

test('a campaign over HTTP: launched once, each number texted once, progress and history as data', async () => {
  const a = nextPhone(), b = nextPhone(), c = nextPhone();
  const audience = [a, b, a.replace('+1415', '+1 (415) ').replace(/(\d{3})(\d{4})$/, '$1-$2'), 'not a number', { phone: c, data: {} }];
  const created = await create({ text: 'Spring sale: 20% off. Reply STOP to opt out.', audience, quiet_hours: false,
                                 throttle: { per_second: 50 } });
  assert.equal(created.status, 200, created.text);
  assert.equal(created.json.status, 'draft');
  const id = created.json.campaign_id;

  const launched = await rpc('campaign_launch', { campaign_id: id }, service());
  assert.equal(launched.status, 200, launched.text);
  assert.equal(launched.json.recipients, 5);
  assert.equal(launched.json.pending, 3);
  assert.deepEqual(launched.json.skipped, { duplicate: 1, invalid_number: 1 });

  const again = await rpc('campaign_launch', { campaign_id: id }, service());
  assert.equal(again.status, 409, again.text);
  assert.equal(again.json.code, 'already_launched');

  await until(() => stack.value(`SELECT status FROM sms_otp.sms_campaigns WHERE id = ${id}`) === 'finished',
    'the campaign finishes', 20000);
  for (const phone of [a, b, c]) {
    const got = await inbox(stack, phone);
    assert.equal(got.length, 1, `${phone} got one SMS`);
    assert.match(got[0].body ?? got[0].text ?? JSON.stringify(got[0]), /Spring sale/);
  }

  const progress = await rpc('campaign_progress', { campaign_id: id }, service());
  assert.equal(progress.status, 200, progress.text);
  assert.equal(progress.json.status, 'finished');
  assert.equal((progress.json.states.sent ?? 0) + (progress.json.states.delivered ?? 0), 3, JSON.stringify(progress.json.states));
  assert.deepEqual(progress.json.skip_reasons, { duplicate: 1, invalid_number: 1 });

  const history = await rpc('campaign_recipient', { campaign_id: id, phone: a }, service());
  assert.equal(history.status, 200, history.text);
  assert.equal(history.json.length, 2, 'the number and its duplicate');
  const [first, dup] = history.json;
  assert.ok(['sent', 'delivered'].includes(first.state));
  assert.equal(first.provider, 'twilio');
  assert.equal(first.attempts.length, 1);
  assert.equal(first.attempts[0].outcome, 'sent');
  assert.equal(dup.state, 'skipped');
  assert.equal(dup.skip_reason, 'duplicate');

  const pause = await rpc('campaign_pause', { campaign_id: id }, service());
  assert.equal(pause.status, 409, pause.text);
  assert.equal(pause.json.code, 'campaign_not_running');
});

test('pause, resume and cancel over HTTP: nobody after the pause, nobody twice, the rest skipped at cancel', async () => {
  const audience = Array.from({ length: 30 }, nextPhone);
  const created = await create({ text: 'Flash sale. Reply STOP to opt out.', audience, quiet_hours: false,
                                 throttle: { per_second: 5 } });
  const id = created.json.campaign_id;
  assert.equal((await rpc('campaign_launch', { campaign_id: id }, service())).status, 200);
  await until(async () => Number(stack.value(`SELECT sent FROM sms_otp.sms_campaigns WHERE id = ${id}`)) >= 5,
    'a few sent', 10000);
  const paused = await rpc('campaign_pause', { campaign_id: id, reason: 'checking the landing page' }, service());
  assert.equal(paused.status, 200, paused.text);
  assert.equal(paused.json.pause_reason, 'checking the landing page');
  await new Promise((r) => setTimeout(r, 1500));  // what was in flight lands
  const atPause = (await (await fetch(`${stack.mock}/_mock/requests`)).json()).length;
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await (await fetch(`${stack.mock}/_mock/requests`)).json()).length, atPause, 'nothing sent while paused');

  assert.equal((await rpc('campaign_resume', { campaign_id: id }, service())).status, 200);
  await until(async () => Number(stack.value(`SELECT sent FROM sms_otp.sms_campaigns WHERE id = ${id}`)) >= atPause + 5,
    'more sent after resume', 10000);
  const cancelled = await rpc('campaign_cancel', { campaign_id: id }, service());
  assert.equal(cancelled.status, 200, cancelled.text);
  assert.equal(cancelled.json.status, 'cancelled');
  await new Promise((r) => setTimeout(r, 1500));
  const requests = (await (await fetch(`${stack.mock}/_mock/requests`)).json()).map((r) => r.form?.To);
  assert.equal(new Set(requests).size, requests.length, 'no number twice');
  const rows = stack.sql(`SELECT state, coalesce(skip_reason, ''), count(*) FROM sms_otp.sms_campaign_recipients
                          WHERE campaign_id = ${id} GROUP BY 1, 2`);
  const by = Object.fromEntries(rows.map(([s, r, n]) => [r || s, Number(n)]));
  assert.equal((by.sent ?? 0) + (by.delivered ?? 0), requests.length, 'sent rows are exactly the numbers the provider got');
  assert.equal(by.cancelled, 30 - requests.length, 'the rest were skipped as cancelled');
});
