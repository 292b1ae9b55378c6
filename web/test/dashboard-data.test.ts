// The dashboard's data shaping: the server's rows into totals, chart series and table lines,
// the time ranges, and how numbers are written.
import { describe, expect, it } from 'vitest';
import { readCampaigns, readDelivery, readLatency, readOtp, readProviders, readQueue, toNumber } from '../src/dashboard/api';
import { costSeries, deliveryRate, overallTotals, providerOrder, providerTotals, rateSeries, volumeSeries } from '../src/dashboard/delivery';
import { formatAge, formatCost, formatCount, formatMs, formatPercent, NONE } from '../src/dashboard/format';
import { laneTone, providerState, queueLanes } from '../src/dashboard/health';
import { latencySeries, latencyTable } from '../src/dashboard/latency';
import { conversion, countryName, neverEntered, otpTotals, pumpingSuspect } from '../src/dashboard/otp';
import { parseRange, timeWindow } from '../src/dashboard/range';
import { bucketGrid, isEmptyChart, pivot } from '../src/dashboard/series';
import { DELIVERY, LATENCY_SERIES, LATENCY_TOTALS, NOW, OTP, PROVIDERS, QUEUE, delivery, hour, otpRow, providerRow } from './dashboardFixtures';

const sec = (iso: string) => Date.parse(iso) / 1000;

describe('time ranges', () => {
  it('asks for hour buckets up to 48 hours and day buckets beyond', () => {
    expect(timeWindow('1h', NOW)).toMatchObject({ bucket: 'hour', stepSeconds: 3600 });
    expect(timeWindow('24h', NOW)).toMatchObject({ bucket: 'hour', stepSeconds: 3600 });
    expect(timeWindow('7d', NOW)).toMatchObject({ bucket: 'day', stepSeconds: 86400 });
    expect(timeWindow('30d', NOW)).toMatchObject({ bucket: 'day', stepSeconds: 86400 });
  });

  it('ends now and starts the range before', () => {
    const w = timeWindow('7d', NOW);
    expect(w.until.getTime()).toBe(NOW);
    expect(w.since.getTime()).toBe(NOW - 7 * 86400_000);
  });

  it('reads a range from the URL, and anything unknown as 24 hours', () => {
    expect(parseRange('30d')).toBe('30d');
    expect(parseRange('1y')).toBe('24h');
    expect(parseRange(null)).toBe('24h');
  });
});

describe('reading rows', () => {
  it('takes numbers as numbers or numeric strings, and anything else as missing', () => {
    expect(toNumber(3)).toBe(3);
    expect(toNumber('0.9375')).toBe(0.9375);
    expect(toNumber(null)).toBeNull();
    expect(toNumber('')).toBeNull();
    expect(toNumber('n/a')).toBeNull();
    expect(toNumber(Number.NaN)).toBeNull();
  });

  it('turns counts that arrive as text or null into numbers, and keeps rates that are null', () => {
    const [row] = readDelivery([{ bucket_start: '2030-01-01T10:00:00+00:00', provider: 'twilio', attempted: '12', accepted: 10, delivered: null, delivery_rate: null, unknown_share: '0.5', cost: '0.0790' }]);
    expect(row).toMatchObject({ attempted: 12, accepted: 10, delivered: 0, failed: 0, delivery_rate: null, unknown_share: 0.5, cost: 0.079, country: null });
  });

  it('drops what is not a row, and latency rows of an unknown stage', () => {
    expect(readDelivery({ message: 'not a list' })).toEqual([]);
    expect(readLatency([{ stage: 'send', count: 1 }, { stage: 'queue', count: 2 }, null])).toHaveLength(1);
  });

  it("reads every function's columns", () => {
    expect(readOtp([{ country: 'US', sent: '5', verified: 4, conversion: '0.8', never_entered: null }])[0]).toMatchObject({ country: 'US', prefix: null, sent: 5, verified: 4, conversion: 0.8, never_entered: null });
    expect(readQueue([{ lane: 'otp', queued: '3', due: 1, leased: 0, oldest_age_s: null }])[0]).toEqual({ lane: 'otp', queued: 3, due: 1, leased: 0, oldest_age_s: null });
    expect(readProviders([{ name: 'twilio', kind: 'twilio', enabled: true, available: false, max_concurrent: null }])[0]).toMatchObject({ enabled: true, available: false, worker_running: false, max_concurrent: null, in_flight: 0 });
    expect(readCampaigns([{ campaign_id: 3, name: 'x', status: 'running', progress: '0.25' }])[0]).toMatchObject({ campaign_id: 3, progress: 0.25, stops: 0 });
  });
});

