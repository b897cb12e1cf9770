// The compiled strategy: condition semantics of docs/strategy-format.md, warm-up, snapshot/restore, the
// definition round trip, and prefix invariance as a property.
import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { bundledSeries } from "../../../src/adapters/klines/files";
import { type Candle, toColumns } from "../../../src/core/model/candle";
import { ValidationError } from "../../../src/core/model/errors";
import { compileStrategy, DeclarativeStrategy, type StrategyContext } from "../../../src/core/strategy";
import { ENTRY_BIT, EXIT_BIT } from "../../../src/core/strategy/compiler";

const EXAMPLES = path.join(__dirname, "../../../examples/strategies");
const examples = fs
  .readdirSync(EXAMPLES)
  .filter((f) => f.endsWith(".json"))
  .map((f) => [f, JSON.parse(fs.readFileSync(path.join(EXAMPLES, f), "utf8"))] as const);

const bundled: Candle[] = bundledSeries("BTCUSDT", "1h").map((r) => ({
  openTime: r[0],
  closeTime: r[6],
  open: Number(r[1]),
  high: Number(r[2]),
  low: Number(r[3]),
  close: Number(r[4]),
  volume: Number(r[5]),
}));

/** Both kinds of signal are asked for on every candle. */
const ASK_ALL: StrategyContext = { now: 0, openPositions: 1, canEnter: true };

/** One string per candle: "", "entry", "exit" or "exit+entry". */
function signals(s: DeclarativeStrategy, cs: readonly Candle[]): string[] {
  return cs.map((c) =>
    s
      .onCandle(c, { ...ASK_ALL, now: c.closeTime })
      .map((x) => x.kind)
      .join("+"),
  );
}

const closes = (xs: number[]): Candle[] =>
  xs.map((c, i) => ({
    openTime: i * 3_600_000,
    closeTime: (i + 1) * 3_600_000 - 1,
    open: c,
    high: c,
    low: c,
    close: c,
    volume: 1,
  }));

const def = (entry: unknown, indicators: Record<string, unknown> = {}, exit?: unknown) => ({
  name: "t",
  symbol: "BTCUSDT",
  interval: "1h",
  indicators,
  entry,
  ...(exit ? { exit } : {}),
  risk: { positionSizePct: 100 },
});

describe("condition semantics", () => {
  it("crossesAbove(a, b) is true when a <= b on t-1 and a > b on t", () => {
    const s = compileStrategy(def({ crossesAbove: ["close", 100] }, {}, { crossesBelow: ["close", 100] }));
    // t1: 99 → 100 is not above; t2: 100 → 101 crosses (100 <= 100); t5: 99 → 101 crosses
    expect(signals(s, closes([99, 100, 101, 101, 99, 101]))).toEqual(["", "", "entry", "", "exit", "entry"]);
  });

  it("crossesBelow mirrors it: a >= b on t-1 and a < b on t", () => {
    const s = compileStrategy(def({ crossesBelow: ["close", 100] }));
    expect(signals(s, closes([101, 100, 99, 99, 101, 99]))).toEqual(["", "", "entry", "", "", "entry"]);
  });

  it("gt, gte, lt, lte compare the current values", () => {
    const run = (op: string) =>
      signals(compileStrategy(def({ [op]: ["close", 100] })), closes([99, 100, 101]));
    expect(run("gt")).toEqual(["", "", "entry"]);
    expect(run("gte")).toEqual(["", "entry", "entry"]);
    expect(run("lt")).toEqual(["entry", "", ""]);
    expect(run("lte")).toEqual(["entry", "entry", ""]);
  });

  it("all / any / not combine conditions", () => {
    const s = compileStrategy(
      def({
        all: [
          { gt: ["close", 100] },
          { not: { gt: ["close", 102] } },
          { any: [{ lt: ["close", 101.5] }, { gte: ["close", 102] }] },
        ],
      }),
    );
    expect(signals(s, closes([100, 101, 101.7, 102, 103]))).toEqual(["", "entry", "", "entry", ""]);
  });

  it("a condition with an operand not yet defined is false, also under not and any", () => {
    // SMA(3) is defined from the third candle on
    const ind = { sma: { type: "SMA", period: 3 } };
    expect(signals(compileStrategy(def({ gt: ["sma", 0] }, ind)), closes([1, 2, 3, 4]))).toEqual([
      "",
      "",
      "entry",
      "entry",
    ]);
    expect(signals(compileStrategy(def({ not: { lt: ["sma", 0] } }, ind)), closes([1, 2, 3, 4]))).toEqual([
      "",
      "",
      "entry",
      "entry",
    ]);
    expect(
      signals(
        compileStrategy(def({ any: [{ gt: ["sma", 0] }, { gt: ["close", 0] }] }, ind)),
        closes([1, 2, 3]),
      ),
    ).toEqual(["", "", "entry"]);
  });

  it("reads multi-output indicators by name.output", () => {
    const s = compileStrategy(
      def({ lt: ["close", "bb.lower"] }, { bb: { type: "BB", period: 3, stdDev: 1 } }),
    );
    // window [10, 10, 4]: mean 8, population sd √8 ≈ 2.83 → lower ≈ 5.17 > 4
    expect(signals(s, closes([10, 10, 4]))).toEqual(["", "", "entry"]);
    expect(s.read("bb.middle")).toBe(8);
    expect(s.read("bb.lower")).toBeCloseTo(8 - Math.sqrt(8), 12);
  });

  it("asks only for the signals the context can use", () => {
    const s = compileStrategy(def({ gt: ["close", 0] }, {}, { gt: ["close", 0] }));
    const c = closes([1])[0];
    expect(s.onCandle(c, { now: 0, openPositions: 0, canEnter: false })).toEqual([]);
    const both = s.onCandle(c, { now: 7, openPositions: 1, canEnter: true });
    expect(both.map((x) => x.kind)).toEqual(["exit", "entry"]);
    expect(both[0]).toEqual({
      kind: "exit",
      side: "long",
      candleOpenTime: 0,
      eventTime: 3_599_999,
      createdAt: 7,
    });
    expect(Object.isFrozen(both[0])).toBe(true);
  });
});

