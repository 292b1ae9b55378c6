// The dashboard's HTTP calls (what PostgREST receives, how its refusals read), and the demo's
// routes: an operator's token opens /dashboard, an end user's meets "operators only" there.
import { render, screen, waitFor } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { classifyDashboardError, createDashboardApi, DashboardAbortError } from '../src/dashboard/api';
import { App } from '../src/demo/App';

vi.mock('uplot', () => ({
  default: class {
    setData() {}
    setSize() {}
    destroy() {}
  },
}));

function json(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

function token(claims: Record<string, unknown>) {
  const part = (o: unknown) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ exp: Math.floor(Date.now() / 1000) + 3600, ...claims })}.sig`;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('the dashboard API', () => {
  it('posts named arguments to /rpc/<function> in schema sms_otp with the token', async () => {
    const fetch = vi.fn(async () => json(200, [{ bucket_start: '2030-01-01T10:00:00+00:00', provider: 'twilio', attempted: 3, delivered: '2' }]));
    const api = createDashboardApi({ apiUrl: 'http://api.test/rest/', token: 'tok', fetch });
    const result = await api.delivery({ since: '2030-01-01T00:00:00.000Z', until: '2030-01-02T00:00:00.000Z', bucket: 'hour', dims: ['provider'] });
    expect(result).toMatchObject({ ok: true, data: [{ provider: 'twilio', attempted: 3, delivered: 2, undelivered: 0 }] });
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('http://api.test/rest/rpc/dashboard_delivery');
    expect(init.method).toBe('POST');
    expect(init.headers).toMatchObject({ 'Content-Profile': 'sms_otp', Authorization: 'Bearer tok', 'Content-Type': 'application/json' });
    expect(JSON.parse(init.body as string)).toEqual({ since: '2030-01-01T00:00:00.000Z', until: '2030-01-02T00:00:00.000Z', bucket: 'hour', dims: ['provider'] });
  });

  it('leaves out arguments not given, so the functions use their defaults', async () => {
    const fetch = vi.fn(async () => json(200, []));
    const api = createDashboardApi({ apiUrl: 'http://api.test', token: 'tok', fetch });
    await api.campaigns({ top: 20 });
    await api.queue();
    await api.providers();
    const bodies = fetch.mock.calls.map((c) => (c as unknown as [string, RequestInit])[1].body);
    expect(bodies).toEqual(['{"top":20}', '{}', '{}']);
    expect(fetch.mock.calls.map((c) => (c as unknown as [string])[0])).toEqual([
      'http://api.test/rpc/dashboard_campaigns',
      'http://api.test/rpc/dashboard_queue',
      'http://api.test/rpc/dashboard_providers',
    ]);
  });

  it('reads refusals, missing functions, server errors and a dead network', async () => {
    const answers = [
      json(403, { code: 'forbidden', message: 'Only the service role may read dashboards.' }),
      json(401, { code: 'PGRST301', message: 'JWT expired' }),
      json(404, { code: 'PGRST202', message: 'Could not find the function sms_otp.dashboard_queue' }),
      json(500, { code: 'XX000', message: 'boom' }),
    ];
    const fetch = vi.fn(async () => {
      const next = answers.shift();
      if (!next) throw new TypeError('Failed to fetch');
      return next;
    });
    const api = createDashboardApi({ apiUrl: 'http://api.test', token: 'tok', fetch });
    const kinds = [];
    for (let i = 0; i < 5; i++) {
      const r = await api.queue();
      kinds.push(r.ok ? 'ok' : `${r.error.kind} ${r.error.status}`);
    }
    expect(kinds).toEqual(['forbidden 403', 'unauthenticated 401', 'missing 404', 'server 500', 'network 0']);
    expect(classifyDashboardError(403, { code: 'forbidden', message: 'Only the service role may read dashboards.' })).toEqual({
      kind: 'forbidden',
      status: 403,
      code: 'forbidden',
      message: 'Only the service role may read dashboards.',
    });
  });

  it('throws when cancelled, instead of answering an error', async () => {
    const fetch = vi.fn(
      (_url: string, init: RequestInit) =>
        new Promise<Response>((_resolve, reject) => init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))),
    );
    const api = createDashboardApi({ apiUrl: 'http://api.test', token: 'tok', fetch: fetch as unknown as typeof globalThis.fetch });
    const controller = new AbortController();
    const pending = api.providers(controller.signal);
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(DashboardAbortError);
  });
});

describe('the demo routes', () => {
  function signedIn(role: string, email: string) {
    sessionStorage.setItem('sms_otp_demo_auth', JSON.stringify({ token: token({ sub: 'u', role }), userId: 'u', email }));
  }

  it("sends an operator from / to the dashboard, with no SMS step", async () => {
    signedIn('service_role', 'operator@example.com');
    const fetch = vi.fn(async () => json(200, []));
    vi.stubGlobal('fetch', fetch);
    render(
      <MemoryRouter initialEntries={['/']}>
        <App apiUrl="http://api.test" />
      </MemoryRouter>,
    );
    await screen.findByText('sms_otp operator dashboard');
    await waitFor(() => expect(screen.getByTestId('panel-delivery')).toHaveAttribute('data-state', 'empty'));
    const urls = fetch.mock.calls.map((c) => String((c as unknown as [string])[0]));
    expect(urls).toContain('http://api.test/rpc/dashboard_delivery');
    expect(urls.some((u) => u.endsWith('/rpc/otp_status'))).toBe(false);
  });

  it("shows an end user's refused token as operators only", async () => {
    signedIn('authenticated', 'alice@example.com');
    const fetch = vi.fn(async (url: string) =>
      url.endsWith('/rpc/otp_status')
        ? json(200, { otp_required: false, verified: true, session: null, server_time: new Date().toISOString() })
        : json(403, { code: 'forbidden', message: 'Only the service role may read dashboards.' }),
    );
    vi.stubGlobal('fetch', fetch);
    render(
      <MemoryRouter initialEntries={['/dashboard']}>
        <App apiUrl="http://api.test" />
      </MemoryRouter>,
    );
    expect(await screen.findByRole('heading', { name: 'Operators only' })).toBeInTheDocument();
    expect(screen.getByTestId('operators-only')).toHaveTextContent('alice@example.com is signed in as an end user');
  });
});
