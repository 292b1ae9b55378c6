// The 1.1 library serving a database still at 1.0: between the restart on the new build and
// ALTER EXTENSION UPDATE, the worker keeps sending that database's messages and the 1.0 API
// keeps answering; after the update, the same database works as 1.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, Mock, enqueue, delivered, useStack, waitFor } from './harness.mjs';

const cluster = new Cluster(['sms_otp.poll_interval = 200ms', 'sms_otp.resend_cooldown = 0']);
const mock = new Mock();
useStack(cluster, mock, [], { version: '1.0' });

const claims = JSON.stringify({ sub: '5ec000b1-0000-4000-8000-0000000000b1', role: 'authenticated', session_id: 'v10' });
const send = () => cluster.value(`SELECT sms_otp.otp_send() ->> 'session_id'
  FROM (SELECT set_config('request.jwt.claims', '${claims}', true)) AS request`);

// Before the update test below: 1.0's otp_verify asks Twilio Verify through 1.0's
// _provider_check(provider, phone, code), which the 1.1 library still serves: by the
// verification's id (the newest sent session's), answering a boolean.
test('a database still at 1.0 checks Twilio Verify codes with the 1.1 library', async () => {
  const user = '5ec000b1-0000-4000-8000-0000000000b2';
  const verifyClaims = JSON.stringify({ sub: user, role: 'authenticated' });
  const as = (sql) => cluster.value(`SELECT (${sql})::text FROM (SELECT set_config('request.jwt.claims', '${verifyClaims}', true)) AS request`);
  cluster.sql(`INSERT INTO sms_otp.api_integrations (name, kind, base_url, credentials)
    VALUES ('verify', 'twilio_verify', '${mock.url}',
            '{"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "tok", "service_sid": "VA0123456789abcdef0123456789abcdef"}')`);
  try {
    cluster.sql(`INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES ('${user}', '+14155550502', true)`);
    const session = JSON.parse(as('sms_otp.otp_send()')).session_id;
    const sms = await waitFor('the SMS', async () => (await mock.inbox()).find((m) => m.to === '+14155550502'));
    await waitFor('session sent', () => cluster.value(`SELECT status FROM sms_otp.sms_otp_sessions WHERE id = '${session}'`) === 'sent');
    const sid = cluster.value(`SELECT provider_session_id FROM sms_otp.sms_otp_sessions WHERE id = '${session}'`);
    const wrong = (sms.code[0] === '0' ? '1' : '0') + sms.code.slice(1);
    assert.equal(JSON.parse(as(`sms_otp.otp_verify('${session}', '${wrong}')`)).reason, 'invalid_code');
    assert.equal(JSON.parse(as(`sms_otp.otp_verify('${session}', '${sms.code}')`)).verified, true);
    const checks = (await mock.requests('twilio_verify')).filter((r) => r.path.endsWith('/VerificationCheck'));
    assert.deepEqual(checks.map((r) => [r.form.VerificationSid, r.form.Code]), [[sid, wrong], [sid, sms.code]]);
  } finally {
    cluster.sql("DELETE FROM sms_otp.api_integrations WHERE name = 'verify'");
  }
});

test('a database still at 1.0 sends, answers the API, and updates to 1.1', async () => {
  assert.equal(cluster.value("SELECT extversion FROM pg_extension WHERE extname = 'sms_otp'"), '1.0');
  cluster.sql(`INSERT INTO sms_otp.api_integrations (name, kind, base_url, sender, credentials)
    VALUES ('twilio', 'twilio', '${mock.url}', '+15005550006',
            '{"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "tok"}')`);
  cluster.sql(`INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled)
    VALUES ('5ec000b1-0000-4000-8000-0000000000b1', '+14155550501', true)`);

  const before = await delivered(cluster, enqueue(cluster));
  assert.deepEqual([before.status, before.provider], ['sent', 'twilio'], 'the worker sends from a 1.0 database');
  assert.match(send() ?? '', /^[0-9a-f-]{36}$/, '1.0 otp_send answers with the 1.1 library');

  cluster.sql('ALTER EXTENSION sms_otp UPDATE');
  assert.equal(cluster.value("SELECT extversion FROM pg_extension WHERE extname = 'sms_otp'"), '1.1');
  const after = await delivered(cluster, enqueue(cluster));
  assert.deepEqual([after.status, after.provider], ['sent', 'twilio'], 'and after the update');
  assert.match(send() ?? '', /^[0-9a-f-]{36}$/, '1.1 otp_send after the update');
});
