// What a trade looks like over the API and in exports (one shape, so a CSV parses back to the
// rows the API returns), and the CSV/PDF exports of trades and of backtest results.
import type { Readable } from "node:stream";
import { tradeMetrics, tradeStats, type BacktestMetrics } from "../../core/backtest/metrics";
import type { ClosedTrade } from "../../core/model/position";
import { csvStream, type CsvValue } from "./csv";
import { renderPdf, type PdfColumn } from "./pdf";
import type { HistoryStore, Mode, TradeFilters, TradeRow, TradeTotals } from "./store";
import { numberOrNull } from "../storage/rows";

export interface TradeView {
  id: number;
  exitTime: string;
  entryTime: string;
  strategyId: number | null;
  strategy: string | null;
  mode: Mode | null;
  symbol: string;
  side: string;
  qty: string;
  entryPrice: string;
  exitPrice: string;
  fees: string;
  pnl: string;
  exitReason: string;
}

export function tradeView(r: TradeRow): TradeView {
  return {
    id: Number(r.id),
    exitTime: r.exit_time,
    entryTime: r.entry_time,
    strategyId: numberOrNull(r.strategy_id),
    strategy: r.strategy_name,
    mode: r.paper === null ? null : r.paper ? "paper" : "live",
    symbol: r.symbol,
    side: r.side,
    qty: r.qty,
    entryPrice: r.entry_price,
    exitPrice: r.exit_price,
    fees: r.fees,
    pnl: r.pnl,
    exitReason: r.exit_reason,
  };
}

export const TRADE_COLUMNS = [
  "id",
  "exitTime",
  "entryTime",
  "strategyId",
  "strategy",
  "mode",
  "symbol",
  "side",
  "qty",
  "entryPrice",
  "exitPrice",
  "fees",
  "pnl",
  "exitReason",
] as const satisfies readonly (keyof TradeView)[];

const tradeCells = (v: TradeView): CsvValue[] => TRADE_COLUMNS.map((k) => v[k]);

/** Trade rows as views, a batch at a time. */
async function* tradeViews(
  store: HistoryStore,
  userId: number,
  f: TradeFilters,
  limit = Infinity,
): AsyncGenerator<TradeView[]> {
  for await (const rows of store.tradeBatches(userId, f, 1000, limit)) yield rows.map(tradeView);
}

export function tradesCsv(store: HistoryStore, userId: number, f: TradeFilters): Readable {
  async function* batches() {
    for await (const views of tradeViews(store, userId, f)) yield views.map(tradeCells);
  }
  return csvStream(TRADE_COLUMNS, batches());
}

const FILTER_LABELS: Record<keyof TradeFilters, string> = {
  from: "from",
  to: "to",
  symbol: "symbol",
  strategyId: "strategy id",
  side: "side",
  exitReason: "exit reason",
  mode: "mode",
  minPnl: "min P&L",
  maxPnl: "max P&L",
};

const num = (v: number | null, digits = 2) => (v === null ? "n/a" : v.toFixed(digits));

/** The PDF of the filtered trades: summary, cumulative P&L curve, then the table. */
export async function tradesPdf(
  store: HistoryStore,
  userId: number,
  f: TradeFilters,
  totals: TradeTotals,
  onError: (e: Error) => void,
): Promise<Readable> {
  // the stats are one cheap pass over the P&L column before the table starts
  const pnls: number[] = [];
  for await (const rows of store.tradeBatches(userId, { ...f }, 5000))
    for (const r of rows) pnls.push(+r.pnl);
  pnls.reverse(); // exit order, oldest first
  const m = tradeMetrics(tradeStats(pnls.map((pnl) => ({ pnl }))));
  const curve = await store.tradePnlCurve(userId, f, 400);
  const filters = (Object.keys(FILTER_LABELS) as (keyof TradeFilters)[])
    .filter((k) => f[k] !== undefined)
    .map((k): [string, string] => [
      FILTER_LABELS[k],
      k === "from" || k === "to" ? new Date(f[k] as number).toISOString() : String(f[k]),
    ]);
  const columns: PdfColumn[] = [
    { header: "Trade id", width: 7 },
    { header: "Exit time (UTC)", width: 13 },
    { header: "Entry time (UTC)", width: 13 },
    { header: "Strategy", width: 11 },
    { header: "Mode", width: 5 },
    { header: "Symbol", width: 8 },
    { header: "Qty", width: 9, align: "right" },
    { header: "Entry price", width: 10, align: "right" },
    { header: "Exit price", width: 10, align: "right" },
    { header: "Fees", width: 9, align: "right" },
    { header: "P&L", width: 10, align: "right" },
    { header: "Exit reason", width: 9 },
  ];
  async function* rows() {
    for await (const views of tradeViews(store, userId, f)) {
      yield views.map((v) => [
        String(v.id),
        v.exitTime.replace("T", " ").replace("Z", ""),
        v.entryTime.replace("T", " ").replace("Z", ""),
        v.strategy ?? (v.strategyId === null ? "" : `#${v.strategyId}`),
        v.mode ?? "",
        v.symbol,
        v.qty,
        v.entryPrice,
        v.exitPrice,
        v.fees,
        v.pnl,
        v.exitReason,
      ]);
    }
  }
  return renderPdf({
    title: "AURA trade history",
    subtitle: `Generated ${new Date().toISOString()}`,
    period: [
      ["from", f.from === undefined ? "first trade" : new Date(f.from).toISOString()],
      ["to", f.to === undefined ? "now" : new Date(f.to).toISOString()],
    ],
    filters: filters.filter(([k]) => k !== "from" && k !== "to"),
    totals: [
      ["trades", String(totals.count)],
      ["realised P&L", totals.pnl],
      ["fees paid", totals.fees],
    ],
    metrics: [
      ["win rate", `${num(m.winRatePct)} %`],
      ["profit factor", num(m.profitFactor)],
      ["expectancy", num(m.expectancy, 4)],
      ["average win", num(m.avgWin, 4)],
      ["average loss", num(m.avgLoss, 4)],
      ["longest losing streak", String(m.longestLosingStreak)],
    ],
    curve,
    curveTitle: "Cumulative realised P&L",
    columns,
    rows: rows(),
    onError,
  });
}

