import { describe, expect, it } from 'vitest';
import { classifyError } from '../src/otp/errors';

describe('classifyError', () => {
  it('reads the wait of a rate-limited send from the body', () => {
    const e = classifyError(429, {
      error: 'rate_limited',
      limit: 'cooldown',
      message: 'Please wait 27 seconds before asking for another code.',
      retry_after_seconds: 27,
    });
    expect(e).toMatchObject({ kind: 'rate_limited', status: 429, limit: 'cooldown', retryAfterSeconds: 27 });
  });

  it('reads a lockout and its wait', () => {
    expect(classifyError(429, { error: 'locked_out', message: 'x', retry_after_seconds: 900 })).toMatchObject({
      kind: 'locked_out',
      retryAfterSeconds: 900,
    });
  });

  it.each([
    [400, 'invalid_code', 'invalid_code'],
    [400, 'expired', 'expired'],
    [403, 'locked', 'locked'],
    [409, 'already_used', 'already_used'],
    [409, 'superseded', 'superseded'],
    [409, 'failed', 'delivery_failed'],
    [503, 'provider_unavailable', 'provider_unavailable'],
    [409, 'code_pending', 'code_pending'],
    [409, 'check_in_progress', 'check_in_progress'],
  ])('maps verify reason %s/%s to %s', (status, reason, kind) => {
    const e = classifyError(status, { verified: false, reason, attempts_remaining: 3, message: 'm' });
    expect(e.kind).toBe(kind);
    expect(e.attemptsRemaining).toBe(3);
    expect(e.code).toBe(reason);
  });

  it.each([
    [401, 'not_authenticated', 'not_authenticated'],
    [503, 'no_provider', 'no_provider'],
    [503, 'provider_unavailable', 'provider_unavailable'],
    [409, 'otp_not_enabled', 'otp_not_enabled'],
    [409, 'no_phone', 'no_phone'],
    [404, 'session_not_found', 'session_not_found'],
    [400, 'invalid_session_id', 'session_not_found'],
    [400, 'invalid_code_format', 'invalid_code_format'],
  ])('maps a raised %s %s to %s', (status, code, kind) => {
    const e = classifyError(status, { code, message: 'server text', details: null, hint: null });
    expect(e).toMatchObject({ kind, status, code, serverMessage: 'server text' });
  });

  it("treats PostgREST's JWT errors as not signed in", () => {
    expect(classifyError(401, { code: 'PGRST301', message: 'JWT expired' }).kind).toBe('not_authenticated');
    expect(classifyError(401, null).kind).toBe('not_authenticated');
  });

  it('treats no answer as the network being down', () => {
    expect(classifyError(0, { message: 'TypeError: Failed to fetch' }).kind).toBe('network');
  });

  it('falls back on the status for unknown shapes', () => {
    expect(classifyError(429, 'Too Many Requests').kind).toBe('rate_limited');
    expect(classifyError(502, { message: 'bad gateway' }).kind).toBe('server');
    expect(classifyError(503, { code: 'PGRST001', message: 'db down' }).kind).toBe('server');
    expect(classifyError(418, { code: 'teapot' })).toMatchObject({ kind: 'unknown', code: 'teapot' });
  });

  it('ignores a negative or missing wait', () => {
    expect(classifyError(429, { error: 'rate_limited', retry_after_seconds: -3 }).retryAfterSeconds).toBeUndefined();
    expect(classifyError(429, { error: 'rate_limited' }).retryAfterSeconds).toBeUndefined();
  });
});
