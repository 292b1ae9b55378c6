// The limits, seen from the browser: the resend cooldown (5 s here), a rate-limited send,
// a code that expires, and a code request locked after the attempt cap.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ALICE, Harness, screenshot, signIn, typeCode, wrongCode } from './support/harness.mjs';

const COOLDOWN = 5; // seconds: short, yet long enough to look at on a slow machine
const AFTER_COOLDOWN = { timeout: (COOLDOWN + 3) * 1000 };

async function sendFirstCode(harness, page) {
  await signIn(page, harness, ALICE);
  const sms = await harness.smsAfter(ALICE.phone, () => page.getByRole('button', { name: 'Send OTP' }).click());
  await page.getByText('Code expires in').waitFor();
  return sms;
}

describe('limits', { timeout: 240_000 }, () => {
  const harness = new Harness({ settings: [`sms_otp.resend_cooldown = ${COOLDOWN}`] });
  before(() => harness.start(), { timeout: 120_000 });
  after(() => harness.stop());
  beforeEach(() => harness.reset());

  it('resends once the cooldown is over, and only the newest code counts', async () => {
    const page = await harness.newPage();
    const first = await sendFirstCode(harness, page);
    const resend = page.getByRole('button', { name: /^Resend/ });
    assert.match(await resend.textContent(), /^Resend \(0:0[1-5]\)$/);
    assert.equal(await resend.isDisabled(), true);

    // The countdown runs, and the button comes back by itself.
    await page.getByRole('button', { name: 'Resend', exact: true }).waitFor(AFTER_COOLDOWN);
    assert.equal(await resend.isEnabled(), true);
    await resend.click();
    const second = await harness.waitForSms(ALICE.phone, { afterId: first.id });
    assert.notEqual(second.id, first.id);
    await page.getByRole('button', { name: /^Resend \(0:0\d\)$/ }).waitFor();

    // The first code was replaced by the second.
    if (first.code !== second.code) {
      await typeCode(page, first.code);
      await page.getByRole('alert').filter({ hasText: 'That code is not right. 4 attempts left.' }).waitFor();
    }
    await typeCode(page, second.code);
    await page.getByTestId('access').waitFor();
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  it('follows a code that was replaced from elsewhere', async () => {
    const page = await harness.newPage();
    const first = await sendFirstCode(harness, page);
    // Another tab of the same login (the same token) asks for a new code once the cooldown is
    // over. A code belongs to its login: another login's send would leave this one alone.
    const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem('sms_otp_demo_auth')).token);
    await new Promise((r) => setTimeout(r, COOLDOWN * 1000 + 100));
    const elsewhere = await harness.rpc(token, 'otp_send');
    assert.equal(elsewhere.status, 200, JSON.stringify(elsewhere.body));
    const second = await harness.waitForSms(ALICE.phone, { afterId: first.id });

    await typeCode(page, first.code);
    await page.getByRole('alert').filter({ hasText: 'A newer code was sent. Enter the code from the latest message.' }).waitFor();
    await page.getByRole('button', { name: 'Check again' }).click();
    await page.getByLabel('Code').waitFor();
    await typeCode(page, second.code);
    await page.getByTestId('access').waitFor();
    await page.context().close();
  });

  it('shows a rate-limited send with its wait, then sends when the wait is over', async () => {
    const page = await harness.newPage();
    await signIn(page, harness, ALICE);
    await page.getByRole('button', { name: 'Send OTP' }).waitFor();
    // The same user asks for a code elsewhere (another tab, another device): this page does
    // not know, so its send meets the cooldown.
    const token = await harness.apiLogin(ALICE);
    const elsewhere = await harness.rpc(token, 'otp_send');
    assert.equal(elsewhere.status, 200);
    await page.getByRole('button', { name: 'Send OTP' }).click();

    const alert = page.getByRole('alert').filter({ hasText: /Please wait \d seconds? before asking for another code\./ });
    await alert.waitFor();
    assert.equal(await page.getByRole('button', { name: /^Send OTP \(0:0\d\)$/ }).isDisabled(), true);
    await screenshot(page, 'rate-limited');

    await page.getByRole('alert').filter({ hasText: 'You can ask for a new code now.' }).waitFor(AFTER_COOLDOWN);
    const sms = await harness.smsAfter(ALICE.phone, () => page.getByRole('button', { name: 'Send OTP', exact: true }).click());
    await typeCode(page, sms.code);
    await page.getByTestId('access').waitFor();
    await page.context().close();
  });

  it('gives up on an expired code and sends a new one', async () => {
    const page = await harness.newPage();
    const first = await sendFirstCode(harness, page);

    // The server's clock runs out on the code (sms_otp.otp_ttl is at least 30 s, so the test
    // moves the deadline instead of waiting): the right code is refused as expired.
    harness.stack.sql(`UPDATE sms_otp.sms_otp_sessions SET expires_at = now() - interval '1 second'`);
    await typeCode(page, first.code);
    await page.getByRole('alert').filter({ hasText: 'This code has expired. Ask for a new one.' }).waitFor();
    assert.equal(await page.getByLabel('Code').count(), 0);
    // The way forward: a new code, once the (here, recent) send's cooldown is over.
    await page.getByRole('button', { name: 'Send a new code', exact: true }).waitFor(AFTER_COOLDOWN);
    await screenshot(page, 'expired');

    await page.getByRole('button', { name: 'Send a new code' }).click();
    const second = await harness.waitForSms(ALICE.phone, { afterId: first.id });
    await page.getByText('Code expires in').waitFor();

    // The countdown follows the server's deadline: moved to 3 s from now, the overlay (after a
    // reload, which reads it back from otp_status) counts down and ends the code by itself.
    harness.stack.sql(`UPDATE sms_otp.sms_otp_sessions SET expires_at = now() + interval '3 seconds' WHERE status IN ('pending', 'sent')`);
    await page.reload();
    await page.getByTestId('expires-in').filter({ hasText: /Code expires in 0:0[1-3]/ }).waitFor();
    await page.getByRole('alert').filter({ hasText: 'This code has expired.' }).waitFor(AFTER_COOLDOWN);
    assert.equal(await page.getByLabel('Code').count(), 0);
    assert.ok(second.id > first.id);

    const third = await harness.smsAfter(ALICE.phone, () => page.getByRole('button', { name: 'Send a new code' }).click());
    await typeCode(page, third.code);
    await page.getByTestId('access').waitFor();
    await page.context().close();
  });

  it('locks a code request after five wrong codes, and a new code works', async () => {
    const page = await harness.newPage();
    const sms = await sendFirstCode(harness, page);
    const wrong = wrongCode(sms.code);
    for (let left = 4; left >= 1; left--) {
      await typeCode(page, wrong);
      await page.getByTestId('attempts-left').filter({ hasText: `${left} attempt` }).waitFor();
    }
    await page.getByRole('alert').filter({ hasText: 'That code is not right. 1 attempt left.' }).waitFor();
    await typeCode(page, wrong);
    await page.getByRole('alert').filter({ hasText: 'Too many wrong tries for this code. Ask for a new one.' }).waitFor();
    assert.equal(await page.getByLabel('Code').count(), 0);
    assert.equal(harness.stack.value(`SELECT status FROM sms_otp.sms_otp_sessions`), 'locked');

    // The locked request's right code is no use; a new one is.
    await page.getByRole('button', { name: 'Send a new code', exact: true }).waitFor(AFTER_COOLDOWN);
    await screenshot(page, 'locked');
    await page.getByRole('button', { name: 'Send a new code' }).click();
    const fresh = await harness.waitForSms(ALICE.phone, { afterId: sms.id });
    await typeCode(page, fresh.code);
    await page.getByTestId('access').waitFor();
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });
});
