// The dashboard page against a scripted API: every panel with its numbers, the empty, loading
// and error states panel by panel, the operators-only state, the time range, and the refresh
// rules (every 15 s, paused on request or while the tab is hidden, never two loads at once).
import { act, fireEvent, render, screen, within } from '@testing-library/react';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DashboardResult, DeliveryRow } from '../src/dashboard/api';
import { DashboardPage } from '../src/dashboard/DashboardPage';
import { DELIVERY, NOW, emptyDashboardApi, fail, fakeDashboardApi, ok, type FakeDashboardApi } from './dashboardFixtures';

// uPlot draws on a canvas, which jsdom does not have: a stand-in keeps what it was given.
const plots = vi.hoisted(() => ({ made: [] as { opts: { series: { label?: string }[] }; data: unknown[]; destroyed: boolean; el: HTMLElement }[] }));
vi.mock('uplot', () => ({
  default: class {
    opts: { series: { label?: string }[] };
    data: unknown[];
    destroyed = false;
    el: HTMLElement;
    constructor(opts: { series: { label?: string }[] }, data: unknown[], el: HTMLElement) {
      this.opts = opts;
      this.data = data;
      this.el = el;
      plots.made.push(this);
    }
    setData(data: unknown[]) {
      this.data = data;
    }
    setSize() {}
    destroy() {
      this.destroyed = true;
    }
  },
}));

function Where() {
  const location = useLocation();
  return <output data-testid="location">{location.pathname + location.search}</output>;
}

function renderDashboard(api: FakeDashboardApi, { route = '/dashboard' } = {}) {
  const onSignOut = vi.fn();
  const view = render(
    <MemoryRouter initialEntries={[route]}>
      <Routes>
        <Route
          path="/dashboard"
          element={<DashboardPage apiUrl="http://api.test" token="token" email="operator@example.com" onSignOut={onSignOut} api={api} />}
        />
        <Route path="/" element={<p>Application home</p>} />
      </Routes>
      <Where />
    </MemoryRouter>,
  );
  return { ...view, onSignOut };
}

async function flush(ms = 0) {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(ms);
  });
}