describe('the bucket grid', () => {
  const day = { since: new Date(Date.parse('2030-01-01T00:30:00Z')), until: new Date(Date.parse('2030-01-02T00:30:00Z')), stepSeconds: 3600 };

  it('is empty without data', () => {
    expect(bucketGrid([], day)).toEqual([]);
  });

  it('fills the hours between, before and after the ones the server sent', () => {
    const grid = bucketGrid([sec(hour(10)), sec(hour(13)), sec(hour(10))], day);
    // 00:00 (it overlaps 00:30) up to 00:00 the next day, once each.
    expect(grid).toHaveLength(25);
    expect(grid[0]).toBe(sec(hour(0)));
    expect(grid[grid.length - 1]).toBe(sec(hour(24)));
    expect(grid).toContain(sec(hour(11)));
    expect(new Set(grid).size).toBe(grid.length);
  });

  it("keeps the server's alignment (a zone's midnight) and a day that is an hour short", () => {
    const week = { since: new Date('2030-03-28T12:00:00Z'), until: new Date('2030-04-02T12:00:00Z'), stepSeconds: 86400 };
    // Midnights in Paris: +01:00 before 31 March, +02:00 after (a 23-hour day).
    const starts = [sec('2030-03-29T23:00:00Z'), sec('2030-03-31T22:00:00Z')];
    const grid = bucketGrid(starts, week);
    expect(grid).toContain(sec('2030-03-30T23:00:00Z'));
    expect(grid.filter((t) => t > sec('2030-03-30T23:00:00Z') && t < sec('2030-03-31T22:00:00Z'))).toEqual([]);
    expect(grid[0]).toBe(sec('2030-03-27T23:00:00Z'));
  });
});

describe('series', () => {
  const w = timeWindow('24h', NOW);

  it('pivots rows into one series per key, zero where a count has no row', () => {
    const data = pivot(DELIVERY, w, { key: (r) => r.provider ?? '', value: (r) => r.attempted, missing: 0 });
    expect(data.series.map((s) => s.label)).toEqual(['twilio', 'vonage']);
    const i10 = data.x.indexOf(sec(hour(10)));
    const i11 = data.x.indexOf(sec(hour(11)));
    expect(data.series[0].values[i10]).toBe(100);
    expect(data.series[1].values[i10]).toBe(0);
    expect(data.series[1].values[i11]).toBe(20);
    expect(data.series[0].values.every((v, i) => v === 0 || i === i10 || i === i11)).toBe(true);
  });

  it('adds up rows of one bucket and key', () => {
    const rows = [delivery({ bucket_start: hour(10), provider: 'a', attempted: 2 }), delivery({ bucket_start: hour(10), provider: 'a', attempted: 3 })];
    const data = pivot(rows, w, { key: (r) => r.provider ?? '', value: (r) => r.attempted, missing: 0 });
    expect(data.series[0].values[data.x.indexOf(sec(hour(10)))]).toBe(5);
  });

  it('orders providers busiest first, so each keeps its colour', () => {
    expect(providerOrder(DELIVERY)).toEqual(['twilio', 'vonage']);
    expect(volumeSeries(DELIVERY, w).series.map((s) => s.label)).toEqual(['twilio', 'vonage']);
  });

  it('leaves a gap in the delivery rate where nothing had a final receipt', () => {
    const data = rateSeries(DELIVERY, w);
    const i10 = data.x.indexOf(sec(hour(10)));
    const i11 = data.x.indexOf(sec(hour(11)));
    expect(data.series[0].values[i10]).toBeCloseTo(90 / 96);
    expect(data.series[0].values[i11]).toBeCloseTo(45 / 48);
    expect(data.series[1].values[i10]).toBeNull();
    expect(data.series[1].values[i11]).toBe(0.5);
  });

  it('sums costs per bucket', () => {
    const data = costSeries(DELIVERY, w);
    expect(data.series[0].values[data.x.indexOf(sec(hour(11)))]).toBeCloseTo(0.45);
  });

  it('says when a chart has nothing to draw', () => {
    expect(isEmptyChart(volumeSeries([], w))).toBe(true);
    expect(isEmptyChart(volumeSeries([delivery({ bucket_start: hour(10), provider: 'a' })], w))).toBe(true);
    expect(isEmptyChart(volumeSeries(DELIVERY, w))).toBe(false);
  });
});

