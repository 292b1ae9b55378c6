// Requests the mock makes to the customer's server, as the real providers do:
// status callbacks (delivery receipts) after a message with a callback URL is
// accepted, and inbound messages (a phone replying). Each is built in the
// provider's wire format and signed as that provider signs it; the rules set
// through /_mock/callbacks decide the outcome, order, duplicates and delays.
// Everything posted is kept in a log that can be read and replayed.

import http from 'node:http';
import https from 'node:https';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';

import {
  VONAGE_SIGNATURE_METHODS, messagebirdJwt, plivoV3Signature, standardWebhookSignature, twilioSignature, vonageSignature,
} from './signing.mjs';
import { Ring, normalizePhone } from './store.mjs';

export const CALLBACK_PROVIDERS = ['twilio', 'vonage', 'messagebird', 'plivo', 'webhook'];
export const OUTCOMES = ['delivered', 'undelivered', 'failed'];
export const ORDERS = ['in_order', 'reversed'];
export const SIGN_MODES = ['valid', 'bad', 'none'];
export const VONAGE_METHODS = ['GET', 'POST', 'POST-JSON'];
export const DEFAULT_CALLBACK_DELAY_MS = 50;
export const MAX_CALLBACK_LOG = 10_000;
const POST_TIMEOUT_MS = 10_000;
const MAX_LOGGED_RESPONSE = 64 * 1024;

// The statuses each provider reports, and the events an outcome becomes.
export const PROVIDER_STATUSES = {
  twilio: ['queued', 'accepted', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'read', 'canceled', 'scheduled'],
  vonage: ['accepted', 'buffered', 'delivered', 'expired', 'failed', 'rejected', 'unknown'],
  messagebird: ['scheduled', 'sent', 'buffered', 'delivered', 'expired', 'delivery_failed'],
  plivo: ['queued', 'sent', 'delivered', 'undelivered', 'failed', 'rejected'],
  webhook: ['sent', 'delivered', 'undelivered', 'failed'],
};

const OUTCOME_EVENTS = {
  twilio: { delivered: ['sent', 'delivered'], undelivered: ['sent', 'undelivered'], failed: ['failed'] },
  vonage: { delivered: ['accepted', 'delivered'], undelivered: ['accepted', 'failed'], failed: ['rejected'] },
  messagebird: { delivered: ['sent', 'delivered'], undelivered: ['sent', 'delivery_failed'], failed: ['delivery_failed'] },
  plivo: { delivered: ['sent', 'delivered'], undelivered: ['sent', 'undelivered'], failed: ['failed'] },
  webhook: { delivered: ['sent', 'delivered'], undelivered: ['sent', 'undelivered'], failed: ['failed'] },
};

// Statuses that carry an error code, and the code used when a rule names none.
const FAILURE_CODES = {
  twilio: { undelivered: '30003', failed: '30008' },
  vonage: { failed: '2', expired: '2', rejected: '99', unknown: '1' },
  messagebird: { delivery_failed: '1', expired: '3' },
  plivo: { undelivered: '80', failed: '300', rejected: '100' },
  webhook: { undelivered: 'undelivered', failed: 'failed' },
};

const MESSAGEBIRD_REASONS = {
  scheduled: 'pending DLR', sent: 'pending DLR', buffered: 'pending DLR', delivered: 'successfully delivered',
  expired: 'expired', delivery_failed: 'unknown subscriber',
};

export function eventsForOutcome(provider, outcome) {
  return OUTCOME_EVENTS[provider][outcome];
}

export function isFailure(provider, status) {
  return Object.hasOwn(FAILURE_CODES[provider] ?? {}, status);
}

// ---------------------------------------------------------------- rules

function fail(message) {
  const err = new Error(message);
  err.status = 400;
  return err;
}

function nonNegativeInt(value, name) {
  if (!Number.isInteger(value) || value < 0) throw fail(`${name} must be a non-negative integer`);
  return value;
}

