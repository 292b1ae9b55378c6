// Code latency with and without a backlog: commit of otp_send -> the code's request arriving at
// the mock, first with nothing else queued, then while --backlog transactional messages queued
// ahead of it are being drained, then with nothing queued again (the two idle halves bracket
// the backlog, so drift of a shared machine shows). Measured as bench/latency.mjs measures idle
// latency: the mock runs in this process and stamps each request as it arrives; the commit
// time is clock_timestamp() right before COMMIT, in one persistent psql session.
//   node bench/transactional_latency.mjs --host DIR --port N --db NAME --sends 400 --backlog 1000000
// The mock answers every request after --delay-ms, so the backlog keeps the worker busy. Codes
// and backlog messages go to the same provider row and the same mock; the mock tells them apart
// by the number in the request body (the code's user has a +4474 number, the backlog +4477).
// Codes are sent for at most --backlog-secs after the backlog's commit, at most --backlog-sends
// of them, and only while more than --min-left of the backlog has still to reach the mock; then
// what the worker never claimed is cancelled (as an operator would), and once nothing is
// queued the last idle half is measured. After each code, the same request is posted straight
// to the mock from here (the floor): how long the mock itself, sharing the machine, takes to see
// a request. Prints one JSON line; --out FILE gets every sample (phase, seconds since the
// backlog's commit, backlog left, whether the outbox had been analyzed since the backlog's
// commit, latency ms, the otp_send call's own ms, floor ms).
import http from 'node:http';
import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs, promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { createInterface } from 'node:readline';
import { createMockProvider } from '../test/mock_provider/server.mjs';

const { values: opt } = parseArgs({
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    db: { type: 'string', default: 'bench' },
    sends: { type: 'string', default: '400' },          // idle sends, half before and half after
    backlog: { type: 'string', default: '1000000' },
    'backlog-sends': { type: 'string', default: '5000' },
    'backlog-secs': { type: 'string', default: '150' },
    'min-left': { type: 'string', default: '0.05' },
    'delay-ms': { type: 'string', default: '20' },
    'pause-ms': { type: 'string', default: '50' },
    'drain-timeout-s': { type: 'string', default: '600' },
    user: { type: 'string', default: '1' },
    out: { type: 'string' },
  },
});
const idleSends = Number(opt.sends);
const backlog = Number(opt.backlog);
const maxBacklogSends = Number(opt['backlog-sends']);
const backlogMs = Number(opt['backlog-secs']) * 1000;
const minLeft = Number(opt['min-left']);
const pauseMs = Number(opt['pause-ms']);
const psqlArgs = ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', opt.host, '-p', opt.port, '-U', 'postgres', '-d', opt.db];
const wallNow = () => performance.timeOrigin + performance.now();  // ms since the epoch, sub-ms
const query = async (sql) => (await promisify(execFile)('psql', [...psqlArgs, '-c', sql])).stdout.trim();

// The code's user (as bench/sql/users.sql derives it), and a number no message goes to.
const n = Number(opt.user);
const codePrefix = `To=${encodeURIComponent('+4474' + String(n).padStart(8, '0'))}&`;
const backlogPrefix = 'To=%2B4477';
const floorPhone = '+447499999999';
const floorPrefix = `To=${encodeURIComponent(floorPhone)}&`;

