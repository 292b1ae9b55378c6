// When things fail: the first SMS provider fails and the next one delivers; the provider's
// receipt says the code never reached the phone; no provider is enabled; the network is down;
// the sign-in token is no longer accepted.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ALICE, Harness, screenshot, signIn, typeCode } from './support/harness.mjs';

/** The code the console provider wrote to the server log after `offset` bytes. */
async function codeFromServerLog(harness, offset, timeoutMs = 10000) {
  const file = `${harness.stack.env.DIR}/pg/server.log`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const log = readFileSync(file, 'utf8').slice(offset);
    const m = log.match(/sms_otp console provider "console": to \+14155550101: Your verification code is (\d{6})/);
    if (m) return m[1];
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the console provider logged no code');
}

describe('failures', { timeout: 240_000 }, () => {
  const harness = new Harness();
  before(() => harness.start(), { timeout: 120_000 });
  after(() => harness.stop());
  beforeEach(async () => {
    await harness.reset();
    harness.stack.sql(`UPDATE sms_otp.api_integrations SET enabled = true`);
  });

  it('falls back to the next provider when the first one fails', async () => {
    // twilio (the mock, priority 10) answers 500 once; console (priority 100) takes it.
    await harness.mockPost('/_mock/faults', { provider: 'twilio', mode: 'status', status: 500, count: 1 });
    const logOffset = readFileSync(`${harness.stack.env.DIR}/pg/server.log`).length;
    const page = await harness.newPage();
    await signIn(page, harness, ALICE);
    await page.getByRole('button', { name: 'Send OTP' }).click();
    const code = await codeFromServerLog(harness, logOffset);
    // The overlay follows the delivery: queued, then sent.
    await page.getByRole('status').filter({ hasText: 'Code sent to +14•••••••01.' }).waitFor({ state: 'attached' });
    const attempts = harness.stack.sql(
      `SELECT provider_name, coalesce(status_code::text, '-') FROM sms_otp.sms_messages_log ORDER BY id`,
    );
    assert.deepEqual(attempts.map((r) => r[0]), ['twilio', 'console']);
    assert.equal(attempts[0][1], '500');
    await typeCode(page, code);
    await page.getByTestId('access').waitFor();
    await page.context().close();
  });

  it('says so when the receipts report the code undelivered, and a new code works', async () => {
    // The mock's receipts for the first message stop at "sent", as when the carrier's final
    // word has not come yet; the superuser then writes that word into the outbox row.
    await harness.mockPost('/_mock/callbacks', { provider: 'twilio', events: ['sent'], count: 1 });
    const page = await harness.newPage();
    await signIn(page, harness, ALICE);
    const first = await harness.smsAfter(ALICE.phone, () => page.getByRole('button', { name: 'Send OTP' }).click());
    await page.getByRole('status').filter({ hasText: 'Code sent to +14•••••••01.' }).waitFor({ state: 'attached' });
    assert.equal(await page.getByTestId('delivery').count(), 0);

    harness.stack.sql(`UPDATE sms_otp.sms_outbox SET delivery_status = 'undelivered', delivery_at = now(), delivery_error = '30003'
                       WHERE id = (SELECT outbox_id FROM sms_otp.sms_otp_sessions ORDER BY created_at DESC LIMIT 1)`);
    // Found by the overlay's next receipt poll (every 5 s), without a reload.
    const undelivered = page
      .getByRole('alert')
      .filter({ hasText: 'We could not deliver the code to +14•••••••01. Check the number with support, or ask for a new code.' });
    await undelivered.waitFor();
    assert.equal(await page.getByTestId('delivery').textContent(), 'Not delivered');
    assert.equal(await page.getByLabel('Code').count(), 1); // a late SMS could still be entered

    // Once the cooldown (3 s) is over, a new code; its receipts come as usual.
    const again = page.getByRole('button', { name: 'Send a new code', exact: true });
    const second = await harness.smsAfter(ALICE.phone, () => again.click());
    assert.notEqual(second.id, first.id);
    await undelivered.waitFor({ state: 'detached' });
    await typeCode(page, second.code);
    await page.getByTestId('access').waitFor();
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  it('says so when no provider is available, and recovers', async () => {
    harness.stack.sql(`UPDATE sms_otp.api_integrations SET enabled = false`);
    const page = await harness.newPage();
    await signIn(page, harness, ALICE);
    await page.getByRole('button', { name: 'Send OTP' }).click();
    await page.getByRole('alert').filter({ hasText: 'Text messages cannot be sent right now.' }).waitFor();
    await screenshot(page, 'no-provider');

    harness.stack.sql(`UPDATE sms_otp.api_integrations SET enabled = true`);
    const sms = await harness.smsAfter(ALICE.phone, () => page.getByRole('button', { name: 'Try again' }).click());
    await typeCode(page, sms.code);
    await page.getByTestId('access').waitFor();
    await page.context().close();
  });

  it('says so when the network is down, and recovers', async () => {
    const page = await harness.newPage();
    await signIn(page, harness, ALICE);
    await page.getByRole('button', { name: 'Send OTP' }).waitFor();
    await page.context().setOffline(true);
    await page.getByRole('button', { name: 'Send OTP' }).click();
    await page.getByRole('alert').filter({ hasText: 'We cannot reach the server. Check your connection and try again.' }).waitFor();
    assert.equal(harness.stack.value('SELECT count(*) FROM sms_otp.sms_otp_sessions'), '0');
    await screenshot(page, 'network-down');

    await page.context().setOffline(false);
    const sms = await harness.smsAfter(ALICE.phone, () => page.getByRole('button', { name: 'Try again' }).click());
    await typeCode(page, sms.code);
    await page.getByTestId('access').waitFor();
    await page.context().close();
  });

  it('sends a user whose token is refused back to the login', async () => {
    const page = await harness.newPage();
    await signIn(page, harness, ALICE);
    await page.getByRole('button', { name: 'Send OTP' }).waitFor();
    // A token PostgREST will not accept (its signature no longer matches).
    await page.evaluate(() => {
      const auth = JSON.parse(sessionStorage.getItem('sms_otp_demo_auth'));
      auth.token = auth.token.slice(0, -4) + (auth.token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
      sessionStorage.setItem('sms_otp_demo_auth', JSON.stringify(auth));
    });
    await page.reload();
    await page.getByRole('alert').filter({ hasText: 'Your sign-in has expired. Please sign in again.' }).waitFor();
    await page.getByRole('button', { name: 'Sign in again' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.context().close();
  });
});
