// One panel's frame and its states: loading (nothing yet), an error (nothing to show, or the
// last data kept beside the error), empty, or its content. A panel's state is its own: one
// failing call leaves every other panel as it is.
import type { ReactNode } from 'react';
import type { DashboardError } from './api';
import { formatTime } from './format';
import type { SourceState } from './useDashboard';

export interface PanelStatus {
  loading: boolean;
  error: DashboardError | null;
  /** Every source the panel reads has data. */
  ready: boolean;
  /** When the oldest of them arrived. */
  loadedAt: number | null;
}

/** The combined state of the sources a panel reads. */
export function panelStatus(...sources: SourceState<unknown>[]): PanelStatus {
  const times = sources.map((s) => s.loadedAt).filter((t): t is number => t !== null);
  return {
    loading: sources.some((s) => s.loading),
    error: sources.find((s) => s.error)?.error ?? null,
    ready: sources.every((s) => s.data !== null),
    loadedAt: times.length === sources.length ? Math.min(...times) : null,
  };
}

function errorText(error: DashboardError): string {
  switch (error.kind) {
    case 'network':
      return 'The server cannot be reached.';
    case 'forbidden':
      return 'Only operators (the service role) may read this.';
    case 'unauthenticated':
      return 'Your sign-in has expired.';
    case 'missing':
      return error.message;
    default:
      return `The server could not answer (${error.status ? `HTTP ${error.status}` : 'no status'}): ${error.message}`;
  }
}

export interface PanelProps {
  id: string;
  title: string;
  /** Where the numbers come from and what they mean, under the title. */
  description?: ReactNode;
  status: PanelStatus;
  /** True when the data holds nothing to show. */
  empty: boolean;
  emptyText: string;
  onRetry: () => void;
  /** Spans both columns on a wide screen. */
  wide?: boolean;
  children: ReactNode;
}

export function Panel({ id, title, description, status, empty, emptyText, onRetry, wide, children }: PanelProps) {
  const { loading, error, ready, loadedAt } = status;
  const titleId = `panel-${id}-title`;
  return (
    <section
      className={`dash-panel${wide ? ' dash-wide' : ''}`}
      aria-labelledby={titleId}
      aria-busy={loading}
      data-testid={`panel-${id}`}
      data-state={!ready ? (error ? 'error' : 'loading') : empty ? 'empty' : 'ready'}
    >
      <header className="dash-panel-header">
        <h2 id={titleId}>{title}</h2>
        {loading && ready && <span className="dash-updating">Updating…</span>}
      </header>
      {description && <p className="dash-description">{description}</p>}
      {!ready && (loading || !error) && (
        <div className="dash-loading" role="status">
          <span className="dash-spinner" aria-hidden="true" /> Loading…
        </div>
      )}
      {!ready && error && !loading && (
        <div className="dash-error" role="alert">
          <p>{errorText(error)}</p>
          <button type="button" className="demo-secondary" onClick={onRetry}>
            Try again
          </button>
        </div>
      )}
      {ready && error && !loading && (
        <div className="dash-stale" role="alert">
          <span>
            Could not refresh: {errorText(error)} Showing the data of {formatTime(new Date(loadedAt ?? Date.now()).toISOString())}.
          </span>
          <button type="button" className="demo-secondary" onClick={onRetry}>
            Try again
          </button>
        </div>
      )}
      {ready && empty && <p className="dash-empty">{emptyText}</p>}
      {ready && !empty && children}
    </section>
  );
}

/** A row of headline numbers. */
export function Stats({ items }: { items: { label: string; value: string; tone?: 'warn' | 'bad'; testId?: string }[] }) {
  return (
    <dl className="dash-stats">
      {items.map((item) => (
        <div key={item.label} className={item.tone ? `dash-tone-${item.tone}` : undefined}>
          <dt>{item.label}</dt>
          <dd data-testid={item.testId}>{item.value}</dd>
        </div>
      ))}
    </dl>
  );
}

/** A table that scrolls sideways inside its panel on a narrow screen, never the page. */
export function TableBox({ children }: { children: ReactNode }) {
  return <div className="dash-table-box">{children}</div>;
}
