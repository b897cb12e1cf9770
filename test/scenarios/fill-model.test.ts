// The fill model of docs/backtesting.md, one rule per scenario. Every expected number is worked out by hand
// in the comments (balance 1000 USDT, BTCUSDT filters: tick 0.01, step 0.00001, min notional 5;
// fee and slippage 0 unless a scenario says otherwise).
import { at, candles, equities, HOUR, run, ScriptedStrategy, T0 } from "./helpers";

const MONEY = 9; // decimal places for toBeCloseTo on money amounts

describe("next-open fills", () => {
  // 0: entry signal at the close → 1: buy at the open (100), qty 1000/100 = 10, cash 0
  // 2: exit signal → 3: sell at the open (110), cash 10 × 110 = 1100, pnl +100
  const rows = candles([
    [100, 101, 99, 100],
    [100, 106, 99, 105],
    [105, 109, 104, 108],
    [110, 111, 109, 110],
  ]);

  it("enters at the next candle's open, never at the signal candle", () => {
    const r = run(new ScriptedStrategy({ 0: ["entry"], 2: ["exit"] }), rows);
    expect(r.trades).toEqual([
      {
        entryTime: at(1),
        entryPrice: 100,
        exitTime: at(3),
        exitPrice: 110,
        qty: 10,
        fees: 0,
        pnl: 100,
        exitReason: "signal",
      },
    ]);
    // marks: c0 flat 1000; c1 10 × 105; c2 10 × 108; c3 cash after the exit at the open
    expect(equities(r)).toEqual([1000, 1050, 1080, 1100]);
    expect(r.equity.map((p) => p.time)).toEqual([at(1) - 1, at(2) - 1, at(3) - 1, at(4) - 1]);
    expect(r.metrics.netProfit).toBe(100);
    // exposed on candles 1 and 2 (the exit at candle 3's open leaves it flat)
    expect(r.metrics.exposurePct).toBe(50);
  });

  it("applies slippage against the trader on market entries and exits", () => {
    // buy at 100 × 1.005 = 100.5, qty floor(1000 / 100.5 = 9.950248…) = 9.95024, cost 999.99912
    // sell at 110 × 0.995 = 109.45, proceeds 9.95024 × 109.45 = 1089.053768
    // pnl 1089.053768 − 999.99912 = 89.054648; final 1000 + 89.054648
    const r = run(new ScriptedStrategy({ 0: ["entry"], 2: ["exit"] }), rows, { slippageBps: 50 });
    const [t] = r.trades;
    expect(t.entryPrice).toBeCloseTo(100.5, 12);
    expect(t.exitPrice).toBeCloseTo(109.45, 12);
    expect(t.qty).toBe(9.95024);
    expect(t.pnl).toBeCloseTo(89.054648, MONEY);
    expect(r.metrics.finalEquity).toBeCloseTo(1089.054648, MONEY);
  });
});

