// The `intrabar` fill option (docs/backtesting.md, How orders are filled): when one candle reaches
// both the target and the stop, "stop_first" takes the stop and "path" takes the level the
// simulator's intrabar path (open → nearer extreme → other extreme → close) reaches first.
// Balance 1000 USDT, BTCUSDT filters, no fee or slippage; entry at c1's open (100) → 10 BTC,
// target 100 × 1.10 = 110, stop 100 × 0.95 = 95 unless a scenario says otherwise.
import fc from "fast-check";
import type { IntrabarMode } from "../../src/core/backtest/engine";
import { StepRounder } from "../../src/core/backtest/rounding";
import type { Candle } from "../../src/core/model/candle";
import { Decimal } from "../../src/core/money/decimal";
import { SYMBOLS } from "../../src/core/market/symbols";
import { MatchingEngine } from "../../src/sim/engine/engine";
import { walkCandle } from "../unit/sim/helpers";
import { at, candles, run, ScriptedStrategy, type Row } from "./helpers";

const MODES: IntrabarMode[] = ["stop_first", "path"];

/** The single trade's exit [time, price, reason] under each mode, with c2 as the deciding candle. */
function exits(c2: Row, risk = { takeProfitPct: 10, stopLossPct: 5 }) {
  const rows = candles([[100, 100, 100, 100], [100, 101, 99, 100], c2, [105, 106, 104, 105]]);
  return MODES.map((intrabar) => {
    const r = run(new ScriptedStrategy({ 0: ["entry"] }, risk), rows, { intrabar });
    expect(r.trades).toHaveLength(1);
    const [t] = r.trades;
    return [t.exitTime, t.exitPrice, t.exitReason];
  });
}

describe("a candle reaching both target and stop", () => {
  it("with the low nearer the open: the stop, in both modes", () => {
    // 100 − 94 = 6 < 111 − 100 = 11: the path goes down first
    expect(exits([100, 111, 94, 105])).toEqual([
      [at(2), 95, "stop_loss"],
      [at(2), 95, "stop_loss"],
    ]);
  });

  it("with the high nearer the open: the stop under stop_first, the target under path", () => {
    // 111 − 100 = 11 < 100 − 88 = 12: the path goes up first and meets 110 before 95
    expect(exits([100, 111, 88, 105])).toEqual([
      [at(2), 95, "stop_loss"],
      [at(2), 110, "take_profit"],
    ]);
  });

  it("at equal distance: the low first for a rising (or flat) candle, the high first for a falling one", () => {
    const stop = [at(2), 95, "stop_loss"];
    const target = [at(2), 110, "take_profit"];
    expect(exits([100, 110, 90, 104])).toEqual([stop, stop]); // rising
    expect(exits([100, 110, 90, 100])).toEqual([stop, stop]); // close = open counts as rising
    expect(exits([100, 110, 90, 96])).toEqual([stop, target]); // falling
  });

  it("decides a tie in exact decimals, where binary floats see none", () => {
    // entry 100.01: target 100.01 × 1.0005 = 100.060005 → 100.07, stop 100.01 × 0.9995 = 99.959995 → 99.95.
    // In the entry candle the open is 0.09 from both 100.1 and 99.92, but in doubles
    // 100.1 − 100.01 < 100.01 − 99.92. The candle rises, so the low comes first: the stop.
    const risk = { takeProfitPct: 0.05, stopLossPct: 0.05 };
    expect(100.1 - 100.01 < 100.01 - 99.92).toBe(true);
    const run1 = (c1: Row) =>
      run(new ScriptedStrategy({ 0: ["entry"] }, risk), candles([[100.01, 100.01, 100.01, 100.01], c1]), {
        intrabar: "path",
      }).trades.map((t) => [t.exitTime, t.exitPrice, t.exitReason]);
    expect(run1([100.01, 100.1, 99.92, 100.05])).toEqual([[at(1), 99.95, "stop_loss"]]);
    expect(run1([100.01, 100.1, 99.92, 100])).toEqual([[at(1), 100.07, "take_profit"]]);
  });
});

