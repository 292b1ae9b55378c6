// What the providers charged over time (dashboard_delivery's cost and segments).
import { useMemo } from 'react';
import type { DeliveryRow } from '../api';
import { costSeries, overallTotals, providerTotals } from '../delivery';
import { formatCost, formatCount } from '../format';
import { Panel, Stats, TableBox, type PanelStatus } from '../Panel';
import { TimeChart } from '../TimeChart';
import type { TimeWindow } from '../range';

export interface CostPanelProps {
  rows: DeliveryRow[] | null;
  window: TimeWindow | null;
  status: PanelStatus;
  rangeText: string;
  colors: Record<string, string>;
  onRetry: () => void;
}

function perDelivered(cost: number | null, delivered: number): number | null {
  return cost === null || delivered === 0 ? null : cost / delivered;
}

export function CostPanel({ rows, window, status, rangeText, colors, onRetry }: CostPanelProps) {
  const shaped = useMemo(() => {
    if (!rows || !window) return null;
    return { total: overallTotals(rows), providers: providerTotals(rows).filter((p) => p.attempted > 0), series: costSeries(rows, window) };
  }, [rows, window]);
  const total = shaped?.total;
  return (
    <Panel
      id="cost"
      title="Cost"
      description={
        <>
          What the providers charged, in their price unit, with the SMS parts (segments) billed. <code>sms_otp.dashboard_delivery</code>
        </>
      }
      status={status}
      empty={!total || total.attempted === 0}
      emptyText={`Nothing was sent, so nothing was charged, in ${rangeText}.`}
      onRetry={onRetry}
    >
      {shaped && total && (
        <>
          <Stats
            items={[
              { label: 'Total cost', value: formatCost(total.cost), testId: 'cost-total' },
              { label: 'Per delivered message', value: formatCost(perDelivered(total.cost, total.delivered)) },
              { label: 'Segments', value: formatCount(total.segments), testId: 'cost-segments' },
            ]}
          />
          {total.accepted > 0 && total.cost === 0 && (
            <p className="dash-muted">
              Every cost is 0: <code>sms_otp.sms_prices</code> has no price for these providers and countries.
            </p>
          )}
          <div className="dash-charts dash-charts-one">
            <figure>
              <figcaption>Cost per {window?.bucket}</figcaption>
              <TimeChart utc={window?.bucket === 'day'} data={shaped.series} unit="cost" area colors={colors} label={`Cost per ${window?.bucket} and provider, ${rangeText}`} />
            </figure>
          </div>
          <TableBox>
            <table aria-label="Cost by provider">
              <thead>
                <tr>
                  <th scope="col">Provider</th>
                  <th scope="col">Segments</th>
                  <th scope="col">Cost</th>
                  <th scope="col">Per delivered</th>
                </tr>
              </thead>
              <tbody>
                {shaped.providers.map((p) => (
                  <tr key={p.provider}>
                    <th scope="row">
                      <span className="dash-swatch" style={{ background: colors[p.provider] }} aria-hidden="true" />
                      {p.provider}
                    </th>
                    <td>{formatCount(p.segments)}</td>
                    <td>{formatCost(p.cost)}</td>
                    <td>{formatCost(perDelivered(p.cost, p.delivered))}</td>
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
