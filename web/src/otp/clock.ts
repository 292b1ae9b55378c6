// Server time on the client. Deadlines (expires_at, resend_available_at, next_send_at) are the
// server's; the client clock may be off by minutes or hours, so every countdown is measured
// against "now on the server" = Date.now() + offset, where the offset comes from server_time.

/** The offset (server minus client, in ms) from one answer carrying server_time. */
export function clockOffset(serverTime: string, requestedAt: number, receivedAt: number): number {
  const server = Date.parse(serverTime);
  if (Number.isNaN(server)) return 0;
  // The server read its clock somewhere between sending and receiving: take the midpoint.
  return server - (requestedAt + receivedAt) / 2;
}

/** An ISO 8601 timestamp as epoch milliseconds, or null. */
export function parseTime(value: string | null | undefined): number | null {
  if (!value) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/** Whole seconds from serverNow until deadline (server epoch ms), never negative. */
export function secondsUntil(deadline: number | null, serverNow: number): number {
  if (deadline === null) return 0;
  return Math.max(0, Math.ceil((deadline - serverNow) / 1000));
}

/** 75 -> "1:15", 5 -> "0:05", 3725 -> "1:02:05". */
export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const seconds = String(s % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}` : `${minutes}:${seconds}`;
}

/** A duration in words for screen readers and messages: "1 minute 15 seconds". */
export function spellDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.ceil(totalSeconds));
  const parts: string[] = [];
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const seconds = s % 60;
  if (hours) parts.push(`${hours} hour${hours === 1 ? '' : 's'}`);
  if (minutes) parts.push(`${minutes} minute${minutes === 1 ? '' : 's'}`);
  if (seconds || parts.length === 0) parts.push(`${seconds} second${seconds === 1 ? '' : 's'}`);
  return parts.join(' ');
}
