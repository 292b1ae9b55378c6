// Countdowns run on the server's clock: a client clock that is an hour off must not change
// what the overlay shows or when it gives up on a code.
import { act, fireEvent, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SendBody } from '../src/otp/api';
import { at, fail, fakeApi, ok, sendBody, statusBody } from './fakeApi';
import { renderOtp } from './render';

const SERVER = Date.parse('2030-01-01T12:00:00Z');
const SKEW = 3600_000; // the client's clock runs an hour fast

async function flush(ms = 0) {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(ms);
  });
}

/** The server's clock while the client's fake clock moves. */
function serverNow() {
  return Date.now() - SKEW;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  vi.setSystemTime(SERVER + SKEW);
});

afterEach(() => {
  vi.useRealTimers();
});

describe('countdowns with a skewed client clock', () => {
  it('counts the resend cooldown and the expiry from server time', async () => {
    const api = fakeApi(() => statusBody(serverNow()));
    // The server's answers carry the server's times.
    api.send.mockImplementationOnce(async () => ok(sendBody(serverNow(), { ttl: 300, cooldown: 30 })));
    renderOtp(api);
    await flush();
    fireEvent.click(screen.getByRole('button', { name: 'Send OTP' }));
    await flush();

    expect(screen.getByTestId('expires-in')).toHaveTextContent('Code expires in 5:00');
    expect(screen.getByRole('button', { name: 'Resend (0:30)' })).toBeDisabled();

    await flush(10_000);
    expect(screen.getByTestId('expires-in')).toHaveTextContent('Code expires in 4:50');
    expect(screen.getByRole('button', { name: 'Resend (0:20)' })).toBeDisabled();

    await flush(20_000);
    expect(screen.getByRole('button', { name: 'Resend' })).toBeEnabled();
    expect(screen.getByRole('status')).toHaveTextContent('You can ask for a new code now.');

    await flush(269_000);
    expect(screen.getByTestId('expires-in')).toHaveTextContent('Code expires in 0:01');
    await flush(1_000);
    expect(screen.queryByLabelText('Code')).not.toBeInTheDocument();
    expect(screen.getByRole('alert')).toHaveTextContent('This code has expired. Ask for a new one.');
    expect(screen.getByRole('button', { name: 'Send a new code' })).toBeEnabled();
  });

  it('resumes a pending code after a reload with its cooldown and expiry, sending nothing', async () => {
    const started = SERVER - 10_000; // sent 10 s before the reload
    const api = fakeApi(() =>
      statusBody(serverNow(), {
        session: {
          session_id: 's1',
          status: 'sent',
          expires_at: at(started, 300),
          resend_available_at: at(started, 30),
          attempts_remaining: 4,
        },
        next_send_at: at(started, 30),
      }),
    );
    renderOtp(api);
    await flush();
    expect(api.send).not.toHaveBeenCalled();
    expect(screen.getByTestId('expires-in')).toHaveTextContent('Code expires in 4:50');
    expect(screen.getByRole('button', { name: 'Resend (0:20)' })).toBeDisabled();
    expect(screen.getByTestId('attempts-left')).toHaveTextContent('4 attempts left');
    await flush(20_000);
    expect(screen.getByRole('button', { name: 'Resend' })).toBeEnabled();
  });

  it('counts down a rate limit from retry_after_seconds, then lets the user send', async () => {
    const api = fakeApi(() => statusBody(serverNow()));
    api.send
      .mockResolvedValueOnce(fail<SendBody>(429, { error: 'rate_limited', limit: 'user_per_minute', retry_after_seconds: 42 }))
      .mockImplementationOnce(async () => ok(sendBody(serverNow())));
    renderOtp(api);
    await flush();
    fireEvent.click(screen.getByRole('button', { name: 'Send OTP' }));
    await flush();
    expect(screen.getByRole('alert')).toHaveTextContent('Too many codes were requested. You can ask for a new one in 42 seconds.');
    expect(screen.getByRole('button', { name: 'Send OTP (0:42)' })).toBeDisabled();
    await flush(12_000);
    expect(screen.getByRole('alert')).toHaveTextContent('in 30 seconds');
    expect(screen.getByRole('button', { name: 'Send OTP (0:30)' })).toBeDisabled();
    await flush(30_000);
    expect(screen.getByRole('alert')).toHaveTextContent('You can ask for a new code now.');
    fireEvent.click(screen.getByRole('button', { name: 'Send OTP' }));
    await flush();
    expect(screen.getByLabelText('Code')).toBeInTheDocument();
    expect(api.send).toHaveBeenCalledTimes(2);
  });

  it('keeps the wait that otp_status reports before any send', async () => {
    const api = fakeApi(() => statusBody(serverNow(), { next_send_at: at(serverNow(), 15) }));
    renderOtp(api);
    await flush();
    expect(screen.getByRole('button', { name: 'Send OTP (0:15)' })).toBeDisabled();
    expect(screen.getByTestId('send-wait')).toHaveTextContent('You can ask for a code in 0:15 (15 seconds).');
    await flush(15_000);
    expect(screen.queryByTestId('send-wait')).not.toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Send OTP' })).toBeEnabled();
  });
});

describe('delivery', () => {
  it('says "sent" once a provider took the code', async () => {
    const api = fakeApi(() => statusBody(serverNow()));
    api.send.mockImplementationOnce(async () => ok(sendBody(serverNow())));
    renderOtp(api, { deliveryPollMs: 1000 });
    await flush();
    fireEvent.click(screen.getByRole('button', { name: 'Send OTP' }));
    await flush();
    expect(screen.getByRole('status')).toHaveTextContent('Code requested for +14•••••••01.');
    const session = sendBody(serverNow() - 1000);
    api.status.mockImplementation(async () =>
      ok(statusBody(serverNow(), { session: { ...session, status: 'sent' }, next_send_at: session.resend_available_at })),
    );
    await flush(1000);
    expect(screen.getByRole('status')).toHaveTextContent('Code sent to +14•••••••01.');
    const calls = api.status.mock.calls.length;
    await flush(10_000);
    expect(api.status.mock.calls.length).toBe(calls); // no more polling once sent
  });

  it('says so when no provider could deliver the code', async () => {
    const api = fakeApi(() => statusBody(serverNow()));
    api.send.mockImplementationOnce(async () => ok(sendBody(serverNow())));
    renderOtp(api, { deliveryPollMs: 1000 });
    await flush();
    fireEvent.click(screen.getByRole('button', { name: 'Send OTP' }));
    await flush();
    // otp_status no longer lists the session: it failed.
    await flush(1000);
    expect(screen.getByRole('alert')).toHaveTextContent('We could not deliver the text message. Ask for a new code.');
    expect(screen.queryByLabelText('Code')).not.toBeInTheDocument();
  });
});