describe("sizing", () => {
  const rows = candles([
    [37, 37, 37, 37],
    [37, 38, 36, 37],
    [37, 38, 36, 37],
  ]);

  it("rounds the quantity down to the LOT_SIZE step, without float noise", () => {
    // 1000 / 37 = 27.027027…: BTCUSDT step 0.00001 → 27.02702; ETHUSDT step 0.0001 → 27.027
    const btc = run(new ScriptedStrategy({ 0: ["entry"] }), rows);
    expect(btc.trades[0].qty).toBe(27.02702);
    expect(JSON.stringify(btc)).toContain('"qty":27.02702,');
    const eth = run(new ScriptedStrategy({ 0: ["entry"] }, {}, { symbol: "ETHUSDT" }), rows);
    expect(eth.trades[0].qty).toBe(27.027);
    // cash left: 1000 − 27.02702 × 37 = 0.00026 (BTC); 1000 − 999.999 = 0.001 (ETH)
    expect(btc.metrics.finalEquity).toBeCloseTo(1000, MONEY);
  });

  it("divides the equity share by price × (1 + fee) so the fee fits", () => {
    // fee 0.001: qty floor(1000 / (37 × 1.001) = 1000 / 37.037 = 27.000027…) = 27.00002,
    // notional 999.00074, fee 0.99900074, cash 1000 − 999.99974 = 0.00026 ≥ 0
    const r = run(new ScriptedStrategy({ 0: ["entry"] }), rows, { feeRate: 0.001 });
    expect(r.trades[0].qty).toBe(27.00002);
    expect(r.trades[0].fees).toBeCloseTo(0.99900074 + 27.00002 * 37 * 0.001, MONEY);
  });

  it("skips an order below the minimum notional and counts it", () => {
    // 0.4 % of 1000 = 4 USDT < min notional 5 → skipped; 0.5 % = 5 USDT is allowed (not below)
    const skipped = run(new ScriptedStrategy({ 0: ["entry"] }, { positionSizePct: 0.4 }), rows);
    expect(skipped.trades).toEqual([]);
    expect(skipped.metrics.skippedOrders).toBe(1);
    expect(equities(skipped)).toEqual([1000, 1000, 1000]);
    const filled = run(
      new ScriptedStrategy({ 0: ["entry"] }, { positionSizePct: 0.5 }),
      candles([
        [100, 100, 100, 100],
        [100, 100, 100, 100],
        [100, 100, 100, 100],
      ]),
    );
    expect(filled.metrics.skippedOrders).toBe(0);
    expect(filled.trades[0].qty).toBe(0.05);
  });

  it("sizes from equity marked at the open and never spends more cash than it has", () => {
    // maxOpenPositions 2, 50 % each. c1: buy 500 / 100 = 5 at 100, cash 500.
    // c2 opens at 110: equity 500 + 5 × 110 = 1050, half is 525 → 4.77272, but cash buys only
    // floor(500 / 110 = 4.545454…) = 4.54545 (cost 499.9995, cash 0.0005).
    // c3: one pending exit closes both at the open 120: 5 × 120 + 4.54545 × 120 = 1145.454
    const r = run(
      new ScriptedStrategy(
        { 0: ["entry"], 1: ["entry"], 2: ["exit"] },
        { positionSizePct: 50, maxOpenPositions: 2 },
      ),
      candles([
        [100, 100, 100, 100],
        [100, 110, 100, 110],
        [110, 120, 110, 120],
        [120, 120, 120, 120],
      ]),
    );
    expect(
      r.trades.map((t) => [t.entryTime, t.entryPrice, t.qty, t.exitTime, t.exitPrice, t.exitReason]),
    ).toEqual([
      [at(1), 100, 5, at(3), 120, "signal"],
      [at(2), 110, 4.54545, at(3), 120, "signal"],
    ]);
    expect(r.metrics.finalEquity).toBeCloseTo(0.0005 + 600 + 545.454, MONEY);
  });
});

