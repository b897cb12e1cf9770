// The strategy validator reports every problem with its JSON Pointer, a stable code and a
// message; the exported JSON Schema accepts and rejects the same shapes.
import fs from "node:fs";
import path from "node:path";
import { parseWatch } from "../../../src/adapters/config";
import { STRATEGY_JSON_SCHEMA, validateStrategy } from "../../../src/core/strategy";

const EXAMPLES = path.join(__dirname, "../../../examples/strategies");
const read = (f: string) => JSON.parse(fs.readFileSync(path.join(EXAMPLES, f), "utf8"));
const base = () => read("ema-cross-rsi.json");

type Doc = Record<string, any>;
function errorsOf(mutate: (d: Doc) => void): { path: string; code: string; message: string }[] {
  const d = base();
  mutate(d);
  const r = validateStrategy(d);
  return r.ok ? [] : [...r.errors];
}
const only = (mutate: (d: Doc) => void) => {
  const errs = errorsOf(mutate);
  expect(errs).toHaveLength(1);
  return errs[0];
};

describe("valid definitions", () => {
  it.each(fs.readdirSync(EXAMPLES).filter((f) => f.endsWith(".json")))(
    "examples/strategies/%s validates",
    (f) => {
      const r = validateStrategy(read(f));
      expect(r.errors).toEqual([]);
      expect(r.ok).toBe(true);
    },
  );

  it("the EMA/RSI example is exactly the documented definition", () => {
    expect(base()).toEqual({
      name: "EMA cross with RSI filter",
      symbol: "BTCUSDT",
      interval: "1h",
      indicators: {
        fast: { type: "EMA", period: 12, source: "close" },
        slow: { type: "EMA", period: 26, source: "close" },
        rsi: { type: "RSI", period: 14, source: "close" },
        macd: { type: "MACD", fastPeriod: 12, slowPeriod: 26, signalPeriod: 9, source: "close" },
        bb: { type: "BB", period: 20, stdDev: 2, source: "close" },
      },
      entry: { all: [{ crossesAbove: ["fast", "slow"] }, { lt: ["rsi", 70] }] },
      exit: { any: [{ crossesBelow: ["fast", "slow"] }] },
      risk: {
        takeProfitPct: 3,
        stopLossPct: 1.5,
        positionSizePct: 100,
        maxOpenPositions: 1,
        cooldownCandles: 0,
      },
    });
  });

  it("accepts optional parts left out: source, exit, TP/SL, defaults, warmupCandles", () => {
    const r = validateStrategy({
      name: "minimal",
      symbol: "ETHUSDT",
      interval: "15m",
      indicators: { s: { type: "SMA", period: 3 } },
      entry: { not: { lte: ["close", "s"] } },
      risk: { positionSizePct: 25 },
      warmupCandles: 0,
    });
    expect(r.ok).toBe(true);
  });
});

