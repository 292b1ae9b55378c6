#!/usr/bin/env node
// Mock SMS provider: answers in the wire formats of Twilio (Messages and
// Verify), Vonage (SMS and Verify v2), MessageBird, Plivo and a signed webhook, records what it
// received, injects faults on demand, posts signed status callbacks and
// inbound messages as those providers do (callbacks.mjs), and shows the
// messages in an inbox page. Plain Node, no dependencies. See README.md in
// this folder.

import http from 'node:http';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import {
  CALLBACK_PROVIDERS, CallbackDispatcher, DEFAULT_CALLBACK_DELAY_MS, SIGN_MODES, VONAGE_METHODS, VONAGE_SIGNATURE_METHODS,
} from './callbacks.mjs';
import { CAPTCHA_PROVIDERS, CaptchaTokens, checkCaptchaConfig } from './captcha.mjs';
import { Faults, requestRecipients } from './faults.mjs';
import { renderInboxPage } from './inbox_page.mjs';
import {
  PROVIDERS, Verifications, VonageVerifications, errorBody, matchProvider, throttleReply,
} from './providers.mjs';
import { Inbox, RequestLog, Stats } from './store.mjs';

const MAX_BODY_BYTES = 1024 * 1024;
const START_BALANCE = 10;
const CONFIG_KEYS = new Set([...PROVIDERS, 'delay_ms', 'callback_url', 'callback_delay_ms']);

const USAGE = `usage: node server.mjs [--port 8025] [--host 127.0.0.1] [--delay-ms 0]
                      [--config file.json] [--no-record] [--verbose]`;

// ---------------------------------------------------------------- config

function httpError(status, message) {
  const err = new Error(message);
  err.status = status;
  return err;
}

const isHttpUrl = (value) => {
  if (typeof value !== 'string') return false;
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
};

// Checks (and normalises) the keys of a provider object that are not plain
// credentials: inbound URL and integration name, Vonage's signing settings.
function checkProviderConfig(key, value) {
  const out = { ...value };
  if (out.inbound_url !== undefined && out.inbound_url !== null && !isHttpUrl(out.inbound_url)) {
    throw httpError(400, `${key}.inbound_url must be an http(s) URL`);
  }
  if (out.integration !== undefined && (typeof out.integration !== 'string' || out.integration === '')) {
    throw httpError(400, `${key}.integration must be the integration's name`);
  }
  if (CAPTCHA_PROVIDERS.includes(key)) checkCaptchaConfig(key, out);
  if (key === 'vonage') {
    if (out.signature_method !== undefined && !VONAGE_SIGNATURE_METHODS.includes(out.signature_method)) {
      throw httpError(400, `vonage.signature_method must be one of ${VONAGE_SIGNATURE_METHODS.join(', ')}`);
    }
    for (const k of ['dlr_method', 'inbound_method']) {
      if (out[k] === undefined) continue;
      const method = String(out[k]).toUpperCase().replace('_', '-');
      if (!VONAGE_METHODS.includes(method)) throw httpError(400, `vonage.${k} must be one of ${VONAGE_METHODS.join(', ')}`);
      out[k] = method;
    }
  }
  return out;
}

// Merges a config document into `config`: a provider object replaces that
// provider's credentials, null removes them; delay_ms delays every answer;
// callback_url and callback_delay_ms set how callbacks are made.
function applyConfig(config, doc) {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw httpError(400, 'config must be a JSON object');
  for (const key of Object.keys(doc)) {
    if (!CONFIG_KEYS.has(key)) throw httpError(400, `unknown config key "${key}"`);
  }
  for (const key of ['delay_ms', 'callback_delay_ms']) {
    if (doc[key] !== undefined && !(Number.isInteger(doc[key]) && doc[key] >= 0)) {
      throw httpError(400, `${key} must be a non-negative integer`);
    }
  }
  if (doc.callback_url !== undefined && doc.callback_url !== null && !isHttpUrl(doc.callback_url)) {
    throw httpError(400, 'callback_url must be an http(s) URL or null');
  }
  for (const key of PROVIDERS) {
    const value = doc[key];
    if (value !== undefined && value !== null && (typeof value !== 'object' || Array.isArray(value))) {
      throw httpError(400, `${key} must be an object of credentials or null`);
    }
  }
  const checked = {};
  for (const key of PROVIDERS) {
    if (doc[key]) checked[key] = checkProviderConfig(key, doc[key]);
  }
  for (const key of PROVIDERS) {
    if (doc[key] === null) delete config.credentials[key];
    else if (doc[key] !== undefined) config.credentials[key] = checked[key];
  }
  if (doc.delay_ms !== undefined) config.delay_ms = doc.delay_ms;
  if (doc.callback_url !== undefined) config.callback_url = doc.callback_url === null ? null : doc.callback_url.replace(/\/+$/, '');
  if (doc.callback_delay_ms !== undefined) config.callback_delay_ms = doc.callback_delay_ms;
}

