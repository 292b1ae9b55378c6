import { lazy, Suspense, useCallback, useState, type ReactNode } from 'react';
import { Navigate, Route, Routes, useNavigate } from 'react-router';
import { OtpProvider, ProtectedRoute } from '../otp';
import { clearAuth, isOperator, loadAuth, saveAuth, type DemoAuth } from './auth';
import { LoginPage } from './LoginPage';
import { LockedShell, ProtectedPage } from './ProtectedPage';
import { SettingsPage } from './SettingsPage';

// Loaded when an operator opens it: end users never download the charts.
const DashboardPage = lazy(() => import('../dashboard/DashboardPage').then((m) => ({ default: m.DashboardPage })));

export interface AppProps {
  apiUrl: string;
  /** The mock SMS provider's inbox page, linked from the overlay in the demo. */
  inboxUrl?: string;
}

export function App({ apiUrl, inboxUrl }: AppProps) {
  const [auth, setAuth] = useState<DemoAuth | null>(loadAuth);
  const navigate = useNavigate();
  // The operator goes to the dashboard and has no SMS step; end users go to the protected page.
  const operator = isOperator(auth);
  const home = operator ? '/dashboard' : '/';

  const signIn = useCallback(
    (next: DemoAuth) => {
      saveAuth(next);
      setAuth(next);
      navigate(isOperator(next) ? '/dashboard' : '/', { replace: true });
    },
    [navigate],
  );
  const signOut = useCallback(() => {
    clearAuth();
    setAuth(null);
    navigate('/login', { replace: true });
  }, [navigate]);

  const extra = inboxUrl ? (
    <>
      Demo: the text message lands in the{' '}
      <a href={inboxUrl} target="_blank" rel="noreferrer">
        SMS inbox
      </a>
      .
    </>
  ) : undefined;

  // A page of the end user's: behind the code step; an operator is sent to the dashboard.
  const endUserPage = (page: ReactNode) =>
    operator ? (
      <Navigate to="/dashboard" replace />
    ) : (
      <ProtectedRoute
        unauthenticated={<Navigate to="/login" replace />}
        placeholder={auth && <LockedShell email={auth.email} />}
        overlay={{ extra }}
      >
        {page}
      </ProtectedRoute>
    );

  return (
    <OtpProvider apiUrl={apiUrl} token={operator ? null : (auth?.token ?? null)} onSignOut={signOut}>
      <Routes>
        <Route path="/login" element={auth ? <Navigate to={home} replace /> : <LoginPage apiUrl={apiUrl} onSignedIn={signIn} />} />
        {/* Open to any signed-in user: the server refuses an end user's token, and the page says so. */}
        <Route
          path="/dashboard"
          element={
            auth ? (
              <Suspense fallback={<p className="demo-center">Loading the dashboard…</p>}>
                <DashboardPage apiUrl={apiUrl} token={auth.token} email={auth.email} onSignOut={signOut} />
              </Suspense>
            ) : (
              <Navigate to="/login" replace />
            )
          }
        />
        <Route path="/" element={endUserPage(auth && <ProtectedPage auth={auth} />)} />
        <Route path="/settings" element={endUserPage(auth && <SettingsPage auth={auth} />)} />
        <Route path="*" element={<Navigate to={home} replace />} />
      </Routes>
    </OtpProvider>
  );
}
