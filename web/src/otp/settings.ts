// The "SMS codes" settings panel's state machine: a pure reducer, like the overlay's
// (machine.ts), with the same clock (clock.ts). OtpSettings feeds it API results.
//
//   loading --otp_status--> off | on | code (an enrolment is pending for this login)
//   off --"Turn on"--> number --send(phone)--> code --right code--> on (codes on, notice)
//   on --"Change"--> number (a fresh code to the current number)   | confirm (none)
//   on --"Turn off"--> removing (fresh)                              | confirm (none)
//   confirm --send()--> code (purpose confirm) --right code--> number | removing
//   removing --otp_disable--> off (notice)
//   code --expired, locked, superseded...--> number | confirm (what the code was for)
//
// Times are the server's epoch milliseconds; clockOffsetMs turns Date.now() into server time.
import type { DisableBody, SendBody, StatusBody, VerifyBody } from './api.js';
import { type ClockWindow, narrowWindow, offsetWindow, parseTime, windowOffset } from './clock.js';
import type { OtpError } from './errors.js';

export type SettingsPhase =
  | 'loading' // asking otp_status
  | 'unavailable' // otp_status got no usable answer
  | 'off' // codes are off: offer "Turn on"
  | 'on' // codes are on: offer "Change number" and "Turn off"
  | 'number' // the number field (to turn codes on, or to move them to another number)
  | 'confirm' // a code to the current number is needed first (change or remove)
  | 'code' // a code is pending: the code field
  | 'removing'; // the last question before otp_disable

/** What the user set out to do. */
export type SettingsIntent = 'enable' | 'change' | 'remove';

export interface SettingsCode {
  sessionId: string;
  /** enrol: a code to the new number; confirm: a code to the current number, to change or remove it. */
  purpose: 'enrol' | 'confirm';
  phoneHint: string | null;
  expiresAt: number;
  resendAvailableAt: number;
  attemptsRemaining: number;
}

/** What the panel tells the user after a change that worked. */
export type SettingsNotice = 'enabled' | 'changed' | 'disabled';

export interface SettingsState {
  phase: SettingsPhase;
  /** Codes are on for the account. */
  enabled: boolean;
  /** The account's number, masked. */
  phoneHint: string | null;
  /** Until when this login may change or remove the number without a new code. */
  reverifyUntil: number | null;
  intent: SettingsIntent | null;
  code: SettingsCode | null;
  /** The number of the last enrolment asked for (E.164), for "Resend". */
  phone: string | null;
  nextSendAt: number | null;
  clockOffsetMs: number;
  clockWindow: ClockWindow | null;
  busy: 'send' | 'verify' | 'disable' | null;
  error: OtpError | null;
  notice: SettingsNotice | null;
}

export const initialSettingsState: SettingsState = {
  phase: 'loading',
  enabled: false,
  phoneHint: null,
  reverifyUntil: null,
  intent: null,
  code: null,
  phone: null,
  nextSendAt: null,
  clockOffsetMs: 0,
  clockWindow: null,
  busy: null,
  error: null,
  notice: null,
};

export type SettingsEvent =
  | { type: 'STATUS_REQUESTED' }
  /** background: only the account's facts change (after a code was confirmed), not the screen. */
  | { type: 'STATUS_LOADED'; body: StatusBody; requestedAt: number; receivedAt: number; background?: boolean }
  | { type: 'STATUS_FAILED'; error: OtpError }
  /** serverNow: Date.now() on the server's clock, to tell whether the last code is fresh. */
  | { type: 'START'; intent: SettingsIntent; serverNow: number }
  | { type: 'CANCEL' }
  | { type: 'SEND_REQUESTED' }
  | { type: 'SEND_SUCCEEDED'; body: SendBody; phone: string | null; requestedAt: number; receivedAt: number }
  | { type: 'SEND_FAILED'; error: OtpError; receivedAt: number }
  | { type: 'VERIFY_REQUESTED' }
  | { type: 'VERIFY_SUCCEEDED'; body: VerifyBody }
  | { type: 'VERIFY_FAILED'; error: OtpError; receivedAt: number }
  | { type: 'DISABLE_REQUESTED' }
  | { type: 'DISABLE_SUCCEEDED'; body: DisableBody }
  | { type: 'DISABLE_FAILED'; error: OtpError; receivedAt: number }
  /** The pending code's expires_at has passed on the server's clock. */
  | { type: 'CODE_EXPIRED' }
  | { type: 'ERROR_DISMISSED' };

/** Errors after which the pending code can no longer be used. */
const CODE_ENDING = new Set<OtpError['kind']>([
  'expired',
  'locked',
  'already_used',
  'superseded',
  'delivery_failed',
  'session_not_found',
  'locked_out',
]);

