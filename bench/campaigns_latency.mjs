// Code latency while a campaign drains: commit of otp_send -> the code's request arriving at
// the mock, first with nothing queued, then while a campaign of --audience recipients (no
// throttle, no quiet hours) is being sent, then with nothing queued again (the two idle halves
// bracket the campaign, so drift of a shared machine, or of the database, shows). Measured as
// bench/transactional_latency.mjs measures it: the mock runs in this process and stamps each
// request as it arrives; the commit time is clock_timestamp() right before COMMIT, in one
// persistent psql session.
//   node bench/campaigns_latency.mjs --host DIR --port N --db NAME --sends 400 --audience 1000000
// The campaign is launched with bench/sql/campaigns_launch.sql (customers 1..--audience of
// bench/sql/campaigns_customers.sql); the mock tells its messages from the codes by the number
// (the code's user has a +4474 number, no customer has). Codes are sent for at most
// --campaign-secs after the launch's commit, at most --campaign-sends of them, and only while
// more than --min-left of the campaign has still to reach the mock; then the campaign is
// cancelled (campaign_cancel, as an operator would), and once nothing of it is pending the last
// idle half is measured. After each code the same request is posted straight to the mock from
// here (the floor): how long the mock itself, sharing the machine, takes to see a request.
// Besides, the system's share of each latency: commit -> the worker sending the code's request
// (sms_messages_log.requested_at), which the mock's own delays (it shares this process and the
// machine with the campaign's traffic) do not touch.
// Prints one JSON line; --out FILE gets every sample (phase, seconds since the launch's commit,
// campaign messages left, latency ms, the otp_send call's own ms, floor ms, worker ms).
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
    db: { type: 'string', default: 'campaigns' },
    sends: { type: 'string', default: '400' },          // idle sends, half before and half after
    audience: { type: 'string', default: '1000000' },
    'campaign-sends': { type: 'string', default: '5000' },
    'campaign-secs': { type: 'string', default: '150' },
    'min-left': { type: 'string', default: '0.05' },
    'delay-ms': { type: 'string', default: '20' },
    'pause-ms': { type: 'string', default: '50' },
    'drain-timeout-s': { type: 'string', default: '600' },
    user: { type: 'string', default: '1' },
    out: { type: 'string' },
  },
});
const idleSends = Number(opt.sends);
const audience = Number(opt.audience);
const maxCampaignSends = Number(opt['campaign-sends']);
const campaignMs = Number(opt['campaign-secs']) * 1000;
const minLeft = Number(opt['min-left']);
const pauseMs = Number(opt['pause-ms']);
const psqlArgs = ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', opt.host, '-p', opt.port, '-U', 'postgres', '-d', opt.db];
const wallNow = () => performance.timeOrigin + performance.now();  // ms since the epoch, sub-ms
const query = async (sql) => (await promisify(execFile)('psql', [...psqlArgs, '-c', sql])).stdout.trim();
// A call as PostgREST makes it with the service role's key (one query string: its last answer).
const asService = (sql) => query(`SET ROLE service_role; SET request.jwt.claims = '{"role": "service_role"}'; ${sql}`);

// The code's user (as bench/sql/users.sql derives it), and a number no message goes to.
const n = Number(opt.user);
const codePrefix = `To=${encodeURIComponent('+4474' + String(n).padStart(8, '0'))}&`;
const floorPhone = '+447499999999';
const floorPrefix = `To=${encodeURIComponent(floorPhone)}&`;