describe('delivery totals', () => {
  it('counts only final receipts in the rate, and none is no rate at all', () => {
    expect(deliveryRate(9, 1, 0)).toBe(0.9);
    expect(deliveryRate(0, 0, 0)).toBeNull();
  });

  it('adds up each provider over the range and recomputes its rates from the counts', () => {
    const [twilio, vonage] = providerTotals(DELIVERY);
    expect(twilio).toMatchObject({ provider: 'twilio', attempted: 150, accepted: 148, delivered: 135, undelivered: 7, failed: 2, unknown: 4, segments: 160 });
    expect(twilio.deliveryRate).toBeCloseTo(135 / 144);
    expect(twilio.unknownShare).toBeCloseTo(4 / 148);
    expect(twilio.cost).toBeCloseTo(1.24);
    expect(vonage.deliveryRate).toBe(0.5);
    const all = overallTotals(DELIVERY);
    expect(all.attempted).toBe(170);
    expect(formatPercent(all.deliveryRate)).toBe('88.4%');
  });

  it('has no cost when no row has one, and nothing at all without rows', () => {
    expect(overallTotals([delivery({ bucket_start: hour(1), provider: 'a', attempted: 1 })]).cost).toBeNull();
    expect(overallTotals([])).toMatchObject({ attempted: 0, deliveryRate: null, unknownShare: null, cost: null });
  });
});

describe('latency', () => {
  const w = timeWindow('24h', NOW);

  it('draws p50, p95 and p99 of one stage, with gaps where it had no message', () => {
    const send = latencySeries(LATENCY_SERIES, 'send', w);
    expect(send.series.map((s) => s.label)).toEqual(['p50', 'p95', 'p99']);
    const i10 = send.x.indexOf(sec(hour(10)));
    expect(send.series.map((s) => s.values[i10])).toEqual([120, 480, 900]);
    expect(send.series[0].values[send.x.indexOf(sec(hour(9)))]).toBeNull();
    const del = latencySeries(LATENCY_SERIES, 'delivery', w);
    expect(del.x).toEqual(send.x);
    expect(del.series[2].values[send.x.indexOf(sec(hour(11)))]).toBe(12000);
  });

  it('lists providers busiest first, send before delivery', () => {
    const lines = latencyTable([...LATENCY_TOTALS].reverse());
    expect(lines.map((l) => `${l.provider}/${l.stage}`)).toEqual(['twilio/send', 'twilio/delivery', 'vonage/send', 'vonage/delivery']);
  });
});

describe('OTP conversion', () => {
  it('flags a country whose codes mostly go unentered, once enough were sent', () => {
    const [us, id, fr] = OTP;
    expect(pumpingSuspect(us)).toBe(false);
    expect(pumpingSuspect(id)).toBe(true);
    // 70% never entered, but 10 codes say nothing yet.
    expect(pumpingSuspect(fr)).toBe(false);
  });

  it('works the shares out from the counts, not from the four decimals the server rounded them to', () => {
    const row = otpRow({ country: 'DE', sent: 40, entered: 10, verified: 8 });
    expect(neverEntered(row)).toBe(0.75);
    expect(conversion(row)).toBe(0.2);
    expect(neverEntered(otpRow({ country: 'DE', sent: 0 }))).toBeNull();
    // 86 / 101 = 0.85148..., which the server sends as 0.8515: 85.1%, not 85.2%.
    const us = otpRow({ country: 'US', sent: 101, entered: 95, verified: 86, conversion: 0.8515, never_entered: 0.0594 });
    expect(formatPercent(us.conversion)).toBe('85.2%');
    expect(formatPercent(conversion(us))).toBe('85.1%');
  });

  it('totals every country', () => {
    const t = otpTotals(OTP);
    expect(t).toMatchObject({ sent: 270, entered: 189, verified: 178 });
    expect(t.conversion).toBeCloseTo(178 / 270);
    expect(t.never_entered).toBeCloseTo(81 / 270);
  });

  it('names countries, and ZZ as unknown', () => {
    expect(countryName('FR')).toBe('France (FR)');
    expect(countryName('ZZ')).toBe('Unknown');
    expect(countryName(null)).toBe('Unknown');
  });
});

