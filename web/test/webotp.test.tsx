import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { VerifyBody } from '../src/otp/api';
import { hasWebOtp, receiveSmsCode, useWebOtp } from '../src/otp/webotp';
import { fakeApi, ok, sendBody, statusBody } from './fakeApi';
import { renderOtp } from './render';

type Get = (options: { otp?: { transport: string[] }; signal?: AbortSignal }) => Promise<unknown>;

/** Gives jsdom the WebOTP API; `answer` decides what navigator.credentials.get resolves to. */
function installWebOtp(get: Get) {
  vi.stubGlobal('OTPCredential', class {});
  const credentials = { get: vi.fn(get) };
  Object.defineProperty(navigator, 'credentials', { value: credentials, configurable: true });
  return credentials;
}

afterEach(() => {
  vi.unstubAllGlobals();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  delete (navigator as any).credentials;
});

describe('WebOTP', () => {
  it('is skipped where the browser lacks it', async () => {
    expect(hasWebOtp()).toBe(false);
    expect(await receiveSmsCode(new AbortController().signal)).toBeNull();
  });

  it('fills in and submits the code the SMS carries', async () => {
    const credentials = installWebOtp(async () => ({ type: 'otp', code: '246810' }));
    const api = fakeApi(() => statusBody(Date.now()));
    api.send.mockResolvedValueOnce(ok(sendBody(Date.now())));
    api.verify.mockResolvedValueOnce(ok<VerifyBody>({ verified: true }));
    renderOtp(api);
    await userEvent.setup().click(await screen.findByRole('button', { name: 'Send OTP' }));
    await screen.findByText('Secret page');
    expect(api.verify).toHaveBeenCalledWith('aaaaaaaa-0000-4000-8000-000000000001', '246810', expect.anything());
    expect(api.verify).toHaveBeenCalledTimes(1); // once, though the field also completed
    const options = credentials.get.mock.calls[0][0];
    expect(options.otp).toEqual({ transport: ['sms'] });
    expect(options.signal).toBeInstanceOf(AbortSignal);
  });

  it('aborts the pending request on unmount', async () => {
    let signal: AbortSignal | undefined;
    installWebOtp((options) => {
      signal = options.signal;
      return new Promise(() => {});
    });
    function Probe() {
      useWebOtp(true, 'session', () => {});
      return null;
    }
    const view = render(<Probe />);
    expect(signal?.aborted).toBe(false);
    view.unmount();
    expect(signal?.aborted).toBe(true);
  });

  it('aborts when the code changes or is no longer wanted', async () => {
    const signals: AbortSignal[] = [];
    installWebOtp((options) => {
      signals.push(options.signal!);
      return new Promise(() => {});
    });
    function Probe({ active, id }: { active: boolean; id: string }) {
      useWebOtp(active, id, () => {});
      return null;
    }
    const view = render(<Probe active id="a" />);
    view.rerender(<Probe active id="b" />);
    expect(signals.map((s) => s.aborted)).toEqual([true, false]);
    view.rerender(<Probe active={false} id="b" />);
    expect(signals[1].aborted).toBe(true);
  });

  it('ignores a refused request', async () => {
    installWebOtp(async () => {
      throw new DOMException('denied', 'NotAllowedError');
    });
    expect(await receiveSmsCode(new AbortController().signal)).toBeNull();
  });
});
