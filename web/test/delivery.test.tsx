// Delivery receipts in the rendered overlay: otp_status's session.delivery is polled while the
// code's SMS is on its way, and a code the provider reports undelivered or failed is said so,
// with a new code offered once the cooldown allows.
import { act, fireEvent, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ApiResult, DeliveryStatus, SendBody, StatusBody, StatusSessionBody } from '../src/otp/api';
import { at, fail, fakeApi, ok, sendBody, statusBody } from './fakeApi';
import { renderOtp } from './render';

const SERVER = Date.parse('2030-01-01T12:00:00Z');
const UNDELIVERED = 'We could not deliver the code to +14•••••••01. Check the number with support, or ask for a new code.';

/** Moves the clock by `ms` in small steps: React renders the answers of one act() (and so
 *  schedules the next poll) only when it ends. */
async function flush(ms = 0, step = 1000) {
  let left = ms;
  do {
    const now = Math.min(left, step);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(now);
    });
    left -= now;
  } while (left > 0);
}

function setVisibility(state: 'visible' | 'hidden') {
  Object.defineProperty(document, 'visibilityState', { value: state, configurable: true });
  act(() => {
    document.dispatchEvent(new Event('visibilitychange'));
  });
}

/**
 * A server that reports receipts: after each send, its otp_status answers the new session with
 * `deliveries[i]` at its i-th call (the last one from then on). Each send makes a new session.
 */
function receiptServer(deliveries: (DeliveryStatus | undefined)[], { ttl = 300, cooldown = 30 } = {}) {
  let current: SendBody | null = null;
  let calls = 0;
  let sends = 0;
  const pollTimes: number[] = [];
  const api = fakeApi(() => {
    if (!current) return statusBody(Date.now());
    pollTimes.push(Date.now());
    const delivery = deliveries[Math.min(calls++, deliveries.length - 1)];
    const session: StatusSessionBody = { ...current, status: delivery === 'queued' ? 'pending' : 'sent', delivery };
    return statusBody(Date.now(), { session, next_send_at: current.resend_available_at });
  });
  api.send.mockImplementation(async () => {
    sends += 1;
    current = { ...sendBody(Date.now(), { ttl, cooldown }), session_id: `aaaaaaaa-0000-4000-8000-00000000000${sends}` };
    calls = 0;
    pollTimes.length = 0;
    return ok(current);
  });
  return { api, pollTimes, session: () => current };
}

async function sendCode() {
  await flush();
  fireEvent.click(screen.getByRole('button', { name: 'Send OTP' }));
  await flush();
  expect(screen.getByLabelText('Code')).toBeInTheDocument();
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  vi.setSystemTime(SERVER);
});

afterEach(() => {
  vi.useRealTimers();
  delete (document as unknown as Record<string, unknown>).visibilityState;
});

