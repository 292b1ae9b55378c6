// Wire formats of the SMS providers the mock stands in for. Each handler gets
// the parsed request and returns { status, body, headers?, messages?, record? }:
// `messages` are the SMS that reach the inbox, `record` extra fields for the
// request log. Paths are the providers' own; only scheme and host differ.

import { createHmac, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES } from 'node:http';

import { CAPTCHA_PROVIDERS, hcaptchaSiteverify, turnstileSiteverify } from './captcha.mjs';

const hex32 = () => randomUUID().replace(/-/g, '');
const hex16Upper = () => hex32().slice(0, 16).toUpperCase();

// Twilio's Messages API dates are RFC 2822 with a numeric zone.
const rfc2822 = (ms) => new Date(ms).toUTCString().replace('GMT', '+0000');
// MessageBird writes ISO 8601 without fractions and with an explicit offset.
const isoSeconds = (iso) => iso.replace(/\.\d{3}Z$/, '+00:00');

// GSM-7 text fits 160 characters in one SMS and 153 per part when split;
// anything else is sent as UCS-2 (70, or 67 per part).
export function segmentCount(text) {
  const s = String(text ?? '');
  const gsm = /^[\x20-\x7e\n\r£¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà€]*$/.test(s);
  const [single, part] = gsm ? [160, 153] : [70, 67];
  return s.length <= single ? 1 : Math.ceil(s.length / part);
}

// ---------------------------------------------------------------- callbacks

// What a message asked for: where its status callbacks go and how long it is
// valid. `validity_s` is normalised to seconds and `expires_at` computed from
// it (or given, for the webhook). Recorded in the request log and the inbox.
function callbackInfo(ctx, { url, method = 'POST', reference = null, validity_s: validity = null, expires_at: expiresAt = null }) {
  let validityS = validity;
  let expires = null;
  if (validityS != null && Number.isFinite(validityS)) {
    expires = new Date(ctx.now + validityS * 1000).toISOString();
  } else if (expiresAt != null) {
    const ms = typeof expiresAt === 'number' ? expiresAt * 1000 : Date.parse(expiresAt);
    if (Number.isFinite(ms)) {
      expires = new Date(ms).toISOString();
      validityS = Math.round((ms - ctx.now) / 1000);
    }
  }
  return {
    url: url ? String(url) : null,
    method: url ? method : null,
    reference: reference == null ? null : String(reference),
    validity_s: validityS ?? null,
    expires_at: expires,
  };
}

const numberOrNull = (value) => {
  if (value === undefined || value === null || value === '') return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
};

// ---------------------------------------------------------------- errors

const TWILIO_CODES = { 401: 20003, 403: 20003, 404: 20404, 405: 20004, 429: 20429, 500: 20500, 503: 20503 };
const TWILIO_MESSAGES = { 401: 'Authenticate', 403: 'Authenticate', 404: 'The requested resource was not found' };

function twilioError(status, code, message) {
  return {
    status,
    body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status },
  };
}

const MESSAGEBIRD_CODES = { 401: 2, 404: 20, 422: 9, 500: 99, 503: 99 };

function messagebirdError(status, code, description, parameter = null) {
  return { status, body: { errors: [{ code, description, parameter }] } };
}

function vonageReject(status, errorText, httpStatus = 200) {
  return { status: httpStatus, body: { 'message-count': '1', messages: [{ status, 'error-text': errorText }] } };
}

// Vonage's newer APIs (Verify v2) answer errors as RFC 7807 problem documents.
function vonageProblem(status, title, detail, extra = {}) {
  const anchor = { 400: 'invalid-code', 401: 'unauthorized', 404: 'not-found', 409: 'conflict', 410: 'gone',
    422: 'invalid-params', 429: 'rate-limit' }[status] ?? 'internal-error';
  return {
    status,
    body: { type: `https://developer.nexmo.com/api-errors#${anchor}`, title, detail, instance: randomUUID(), ...extra },
  };
}

