import { PostgrestClient } from '@supabase/postgrest-js';
import { createClient } from '@supabase/supabase-js';
import { describe, expect, it, vi } from 'vitest';
import { createOtpApi, OtpAbortError, type OtpRpcClient } from '../src/otp/api';

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

describe('createOtpApi with an application client', () => {
  const statusBody = { otp_required: false, verified: false, session: null, server_time: '2030-01-01T00:00:00Z' };

  it("calls through the application's PostgrestClient, in schema sms_otp, with the user's token", async () => {
    const fetchMock = vi.fn(async (_url: string, _init: RequestInit) => reply(200, statusBody));
    const client = new PostgrestClient('http://app.test/api', {
      headers: { 'X-App': 'mine' },
      fetch: fetchMock as unknown as typeof fetch,
    });
    const api = createOtpApi({ client, token: 'tok' });
    expect(await api.status()).toMatchObject({ ok: true, status: 200, data: statusBody });
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe('http://app.test/api/rpc/otp_status');
    expect(init.method).toBe('POST');
    const headers = new Headers(init.headers);
    expect(headers.get('Content-Profile')).toBe('sms_otp');
    expect(headers.get('Authorization')).toBe('Bearer tok');
    expect(headers.get('X-App')).toBe('mine');
  });

  it("keeps the client's own Authorization when no token is given", async () => {
    const fetchMock = vi.fn(async (_url: string, _init: RequestInit) => reply(200, { verified: true }));
    const client = new PostgrestClient('http://app.test', {
      headers: { Authorization: 'Bearer from-the-app' },
      fetch: fetchMock as unknown as typeof fetch,
    });
    const res = await createOtpApi({ client, schema: 'otp' }).verify('s1', '123456');
    expect(res.ok).toBe(true);
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe('http://app.test/rpc/otp_verify');
    const headers = new Headers(init.headers);
    expect(headers.get('Authorization')).toBe('Bearer from-the-app');
    expect(headers.get('Content-Profile')).toBe('otp');
    expect(JSON.parse(String(init.body))).toEqual({ session_id: 's1', otp: '123456' });
  });

  // Each client its own auth storage key, as separate applications would have.
  let clients = 0;
  function supabaseWith(fetchImpl: (url: string, init: RequestInit) => Promise<Response>, accessToken?: () => Promise<string>) {
    const fetchMock = vi.fn(fetchImpl);
    clients += 1;
    const client = createClient('http://project.test', 'anon-key', {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false, storageKey: `test-${clients}` },
      global: { fetch: fetchMock as unknown as typeof fetch },
      ...(accessToken ? { accessToken } : {}),
    });
    return { client, fetchMock };
  }

  it("calls through a SupabaseClient: /rest/v1, schema sms_otp, the anon key and the user's token", async () => {
    const body = { session_id: 's', expires_at: 'x', resend_available_at: 'y', attempts_remaining: 5 };
    const { client, fetchMock } = supabaseWith(async () => reply(200, body));
    const api = createOtpApi({ client, token: 'user-jwt' });
    expect(await api.send({ phone: '+14155550101' })).toMatchObject({ ok: true, data: body });
    const [url, init] = fetchMock.mock.calls[0];
    expect(String(url)).toBe('http://project.test/rest/v1/rpc/otp_send');
    const headers = new Headers(init.headers);
    expect(headers.get('Content-Profile')).toBe('sms_otp');
    expect(headers.get('apikey')).toBe('anon-key');
    expect(headers.get('Authorization')).toBe('Bearer user-jwt');
    expect(JSON.parse(String(init.body))).toEqual({ phone: '+14155550101' });
  });

  it("lets a SupabaseClient authorize the call when no token is given", async () => {
    const { client, fetchMock } = supabaseWith(async () => reply(200, statusBody), async () => 'third-party-jwt');
    expect((await createOtpApi({ client }).status()).ok).toBe(true);
    expect(new Headers(fetchMock.mock.calls[0][1].headers).get('Authorization')).toBe('Bearer third-party-jwt');
  });

  it('turns errors answered through a SupabaseClient into OtpErrors', async () => {
    const { client } = supabaseWith(async () => reply(429, { error: 'locked_out', retry_after_seconds: 900 }));
    const res = await createOtpApi({ client, token: 't' }).send();
    if (res.ok) throw new Error('expected a failure');
    expect(res.error).toMatchObject({ kind: 'locked_out', status: 429, retryAfterSeconds: 900 });
  });

  it('throws OtpAbortError for a call cancelled through a SupabaseClient', async () => {
    const controller = new AbortController();
    const { client } = supabaseWith(
      (_url, init) =>
        new Promise((_resolve, reject) => {
          const abort = () => reject(new DOMException('aborted', 'AbortError'));
          if (init.signal?.aborted) abort();
          init.signal?.addEventListener('abort', abort);
        }),
    );
    const pending = createOtpApi({ client, token: 't' }).status(controller.signal);
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(OtpAbortError);
  });

  it('accepts clients typed with a database schema (checked by tsc)', () => {
    interface Database {
      public: { Tables: Record<string, never>; Views: Record<string, never>; Functions: { hello: { Args: Record<string, never>; Returns: string } } };
      sms_otp: { Tables: Record<string, never>; Views: Record<string, never>; Functions: { otp_status: { Args: Record<string, never>; Returns: unknown } } };
    }
    const typedSupabase: OtpRpcClient = createClient<Database>('http://project.test', 'anon-key', {
      auth: { persistSession: false, storageKey: 'typed' },
    });
    const typedPostgrest: OtpRpcClient = new PostgrestClient<Database>('http://app.test');
    expect(typeof typedSupabase.schema).toBe('function');
    expect(typeof typedPostgrest.schema).toBe('function');
  });
});
