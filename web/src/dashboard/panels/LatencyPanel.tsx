// Latency percentiles of the two stages (dashboard_latency): send, from the commit that queued
// a message to the provider accepting it; delivery, from that acceptance to the receipt.
import { useMemo } from 'react';
import type { LatencyRow } from '../api';
import { formatCount, formatMs } from '../format';
import { latencySeries, latencyTable, STAGES } from '../latency';
import { Panel, TableBox, type PanelStatus } from '../Panel';
import { TimeChart } from '../TimeChart';
import type { TimeWindow } from '../range';

const PERCENTILE_COLORS = { p50: '#2456d6', p95: '#e69f00', p99: '#cc3d3d' };

export interface LatencyPanelProps {
  series: LatencyRow[] | null;
  totals: LatencyRow[] | null;
  window: TimeWindow | null;
  status: PanelStatus;
  rangeText: string;
  onRetry: () => void;
}

export function LatencyPanel({ series, totals, window, status, rangeText, onRetry }: LatencyPanelProps) {
  const shaped = useMemo(() => {
    if (!series || !totals || !window) return null;
    return {
      charts: STAGES.map((s) => ({ ...s, data: latencySeries(series, s.stage, window) })),
      table: latencyTable(totals).filter((l) => l.count > 0),
    };
  }, [series, totals, window]);
  return (
    <Panel
      id="latency"
      title="Latency"
      description={
        <>
          p50, p95 and p99 of send (commit to provider accepted) and delivery (accepted to delivered).{' '}
          <code>sms_otp.dashboard_latency</code>
        </>
      }
      status={status}
      empty={!shaped || shaped.table.length === 0}
      emptyText={`No message was accepted by a provider in ${rangeText}.`}
      onRetry={onRetry}
    >
      {shaped && (
        <>
          <div className="dash-charts">
            {shaped.charts.map((c) => (
              <figure key={c.stage}>
                <figcaption>{c.label}</figcaption>
                <TimeChart utc={window?.bucket === 'day'} data={c.data} unit="ms" colors={PERCENTILE_COLORS} label={`${c.label} latency, ${c.description}, ${rangeText}`} />
              </figure>
            ))}
          </div>
          <TableBox>
            <table aria-label="Latency by provider">
              <thead>
                <tr>
                  <th scope="col">Provider</th>
                  <th scope="col">Stage</th>
                  <th scope="col" className="dash-opt">Messages</th>
                  <th scope="col">p50</th>
                  <th scope="col">p95</th>
                  <th scope="col">p99</th>
                </tr>
              </thead>
              <tbody>
                {shaped.table.map((l) => (
                  <tr key={`${l.provider}/${l.stage}`}>
                    <th scope="row">{l.provider}</th>
                    <td>{l.stage}</td>
                    <td className="dash-opt">{formatCount(l.count)}</td>
                    <td>{formatMs(l.p50)}</td>
                    <td>{formatMs(l.p95)}</td>
                    <td>{formatMs(l.p99)}</td>
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
