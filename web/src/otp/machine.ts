// The overlay's state machine: a pure reducer, so every transition is testable without a
// browser or a server. OtpProvider feeds it API results; OtpOverlay renders it.
//
//   signed_out --token--> checking --otp_status--> not_required | verified | idle | code_sent
//                          ^    \--no answer--> unavailable --retry--> checking
//   idle --send--> sending --ok--> code_sent --verify--> verifying --ok--> verified
//                         \--error--> idle (rate limited: wait)   \--wrong code--> code_sent
//                                                                  \--expired, locked, ...--> idle
//   code_sent --the code's time runs out--> idle (error: expired)
//   code_sent --a poll reports delivery undelivered or failed--> code_sent (session.delivery;
//              the overlay says so and offers a new code)
//
// All times in the state are the server's epoch milliseconds; clockOffsetMs turns the
// client's Date.now() into server time.
import type { DeliveryStatus, SendBody, StatusBody } from './api.js';
import { type ClockWindow, narrowWindow, offsetWindow, parseTime, windowOffset } from './clock.js';
import type { OtpError } from './errors.js';

export type OtpPhase =
  | 'signed_out' // no token: nothing to check
  | 'checking' // asking otp_status
  | 'unavailable' // otp_status got no usable answer; retry
  | 'not_required' // this account does not use SMS codes
  | 'verified' // the SMS step is done for this sign-in
  | 'idle' // a code is needed and none is pending: offer "Send OTP"
  | 'sending'
  | 'code_sent' // a code is pending: offer the code field, "Verify", "Resend"
  | 'verifying';

export interface OtpSession {
  sessionId: string;
  /** pending: queued for the provider; sent: a provider accepted it. */
  status: 'pending' | 'sent';
  expiresAt: number;
  resendAvailableAt: number;
  attemptsRemaining: number;
  /** The SMS's delivery as the provider's receipts report it; null when the server does not
   *  say (an older server, or just after a send, before otp_status was asked). */
  delivery: DeliveryStatus | null;
}

const DELIVERY_STATUSES: ReadonlySet<string> = new Set<DeliveryStatus>([
  'queued',
  'accepted',
  'sent',
  'delivered',
  'undelivered',
  'failed',
]);

/** otp_status's session.delivery as a DeliveryStatus; anything else (absent, null, a value
 *  this client does not know) as null. */
export function parseDelivery(value: unknown): DeliveryStatus | null {
  return typeof value === 'string' && DELIVERY_STATUSES.has(value) ? (value as DeliveryStatus) : null;
}

/** Receipts will not change this any more (as far as the overlay waits for them). */
export function isDeliveryFinal(delivery: DeliveryStatus | null): boolean {
  return delivery === 'delivered' || delivery === 'undelivered' || delivery === 'failed';
}

/** The provider says the SMS did not reach the phone: the code will not come. */
export function isUndeliverable(delivery: DeliveryStatus | null | undefined): boolean {
  return delivery === 'undelivered' || delivery === 'failed';
}

/** A code whose delivery the overlay keeps asking about: the server reports receipts for it
 *  and none has said how it ended. */
export function awaitsReceipt(session: OtpSession | null): boolean {
  return !!session && session.delivery !== null && !isDeliveryFinal(session.delivery);
}

export type OtpAction = 'status' | 'send' | 'verify';

export interface OtpState {
  phase: OtpPhase;
  session: OtpSession | null;
  /** Null until otp_status has answered. */
  otpRequired: boolean | null;
  phoneHint: string | null;
  /** When a send is allowed again (cooldown, rate limit or lockout), or null for now. */
  nextSendAt: number | null;
  /** Server clock minus client clock: the middle of clockWindow, or 0 before any reading. */
  clockOffsetMs: number;
  /** Where the offset is known to lie, from every server_time reading so far; null before any. */
  clockWindow: ClockWindow | null;
  error: OtpError | null;
  /** The call that failed last, for "Try again". */
  failedAction: OtpAction | null;
}

