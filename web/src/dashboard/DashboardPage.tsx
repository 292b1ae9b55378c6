// The operator dashboard: delivery, latency, cost, code conversion, queue, providers and
// campaigns, for a time range in the URL (?range=7d), refreshed every 15 s while the tab is in
// front. Every number comes from a sms_otp.dashboard_* function, which only the service role
// may call: any other token gets 403, and the page says so instead of showing empty panels.
import { useEffect, useMemo, useState, type ReactNode } from 'react';
import { Link, useSearchParams } from 'react-router';
import { createDashboardApi, type DashboardApi } from './api';
import { providerOrder } from './delivery';
import { formatTime } from './format';
import { panelStatus } from './Panel';
import { CampaignsPanel } from './panels/CampaignsPanel';
import { CostPanel } from './panels/CostPanel';
import { DeliveryPanel } from './panels/DeliveryPanel';
import { LatencyPanel } from './panels/LatencyPanel';
import { OtpPanel } from './panels/OtpPanel';
import { ProvidersPanel } from './panels/ProvidersPanel';
import { QueuePanel } from './panels/QueuePanel';
import { parseRange, rangeOption, RANGES, type RangeKey } from './range';
import { seriesColor } from './TimeChart';
import { useDashboard, type DashboardController } from './useDashboard';
import './dashboard.css';

export const REFRESH_MS = 15_000;

export interface DashboardPageProps {
  apiUrl: string;
  token: string;
  /** Who is signed in, for the header. */
  email: string;
  onSignOut: () => void;
  /** Replaces the HTTP client (tests). */
  api?: DashboardApi;
  refreshMs?: number;
}

export function DashboardPage({ apiUrl, token, email, onSignOut, api: givenApi, refreshMs = REFRESH_MS }: DashboardPageProps) {
  const [params, setParams] = useSearchParams();
  const inUrl = parseRange(params.get('range'));
  // The picker answers at once and the URL follows; a URL changed from elsewhere (a link) wins.
  const [range, setRange] = useState<RangeKey>(inUrl);
  useEffect(() => setRange(inUrl), [inUrl]);
  const api = useMemo(() => givenApi ?? createDashboardApi({ apiUrl, token }), [givenApi, apiUrl, token]);
  const dash = useDashboard({ api, range, intervalMs: refreshMs });

  const pickRange = (key: RangeKey) => {
    setRange(key);
    const next = new URLSearchParams(params);
    next.set('range', key);
    setParams(next, { replace: true });
  };

  let body: ReactNode;
  if (dash.access === 'forbidden') body = <OperatorsOnly email={email} onSignOut={onSignOut} reason={dash.accessError?.message} />;
  else if (dash.access === 'signed_out') body = <SignedOut onSignOut={onSignOut} />;
  else body = <Panels dash={dash} range={range} />;

  return (
    <div className="demo-shell dash-shell">
      <header className="demo-header">
        <span className="demo-brand">sms_otp operator dashboard</span>
        <span className="demo-user">{email}</span>
        <button type="button" className="demo-secondary" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main className="dash-main">
        {dash.access !== 'forbidden' && dash.access !== 'signed_out' && (
          <Toolbar dash={dash} range={range} onRange={pickRange} refreshMs={refreshMs} />
        )}
        {body}
      </main>
    </div>
  );
}