describe('queue and providers', () => {
  it('lists the three lanes in claim order, zero where the server left one out', () => {
    const lanes = queueLanes([QUEUE[2]]);
    expect(lanes.map((l) => l.lane)).toEqual(['otp', 'transactional', 'promo']);
    expect(lanes[0]).toEqual({ lane: 'otp', queued: 0, due: 0, leased: 0, oldest_age_s: null });
    expect(laneTone(QUEUE[0])).toBe('ok');
    expect(laneTone({ ...QUEUE[0], oldest_age_s: 120 })).toBe('warn');
    expect(laneTone(QUEUE[2])).toBe('warn');
    // The server's age is 0 when nothing is due or leased: an idle lane is fine.
    expect(laneTone({ lane: 'otp', queued: 3, due: 0, leased: 0, oldest_age_s: 0 })).toBe('ok');
  });

  it("names a provider's worst state first", () => {
    expect(providerState(PROVIDERS[0], NOW)).toEqual({ label: 'Healthy', tone: 'ok' });
    expect(providerState(PROVIDERS[1], NOW)).toMatchObject({ tone: 'bad', label: expect.stringMatching(/^Breaker open until /) });
    expect(providerState(PROVIDERS[2], NOW)).toEqual({ label: 'Disabled', tone: 'off' });
    expect(providerState(providerRow({ name: 'x', credentials_refused: true, backoff_until: new Date(NOW + 1000).toISOString() }), NOW).label).toBe('Credentials refused');
    expect(providerState(providerRow({ name: 'x', backoff_until: new Date(NOW + 1000).toISOString() }), NOW).tone).toBe('warn');
    // A breaker that closed a minute ago no longer counts.
    expect(providerState(providerRow({ name: 'x', breaker_open_until: new Date(NOW - 60_000).toISOString() }), NOW).tone).toBe('ok');
    expect(providerState(providerRow({ name: 'x', in_flight: 4, max_concurrent: 4 }), NOW).label).toBe('At its concurrency cap');
  });
});

describe('formatting', () => {
  it('writes shares as percentages, never rounding to a perfect or a zero score', () => {
    expect(formatPercent(0.9375)).toBe('93.8%');
    expect(formatPercent(1)).toBe('100.0%');
    expect(formatPercent(0)).toBe('0.0%');
    expect(formatPercent(0.99996)).toBe('>99.9%');
    expect(formatPercent(0.0004)).toBe('<0.1%');
    expect(formatPercent(0.5, 0)).toBe('50%');
    expect(formatPercent(null)).toBe(NONE);
    expect(formatPercent(Number.NaN)).toBe(NONE);
  });

  it('writes latencies, ages, counts and costs', () => {
    expect(formatMs(850)).toBe('850 ms');
    expect(formatMs(1234)).toBe('1.2 s');
    expect(formatMs(12_345)).toBe('12 s');
    expect(formatMs(150_000)).toBe('2.5 min');
    expect(formatMs(null)).toBe(NONE);
    expect(formatAge(4)).toBe('4 s');
    expect(formatAge(200)).toBe('3 min 20 s');
    expect(formatAge(7260)).toBe('2 h 1 min');
    expect(formatAge(3 * 86400 + 4 * 3600)).toBe('3 d 4 h');
    expect(formatAge(null)).toBe(NONE);
    expect(formatCount(1234567)).toBe('1,234,567');
    expect(formatCount(null)).toBe(NONE);
    expect(formatCost(1234.5)).toBe('1,234.50');
    expect(formatCost(0.0079)).toBe('0.0079');
    expect(formatCost(0)).toBe('0.00');
    expect(formatCost(null)).toBe(NONE);
  });
});