describe("each error kind at its exact path", () => {
  it("unknown indicator type", () => {
    expect(only((d) => (d.indicators.fast.type = "KAMA"))).toMatchObject({
      path: "/indicators/fast/type",
      code: "unknown_indicator_type",
    });
  });

  it.each([
    [0, "out_of_range"],
    [-3, "out_of_range"],
    [12.5, "not_integer"],
    ["12", "invalid_type"],
    [100_001, "out_of_range"],
  ])("bad period %p", (period, code) => {
    expect(only((d) => (d.indicators.fast.period = period))).toMatchObject({
      path: "/indicators/fast/period",
      code,
    });
  });

  it("missing indicator parameter", () => {
    expect(only((d) => delete d.indicators.bb.stdDev)).toMatchObject({
      path: "/indicators/bb/stdDev",
      code: "required",
    });
  });

  it("extra indicator field, and source on a bar indicator", () => {
    expect(only((d) => (d.indicators.fast.length = 3))).toMatchObject({
      path: "/indicators/fast/length",
      code: "unknown_field",
    });
    const e = only((d) => (d.indicators.atr = { type: "ATR", period: 14, source: "close" }));
    expect(e).toMatchObject({ path: "/indicators/atr/source", code: "unknown_field" });
    expect(e.message).toMatch(/high, low and close/);
  });

  it("invalid source", () => {
    expect(only((d) => (d.indicators.fast.source = "hl2"))).toMatchObject({
      path: "/indicators/fast/source",
      code: "invalid_source",
    });
  });

  it("MACD fast period not below slow period", () => {
    expect(only((d) => (d.indicators.macd.fastPeriod = 26))).toMatchObject({
      path: "/indicators/macd/fastPeriod",
      code: "contradictory",
    });
  });

  it.each(["open", "high", "low", "close", "volume"])(
    "reserved name %s used as an indicator name",
    (name) => {
      expect(only((d) => (d.indicators[name] = { type: "SMA", period: 5 }))).toMatchObject({
        path: `/indicators/${name}`,
        code: "reserved_name",
      });
    },
  );

  it("indicator name that is not an identifier (escaped in the pointer)", () => {
    expect(only((d) => (d.indicators["a/b"] = { type: "SMA", period: 5 }))).toMatchObject({
      path: "/indicators/a~1b",
      code: "invalid_name",
    });
  });

  it("reference to an undefined indicator", () => {
    const e = only((d) => (d.entry.all[0].crossesAbove[1] = "slower"));
    expect(e).toMatchObject({ path: "/entry/all/0/crossesAbove/1", code: "undefined_indicator" });
    expect(e.message).toContain("slower");
  });

  it("reference to an unknown output, an output of a single-output indicator, and a missing output", () => {
    expect(only((d) => (d.exit = { lt: ["close", "bb.bottom"] }))).toMatchObject({
      path: "/exit/lt/1",
      code: "unknown_output",
    });
    expect(only((d) => (d.exit = { lt: ["rsi.value", 30] }))).toMatchObject({
      path: "/exit/lt/0",
      code: "unknown_output",
    });
    const e = only((d) => (d.exit = { gt: ["macd", 0] }));
    expect(e).toMatchObject({ path: "/exit/gt/0", code: "output_required" });
    expect(e.message).toContain('"macd.histogram"');
  });

  it("operands of the wrong kind, and two constants", () => {
    expect(only((d) => (d.entry = { gt: [true, 1] }))).toMatchObject({
      path: "/entry/gt/0",
      code: "invalid_operand",
    });
    expect(only((d) => (d.entry = { gt: [1, 2] }))).toMatchObject({
      path: "/entry/gt",
      code: "constant_condition",
    });
    expect(only((d) => (d.entry = { gt: ["close"] }))).toMatchObject({
      path: "/entry/gt",
      code: "invalid_condition",
    });
  });

  it("malformed conditions", () => {
    expect(only((d) => (d.entry = { between: ["close", 1] }))).toMatchObject({
      path: "/entry/between",
      code: "unknown_operator",
    });
    expect(only((d) => (d.entry = { gt: ["close", 1], lt: ["close", 2] }))).toMatchObject({
      path: "/entry",
      code: "invalid_condition",
    });
    expect(only((d) => (d.entry = { any: [] }))).toMatchObject({ path: "/entry/any", code: "empty" });
    expect(only((d) => (d.exit = { not: { all: [{ gt: ["close", 1] }, "x"] } }))).toMatchObject({
      path: "/exit/not/all/1",
      code: "invalid_condition",
    });
  });

  it("conditions nested too deep", () => {
    let c: Doc = { gt: ["close", 1] };
    for (let i = 0; i < 40; i++) c = { not: c };
    expect(only((d) => (d.entry = c)).code).toBe("too_deep");
  });

  it("missing and extra top-level fields", () => {
    expect(only((d) => delete d.risk)).toMatchObject({ path: "/risk", code: "required" });
    expect(only((d) => delete d.entry)).toMatchObject({ path: "/entry", code: "required" });
    expect(only((d) => (d.timeframe = "1h"))).toMatchObject({ path: "/timeframe", code: "unknown_field" });
    expect(only((d) => (d.risk.trailingStopPct = 1))).toMatchObject({
      path: "/risk/trailingStopPct",
      code: "unknown_field",
    });
  });

  it.each([
    ["positionSizePct", 0],
    ["positionSizePct", 100.5],
    ["positionSizePct", -10],
    ["takeProfitPct", -3],
    ["takeProfitPct", 0],
    ["stopLossPct", -1.5],
    ["maxOpenPositions", 0],
    ["cooldownCandles", -1],
  ])("risk %s = %p is out of range", (field, value) => {
    expect(only((d) => (d.risk[field] = value))).toMatchObject({
      path: `/risk/${field}`,
      code: "out_of_range",
    });
  });

  it("a stop 100 % or more below the entry is contradictory", () => {
    expect(only((d) => (d.risk.stopLossPct = 100))).toMatchObject({
      path: "/risk/stopLossPct",
      code: "contradictory",
    });
  });

  it("positionSizePct is required", () => {
    expect(only((d) => delete d.risk.positionSizePct)).toMatchObject({
      path: "/risk/positionSizePct",
      code: "required",
    });
  });

  it("unknown symbol and interval", () => {
    expect(only((d) => (d.symbol = "DOGEUSDT"))).toMatchObject({ path: "/symbol", code: "unknown_symbol" });
    expect(only((d) => (d.interval = "7m"))).toMatchObject({ path: "/interval", code: "unknown_interval" });
    expect(only((d) => (d.interval = "1M"))).toMatchObject({ path: "/interval", code: "unknown_interval" });
  });

  it("every fixed-length Binance interval is accepted, by the validator, the schema and MARKET_DATA_WATCH alike", () => {
    const fixed = [
      "1s",
      "1m",
      "3m",
      "5m",
      "15m",
      "30m",
      "1h",
      "2h",
      "4h",
      "6h",
      "8h",
      "12h",
      "1d",
      "3d",
      "1w",
    ];
    for (const iv of fixed) expect(errorsOf((d) => (d.interval = iv))).toEqual([]);
    expect(STRATEGY_JSON_SCHEMA.properties.interval.enum).toEqual(fixed);
    expect(parseWatch(fixed.map((iv) => `BTCUSDT:${iv}`).join(",")).map((w) => w.interval)).toEqual(fixed);
    // the refusal names what would be accepted
    expect(only((d) => (d.interval = "7m")).message).toContain(fixed.join(", "));
  });

  it("warmupCandles must be a whole number >= 0", () => {
    expect(only((d) => (d.warmupCandles = -1))).toMatchObject({
      path: "/warmupCandles",
      code: "out_of_range",
    });
  });

  it("reports every problem at once, not just the first", () => {
    const errs = errorsOf((d) => {
      d.indicators.fast.period = 0;
      d.symbol = "X";
      d.risk.positionSizePct = 200;
    });
    expect(errs.map((e) => e.path).sort()).toEqual([
      "/indicators/fast/period",
      "/risk/positionSizePct",
      "/symbol",
    ]);
  });

  it("rejects a document that is not an object", () => {
    for (const v of [null, [], "x", 3])
      expect(validateStrategy(v)).toMatchObject({ ok: false, errors: [{ path: "", code: "invalid_type" }] });
  });
});

