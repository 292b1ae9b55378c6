// The SMS-pumping guard (sql/parts/guard.sql) through the real PostgREST 12.0.2, the real worker
// and the mock provider, in enforce mode: codes to a prefix stop reaching the provider once the
// prefix's limit is reached; every refusal is the same 429 (body and Retry-After) whatever the
// rule; a verified code is counted for its prefix; only the service role reads the decisions and
// ends a block; a client cannot write the guard's tables; /rpc/metrics carries the guard's
// counters and promtool accepts it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { Stack, root } from '../stack.mjs';
import { calls } from './calls.mjs';
import { inbox, tokens } from './service.mjs';

const stack = new Stack({
  settings: [
    "sms_otp.guard_mode = 'enforce'",
    "sms_otp.guard_countries = 'US'",
    'sms_otp.guard_prefix_per_hour = 3',
    'sms_otp.ip_rate_limit_per_minute = 1000',
    'sms_otp.ip_rate_limit_per_day = 100000',
  ],
});
const { rpc, call, codeFor } = calls(stack);
const { service, user } = tokens(stack);

before(() => {
  // The callback proxy's port, free and below the ephemeral range (the stack picks the others).
  const start = 20000 + Math.floor(Math.random() * 10000);
  process.env.STACK_PROXY_PORT = String(execFileSync('bash', ['-c', `. "${root}/test/lib.sh"; free_port ${start}`])).trim();
  stack.start();
});
after(() => stack.stop());

let users = 0;
// A new user with codes on for this number, and their token (a login of their own).
function userFor(phone) {
  const id = `6a4d0000-0000-4000-8000-${String(++users).padStart(12, '0')}`;
  stack.sql(`INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES ('${id}', '${phone}', true)`);
  return user(id);
}

const REFUSAL = {
  error: 'sms_unavailable',
  message: 'We cannot send a code to this number right now. Try again later, or use another number.',
  retry_after_seconds: 3600,
};

test('a prefix over its hourly limit: three codes reach the provider, the fourth is refused and the prefix blocked', async () => {
  const phones = ['+14155559001', '+14155559002', '+14155559003', '+14155559004', '+14155559005'];
  const answers = [];
  for (const phone of phones) answers.push(await rpc('otp_send', {}, userFor(phone)));
  assert.deepEqual(answers.map((r) => r.status), [200, 200, 200, 429, 429]);
  for (const r of answers.slice(3)) {
    assert.deepEqual(r.json, REFUSAL);
    assert.equal(r.headers.get('retry-after'), '3600');
  }
  // What reached the provider: the three codes that went, nothing for the refused numbers.
  for (const [i, phone] of phones.entries()) {
    if (i < 3) await codeFor(phone, answers[i].json.session_id);
    assert.equal((await inbox(stack, phone)).length, i < 3 ? 1 : 0, phone);
  }
  assert.deepEqual(stack.sql(`SELECT outcome, array_to_string(rules, ',') FROM sms_otp.guard_decisions
                              WHERE phone LIKE '+141555590%' ORDER BY id`),
  [['allowed', ''], ['allowed', ''], ['allowed', ''], ['refused', 'prefix_hour'], ['refused', 'prefix_blocked,prefix_hour']]);
});

test('every refusal is the same answer: unlisted country, premium rate, blocked prefix', async () => {
  const answers = [];
  for (const phone of ['+33612345611', '+19002345678', '+14155559006']) answers.push(await rpc('otp_send', {}, userFor(phone)));
  for (const r of answers) {
    assert.equal(r.status, 429, r.text);
    assert.deepEqual(r.json, REFUSAL);
    assert.equal(r.headers.get('retry-after'), '3600');
  }
  assert.equal(new Set(answers.map((r) => r.text)).size, 1, 'the bodies are byte for byte the same');
  assert.deepEqual(stack.sql(`SELECT array_to_string(rules, ',') FROM sms_otp.guard_decisions
                              WHERE phone IN ('+33612345611', '+19002345678', '+14155559006') ORDER BY id`),
  [['country_not_listed'], ['number_type'], ['prefix_blocked,prefix_hour']]);
});

