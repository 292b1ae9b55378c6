// The "SMS codes" settings panel in a real browser against the real stack: a user without codes
// turns them on with their own number (the code read from the mock provider), changes the
// number, turns codes off; a user whose last code is old must confirm before a change, and a
// second login with the password alone is refused by the server; a phone-sized screen.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ALICE, BOB, Harness, screenshot, signIn, typeCode, wrongCode } from './support/harness.mjs';

const BOB_ID = 'b0b00000-0000-4000-8000-000000000002';
const ALICE_ID = 'a11ce000-0000-4000-8000-000000000001';
const FIRST = '+14155550142';
const SECOND = '+14155550143';

function panel(page) {
  return page.getByRole('region', { name: 'SMS codes' });
}

async function openSettings(page) {
  await page.getByRole('link', { name: 'Settings' }).click();
  await panel(page).waitFor();
}

describe('the SMS codes settings panel', { timeout: 240_000 }, () => {
  const harness = new Harness();
  before(() => harness.start(), { timeout: 120_000 });
  after(() => harness.stop());
  beforeEach(async () => {
    await harness.reset();
    harness.stack.sql(`UPDATE sms_otp.user_contact_settings SET phone = NULL, otp_enabled = false WHERE user_id = '${BOB_ID}';
                       UPDATE sms_otp.user_contact_settings SET phone = '${ALICE.phone}', otp_enabled = true WHERE user_id = '${ALICE_ID}'`);
  });
  const contact = (id) => harness.stack.sql(`SELECT coalesce(phone, '-'), otp_enabled::text FROM sms_otp.user_contact_settings WHERE user_id = '${id}'`)[0];

  it('turns codes on with a new number, changes it, and turns them off', async () => {
    const page = await harness.newPage();
    await signIn(page, harness, BOB);
    await page.getByTestId('access').waitFor();
    await openSettings(page);
    await panel(page).getByRole('button', { name: 'Turn on SMS codes' }).waitFor();
    assert.equal(await page.getByTestId('settings-state').textContent(), 'Off');
    await screenshot(page, 'settings-off');

    await page.getByRole('button', { name: 'Turn on SMS codes' }).click();
    await page.getByLabel('Country').selectOption('US');
    await page.getByLabel('Mobile number').fill('(415) 555-0142');
    await screenshot(page, 'settings-number');
    const sms = await harness.smsAfter(FIRST, () => page.getByRole('button', { name: 'Send code' }).click());
    await page.getByText('Code expires in').waitFor();
    assert.match(await panel(page).textContent(), /we sent to \+14•+42/);
    assert.deepEqual(contact(BOB_ID), ['-', 'false'], 'nothing is stored before the code is entered');
    assert.equal(await page.getByRole('button', { name: /^Resend \(0:0[0-3]\)$/ }).isDisabled(), true);
    await screenshot(page, 'settings-code');

    await typeCode(page, wrongCode(sms.code));
    await page.getByRole('alert').filter({ hasText: 'That code is not right. 4 attempts left.' }).waitFor();
    assert.deepEqual(contact(BOB_ID), ['-', 'false']);
    await typeCode(page, sms.code);
    await page.getByTestId('settings-notice').filter({ hasText: 'SMS codes are on' }).waitFor();
    assert.equal(await page.getByTestId('settings-state').textContent(), 'On');
    assert.deepEqual(contact(BOB_ID), [FIRST, 'true']);
    await screenshot(page, 'settings-on');
    // The login that enrolled has proven the number: a reload stays on the page, no overlay,
    // and the home page says the SMS step is passed.
    await page.reload();
    await panel(page).getByRole('button', { name: 'Change number' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/settings');
    assert.equal(await page.getByRole('dialog').count(), 0);
    await page.getByRole('link', { name: 'Home' }).click();
    await page.getByTestId('access').filter({ hasText: 'You passed the SMS step' }).waitFor();
    await openSettings(page);
    await panel(page).getByRole('button', { name: 'Change number' }).waitFor();

    // A change right after: the code just entered is recent enough, so the number field comes at once.
    await page.getByRole('button', { name: 'Change number' }).click();
    await page.getByLabel('Mobile number').fill('+1 415 555 0143');
    // The cooldown (3 s) since the last code.
    await page.getByRole('button', { name: 'Send code' }).waitFor({ timeout: 10_000 });
    await page.waitForFunction(() => [...document.querySelectorAll('button')].some((b) => b.textContent === 'Send code' && !b.disabled));
    const sms2 = await harness.smsAfter(SECOND, () => page.getByRole('button', { name: 'Send code' }).click());
    await typeCode(page, sms2.code);
    await page.getByTestId('settings-notice').filter({ hasText: 'Your number is changed' }).waitFor();
    assert.deepEqual(contact(BOB_ID), [SECOND, 'true']);
    assert.match(await page.getByTestId('settings-number').textContent(), /\+14•+43/);

    await page.getByRole('button', { name: 'Turn off' }).click();
    await page.getByText(/Turn off SMS codes and remove/).waitFor();
    await screenshot(page, 'settings-remove');
    await page.getByRole('button', { name: 'Turn off SMS codes' }).click();
    await page.getByTestId('settings-notice').filter({ hasText: 'SMS codes are off' }).waitFor();
    assert.deepEqual(contact(BOB_ID), ['-', 'false']);
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  it('asks for a code to the current number before a change when the last one is old; the password alone is refused', async () => {
    const page = await harness.newPage();
    await signIn(page, harness, ALICE);
    const sms = await harness.smsAfter(ALICE.phone, () => page.getByRole('button', { name: 'Send OTP' }).click());
    await typeCode(page, sms.code);
    await page.getByTestId('access').waitFor();
    // Ten minutes later: still signed in, but past sms_otp.reverify_window.
    harness.stack.sql(`UPDATE sms_otp.sms_otp_sessions SET created_at = created_at - interval '10 min',
                       expires_at = expires_at - interval '10 min', verified_at = verified_at - interval '10 min'`);
    await openSettings(page);
    await page.getByRole('button', { name: 'Change number' }).click();
    await page.getByText(/first confirm it’s you/).waitFor();
    assert.match(await panel(page).textContent(), /\+14•+01/);
    await screenshot(page, 'settings-confirm');

    // Another login of alice, with the password only: the server refuses both changes.
    const other = await harness.apiLogin(ALICE);
    const moved = await harness.rpc(other, 'otp_send', { phone: SECOND });
    assert.equal(moved.status, 400);
    assert.equal(moved.body.code, 'phone_mismatch');
    const off = await harness.rpc(other, 'otp_disable');
    assert.equal(off.status, 403);
    assert.equal(off.body.code, 'reverify_required');
    // And this login, ten minutes on, too.
    const own = await harness.rpc(await page.evaluate(() => JSON.parse(sessionStorage.getItem('sms_otp_demo_auth') ?? 'null')?.token ?? ''), 'otp_disable');
    assert.equal(own.status, 403);
    assert.equal(own.body.code, 'reverify_required');
    assert.deepEqual(contact(ALICE_ID), [ALICE.phone, 'true']);

    // The panel's own way: a code to the current number, then the new number.
    const confirm = await harness.smsAfter(ALICE.phone, () => page.getByRole('button', { name: 'Send code' }).click());
    await typeCode(page, confirm.code);
    await page.getByLabel('Mobile number').waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('button', { name: 'Change number' }).waitFor();
    assert.deepEqual(contact(ALICE_ID), [ALICE.phone, 'true']);
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  it('fits a phone screen', async () => {
    const page = await harness.newPage({ phone: true });
    await signIn(page, harness, BOB);
    await page.getByTestId('access').waitFor();
    await openSettings(page);
    await page.getByRole('button', { name: 'Turn on SMS codes' }).click();
    await page.getByLabel('Mobile number').fill('415 555 0142');
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 360, `the page scrolls sideways: ${width}px wide`);
    for (const name of ['Send code', 'Cancel']) {
      const box = await page.getByRole('button', { name }).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 360, `${name} is off screen: ${JSON.stringify(box)}`);
    }
    for (const label of ['Country', 'Mobile number']) {
      const box = await page.getByLabel(label).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 360, `${label} is off screen: ${JSON.stringify(box)}`);
    }
    await screenshot(page, 'phone-settings-number');
    const sms = await harness.smsAfter(FIRST, () => page.getByRole('button', { name: 'Send code' }).click());
    await page.getByText('Code expires in').waitFor();
    const slots = await page.locator('.sms-otp-slot').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().right));
    assert.equal(slots.length, 6);
    assert.ok(Math.max(...slots) <= 360);
    await screenshot(page, 'phone-settings-code');
    await typeCode(page, sms.code);
    await page.getByTestId('settings-notice').waitFor();
    await page.context().close();
  });
});
