// Fault rules: what the mock does instead of (or before) answering normally.
// Rules are tried in the order they were added; the first one whose provider
// (and phone, and path, when the rule names them) matches applies, and a rule
// with a count disappears once it is used up.

import { normalizePhone } from './store.mjs';

export const FAULT_MODES = ['status', 'slow', 'timeout', 'drop', 'throttle'];

function fail(message) {
  const err = new Error(message);
  err.status = 400;
  return err;
}

function nonNegativeInt(value, name) {
  if (!Number.isInteger(value) || value < 0) throw fail(`${name} must be a non-negative integer`);
  return value;
}

export function parseFaultRule(spec) {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw fail('a fault rule must be a JSON object');
  const provider = spec.provider ?? '*';
  if (typeof provider !== 'string' || provider === '') throw fail('provider must be a provider name or "*"');
  if (!FAULT_MODES.includes(spec.mode)) throw fail(`mode must be one of ${FAULT_MODES.join(', ')}`);

  const rule = { provider, mode: spec.mode, count: -1 };
  if (spec.to !== undefined) {
    const list = Array.isArray(spec.to) ? spec.to : [spec.to];
    if (list.length === 0 || list.some((t) => typeof t !== 'string' || t === '')) {
      throw fail('to must be a phone number or a non-empty array of them');
    }
    rule.to = list.map(normalizePhone);
  }
  if (spec.path !== undefined) {
    if (typeof spec.path !== 'string' || spec.path === '') throw fail('path must be a non-empty string');
    rule.path = spec.path;
  }
  if (spec.count !== undefined) {
    if (!Number.isInteger(spec.count) || spec.count === 0 || spec.count < -1) {
      throw fail('count must be a positive integer, or -1 for unlimited');
    }
    rule.count = spec.count;
  }
  if (spec.mode === 'status') {
    if (!Number.isInteger(spec.status) || spec.status < 100 || spec.status > 599) {
      throw fail('status mode needs an HTTP status between 100 and 599');
    }
    rule.status = spec.status;
  }
  if (spec.mode === 'slow') {
    rule.delay_ms = nonNegativeInt(spec.delay_ms, 'delay_ms');
  }
  if (spec.retry_after !== undefined) {
    if (!(Number.isInteger(spec.retry_after) && spec.retry_after >= 0) && typeof spec.retry_after !== 'string') {
      throw fail('retry_after must be a number of seconds or an HTTP date');
    }
    rule.retry_after = spec.retry_after;
  }
  if (spec.body !== undefined) rule.body = spec.body;
  return rule;
}

export class Faults {
  constructor() {
    this.rules = [];
    this.nextId = 1;
  }

  // Accepts one rule or an array of rules; all are checked before any is added.
  add(spec) {
    const parsed = (Array.isArray(spec) ? spec : [spec]).map(parseFaultRule);
    for (const rule of parsed) {
      rule.id = this.nextId++;
      this.rules.push(rule);
    }
    return parsed;
  }

  remove(id) {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.id !== id);
    return this.rules.length !== before;
  }

  clear() {
    this.rules = [];
  }

  list() {
    return this.rules;
  }

  // The rule that applies to this request, as a snapshot (its count already
  // taken), or null. `to` lists the request's recipients (requestRecipients);
  // a rule naming phones applies when one of them is among those, a rule
  // naming a path when the request's path contains it (a code check apart
  // from its send, say). Called once per provider request, so it stays cheap
  // when no rules are set.
  take(provider, to = [], path = '') {
    if (this.rules.length === 0) return null;
    const i = this.rules.findIndex((r) => (r.provider === '*' || r.provider === provider)
      && (!r.to || to.some((t) => r.to.includes(t)))
      && (!r.path || path.includes(r.path)));
    if (i < 0) return null;
    const rule = this.rules[i];
    if (rule.count > 0 && --rule.count === 0) this.rules.splice(i, 1);
    const { count, ...applied } = rule;
    return applied;
  }
}

// The phones a provider request is addressed to, each provider's field read
// as it sends it (Vonage, MessageBird and Plivo without the plus), spelled
// as normalizePhone spells them.
export function requestRecipients(form, json) {
  const out = [];
  const add = (v) => {
    if (v === undefined || v === null || v === '') return;
    if (Array.isArray(v)) v.forEach(add);
    else out.push(normalizePhone(v));
  };
  add(form?.To);                                      // twilio, twilio_verify
  add(form?.to ?? json?.to);                          // vonage, webhook
  if (Array.isArray(json?.workflow)) json.workflow.forEach((w) => add(w?.to));  // vonage_verify
  add(json?.data?.to);                                // webhook under data
  const r = json?.recipients;                         // messagebird
  add(typeof r === 'string' ? r.split(',') : r);
  if (json?.dst !== undefined) add(String(json.dst).split('<').filter((d) => d !== ''));  // plivo
  return out;
}
