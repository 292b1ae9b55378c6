// What each browser test file stands on: the real stack (test/stack.sh: PostgreSQL with
// sms_otp and its worker, the mock SMS provider, PostgREST 12) on free ports, the demo app
// built against that API and served from a small static server, and Debian's Chromium driven
// by playwright-core (no browser is ever downloaded).
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { Stack } from '../../../test/stack.mjs';

export const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const repoDir = path.resolve(webDir, '..');
export const screenshotDir = path.join(repoDir, 'docs', 'screenshots');

export const ALICE = { email: 'alice@example.com', password: 'alice-password', phone: '+14155550101' };
export const BOB = { email: 'bob@example.com', password: 'bob-password' };

// Short waits so the suite runs in seconds; generous limits so only the limit under test bites.
export const BASE_SETTINGS = [
  'sms_otp.resend_cooldown = 3',
  'sms_otp.rate_limit_per_minute = 1000',
  'sms_otp.rate_limit_per_day = 100000',
  "sms_otp.webotp_domain = '127.0.0.1'",
];

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * Serves a built single-page app: files as they are, every other path gets index.html.
 * `proxy` maps a path prefix to an API: /rest/v1/rpc/x with {'/rest/v1/': api} goes to
 * api/rpc/x, as Supabase's gateway passes /rest/v1/ on to PostgREST.
 */
export function serveStatic(root, { proxy = {} } = {}) {
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const prefix = Object.keys(proxy).find((p) => url.pathname.startsWith(p));
    if (prefix) return forward(req, res, new URL(url.pathname.slice(prefix.length) + url.search, `${proxy[prefix]}/`));
    let file = path.normalize(path.join(root, decodeURIComponent(url.pathname)));
    if (!file.startsWith(root) || !existsSync(file) || statSync(file).isDirectory()) file = path.join(root, 'index.html');
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'Cache-Control': 'no-store' });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function forward(req, res, target) {
  const headers = { ...req.headers, host: target.host };
  const upstream = httpRequest(target, { method: req.method, headers }, (answer) => {
    res.writeHead(answer.statusCode, answer.headers);
    answer.pipe(res);
  });
  upstream.on('error', () => {
    res.writeHead(502);
    res.end();
  });
  req.pipe(upstream);
}

/** Builds the demo app against the given API into a fresh directory. */
function buildApp(apiUrl, inboxUrl) {
  const outDir = mkdtempSync(path.join(os.tmpdir(), 'sms_otp_web.'));
  execFileSync(process.execPath, [path.join(webDir, 'node_modules/vite/bin/vite.js'), 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'], {
    cwd: webDir,
    env: { ...process.env, VITE_API_URL: apiUrl, VITE_INBOX_URL: inboxUrl },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return outDir;
}

export class Harness {
  // demo: build and serve the demo app (appUrl); without it, only the stack and the browser.
  constructor({ settings = [], demo = true } = {}) {
    this.settings = [...BASE_SETTINGS, ...settings];
    this.demo = demo;
  }

  async start() {
    this.stack = new Stack({ settings: this.settings }).start();
    this.api = this.stack.api;
    this.mock = this.stack.mock;
    if (this.demo) {
      this.outDir = buildApp(this.api, `${this.mock}/`);
      this.server = await serveStatic(this.outDir);
      this.appUrl = `http://127.0.0.1:${this.server.address().port}`;
    }
    this.browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    return this;
  }

  async stop() {
    await this.browser?.close().catch(() => {});
    await new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve()));
    if (this.outDir) rmSync(this.outDir, { recursive: true, force: true });
    this.stack?.stop();
  }

  /** A fresh browser context (empty storage) and page; phone: a 360x740 touch screen. */
  async newPage({ phone = false } = {}) {
    const context = await this.browser.newContext(
      phone
        ? { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }
        : { viewport: { width: 1024, height: 720 } },
    );
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    const problems = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of (4\d\d|503)/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    page.problems = problems;
    return page;
  }

  /** Forget every code, lockout and message, so each test starts from a clean account. The
   *  outbox is named first: the worker locks it before the sessions, and so must this. */
  async reset() {
    this.stack.sql(`TRUNCATE sms_otp.sms_outbox, sms_otp.sms_otp_sessions, sms_otp.sms_messages_log, sms_otp.user_lockouts`);
    // Wrong codes are also counted in shared memory, which outlives the tables' rows.
    this.stack.sql(`SELECT sms_otp.reset_lockout(user_id) FROM sms_otp.user_contact_settings`);
    await this.mockPost('/_mock/faults', null, 'DELETE');
    await fetch(`${this.mock}/_mock/callbacks`, { method: 'DELETE' }); // receipt rules a test left
    await fetch(`${this.mock}/_mock/requests`, { method: 'DELETE' });
  }

  async mockPost(pathname, body, method = 'POST') {
    const res = await fetch(`${this.mock}${pathname}`, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: body === null ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${pathname}: ${res.status} ${await res.text()}`);
    return res.json().catch(() => null);
  }

  /** The newest message to `to` in the mock's inbox whose id is above `afterId`. */
  async waitForSms(to, { afterId = 0, timeoutMs = 10000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const res = await fetch(`${this.mock}/inbox.json?to=${encodeURIComponent(to)}`);
      const inbox = await res.json();
      const message = inbox.find((m) => m.id > afterId);
      if (message) return message;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no SMS to ${to} within ${timeoutMs} ms`);
  }

  /** Runs `send` (what makes the app ask for a code) and returns the SMS that follows it. */
  async smsAfter(to, send) {
    const before = await this.lastSmsId(to);
    await send();
    return this.waitForSms(to, { afterId: before });
  }

  async lastSmsId(to) {
    const inbox = await (await fetch(`${this.mock}/inbox.json?to=${encodeURIComponent(to)}`)).json();
    return inbox.length ? inbox[0].id : 0;
  }

  /** Signs in through the demo API (not the page), for calls made beside the browser. */
  async apiLogin(user) {
    const res = await fetch(`${this.api}/rpc/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Content-Profile': 'demo' },
      body: JSON.stringify({ email: user.email, password: user.password }),
    });
    if (!res.ok) throw new Error(`login: ${res.status} ${await res.text()}`);
    return (await res.json()).token;
  }

  async rpc(token, fn, args = {}) {
    const res = await fetch(`${this.api}/rpc/${fn}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Content-Profile': 'sms_otp', Authorization: `Bearer ${token}` },
      body: JSON.stringify(args),
    });
    return { status: res.status, body: await res.json() };
  }
}

/** Saves a screenshot under docs/screenshots/ (SCREENSHOTS=0 skips it). */
export async function screenshot(page, name) {
  if (process.env.SCREENSHOTS === '0') return;
  await page.waitForTimeout(250); // let transitions settle
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`) });
}

/** Signs in on the demo's login page. */
export async function signIn(page, harness, user, { shot } = {}) {
  await page.goto(`${harness.appUrl}/login`);
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  if (shot) await screenshot(page, shot);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

export function dialog(page) {
  return page.getByRole('dialog');
}

/** Types a code into the overlay's field (one key at a time, as a person would). */
export async function typeCode(page, code) {
  const input = page.locator('input[autocomplete="one-time-code"]');
  await input.focus();
  await page.keyboard.type(code, { delay: 20 });
}

/** A code of the same length that is certainly not `code`. */
export function wrongCode(code) {
  return code
    .split('')
    .map((d) => String((Number(d) + 1) % 10))
    .join('');
}
