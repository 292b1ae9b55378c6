#!/usr/bin/env node
// Mock SMS provider: answers in the wire formats of Twilio (Messages and
// Verify), Vonage, MessageBird, Plivo and a signed webhook, records what it
// received, injects faults on demand and shows the messages in an inbox page.
// Plain Node, no dependencies. See README.md in this folder.

import http from 'node:http';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { Faults } from './faults.mjs';
import { renderInboxPage } from './inbox_page.mjs';
import { PROVIDERS, Verifications, errorBody, matchProvider, throttleReply } from './providers.mjs';
import { Inbox, RequestLog, Stats } from './store.mjs';

const MAX_BODY_BYTES = 1024 * 1024;
const START_BALANCE = 10;
const CONFIG_KEYS = new Set([...PROVIDERS, 'delay_ms']);

const USAGE = `usage: node server.mjs [--port 8025] [--host 127.0.0.1] [--delay-ms 0]
                      [--config file.json] [--no-record] [--verbose]`;

// ---------------------------------------------------------------- config

function httpError(status, message) {
  const err = new Error(message);
  err.status = status;
  return err;
}

// Merges a config document into `config`: a provider object replaces that
// provider's credentials, null removes them; delay_ms delays every answer.
function applyConfig(config, doc) {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw httpError(400, 'config must be a JSON object');
  for (const key of Object.keys(doc)) {
    if (!CONFIG_KEYS.has(key)) throw httpError(400, `unknown config key "${key}"`);
  }
  if (doc.delay_ms !== undefined && !(Number.isInteger(doc.delay_ms) && doc.delay_ms >= 0)) {
    throw httpError(400, 'delay_ms must be a non-negative integer');
  }
  for (const key of PROVIDERS) {
    const value = doc[key];
    if (value !== undefined && value !== null && (typeof value !== 'object' || Array.isArray(value))) {
      throw httpError(400, `${key} must be an object of credentials or null`);
    }
  }
  for (const key of PROVIDERS) {
    if (doc[key] === null) delete config.credentials[key];
    else if (doc[key] !== undefined) config.credentials[key] = { ...doc[key] };
  }
  if (doc.delay_ms !== undefined) config.delay_ms = doc.delay_ms;
}

function configView(config) {
  return { ...config.credentials, delay_ms: config.delay_ms };
}

// ---------------------------------------------------------------- HTTP helpers

const CORS = { 'access-control-allow-origin': '*' };

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

// ---------------------------------------------------------------- the server

export function createMockProvider({ delayMs = 0, record = true, verbose = false, config: startConfig = {} } = {}) {
  const initial = { credentials: {}, delay_ms: delayMs };
  const { faults: startFaults, ...startDoc } = startConfig;
  applyConfig(initial, startDoc);

  const state = {
    config: null,
    requests: new RequestLog(),
    inbox: new Inbox(),
    stats: new Stats(),
    faults: new Faults(),
    verifications: new Verifications(),
    vonageBalance: START_BALANCE,
  };

  function reset() {
    state.config = { credentials: structuredClone(initial.credentials), delay_ms: initial.delay_ms };
    // Fresh stores restart the sequence numbers and inbox ids as well.
    state.requests = new RequestLog();
    state.inbox = new Inbox();
    state.stats.reset();
    state.faults.clear();
    if (startFaults) state.faults.add(startFaults);
    state.verifications.clear();
    state.vonageBalance = START_BALANCE;
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
      for (const m of reply.messages) state.inbox.add(route.provider, m.to, m.text, ctx.iso);
    }
    state.stats.countOutcome(reply.status);
    if (entry) {
      entry.status = reply.status;
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
      const now = Date.now();
      const iso = new Date(now).toISOString();
      const text = raw.toString('utf8');
      const { form, json } = parseBody(req.headers['content-type'], text);
      const query = queryString ? Object.fromEntries(new URLSearchParams(queryString)) : {};
      const auth = parseAuthorization(req.headers.authorization);
      const fault = state.faults.take(route.provider);

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
    if (route !== 'POST /_mock/faults' && route !== 'POST /_mock/config') req.resume();

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
        return reply(200, state.stats);
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
          const next = { credentials: { ...state.config.credentials }, delay_ms: state.config.delay_ms };
          applyConfig(next, doc);
          state.config = next;
          return reply(200, configView(next));
        });
      case 'POST /_mock/reset':
        reset();
        return reply(204);
      default: {
        const m = /^\/_mock\/faults\/(\d+)$/.exec(path);
        if (m && req.method === 'DELETE') {
          return state.faults.remove(Number(m[1])) ? reply(204) : reply(404, { error: 'no such fault rule' });
        }
        return reply(404, { error: `no control endpoint ${route}` });
      }
    }
  }

  function onRequest(req, res) {
    const url = req.url;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const queryString = q < 0 ? '' : url.slice(q + 1);

    const route = matchProvider(path);
    if (route) return onProvider(req, res, route, path, queryString);

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
