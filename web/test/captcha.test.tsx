// The CAPTCHA token of otp_send: createOtpApi's captchaToken callback (a fresh token per send,
// in the X-Captcha-Token header of otp_send alone), the server's captcha answers read as
// errors with a way forward, and <OtpProvider captchaToken> sending it from the overlay.
import { PostgrestClient } from '@supabase/postgrest-js';
import { fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { createOtpApi, describeOtpError, OtpProvider, ProtectedRoute } from '../src/otp';
import { OtpAbortError } from '../src/otp/api';

function reply(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

const SERVER_TIME = new Date().toISOString();
const SENT = {
  session_id: 's',
  expires_at: new Date(Date.now() + 300_000).toISOString(),
  resend_available_at: new Date(Date.now() + 30_000).toISOString(),
  attempts_remaining: 5,
  server_time: SERVER_TIME,
};

function apiWith(captchaToken: () => string | null | undefined | Promise<string | null | undefined>) {
  const fetchMock = vi.fn(async (url: string, _init: RequestInit) =>
    reply(200, url.endsWith('/otp_send') ? SENT : { verified: true }),
  );
  const api = createOtpApi({ url: 'http://api.test', token: 'tok', fetch: fetchMock as unknown as typeof fetch, captchaToken });
  const header = (n: number) => new Headers(fetchMock.mock.calls[n][1].headers).get('X-Captcha-Token');
  return { api, fetchMock, header };
}

describe('createOtpApi captchaToken', () => {
  it('asks for a fresh token at each send and sends it on otp_send only', async () => {
    let n = 0;
    const captcha = vi.fn(async () => `token-${++n}`);
    const { api, fetchMock, header } = apiWith(captcha);
    await api.send();
    await api.send({ phone: '+14155550101' });
    await api.verify('s', '123456');
    await api.status();
    expect(captcha).toHaveBeenCalledTimes(2);
    expect(header(0)).toBe('token-1');
    expect(header(1)).toBe('token-2');
    expect(header(2)).toBeNull();
    expect(header(3)).toBeNull();
    // The token travels in the header, never in the arguments.
    expect(JSON.parse(String(fetchMock.mock.calls[1][1].body))).toEqual({ phone: '+14155550101' });
  });

  it('sends no header for nothing, an empty token, or one that would split the header', async () => {
    for (const value of [undefined, null, '', 'abc\r\nX-Evil: 1', 'abc\n', 'a\0b']) {
      const { api, fetchMock, header } = apiWith(() => value);
      await api.send();
      expect(fetchMock).toHaveBeenCalledTimes(1);
      expect(header(0)).toBeNull();
    }
  });

  it('a send aborted while the token is fetched makes no request', async () => {
    const controller = new AbortController();
    const { api, fetchMock } = apiWith(async () => {
      controller.abort();
      return 'late-token';
    });
    await expect(api.send({}, controller.signal)).rejects.toBeInstanceOf(OtpAbortError);
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it('reads captcha_required and captcha_failed as "captcha", captcha_unavailable apart', async () => {
    for (const [status, code, kind, recovery] of [
      [403, 'captcha_required', 'captcha', 'send'],
      [403, 'captcha_failed', 'captcha', 'send'],
      [503, 'captcha_unavailable', 'captcha_unavailable', 'retry'],
    ] as const) {
      const fetchMock = vi.fn(async () => reply(status, { code, message: 'm', details: null, hint: null }));
      const api = createOtpApi({ url: 'http://api.test', token: 'tok', fetch: fetchMock as unknown as typeof fetch });
      const res = await api.send();
      if (res.ok) throw new Error('expected a failure');
      expect(res.error).toMatchObject({ kind, status, code });
      const message = describeOtpError(res.error, { waitSeconds: 0, codeLength: 6 });
      expect(message.recovery).toBe(recovery);
      expect(message.text).toMatch(/robot/);
    }
  });
});

describe('<OtpProvider captchaToken>', () => {
  it('the overlay\'s Send carries the newest callback\'s token', async () => {
    const fetchMock = vi.fn(async (url: string, _init: RequestInit) =>
      url.endsWith('/otp_send')
        ? reply(200, SENT)
        : reply(200, { otp_required: true, verified: false, session: null, phone_hint: '+14•••••••01', server_time: SERVER_TIME }),
    );
    const client = new PostgrestClient('http://api.test', { fetch: fetchMock as unknown as typeof fetch });
    const ui = (token: string) => (
      <OtpProvider client={client} token="tok" captchaToken={() => token}>
        <ProtectedRoute unauthenticated={<p>Please sign in</p>}>
          <p>Secret page</p>
        </ProtectedRoute>
      </OtpProvider>
    );
    const { rerender } = render(ui('first'));
    rerender(ui('second'));
    fireEvent.click(await screen.findByRole('button', { name: 'Send OTP' }));
    await screen.findByText(/Code expires in/);
    const send = fetchMock.mock.calls.find(([url]) => String(url).endsWith('/otp_send'))!;
    expect(new Headers(send[1].headers).get('X-Captcha-Token')).toBe('second');
    const status = fetchMock.mock.calls.find(([url]) => String(url).endsWith('/otp_status'))!;
    expect(new Headers(status[1].headers).get('X-Captcha-Token')).toBeNull();
  });
});
