// A time series chart: uPlot on a canvas, as wide as its container (it follows the container's
// width, so a phone gets a narrower chart, not a page that scrolls sideways). The chart is made
// once per set of series and given new data in place; the numbers behind it are also in each
// panel's table, which is what screen readers read.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatCost, formatCount, formatMs, formatPercent } from './format';
import type { ChartData } from './series';

export type ChartUnit = 'count' | 'percent' | 'ms' | 'cost';

// Distinct at a glance and for the common colour blindnesses (Okabe-Ito, darker blue first).
export const PALETTE = ['#2456d6', '#e69f00', '#009e73', '#cc3d3d', '#8e5cc4', '#56b4e9', '#7f6a00', '#5a6275'];

export function seriesColor(index: number): string {
  return PALETTE[index % PALETTE.length];
}

// Axis labels: short (an axis of costs needs no fourth decimal).
const FORMATS: Record<ChartUnit, (v: number) => string> = {
  count: formatCount,
  percent: (v) => formatPercent(v, 0),
  ms: formatMs,
  cost: (v) => (Math.abs(v) >= 100 ? formatCount(Math.round(v)) : v.toFixed(2)),
};

// Legend values, as exact as the tables.
const LEGEND_FORMATS: Record<ChartUnit, (v: number) => string> = { ...FORMATS, percent: (v) => formatPercent(v, 1), cost: formatCost };

export interface TimeChartProps {
  data: ChartData;
  unit: ChartUnit;
  /** What the chart shows, for assistive technology. */
  label: string;
  height?: number;
  /** Colours by series label; by position in PALETTE otherwise. */
  colors?: Record<string, string>;
  /** Draw a soft area under each line (volumes). */
  area?: boolean;
  /** The buckets are the server's days, which are UTC days: label them in UTC, or a day would
   *  show as the evening before west of Greenwich. */
  utc?: boolean;
}

function aligned(data: ChartData): uPlot.AlignedData {
  return [data.x, ...data.series.map((s) => s.values)];
}

function options(props: TimeChartProps, width: number): uPlot.Options {
  const { data, unit, height = 200, colors, area, utc } = props;
  const format = FORMATS[unit];
  const legend = LEGEND_FORMATS[unit];
  return {
    width,
    height,
    ...(utc ? { tzDate: (ts: number) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC') } : {}),
    series: [
      {},
      ...data.series.map((s, i) => {
        const stroke = colors?.[s.label] ?? seriesColor(i);
        return {
          label: s.label,
          stroke,
          width: 2,
          fill: area ? `${stroke}1f` : undefined,
          spanGaps: false,
          // Points where there are few, so a single bucket shows at all.
          points: { show: data.x.length <= 48, size: 5 },
          value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '—' : legend(v)),
        };
      }),
    ],
    scales: {
      x: { time: true },
      y: {
        range: (_u, _min, max): uPlot.Range.MinMax => {
          if (unit === 'percent') return [0, 1];
          return [0, max > 0 ? max * 1.1 : 1];
        },
      },
    },
    axes: [
      { stroke: '#5a6275', grid: { stroke: '#eef1f6' }, ticks: { stroke: '#dde2ea' } },
      {
        stroke: '#5a6275',
        size: 64,
        grid: { stroke: '#eef1f6' },
        ticks: { stroke: '#dde2ea' },
        values: (_u, splits) => splits.map((v) => format(v)),
      },
    ],
    legend: { live: true },
    cursor: { points: { size: 7 } },
  };
}

export function TimeChart(props: TimeChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(props);
  latest.current = props;
  const { data, unit, height = 200 } = props;
  // A new chart when the series change (a provider appears); new data in place otherwise.
  const shape = `${unit}|${height}|${props.utc ? 'utc' : 'local'}|${data.series.map((s) => s.label).join('\u0001')}`;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = () => Math.max(160, Math.floor(el.clientWidth));
    const u = new uPlot(options(latest.current, width()), aligned(latest.current.data), el);
    plot.current = u;
    const observer = new ResizeObserver(() => u.setSize({ width: width(), height: latest.current.height ?? 200 }));
    observer.observe(el);
    return () => {
      observer.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [shape]);

  useEffect(() => {
    plot.current?.setData(aligned(data));
  }, [data]);

  return <div ref={box} className="dash-chart" role="img" aria-label={props.label} data-points={data.x.length} />;
}