export const initialOtpState: OtpState = {
  phase: 'signed_out',
  session: null,
  otpRequired: null,
  phoneHint: null,
  nextSendAt: null,
  clockOffsetMs: 0,
  clockWindow: null,
  error: null,
  failedAction: null,
};

export type OtpEvent =
  | { type: 'SIGNED_OUT' }
  | { type: 'STATUS_REQUESTED' }
  /** background: a delivery poll, not something the user asked for. */
  | { type: 'STATUS_LOADED'; body: StatusBody; requestedAt: number; receivedAt: number; background?: boolean }
  | { type: 'STATUS_FAILED'; error: OtpError; background?: boolean }
  /** A server_time reading taken only to measure the clock. */
  | { type: 'CLOCK_SAMPLE'; serverTime: string; requestedAt: number; receivedAt: number }
  | { type: 'SEND_REQUESTED' }
  | { type: 'SEND_SUCCEEDED'; body: SendBody; requestedAt: number; receivedAt: number }
  | { type: 'SEND_FAILED'; error: OtpError; receivedAt: number }
  | { type: 'VERIFY_REQUESTED' }
  | { type: 'VERIFY_SUCCEEDED' }
  | { type: 'VERIFY_FAILED'; error: OtpError; receivedAt: number }
  /** The pending code's expires_at has passed on the server's clock. */
  | { type: 'SESSION_EXPIRED' }
  | { type: 'ERROR_DISMISSED' };

/** Errors after which the pending code can no longer be used. */
const SESSION_ENDING = new Set<OtpError['kind']>([
  'expired',
  'locked',
  'already_used',
  'superseded',
  'delivery_failed',
  'session_not_found',
  'locked_out',
]);

function sessionFromStatus(body: StatusBody): OtpSession | null {
  const s = body.session;
  if (!s) return null;
  const expiresAt = parseTime(s.expires_at);
  if (expiresAt === null) return null;
  return {
    sessionId: s.session_id,
    status: s.status === 'sent' ? 'sent' : 'pending',
    expiresAt,
    resendAvailableAt: parseTime(s.resend_available_at) ?? expiresAt,
    attemptsRemaining: s.attempts_remaining,
    delivery: parseDelivery(s.delivery),
  };
}

function later(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}

/** The phase to fall back to after a call: the code field if a code is pending. */
function restingPhase(session: OtpSession | null): OtpPhase {
  return session ? 'code_sent' : 'idle';
}

// A call's server_time places the server's clock within its round trip; the readings together
// narrow it further. A deadline the server just set (resend_available_at = server_time +
// cooldown) is then never shown as further away than it is, however slow the call was.
function withClock(state: OtpState, serverTime: string | undefined, requestedAt: number, receivedAt: number): OtpState {
  const reading = serverTime === undefined ? null : offsetWindow(serverTime, requestedAt, receivedAt);
  if (!reading) return state;
  const clockWindow = narrowWindow(state.clockWindow, reading);
  return { ...state, clockOffsetMs: windowOffset(clockWindow), clockWindow };
}

function statusLoaded(state: OtpState, event: Extract<OtpEvent, { type: 'STATUS_LOADED' }>): OtpState {
  const { body } = event;
  // A delivery poll only updates a screen that is waiting for the code.
  if (event.background && state.phase !== 'code_sent') return state;
  const timed = withClock(state, body.server_time, event.requestedAt, event.receivedAt);
  const clockOffsetMs = timed.clockOffsetMs;
  const common = { ...timed, otpRequired: body.otp_required, phoneHint: body.phone_hint ?? null };
  if (!body.otp_required) {
    return { ...common, phase: 'not_required', session: null, nextSendAt: null, error: null, failedAction: null };
  }
  if (body.verified) {
    return { ...common, phase: 'verified', session: null, nextSendAt: null, error: null, failedAction: null };
  }
  const session = sessionFromStatus(body);
  const nextSendAt = later(parseTime(body.next_send_at), session?.resendAvailableAt ?? null);
  let error = event.background ? state.error : null;
  // A code that was still queued is gone before its time: no provider could deliver it.
  const previous = state.session;
  if (event.background && previous && !session && previous.status === 'pending') {
    const serverNow = event.receivedAt + clockOffsetMs;
    if (previous.expiresAt > serverNow) error = { kind: 'delivery_failed', status: 0 };
  }
  return {
    ...common,
    phase: restingPhase(session),
    session,
    nextSendAt,
    error,
    failedAction: event.background ? state.failedAction : null,
  };
}

