// The main path in a real browser against the real stack: sign in, send, read the SMS,
// verify, reach the protected page; a wrong code first; a reload in the middle; a user
// without the SMS step; a phone-sized screen.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ALICE, BOB, Harness, dialog, screenshot, signIn, typeCode, wrongCode } from './support/harness.mjs';

describe('sign-in with the SMS step', { timeout: 180_000 }, () => {
  // A realistic 30 s cooldown: nothing here resends, and a reload must find it still running.
  const harness = new Harness({ settings: ['sms_otp.resend_cooldown = 30'] });
  before(() => harness.start(), { timeout: 120_000 });
  after(() => harness.stop());
  beforeEach(() => harness.reset());

  it('sends a code, takes a wrong one, then the right one, and opens the protected page', async () => {
    const page = await harness.newPage();
    await signIn(page, harness, ALICE, { shot: 'login' });
    await dialog(page).getByRole('button', { name: 'Send OTP' }).waitFor();
    assert.match(await dialog(page).textContent(), /text a 6-digit code to \+14•+01/);
    assert.equal(await page.getByText('Protected page', { exact: true }).count(), 1); // only the locked frame
    assert.equal(await page.getByTestId('access').count(), 0);
    await screenshot(page, 'overlay-initial');

    const sms = await harness.smsAfter(ALICE.phone, () => page.getByRole('button', { name: 'Send OTP' }).click());
    assert.match(sms.code, /^\d{6}$/);
    // The origin-bound line the WebOTP API and iOS autofill read.
    assert.match(sms.text, new RegExp(`@127\\.0\\.0\\.1 #${sms.code}$`));
    await page.getByText('Code expires in').waitFor();
    await page.getByRole('status').filter({ hasText: 'Code sent to' }).waitFor({ state: 'attached' });
    assert.match(await page.getByTestId('attempts-left').textContent(), /5 attempts left/);
    assert.equal(await page.getByRole('button', { name: /^Resend \(0:(30|2\d)\)$/ }).isDisabled(), true);
    await screenshot(page, 'code-sent');

    await typeCode(page, wrongCode(sms.code));
    await page.getByRole('alert').filter({ hasText: 'That code is not right. 4 attempts left.' }).waitFor();
    assert.match(await page.getByTestId('attempts-left').textContent(), /4 attempts left/);
    await screenshot(page, 'wrong-code');

    await typeCode(page, sms.code);
    await page.getByTestId('access').filter({ hasText: 'You passed the SMS step' }).waitFor();
    assert.equal(await page.getByRole('dialog').count(), 0);
    await screenshot(page, 'protected');

    // Verified for this sign-in: a reload goes straight in.
    await page.reload();
    await page.getByTestId('access').waitFor();
    assert.equal(await page.getByRole('dialog').count(), 0);
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  it('resumes the pending code after a reload without sending another', async () => {
    const page = await harness.newPage();
    await signIn(page, harness, ALICE);
    const sms = await harness.smsAfter(ALICE.phone, () => page.getByRole('button', { name: 'Send OTP' }).click());
    await page.getByText('Code expires in').waitFor();
    await typeCode(page, wrongCode(sms.code));
    await page.getByRole('alert').filter({ hasText: '4 attempts left' }).waitFor();

    await page.reload();
    await page.getByLabel('Code').waitFor();
    // Same request: attempts as they were, the cooldown still running, no new SMS.
    assert.match(await page.getByTestId('attempts-left').textContent(), /4 attempts left/);
    const resend = page.getByRole('button', { name: /^Resend/ });
    assert.match(await resend.textContent(), /^Resend \(0:(30|[12]\d)\)$/);
    assert.equal(await resend.isDisabled(), true);
    assert.equal(await harness.lastSmsId(ALICE.phone), sms.id);
    assert.equal(harness.stack.value('SELECT count(*) FROM sms_otp.sms_otp_sessions'), '1');

    await typeCode(page, sms.code);
    await page.getByTestId('access').waitFor();
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  it('lets a user without the SMS step straight in', async () => {
    const page = await harness.newPage();
    await signIn(page, harness, BOB);
    await page.getByTestId('access').filter({ hasText: 'does not use SMS codes' }).waitFor();
    assert.equal(await page.getByRole('dialog').count(), 0);
    assert.equal(harness.stack.value('SELECT count(*) FROM sms_otp.sms_otp_sessions'), '0');
    await screenshot(page, 'no-otp-user');
    await page.context().close();
  });

  it('signs out from the overlay', async () => {
    const page = await harness.newPage();
    await signIn(page, harness, ALICE);
    await page.getByRole('button', { name: 'Send OTP' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/login');
    await page.context().close();
  });

  it('fits a phone screen', async () => {
    const page = await harness.newPage({ phone: true });
    await signIn(page, harness, ALICE);
    const sms = await harness.smsAfter(ALICE.phone, () => page.getByRole('button', { name: 'Send OTP' }).click());
    await page.getByText('Code expires in').waitFor();
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 360, `the page scrolls sideways: ${width}px wide`);
    for (const name of ['Verify', /^Resend/, 'Sign out']) {
      const box = await page.getByRole('button', { name }).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 360, `${name} is off screen: ${JSON.stringify(box)}`);
    }
    const slots = await page.locator('.sms-otp-slot').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().right));
    assert.equal(slots.length, 6);
    assert.ok(Math.max(...slots) <= 360);
    await screenshot(page, 'phone-code-sent');
    await typeCode(page, wrongCode(sms.code));
    await page.getByRole('alert').filter({ hasText: 'not right' }).waitFor();
    await screenshot(page, 'phone-wrong-code');
    await typeCode(page, sms.code);
    await page.getByTestId('access').waitFor();
    await screenshot(page, 'phone-protected');
    await page.context().close();
  });
});
