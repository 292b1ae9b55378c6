// Promo campaigns through the real worker and the mock provider: exact throttles (every window
// of the send log checked), quiet hours, pause/resume, STOP mid-campaign, retry of failures,
// and crashes of the worker and the postmaster mid-campaign.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Mock, waitFor, useStack } from './harness.mjs';

const cluster = new Cluster([
  'sms_otp.poll_interval = 200ms',
  'sms_otp.lease = 10s',
  'sms_otp.request_timeout = 5s',
  'sms_otp.max_in_flight = 32',
  'sms_otp.promo_frequency_cap = 0',
]);
const mock = new Mock();
useStack(cluster, mock);

// A statement as the backend makes it (PostgREST with the service role's token): its value.
function asService(query) {
  const rows = cluster.sql(`SET ROLE service_role;
    SELECT set_config('request.jwt.claims', '{"role": "service_role"}', false);
    ${query}`);
  return rows.at(-1)?.[0];
}

function provider() {
  cluster.sql('DELETE FROM sms_otp.api_integrations');
  cluster.sql(`INSERT INTO sms_otp.api_integrations (name, kind, base_url, sender, credentials)
    VALUES ('twilio', 'twilio', '${mock.url}', '+15005550006',
            '{"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "tok"}')`);
}

// A campaign to n numbers (+1415555xxxx), created and launched as the service role.
function campaign(n, { throttle = null, quiet = false, extra = '' } = {}) {
  const list = JSON.stringify(Array.from({ length: n }, (_, i) => `+1415${String(5550000 + i).padStart(7, '0')}`));
  const t = throttle ? `, throttle => '${JSON.stringify(throttle)}'` : '';
  const out = asService(`
    SELECT sms_otp.campaign_create('c', text => 'Sale! Reply STOP to opt out.', audience => '${list}'${t},
                                   quiet_hours => ${quiet}${extra}) ->> 'campaign_id';`);
  const id = Number(out);
  asService(`SELECT sms_otp.campaign_launch(${id})`);
  return id;
}

const state = (id) => cluster.value(`SELECT status FROM sms_otp.sms_campaigns WHERE id = ${id}`);

test('a throttled campaign: every sliding second holds at most its limit, everyone once', async () => {
  provider();
  const id = campaign(60, { throttle: { per_second: 10 } });
  await waitFor('the campaign to finish', () => state(id) === 'finished', { timeout: 30000 });
  const reqs = (await mock.requests('twilio')).filter((r) => r.form?.Body?.startsWith('Sale!'));
  assert.equal(reqs.length, 60);
  assert.equal(new Set(reqs.map((r) => r.form.To)).size, 60, 'each number once');
  const times = reqs.map((r) => Date.parse(r.time)).sort((a, b) => a - b);
  for (let i = 10; i < times.length; i++)
    assert.ok(times[i] - times[i - 10] >= 1000, `sends ${i - 10} and ${i} ${times[i] - times[i - 10]} ms apart`);
  const span = times.at(-1) - times[0];
  console.log(`# 60 messages at 10/s took ${span} ms`);
  assert.ok(span < 8000, `took ${span} ms`);
});
