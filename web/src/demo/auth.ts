// The demo's stand-in for an application's own login: POST /rpc/login in schema "demo"
// (test/demo/login.sql) returns a PostgREST JWT. The token lives in sessionStorage, so a
// reload keeps the sign-in (and the overlay resumes the pending code).
import { PostgrestClient } from '@supabase/postgrest-js';

export interface DemoAuth {
  token: string;
  userId: string;
  email: string;
}

const KEY = 'sms_otp_demo_auth';

function tokenClaims(token: string): Record<string, unknown> {
  try {
    const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    return typeof payload === 'object' && payload !== null ? payload : {};
  } catch {
    return {};
  }
}

function tokenExpiry(token: string): number | null {
  const { exp } = tokenClaims(token);
  return typeof exp === 'number' ? exp * 1000 : null;
}

/** An operator's token (the demo's operator account) has the service role: it opens the
 *  dashboard, and has no SMS step. Only the server's answers decide what it may read. */
export function isOperator(auth: DemoAuth | null): boolean {
  return auth !== null && tokenClaims(auth.token).role === 'service_role';
}

export function loadAuth(): DemoAuth | null {
  try {
    const auth = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as DemoAuth | null;
    if (!auth?.token) return null;
    const exp = tokenExpiry(auth.token);
    // An expired token would only earn 401s; the overlay handles one that expires later.
    if (exp !== null && exp <= Date.now()) return null;
    return auth;
  } catch {
    return null;
  }
}

export function saveAuth(auth: DemoAuth): void {
  sessionStorage.setItem(KEY, JSON.stringify(auth));
}

export function clearAuth(): void {
  sessionStorage.removeItem(KEY);
}

export type LoginResult = { ok: true; auth: DemoAuth } | { ok: false; message: string };

export async function login(apiUrl: string, email: string, password: string): Promise<LoginResult> {
  const client = new PostgrestClient(apiUrl, { schema: 'demo' });
  const { data, error, status } = await client.rpc('login', { email, password });
  if (status === 0) return { ok: false, message: 'We cannot reach the server. Check your connection and try again.' };
  if (status === 401) return { ok: false, message: 'Wrong email or password.' };
  if (error || !data?.token) return { ok: false, message: 'Signing in failed. Please try again.' };
  return { ok: true, auth: { token: data.token, userId: data.user_id, email: email.trim().toLowerCase() } };
}