function plivoError(status, error) {
  return { status, body: { api_id: randomUUID(), error } };
}

// The body each provider sends with an error status it chose itself; used by
// the `status` and `throttle` faults when the rule brings no body of its own.
export function errorBody(provider, status) {
  const reason = STATUS_CODES[status] ?? 'Error';
  if (status < 400) return {};
  switch (provider) {
    case 'twilio':
    case 'twilio_verify': {
      const code = TWILIO_CODES[status] ?? 20500;
      return twilioError(status, code, TWILIO_MESSAGES[status] ?? reason).body;
    }
    case 'vonage_verify':
      return vonageProblem(status, status === 429 ? 'Rate Limit Hit' : reason, status === 429
        ? 'Please wait, then retry your request' : `The request failed with status ${status}.`).body;
    case 'vonage': {
      const code = status === 429 ? '1' : status === 401 ? '4' : '5';
      const text = status === 429 ? 'Throttled' : status === 401 ? 'Bad Credentials' : 'Internal Error';
      return vonageReject(code, text).body;
    }
    case 'messagebird':
      return messagebirdError(status, MESSAGEBIRD_CODES[status] ?? status, reason.toLowerCase()).body;
    case 'plivo':
      return plivoError(status, reason.toLowerCase()).body;
    default:
      return { ok: false, error: reason };
  }
}

// What a provider answers when it throttles the sender. Vonage's SMS API says
// so in the body of an HTTP 200; the others use 429.
export function throttleReply(provider) {
  if (provider === 'vonage') return vonageReject('1', 'Throttled');
  return { status: 429, body: errorBody(provider, 429) };
}

// ---------------------------------------------------------------- auth

// Configured credentials must match exactly; with none configured any
// non-empty pair is accepted.
function credentialsMatch(configured, pairs) {
  for (const [given, key] of pairs) {
    if (!given) return false;
    if (configured && configured[key] != null && configured[key] !== given) return false;
  }
  return true;
}

function basicAuth(ctx) {
  return ctx.auth && ctx.auth.scheme === 'Basic' ? ctx.auth : null;
}

function twilioAuthFailure(ctx, pathAccountSid, creds = ctx.config.twilio) {
  const auth = basicAuth(ctx);
  const ok = auth
    && credentialsMatch(creds, [[auth.user, 'account_sid'], [auth.password, 'auth_token']])
    && (pathAccountSid === undefined || pathAccountSid === auth.user);
  if (ok) return null;
  const reply = twilioError(401, 20003, 'Authenticate');
  reply.headers = { 'www-authenticate': 'Basic realm="Twilio API"' };
  return reply;
}

// ---------------------------------------------------------------- Twilio Messages

// Twilio wants E.164; a '+' that was not URL-encoded arrives as a space and
// fails here, as it would against the real API.
const E164 = /^\+[1-9]\d{6,14}$/;

