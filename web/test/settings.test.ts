import { describe, expect, it } from 'vitest';
import { classifyError } from '../src/otp/errors';
import {
  composePhone,
  initialSettingsState,
  isFresh,
  settingsReducer,
  type SettingsEvent,
  type SettingsState,
} from '../src/otp/settings';
import { at, sendBody, statusBody } from './fakeApi';

const T = Date.parse('2030-01-01T12:00:00Z');

function run(events: SettingsEvent[], from: SettingsState = initialSettingsState): SettingsState {
  return events.reduce(settingsReducer, from);
}
const loaded = (overrides = {}, clientNow = T): SettingsEvent => ({
  type: 'STATUS_LOADED',
  body: statusBody(T, { verified: true, ...overrides }),
  requestedAt: clientNow,
  receivedAt: clientNow,
});
const off = loaded({ otp_required: false, phone_hint: null });
const enrolSent: SettingsEvent = {
  type: 'SEND_SUCCEEDED',
  body: { ...sendBody(T), purpose: 'enrol', phone_hint: '+44••••••••23' },
  phone: '+447700900123',
  requestedAt: T,
  receivedAt: T,
};
const confirmSent: SettingsEvent = { type: 'SEND_SUCCEEDED', body: sendBody(T), phone: null, requestedAt: T, receivedAt: T };