describe("warm-up", () => {
  it("is the longest warm-up among referenced operands, +1 for crosses", () => {
    expect(compileStrategy(examples.find(([f]) => f === "ema-cross-rsi.json")![1]).warmup).toBe(27); // EMA26 + 1
    expect(compileStrategy(def({ gt: ["close", 1] })).warmup).toBe(1);
    expect(
      compileStrategy(
        def(
          { crossesAbove: ["macd.signal", 0] },
          { macd: { type: "MACD", fastPeriod: 12, slowPeriod: 26, signalPeriod: 9 } },
        ),
      ).warmup,
    ).toBe(35);
  });

  it("computes only indicators the conditions use", () => {
    const s = compileStrategy(examples.find(([f]) => f === "ema-cross-rsi.json")![1]);
    expect(s.computedIndicators).toEqual(["fast", "slow", "rsi"]);
  });

  it("emits no signal before its warm-up on real data", () => {
    for (const [, d] of examples) {
      const s = compileStrategy(d);
      const out = signals(s, bundled.slice(0, 400));
      expect(out.slice(0, s.warmup - 1).every((x) => x === "")).toBe(true);
    }
  });
});

describe("definition round trip", () => {
  it.each(examples)(
    "%s: compile → JSON → compile gives the same definition and the same signals",
    (_f, d) => {
      const a = compileStrategy(d);
      const json = JSON.parse(JSON.stringify(a));
      expect(json).toEqual(d);
      const b = compileStrategy(json);
      expect(signals(b, bundled.slice(0, 3000))).toEqual(signals(a, bundled.slice(0, 3000)));
    },
  );

  it("keeps its own frozen copy of the definition", () => {
    const d = JSON.parse(JSON.stringify(examples[0][1]));
    const s = compileStrategy(d);
    d.risk.positionSizePct = 1;
    expect(s.definition.risk.positionSizePct).toBe(examples[0][1].risk.positionSizePct);
    expect(Object.isFrozen(s.definition.risk)).toBe(true);
  });

  it("refuses an invalid definition with every issue", () => {
    try {
      compileStrategy({ ...examples[0][1], symbol: "NOPE", risk: { positionSizePct: 0 } });
      throw new Error("expected a ValidationError");
    } catch (e) {
      expect(e).toBeInstanceOf(ValidationError);
      expect((e as ValidationError).issues.map((i) => i.path)).toEqual(["/symbol", "/risk/positionSizePct"]);
      expect((e as ValidationError).retryable).toBe(false);
    }
  });
});

describe("snapshot / restore", () => {
  it.each(examples)("%s continues identically from a JSON snapshot", (_f, d) => {
    const full = signals(compileStrategy(d), bundled.slice(0, 2500));
    for (const cut of [0, 10, 30, 1234]) {
      const a = compileStrategy(d);
      signals(a, bundled.slice(0, cut));
      const b = compileStrategy(d);
      b.restore(JSON.parse(JSON.stringify(a.snapshot())));
      expect(signals(b, bundled.slice(cut, 2500))).toEqual(full.slice(cut));
    }
  });
});