describe("JSON Schema", () => {
  // ajv is present as a dependency of the tooling; the API can use the schema the same way.
  const Ajv = require("ajv");
  const ajv = new Ajv({ allErrors: true });
  const check = ajv.compile(JSON.parse(JSON.stringify(STRATEGY_JSON_SCHEMA)));

  it("accepts every example", () => {
    for (const f of fs.readdirSync(EXAMPLES).filter((x) => x.endsWith(".json")))
      expect(check(read(f))).toBe(true);
  });

  it.each([
    ["unknown indicator type", (d: Doc) => (d.indicators.fast.type = "KAMA")],
    ["fractional period", (d: Doc) => (d.indicators.fast.period = 1.5)],
    ["reserved indicator name", (d: Doc) => (d.indicators.close = { type: "SMA", period: 3 })],
    ["extra field", (d: Doc) => (d.extra = 1)],
    ["missing risk", (d: Doc) => delete d.risk],
    ["position size above 100", (d: Doc) => (d.risk.positionSizePct = 101)],
    ["negative stop", (d: Doc) => (d.risk.stopLossPct = -1)],
    ["two operators in one condition", (d: Doc) => (d.entry = { gt: ["close", 1], lt: ["close", 2] })],
    ["unknown symbol", (d: Doc) => (d.symbol = "DOGEUSDT")],
  ])("rejects %s, as the validator does", (_what, mutate) => {
    const d = base();
    mutate(d);
    expect(check(d)).toBe(false);
    expect(validateStrategy(d).ok).toBe(false);
  });
});

test("names that plain objects already have (__proto__, constructor, toString) cannot name an indicator", () => {
  for (const name of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
    const def = JSON.parse(
      `{"name":"x","symbol":"BTCUSDT","interval":"1h","indicators":{"${name}":{"type":"SMA","period":5}},` +
        `"entry":{"gt":["close",1]},"risk":{"positionSizePct":50}}`,
    );
    const r = validateStrategy(def);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.path)).toContain(`/indicators/${name}`);
  }
  expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain("period");
});