describe("gaps and single levels are the same in both modes", () => {
  it("a gap down through the stop fills at the open, even when the candle then reaches the target", () => {
    expect(exits([90, 115, 88, 100])).toEqual([
      [at(2), 90, "stop_loss"],
      [at(2), 90, "stop_loss"],
    ]);
  });

  it("a gap up through the target fills at the open", () => {
    expect(exits([115, 116, 114, 115])).toEqual([
      [at(2), 115, "take_profit"],
      [at(2), 115, "take_profit"],
    ]);
  });

  it("a gap up through the target in a candle that then falls through the stop: the path starts at the open", () => {
    // stop_first assumes the worse: the stop at 95. The path is at 112 before anything else.
    expect(exits([112, 113, 80, 90])).toEqual([
      [at(2), 95, "stop_loss"],
      [at(2), 112, "take_profit"],
    ]);
  });

  it("a candle reaching only one level fills it whatever the mode", () => {
    expect(exits([100, 110, 96, 101])).toEqual([
      [at(2), 110, "take_profit"],
      [at(2), 110, "take_profit"],
    ]);
    expect(exits([100, 109, 95, 101])).toEqual([
      [at(2), 95, "stop_loss"],
      [at(2), 95, "stop_loss"],
    ]);
  });

  it("refuses an unknown mode", () => {
    expect(() =>
      run(new ScriptedStrategy({}), candles([[1, 1, 1, 1]]), { intrabar: "low_first" as IntrabarMode }),
    ).toThrow(/intrabar must be "stop_first" or "path"/);
  });
});

// ---------------------------------------------------------------- properties

/** A price in cents as the double the candle data holds. */
const cents = (c: number) => c / 100;

/** A candle around `ref` cents: open, close and extremes within ±20 %, all on the 0.01 tick. */
const candleAround = (ref: number) =>
  fc
    .tuple(
      fc.integer({ min: -20, max: 20 }),
      fc.integer({ min: -20, max: 20 }),
      fc.integer({ min: 0, max: 15 }),
      fc.integer({ min: 0, max: 15 }),
      fc.integer({ min: 0, max: 99 }),
    )
    .map(([o, c, up, down, jitter]): Row => {
      const open = Math.max(1, Math.round((ref * (100 + o)) / 100) + jitter);
      const close = Math.max(1, Math.round((ref * (100 + c)) / 100));
      const high = Math.max(open, close) + Math.round((ref * up) / 100);
      const low = Math.max(1, Math.min(open, close) - Math.round((ref * down) / 100));
      return [cents(open), cents(high), cents(low), cents(close)];
    });

const series = fc.integer({ min: 1_000, max: 10_000_000 }).chain((ref) =>
  fc.record({
    rows: fc.array(candleAround(ref), { minLength: 2, maxLength: 40 }),
    tp: fc.integer({ min: 1, max: 150 }).map((x) => x / 10),
    sl: fc.integer({ min: 1, max: 150 }).map((x) => x / 10),
    maxOpenPositions: fc.integer({ min: 1, max: 3 }),
    signals: fc.array(fc.tuple(fc.nat(40), fc.constantFrom<"entry" | "exit">("entry", "exit")), {
      maxLength: 30,
    }),
  }),
);