test('a verified code is counted for the prefix and country it went to', async () => {
  const phone = '+14155558101';
  const token = userFor(phone);
  const sent = await rpc('otp_send', {}, token);
  assert.equal(sent.status, 200, sent.text);
  const code = await codeFor(phone, sent.json.session_id);
  const verified = await rpc('otp_verify', { session_id: sent.json.session_id, otp: code }, token);
  assert.equal(verified.status, 200, verified.text);
  assert.deepEqual(stack.sql(`SELECT scope, grain, sum(sent), sum(verified) FROM sms_otp.guard_counts
                              WHERE (scope = 'p' AND key = '+14155558') OR (scope = 'c' AND key = 'US')
                              GROUP BY scope, grain ORDER BY scope, grain`),
  // US: the three codes of the first test and this one, this one entered.
  [['c', 'd', '4', '1'], ['c', 'q', '4', '1'], ['p', 'd', '1', '1'], ['p', 'q', '1', '1']]);
});

test('only the service role reads decisions and blocks and ends a block; no client writes the guard\'s tables', async () => {
  const plain = userFor('+14155559201');
  for (const path of ['/guard_decisions', '/guard_blocks', '/guard_counts', '/guard_country_policy', '/guard_safe_list']) {
    assert.equal((await call('GET', path, { token: plain })).status, 403, `user GET ${path}`);
    assert.equal((await call('GET', path)).status, 401, `anon GET ${path}`);
  }
  assert.equal((await call('POST', '/guard_country_policy', { token: plain, body: { country: 'FR', action: 'allow' } })).status, 403);
  assert.equal((await call('POST', '/guard_safe_list', { token: plain, body: { entry: '+33', kind: 'prefix' } })).status, 403);
  assert.equal((await call('DELETE', '/guard_blocks?scope=eq.prefix', { token: plain })).status, 403);
  for (const [fn, body] of [['guard_block_list', {}], ['guard_block_clear', {}], ['guard_explain', { phone: '+14155559001' }]]) {
    const r = await rpc(fn, body, plain);
    assert.equal(r.status, 403, `user ${fn}: ${r.text}`);
    assert.equal(r.json.code, 'forbidden');
  }
  assert.equal((await rpc('_guard', { destination: '+14155559001' }, plain)).status >= 400, true, 'the guard itself');

  const decisions = await call('GET', '/guard_decisions?phone=like.%2B141555590*&select=outcome,rules,mode&order=id', { token: service() });
  assert.equal(decisions.status, 200, decisions.text);
  assert.equal(decisions.json.length, 6);
  assert.ok(decisions.json.every((d) => d.mode === 'enforce'));
  const blocks = await rpc('guard_block_list', {}, service());
  assert.equal(blocks.status, 200, blocks.text);
  assert.deepEqual(blocks.json.map((b) => [b.scope, b.key, b.rule]), [['prefix', '+14155559', 'prefix_hour']]);
  // The service role may not write a decision or a block directly.
  assert.equal((await call('POST', '/guard_blocks', { token: service(), body: { scope: 'prefix', key: '+1', rule: 'x', until: '2100-01-01' } })).status, 403);
  assert.equal((await call('PATCH', '/guard_decisions?id=gt.0', { token: service(), body: { outcome: 'allowed' } })).status, 403);
  // It may add to the safe list; a listed number skips the block.
  assert.equal((await call('POST', '/guard_safe_list', { token: service(), body: { entry: '+14155559007', kind: 'number' } })).status, 201);
  assert.equal((await rpc('otp_send', {}, userFor('+14155559007'))).status, 200);
  const cleared = await rpc('guard_block_clear', { scope: 'prefix', key: '+14155559' }, service());
  assert.equal(cleared.status, 200, cleared.text);
  assert.equal(cleared.json, 1);
  assert.deepEqual((await rpc('guard_block_list', {}, service())).json, []);
});

test('/rpc/metrics carries the guard\'s counters, and promtool accepts the exposition', async () => {
  const r = await call('GET', '/rpc/metrics', { token: service(), headers: { Accept: 'text/plain' } });
  assert.equal(r.status, 200, r.text);
  const refused = Number(stack.value("SELECT count(*) FROM sms_otp.guard_decisions WHERE outcome = 'refused'"));
  assert.ok(refused >= 5);
  assert.match(r.text, new RegExp(`^sms_otp_guard_decisions_total\\{outcome="refused"\\} ${refused}$`, 'm'));
  assert.match(r.text, /^sms_otp_guard_rules_total\{outcome="refused",rule="number_type"\} 1$/m);
  const check = spawnSync('promtool', ['check', 'metrics'], { input: r.text, encoding: 'utf8' });
  assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
});
