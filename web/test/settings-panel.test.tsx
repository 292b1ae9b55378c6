import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { OtpProvider, OtpSettings, ProtectedRoute } from '../src/otp';
import type { DisableBody, OtpApi, SendBody, StatusBody, VerifyBody } from '../src/otp/api';
import { at, fail, fakeApi, ok, sendBody, statusBody } from './fakeApi';

const SESSION = 'aaaaaaaa-0000-4000-8000-000000000001';

// The server as the panel sees it: otp_status answers what `server` holds now.
function setup(initial: Partial<StatusBody>) {
  let server: StatusBody = statusBody(Date.now(), { verified: true, ...initial });
  const api = fakeApi(() => ({ ...server, server_time: at(Date.now()), next_send_at: at(Date.now()) })) as ReturnType<typeof fakeApi> & {
    disable: ReturnType<typeof vi.fn<NonNullable<OtpApi['disable']>>>;
  };
  api.disable = vi.fn<NonNullable<OtpApi['disable']>>(async () => fail<DisableBody>(500, { message: 'unexpected disable' }));
  const onChange = vi.fn();
  render(
    <OtpProvider apiUrl="http://api.test" token="token" api={api}>
      <OtpSettings defaultCountry="GB" onChange={onChange} />
    </OtpProvider>,
  );
  return { api, onChange, user: userEvent.setup(), set: (next: Partial<StatusBody>) => (server = { ...server, ...next }) };
}

const enrolBody = (): SendBody => ({ ...sendBody(Date.now()), purpose: 'enrol', phone_hint: '+44••••••••23' });

