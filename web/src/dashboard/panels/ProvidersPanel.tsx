// The providers now (dashboard_providers): whether each takes messages, and if not why (its
// circuit breaker, a 429 backoff, refused credentials), and what it has in flight.
import type { ProviderRow } from '../api';
import { formatCount } from '../format';
import { providerState } from '../health';
import { Panel, TableBox, type PanelStatus } from '../Panel';

export interface ProvidersPanelProps {
  rows: ProviderRow[] | null;
  status: PanelStatus;
  now: number;
  onRetry: () => void;
}

export function ProvidersPanel({ rows, status, now, onRetry }: ProvidersPanelProps) {
  const sorted = [...(rows ?? [])].sort((a, b) => (a.priority ?? 0) - (b.priority ?? 0) || a.name.localeCompare(b.name));
  const workerDown = sorted.length > 0 && sorted.every((p) => !p.worker_running);
  return (
    <Panel
      id="providers"
      title="Providers"
      description={
        <>
          Each provider's health as the delivery worker sees it, in the order it tries them. <code>sms_otp.dashboard_providers</code>
        </>
      }
      status={status}
      empty={sorted.length === 0}
      emptyText="No provider is configured (sms_otp.api_integrations is empty)."
      onRetry={onRetry}
    >
      {workerDown && (
        <p className="dash-banner dash-tone-bad" role="status">
          The delivery worker is not running: nothing is being sent.
        </p>
      )}
      <TableBox>
        <table aria-label="Provider health">
          <thead>
            <tr>
              <th scope="col">Provider</th>
              <th scope="col" className="dash-opt">Priority</th>
              <th scope="col">State</th>
              <th scope="col" title="Failures in a row">Failures</th>
              <th scope="col" className="dash-opt" title="The HTTP status of its last answer">Last HTTP</th>
              <th scope="col">In flight</th>
            </tr>
          </thead>
          <tbody>
            {sorted.map((p) => {
              const state = providerState(p, now);
              return (
                <tr key={p.name}>
                  <th scope="row">
                    {p.name} <span className="dash-muted dash-opt">{p.kind}</span>
                  </th>
                  <td className="dash-opt">{p.priority ?? '—'}</td>
                  <td className="dash-wrap">
                    <span className={`dash-badge dash-tone-${state.tone}`}>{state.label}</span>
                  </td>
                  <td>{formatCount(p.consecutive_failures)}</td>
                  {/* 0: no answer since the worker started. */}
                  <td className="dash-opt">{p.last_status ? p.last_status : '—'}</td>
                  <td>
                    {formatCount(p.in_flight)}
                    {p.max_concurrent !== null && <span className="dash-muted"> / {formatCount(p.max_concurrent)}</span>}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </TableBox>
    </Panel>
  );
}
