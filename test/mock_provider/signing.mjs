// How each provider signs the requests it makes to its customers' servers
// (status callbacks and inbound messages). Plain node:crypto; the tests check
// these against the providers' own libraries where one exists.

import { createHash, createHmac, randomUUID } from 'node:crypto';

const b64url = (buf) => Buffer.from(buf).toString('base64url');

// Twilio: base64(HMAC-SHA1(auth token, URL + every POST parameter, sorted by
// name, as name followed by value with no separator)). A GET callback signs
// the URL alone (its parameters are in it).
// https://www.twilio.com/docs/usage/webhooks/webhooks-security
export function twilioSignature(authToken, url, params = {}) {
  let data = url;
  for (const key of Object.keys(params).sort()) data += key + params[key];
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

// Vonage SMS API signed webhooks: every parameter but `sig`, sorted by name,
// as "&name=value" with '&' and '=' in values replaced by '_'. "md5hash" is
// the hex MD5 of that string with the signature secret appended; the HMAC
// methods ("md5", "sha1", "sha256", "sha512") key an HMAC with the secret and
// give upper-case hex.
// https://developer.vonage.com/en/getting-started/concepts/signing-messages
export const VONAGE_SIGNATURE_METHODS = ['md5hash', 'md5', 'sha1', 'sha256', 'sha512'];

export function vonageSignature(params, secret, method = 'md5hash') {
  let data = '';
  for (const key of Object.keys(params).sort()) {
    if (key === 'sig') continue;
    data += `&${key}=${String(params[key]).replace(/[&=]/g, '_')}`;
  }
  if (method === 'md5hash') return createHash('md5').update(data + secret, 'utf8').digest('hex');
  if (!VONAGE_SIGNATURE_METHODS.includes(method)) throw new Error(`unknown Vonage signature method ${method}`);
  return createHmac(method, secret).update(data, 'utf8').digest('hex').toUpperCase();
}

// MessageBird: the `MessageBird-Signature-JWT` header is an HS256 JWT keyed
// by the account's signing key, with iss "MessageBird", nbf, exp, a unique
// jti, url_hash (hex SHA-256 of the full URL, query included) and, when the
// request has a body, payload_hash (hex SHA-256 of the body).
// As verified by the `messagebird` npm package (lib/webhook-signature-jwt.js,
// examples/webhook-signature-http-node.js in messagebird/messagebird-nodejs).
export function messagebirdJwt(signingKey, url, body, nowMs = Date.now(), ttlSeconds = 300) {
  const now = Math.floor(nowMs / 1000);
  const claims = {
    iss: 'MessageBird',
    nbf: now,
    exp: now + ttlSeconds,
    jti: randomUUID(),
    url_hash: createHash('sha256').update(url, 'utf8').digest('hex'),
  };
  if (body != null && body.length > 0) claims.payload_hash = createHash('sha256').update(body).digest('hex');
  const signingInput = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}`;
  const signature = createHmac('sha256', Buffer.from(signingKey, 'utf8')).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

// Plivo signature V3: base64(HMAC-SHA256(auth token, base + "." + nonce)).
// The base is the URL without its query, then "?" and the query parameters
// sorted by name (and value) as "name=value" joined by "&"; for a POST with
// parameters the "?" is always there, a "." follows a non-empty query, and
// the POST parameters come last, sorted, as name followed by value. A GET
// sends its parameters in the query, so they sort in with the URL's own.
// As validated by the `plivo` npm package (validateV3Signature); headers
// X-Plivo-Signature-V3 and X-Plivo-Signature-V3-Nonce.
export function plivoV3Base(method, url, params = {}) {
  const u = new URL(url);
  let base = `${u.protocol}//${u.host}${u.pathname}`;
  const query = new Map();
  const addTo = (map, key, value) => map.set(key, [...(map.get(key) ?? []), String(value)]);
  for (const [k, v] of u.searchParams) addTo(query, k, v);
  const isGet = method.toUpperCase() === 'GET';
  if (isGet) for (const [k, v] of Object.entries(params)) addTo(query, k, v);
  const sortedQuery = [...query.keys()].sort()
    .flatMap((k) => query.get(k).sort().map((v) => `${k}=${v}`))
    .join('&');
  const hasPost = !isGet && Object.keys(params).length > 0;
  if (sortedQuery || hasPost) base += `?${sortedQuery}`;
  if (sortedQuery && hasPost) base += '.';
  if (hasPost) {
    for (const k of Object.keys(params).sort()) base += k + String(params[k]);
  }
  return base;
}

export function plivoV3Signature(authToken, method, url, params, nonce) {
  return createHmac('sha256', authToken).update(`${plivoV3Base(method, url, params)}.${nonce}`, 'utf8').digest('base64');
}

// Standard Webhooks: "v1," + base64(HMAC-SHA256(key, id + "." + timestamp +
// "." + body)), the key being the base64 part of a `whsec_` secret.
// https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
export function webhookKey(secret) {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
}

export function standardWebhookSignature(secret, id, timestamp, body) {
  const mac = createHmac('sha256', webhookKey(secret)).update(`${id}.${timestamp}.`).update(body).digest('base64');
  return `v1,${mac}`;
}
