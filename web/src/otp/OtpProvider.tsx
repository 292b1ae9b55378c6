// OtpProvider: the SMS step's state for the signed-in user, shared through context.
// It asks otp_status() whenever the token changes (so a reload resumes the pending code, with
// its cooldown, and sends nothing), and exposes send / verify / resend / refresh / signOut.
import { createContext, useCallback, useContext, useEffect, useMemo, useReducer, useRef, type ReactNode } from 'react';
import { createOtpApi, OtpAbortError, type ApiResult, type OtpApi } from './api';
import type { OtpError } from './errors';
import { initialOtpState, isOtpSatisfied, otpReducer, type OtpSession, type OtpState } from './machine';

export interface OtpContextValue {
  /** The pending code request, or null. */
  otpSession: OtpSession | null;
  /** True when the app may show everything: the SMS step is done, or this account has none. */
  otpVerified: boolean;
  /** The whole machine state (phase, error, nextSendAt, phoneHint, clockOffsetMs, ...). */
  state: OtpState;
  status: OtpState['phase'];
  error: OtpError | null;
  codeLength: number;
  /** Date.now() on the server's clock. */
  serverNow: () => number;
  send: () => Promise<void>;
  /** Same call as send: a new code replaces the pending one. */
  resend: () => Promise<void>;
  verify: (code: string) => Promise<void>;
  refresh: () => Promise<void>;
  /** Repeats the call that failed last (after a network error, say). */
  retry: () => Promise<void>;
  dismissError: () => void;
  signOut: () => void;
}

const OtpContext = createContext<OtpContextValue | null>(null);

export interface OtpProviderProps {
  /** PostgREST's base URL. */
  apiUrl: string;
  /** The signed-in user's JWT, or null when nobody is signed in. */
  token: string | null;
  /** The application's own sign-out (clear its session, go to its login page). */
  onSignOut?: () => void;
  /** Digits in a code (sms_otp.code_length). */
  codeLength?: number;
  /** Schema of the extension, for the Content-Profile header. */
  schema?: string;
  /** Extra request headers (Supabase: apikey). */
  headers?: Record<string, string>;
  /** Replaces the API client (tests). */
  api?: OtpApi;
  /** How often to ask whether a queued code has left, in ms. */
  deliveryPollMs?: number;
  children?: ReactNode;
}

// How many times to ask whether a queued code has left before leaving it to the user.
const DELIVERY_POLLS = 20;
// A status call slower than this is read again to measure the clock.
const CLOCK_RESAMPLE_MS = 50;

