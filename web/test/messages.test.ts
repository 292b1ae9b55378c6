import { describe, expect, it } from 'vitest';
import { classifyError, type OtpError } from '../src/otp/errors';
import { describeOtpError, describeUndelivered } from '../src/otp/messages';

const ctx = { waitSeconds: 0, codeLength: 6 };

function say(error: OtpError, waitSeconds = 0) {
  return describeOtpError(error, { ...ctx, waitSeconds });
}

describe('describeOtpError', () => {
  it('says how long to wait after a rate limit, then that a code can be asked for', () => {
    const cooldown = classifyError(429, { error: 'rate_limited', limit: 'cooldown', retry_after_seconds: 27 });
    expect(say(cooldown, 27)).toEqual({ text: 'Please wait 27 seconds before asking for another code.', recovery: 'send' });
    const perDay = classifyError(429, { error: 'rate_limited', limit: 'user_per_day', retry_after_seconds: 3700 });
    expect(say(perDay, 3700).text).toBe('Too many codes were requested. You can ask for a new one in 1 hour 1 minute 40 seconds.');
    expect(say(cooldown, 0)).toEqual({ text: 'You can ask for a new code now.', recovery: 'send' });
    const captcha = classifyError(429, { error: 'rate_limited', limit: 'captcha_per_minute', retry_after_seconds: 42 });
    expect(say(captcha, 42)).toEqual({ text: 'Too many CAPTCHA attempts failed. You can try again in 42 seconds.', recovery: 'send' });
  });

  it('counts the attempts left after a wrong code', () => {
    const wrong = (n: number) => classifyError(400, { verified: false, reason: 'invalid_code', attempts_remaining: n });
    expect(say(wrong(3))).toEqual({ text: 'That code is not right. 3 attempts left.', recovery: 'reenter' });
    expect(say(wrong(1)).text).toBe('That code is not right. 1 attempt left.');
  });

  it.each([
    [403, { verified: false, reason: 'locked' }, 'Too many wrong tries for this code. Ask for a new one.', 'send'],
    [400, { verified: false, reason: 'expired' }, 'This code has expired. Ask for a new one.', 'send'],
    [409, { verified: false, reason: 'already_used' }, 'This code has already been used.', 'refresh'],
    [409, { verified: false, reason: 'superseded' }, 'A newer code was sent. Enter the code from the latest message.', 'refresh'],
    [409, { verified: false, reason: 'failed' }, 'We could not deliver the text message. Ask for a new code.', 'send'],
    [503, { code: 'no_provider' }, 'Text messages cannot be sent right now. Please try again in a few minutes.', 'retry'],
    [503, { code: 'provider_unavailable' }, 'The code cannot be checked right now. Please try again in a moment.', 'retry'],
    [503, { verified: false, reason: 'provider_unavailable', attempts_remaining: 3 }, 'The code cannot be checked right now. Please try again in a moment.', 'retry'],
    [409, { verified: false, reason: 'code_pending', attempts_remaining: 5 }, 'Your code is still on its way to us. Please try again in a moment.', 'retry'],
    [409, { verified: false, reason: 'check_in_progress', attempts_remaining: 5 }, 'Your code is being checked. Please try again in a moment.', 'retry'],
    [0, { message: 'TypeError: Failed to fetch' }, 'We cannot reach the server. Check your connection and try again.', 'retry'],
    [401, { code: 'not_authenticated' }, 'Your sign-in has expired. Please sign in again.', 'sign_out'],
    [401, { code: 'PGRST301', message: 'JWT expired' }, 'Your sign-in has expired. Please sign in again.', 'sign_out'],
    [404, { code: 'session_not_found' }, 'That code request has ended. Ask for a new code.', 'send'],
    [400, { code: 'invalid_code_format' }, 'Enter all 6 digits of the code.', 'reenter'],
    [409, { code: 'otp_not_enabled' }, 'Text-message codes are not turned on for this account.', 'refresh'],
    [409, { code: 'no_phone' }, 'This account has no phone number for text-message codes. Please contact support.', 'sign_out'],
    [500, { code: 'XX000', message: 'boom' }, 'Something went wrong on our side. Please try again.', 'retry'],
    [418, { message: 'I am a teapot' }, 'I am a teapot', 'retry'],
  ])('%s %j', (status, body, text, recovery) => {
    expect(say(classifyError(status, body))).toEqual({ text, recovery });
  });

  it('says how long a lockout lasts', () => {
    const e = classifyError(429, { error: 'locked_out', retry_after_seconds: 900 });
    expect(say(e, 900).text).toBe('Too many wrong codes. For your security, try again in 15 minutes.');
    expect(say(e, 0).text).toBe('You can ask for a new code now.');
  });

  it('says when the receipts report that the code did not arrive', () => {
    expect(describeUndelivered('+14•••••••01')).toEqual({
      text: 'We could not deliver the code to +14•••••••01. Check the number with support, or ask for a new code.',
      recovery: 'send',
    });
    expect(describeUndelivered(null).text).toBe(
      'We could not deliver the code to your phone. Check the number with support, or ask for a new code.',
    );
  });
});
