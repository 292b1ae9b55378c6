// dashboard_otp's rows: the code funnel by country (sent, delivered, entered, verified) and the
// share of codes nobody typed in. That share is what SMS pumping leaves behind: bots ask for
// codes to numbers whose carriers pay them per message and never enter one. A flag is a reason
// to look at a country, not a verdict.
import type { OtpRow } from './api';

/** Flag a country when at least this share of its codes was never entered... */
export const PUMPING_SHARE = 0.4;
/** ...out of at least this many sent (a handful of codes says nothing). */
export const PUMPING_MIN_SENT = 20;

// The shares are worked out from the counts, as the server defines them: its own are rounded to
// four decimals, and rounding them again for display could say 85.9% of 85.849%.
export function neverEntered(row: Pick<OtpRow, 'sent' | 'entered' | 'never_entered'>): number | null {
  return row.sent > 0 ? Math.max(0, row.sent - row.entered) / row.sent : row.never_entered;
}

export function conversion(row: Pick<OtpRow, 'sent' | 'verified' | 'conversion'>): number | null {
  return row.sent > 0 ? row.verified / row.sent : row.conversion;
}

export function pumpingSuspect(row: OtpRow): boolean {
  const share = neverEntered(row);
  return share !== null && row.sent >= PUMPING_MIN_SENT && share >= PUMPING_SHARE;
}

/** Every country together. */
export function otpTotals(rows: OtpRow[]): OtpRow {
  const sum = (f: (r: OtpRow) => number) => rows.reduce((acc, r) => acc + f(r), 0);
  const t = {
    country: null,
    prefix: null,
    requested: sum((r) => r.requested),
    sent: sum((r) => r.sent),
    delivered: sum((r) => r.delivered),
    entered: sum((r) => r.entered),
    verified: sum((r) => r.verified),
    conversion: null,
    never_entered: null,
  };
  return { ...t, conversion: conversion(t), never_entered: neverEntered(t) };
}

const regionNames = typeof Intl.DisplayNames === 'function' ? new Intl.DisplayNames(['en'], { type: 'region' }) : null;

/** "FR" as "France (FR)"; ZZ is a number whose country could not be told. */
export function countryName(code: string | null): string {
  if (!code || code === 'ZZ') return 'Unknown';
  try {
    const name = regionNames?.of(code);
    return name && name !== code ? `${name} (${code})` : code;
  } catch {
    return code;
  }
}
