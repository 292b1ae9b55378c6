// CAPTCHA verifiers: Cloudflare Turnstile (POST /turnstile/v0/siteverify) and hCaptcha
// (POST /siteverify), as otp_send's server-side check calls them. Both take a form
// `secret`, `response` (the token) and optional `remoteip` (Turnstile also JSON), and answer
// HTTP 200 JSON {"success": bool, "error-codes": [...], ...}.
//
// Config (POST /_mock/config): {"turnstile": {"secret": "...", "tokens": ["good", ...],
// "single_use": true}}, the same for "hcaptcha". `tokens` are the ones that pass; each passes
// once (a second use fails as the provider's duplicate) unless `single_use` is false, which
// plays a verifier that would accept a replay. With a `secret` configured, any other secret is
// refused (invalid-input-secret); without one any non-empty secret is taken.

export const CAPTCHA_PROVIDERS = ['turnstile', 'hcaptcha'];

const DUPLICATE = { turnstile: 'timeout-or-duplicate', hcaptcha: 'invalid-or-already-seen-response' };
const MAX_USED = 100_000;

// Tokens that have passed, per provider, so each passes once.
export class CaptchaTokens {
  constructor() { this.clear(); }

  clear() { this.used = { turnstile: new Set(), hcaptcha: new Set() }; }

  // true the first time `token` is used with `provider`.
  use(provider, token) {
    const used = this.used[provider];
    if (used.has(token)) return false;
    if (used.size >= MAX_USED) used.clear();
    used.add(token);
    return true;
  }
}

export function checkCaptchaConfig(key, value) {
  if (value.tokens !== undefined && !(Array.isArray(value.tokens) && value.tokens.every((t) => typeof t === 'string'))) {
    throw Object.assign(new Error(`${key}.tokens must be an array of strings`), { status: 400 });
  }
  if (value.secret !== undefined && typeof value.secret !== 'string') {
    throw Object.assign(new Error(`${key}.secret must be a string`), { status: 400 });
  }
  if (value.single_use !== undefined && typeof value.single_use !== 'boolean') {
    throw Object.assign(new Error(`${key}.single_use must be a boolean`), { status: 400 });
  }
}

function failure(codes) {
  return { status: 200, body: { success: false, 'error-codes': codes } };
}

function siteverify(provider, ctx) {
  const fields = provider === 'turnstile' && ctx.json && typeof ctx.json === 'object' ? ctx.json : (ctx.form ?? {});
  const secret = typeof fields.secret === 'string' ? fields.secret : '';
  const token = typeof fields.response === 'string' ? fields.response : '';
  const conf = ctx.config[provider] ?? {};
  if (!secret) return failure(['missing-input-secret']);
  if (conf.secret !== undefined && conf.secret !== secret) return failure(['invalid-input-secret']);
  if (!token) return failure(['missing-input-response']);
  if (!(conf.tokens ?? []).includes(token)) return failure(['invalid-input-response']);
  if (!ctx.state.captchaTokens.use(provider, token) && conf.single_use !== false) return failure([DUPLICATE[provider]]);
  const challengeTs = new Date(ctx.now - 1000).toISOString();
  if (provider === 'turnstile') {
    return {
      status: 200,
      body: { success: true, 'error-codes': [], challenge_ts: challengeTs, hostname: 'localhost', action: '', cdata: '', metadata: {} },
    };
  }
  return { status: 200, body: { success: true, challenge_ts: challengeTs, hostname: 'localhost', credit: false } };
}

export const turnstileSiteverify = (ctx) => siteverify('turnstile', ctx);
export const hcaptchaSiteverify = (ctx) => siteverify('hcaptcha', ctx);
