// Delivery rate and volume over time per provider (dashboard_delivery).
import { useMemo } from 'react';
import type { DeliveryRow } from '../api';
import { overallTotals, providerTotals, rateSeries, volumeSeries } from '../delivery';
import { formatCount, formatPercent } from '../format';
import { Panel, Stats, TableBox, type PanelStatus } from '../Panel';
import { TimeChart } from '../TimeChart';
import type { TimeWindow } from '../range';

export interface DeliveryPanelProps {
  rows: DeliveryRow[] | null;
  window: TimeWindow | null;
  status: PanelStatus;
  rangeText: string;
  colors: Record<string, string>;
  onRetry: () => void;
}

export function DeliveryPanel({ rows, window, status, rangeText, colors, onRetry }: DeliveryPanelProps) {
  const shaped = useMemo(() => {
    if (!rows || !window) return null;
    return { total: overallTotals(rows), providers: providerTotals(rows), volume: volumeSeries(rows, window), rate: rateSeries(rows, window) };
  }, [rows, window]);
  const total = shaped?.total;
  return (
    <Panel
      id="delivery"
      title="Delivery"
      wide
      description={
        <>
          Provider attempts and their delivery receipts by provider. The delivery rate is delivered over delivered, undelivered and
          failed; messages with no final receipt are counted apart as unknown. <code>sms_otp.dashboard_delivery</code>
        </>
      }
      status={status}
      empty={!total || total.attempted === 0}
      emptyText={`No message was sent in ${rangeText}.`}
      onRetry={onRetry}
    >
      {shaped && total && (
        <>
          <Stats
            items={[
              { label: 'Delivery rate', value: formatPercent(total.deliveryRate), testId: 'delivery-rate' },
              { label: 'Attempts', value: formatCount(total.attempted), testId: 'delivery-attempted' },
              { label: 'Delivered', value: formatCount(total.delivered) },
              { label: 'Undelivered or failed', value: formatCount(total.undelivered + total.failed) },
              { label: 'No receipt', value: formatPercent(total.unknownShare), testId: 'delivery-unknown' },
            ]}
          />
          <div className="dash-charts">
            <figure>
              <figcaption>Attempts per {window?.bucket}</figcaption>
              <TimeChart utc={window?.bucket === 'day'} data={shaped.volume} unit="count" area colors={colors} label={`Attempts per ${window?.bucket} and provider, ${rangeText}`} />
            </figure>
            <figure>
              <figcaption>Delivery rate</figcaption>
              <TimeChart utc={window?.bucket === 'day'} data={shaped.rate} unit="percent" colors={colors} label={`Delivery rate per ${window?.bucket} and provider, ${rangeText}`} />
            </figure>
          </div>
          <TableBox>
            <table aria-label="Delivery by provider">
              <thead>
                <tr>
                  <th scope="col">Provider</th>
                  <th scope="col">Attempts</th>
                  <th scope="col" className="dash-opt">Accepted</th>
                  <th scope="col" className="dash-opt">Rejected</th>
                  <th scope="col" className="dash-opt">Retried</th>
                  <th scope="col">Delivered</th>
                  <th scope="col" className="dash-opt">Undelivered</th>
                  <th scope="col" className="dash-opt">Failed</th>
                  <th scope="col" className="dash-opt">No receipt</th>
                  <th scope="col">Delivery rate</th>
                </tr>
              </thead>
              <tbody>
                {shaped.providers.map((p) => (
                  <tr key={p.provider}>
                    <th scope="row">
                      <span className="dash-swatch" style={{ background: colors[p.provider] }} aria-hidden="true" />
                      {p.provider}
                    </th>
                    <td>{formatCount(p.attempted)}</td>
                    <td className="dash-opt">{formatCount(p.accepted)}</td>
                    <td className="dash-opt">{formatCount(p.rejected)}</td>
                    <td className="dash-opt">{formatCount(p.retried)}</td>
                    <td>{formatCount(p.delivered)}</td>
                    <td className="dash-opt">{formatCount(p.undelivered)}</td>
                    <td className="dash-opt">{formatCount(p.failed)}</td>
                    <td className="dash-opt">
                      {formatCount(p.unknown)} <span className="dash-muted">({formatPercent(p.unknownShare)})</span>
                    </td>
                    <td>{formatPercent(p.deliveryRate)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
        </>
      )}
    </Panel>
  );
}
