// The sms_otp calls over @supabase/postgrest-js, each answering a typed result
// instead of throwing: {ok: true, data} or {ok: false, error} (see errors.ts). The calls go
// through a PostgrestClient made from a URL, or through a client the application already has:
// its own PostgrestClient or a SupabaseClient.
import { PostgrestClient } from '@supabase/postgrest-js';
import { classifyError, type OtpError } from './errors.js';

/**
 * Where the code's SMS is, as the provider's receipts report it: queued (not yet handed to a
 * provider), accepted and sent (on its way), then delivered, undelivered (the carrier could
 * not reach the phone) or failed. Receipts may come seconds or minutes after the send.
 */
export type DeliveryStatus = 'queued' | 'accepted' | 'sent' | 'delivered' | 'undelivered' | 'failed';

/** The active code request as otp_status() describes it. Times are the server's ISO 8601. */
export interface StatusSessionBody {
  session_id: string;
  status: 'pending' | 'sent';
  expires_at: string;
  resend_available_at: string;
  attempts_remaining: number;
  /** Absent (or null) from a server that does not report receipts. */
  delivery?: DeliveryStatus | null;
}

/** This login's pending enrolment (a code sent to a number being turned on), as otp_status()
 *  describes it. */
export interface StatusEnrolmentBody extends StatusSessionBody {
  /** The number being enrolled, masked. */
  phone_hint: string | null;
}

/** What otp_status() returns. */
export interface StatusBody {
  otp_required: boolean;
  verified: boolean;
  phone_hint?: string | null;
  session: StatusSessionBody | null;
  /** This login's pending enrolment (absent from servers before sms_otp 1.1). */
  enrolment?: StatusEnrolmentBody | null;
  /** With codes on: until when this login may change or remove its number without a new code. */
  reverify_until?: string | null;
  next_send_at?: string;
  server_time: string;
}

/** What otp_send() returns on success. */
export interface SendBody {
  session_id: string;
  expires_at: string;
  resend_available_at: string;
  attempts_remaining: number;
  /** The server's clock when it set the deadlines above (absent from sms_otp 1.0). */
  server_time?: string;
  /** 'enrol' when the code went to a new number to turn it on (absent for a sign-in code). */
  purpose?: 'enrol';
  /** For an enrolment: the number the code went to, masked. */
  phone_hint?: string;
}

/** What otp_verify() returns on success. */
export interface VerifyBody {
  verified: true;
  session_id?: string;
  /** True when the code enrolled its number: it is the account's number now, codes are on. */
  enrolled?: boolean;
  phone_hint?: string;
}

/** What otp_disable() returns. */
export interface DisableBody {
  otp_enabled: false;
}

export type ApiResult<T> =
  | { ok: true; status: number; data: T; requestedAt: number; receivedAt: number }
  | { ok: false; status: number; error: OtpError; requestedAt: number; receivedAt: number };

export interface OtpApi {
  status(signal?: AbortSignal): Promise<ApiResult<StatusBody>>;
  send(options?: { phone?: string; providerHint?: string }, signal?: AbortSignal): Promise<ApiResult<SendBody>>;
  verify(sessionId: string, code: string, signal?: AbortSignal): Promise<ApiResult<VerifyBody>>;
  /** Turns SMS codes off and forgets the number (needs a code entered moments before).
   *  Optional so that an OtpApi written for the overlay alone stays one. */
  disable?(signal?: AbortSignal): Promise<ApiResult<DisableBody>>;
}

/** The answer of one RPC call, as postgrest-js gives it (never thrown). */
export interface OtpRpcResponse {
  data: unknown;
  error: unknown;
  status: number;
}

/** One RPC call being built: postgrest-js's PostgrestFilterBuilder has this shape. */
export interface OtpRpcRequest extends PromiseLike<OtpRpcResponse> {
  abortSignal(signal: AbortSignal): OtpRpcRequest;
  setHeader(name: string, value: string): OtpRpcRequest;
}

/**
 * What the overlay needs of an application's client: `schema(name).rpc(fn, args)`. A
 * PostgrestClient from @supabase/postgrest-js and a SupabaseClient from @supabase/supabase-js
 * both have it, typed with a database schema or not.
 */