function Toolbar({ dash, range, onRange, refreshMs }: { dash: DashboardController; range: RangeKey; onRange: (key: RangeKey) => void; refreshMs: number }) {
  let state: string;
  if (dash.loading) state = 'Refreshing…';
  else if (dash.lastLoadedAt === null) state = 'Loading…';
  else if (dash.autoRefresh && !dash.visible) state = `Updated ${formatTime(new Date(dash.lastLoadedAt).toISOString())}; paused while this tab is hidden`;
  else state = `Updated ${formatTime(new Date(dash.lastLoadedAt).toISOString())}`;
  return (
    <div className="dash-toolbar">
      <fieldset className="dash-range">
        <legend>Time range</legend>
        {RANGES.map((r) => (
          <label key={r.key} className={r.key === range ? 'dash-range-on' : undefined} title={r.long}>
            <input type="radio" name="dash-range" value={r.key} checked={r.key === range} onChange={() => onRange(r.key)} />
            {r.label}
          </label>
        ))}
      </fieldset>
      <div className="dash-refresh">
        <label className="dash-auto">
          <input type="checkbox" checked={dash.autoRefresh} onChange={(e) => dash.setAutoRefresh(e.target.checked)} />
          Auto-refresh every {Math.round(refreshMs / 1000)} s
        </label>
        <button type="button" className="demo-secondary" onClick={dash.refresh} disabled={dash.loading}>
          Refresh now
        </button>
        <span className="dash-muted" role="status" data-testid="refresh-state" data-loaded-at={dash.lastLoadedAt ?? ''}>
          {state}
        </span>
      </div>
    </div>
  );
}

function Panels({ dash, range }: { dash: DashboardController; range: RangeKey }) {
  const { data } = dash;
  const rangeText = rangeOption(range).long;
  const colors = useMemo(() => {
    const order = providerOrder(data.delivery.data ?? []);
    return Object.fromEntries(order.map((name, i) => [name, seriesColor(i)]));
  }, [data.delivery.data]);
  const retry = dash.refresh;
  return (
    <div className="dash-grid">
      <DeliveryPanel
        rows={data.delivery.data}
        window={data.delivery.window}
        status={panelStatus(data.delivery)}
        rangeText={rangeText}
        colors={colors}
        onRetry={retry}
      />
      <LatencyPanel
        series={data.latencySeries.data}
        totals={data.latencyTotals.data}
        window={data.latencySeries.window}
        status={panelStatus(data.latencySeries, data.latencyTotals)}
        rangeText={rangeText}
        onRetry={retry}
      />
      <CostPanel
        rows={data.delivery.data}
        window={data.delivery.window}
        status={panelStatus(data.delivery)}
        rangeText={rangeText}
        colors={colors}
        onRetry={retry}
      />
      <OtpPanel rows={data.otp.data} status={panelStatus(data.otp)} rangeText={rangeText} onRetry={retry} />
      <QueuePanel rows={data.queue.data} status={panelStatus(data.queue)} onRetry={retry} />
      <ProvidersPanel rows={data.providers.data} status={panelStatus(data.providers)} now={data.providers.loadedAt ?? Date.now()} onRetry={retry} />
      <CampaignsPanel rows={data.campaigns.data} status={panelStatus(data.campaigns)} onRetry={retry} />
    </div>
  );
}

function OperatorsOnly({ email, onSignOut, reason }: { email: string; onSignOut: () => void; reason?: string }) {
  return (
    <section className="dash-denied" role="alert" aria-labelledby="denied-title" data-testid="operators-only">
      <h1 id="denied-title">Operators only</h1>
      <p>
        This dashboard shows every user's messages, so only the service role may read it. <strong>{email}</strong> is signed in
        as an end user, and the server refused the dashboard's calls (HTTP 403).
      </p>
      {reason && <p className="dash-muted">The server said: {reason}</p>}
      <p>
        <Link to="/">Back to the application</Link> or{' '}
        <button type="button" className="dash-link" onClick={onSignOut}>
          sign in as an operator
        </button>
        .
      </p>
    </section>
  );
}

function SignedOut({ onSignOut }: { onSignOut: () => void }) {
  return (
    <section className="dash-denied" role="alert" aria-labelledby="signed-out-title" data-testid="signed-out">
      <h1 id="signed-out-title">Signed out</h1>
      <p>The server no longer accepts this sign-in (HTTP 401). Sign in again to see the dashboard.</p>
      <button type="button" className="demo-primary" onClick={onSignOut}>
        Sign in again
      </button>
    </section>
  );
}
