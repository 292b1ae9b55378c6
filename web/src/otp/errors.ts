// Every way an sms_otp call can fail, as one typed value.
//
// The API reports failures in two shapes, and both arrive as a non-2xx HTTP status:
//   - raised errors (nothing was saved): PostgREST's {code, message, details, hint};
//   - returned errors (the attempt was saved, so the function returned):
//     {error: "rate_limited" | "locked_out", retry_after_seconds, ...} from otp_send, and
//     {verified: false, reason, attempts_remaining, ...} from otp_verify.
// A status of 0 means the request never got an answer (offline, server down, CORS).

export type OtpErrorKind =
  | 'rate_limited' // too many sends, or the resend cooldown; wait retryAfterSeconds
  | 'locked_out' // too many wrong codes across requests; wait retryAfterSeconds
  | 'invalid_code' // wrong code; attemptsRemaining left for this request
  | 'invalid_code_format' // not the right number of digits
  | 'expired' // the code's time ran out
  | 'locked' // this request used up its attempts
  | 'already_used' // the code was verified before
  | 'superseded' // a newer code replaced this one
  | 'delivery_failed' // no provider could deliver the message
  | 'session_not_found' // no such code request for this user
  | 'no_provider' // no SMS provider is enabled
  | 'provider_unavailable' // the provider that keeps the code cannot check it now
  | 'code_pending' // the code has not left yet as far as the server knows; try the same code again
  | 'check_in_progress' // this code is being checked right now; try again in a moment
  | 'not_authenticated' // no valid sign-in (missing or expired token)
  | 'otp_not_enabled' // the account does not use SMS codes
  | 'no_phone' // the account has no phone number
  | 'invalid_phone' // the number given is not a phone number
  | 'phone_mismatch' // another number than the account's, and no fresh code to move to it
  | 'reverify_required' // changing or removing the number needs a code to the current one first
  | 'captcha' // a send needs a CAPTCHA token the server accepts (missing, rejected or used before)
  | 'captcha_unavailable' // the CAPTCHA cannot be checked right now
  | 'network' // no answer at all
  | 'server' // any other 5xx
  | 'unknown';

export interface OtpError {
  kind: OtpErrorKind;
  /** HTTP status, 0 when there was no answer. */
  status: number;
  /** The machine code the server sent (error, reason or PostgREST code), if any. */
  code?: string;
  /** The server's own human message, used only where no better text is known. */
  serverMessage?: string;
  /** From the body (browsers cannot read Retry-After through PostgREST's CORS). */
  retryAfterSeconds?: number;
  /** Which limit applied to a rate_limited answer: cooldown, user_per_minute, ... */
  limit?: string;
  attemptsRemaining?: number;
}

const REASONS: Record<string, OtpErrorKind> = {
  invalid_code: 'invalid_code',
  expired: 'expired',
  locked: 'locked',
  already_used: 'already_used',
  superseded: 'superseded',
  failed: 'delivery_failed',
  provider_unavailable: 'provider_unavailable',
  code_pending: 'code_pending',
  check_in_progress: 'check_in_progress',
};

const CODES: Record<string, OtpErrorKind> = {
  not_authenticated: 'not_authenticated',
  no_provider: 'no_provider',
  provider_unavailable: 'provider_unavailable',
  otp_not_enabled: 'otp_not_enabled',
  no_phone: 'no_phone',
  invalid_phone: 'invalid_phone',
  phone_mismatch: 'phone_mismatch',
  reverify_required: 'reverify_required',
  session_not_found: 'session_not_found',
  invalid_session_id: 'session_not_found',
  invalid_code_format: 'invalid_code_format',
  captcha_required: 'captcha',
  captcha_failed: 'captcha',
  captcha_unavailable: 'captcha_unavailable',
};

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.ceil(value) : undefined;
}

/** Turns an HTTP status and the parsed body of a failed call into an OtpError. */
export function classifyError(status: number, payload: unknown): OtpError {
  const body = record(payload);
  const serverMessage = str(body.message);
  const base = { status, serverMessage };

  if (status === 0) return { ...base, kind: 'network' };

  const error = str(body.error);
  if (error === 'rate_limited' || error === 'locked_out') {
    return {
      ...base,
      kind: error,
      code: error,
      limit: str(body.limit),
      retryAfterSeconds: count(body.retry_after_seconds),
    };
  }

  const reason = str(body.reason);
  if (body.verified === false && reason) {
    return {
      ...base,
      kind: REASONS[reason] ?? 'unknown',
      code: reason,
      attemptsRemaining: count(body.attempts_remaining),
    };
  }

  const code = str(body.code);
  if (code && CODES[code]) return { ...base, kind: CODES[code], code };
  // PostgREST's own JWT errors (PGRST301 expired or invalid, PGRST302 missing) are 401s.
  if (status === 401 || code?.startsWith('PGRST30')) return { ...base, kind: 'not_authenticated', code };
  if (status === 429) return { ...base, kind: 'rate_limited', code };
  if (status >= 500) return { ...base, kind: 'server', code };
  return { ...base, kind: 'unknown', code };
}