export interface OtpRpcClient {
  schema(name: string): { rpc(fn: string, args?: Record<string, unknown>): OtpRpcRequest };
}

interface OtpApiCommonOptions {
  /**
   * The signed-in user's JWT; PostgREST reads the user from its "sub" claim. Sent as
   * `Authorization: Bearer <token>` on every call. With a client of its own it may be left
   * out: the client's headers, or a Supabase client's session, authorize the calls then.
   */
  token?: string | null;
  /** Schema the extension lives in (the Content-Profile header). */
  schema?: string;
  /** Extra headers on every call, e.g. Supabase's apikey. */
  headers?: Record<string, string>;
  /**
   * When the server requires a CAPTCHA (sms_otp.captcha): called before each otp_send for a
   * fresh token of the application's Turnstile or hCaptcha widget, sent as the
   * X-Captcha-Token header of that call only. Each token is good for one send. Nothing
   * (undefined, null, '') sends no header, and the server answers captcha_required.
   */
  captchaToken?: () => string | null | undefined | Promise<string | null | undefined>;
}

export type OtpApiOptions = OtpApiCommonOptions &
  (
    | {
        /** PostgREST's base URL, e.g. http://127.0.0.1:3000 (Supabase: https://<project>.supabase.co/rest/v1). */
        url: string;
        fetch?: typeof fetch;
        client?: undefined;
      }
    | {
        /** The application's PostgrestClient or SupabaseClient. */
        client: OtpRpcClient;
        url?: undefined;
        fetch?: undefined;
      }
  );

/** An aborted call: the caller went away and wants no result. */
export class OtpAbortError extends Error {
  constructor() {
    super('The request was cancelled.');
    this.name = 'AbortError';
  }
}

function isAbort(value: unknown): boolean {
  const e = value as { name?: string; code?: string } | null;
  return e?.name === 'AbortError' || e?.code === 'ABORT_ERR';
}

export function createOtpApi(options: OtpApiOptions): OtpApi {
  const schema = options.schema ?? 'sms_otp';
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  const client: OtpRpcClient =
    options.client ?? new PostgrestClient(options.url, { fetch: options.fetch });
  const rpc = (fn: string, args: Record<string, unknown>, extra: Record<string, string>) => {
    let builder = client.schema(schema).rpc(fn, args);
    for (const [name, value] of Object.entries({ ...headers, ...extra })) builder = builder.setHeader(name, value);
    return builder;
  };

  async function call<T>(
    fn: string,
    args: Record<string, unknown>,
    signal?: AbortSignal,
    extra: Record<string, string> = {},
  ): Promise<ApiResult<T>> {
    const requestedAt = Date.now();
    let builder = rpc(fn, args, extra);
    if (signal) builder = builder.abortSignal(signal);
    // postgrest-js hands back a non-2xx body (parsed JSON) as `error`, and a request that got
    // no answer as status 0: both become an OtpError.
    const res = await builder;
    const receivedAt = Date.now();
    if (signal?.aborted || (res.status === 0 && isAbort(res.error))) throw new OtpAbortError();
    if (res.error || res.status < 200 || res.status >= 300) {
      return { ok: false, status: res.status, error: classifyError(res.status, res.error), requestedAt, receivedAt };
    }
    return { ok: true, status: res.status, data: res.data as T, requestedAt, receivedAt };
  }

  return {
    status: (signal) => call<StatusBody>('otp_status', {}, signal),
    send: async (opts = {}, signal) => {
      const args: Record<string, unknown> = {};
      if (opts.phone) args.phone = opts.phone;
      if (opts.providerHint) args.provider_hint = opts.providerHint;
      const captcha = options.captchaToken ? await options.captchaToken() : undefined;
      if (signal?.aborted) throw new OtpAbortError();
      // A header value cannot hold line breaks; such a token is no token (the server says so).
      const extra: Record<string, string> =
        typeof captcha === 'string' && captcha !== '' && !/[\r\n\0]/.test(captcha) ? { 'X-Captcha-Token': captcha } : {};
      return call<SendBody>('otp_send', args, signal, extra);
    },
    verify: (sessionId, code, signal) => call<VerifyBody>('otp_verify', { session_id: sessionId, otp: code }, signal),
    disable: (signal) => call<DisableBody>('otp_disable', {}, signal),
  };
}