describe("prefix invariance", () => {
  // A seeded random walk of candles; signals on candles[0..k] equal the first k of the full run.
  const candleSeries = fc
    .record({
      start: fc.integer({ min: 1000, max: 50_000 }),
      // r and wick in basis points; long enough for a 200-candle EMA to warm up
      steps: fc.array(fc.tuple(fc.integer({ min: -150, max: 150 }), fc.integer({ min: 0, max: 80 })), {
        minLength: 150,
        maxLength: 700,
      }),
    })
    .map(({ start, steps }) => {
      let p = start;
      return steps.map(([rBps, wickBps], i): Candle => {
        const r = rBps / 1e4;
        const wick = wickBps / 1e4;
        const open = p;
        const close = Math.round(open * (1 + r) * 100) / 100;
        p = close;
        return {
          openTime: i * 3_600_000,
          closeTime: (i + 1) * 3_600_000 - 1,
          open,
          high: Math.max(open, close) * (1 + wick),
          low: Math.min(open, close) * (1 - wick),
          close,
          volume: 1 + i,
        };
      });
    });

  it.each(examples)("%s", (_f, d) => {
    // The generated series do make these strategies fire, so the property has teeth.
    const sample = fc.sample(candleSeries, { numRuns: 40, seed: 7 });
    const fired = sample.reduce(
      (n, cs) => n + signals(compileStrategy(d), cs).filter((x) => x !== "").length,
      0,
    );
    expect(fired).toBeGreaterThan(20);
    fc.assert(
      fc.property(candleSeries, fc.nat(), (cs, kSeed) => {
        const k = kSeed % (cs.length + 1);
        const full = signals(compileStrategy(d), cs);
        const prefix = signals(compileStrategy(d), cs.slice(0, k));
        expect(prefix).toEqual(full.slice(0, k));
      }),
      { numRuns: 60 },
    );
  });
});

describe("scan (the block path of the backtest engine)", () => {
  const walk = fc
    .record({
      start: fc.integer({ min: 1000, max: 50_000 }),
      // long enough for every example to warm up and fire (fast-check keeps arrays near minLength)
      steps: fc.array(fc.tuple(fc.integer({ min: -150, max: 150 }), fc.integer({ min: 0, max: 80 })), {
        minLength: 150,
        maxLength: 500,
      }),
    })
    .map(({ start, steps }) => {
      let p = start;
      return steps.map(([rBps, wickBps], i): Candle => {
        const open = p;
        const close = Math.round(open * (1 + rBps / 1e4) * 100) / 100;
        p = close;
        return {
          openTime: i * 3_600_000,
          closeTime: (i + 1) * 3_600_000 - 1,
          open,
          high: Math.max(open, close) * (1 + wickBps / 1e4),
          low: Math.min(open, close) * (1 - wickBps / 1e4),
          close,
          volume: 1 + i,
        };
      });
    });
  // Mostly short blocks, so that crosses and warm-up ends often fall on a block's first row.
  const blocks = fc.array(fc.oneof(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 700 })), {
    minLength: 1,
    maxLength: 8,
  });
  const asSignals = (bits: Uint8Array): string[] =>
    Array.from(bits, (b) =>
      [b & EXIT_BIT ? "exit" : "", b & ENTRY_BIT ? "entry" : ""].filter(Boolean).join("+"),
    );

  it.each(examples)("%s: onCandle's decisions, in blocks of any size, and the same state after", (_f, d) => {
    const fired = fc
      .sample(walk, { numRuns: 20, seed: 3 })
      .reduce((n, cs) => n + signals(compileStrategy(d), cs).filter((x) => x !== "").length, 0);
    expect(fired).toBeGreaterThan(20);
    fc.assert(
      fc.property(walk, blocks, (cs, sizes) => {
        const streamed = compileStrategy(d);
        const expected = signals(streamed, cs);
        const scanned = compileStrategy(d);
        const cols = toColumns(cs);
        const out = new Uint8Array(cs.length).fill(255);
        for (let from = 0, b = 0; from < cs.length; b++) {
          const to = Math.min(cs.length, from + sizes[b % sizes.length]);
          scanned.scan(cols, from, to, out.subarray(from));
          from = to;
        }
        expect(asSignals(out)).toEqual(expected);
        expect(scanned.snapshot()).toEqual(streamed.snapshot());
      }),
      { numRuns: 40 },
    );
  });

  it.each(examples)("%s: scan, onCandle and a restore can take turns", (_f, d) => {
    fc.assert(
      fc.property(walk, blocks, (cs, sizes) => {
        const expected = signals(compileStrategy(d), cs);
        let s = compileStrategy(d);
        const cols = toColumns(cs);
        const got: string[] = [];
        for (let from = 0, b = 0; from < cs.length; b++) {
          const to = Math.min(cs.length, from + sizes[b % sizes.length]);
          if (b % 3 === 0) {
            const out = new Uint8Array(to - from);
            s.scan(cols, from, to, out);
            got.push(...asSignals(out));
          } else {
            got.push(...signals(s, cs.slice(from, to)));
          }
          if (b % 2 === 1) {
            const restored = compileStrategy(d);
            restored.restore(JSON.parse(JSON.stringify(s.snapshot())));
            s = restored;
          }
          from = to;
        }
        expect(got).toEqual(expected);
      }),
      { numRuns: 25 },
    );
  });
});
