// The backtest metrics the dashboard shows, in order, with how each is formatted and which way is
// better (for comparisons and sweep rankings). Names and meanings: docs/backtesting.md, Results.
import { formatDuration, formatMoney, formatPct, formatRatio } from "./format";

export type Metrics = Record<string, number | null>;

export interface MetricSpec {
  key: string;
  label: string;
  format: (v: number | null) => string;
  /** true: larger is better; false: smaller is better; undefined: neither */
  higherIsBetter?: boolean;
}

const int = (v: number | null) => (v === null ? "—" : String(Math.round(v)));

export const METRICS: readonly MetricSpec[] = [
  { key: "netProfit", label: "Net profit", format: (v) => formatMoney(v), higherIsBetter: true },
  { key: "totalReturnPct", label: "Total return", format: (v) => formatPct(v), higherIsBetter: true },
  { key: "cagrPct", label: "CAGR", format: (v) => formatPct(v), higherIsBetter: true },
  {
    key: "maxDrawdownPct",
    label: "Max drawdown",
    format: (v) => formatPct(v, 2, false),
    higherIsBetter: false,
  },
  {
    key: "maxDrawdownDurationMs",
    label: "Longest drawdown",
    format: (v) => formatDuration(v),
    higherIsBetter: false,
  },
  { key: "trades", label: "Trades", format: int },
  { key: "winRatePct", label: "Win rate", format: (v) => formatPct(v, 1, false), higherIsBetter: true },
  { key: "profitFactor", label: "Profit factor", format: (v) => formatRatio(v), higherIsBetter: true },
  { key: "expectancy", label: "Expectancy per trade", format: (v) => formatMoney(v), higherIsBetter: true },
  { key: "sharpe", label: "Sharpe", format: (v) => formatRatio(v), higherIsBetter: true },
  { key: "sortino", label: "Sortino", format: (v) => formatRatio(v), higherIsBetter: true },
  { key: "exposurePct", label: "Exposure", format: (v) => formatPct(v, 1, false) },
  { key: "feesPaid", label: "Fees paid", format: (v) => formatMoney(v) },
  { key: "skippedOrders", label: "Skipped orders", format: int },
  { key: "avgWin", label: "Average win", format: (v) => formatMoney(v) },
  { key: "avgLoss", label: "Average loss", format: (v) => formatMoney(v) },
  { key: "longestLosingStreak", label: "Longest losing streak", format: int },
  { key: "initialBalance", label: "Initial balance", format: (v) => formatMoney(v) },
  { key: "finalEquity", label: "Final equity", format: (v) => formatMoney(v) },
];

export const METRIC_BY_KEY = new Map(METRICS.map((m) => [m.key, m]));

/** The metrics a sweep can be ranked by (the backtest service's RANKABLE_METRICS). */
export const RANKABLE = [
  "sharpe",
  "netProfit",
  "totalReturnPct",
  "cagrPct",
  "sortino",
  "profitFactor",
  "expectancy",
  "winRatePct",
  "maxDrawdownPct",
] as const;

export function metricLabel(key: string): string {
  return METRIC_BY_KEY.get(key)?.label ?? key;
}

export function formatMetric(key: string, v: number | null | undefined): string {
  const spec = METRIC_BY_KEY.get(key);
  const value = v === undefined ? null : v;
  return spec ? spec.format(value) : value === null ? "—" : String(value);
}

/** Index of the best value among runs for a metric, or -1 when there is no better direction. */
export function bestIndex(key: string, values: readonly (number | null | undefined)[]): number {
  const spec = METRIC_BY_KEY.get(key);
  if (spec?.higherIsBetter === undefined) return -1;
  let best = -1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined || !Number.isFinite(v)) continue;
    if (best === -1) best = i;
    else if (spec.higherIsBetter ? v > (values[best] as number) : v < (values[best] as number)) best = i;
  }
  return best;
}
