// The WebOTP API: on Android Chrome, an SMS ending with "@<this site's domain> #<code>" (the
// line sms_otp adds when sms_otp.webotp_domain is set) offers its code to the page. Browsers
// without it (desktop, Firefox, iOS Safari, which fills the code from the keyboard instead
// thanks to autocomplete="one-time-code") are detected and skipped.
import { useEffect, useRef } from 'react';

interface OtpCredentialLike {
  code?: string;
}

/** True when this browser has the WebOTP API. */
export function hasWebOtp(): boolean {
  return (
    typeof window !== 'undefined' &&
    'OTPCredential' in window &&
    typeof navigator !== 'undefined' &&
    typeof navigator.credentials?.get === 'function'
  );
}

/** Waits for the code of an incoming SMS; null when unsupported, aborted, or refused. */
export async function receiveSmsCode(signal: AbortSignal): Promise<string | null> {
  if (!hasWebOtp() || signal.aborted) return null;
  try {
    const credential = (await navigator.credentials.get({
      otp: { transport: ['sms'] },
      signal,
    } as CredentialRequestOptions)) as OtpCredentialLike | null;
    return credential?.code ?? null;
  } catch {
    return null; // aborted, timed out, or the user declined
  }
}

/**
 * While `active`, listens for the SMS code and hands it to onCode. Stops listening (aborts the
 * pending request) when it becomes inactive, when `key` changes, or on unmount.
 */
export function useWebOtp(active: boolean, key: string | null, onCode: (code: string) => void): void {
  const latest = useRef(onCode);
  latest.current = onCode;
  useEffect(() => {
    if (!active || !hasWebOtp()) return;
    const controller = new AbortController();
    receiveSmsCode(controller.signal).then((code) => {
      if (code && !controller.signal.aborted) latest.current(code);
    });
    return () => controller.abort();
  }, [active, key]);
}
