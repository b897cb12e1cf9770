// The indicator catalogue: one entry per `type` of the strategy format, with its parameters,
// outputs, inputs, warm-up and factory. The validator, the JSON Schema and the compiler all read
// this table, so they cannot disagree about what an indicator accepts.
import { ATR } from "./atr";
import { BollingerBands } from "./bb";
import { EMA } from "./ema";
import { MACD } from "./macd";
import { RSI } from "./rsi";
import { SMA } from "./sma";
import { Stochastic } from "./stochastic";
import type { AnyIndicator } from "./types";
import { WMA } from "./wma";

export interface ParamSpec {
  readonly name: string;
  readonly kind: "integer" | "number";
  readonly min: number;
  /** true: strictly greater than `min`. */
  readonly exclusiveMin?: boolean;
  readonly max: number;
  readonly description: string;
}

export interface IndicatorSpec {
  readonly type: string;
  readonly title: string;
  /** "series": one value per candle from `source`; "bar": high, low and close (no `source`). */
  readonly input: "series" | "bar";
  readonly params: readonly ParamSpec[];
  /** null: a single output, referenced by the indicator's name alone. */
  readonly outputs: readonly string[] | null;
  warmup(p: Readonly<Record<string, number>>): number;
  /** `out`: optional array (length = number of outputs) the indicator writes its outputs into. */
  create(p: Readonly<Record<string, number>>, out?: Float64Array): AnyIndicator;
  /** Cross-parameter rule, e.g. MACD fast < slow: [param, message] when violated. */
  check?(p: Readonly<Record<string, number>>): [string, string] | undefined;
}

export const MAX_PERIOD = 10_000;

const period = (description = "number of candles"): ParamSpec => ({
  name: "period",
  kind: "integer",
  min: 1,
  max: MAX_PERIOD,
  description,
});

const integer = (name: string, description: string): ParamSpec => ({
  name,
  kind: "integer",
  min: 1,
  max: MAX_PERIOD,
  description,
});

const SPECS: readonly IndicatorSpec[] = [
  {
    type: "SMA",
    title: "Simple moving average",
    input: "series",
    params: [period()],
    outputs: null,
    warmup: (p) => p.period,
    create: (p, out) => new SMA(p.period, out),
  },
  {
    type: "EMA",
    title: "Exponential moving average",
    input: "series",
    params: [period()],
    outputs: null,
    warmup: (p) => p.period,
    create: (p, out) => new EMA(p.period, out),
  },
  {
    type: "WMA",
    title: "Weighted moving average",
    input: "series",
    params: [period()],
    outputs: null,
    warmup: (p) => p.period,
    create: (p, out) => new WMA(p.period, out),
  },
  {
    type: "RSI",
    title: "Relative strength index (Wilder)",
    input: "series",
    params: [period("number of changes averaged")],
    outputs: null,
    warmup: (p) => p.period + 1,
    create: (p, out) => new RSI(p.period, out),
  },
  {
    type: "MACD",
    title: "Moving average convergence divergence",
    input: "series",
    params: [
      integer("fastPeriod", "fast EMA period"),
      integer("slowPeriod", "slow EMA period"),
      integer("signalPeriod", "signal EMA period"),
    ],
    outputs: ["macd", "signal", "histogram"],
    warmup: (p) => p.slowPeriod + p.signalPeriod - 1,
    create: (p, out) => new MACD(p.fastPeriod, p.slowPeriod, p.signalPeriod, out),
    check: (p) =>
      p.fastPeriod >= p.slowPeriod
        ? ["fastPeriod", `fastPeriod (${p.fastPeriod}) must be smaller than slowPeriod (${p.slowPeriod})`]
        : undefined,
  },
  {
    type: "BB",
    title: "Bollinger Bands",
    input: "series",
    params: [
      period(),
      {
        name: "stdDev",
        kind: "number",
        min: 0,
        exclusiveMin: true,
        max: 100,
        description: "band width in standard deviations",
      },
    ],
    outputs: ["upper", "middle", "lower"],
    warmup: (p) => p.period,
    create: (p, out) => new BollingerBands(p.period, p.stdDev, out),
  },
  {
    type: "ATR",
    title: "Average true range",
    input: "bar",
    params: [period()],
    outputs: null,
    warmup: (p) => p.period + 1,
    create: (p, out) => new ATR(p.period, out),
  },
  {
    type: "STOCH",
    title: "Stochastic oscillator",
    input: "bar",
    params: [period("look-back for highest high / lowest low"), integer("signalPeriod", "SMA period of %D")],
    outputs: ["k", "d"],
    warmup: (p) => p.period + p.signalPeriod - 1,
    create: (p, out) => new Stochastic(p.period, p.signalPeriod, out),
  },
];

export const INDICATORS: Readonly<Record<string, IndicatorSpec>> = Object.freeze(
  Object.fromEntries(SPECS.map((s) => [s.type, s])),
);

export const INDICATOR_TYPES: readonly string[] = Object.freeze(SPECS.map((s) => s.type));

export function indicatorSpec(type: string): IndicatorSpec | undefined {
  return Object.prototype.hasOwnProperty.call(INDICATORS, type) ? INDICATORS[type] : undefined;
}
