// OtpProvider: the SMS step's state for the signed-in user, shared through context.
// It asks otp_status() whenever a new login signs in (so a reload resumes the pending code, with
// its cooldown, and sends nothing), and exposes send / verify / resend / refresh / signOut. A
// refreshed token of the same login is only used for the next calls.
// While a code is pending it asks otp_status again now and then: quickly while the code is
// queued, then every few seconds until the provider's receipts say how its delivery ended.
import { createContext, useCallback, useContext, useEffect, useMemo, useReducer, useRef, type ReactNode } from 'react';
import { createOtpApi, OtpAbortError, type ApiResult, type OtpApi, type OtpRpcClient, type StatusBody } from './api.js';
import type { OtpError } from './errors.js';
import { loginKey } from './login.js';
import { awaitsReceipt, initialOtpState, isOtpSatisfied, otpReducer, type OtpSession, type OtpState } from './machine.js';
import { usePageVisible } from './usePageVisible.js';

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
  /** Asks otp_status() again without showing "checking" meanwhile: the screen changes only if
   *  the answer does (after <OtpSettings> turned codes on or off, say). */
  sync: () => Promise<void>;
  /** Repeats the call that failed last (after a network error, say). */
  retry: () => Promise<void>;
  /** The API client of the signed-in user (null when nobody is), for panels such as
   *  <OtpSettings> that make calls of their own. */
  api: OtpApi | null;
  dismissError: () => void;
  signOut: () => void;
}

const OtpContext = createContext<OtpContextValue | null>(null);

interface OtpProviderCommonProps {
  /**
   * The signed-in user's JWT, or null when nobody is signed in; sent as the Authorization
   * header (with Supabase: the session's access_token). A token of another login starts over
   * with otp_status(); a refreshed token of the same login (same "sub" and loginClaim) does not.
   */
  token: string | null;
  /** The JWT claim naming a login, as sms_otp.login_claim (default session_id, as Supabase). */
  loginClaim?: string;
  /** The application's own sign-out (clear its session, go to its login page). */
  onSignOut?: () => void;
  /** Digits in a code (sms_otp.code_length). */
  codeLength?: number;
  /** Schema of the extension, for the Content-Profile header. */
  schema?: string;
  /** Extra request headers (Supabase without a client: apikey). */
  headers?: Record<string, string>;
  /**
   * A fresh CAPTCHA token (Turnstile or hCaptcha) for each code sent, when the server sets
   * sms_otp.captcha; sent as the X-Captcha-Token header of otp_send. See createOtpApi.
   */
  captchaToken?: () => string | null | undefined | Promise<string | null | undefined>;
  /** Replaces the API client (tests). */
  api?: OtpApi;
  /** How often to ask whether a queued code has left, in ms. */
  deliveryPollMs?: number;
  /** How often to ask for the provider's delivery receipts once the code has left, in ms:
   *  until one says delivered, undelivered or failed, or the code expires. */
  receiptPollMs?: number;
  children?: ReactNode;
}

/** Where the calls go: PostgREST's URL, or a client the application already has. */
export type OtpProviderProps = OtpProviderCommonProps &
  (
    | {
        /** PostgREST's base URL (Supabase: https://<project>.supabase.co/rest/v1). */
        apiUrl: string;
        client?: undefined;
      }
    | {
        /** The application's PostgrestClient (@supabase/postgrest-js) or SupabaseClient
         *  (@supabase/supabase-js); the calls go to its `schema(schema).rpc()`. */
        client: OtpRpcClient;
        apiUrl?: undefined;
      }
  );

// How many times to ask whether a queued code has left before leaving it to the user (a
// server that reports receipts is then asked at the slower receipt pace).
const DELIVERY_POLLS = 20;
// After a poll that got no answer, the next one waits twice as long, at most 2^3 times.
const MAX_POLL_BACKOFF = 3;
// A status call slower than this is read again to measure the clock.
const CLOCK_RESAMPLE_MS = 50;

