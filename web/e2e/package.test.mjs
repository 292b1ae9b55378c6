// The package as an application gets it: `npm pack` of web/, installed from the tarball into
// fresh Vite React apps beside React and a PostgREST client from the registry, type-checked
// against the shipped declarations, built, served, and used in Chromium on the real stack.
//   postgrest: React 19, @supabase/postgrest-js, <OtpProvider apiUrl>, the theme set on :root
//   supabase:  React 18, @supabase/supabase-js, <OtpProvider client={supabase}> through a
//              /rest/v1/ gateway (as Supabase serves PostgREST), the theme set on .sms-otp-root
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { signJwt } from '../../test/stack.mjs';
import { ALICE, Harness, dialog, serveStatic, typeCode, webDir } from './support/harness.mjs';

const COMMON = { vite: '7.3.8', typescript: '5.9.3' };
const APPS = {
  postgrest: {
    dependencies: { react: '19.2.9', 'react-dom': '19.2.9', '@supabase/postgrest-js': '2.109.0' },
    devDependencies: { ...COMMON, '@types/react': '19.2.9', '@types/react-dom': '19.2.3' },
    react: '19.2.9',
    accent: 'rgb(0, 128, 96)',
    // Every declaration file is checked, the package's own included.
    skipLibCheck: false,
  },
  supabase: {
    dependencies: { react: '18.3.1', 'react-dom': '18.3.1', '@supabase/supabase-js': '2.109.0' },
    devDependencies: { ...COMMON, '@types/react': '18.3.32', '@types/react-dom': '18.3.7' },
    react: '18.3.1',
    accent: 'rgb(160, 32, 96)',
    // As Vite's own templates: supabase-js's declarations name Node's Buffer, which a browser
    // app has no types for. The package's types are still checked through their use.
    skipLibCheck: true,
  },
};

