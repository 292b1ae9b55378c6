// What the worker checks when it claims a transactional or promo message, before any provider
// is asked: that it has not expired, and that its number has not opted out of it. Such a
// message ends at once (expired, or cancelled as opted_out): no request, nothing billed.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, Mock, waitFor, delivered, useStack } from './harness.mjs';

const cluster = new Cluster([
  'sms_otp.poll_interval = 200ms',
  'sms_otp.resend_cooldown = 0',
  'sms_otp.rate_limit_per_minute = 1000000',
  'sms_otp.rate_limit_per_day = 1000000',
]);
const mock = new Mock();
useStack(cluster, mock);

const optedOut = '+14155550177';

beforeEach(() => {
  cluster.sql('DELETE FROM sms_otp.api_integrations');
  cluster.sql(`INSERT INTO sms_otp.api_integrations (name, kind, base_url, sender, credentials)
    VALUES ('twilio', 'twilio', '${mock.url}', '+15005550006',
            '{"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "tok"}')`);
  cluster.sql('DELETE FROM sms_otp.sms_opt_outs');
  cluster.sql('DELETE FROM sms_otp.sms_categories');
});

// Queue a message as send_transactional would, waking the worker on commit.
function queue({ kind = 'transactional', to = optedOut, body = 'hello', category = null, expires = null, due = 'now()' } = {}) {
  const rows = cluster.sql(`BEGIN;
    INSERT INTO sms_otp.sms_outbox (kind, "to", body, category, expires_at, next_attempt_at)
    VALUES ('${kind}', '${to}', '${body}', ${category ? `'${category}'` : 'NULL'}, ${expires ?? 'NULL'}, ${due})
    RETURNING id;
    SELECT sms_otp._wake_worker_on_commit();
    COMMIT;`);
  return Number(rows[0][0]);
}

function optOut(phone, scope = 'all') {
  cluster.sql(`INSERT INTO sms_otp.sms_opt_outs (phone, scope, source) VALUES ('${phone}', '${scope}', 'test')`);
}

function row(id) {
  const [[status, error, attempts, logged]] = cluster.sql(`SELECT status, coalesce(last_error, ''), attempts,
      (SELECT count(*) FROM sms_otp.sms_messages_log l WHERE l.outbox_id = o.id)
    FROM sms_otp.sms_outbox o WHERE id = ${id}`);
  return { status, error, attempts: Number(attempts), logged: Number(logged) };
}

const sentTo = async (phone) => (await mock.requests('twilio')).filter((r) => r.form.To === phone).map((r) => r.form.Body);

test('a transactional message claimed after it expired ends expired, no provider asked', async () => {
  const id = queue({ to: '+14155550100', expires: "now() - interval '1 second'" });
  const live = queue({ to: '+14155550100', body: 'still valid', expires: "now() + interval '10 minutes'" });
  await delivered(cluster, id);
  assert.deepEqual(row(id), { status: 'expired', error: 'expired before it could be sent', attempts: 0, logged: 0 });
  assert.equal((await delivered(cluster, live)).status, 'sent');
  assert.deepEqual(await sentTo('+14155550100'), ['still valid'], 'only the valid one reached the provider');
});

test('an opted-out number gets no transactional nor promo message, and still gets its codes', async () => {
  optOut(optedOut);
  const transactional = queue({ body: 'your order shipped' });
  const promo = queue({ kind: 'promo', body: 'half price today' });
  for (const id of [transactional, promo]) {
    await delivered(cluster, id);
    assert.deepEqual(row(id), { status: 'cancelled', error: 'opted_out', attempts: 0, logged: 0 });
  }
  // Codes are never stopped by the ledger.
  const user = 'a0000000-0000-4000-8000-00000000b001';
  cluster.sql(`INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES ('${user}', '${optedOut}', true)
               ON CONFLICT (user_id) DO NOTHING`);
  const claims = JSON.stringify({ sub: user, role: 'authenticated', session_id: 'opted-out' });
  const session = JSON.parse(cluster.value(`SELECT sms_otp.otp_send()
    FROM (SELECT set_config('request.jwt.claims', '${claims}', true)) AS request`)).session_id;
  await waitFor('the code sent', () =>
    cluster.value(`SELECT status FROM sms_otp.sms_otp_sessions WHERE id = '${session}'`) === 'sent');
  const bodies = await sentTo(optedOut);
  assert.equal(bodies.length, 1, 'one request: the code');
  assert.match(bodies[0], /\d{6}/);
});

test('scopes: promo, a category, and a category that does not honour opt-outs', async () => {
  const promoOnly = '+14155550178';
  optOut(promoOnly, 'promo');
  optOut(optedOut, 'billing');
  const promo = queue({ kind: 'promo', to: promoOnly, body: 'promo to a promo opt-out' });
  const transactional = queue({ to: promoOnly, body: 'receipt to a promo opt-out' });
  const billing = queue({ to: optedOut, category: 'billing', body: 'invoice' });
  const alerts = queue({ to: optedOut, category: 'alerts', body: 'alert' });
  await Promise.all([promo, transactional, billing, alerts].map((id) => delivered(cluster, id)));
  assert.equal(row(promo).status, 'cancelled');
  assert.equal(row(transactional).status, 'sent', 'a promo opt-out leaves transactional messages alone');
  assert.equal(row(billing).status, 'cancelled', 'an opt-out of a category stops that category');
  assert.equal(row(alerts).status, 'sent', '... and no other');

  // A category marked as not honouring opt-outs goes even to a number that opted out of all.
  optOut(optedOut, 'all');
  cluster.sql("INSERT INTO sms_otp.sms_categories (name, honours_opt_out) VALUES ('security', false), ('news', true)");
  const security = queue({ to: optedOut, category: 'security', body: 'new sign-in' });
  const news = queue({ to: optedOut, category: 'news', body: 'newsletter' });
  const uncategorised = queue({ to: optedOut, body: 'no category' });
  await Promise.all([security, news, uncategorised].map((id) => delivered(cluster, id)));
  assert.deepEqual([row(security).status, row(news).status, row(uncategorised).status], ['sent', 'cancelled', 'cancelled']);
  assert.deepEqual((await sentTo(optedOut)).sort(), ['alert', 'new sign-in']);
  assert.deepEqual(await sentTo(promoOnly), ['receipt to a promo opt-out']);
});

test('an opt-out committed while a message waits stops it when it is claimed', async () => {
  const id = queue({ body: 'due in a moment', due: "now() + interval '1 second'" });
  assert.equal(row(id).status, 'queued');
  optOut(optedOut);
  await delivered(cluster, id);
  assert.deepEqual(row(id), { status: 'cancelled', error: 'opted_out', attempts: 0, logged: 0 });
  assert.deepEqual(await sentTo(optedOut), []);
});