describe('settingsReducer', () => {
  it('shows codes off, then the number field, then the code for the new number', () => {
    const s0 = run([{ type: 'STATUS_REQUESTED' }, off]);
    expect(s0).toMatchObject({ phase: 'off', enabled: false });
    const s1 = run([{ type: 'START', intent: 'enable', serverNow: T }], s0);
    expect(s1.phase).toBe('number');
    const s2 = run([{ type: 'SEND_REQUESTED' }, enrolSent], s1);
    expect(s2).toMatchObject({ phase: 'code', busy: null, phone: '+447700900123' });
    expect(s2.code).toMatchObject({ purpose: 'enrol', phoneHint: '+44••••••••23', attemptsRemaining: 5 });
    expect(s2.nextSendAt).toBe(T + 30_000);
    const s3 = run([{ type: 'VERIFY_REQUESTED' }, { type: 'VERIFY_SUCCEEDED', body: { verified: true, enrolled: true, phone_hint: '+44••••••••23' } }], s2);
    expect(s3).toMatchObject({ phase: 'on', enabled: true, phoneHint: '+44••••••••23', notice: 'enabled', code: null, intent: null });
  });

  it('asks for a code to the current number before a change when the last one is not recent', () => {
    const on = run([loaded({ reverify_until: null })]);
    expect(on.phase).toBe('on');
    expect(isFresh(on, T)).toBe(false);
    const s1 = run([{ type: 'START', intent: 'change', serverNow: T }], on);
    expect(s1.phase).toBe('confirm');
    const s2 = run([confirmSent], s1);
    expect(s2.code?.purpose).toBe('confirm');
    expect(s2.code?.phoneHint).toBe('+14•••••••01');
    const s3 = run([{ type: 'VERIFY_SUCCEEDED', body: { verified: true } }], s2);
    expect(s3.phase).toBe('number');
    expect(s3.intent).toBe('change');
    const s4 = run([enrolSent, { type: 'VERIFY_SUCCEEDED', body: { verified: true, enrolled: true, phone_hint: '+44••••••••23' } }], s3);
    expect(s4).toMatchObject({ phase: 'on', notice: 'changed', phoneHint: '+44••••••••23' });
  });

  it('goes straight to the number, or to the last question before turning off, while the last code is recent', () => {
    const fresh = run([loaded({ reverify_until: at(T, 120) })]);
    expect(isFresh(fresh, T)).toBe(true);
    expect(isFresh(fresh, T + 121_000)).toBe(false);
    expect(run([{ type: 'START', intent: 'change', serverNow: T }], fresh).phase).toBe('number');
    expect(run([{ type: 'START', intent: 'remove', serverNow: T }], fresh).phase).toBe('removing');
    // Past the window by the server's clock: confirm first.
    expect(run([{ type: 'START', intent: 'remove', serverNow: T + 121_000 }], fresh).phase).toBe('confirm');
  });

  it('turns off, and goes back to confirming when the server says the code is no longer recent', () => {
    const removing = run([loaded({ reverify_until: at(T, 60) }), { type: 'START', intent: 'remove', serverNow: T }]);
    const refused = run(
      [{ type: 'DISABLE_REQUESTED' }, { type: 'DISABLE_FAILED', error: classifyError(403, { code: 'reverify_required' }), receivedAt: T }],
      removing,
    );
    expect(refused).toMatchObject({ phase: 'confirm', busy: null });
    expect(refused.error?.kind).toBe('reverify_required');
    const done = run([{ type: 'DISABLE_REQUESTED' }, { type: 'DISABLE_SUCCEEDED', body: { otp_enabled: false } }], removing);
    expect(done).toMatchObject({ phase: 'off', enabled: false, phoneHint: null, notice: 'disabled' });
  });

  it('a refused new number (phone_mismatch) sends a user with codes on back to confirming', () => {
    const number = run([loaded({ reverify_until: at(T, 60) }), { type: 'START', intent: 'change', serverNow: T }]);
    const s = run([{ type: 'SEND_REQUESTED' }, { type: 'SEND_FAILED', error: classifyError(400, { code: 'phone_mismatch' }), receivedAt: T }], number);
    expect(s.phase).toBe('confirm');
    // For a user with codes off an invalid number just stays on the field.
    const offNumber = run([off, { type: 'START', intent: 'enable', serverNow: T }]);
    const bad = run([{ type: 'SEND_FAILED', error: classifyError(400, { code: 'invalid_phone' }), receivedAt: T }], offNumber);
    expect(bad.phase).toBe('number');
    expect(bad.error?.kind).toBe('invalid_phone');
  });

  it('keeps the code field after a wrong code, and leaves it for the number field once the code has ended', () => {
    const code = run([off, { type: 'START', intent: 'enable', serverNow: T }, enrolSent]);
    const wrong = run(
      [{ type: 'VERIFY_FAILED', error: classifyError(400, { verified: false, reason: 'invalid_code', attempts_remaining: 3 }), receivedAt: T }],
      code,
    );
    expect(wrong.phase).toBe('code');
    expect(wrong.code?.attemptsRemaining).toBe(3);
    const superseded = run(
      [{ type: 'VERIFY_FAILED', error: classifyError(409, { verified: false, reason: 'superseded' }), receivedAt: T }],
      code,
    );
    expect(superseded).toMatchObject({ phase: 'number', code: null });
    expect(run([{ type: 'CODE_EXPIRED' }], code)).toMatchObject({ phase: 'number', code: null, error: { kind: 'expired' } });
    const confirm = run([loaded(), { type: 'START', intent: 'remove', serverNow: T }, confirmSent, { type: 'CODE_EXPIRED' }]);
    expect(confirm.phase).toBe('confirm');
  });

  it('waits out a rate limit by the server clock', () => {
    const number = run([off, { type: 'START', intent: 'enable', serverNow: T }]);
    const limited = run(
      [{ type: 'SEND_FAILED', error: classifyError(429, { error: 'rate_limited', limit: 'cooldown', retry_after_seconds: 20 }), receivedAt: T }],
      number,
    );
    expect(limited.nextSendAt).toBe(T + 20_000);
    expect(limited.phase).toBe('number');
  });

  it('resumes a pending enrolment after a reload, and leaves the screen alone for a background reading', () => {
    const body = {
      otp_required: false,
      phone_hint: null,
      enrolment: {
        session_id: 'e1',
        status: 'sent' as const,
        phone_hint: '+44••••••••23',
        expires_at: at(T, 200),
        resend_available_at: at(T, 20),
        attempts_remaining: 4,
      },
      next_send_at: at(T, 20),
    };
    const s = run([loaded(body)]);
    expect(s).toMatchObject({ phase: 'code', intent: 'enable' });
    expect(s.code).toMatchObject({ sessionId: 'e1', purpose: 'enrol', attemptsRemaining: 4, expiresAt: T + 200_000 });
    expect(s.nextSendAt).toBe(T + 20_000);
    const bg = run([{ ...(loaded({ reverify_until: at(T, 300) }) as Extract<SettingsEvent, { type: 'STATUS_LOADED' }>), background: true }], s);
    expect(bg.phase).toBe('code');
    expect(bg.reverifyUntil).toBe(T + 300_000);
  });

  it('reads the server clock from every answer, as the overlay does', () => {
    // The client's clock is 10 minutes behind.
    const s = run([loaded({ otp_required: false }, T - 600_000)]);
    expect(s.clockOffsetMs).toBe(600_000);
  });
});

describe('composePhone', () => {
  it.each([
    ['44', '07700 900123', '+447700900123'],
    ['44', '7700 900123', '+447700900123'],
    ['1', '(415) 555-0101', '+14155550101'],
    ['1', '1 415 555 0101', '+14155550101'],
    ['49', '0151 2345 6789', '+4915123456789'],
    ['39', '06 1234 5678', '+390612345678'],
    ['1', '+44 7700 900123', '+447700900123'],
    ['1', '0044 7700 900123', '+447700900123'],
  ])('dial %s, typed %s: %s', (dial, typed, want) => {
    expect(composePhone(dial, typed)).toBe(want);
  });

  it.each([['1', ''], ['1', 'call me'], ['44', '123'], ['1', '9'.repeat(40)]])('dial %s, typed %j: nothing to send', (dial, typed) => {
    expect(composePhone(dial, typed)).toBeNull();
  });
});