/** Runs a command; its output is shown only when it fails. */
function run(command, args, options) {
  return new Promise((resolve, reject) => {
    execFile(command, args, { maxBuffer: 64 * 1024 * 1024, ...options }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed (${error.code}):\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

const NPM_ENV = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };

// The app's own backend module: where the overlay's calls go, and how a user signs in (the
// stack's demo login, schema "demo", standing in for the application's own).
const BACKEND = {
  postgrest: `import { PostgrestClient } from '@supabase/postgrest-js';

const apiUrl = import.meta.env.VITE_API_URL as string;

export const otpTarget = { apiUrl };

export async function login(email: string, password: string): Promise<string | null> {
  const { data } = await new PostgrestClient(apiUrl, { schema: 'demo' }).rpc('login', { email, password });
  return (data as { token?: string } | null)?.token ?? null;
}
`,
  supabase: `import { createClient } from '@supabase/supabase-js';

export const supabase = createClient(window.location.origin, import.meta.env.VITE_SUPABASE_ANON_KEY as string, {
  auth: { persistSession: false, autoRefreshToken: false },
});

export const otpTarget = { client: supabase };

export async function login(email: string, password: string): Promise<string | null> {
  const { data } = await supabase.schema('demo').rpc('login', { email, password });
  return (data as { token?: string } | null)?.token ?? null;
}
`,
};

const THEME = {
  postgrest: `:root {\n  --sms-otp-accent: ${APPS.postgrest.accent};\n  --sms-otp-radius: 3px;\n}\n`,
  supabase: `.sms-otp-root {\n  --sms-otp-accent: ${APPS.supabase.accent};\n  --sms-otp-font: Georgia, serif;\n}\n`,
};

const MAIN = `import { StrictMode, useState, version, type FormEvent } from 'react';
import { createRoot } from 'react-dom/client';
import { OtpProvider, ProtectedRoute, useOtp } from '@sms-otp/web';
import '@sms-otp/web/style.css';
import './theme.css';
import { login, otpTarget } from './backend';

function Login({ onSignedIn }: { onSignedIn: (token: string) => void }) {
  const [error, setError] = useState('');
  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const token = await login(String(form.get('email')), String(form.get('password')));
    if (token) onSignedIn(token);
    else setError('Wrong email or password.');
  }
  return (
    <form onSubmit={submit}>
      <label>Email <input name="email" type="email" /></label>
      <label>Password <input name="password" type="password" /></label>
      <button type="submit">Sign in</button>
      {error && <p role="alert">{error}</p>}
    </form>
  );
}

function Unlocked() {
  const { otpVerified } = useOtp();
  return <p data-testid="unlocked">Unlocked ({String(otpVerified)}) on React {version}</p>;
}

function App() {
  const [token, setToken] = useState<string | null>(null);
  return (
    <OtpProvider {...otpTarget} token={token} onSignOut={() => setToken(null)}>
      <ProtectedRoute unauthenticated={<Login onSignedIn={setToken} />}>
        <Unlocked />
      </ProtectedRoute>
    </OtpProvider>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
`;

// Never imported: tsc only. The declarations must be real types, not any: each line below is
// a mistake they have to catch.
const TYPE_CHECKS = `import { composePhone, createOtpApi, OtpProvider, OtpSettings, type Country, type OtpRpcClient, type SettingsNotice } from '@sms-otp/web';

// @ts-expect-error: a URL or a client is needed
createOtpApi({ token: 't' });
// The settings panel: its props, its list of countries and what onChange reports.
const countries: Country[] = [{ code: 'GB', name: 'United Kingdom', dial: '44' }];
export const settings = <OtpSettings countries={countries} defaultCountry="GB" onChange={(c: SettingsNotice) => c} />;
export const e164: string | null = composePhone('44', '07700 900123');
// @ts-expect-error: a country is {code, name, dial}
export const badCountries = <OtpSettings countries={[{ code: 'GB' }]} />;
// @ts-expect-error: onChange reports 'enabled', 'changed' or 'disabled'
export const badNotice: SettingsNotice = 'removed';
// @ts-expect-error: not a client
export const notAClient: OtpRpcClient = { rpc: () => null };
// @ts-expect-error: token is a string or null
export const badToken = <OtpProvider apiUrl="http://x" token={42} />;
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    lib: ['ES2022', 'DOM', 'DOM.Iterable'],
    module: 'ESNext',
    moduleResolution: 'bundler',
    jsx: 'react-jsx',
    strict: true,
    noEmit: true,
    isolatedModules: true,
    types: ['vite/client'],
  },
  include: ['src'],
};

const INDEX_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="UTF-8" />
    <link rel="icon" href="data:," />
    <title>A fresh app</title>
  </head>
  <body>
    <div id="root"></div>
    <script type="module" src="/src/main.tsx"></script>
  </body>
</html>
`;

/** Writes the app, installs it from the tarball and the registry, and builds it. */
async function makeApp(root, name, tarball, env) {
  const dir = path.join(root, name);
  mkdirSync(path.join(dir, 'src'), { recursive: true });
  const spec = APPS[name];
  const pkg = {
    name: `fresh-${name}-app`,
    private: true,
    type: 'module',
    dependencies: { '@sms-otp/web': `file:${tarball}`, ...spec.dependencies },
    devDependencies: spec.devDependencies,
  };
  writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  const tsconfig = { ...TSCONFIG, compilerOptions: { ...TSCONFIG.compilerOptions, skipLibCheck: spec.skipLibCheck } };
  writeFileSync(path.join(dir, 'tsconfig.json'), `${JSON.stringify(tsconfig, null, 2)}\n`);
  writeFileSync(path.join(dir, 'index.html'), INDEX_HTML);
  writeFileSync(path.join(dir, 'src/main.tsx'), MAIN);
  writeFileSync(path.join(dir, 'src/backend.ts'), BACKEND[name]);
  writeFileSync(path.join(dir, 'src/theme.css'), THEME[name]);
  writeFileSync(path.join(dir, 'src/type-checks.tsx'), TYPE_CHECKS);
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: dir, env: NPM_ENV });
  // The type check runs beside the build; its test reads the outcome.
  const typecheck = run(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.'], { cwd: dir }).then(
    () => null,
    (error) => error,
  );
  await run(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--logLevel', 'warn'], { cwd: dir, env: { ...process.env, ...env } });
  return { dir, dist: path.join(dir, 'dist'), typecheck };
}

describe('the packed package in a fresh Vite React app', { timeout: 180_000 }, () => {
  const harness = new Harness({ demo: false });
  const work = mkdtempSync(path.join(os.tmpdir(), 'sms_otp_package.'));
  const apps = {};
  const servers = [];

  before(async () => {
    // The tarball is packed (prepack builds dist/) while the stack starts, from a copy of web/
    // so that runs side by side never share a dist/.
    const source = path.join(work, 'web');
    cpSync(webDir, source, { recursive: true, filter: (f) => !/^(node_modules|dist|dist-demo)$|\.tgz$/.test(path.basename(f)) });
    symlinkSync(path.join(webDir, 'node_modules'), path.join(source, 'node_modules'));
    const packed = run('npm', ['pack', '--pack-destination', work, '--loglevel=error'], { cwd: source, env: NPM_ENV });
    await harness.start();
    await packed;
    const tarball = path.join(work, readdirSync(work).find((f) => f.endsWith('.tgz')));
    const env = { VITE_API_URL: harness.api, VITE_SUPABASE_ANON_KEY: signJwt({ role: 'anon' }, harness.stack.secret) };
    const [postgrest, supabase] = await Promise.all([makeApp(work, 'postgrest', tarball, env), makeApp(work, 'supabase', tarball, env)]);
    Object.assign(apps, { postgrest, supabase });
    for (const [name, app] of Object.entries(apps)) {
      const server = await serveStatic(app.dist, name === 'supabase' ? { proxy: { '/rest/v1/': harness.api } } : {});
      servers.push(server);
      app.url = `http://127.0.0.1:${server.address().port}`;
    }
  }, { timeout: 170_000 });

  after(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    await harness.stop();
    if (!process.env.KEEP_STACK) rmSync(work, { recursive: true, force: true });
  });

  beforeEach(() => harness.reset());

  it('ships ESM, declarations and the stylesheet, and no sources or tests', async () => {
    const files = (await run('tar', ['-tzf', path.join(work, readdirSync(work).find((f) => f.endsWith('.tgz')))], {})).split('\n').filter(Boolean);
    for (const f of ['package/package.json', 'package/dist/index.js', 'package/dist/index.d.ts', 'package/dist/style.css']) {
      assert.ok(files.includes(f), `${f} is missing from the tarball`);
    }
    assert.deepEqual(files.filter((f) => /\/(src|test|e2e|node_modules)\//.test(f)), []);
  });

  for (const name of Object.keys(APPS)) {
    it(`${name}: the shipped declarations type-check the app (tsc --noEmit)`, async () => {
      const error = await apps[name].typecheck;
      if (error) throw error;
    });

    it(`${name}: signs in, shows the themed overlay, takes the SMS code and unlocks the app`, async () => {
      const page = await harness.newPage();
      const rpcs = [];
      page.on('request', (r) => {
        if (r.url().includes('/rpc/otp_')) rpcs.push(new URL(r.url()).pathname);
      });
      await page.goto(apps[name].url);
      await page.getByLabel('Email').fill(ALICE.email);
      await page.getByLabel('Password').fill(ALICE.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await dialog(page).getByRole('button', { name: 'Send OTP' }).waitFor();

      // The shipped stylesheet is applied, with the app's custom properties over its defaults.
      const look = await page.evaluate(() => {
        const style = (selector) => getComputedStyle(document.querySelector(selector));
        return {
          accent: style('.sms-otp-primary').backgroundColor,
          radius: style('.sms-otp-dialog').borderRadius,
          surface: style('.sms-otp-dialog').backgroundColor,
          font: style('.sms-otp-dialog').fontFamily,
          backdrop: style('.sms-otp-backdrop').position,
        };
      });
      assert.equal(look.accent, APPS[name].accent);
      assert.equal(look.surface, 'rgb(255, 255, 255)');
      assert.equal(look.backdrop, 'fixed');
      if (name === 'postgrest') {
        assert.equal(look.radius, '3px');
        assert.match(look.font, /system-ui/);
      } else {
        assert.equal(look.radius, '12px');
        assert.match(look.font, /^Georgia/);
      }

      const sms = await harness.smsAfter(ALICE.phone, () => page.getByRole('button', { name: 'Send OTP' }).click());
      await page.getByText('Code expires in').waitFor();
      await typeCode(page, sms.code);
      await page.getByTestId('unlocked').waitFor();
      assert.equal(await page.getByTestId('unlocked').textContent(), `Unlocked (true) on React ${APPS[name].react}`);
      assert.equal(await page.getByRole('dialog').count(), 0);

      // Each call went where the app's client sends it.
      const prefix = name === 'supabase' ? '/rest/v1/rpc/' : '/rpc/';
      for (const fn of ['otp_status', 'otp_send', 'otp_verify']) assert.ok(rpcs.includes(`${prefix}${fn}`), `${prefix}${fn} in ${rpcs}`);
      assert.deepEqual(page.problems, []);
      await page.context().close();
    });
  }
});
