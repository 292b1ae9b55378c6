// The worker's own defences, each against what a database owner or a provider row could do:
// destinations outside the allow-list, credentials that would forge headers, a search_path
// full of traps, and a server that logs the codes users type.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Mock, waitFor, enqueue, delivered, useStack } from './harness.mjs';

const cluster = new Cluster([
  'sms_otp.poll_interval = 200ms',
  'sms_otp.lease = 5s',
  'sms_otp.retry_delay = 200ms',
  'sms_otp.request_timeout = 2s',
  'sms_otp.max_send_attempts = 2',
]);
const mock = new Mock();
const creds = { account_sid: 'AC0123456789abcdef0123456789abcdef', auth_token: 'tok' };

function provider({ name = 'twilio', base_url = mock.url, credentials = creds, priority = 10 } = {}) {
  cluster.sql(`INSERT INTO sms_otp.api_integrations (name, kind, priority, base_url, sender, credentials)
    VALUES ('${name}', 'twilio', ${priority}, '${base_url}', '+15005550006', '${JSON.stringify(credentials).replace(/'/g, "''")}')`);
}

function log(id) {
  return cluster.sql(`SELECT provider_name, outcome, coalesce(error, '') FROM sms_otp.sms_messages_log
                      WHERE outbox_id = ${id} ORDER BY id`);
}

function serverLog() { return readFileSync(`${cluster.dir}/pg/server.log`, 'utf8'); }

// Both worker processes, so that they connect again with the database's settings.
async function restartWorker() {
  for (const pidOf of [() => cluster.workerPid(), () => cluster.codeWorkerPid()]) {
    const pid = pidOf();
    cluster.sql(`SELECT pg_terminate_backend(${pid})`, 'postgres');
    await waitFor('a new worker', () => { const p = pidOf(); return p > 0 && p !== pid; });
  }
}

useStack(cluster, mock);

beforeEach(() => {
  cluster.sql('DELETE FROM sms_otp.api_integrations');
});

test('without the allow-list the worker refuses http://127.0.0.1', async () => {
  provider();
  cluster.reload({ 'sms_otp.http_allowed_hosts': '' });
  try {
    await sleep(300);
    const id = enqueue(cluster, { body: 'not over plain http' });
    const o = await delivered(cluster, id);
    assert.equal(o.status, 'failed');
    assert.deepEqual(log(id), [['twilio', 'retry', 'destination not allowed: http'],
                               ['twilio', 'retry', 'destination not allowed: http']]);
    assert.equal((await mock.requests()).length, 0, 'nothing reached the address');
  } finally {
    cluster.reload({ 'sms_otp.http_allowed_hosts': '127.0.0.1, localhost' });
  }
  await sleep(300);
  const id = enqueue(cluster, { body: 'allowed again' });
  assert.equal((await delivered(cluster, id)).status, 'sent');
});

test('https to an internal address is refused when the address is not on the list', async () => {
  // Written while 127.0.0.1 was allowed; the list then names only localhost.
  provider({ base_url: mock.url.replace('http://', 'https://') });
  cluster.reload({ 'sms_otp.http_allowed_hosts': 'localhost' });
  try {
    await sleep(300);
    const id = enqueue(cluster, { body: 'not to loopback' });
    assert.equal((await delivered(cluster, id)).status, 'failed');
    assert.deepEqual(log(id)[0], ['twilio', 'retry', 'destination not allowed: internal address']);
  } finally {
    cluster.reload({ 'sms_otp.http_allowed_hosts': '127.0.0.1, localhost' });
  }
});

test("otp_verify's code check keeps to the allow-list too", async () => {
  cluster.sql(`INSERT INTO sms_otp.api_integrations (name, kind, base_url, credentials)
    VALUES ('verify', 'twilio_verify', '${mock.url}', '${JSON.stringify({ ...creds, service_sid: 'VA0123456789abcdef0123456789abcdef' })}')`);
  const user = 'a0000000-0000-4000-8000-0000000000d1';
  cluster.sql(`INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES ('${user}', '+14155550188', true)
               ON CONFLICT (user_id) DO NOTHING`);
  const claims = `SET request.jwt.claims = '{"sub":"${user}","session_id":"login-v"}';`;
  const session = JSON.parse(cluster.sql(`${claims} SELECT sms_otp.otp_send()`)[0][0]).session_id;
  const msg = await waitFor('the SMS', async () => (await mock.inbox()).find((m) => m.to === '+14155550188'));
  await waitFor('session sent', () => cluster.value(`SELECT status FROM sms_otp.sms_otp_sessions WHERE id = '${session}'`) === 'sent');
  const verify = () => cluster.sql(`${claims} SELECT sms_otp.otp_verify('${session}', '${msg.code}')`)[0][0];
  cluster.reload({ 'sms_otp.http_allowed_hosts': '' });
  try {
    await sleep(300);
    // Returned, not raised: the check's log row is kept.
    assert.equal(JSON.parse(verify()).reason, 'provider_unavailable');
    assert.equal(cluster.value(`SELECT outcome || ' ' || coalesce(status_code::text, '-') || ' ' || error
                                FROM sms_otp.sms_messages_log WHERE session_id = '${session}' AND operation = 'check'`),
                 'unavailable 0 destination not allowed: http');
    const checks = (await mock.requests('twilio_verify')).filter((r) => r.path.endsWith('/VerificationCheck'));
    assert.equal(checks.length, 0, 'the check was not sent over plain http');
  } finally {
    cluster.reload({ 'sms_otp.http_allowed_hosts': '127.0.0.1, localhost' });
  }
  await sleep(300);
  assert.equal(JSON.parse(verify()).verified, true);
});

