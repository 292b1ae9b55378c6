// The time ranges an operator picks from, and the window each asks the server for: hour
// buckets up to 48 hours, day buckets beyond (a month of hours is 720 points, too many to read).
export type RangeKey = '1h' | '24h' | '7d' | '30d';

export interface RangeOption {
  key: RangeKey;
  /** On the picker. */
  label: string;
  /** In sentences: "in the last 24 hours". */
  long: string;
  ms: number;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export const RANGES: readonly RangeOption[] = [
  { key: '1h', label: '1 h', long: 'the last hour', ms: HOUR },
  { key: '24h', label: '24 h', long: 'the last 24 hours', ms: DAY },
  { key: '7d', label: '7 d', long: 'the last 7 days', ms: 7 * DAY },
  { key: '30d', label: '30 d', long: 'the last 30 days', ms: 30 * DAY },
];

export const DEFAULT_RANGE: RangeKey = '24h';
export const HOUR_BUCKETS_UP_TO_MS = 48 * HOUR;

export interface TimeWindow {
  range: RangeKey;
  since: Date;
  until: Date;
  bucket: 'hour' | 'day';
  /** The bucket's nominal length in seconds (a day with a clock change is an hour off). */
  stepSeconds: number;
}

export function rangeOption(key: RangeKey): RangeOption {
  return RANGES.find((r) => r.key === key) ?? RANGES[1];
}

/** A range key from a URL parameter; anything unknown is the default. */
export function parseRange(value: string | null | undefined): RangeKey {
  return RANGES.some((r) => r.key === value) ? (value as RangeKey) : DEFAULT_RANGE;
}

export function timeWindow(key: RangeKey, now: number): TimeWindow {
  const { ms } = rangeOption(key);
  const bucket = ms <= HOUR_BUCKETS_UP_TO_MS ? 'hour' : 'day';
  return {
    range: key,
    since: new Date(now - ms),
    until: new Date(now),
    bucket,
    stepSeconds: bucket === 'hour' ? 3600 : 86400,
  };
}