function twilioMessages(ctx) {
  const accountSid = ctx.match[1];
  const denied = twilioAuthFailure(ctx, accountSid);
  if (denied) return denied;

  const p = ctx.form ?? {};
  if (!p.To) return twilioError(400, 21604, "A 'To' phone number is required.");
  if (!E164.test(p.To.replace(/^whatsapp:/, ''))) return twilioError(400, 21211, `Invalid 'To' Phone Number: ${p.To}`);
  if (!p.From && !p.MessagingServiceSid) return twilioError(400, 21603, "A 'From' phone number is required.");
  if (!p.Body && !p.MediaUrl) return twilioError(400, 21602, 'Message body is required.');

  const sid = `SM${hex32()}`;
  const date = rfc2822(ctx.now);
  const uri = `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`;
  // Through a Messaging Service the sender is picked later: no `from` yet,
  // zero segments, and the status is `accepted` rather than `queued`.
  const viaService = !p.From;
  const callback = callbackInfo(ctx, { url: p.StatusCallback, validity_s: numberOrNull(p.ValidityPeriod) });
  const deliveries = callback.url ? [{
    provider: 'twilio',
    url: callback.url,
    message_id: sid,
    to: p.To,
    from: p.From || null,
    messaging_service_sid: p.MessagingServiceSid || null,
    account_sid: accountSid,
    // Twilio signs with the account's auth token: the one configured, else
    // the one this request authenticated with.
    auth_token: ctx.auth.password,
    created: ctx.now,
  }] : [];
  return {
    status: 201,
    body: {
      account_sid: accountSid,
      api_version: '2010-04-01',
      body: p.Body ?? '',
      date_created: date,
      date_sent: null,
      date_updated: date,
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from: p.From || null,
      messaging_service_sid: p.MessagingServiceSid || null,
      num_media: p.MediaUrl ? '1' : '0',
      num_segments: viaService ? '0' : String(segmentCount(p.Body)),
      price: null,
      price_unit: 'USD',
      sid,
      status: viaService ? 'accepted' : 'queued',
      subresource_uris: { media: uri.replace(/\.json$/, '/Media.json') },
      to: p.To,
      uri,
    },
    headers: { 'twilio-request-id': `RQ${hex32()}` },
    messages: [{ to: p.To, from: p.From || p.MessagingServiceSid, text: p.Body ?? '', callback }],
    callback,
    deliveries,
    account: { account_sid: accountSid, auth_token: ctx.auth.password },
  };
}

// ---------------------------------------------------------------- Twilio Verify

const VERIFICATION_TTL_MS = 10 * 60 * 1000;
const MAX_CHECKS = 5;
const MAX_PENDING = 10_000;

// Pending verifications by (service, To). Bounded like the other stores so a
// benchmark of Verify sends does not grow memory without bound.
export class Verifications {
  constructor() {
    this.byKey = new Map();
  }

  clear() {
    this.byKey.clear();
  }

  pending(service, to, now) {
    const key = `${service}\n${to}`;
    const v = this.byKey.get(key);
    if (v && v.expires <= now) {
      this.byKey.delete(key);
      return null;
    }
    return v ?? null;
  }

  bySid(service, sid, now) {
    for (const v of this.byKey.values()) {
      if (v.service === service && v.sid === sid) return this.pending(service, v.to, now);
    }
    return null;
  }

  create(service, to, fields, now) {
    const key = `${service}\n${to}`;
    if (this.byKey.size >= MAX_PENDING) this.byKey.delete(this.byKey.keys().next().value);
    const v = {
      ...fields,
      service,
      to,
      sid: `VE${hex32()}`,
      code: String(randomInt(0, 1_000_000)).padStart(6, '0'),
      checks: 0,
      attempts: [],
      created: new Date(now).toISOString(),
      expires: now + VERIFICATION_TTL_MS,
    };
    this.byKey.set(key, v);
    return v;
  }

  consume(v) {
    this.byKey.delete(`${v.service}\n${v.to}`);
  }
}

// Verify uses the account's credentials; `twilio_verify` in the config may
// name other ones and pin the service.
function verifyAuthFailure(ctx, service) {
  const creds = ctx.config.twilio_verify ?? ctx.config.twilio;
  const denied = twilioAuthFailure(ctx, undefined, creds);
  if (denied) return denied;
  const wanted = creds?.service_sid;
  if (wanted && wanted !== service) {
    return twilioError(404, 20404, `The requested resource /Services/${service} was not found`);
  }
  return null;
}

function verificationResource(ctx, v, status, extra) {
  return {
    sid: v.sid,
    service_sid: v.service,
    account_sid: v.account_sid,
    to: v.to,
    channel: v.channel,
    status,
    valid: status === 'approved',
    amount: null,
    payee: null,
    date_created: v.created,
    date_updated: ctx.iso,
    ...extra,
  };
}

