// Idle latency: commit of otp_send -> the provider request arriving at the mock.
// Runs the mock provider in this process (so arrival is timed the moment the request
// reaches it, to the microsecond), points the provider row at it, then sends one code at a
// time through one persistent psql session, pausing between sends so the system is idle.
// The commit time is clock_timestamp() taken in the transaction right before COMMIT, so the
// figure includes the commit itself. Both clocks are the machine's wall clock.
//   node bench/latency.mjs --host DIR --port N --db NAME --sends 200
// Baseline: the same Twilio request posted to the same mock from this process over a kept-alive
// connection, send -> arrival: what the network path alone costs.
// Prints one JSON line: {sends, p50_ms, p99_ms, min_ms, max_ms, floor_p50_ms, floor_p99_ms}.
import http from 'node:http';
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { createInterface } from 'node:readline';
import { createMockProvider } from '../test/mock_provider/server.mjs';

const { values: opt } = parseArgs({
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    db: { type: 'string', default: 'bench' },
    sends: { type: 'string', default: '200' },
    user: { type: 'string', default: '1' },
    'pause-ms': { type: 'string', default: '50' },
  },
});
const sends = Number(opt.sends);
const pauseMs = Number(opt['pause-ms']);
const psqlArgs = ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', opt.host, '-p', opt.port, '-U', 'postgres', '-d', opt.db];
const wallNow = () => performance.timeOrigin + performance.now();  // ms since the epoch, sub-ms

// The mock, with a hook that stamps each provider request as it arrives.
const { server } = createMockProvider({ record: false });
let arrived = null;
server.prependListener('request', (req) => {
  if (req.url.startsWith('/2010-04-01/') && arrived) arrived(wallNow());
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const url = `http://127.0.0.1:${server.address().port}`;
execFileSync('psql', [...psqlArgs, '-c', `UPDATE sms_otp.api_integrations SET base_url = '${url}' WHERE name = 'twilio'`]);

const psql = spawn('psql', psqlArgs, { stdio: ['pipe', 'pipe', 'inherit'] });
const lines = createInterface({ input: psql.stdout });
let committed = null;
lines.on('line', (line) => {
  const m = /^commit_at (\S+)$/.exec(line);
  if (m && committed) committed(Number(m[1]) * 1000);
});

function sendOne(i) {
  const n = Number(opt.user);
  const claims = JSON.stringify({ role: 'authenticated', sub: `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`, session_id: `bench-${n}` });
  const commit = new Promise((resolve) => { committed = resolve; });
  const arrival = new Promise((resolve) => { arrived = resolve; });
  psql.stdin.write(`BEGIN;
SELECT set_config('request.jwt.claims', '${claims}', true) \\g /dev/null
SELECT sms_otp.otp_send() \\g /dev/null
SELECT 'commit_at ' || extract(epoch FROM clock_timestamp());
COMMIT;
`);
  const timeout = sleep(5000).then(() => { throw new Error(`send ${i}: no request reached the mock within 5 s`); });
  return Promise.race([Promise.all([commit, arrival]), timeout]);
}

const samples = [];
for (let i = 0; i < sends; i++) {
  const [commitAt, arrivedAt] = await sendOne(i);
  samples.push(arrivedAt - commitAt);
  await sleep(pauseMs + Math.random() * pauseMs);  // jitter: never in step with a poll
}
psql.stdin.end();

// The floor: the request the worker would send, straight from here.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const body = 'To=%2B447400000001&From=%2B15005550006&Body=Your%20verification%20code%20is%20123456.';
function postOne() {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json`, {
      method: 'POST', agent,
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjpiZW5jaA==' },
    }, (res) => { res.resume(); res.on('end', resolve); });
    req.on('error', reject);
    req.end(body);
  });
}
const floor = [];
await postOne();  // opens the connection, as the worker's first request did
for (let i = 0; i < sends; i++) {
  const arrival = new Promise((resolve) => { arrived = resolve; });
  const sentAt = wallNow();
  const done = postOne();
  floor.push((await arrival) - sentAt);
  await done;
  await sleep(pauseMs / 5);
}
agent.destroy();
server.close();
server.closeAllConnections();

const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];
const round = (x) => Math.round(x * 100) / 100;
samples.sort((a, b) => a - b);
floor.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({
  sends: samples.length, p50_ms: round(pct(samples, 50)), p99_ms: round(pct(samples, 99)),
  min_ms: round(samples[0]), max_ms: round(samples[samples.length - 1]),
  floor_p50_ms: round(pct(floor, 50)), floor_p99_ms: round(pct(floor, 99)),
}) + '\n');