test('credentials with CR LF never reach the wire, even past the table trigger', async () => {
  // The table refuses such a row; a row written with triggers off shows the worker's own check.
  cluster.sql(`SET session_replication_role = replica;
    INSERT INTO sms_otp.api_integrations (name, kind, priority, base_url, sender, credentials)
    VALUES ('forged', 'twilio', 1, '${mock.url}', '+15005550006',
            '{"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "tok\\r\\nX-Injected: 1"}')`);
  provider({ name: 'clean', priority: 2 });
  const id = enqueue(cluster, { body: 'through the clean one' });
  const o = await delivered(cluster, id);
  assert.equal(o.status, 'sent');
  assert.equal(o.provider, 'clean');
  assert.deepEqual(log(id), [['forged', 'auth_failed', 'credentials contain control characters'], ['clean', 'sent', '']]);
  const requests = await mock.requests();
  assert.equal(requests.length, 1);
  assert.equal(requests[0].headers['x-injected'], undefined);
  const forged = JSON.parse(cluster.value('SELECT sms_otp.worker_status()')).providers.find((p) => p.name === 'forged');
  assert.equal(forged.available, false, 'the unfit provider is set aside like one with refused credentials');
});

test("a database owner's search_path traps never run in the worker", async () => {
  cluster.sql(`
    CREATE ROLE db_owner LOGIN;
    ALTER DATABASE ${cluster.db} OWNER TO db_owner;
    CREATE TABLE public.trap_calls (who text, what text);
    GRANT INSERT, SELECT ON public.trap_calls TO PUBLIC;
    SET ROLE db_owner;
    CREATE FUNCTION public.trap(what text) RETURNS void LANGUAGE sql AS $$
      INSERT INTO public.trap_calls SELECT a.backend_type, what FROM pg_catalog.pg_stat_activity a
      WHERE a.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() $$;
    CREATE FUNCTION public.make_interval(years int DEFAULT 0, months int DEFAULT 0, weeks int DEFAULT 0,
        days int DEFAULT 0, hours int DEFAULT 0, mins int DEFAULT 0, secs double precision DEFAULT 0)
      RETURNS interval LANGUAGE plpgsql AS $$
      BEGIN PERFORM public.trap('make_interval');
            RETURN pg_catalog.make_interval(years, months, weeks, days, hours, mins, secs); END $$;
    CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
      BEGIN PERFORM public.trap('now'); RETURN pg_catalog.now(); END $$;
    CREATE FUNCTION public.jsonb_to_recordset(jsonb) RETURNS SETOF record LANGUAGE plpgsql AS $$
      BEGIN PERFORM public.trap('jsonb_to_recordset');
            RETURN QUERY EXECUTE 'SELECT * FROM pg_catalog.jsonb_to_recordset($1)' USING $1; END $$;
    CREATE FUNCTION public.trap_eq(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS $$
      BEGIN PERFORM public.trap('='); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
    CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.trap_eq);
    ALTER DATABASE ${cluster.db} SET search_path = public, pg_catalog;
    RESET ROLE;`);
  try {
    await restartWorker();
    // The traps work: an ordinary session of this database falls into them.
    cluster.sql('SELECT make_interval(secs => 1), now(), 1::bigint = 1::bigint');
    const caught = cluster.sql('SELECT DISTINCT what FROM public.trap_calls ORDER BY 1').map((r) => r[0]);
    assert.deepEqual(caught, ['=', 'make_interval', 'now']);

    provider();
    await mock.fault({ provider: 'twilio', mode: 'status', status: 503, count: 1 });
    const retried = enqueue(cluster, { body: 'retried once' });  // results with a retry delay (make_interval)
    const plain = enqueue(cluster, { body: 'plain' });
    const code = enqueue(cluster, { body: 'Your code is 123456', kind: 'otp' });  // the code worker's
    assert.equal((await delivered(cluster, retried)).status, 'sent');
    assert.equal((await delivered(cluster, plain)).status, 'sent');
    assert.equal((await delivered(cluster, code)).status, 'sent');
    const worker = cluster.sql("SELECT who, what, count(*) FROM public.trap_calls WHERE who LIKE 'sms_otp % worker' GROUP BY 1, 2");
    assert.deepEqual(worker, [], 'neither worker called any of them');
  } finally {
    cluster.sql(`ALTER DATABASE ${cluster.db} RESET search_path;
      DROP OPERATOR IF EXISTS public.= (bigint, bigint);
      DROP FUNCTION IF EXISTS public.trap_eq(bigint, bigint), public.make_interval(int, int, int, int, int, int, double precision),
                              public.now(), public.jsonb_to_recordset(jsonb), public.trap(text);
      ALTER DATABASE ${cluster.db} OWNER TO postgres;
      DROP TABLE public.trap_calls;
      DROP ROLE db_owner;`);
    await restartWorker();
  }
});

test('the worker warns when the server logs statements (codes in otp_verify would reach the log)', async () => {
  const mark = serverLog().length;
  cluster.reload({ log_statement: 'all' });
  try {
    await sleep(300);
    await restartWorker();
    await waitFor('the warning', () => /WARNING: {2}sms_otp: log_statement = 'all' writes the codes/.test(serverLog().slice(mark)));
  } finally {
    cluster.reload({ log_statement: 'none' });
  }
  // Turned on while the worker runs: it says so at the reload.
  const mark2 = serverLog().length;
  cluster.reload({ log_min_duration_statement: '0' });
  try {
    await waitFor('the warning', () => /WARNING: {2}sms_otp: log_min_duration_statement = 0 ms writes the codes/.test(serverLog().slice(mark2)));
    assert.match(serverLog().slice(mark2), /HINT: {2}Set log_min_duration_statement to -1/);
  } finally {
    cluster.reload({ log_min_duration_statement: '-1' });
  }
});
