// OtpOverlay: the dialog that stands between a signed-in user and the app until the SMS
// code is entered. It renders whatever OtpProvider's state says; every error shows a message
// and a way forward, and "Sign out" is always there. When the provider's receipts say the
// code's SMS did not arrive, it says so and offers a new code.
// Its look is otp.css (the package's style.css), which the application imports once.
import { useCallback, useEffect, useId, useLayoutEffect, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { createPortal } from 'react-dom';
import { CodeInput } from './CodeInput.js';
import { formatDuration, secondsUntil, spellDuration } from './clock.js';
import type { OtpError } from './errors.js';
import { isUndeliverable } from './machine.js';
import { describeOtpError, describeUndelivered, type Recovery } from './messages.js';
import { useOtp } from './OtpProvider.js';
import { useNow } from './useNow.js';
import { useFocusTrap, useInertOutside } from './useModal.js';
import { useWebOtp } from './webotp.js';

export interface OtpOverlayProps {
  title?: string;
  /** Shown under the controls, inside the dialog (a help link, say). */
  extra?: ReactNode;
  /** Label of the always-present way out. */
  signOutLabel?: string;
}

const RECOVERY_LABELS: Partial<Record<Recovery, string>> = {
  retry: 'Try again',
  refresh: 'Check again',
  sign_out: 'Sign in again',
};

/** Errors after which the send button asks for a new code rather than the first one. */
function isAfterSession(error: OtpError | null): boolean {
  return !!error && ['expired', 'locked', 'delivery_failed', 'session_not_found', 'already_used', 'superseded'].includes(error.kind);
}

export function OtpOverlay({ title = 'Confirm it’s you', extra, signOutLabel = 'Sign out' }: OtpOverlayProps) {
  const otp = useOtp();
  const { state, codeLength } = otp;
  const { phase, session, error, phoneHint } = state;

  const [host, setHost] = useState<HTMLElement | null>(null);
  useLayoutEffect(() => {
    const el = document.createElement('div');
    el.className = 'sms-otp-root';
    document.body.appendChild(el);
    setHost(el);
    return () => el.remove();
  }, []);
  useInertOutside(host);
  const dialog = useRef<HTMLDivElement>(null);
  useFocusTrap(dialog, host !== null);

  const ids = useId();
  const titleId = `${ids}-title`;
  const descId = `${ids}-desc`;
  const codeId = `${ids}-code`;
  const hintId = `${ids}-hint`;

  const [code, setCode] = useState('');
  const [localError, setLocalError] = useState<OtpError | null>(null);
  const codeInput = useRef<HTMLInputElement>(null);
  const sendButton = useRef<HTMLButtonElement>(null);

  const now = useNow(500);
  const serverNow = now + state.clockOffsetMs;
  const waitSeconds = secondsUntil(state.nextSendAt, serverNow);
  const expiresIn = session ? secondsUntil(session.expiresAt, serverNow) : 0;
  const busy = phase === 'sending' || phase === 'verifying' || phase === 'checking';
  const canSend = waitSeconds === 0 && !busy;

  // A new code request, or a wrong code: start the field afresh.
  useEffect(() => {
    setCode('');
    setLocalError(null);
  }, [session?.sessionId]);
  useEffect(() => {
    if (error && (error.kind === 'invalid_code' || error.kind === 'invalid_code_format')) setCode('');
  }, [error]);

  // Focus follows the task: the code field while a code is pending, else the send button.
  useEffect(() => {
    if (!host) return;
    if (phase === 'code_sent') codeInput.current?.focus();
    else if (phase === 'idle') (sendButton.current && !sendButton.current.disabled ? sendButton.current : dialog.current)?.focus();
  }, [host, phase, error, session?.sessionId]);

  const submit = useCallback(
    (value: string) => {
      if (value.length !== codeLength) {
        setLocalError({ kind: 'invalid_code_format', status: 0 });
        codeInput.current?.focus();
        return;
      }
      setLocalError(null);
      void otp.verify(value);
    },
    [codeLength, otp],
  );

  useWebOtp(phase === 'code_sent', session?.sessionId ?? null, (received) => {
    const digits = received.replace(/\D/g, '').slice(0, codeLength);
    setCode(digits);
    if (digits.length === codeLength) submit(digits);
  });

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    submit(code);
  };

  const codeStage = phase === 'code_sent' || phase === 'verifying';
  // The receipts say the SMS did not reach the phone: said in the alert below whenever no
  // other error is shown there (an assertive live region, so it is announced when it comes).
  const undelivered = codeStage && !!session && isUndeliverable(session.delivery);
  const shownError = localError ?? error;
  const message = shownError
    ? describeOtpError(shownError, { waitSeconds, codeLength })
    : undelivered
      ? describeUndelivered(phoneHint)
      : null;
  const recoveryLabel = message ? RECOVERY_LABELS[message.recovery] : undefined;
  const onRecovery = () => {
    if (!message) return;
    if (message.recovery === 'retry') void otp.retry();
    else if (message.recovery === 'refresh') void otp.refresh();
    else if (message.recovery === 'sign_out') otp.signOut();
  };

  // Polite announcements: progress, and the end of a wait. Errors go to the alert below.
  const waitWasActive = useRef(false);
  const [waitOver, setWaitOver] = useState(false);
  useEffect(() => {
    if (waitSeconds > 0) {
      waitWasActive.current = true;
      setWaitOver(false);
    } else if (waitWasActive.current) {
      waitWasActive.current = false;
      setWaitOver(true);
    }
  }, [waitSeconds]);
  let announcement = '';
  if (phase === 'checking') announcement = 'Checking your sign-in…';
  else if (phase === 'sending') announcement = 'Sending a code…';
  else if (phase === 'verifying') announcement = 'Checking the code…';
  else if (phase === 'verified') announcement = 'Verified.';
  else if (phase === 'code_sent' && session) {
    // Receipts do not change these words: "Delivered" is a quiet note beside the countdown,
    // and an undelivered code is said in the alert.
    announcement = session.status === 'sent' ? `Code sent to ${phoneHint ?? 'your phone'}.` : `Code requested for ${phoneHint ?? 'your phone'}.`;
    if (waitOver) announcement += ' You can ask for a new code now.';
  } else if (phase === 'idle' && waitOver) announcement = 'You can ask for a new code now.';

  const phone = phoneHint ? <strong className="sms-otp-phone">{phoneHint}</strong> : 'your phone';
  let description: ReactNode;
  if (phase === 'checking' || phase === 'signed_out') description = 'Checking your sign-in…';
  else if (phase === 'unavailable') description = 'We could not check your sign-in.';
  else if (phase === 'code_sent' || phase === 'verifying')
    description = (
      <>
        Enter the {codeLength}-digit code we sent to {phone}.
      </>
    );
  else description = <>To finish signing in, we’ll text a {codeLength}-digit code to {phone}.</>;

  const sendLabel = isAfterSession(shownError) ? 'Send a new code' : 'Send OTP';
  // A rate limit's or lockout's message already counts the wait down.
  const waitInMessage = shownError?.kind === 'rate_limited' || shownError?.kind === 'locked_out';
  const resendLabel = undelivered ? 'Send a new code' : 'Resend';

  const content = (
    <div className="sms-otp-backdrop">
      <div
        ref={dialog}
        className="sms-otp-dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={descId}
        aria-busy={busy || undefined}
        tabIndex={-1}
        data-phase={phase}
      >
        <h2 id={titleId} className="sms-otp-title">
          {title}
        </h2>
        <p id={descId} className="sms-otp-text">
          {description}
        </p>

        {(phase === 'idle' || phase === 'sending') && (
          <div className="sms-otp-actions">
            <button
              ref={sendButton}
              type="button"
              className="sms-otp-primary"
              onClick={() => void otp.send()}
              disabled={!canSend}
              aria-describedby={waitSeconds > 0 && !waitInMessage ? hintId : undefined}
            >
              {phase === 'sending' ? 'Sending…' : waitSeconds > 0 ? `${sendLabel} (${formatDuration(waitSeconds)})` : sendLabel}
            </button>
            {waitSeconds > 0 && !waitInMessage && (
              <p id={hintId} className="sms-otp-hint" data-testid="send-wait">
                You can ask for a code in <span className="sms-otp-timer">{formatDuration(waitSeconds)}</span>
                <span className="sms-otp-sr-only"> ({spellDuration(waitSeconds)})</span>.
              </p>
            )}
          </div>
        )}

        {codeStage && session && (
          <form className="sms-otp-form" onSubmit={onSubmit} noValidate>
            <label htmlFor={codeId} className="sms-otp-label">
              Code
            </label>
            <CodeInput
              ref={codeInput}
              id={codeId}
              value={code}
              length={codeLength}
              disabled={phase === 'verifying'}
              describedBy={`${descId} ${hintId}`}
              onChange={(value) => {
                setCode(value);
                if (localError) setLocalError(null);
              }}
              onComplete={(value) => submit(value)}
            />
            <p id={hintId} className="sms-otp-meta">
              <span data-testid="expires-in">
                Code expires in <span className="sms-otp-timer">{formatDuration(expiresIn)}</span>
              </span>
              <span data-testid="attempts-left">
                {session.attemptsRemaining === 1 ? '1 attempt left' : `${session.attemptsRemaining} attempts left`}
              </span>
              {(session.delivery === 'delivered' || undelivered) && (
                <span data-testid="delivery" className={undelivered ? 'sms-otp-undelivered' : 'sms-otp-delivered'}>
                  {undelivered ? 'Not delivered' : 'Delivered'}
                </span>
              )}
            </p>
            <div className="sms-otp-actions sms-otp-row">
              {/* Once the SMS is known not to have arrived, a new code is the main way on. */}
              <button type="submit" className={undelivered ? 'sms-otp-secondary' : 'sms-otp-primary'} disabled={phase === 'verifying'}>
                {phase === 'verifying' ? 'Verifying…' : 'Verify'}
              </button>
              <button
                type="button"
                className={undelivered ? 'sms-otp-primary' : 'sms-otp-secondary'}
                onClick={() => void otp.resend()}
                disabled={!canSend}
              >
                {waitSeconds > 0 ? `${resendLabel} (${formatDuration(waitSeconds)})` : resendLabel}
              </button>
            </div>
          </form>
        )}

        {(phase === 'checking' || phase === 'signed_out') && <div className="sms-otp-spinner" aria-hidden="true" />}

        <div role="alert" className={message ? 'sms-otp-error' : 'sms-otp-empty'}>
          {message && (
            <>
              <span>{message.text}</span>
              {recoveryLabel && (
                <button type="button" className="sms-otp-secondary sms-otp-recovery" onClick={onRecovery} disabled={busy}>
                  {recoveryLabel}
                </button>
              )}
            </>
          )}
        </div>
        <p role="status" aria-live="polite" className="sms-otp-sr-only">
          {announcement}
        </p>

        {extra && <div className="sms-otp-extra">{extra}</div>}

        <div className="sms-otp-footer">
          <button type="button" className="sms-otp-link" onClick={() => otp.signOut()}>
            {signOutLabel}
          </button>
        </div>
      </div>
    </div>
  );

  return host ? createPortal(content, host) : null;
}
