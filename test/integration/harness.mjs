// What the integration tests share: a throwaway cluster with the worker running, the mock
// provider, SQL through psql, and waiting for a condition.
import { execFileSync, spawn } from 'node:child_process';
import { before, after, beforeEach } from 'node:test';
import { mkdtempSync, chmodSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const isRoot = process.getuid() === 0;

function freePort(start) {
  const out = execFileSync('bash', ['-c', `. "${root}/test/lib.sh"; free_port ${start}`]);
  return Number(String(out).trim());
}

export class Cluster {
  constructor(settings = []) {
    this.dir = mkdtempSync('/tmp/sms_otp_it.');
    chmodSync(this.dir, 0o755);
    if (isRoot) execFileSync('chown', ['postgres:', this.dir]);
    this.port = freePort(26000 + Math.floor(Math.random() * 4000));
    this.db = 'sms_otp_it';
    // The mock provider listens on plain http at 127.0.0.1: allowed for tests only.
    this.settings = [`sms_otp.database = '${this.db}'`, "sms_otp.http_allowed_hosts = '127.0.0.1, localhost'", ...settings];
  }

  start() {
    execFileSync('bash', [`${root}/test/cluster.sh`, 'start', `${this.dir}/pg`, String(this.port), ...this.settings],
      { stdio: 'inherit' });
    return this;
  }

  stop() {
    if (process.env.KEEP_CLUSTER) return;  // left running to look at after a failure
    execFileSync('bash', [`${root}/test/cluster.sh`, 'stop', `${this.dir}/pg`], { stdio: 'inherit' });
  }

  // Rows of a query as arrays of strings (psql unaligned, tab-separated).
  sql(query, db = this.db) {
    const out = execFileSync('psql', ['-X', '-q', '-At', '-F', '\t', '-v', 'ON_ERROR_STOP=1',
      '-h', `${this.dir}/pg`, '-p', String(this.port), '-U', 'postgres', '-d', db, '-c', query],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return out.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
  }

  value(query, db) {
    const rows = this.sql(query, db);
    return rows.length ? rows[0][0] : null;
  }

  // Set a worker setting for the whole cluster and make the worker re-read it (SIGHUP).
  reload(settings) {
    for (const [k, v] of Object.entries(settings)) this.sql(`ALTER SYSTEM SET ${k} = '${v}'`, 'postgres');
    this.sql('SELECT pg_reload_conf()', 'postgres');
  }

  // When the postmaster (re)started: a crash of any backend restarts them all and moves it.
  postmasterStart() {
    return this.value('SELECT pg_postmaster_start_time()', 'postgres');
  }

  workerPid() {
    return Number(this.value("SELECT pid FROM pg_stat_activity WHERE backend_type = 'sms_otp delivery worker'", 'postgres') || 0);
  }

  codeWorkerPid() {
    return Number(this.value("SELECT pid FROM pg_stat_activity WHERE backend_type = 'sms_otp code worker'", 'postgres') || 0);
  }
}

export class Mock {
  async start(args = []) {
    this.proc = spawn(process.execPath, [`${root}/test/mock_provider/server.mjs`, '--port', '0', ...args],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    this.url = await new Promise((resolve, reject) => {
      let buf = '';
      this.proc.stdout.on('data', (d) => {
        buf += d;
        const m = buf.match(/listening on (http:\/\/\S+)/);
        if (m) resolve(m[1]);
      });
      this.proc.on('exit', (code) => reject(new Error(`mock provider exited with ${code}`)));
    });
    return this;
  }

  async call(method, p, body) {
    const res = await fetch(this.url + p, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return text ? JSON.parse(text) : null;
  }

  requests(provider) { return this.call('GET', '/_mock/requests' + (provider ? `?provider=${provider}` : '')); }
  clear() { return Promise.all([this.call('DELETE', '/_mock/requests'), this.call('DELETE', '/_mock/faults')]); }
  fault(rule) { return this.call('POST', '/_mock/faults', rule); }
  config(cfg) { return this.call('POST', '/_mock/config', cfg); }
  inbox() { return this.call('GET', '/inbox.json'); }
  // {total, by_provider, by_status, open, peak}: `peak` is the most provider requests open at once.
  stats() { return this.call('GET', '/_mock/stats'); }
  resetStats() { return this.call('DELETE', '/_mock/stats'); }
  stop() { this.proc?.kill('SIGTERM'); }
}

export async function waitFor(what, check, { timeout = 20000, interval = 50 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await sleep(interval);
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

// Queue a message as otp_send would, waking the worker on commit.
export function enqueue(cluster, { to = '+14155550100', body = 'hello', hint = null, kind = 'transactional', expires = null } = {}) {
  const h = hint ? `'${hint}'` : 'NULL';
  const e = expires ? `'${expires}'::timestamptz` : 'NULL';
  const rows = cluster.sql(`BEGIN;
    INSERT INTO sms_otp.sms_outbox (kind, "to", body, provider_hint, expires_at)
    VALUES ('${kind}', '${to}', '${body.replace(/'/g, "''")}', ${h}, ${e}) RETURNING id;
    SELECT sms_otp._wake_worker_on_commit();
    COMMIT;`);
  return Number(rows[0][0]);
}

// Queue several messages in one transaction, so the worker claims them in one round.
export function enqueueAll(cluster, messages) {
  const values = messages.map(({ to = '+14155550100', body = 'hello', hint = null, kind = 'transactional' }) =>
    `('${kind}', '${to}', '${body.replace(/'/g, "''")}', ${hint ? `'${hint}'` : 'NULL'})`);
  const rows = cluster.sql(`BEGIN;
    INSERT INTO sms_otp.sms_outbox (kind, "to", body, provider_hint) VALUES ${values.join(', ')} RETURNING id;
    SELECT sms_otp._wake_worker_on_commit();
    COMMIT;`);
  return rows.slice(0, messages.length).map((r) => Number(r[0]));
}

export function outbox(cluster, id) {
  const [row] = cluster.sql(`SELECT status, coalesce(provider_name, ''), coalesce(body, '<null>'), attempts
                             FROM sms_otp.sms_outbox WHERE id = ${id}`);
  return row ? { status: row[0], provider: row[1], body: row[2], attempts: Number(row[3]) } : null;
}

export async function delivered(cluster, id, timeout) {
  return waitFor(`message ${id} to settle`, () => {
    const o = outbox(cluster, id);
    return o && o.status !== 'queued' ? o : null;
  }, { timeout });
}

/**
 * The lifecycle every worker suite shares: the mock provider (and any other servers) start, then
 * a cluster with the extension and a running worker; each test starts with the mock reset and no
 * message queued; everything stops at the end. `version` installs an older version of the scripts.
 */
export function useStack(cluster, mock, servers = [], { version = null } = {}) {
  before(async () => {
    await mock.start();
    for (const s of servers) await s.start();
    cluster.start();
    cluster.sql(`CREATE DATABASE ${cluster.db}`, 'postgres');
    cluster.sql(version ? `CREATE EXTENSION sms_otp VERSION '${version}'` : 'CREATE EXTENSION sms_otp');
    await waitFor('the worker', () => cluster.workerPid() > 0);
  });
  after(async () => {
    mock.stop();
    for (const s of servers) await s.stop();
    cluster.stop();
  });
  beforeEach(async () => {
    await mock.call('POST', '/_mock/reset');
    for (const s of servers) s.reset();
    cluster.sql("UPDATE sms_otp.sms_outbox SET status = 'cancelled' WHERE status = 'queued'");
  });
}
