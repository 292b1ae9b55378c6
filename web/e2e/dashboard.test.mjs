// The operator dashboard in a real browser against the real stack: the demo's week of traffic
// (test/demo/history.sql, through the tables' ordinary inserts, so the rollup triggers count
// it) plus a queue, a paused campaign and a disabled provider; then every panel is checked
// against figures this test computes from the raw rows itself, the time range and the refresh
// are shown to fetch anew, and an end user's token is refused (403) and told so.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ALICE, Harness, repoDir, screenshotDir, signIn } from './support/harness.mjs';

const OPERATOR = { email: 'operator@example.com', password: 'operator-password' };

/** A share as the page writes it ("93.8%"). */
const pct = (part, whole) => `${((part / whole) * 100).toFixed(1)}%`;
const count = (n) => Number(n).toLocaleString('en-US');
const cost = (n) => (n >= 1 ? n.toFixed(2).replace(/\B(?=(\d{3})+(?!\d))/g, ',') : n.toFixed(4));
const lit = (iso) => `'${iso}'::timestamptz`;

/** Saves a picture of one element under docs/screenshots/ (SCREENSHOTS=0 skips it). */
async function shot(locator, name) {
  if (process.env.SCREENSHOTS === '0') return;
  await locator.page().waitForTimeout(250); // let the charts settle
  await locator.screenshot({ path: path.join(screenshotDir, `${name}.png`) });
}