describe('OtpSettings', () => {
  it('turns codes on: country and number, a code to that number, then "on"', async () => {
    const { api, user, onChange, set } = setup({ otp_required: false, phone_hint: null });
    await user.click(await screen.findByRole('button', { name: 'Turn on SMS codes' }));
    expect(screen.getByLabelText('Country')).toHaveValue('GB');
    const number = screen.getByLabelText('Mobile number');
    expect(number).toHaveFocus();
    expect(number).toHaveAttribute('type', 'tel');
    expect(number).toHaveAttribute('autocomplete', 'tel-national');

    api.send.mockResolvedValueOnce(ok(enrolBody()));
    await user.type(number, '07700 900123');
    await user.click(screen.getByRole('button', { name: 'Send code' }));
    expect(api.send).toHaveBeenCalledWith({ phone: '+447700900123' }, expect.anything());
    expect(await screen.findByText(/Enter the 6-digit code we sent to/)).toHaveTextContent('+44••••••••23');
    expect(screen.getByTestId('settings-attempts-left')).toHaveTextContent('5 attempts left');
    expect(screen.getByRole('button', { name: /^Resend \(0:[23]\d\)$/ })).toBeDisabled();

    api.verify
      .mockResolvedValueOnce(fail<VerifyBody>(400, { verified: false, reason: 'invalid_code', attempts_remaining: 4 }))
      .mockResolvedValueOnce(ok<VerifyBody>({ verified: true, session_id: SESSION, enrolled: true, phone_hint: '+44••••••••23' }));
    await user.type(screen.getByLabelText('Code'), '000000');
    expect(await screen.findByRole('alert')).toHaveTextContent('That code is not right. 4 attempts left.');
    set({ otp_required: true, phone_hint: '+44••••••••23', reverify_until: at(Date.now(), 300) });
    const callsBefore = api.status.mock.calls.length;
    await user.type(screen.getByLabelText('Code'), '123456');
    expect(await screen.findByTestId('settings-notice')).toHaveTextContent('SMS codes are on.');
    expect(screen.getByTestId('settings-state')).toHaveTextContent('On');
    expect(screen.getByTestId('settings-number')).toHaveTextContent('Codes go to +44••••••••23.');
    expect(api.verify).toHaveBeenLastCalledWith(SESSION, '123456', expect.anything());
    expect(onChange).toHaveBeenCalledWith('enabled');
    // The provider asks where the sign-in stands (codes are on now), and the panel reads the window.
    await waitFor(() => expect(api.status.mock.calls.length).toBe(callsBefore + 2));
  });

  it('inside <ProtectedRoute>, stays on screen while the provider reads the new state', async () => {
    let server = statusBody(Date.now(), { otp_required: false, verified: true, phone_hint: null });
    const api = fakeApi(() => ({ ...server, server_time: at(Date.now()) }));
    render(
      <OtpProvider apiUrl="http://api.test" token="token" api={api}>
        <ProtectedRoute unauthenticated={<p>Please sign in</p>} loading={<p>Loading…</p>}>
          <OtpSettings />
        </ProtectedRoute>
      </OtpProvider>,
    );
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Turn on SMS codes' }));
    api.send.mockResolvedValueOnce(ok(enrolBody()));
    await user.type(screen.getByLabelText('Mobile number'), '+44 7700 900123');
    await user.click(screen.getByRole('button', { name: 'Send code' }));
    api.verify.mockResolvedValueOnce(ok<VerifyBody>({ verified: true, session_id: SESSION, enrolled: true, phone_hint: '+44••••••••23' }));
    server = { ...server, otp_required: true, verified: true, phone_hint: '+44••••••••23' };
    await user.type(await screen.findByLabelText('Code'), '123456');
    // The notice is the panel's own state: it is still there once the provider has re-read.
    await waitFor(() => expect(api.status.mock.calls.length).toBeGreaterThanOrEqual(4));
    expect(await screen.findByTestId('settings-notice')).toHaveTextContent('SMS codes are on.');
    expect(screen.queryByText('Loading…')).not.toBeInTheDocument();
  });

  it('refuses a number with too few digits without calling the server', async () => {
    const { api, user } = setup({ otp_required: false, phone_hint: null });
    await user.click(await screen.findByRole('button', { name: 'Turn on SMS codes' }));
    await user.type(screen.getByLabelText('Mobile number'), '123');
    await user.click(screen.getByRole('button', { name: 'Send code' }));
    expect(screen.getByRole('alert')).toHaveTextContent('That does not look like a phone number.');
    expect(screen.getByLabelText('Mobile number')).toHaveAttribute('aria-invalid', 'true');
    expect(api.send).not.toHaveBeenCalled();
  });

  it('changing the number needs a code to the current one first when the last one is old', async () => {
    const { api, user, set, onChange } = setup({ otp_required: true, phone_hint: '+14•••••••01', reverify_until: null });
    await user.click(await screen.findByRole('button', { name: 'Change number' }));
    expect(screen.getByText(/first confirm it’s you/)).toHaveTextContent('+14•••••••01');
    // No cooldown here: the wait between two sends (shared by both codes) is the next test's.
    api.send.mockResolvedValueOnce(ok(sendBody(Date.now(), { cooldown: 0 })));
    await user.click(screen.getByRole('button', { name: 'Send code' }));
    expect(api.send).toHaveBeenLastCalledWith({}, expect.anything());
    api.verify.mockResolvedValueOnce(ok<VerifyBody>({ verified: true, session_id: SESSION }));
    set({ reverify_until: at(Date.now(), 300) });
    await user.type(await screen.findByLabelText('Code'), '123456');
    // On to the new number.
    const number = await screen.findByLabelText('Mobile number');
    expect(screen.getByText(/your current number stays until you enter it/)).toBeInTheDocument();
    api.send.mockResolvedValueOnce(ok(enrolBody()));
    await user.type(number, '+44 7700 900123');
    await user.click(screen.getByRole('button', { name: /^Send code/ }));
    expect(api.send).toHaveBeenLastCalledWith({ phone: '+447700900123' }, expect.anything());
    api.verify.mockResolvedValueOnce(ok<VerifyBody>({ verified: true, session_id: SESSION, enrolled: true, phone_hint: '+44••••••••23' }));
    set({ phone_hint: '+44••••••••23' });
    await user.type(await screen.findByLabelText('Code'), '654321');
    expect(await screen.findByTestId('settings-notice')).toHaveTextContent('Your number is changed.');
    expect(onChange).toHaveBeenCalledWith('changed');
  });

  it('after confirming, the new number waits for the cooldown the confirming code started', async () => {
    const { api, user, set } = setup({ otp_required: true, phone_hint: '+14•••••••01', reverify_until: null });
    await user.click(await screen.findByRole('button', { name: 'Change number' }));
    api.send.mockResolvedValueOnce(ok(sendBody(Date.now(), { cooldown: 30 })));
    await user.click(screen.getByRole('button', { name: 'Send code' }));
    api.verify.mockResolvedValueOnce(ok<VerifyBody>({ verified: true, session_id: SESSION }));
    set({ reverify_until: at(Date.now(), 300) });
    await user.type(await screen.findByLabelText('Code'), '123456');
    await screen.findByLabelText('Mobile number');
    const send = screen.getByRole('button', { name: /^Send code \(0:(30|2\d)\)$/ });
    expect(send).toBeDisabled();
    expect(api.send).toHaveBeenCalledTimes(1);
  });

  it('turns codes off after a last question, while the last code is recent', async () => {
    const { api, user, set, onChange } = setup({ otp_required: true, phone_hint: '+14•••••••01', reverify_until: at(Date.now(), 240) });
    await user.click(await screen.findByRole('button', { name: 'Turn off' }));
    expect(screen.getByText(/Turn off SMS codes and remove/)).toHaveTextContent('+14•••••••01');
    api.disable.mockResolvedValueOnce(ok<DisableBody>({ otp_enabled: false }));
    set({ otp_required: false, phone_hint: null, reverify_until: null });
    await user.click(screen.getByRole('button', { name: 'Turn off SMS codes' }));
    expect(await screen.findByTestId('settings-notice')).toHaveTextContent('SMS codes are off');
    expect(screen.getByTestId('settings-state')).toHaveTextContent('Off');
    expect(api.disable).toHaveBeenCalledTimes(1);
    expect(onChange).toHaveBeenCalledWith('disabled');
  });

  it('a turn-off the server refuses (the code is no longer recent) asks for a code', async () => {
    const { api, user } = setup({ otp_required: true, phone_hint: '+14•••••••01', reverify_until: at(Date.now(), 240) });
    await user.click(await screen.findByRole('button', { name: 'Turn off' }));
    api.disable.mockResolvedValueOnce(fail<DisableBody>(403, { code: 'reverify_required', message: 'Enter a code sent to your current number first.' }));
    await user.click(screen.getByRole('button', { name: 'Turn off SMS codes' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('First confirm it’s you with a code sent to your current number.');
    expect(screen.getByRole('button', { name: 'Send code' })).toBeEnabled();
  });

  it('resumes a pending enrolment after a reload, with its attempts and expiry', async () => {
    const now = Date.now();
    setup({
      otp_required: false,
      phone_hint: null,
      enrolment: {
        session_id: SESSION,
        status: 'sent',
        phone_hint: '+44••••••••23',
        expires_at: at(now, 200),
        resend_available_at: at(now, 10),
        attempts_remaining: 3,
      },
    });
    expect(await screen.findByText(/Enter the 6-digit code we sent to/)).toHaveTextContent('+44••••••••23');
    expect(screen.getByTestId('settings-attempts-left')).toHaveTextContent('3 attempts left');
    expect(screen.getByTestId('settings-expires-in')).toHaveTextContent(/Code expires in 3:[12]\d/);
  });

  it('says so when the settings cannot be read, and tries again', async () => {
    const api = fakeApi(() => statusBody(Date.now(), { otp_required: false, verified: true }));
    const working = api.status.getMockImplementation()!;
    api.status.mockImplementation(async () => fail<StatusBody>(0, { message: 'Failed to fetch' }));
    render(
      <OtpProvider apiUrl="http://api.test" token="token" api={api}>
        <OtpSettings />
      </OtpProvider>,
    );
    const user = userEvent.setup();
    await waitFor(() => expect(screen.getByRole('alert')).toHaveTextContent('We cannot reach the server.'));
    expect(screen.getByRole('region', { name: 'SMS codes' })).toHaveAttribute('data-phase', 'unavailable');
    api.status.mockImplementation(working);
    await user.click(screen.getByRole('button', { name: 'Try again' }));
    await screen.findByRole('button', { name: 'Turn on SMS codes' });
    expect(screen.getByRole('alert')).toHaveTextContent('');
  });
});
