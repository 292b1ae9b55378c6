// A token refreshed during a login (same user, same login claim) keeps the SMS step where it
// is and is used for the next calls; a token of another login starts over with otp_status().
import { PostgrestClient } from '@supabase/postgrest-js';
import { act, render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import { describe, expect, it, vi } from 'vitest';
import { OtpProvider, ProtectedRoute } from '../src/otp';
import { loginKey } from '../src/otp/login';

function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => btoa(JSON.stringify(value)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}.signature`;
}

const ALICE = 'a1b2c3d4-0000-4000-8000-000000000001';

describe('loginKey', () => {
  it('is the same for every token of one login', () => {
    const first = jwt({ sub: ALICE, session_id: 's1', iat: 1, exp: 3601 });
    const refreshed = jwt({ sub: ALICE, session_id: 's1', iat: 3000, exp: 6600, aal: 'aal1' });
    expect(loginKey(refreshed)).toBe(loginKey(first));
  });

  it('differs for another login or another user', () => {
    const key = loginKey(jwt({ sub: ALICE, session_id: 's1' }));
    expect(loginKey(jwt({ sub: ALICE, session_id: 's2' }))).not.toBe(key);
    expect(loginKey(jwt({ sub: 'someone-else', session_id: 's1' }))).not.toBe(key);
  });

  it('reads the login from the claim sms_otp.login_claim names', () => {
    const a = jwt({ sub: ALICE, session_id: 'same', sid: 'x' });
    const b = jwt({ sub: ALICE, session_id: 'same', sid: 'y' });
    expect(loginKey(a, 'sid')).not.toBe(loginKey(b, 'sid'));
    expect(loginKey(a)).toBe(loginKey(b));
  });

  it('takes a token without the claims, or not a JWT, as a login of its own', () => {
    expect(loginKey(jwt({ sub: ALICE, iat: 1 }))).not.toBe(loginKey(jwt({ sub: ALICE, iat: 2 })));
    expect(loginKey('opaque-1')).not.toBe(loginKey('opaque-2'));
    expect(loginKey('opaque-1')).toBe(loginKey('opaque-1'));
  });
});

describe('OtpProvider when the token changes', () => {
  const serverTime = () => new Date().toISOString();

  function backend() {
    const fetchMock = vi.fn(async (url: string, _init: RequestInit) => {
      const body = url.endsWith('/otp_status')
        ? { otp_required: true, verified: false, phone_hint: '+14•••••••01', session: null, server_time: serverTime() }
        : { error: 'rate_limited', limit: 'cooldown', retry_after_seconds: 30 };
      return new Response(JSON.stringify(body), { status: url.endsWith('/otp_status') ? 200 : 429, headers: { 'Content-Type': 'application/json' } });
    });
    const calls = (fn: string) => fetchMock.mock.calls.filter(([url]) => url.endsWith(`/${fn}`));
    const client = new PostgrestClient('http://api.test', { fetch: fetchMock as unknown as typeof fetch });
    return { client, calls };
  }

  // The page behind the overlay counts its mounts: a restart unmounts it.
  let mounts = 0;
  function Shell() {
    const [mounted] = useState(() => ++mounts);
    return <p>Shell {mounted}</p>;
  }

  function view(client: PostgrestClient, token: string) {
    const tree = (t: string) => (
      <OtpProvider client={client} token={t}>
        <ProtectedRoute placeholder={<Shell />}>
          <p>Secret page</p>
        </ProtectedRoute>
      </OtpProvider>
    );
    const rendered = render(tree(token));
    return { rerender: (t: string) => rendered.rerender(tree(t)) };
  }

  it('keeps the step and the page for a refreshed token of the same login, and calls with the new token', async () => {
    mounts = 0;
    const { client, calls } = backend();
    const first = jwt({ sub: ALICE, session_id: 's1', exp: 100 });
    const refreshed = jwt({ sub: ALICE, session_id: 's1', exp: 200 });
    const { rerender } = view(client, first);
    await screen.findByRole('button', { name: 'Send OTP' });
    const statusCalls = calls('otp_status').length;

    rerender(refreshed);
    expect(screen.getByRole('button', { name: 'Send OTP' })).toBeInTheDocument();
    expect(screen.getByText('Shell 1')).toBeInTheDocument();
    await userEvent.setup().click(screen.getByRole('button', { name: 'Send OTP' }));
    await screen.findByRole('alert');
    expect(calls('otp_status')).toHaveLength(statusCalls);
    const [, init] = calls('otp_send')[0];
    expect(new Headers(init.headers).get('Authorization')).toBe(`Bearer ${refreshed}`);
    expect(mounts).toBe(1);
  });

  it('starts over for a token of another login', async () => {
    mounts = 0;
    const { client, calls } = backend();
    const { rerender } = view(client, jwt({ sub: ALICE, session_id: 's1' }));
    await screen.findByRole('button', { name: 'Send OTP' });
    const statusCalls = calls('otp_status').length;

    const other = jwt({ sub: ALICE, session_id: 's2' });
    await act(async () => rerender(other));
    await screen.findByRole('button', { name: 'Send OTP' });
    expect(calls('otp_status').length).toBeGreaterThan(statusCalls);
    const [, init] = calls('otp_status').at(-1)!;
    expect(new Headers(init.headers).get('Authorization')).toBe(`Bearer ${other}`);
    expect(mounts).toBe(2);
  });
});