const copyConfig = (c) => ({
  credentials: { ...c.credentials }, delay_ms: c.delay_ms, callback_url: c.callback_url, callback_delay_ms: c.callback_delay_ms,
});

function configView(config) {
  return {
    ...config.credentials,
    delay_ms: config.delay_ms,
    callback_url: config.callback_url,
    callback_delay_ms: config.callback_delay_ms,
  };
}

// Where a provider posts inbound messages: its own inbound_url, or
// {callback_url}/{kind}/{integration}/inbound.
function inboundUrl(config, kind) {
  const c = config.credentials[kind];
  if (c?.inbound_url) return c.inbound_url;
  if (config.callback_url && c?.integration) {
    return `${config.callback_url}/${kind}/${encodeURIComponent(c.integration)}/inbound`;
  }
  return null;
}

// ---------------------------------------------------------------- HTTP helpers

const CORS = { 'access-control-allow-origin': '*' };
// Control routes that read a JSON body; every other one drains it.
const BODY_ROUTES = new Set(['POST /_mock/faults', 'POST /_mock/config', 'POST /_mock/callbacks', 'POST /_mock/inbound']);

function send(res, status, body, headers) {
  if (status === 204 || status === 304 || body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  let text;
  let type;
  if (typeof body === 'string') {
    text = body;
    type = /^\s*[[{]/.test(body) ? 'application/json' : 'text/plain; charset=utf-8';
  } else {
    text = JSON.stringify(body);
    type = 'application/json';
  }
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function readBody(req, done) {
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  });
  req.on('end', () => {
    if (size > MAX_BODY_BYTES) done(httpError(413, 'request body too large'));
    else done(null, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  });
  req.on('error', () => {});
}

function parseAuthorization(header) {
  if (!header) return null;
  const space = header.indexOf(' ');
  const scheme = space < 0 ? header : header.slice(0, space);
  const credentials = space < 0 ? '' : header.slice(space + 1).trim();
  if (scheme.toLowerCase() !== 'basic') return { scheme, credentials };
  const decoded = Buffer.from(credentials, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0
    ? { scheme: 'Basic', user: decoded, password: '' }
    : { scheme: 'Basic', user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function parseBody(contentType, text) {
  const type = (contentType ?? '').toLowerCase();
  let form = null;
  let json = null;
  if (type.startsWith('application/x-www-form-urlencoded')) {
    form = Object.fromEntries(new URLSearchParams(text));
  } else if (type.includes('json')) {
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
  }
  return { form, json };
}

// Runs `fn` after `ms` unless the client goes away first, so held timers die
// with their connection.
function later(res, ms, fn) {
  const timer = setTimeout(() => {
    res.off('close', cancel);
    fn();
  }, ms);
  function cancel() {
    clearTimeout(timer);
  }
  res.once('close', cancel);
}

// Provider requests open at once: from arrival until the answer is handed to the socket (or the
// connection goes), delay included. What a client's concurrency cap is checked against.
class OpenRequests {
  constructor() {
    this.open = 0;
    this.peak = 0;
  }

  track(res) {
    this.open++;
    if (this.open > this.peak) this.peak = this.open;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      this.open--;
    };
    res.once('finish', end);
    res.once('close', end);
  }

  // Requests still open count towards the next peak.
  resetPeak() {
    this.peak = this.open;
  }

  toJSON() {
    return { open: this.open, peak: this.peak };
  }
}

// ---------------------------------------------------------------- the server

export function createMockProvider({ delayMs = 0, record = true, verbose = false, config: startConfig = {} } = {}) {
  const initial = { credentials: {}, delay_ms: delayMs, callback_url: null, callback_delay_ms: DEFAULT_CALLBACK_DELAY_MS };
  const { faults: startFaults, callbacks: startCallbacks, ...startDoc } = startConfig;
  applyConfig(initial, startDoc);

  const state = {
    config: null,
    requests: new RequestLog(),
    inbox: new Inbox(),
    stats: new Stats(),
    // Outlives a reset: requests open across it still end.
    openRequests: new OpenRequests(),
    faults: new Faults(),
    verifications: new Verifications(),
    vonageVerifications: new VonageVerifications(),
    captchaTokens: new CaptchaTokens(),
    vonageBalance: START_BALANCE,
    callbacks: null,
    // The account each provider last accepted a message for: inbound
    // messages are signed with it when no credentials are configured.
    accounts: {},
  };
  state.callbacks = new CallbackDispatcher({ getConfig: () => state.config, verbose });

  function reset() {
    state.config = { ...copyConfig(initial), credentials: structuredClone(initial.credentials) };
    // Fresh stores restart the sequence numbers and inbox ids as well.
    state.requests = new RequestLog();
    state.inbox = new Inbox();
    state.stats.reset();
    state.openRequests.resetPeak();
    state.faults.clear();
    if (startFaults) state.faults.add(startFaults);
    state.verifications.clear();
    state.vonageVerifications.clear();
    state.captchaTokens.clear();
    state.vonageBalance = START_BALANCE;
    state.callbacks.reset(startCallbacks);
    state.accounts = {};
  }
  reset();

  function answerProvider(req, res, route, entry, ctx) {
    let reply;
    if (ctx.fault && ctx.fault.mode === 'status') {
      const body = ctx.fault.body !== undefined ? ctx.fault.body : errorBody(route.provider, ctx.fault.status);
      reply = { status: ctx.fault.status, body };
    } else if (ctx.fault && ctx.fault.mode === 'throttle') {
      reply = throttleReply(route.provider);
      if (ctx.fault.body !== undefined) reply.body = ctx.fault.body;
    } else if (!route.methods.includes(req.method)) {
      reply = { status: 405, body: errorBody(route.provider, 405), headers: { allow: route.methods.join(', ') } };
    } else {
      reply = route.handle(ctx);
    }
    let headers = reply.headers;
    if (ctx.fault && ctx.fault.retry_after !== undefined) {
      headers = { ...headers, 'retry-after': String(ctx.fault.retry_after) };
    }
    send(res, reply.status, reply.body, headers);

    if (reply.messages) {
      for (const m of reply.messages) {
        state.inbox.add(route.provider, m.to, m.text, ctx.iso, { from: m.from, callback: m.callback });
      }
    }
    if (reply.account) state.accounts[route.provider] = reply.account;
    // Status callbacks start once the message is accepted and answered.
    if (reply.deliveries && reply.deliveries.length > 0) state.callbacks.schedule(reply.deliveries);
    state.stats.countOutcome(reply.status);
    if (entry) {
      entry.status = reply.status;
      entry.callback = reply.callback ?? null;
      if (reply.record) Object.assign(entry, reply.record);
    }
    if (verbose) {
      const fault = ctx.fault ? ` fault=${ctx.fault.mode}` : '';
      process.stdout.write(`${ctx.iso} ${route.provider} ${req.method} ${ctx.path} -> ${reply.status}${fault}\n`);
    }
  }

  function onProvider(req, res, route, path, queryString) {
    readBody(req, (err, raw) => {
      if (err) {
        send(res, err.status, { error: err.message });
        return;
      }
      const now = req.arrivedAt ?? Date.now();
      const iso = new Date(now).toISOString();
      const text = raw.toString('utf8');
      const { form, json } = parseBody(req.headers['content-type'], text);
      const query = queryString ? Object.fromEntries(new URLSearchParams(queryString)) : {};
      const auth = parseAuthorization(req.headers.authorization);
      const fault = state.faults.take(route.provider, requestRecipients(form, json), path);

      state.stats.countRequest(route.provider);
      const entry = record
        ? state.requests.add({
          seq: 0, time: iso, provider: route.provider, method: req.method, path, query,
          headers: req.headers, body: text, form, json, auth, status: null, fault,
        })
        : null;

      if (fault && fault.mode === 'drop') {
        state.stats.countOutcome('drop');
        req.socket.destroy();
        return;
      }
      if (fault && fault.mode === 'timeout') {
        // Never answer: the client gives up. Nothing is scheduled, so nothing
        // outlives the connection.
        state.stats.countOutcome('timeout');
        return;
      }

      const ctx = {
        now, iso, path, query, form, json, auth, raw, fault,
        headers: req.headers,
        match: route.match,
        config: state.config.credentials,
        state,
        baseUrl: `http://${req.headers.host ?? 'localhost'}`,
      };
      const delay = state.config.delay_ms + (fault && fault.mode === 'slow' ? fault.delay_ms : 0);
      if (delay > 0) later(res, delay, () => answerProvider(req, res, route, entry, ctx));
      else answerProvider(req, res, route, entry, ctx);
    });
  }

  function readJson(req, done) {
    readBody(req, (err, raw) => {
      if (err) return done(err);
      if (raw.length === 0) return done(null, {});
      try {
        return done(null, JSON.parse(raw.toString('utf8')));
      } catch {
        return done(httpError(400, 'body must be JSON'));
      }
    });
  }

  // Control API under /_mock, readable from a page on another origin.
  function onControl(req, res, path, params) {
    const reply = (status, body, headers) => send(res, status, body, { ...CORS, ...headers });
    const fail = (err) => reply(err.status ?? 500, { error: err.message });
    const withJson = (fn) => readJson(req, (err, doc) => {
      if (err) return fail(err);
      try {
        return fn(doc);
      } catch (e) {
        return fail(e);
      }
    });
    const route = `${req.method} ${path}`;
    // Drain bodies nobody reads so a keep-alive connection stays usable.
    if (!BODY_ROUTES.has(route)) req.resume();

    if (req.method === 'OPTIONS') {
      return reply(204, undefined, {
        'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS',
        'access-control-allow-headers': 'content-type',
        'access-control-max-age': '600',
      });
    }
    switch (route) {
      case 'GET /_mock/health':
        return reply(200, 'ok');
      case 'GET /_mock/requests': {
        const since = params.get('since');
        if (since !== null && !/^\d+$/.test(since)) return reply(400, { error: 'since must be a sequence number' });
        return reply(200, state.requests.list({
          provider: params.get('provider') || undefined,
          since: since === null ? undefined : Number(since),
        }));
      }
      case 'DELETE /_mock/requests':
        state.requests.clear();
        state.inbox.clear();
        return reply(204);
      case 'DELETE /_mock/inbox':
        state.inbox.clear();
        return reply(204);
      case 'GET /_mock/stats':
        return reply(200, { ...state.stats.toJSON(), ...state.openRequests.toJSON() });
      case 'DELETE /_mock/stats':
        state.stats.reset();
        state.openRequests.resetPeak();
        return reply(204);
      case 'GET /_mock/faults':
        return reply(200, state.faults.list());
      case 'POST /_mock/faults':
        return withJson((doc) => reply(201, state.faults.add(doc)));
      case 'DELETE /_mock/faults':
        state.faults.clear();
        return reply(204);
      case 'GET /_mock/config':
        return reply(200, configView(state.config));
      case 'POST /_mock/config':
        return withJson((doc) => {
          // Validate on a copy so a bad document changes nothing.
          const next = copyConfig(state.config);
          applyConfig(next, doc);
          state.config = next;
          return reply(200, configView(next));
        });
      case 'GET /_mock/callbacks':
        return reply(200, state.callbacks.rules.list());
      case 'POST /_mock/callbacks':
        return withJson((doc) => reply(201, state.callbacks.rules.add(doc)));
      case 'DELETE /_mock/callbacks':
        state.callbacks.rules.clear();
        return reply(204);
      case 'GET /_mock/callbacks/log': {
        const since = params.get('since');
        if (since !== null && !/^\d+$/.test(since)) return reply(400, { error: 'since must be a sequence number' });
        return reply(200, state.callbacks.log.list({
          provider: params.get('provider') || undefined,
          kind: params.get('kind') || undefined,
          message_id: params.get('message_id') || undefined,
          since: since === null ? undefined : Number(since),
        }));
      }
      case 'DELETE /_mock/callbacks/log':
        state.callbacks.log.clear();
        return reply(204);
      case 'GET /_mock/callbacks/pending':
        return reply(200, { pending: state.callbacks.pending });
      case 'POST /_mock/inbound':
        return withJson((doc) => postInbound(doc, reply, fail));
      case 'POST /_mock/reset':
        reset();
        return reply(204);
      default: {
        const m = /^\/_mock\/faults\/(\d+)$/.exec(path);
        if (m && req.method === 'DELETE') {
          return state.faults.remove(Number(m[1])) ? reply(204) : reply(404, { error: 'no such fault rule' });
        }
        const c = /^\/_mock\/callbacks\/(\d+)$/.exec(path);
        if (c && req.method === 'DELETE') {
          return state.callbacks.rules.remove(Number(c[1])) ? reply(204) : reply(404, { error: 'no such callback rule' });
        }
        const r = /^\/_mock\/callbacks\/replay\/(\d+)$/.exec(path);
        if (r && req.method === 'POST') {
          state.callbacks.replay(Number(r[1])).then(
            (entry) => (entry ? reply(entry.error ? 502 : 200, entry) : reply(404, { error: 'no such callback in the log' })),
            fail,
          );
          return undefined;
        }
        return reply(404, { error: `no control endpoint ${route}` });
      }
    }
  }

  // POST /_mock/inbound: a phone sends `text` to our sender, and the provider
  // posts it to the inbound URL. `reply_to` names an inbox message to answer.
  function postInbound(doc, reply, fail) {
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw httpError(400, 'body must be a JSON object');
    let { provider, from, to } = doc;
    if (doc.reply_to !== undefined) {
      const original = Number.isInteger(doc.reply_to) ? state.inbox.get(doc.reply_to) : null;
      if (!original) throw httpError(404, `no inbox message ${doc.reply_to}`);
      provider ??= original.provider;
      from ??= original.to;
      to ??= original.from ?? '';
    }
    // Verify's messages come from the Twilio account.
    if (provider === 'twilio_verify') provider = 'twilio';
    if (!CALLBACK_PROVIDERS.includes(provider)) throw httpError(400, `provider must be one of ${CALLBACK_PROVIDERS.join(', ')}`);
    if (typeof from !== 'string' || from === '') throw httpError(400, 'from (the phone sending) is required');
    if (to !== undefined && to !== null && typeof to !== 'string') throw httpError(400, 'to must be a string');
    if (typeof doc.text !== 'string') throw httpError(400, 'text is required');
    const sign = doc.sign ?? 'valid';
    if (!SIGN_MODES.includes(sign)) throw httpError(400, `sign must be one of ${SIGN_MODES.join(', ')}`);
    const url = inboundUrl(state.config, provider);
    if (!url) {
      throw httpError(409, `no inbound URL for ${provider}: set ${provider}.inbound_url, or callback_url and `
        + `${provider}.integration, with POST /_mock/config`);
    }
    state.callbacks.inbound(provider, {
      url, from, to: to ?? '', text: doc.text, sign,
      config: state.config.credentials[provider], account: state.accounts[provider] ?? {},
    }).then((entry) => reply(entry.error ? 502 : 200, entry), fail);
  }

  function onRequest(req, res) {
    // A request's time is when it arrived, not when its body was read: a busy event loop (status
    // callbacks, other answers) must not move it.
    req.arrivedAt = Date.now();
    const url = req.url;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const queryString = q < 0 ? '' : url.slice(q + 1);

    const route = matchProvider(path);
    if (route) {
      state.openRequests.track(res);
      return onProvider(req, res, route, path, queryString);
    }

    if (path.startsWith('/_mock/')) return onControl(req, res, path, new URLSearchParams(queryString));

    req.resume();
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 404, { error: `no route for ${req.method} ${path}` });
    }
    if (path === '/inbox.json') {
      const params = new URLSearchParams(queryString);
      return send(res, 200, state.inbox.list({
        to: params.get('to') || undefined,
        limit: Number(params.get('limit')) || undefined,
      }), { ...CORS, 'cache-control': 'no-store' });
    }
    if (path === '/' || path === '/inbox') {
      return send(res, 200, renderInboxPage(state.inbox.list()), {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'",
      });
    }
    return send(res, 404, { error: `no route for ${req.method} ${path}` });
  }

  const server = http.createServer({ noDelay: true }, onRequest);
  // Clients such as libcurl keep connections open between messages; a long
  // idle timeout lets a benchmark reuse them instead of reconnecting.
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000;
  return { server, state, reset };
}

// ---------------------------------------------------------------- command line

function parseCommandLine(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '8025' },
      host: { type: 'string', default: '127.0.0.1' },
      'delay-ms': { type: 'string', default: '0' },
      config: { type: 'string' },
      'no-record': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return { help: true };
  const port = Number(values.port);
  const delayMs = Number(values['delay-ms']);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad --port ${values.port}`);
  if (!Number.isInteger(delayMs) || delayMs < 0) throw new Error(`bad --delay-ms ${values['delay-ms']}`);
  const config = values.config ? JSON.parse(readFileSync(values.config, 'utf8')) : {};
  return { port, host: values.host, delayMs, config, record: !values['no-record'], verbose: values.verbose };
}

function main() {
  let opts;
  try {
    opts = parseCommandLine(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err.message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }

  let mock;
  try {
    mock = createMockProvider(opts);
  } catch (err) {
    process.stderr.write(`bad --config: ${err.message}\n`);
    process.exit(2);
  }
  const { server } = mock;
  server.on('error', (err) => {
    process.stderr.write(`mock provider: ${err.message}\n`);
    process.exit(1);
  });
  server.listen(opts.port, opts.host, () => {
    const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    process.stdout.write(`mock provider listening on http://${host}:${server.address().port}\n`);
  });

  const stop = () => {
    server.close(() => process.exit(0));
    // Held (timeout-fault) and idle keep-alive connections would keep close() waiting.
    server.closeAllConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
