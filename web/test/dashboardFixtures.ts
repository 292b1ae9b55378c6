// Rows as the sms_otp.dashboard_* functions return them, and a DashboardApi answering them,
// for the dashboard's unit tests. NOW is the fake clock's time; buckets are hours before it.
import { vi } from 'vitest';
import type {
  CampaignRow,
  DashboardApi,
  DashboardResult,
  DeliveryRow,
  LatencyRow,
  OtpRow,
  ProviderRow,
  QueueRow,
} from '../src/dashboard/api';
import { classifyDashboardError } from '../src/dashboard/api';

export const NOW = Date.parse('2030-01-01T12:30:00Z');
export const hour = (h: number) => new Date(Date.parse('2030-01-01T00:00:00Z') + h * 3600_000).toISOString();

export function delivery(over: Partial<DeliveryRow> & Pick<DeliveryRow, 'bucket_start' | 'provider'>): DeliveryRow {
  return {
    country: null,
    type: null,
    attempted: 0,
    accepted: 0,
    rejected: 0,
    retried: 0,
    delivered: 0,
    undelivered: 0,
    failed: 0,
    unknown: 0,
    delivery_rate: null,
    unknown_share: null,
    segments: 0,
    cost: null,
    ...over,
  };
}

// twilio: 135 delivered of 144 with a final receipt (93.75%); vonage: 10 of 20 (50%);
// together 145 of 164 (88.4%).
export const DELIVERY: DeliveryRow[] = [
  delivery({ bucket_start: hour(10), provider: 'twilio', attempted: 100, accepted: 98, rejected: 2, retried: 3, delivered: 90, undelivered: 4, failed: 2, unknown: 2, delivery_rate: 90 / 96, unknown_share: 2 / 98, segments: 100, cost: 0.79 }),
  delivery({ bucket_start: hour(11), provider: 'twilio', attempted: 50, accepted: 50, delivered: 45, undelivered: 3, failed: 0, unknown: 2, delivery_rate: 45 / 48, unknown_share: 2 / 50, segments: 60, cost: 0.45 }),
  delivery({ bucket_start: hour(11), provider: 'vonage', attempted: 20, accepted: 20, delivered: 10, undelivered: 5, failed: 5, unknown: 0, delivery_rate: 0.5, unknown_share: 0, segments: 20, cost: 0.2 }),
];

export function latency(over: Partial<LatencyRow> & Pick<LatencyRow, 'stage'>): LatencyRow {
  return { bucket_start: null, provider: null, country: null, type: null, count: 0, p50_ms: null, p95_ms: null, p99_ms: null, ...over };
}

export const LATENCY_SERIES: LatencyRow[] = [
  latency({ bucket_start: hour(10), stage: 'send', count: 98, p50_ms: 120, p95_ms: 480, p99_ms: 900 }),
  latency({ bucket_start: hour(10), stage: 'delivery', count: 90, p50_ms: 2100, p95_ms: 6000, p99_ms: 9000 }),
  latency({ bucket_start: hour(11), stage: 'send', count: 70, p50_ms: 140, p95_ms: 520, p99_ms: 1300 }),
  latency({ bucket_start: hour(11), stage: 'delivery', count: 55, p50_ms: 2500, p95_ms: 7000, p99_ms: 12000 }),
];

export const LATENCY_TOTALS: LatencyRow[] = [
  latency({ provider: 'twilio', stage: 'send', count: 148, p50_ms: 125, p95_ms: 490, p99_ms: 1000 }),
  latency({ provider: 'twilio', stage: 'delivery', count: 135, p50_ms: 2200, p95_ms: 6400, p99_ms: 11000 }),
  latency({ provider: 'vonage', stage: 'send', count: 20, p50_ms: 300, p95_ms: 800, p99_ms: 950 }),
  latency({ provider: 'vonage', stage: 'delivery', count: 10, p50_ms: 4000, p95_ms: 9000, p99_ms: 9500 }),
];

export function otpRow(over: Partial<OtpRow> & Pick<OtpRow, 'country' | 'sent'>): OtpRow {
  return { prefix: null, requested: over.sent, delivered: 0, entered: 0, verified: 0, conversion: null, never_entered: null, ...over };
}

