// OtpSettings: the account-settings panel for SMS codes. A user turns them on with a number of
// their own (a code goes to that number; entering it stores it), changes the number, or turns
// codes off. Changing or removing needs a code to the current number first when the last one is
// not recent (sms_otp.reverify_window): the panel asks for it in place.
// It renders inside <OtpProvider> and uses its API client; the look is otp.css.
import { useCallback, useEffect, useId, useReducer, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { CodeInput } from './CodeInput.js';
import { OtpAbortError, type ApiResult } from './api.js';
import { formatDuration, secondsUntil, spellDuration } from './clock.js';
import type { OtpError } from './errors.js';
import { describeOtpError } from './messages.js';
import { useOtp } from './OtpProvider.js';
import {
  composePhone,
  DEFAULT_COUNTRIES,
  initialSettingsState,
  settingsReducer,
  type Country,
  type SettingsNotice,
} from './settings.js';
import { useNow } from './useNow.js';

export interface OtpSettingsProps {
  /** The panel's heading. */
  title?: string;
  /** The country picker's list (ISO code, name, calling code); a short default list otherwise. */
  countries?: readonly Country[];
  /** ISO code of the country picked at first. */
  defaultCountry?: string;
  /** Called after codes were turned on, the number changed, or codes turned off. */
  onChange?: (change: SettingsNotice) => void;
}

const NOTICES: Record<SettingsNotice, string> = {
  enabled: 'SMS codes are on. We will text a code to this number when you sign in.',
  changed: 'Your number is changed. Codes go to the new number from now on.',
  disabled: 'SMS codes are off, and the number is removed from your account.',
};

function networkError(e: unknown): OtpError {
  return { kind: 'network', status: 0, serverMessage: String((e as Error)?.message ?? e) };
}

export function OtpSettings({ title = 'SMS codes', countries = DEFAULT_COUNTRIES, defaultCountry = 'US', onChange }: OtpSettingsProps) {
  const otp = useOtp();
  const { api, codeLength } = otp;
  const [state, dispatch] = useReducer(settingsReducer, initialSettingsState);
  const stateRef = useRef(state);
  stateRef.current = state;

  const ids = useId();
  const titleId = `${ids}-title`;
  const countryId = `${ids}-country`;
  const numberId = `${ids}-number`;
  const numberHintId = `${ids}-number-hint`;
  const codeId = `${ids}-code`;
  const metaId = `${ids}-meta`;

  const [country, setCountry] = useState(countries.some((c) => c.code === defaultCountry) ? defaultCountry : countries[0]?.code ?? '');
  const [typed, setTyped] = useState('');
  const [code, setCode] = useState('');
  const [localError, setLocalError] = useState<OtpError | null>(null);
  const numberInput = useRef<HTMLInputElement>(null);
  const codeInput = useRef<HTMLInputElement>(null);
  const heading = useRef<HTMLHeadingElement>(null);

  const now = useNow(500);
  const serverNow = now + state.clockOffsetMs;
  const waitSeconds = secondsUntil(state.nextSendAt, serverNow);
  const expiresIn = state.code ? secondsUntil(state.code.expiresAt, serverNow) : 0;
  const busy = state.busy !== null || state.phase === 'loading';

  // Calls are dropped when the panel goes away or the sign-in changes.
  const controller = useRef(new AbortController());
  useEffect(() => {
    controller.current = new AbortController();
    return () => controller.current.abort();
  }, [api]);
  const run = useCallback(async <T,>(call: (signal: AbortSignal) => Promise<ApiResult<T>>): Promise<ApiResult<T> | null> => {
    const signal = controller.current.signal;
    const requestedAt = Date.now();
    try {
      const res = await call(signal);
      return signal.aborted ? null : res;
    } catch (e) {
      if (e instanceof OtpAbortError || signal.aborted) return null;
      return { ok: false, status: 0, error: networkError(e), requestedAt, receivedAt: Date.now() };
    }
  }, []);

  const load = useCallback(
    async (background = false) => {
      if (!api) return;
      if (!background) dispatch({ type: 'STATUS_REQUESTED' });
      const res = await run((signal) => api.status(signal));
      if (!res) return;
      if (res.ok) dispatch({ type: 'STATUS_LOADED', body: res.data, requestedAt: res.requestedAt, receivedAt: res.receivedAt, background });
      else if (!background) dispatch({ type: 'STATUS_FAILED', error: res.error });
    },
    [api, run],
  );
  useEffect(() => {
    void load();
  }, [load]);

  // One call at a time: a code completed by typing and by pasting in the same moment is checked once.
  const acting = useRef(false);
  const act = useCallback(async (work: () => Promise<void>) => {
    if (acting.current) return;
    acting.current = true;
    try {
      await work();
    } finally {
      acting.current = false;
    }
  }, []);

  const send = useCallback(
    (phone: string | null) =>
      act(async () => {
        if (!api) return;
        dispatch({ type: 'SEND_REQUESTED' });
        const res = await run((signal) => api.send(phone ? { phone } : {}, signal));
        if (!res) return;
        if (res.ok) dispatch({ type: 'SEND_SUCCEEDED', body: res.data, phone, requestedAt: res.requestedAt, receivedAt: res.receivedAt });
        else dispatch({ type: 'SEND_FAILED', error: res.error, receivedAt: res.receivedAt });
      }),
    [act, api, run],
  );

  const verify = useCallback(
    (value: string) =>
      act(async () => {
        const pending = stateRef.current.code;
        if (!api || !pending) return;
        dispatch({ type: 'VERIFY_REQUESTED' });
        const res = await run((signal) => api.verify(pending.sessionId, value, signal));
        if (!res) return;
        if (res.ok && res.data?.verified === true) {
          const intent = stateRef.current.intent;
          dispatch({ type: 'VERIFY_SUCCEEDED', body: res.data });
          if (pending.purpose === 'enrol') {
            onChange?.(intent === 'change' ? 'changed' : 'enabled');
            // The sign-in's own state: codes are on now, and this login has passed them.
            void otp.sync();
          }
          // The account's facts (the window to change or remove the number) as they are now.
          void load(true);
        } else if (res.ok) {
          dispatch({ type: 'VERIFY_FAILED', error: { kind: 'unknown', status: res.status }, receivedAt: res.receivedAt });
        } else {
          dispatch({ type: 'VERIFY_FAILED', error: res.error, receivedAt: res.receivedAt });
        }
      }),
    [act, api, run, load, onChange, otp],
  );

  const disable = useCallback(
    () =>
      act(async () => {
        if (!api?.disable) return;
        const call = api.disable.bind(api);
        dispatch({ type: 'DISABLE_REQUESTED' });
        const res = await run((signal) => call(signal));
        if (!res) return;
        if (res.ok) {
          dispatch({ type: 'DISABLE_SUCCEEDED', body: res.data });
          onChange?.('disabled');
          void otp.sync();
        } else {
          dispatch({ type: 'DISABLE_FAILED', error: res.error, receivedAt: res.receivedAt });
        }
      }),
    [act, api, run, onChange, otp],
  );

  // The pending code's time runs out on the server's clock.
  const pending = state.code;
  useEffect(() => {
    if (!pending || state.phase !== 'code') return;
    const ms = pending.expiresAt - (Date.now() + state.clockOffsetMs);
    const id = setTimeout(() => dispatch({ type: 'CODE_EXPIRED' }), Math.max(0, ms));
    return () => clearTimeout(id);
  }, [pending, state.phase, state.clockOffsetMs]);

  // A new code request, or a wrong code: the field starts afresh.
  useEffect(() => {
    setCode('');
    setLocalError(null);
  }, [pending?.sessionId]);
  useEffect(() => {
    if (state.error?.kind === 'invalid_code' || state.error?.kind === 'invalid_code_format') setCode('');
  }, [state.error]);

  // Focus follows the task.
  const phase = state.phase;
  const firstRender = useRef(true);
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    if (phase === 'number') numberInput.current?.focus();
    else if (phase === 'code') codeInput.current?.focus();
    else if (phase === 'on' || phase === 'off') heading.current?.focus();
  }, [phase, pending?.sessionId]);

  const submitNumber = (event: FormEvent) => {
    event.preventDefault();
    const dial = countries.find((c) => c.code === country)?.dial ?? '';
    const phone = composePhone(dial, typed);
    if (!phone) {
      setLocalError({ kind: 'invalid_phone', status: 0 });
      numberInput.current?.focus();
      return;
    }
    setLocalError(null);
    void send(phone);
  };

  const submitCode = (value: string) => {
    if (value.length !== codeLength) {
      setLocalError({ kind: 'invalid_code_format', status: 0 });
      codeInput.current?.focus();
      return;
    }
    setLocalError(null);
    void verify(value);
  };

  const resend = () => {
    if (!pending) return;
    if (pending.purpose === 'confirm') void send(null);
    else if (state.phone) void send(state.phone);
    // After a reload the panel knows the number masked only: the user types it again.
    else dispatch({ type: 'START', intent: state.intent ?? 'enable', serverNow });
  };

  // Here a refused new number means the code to the current one is not recent enough.
  const shownError =
    localError ?? (state.error?.kind === 'phone_mismatch' ? { ...state.error, kind: 'reverify_required' as const } : state.error);
  const message = shownError ? describeOtpError(shownError, { waitSeconds, codeLength }) : null;
  const waitInMessage = shownError?.kind === 'rate_limited' || shownError?.kind === 'locked_out';

  const hint = (text: string | null) => (text ? <strong className="sms-otp-phone">{text}</strong> : 'your phone');

  let body: ReactNode = null;
  if (phase === 'loading') {
    body = (
      <>
        <p className="sms-otp-text">Checking your settings…</p>
        <div className="sms-otp-spinner" aria-hidden="true" />
      </>
    );
  } else if (phase === 'unavailable') {
    body = (
      <div className="sms-otp-actions">
        <button type="button" className="sms-otp-secondary" onClick={() => void load()}>
          Try again
        </button>
      </div>
    );
  } else if (phase === 'off') {
    body = (
      <>
        <p className="sms-otp-text">
          Add a second step to signing in: we text a {codeLength}-digit code to your phone, and you enter it after your password.
        </p>
        <div className="sms-otp-actions">
          <button type="button" className="sms-otp-primary" onClick={() => dispatch({ type: 'START', intent: 'enable', serverNow })}>
            Turn on SMS codes
          </button>
        </div>
      </>
    );
  } else if (phase === 'on') {
    body = (
      <>
        <p className="sms-otp-text" data-testid="settings-number">
          Codes go to {hint(state.phoneHint)}.
        </p>
        <div className="sms-otp-actions sms-otp-row">
          <button type="button" className="sms-otp-secondary" onClick={() => dispatch({ type: 'START', intent: 'change', serverNow })}>
            Change number
          </button>
          <button type="button" className="sms-otp-secondary" onClick={() => dispatch({ type: 'START', intent: 'remove', serverNow })}>
            Turn off
          </button>
        </div>
      </>
    );
  } else if (phase === 'number') {
    body = (
      <form className="sms-otp-form" onSubmit={submitNumber} noValidate>
        <p className="sms-otp-text">
          {state.intent === 'change'
            ? 'Enter your new number. We will text it a code; your current number stays until you enter it.'
            : 'Enter your mobile number. We will text it a code to make sure it is yours.'}
        </p>
        <div className="sms-otp-phone-row">
          <div className="sms-otp-field sms-otp-country">
            <label htmlFor={countryId} className="sms-otp-label">
              Country
            </label>
            <select id={countryId} className="sms-otp-input" value={country} onChange={(e) => setCountry(e.target.value)} autoComplete="tel-country-code">
              {countries.map((c) => (
                <option key={c.code} value={c.code}>
                  {c.name} (+{c.dial})
                </option>
              ))}
            </select>
          </div>
          <div className="sms-otp-field sms-otp-number">
            <label htmlFor={numberId} className="sms-otp-label">
              Mobile number
            </label>
            <input
              ref={numberInput}
              id={numberId}
              className="sms-otp-input"
              type="tel"
              inputMode="tel"
              autoComplete="tel-national"
              value={typed}
              maxLength={32}
              aria-describedby={numberHintId}
              aria-invalid={shownError?.kind === 'invalid_phone' || undefined}
              onChange={(e) => {
                setTyped(e.target.value);
                if (localError) setLocalError(null);
              }}
            />
          </div>
        </div>
        <p id={numberHintId} className="sms-otp-hint">
          Or type the full number with its country code, such as +44 7700 900123.
        </p>
        <div className="sms-otp-actions sms-otp-row sms-otp-spaced">
          <button type="submit" className="sms-otp-primary" disabled={busy || waitSeconds > 0}>
            {state.busy === 'send' ? 'Sending…' : waitSeconds > 0 ? `Send code (${formatDuration(waitSeconds)})` : 'Send code'}
          </button>
          <button type="button" className="sms-otp-secondary" onClick={() => dispatch({ type: 'CANCEL' })} disabled={busy}>
            Cancel
          </button>
        </div>
      </form>
    );
  } else if (phase === 'confirm') {
    body = (
      <>
        <p className="sms-otp-text">
          To {state.intent === 'remove' ? 'turn off SMS codes' : 'change your number'}, first confirm it’s you: we’ll text a code to{' '}
          {hint(state.phoneHint)}.
        </p>
        <div className="sms-otp-actions sms-otp-row">
          <button type="button" className="sms-otp-primary" onClick={() => void send(null)} disabled={busy || waitSeconds > 0}>
            {state.busy === 'send' ? 'Sending…' : waitSeconds > 0 ? `Send code (${formatDuration(waitSeconds)})` : 'Send code'}
          </button>
          <button type="button" className="sms-otp-secondary" onClick={() => dispatch({ type: 'CANCEL' })} disabled={busy}>
            Cancel
          </button>
        </div>
      </>
    );
  } else if (phase === 'removing') {
    body = (
      <>
        <p className="sms-otp-text">
          Turn off SMS codes and remove {hint(state.phoneHint)} from your account? Signing in will need only your password.
        </p>
        <div className="sms-otp-actions sms-otp-row">
          <button type="button" className="sms-otp-primary sms-otp-danger" onClick={() => void disable()} disabled={busy}>
            {state.busy === 'disable' ? 'Turning off…' : 'Turn off SMS codes'}
          </button>
          <button type="button" className="sms-otp-secondary" onClick={() => dispatch({ type: 'CANCEL' })} disabled={busy}>
            Cancel
          </button>
        </div>
      </>
    );
  } else if (phase === 'code' && pending) {
    body = (
      <form
        className="sms-otp-form"
        noValidate
        onSubmit={(event) => {
          event.preventDefault();
          submitCode(code);
        }}
      >
        <p className="sms-otp-text">
          Enter the {codeLength}-digit code we sent to {hint(pending.phoneHint)}.
        </p>
        <label htmlFor={codeId} className="sms-otp-label">
          Code
        </label>
        <CodeInput
          ref={codeInput}
          id={codeId}
          value={code}
          length={codeLength}
          disabled={state.busy === 'verify'}
          describedBy={metaId}
          onChange={(value) => {
            setCode(value);
            if (localError) setLocalError(null);
          }}
          onComplete={(value) => submitCode(value)}
        />
        <p id={metaId} className="sms-otp-meta">
          <span data-testid="settings-expires-in">
            Code expires in <span className="sms-otp-timer">{formatDuration(expiresIn)}</span>
          </span>
          <span data-testid="settings-attempts-left">
            {pending.attemptsRemaining === 1 ? '1 attempt left' : `${pending.attemptsRemaining} attempts left`}
          </span>
        </p>
        <div className="sms-otp-actions sms-otp-row">
          <button type="submit" className="sms-otp-primary" disabled={busy}>
            {state.busy === 'verify' ? 'Verifying…' : 'Verify'}
          </button>
          <button type="button" className="sms-otp-secondary" onClick={resend} disabled={busy || waitSeconds > 0}>
            {waitSeconds > 0 ? `Resend (${formatDuration(waitSeconds)})` : 'Resend'}
          </button>
        </div>
        {waitSeconds > 0 && !waitInMessage && (
          <p className="sms-otp-hint" data-testid="settings-send-wait">
            You can ask for another code in <span className="sms-otp-timer">{formatDuration(waitSeconds)}</span>
            <span className="sms-otp-sr-only"> ({spellDuration(waitSeconds)})</span>.
          </p>
        )}
        <div className="sms-otp-footer sms-otp-left">
          <button type="button" className="sms-otp-link" onClick={() => dispatch({ type: 'CANCEL' })} disabled={busy}>
            {pending.purpose === 'enrol' ? 'Use another number or cancel' : 'Cancel'}
          </button>
        </div>
      </form>
    );
  }

  let announcement = '';
  if (state.busy === 'send') announcement = 'Sending a code…';
  else if (state.busy === 'verify') announcement = 'Checking the code…';
  else if (state.busy === 'disable') announcement = 'Turning off SMS codes…';
  else if (phase === 'code' && pending) announcement = `Code sent to ${pending.phoneHint ?? 'your phone'}.`;

  return (
    <section className="sms-otp-root sms-otp-settings" aria-labelledby={titleId} aria-busy={busy || undefined} data-phase={phase}>
      <div className="sms-otp-settings-head">
        <h2 id={titleId} ref={heading} tabIndex={-1} className="sms-otp-title">
          {title}
        </h2>
        {(phase === 'on' || phase === 'off') && (
          <span className={`sms-otp-badge${state.enabled ? ' is-on' : ''}`} data-testid="settings-state">
            {state.enabled ? 'On' : 'Off'}
          </span>
        )}
      </div>
      {state.notice && (phase === 'on' || phase === 'off') && (
        <p className="sms-otp-notice" data-testid="settings-notice">
          {NOTICES[state.notice]}
        </p>
      )}
      {body}
      <div role="alert" className={message ? 'sms-otp-error' : 'sms-otp-empty'}>
        {message && <span>{message.text}</span>}
      </div>
      <p role="status" aria-live="polite" className="sms-otp-sr-only">
        {state.notice && (phase === 'on' || phase === 'off') ? NOTICES[state.notice] : announcement}
      </p>
    </section>
  );
}