export function parseCallbackRule(spec) {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw fail('a callback rule must be a JSON object');
  const known = ['provider', 'to', 'outcome', 'error_code', 'order', 'duplicate', 'delay_ms', 'late_ms', 'events', 'count', 'sign'];
  for (const key of Object.keys(spec)) if (!known.includes(key)) throw fail(`unknown callback rule key "${key}"`);
  const provider = spec.provider ?? '*';
  if (provider !== '*' && !CALLBACK_PROVIDERS.includes(provider)) {
    throw fail(`provider must be "*" or one of ${CALLBACK_PROVIDERS.join(', ')}`);
  }
  const rule = { provider, outcome: spec.outcome ?? 'delivered', order: spec.order ?? 'in_order', duplicate: 0, late_ms: 0, sign: spec.sign ?? 'valid', count: -1 };
  if (spec.to !== undefined) {
    if (typeof spec.to !== 'string' || spec.to === '') throw fail('to must be a phone number');
    rule.to = normalizePhone(spec.to);
  }
  if (!OUTCOMES.includes(rule.outcome)) throw fail(`outcome must be one of ${OUTCOMES.join(', ')}`);
  if (!ORDERS.includes(rule.order)) throw fail(`order must be one of ${ORDERS.join(', ')}`);
  if (!SIGN_MODES.includes(rule.sign)) throw fail(`sign must be one of ${SIGN_MODES.join(', ')}`);
  if (spec.error_code !== undefined) {
    if (typeof spec.error_code !== 'string' && !Number.isInteger(spec.error_code)) throw fail('error_code must be a string or an integer');
    rule.error_code = String(spec.error_code);
  }
  if (spec.duplicate !== undefined) rule.duplicate = nonNegativeInt(spec.duplicate, 'duplicate');
  if (spec.delay_ms !== undefined) rule.delay_ms = nonNegativeInt(spec.delay_ms, 'delay_ms');
  if (spec.late_ms !== undefined) rule.late_ms = nonNegativeInt(spec.late_ms, 'late_ms');
  if (spec.events !== undefined) {
    if (!Array.isArray(spec.events) || spec.events.some((e) => typeof e !== 'string' || e === '')) {
      throw fail('events must be an array of provider statuses');
    }
    if (provider !== '*') {
      const bad = spec.events.find((e) => !PROVIDER_STATUSES[provider].includes(e));
      if (bad) throw fail(`"${bad}" is not a ${provider} status (${PROVIDER_STATUSES[provider].join(', ')})`);
    }
    rule.events = [...spec.events];
  }
  if (spec.count !== undefined) {
    if (!Number.isInteger(spec.count) || spec.count === 0 || spec.count < -1) {
      throw fail('count must be a positive integer, or -1 for unlimited');
    }
    rule.count = spec.count;
  }
  return rule;
}

export class CallbackRules {
  constructor() {
    this.rules = [];
    this.nextId = 1;
  }

  add(spec) {
    const parsed = (Array.isArray(spec) ? spec : [spec]).map(parseCallbackRule);
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

  // The first rule for this provider and phone, its count taken, or null.
  take(provider, to) {
    if (this.rules.length === 0) return null;
    const phone = normalizePhone(to);
    const i = this.rules.findIndex((r) => (r.provider === '*' || r.provider === provider) && (!r.to || r.to === phone));
    if (i < 0) return null;
    const rule = this.rules[i];
    if (rule.count > 0 && --rule.count === 0) this.rules.splice(i, 1);
    const { count, ...applied } = rule;
    return applied;
  }
}

export class CallbackLog {
  constructor(capacity = MAX_CALLBACK_LOG) {
    this.ring = new Ring(capacity);
    this.nextSeq = 1;
  }

  add(entry) {
    entry.seq = this.nextSeq++;
    this.ring.push(entry);
    return entry;
  }

  get(seq) {
    return this.ring.toArray().find((e) => e.seq === seq) ?? null;
  }

  clear() {
    this.ring.clear();
  }