// ------------------------------------------------------------------ backtests

export interface BacktestExportRow {
  id: string;
  params: Record<string, unknown>;
  definition: { name?: string } | null;
  metrics: BacktestMetrics | null;
  result: { trades?: ClosedTrade[]; equity?: { time: number; equity: number }[] } | null;
}

export const BACKTEST_COLUMNS = [
  "trade",
  "entryTime",
  "exitTime",
  "entryPrice",
  "exitPrice",
  "qty",
  "fees",
  "pnl",
  "exitReason",
] as const;

const isoOf = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString() : "");

function backtestCells(t: ClosedTrade, i: number): CsvValue[] {
  return [
    i + 1,
    isoOf(t.entryTime),
    isoOf(t.exitTime),
    t.entryPrice,
    t.exitPrice,
    t.qty,
    t.fees,
    t.pnl,
    t.exitReason,
  ];
}

/** The backtest's trades in chunks (the result document is already in memory; chunks keep the stream fair). */
async function* chunks<T, U>(
  items: readonly T[],
  map: (t: T, i: number) => U,
  size = 1000,
): AsyncGenerator<U[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size).map((t, j) => map(t, i + j));
}

export function backtestCsv(row: BacktestExportRow): Readable {
  return csvStream(BACKTEST_COLUMNS, chunks(row.result?.trades ?? [], backtestCells));
}

const METRIC_LABELS: [keyof BacktestMetrics, string, number][] = [
  ["netProfit", "net profit", 2],
  ["totalReturnPct", "total return %", 2],
  ["cagrPct", "CAGR %", 2],
  ["maxDrawdownPct", "max drawdown %", 2],
  ["trades", "trades", 0],
  ["winRatePct", "win rate %", 2],
  ["profitFactor", "profit factor", 2],
  ["expectancy", "expectancy", 4],
  ["sharpe", "Sharpe", 3],
  ["sortino", "Sortino", 3],
  ["exposurePct", "exposure %", 2],
  ["feesPaid", "fees paid", 2],
];

/** At most `n` points of a long series, evenly picked (first and last kept). */
export function thin<T>(pts: readonly T[], n: number): T[] {
  if (pts.length <= n) return [...pts];
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(pts[Math.round((i * (pts.length - 1)) / (n - 1))]);
  return out;
}

export function backtestPdf(row: BacktestExportRow, onError: (e: Error) => void): Readable {
  const p = row.params;
  const trades = row.result?.trades ?? [];
  const m = row.metrics;
  const fixed = (v: unknown, d: number) => (typeof v === "number" ? v.toFixed(d) : "n/a");
  return renderPdf({
    title: `Backtest ${row.definition?.name ?? ""}`.trim(),
    subtitle: `Run ${row.id}; generated ${new Date().toISOString()}`,
    period: [
      ["from", String(p.from ?? "")],
      ["to", String(p.to ?? "")],
      ["symbol", String(p.symbol ?? "")],
      ["interval", String(p.interval ?? "")],
    ],
    filters: [
      ["initial balance", String(p.initialBalance ?? "")],
      ["fee rate", String(p.feeRate ?? "")],
      ["slippage (bps)", String(p.slippageBps ?? "")],
    ],
    totals: [
      ["trades", String(trades.length)],
      [
        "P&L",
        fixed(
          trades.reduce((s, t) => s + t.pnl, 0),
          2,
        ),
      ],
      [
        "fees",
        fixed(
          trades.reduce((s, t) => s + t.fees, 0),
          2,
        ),
      ],
    ],
    metrics: m ? METRIC_LABELS.map(([k, label, d]) => [label, fixed(m[k], d)]) : [],
    curve: thin(row.result?.equity ?? [], 600).map((e) => ({ time: e.time, value: e.equity })),
    curveTitle: "Equity",
    columns: [
      { header: "#", width: 5, align: "right" },
      { header: "Entry time (UTC)", width: 14 },
      { header: "Exit time (UTC)", width: 14 },
      { header: "Entry price", width: 11, align: "right" },
      { header: "Exit price", width: 11, align: "right" },
      { header: "Qty", width: 10, align: "right" },
      { header: "Fees", width: 10, align: "right" },
      { header: "P&L", width: 11, align: "right" },
      { header: "Exit reason", width: 10 },
    ],
    rows: chunks(trades, (t, i) => backtestCells(t, i).map((c) => String(c ?? ""))),
    onError,
  });
}