// The mock, with a hook that stamps each provider request as it arrives (its headers read) and,
// once its body is in, says whose it was. The mock reads the body with 'data' listeners too.
const { server } = createMockProvider({ record: false, delayMs: Number(opt['delay-ms']) });
let codeArrived = null;
let floorArrived = null;
const backlogSeen = new Set();   // numbers of the backlog that reached the mock
let backlogRequests = 0;         // requests for them (more than the numbers: a message sent twice)
server.prependListener('request', (req) => {
  if (!req.url.startsWith('/2010-04-01/')) return;
  const at = wallNow();
  let head = '';
  req.on('data', (chunk) => { if (head.length < 64) head += chunk.toString('latin1', 0, 64); });
  req.on('end', () => {
    if (head.startsWith(backlogPrefix)) {
      backlogSeen.add(Number(head.slice(backlogPrefix.length, backlogPrefix.length + 8)));
      backlogRequests++;
    } else if (head.startsWith(codePrefix)) {
      if (codeArrived) codeArrived(at);
    } else if (head.startsWith(floorPrefix)) {
      if (floorArrived) floorArrived(at);
    }
  });
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const url = `http://127.0.0.1:${server.address().port}`;
await query(`UPDATE sms_otp.api_integrations SET base_url = '${url}' WHERE name = 'twilio'`);

// One persistent session sends the codes, as bench/latency.mjs does.
const psql = spawn('psql', psqlArgs, { stdio: ['pipe', 'pipe', 'inherit'] });
const lines = createInterface({ input: psql.stdout });
let committed = null;
let begun = null;
lines.on('line', (line) => {
  const m = /^(begin|commit)_at (\S+)$/.exec(line);
  if (m && m[1] === 'begin' && begun) begun(Number(m[2]) * 1000);
  if (m && m[1] === 'commit' && committed) committed(Number(m[2]) * 1000);
});
const claims = JSON.stringify({ role: 'authenticated', sub: `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`, session_id: `bench-${n}` });
const withTimeout = (promise, ms, what) => {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(what)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
};
// Under a backlog a code may wait as long as the backlog lasts if nothing puts it first: the
// timeout is the drain's, so that such a wait is measured rather than cut short. Returns the
// latency (commit -> arrival) and the call's own time (BEGIN -> right before COMMIT), which the
// user waits for too and which the latency leaves out.
async function sendCode(timeoutMs) {
  const begin = new Promise((resolve) => { begun = resolve; });
  const commit = new Promise((resolve) => { committed = resolve; });
  const arrival = new Promise((resolve) => { codeArrived = resolve; });
  psql.stdin.write(`BEGIN;
SELECT 'begin_at ' || extract(epoch FROM clock_timestamp());
SELECT set_config('request.jwt.claims', '${claims}', true) \\g /dev/null
SELECT sms_otp.otp_send() \\g /dev/null
SELECT 'commit_at ' || extract(epoch FROM clock_timestamp());
COMMIT;
`);
  const [beginAt, commitAt, arrivedAt] = await withTimeout(Promise.all([begin, commit, arrival]), timeoutMs,
                                                           `no code reached the mock within ${timeoutMs / 1000} s`);
  return { ms: arrivedAt - commitAt, call: commitAt - beginAt };
}

// The floor: the request the worker would send, straight from here over a kept-alive connection.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const floorBody = `${floorPrefix}From=%2B15005550006&Body=Hi%20Ada%2C%20your%20table%20for%20booking%20BK-1%20is%20confirmed.`;
function postOne() {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json`, {
      method: 'POST', agent,
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjpiZW5jaA==' },
    }, (res) => { res.resume(); res.on('end', resolve); });
    req.on('error', reject);
    req.end(floorBody);
  });
}
async function floorOne() {
  const arrival = new Promise((resolve) => { floorArrived = resolve; });
  const sentAt = wallNow();
  const done = postOne();
  const ms = (await withTimeout(arrival, 60000, 'the floor request did not reach the mock')) - sentAt;
  await done;
  return ms;
}

const samples = [];  // { phase, t, left, analyzed, ms, call, floor }
let analyzedAt = null;  // when autovacuum first analyzed the outbox after the backlog's commit
let backlogCommitAt = null;
const left = () => backlog - backlogSeen.size;
async function measureOne(phase, timeoutMs) {
  const t = backlogCommitAt ? (wallNow() - backlogCommitAt) / 1000 : 0;
  const leftAtSend = phase === 'backlog' ? left() : 0;
  const analyzed = analyzedAt !== null;
  const { ms, call } = await sendCode(timeoutMs);
  await sleep(pauseMs / 2 + Math.random() * pauseMs / 2);  // jitter: never in step with a poll
  const floor = await floorOne();
  samples.push({ phase, t, left: leftAtSend, analyzed, ms, call, floor });
  await sleep(pauseMs / 2 + Math.random() * pauseMs / 2);
}

const drainTimeoutMs = Number(opt['drain-timeout-s']) * 1000;
// Warm-up: the worker's first connection to the mock, the session's first plans.
for (let i = 0; i < 5; i++) { await sendCode(10000); await floorOne(); await sleep(pauseMs); }
for (let i = 0; i < Math.ceil(idleSends / 2); i++) await measureOne('idle_before', 10000);

// The backlog, in one transaction; the codes start as soon as it is committed.
const loaded = new Promise((resolve, reject) => {
  const p = spawn('psql', [...psqlArgs, '-v', `n=${backlog}`, '-f', 'bench/sql/transactional_backlog.sql'],
                  { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (c) => { out += c; });
  p.on('exit', (code) => {
    const m = /commit_at (\S+)/.exec(out);
    if (code === 0 && m) resolve(Number(m[1]) * 1000);
    else reject(new Error(`the backlog insert failed (exit ${code})`));
  });
});
const loadStart = wallNow();
backlogCommitAt = await loaded;
const backlogCommitStamp = backlogCommitAt;
// Plans made while the outbox was small (the worker's statements, a session's otp_send) stay
// until the outbox is analyzed again: autovacuum's first ANALYZE after the load is noted, and
// the codes sent before and after it are told apart.
let polling = false;
const analyzePoll = setInterval(async () => {
  if (polling || analyzedAt !== null) return;
  polling = true;
  try {
    const at = Number(await query(`SELECT coalesce(extract(epoch FROM greatest(last_autoanalyze, last_analyze)), 0)
                                   FROM pg_catalog.pg_stat_user_tables WHERE relid = 'sms_otp.sms_outbox'::regclass`)) * 1000;
    if (at > backlogCommitStamp) analyzedAt = at;
  } catch { /* the next poll asks again */ } finally { polling = false; }
}, 1000);
const loadSecs = (backlogCommitAt - loadStart) / 1000;
let backlogSends = 0;
while (left() > backlog * minLeft && backlogSends < maxBacklogSends && wallNow() - backlogCommitAt < backlogMs) {
  await measureOne('backlog', drainTimeoutMs);
  backlogSends++;
}
const sendsEndAt = wallNow();
clearInterval(analyzePoll);
const seenAtEnd = backlogSeen.size;
const sendsSecs = (sendsEndAt - backlogCommitAt) / 1000;

// The rest of the backlog: cancelled if never claimed; the others finish (a message waiting
// to be tried again is sent again). Claims skip the rows this locks, and results touch claimed
// rows only, so neither waits for the other.
const cancelled = Number(await query(`WITH c AS (
    UPDATE sms_otp.sms_outbox SET status = 'cancelled', last_error = 'bench: backlog cancelled', updated_at = now()
    WHERE status = 'queued' AND kind = 'transactional' AND attempts = 0 RETURNING 1)
  SELECT count(*) FROM c`));
const deadline = wallNow() + drainTimeoutMs;
while (Number(await query("SELECT count(*) FROM sms_otp.sms_outbox WHERE status = 'queued'")) !== 0) {
  if (wallNow() > deadline) throw new Error('messages still queued after the backlog was cancelled');
  await sleep(200);
}
await sleep(500);  // the last results' round, and the mock's last answers
backlogCommitAt = null;
for (let i = 0; i < Math.floor(idleSends / 2); i++) await measureOne('idle_after', 10000);
psql.stdin.end();
agent.destroy();
server.close();
server.closeAllConnections();

const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];
const round = (x) => (x === undefined ? null : Math.round(x * 100) / 100);
function stats(rows, key = 'ms') {
  const xs = rows.map((r) => r[key]).sort((a, b) => a - b);
  return { n: xs.length, p50: round(pct(xs, 50)), p99: round(pct(xs, 99)), max: round(xs[xs.length - 1]) };
}
const phase = (...names) => samples.filter((s) => names.includes(s.phase));
const underBacklog = phase('backlog');
// The backlog sends in four runs of equal count, in the order they were sent, each with the
// span of the backlog left during it: a code's wait that grows as the drain goes on (or with
// the size of the queue) shows here.
const quarters = [0, 1, 2, 3].map((i) => {
  const part = underBacklog.slice(Math.floor((i * underBacklog.length) / 4), Math.floor(((i + 1) * underBacklog.length) / 4));
  return { from_s: round(part[0]?.t), to_s: round(part[part.length - 1]?.t),
           left_from: part[0]?.left ?? null, left_to: part[part.length - 1]?.left ?? null, ...stats(part) };
});

if (opt.out) {
  writeFileSync(opt.out, ['phase\tt_s\tbacklog_left\toutbox_analyzed\tlatency_ms\tcall_ms\tfloor_ms',
    ...samples.map((s) => `${s.phase}\t${s.t.toFixed(3)}\t${s.left}\t${s.analyzed ? 1 : 0}\t${s.ms.toFixed(3)}\t${s.call.toFixed(3)}\t${s.floor.toFixed(3)}`)].join('\n') + '\n');
}
process.stdout.write(JSON.stringify({
  idle: stats(phase('idle_before', 'idle_after')),
  idle_before: stats(phase('idle_before')),
  idle_after: stats(phase('idle_after')),
  backlog: stats(underBacklog),
  backlog_before_analyze: stats(underBacklog.filter((s) => !s.analyzed)),
  backlog_after_analyze: stats(underBacklog.filter((s) => s.analyzed)),
  analyzed_after_s: analyzedAt === null ? null : round((analyzedAt - backlogCommitStamp) / 1000),
  call_idle: stats(phase('idle_before', 'idle_after'), 'call'),
  call_backlog: stats(underBacklog, 'call'),
  call_before_analyze: stats(underBacklog.filter((s) => !s.analyzed), 'call'),
  call_after_analyze: stats(underBacklog.filter((s) => s.analyzed), 'call'),
  floor_idle: stats(phase('idle_before', 'idle_after'), 'floor'),
  floor_backlog: stats(underBacklog, 'floor'),
  quarters,
  backlog_size: backlog,
  backlog_load_s: round(loadSecs),
  backlog_commit_at: backlogCommitStamp / 1000,
  sends_end_at: sendsEndAt / 1000,
  backlog_sends_s: round(sendsSecs),
  backlog_left_after_sends: backlog - seenAtEnd,
  backlog_rate: Math.round(seenAtEnd / sendsSecs),
  backlog_cancelled: cancelled,
  backlog_seen: backlogSeen.size,
  backlog_requests: backlogRequests,
}) + '\n');