function waitUntil(state: OtpState, error: OtpError, receivedAt: number): number | null {
  if (error.retryAfterSeconds === undefined) return state.nextSendAt;
  return later(state.nextSendAt, receivedAt + state.clockOffsetMs + error.retryAfterSeconds * 1000);
}

export function otpReducer(state: OtpState, event: OtpEvent): OtpState {
  switch (event.type) {
    case 'SIGNED_OUT':
      return initialOtpState;

    case 'STATUS_REQUESTED':
      return { ...state, phase: 'checking', error: null, failedAction: null };

    case 'STATUS_LOADED':
      return statusLoaded(state, event);

    case 'CLOCK_SAMPLE':
      return withClock(state, event.serverTime, event.requestedAt, event.receivedAt);

    case 'STATUS_FAILED':
      if (event.background) return state;
      return { ...state, phase: 'unavailable', error: event.error, failedAction: 'status' };

    case 'SEND_REQUESTED':
      return { ...state, phase: 'sending', error: null, failedAction: null };

    case 'SEND_SUCCEEDED': {
      const expiresAt = parseTime(event.body.expires_at);
      const resendAvailableAt = parseTime(event.body.resend_available_at);
      if (expiresAt === null) {
        return { ...state, phase: restingPhase(state.session), error: { kind: 'unknown', status: 200 } };
      }
      return {
        ...withClock(state, event.body.server_time, event.requestedAt, event.receivedAt),
        phase: 'code_sent',
        session: {
          sessionId: event.body.session_id,
          status: 'pending',
          expiresAt,
          resendAvailableAt: resendAvailableAt ?? expiresAt,
          attemptsRemaining: event.body.attempts_remaining,
          delivery: null,
        },
        nextSendAt: resendAvailableAt,
        error: null,
        failedAction: null,
      };
    }

    case 'SEND_FAILED': {
      const { error } = event;
      const session = error.kind === 'locked_out' ? null : state.session;
      return {
        ...state,
        phase: restingPhase(session),
        session,
        nextSendAt: waitUntil(state, error, event.receivedAt),
        error,
        failedAction: 'send',
      };
    }

    case 'VERIFY_REQUESTED':
      return { ...state, phase: 'verifying', error: null, failedAction: null };

    case 'VERIFY_SUCCEEDED':
      return { ...state, phase: 'verified', session: null, nextSendAt: null, error: null, failedAction: null };

    case 'VERIFY_FAILED': {
      const { error } = event;
      let session = state.session;
      if (SESSION_ENDING.has(error.kind)) session = null;
      else if (session && error.kind === 'invalid_code' && error.attemptsRemaining !== undefined) {
        session = { ...session, attemptsRemaining: error.attemptsRemaining };
      }
      return {
        ...state,
        phase: restingPhase(session),
        session,
        nextSendAt: waitUntil(state, error, event.receivedAt),
        error,
        failedAction: 'verify',
      };
    }

    case 'SESSION_EXPIRED':
      if (!state.session || state.phase !== 'code_sent') return state;
      return { ...state, phase: 'idle', session: null, error: { kind: 'expired', status: 0 }, failedAction: null };

    case 'ERROR_DISMISSED':
      return { ...state, error: null, failedAction: null };
  }
}

/** True when the app may show everything: the step is done or not needed. */
export function isOtpSatisfied(state: OtpState): boolean {
  return state.phase === 'verified' || state.phase === 'not_required';
}