function panel(id: string) {
  return screen.getByTestId(`panel-${id}`);
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function setVisibility(state: 'visible' | 'hidden') {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
  document.dispatchEvent(new Event('visibilitychange'));
}

const calls = (api: FakeDashboardApi) => api.delivery.mock.calls.length;

beforeEach(() => {
  plots.made.length = 0;
  vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  vi.setSystemTime(NOW);
});

afterEach(() => {
  vi.useRealTimers();
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' });
});

describe('the dashboard with data', () => {
  it('shows every panel with the numbers its function returned', async () => {
    const api = fakeDashboardApi();
    renderDashboard(api);
    expect(within(panel('delivery')).getByRole('status')).toHaveTextContent('Loading…');
    await flush();

    for (const id of ['delivery', 'latency', 'cost', 'otp', 'queue', 'providers', 'campaigns']) {
      expect(panel(id)).toHaveAttribute('data-state', 'ready');
    }
    // Delivery: 145 delivered of 164 with a final receipt; per provider 93.8% and 50.0%.
    expect(screen.getByTestId('delivery-rate')).toHaveTextContent('88.4%');
    expect(screen.getByTestId('delivery-attempted')).toHaveTextContent('170');
    const byProvider = screen.getByRole('table', { name: 'Delivery by provider' });
    expect(within(byProvider).getByRole('row', { name: /^twilio/ })).toHaveTextContent('93.8%');
    expect(within(byProvider).getByRole('row', { name: /^vonage/ })).toHaveTextContent('50.0%');

    const latency = screen.getByRole('table', { name: 'Latency by provider' });
    const twilioSend = within(latency).getAllByRole('row', { name: /^twilio/ })[0];
    expect(twilioSend).toHaveTextContent(/send\s*148\s*125 ms\s*490 ms\s*1\.0 s/);

    expect(screen.getByTestId('cost-total')).toHaveTextContent('1.44');
    expect(screen.getByTestId('cost-segments')).toHaveTextContent('180');

    // OTP: Indonesia is flagged (90% never entered of 60), France is not (only 10 sent).
    expect(screen.getByTestId('otp-flagged')).toHaveTextContent('ID');
    const otp = screen.getByRole('table', { name: 'OTP conversion by country' });
    expect(within(otp).getByRole('row', { name: /Indonesia/ })).toHaveTextContent('possible SMS pumping');
    expect(within(otp).getByRole('row', { name: /France/ })).not.toHaveTextContent('possible SMS pumping');
    expect(within(otp).getByRole('row', { name: /United States/ })).toHaveTextContent('85.0%');

    const queue = screen.getByRole('table', { name: 'Queue by lane' });
    expect(within(queue).getByRole('row', { name: /^promo/ })).toHaveTextContent(/340\s*12\s*5\s*2 h 1 min/);

    const providers = screen.getByRole('table', { name: 'Provider health' });
    expect(within(providers).getByRole('row', { name: /^twilio/ })).toHaveTextContent(/Healthy.*3\s*\/ 20/);
    expect(within(providers).getByRole('row', { name: /^vonage/ })).toHaveTextContent('Breaker open until');
    expect(within(providers).getByRole('row', { name: /^console/ })).toHaveTextContent('Disabled');
    // A provider the worker has not asked yet has no last status (the server sends 0).
    expect(within(providers).getByRole('row', { name: /^console/ })).toHaveTextContent(/Disabled\s*0\s*—\s*0$/);

    expect(screen.getByRole('progressbar', { name: 'Spring sale progress' })).toHaveAttribute('aria-valuenow', '75');
  });

  it('draws the charts with uPlot, one series per provider, on the hours of the range', async () => {
    renderDashboard(fakeDashboardApi());
    await flush();
    // Attempts and delivery rate, send and delivery latency, cost.
    expect(plots.made).toHaveLength(5);
    const rate = plots.made.find((p) => p.el.getAttribute('aria-label')?.startsWith('Delivery rate'))!;
    expect(rate.opts.series.map((s) => s.label)).toEqual([undefined, 'twilio', 'vonage']);
    const [x, twilio, vonage] = rate.data as number[][];
    // 12:30 yesterday to 12:30 today: the hours from 12:00 yesterday to 12:00 today.
    expect(x).toHaveLength(25);
    expect(x[0]).toBe(Date.parse('2029-12-31T12:00:00Z') / 1000);
    const i10 = x.indexOf(Date.parse('2030-01-01T10:00:00Z') / 1000);
    expect(twilio[i10]).toBeCloseTo(0.9375);
    expect(vonage[i10]).toBeNull();
  });

  it('asks each function for the range, with hour buckets for 24 hours', async () => {
    const api = fakeDashboardApi();
    renderDashboard(api);
    await flush();
    const since = new Date(NOW - 24 * 3600_000).toISOString();
    const until = new Date(NOW).toISOString();
    expect(api.delivery).toHaveBeenCalledWith({ since, until, bucket: 'hour', dims: ['provider'] }, expect.any(AbortSignal));
    expect(api.latency).toHaveBeenCalledWith({ since, until, bucket: 'hour', dims: [] }, expect.any(AbortSignal));
    expect(api.latency).toHaveBeenCalledWith({ since, until, bucket: 'all', dims: ['provider'] }, expect.any(AbortSignal));
    expect(api.otp).toHaveBeenCalledWith({ since, until, by: 'country', top: 50 }, expect.any(AbortSignal));
    expect(api.campaigns).toHaveBeenCalledWith({ top: 20 }, expect.any(AbortSignal));
    expect(api.queue).toHaveBeenCalledTimes(1);
    expect(api.providers).toHaveBeenCalledTimes(1);
  });
});

describe('empty, loading and error states', () => {
  it('says what is empty on a fresh install', async () => {
    renderDashboard(emptyDashboardApi());
    await flush();
    expect(panel('delivery')).toHaveAttribute('data-state', 'empty');
    expect(panel('delivery')).toHaveTextContent('No message was sent in the last 24 hours.');
    expect(panel('latency')).toHaveTextContent('No message was accepted by a provider in the last 24 hours.');
    expect(panel('cost')).toHaveTextContent('Nothing was sent');
    expect(panel('otp')).toHaveTextContent('No code was requested in the last 24 hours.');
    expect(panel('providers')).toHaveTextContent('No provider is configured');
    expect(panel('campaigns')).toHaveTextContent('No campaign in the last 30 days.');
    // The queue's lanes are always listed, at zero.
    expect(within(panel('queue')).getAllByRole('row')).toHaveLength(4);
    expect(within(panel('queue')).getByRole('row', { name: /^otp/ })).toHaveTextContent(/^otp\s*0\s*0\s*0\s*—$/);
    expect(panel('queue')).toHaveTextContent('Nothing is waiting.');
    expect(plots.made).toHaveLength(0);
  });

  it('keeps a panel loading until its own answer comes, while the others show theirs', async () => {
    const api = fakeDashboardApi();
    const slow = deferred<DashboardResult<DeliveryRow[]>>();
    api.delivery.mockImplementation(() => slow.promise);
    renderDashboard(api);
    await flush();
    expect(panel('delivery')).toHaveAttribute('data-state', 'loading');
    expect(panel('cost')).toHaveAttribute('data-state', 'loading');
    expect(panel('otp')).toHaveAttribute('data-state', 'ready');
    expect(panel('queue')).toHaveAttribute('data-state', 'ready');
    slow.resolve(ok(DELIVERY));
    await flush();
    expect(panel('delivery')).toHaveAttribute('data-state', 'ready');
  });

  it('shows an error in the panel whose call failed, leaves the others, and tries again', async () => {
    const api = fakeDashboardApi();
    api.otp.mockImplementationOnce(async () => fail(500, { code: 'XX000', message: 'could not read the rollup' }));
    renderDashboard(api);
    await flush();
    expect(panel('otp')).toHaveAttribute('data-state', 'error');
    expect(within(panel('otp')).getByRole('alert')).toHaveTextContent('HTTP 500): could not read the rollup');
    for (const id of ['delivery', 'latency', 'cost', 'queue', 'providers', 'campaigns']) {
      expect(panel(id)).toHaveAttribute('data-state', 'ready');
    }
    fireEvent.click(within(panel('otp')).getByRole('button', { name: 'Try again' }));
    await flush();
    expect(api.otp).toHaveBeenCalledTimes(2);
    expect(panel('otp')).toHaveAttribute('data-state', 'ready');
  });

  it('says when the server cannot be reached', async () => {
    const api = fakeDashboardApi();
    api.queue.mockImplementation(async () => fail(0));
    renderDashboard(api);
    await flush();
    expect(within(panel('queue')).getByRole('alert')).toHaveTextContent('The server cannot be reached.');
  });

  it('keeps the last data beside a refresh that failed', async () => {
    const api = fakeDashboardApi();
    renderDashboard(api);
    await flush();
    api.delivery.mockImplementation(async () => fail(503, { message: 'too busy' }));
    fireEvent.click(screen.getByRole('button', { name: 'Refresh now' }));
    await flush();
    expect(panel('delivery')).toHaveAttribute('data-state', 'ready');
    expect(screen.getByTestId('delivery-rate')).toHaveTextContent('88.4%');
    expect(within(panel('delivery')).getByRole('alert')).toHaveTextContent(/Could not refresh: .*too busy.* Showing the data of \d\d:\d\d:\d\d/);
  });
});

describe('who may see it', () => {
  it('shows "operators only" to a token the server refuses, and stops asking', async () => {
    const api = fakeDashboardApi();
    const refuse = async () => fail<never>(403, { code: 'forbidden', message: 'Only the service role may read dashboards.' });
    for (const fn of Object.values(api)) fn.mockImplementation(refuse);
    const { onSignOut } = renderDashboard(api);
    await flush();
    expect(screen.getByRole('heading', { name: 'Operators only' })).toBeInTheDocument();
    expect(screen.getByTestId('operators-only')).toHaveTextContent('operator@example.com is signed in as an end user');
    expect(screen.getByTestId('operators-only')).toHaveTextContent('Only the service role may read dashboards.');
    expect(screen.queryByTestId('panel-delivery')).not.toBeInTheDocument();
    expect(screen.queryByRole('radio')).not.toBeInTheDocument();
    await flush(60_000);
    expect(calls(api)).toBe(1);
    fireEvent.click(screen.getByRole('button', { name: 'sign in as an operator' }));
    expect(onSignOut).toHaveBeenCalled();
  });

  it('asks to sign in again when the token is refused outright', async () => {
    const api = fakeDashboardApi();
    for (const fn of Object.values(api)) fn.mockImplementation(async () => fail<never>(401, { code: 'PGRST301', message: 'JWT expired' }));
    const { onSignOut } = renderDashboard(api);
    await flush();
    expect(screen.getByRole('heading', { name: 'Signed out' })).toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'Sign in again' }));
    expect(onSignOut).toHaveBeenCalled();
  });
});

