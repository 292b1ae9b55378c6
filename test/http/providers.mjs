// The five provider kinds that post callbacks, each as an api_integrations row pointing at the
// mock provider and the same account configured in the mock: the keys the provider signs its
// status callbacks and inbound messages with are in both, as they are in a real account and
// its row. One kind at a time carries the sends (the others are disabled), so a test knows
// which wire format its message and its callbacks take.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

export const KINDS = ['twilio', 'vonage', 'messagebird', 'plivo', 'webhook'];

// What a receipt of the mock's outcome "undelivered" becomes in sms_outbox.delivery_status:
// Vonage and MessageBird report a failed delivery as "failed" / "delivery_failed".
export const UNDELIVERED_AS = { twilio: 'undelivered', vonage: 'failed', messagebird: 'failed', plivo: 'undelivered', webhook: 'undelivered' };

const hex = (n) => randomBytes(n).toString('hex');

// Accounts made once per stack: twilio's is the one test/stack.sh configured the mock with
// (the seeded row "twilio" holds it); the others are new.
export function accounts(stack) {
  const mock = JSON.parse(readFileSync(`${stack.dir}/mock_config.json`, 'utf8'));
  return {
    twilio: { account_sid: mock.twilio.account_sid, auth_token: mock.twilio.auth_token },
    vonage: { api_key: hex(4), api_secret: hex(8), signature_secret: hex(16), signature_method: 'sha256' },
    messagebird: { access_key: `live_${hex(12)}`, signing_key: hex(16) },
    plivo: { auth_id: `MA${hex(9).toUpperCase()}`, auth_token: hex(20) },
    webhook: { secret: `whsec_${randomBytes(24).toString('base64')}` },
  };
}

const SENDERS = { twilio: '+15005550006', vonage: 'SmsOtp', messagebird: 'SmsOtp', plivo: '14155550100', webhook: null };

const literal = (v) => (v === null ? 'NULL' : `'${String(v).replaceAll("'", "''")}'`);

// The rows, named after their kind ("twilio" exists from the seed and gets its row updated).
export function installIntegrations(stack, creds) {
  const rows = KINDS.map((kind, i) => {
    const base = kind === 'webhook' ? `${stack.mock}/webhook` : stack.mock;
    return `(${literal(kind)}, ${literal(kind)}, ${10 + i}, ${literal(base)}, ${literal(SENDERS[kind])}, ${literal(JSON.stringify(creds[kind]))}::jsonb)`;
  });
  stack.sql(`INSERT INTO sms_otp.api_integrations (name, kind, priority, base_url, sender, credentials)
             VALUES ${rows.join(', ')}
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, priority = excluded.priority,
               base_url = excluded.base_url, sender = excluded.sender, credentials = excluded.credentials`);
}

// Only `kind` sends (console, the seed's fallback, too is off: a message either reaches the
// mock or stays queued).
export function useOnly(stack, kind) {
  stack.sql(`UPDATE sms_otp.api_integrations SET enabled = (name = ${literal(kind)}), selectable = false`);
}

// The mock's side of the same accounts, and where it posts inbound messages
// ({callback_url}/{kind}/{integration}/inbound). A reset of the mock forgets this.
export async function configureMock(stack, creds) {
  const doc = { callback_url: stack.env.CALLBACK_URL };
  for (const kind of KINDS) doc[kind] = { ...creds[kind], integration: kind };
  const r = await fetch(`${stack.mock}/_mock/config`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(doc),
  });
  if (r.status !== 200) throw new Error(`mock config: ${r.status} ${await r.text()}`);
}