function withClock(state: SettingsState, serverTime: string | undefined, requestedAt: number, receivedAt: number): SettingsState {
  const reading = serverTime === undefined ? null : offsetWindow(serverTime, requestedAt, receivedAt);
  if (!reading) return state;
  const clockWindow = narrowWindow(state.clockWindow, reading);
  return { ...state, clockOffsetMs: windowOffset(clockWindow), clockWindow };
}

function waitUntil(state: SettingsState, error: OtpError, receivedAt: number): number | null {
  if (error.retryAfterSeconds === undefined) return state.nextSendAt;
  return receivedAt + state.clockOffsetMs + error.retryAfterSeconds * 1000;
}

/** The screen at rest for the account as it is. */
function resting(state: SettingsState): SettingsPhase {
  return state.enabled ? 'on' : 'off';
}

/** Where a code that ended leaves the user: back to what it was for. */
function beforeCode(state: SettingsState): SettingsPhase {
  if (!state.code) return resting(state);
  return state.code.purpose === 'enrol' ? 'number' : 'confirm';
}

/** Is the last code to the current number recent enough to change or remove it? */
export function isFresh(state: SettingsState, serverNow: number): boolean {
  return state.reverifyUntil !== null && state.reverifyUntil > serverNow;
}

export function settingsReducer(state: SettingsState, event: SettingsEvent): SettingsState {
  switch (event.type) {
    case 'STATUS_REQUESTED':
      return { ...state, phase: 'loading', error: null };

    case 'STATUS_LOADED': {
      const { body } = event;
      const timed = withClock(state, body.server_time, event.requestedAt, event.receivedAt);
      const facts = {
        ...timed,
        enabled: body.otp_required,
        phoneHint: body.phone_hint ?? null,
        reverifyUntil: parseTime(body.reverify_until),
      };
      if (event.background) return facts;
      const e = body.enrolment;
      const expiresAt = e ? parseTime(e.expires_at) : null;
      if (e && expiresAt !== null) {
        const resendAvailableAt = parseTime(e.resend_available_at) ?? expiresAt;
        return {
          ...facts,
          phase: 'code',
          intent: body.otp_required ? 'change' : 'enable',
          code: {
            sessionId: e.session_id,
            purpose: 'enrol',
            phoneHint: e.phone_hint ?? null,
            expiresAt,
            resendAvailableAt,
            attemptsRemaining: e.attempts_remaining,
          },
          nextSendAt: Math.max(parseTime(body.next_send_at) ?? 0, resendAvailableAt),
          error: null,
        };
      }
      return {
        ...facts,
        phase: body.otp_required ? 'on' : 'off',
        intent: null,
        code: null,
        nextSendAt: parseTime(body.next_send_at),
        error: null,
      };
    }

    case 'STATUS_FAILED':
      return { ...state, phase: 'unavailable', error: event.error };

    case 'START': {
      const base = { ...state, intent: event.intent, error: null, notice: null, code: null };
      if (event.intent === 'enable') return { ...base, phase: 'number' };
      if (!isFresh(state, event.serverNow)) return { ...base, phase: 'confirm' };
      return { ...base, phase: event.intent === 'change' ? 'number' : 'removing' };
    }

    case 'CANCEL':
      return { ...state, phase: resting(state), intent: null, code: null, error: null, busy: null };

    case 'SEND_REQUESTED':
      return { ...state, busy: 'send', error: null, notice: null };

    case 'SEND_SUCCEEDED': {
      const expiresAt = parseTime(event.body.expires_at);
      const resendAvailableAt = parseTime(event.body.resend_available_at);
      if (expiresAt === null) return { ...state, busy: null, error: { kind: 'unknown', status: 200 } };
      const purpose = event.body.purpose === 'enrol' ? 'enrol' : 'confirm';
      return {
        ...withClock(state, event.body.server_time, event.requestedAt, event.receivedAt),
        phase: 'code',
        busy: null,
        error: null,
        phone: purpose === 'enrol' ? event.phone : state.phone,
        code: {
          sessionId: event.body.session_id,
          purpose,
          phoneHint: event.body.phone_hint ?? state.phoneHint,
          expiresAt,
          resendAvailableAt: resendAvailableAt ?? expiresAt,
          attemptsRemaining: event.body.attempts_remaining,
        },
        nextSendAt: resendAvailableAt,
      };
    }

    case 'SEND_FAILED': {
      const { error } = event;
      // The code to the current number is too old by now (or never was): confirm first.
      const phase = error.kind === 'phone_mismatch' && state.enabled ? 'confirm' : state.phase;
      return { ...state, phase, busy: null, error, nextSendAt: waitUntil(state, error, event.receivedAt) };
    }

    case 'VERIFY_REQUESTED':
      return { ...state, busy: 'verify', error: null };

    case 'VERIFY_SUCCEEDED': {
      const purpose = state.code?.purpose;
      if (purpose === 'enrol' || event.body.enrolled) {
        return {
          ...state,
          phase: 'on',
          enabled: true,
          phoneHint: event.body.phone_hint ?? state.code?.phoneHint ?? state.phoneHint,
          notice: state.intent === 'change' ? 'changed' : 'enabled',
          intent: null,
          code: null,
          busy: null,
          error: null,
        };
      }
      // The current number is confirmed: on to what the user set out to do.
      return {
        ...state,
        phase: state.intent === 'remove' ? 'removing' : state.intent === 'change' ? 'number' : resting(state),
        code: null,
        busy: null,
        error: null,
      };
    }

    case 'VERIFY_FAILED': {
      const { error } = event;
      let { code } = state;
      let phase = state.phase;
      if (CODE_ENDING.has(error.kind)) {
        phase = beforeCode(state);
        code = null;
      } else if (code && error.kind === 'invalid_code' && error.attemptsRemaining !== undefined) {
        code = { ...code, attemptsRemaining: error.attemptsRemaining };
      }
      return { ...state, phase, code, busy: null, error, nextSendAt: waitUntil(state, error, event.receivedAt) };
    }

    case 'DISABLE_REQUESTED':
      return { ...state, busy: 'disable', error: null };

    case 'DISABLE_SUCCEEDED':
      return {
        ...state,
        phase: 'off',
        enabled: false,
        phoneHint: null,
        reverifyUntil: null,
        intent: null,
        code: null,
        busy: null,
        error: null,
        notice: 'disabled',
      };

    case 'DISABLE_FAILED': {
      const { error } = event;
      if (error.kind === 'reverify_required') return { ...state, phase: 'confirm', busy: null, error };
      if (error.kind === 'otp_not_enabled') return { ...state, phase: 'off', enabled: false, busy: null, error: null };
      return { ...state, busy: null, error };
    }

    case 'CODE_EXPIRED':
      if (!state.code || state.phase !== 'code') return state;
      return { ...state, phase: beforeCode(state), code: null, error: { kind: 'expired', status: 0 } };

    case 'ERROR_DISMISSED':
      return { ...state, error: null };
  }
}

