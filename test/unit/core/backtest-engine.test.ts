// The backtest engine on the bundled history: determinism, the JSON document, the date range,
// option validation, progress, and accounting invariants.
import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { rowsToColumns } from "../../../src/adapters/backtest/candles";
import { bundledSeries } from "../../../src/adapters/klines/files";
import { runBacktest } from "../../../src/core/backtest/engine";
import { candleAt, type Candle } from "../../../src/core/model/candle";
import { ValidationError } from "../../../src/core/model/errors";
import type { Signal } from "../../../src/core/model/signal";
import {
  BaseStrategy,
  compileStrategy,
  type DeclarativeStrategy,
  type StrategyContext,
  type StrategySnapshot,
} from "../../../src/core/strategy";

const EXAMPLES = path.join(__dirname, "../../../examples/strategies");
const example = (f: string) => JSON.parse(fs.readFileSync(path.join(EXAMPLES, f), "utf8"));
const columns = rowsToColumns(bundledSeries("BTCUSDT", "1h"));
const FULL = { from: "2023-01-01", to: "2024-12-31" };

describe("bundled examples over 2023–2024 BTCUSDT 1h", () => {
  it.each(["ema-cross-rsi.json", "bollinger-mean-reversion.json", "macd-momentum.json"])(
    "%s trades and returns the result document",
    (f) => {
      const r = runBacktest({ strategy: example(f), candles: columns, ...FULL });
      const doc = JSON.parse(JSON.stringify(r));
      expect(Object.keys(doc)).toEqual(["metrics", "trades", "equity"]);
      expect(doc.metrics.trades).toBeGreaterThan(10);
      expect(doc.trades).toHaveLength(doc.metrics.trades);
      expect(Object.keys(doc.trades[0])).toEqual([
        "entryTime",
        "entryPrice",
        "exitTime",
        "exitPrice",
        "qty",
        "fees",
        "pnl",
        "exitReason",
      ]);
      expect(doc.equity).toHaveLength(17_543);
      expect(Object.keys(doc.equity[0])).toEqual(["time", "equity"]);
      for (const k of [
        "netProfit",
        "totalReturnPct",
        "cagrPct",
        "maxDrawdownPct",
        "trades",
        "winRatePct",
        "profitFactor",
        "expectancy",
        "sharpe",
        "sortino",
        "exposurePct",
        "feesPaid",
        "skippedOrders",
      ]) {
        expect(doc.metrics).toHaveProperty(k);
        expect(typeof doc.metrics[k]).toBe("number");
      }
      // No look-ahead: every fill is after the candle whose close produced the signal.
      for (const t of r.trades) {
        expect(t.exitTime).toBeGreaterThanOrEqual(t.entryTime);
        expect(["take_profit", "stop_loss", "signal", "end_of_data"]).toContain(t.exitReason);
      }
    },
  );

  it("books every cent: final equity = initial balance + Σ trade P&L, fees = Σ trade fees", () => {
    const r = runBacktest({
      strategy: example("ema-cross-rsi.json"),
      candles: columns,
      ...FULL,
      slippageBps: 5,
    });
    const pnl = r.trades.reduce((s, t) => s + t.pnl, 0);
    const fees = r.trades.reduce((s, t) => s + t.fees, 0);
    expect(r.metrics.finalEquity).toBeCloseTo(10_000 + pnl, 6);
    expect(r.metrics.netProfit).toBeCloseTo(pnl, 6);
    expect(r.metrics.feesPaid).toBeCloseTo(fees, 6);
    expect(r.metrics.finalEquity).toBe(r.equity[r.equity.length - 1].equity);
  });

  it("produces quantities on the LOT_SIZE step and protective prices on the tick", () => {
    const r = runBacktest({
      strategy: example("ema-cross-rsi.json"),
      candles: columns,
      ...FULL,
      slippageBps: 3,
    });
    for (const t of r.trades) {
      expect(String(t.qty)).toMatch(/^\d+(\.\d{1,5})?$/);
      if (t.exitReason === "take_profit" && t.exitPrice > 0)
        expect(String(t.exitPrice)).toMatch(/^\d+(\.\d{1,2})?$/);
    }
  });
});