const VERIFY_CHANNELS = ['sms', 'call', 'email', 'whatsapp', 'sna'];

function twilioVerifyStart(ctx) {
  const service = ctx.match[1];
  const denied = verifyAuthFailure(ctx, service);
  if (denied) return denied;

  const p = ctx.form ?? {};
  if (!p.To || (p.Channel !== 'email' && !E164.test(p.To))) return twilioError(400, 60200, `Invalid parameter \`To\`: ${p.To ?? ''}`);
  if (!VERIFY_CHANNELS.includes(p.Channel)) return twilioError(400, 60200, `Invalid parameter \`Channel\`: ${p.Channel ?? ''}`);

  // A new request while one is pending resends the same code, as Verify does.
  const store = ctx.state.verifications;
  const v = store.pending(service, p.To, ctx.now)
    ?? store.create(service, p.To, { account_sid: ctx.auth.user, channel: p.Channel }, ctx.now);
  v.channel = p.Channel;
  v.attempts.push({ attempt_sid: `VL${hex32()}`, channel: p.Channel, time: ctx.iso });

  return {
    status: 201,
    body: verificationResource(ctx, v, 'pending', {
      lookup: { carrier: null },
      send_code_attempts: v.attempts,
      sna: null,
      url: `${ctx.baseUrl}/v2/Services/${service}/Verifications/${v.sid}`,
    }),
    messages: [{ to: p.To, text: `Your verification code is: ${v.code}` }],
  };
}

function twilioVerifyCheck(ctx) {
  const service = ctx.match[1];
  const denied = verifyAuthFailure(ctx, service);
  if (denied) return denied;

  const p = ctx.form ?? {};
  if (!p.Code) return twilioError(400, 60200, 'Invalid parameter `Code`: ');
  if (!p.To && !p.VerificationSid) {
    return twilioError(400, 60200, "Either a 'To' number or 'VerificationSid' must be specified");
  }
  const store = ctx.state.verifications;
  const v = p.To ? store.pending(service, p.To, ctx.now) : store.bySid(service, p.VerificationSid, ctx.now);
  if (!v) {
    return twilioError(404, 20404, `The requested resource /Services/${service}/VerificationCheck was not found`);
  }
  if (v.checks >= MAX_CHECKS) return twilioError(429, 60202, 'Max check attempts reached');
  v.checks++;

  const approved = p.Code === v.code;
  if (approved) store.consume(v);
  return {
    status: 200,
    body: verificationResource(ctx, v, approved ? 'approved' : 'pending', { sna_attempts_error_codes: [] }),
  };
}

// ---------------------------------------------------------------- Vonage Verify (v2)

const VONAGE_WRONG_CODES = 3;   // the third wrong code ends the workflow (410)

// Verifications by request_id, and which one is running for each number (Vonage refuses a
// second one to a number while one runs: 409). Bounded like the other stores.
export class VonageVerifications {
  constructor() {
    this.byId = new Map();
    this.byTo = new Map();
  }

  clear() {
    this.byId.clear();
    this.byTo.clear();
  }

  get(id, now) {
    const v = this.byId.get(id);
    if (v && v.expires <= now) {
      this.end(v);
      return null;
    }
    return v ?? null;
  }

  running(to, now) {
    const id = this.byTo.get(to);
    return id ? this.get(id, now) : null;
  }

  create(fields, now) {
    if (this.byId.size >= MAX_PENDING) this.end(this.byId.values().next().value);
    const length = fields.code_length ?? 4;
    const v = {
      ...fields,
      request_id: randomUUID(),
      code: String(randomInt(0, 10 ** length)).padStart(length, '0'),
      wrong: 0,
      expires: now + (fields.channel_timeout ?? 300) * 1000,
    };
    this.byId.set(v.request_id, v);
    this.byTo.set(v.to, v.request_id);
    return v;
  }

  end(v) {
    this.byId.delete(v.request_id);
    if (this.byTo.get(v.to) === v.request_id) this.byTo.delete(v.to);
  }
}

