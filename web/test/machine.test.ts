import { describe, expect, it } from 'vitest';
import { classifyError } from '../src/otp/errors';
import type { StatusSessionBody } from '../src/otp/api';
import {
  awaitsReceipt,
  initialOtpState,
  isDeliveryFinal,
  isOtpSatisfied,
  isUndeliverable,
  otpReducer,
  parseDelivery,
  type OtpEvent,
  type OtpState,
} from '../src/otp/machine';
import { at, sendBody, statusBody } from './fakeApi';

const T = Date.parse('2030-01-01T12:00:00Z');

function run(events: OtpEvent[], from: OtpState = initialOtpState): OtpState {
  return events.reduce(otpReducer, from);
}

function loaded(body = statusBody(T), clientNow = T, background = false): OtpEvent {
  return { type: 'STATUS_LOADED', body, requestedAt: clientNow, receivedAt: clientNow, background };
}

const codeSent = run([{ type: 'STATUS_REQUESTED' }, loaded(), { type: 'SEND_REQUESTED' }, { type: 'SEND_SUCCEEDED', body: sendBody(T), requestedAt: T, receivedAt: T }]);

describe('otpReducer', () => {
  it('starts signed out and checks when asked', () => {
    expect(initialOtpState.phase).toBe('signed_out');
    expect(run([{ type: 'STATUS_REQUESTED' }]).phase).toBe('checking');
  });

  it('lets an account without SMS codes straight through', () => {
    const s = run([{ type: 'STATUS_REQUESTED' }, loaded({ ...statusBody(T), otp_required: false, verified: true })]);
    expect(s.phase).toBe('not_required');
    expect(isOtpSatisfied(s)).toBe(true);
  });

  it('knows a sign-in that already passed the step', () => {
    const s = run([{ type: 'STATUS_REQUESTED' }, loaded({ ...statusBody(T), verified: true })]);
    expect(s.phase).toBe('verified');
    expect(isOtpSatisfied(s)).toBe(true);
  });

  it('offers a send when no code is pending, keeping the server-side wait', () => {
    const s = run([{ type: 'STATUS_REQUESTED' }, loaded(statusBody(T, { next_send_at: at(T, 12) }))]);
    expect(s).toMatchObject({ phase: 'idle', session: null, phoneHint: '+14•••••••01', otpRequired: true });
    expect(s.nextSendAt).toBe(T + 12_000);
    expect(isOtpSatisfied(s)).toBe(false);
  });

  it('resumes a pending code from otp_status', () => {
    const body = statusBody(T, {
      session: {
        session_id: 's1',
        status: 'sent',
        expires_at: at(T, 200),
        resend_available_at: at(T, 20),
        attempts_remaining: 3,
      },
      next_send_at: at(T, 20),
    });
    const s = run([{ type: 'STATUS_REQUESTED' }, loaded(body)]);
    expect(s.phase).toBe('code_sent');
    expect(s.session).toEqual({
      sessionId: 's1',
      status: 'sent',
      expiresAt: T + 200_000,
      resendAvailableAt: T + 20_000,
      attemptsRemaining: 3,
      delivery: null, // this body comes from a server without receipts
    });
    expect(s.nextSendAt).toBe(T + 20_000);
  });

  it('learns the clock offset from server_time', () => {
    const skewed = T + 3600_000; // the client runs an hour fast
    const s = run([{ type: 'STATUS_REQUESTED' }, loaded(statusBody(T), skewed)]);
    expect(s.clockOffsetMs).toBe(-3600_000);
  });

  it('narrows the clock offset with every reading', () => {
    // The client's clock is right; a slow first call (preflight) leaves 810 ms of doubt.
    const slow: OtpEvent = { type: 'STATUS_LOADED', body: statusBody(T), requestedAt: T - 800, receivedAt: T + 10 };
    const s1 = run([{ type: 'STATUS_REQUESTED' }, slow]);
    expect(s1.clockOffsetMs).toBe(395);
    expect(s1.clockWindow).toEqual({ low: -10, high: 800 });
    const fast: OtpEvent = { type: 'CLOCK_SAMPLE', serverTime: at(T, 1), requestedAt: T + 998, receivedAt: T + 1002 };
    const s2 = run([fast], s1);
    expect(s2.clockOffsetMs).toBe(0);
    expect(s2.clockWindow).toEqual({ low: -2, high: 2 });
    // A slow reading later cannot widen what is known.
    const s3 = run([{ ...slow, body: statusBody(T + 5000), requestedAt: T + 4200, receivedAt: T + 5010 }], s2);
    expect(s3.clockWindow).toEqual({ low: -2, high: 2 });
    // A reading that leaves the window means a clock was set: it starts over.
    const s4 = run([{ type: 'CLOCK_SAMPLE', serverTime: at(T, 9), requestedAt: T + 5950, receivedAt: T + 6010 }], s3);
    expect(s4.clockWindow).toEqual({ low: 2990, high: 3050 });
    expect(s4.clockOffsetMs).toBe(3020);
  });

  it('never shows a fresh cooldown as longer than it is', () => {
    // The status call's server read its clock at once and the answer came back slowly, so the
    // middle of that round trip puts the server 300 ms behind where it is.
    const status: OtpEvent = { type: 'STATUS_LOADED', body: statusBody(T), requestedAt: T, receivedAt: T + 600 };
    const s1 = run([{ type: 'STATUS_REQUESTED' }, status]);
    expect(s1.clockOffsetMs).toBe(-300);
    // The send's server set resend_available_at = server_time + 5 s, 20 ms before its answer.
    const sent = T + 10_000;
    const s2 = run(
      [{ type: 'SEND_REQUESTED' }, { type: 'SEND_SUCCEEDED', body: sendBody(sent, { cooldown: 5 }), requestedAt: sent - 60, receivedAt: sent + 20 }],
      s1,
    );
    const serverNow = sent + 20 + s2.clockOffsetMs;
    expect(s2.nextSendAt! - serverNow).toBeLessThanOrEqual(5000);
    expect(s2.clockWindow).toEqual({ low: -20, high: 0 });
  });

  it('moves to code_sent after a send', () => {
    expect(codeSent.phase).toBe('code_sent');
    expect(codeSent.session).toMatchObject({ status: 'pending', attemptsRemaining: 5, expiresAt: T + 300_000, delivery: null });
    expect(codeSent.nextSendAt).toBe(T + 30_000);
  });

  it('waits retry_after_seconds after a rate-limited send', () => {
    const error = classifyError(429, { error: 'rate_limited', limit: 'cooldown', retry_after_seconds: 20 });
    const idle = run([{ type: 'STATUS_REQUESTED' }, loaded()]);
    const s = run([{ type: 'SEND_REQUESTED' }, { type: 'SEND_FAILED', error, receivedAt: T + 1000 }], idle);
    expect(s).toMatchObject({ phase: 'idle', error, failedAction: 'send' });
    expect(s.nextSendAt).toBe(T + 21_000);
  });

  it('keeps the pending code when a resend is refused', () => {
    const error = classifyError(429, { error: 'rate_limited', retry_after_seconds: 5 });
    const s = run([{ type: 'SEND_REQUESTED' }, { type: 'SEND_FAILED', error, receivedAt: T }], codeSent);
    expect(s.phase).toBe('code_sent');
    expect(s.session?.sessionId).toBe(codeSent.session?.sessionId);
    expect(s.nextSendAt).toBe(T + 30_000); // the later of the two waits
  });

  it('counts down attempts on a wrong code and stays on the code', () => {
    const error = classifyError(400, { verified: false, reason: 'invalid_code', attempts_remaining: 4 });
    const s = run([{ type: 'VERIFY_REQUESTED' }, { type: 'VERIFY_FAILED', error, receivedAt: T }], codeSent);
    expect(s.phase).toBe('code_sent');
    expect(s.session?.attemptsRemaining).toBe(4);
    expect(s.error?.kind).toBe('invalid_code');
  });

  it.each(['expired', 'locked', 'already_used', 'superseded', 'failed'])('drops the code after %s', (reason) => {
    const error = classifyError(409, { verified: false, reason, attempts_remaining: 0 });
    const s = run([{ type: 'VERIFY_REQUESTED' }, { type: 'VERIFY_FAILED', error, receivedAt: T }], codeSent);
    expect(s.phase).toBe('idle');
    expect(s.session).toBeNull();
    expect(s.error).toBe(error);
  });

  it('locks sends for the lockout period', () => {
    const error = classifyError(429, { error: 'locked_out', retry_after_seconds: 900 });
    const s = run([{ type: 'VERIFY_REQUESTED' }, { type: 'VERIFY_FAILED', error, receivedAt: T }], codeSent);
    expect(s).toMatchObject({ phase: 'idle', session: null });
    expect(s.nextSendAt).toBe(T + 900_000);
  });

  it('keeps the code after a network failure, to retry', () => {
    const error = classifyError(0, {});
    const s = run([{ type: 'VERIFY_REQUESTED' }, { type: 'VERIFY_FAILED', error, receivedAt: T }], codeSent);
    expect(s).toMatchObject({ phase: 'code_sent', failedAction: 'verify' });
    expect(s.session).not.toBeNull();
  });

  it('verifies', () => {
    const s = run([{ type: 'VERIFY_REQUESTED' }, { type: 'VERIFY_SUCCEEDED' }], codeSent);
    expect(s.phase).toBe('verified');
    expect(isOtpSatisfied(s)).toBe(true);
  });

  it('ends the code when its time runs out', () => {
    const s = run([{ type: 'SESSION_EXPIRED' }], codeSent);
    expect(s).toMatchObject({ phase: 'idle', session: null, error: { kind: 'expired' } });
    // Nothing to expire elsewhere.
    const idle = run([{ type: 'STATUS_REQUESTED' }, loaded()]);
    expect(run([{ type: 'SESSION_EXPIRED' }], idle)).toBe(idle);
  });

  it('reports a status failure as unavailable, to retry', () => {
    const s = run([{ type: 'STATUS_REQUESTED' }, { type: 'STATUS_FAILED', error: classifyError(0, {}) }]);
    expect(s).toMatchObject({ phase: 'unavailable', failedAction: 'status' });
  });

  it('notices a queued code that no provider could deliver', () => {
    const s = run([loaded(statusBody(T, { session: null }), T + 2000, true)], codeSent);
    expect(s.phase).toBe('idle');
    expect(s.error?.kind).toBe('delivery_failed');
  });

  it('marks a queued code as sent when a poll says so', () => {
    const body = statusBody(T, {
      session: { session_id: codeSent.session!.sessionId, status: 'sent', expires_at: at(T, 300), resend_available_at: at(T, 30), attempts_remaining: 5 },
    });
    const s = run([loaded(body, T + 1000, true)], codeSent);
    expect(s.session?.status).toBe('sent');
    expect(s.phase).toBe('code_sent');
  });

  it('ignores a delivery poll that lands while another call runs', () => {
    const verifying = run([{ type: 'VERIFY_REQUESTED' }], codeSent);
    expect(run([loaded(statusBody(T), T, true)], verifying)).toBe(verifying);
    expect(run([{ type: 'STATUS_FAILED', error: classifyError(0, {}), background: true }], verifying)).toBe(verifying);
  });

  it('forgets everything on sign-out', () => {
    expect(run([{ type: 'SIGNED_OUT' }], codeSent)).toBe(initialOtpState);
  });

  it('dismisses an error', () => {
    const error = classifyError(0, {});
    const s = run([{ type: 'SEND_REQUESTED' }, { type: 'SEND_FAILED', error, receivedAt: T }, { type: 'ERROR_DISMISSED' }], codeSent);
    expect(s.error).toBeNull();
  });
});