describe('operator dashboard', { timeout: 300_000 }, () => {
  const harness = new Harness();
  const stack = () => harness.stack;

  function psqlFile(file, vars = {}) {
    const env = stack().env;
    const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', env.PGHOST, '-p', env.PGPORT, '-U', env.PGUSER, '-d', env.PGDATABASE];
    for (const [k, v] of Object.entries(vars)) args.push('-v', `${k}=${v}`);
    execFileSync('psql', [...args, '-f', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  }

  /** What the rollups must say for rows from `since` at `grain` ('hour' or 'day'), from the log itself. */
  function expected(since, grain) {
    // The rollups' hours and days are UTC's.
    const from = `date_trunc('${grain}', created_at, 'UTC') >= date_trunc('${grain}', ${lit(since)}, 'UTC')`;
    const rows = stack().sql(`
      SELECT provider_name, count(*),
             count(*) FILTER (WHERE outcome = 'sent'),
             count(*) FILTER (WHERE outcome = 'sent' AND delivery_status = 'delivered'),
             count(*) FILTER (WHERE outcome = 'sent' AND delivery_status = 'undelivered'),
             count(*) FILTER (WHERE outcome = 'sent' AND delivery_status = 'failed'),
             coalesce(sum(coalesce(segments, 1) * coalesce(
                 (SELECT p.price_per_segment FROM sms_otp.sms_prices p
                  WHERE p.provider_name IN (l.provider_name, '*') AND p.country IN (sms_otp.phone_country(l."to"), '*')
                  ORDER BY p.provider_name = '*', p.country = '*' LIMIT 1), 0)) FILTER (WHERE outcome = 'sent'), 0)
      FROM sms_otp.sms_messages_log l WHERE ${from} GROUP BY 1 ORDER BY 1`);
    const providers = Object.fromEntries(
      rows.map(([name, attempted, accepted, delivered, undelivered, failed, spent]) => [
        name,
        { attempted: +attempted, accepted: +accepted, delivered: +delivered, undelivered: +undelivered, failed: +failed, cost: +spent },
      ]),
    );
    const all = Object.values(providers).reduce(
      (t, p) => Object.fromEntries(Object.keys(t).map((k) => [k, t[k] + p[k]])),
      { attempted: 0, accepted: 0, delivered: 0, undelivered: 0, failed: 0, cost: 0 },
    );
    const rate = (p) => pct(p.delivered, p.delivered + p.undelivered + p.failed);
    return { providers, all, rate };
  }

  /** The code funnel per country from the sessions (hour grain: the last 24 hours). */
  function funnel(since) {
    const rows = stack().sql(`
      SELECT sms_otp.phone_country(phone), count(*) FILTER (WHERE sent_at IS NOT NULL OR status IN ('sent', 'verified')),
             count(*) FILTER (WHERE attempts > 0 OR verified_at IS NOT NULL), count(*) FILTER (WHERE verified_at IS NOT NULL)
      FROM sms_otp.sms_otp_sessions
      WHERE date_trunc('hour', created_at, 'UTC') >= date_trunc('hour', ${lit(since)}, 'UTC') GROUP BY 1`);
    return Object.fromEntries(rows.map(([c, sent, entered, verified]) => [c, { sent: +sent, entered: +entered, verified: +verified }]));
  }

  /** The dashboard_delivery calls the page makes, with their arguments. */
  function watchDelivery(page) {
    const calls = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/rpc/dashboard_delivery')) calls.push(JSON.parse(r.postData() ?? '{}'));
    });
    return calls;
  }

  async function waitFor(what, predicate, timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  before(async () => {
    await harness.start();
    psqlFile(path.join(repoDir, 'test/demo/history.sql'), { mock_url: harness.mock });
    stack().sql(`
      -- a paused campaign, three of its messages waiting in the promo lane for ten minutes
      WITH c AS (
        INSERT INTO sms_otp.sms_campaigns (name, status, pause_reason, text, audience, recipients, pending, sent,
                                           delivered, failed, skipped, stops, created_at, launched_at, paused_at)
        VALUES ('Spring sale', 'paused', 'stop_rate', 'Spring sale: 20% off. Reply STOP to opt out.', '[]',
                200, 50, 150, 140, 6, 0, 4, now() - interval '2 hours', now() - interval '2 hours', now() - interval '1 hour')
        RETURNING id)
      INSERT INTO sms_otp.sms_outbox (kind, "to", body, campaign_id, next_attempt_at, created_at)
      SELECT 'promo', '+4474001234' || i, 'Spring sale: 20% off. Reply STOP to opt out.', c.id,
             now() - interval '10 minutes', now() - interval '10 minutes'
      FROM c, generate_series(10, 12) i;
      -- a code a worker holds (leased for an hour), queued 45 seconds ago
      INSERT INTO sms_otp.sms_outbox (kind, "to", body, next_attempt_at, lease_until, created_at)
      VALUES ('otp', '+14155550199', 'held', now() + interval '1 hour', now() + interval '1 hour', now() - interval '45 seconds');
      UPDATE sms_otp.api_integrations SET enabled = false WHERE name = 'console';`);
  }, { timeout: 180_000 });
  after(() => harness.stop());

  it('shows every panel with the figures of the rows behind it, at desktop width', async () => {
    const context = await harness.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    const problems = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && !/status of 4\d\d/.test(m.text()) && problems.push(m.text()));
    const calls = watchDelivery(page);

    // The operator signs in on the demo's own login page and lands on the dashboard.
    await signIn(page, harness, OPERATOR);
    await page.getByRole('heading', { name: 'Delivery', exact: true }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/dashboard');
    await page.getByTestId('delivery-rate').waitFor();
    for (const id of ['delivery', 'latency', 'cost', 'otp', 'queue', 'providers', 'campaigns']) {
      await page.locator(`[data-testid="panel-${id}"][data-state="ready"]`).waitFor();
    }
    const first = calls[0];
    assert.equal(first.bucket, 'hour');
    assert.deepEqual(first.dims, ['provider']);

    // Delivery: the rate of every provider together and of each, and the attempts.
    const day = expected(first.since, 'hour');
    assert.ok(day.providers.twilio && day.providers.vonage, 'the week of traffic has both providers in the last day');
    assert.equal(await page.getByTestId('delivery-rate').textContent(), day.rate(day.all));
    assert.equal(await page.getByTestId('delivery-attempted').textContent(), count(day.all.attempted));
    const byProvider = page.getByRole('table', { name: 'Delivery by provider' });
    for (const name of ['twilio', 'vonage']) {
      const row = byProvider.getByRole('row', { name: new RegExp(`^${name}`) });
      const cells = await row.locator('td').allTextContents();
      assert.equal(cells[0], count(day.providers[name].attempted), `${name} attempts`);
      assert.equal(cells[4], count(day.providers[name].delivered), `${name} delivered`);
      assert.equal(cells[8], day.rate(day.providers[name]), `${name} delivery rate`);
    }
    // uPlot drew both charts over the 24 or 25 hours of the range.
    const points = await page.locator('[data-testid="panel-delivery"] .dash-chart').evaluateAll((els) => els.map((e) => [e.dataset.points, e.querySelectorAll('canvas').length]));
    assert.equal(points.length, 2);
    for (const [n, canvases] of points) {
      assert.ok(+n === 24 || +n === 25, `hour buckets: ${n}`);
      assert.equal(canvases, 1);
    }

    // Latency: the send stage counts every accepted attempt (each was queued first).
    const latency = page.getByRole('table', { name: 'Latency by provider' });
    const twilioSend = await latency.getByRole('row', { name: /^twilio/ }).first().locator('td').allTextContents();
    assert.equal(twilioSend[0], 'send');
    assert.equal(twilioSend[1], count(day.providers.twilio.accepted));
    assert.match(twilioSend[2], /^\d+ ms$/); // p50 of 60 to 400 ms responses and 15 to 265 ms queueing
    assert.equal(await page.locator('[data-testid="panel-latency"] .dash-chart canvas').count(), 2);

    // Cost: parts x the price of the provider and country, over the accepted attempts.
    assert.equal(await page.getByTestId('cost-total').textContent(), cost(day.all.cost));

    // Codes: Indonesia's codes are almost never entered, and it is flagged; the US converts.
    const codes = funnel(first.since);
    assert.ok(codes.ID.sent >= 20 && (codes.ID.sent - codes.ID.entered) / codes.ID.sent > 0.4);
    assert.equal(await page.getByTestId('otp-flagged').textContent(), 'ID');
    const otp = page.getByRole('table', { name: 'OTP conversion by country' });
    assert.match(await otp.getByRole('row', { name: /Indonesia/ }).textContent(), /possible SMS pumping/);
    const us = await otp.getByRole('row', { name: /United States/ }).locator('td').allTextContents();
    assert.equal(us[1], count(codes.US.sent));
    assert.equal(us[5].trim(), pct(codes.US.verified, codes.US.sent));
    assert.doesNotMatch(us.join(' '), /pumping/);

    // Queue: three promo messages due for ten minutes; one code held by a worker.
    const queue = page.getByRole('table', { name: 'Queue by lane' });
    assert.deepEqual((await queue.getByRole('row', { name: /^promo/ }).locator('td').allTextContents()).slice(0, 3), ['3', '3', '0']);
    assert.match(await queue.getByRole('row', { name: /^promo/ }).locator('td').nth(3).textContent(), /^10 min/);
    assert.deepEqual((await queue.getByRole('row', { name: /^otp/ }).locator('td').allTextContents()).slice(0, 3), ['1', '0', '1']);

    // Providers: as the worker sees them; console was turned off.
    const providers = page.getByRole('table', { name: 'Provider health' });
    assert.match(await providers.getByRole('row', { name: /^twilio/ }).textContent(), /Healthy/);
    assert.match(await providers.getByRole('row', { name: /^console/ }).textContent(), /Disabled/);
    assert.equal(await page.getByText('The delivery worker is not running').count(), 0);

    // Campaigns: the paused one three quarters through, last week's finished.
    assert.equal(await page.getByRole('progressbar', { name: 'Spring sale progress' }).getAttribute('aria-valuenow'), '75');
    assert.match(await page.getByRole('table', { name: 'Campaigns' }).getByRole('row', { name: /^Spring sale/ }).textContent(), /paused\s*stop_rate/);
    assert.equal(await page.getByRole('progressbar', { name: 'Black Friday 2026 progress' }).getAttribute('aria-valuenow'), '100');

    for (const id of ['delivery', 'latency', 'cost', 'otp', 'queue', 'providers', 'campaigns']) {
      await shot(page.getByTestId(`panel-${id}`), `dashboard-${id}`);
    }
    assert.deepEqual(problems, []);
    await context.close();
  });

  // Before the refresh test, whose rows would show in the pictures.
  it('fits a phone: one column, charts as wide as the screen, no sideways scrolling', async () => {
    const context = await harness.browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    await signIn(page, harness, OPERATOR);
    for (const id of ['delivery', 'latency', 'cost', 'otp', 'queue', 'providers', 'campaigns']) {
      await page.locator(`[data-testid="panel-${id}"][data-state="ready"]`).waitFor();
    }
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the page scrolls sideways: ${width}px wide`);
    const boxes = await page.locator('.dash-panel').evaluateAll((els) => els.map((e) => e.getBoundingClientRect()).map((r) => [r.left, r.right]));
    assert.equal(boxes.length, 7);
    for (const [left, right] of boxes) assert.ok(left >= 0 && right <= 390, `a panel is off screen: ${left}..${right}`);
    // One column: every panel starts at the same x.
    assert.equal(new Set(boxes.map(([left]) => Math.round(left))).size, 1);
    const charts = await page.locator('.dash-chart canvas').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().right));
    assert.equal(charts.length, 5);
    for (const right of charts) assert.ok(right <= 390, `a chart is off screen: ${right}`);
    // The tables keep their main columns on a phone, and those fit without scrolling sideways.
    const tables = await page.locator('.dash-table-box').evaluateAll((els) => els.map((e) => [e.querySelector('table')?.getAttribute('aria-label'), e.scrollWidth, e.clientWidth]));
    assert.equal(tables.length, 7);
    for (const [name, scroll, client] of tables) assert.ok(scroll <= client + 1, `${name} is ${scroll}px wide in ${client}px`);
    for (const name of ['Refresh now', 'Sign out']) {
      const box = await page.getByRole('button', { name }).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `${name} is off screen`);
    }
    for (const id of ['delivery', 'latency', 'cost', 'otp', 'queue', 'providers', 'campaigns']) {
      await shot(page.getByTestId(`panel-${id}`), `dashboard-phone-${id}`);
    }
    await context.close();
  });

  it('fetches again for another time range, with day buckets beyond 48 hours', async () => {
    const context = await harness.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    const calls = watchDelivery(page);
    await signIn(page, harness, OPERATOR);
    await page.getByTestId('delivery-rate').waitFor();
    const day = expected(calls[0].since, 'hour');

    await page.getByRole('radio', { name: '7 d' }).check();
    await waitFor('a call for 7 days', () => calls.some((c) => c.bucket === 'day'));
    const weekCall = calls.find((c) => c.bucket === 'day');
    assert.equal(Date.parse(weekCall.until) - Date.parse(weekCall.since), 7 * 86400_000);
    assert.equal(new URL(page.url()).search, '?range=7d');
    const week = expected(weekCall.since, 'day');
    assert.ok(week.all.attempted > day.all.attempted, 'the week holds more than the day');
    await page.getByTestId('delivery-attempted').filter({ hasText: new RegExp(`^${count(week.all.attempted)}$`) }).waitFor();
    assert.equal(await page.getByTestId('delivery-rate').textContent(), week.rate(week.all));
    assert.equal(await page.getByRole('figure').filter({ hasText: 'Attempts per day' }).count(), 1);
    const points = await page.locator('[data-testid="panel-delivery"] .dash-chart').first().getAttribute('data-points');
    assert.ok(+points >= 7 && +points <= 8, `day buckets: ${points}`);

    // An hour: hour buckets again, only the last hour's attempts.
    await page.getByRole('radio', { name: '1 h' }).check();
    await waitFor('a call for 1 hour', () => calls.some((c) => Date.parse(c.until) - Date.parse(c.since) === 3600_000));
    const hourCall = calls.find((c) => Date.parse(c.until) - Date.parse(c.since) === 3600_000);
    assert.equal(hourCall.bucket, 'hour');
    const hour = expected(hourCall.since, 'hour');
    await page.getByTestId('delivery-attempted').filter({ hasText: new RegExp(`^${count(hour.all.attempted)}$`) }).waitFor();
    assert.ok(hour.all.attempted < day.all.attempted);

    // The range is in the URL: a reload keeps it.
    await page.reload();
    await page.getByRole('radio', { name: '1 h' }).and(page.locator(':checked')).waitFor();
    await context.close();
  });

  it('refreshes on request and by itself', async () => {
    const context = await harness.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    const calls = watchDelivery(page);
    await signIn(page, harness, OPERATOR);
    await page.getByTestId('delivery-rate').waitFor();
    const before = expected(calls[0].since, 'hour');

    // Forty failed twilio attempts now: the rate must fall once the page asks again.
    stack().sql(`
      INSERT INTO sms_otp.sms_messages_log ("to", type, provider_name, status_code, response_time_ms, outcome,
                                            delivery_status, delivery_at, segments, requested_at, queued_at, created_at)
      SELECT '+14155553' || lpad(i::text, 3, '0'), 'transactional', 'twilio', 201, 100, 'sent', 'failed', now(), 1,
             now() - interval '100 ms', now() - interval '150 ms', now()
      FROM generate_series(1, 40) i`);
    assert.equal(await page.getByTestId('delivery-rate').textContent(), before.rate(before.all));
    const n = calls.length;
    await page.getByRole('button', { name: 'Refresh now' }).click();
    await waitFor('the refresh', () => calls.length === n + 1);
    const after = expected(calls[n].since, 'hour');
    assert.equal(after.all.attempted, before.all.attempted + 40);
    assert.notEqual(after.rate(after.all), before.rate(before.all));
    await page.getByTestId('delivery-attempted').filter({ hasText: new RegExp(`^${count(after.all.attempted)}$`) }).waitFor();
    assert.equal(await page.getByTestId('delivery-rate').textContent(), after.rate(after.all));

    // Auto-refresh (every 15 s) loads again with no click, once the load above has ended.
    await page.waitForFunction(() => !document.querySelector('.dash-refresh button')?.disabled);
    const loadedAt = await page.getByTestId('refresh-state').getAttribute('data-loaded-at');
    await page.waitForFunction((t) => {
      const v = document.querySelector('[data-testid="refresh-state"]')?.getAttribute('data-loaded-at');
      return v && v !== t;
    }, loadedAt, { timeout: 30000 });
    assert.equal(calls.length, n + 2);
    await context.close();
  });

  it("refuses an end user's token, and the page says it is for operators only", async () => {
    // The API: alice's token and no token at all get 403 from every dashboard function.
    const alice = await harness.apiLogin(ALICE);
    for (const fn of ['dashboard_delivery', 'dashboard_latency', 'dashboard_otp', 'dashboard_campaigns', 'dashboard_queue', 'dashboard_providers']) {
      const answer = await harness.rpc(alice, fn);
      assert.equal(answer.status, 403, fn);
      assert.equal(answer.body.code, 'forbidden', fn);
    }
    const anon = await fetch(`${harness.api}/rpc/dashboard_queue`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Content-Profile': 'sms_otp' },
      body: '{}',
    });
    assert.equal(anon.status, 403);
    const operator = await harness.apiLogin(OPERATOR);
    assert.equal((await harness.rpc(operator, 'dashboard_queue')).status, 200);

    // The page: alice signs in (her SMS step waits), then opens the dashboard.
    const context = await harness.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    const answers = [];
    page.on('response', (r) => r.url().includes('/rpc/dashboard_') && answers.push(r.status()));
    await signIn(page, harness, ALICE);
    await page.getByRole('button', { name: 'Send OTP' }).waitFor();
    await page.goto(`${harness.appUrl}/dashboard`);
    await page.getByRole('heading', { name: 'Operators only' }).waitFor();
    assert.match(await page.getByTestId('operators-only').textContent(), /alice@example\.com is signed in as an end user/);
    assert.equal(await page.getByTestId('panel-delivery').count(), 0);
    assert.ok(answers.length > 0 && answers.every((s) => s === 403), `answers: ${answers}`);
    await shot(page.getByTestId('operators-only'), 'dashboard-operators-only');
    await context.close();
  });
});
