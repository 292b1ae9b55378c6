// Server time on the client. Deadlines (expires_at, resend_available_at, next_send_at) are the
// server's; the client clock may be off by minutes or hours, so every countdown is measured
// against "now on the server" = Date.now() + offset, where the offset comes from server_time.

/**
 * What one answer carrying server_time says of the offset (server minus client, in ms): the
 * server read its clock between the request leaving and the answer arriving, so the offset lies
 * in [serverTime - receivedAt, serverTime - requestedAt]. Null when serverTime is not a time.
 */
export function offsetWindow(serverTime: string, requestedAt: number, receivedAt: number): ClockWindow | null {
  const server = Date.parse(serverTime);
  if (Number.isNaN(server)) return null;
  return { low: server - Math.max(requestedAt, receivedAt), high: server - Math.min(requestedAt, receivedAt) };
}

/** Bounds on the offset (server minus client, in ms). */
export interface ClockWindow {
  low: number;
  high: number;
}

/**
 * Narrows what is known of the offset by one more reading. Every reading holds the true offset,
 * so their overlap does too, and the estimate (its middle) is never further off than the best
 * reading's round trip. Readings that do not overlap mean a clock was set in between: the new
 * reading starts over.
 */
export function narrowWindow(known: ClockWindow | null, reading: ClockWindow): ClockWindow {
  if (!known) return reading;
  const low = Math.max(known.low, reading.low);
  const high = Math.min(known.high, reading.high);
  return low <= high ? { low, high } : reading;
}

/** The offset taken from a window: its middle. */
export function windowOffset(window: ClockWindow): number {
  return (window.low + window.high) / 2;
}

/** The offset (server minus client, in ms) from one answer carrying server_time. */
export function clockOffset(serverTime: string, requestedAt: number, receivedAt: number): number {
  const window = offsetWindow(serverTime, requestedAt, receivedAt);
  return window ? windowOffset(window) : 0;
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