describe('delivery receipts', { timeout: 30_000 }, () => {
  it('says so when the receipts report the code undelivered, and offers a new code after the cooldown', async () => {
    // queued (1 s pace), then accepted and sent (5 s pace), then the carrier's "undelivered".
    const { api, pollTimes } = receiptServer(['queued', 'accepted', 'sent', 'undelivered']);
    renderOtp(api, { deliveryPollMs: 1000, receiptPollMs: 5000 });
    await sendCode();
    const t0 = Date.now();
    await flush(1000);
    expect(screen.getByRole('status')).toHaveTextContent('Code requested for +14•••••••01.');
    await flush(1000);
    expect(screen.getByRole('status')).toHaveTextContent('Code sent to +14•••••••01.');
    await flush(9_999);
    expect(screen.getByRole('alert')).toBeEmptyDOMElement();
    expect(screen.queryByTestId('delivery')).not.toBeInTheDocument();

    await flush(1);
    expect(pollTimes.map((t) => t - t0)).toEqual([1000, 2000, 7000, 12_000]);
    expect(screen.getByRole('alert')).toHaveTextContent(UNDELIVERED);
    expect(screen.getByTestId('delivery')).toHaveTextContent('Not delivered');
    // The code stays (a late SMS can still be entered); a new code waits for the cooldown.
    expect(screen.getByLabelText('Code')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Send a new code (0:18)' })).toBeDisabled();

    // Final: no more polls.
    await flush(18_000);
    expect(pollTimes).toHaveLength(4);
    const again = screen.getByRole('button', { name: 'Send a new code' });
    expect(again).toBeEnabled();
    expect(screen.getByRole('status')).toHaveTextContent('You can ask for a new code now.');

    fireEvent.click(again);
    await flush();
    expect(api.send).toHaveBeenCalledTimes(2);
    expect(screen.getByRole('alert')).toBeEmptyDOMElement();
    expect(screen.queryByTestId('delivery')).not.toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Resend (0:30)' })).toBeDisabled();
  });

  it('treats failed like undelivered; another error takes the alert while the note stays', async () => {
    const { api } = receiptServer(['accepted', 'failed'], { cooldown: 0 });
    renderOtp(api, { deliveryPollMs: 1000, receiptPollMs: 5000 });
    await sendCode();
    await flush(6000);
    expect(screen.getByRole('alert')).toHaveTextContent(UNDELIVERED);
    expect(screen.getByRole('button', { name: 'Send a new code' })).toBeEnabled();

    fireEvent.submit(screen.getByRole('button', { name: 'Verify' }).closest('form')!);
    await flush();
    // Not all digits: that error is shown instead, and the delivery note stays.
    expect(screen.getByRole('alert')).toHaveTextContent('Enter all 6 digits of the code.');
    expect(screen.getByTestId('delivery')).toHaveTextContent('Not delivered');
  });

  it('asks every receiptPollMs while the receipt is open, and never past the expiry', async () => {
    const { api, pollTimes } = receiptServer(['accepted'], { ttl: 60 });
    renderOtp(api, { deliveryPollMs: 1000, receiptPollMs: 5000 });
    await sendCode();
    const t0 = Date.now();
    await flush(120_000);
    // The first at the queued pace, then every 5 s; the one at 61 s would be past the expiry.
    expect(pollTimes.map((t) => (t - t0) / 1000)).toEqual([1, 6, 11, 16, 21, 26, 31, 36, 41, 46, 51, 56]);
    expect(screen.getByRole('alert')).toHaveTextContent('This code has expired. Ask for a new one.');
  });

  it('notes a delivered code quietly and stops asking', async () => {
    const { api, pollTimes } = receiptServer(['sent', 'delivered']);
    renderOtp(api, { deliveryPollMs: 1000, receiptPollMs: 5000 });
    await sendCode();
    await flush(6000);
    expect(screen.getByTestId('delivery')).toHaveTextContent('Delivered');
    expect(screen.getByRole('status')).toHaveTextContent('Code sent to +14•••••••01.');
    expect(screen.getByRole('alert')).toBeEmptyDOMElement();
    expect(screen.getByRole('button', { name: /^Resend/ })).toBeInTheDocument();
    await flush(60_000);
    expect(pollTimes).toHaveLength(2);
  });

  it('asks nothing while the page is hidden, and catches up when it shows', async () => {
    const { api, pollTimes } = receiptServer(['accepted', 'undelivered']);
    renderOtp(api, { deliveryPollMs: 1000, receiptPollMs: 5000 });
    await sendCode();
    await flush(1000);
    expect(pollTimes).toHaveLength(1);
    setVisibility('hidden');
    await flush(60_000);
    expect(pollTimes).toHaveLength(1);
    setVisibility('visible');
    await flush(1);
    expect(pollTimes).toHaveLength(2);
    expect(screen.getByRole('alert')).toHaveTextContent(UNDELIVERED);
  });

  it('says so at once after a reload, without polling a final receipt', async () => {
    const started = SERVER - 10_000;
    const session: StatusSessionBody = {
      session_id: 's1',
      status: 'sent',
      expires_at: at(started, 300),
      resend_available_at: at(started, 30),
      attempts_remaining: 5,
      delivery: 'undelivered',
    };
    const api = fakeApi(() => statusBody(Date.now(), { session, next_send_at: session.resend_available_at }));
    renderOtp(api, { deliveryPollMs: 1000, receiptPollMs: 5000 });
    await flush();
    expect(screen.getByRole('alert')).toHaveTextContent(UNDELIVERED);
    expect(screen.getByRole('button', { name: 'Send a new code (0:20)' })).toBeDisabled();
    await flush(60_000);
    expect(api.status).toHaveBeenCalledTimes(1);
    expect(api.send).not.toHaveBeenCalled();
  });

  it('drops a poll that was asked before a new code was sent', async () => {
    const { api, session } = receiptServer(['accepted'], { cooldown: 0 });
    renderOtp(api, { deliveryPollMs: 1000, receiptPollMs: 5000 });
    await sendCode();
    await flush(1000);
    const first = session()!;
    // The next poll hangs; a new code is sent; then the poll answers about the old code.
    let answer: (r: ApiResult<StatusBody>) => void = () => {};
    api.status.mockImplementationOnce(() => new Promise((resolve) => (answer = resolve)));
    await flush(5000);
    fireEvent.click(screen.getByRole('button', { name: 'Resend' }));
    await flush();
    expect(session()!.session_id).not.toBe(first.session_id);
    answer(ok(statusBody(Date.now(), { session: { ...first, status: 'sent', delivery: 'undelivered' } })));
    await flush();
    expect(screen.getByRole('alert')).toBeEmptyDOMElement();
    expect(screen.queryByTestId('delivery')).not.toBeInTheDocument();
  });

  it('waits longer after polls that got no answer', async () => {
    const { api, pollTimes } = receiptServer(['accepted']);
    renderOtp(api, { deliveryPollMs: 1000, receiptPollMs: 5000 });
    await sendCode();
    const t0 = Date.now();
    await flush(1000);
    const failedAt: number[] = [];
    api.status.mockImplementation(async () => {
      failedAt.push((Date.now() - t0) / 1000);
      return fail(0, {});
    });
    await flush(120_000);
    expect(pollTimes).toHaveLength(1);
    expect(failedAt).toEqual([6, 16, 36, 76, 116]); // 5 s, then 10, 20, 40, 40
    expect(screen.getByRole('alert')).toBeEmptyDOMElement(); // a background poll shows no error
  });

  it('leaves a user without the SMS step alone', async () => {
    const api = fakeApi(() => ({ otp_required: false, verified: true, session: null, server_time: new Date().toISOString() }));
    renderOtp(api, { deliveryPollMs: 1000, receiptPollMs: 5000 });
    await flush();
    expect(screen.getByText('Secret page')).toBeInTheDocument();
    await flush(60_000);
    expect(api.status).toHaveBeenCalledTimes(1);
  });
});