describe('time range', () => {
  it('reloads with day buckets for 7 days, shows loading meanwhile, and keeps the range in the URL', async () => {
    const api = fakeDashboardApi();
    renderDashboard(api);
    await flush();
    expect(screen.getByRole('radio', { name: '24 h' })).toBeChecked();
    const slow = deferred<DashboardResult<DeliveryRow[]>>();
    api.delivery.mockImplementationOnce(() => slow.promise);

    fireEvent.click(screen.getByRole('radio', { name: '7 d' }));
    await flush();
    expect(screen.getByTestId('location')).toHaveTextContent('/dashboard?range=7d');
    expect(api.delivery).toHaveBeenLastCalledWith(
      { since: new Date(NOW - 7 * 86400_000).toISOString(), until: new Date(NOW).toISOString(), bucket: 'day', dims: ['provider'] },
      expect.any(AbortSignal),
    );
    // The 24-hour numbers are not shown as the week's while the week's are on their way.
    expect(panel('delivery')).toHaveAttribute('data-state', 'loading');
    expect(screen.queryByTestId('delivery-rate')).not.toBeInTheDocument();
    // Now-panels keep what they show.
    expect(panel('queue')).toHaveAttribute('data-state', 'ready');

    slow.resolve(ok([{ ...DELIVERY[2], bucket_start: '2029-12-30T00:00:00Z' }]));
    await flush();
    expect(screen.getByTestId('delivery-rate')).toHaveTextContent('50.0%');
    expect(panel('delivery')).toHaveTextContent('Attempts per day');
    // Day buckets are UTC days, and their charts say them in UTC; hours are the operator's.
    const latest = plots.made.filter((p) => !p.destroyed);
    expect(latest.filter((p) => 'tzDate' in p.opts)).toHaveLength(5);
    expect(plots.made.filter((p) => p.destroyed && !('tzDate' in p.opts)).length).toBeGreaterThan(0);
  });

  it('cancels the running load when the range changes', async () => {
    const api = fakeDashboardApi();
    const slow = deferred<DashboardResult<DeliveryRow[]>>();
    api.delivery.mockImplementationOnce(() => slow.promise);
    renderDashboard(api);
    await flush();
    const firstSignal = api.delivery.mock.calls[0][1]!;
    fireEvent.click(screen.getByRole('radio', { name: '30 d' }));
    await flush();
    expect(firstSignal.aborted).toBe(true);
    // The old answer, arriving late, is not shown.
    slow.resolve(ok([{ ...DELIVERY[0], delivered: 1, undelivered: 0, failed: 0 }]));
    await flush();
    expect(screen.getByTestId('delivery-rate')).toHaveTextContent('88.4%');
  });

  it('starts from the range in the URL', async () => {
    const api = fakeDashboardApi();
    renderDashboard(api, { route: '/dashboard?range=30d' });
    await flush();
    expect(screen.getByRole('radio', { name: '30 d' })).toBeChecked();
    expect(api.delivery.mock.calls[0][0]).toMatchObject({ bucket: 'day', since: new Date(NOW - 30 * 86400_000).toISOString() });
  });
});