// Basic authentication with the account's API key and secret (`vonage_verify` in the config,
// else `vonage`).
function vonageVerifyAuthFailure(ctx) {
  const auth = basicAuth(ctx);
  const creds = ctx.config.vonage_verify ?? ctx.config.vonage;
  if (auth && credentialsMatch(creds, [[auth.user, 'api_key'], [auth.password, 'api_secret']])) return null;
  return vonageProblem(401, 'Unauthorized', 'You did not provide correct credentials.');
}

const invalidParams = (name, reason) => vonageProblem(422, 'Invalid params', 'The value of one or more parameters is invalid.',
  { invalid_parameters: [{ name, reason }] });

function vonageVerifyStart(ctx) {
  const denied = vonageVerifyAuthFailure(ctx);
  if (denied) return denied;
  const p = ctx.json;
  if (!p || typeof p !== 'object' || Array.isArray(p)) return invalidParams('body', 'must be a JSON object');
  if (typeof p.brand !== 'string' || p.brand.length < 1 || p.brand.length > 16) return invalidParams('brand', 'must be 1 to 16 characters');
  const step = Array.isArray(p.workflow) ? p.workflow[0] : null;
  if (!step || typeof step !== 'object' || step.channel !== 'sms') return invalidParams('workflow', 'the first step must be the sms channel');
  if (typeof step.to !== 'string' || !/^[1-9]\d{6,14}$/.test(step.to)) return invalidParams('to', 'must be an E.164 number without +');
  if (p.code_length !== undefined && !(Number.isInteger(p.code_length) && p.code_length >= 4 && p.code_length <= 10)) {
    return invalidParams('code_length', 'must be 4 to 10');
  }
  if (p.channel_timeout !== undefined && !(Number.isInteger(p.channel_timeout) && p.channel_timeout >= 60 && p.channel_timeout <= 900)) {
    return invalidParams('channel_timeout', 'must be 60 to 900 seconds');
  }
  if (p.client_ref !== undefined && (typeof p.client_ref !== 'string' || p.client_ref.length < 1 || p.client_ref.length > 16)) {
    return invalidParams('client_ref', 'must be 1 to 16 characters');
  }
  const store = ctx.state.vonageVerifications;
  const running = store.running(step.to, ctx.now);
  if (running) {
    return vonageProblem(409, 'Conflict', 'Concurrent verifications to the same number are not allowed',
      { request_id: running.request_id });
  }
  const v = store.create({
    to: step.to, brand: p.brand, code_length: p.code_length, channel_timeout: p.channel_timeout,
    client_ref: p.client_ref ?? null,
  }, ctx.now);
  return {
    status: 202,
    body: { request_id: v.request_id },
    messages: [{ to: step.to, from: p.brand, text: `Your ${p.brand} verification code is ${v.code}` }],
    record: { request_id: v.request_id },
  };
}

function vonageVerifyCheck(ctx) {
  const denied = vonageVerifyAuthFailure(ctx);
  if (denied) return denied;
  const id = decodeURIComponent(ctx.match[1]);
  const p = ctx.json;
  if (!p || typeof p !== 'object' || typeof p.code !== 'string' || !/^[A-Za-z0-9]{4,10}$/.test(p.code)) {
    return invalidParams('code', 'must be 4 to 10 letters or digits');
  }
  const store = ctx.state.vonageVerifications;
  const v = store.get(id, ctx.now);
  if (!v) return vonageProblem(404, 'Not Found', `Request ${id} was not found or it has been verified already.`);
  if (p.code === v.code) {
    store.end(v);
    return { status: 200, body: { request_id: v.request_id, status: 'completed' } };
  }
  v.wrong++;
  if (v.wrong >= VONAGE_WRONG_CODES) {
    store.end(v);
    return vonageProblem(410, 'Invalid Code', 'An incorrect code has been provided too many times. Workflow terminated.');
  }
  return vonageProblem(400, 'Invalid Code', 'The code you provided does not match the expected value.');
}

