// Rows of (bucket, series name, value) into what a uPlot chart draws: one time axis in
// seconds and one array of values per series, aligned to it. Buckets the server left out
// (nothing happened then) are filled in, so a quiet hour shows as a zero or a gap instead of a
// line drawn straight across it.
import type { TimeWindow } from './range';

export interface Series {
  label: string;
  values: (number | null)[];
}

export interface ChartData {
  /** Bucket starts, Unix seconds, ascending. */
  x: number[];
  series: Series[];
}

// No chart needs more: 30 days of hours is 720.
const MAX_POINTS = 2000;

/**
 * The buckets of a window: those the server sent, with the missing ones between and around
 * them stepped in at the nominal bucket length. Stepping from the server's own buckets keeps
 * its alignment (its time zone's midnight or hour) without knowing what it is.
 */
export function bucketGrid(starts: number[], window: Pick<TimeWindow, 'since' | 'until' | 'stepSeconds'>): number[] {
  const known = [...new Set(starts.filter((s) => Number.isFinite(s)))].sort((a, b) => a - b);
  if (known.length === 0) return [];
  const step = window.stepSeconds;
  const since = window.since.getTime() / 1000;
  const until = window.until.getTime() / 1000;
  const grid: number[] = [];
  // A bucket [b, b + step) belongs to the window when it overlaps [since, until).
  let first = known[0];
  while (first > since && grid.length < MAX_POINTS) {
    first -= step;
    if (first + step > since) grid.unshift(first);
  }
  for (let i = 0; i < known.length && grid.length < MAX_POINTS; i++) {
    grid.push(known[i]);
    const next = known[i + 1];
    if (next === undefined) break;
    // Half a step of slack: a day bucket across a clock change is 23 or 25 hours long.
    for (let t = known[i] + step; t + step / 2 < next && grid.length < MAX_POINTS; t += step) grid.push(t);
  }
  for (let t = known[known.length - 1] + step; t < until && grid.length < MAX_POINTS; t += step) grid.push(t);
  return grid;
}

export function toSeconds(iso: string | null): number {
  return iso === null ? NaN : Math.floor(Date.parse(iso) / 1000);
}

export interface PivotSpec<R> {
  /** Which series a row belongs to. */
  key: (row: R) => string;
  /** Its value there (null: no value). */
  value: (row: R) => number | null;
  /** Where a bucket has no row: 0 for counts, null (a gap) for rates and percentiles. */
  missing: 0 | null;
  /** Series order; by default the keys sorted. */
  order?: string[];
}

/** Rows with a bucket_start into one series per key over the window's buckets. */
export function pivot<R extends { bucket_start: string | null }>(
  rows: R[],
  window: Pick<TimeWindow, 'since' | 'until' | 'stepSeconds'>,
  spec: PivotSpec<R>,
): ChartData {
  const timed = rows.filter((r) => Number.isFinite(toSeconds(r.bucket_start)));
  const x = bucketGrid(timed.map((r) => toSeconds(r.bucket_start)), window);
  const index = new Map(x.map((t, i) => [t, i]));
  const keys = spec.order ?? [...new Set(timed.map(spec.key))].sort();
  const series = keys.map((label) => ({ label, values: x.map(() => spec.missing as number | null) }));
  const byKey = new Map(series.map((s) => [s.label, s]));
  for (const row of timed) {
    const s = byKey.get(spec.key(row));
    const i = index.get(toSeconds(row.bucket_start));
    if (!s || i === undefined) continue;
    const v = spec.value(row);
    // Two rows in one bucket and series (a dimension the chart does not split by) add up.
    s.values[i] = v === null ? s.values[i] : (s.values[i] ?? 0) + v;
  }
  return { x, series };
}

/** True when no series has a value other than zero or null. */
export function isEmptyChart(data: ChartData): boolean {
  return data.x.length === 0 || data.series.every((s) => s.values.every((v) => v === null || v === 0));
}