// US converts; ID is what SMS pumping looks like (few codes ever entered).
export const OTP: OtpRow[] = [
  otpRow({ country: 'US', requested: 210, sent: 200, delivered: 190, entered: 180, verified: 170, conversion: 0.85, never_entered: 0.1 }),
  otpRow({ country: 'ID', requested: 60, sent: 60, delivered: 40, entered: 6, verified: 5, conversion: 5 / 60, never_entered: 0.9 }),
  otpRow({ country: 'FR', requested: 10, sent: 10, delivered: 10, entered: 3, verified: 3, conversion: 0.3, never_entered: 0.7 }),
];

export const QUEUE: QueueRow[] = [
  { lane: 'otp', queued: 2, due: 2, leased: 1, oldest_age_s: 4 },
  { lane: 'transactional', queued: 0, due: 0, leased: 0, oldest_age_s: null },
  { lane: 'promo', queued: 340, due: 12, leased: 5, oldest_age_s: 7260 },
];

export function providerRow(over: Partial<ProviderRow> & Pick<ProviderRow, 'name'>): ProviderRow {
  return {
    kind: 'twilio',
    priority: 10,
    enabled: true,
    available: true,
    breaker_open_until: null,
    backoff_until: null,
    credentials_refused: false,
    consecutive_failures: 0,
    last_status: 201,
    in_flight: 0,
    max_concurrent: null,
    worker_running: true,
    ...over,
  };
}

export const PROVIDERS: ProviderRow[] = [
  providerRow({ name: 'twilio', priority: 10, in_flight: 3, max_concurrent: 20 }),
  providerRow({ name: 'vonage', kind: 'vonage', priority: 20, available: false, breaker_open_until: new Date(NOW + 60_000).toISOString(), consecutive_failures: 5, last_status: 503 }),
  providerRow({ name: 'console', kind: 'console', priority: 100, last_status: 0, enabled: false }),
];

export const CAMPAIGNS: CampaignRow[] = [
  {
    campaign_id: 7,
    name: 'Spring sale',
    status: 'running',
    pause_reason: null,
    recipients: 400,
    pending: 100,
    sent: 300,
    delivered: 280,
    failed: 10,
    skipped: 0,
    stops: 3,
    progress: 0.75,
    delivery_rate: 280 / 290,
    stop_rate: 0.01,
    created_at: hour(8),
    launched_at: hour(8),
    finished_at: null,
  },
];

export function ok<T>(data: T): DashboardResult<T> {
  return { ok: true, data };
}

export function fail<T>(status: number, body: unknown = {}): DashboardResult<T> {
  return { ok: false, error: classifyDashboardError(status, body) };
}

export type FakeDashboardApi = { [K in keyof DashboardApi]: ReturnType<typeof vi.fn<DashboardApi[K]>> };

/** Answers the fixtures above; each test changes what it needs with mockImplementation. */
export function fakeDashboardApi(): FakeDashboardApi {
  return {
    delivery: vi.fn<DashboardApi['delivery']>(async () => ok(DELIVERY)),
    latency: vi.fn<DashboardApi['latency']>(async (args) => ok(args.bucket === 'all' ? LATENCY_TOTALS : LATENCY_SERIES)),
    otp: vi.fn<DashboardApi['otp']>(async () => ok(OTP)),
    campaigns: vi.fn<DashboardApi['campaigns']>(async () => ok(CAMPAIGNS)),
    queue: vi.fn<DashboardApi['queue']>(async () => ok(QUEUE)),
    providers: vi.fn<DashboardApi['providers']>(async () => ok(PROVIDERS)),
  };
}

/** Every answer empty, as on a fresh install. */
export function emptyDashboardApi(): FakeDashboardApi {
  const api = fakeDashboardApi();
  api.delivery.mockImplementation(async () => ok([]));
  api.latency.mockImplementation(async () => ok([]));
  api.otp.mockImplementation(async () => ok([]));
  api.campaigns.mockImplementation(async () => ok([]));
  api.queue.mockImplementation(async () => ok([]));
  api.providers.mockImplementation(async () => ok([]));
  return api;
}