// ---------------------------------------------------------------- Vonage SMS API

function vonageSms(ctx) {
  // The SMS API takes form or JSON bodies, and query parameters as well.
  const p = { ...ctx.query, ...(ctx.json && typeof ctx.json === 'object' ? ctx.json : ctx.form) };
  if (!p.api_key) return vonageReject('2', 'Missing api_key');
  if (!p.api_secret) return vonageReject('2', 'Missing api_secret');
  if (!credentialsMatch(ctx.config.vonage, [[p.api_key, 'api_key'], [p.api_secret, 'api_secret']])) {
    return vonageReject('4', 'Bad Credentials');
  }
  if (!p.from) return vonageReject('2', 'Missing from param');
  if (!p.to) return vonageReject('2', 'Missing to param');
  if (!p.text) return vonageReject('2', 'Missing text param');
  if (!/^\d{7,15}$/.test(String(p.to))) return vonageReject('3', 'Invalid to address');

  // A long text is split and every part is reported as a message of its own.
  const parts = segmentCount(p.text);
  const price = 0.0333;
  const messages = [];
  const ttlMs = numberOrNull(p.ttl);
  const callback = callbackInfo(ctx, {
    url: p.callback, reference: p['client-ref'], validity_s: ttlMs == null ? null : ttlMs / 1000,
  });
  // status-report-req=0 asks for no receipt; every part gets its own otherwise.
  const wantReport = callback.url && !['0', 'false', false, 0].includes(p['status-report-req']);
  const deliveries = [];
  for (let i = 0; i < parts; i++) {
    ctx.state.vonageBalance = Math.max(0, ctx.state.vonageBalance - price);
    const m = {
      to: String(p.to),
      'message-id': hex16Upper(),
      status: '0',
      'remaining-balance': ctx.state.vonageBalance.toFixed(8),
      'message-price': price.toFixed(8),
      network: '23410',
    };
    if (p['client-ref'] != null) m['client-ref'] = String(p['client-ref']);
    messages.push(m);
    if (wantReport) {
      deliveries.push({
        provider: 'vonage',
        url: callback.url,
        message_id: m['message-id'],
        reference: callback.reference,
        to: String(p.to),
        from: String(p.from),
        price: m['message-price'],
        network: m.network,
        api_key: String(p.api_key),
        created: ctx.now,
      });
    }
  }
  return {
    status: 200,
    body: { 'message-count': String(parts), messages },
    messages: [{ to: p.to, from: p.from, text: p.text, callback }],
    callback,
    deliveries,
    account: { api_key: String(p.api_key) },
  };
}

// ---------------------------------------------------------------- MessageBird

