// What the worker tells providers about a message besides its text (how long it stays worth
// sending, where to post its status) and what it records of their answer: the delivery state
// of the message and of the attempt a provider accepted, which only ever moves up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { Cluster, Mock, waitFor, delivered, useStack } from './harness.mjs';

// The mock provider posts receipts where it is asked to: a closed port on this machine.
const callbackUrl = 'http://127.0.0.1:9/callbacks';
const cluster = new Cluster([
  'sms_otp.poll_interval = 200ms',
  'sms_otp.request_timeout = 10s',
  `sms_otp.callback_url = '${callbackUrl}'`,
]);
const mock = new Mock();
useStack(cluster, mock);

const secret = 'whsec_' + Buffer.from('a webhook secret of 32 bytes!!!!').toString('base64');
const kinds = {
  twilio: { sender: '+15005550006', credentials: { account_sid: 'AC0123456789abcdef0123456789abcdef', auth_token: 'tok' } },
  vonage: { sender: 'Acme', credentials: { api_key: 'key1', api_secret: 'sec1' } },
  messagebird: { sender: 'Acme', credentials: { access_key: 'live_abc' } },
  plivo: { sender: '+15005550006', credentials: { auth_id: 'MAXXXX', auth_token: 'ptok' } },
  webhook: { credentials: { secret }, path: '/webhook/sms' },
};

function use(kind, name = `${kind}-main`) {
  const k = kinds[kind];
  cluster.sql('DELETE FROM sms_otp.api_integrations');
  cluster.sql(`INSERT INTO sms_otp.api_integrations (name, kind, base_url, sender, credentials)
    VALUES ('${name}', '${kind}', '${mock.url}${k.path ?? ''}', ${k.sender ? `'${k.sender}'` : 'NULL'},
            '${JSON.stringify(k.credentials)}')`);
  return name;
}

// A transactional message valid ten more minutes, the worker woken on commit.
function queue(body = 'hello', validFor = '10 minutes') {
  const [[id, expires]] = cluster.sql(`BEGIN;
    INSERT INTO sms_otp.sms_outbox (kind, "to", body, expires_at)
    VALUES ('transactional', '+14155550100', '${body}', now() + interval '${validFor}')
    RETURNING id, floor(extract(epoch FROM expires_at))::bigint;
    SELECT sms_otp._wake_worker_on_commit();
    COMMIT;`);
  return { id: Number(id), expires: Number(expires) };
}

// Seconds counted between the claim and the request may take one or two away.
function about(value, want, unit = 1) {
  const v = Number(value);
  assert.ok(v <= want && v >= want - 3 * unit, `${value} is not about ${want}`);
}

const delivery = (id) => cluster.sql(`SELECT delivery_status, delivery_at IS NOT NULL, coalesce(provider_message_id, '')
  FROM sms_otp.sms_outbox WHERE id = ${id}`)[0];
const logged = (id) => cluster.sql(`SELECT outcome, coalesce(delivery_status, '<null>'), delivery_at IS NOT NULL
  FROM sms_otp.sms_messages_log WHERE outbox_id = ${id} ORDER BY id`);

test('twilio: StatusCallback names the provider and the message; ValidityPeriod the seconds left', async () => {
  const name = use('twilio');
  const { id } = queue();
  assert.equal((await delivered(cluster, id)).status, 'sent');
  const [r] = await mock.requests('twilio');
  assert.equal(r.form.StatusCallback, `${callbackUrl}/twilio/${name}/status/${id}`);
  about(r.form.ValidityPeriod, 600);
});

test('vonage: callback and ttl in milliseconds, client-ref kept', async () => {
  const name = use('vonage', 'vn');  // Vonage takes callbacks of 100 characters at most
  const { id } = queue();
  assert.equal((await delivered(cluster, id)).status, 'sent');
  const [r] = await mock.requests('vonage');
  assert.equal(r.form.callback, `${callbackUrl}/vonage/${name}/status/${id}`);
  about(r.form.ttl, 600000, 1000);
  assert.equal(r.form['client-ref'], String(id));
});

test('messagebird: reportUrl and validity, reference kept', async () => {
  const name = use('messagebird');
  const { id } = queue();
  assert.equal((await delivered(cluster, id)).status, 'sent');
  const [r] = await mock.requests('messagebird');
  assert.equal(r.json.reportUrl, `${callbackUrl}/messagebird/${name}/status/${id}`);
  about(r.json.validity, 600);
  assert.equal(r.json.reference, String(id));
});

test('plivo: url with method POST, and message_expiry', async () => {
  const name = use('plivo');
  const { id } = queue();
  assert.equal((await delivered(cluster, id)).status, 'sent');
  const [r] = await mock.requests('plivo');
  assert.equal(r.json.url, `${callbackUrl}/plivo/${name}/status/${id}`);
  assert.equal(r.json.method, 'POST');
  about(r.json.message_expiry, 600);
});

test('webhook: data.status_callback and data.expires_at, signed with the rest', async () => {
  await mock.config({ webhook: { secret } });
  const name = use('webhook');
  const { id, expires } = queue();
  assert.equal((await delivered(cluster, id)).status, 'sent');
  const [r] = await mock.requests('webhook');
  assert.equal(r.json.data.status_callback, `${callbackUrl}/webhook/${name}/status/${id}`);
  assert.equal(r.json.data.expires_at, expires);
  assert.equal(r.json.data.message_id, id);
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const mac = createHmac('sha256', key).update(`${r.headers['webhook-id']}.${r.headers['webhook-timestamp']}.${r.body}`).digest('base64');
  assert.equal(r.headers['webhook-signature'], `v1,${mac}`);
});