describe("determinism", () => {
  it("the same backtest twice gives byte-identical JSON", () => {
    const opts = {
      strategy: example("macd-momentum.json"),
      candles: columns,
      ...FULL,
      slippageBps: 7,
      feeRate: 0.00075,
    };
    expect(JSON.stringify(runBacktest(opts))).toBe(JSON.stringify(runBacktest(opts)));
  });

  it("candles as an array of objects give the same result as columns", () => {
    const objects: Candle[] = Array.from({ length: columns.length }, (_, i) => candleAt(columns, i));
    const a = runBacktest({ strategy: example("bollinger-mean-reversion.json"), candles: columns, ...FULL });
    const b = runBacktest({ strategy: example("bollinger-mean-reversion.json"), candles: objects, ...FULL });
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });
});

describe("range", () => {
  it("from and to are inclusive UTC dates", () => {
    const r = runBacktest({
      strategy: example("ema-cross-rsi.json"),
      candles: columns,
      from: "2023-06-15",
      to: "2023-06-15",
    });
    expect(r.info.candles).toBe(24);
    expect(r.info.firstCandleTime).toBe(Date.UTC(2023, 5, 15, 0));
    expect(r.info.lastCandleTime).toBe(Date.UTC(2023, 5, 15, 23));
    expect(r.info.warmupCandles).toBe(200);
  });

  it("uses the definition's warmupCandles, or the option", () => {
    const d = { ...example("ema-cross-rsi.json"), warmupCandles: 50 };
    expect(
      runBacktest({ strategy: d, candles: columns, from: "2023-06-15", to: "2023-06-16" }).info.warmupCandles,
    ).toBe(50);
    expect(
      runBacktest({ strategy: d, candles: columns, from: "2023-06-15", to: "2023-06-16", warmupCandles: 5 })
        .info.warmupCandles,
    ).toBe(5);
    // at the start of the data fewer candles exist than asked for
    expect(
      runBacktest({ strategy: d, candles: columns, from: "2023-01-01", to: "2023-01-02" }).info.warmupCandles,
    ).toBe(0);
  });

  it("runs over the gap of the real 2023-03-24 halt (one hour missing) without inventing a candle", () => {
    const r = runBacktest({
      strategy: example("ema-cross-rsi.json"),
      candles: columns,
      from: "2023-03-24",
      to: "2023-03-24",
    });
    expect(r.info.candles).toBe(23);
  });
});

describe("bad input", () => {
  const issues = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(ValidationError);
      return (e as ValidationError).issues.map((i) => `${i.path} ${i.code}`);
    }
    throw new Error("expected a ValidationError");
  };
  const d = example("ema-cross-rsi.json");

  it("rejects options with the offending field", () => {
    expect(issues(() => runBacktest({ strategy: d, candles: columns, from: "2023-02-30" }))).toEqual([
      "/from invalid_date",
    ]);
    expect(
      issues(() => runBacktest({ strategy: d, candles: columns, from: "2024-01-02", to: "2024-01-01" })),
    ).toEqual(["/to contradictory"]);
    expect(
      issues(() =>
        runBacktest({ strategy: d, candles: columns, feeRate: -0.1, slippageBps: -1, initialBalance: 0 }),
      ),
    ).toEqual(["/feeRate out_of_range", "/slippageBps out_of_range", "/initialBalance out_of_range"]);
    expect(issues(() => runBacktest({ strategy: d, candles: columns, from: "2030-01-01" }))).toEqual([
      "/candles empty_range",
    ]);
  });

  it("rejects candles out of order", () => {
    const cs = [candleAt(columns, 1), candleAt(columns, 0)];
    expect(issues(() => runBacktest({ strategy: d, candles: cs }))).toEqual(["/candles/1 unordered"]);
  });

  it("rejects an invalid definition with the validator's paths", () => {
    expect(
      issues(() => runBacktest({ strategy: { ...d, risk: { positionSizePct: 101 } }, candles: columns })),
    ).toEqual(["/risk/positionSizePct out_of_range"]);
  });
});

describe("progress", () => {
  it("reports increasing progress and ends at the total (warm-up included)", () => {
    const seen: [number, number][] = [];
    runBacktest({
      strategy: example("ema-cross-rsi.json"),
      candles: columns,
      from: "2023-02-01",
      to: "2023-02-28",
      progressEvery: 100,
      onProgress: (done, total) => seen.push([done, total]),
    });
    const total = 28 * 24 + 200;
    expect(seen.length).toBe(Math.ceil(total / 100));
    expect(seen.every(([, t]) => t === total)).toBe(true);
    expect(seen.map(([d]) => d)).toEqual([...seen.map(([d]) => d)].sort((a, b) => a - b));
    expect(seen[seen.length - 1][0]).toBe(total);
  });

  it("does not change the result", () => {
    const base = { strategy: example("ema-cross-rsi.json"), candles: columns, ...FULL };
    expect(JSON.stringify(runBacktest({ ...base, progressEvery: 37, onProgress: () => undefined }))).toBe(
      JSON.stringify(runBacktest(base)),
    );
  });
});

