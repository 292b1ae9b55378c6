import { Link } from 'react-router';
import { OtpSettings, useOtp } from '../otp';
import type { DemoAuth } from './auth';

/** Account settings: the package's SMS codes panel, as an application would place it. */
export function SettingsPage({ auth }: { auth: DemoAuth }) {
  const otp = useOtp();
  return (
    <div className="demo-shell">
      <header className="demo-header">
        <span className="demo-brand">sms_otp demo</span>
        <nav className="demo-nav" aria-label="Pages">
          <Link to="/">Home</Link>
          <Link to="/settings" aria-current="page">
            Settings
          </Link>
        </nav>
        <span className="demo-user">{auth.email}</span>
        <button type="button" className="demo-secondary" onClick={() => otp.signOut()}>
          Sign out
        </button>
      </header>
      <main className="demo-main">
        <h1>Security settings</h1>
        <OtpSettings defaultCountry="US" />
      </main>
    </div>
  );
}
