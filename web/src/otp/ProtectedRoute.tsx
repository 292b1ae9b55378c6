// ProtectedRoute: shows its children only once the SMS step is done (or the account has
// none). Until then the children are not even mounted, so nothing protected renders or
// loads behind the overlay. Router-agnostic: pass what to show to a signed-out visitor.
import type { ReactNode } from 'react';
import { OtpOverlay, type OtpOverlayProps } from './OtpOverlay.js';
import { useOtp } from './OtpProvider.js';

export interface ProtectedRouteProps {
  children: ReactNode;
  /** Shown when nobody is signed in, e.g. <Navigate to="/login" />. */
  unauthenticated?: ReactNode;
  /** Shown while the first otp_status() call is on its way. */
  loading?: ReactNode;
  /** Shown behind the overlay (inert) while the step is pending. */
  placeholder?: ReactNode;
  /** Passed to the overlay. */
  overlay?: OtpOverlayProps;
}

export function ProtectedRoute({ children, unauthenticated = null, loading, placeholder = null, overlay }: ProtectedRouteProps) {
  const { otpVerified, state } = useOtp();
  if (state.phase === 'signed_out') return <>{unauthenticated}</>;
  if (otpVerified) return <>{children}</>;
  if (state.phase === 'checking' && state.otpRequired === null) {
    return <>{loading ?? <p role="status">Checking your sign-in…</p>}</>;
  }
  return (
    <>
      {placeholder}
      <OtpOverlay {...overlay} />
    </>
  );
}