export interface Country {
  /** ISO 3166-1 alpha-2. */
  code: string;
  name: string;
  /** Country calling code, digits only. */
  dial: string;
}

/** The picker's default list: a short one; an application passes its own for its markets. */
export const DEFAULT_COUNTRIES: readonly Country[] = [
  { code: 'US', name: 'United States', dial: '1' },
  { code: 'CA', name: 'Canada', dial: '1' },
  { code: 'GB', name: 'United Kingdom', dial: '44' },
  { code: 'IE', name: 'Ireland', dial: '353' },
  { code: 'DE', name: 'Germany', dial: '49' },
  { code: 'FR', name: 'France', dial: '33' },
  { code: 'ES', name: 'Spain', dial: '34' },
  { code: 'IT', name: 'Italy', dial: '39' },
  { code: 'NL', name: 'Netherlands', dial: '31' },
  { code: 'SE', name: 'Sweden', dial: '46' },
  { code: 'PL', name: 'Poland', dial: '48' },
  { code: 'IN', name: 'India', dial: '91' },
  { code: 'ID', name: 'Indonesia', dial: '62' },
  { code: 'JP', name: 'Japan', dial: '81' },
  { code: 'AU', name: 'Australia', dial: '61' },
  { code: 'BR', name: 'Brazil', dial: '55' },
  { code: 'MX', name: 'Mexico', dial: '52' },
  { code: 'NG', name: 'Nigeria', dial: '234' },
  { code: 'ZA', name: 'South Africa', dial: '27' },
];

/**
 * The number as E.164-ish text for otp_send: a number typed with its own "+" (or "00") is taken
 * as it is; otherwise the country's calling code goes in front and a national trunk "0" is
 * dropped ("07700 900123" in GB: "+447700900123"). Only digits go through; the server checks
 * and normalises the result. Null when there are no digits, or too many to be a number.
 */
export function composePhone(dial: string, typed: string): string | null {
  const trimmed = typed.trim();
  const international = trimmed.startsWith('+') || trimmed.startsWith('00');
  let digits = trimmed.replace(/\D/g, '');
  if (trimmed.startsWith('00')) digits = digits.slice(2);
  if (!international) {
    // Italy keeps its leading 0; everywhere else in the list a leading 0 is the trunk prefix.
    if (dial !== '39') digits = digits.replace(/^0+/, '');
    // A national number typed with its own calling code ("1 415 ..." for the US) keeps one.
    if (!(dial === '1' && digits.length === 11 && digits.startsWith('1'))) digits = dial + digits;
  }
  if (digits.length < 6 || digits.length > 15) return null;
  return `+${digits}`;
}
