// The queue and the providers as they are now (dashboard_queue, dashboard_providers): a word
// for each provider's state, and which lanes are behind.
import type { ProviderRow, QueueRow } from './api';
import { formatTime } from './format';

export type Tone = 'ok' | 'warn' | 'bad' | 'off';

export interface ProviderState {
  label: string;
  tone: Tone;
}

function future(iso: string | null, now: number): boolean {
  return iso !== null && Date.parse(iso) > now;
}

/** What stops a provider from taking messages now, the worst first. */
export function providerState(p: ProviderRow, now: number): ProviderState {
  if (!p.enabled) return { label: 'Disabled', tone: 'off' };
  if (p.credentials_refused) return { label: 'Credentials refused', tone: 'bad' };
  if (future(p.breaker_open_until, now)) return { label: `Breaker open until ${formatTime(p.breaker_open_until, now)}`, tone: 'bad' };
  if (future(p.backoff_until, now)) return { label: `Backing off until ${formatTime(p.backoff_until, now)}`, tone: 'warn' };
  if (!p.available) return { label: 'Unavailable', tone: 'bad' };
  if (p.max_concurrent !== null && p.in_flight >= p.max_concurrent) return { label: 'At its concurrency cap', tone: 'warn' };
  return { label: 'Healthy', tone: 'ok' };
}

export const LANES = ['otp', 'transactional', 'promo'] as const;

/** How old the oldest message of a lane may be before it is worth a look, in seconds: codes
 *  expire in minutes, transactional messages matter within the hour, promo ones wait for
 *  their throttles and quiet hours by design. */
export const LANE_AGE_WARN: Record<string, number> = { otp: 30, transactional: 300, promo: 3600 };

/** Lanes in their claim order (codes first), each present even when the server left it out. */
export function queueLanes(rows: QueueRow[]): QueueRow[] {
  const byLane = new Map(rows.map((r) => [r.lane, r]));
  const known = LANES.map((lane) => byLane.get(lane) ?? { lane, queued: 0, due: 0, leased: 0, oldest_age_s: null });
  return [...known, ...rows.filter((r) => !(LANES as readonly string[]).includes(r.lane))];
}

export function laneTone(row: QueueRow): Tone {
  const limit = LANE_AGE_WARN[row.lane] ?? 300;
  return row.due + row.leased > 0 && row.oldest_age_s !== null && row.oldest_age_s > limit ? 'warn' : 'ok';
}