test('a code is given its own expiry too', async () => {
  use('twilio');
  const user = 'a0000000-0000-4000-8000-00000000c001';
  cluster.sql(`INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES ('${user}', '+14155550166', true)
               ON CONFLICT (user_id) DO NOTHING`);
  const claims = JSON.stringify({ sub: user, role: 'authenticated', session_id: 'delivery' });
  const sent = JSON.parse(cluster.value(`SELECT sms_otp.otp_send()
    FROM (SELECT set_config('request.jwt.claims', '${claims}', true)) AS request`));
  const r = await waitFor('the code', async () => (await mock.requests('twilio')).find((x) => x.form.To === '+14155550166'));
  const left = Math.floor((Date.parse(sent.expires_at) - Date.parse(r.time)) / 1000);
  about(r.form.ValidityPeriod, left + 1, 1);
  assert.match(r.form.StatusCallback, /^http:\/\/127\.0\.0\.1:9\/callbacks\/twilio\/twilio-main\/status\/\d+$/);
});

test('accepted: the message and the accepted attempt say so; a failed attempt has no state', async () => {
  use('twilio');
  await mock.fault({ provider: 'twilio', mode: 'status', status: 500, count: 1 });
  const { id } = queue();
  assert.equal((await delivered(cluster, id)).status, 'sent');
  const [status, at, pmid] = delivery(id);
  assert.deepEqual([status, at], ['accepted', 't']);
  assert.match(pmid, /^SM/);
  assert.deepEqual(logged(id), [['retry', '<null>', 'f'], ['sent', 'accepted', 't']]);
});

test('a state set before the worker writes its result is never lowered, in the message nor its log row', async () => {
  use('twilio');
  // The provider holds the request; meanwhile a receipt (here written directly) says delivered.
  await mock.fault({ provider: 'twilio', mode: 'slow', delay_ms: 1500, count: 1 });
  const { id } = queue();
  await waitFor('the request at the provider', async () => (await mock.requests('twilio')).length === 1);
  cluster.sql(`UPDATE sms_otp.sms_outbox SET delivery_status = 'delivered', delivery_at = '2030-01-01Z',
               delivery_error = NULL WHERE id = ${id}`);
  await waitFor('sent', () => cluster.value(`SELECT status FROM sms_otp.sms_outbox WHERE id = ${id}`) === 'sent');
  const [status, at] = cluster.sql(`SELECT delivery_status, delivery_at = '2030-01-01Z' FROM sms_otp.sms_outbox WHERE id = ${id}`)[0];
  assert.deepEqual([status, at], ['delivered', 't'], 'the worker did not move it back to accepted');
  assert.deepEqual(cluster.sql(`SELECT delivery_status, delivery_at = '2030-01-01Z' FROM sms_otp.sms_messages_log
                                WHERE outbox_id = ${id}`), [['delivered', 't']], 'the log row shows the receipt too');
});

test('a receipt that comes while the request is in flight is applied when the worker writes its result', async () => {
  const name = use('twilio');
  const sid = 'SM' + 'ab'.repeat(16);
  // The provider answers with a known message id, after a while.
  await mock.config({ delay_ms: 1500 });
  try {
    await mock.fault({ provider: 'twilio', mode: 'status', status: 201, body: { sid, status: 'queued' }, count: 1 });
    const { id } = queue();
    await waitFor('the request at the provider', async () => (await mock.requests('twilio')).length === 1);
    const got = JSON.parse(cluster.value(`SELECT sms_otp._apply_receipt('${name}', ${id},
      '{"status": "delivered", "provider_message_id": "${sid}"}', 'early-${id}')`));
    assert.equal(got.pending, true, 'kept for the worker: no provider had taken the message yet');
    await waitFor('sent', () => cluster.value(`SELECT status FROM sms_otp.sms_outbox WHERE id = ${id}`) === 'sent');
    assert.deepEqual(delivery(id), ['delivered', 't', sid]);
    assert.deepEqual(logged(id), [['sent', 'delivered', 't']]);
    assert.equal(cluster.value(`SELECT applied FROM sms_otp.sms_delivery_events WHERE dedupe = 'early-${id}'`), 't');
  } finally {
    await mock.config({ delay_ms: 0 });
  }
});

test('a message no provider took ends failed in its delivery state too', async () => {
  use('twilio');
  await mock.fault({ provider: 'twilio', mode: 'status', status: 400, count: 1 });
  const { id } = queue();
  assert.equal((await delivered(cluster, id)).status, 'failed');
  assert.deepEqual(delivery(id).slice(0, 2), ['failed', 't']);
  assert.deepEqual(logged(id), [['rejected', '<null>', 'f']]);
});

test('without sms_otp.callback_url no callback is asked for', async () => {
  cluster.reload({ 'sms_otp.callback_url': '' });
  try {
    await waitFor('the setting', () => cluster.value("SELECT current_setting('sms_otp.callback_url') = ''") === 't');
    await new Promise((resolve) => setTimeout(resolve, 300));  // the worker's reload
    use('twilio');
    const { id } = queue();
    assert.equal((await delivered(cluster, id)).status, 'sent');
    const [r] = await mock.requests('twilio');
    assert.equal(r.form.StatusCallback, undefined);
    about(r.form.ValidityPeriod, 600);
  } finally {
    cluster.sql('ALTER SYSTEM RESET sms_otp.callback_url', 'postgres');
    cluster.sql('SELECT pg_reload_conf()', 'postgres');
  }
});
