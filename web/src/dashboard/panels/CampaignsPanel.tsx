// Promo campaigns with their progress (dashboard_campaigns): those running, scheduled or paused,
// and those created or finished in the last 30 days.
import type { CampaignRow } from '../api';
import { formatCount, formatPercent } from '../format';
import { Panel, TableBox, type PanelStatus } from '../Panel';

export interface CampaignsPanelProps {
  rows: CampaignRow[] | null;
  status: PanelStatus;
  onRetry: () => void;
}

const STATUS_TONE: Record<string, string> = { running: 'ok', scheduled: 'ok', paused: 'warn', cancelled: 'off', finished: 'off', draft: 'off' };

export function CampaignsPanel({ rows, status, onRetry }: CampaignsPanelProps) {
  return (
    <Panel
      id="campaigns"
      title="Campaigns"
      wide
      description={
        <>
          Promo campaigns running, scheduled or paused, then those created or finished in the last 30 days: how far each has
          gone, its delivery rate and its STOP replies. <code>sms_otp.dashboard_campaigns</code>
        </>
      }
      status={status}
      empty={!rows || rows.length === 0}
      emptyText="No campaign in the last 30 days."
      onRetry={onRetry}
    >
      <TableBox>
        <table aria-label="Campaigns">
          <thead>
            <tr>
              <th scope="col">Campaign</th>
              <th scope="col">Status</th>
              <th scope="col">Progress</th>
              <th scope="col" className="dash-opt">Recipients</th>
              <th scope="col" className="dash-opt">Sent</th>
              <th scope="col" className="dash-opt">Delivered</th>
              <th scope="col" className="dash-opt">Failed</th>
              <th scope="col" className="dash-opt">Skipped</th>
              <th scope="col" className="dash-opt">STOPs</th>
              <th scope="col">Delivery rate</th>
            </tr>
          </thead>
          <tbody>
            {(rows ?? []).map((c) => {
              const pct = Math.round(Math.min(1, Math.max(0, c.progress ?? 0)) * 100);
              return (
                <tr key={c.campaign_id}>
                  <th scope="row">
                    {c.name} <span className="dash-muted">#{c.campaign_id}</span>
                  </th>
                  <td>
                    <span className={`dash-badge dash-tone-${STATUS_TONE[c.status] ?? 'off'}`}>{c.status}</span>
                    {c.pause_reason && <span className="dash-muted dash-opt"> {c.pause_reason}</span>}
                  </td>
                  <td>
                    <div className="dash-progress" role="progressbar" aria-label={`${c.name} progress`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
                      <span style={{ width: `${pct}%` }} />
                    </div>
                    <span className="dash-progress-text">{c.progress === null ? '—' : `${pct}%`}</span>
                  </td>
                  <td className="dash-opt">{formatCount(c.recipients)}</td>
                  <td className="dash-opt">{formatCount(c.sent)}</td>
                  <td className="dash-opt">{formatCount(c.delivered)}</td>
                  <td className="dash-opt">{formatCount(c.failed)}</td>
                  <td className="dash-opt">{formatCount(c.skipped)}</td>
                  <td className="dash-opt">
                    {formatCount(c.stops)} <span className="dash-muted">({formatPercent(c.stop_rate)})</span>
                  </td>
                  <td>{formatPercent(c.delivery_rate)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </TableBox>
    </Panel>
  );
}