describe("protective exits", () => {
  it("rounds the take-profit up and the stop down to the tick, and fills at those prices", () => {
    // entry 33.33: target 33.33 × 1.03 = 34.3299 → 34.33; stop 33.33 × 0.985 = 32.83005 → 32.83
    // qty floor(1000 / 33.33 = 30.0030…) = 30.003. c1 high 34.32 / low 32.84: neither is reached.
    // c2 high reaches 34.33 exactly → sells 30.003 × 34.33 = 1030.00299; pnl 30.003 × 1.00 = 30.003
    const r = run(
      new ScriptedStrategy({ 0: ["entry"] }, { takeProfitPct: 3, stopLossPct: 1.5 }),
      candles([
        [33.33, 33.33, 33.33, 33.33],
        [33.33, 34.32, 32.84, 34],
        [34, 34.33, 33.9, 34.1],
        [34.1, 34.2, 34, 34.1],
      ]),
    );
    expect(r.trades).toHaveLength(1);
    const [t] = r.trades;
    expect([t.exitTime, t.exitPrice, t.exitReason, t.qty]).toEqual([at(2), 34.33, "take_profit", 30.003]);
    expect(t.pnl).toBeCloseTo(30.003, MONEY);

    const stopped = run(
      new ScriptedStrategy({ 0: ["entry"] }, { takeProfitPct: 3, stopLossPct: 1.5 }),
      candles([
        [33.33, 33.33, 33.33, 33.33],
        [33.33, 34.32, 32.84, 34],
        [34, 34.1, 32.83, 33],
      ]),
    );
    expect([stopped.trades[0].exitPrice, stopped.trades[0].exitReason]).toEqual([32.83, "stop_loss"]);
  });

  it("takes the stop first when one candle reaches both stop and target", () => {
    // entry 100 → target 110, stop 95; c2 spans 94…111 → stop at 95, pnl 10 × (95 − 100) = −50
    const r = run(
      new ScriptedStrategy({ 0: ["entry"] }, { takeProfitPct: 10, stopLossPct: 5 }),
      candles([
        [100, 100, 100, 100],
        [100, 101, 99, 100],
        [100, 111, 94, 105],
        [105, 106, 104, 105],
      ]),
    );
    expect(r.trades).toEqual([
      {
        entryTime: at(1),
        entryPrice: 100,
        exitTime: at(2),
        exitPrice: 95,
        qty: 10,
        fees: 0,
        pnl: -50,
        exitReason: "stop_loss",
      },
    ]);
    expect(equities(r)).toEqual([1000, 1000, 950, 950]);
  });

  it("checks the stop on the entry candle itself", () => {
    // buy at the open of c1 (100), stop 95; c1's low 94 stops it out within the same candle
    const r = run(
      new ScriptedStrategy({ 0: ["entry"] }, { stopLossPct: 5 }),
      candles([
        [100, 100, 100, 100],
        [100, 101, 94, 96],
      ]),
    );
    expect(r.trades.map((t) => [t.entryTime, t.exitTime, t.exitPrice, t.exitReason])).toEqual([
      [at(1), at(1), 95, "stop_loss"],
    ]);
  });

  it("fills a stop gapped through at the open, then applies slippage", () => {
    // slippage 10 bps: buy at 100 × 1.001 = 100.1, qty floor(1000 / 100.1 = 9.99000999…) = 9.99,
    // cost 999.999, cash 0.001; stop 100.1 × 0.95 = 95.095 → 95.09.
    // c2 opens at 90 < 95.09 → sell at 90 × 0.999 = 89.91: proceeds 9.99 × 89.91 = 898.2009,
    // pnl 898.2009 − 999.999 = −101.7981, final 0.001 + 898.2009 = 898.2019
    const r = run(
      new ScriptedStrategy({ 0: ["entry"] }, { stopLossPct: 5 }),
      candles([
        [100, 100, 100, 100],
        [100, 101, 99, 100],
        [90, 92, 88, 91],
      ]),
      { slippageBps: 10 },
    );
    const [t] = r.trades;
    expect(t.qty).toBe(9.99);
    expect(t.exitReason).toBe("stop_loss");
    expect(t.exitPrice).toBeCloseTo(89.91, 12);
    expect(t.pnl).toBeCloseTo(-101.7981, MONEY);
    expect(r.metrics.finalEquity).toBeCloseTo(898.2019, MONEY);
  });

  it("fills a target gapped through at the open, without slippage", () => {
    // as above, target 100.1 × 1.05 = 105.105 → 105.11; c2 opens at 115 > 105.11 → sell at 115:
    // proceeds 9.99 × 115 = 1148.85, pnl 1148.85 − 999.999 = 148.851
    const r = run(
      new ScriptedStrategy({ 0: ["entry"] }, { takeProfitPct: 5 }),
      candles([
        [100, 100, 100, 100],
        [100, 101, 99, 100],
        [115, 116, 114, 115],
      ]),
      { slippageBps: 10 },
    );
    const [t] = r.trades;
    expect([t.exitPrice, t.exitReason]).toEqual([115, "take_profit"]);
    expect(t.pnl).toBeCloseTo(148.851, MONEY);
  });
});

describe("fees", () => {
  it("charges feeRate × notional on both fills, in the quote asset", () => {
    // fee 0.001: qty floor(1000 / 100.1) = 9.99, notional 999, entry fee 0.999, cash 0.001
    // exit at 110: proceeds 1098.9, fee 1.0989 → cash 1097.8021
    // pnl 1098.9 − 999 − 0.999 − 1.0989 = 97.8021; fees 2.0979
    const r = run(
      new ScriptedStrategy({ 0: ["entry"], 2: ["exit"] }),
      candles([
        [100, 101, 99, 100],
        [100, 106, 99, 105],
        [105, 109, 104, 108],
        [110, 111, 109, 110],
      ]),
      { feeRate: 0.001 },
    );
    const [t] = r.trades;
    expect(t.qty).toBe(9.99);
    expect(t.fees).toBeCloseTo(2.0979, MONEY);
    expect(t.pnl).toBeCloseTo(97.8021, MONEY);
    expect(r.metrics.feesPaid).toBeCloseTo(2.0979, MONEY);
    // c1 is marked at its close without any exit fee: 0.001 + 9.99 × 105
    expect(equities(r)[1]).toBeCloseTo(1048.951, MONEY);
    expect(r.metrics.finalEquity).toBeCloseTo(1097.8021, MONEY);
  });
});

