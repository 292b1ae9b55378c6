// The dashboard's six calls: sms_otp.dashboard_* through PostgREST (POST /rpc/<name>, schema
// sms_otp). Each is for the service role only: any other caller, with a token or without one,
// gets 403 ({"code": "forbidden"}); a token PostgREST refuses (expired, badly signed) gets 401.
// Rows come back with their numbers as numbers (PostgREST sends bigint and numeric so), but a
// proxy or a future PostgREST may send numeric as text: every number is read through toNumber,
// so a string or a null never reaches a chart as NaN.

export type Bucket = 'hour' | 'day' | 'all';
export type Dim = 'provider' | 'country' | 'type';

export interface DeliveryRow {
  bucket_start: string | null;
  provider: string | null;
  country: string | null;
  type: string | null;
  attempted: number;
  accepted: number;
  rejected: number;
  retried: number;
  delivered: number;
  undelivered: number;
  failed: number;
  unknown: number;
  /** delivered / (delivered + undelivered + failed); null when nothing has a final receipt. */
  delivery_rate: number | null;
  /** unknown / accepted. */
  unknown_share: number | null;
  segments: number;
  cost: number | null;
}

export interface LatencyRow {
  bucket_start: string | null;
  provider: string | null;
  country: string | null;
  type: string | null;
  /** send: commit to provider accepted; delivery: accepted to delivered. */
  stage: 'send' | 'delivery';
  count: number;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
}

export interface OtpRow {
  country: string | null;
  prefix: string | null;
  requested: number;
  sent: number;
  delivered: number;
  entered: number;
  verified: number;
  /** verified / sent. */
  conversion: number | null;
  /** (sent - entered) / sent: codes nobody typed in. */
  never_entered: number | null;
}

export interface CampaignRow {
  campaign_id: number;
  name: string;
  status: string;
  pause_reason: string | null;
  recipients: number;
  pending: number;
  sent: number;
  delivered: number;
  failed: number;
  skipped: number;
  stops: number;
  /** 0..1 */
  progress: number | null;
  delivery_rate: number | null;
  stop_rate: number | null;
  created_at: string | null;
  launched_at: string | null;
  finished_at: string | null;
}

export interface QueueRow {
  lane: string;
  queued: number;
  due: number;
  leased: number;
  oldest_age_s: number | null;
}

export interface ProviderRow {
  name: string;
  kind: string;
  priority: number | null;
  enabled: boolean;
  available: boolean;
  breaker_open_until: string | null;
  backoff_until: string | null;
  credentials_refused: boolean;
  consecutive_failures: number;
  last_status: number | null;
  in_flight: number;
  max_concurrent: number | null;
  worker_running: boolean;
}

export interface WindowArgs {
  since: string;
  until: string;
  bucket: Bucket;
  dims?: Dim[];
}

export type DashboardErrorKind = 'unauthenticated' | 'forbidden' | 'missing' | 'network' | 'server';

export interface DashboardError {
  kind: DashboardErrorKind;
  status: number;
  code: string | null;
  message: string;
}

export type DashboardResult<T> = { ok: true; data: T } | { ok: false; error: DashboardError };

export interface DashboardApi {
  delivery(args: WindowArgs, signal?: AbortSignal): Promise<DashboardResult<DeliveryRow[]>>;
  latency(args: WindowArgs, signal?: AbortSignal): Promise<DashboardResult<LatencyRow[]>>;
  otp(args: { since: string; until: string; by?: 'country' | 'prefix'; top?: number }, signal?: AbortSignal): Promise<DashboardResult<OtpRow[]>>;
  campaigns(args: { since?: string; top?: number }, signal?: AbortSignal): Promise<DashboardResult<CampaignRow[]>>;
  queue(signal?: AbortSignal): Promise<DashboardResult<QueueRow[]>>;
  providers(signal?: AbortSignal): Promise<DashboardResult<ProviderRow[]>>;
}

/** Thrown (not returned) when a call is cancelled: a newer load replaced it. */
export class DashboardAbortError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'DashboardAbortError';
  }
}

export interface DashboardApiOptions {
  apiUrl: string;
  token: string;
  schema?: string;
  fetch?: typeof fetch;
}

