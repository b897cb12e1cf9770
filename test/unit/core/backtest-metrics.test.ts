// The metric formulas of docs/backtesting.md (Results) on a tiny equity curve computed by hand.
import { computeMetrics } from "../../../src/core/backtest/metrics";
import type { ClosedTrade } from "../../../src/core/model/position";

const H = 3_600_000;
const trade = (pnl: number): ClosedTrade => ({
  entryTime: 0,
  entryPrice: 1,
  exitTime: 0,
  exitPrice: 1,
  qty: 1,
  fees: 0,
  pnl,
  exitReason: "signal",
});

describe("computeMetrics", () => {
  // initial 100 → 110 → 99 → 121 (hourly). Returns: +10 %, −10 %, +22.2… %
  const equity = Float64Array.of(110, 99, 121);
  const m = computeMetrics({
    initialBalance: 100,
    equity,
    equityTime: Float64Array.of(H - 1, 2 * H - 1, 3 * H - 1),
    trades: [trade(30), trade(-20), trade(-5), trade(16)],
    startMs: 0,
    intervalMs: H,
    lastOpenTime: 2 * H,
    exposedCandles: 2,
    feesPaid: 1.5,
    skippedOrders: 3,
  });

  it("returns and drawdown", () => {
    expect(m.netProfit).toBe(21);
    expect(m.totalReturnPct).toBeCloseTo(21, 12);
    // peak 110, trough 99: 11 / 110 = 10 %
    expect(m.maxDrawdownPct).toBeCloseTo(10, 12);
    // under water from the peak 110 (marked at H−1) through the 99 point (2H−1): 1 hour, then
    // recovered by 121
    expect(m.maxDrawdownDurationMs).toBe(H);
    // the range spans 3 hours of a 365-day year: (121/100)^(8760/3) − 1
    expect(m.cagrPct / ((Math.pow(1.21, 8760 / 3) - 1) * 100)).toBeCloseTo(1, 10);
  });

  it("trade statistics", () => {
    expect(m.trades).toBe(4);
    expect(m.winRatePct).toBe(50);
    expect(m.profitFactor).toBeCloseTo(46 / 25, 12);
    expect(m.expectancy).toBeCloseTo(21 / 4, 12);
    expect(m.avgWin).toBe(23);
    expect(m.avgLoss).toBe(-12.5);
    expect(m.longestLosingStreak).toBe(2);
    expect(m.exposurePct).toBeCloseTo(200 / 3, 12);
    expect(m.feesPaid).toBe(1.5);
    expect(m.skippedOrders).toBe(3);
  });

  it("sharpe and sortino as documented, annualised with √(candles per year)", () => {
    const r = [0.1, -0.1, 121 / 99 - 1];
    const mean = (r[0] + r[1] + r[2]) / 3;
    const sd = Math.sqrt(r.reduce((s, x) => s + (x - mean) ** 2, 0) / 2);
    const downside = Math.sqrt((0.1 * 0.1) / 3);
    expect(m.sharpe).toBeCloseTo((mean / sd) * Math.sqrt(8760), 10);
    expect(m.sortino).toBeCloseTo((mean / downside) * Math.sqrt(8760), 10);
  });

  it("ratios that would divide by zero are null; no trades give zeros", () => {
    const flat = computeMetrics({
      initialBalance: 100,
      equity: Float64Array.of(100, 100),
      equityTime: Float64Array.of(H - 1, 2 * H - 1),
      trades: [],
      startMs: 0,
      intervalMs: H,
      lastOpenTime: H,
      exposedCandles: 0,
      feesPaid: 0,
      skippedOrders: 0,
    });
    expect(flat).toMatchObject({
      profitFactor: null,
      sharpe: null,
      sortino: null,
      winRatePct: 0,
      expectancy: 0,
      maxDrawdownPct: 0,
      cagrPct: 0,
    });
    expect(JSON.parse(JSON.stringify(flat)).sharpe).toBeNull();
  });
});
