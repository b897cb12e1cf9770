// Performance of a live or paper account from its equity snapshots, with the backtest engine's
// own metric code (src/core/backtest/metrics.ts): snapshots are irregular (a timer and every fill),
// so they are first put on a regular grid of "candles" (the last snapshot at or before each
// step's close, carried forward), marked at each step's close time like the engine marks equity;
// the annualisation factor is then √(steps per year) exactly as for candles of that length.
import { computeMetrics, tradeMetrics, tradeStats, type BacktestMetrics } from "../../core/backtest/metrics";
import type { PerfTrade, Snapshot } from "./store";

export type Range = "7d" | "30d" | "90d" | "all";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
export const RANGE_MS: Record<Exclude<Range, "all">, number> = {
  "7d": 7 * DAY,
  "30d": 30 * DAY,
  "90d": 90 * DAY,
};
/** steps tried, shortest first: the first that keeps the grid within MAX_POINTS is used */
const STEPS = [HOUR, 4 * HOUR, DAY, 7 * DAY];
const MAX_POINTS = 1000;

export interface EquitySeries {
  initialBalance: number;
  stepMs: number;
  /** open time of the first step */
  startMs: number;
  equity: Float64Array;
  /** close time of each step (open + step − 1), as the engine marks equity */
  time: Float64Array;
}

export function stepFor(spanMs: number): number {
  for (const s of STEPS) if (spanMs / s <= MAX_POINTS) return s;
  return STEPS[STEPS.length - 1];
}

/**
 * The snapshots on a regular grid from `fromMs` (or the first snapshot) to `nowMs`. The starting
 * equity is the last snapshot before the range, else the first one in it. Undefined without any
 * snapshot.
 */
export function resample(
  rows: Snapshot[],
  before: Snapshot | undefined,
  fromMs: number | null,
  nowMs: number,
  stepMs?: number,
): EquitySeries | undefined {
  if (!rows.length && !before) return undefined;
  const first = before ? (fromMs ?? before.time) : rows[0].time;
  const step = stepMs ?? stepFor(Math.max(1, nowMs - first));
  const k0 = Math.floor(first / step);
  const k1 = Math.floor(nowMs / step);
  const n = Math.max(0, k1 - k0 + 1);
  const equity = new Float64Array(n);
  const time = new Float64Array(n);
  let last = before?.equity ?? rows[0].equity;
  let j = 0;
  for (let i = 0; i < n; i++) {
    const close = (k0 + i + 1) * step - 1;
    while (j < rows.length && rows[j].time <= close) last = rows[j++].equity;
    equity[i] = last;
    time[i] = close;
  }
  return {
    initialBalance: before?.equity ?? rows[0].equity,
    stepMs: step,
    startMs: k0 * step,
    equity,
    time,
  };
}

/** Steps (of the series) during which at least one position was open. */
export function exposedSteps(
  s: EquitySeries,
  spans: { open: number; close: number | null }[],
  nowMs: number,
): number {
  const n = s.equity.length;
  if (!n) return 0;
  const diff = new Int32Array(n + 1);
  for (const p of spans) {
    const a = Math.max(0, Math.floor((p.open - s.startMs) / s.stepMs));
    const b = Math.min(n - 1, Math.floor(((p.close ?? nowMs) - s.startMs) / s.stepMs));
    if (b < 0 || a > n - 1 || b < a) continue;
    diff[a]++;
    diff[b + 1]--;
  }
  let open = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    open += diff[i];
    if (open > 0) count++;
  }
  return count;
}

export interface Breakdown {
  key: string;
  trades: number;
  pnl: number;
  fees: number;
  winRatePct: number;
  profitFactor: number | null;
  expectancy: number;
  avgWin: number;
  avgLoss: number;
  longestLosingStreak: number;
}

/** Accumulates trades (oldest first) for the overall figures and the per-group breakdowns. */
export class TradeBook {
  /** P&L of every trade in exit order: numbers only, 8 bytes a trade */
  private pnls = new Float64Array(1024);
  private n = 0;
  fees = 0;
  private readonly groups = new Map<string, { idx: number[]; pnl: number; fees: number }>();

  add(t: PerfTrade, groupKeys: string[]): void {
    if (this.n === this.pnls.length) {
      const grown = new Float64Array(this.pnls.length * 2);
      grown.set(this.pnls);
      this.pnls = grown;
    }
    const i = this.n++;
    this.pnls[i] = t.pnl;
    this.fees += t.fees;
    for (const k of groupKeys) {
      let g = this.groups.get(k);
      if (!g) this.groups.set(k, (g = { idx: [], pnl: 0, fees: 0 }));
      g.idx.push(i);
      g.pnl += t.pnl;
      g.fees += t.fees;
    }
  }

  private *views(idx?: number[]): Generator<{ pnl: number }> {
    const v = { pnl: 0 };
    if (idx) {
      for (const i of idx) {
        v.pnl = this.pnls[i];
        yield v;
      }
    } else {
      for (let i = 0; i < this.n; i++) {
        v.pnl = this.pnls[i];
        yield v;
      }
    }
  }

  overall() {
    return tradeMetrics(tradeStats(this.views()));
  }

  breakdown(prefix: string): Breakdown[] {
    const out: Breakdown[] = [];
    for (const [k, g] of this.groups) {
      if (!k.startsWith(prefix)) continue;
      const m = tradeMetrics(tradeStats(this.views(g.idx)));
      out.push({
        key: k.slice(prefix.length),
        pnl: g.pnl,
        fees: g.fees,
        trades: m.trades,
        winRatePct: m.winRatePct,
        profitFactor: m.profitFactor,
        expectancy: m.expectancy,
        avgWin: m.avgWin,
        avgLoss: m.avgLoss,
        longestLosingStreak: m.longestLosingStreak,
      });
    }
    return out.sort((a, b) => b.pnl - a.pnl);
  }
}

/**
 * The backtest metrics of a resampled series and its trades: computeMetrics on the equity, its
 * trade metrics from the same tradeStats over every trade (fed from the compact book).
 */
export function performanceMetrics(
  s: EquitySeries,
  book: TradeBook,
  exposed: number,
  skippedOrders: number,
): BacktestMetrics {
  const n = s.equity.length;
  const equityPart = computeMetrics({
    initialBalance: s.initialBalance,
    equity: s.equity,
    equityTime: s.time,
    trades: [],
    startMs: s.startMs,
    intervalMs: s.stepMs,
    lastOpenTime: n > 0 ? s.startMs + (n - 1) * s.stepMs : s.startMs,
    exposedCandles: exposed,
    feesPaid: book.fees,
    skippedOrders,
  });
  return { ...equityPart, ...book.overall() };
}