function messagebirdMessages(ctx) {
  const header = ctx.headers.authorization ?? '';
  const m = /^AccessKey\s+(\S+)$/i.exec(header);
  if (!m || !credentialsMatch(ctx.config.messagebird, [[m[1], 'access_key']])) {
    return messagebirdError(401, 2, 'Request not allowed (incorrect access_key)', 'access_key');
  }

  const p = (ctx.json && typeof ctx.json === 'object' ? ctx.json : ctx.form) ?? {};
  const recipients = (Array.isArray(p.recipients) ? p.recipients : String(p.recipients ?? '').split(','))
    .map((r) => String(r).trim())
    .filter((r) => r !== '');
  if (!p.originator) return messagebirdError(422, 9, 'originator is required', 'originator');
  if (!p.body) return messagebirdError(422, 9, 'body is required', 'body');
  if (recipients.length === 0) return messagebirdError(422, 9, 'no (correct) recipients found', 'recipients');

  const id = hex32();
  const when = isoSeconds(ctx.iso);
  const callback = callbackInfo(ctx, {
    url: p.reportUrl, method: 'GET', reference: p.reference, validity_s: numberOrNull(p.validity),
  });
  // MessageBird sends status reports only for messages with a reference.
  const deliveries = callback.url && callback.reference != null
    ? recipients.map((r) => ({
      provider: 'messagebird',
      url: callback.url,
      message_id: id,
      reference: callback.reference,
      to: r.replace(/^\+/, ''),
      from: String(p.originator),
      created: ctx.now,
    }))
    : [];
  return {
    status: 201,
    body: {
      id,
      href: `${ctx.baseUrl}/messages/${id}`,
      direction: 'mt',
      type: 'sms',
      originator: String(p.originator),
      body: String(p.body),
      reference: p.reference ?? null,
      validity: p.validity ?? null,
      gateway: 10,
      typeDetails: {},
      datacoding: 'plain',
      mclass: 1,
      scheduledDatetime: null,
      createdDatetime: when,
      recipients: {
        totalCount: recipients.length,
        totalSentCount: recipients.length,
        totalDeliveredCount: 0,
        totalDeliveryFailedCount: 0,
        items: recipients.map((r) => ({
          recipient: /^\d{1,15}$/.test(r.replace(/^\+/, '')) ? Number(r.replace(/^\+/, '')) : r,
          status: 'sent',
          statusDatetime: when,
        })),
      },
    },
    messages: recipients.map((r) => ({ to: r.replace(/^\+/, ''), from: String(p.originator), text: String(p.body), callback })),
    callback,
    deliveries,
  };
}

// ---------------------------------------------------------------- Plivo

function plivoMessage(ctx) {
  const authId = ctx.match[1];
  const auth = basicAuth(ctx);
  if (!auth || auth.user !== authId
      || !credentialsMatch(ctx.config.plivo, [[auth.user, 'auth_id'], [auth.password, 'auth_token']])) {
    return plivoError(401, 'Authentication failed');
  }
  const p = ctx.json;
  if (!p || typeof p !== 'object') return plivoError(400, 'request body must be a JSON object');
  if (!p.src && !p.powerpack_uuid) return plivoError(400, 'src parameter is required');
  if (!p.dst) return plivoError(400, 'dst parameter is required');
  if (!p.text) return plivoError(400, 'text parameter is required');

  // Several destinations are joined with "<" and get a message each.
  const dsts = String(p.dst).split('<').filter((d) => d !== '');
  const uuids = dsts.map(() => randomUUID());
  const method = String(p.method ?? 'POST').toUpperCase() === 'GET' ? 'GET' : 'POST';
  const callback = callbackInfo(ctx, { url: p.url, method, validity_s: numberOrNull(p.message_expiry) });
  const units = segmentCount(p.text);
  const deliveries = callback.url
    ? dsts.map((d, i) => ({
      provider: 'plivo',
      url: callback.url,
      method,
      message_id: uuids[i],
      to: d,
      from: p.src ? String(p.src) : '',
      units,
      auth_token: auth.password,
      created: ctx.now,
    }))
    : [];
  return {
    status: 202,
    body: { api_id: randomUUID(), message: 'message(s) queued', message_uuid: uuids },
    messages: dsts.map((d) => ({ to: d, from: p.src ?? null, text: String(p.text), callback })),
    callback,
    deliveries,
    account: { auth_id: auth.user, auth_token: auth.password },
  };
}

// ---------------------------------------------------------------- signed webhook

const WEBHOOK_TOLERANCE_S = 5 * 60;

