import { describe, expect, it, vi } from 'vitest';
import { createOtpApi, OtpAbortError } from '../src/otp/api';

function reply(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

function apiWith(fetchImpl: (url: string, init: RequestInit) => Promise<Response>) {
  const fetchMock = vi.fn(fetchImpl);
  const api = createOtpApi({ url: 'http://api.test', token: 'tok', fetch: fetchMock as unknown as typeof fetch });
  return { api, fetchMock };
}

describe('createOtpApi', () => {
  it('POSTs to /rpc/otp_send with the token and schema sms_otp', async () => {
    const body = { session_id: 's', expires_at: 'x', resend_available_at: 'y', attempts_remaining: 5 };
    const { api, fetchMock } = apiWith(async () => reply(200, body));
    const res = await api.send();
    expect(res).toMatchObject({ ok: true, status: 200, data: body });
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe('http://api.test/rpc/otp_send');
    expect(init.method).toBe('POST');
    const headers = new Headers(init.headers);
    expect(headers.get('Content-Profile')).toBe('sms_otp');
    expect(headers.get('Authorization')).toBe('Bearer tok');
    expect(JSON.parse(String(init.body))).toEqual({});
  });

  it('sends verify arguments by name', async () => {
    const { api, fetchMock } = apiWith(async () => reply(200, { verified: true }));
    await api.verify('s1', '123456');
    expect(fetchMock.mock.calls[0][0]).toBe('http://api.test/rpc/otp_verify');
    expect(JSON.parse(String(fetchMock.mock.calls[0][1].body))).toEqual({ session_id: 's1', otp: '123456' });
  });

  it('turns a returned 429 body into a rate_limited error with its wait', async () => {
    const { api } = apiWith(async () =>
      reply(429, { error: 'rate_limited', limit: 'cooldown', message: 'Please wait 7 seconds', retry_after_seconds: 7 }),
    );
    const res = await api.send();
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.error).toMatchObject({ kind: 'rate_limited', status: 429, retryAfterSeconds: 7 });
  });

  it('turns a returned 400 wrong-code body into invalid_code with attempts', async () => {
    const { api } = apiWith(async () => reply(400, { verified: false, reason: 'invalid_code', attempts_remaining: 2, message: 'm' }));
    const res = await api.verify('s', '000000');
    if (res.ok) throw new Error('expected a failure');
    expect(res.error).toMatchObject({ kind: 'invalid_code', attemptsRemaining: 2 });
  });

  it('turns a raised PostgREST error into its code', async () => {
    const { api } = apiWith(async () => reply(503, { code: 'no_provider', message: 'No SMS provider', details: null, hint: 'h' }));
    const res = await api.send();
    if (res.ok) throw new Error('expected a failure');
    expect(res.error).toMatchObject({ kind: 'no_provider', status: 503 });
  });

  it('reports no answer as the network being down', async () => {
    const { api } = apiWith(async () => {
      throw new TypeError('Failed to fetch');
    });
    const res = await api.status();
    if (res.ok) throw new Error('expected a failure');
    expect(res.error.kind).toBe('network');
    expect(res.status).toBe(0);
  });

  it('throws OtpAbortError for a cancelled call', async () => {
    const controller = new AbortController();
    const { api } = apiWith(
      (_url, init) =>
        new Promise((_resolve, reject) => {
          // As fetch does: refuse an aborted signal at once, or reject when it aborts.
          const abort = () => reject(new DOMException('aborted', 'AbortError'));
          if (init.signal?.aborted) abort();
          init.signal?.addEventListener('abort', abort);
        }),
    );
    const pending = api.status(controller.signal);
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(OtpAbortError);
  });
});
