// Which login a token belongs to. Tokens are refreshed during a login (Supabase every hour,
// say): a refreshed token of the same login changes nothing about its SMS step, since the
// server ties codes and their verification to the login (sms_otp.login_claim), not the token.

/** The JWT's payload, or null when the token is not a readable JWT. */
function payloadOf(token: string): Record<string, unknown> | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const base64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(
      Array.from(atob(base64), (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join(''),
    );
    const payload: unknown = JSON.parse(json);
    return payload !== null && typeof payload === 'object' && !Array.isArray(payload) ? (payload as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function claimText(value: unknown): string | null {
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number') return String(value);
  return null;
}

/**
 * A key equal for every token of one login: its user ("sub") and the claim naming the login.
 * A token without both is its own key, so any change of it counts as a new login.
 */
export function loginKey(token: string, loginClaim = 'session_id'): string {
  const payload = payloadOf(token);
  const sub = claimText(payload?.sub);
  const login = claimText(payload?.[loginClaim]);
  return sub !== null && login !== null ? JSON.stringify(['login', sub, login]) : JSON.stringify(['token', token]);
}
