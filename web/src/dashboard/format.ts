// How the dashboard writes its numbers. A missing value is a dash, never 0 or NaN: "no receipt
// yet" and "none delivered" are different things to an operator.
export const NONE = '—';

const counts = new Intl.NumberFormat('en-US');

export function formatCount(n: number | null | undefined): string {
  return n === null || n === undefined || !Number.isFinite(n) ? NONE : counts.format(n);
}

/** A share (0..1) as a percentage: 0.9412 is "94.1%". A share that would round to 100% or 0%
 *  without being it is ">99.9%" or "<0.1%": one failure in ten thousand is not a perfect score. */
export function formatPercent(share: number | null | undefined, digits = 1): string {
  if (share === null || share === undefined || !Number.isFinite(share)) return NONE;
  const text = (share * 100).toFixed(digits);
  const unit = 10 ** -digits;
  if (Number(text) === 100 && share < 1) return `>${(100 - unit).toFixed(digits)}%`;
  if (Number(text) === 0 && share > 0) return `<${unit.toFixed(digits)}%`;
  return `${text}%`;
}

/** Milliseconds as a latency: "850 ms", "1.2 s", "2.5 min". */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return NONE;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/** Seconds as an age: "45 s", "3 min 20 s", "2 h 5 min", "3 d 4 h". */
export function formatAge(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return NONE;
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  if (s < 86400) return `${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : ''}`;
  return `${Math.floor(s / 86400)} d${Math.floor((s % 86400) / 3600) ? ` ${Math.floor((s % 86400) / 3600)} h` : ''}`;
}

/** A cost in the providers' price unit: two decimals from 1 up, four below (an SMS costs cents). */
export function formatCost(cost: number | null | undefined): string {
  if (cost === null || cost === undefined || !Number.isFinite(cost)) return NONE;
  const abs = Math.abs(cost);
  return abs >= 1 || abs === 0 ? cost.toFixed(2).replace(/\B(?=(\d{3})+(?!\d))/g, ',') : cost.toFixed(4);
}

/** A timestamp as the operator's local time of day, with the date when it is not today. */
export function formatTime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return NONE;
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return NONE;
  const sameDay = new Date(now).toDateString() === t.toDateString();
  const time = t.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return sameDay ? time : `${t.toLocaleDateString('en-GB', { day: 'numeric', month: 'short' })} ${time}`;
}
