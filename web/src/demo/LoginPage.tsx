import { useState, type FormEvent } from 'react';
import { login, type DemoAuth } from './auth';

export function LoginPage({ apiUrl, onSignedIn }: { apiUrl: string; onSignedIn: (auth: DemoAuth) => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError('');
    const result = await login(apiUrl, email, password);
    setBusy(false);
    if (result.ok) onSignedIn(result.auth);
    else setError(result.message);
  };

  return (
    <main className="demo-center">
      <form className="demo-card" onSubmit={onSubmit} aria-labelledby="login-title">
        <h1 id="login-title">Sign in</h1>
        <p className="demo-muted">The demo application’s own login. The SMS step comes after it.</p>
        <label htmlFor="email">Email</label>
        <input id="email" type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} required />
        <label htmlFor="password">Password</label>
        <input
          id="password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
        />
        <div role="alert" className={error ? 'demo-error' : undefined}>
          {error}
        </div>
        <button type="submit" className="demo-primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p className="demo-note">
          Demo users: <code>alice@example.com</code> / <code>alice-password</code> (SMS code on),{' '}
          <code>bob@example.com</code> / <code>bob-password</code> (SMS code off); the operator dashboard:{' '}
          <code>operator@example.com</code> / <code>operator-password</code>.
        </p>
      </form>
    </main>
  );
}
