// Backtest metrics with the names and formulas of docs/backtesting.md (Results), plus a few extras.
// Ratios that would divide by zero are null (JSON has no Infinity), e.g. profitFactor with no losing
// trade.
import type { ClosedTrade } from "../model/position";

export interface BacktestMetrics {
  /** Final − initial equity. */
  readonly netProfit: number;
  readonly totalReturnPct: number;
  /** Compound annual growth over the range's calendar span (365-day years). */
  readonly cagrPct: number;
  /** Largest fall from a running peak of close-marked equity, in % of that peak (positive). */
  readonly maxDrawdownPct: number;
  readonly trades: number;
  readonly winRatePct: number;
  /** Gross profit / gross loss; null when there is no losing trade. */
  readonly profitFactor: number | null;
  /** Mean trade P&L. */
  readonly expectancy: number;
  /** Mean / sample std of per-candle equity returns × √(candles per year); null when undefined. */
  readonly sharpe: number | null;
  /** Mean / √(mean of min(r, 0)²) × √(candles per year); null without any negative return. */
  readonly sortino: number | null;
  /** Share of candles with a position open after the open's fills. */
  readonly exposurePct: number;
  readonly feesPaid: number;
  readonly skippedOrders: number;
  // extras
  readonly initialBalance: number;
  readonly finalEquity: number;
  /** Longest time from an equity peak to its recovery (or to the end), in ms. */
  readonly maxDrawdownDurationMs: number;
  /** Mean P&L of winning trades (0 when none). */
  readonly avgWin: number;
  /** Mean P&L of losing trades, ≤ 0 (0 when none). */
  readonly avgLoss: number;
  readonly longestLosingStreak: number;
}

export interface MetricsInput {
  readonly initialBalance: number;
  readonly equity: Float64Array;
  readonly equityTime: Float64Array;
  readonly trades: readonly ClosedTrade[];
  /** Open time of the first candle in range. */
  readonly startMs: number;
  /** Candle length, for the span (last open + interval) and the annualisation factor. */
  readonly intervalMs: number;
  readonly lastOpenTime: number;
  readonly exposedCandles: number;
  readonly feesPaid: number;
  readonly skippedOrders: number;
}

const YEAR_MS = 365 * 86_400_000;

// Cells of equityPass's result.
const MAX_DD = 0;
const MAX_DD_DURATION = 1;
const SUM = 2;
const SUM_SQ = 3;
const DOWN_SQ = 4;

/**
 * One pass: drawdown against a running peak that starts at the initial balance, and sums of the
 * per-candle returns (the first relative to the initial balance) minus `shift`, the first return:
 * shifted sums keep the one-pass variance free of cancellation.
 *
 * A function of its own with numbers in and out: as part of computeMetrics, the code V8
 * optimized for this loop ran five times slower on some calls than on others.
 */
function equityPass(
  eq: Float64Array,
  times: Float64Array,
  initial: number,
  startMs: number,
  shift: number,
): Float64Array {
  const n = eq.length;
  let peak = initial;
  let peakTime = startMs;
  let maxDd = 0;
  let ddFloor = peak; // equity below this is a new largest drawdown
  let maxDdDuration = 0;
  let before = initial;
  let sum = 0;
  let sumSq = 0;
  let downSq = 0;
  for (let i = 0; i < n; i++) {
    const e = eq[i];
    if (e >= peak) {
      peak = e;
      peakTime = times[i];
      ddFloor = peak * (1 - maxDd);
    } else {
      if (e < ddFloor) {
        const dd = (peak - e) / peak;
        if (dd > maxDd) maxDd = dd;
        ddFloor = e;
      }
      const dur = times[i] - peakTime;
      if (dur > maxDdDuration) maxDdDuration = dur;
    }
    const r = before !== 0 ? e / before - 1 : 0;
    before = e;
    const d = r - shift;
    sum += d;
    sumSq += d * d;
    if (r < 0) downSq += r * r;
  }
  return Float64Array.of(maxDd, maxDdDuration, sum, sumSq, downSq);
}