  list({ provider, since, kind, message_id: messageId } = {}) {
    let all = this.ring.toArray();
    if (provider) all = all.filter((e) => e.provider === provider);
    if (kind) all = all.filter((e) => e.kind === kind);
    if (messageId) all = all.filter((e) => e.message_id === messageId || e.reference === messageId);
    if (since != null) all = all.filter((e) => e.seq > since);
    return all;
  }
}

// ---------------------------------------------------------------- time formats

const pad = (n, w = 2) => String(n).padStart(w, '0');
const parts = (ms) => {
  const d = new Date(ms);
  return {
    y: d.getUTCFullYear(), mo: pad(d.getUTCMonth() + 1), d: pad(d.getUTCDate()),
    h: pad(d.getUTCHours()), mi: pad(d.getUTCMinutes()), s: pad(d.getUTCSeconds()), ms: pad(d.getUTCMilliseconds(), 3),
  };
};
// YYMMDDHHMM, as in Vonage's scts and Twilio's RawDlrDoneDate.
const yymmddhhmm = (ms) => {
  const p = parts(ms);
  return `${String(p.y).slice(2)}${p.mo}${p.d}${p.h}${p.mi}`;
};
const sqlTime = (ms) => {
  const p = parts(ms);
  return `${p.y}-${p.mo}-${p.d} ${p.h}:${p.mi}:${p.s}`;
};
const plivoTime = (ms) => `${sqlTime(ms)}.${parts(ms).ms}000`;
const isoOffset = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');
const unix = (ms) => Math.floor(ms / 1000);
const digits = (phone) => String(phone ?? '').replace(/^\+/, '');
const e164 = (phone) => normalizePhone(phone);

// ---------------------------------------------------------------- request building

// Appends parameters to a URL's query, keeping what it already has.
function withQuery(url, params) {
  const q = new URLSearchParams(params).toString();
  if (!q) return url;
  return url + (url.includes('?') ? '&' : '?') + q;
}

function formRequest(method, url, params) {
  if (method === 'GET') return { method, url: withQuery(url, params), headers: {}, body: '' };
  return {
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body: new URLSearchParams(params).toString(),
  };
}

function jsonRequest(url, doc) {
  return { method: 'POST', url, headers: { 'content-type': 'application/json' }, body: JSON.stringify(doc) };
}

// A key for sign:"bad": the right shape, the wrong value.
const wrongKey = (key) => `${key}-not-the-key`;

function signTwilio(req, params, token, sign) {
  if (sign === 'none' || !token) return req;
  const key = sign === 'bad' ? wrongKey(token) : token;
  req.headers['x-twilio-signature'] = twilioSignature(key, req.url, req.method === 'GET' ? {} : params);
  return req;
}

function signPlivo(req, params, token, sign) {
  if (sign === 'none' || !token) return req;
  const nonce = String(randomInt(1e9, 1e10 - 1)) + String(randomInt(1e9, 1e10 - 1));
  const key = sign === 'bad' ? wrongKey(token) : token;
  // A GET carries its parameters in the URL already.
  const signature = plivoV3Signature(key, req.method, req.url, req.method === 'GET' ? {} : params, nonce);
  req.headers['x-plivo-signature-v3'] = signature;
  req.headers['x-plivo-signature-ma-v3'] = signature;
  req.headers['x-plivo-signature-v3-nonce'] = nonce;
  return req;
}

function signMessagebird(req, key, sign, now) {
  if (sign === 'none' || !key) return req;
  req.headers['messagebird-signature-jwt'] = messagebirdJwt(sign === 'bad' ? wrongKey(key) : key, req.url, req.body || null, now);
  return req;
}

// Vonage signs the parameters themselves: timestamp, nonce and sig travel with them.
function vonageRequest(url, fields, vonage, sign, now) {
  const params = { ...fields };
  const secret = vonage?.signature_secret;
  if (secret && sign !== 'none') {
    params.timestamp = String(unix(now));
    params.nonce = randomUUID();
    params.sig = vonageSignature(params, sign === 'bad' ? wrongKey(secret) : secret, vonage.signature_method ?? 'md5hash');
  }
  const method = vonage?.dlr_method ?? 'POST-JSON';
  return method === 'POST-JSON' ? jsonRequest(url, params) : formRequest(method, url, params);
}

function webhookRequest(url, doc, secret, sign, now, eventId) {
  const req = jsonRequest(url, doc);
  const id = eventId ?? `msg_${randomBytes(12).toString('hex')}`;
  const timestamp = String(unix(now));
  req.headers['webhook-id'] = id;
  req.headers['webhook-timestamp'] = timestamp;
  if (secret && sign !== 'none') {
    req.headers['webhook-signature'] = standardWebhookSignature(sign === 'bad' ? wrongSecret(secret) : secret, id, timestamp, req.body);
  }
  return req;
}

// Another valid whsec_ secret, so a "bad" signature is well formed but wrong.
const wrongSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

export const webhookSecret = (config) => config?.callback_secret ?? config?.secret ?? null;

// `d` is one delivery as the provider handler described it (see providers.mjs);
// `event` the status to report; `config` the provider's config object. The
// event's own fields (`at`, `seq`, `event_id`) stay the same for every copy
// of it; the signature, nonce and timestamps of the signing are made anew.
export function buildStatusRequest(d, event, { config, sign, now }) {
  const { status } = event;
  const failed = isFailure(d.provider, status);
  const errorCode = failed ? (event.error_code ?? FAILURE_CODES[d.provider][status]) : null;
  switch (d.provider) {
    case 'twilio': {
      const params = {
        AccountSid: d.account_sid,
        ApiVersion: '2010-04-01',
        From: d.from ?? '',
        To: d.to,
        MessageSid: d.message_id,
        SmsSid: d.message_id,
        MessageStatus: status,
        SmsStatus: status,
      };
      if (d.messaging_service_sid) params.MessagingServiceSid = d.messaging_service_sid;
      if (errorCode) params.ErrorCode = errorCode;
      if (status === 'delivered' || status === 'undelivered') params.RawDlrDoneDate = yymmddhhmm(event.at);
      const req = formRequest('POST', d.url, params);
      return signTwilio(req, params, config?.auth_token ?? d.auth_token, sign);
    }
    case 'vonage': {
      const fields = {
        msisdn: digits(d.to),
        to: String(d.from ?? ''),
        'network-code': d.network ?? '23410',
        messageId: d.message_id,
        price: d.price ?? '0.03330000',
        status,
        scts: yymmddhhmm(event.at),
        'err-code': failed ? errorCode : '0',
        'api-key': config?.api_key ?? d.api_key ?? '',
        'message-timestamp': sqlTime(event.at),
      };
      if (d.reference != null) fields['client-ref'] = String(d.reference);
      return vonageRequest(d.url, fields, config, sign, now);
    }
    case 'messagebird': {
      const params = {
        id: d.message_id,
        reference: d.reference ?? '',
        recipient: digits(d.to),
        status,
        statusReason: status === 'delivery_failed' && event.outcome === 'failed' ? 'carrier rejected' : MESSAGEBIRD_REASONS[status] ?? status,
        statusDatetime: isoOffset(event.at),
        mccmnc: '20408',
        ported: '0',
        'price[amount]': '0.076',
        'price[currency]': 'EUR',
      };
      if (errorCode) params.statusErrorCode = errorCode;
      const req = formRequest('GET', d.url, params);
      return signMessagebird(req, config?.signing_key, sign, now);
    }
    case 'plivo': {
      const params = {
        From: digits(d.from),
        To: digits(d.to),
        Type: 'sms',
        Status: status,
        MessageUUID: d.message_id,
        ParentMessageUUID: d.message_id,
        PartInfo: '',
        Sequence: String(event.seq),
        Units: String(d.units ?? 1),
        TotalRate: '0.00500',
        TotalAmount: (0.005 * (d.units ?? 1)).toFixed(5),
        MCC: '310',
        MNC: '004',
        MessageTime: plivoTime(d.created),
        QueuedTime: plivoTime(d.created),
        SentTime: plivoTime(event.at),
        PowerpackUUID: '',
      };
      if (status === 'delivered' || status === 'undelivered') params.DeliveryReportTime = plivoTime(event.at);
      if (errorCode) params.ErrorCode = errorCode;
      const req = formRequest(d.method === 'GET' ? 'GET' : 'POST', d.url, params);
      return signPlivo(req, params, config?.auth_token ?? d.auth_token, sign);
    }
    case 'webhook': {
      const doc = {
        type: 'sms.status',
        timestamp: new Date(event.at).toISOString(),
        data: {
          message_id: d.reference_value ?? d.reference ?? null,
          provider_message_id: d.message_id,
          to: d.to,
          status,
          error_code: errorCode,
          timestamp: unix(event.at),
        },
      };
      return webhookRequest(d.url, doc, webhookSecret(config), sign, now, event.event_id);
    }
    default:
      throw new Error(`no status callbacks for ${d.provider}`);
  }
}

// An inbound message from `from` (a phone) to `to` (our sender), as the
// provider would post it to the inbound URL. `account` holds what the mock
// knows of the account (configured, or seen on accepted requests).
export function buildInboundRequest(provider, { url, from, to, text, sign = 'valid', config, account = {}, now = Date.now() }) {
  const id = randomUUID();
  switch (provider) {
    case 'twilio': {
      const sid = `SM${id.replace(/-/g, '')}`;
      const params = {
        ToCountry: 'US',
        SmsMessageSid: sid,
        NumMedia: '0',
        SmsSid: sid,
        SmsStatus: 'received',
        Body: text,
        To: e164(to),
        NumSegments: '1',
        MessageSid: sid,
        AccountSid: config?.account_sid ?? account.account_sid ?? `AC${'0'.repeat(32)}`,
        From: e164(from),
        ApiVersion: '2010-04-01',
      };
      const req = formRequest('POST', url, params);
      return { message_id: sid, request: signTwilio(req, params, config?.auth_token ?? account.auth_token, sign) };
    }
    case 'vonage': {
      const messageId = id.replace(/-/g, '').slice(0, 16).toUpperCase();
      const fields = {
        msisdn: digits(from),
        to: digits(to),
        messageId,
        text,
        type: /^[\x20-\x7e\n\r]*$/.test(text) ? 'text' : 'unicode',
        keyword: String(text).trim().split(/\s+/)[0].toUpperCase(),
        'api-key': config?.api_key ?? account.api_key ?? '',
        'message-timestamp': sqlTime(now),
      };
      const vonage = { ...config, dlr_method: config?.inbound_method ?? config?.dlr_method };
      return { message_id: messageId, request: vonageRequest(url, fields, vonage, sign, now) };
    }
    case 'messagebird': {
      const messageId = id.replace(/-/g, '');
      const params = {
        id: messageId,
        recipient: digits(to),
        originator: digits(from),
        body: text,
        createdDatetime: isoOffset(now),
      };
      const req = formRequest('GET', url, params);
      return { message_id: messageId, request: signMessagebird(req, config?.signing_key, sign, now) };
    }
    case 'plivo': {
      const params = {
        From: digits(from),
        To: digits(to),
        Type: 'sms',
        Text: text,
        MessageUUID: id,
        Units: '1',
        TotalRate: '0.00000',
        TotalAmount: '0.00000',
        MessageIntent: '',
        PowerpackUUID: '',
      };
      const req = formRequest('POST', url, params);
      return { message_id: id, request: signPlivo(req, params, config?.auth_token ?? account.auth_token, sign) };
    }
    case 'webhook': {
      const messageId = `in_${id.replace(/-/g, '')}`;
      const doc = {
        type: 'sms.inbound',
        timestamp: new Date(now).toISOString(),
        data: { message_id: messageId, from: e164(from), to: e164(to), text, timestamp: unix(now) },
      };
      return { message_id: messageId, request: webhookRequest(url, doc, webhookSecret(config), sign, now) };
    }
    default:
      throw fail(`no inbound messages for ${provider}`);
  }
}

// ---------------------------------------------------------------- posting

// One HTTP request, exactly as built (no headers added beyond host and
// content-length); resolves with the answer or the error, never rejects.
export function postRequest({ method, url, headers, body }) {
  return new Promise((resolve) => {
    const started = performance.now();
    const done = (result) => resolve({ ...result, duration_ms: Math.round(performance.now() - started) });
    let target;
    try {
      target = new URL(url);
      if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error(`unsupported URL scheme ${target.protocol}`);
    } catch (err) {
      done({ status: null, response_body: null, error: err.message });
      return;
    }
    const payload = body ? Buffer.from(body) : null;
    const sendHeaders = { ...headers };
    if (payload) sendHeaders['content-length'] = String(payload.length);
    const lib = target.protocol === 'https:' ? https : http;
    const req = lib.request(target, { method, headers: sendHeaders, timeout: POST_TIMEOUT_MS }, (res) => {
      const chunks = [];
      let size = 0;
      res.on('data', (c) => {
        if (size < MAX_LOGGED_RESPONSE) chunks.push(c);
        size += c.length;
      });
      res.on('end', () => done({
        status: res.statusCode,
        response_body: Buffer.concat(chunks).toString('utf8').slice(0, MAX_LOGGED_RESPONSE),
        error: null,
      }));
      res.on('error', (err) => done({ status: res.statusCode, response_body: null, error: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${POST_TIMEOUT_MS} ms`)));
    req.on('error', (err) => done({ status: null, response_body: null, error: err.message }));
    req.end(payload ?? undefined);
  });
}

// Schedules and posts status callbacks and inbound messages, and logs them.
export class CallbackDispatcher {
  constructor({ getConfig, verbose = false }) {
    this.getConfig = getConfig;
    this.verbose = verbose;
    this.rules = new CallbackRules();
    this.log = new CallbackLog();
    this.timers = new Set();
    this.pending = 0;
    this.generation = 0;
  }

  // Back to the start: no rules, an empty log, nothing scheduled.
  reset(startRules) {
    this.generation++;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.pending = 0;
    this.rules = new CallbackRules();
    this.log = new CallbackLog();
    if (startRules) this.rules.add(startRules);
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  // The plan for one accepted message: which events, in which order, when.
  plan(provider, to) {
    const rule = this.rules.take(provider, to);
    const config = this.getConfig();
    const outcome = rule?.outcome ?? 'delivered';
    const events = rule?.events ?? eventsForOutcome(provider, outcome);
    return {
      rule_id: rule?.id ?? null,
      outcome,
      events,
      error_code: rule?.error_code,
      order: rule?.order ?? 'in_order',
      duplicate: rule?.duplicate ?? 0,
      delay_ms: rule?.delay_ms ?? config.callback_delay_ms ?? DEFAULT_CALLBACK_DELAY_MS,
      late_ms: rule?.late_ms ?? 0,
      sign: rule?.sign ?? 'valid',
    };
  }

  // Called once per accepted request that asked for callbacks; every
  // delivery (recipient or message part) gets its own sequence of events.
  schedule(deliveries) {
    if (!deliveries || deliveries.length === 0) return;
    const plan = this.plan(deliveries[0].provider, deliveries[0].to);
    for (const d of deliveries) this.run(d, plan);
  }

  async run(d, plan) {
    const generation = this.generation;
    const statuses = plan.events.map((status, i) => ({ status, terminal: i === plan.events.length - 1 }));
    if (plan.order === 'reversed') statuses.reverse();
    const copies = 1 + plan.duplicate;
    this.pending += statuses.length * copies;
    let seq = 0;
    for (const { status, terminal } of statuses) {
      await this.sleep(plan.delay_ms + (terminal ? plan.late_ms : 0));
      if (generation !== this.generation) return;
      const event = {
        status,
        at: Date.now(),
        seq: ++seq,
        outcome: plan.outcome,
        error_code: plan.error_code,
        event_id: `msg_${randomBytes(12).toString('hex')}`,
      };
      for (let copy = 0; copy < copies; copy++) {
        if (generation !== this.generation) return;
        const config = this.getConfig().credentials[d.provider];
        let request;
        try {
          request = buildStatusRequest(d, event, { config, sign: plan.sign, now: Date.now() });
        } catch (err) {
          this.pending--;
          this.record({ kind: 'status', provider: d.provider, message_id: d.message_id, reference: d.reference ?? null, event: status, copy, sign: plan.sign, request: { method: null, url: d.url, headers: {}, body: '' } }, { status: null, response_body: null, error: err.message, duration_ms: 0 });
          continue;
        }
        const result = await postRequest(request);
        this.pending--;
        if (generation !== this.generation) return;
        this.record({ kind: 'status', provider: d.provider, message_id: d.message_id, reference: d.reference ?? null, event: status, copy, sign: plan.sign, request }, result);
      }
    }
  }

  record({ kind, provider, message_id: messageId, reference, event, copy = 0, sign, request, replay_of: replayOf }, result) {
    const entry = this.log.add({
      seq: 0,
      time: new Date().toISOString(),
      kind,
      provider,
      message_id: messageId,
      reference,
      event,
      copy,
      sign,
      method: request.method,
      url: request.url,
      headers: request.headers,
      body: request.body,
      status: result.status,
      response_body: result.response_body,
      error: result.error,
      duration_ms: result.duration_ms,
    });
    if (replayOf != null) entry.replay_of = replayOf;
    if (this.verbose) {
      const what = kind === 'status' ? `${event}${copy ? ` (copy ${copy})` : ''}` : kind;
      process.stdout.write(`${entry.time} callback ${provider} ${what} ${request.method} ${request.url} -> ${result.status ?? result.error}\n`);
    }
    return entry;
  }

  // Posts a logged request again, byte for byte.
  async replay(seq) {
    const original = this.log.get(seq);
    if (!original) return null;
    const request = { method: original.method, url: original.url, headers: { ...original.headers }, body: original.body };
    const result = await postRequest(request);
    return this.record({ ...original, request, replay_of: seq }, result);
  }

  async inbound(provider, options) {
    const { message_id: messageId, request } = buildInboundRequest(provider, options);
    const result = await postRequest(request);
    return this.record({ kind: 'inbound', provider, message_id: messageId, reference: null, event: 'inbound', sign: options.sign ?? 'valid', request }, result);
  }
}

export { VONAGE_SIGNATURE_METHODS };
