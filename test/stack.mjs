// The node side of test/stack.sh: start a stack on free ports in a temp directory, read its
// stack.env, run SQL as the superuser, sign JWTs, and stop it. Used by the HTTP tests; the
// browser tests and benchmarks can use it too.
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function freePort(start) {
  const out = execFileSync('bash', ['-c', `. "${root}/test/lib.sh"; free_port ${start}`]);
  return Number(String(out).trim());
}

// KEY=value lines, as test/stack.sh writes them.
export function readEnvFile(file) {
  const env = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = line.match(/^([A-Z_][A-Z0-9_]*)=(.*)$/);
    if (m) env[m[1]] = m[2];
  }
  return env;
}

// A compact HS256 JWT, as PostgREST verifies them.
export function signJwt(claims, secret) {
  const part = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
  const input = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

export class Stack {
  // settings: postgresql.conf lines for the new cluster (STACK_PG_SETTINGS).
  // front: 'nginx' serves the API through nginx only (STACK_FRONT); pooler: 'pgbouncer' puts
  // pgbouncer between PostgREST and PostgreSQL (STACK_POOLER). Both default to the
  // environment's STACK_FRONT / STACK_POOLER, so a whole suite can run through them.
  // corsOrigins: origins nginx allows (STACK_CORS_ORIGINS).
  constructor({ settings = [], front = process.env.STACK_FRONT ?? '', pooler = process.env.STACK_POOLER ?? '',
    corsOrigins = [] } = {}) {
    this.dir = mkdtempSync('/tmp/sms_otp_stack.');
    chmodSync(this.dir, 0o755);
    this.settings = settings;
    this.front = front;
    this.pooler = pooler;
    this.corsOrigins = corsOrigins;
  }

  start() {
    // Ports from a random offset, so suites running side by side rarely meet; below the
    // kernel's ephemeral range (32768 and up), so no outgoing connection holds one of them
    // between the check and the server's bind.
    const base = 20000 + Math.floor(Math.random() * 10000);
    const apiPort = freePort(base);
    const mockPort = freePort(apiPort + 1);
    const proxyPort = freePort(mockPort + 1);
    const pgPort = freePort(proxyPort + 1);
    const poolerPort = freePort(pgPort + 1);
    execFileSync('bash', [`${root}/test/stack.sh`, 'start', this.dir], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: {
        ...process.env,
        STACK_API_PORT: String(apiPort),
        STACK_MOCK_PORT: String(mockPort),
        STACK_PROXY_PORT: String(proxyPort),
        STACK_PG_PORT: String(pgPort),
        STACK_POOLER_PORT: String(poolerPort),
        STACK_PG_SETTINGS: this.settings.join('\n'),
        STACK_FRONT: this.front,
        STACK_POOLER: this.pooler,
        STACK_CORS_ORIGINS: this.corsOrigins.join(' '),
      },
    });
    this.env = readEnvFile(`${this.dir}/stack.env`);
    this.api = this.env.POSTGREST_URL;
    this.mock = this.env.MOCK_URL;
    this.proxy = this.env.PROXY_URL;
    this.apiPort = apiPort;
    this.secret = this.env.JWT_SECRET;
    return this;
  }

  // Stops everything and removes the directory (KEEP_STACK=1 leaves it running, to look at).
  stop() {
    if (process.env.KEEP_STACK) return;
    execFileSync('bash', [`${root}/test/stack.sh`, 'stop', this.dir], { stdio: 'inherit' });
    rmSync(this.dir, { recursive: true, force: true });
  }

  // Rows of a query as arrays of strings, run by the superuser (RLS does not apply).
  sql(query) {
    const out = execFileSync('psql', ['-X', '-q', '-At', '-F', '\t', '-v', 'ON_ERROR_STOP=1',
      '-h', this.env.PGHOST, '-p', this.env.PGPORT, '-U', this.env.PGUSER, '-d', this.env.PGDATABASE,
      '-c', query], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return out.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
  }

  value(query) {
    const rows = this.sql(query);
    return rows.length ? rows[0][0] : null;
  }
}