/** The trade-level sums every P&L metric is made of (the backtest's and the live portfolio's). */
export interface TradeStats {
  readonly count: number;
  readonly wins: number;
  readonly losses: number;
  readonly grossProfit: number;
  /** positive: the sum of the losing trades' P&L, negated */
  readonly grossLoss: number;
  readonly pnlSum: number;
  readonly longestStreak: number;
}

/**
 * One pass over closed trades in exit order. Shared by computeMetrics and the live portfolio's
 * per-strategy and per-symbol breakdowns, so a win rate or profit factor means the same in both.
 */
export function tradeStats(trades: Iterable<{ readonly pnl: number }>): TradeStats {
  let count = 0;
  let wins = 0;
  let losses = 0;
  let grossProfit = 0;
  let grossLoss = 0;
  let pnlSum = 0;
  let streak = 0;
  let longestStreak = 0;
  for (const t of trades) {
    count++;
    pnlSum += t.pnl;
    if (t.pnl > 0) {
      wins++;
      grossProfit += t.pnl;
    } else if (t.pnl < 0) {
      losses++;
      grossLoss -= t.pnl;
    }
    if (t.pnl < 0) {
      if (++streak > longestStreak) longestStreak = streak;
    } else {
      streak = 0;
    }
  }
  return { count, wins, losses, grossProfit, grossLoss, pnlSum, longestStreak };
}

/** The trade metrics of BacktestMetrics from TradeStats (same formulas, same nulls). */
export function tradeMetrics(s: TradeStats) {
  return {
    trades: s.count,
    winRatePct: s.count > 0 ? (s.wins / s.count) * 100 : 0,
    profitFactor: s.grossLoss > 0 ? s.grossProfit / s.grossLoss : null,
    expectancy: s.count > 0 ? s.pnlSum / s.count : 0,
    avgWin: s.wins > 0 ? s.grossProfit / s.wins : 0,
    avgLoss: s.losses > 0 ? -s.grossLoss / s.losses : 0,
    longestLosingStreak: s.longestStreak,
  };
}

export function computeMetrics(m: MetricsInput): BacktestMetrics {
  const eq = m.equity;
  const n = eq.length;
  const initial = m.initialBalance;
  const final = n > 0 ? eq[n - 1] : initial;

  const shift = n > 0 && initial !== 0 ? eq[0] / initial - 1 : 0;
  const pass = equityPass(eq, m.equityTime, initial, n > 0 ? m.startMs : 0, shift);
  const maxDd = pass[MAX_DD];
  const maxDdDuration = pass[MAX_DD_DURATION];
  const sum = pass[SUM];
  const sumSq = pass[SUM_SQ];
  const downSq = pass[DOWN_SQ];
  const mean = n > 0 ? sum / n + shift : 0;
  const variance = n > 1 ? Math.max(0, (sumSq - (sum * sum) / n) / (n - 1)) : 0;
  const periodsPerYear = YEAR_MS / m.intervalMs;
  const annual = Math.sqrt(periodsPerYear);
  const std = Math.sqrt(variance);
  const sharpe = std > 0 ? (mean / std) * annual : null;
  const downside = n > 0 ? Math.sqrt(downSq / n) : 0;
  const sortino = downside > 0 ? (mean / downside) * annual : null;

  const years = n > 0 ? (m.lastOpenTime + m.intervalMs - m.startMs) / YEAR_MS : 0;
  let cagrPct = 0;
  if (years > 0 && initial > 0)
    cagrPct = final <= 0 ? -100 : (Math.pow(final / initial, 1 / years) - 1) * 100;

  const t = tradeMetrics(tradeStats(m.trades));

  return {
    netProfit: final - initial,
    totalReturnPct: ((final - initial) / initial) * 100,
    cagrPct,
    maxDrawdownPct: maxDd * 100,
    trades: t.trades,
    winRatePct: t.winRatePct,
    profitFactor: t.profitFactor,
    expectancy: t.expectancy,
    sharpe,
    sortino,
    exposurePct: n > 0 ? (m.exposedCandles / n) * 100 : 0,
    feesPaid: m.feesPaid,
    skippedOrders: m.skippedOrders,
    initialBalance: initial,
    finalEquity: final,
    maxDrawdownDurationMs: maxDdDuration,
    avgWin: t.avgWin,
    avgLoss: t.avgLoss,
    longestLosingStreak: t.longestLosingStreak,
  };
}