describe("cooldown", () => {
  // Entry signal on every candle; stop 5 %. c1 buys at 100 (qty 10); c2's low 94 stops it at 95
  // (cash 950). With cooldownCandles 2, entries evaluated on c2 and c3 are ignored; c4's is
  // taken and fills at c5's open 95 (qty 950 / 95 = 10); the run ends at c6's close 96 → 960.
  const rows = candles([
    [100, 100, 100, 100],
    [100, 101, 99, 100],
    [100, 101, 94, 95],
    [95, 96, 94, 95],
    [95, 96, 94, 95],
    [95, 96, 94, 95],
    [95, 96, 94.5, 96],
  ]);
  const everyCandle = {
    0: ["entry"],
    1: ["entry"],
    2: ["entry"],
    3: ["entry"],
    4: ["entry"],
    5: ["entry"],
    6: ["entry"],
  } as const;

  it("ignores entry signals on the closing candle and the next cooldownCandles − 1", () => {
    const s = new ScriptedStrategy({ ...everyCandle } as never, { stopLossPct: 5, cooldownCandles: 2 });
    const r = run(s, rows);
    expect(r.trades.map((t) => [t.entryTime, t.exitTime, t.exitReason])).toEqual([
      [at(1), at(2), "stop_loss"],
      [at(5), at(7) - 1, "end_of_data"],
    ]);
    expect(s.seen.map((x) => x.canEnter)).toEqual([true, false, false, false, true, false, false]);
    expect(r.metrics.finalEquity).toBe(960);
  });

  it("with no cooldown, re-enters on a signal from the very candle that closed the position", () => {
    const r = run(new ScriptedStrategy({ ...everyCandle } as never, { stopLossPct: 5 }), rows);
    expect(r.trades[1].entryTime).toBe(at(3));
  });
});

describe("end of data", () => {
  it("closes an open position at the last close with the fee, and drops signals from the last candle", () => {
    // fee 0.001: qty 9.99 at 100 (cash 0.001). Last candle closes at 102: proceeds 1018.98,
    // fee 1.01898 → cash 1017.96202. The exit signal on the last candle has no next open.
    const r = run(
      new ScriptedStrategy({ 0: ["entry"], 2: ["exit"] }),
      candles([
        [100, 100, 100, 100],
        [100, 101, 99, 100],
        [100, 103, 99, 102],
      ]),
      { feeRate: 0.001 },
    );
    const [t] = r.trades;
    expect([t.exitTime, t.exitPrice, t.exitReason]).toEqual([at(3) - 1, 102, "end_of_data"]);
    expect(t.fees).toBeCloseTo(0.999 + 1.01898, MONEY);
    // the last equity point is after the closing fill, not the mark 0.001 + 9.99 × 102
    expect(equities(r)[2]).toBeCloseTo(1017.96202, MONEY);
    expect(r.metrics.skippedOrders).toBe(0);
  });
});

describe("warm-up before `from`", () => {
  // Four warm-up candles on 2023-12-31 20:00–23:00, then four in range from 2024-01-01.
  // Entry: close > SMA(3). The warm-up candles feed the SMA only: the true signal on the last
  // warm-up candle must not fill at the first in-range open.
  const rows = candles(
    [
      [100, 100, 100, 100],
      [101, 101, 101, 101],
      [102, 102, 102, 102],
      [103, 103, 103, 103],
      [104, 104, 104, 104],
      [105, 105, 105, 105],
      [106, 106, 106, 106],
      [107, 107, 107, 107],
    ],
    T0 - 4 * HOUR,
  );
  const def = {
    name: "close above SMA",
    symbol: "BTCUSDT",
    interval: "1h",
    indicators: { sma: { type: "SMA", period: 3 } },
    entry: { gt: ["close", "sma"] },
    risk: { positionSizePct: 100 },
  };

  it("feeds indicators only: no signals, fills or equity points come from warm-up candles", () => {
    // c0 in range (104) signals with a warm SMA → buys at c1's open 105: qty floor(1000/105) =
    // 9.5238 (9.52380), cost 999.999; closes at c3's close 107 (end of data).
    const r = run(def, rows, { from: "2024-01-01" });
    expect(r.info.warmupCandles).toBe(4);
    expect(r.equity).toHaveLength(4);
    expect(r.equity[0].time).toBe(at(1) - 1);
    expect(equities(r)[0]).toBe(1000);
    expect(r.trades.map((t) => [t.entryTime, t.entryPrice, t.qty, t.exitPrice, t.exitReason])).toEqual([
      [at(1), 105, 9.5238, 107, "end_of_data"],
    ]);
  });

  it("without warm-up candles the first signal waits for the indicator", () => {
    // SMA(3) is first defined on c2 (106) → buys at c3's open 107, closes at 107: pnl 0
    const r = run(def, rows, { from: "2024-01-01", warmupCandles: 0 });
    expect(r.info.warmupCandles).toBe(0);
    expect(r.trades.map((t) => [t.entryTime, t.entryPrice, t.pnl])).toEqual([[at(3), 107, 0]]);
  });
});