describe("properties", () => {
  it('"path" and "stop_first" part ways only on a candle that reaches both levels', () => {
    fc.assert(
      fc.property(series, ({ rows, tp, sl, maxOpenPositions, signals }) => {
        const script: Record<number, ("entry" | "exit")[]> = {};
        for (const [i, kind] of signals) (script[i] ??= []).push(kind);
        const cs: Candle[] = candles(rows);
        const risk = { takeProfitPct: tp, stopLossPct: sl, positionSizePct: 40, maxOpenPositions };
        const go = (intrabar?: IntrabarMode) =>
          run(new ScriptedStrategy(script, risk), cs, { intrabar, feeRate: 0.001 });
        const def = go();
        const first = go("stop_first");
        const path = go("path");
        // the default is stop_first, unchanged
        expect(JSON.stringify(first)).toBe(JSON.stringify(def));
        const k = first.trades.findIndex((t, i) => JSON.stringify(t) !== JSON.stringify(path.trades[i]));
        if (k < 0 && first.trades.length === path.trades.length) {
          expect(JSON.stringify(path)).toBe(JSON.stringify(first));
          return;
        }
        // everything before the first different trade is equal; that trade is one position, closed
        // in the same candle: by its stop under stop_first, by its target under path
        const a = first.trades[k];
        const b = path.trades[k];
        expect(first.trades.slice(0, k)).toEqual(path.trades.slice(0, k));
        expect([b.entryTime, b.entryPrice, b.qty, b.exitTime]).toEqual([
          a.entryTime,
          a.entryPrice,
          a.qty,
          a.exitTime,
        ]);
        expect([a.exitReason, b.exitReason]).toEqual(["stop_loss", "take_profit"]);
        const c = cs.find((x) => x.openTime === a.exitTime)!;
        const tick = new StepRounder("0.01");
        const target = tick.up(a.entryPrice * (1 + tp / 100));
        const stop = tick.down(a.entryPrice * (1 - sl / 100));
        expect(c.low <= stop && c.high >= target).toBe(true);
        // stop_first took the stop at its price: the candle did not gap through it
        expect(a.exitPrice).toBe(stop);
        expect(c.open > stop).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('"path" fills what the simulator fills when it replays the same candle against an OCO', () => {
    // The backtest buys 1 BTC-sized position at c1's open (P); the simulator buys at P and protects
    // it with an OCO (LIMIT_MAKER at the target above, STOP_LOSS at the stop below), then walks c1
    // (flat: nothing triggers) and c2's intrabar path. Both must exit the same way at the same price.
    const prop = fc.integer({ min: 1_000, max: 10_000_000 }).chain((p) =>
      fc.record({
        p: fc.constant(p),
        c2: candleAround(p),
        tp: fc.integer({ min: 1, max: 150 }).map((x) => x / 10),
        sl: fc.integer({ min: 1, max: 150 }).map((x) => x / 10),
      }),
    );
    fc.assert(
      fc.property(prop, ({ p, c2, tp, sl }) => {
        const P = cents(p);
        const flat: Row = [P, P, P, P];
        const bt = run(
          new ScriptedStrategy({ 0: ["entry"] }, { takeProfitPct: tp, stopLossPct: sl }),
          candles([flat, flat, c2]),
          { intrabar: "path", initialBalance: 1e9 },
        );
        const [t] = bt.trades;
        const tick = new StepRounder("0.01");
        const target = tick.up(P * (1 + tp / 100));
        const stop = tick.down(P * (1 - sl / 100));

        const engine = new MatchingEngine({}, [SYMBOLS.BTCUSDT]);
        const D = (x: number) => Decimal.parse(String(x));
        engine.onPrice("BTCUSDT", D(P), 0, true);
        const id = engine.createAccount({ USDT: D(1e9) }).id;
        engine.placeOrder(id, { symbol: "BTCUSDT", side: "BUY", type: "MARKET", quantity: D(1) }, 1);
        const held = engine.balance(id, "BTC").free;
        engine.placeOco(
          id,
          {
            symbol: "BTCUSDT",
            side: "SELL",
            quantity: held.roundDown(Decimal.parse("0.00001")),
            above: { type: "LIMIT_MAKER", price: D(target) },
            below: { type: "STOP_LOSS", stopPrice: D(stop) },
          },
          2,
        );
        walkCandle(engine, flat.map(String) as [string, string, string, string], 10);
        walkCandle(engine, c2.map(String) as [string, string, string, string], 100);
        const sells = engine.allTrades(id).filter((x) => !x.isBuyer);
        if (t.exitReason === "end_of_data") {
          expect(sells).toHaveLength(0);
          return;
        }
        expect(sells).toHaveLength(1);
        const simReason = sells[0].isMaker ? "take_profit" : "stop_loss";
        expect([simReason, sells[0].price.toNumber()]).toEqual([t.exitReason, t.exitPrice]);
      }),
      { numRuns: 300 },
    );
  });
});