export function OtpProvider({
  apiUrl,
  token,
  onSignOut,
  codeLength = 6,
  schema,
  headers,
  api: injectedApi,
  deliveryPollMs = 1500,
  children,
}: OtpProviderProps) {
  const [state, dispatch] = useReducer(otpReducer, initialOtpState);
  const headerKey = JSON.stringify(headers ?? {});
  const api = useMemo(
    () => injectedApi ?? (token ? createOtpApi({ url: apiUrl, token, schema, headers: JSON.parse(headerKey) }) : null),
    [injectedApi, apiUrl, token, schema, headerKey],
  );

  // Every call is aborted when the token changes or the provider unmounts, and its answer dropped.
  const controller = useRef<AbortController>(new AbortController());
  const stateRef = useRef(state);
  stateRef.current = state;
  const lastCode = useRef('');
  const onSignOutRef = useRef(onSignOut);
  onSignOutRef.current = onSignOut;

  const run = useCallback(async <T,>(call: (signal: AbortSignal) => Promise<ApiResult<T>>) => {
    const signal = controller.current.signal;
    const requestedAt = Date.now();
    try {
      const result = await call(signal);
      return signal.aborted ? null : result;
    } catch (e) {
      if (e instanceof OtpAbortError || signal.aborted) return null;
      // Anything else thrown on the way (a broken fetch polyfill, say) counts as no answer.
      const failed: ApiResult<T> = {
        ok: false,
        status: 0,
        error: { kind: 'network', status: 0, serverMessage: String((e as Error)?.message ?? e) },
        requestedAt,
        receivedAt: Date.now(),
      };
      return failed;
    }
  }, []);

  const loadStatus = useCallback(
    async (background = false) => {
      if (!api) return;
      if (!background) dispatch({ type: 'STATUS_REQUESTED' });
      const res = await run((signal) => api.status(signal));
      if (!res) return;
      if (res.ok) {
        dispatch({ type: 'STATUS_LOADED', body: res.data, requestedAt: res.requestedAt, receivedAt: res.receivedAt, background });
        // A slow first reading of the server's clock (CORS preflight, new connection) is
        // taken again at once: countdowns are only as good as the offset.
        if (!background && stateRef.current.clockRttMs === null && res.receivedAt - res.requestedAt > CLOCK_RESAMPLE_MS) {
          const again = await run((signal) => api.status(signal));
          if (again?.ok) {
            dispatch({ type: 'CLOCK_SAMPLE', serverTime: again.data.server_time, requestedAt: again.requestedAt, receivedAt: again.receivedAt });
          }
        }
      } else {
        dispatch({ type: 'STATUS_FAILED', error: res.error, background });
      }
    },
    [api, run],
  );

  // One send or verify at a time: a code completed by typing and by WebOTP in the same
  // moment must not be checked twice (the state's phase changes only at the next render).
  const acting = useRef(false);

  const send = useCallback(async () => {
    if (!api || acting.current) return;
    const phase = stateRef.current.phase;
    if (phase === 'sending' || phase === 'verifying' || phase === 'checking') return;
    acting.current = true;
    try {
      dispatch({ type: 'SEND_REQUESTED' });
      const res = await run((signal) => api.send({}, signal));
      if (!res) return;
      if (res.ok) dispatch({ type: 'SEND_SUCCEEDED', body: res.data });
      else dispatch({ type: 'SEND_FAILED', error: res.error, receivedAt: res.receivedAt });
    } finally {
      acting.current = false;
    }
  }, [api, run]);

  const verify = useCallback(
    async (code: string) => {
      const { session, phase } = stateRef.current;
      if (!api || !session || phase !== 'code_sent' || acting.current) return;
      acting.current = true;
      lastCode.current = code;
      try {
        dispatch({ type: 'VERIFY_REQUESTED' });
        const res = await run((signal) => api.verify(session.sessionId, code, signal));
        if (!res) return;
        if (res.ok && res.data?.verified === true) dispatch({ type: 'VERIFY_SUCCEEDED' });
        else if (res.ok) dispatch({ type: 'VERIFY_FAILED', error: { kind: 'unknown', status: res.status }, receivedAt: res.receivedAt });
        else dispatch({ type: 'VERIFY_FAILED', error: res.error, receivedAt: res.receivedAt });
      } finally {
        acting.current = false;
      }
    },
    [api, run],
  );

  const refresh = useCallback(() => loadStatus(false), [loadStatus]);

  const retry = useCallback(async () => {
    const { failedAction } = stateRef.current;
    if (failedAction === 'send') return send();
    if (failedAction === 'verify' && lastCode.current) return verify(lastCode.current);
    return loadStatus(false);
  }, [send, verify, loadStatus]);

  const dismissError = useCallback(() => dispatch({ type: 'ERROR_DISMISSED' }), []);

  const signOut = useCallback(() => {
    acting.current = false;
    controller.current.abort();
    controller.current = new AbortController();
    dispatch({ type: 'SIGNED_OUT' });
    onSignOutRef.current?.();
  }, []);

  // A new sign-in (or none): drop what was in flight and ask where things stand.
  useEffect(() => {
    acting.current = false;
    controller.current.abort();
    controller.current = new AbortController();
    dispatch({ type: 'SIGNED_OUT' });
    if (api) void loadStatus(false);
    return () => controller.current.abort();
  }, [api, loadStatus]);

  // The code's time runs out on the server's clock: measured from the offset, not the local date.
  const session = state.session;
  const offset = state.clockOffsetMs;
  useEffect(() => {
    if (!session || state.phase !== 'code_sent') return;
    const ms = session.expiresAt - (Date.now() + offset);
    const id = setTimeout(() => dispatch({ type: 'SESSION_EXPIRED' }), Math.max(0, ms));
    return () => clearTimeout(id);
  }, [session, offset, state.phase]);

  // While the code is queued, ask now and then whether a provider took it (or none could).
  const polls = useRef({ sessionId: '', count: 0 });
  useEffect(() => {
    if (!session || session.status !== 'pending' || state.phase !== 'code_sent') return;
    if (polls.current.sessionId !== session.sessionId) polls.current = { sessionId: session.sessionId, count: 0 };
    if (polls.current.count >= DELIVERY_POLLS) return;
    const id = setTimeout(() => {
      polls.current.count += 1;
      void loadStatus(true);
    }, deliveryPollMs);
    return () => clearTimeout(id);
  }, [session, state.phase, deliveryPollMs, loadStatus]);

  const value = useMemo<OtpContextValue>(
    () => ({
      otpSession: state.session,
      otpVerified: isOtpSatisfied(state),
      state,
      status: state.phase,
      error: state.error,
      codeLength,
      serverNow: () => Date.now() + state.clockOffsetMs,
      send,
      resend: send,
      verify,
      refresh,
      retry,
      dismissError,
      signOut,
    }),
    [state, codeLength, send, verify, refresh, retry, dismissError, signOut],
  );

  return <OtpContext.Provider value={value}>{children}</OtpContext.Provider>;
}

/** The SMS step's state and actions; use inside <OtpProvider>. */
export function useOtp(): OtpContextValue {
  const value = useContext(OtpContext);
  if (!value) throw new Error('useOtp() must be used inside <OtpProvider>.');
  return value;
}