describe('refresh', () => {
  it('loads again every 15 s', async () => {
    const api = fakeDashboardApi();
    renderDashboard(api);
    await flush();
    expect(calls(api)).toBe(1);
    expect(screen.getByTestId('refresh-state')).toHaveTextContent(/^Updated \d\d:\d\d:\d\d$/);
    await flush(14_900);
    expect(calls(api)).toBe(1);
    await flush(100);
    expect(calls(api)).toBe(2);
    await flush(15_000);
    expect(calls(api)).toBe(3);
    // A refresh keeps the numbers on screen (no flash of "Loading…").
    expect(panel('delivery')).toHaveAttribute('data-state', 'ready');
  });

  it('never starts a load while one is running', async () => {
    const api = fakeDashboardApi();
    renderDashboard(api);
    await flush();
    const slow = deferred<DashboardResult<DeliveryRow[]>>();
    api.delivery.mockImplementationOnce(() => slow.promise);
    await flush(15_000);
    expect(calls(api)).toBe(2);
    expect(screen.getByTestId('refresh-state')).toHaveTextContent('Refreshing…');
    expect(screen.getByRole('button', { name: 'Refresh now' })).toBeDisabled();
    expect(within(panel('delivery')).getByText('Updating…')).toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'Refresh now' }));
    await flush(60_000);
    expect(calls(api)).toBe(2);
    expect(api.queue).toHaveBeenCalledTimes(2);
    slow.resolve(ok(DELIVERY));
    await flush();
    expect(calls(api)).toBe(2);
    await flush(15_000);
    expect(calls(api)).toBe(3);
  });

  it('stops while paused, and picks up again when turned back on', async () => {
    const api = fakeDashboardApi();
    renderDashboard(api);
    await flush();
    fireEvent.click(screen.getByRole('checkbox', { name: 'Auto-refresh every 15 s' }));
    await flush(60_000);
    expect(calls(api)).toBe(1);
    // "Refresh now" works while paused.
    fireEvent.click(screen.getByRole('button', { name: 'Refresh now' }));
    await flush();
    expect(calls(api)).toBe(2);
    fireEvent.click(screen.getByRole('checkbox', { name: 'Auto-refresh every 15 s' }));
    await flush(15_000);
    expect(calls(api)).toBe(3);
  });

  it('waits while the tab is hidden and loads at once when it shows again', async () => {
    const api = fakeDashboardApi();
    renderDashboard(api);
    await flush();
    act(() => setVisibility('hidden'));
    expect(screen.getByTestId('refresh-state')).toHaveTextContent('paused while this tab is hidden');
    await flush(120_000);
    expect(calls(api)).toBe(1);
    act(() => setVisibility('visible'));
    await flush();
    expect(calls(api)).toBe(2);
  });
});
