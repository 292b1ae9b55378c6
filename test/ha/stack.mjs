// The high-availability stack of test/ha/run.sh on one machine: a single-member etcd, two
// Patroni nodes (each a PostgreSQL 15 with sms_otp preloaded), the mock SMS provider, and the
// real PostgREST with a multi-host db-uri that only connects where writes are accepted.
//
// Every process runs in a session of its own with its pid in DIR/<name>.pid, so that run.sh
// can stop whatever is left if this process dies. As root, Patroni and PostgreSQL run as the
// postgres user (PostgreSQL refuses root), the way test/cluster.sh runs a cluster.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);
const isRoot = process.getuid() === 0;
const owner = isRoot ? { uid: Number(execFileSync('id', ['-u', 'postgres'])), gid: Number(execFileSync('id', ['-g', 'postgres'])) } : null;

export const database = 'sms_otp_ha';

// Polls `check` until it returns something truthy; fails with `what` and the last value seen.
export async function waitFor(what, check, { timeout = 30000, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e.message.split('\n')[0];
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeout / 1000} s waiting for ${what} (last: ${JSON.stringify(last)})`);
    await sleep(interval);
  }
}

function freePorts(count) {
  // From a random offset, so that stacks started side by side on one machine rarely meet.
  const base = 20000 + Math.floor(Math.random() * 10000);
  const out = String(execFileSync('bash', ['-c', `. "${root}/test/lib.sh"; p=${base}
    for i in $(seq ${count}); do p=$(free_port $p); echo $p; p=$((p + 1)); done`]));
  return out.trim().split('\n').map(Number);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export class HaStack {
  // settings: the sms_otp settings of both nodes, as name → value.
  constructor(dir, { synchronous = true, settings = {}, mockDelayMs = 0 } = {}) {
    this.dir = dir;
    this.synchronous = synchronous;
    this.mockDelayMs = mockDelayMs;
    const [etcdClient, etcdPeer, pg1, pg2, api1, api2, mock, postgrest] = freePorts(8);
    this.ports = { etcdClient, etcdPeer, mock, postgrest };
    this.nodes = {
      node1: { name: 'node1', pgPort: pg1, apiPort: api1, dir: `${dir}/node1` },
      node2: { name: 'node2', pgPort: pg2, apiPort: api2, dir: `${dir}/node2` },
    };
    this.mockUrl = `http://127.0.0.1:${mock}`;
    this.apiUrl = `http://127.0.0.1:${postgrest}`;
    this.jwtSecret = randomBytes(36).toString('base64url');
    this.twilio = { account_sid: `AC${randomBytes(16).toString('hex')}`, auth_token: randomBytes(16).toString('hex') };
    this.settings = {
      'sms_otp.database': database,
      'sms_otp.poll_interval': '200ms',
      // The mock provider listens on plain http at 127.0.0.1, refused for a provider unless listed.
      'sms_otp.http_allowed_hosts': '127.0.0.1, localhost',
      // PostgREST is the only client: trust no X-Forwarded-For hop (as test/stack.sh).
      'sms_otp.trusted_proxies': '0',
      ...settings,
    };
    this.bindir = String(execFileSync('pg_config', ['--bindir'])).trim();
  }

  // ---------------------------------------------------------------- processes

  // Starts argv in a session of its own, output to DIR/<name>.log, pid in DIR/<name>.pid (the
  // process itself, not a wrapper); as root, asOwner runs it as postgres.
  async spawn(name, argv, { asOwner = false } = {}) {
    const pidFile = `${this.dir}/${name}.pid`;
    writeFileSync(pidFile, '');
    if (owner) chownSync(pidFile, owner.uid, owner.gid);
    const log = openSync(`${this.dir}/${name}.log`, 'a');
    if (owner) chownSync(`${this.dir}/${name}.log`, owner.uid, owner.gid);
    const inner = ['bash', '-c', 'echo $$ >"$0"; exec "$@"', pidFile, ...argv];
    const cmd = asOwner && isRoot ? ['runuser', '-u', 'postgres', '--', ...inner] : inner;
    const child = spawn(cmd[0], cmd.slice(1), { detached: true, stdio: ['ignore', log, log] });
    child.unref();
    closeSync(log);
    const pid = await waitFor(`${name} to start`, () => {
      const text = readFileSync(pidFile, 'utf8').trim();
      return text ? Number(text) : null;
    }, { timeout: 5000, interval: 10 });
    return pid;
  }

  pid(name) {
    try {
      return Number(readFileSync(`${this.dir}/${name}.pid`, 'utf8').trim()) || null;
    } catch {
      return null;
    }
  }

  logTail(name, lines = 20) {
    try {
      return readFileSync(`${this.dir}/${name}.log`, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  // SIGTERM, then SIGKILL after `graceMs`.
  async stopProcess(name, graceMs = 10000) {
    const pid = this.pid(name);
    if (!pid || !alive(pid)) return;
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (alive(pid) && Date.now() < deadline) await sleep(50);
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }

  // ---------------------------------------------------------------- etcd

  async startEtcd() {
    const { etcdClient, etcdPeer } = this.ports;
    mkdirSync(`${this.dir}/etcd`, { recursive: true });
    await this.spawn('etcd', ['etcd', '--name', 'ha', '--data-dir', `${this.dir}/etcd`,
      '--listen-client-urls', `http://127.0.0.1:${etcdClient}`, '--advertise-client-urls', `http://127.0.0.1:${etcdClient}`,
      '--listen-peer-urls', `http://127.0.0.1:${etcdPeer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeer}`,
      '--initial-cluster', `ha=http://127.0.0.1:${etcdPeer}`, '--initial-cluster-state', 'new',
      '--log-level', 'warn']);
    await waitFor('etcd to answer', async () => {
      if (!alive(this.pid('etcd'))) throw new Error(`etcd exited:\n${this.logTail('etcd')}`);
      const res = await fetch(`http://127.0.0.1:${etcdClient}/health`, { signal: AbortSignal.timeout(1000) });
      return res.ok && (await res.json()).health === 'true';
    }, { timeout: 20000 });
  }

  // ---------------------------------------------------------------- Patroni nodes

  // The node's Patroni configuration. Patroni reads YAML; JSON is YAML too.
  patroniConfig(node) {
    const parameters = {
      unix_socket_directories: node.dir,
      shared_preload_libraries: 'sms_otp',
      fsync: 'off',
      logging_collector: 'on',
      log_directory: `${node.dir}/log`,
      log_filename: 'postgresql.log',
      log_min_messages: 'warning',
      log_line_prefix: '%m [%p] %b ',
      ...this.settings,
    };
    const trust = ['local all all trust', 'host all all 127.0.0.1/32 trust', 'local replication all trust',
      'host replication all 127.0.0.1/32 trust'];
    return {
      scope: 'sms_otp_ha',
      namespace: '/sms_otp_ha/',
      name: node.name,
      log: { level: 'INFO' },
      restapi: { listen: `127.0.0.1:${node.apiPort}`, connect_address: `127.0.0.1:${node.apiPort}` },
      etcd3: { hosts: [`127.0.0.1:${this.ports.etcdClient}`] },
      bootstrap: {
        dcs: {
          // Seconds: a dead leader's key lapses within ttl, and the standby looks every loop_wait.
          // Patroni wants loop_wait + 2 × retry_timeout <= ttl.
          ttl: 10,
          loop_wait: 1,
          retry_timeout: 4,
          maximum_lag_on_failover: 1048576,
          synchronous_mode: this.synchronous,
          postgresql: {
            use_pg_rewind: true,
            use_slots: true,
            remove_data_directory_on_rewind_failure: true,
            remove_data_directory_on_diverged_timelines: true,
            parameters: { wal_log_hints: 'on', max_connections: 200, max_wal_senders: 5, max_replication_slots: 5,
              wal_keep_size: '256MB', hot_standby: 'on' },
          },
        },
        initdb: [{ encoding: 'UTF8' }, { locale: 'C' }, { auth: 'trust' }],
      },
      postgresql: {
        listen: `127.0.0.1:${node.pgPort}`,
        connect_address: `127.0.0.1:${node.pgPort}`,
        data_dir: `${node.dir}/data`,
        bin_dir: this.bindir,
        pgpass: `${node.dir}/pgpass`,
        use_unix_socket: true,
        authentication: { superuser: { username: 'postgres' }, replication: { username: 'postgres' },
          rewind: { username: 'postgres' } },
        parameters,
        pg_hba: trust,
        // A standby is cloned at once, not after a spread checkpoint of the primary.
        basebackup: [{ checkpoint: 'fast' }],
      },
    };
  }

  configFile(node) { return `${node.dir}/patroni.yml`; }

  async startNode(name) {
    const node = this.nodes[name];
    mkdirSync(`${node.dir}/log`, { recursive: true });
    // patronictl reads the same file.
    writeFileSync(this.configFile(node), JSON.stringify(this.patroniConfig(node), null, 2));
    if (owner) for (const p of [node.dir, `${node.dir}/log`, this.configFile(node)]) chownSync(p, owner.uid, owner.gid);
    await this.spawn(`patroni_${name}`, ['patroni', this.configFile(node)], { asOwner: true });
  }

  // The node's state as its Patroni REST API reports it ({role, state, ...}), or null.
  async patroni(name) {
    const node = this.nodes[name];
    try {
      const res = await fetch(`http://127.0.0.1:${node.apiPort}/patroni`, { signal: AbortSignal.timeout(2000) });
      return await res.json();
    } catch {
      return null;
    }
  }

  // The cluster as Patroni sees it: members with name, role, state, timeline, lag.
  async cluster() {
    for (const node of Object.values(this.nodes)) {
      try {
        const res = await fetch(`http://127.0.0.1:${node.apiPort}/cluster`, { signal: AbortSignal.timeout(2000) });
        if (res.ok) return await res.json();
      } catch { /* that node is down: ask the other */ }
    }
    return null;
  }

  async waitNodeUp(name, timeout = 60000) {
    await waitFor(`Patroni ${name} to run PostgreSQL`, async () => {
      if (!alive(this.pid(`patroni_${name}`))) throw new Error(`patroni ${name} exited:\n${this.logTail(`patroni_${name}`)}`);
      const s = await this.patroni(name);
      return s && s.state === 'running' ? s : null;
    }, { timeout, interval: 200 });
  }

  // Waits until `name` leads and the other node streams from it (as the synchronous standby
  // when synchronous_mode is on).
  async waitLeaderWithStandby(leader, timeout = 90000) {
    return waitFor(`${leader} to lead with a streaming standby`, async () => {
      const c = await this.cluster();
      if (!c) return null;
      const lead = c.members.find((m) => m.name === leader && m.role === 'leader' && m.state === 'running');
      const standby = c.members.find((m) => m.name !== leader);
      const wanted = this.synchronous ? 'sync_standby' : 'replica';
      const streaming = standby && standby.role === wanted && (standby.state === 'streaming' || standby.state === 'running');
      if (!lead || !streaming) return null;
      // Patroni says "running" for a replica before it streams: ask the leader.
      const rows = await this.sql(leader, "SELECT state, sync_state FROM pg_stat_replication WHERE application_name = '" +
        standby.name + "'", 'postgres');
      const ok = rows.length && rows[0][0] === 'streaming' && (!this.synchronous || rows[0][1] === 'sync');
      return ok ? c : null;
    }, { timeout, interval: 200 });
  }

  postmasterPid(name) {
    const file = `${this.nodes[name].dir}/data/postmaster.pid`;
    if (!existsSync(file)) return null;
    const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
    return pid && alive(pid) ? pid : null;
  }

  // Node loss: Patroni, the postmaster and every child of it get SIGKILL at once.
  async killNode(name) {
    const victims = [this.pid(`patroni_${name}`), this.postmasterPid(name)].filter(Boolean);
    const postmaster = this.postmasterPid(name);
    if (postmaster) for (const p of await processes()) if (p.ppid === postmaster) victims.push(p.pid);
    for (const pid of victims) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch { /* gone already */ }
    }
    await waitFor(`the processes of ${name} to die`, () => victims.every((pid) => !alive(pid)), { timeout: 10000, interval: 20 });
  }

  async stopNode(name) {
    await this.stopProcess(`patroni_${name}`, 30000);
    // A Patroni killed before it stopped PostgreSQL leaves it running.
    if (this.postmasterPid(name)) {
      const argv = [`${this.bindir}/pg_ctl`, '-D', `${this.nodes[name].dir}/data`, '-m', 'immediate', '-w', 'stop'];
      try {
        await run(isRoot ? 'runuser' : argv[0], isRoot ? ['-u', 'postgres', '--', ...argv] : argv.slice(1));
      } catch { /* already stopping */ }
    }
  }

  async patronictl(name, args) {
    const argv = ['patronictl', '-c', this.configFile(this.nodes[name]), ...args];
    const { stdout } = await run(isRoot ? 'runuser' : argv[0], isRoot ? ['-u', 'postgres', '--', ...argv] : argv.slice(1),
      { timeout: 60000 });
    return stdout;
  }

  // ---------------------------------------------------------------- SQL

  // Rows of a query on a node as arrays of strings, run by the superuser over its socket.
  async sql(name, query, db = database) {
    const node = this.nodes[name];
    const { stdout } = await run('psql', ['-X', '-q', '-At', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-h', node.dir,
      '-p', String(node.pgPort), '-U', 'postgres', '-d', db, '-c', query],
    { env: { ...process.env, PGCONNECT_TIMEOUT: '3' }, timeout: 60000, maxBuffer: 64 << 20 });
    return stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
  }

  async value(name, query, db) {
    const rows = await this.sql(name, query, db);
    return rows.length ? rows[0][0] : null;
  }

  async psqlFiles(name, args) {
    const node = this.nodes[name];
    return run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', node.dir, '-p', String(node.pgPort), '-U', 'postgres',
      ...args], { timeout: 120000 });
  }

  // The database as test/stack.sh sets it up: the PostgREST roles and authenticator, the
  // extension, the demo login and seed, then what this test adds (a probe user, limits).
  async setupDatabase(leader) {
    await this.psqlFiles(leader, ['-d', 'postgres', '-f', `${root}/test/roles.sql`, '-c', `
      DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticator') THEN
              CREATE ROLE authenticator LOGIN NOINHERIT NOCREATEDB NOCREATEROLE NOSUPERUSER;
          END IF;
      END $$;
      GRANT anon, authenticated, service_role TO authenticator;`, '-c', `CREATE DATABASE ${database}`]);
    await this.psqlFiles(leader, ['-d', database, '-1', '-v', `mock_url=${this.mockUrl}`,
      '-v', `twilio_sid=${this.twilio.account_sid}`, '-v', `twilio_token=${this.twilio.auth_token}`,
      '-v', `jwt_secret=${this.jwtSecret}`,
      '-c', 'CREATE EXTENSION sms_otp', '-c', 'CREATE SCHEMA extensions', '-c', 'CREATE EXTENSION pgcrypto SCHEMA extensions',
      '-f', `${root}/test/demo/login.sql`, '-f', `${root}/test/demo/seed.sql`, '-f', `${root}/test/ha/seed.sql`]);
  }

  // ---------------------------------------------------------------- mock provider, PostgREST

  async startMock() {
    const config = `${this.dir}/mock_config.json`;
    writeFileSync(config, JSON.stringify({ twilio: this.twilio, delay_ms: this.mockDelayMs }), { mode: 0o600 });
    await this.spawn('mock', ['node', `${root}/test/mock_provider/server.mjs`, '--port', String(this.ports.mock),
      '--config', config]);
    await waitFor('the mock provider', async () => {
      if (!alive(this.pid('mock'))) throw new Error(`mock exited:\n${this.logTail('mock')}`);
      return (await fetch(`${this.mockUrl}/_mock/health`, { signal: AbortSignal.timeout(1000) })).ok;
    }, { timeout: 20000 });
  }

  async mock(method, p, body) {
    const res = await fetch(this.mockUrl + p, { method, headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined, signal: AbortSignal.timeout(10000) });
    const text = await res.text();
    if (!res.ok) throw new Error(`mock ${method} ${p}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  // The multi-host URI lists both nodes; libpq tries them in turn and keeps the first that
  // accepts writes, so PostgREST always lands on the current primary.
  dbUri() {
    const hosts = Object.values(this.nodes).map((n) => `127.0.0.1:${n.pgPort}`).join(',');
    return `postgres://authenticator@${hosts}/${database}?target_session_attrs=read-write&connect_timeout=2`;
  }

  async startPostgrest(bin) {
    const conf = `${this.dir}/postgrest.conf`;
    writeFileSync(conf, `# PostgREST for the sms_otp HA test (written by test/ha/stack.mjs).
db-uri = "${this.dbUri()}"
db-schemas = "sms_otp,demo"
db-anon-role = "anon"
db-pool = 10
jwt-secret = "${this.jwtSecret}"
server-host = "127.0.0.1"
server-port = ${this.ports.postgrest}
log-level = "info"
`, { mode: 0o600 });
    await this.spawn('postgrest', [bin, conf]);
    await waitFor('PostgREST', async () => {
      if (!alive(this.pid('postgrest'))) throw new Error(`PostgREST exited:\n${this.logTail('postgrest')}`);
      return (await fetch(`${this.apiUrl}/`, { signal: AbortSignal.timeout(1000) })).status === 200;
    }, { timeout: 30000 });
  }

  // POST /rpc/<fn> through PostgREST: {status, body} (body parsed when JSON), or {status: 0,
  // error} when no answer came within timeoutMs.
  async rpc(fn, args, { token, profile, timeoutMs = 3000 } = {}) {
    const headers = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (profile) headers['content-profile'] = profile;
    try {
      const res = await fetch(`${this.apiUrl}/rpc/${fn}`, { method: 'POST', headers, body: JSON.stringify(args),
        signal: AbortSignal.timeout(timeoutMs) });
      const text = await res.text();
      let body = text;
      try { body = JSON.parse(text); } catch { /* not JSON */ }
      return { status: res.status, body };
    } catch (e) {
      return { status: 0, error: e.message };
    }
  }

  // A user's token from the demo login, through PostgREST.
  async login(email, password) {
    const r = await this.rpc('login', { email, password }, { profile: 'demo' });
    if (r.status !== 200) throw new Error(`login ${email}: ${r.status} ${JSON.stringify(r.body ?? r.error)}`);
    return r.body.token;
  }

  // ---------------------------------------------------------------- everything

  async stopAll() {
    await this.stopProcess('postgrest');
    await this.stopProcess('mock');
    // Standby first, so that stopping the leader does not start an election.
    const c = await this.cluster().catch(() => null);
    const leader = c?.members?.find((m) => m.role === 'leader')?.name;
    const order = Object.keys(this.nodes).sort((a, b) => (a === leader) - (b === leader));
    for (const name of order) await this.stopNode(name);
    await this.stopProcess('etcd');
  }
}

// Every process on the machine: pid, parent pid and command line (NULs as spaces).
export async function processes() {
  const out = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // The command name is in parentheses and may hold spaces; the parent pid follows it.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replace(/\0+/g, ' ').trim();
      out.push({ pid: Number(entry), ppid, cmdline });
    } catch { /* it exited meanwhile */ }
  }
  return out;
}