// Standard Webhooks: the signature is HMAC-SHA-256 over "{id}.{timestamp}.{body}"
// keyed by the base64 part of a `whsec_` secret; the header may carry several
// space-separated "v1,<base64>" entries, and one match is enough.
export function checkWebhookSignature(secret, headers, rawBody, nowMs) {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signature = headers['webhook-signature'];
  if (!id || !timestamp || !signature) {
    return { status: 400, error: 'missing webhook-id, webhook-timestamp or webhook-signature header' };
  }
  if (!/^\d+$/.test(timestamp)) return { status: 400, error: 'webhook-timestamp must be Unix seconds' };
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > WEBHOOK_TOLERANCE_S) {
    return { status: 401, error: 'webhook-timestamp is too far from the current time' };
  }
  if (!secret) return { status: 0, checked: false };

  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(rawBody).digest();
  for (const entry of signature.split(' ')) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
    const given = Buffer.from(entry.slice(comma + 1), 'base64');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return { status: 0, checked: true };
  }
  return { status: 401, error: 'signature mismatch' };
}

function webhook(ctx) {
  const check = checkWebhookSignature(ctx.config.webhook?.secret, ctx.headers, ctx.raw, ctx.now);
  if (check.status) {
    return {
      status: check.status,
      body: { ok: false, error: check.error },
      record: { signature_valid: false, signature_error: check.error },
    };
  }
  const record = { signature_valid: check.checked ? true : null };
  // The message sits at the top level or, as Standard Webhooks events carry it, under "data".
  const p = ctx.json?.data && typeof ctx.json.data === 'object' ? ctx.json.data : ctx.json;
  const text = p?.text ?? p?.body;
  if (!p || typeof p !== 'object' || !p.to || text == null) {
    return { status: 400, body: { ok: false, error: 'body must be a JSON object with "to" and "text"' }, record };
  }
  const id = `msg_${hex32()}`;
  const callback = callbackInfo(ctx, {
    url: p.status_callback, reference: p.message_id, expires_at: p.expires_at ?? null,
  });
  const deliveries = callback.url
    ? [{
      provider: 'webhook',
      url: callback.url,
      message_id: id,
      reference: callback.reference,
      reference_value: p.message_id ?? null, // echoed as sent: a number stays a number
      to: String(p.to),
      created: ctx.now,
    }]
    : [];
  return {
    status: 200,
    body: { ok: true, id },
    record,
    messages: [{ to: p.to, from: p.from ?? null, text, callback }],
    callback,
    deliveries,
  };
}

// ---------------------------------------------------------------- routing

// Provider names are the `kind` values of api_integrations, and the CAPTCHA verifiers.
export const PROVIDERS = ['twilio', 'twilio_verify', 'vonage', 'vonage_verify', 'messagebird', 'plivo', 'webhook',
  ...CAPTCHA_PROVIDERS];

const ROUTES = [
  { provider: 'twilio', re: /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/, handle: twilioMessages },
  { provider: 'twilio_verify', re: /^\/v2\/Services\/([^/]+)\/Verifications$/, handle: twilioVerifyStart },
  { provider: 'twilio_verify', re: /^\/v2\/Services\/([^/]+)\/VerificationCheck$/, handle: twilioVerifyCheck },
  { provider: 'vonage', re: /^\/sms\/json$/, handle: vonageSms, methods: ['GET', 'POST'] },
  { provider: 'vonage_verify', re: /^\/v2\/verify$/, handle: vonageVerifyStart },
  { provider: 'vonage_verify', re: /^\/v2\/verify\/([^/]+)$/, handle: vonageVerifyCheck },
  { provider: 'messagebird', re: /^\/messages$/, handle: messagebirdMessages },
  { provider: 'plivo', re: /^\/v1\/Account\/([^/]+)\/Message\/?$/, handle: plivoMessage },
  { provider: 'webhook', re: /^\/webhook(?:\/.*)?$/, handle: webhook },
  { provider: 'turnstile', re: /^\/turnstile\/v0\/siteverify$/, handle: turnstileSiteverify },
  { provider: 'hcaptcha', re: /^\/siteverify$/, handle: hcaptchaSiteverify },
];

export function matchProvider(path) {
  for (const route of ROUTES) {
    const match = route.re.exec(path);
    if (match) return { provider: route.provider, handle: route.handle, methods: route.methods ?? ['POST'], match };
  }
  return null;
}
