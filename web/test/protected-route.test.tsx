import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { OtpProvider, ProtectedRoute, useOtp } from '../src/otp';
import type { StatusBody, VerifyBody } from '../src/otp/api';
import { fail, fakeApi, ok, sendBody, statusBody } from './fakeApi';
import { renderOtp } from './render';

describe('ProtectedRoute', () => {
  it('sends a signed-out visitor to the login', () => {
    renderOtp(undefined, { token: null as unknown as string });
    expect(screen.getByText('Please sign in')).toBeInTheDocument();
    expect(screen.queryByText('Secret page')).not.toBeInTheDocument();
  });

  it('never takes a signed-in user for a visitor while the first status loads (a deep link reloaded)', async () => {
    const seen = vi.fn();
    function Login() {
      seen();
      return <p>Please sign in</p>;
    }
    const api = fakeApi(() => statusBody(Date.now(), { verified: true }));
    render(
      <OtpProvider apiUrl="http://api.test" token="token" api={api}>
        <ProtectedRoute unauthenticated={<Login />} loading={<p>Loading…</p>}>
          <p>Secret page</p>
        </ProtectedRoute>
      </OtpProvider>,
    );
    expect(await screen.findByText('Secret page')).toBeInTheDocument();
    expect(seen).not.toHaveBeenCalled();
  });

  it('shows nothing protected while the status is on its way', () => {
    const api = fakeApi(() => statusBody(Date.now()));
    api.status.mockReturnValue(new Promise(() => {}));
    renderOtp(api);
    expect(screen.getByText('Loading…')).toBeInTheDocument();
    expect(screen.queryByText('Secret page')).not.toBeInTheDocument();
  });

  it('lets an account without SMS codes straight in', async () => {
    const api = fakeApi(() => ({ otp_required: false, verified: true, session: null, server_time: new Date().toISOString() }) as StatusBody);
    renderOtp(api);
    expect(await screen.findByText('Secret page')).toBeInTheDocument();
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
    expect(api.send).not.toHaveBeenCalled();
  });

  it('lets a sign-in that already passed the step in (after a reload)', async () => {
    renderOtp(fakeApi(() => statusBody(Date.now(), { verified: true })));
    expect(await screen.findByText('Secret page')).toBeInTheDocument();
  });

  it('keeps the children unmounted until the code is verified', async () => {
    const api = fakeApi(() => statusBody(Date.now()));
    api.send.mockResolvedValueOnce(ok(sendBody(Date.now())));
    api.verify.mockResolvedValueOnce(ok<VerifyBody>({ verified: true }));
    renderOtp(api);
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Send OTP' }));
    expect(screen.queryByText('Secret page')).not.toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Behind the overlay', hidden: true })).toBeInTheDocument();
    await user.type(await screen.findByLabelText('Code'), '123456');
    expect(await screen.findByText('Secret page')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Behind the overlay' })).not.toBeInTheDocument();
  });

  it('blocks when the status cannot be read', async () => {
    const api = fakeApi(() => statusBody(Date.now()));
    api.status.mockResolvedValue(fail(0, {}));
    renderOtp(api);
    expect(await screen.findByRole('dialog')).toBeInTheDocument();
    expect(screen.queryByText('Secret page')).not.toBeInTheDocument();
  });
});

describe('useOtp', () => {
  it('needs the provider', () => {
    function Lost() {
      useOtp();
      return null;
    }
    const quiet = console.error;
    console.error = () => {};
    try {
      expect(() => render(<Lost />)).toThrow('useOtp() must be used inside <OtpProvider>.');
    } finally {
      console.error = quiet;
    }
  });
});