describe("prefix invariance of the whole backtest", () => {
  it("a run on candles[0..k] agrees with the full run on everything decided before candle k-1", () => {
    const head = Array.from({ length: 3000 }, (_, i) => candleAt(columns, i));
    const full = runBacktest({ strategy: example("ema-cross-rsi.json"), candles: head, slippageBps: 2 });
    fc.assert(
      fc.property(fc.integer({ min: 2, max: head.length }), (k) => {
        const part = runBacktest({
          strategy: example("ema-cross-rsi.json"),
          candles: head.slice(0, k),
          slippageBps: 2,
        });
        // The last candle of a shorter run closes positions (end_of_data); everything before matches.
        expect(part.equity.slice(0, k - 1)).toEqual(full.equity.slice(0, k - 1));
        const cutoff = head[k - 1].openTime;
        expect(part.trades.filter((t) => t.exitTime < cutoff)).toEqual(
          full.trades.filter((t) => t.exitTime < cutoff),
        );
      }),
      { numRuns: 25 },
    );
  });
});

describe("bad candles", () => {
  it("rejects a candle with a price that is not a positive number", () => {
    const cs = [candleAt(columns, 0), { ...candleAt(columns, 1), low: 0 }];
    try {
      runBacktest({ strategy: example("ema-cross-rsi.json"), candles: cs });
      throw new Error("expected a ValidationError");
    } catch (e) {
      expect((e as ValidationError).issues).toEqual([
        expect.objectContaining({ path: "/candles/1", code: "invalid_candle" }),
      ]);
    }
  });
});

describe("compiled strategies decide blocks of candles (DeclarativeStrategy.scan)", () => {
  /** Forwards onCandle only, so the engine asks it candle by candle, as it asks code strategies. */
  class OneByOne extends BaseStrategy {
    readonly warmup: number;
    constructor(readonly inner: DeclarativeStrategy) {
      super({
        symbol: inner.symbol,
        interval: inner.interval,
        risk: inner.risk,
        warmupCandles: inner.warmupCandles,
      });
      this.warmup = inner.warmup;
    }
    onCandle(candle: Candle, ctx: StrategyContext): readonly Signal[] {
      return this.inner.onCandle(candle, ctx);
    }
    snapshot(): StrategySnapshot {
      return this.inner.snapshot();
    }
    restore(s: StrategySnapshot): void {
      this.inner.restore(s);
    }
  }

  const runs: [string, string, Record<string, unknown>, Record<string, unknown>][] = [
    ["ema-cross-rsi, 2023–2024", "ema-cross-rsi.json", {}, FULL],
    [
      "bollinger, slippage and fee",
      "bollinger-mean-reversion.json",
      {},
      { ...FULL, slippageBps: 7, feeRate: 0.00075 },
    ],
    [
      "macd, a short range in small chunks",
      "macd-momentum.json",
      {},
      { from: "2023-03-01", to: "2023-05-31", progressEvery: 37 },
    ],
    [
      "ema-cross-rsi, three positions at once, a cooldown, no take-profit / stop-loss",
      "ema-cross-rsi.json",
      { risk: { positionSizePct: 30, maxOpenPositions: 3, cooldownCandles: 5 } },
      { ...FULL, slippageBps: 3 },
    ],
    [
      "macd, two positions, stop-loss only",
      "macd-momentum.json",
      { risk: { positionSizePct: 50, maxOpenPositions: 2, stopLossPct: 2 } },
      FULL,
    ],
  ];

  it.each(runs)("%s: the same result and end state as asking candle by candle", (_label, f, change, opts) => {
    const def = { ...example(f), ...change };
    const blocks = compileStrategy(def);
    const oneByOne = new OneByOne(compileStrategy(def));
    const a = runBacktest({ strategy: blocks, candles: columns, ...opts });
    const b = runBacktest({ strategy: oneByOne, candles: columns, ...opts });
    expect(a.metrics.trades).toBeGreaterThan(5);
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(blocks.snapshot()).toEqual(oneByOne.snapshot());
  });
});