/** A number from JSON: numbers as they are, numeric strings parsed, anything else null. */
export function toNumber(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

function count(value: unknown): number {
  return toNumber(value) ?? 0;
}

function text(value: unknown): string | null {
  return typeof value === 'string' ? value : value == null ? null : String(value);
}

function rows(body: unknown): Record<string, unknown>[] {
  return Array.isArray(body) ? body.filter((r): r is Record<string, unknown> => typeof r === 'object' && r !== null) : [];
}

export function readDelivery(body: unknown): DeliveryRow[] {
  return rows(body).map((r) => ({
    bucket_start: text(r.bucket_start),
    provider: text(r.provider),
    country: text(r.country),
    type: text(r.type),
    attempted: count(r.attempted),
    accepted: count(r.accepted),
    rejected: count(r.rejected),
    retried: count(r.retried),
    delivered: count(r.delivered),
    undelivered: count(r.undelivered),
    failed: count(r.failed),
    unknown: count(r.unknown),
    delivery_rate: toNumber(r.delivery_rate),
    unknown_share: toNumber(r.unknown_share),
    segments: count(r.segments),
    cost: toNumber(r.cost),
  }));
}

export function readLatency(body: unknown): LatencyRow[] {
  return rows(body)
    .filter((r) => r.stage === 'send' || r.stage === 'delivery')
    .map((r) => ({
      bucket_start: text(r.bucket_start),
      provider: text(r.provider),
      country: text(r.country),
      type: text(r.type),
      stage: r.stage as LatencyRow['stage'],
      count: count(r.count),
      p50_ms: toNumber(r.p50_ms),
      p95_ms: toNumber(r.p95_ms),
      p99_ms: toNumber(r.p99_ms),
    }));
}

export function readOtp(body: unknown): OtpRow[] {
  return rows(body).map((r) => ({
    country: text(r.country),
    prefix: text(r.prefix),
    requested: count(r.requested),
    sent: count(r.sent),
    delivered: count(r.delivered),
    entered: count(r.entered),
    verified: count(r.verified),
    conversion: toNumber(r.conversion),
    never_entered: toNumber(r.never_entered),
  }));
}

export function readCampaigns(body: unknown): CampaignRow[] {
  return rows(body).map((r) => ({
    campaign_id: count(r.campaign_id),
    name: text(r.name) ?? '',
    status: text(r.status) ?? '',
    pause_reason: text(r.pause_reason),
    recipients: count(r.recipients),
    pending: count(r.pending),
    sent: count(r.sent),
    delivered: count(r.delivered),
    failed: count(r.failed),
    skipped: count(r.skipped),
    stops: count(r.stops),
    progress: toNumber(r.progress),
    delivery_rate: toNumber(r.delivery_rate),
    stop_rate: toNumber(r.stop_rate),
    created_at: text(r.created_at),
    launched_at: text(r.launched_at),
    finished_at: text(r.finished_at),
  }));
}

export function readQueue(body: unknown): QueueRow[] {
  return rows(body).map((r) => ({
    lane: text(r.lane) ?? '',
    queued: count(r.queued),
    due: count(r.due),
    leased: count(r.leased),
    oldest_age_s: toNumber(r.oldest_age_s),
  }));
}

export function readProviders(body: unknown): ProviderRow[] {
  return rows(body).map((r) => ({
    name: text(r.name) ?? '',
    kind: text(r.kind) ?? '',
    priority: toNumber(r.priority),
    enabled: r.enabled === true,
    available: r.available === true,
    breaker_open_until: text(r.breaker_open_until),
    backoff_until: text(r.backoff_until),
    credentials_refused: r.credentials_refused === true,
    consecutive_failures: count(r.consecutive_failures),
    last_status: toNumber(r.last_status),
    in_flight: count(r.in_flight),
    max_concurrent: toNumber(r.max_concurrent),
    worker_running: r.worker_running === true,
  }));
}

/** What a failed call means for the page. */
export function classifyDashboardError(status: number, body: unknown): DashboardError {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const code = typeof b.code === 'string' ? b.code : null;
  const serverMessage = typeof b.message === 'string' ? b.message : '';
  if (status === 0) return { kind: 'network', status, code, message: 'The server cannot be reached.' };
  if (status === 401) return { kind: 'unauthenticated', status, code, message: serverMessage || 'Sign in again.' };
  if (status === 403) return { kind: 'forbidden', status, code, message: serverMessage || 'Only the service role may read this.' };
  // PGRST202: PostgREST found no such function (an older sms_otp, or its schema cache is stale).
  if (status === 404 && (code === 'PGRST202' || code === null)) {
    return { kind: 'missing', status, code, message: 'This server has no dashboard functions (sms_otp is older than the dashboard).' };
  }
  return { kind: 'server', status, code, message: serverMessage || `The server answered ${status}.` };
}

export function createDashboardApi({ apiUrl, token, schema = 'sms_otp', fetch: fetchImpl }: DashboardApiOptions): DashboardApi {
  const base = apiUrl.replace(/\/+$/, '');
  // Resolved per call, so a test's stubbed global fetch is the one used.
  const doFetch = (input: string, init: RequestInit) => (fetchImpl ?? globalThis.fetch)(input, init);

  async function call<T>(fn: string, args: Record<string, unknown>, read: (body: unknown) => T, signal?: AbortSignal): Promise<DashboardResult<T>> {
    let res: Response;
    try {
      res = await doFetch(`${base}/rpc/${fn}`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json',
          'Content-Profile': schema,
          Authorization: `Bearer ${token}`,
        },
        body: JSON.stringify(args),
        signal,
      });
    } catch {
      if (signal?.aborted) throw new DashboardAbortError();
      return { ok: false, error: classifyDashboardError(0, null) };
    }
    let body: unknown = null;
    try {
      body = await res.json();
    } catch {
      if (signal?.aborted) throw new DashboardAbortError();
    }
    if (!res.ok) return { ok: false, error: classifyDashboardError(res.status, body) };
    return { ok: true, data: read(body) };
  }

  // Arguments left out take the function's defaults.
  const defined = (args: Record<string, unknown>) => Object.fromEntries(Object.entries(args).filter(([, v]) => v !== undefined));

  return {
    delivery: (a, signal) => call('dashboard_delivery', defined({ ...a }), readDelivery, signal),
    latency: (a, signal) => call('dashboard_latency', defined({ ...a }), readLatency, signal),
    otp: (a, signal) => call('dashboard_otp', defined({ ...a }), readOtp, signal),
    campaigns: (a, signal) => call('dashboard_campaigns', defined({ ...a }), readCampaigns, signal),
    queue: (signal) => call('dashboard_queue', {}, readQueue, signal),
    providers: (signal) => call('dashboard_providers', {}, readProviders, signal),
  };
}
