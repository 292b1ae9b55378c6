// The outbox now, per lane (dashboard_queue): what waits, what is due, what a worker holds,
// and how old the oldest waiting message is.
import type { QueueRow } from '../api';
import { formatAge, formatCount } from '../format';
import { LANE_AGE_WARN, laneTone, queueLanes } from '../health';
import { Panel, TableBox, type PanelStatus } from '../Panel';

export interface QueuePanelProps {
  rows: QueueRow[] | null;
  status: PanelStatus;
  onRetry: () => void;
}

export function QueuePanel({ rows, status, onRetry }: QueuePanelProps) {
  const lanes = rows ? queueLanes(rows) : [];
  const idle = lanes.every((l) => l.queued === 0 && l.leased === 0);
  return (
    <Panel
      id="queue"
      title="Queue"
      description={
        <>
          Messages waiting in each lane now; the worker claims codes first. <code>sms_otp.dashboard_queue</code>
        </>
      }
      status={status}
      empty={false}
      emptyText=""
      onRetry={onRetry}
    >
      <TableBox>
        <table aria-label="Queue by lane">
          <thead>
            <tr>
              <th scope="col">Lane</th>
              <th scope="col">Queued</th>
              <th scope="col">Due</th>
              <th scope="col" className="dash-opt">Being sent</th>
              <th scope="col">Oldest</th>
            </tr>
          </thead>
          <tbody>
            {lanes.map((l) => (
              <tr key={l.lane} className={laneTone(l) === 'warn' ? 'dash-row-warn' : undefined}>
                <th scope="row">{l.lane}</th>
                <td>{formatCount(l.queued)}</td>
                <td>{formatCount(l.due)}</td>
                <td className="dash-opt">{formatCount(l.leased)}</td>
                {/* The server counts the age of due and leased messages, 0 when there are none. */}
                <td title={`Worth a look past ${formatAge(LANE_AGE_WARN[l.lane] ?? 300)}`}>
                  {l.due + l.leased > 0 ? formatAge(l.oldest_age_s) : '—'}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableBox>
      {idle && <p className="dash-empty">Nothing is waiting.</p>}
    </Panel>
  );
}