describe('delivery receipts', () => {
  const id = codeSent.session!.sessionId;
  function withDelivery(delivery: unknown, status: 'pending' | 'sent' = 'sent'): StatusSessionBody {
    return {
      session_id: id,
      status,
      expires_at: at(T, 300),
      resend_available_at: at(T, 30),
      attempts_remaining: 5,
      delivery: delivery as StatusSessionBody['delivery'],
    };
  }
  function poll(delivery: unknown, clientNow = T + 5000, status: 'pending' | 'sent' = 'sent'): OtpEvent {
    return loaded(statusBody(T + 5000, { session: withDelivery(delivery, status), next_send_at: at(T, 30) }), clientNow, true);
  }

  it.each(['queued', 'accepted', 'sent', 'delivered', 'undelivered', 'failed'] as const)('maps delivery %s into the session', (delivery) => {
    const s = run([poll(delivery)], codeSent);
    expect(s.phase).toBe('code_sent');
    expect(s.session?.delivery).toBe(delivery);
  });

  it.each([undefined, null, 'bounced', 42])('reads delivery %j (an older server, an unknown word) as not reported', (delivery) => {
    expect(run([poll(delivery)], codeSent).session?.delivery).toBeNull();
    expect(parseDelivery(delivery)).toBeNull();
  });

  it('keeps the code, its wait and no error when the receipts say it did not arrive', () => {
    const accepted = run([poll('accepted', T + 2000)], codeSent);
    const s = run([poll('undelivered', T + 7000)], accepted);
    expect(s).toMatchObject({ phase: 'code_sent', error: null, failedAction: null });
    expect(s.session).toMatchObject({ sessionId: id, delivery: 'undelivered', attemptsRemaining: 5 });
    expect(s.nextSendAt).toBe(T + 30_000); // the resend cooldown still applies
    expect(isUndeliverable(s.session!.delivery)).toBe(true);
  });

  it('learns an undelivered code on a reload too', () => {
    const body = statusBody(T, { session: withDelivery('failed'), next_send_at: at(T, 30) });
    const s = run([{ type: 'STATUS_REQUESTED' }, loaded(body)]);
    expect(s.phase).toBe('code_sent');
    expect(s.session?.delivery).toBe('failed');
  });

  it('starts a new code with its delivery unknown', () => {
    const failed = run([poll('failed')], codeSent);
    const next = { ...sendBody(T + 40_000), session_id: 'bbbbbbbb-0000-4000-8000-000000000002' };
    const s = run([{ type: 'SEND_REQUESTED' }, { type: 'SEND_SUCCEEDED', body: next, requestedAt: T + 40_000, receivedAt: T + 40_000 }], failed);
    expect(s.session).toMatchObject({ sessionId: next.session_id, status: 'pending', delivery: null });
  });

  it('ignores a receipt poll that lands while a new code is being sent', () => {
    const sending = run([{ type: 'SEND_REQUESTED' }], codeSent);
    expect(run([poll('undelivered')], sending)).toBe(sending);
  });

  it('tells final states from open ones', () => {
    expect(['delivered', 'undelivered', 'failed'].every((d) => isDeliveryFinal(parseDelivery(d)))).toBe(true);
    expect(['queued', 'accepted', 'sent'].some((d) => isDeliveryFinal(parseDelivery(d)))).toBe(false);
    expect(isDeliveryFinal(null)).toBe(false);
    expect(isUndeliverable('delivered')).toBe(false);
    expect(isUndeliverable('undelivered') && isUndeliverable('failed')).toBe(true);
    // Receipts are waited for only from a server that reports them, until one is final.
    expect(awaitsReceipt(run([poll('accepted')], codeSent).session)).toBe(true);
    expect(awaitsReceipt(run([poll('queued', T + 1000, 'pending')], codeSent).session)).toBe(true);
    expect(awaitsReceipt(run([poll('delivered')], codeSent).session)).toBe(false);
    expect(awaitsReceipt(run([poll(undefined)], codeSent).session)).toBe(false);
    expect(awaitsReceipt(null)).toBe(false);
  });
});
