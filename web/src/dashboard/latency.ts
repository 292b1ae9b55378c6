// dashboard_latency's rows as the latency panel shows them. Percentiles do not add up across
// buckets or providers, so the panel asks twice: over time for every provider together
// (dims {}), and for the whole range per provider (bucket 'all'), each computed by the server.
import type { LatencyRow } from './api';
import type { TimeWindow } from './range';
import { bucketGrid, toSeconds, type ChartData } from './series';

export type Stage = LatencyRow['stage'];

export const STAGES: readonly { stage: Stage; label: string; description: string }[] = [
  { stage: 'send', label: 'Send', description: 'from the commit that queued a message to the provider accepting it' },
  { stage: 'delivery', label: 'Delivery', description: "from the provider's acceptance to the handset's delivery receipt" },
];

const PERCENTILES = [
  { label: 'p50', value: (r: LatencyRow) => r.p50_ms },
  { label: 'p95', value: (r: LatencyRow) => r.p95_ms },
  { label: 'p99', value: (r: LatencyRow) => r.p99_ms },
] as const;

/** p50, p95 and p99 of one stage over time; a gap where the bucket has no message. */
export function latencySeries(rows: LatencyRow[], stage: Stage, window: Pick<TimeWindow, 'since' | 'until' | 'stepSeconds'>): ChartData {
  // The grid spans both stages' buckets, so the two charts line up.
  const x = bucketGrid(rows.map((r) => toSeconds(r.bucket_start)), window);
  const index = new Map(x.map((t, i) => [t, i]));
  const series = PERCENTILES.map((p) => ({ label: p.label, values: x.map(() => null as number | null) }));
  for (const r of rows) {
    if (r.stage !== stage || r.count === 0) continue;
    const i = index.get(toSeconds(r.bucket_start));
    if (i === undefined) continue;
    PERCENTILES.forEach((p, k) => (series[k].values[i] = p.value(r)));
  }
  return { x, series };
}

export interface LatencyLine {
  provider: string;
  stage: Stage;
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** The whole range per provider and stage: send before delivery, busiest provider first. */
export function latencyTable(rows: LatencyRow[]): LatencyLine[] {
  const volume = new Map<string, number>();
  for (const r of rows) if (r.stage === 'send') volume.set(r.provider ?? 'all', (volume.get(r.provider ?? 'all') ?? 0) + r.count);
  return rows
    .map((r) => ({ provider: r.provider ?? 'all', stage: r.stage, count: r.count, p50: r.p50_ms, p95: r.p95_ms, p99: r.p99_ms }))
    .sort(
      (a, b) =>
        (volume.get(b.provider) ?? 0) - (volume.get(a.provider) ?? 0) ||
        a.provider.localeCompare(b.provider) ||
        (a.stage === b.stage ? 0 : a.stage === 'send' ? -1 : 1),
    );
}
