// What the overlay tells a person for each error, and what it offers them to do next.
// Every error has a way forward; signing out is always offered besides.
import { spellDuration } from './clock.js';
import type { OtpError } from './errors.js';

export type Recovery =
  | 'send' // ask for a new code (the overlay's send button, enabled once any wait is over)
  | 'reenter' // type the code again (the field is cleared and focused)
  | 'retry' // repeat the call that failed
  | 'refresh' // ask the server where things stand
  | 'sign_out'; // the sign-in is gone or cannot use SMS codes: sign in again

export interface OtpMessage {
  text: string;
  recovery: Recovery;
}

export interface MessageContext {
  /** Seconds until a send is allowed again (0 when it is allowed now). */
  waitSeconds: number;
  codeLength: number;
}

function attempts(n: number | undefined): string {
  if (n === undefined) return '';
  return n === 1 ? ' 1 attempt left.' : ` ${n} attempts left.`;
}

export function describeOtpError(error: OtpError, ctx: MessageContext): OtpMessage {
  const wait = spellDuration(ctx.waitSeconds);
  switch (error.kind) {
    case 'rate_limited':
      if (ctx.waitSeconds <= 0) return { text: 'You can ask for a new code now.', recovery: 'send' };
      return {
        text:
          error.limit === 'cooldown'
            ? `Please wait ${wait} before asking for another code.`
            : error.limit === 'captcha_per_minute'
              ? `Too many CAPTCHA attempts failed. You can try again in ${wait}.`
              : `Too many codes were requested. You can ask for a new one in ${wait}.`,
        recovery: 'send',
      };
    case 'locked_out':
      if (ctx.waitSeconds <= 0) return { text: 'You can ask for a new code now.', recovery: 'send' };
      return { text: `Too many wrong codes. For your security, try again in ${wait}.`, recovery: 'send' };
    case 'invalid_code':
      return { text: `That code is not right.${attempts(error.attemptsRemaining)}`, recovery: 'reenter' };
    case 'invalid_code_format':
      return { text: `Enter all ${ctx.codeLength} digits of the code.`, recovery: 'reenter' };
    case 'expired':
      return { text: 'This code has expired. Ask for a new one.', recovery: 'send' };
    case 'locked':
      return { text: 'Too many wrong tries for this code. Ask for a new one.', recovery: 'send' };
    case 'already_used':
      return { text: 'This code has already been used.', recovery: 'refresh' };
    case 'superseded':
      return { text: 'A newer code was sent. Enter the code from the latest message.', recovery: 'refresh' };
    case 'delivery_failed':
      return { text: 'We could not deliver the text message. Ask for a new code.', recovery: 'send' };
    case 'session_not_found':
      return { text: 'That code request has ended. Ask for a new code.', recovery: 'send' };
    case 'no_provider':
      return { text: 'Text messages cannot be sent right now. Please try again in a few minutes.', recovery: 'retry' };
    case 'provider_unavailable':
      return { text: 'The code cannot be checked right now. Please try again in a moment.', recovery: 'retry' };
    case 'code_pending':
      return { text: 'Your code is still on its way to us. Please try again in a moment.', recovery: 'retry' };
    case 'check_in_progress':
      return { text: 'Your code is being checked. Please try again in a moment.', recovery: 'retry' };
    case 'not_authenticated':
      return { text: 'Your sign-in has expired. Please sign in again.', recovery: 'sign_out' };
    case 'otp_not_enabled':
      return { text: 'Text-message codes are not turned on for this account.', recovery: 'refresh' };
    case 'no_phone':
      return {
        text: 'This account has no phone number for text-message codes. Please contact support.',
        recovery: 'sign_out',
      };
    case 'invalid_phone':
      return { text: 'That does not look like a phone number. Check the country and the number.', recovery: 'reenter' };
    case 'phone_mismatch':
      return { text: 'That is not the phone number on this account.', recovery: 'refresh' };
    case 'reverify_required':
      return { text: 'First confirm it’s you with a code sent to your current number.', recovery: 'send' };
    case 'captcha':
      return { text: 'Please complete the check that you are not a robot, then ask for the code again.', recovery: 'send' };
    case 'captcha_unavailable':
      return { text: 'We cannot check that you are not a robot right now. Please try again in a moment.', recovery: 'retry' };
    case 'network':
      return { text: 'We cannot reach the server. Check your connection and try again.', recovery: 'retry' };
    case 'server':
      return { text: 'Something went wrong on our side. Please try again.', recovery: 'retry' };
    case 'unknown':
      return { text: error.serverMessage ?? 'Something went wrong. Please try again.', recovery: 'retry' };
  }
}

/**
 * What the overlay says when the provider's receipts report that the pending code's SMS did
 * not reach the phone (delivery undelivered or failed). The code field stays (a late SMS can
 * still be entered); the way forward is a new code, once any wait is over.
 */
export function describeUndelivered(phoneHint: string | null): OtpMessage {
  return {
    text: `We could not deliver the code to ${phoneHint ?? 'your phone'}. Check the number with support, or ask for a new code.`,
    recovery: 'send',
  };
}
