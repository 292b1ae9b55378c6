// Loads the dashboard: every source at once, each settling on its own (a slow or failing call
// holds back no other panel), again every intervalMs while auto-refresh is on and the tab is
// in front. A refresh never starts while a load is running, so slow answers cannot pile up;
// a new time range cancels the running load and starts its own.
import { useCallback, useEffect, useRef, useState } from 'react';
import { usePageVisible } from '../otp/usePageVisible';
import {
  DashboardAbortError,
  type CampaignRow,
  type DashboardApi,
  type DashboardError,
  type DashboardResult,
  type DeliveryRow,
  type LatencyRow,
  type OtpRow,
  type ProviderRow,
  type QueueRow,
} from './api';
import { timeWindow, type RangeKey, type TimeWindow } from './range';

export interface SourceState<T> {
  data: T | null;
  error: DashboardError | null;
  loading: boolean;
  /** The window the data is for. */
  window: TimeWindow | null;
  /** When the data arrived (Date.now()). */
  loadedAt: number | null;
}

export interface DashboardData {
  delivery: SourceState<DeliveryRow[]>;
  latencySeries: SourceState<LatencyRow[]>;
  latencyTotals: SourceState<LatencyRow[]>;
  otp: SourceState<OtpRow[]>;
  queue: SourceState<QueueRow[]>;
  providers: SourceState<ProviderRow[]>;
  campaigns: SourceState<CampaignRow[]>;
}

export type SourceKey = keyof DashboardData;

/** What the server said of the token: unknown until the first answer. */
export type Access = 'unknown' | 'granted' | 'forbidden' | 'signed_out';

type Fetcher = (api: DashboardApi, w: TimeWindow, signal: AbortSignal) => Promise<DashboardResult<unknown>>;

const iso = (d: Date) => d.toISOString();

// How many countries the conversion table lists, and campaigns the campaign table.
export const OTP_TOP = 50;
export const CAMPAIGNS_TOP = 20;

const FETCHERS: Record<SourceKey, Fetcher> = {
  delivery: (api, w, s) => api.delivery({ since: iso(w.since), until: iso(w.until), bucket: w.bucket, dims: ['provider'] }, s),
  // Every provider together over time, and each provider over the whole range: percentiles
  // cannot be added up, so each is the server's.
  latencySeries: (api, w, s) => api.latency({ since: iso(w.since), until: iso(w.until), bucket: w.bucket, dims: [] }, s),
  latencyTotals: (api, w, s) => api.latency({ since: iso(w.since), until: iso(w.until), bucket: 'all', dims: ['provider'] }, s),
  otp: (api, w, s) => api.otp({ since: iso(w.since), until: iso(w.until), by: 'country', top: OTP_TOP }, s),
  queue: (api, _w, s) => api.queue(s),
  providers: (api, _w, s) => api.providers(s),
  // Campaigns run for days: the table shows those of the function's default 30 days,
  // whatever the range.
  campaigns: (api, _w, s) => api.campaigns({ top: CAMPAIGNS_TOP }, s),
};

export const SOURCES = Object.keys(FETCHERS) as SourceKey[];

/** The sources whose answer depends on the time range (the others are "now"). */
export const RANGED: ReadonlySet<SourceKey> = new Set(['delivery', 'latencySeries', 'latencyTotals', 'otp']);

function idle<T>(): SourceState<T> {
  return { data: null, error: null, loading: true, window: null, loadedAt: null };
}

export function initialData(): DashboardData {
  return {
    delivery: idle(),
    latencySeries: idle(),
    latencyTotals: idle(),
    otp: idle(),
    queue: idle(),
    providers: idle(),
    campaigns: idle(),
  };
}

/** A load starts: every source is loading; a new range drops what was shown for the old one. */
function starting(d: DashboardData, newRange: boolean): DashboardData {
  const next = { ...d } as Record<SourceKey, SourceState<unknown>>;
  for (const key of SOURCES) {
    const s = next[key];
    next[key] = newRange && RANGED.has(key) ? { ...idle(), loading: true } : { ...s, loading: true };
  }
  return next as unknown as DashboardData;
}

