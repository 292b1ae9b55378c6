// dashboard_delivery's rows (one per hour or day and provider) as the delivery and cost panels
// show them: totals per provider over the range, and the series of their charts.
import type { DeliveryRow } from './api';
import type { TimeWindow } from './range';
import { pivot, type ChartData } from './series';

export interface DeliveryTotals {
  provider: string;
  attempted: number;
  accepted: number;
  rejected: number;
  retried: number;
  delivered: number;
  undelivered: number;
  failed: number;
  unknown: number;
  segments: number;
  /** null when no row had a cost. */
  cost: number | null;
  deliveryRate: number | null;
  unknownShare: number | null;
}

/** Delivered over every message with a final receipt; unknowns (no receipt) are left out,
 *  as the server does, and shown apart. */
export function deliveryRate(delivered: number, undelivered: number, failed: number): number | null {
  const final = delivered + undelivered + failed;
  return final > 0 ? delivered / final : null;
}

function share(part: number, whole: number): number | null {
  return whole > 0 ? part / whole : null;
}

function total(provider: string, rows: DeliveryRow[]): DeliveryTotals {
  const sum = (f: (r: DeliveryRow) => number) => rows.reduce((acc, r) => acc + f(r), 0);
  const t = {
    provider,
    attempted: sum((r) => r.attempted),
    accepted: sum((r) => r.accepted),
    rejected: sum((r) => r.rejected),
    retried: sum((r) => r.retried),
    delivered: sum((r) => r.delivered),
    undelivered: sum((r) => r.undelivered),
    failed: sum((r) => r.failed),
    unknown: sum((r) => r.unknown),
    segments: sum((r) => r.segments),
    cost: rows.some((r) => r.cost !== null) ? sum((r) => r.cost ?? 0) : null,
  };
  return { ...t, deliveryRate: deliveryRate(t.delivered, t.undelivered, t.failed), unknownShare: share(t.unknown, t.accepted) };
}

function providerOf(row: DeliveryRow): string {
  return row.provider ?? 'all';
}

/** One line per provider over the whole range, busiest first. */
export function providerTotals(rows: DeliveryRow[]): DeliveryTotals[] {
  const groups = new Map<string, DeliveryRow[]>();
  for (const r of rows) groups.set(providerOf(r), [...(groups.get(providerOf(r)) ?? []), r]);
  return [...groups.entries()]
    .map(([name, rs]) => total(name, rs))
    .sort((a, b) => b.attempted - a.attempted || a.provider.localeCompare(b.provider));
}

/** Every provider together. */
export function overallTotals(rows: DeliveryRow[]): DeliveryTotals {
  return total('all', rows);
}

/** The providers of the range in one order, so each keeps its colour in every chart. */
export function providerOrder(rows: DeliveryRow[]): string[] {
  return providerTotals(rows).map((t) => t.provider);
}

type Window = Pick<TimeWindow, 'since' | 'until' | 'stepSeconds'>;

/** Messages attempted per bucket and provider. */
export function volumeSeries(rows: DeliveryRow[], window: Window): ChartData {
  return pivot(rows, window, { key: providerOf, value: (r) => r.attempted, missing: 0, order: providerOrder(rows) });
}

/** Delivery rate per bucket and provider, as a share; a gap where nothing had a final receipt. */
export function rateSeries(rows: DeliveryRow[], window: Window): ChartData {
  const order = providerOrder(rows);
  const counts = (f: (r: DeliveryRow) => number) => pivot(rows, window, { key: providerOf, value: f, missing: 0, order });
  const delivered = counts((r) => r.delivered);
  const undelivered = counts((r) => r.undelivered);
  const failed = counts((r) => r.failed);
  return {
    x: delivered.x,
    series: delivered.series.map((s, i) => ({
      label: s.label,
      values: s.values.map((d, j) => deliveryRate(d ?? 0, undelivered.series[i].values[j] ?? 0, failed.series[i].values[j] ?? 0)),
    })),
  };
}

/** Cost per bucket and provider. */
export function costSeries(rows: DeliveryRow[], window: Window): ChartData {
  return pivot(rows, window, { key: providerOf, value: (r) => r.cost, missing: 0, order: providerOrder(rows) });
}