export function OtpProvider({
  apiUrl,
  client,
  token,
  loginClaim = 'session_id',
  onSignOut,
  codeLength = 6,
  schema,
  headers,
  captchaToken,
  api: injectedApi,
  deliveryPollMs = 1500,
  receiptPollMs = 5000,
  children,
}: OtpProviderProps) {
  // Signed in: "checking" from the first render, so that a guard never takes a signed-in user
  // for a visitor (and sends a deep link, reloaded, to the login page) before the first call.
  const [state, dispatch] = useReducer(otpReducer, token !== null || injectedApi !== undefined, (signedIn: boolean) =>
    signedIn ? { ...initialOtpState, phase: 'checking' as const } : initialOtpState,
  );
  const headerKey = JSON.stringify(headers ?? {});
  // The newest callback is asked at each send, so a new function each render keeps the client.
  const captchaRef = useRef(captchaToken);
  captchaRef.current = captchaToken;
  const api = useMemo(() => {
    if (injectedApi) return injectedApi;
    if (!token) return null;
    const common = {
      token,
      schema,
      headers: JSON.parse(headerKey) as Record<string, string>,
      captchaToken: () => captchaRef.current?.(),
    };
    if (client) return createOtpApi({ ...common, client });
    if (apiUrl === undefined) throw new Error('<OtpProvider> needs an apiUrl or a client.');
    return createOtpApi({ ...common, url: apiUrl });
  }, [injectedApi, apiUrl, client, token, schema, headerKey]);
  // Calls always go with the newest token.
  const apiRef = useRef(api);
  apiRef.current = api;
  // Who is signed in, and where: when this changes, everything starts over.
  const signInKey = JSON.stringify([token === null ? null : loginKey(token, loginClaim), apiUrl ?? null, schema ?? null, headerKey]);
  const signIn = useMemo(() => ({ key: signInKey }), [signInKey, client, injectedApi]);

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

  // Counts the sends and verifies started: a poll asked before one of them may describe the
  // code it replaced, so its answer is dropped.
  const actions = useRef(0);

  const loadStatus = useCallback(
    async (background = false, quiet = false): Promise<ApiResult<StatusBody> | null> => {
      const api = apiRef.current;
      if (!api) return null;
      if (!background && !quiet) dispatch({ type: 'STATUS_REQUESTED' });
      const epoch = actions.current;
      const res = await run((signal) => api.status(signal));
      if (!res) return null;
      if (background && epoch !== actions.current) return null;
      if (res.ok) {
        dispatch({ type: 'STATUS_LOADED', body: res.data, requestedAt: res.requestedAt, receivedAt: res.receivedAt, background });
        // A slow first reading of the server's clock (CORS preflight, new connection) is
        // taken again at once: countdowns are only as good as the offset.
        if (!background && stateRef.current.clockWindow === null && res.receivedAt - res.requestedAt > CLOCK_RESAMPLE_MS) {
          const again = await run((signal) => api.status(signal));
          if (again?.ok) {
            dispatch({ type: 'CLOCK_SAMPLE', serverTime: again.data.server_time, requestedAt: again.requestedAt, receivedAt: again.receivedAt });
          }
        }
      } else {
        dispatch({ type: 'STATUS_FAILED', error: res.error, background: background || quiet });
      }
      return res;
    },
    [run],
  );

  // One send or verify at a time: a code completed by typing and by WebOTP in the same
  // moment must not be checked twice (the state's phase changes only at the next render).
  const acting = useRef(false);

  const send = useCallback(async () => {
    const api = apiRef.current;
    if (!api || acting.current) return;
    const phase = stateRef.current.phase;
    if (phase === 'sending' || phase === 'verifying' || phase === 'checking') return;
    acting.current = true;
    actions.current += 1;
    try {
      dispatch({ type: 'SEND_REQUESTED' });
      const res = await run((signal) => api.send({}, signal));
      if (!res) return;
      if (res.ok) dispatch({ type: 'SEND_SUCCEEDED', body: res.data, requestedAt: res.requestedAt, receivedAt: res.receivedAt });
      else dispatch({ type: 'SEND_FAILED', error: res.error, receivedAt: res.receivedAt });
    } finally {
      acting.current = false;
    }
  }, [run]);

  const verify = useCallback(
    async (code: string) => {
      const { session, phase } = stateRef.current;
      const api = apiRef.current;
      if (!api || !session || phase !== 'code_sent' || acting.current) return;
      acting.current = true;
      actions.current += 1;
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
    [run],
  );

  const refresh = useCallback(async () => {
    await loadStatus(false);
  }, [loadStatus]);

  const sync = useCallback(async () => {
    await loadStatus(false, true);
  }, [loadStatus]);

  const retry = useCallback(async () => {
    const { failedAction } = stateRef.current;
    if (failedAction === 'send') return send();
    if (failedAction === 'verify' && lastCode.current) return verify(lastCode.current);
    await loadStatus(false);
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
    if (apiRef.current) void loadStatus(false);
    return () => controller.current.abort();
  }, [signIn, loadStatus]);

  // The code's time runs out on the server's clock: measured from the offset, not the local date.
  const session = state.session;
  const offset = state.clockOffsetMs;
  useEffect(() => {
    if (!session || state.phase !== 'code_sent') return;
    const ms = session.expiresAt - (Date.now() + offset);
    const id = setTimeout(() => dispatch({ type: 'SESSION_EXPIRED' }), Math.max(0, ms));
    return () => clearTimeout(id);
  }, [session, offset, state.phase]);

  // While a code is pending, ask now and then how its SMS is doing: every deliveryPollMs while
  // it is queued (DELIVERY_POLLS times at most), then every receiptPollMs while the server
  // reports receipts and none has said delivered, undelivered or failed, never past the code's
  // expiry. Nothing is asked while the page is hidden; a poll that is due when it shows again
  // goes at once. A poll without an answer doubles the next wait (and a retry_after_seconds
  // in a refusal is waited out).
  const visible = usePageVisible();
  const [pollsDone, pollDone] = useReducer((n: number) => n + 1, 0);
  const polls = useRef({ sessionId: '', queued: 0, failures: 0, lastAt: 0, notBefore: 0 });
  useEffect(() => {
    if (!session || state.phase !== 'code_sent' || !visible) return;
    if (polls.current.sessionId !== session.sessionId) {
      polls.current = { sessionId: session.sessionId, queued: 0, failures: 0, lastAt: Date.now(), notBefore: 0 };
    }
    const p = polls.current;
    const queued = session.status === 'pending' && p.queued < DELIVERY_POLLS;
    if (!queued && !awaitsReceipt(session)) return;
    const every = (queued ? deliveryPollMs : receiptPollMs) * 2 ** Math.min(p.failures, MAX_POLL_BACKOFF);
    const at = Math.max(p.lastAt + every, p.notBefore);
    // A receipt that comes after the code has expired changes nothing for the user.
    if (!queued && at + offset >= session.expiresAt) return;
    const id = setTimeout(async () => {
      p.lastAt = Date.now();
      if (queued) p.queued += 1;
      const res = await loadStatus(true);
      if (res?.ok) p.failures = 0;
      else if (res) {
        p.failures += 1;
        if (res.error.retryAfterSeconds) p.notBefore = res.receivedAt + res.error.retryAfterSeconds * 1000;
      }
      pollDone();
    }, Math.max(0, at - Date.now()));
    return () => clearTimeout(id);
  }, [session, state.phase, visible, offset, deliveryPollMs, receiptPollMs, loadStatus, pollsDone]);

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
      sync,
      retry,
      dismissError,
      signOut,
      api,
    }),
    [state, codeLength, send, verify, refresh, sync, retry, dismissError, signOut, api],
  );

  return <OtpContext.Provider value={value}>{children}</OtpContext.Provider>;
}

/** The SMS step's state and actions; use inside <OtpProvider>. */
export function useOtp(): OtpContextValue {
  const value = useContext(OtpContext);
  if (!value) throw new Error('useOtp() must be used inside <OtpProvider>.');
  return value;
}
