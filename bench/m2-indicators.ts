// M2: streaming indicator throughput, ours vs technicalindicators 3.1.0 `nextValue`, on the same
// seeded synthetic series. Every pair is checked for equal outputs (1e-9 relative) before it is
// timed. Also reports our EMA against a bare Float64Array EMA loop (the ceiling).
// Run: node --expose-gc --import tsx bench/m2-indicators.ts [values]
import { performance } from "node:perf_hooks";
import * as ti from "technicalindicators";
import {
  ATR,
  BollingerBands,
  EMA,
  MACD,
  RSI,
  SMA,
  Stochastic,
  WMA,
  type AnyIndicator,
} from "../src/core/indicators";
import { syntheticCandles } from "./synthetic";
import { benchEnv } from "./lib";

const N = Number(process.argv[2] ?? 1_000_000);
const RUNS = 3;
/** Untimed runs first, the same for both sides: one left the first timed run still compiling. */
const WARMUPS = 2;
const gc = (globalThis as { gc?: () => void }).gc;
const env = benchEnv({
  values: N,
  mode: "streaming",
});
const c = syntheticCandles(N, 7);
const { close, high, low } = c;

interface Case {
  name: string;
  ours: () => AnyIndicator;
  /** A technicalindicators instance; `next(i)` feeds input i and returns the outputs in our order. */
  theirs: () => (i: number) => (number | undefined)[];
}

const bar = (i: number) => ({ high: high[i], low: low[i], close: close[i] });
const CASES: Case[] = [
  {
    name: "SMA(20)",
    ours: () => new SMA(20),
    theirs: () => {
      const t = new ti.SMA({ period: 20, values: [] });
      return (i) => [t.nextValue(close[i])];
    },
  },
  {
    name: "EMA(20)",
    ours: () => new EMA(20),
    theirs: () => {
      const t = new ti.EMA({ period: 20, values: [] });
      return (i) => [t.nextValue(close[i])];
    },
  },
  {
    name: "WMA(20)",
    ours: () => new WMA(20),
    theirs: () => {
      const t = new ti.WMA({ period: 20, values: [] });
      return (i) => [t.nextValue(close[i])];
    },
  },
  {
    name: "RSI(14)",
    ours: () => new RSI(14),
    theirs: () => {
      const t = new ti.RSI({ period: 14, values: [] });
      return (i) => [t.nextValue(close[i])];
    },
  },
  {
    name: "MACD(12,26,9)",
    ours: () => new MACD(12, 26, 9),
    theirs: () => {
      const t = new ti.MACD({
        fastPeriod: 12,
        slowPeriod: 26,
        signalPeriod: 9,
        values: [],
        SimpleMAOscillator: false,
        SimpleMASignal: false,
      });
      return (i) => {
        const v = t.nextValue(close[i]);
        return v ? [v.MACD, v.signal, v.histogram] : [undefined, undefined, undefined];
      };
    },
  },
  {
    name: "BB(20,2)",
    ours: () => new BollingerBands(20, 2),
    theirs: () => {
      const t = new ti.BollingerBands({ period: 20, stdDev: 2, values: [] });
      return (i) => {
        const v = t.nextValue(close[i]);
        return v ? [v.upper, v.middle, v.lower] : [undefined, undefined, undefined];
      };
    },
  },
  {
    name: "ATR(14)",
    ours: () => new ATR(14),
    theirs: () => {
      const t = new ti.ATR({ period: 14, high: [], low: [], close: [] });
      return (i) => [t.nextValue(bar(i) as never)];
    },
  },
  {
    name: "STOCH(14,3)",
    ours: () => new Stochastic(14, 3),
    theirs: () => {
      const t = new ti.Stochastic({ period: 14, signalPeriod: 3, high: [], low: [], close: [] });
      return (i) => {
        const v = t.nextValue(bar(i) as never);
        return v ? [v.k, v.d] : [undefined, undefined];
      };
    },
  },
];

/**
 * One live instance of each side per case, fed past its warm-up. gc() before each timed run
 * otherwise freed every object of a case's classes, and V8 then drops the code compiled for them
 * (deopt reason "weak objects"): each timed run re-measured a JIT warm-up, a fixed cost that
 * weighs far more on the faster side. Kept for both sides alike.
 */
const kept: unknown[] = [];
function keepAlive(k: Case): void {
  const ours = k.ours();
  const next = k.theirs();
  for (let i = 0; i < 500; i++) {
    if (ours.input === "bar") ours.update(high[i], low[i], close[i]);
    else ours.update(close[i]);
    next(i);
  }
  kept.push(ours, next);
}

function feedAll(ind: AnyIndicator): number {
  let acc = 0;
  const v = ind.values;
  if (ind.input === "bar") {
    for (let i = 0; i < N; i++) {
      ind.update(high[i], low[i], close[i]);
      acc += v[0];
    }
  } else {
    for (let i = 0; i < N; i++) {
      ind.update(close[i]);
      acc += v[0];
    }
  }
  return acc;
}

function best(fn: () => unknown): number {
  for (let w = 0; w < WARMUPS; w++) fn();
  let b = Infinity;
  for (let r = 0; r < RUNS; r++) {
    gc?.();
    const t = performance.now();
    fn();
    b = Math.min(b, performance.now() - t);
  }
  return b / 1000;
}

function checkEqual(k: Case): void {
  const ours = k.ours();
  const next = k.theirs();
  const n = Math.min(N, 200_000);
  for (let i = 0; i < n; i++) {
    if (ours.input === "bar") ours.update(high[i], low[i], close[i]);
    else ours.update(close[i]);
    const t = next(i);
    for (let o = 0; o < t.length; o++) {
      const a = ours.output(o);
      const b = t[o];
      const same = b === undefined ? Number.isNaN(a) : Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));
      if (!same) {
        process.stderr.write(
          `M2: ${k.name} output ${o} differs at ${i}: ours ${a}, technicalindicators ${b}\n`,
        );
        process.exit(1);
      }
    }
  }
}

for (const k of CASES) {
  checkEqual(k);
  keepAlive(k);
  const oursS = best(() => feedAll(k.ours()));
  const theirsS = best(() => {
    const next = k.theirs();
    for (let i = 0; i < N; i++) next(i);
  });
  process.stdout.write(
    JSON.stringify({
      metric: `m2.${k.name}.updates_per_s`,
      ours: N / oursS,
      baseline: N / theirsS,
      ratio: theirsS / oursS,
      unit: "updates/s",
      env,
    }) + "\n",
  );
}

// EMA against the bare kernel: the same recurrence over a Float64Array, output to a Float64Array.
{
  const out = new Float64Array(N);
  const kernel = () => {
    const k = 2 / 21;
    let sum = 0;
    for (let i = 0; i < 20; i++) sum += close[i];
    let e = sum / 20;
    out[19] = e;
    for (let i = 20; i < N; i++) out[i] = e = (close[i] - e) * k + e;
  };
  const ours = () => {
    const ema = new EMA(20);
    const v = ema.values;
    for (let i = 0; i < N; i++) {
      ema.update(close[i]);
      out[i] = v[0];
    }
  };
  const kernelS = best(kernel);
  const oursS = best(ours);
  process.stdout.write(
    JSON.stringify({
      metric: "m2.EMA(20).vs_float64_kernel",
      ours: N / oursS,
      baseline: N / kernelS,
      ratio: kernelS / oursS,
      unit: "updates/s",
      env,
    }) + "\n",
  );
}