/** A source answered: new data replaces the old; an error keeps the old data beside it. */
function settled(d: DashboardData, key: SourceKey, result: DashboardResult<unknown>, w: TimeWindow, at: number): DashboardData {
  const s = d[key] as SourceState<unknown>;
  const next: SourceState<unknown> = result.ok
    ? { data: result.data, error: null, loading: false, window: w, loadedAt: at }
    : { ...s, error: result.error, loading: false };
  return { ...d, [key]: next };
}

export interface UseDashboardOptions {
  api: DashboardApi;
  range: RangeKey;
  /** Auto-refresh period in ms. */
  intervalMs?: number;
}

export interface DashboardController {
  data: DashboardData;
  /** The window of the newest load. */
  window: TimeWindow;
  access: Access;
  /** The answer that decided `access` when it is forbidden or signed_out. */
  accessError: DashboardError | null;
  /** A load is running. */
  loading: boolean;
  /** When the last load finished. */
  lastLoadedAt: number | null;
  autoRefresh: boolean;
  setAutoRefresh: (on: boolean) => void;
  /** The tab is in front (auto-refresh waits while it is not). */
  visible: boolean;
  /** Loads everything again now, unless a load is running. */
  refresh: () => void;
}

export function useDashboard({ api, range, intervalMs = 15_000 }: UseDashboardOptions): DashboardController {
  const [data, setData] = useState<DashboardData>(initialData);
  const [win, setWin] = useState<TimeWindow>(() => timeWindow(range, Date.now()));
  const [access, setAccess] = useState<Access>('unknown');
  const [accessError, setAccessError] = useState<DashboardError | null>(null);
  const [loading, setLoading] = useState(false);
  const [lastLoadedAt, setLastLoadedAt] = useState<number | null>(null);
  const [autoRefresh, setAutoRefresh] = useState(true);
  const visible = usePageVisible();
  const running = useRef<AbortController | null>(null);
  const shownRange = useRef<RangeKey | null>(null);

  const load = useCallback(
    (replace: boolean) => {
      if (!replace && running.current) return;
      running.current?.abort();
      const controller = new AbortController();
      running.current = controller;
      const w = timeWindow(range, Date.now());
      const newRange = shownRange.current !== range;
      shownRange.current = range;
      setWin(w);
      setLoading(true);
      setData((d) => starting(d, newRange));

      const one = async (key: SourceKey) => {
        let result: DashboardResult<unknown>;
        try {
          result = await FETCHERS[key](api, w, controller.signal);
        } catch (e) {
          if (e instanceof DashboardAbortError || controller.signal.aborted) return;
          result = { ok: false, error: { kind: 'server', status: 0, code: null, message: String(e) } };
        }
        if (controller.signal.aborted) return;
        setData((d) => settled(d, key, result, w, Date.now()));
        if (result.ok) {
          setAccess((a) => (a === 'unknown' ? 'granted' : a));
        } else if (result.error.kind === 'forbidden' || result.error.kind === 'unauthenticated') {
          // Every dashboard function is for the service role: one refusal speaks for all.
          setAccess(result.error.kind === 'forbidden' ? 'forbidden' : 'signed_out');
          setAccessError(result.error);
        }
      };

      void Promise.all(SOURCES.map(one)).then(() => {
        if (running.current !== controller) return;
        running.current = null;
        setLoading(false);
        setLastLoadedAt(Date.now());
      });
    },
    [api, range],
  );

  // The first load, and a new one (cancelling the running one) when the range or API changes.
  useEffect(() => {
    load(true);
    return () => {
      running.current?.abort();
      running.current = null;
    };
  }, [load]);

  // The next refresh: intervalMs after the last load ended, while it is on, the tab is in
  // front, nothing is loading and the server has not refused the token. A tab that comes back
  // after longer than that loads at once.
  const stopped = access === 'forbidden' || access === 'signed_out';
  useEffect(() => {
    if (!autoRefresh || !visible || loading || lastLoadedAt === null || stopped) return;
    const timer = setTimeout(() => load(false), Math.max(0, lastLoadedAt + intervalMs - Date.now()));
    return () => clearTimeout(timer);
  }, [autoRefresh, visible, loading, lastLoadedAt, stopped, intervalMs, load]);

  const refresh = useCallback(() => load(false), [load]);

  return { data, window: win, access, accessError, loading, lastLoadedAt, autoRefresh, setAutoRefresh, visible, refresh };
}
