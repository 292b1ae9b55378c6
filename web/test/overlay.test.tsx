import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { SendBody, VerifyBody } from '../src/otp/api';
import { at, fail, fakeApi, ok, sendBody, statusBody } from './fakeApi';
import { renderOtp } from './render';

const SESSION = 'aaaaaaaa-0000-4000-8000-000000000001';

async function openWithCode(options: Parameters<typeof renderOtp>[1] = {}) {
  const api = fakeApi(() => statusBody(Date.now()));
  api.send.mockResolvedValueOnce(ok(sendBody(Date.now())));
  const view = renderOtp(api, options);
  const user = userEvent.setup();
  await user.click(await screen.findByRole('button', { name: 'Send OTP' }));
  await screen.findByText(/Code expires in/);
  return { api, user, ...view };
}

function codeField() {
  return screen.getByLabelText('Code');
}

describe('OtpOverlay', () => {
  it('offers "Send OTP" for the masked phone, then the code field', async () => {
    const { api } = await openWithCode();
    expect(api.send).toHaveBeenCalledTimes(1);
    const dialog = screen.getByRole('dialog', { name: 'Confirm it’s you' });
    expect(dialog).toHaveAttribute('aria-modal', 'true');
    expect(dialog).toHaveTextContent('Enter the 6-digit code we sent to +14•••••••01.');
    expect(screen.getByTestId('attempts-left')).toHaveTextContent('5 attempts left');
    expect(screen.getByRole('button', { name: 'Verify' })).toBeEnabled();
    expect(screen.getByRole('button', { name: /^Resend/ })).toBeDisabled();
    expect(screen.queryByText('Secret page')).not.toBeInTheDocument();
  });

  it('has a code field for phones: one-time-code autofill, numeric keypad', async () => {
    await openWithCode();
    const input = codeField();
    expect(input).toHaveAttribute('autocomplete', 'one-time-code');
    expect(input).toHaveAttribute('inputmode', 'numeric');
    expect(input).toHaveAttribute('maxlength', '6');
    expect(input).toHaveFocus();
  });

  it('takes a wrong code, says how many attempts are left, then takes the right one', async () => {
    const { api, user } = await openWithCode();
    api.verify
      .mockResolvedValueOnce(
        fail<VerifyBody>(400, { verified: false, reason: 'invalid_code', attempts_remaining: 4, message: 'That code is not right. 4 attempts left.' }),
      )
      .mockResolvedValueOnce(ok<VerifyBody>({ verified: true, session_id: SESSION }));

    await user.type(codeField(), '000000');
    expect(await screen.findByRole('alert')).toHaveTextContent('That code is not right. 4 attempts left.');
    expect(api.verify).toHaveBeenLastCalledWith(SESSION, '000000', expect.anything());
    expect(screen.getByTestId('attempts-left')).toHaveTextContent('4 attempts left');
    expect(codeField()).toHaveValue('');
    await waitFor(() => expect(codeField()).toHaveFocus());

    await user.type(codeField(), '123456');
    expect(await screen.findByText('Secret page')).toBeInTheDocument();
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
    expect(api.verify).toHaveBeenLastCalledWith(SESSION, '123456', expect.anything());
  });

  it('takes a pasted code whole, dropping spaces and dashes', async () => {
    const { api, user } = await openWithCode();
    api.verify.mockResolvedValueOnce(ok<VerifyBody>({ verified: true }));
    await user.click(codeField());
    await user.paste('123-456');
    await screen.findByText('Secret page');
    expect(api.verify).toHaveBeenCalledWith(SESSION, '123456', expect.anything());
  });

  it('asks for every digit before calling the server', async () => {
    const { api, user } = await openWithCode();
    await user.type(codeField(), '12');
    await user.click(screen.getByRole('button', { name: 'Verify' }));
    expect(screen.getByRole('alert')).toHaveTextContent('Enter all 6 digits of the code.');
    expect(api.verify).not.toHaveBeenCalled();
  });

  it.each([
    [429, { error: 'rate_limited', limit: 'cooldown', retry_after_seconds: 25 }, 'Please wait 25 seconds before asking for another code.', null],
    [429, { error: 'rate_limited', limit: 'user_per_day', retry_after_seconds: 600 }, 'Too many codes were requested. You can ask for a new one in 10 minutes.', null],
    [429, { error: 'locked_out', retry_after_seconds: 900 }, 'Too many wrong codes. For your security, try again in 15 minutes.', null],
    [503, { code: 'no_provider', message: 'No SMS provider is available right now.' }, 'Text messages cannot be sent right now. Please try again in a few minutes.', 'Try again'],
    [0, { message: 'TypeError: Failed to fetch' }, 'We cannot reach the server. Check your connection and try again.', 'Try again'],
    [401, { code: 'not_authenticated', message: 'Sign in before asking for a code.' }, 'Your sign-in has expired. Please sign in again.', 'Sign in again'],
    [409, { code: 'no_phone' }, 'This account has no phone number for text-message codes. Please contact support.', 'Sign in again'],
    [500, { code: 'XX000', message: 'internal' }, 'Something went wrong on our side. Please try again.', 'Try again'],
  ])('a send answered %s %j says "%s"', async (status, body, text, recoveryButton) => {
    const api = fakeApi(() => statusBody(Date.now()));
    api.send.mockResolvedValueOnce(fail<SendBody>(status, body));
    renderOtp(api);
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Send OTP' }));
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent(text);
    if (recoveryButton) expect(within(alert).getByRole('button', { name: recoveryButton })).toBeEnabled();
    else {
      // The wait is the way forward: the send button counts it down.
      expect(screen.getByRole('button', { name: /^Send OTP \(\d+:\d\d\)$/ })).toBeDisabled();
    }
    expect(screen.getByRole('button', { name: 'Sign out' })).toBeEnabled();
  });

  it.each([
    [400, { verified: false, reason: 'expired', attempts_remaining: 5 }, 'This code has expired. Ask for a new one.', 'Send a new code'],
    [403, { verified: false, reason: 'locked', attempts_remaining: 0 }, 'Too many wrong tries for this code. Ask for a new one.', 'Send a new code'],
    [409, { verified: false, reason: 'already_used', attempts_remaining: 4 }, 'This code has already been used.', 'Check again'],
    [409, { verified: false, reason: 'superseded', attempts_remaining: 5 }, 'A newer code was sent. Enter the code from the latest message.', 'Check again'],
    [409, { verified: false, reason: 'failed', attempts_remaining: 5 }, 'We could not deliver the text message. Ask for a new code.', 'Send a new code'],
    [404, { code: 'session_not_found' }, 'That code request has ended. Ask for a new code.', 'Send a new code'],
    [503, { code: 'provider_unavailable' }, 'The code cannot be checked right now. Please try again in a moment.', 'Try again'],
    [503, { verified: false, reason: 'provider_unavailable', attempts_remaining: 5 }, 'The code cannot be checked right now. Please try again in a moment.', 'Try again'],
    [409, { verified: false, reason: 'code_pending', attempts_remaining: 5, retry_after_seconds: 1 }, 'Your code is still on its way to us. Please try again in a moment.', 'Try again'],
    [409, { verified: false, reason: 'check_in_progress', attempts_remaining: 5, retry_after_seconds: 1 }, 'Your code is being checked. Please try again in a moment.', 'Try again'],
    [0, {}, 'We cannot reach the server. Check your connection and try again.', 'Try again'],
    [401, { code: 'PGRST301', message: 'JWT expired' }, 'Your sign-in has expired. Please sign in again.', 'Sign in again'],
  ])('a verify answered %s %j says "%s" and offers "%s"', async (status, body, text, action) => {
    const { api, user } = await openWithCode();
    api.verify.mockResolvedValueOnce(fail<VerifyBody>(status, body));
    await user.type(codeField(), '123456');
    expect(await screen.findByRole('alert')).toHaveTextContent(text);
    if (action === 'Send a new code') {
      // Waits out the first send's 30 s cooldown, counting down on the button.
      expect(screen.getByRole('button', { name: /^Send a new code \(0:(30|29)\)$/ })).toBeDisabled();
      expect(screen.queryByLabelText('Code')).not.toBeInTheDocument();
    } else {
      expect(screen.getByRole('button', { name: action })).toBeEnabled();
    }
  });

  it('retries a send that met a network failure', async () => {
    const api = fakeApi(() => statusBody(Date.now()));
    api.send.mockResolvedValueOnce(fail<SendBody>(0, {})).mockResolvedValueOnce(ok(sendBody(Date.now())));
    renderOtp(api);
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Send OTP' }));
    await user.click(await screen.findByRole('button', { name: 'Try again' }));
    await screen.findByText(/Code expires in/);
    expect(api.send).toHaveBeenCalledTimes(2);
    expect(screen.getByRole('alert')).toBeEmptyDOMElement();
  });

  it('retries the same code after a network failure', async () => {
    const { api, user } = await openWithCode();
    api.verify.mockResolvedValueOnce(fail<VerifyBody>(0, {})).mockResolvedValueOnce(ok<VerifyBody>({ verified: true }));
    await user.type(codeField(), '654321');
    await user.click(await screen.findByRole('button', { name: 'Try again' }));
    await screen.findByText('Secret page');
    expect(api.verify).toHaveBeenNthCalledWith(2, SESSION, '654321', expect.anything());
  });

  it('checks the same code again when it was still on its way, keeping the code and the send button as they were', async () => {
    // A provider's 4-digit code (Vonage Verify's default), the app set up for it.
    const { api, user } = await openWithCode({ codeLength: 4 });
    api.verify
      .mockResolvedValueOnce(fail<VerifyBody>(409, { verified: false, reason: 'code_pending', attempts_remaining: 5, retry_after_seconds: 1 }))
      .mockResolvedValueOnce(ok<VerifyBody>({ verified: true }));
    await user.type(codeField(), '4821');
    expect(await screen.findByRole('alert')).toHaveTextContent('Your code is still on its way to us.');
    // The session stays: the code field is still there.
    expect(codeField()).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Try again' }));
    await screen.findByText('Secret page');
    expect(api.verify).toHaveBeenCalledTimes(2);
    expect(api.verify).toHaveBeenNthCalledWith(2, SESSION, '4821', expect.anything());
  });

  it('sends a new code after an expired one', async () => {
    const api = fakeApi(() => statusBody(Date.now()));
    api.send.mockResolvedValueOnce(ok(sendBody(Date.now(), { cooldown: 0 })));
    renderOtp(api);
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Send OTP' }));
    api.verify.mockResolvedValueOnce(fail<VerifyBody>(400, { verified: false, reason: 'expired', attempts_remaining: 5 }));
    await user.type(await screen.findByLabelText('Code'), '123456');
    expect(await screen.findByRole('alert')).toHaveTextContent('This code has expired. Ask for a new one.');
    api.send.mockResolvedValueOnce(ok({ ...sendBody(Date.now()), session_id: 'bbbbbbbb-0000-4000-8000-000000000002' }));
    api.verify.mockResolvedValueOnce(ok<VerifyBody>({ verified: true }));
    await user.click(screen.getByRole('button', { name: 'Send a new code' }));
    await user.type(await screen.findByLabelText('Code'), '222222');
    await screen.findByText('Secret page');
    expect(api.verify).toHaveBeenLastCalledWith('bbbbbbbb-0000-4000-8000-000000000002', '222222', expect.anything());
  });

  it('signs in again after the token expired', async () => {
    const api = fakeApi(() => statusBody(Date.now()));
    api.send.mockResolvedValueOnce(fail<SendBody>(401, { code: 'PGRST301', message: 'JWT expired' }));
    const { onSignOut } = renderOtp(api);
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Send OTP' }));
    await user.click(await screen.findByRole('button', { name: 'Sign in again' }));
    expect(onSignOut).toHaveBeenCalledTimes(1);
    expect(await screen.findByText('Please sign in')).toBeInTheDocument();
  });

  it('always offers a way out', async () => {
    const { onSignOut, user } = await openWithCode();
    await user.click(screen.getByRole('button', { name: 'Sign out' }));
    expect(onSignOut).toHaveBeenCalledTimes(1);
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
  });

  it('shows a failed status check with a way to retry', async () => {
    const api = fakeApi(() => statusBody(Date.now()));
    api.status.mockResolvedValueOnce(fail(0, {})).mockResolvedValueOnce(fail(503, { code: 'PGRST001', message: 'db' }));
    renderOtp(api);
    expect(await screen.findByRole('alert')).toHaveTextContent('We cannot reach the server.');
    const user = userEvent.setup();
    await user.click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByText('Something went wrong on our side. Please try again.')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByRole('button', { name: 'Send OTP' })).toBeInTheDocument();
    expect(api.status).toHaveBeenCalledTimes(3);
  });

  it('resumes the pending code after a reload, without sending one', async () => {
    const api = fakeApi(() =>
      statusBody(Date.now(), {
        session: {
          session_id: SESSION,
          status: 'sent',
          expires_at: at(Date.now(), 200),
          resend_available_at: at(Date.now(), 20),
          attempts_remaining: 3,
        },
        next_send_at: at(Date.now(), 20),
      }),
    );
    renderOtp(api);
    expect(await screen.findByLabelText('Code')).toBeInTheDocument();
    expect(api.send).not.toHaveBeenCalled();
    expect(screen.getByTestId('attempts-left')).toHaveTextContent('3 attempts left');
    expect(screen.getByRole('button', { name: /^Resend \(0:(20|19)\)$/ })).toBeDisabled();
    expect(screen.getByTestId('expires-in')).toHaveTextContent(/Code expires in 3:(20|19)/);
  });

  it('announces progress politely and errors as alerts', async () => {
    const { api, user } = await openWithCode();
    const status = screen.getByRole('status');
    expect(status).toHaveAttribute('aria-live', 'polite');
    expect(status).toHaveTextContent('Code requested for +14•••••••01.');
    api.verify.mockResolvedValueOnce(fail<VerifyBody>(400, { verified: false, reason: 'invalid_code', attempts_remaining: 2 }));
    await user.type(codeField(), '111111');
    expect(await screen.findByRole('alert')).toHaveTextContent('That code is not right. 2 attempts left.');
  });

  it('keeps focus in the dialog and the app behind it inert', async () => {
    const { user, container } = await openWithCode();
    expect(container).toHaveAttribute('inert');
    expect(container).toHaveAttribute('aria-hidden', 'true');
    const dialog = screen.getByRole('dialog');
    const signOut = screen.getByRole('button', { name: 'Sign out' });
    signOut.focus();
    await user.tab();
    expect(dialog).toContainElement(document.activeElement as HTMLElement);
    expect(codeField()).toHaveFocus(); // wrapped around to the first control
    await user.tab({ shift: true });
    expect(signOut).toHaveFocus(); // and back to the last
    // Focus sent behind the dialog comes back.
    screen.getByRole('button', { name: 'Behind the overlay', hidden: true }).focus();
    expect(dialog).toContainElement(document.activeElement as HTMLElement);
    // Gone with the dialog: the app is usable again.
    await user.click(signOut);
    expect(container).not.toHaveAttribute('inert');
  });
});
