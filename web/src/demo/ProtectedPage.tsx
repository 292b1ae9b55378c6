import { Link } from 'react-router';
import { useOtp } from '../otp';
import type { DemoAuth } from './auth';

export function ProtectedPage({ auth }: { auth: DemoAuth }) {
  const otp = useOtp();
  const viaSms = otp.state.phase === 'verified';
  return (
    <div className="demo-shell">
      <header className="demo-header">
        <span className="demo-brand">sms_otp demo</span>
        <nav className="demo-nav" aria-label="Pages">
          <Link to="/" aria-current="page">
            Home
          </Link>
          <Link to="/settings">Settings</Link>
        </nav>
        <span className="demo-user">{auth.email}</span>
        <button type="button" className="demo-secondary" onClick={() => otp.signOut()}>
          Sign out
        </button>
      </header>
      <main className="demo-main">
        <h1>Protected page</h1>
        <p className="demo-ok" data-testid="access">
          {viaSms ? 'You passed the SMS step: full access.' : 'This account does not use SMS codes: full access.'}
        </p>
        <p className="demo-muted">
          Everything here renders only after <code>otp_status()</code> says the step is done (or not needed). An
          application's own row-level security can require it on the server too, with{' '}
          <code>sms_otp.otp_is_verified()</code>.
        </p>
      </main>
    </div>
  );
}

/** What sits behind the overlay: the page's frame, with nothing protected in it. */
export function LockedShell({ email }: { email: string }) {
  return (
    <div className="demo-shell">
      <header className="demo-header">
        <span className="demo-brand">sms_otp demo</span>
        <span className="demo-user">{email}</span>
      </header>
      <main className="demo-main demo-locked">
        <h1>Protected page</h1>
        <p className="demo-muted">Waiting for the SMS code…</p>
      </main>
    </div>
  );
}
