import { useCallback, useState } from 'react';
import { Navigate, Route, Routes, useNavigate } from 'react-router';
import { OtpProvider, ProtectedRoute } from '../otp';
import { clearAuth, loadAuth, saveAuth, type DemoAuth } from './auth';
import { LoginPage } from './LoginPage';
import { LockedShell, ProtectedPage } from './ProtectedPage';

export interface AppProps {
  apiUrl: string;
  /** The mock SMS provider's inbox page, linked from the overlay in the demo. */
  inboxUrl?: string;
}

export function App({ apiUrl, inboxUrl }: AppProps) {
  const [auth, setAuth] = useState<DemoAuth | null>(loadAuth);
  const navigate = useNavigate();

  const signIn = useCallback(
    (next: DemoAuth) => {
      saveAuth(next);
      setAuth(next);
      navigate('/', { replace: true });
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

  return (
    <OtpProvider apiUrl={apiUrl} token={auth?.token ?? null} onSignOut={signOut}>
      <Routes>
        <Route path="/login" element={auth ? <Navigate to="/" replace /> : <LoginPage apiUrl={apiUrl} onSignedIn={signIn} />} />
        <Route
          path="/"
          element={
            <ProtectedRoute
              unauthenticated={<Navigate to="/login" replace />}
              placeholder={auth && <LockedShell email={auth.email} />}
              overlay={{ extra }}
            >
              {auth && <ProtectedPage auth={auth} />}
            </ProtectedRoute>
          }
        />
        <Route path="*" element={<Navigate to="/" replace />} />
      </Routes>
    </OtpProvider>
  );
}
