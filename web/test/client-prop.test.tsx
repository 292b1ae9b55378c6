// OtpProvider with the application's own client in place of a URL: a PostgrestClient or a
// SupabaseClient, each answering through a fake fetch.
import { PostgrestClient } from '@supabase/postgrest-js';
import { createClient } from '@supabase/supabase-js';
import { render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { OtpProvider, ProtectedRoute, type OtpRpcClient } from '../src/otp';

function reply(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

const SERVER_TIME = new Date().toISOString();

function fakeFetch(otpRequired: boolean) {
  return vi.fn(async (_url: string, _init: RequestInit) =>
    reply(200, { otp_required: otpRequired, verified: false, session: null, phone_hint: '+14•••••••01', server_time: SERVER_TIME }),
  );
}

function renderWith(client: OtpRpcClient, token: string | null) {
  return render(
    <OtpProvider client={client} token={token}>
      <ProtectedRoute unauthenticated={<p>Please sign in</p>}>
        <p>Secret page</p>
      </ProtectedRoute>
    </OtpProvider>,
  );
}

describe('OtpProvider with a client', () => {
  it('asks otp_status through a PostgrestClient and opens the page for an account without the step', async () => {
    const fetchMock = fakeFetch(false);
    renderWith(new PostgrestClient('http://app.test', { fetch: fetchMock as unknown as typeof fetch }), 'tok');
    expect(await screen.findByText('Secret page')).toBeInTheDocument();
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe('http://app.test/rpc/otp_status');
    expect(new Headers(init.headers).get('Authorization')).toBe('Bearer tok');
  });

  it('shows the overlay through a SupabaseClient for an account with the step', async () => {
    const fetchMock = fakeFetch(true);
    const client = createClient('http://project.test', 'anon-key', {
      auth: { persistSession: false, autoRefreshToken: false, storageKey: 'client-prop' },
      global: { fetch: fetchMock as unknown as typeof fetch },
    });
    renderWith(client, 'user-jwt');
    expect(await screen.findByRole('button', { name: 'Send OTP' })).toBeInTheDocument();
    expect(screen.queryByText('Secret page')).not.toBeInTheDocument();
    const [url, init] = fetchMock.mock.calls[0];
    expect(String(url)).toBe('http://project.test/rest/v1/rpc/otp_status');
    const headers = new Headers(init.headers);
    expect(headers.get('Authorization')).toBe('Bearer user-jwt');
    expect(headers.get('Content-Profile')).toBe('sms_otp');
  });

  it('asks nothing while nobody is signed in', () => {
    const fetchMock = fakeFetch(true);
    renderWith(new PostgrestClient('http://app.test', { fetch: fetchMock as unknown as typeof fetch }), null);
    expect(screen.getByText('Please sign in')).toBeInTheDocument();
    expect(fetchMock).not.toHaveBeenCalled();
  });
});
