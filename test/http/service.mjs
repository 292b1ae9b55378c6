// The backend's side of phase 2 over HTTP, as the transactional and callback suites make it:
// tokens for the service role (and for the roles that must be refused), send_transactional,
// and waiting for what the worker and the providers' callbacks do to a message afterwards.
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { root, signJwt } from '../stack.mjs';

// test/stack.mjs picks free ports for PostgREST, the mock and PostgreSQL but leaves the
// callback proxy on its default (8026); a free one keeps the suite clear of other stacks.
export function freeProxyPort() {
  const start = 20000 + Math.floor(Math.random() * 10000);
  const out = execFileSync('bash', ['-c', `. "${root}/test/lib.sh"; free_port ${start}`]);
  process.env.STACK_PROXY_PORT = String(out).trim();
}

export function tokens(stack) {
  const sign = (claims) => {
    const now = Math.floor(Date.now() / 1000);
    return signJwt({ iat: now, exp: now + 3600, ...claims }, stack.secret);
  };
  return {
    service: () => sign({ role: 'service_role' }),
    // A signed-in user's token, login claim included: all it lacks is the service role.
    user: (sub) => sign({ role: 'authenticated', sub, session_id: sub }),
  };
}

// fn() until it returns something truthy (then that), or fail after ms; `what` (a string, or a
// function for a description of the state at that moment) says what was awaited.
export async function until(fn, what, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${typeof what === 'function' ? what() : what}`);
    await sleep(25);
  }
}

// One outbox row as an object (superuser: RLS and column privileges do not apply).
export function outboxRow(stack, id) {
  const cols = ['id', 'kind', 'to', 'body', 'status', 'last_error', 'provider_name', 'provider_message_id',
    'category', 'business_ref', 'template', 'segments', 'encoding', 'delivery_status', 'delivery_at',
    'delivery_error', 'expires_at', 'next_attempt_at'];
  const rows = stack.sql(`SELECT ${cols.map((c) => `coalesce(o.${c === 'to' ? '"to"' : c}::text, '<null>')`).join(', ')}
                          FROM sms_otp.sms_outbox o WHERE o.id = ${Number(id)}`);
  if (rows.length === 0) return null;
  return Object.fromEntries(cols.map((c, i) => [c, rows[0][i] === '<null>' ? null : rows[0][i]]));
}

export const countOf = (stack, query) => Number(stack.value(`SELECT count(*) FROM (${query}) AS q`));

// The SMS the mock received for a number, newest first.
export async function inbox(stack, phone) {
  const r = await fetch(`${stack.mock}/inbox.json?to=${encodeURIComponent(phone)}`);
  return r.json();
}