// The mock, with a hook that stamps each provider request as it arrives (its headers read) and,
// once its body is in, says whose it was: a code, the floor, or (any other number) the campaign.
const { server } = createMockProvider({ record: false, delayMs: Number(opt['delay-ms']) });
let codeArrived = null;
let floorArrived = null;
const campaignSeen = new Set();  // numbers of the campaign that reached the mock
let campaignRequests = 0;        // requests for them (more than the numbers: a message sent twice)
server.prependListener('request', (req) => {
  if (!req.url.startsWith('/2010-04-01/')) return;
  const at = wallNow();
  let head = '';
  req.on('data', (chunk) => { if (head.length < 64) head += chunk.toString('latin1', 0, 64); });
  req.on('end', () => {
    if (head.startsWith(codePrefix)) {
      if (codeArrived) codeArrived(at);
    } else if (head.startsWith(floorPrefix)) {
      if (floorArrived) floorArrived(at);
    } else if (head.startsWith('To=')) {
      campaignSeen.add(head.slice(3, head.indexOf('&')));
      campaignRequests++;
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
let sessionOf = null;
let begun = null;
lines.on('line', (line) => {
  const m = /^(begin|commit)_at (\S+)$/.exec(line);
  if (m && m[1] === 'begin' && begun) begun(Number(m[2]) * 1000);
  if (m && m[1] === 'commit' && committed) committed(Number(m[2]) * 1000);
  const k = /^session (\S+)$/.exec(line);
  if (k && sessionOf) sessionOf(k[1]);
});
const claims = JSON.stringify({ role: 'authenticated', sub: `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`, session_id: `bench-${n}` });
const withTimeout = (promise, ms, what) => {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(what)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
};
// Returns the latency (commit -> arrival) and the call's own time (BEGIN -> right before
// COMMIT), which the user waits for too and which the latency leaves out; and the code's
// session and commit time, to find when the worker sent its request (sms_messages_log.requested_at).
async function sendCode(timeoutMs) {
  const begin = new Promise((resolve) => { begun = resolve; });
  const session = new Promise((resolve) => { sessionOf = resolve; });
  const commit = new Promise((resolve) => { committed = resolve; });
  const arrival = new Promise((resolve) => { codeArrived = resolve; });
  psql.stdin.write(`BEGIN;
SELECT 'begin_at ' || extract(epoch FROM clock_timestamp());
SELECT set_config('request.jwt.claims', '${claims}', true) \\g /dev/null
SELECT 'session ' || (sms_otp.otp_send() ->> 'session_id');
SELECT 'commit_at ' || extract(epoch FROM clock_timestamp());
COMMIT;
`);
  const [beginAt, commitAt, arrivedAt, id] = await withTimeout(Promise.all([begin, commit, arrival, session]), timeoutMs,
                                                               `no code reached the mock within ${timeoutMs / 1000} s`);
  return { ms: arrivedAt - commitAt, call: commitAt - beginAt, session: id, commitAt };
}

// The floor: the request the worker would send, straight from here over a kept-alive connection.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const floorBody = `${floorPrefix}From=%2B15005550006&Body=Spring%20sale%3A%2020%25%20off%20everything%20until%20Sunday.%20Reply%20STOP%20to%20opt%20out.`;
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

const samples = [];  // { phase, t, left, ms, call, floor }
let commitAt = null;
const left = () => audience - campaignSeen.size;
async function measureOne(phase, timeoutMs) {
  const t = commitAt ? (wallNow() - commitAt) / 1000 : 0;
  const leftAtSend = phase === 'campaign' ? left() : 0;
  const { ms, call, session, commitAt: committedAt } = await sendCode(timeoutMs);
  await sleep(pauseMs / 2 + Math.random() * pauseMs / 2);  // jitter: never in step with a poll
  const floor = await floorOne();
  samples.push({ phase, t, left: leftAtSend, ms, call, floor, session, committedAt });
  await sleep(pauseMs / 2 + Math.random() * pauseMs / 2);
}

const drainTimeoutMs = Number(opt['drain-timeout-s']) * 1000;
// Warm-up: the worker's first connection to the mock, the session's first plans.
for (let i = 0; i < 5; i++) { await sendCode(10000); await floorOne(); await sleep(pauseMs); }
for (let i = 0; i < Math.ceil(idleSends / 2); i++) await measureOne('idle_before', 10000);

// The launch, in one transaction; the codes start as soon as it is committed.
const launched = new Promise((resolve, reject) => {
  const p = spawn('psql', [...psqlArgs, '-v', `n=${audience}`, '-v', 'per_row=0', '-v', 'quiet=false', '-v', 'throttle=',
                           '-f', 'bench/sql/campaigns_launch.sql'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (c) => { out += c; });
  p.on('exit', (code) => {
    const id = /campaign_id (\d+)/.exec(out);
    const at = /commit_at (\S+)/.exec(out);
    const secs = /launch_s (\S+)/.exec(out);
    if (code === 0 && id && at && secs) resolve({ id: Number(id[1]), at: Number(at[1]) * 1000, secs: Number(secs[1]) });
    else reject(new Error(`the launch failed (exit ${code})`));
  });
});
const { id: campaignId, at: launchCommitAt, secs: launchSecs } = await launched;
commitAt = launchCommitAt;
let campaignSends = 0;
while (left() > audience * minLeft && campaignSends < maxCampaignSends && wallNow() - commitAt < campaignMs) {
  await measureOne('campaign', drainTimeoutMs);
  campaignSends++;
}
const sendsEndAt = wallNow();
const seenAtEnd = campaignSeen.size;
const sendsSecs = (sendsEndAt - commitAt) / 1000;

// The rest of the campaign is cancelled; what is in flight finishes.
const cancelStart = wallNow();
// A deadlock with the worker's writes is an error the caller retries (a few times, as an
// operator would); each is counted.
let cancelDeadlocks = 0;
async function cancel() {
  for (;;) {
    try {
      return JSON.parse(await asService(`SELECT sms_otp.campaign_cancel(${campaignId})`)).cancelled;
    } catch (e) {
      if (!/deadlock detected/.test(String(e.stderr)) || ++cancelDeadlocks > 5) throw e;
    }
  }
}
const cancelled = await cancel();
const cancelSecs = (wallNow() - cancelStart) / 1000;
const deadline = wallNow() + drainTimeoutMs;
while (Number(await query(`SELECT pending FROM sms_otp.sms_campaigns WHERE id = ${campaignId}`)) !== 0) {
  if (wallNow() > deadline) throw new Error('campaign messages still pending after the campaign was cancelled');
  await sleep(200);
}
await sleep(500);  // the last results' round, and the mock's last answers
commitAt = null;
for (let i = 0; i < Math.floor(idleSends / 2); i++) await measureOne('idle_after', 10000);
psql.stdin.end();
agent.destroy();
server.close();
server.closeAllConnections();

// When the worker sent each code's request (its clock, as the throttles take it, right before
// the request's first byte left): commit -> request is the system's share of the latency; the
// rest is the mock's, which shares this process and the machine with the campaign's traffic.
const sent = new Map(JSON.parse(await query(`SELECT coalesce(json_agg(json_build_array(session_id, ms)), '[]')
  FROM (SELECT session_id, min(extract(epoch FROM requested_at) * 1000) AS ms FROM sms_otp.sms_messages_log
        WHERE type = 'otp' AND requested_at IS NOT NULL
          AND session_id = ANY ('{${samples.map((x) => x.session).join(',')}}'::uuid[])
        GROUP BY session_id) x`)));
for (const x of samples) x.worker = sent.has(x.session) ? sent.get(x.session) - x.committedAt : NaN;
if (samples.some((x) => Number.isNaN(x.worker))) throw new Error('a code has no request time in sms_messages_log');

const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];
const round = (x) => (x === undefined ? null : Math.round(x * 100) / 100);
function stats(rows, key = 'ms') {
  const xs = rows.map((r) => r[key]).sort((a, b) => a - b);
  return { n: xs.length, p50: round(pct(xs, 50)), p95: round(pct(xs, 95)), p99: round(pct(xs, 99)), max: round(xs[xs.length - 1]) };
}
const phase = (...names) => samples.filter((s) => names.includes(s.phase));
const during = phase('campaign');
// The codes during the campaign in four runs of equal count, in the order they were sent: a
// wait that grows as the drain goes on shows here.
const quarters = [0, 1, 2, 3].map((i) => {
  const part = during.slice(Math.floor((i * during.length) / 4), Math.floor(((i + 1) * during.length) / 4));
  return { from_s: round(part[0]?.t), to_s: round(part[part.length - 1]?.t),
           left_from: part[0]?.left ?? null, left_to: part[part.length - 1]?.left ?? null, ...stats(part) };
});

if (opt.out) {
  writeFileSync(opt.out, ['phase\tt_s\tcampaign_left\tlatency_ms\tcall_ms\tfloor_ms\tworker_ms',
    ...samples.map((s) => `${s.phase}\t${s.t.toFixed(3)}\t${s.left}\t${s.ms.toFixed(3)}\t${s.call.toFixed(3)}\t${s.floor.toFixed(3)}\t${s.worker.toFixed(3)}`)].join('\n') + '\n');
}
process.stdout.write(JSON.stringify({
  idle: stats(phase('idle_before', 'idle_after')),
  idle_before: stats(phase('idle_before')),
  idle_after: stats(phase('idle_after')),
  campaign: stats(during),
  worker_idle: stats(phase('idle_before', 'idle_after'), 'worker'),
  worker_campaign: stats(during, 'worker'),
  call_idle: stats(phase('idle_before', 'idle_after'), 'call'),
  call_campaign: stats(during, 'call'),
  floor_idle: stats(phase('idle_before', 'idle_after'), 'floor'),
  floor_campaign: stats(during, 'floor'),
  quarters,
  campaign_id: campaignId,
  audience,
  launch_s: launchSecs,
  commit_at: launchCommitAt / 1000,
  sends_end_at: sendsEndAt / 1000,
  sends_s: round(sendsSecs),
  left_after_sends: audience - seenAtEnd,
  campaign_rate: Math.round(seenAtEnd / sendsSecs),
  cancelled,
  cancel_s: round(cancelSecs),
  cancel_deadlocks: cancelDeadlocks,
  campaign_seen: campaignSeen.size,
  campaign_requests: campaignRequests,
}) + '\n');
