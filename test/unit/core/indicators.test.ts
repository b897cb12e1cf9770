// Our incremental indicators against technicalindicators 3.1.0 on the bundled BTCUSDT 1h history
// (17,543 real candles), plus the warm-up contract and snapshot/restore.
import fc from "fast-check";
import * as ti from "technicalindicators";
import { bundledSeries } from "../../../src/adapters/klines/files";
import {
  ATR,
  BollingerBands,
  EMA,
  INDICATORS,
  MACD,
  roundLikeToFixed2,
  RSI,
  rsiFromAverages,
  SMA,
  Stochastic,
  WMA,
  type AnyIndicator,
} from "../../../src/core/indicators";

const rows = bundledSeries("BTCUSDT", "1h");
const close = rows.map((r) => Number(r[4]));
const high = rows.map((r) => Number(r[2]));
const low = rows.map((r) => Number(r[3]));
const volume = rows.map((r) => Number(r[5]));

/** Streams `xs` through the indicator; collects output `k` from the first defined value on. */
function stream(ind: AnyIndicator, k = 0): number[] {
  const out: number[] = [];
  for (let i = 0; i < close.length; i++) {
    if (ind.input === "bar") ind.update(high[i], low[i], close[i]);
    else ind.update(seriesInput[i]);
    const v = ind.output(k);
    if (v === v) out.push(v);
  }
  return out;
}
let seriesInput = close;

function expectSame(ours: number[], theirs: (number | undefined)[]): void {
  const t = theirs.filter((v): v is number => v !== undefined);
  expect(ours.length).toBe(t.length);
  let worst = 0;
  for (let i = 0; i < t.length; i++) {
    const rel = Math.abs(ours[i] - t[i]) / Math.max(Math.abs(t[i]), 1e-300);
    if (!(rel <= worst)) worst = rel;
  }
  expect(worst).toBeLessThanOrEqual(1e-9);
}

describe("equality with technicalindicators 3.1.0 on bundled BTCUSDT 1h closes", () => {
  it("has the bundled history", () => {
    expect(close.length).toBe(17_543);
  });

  it.each([5, 20, 200])("SMA(%i)", (period) => {
    expectSame(stream(new SMA(period)), ti.SMA.calculate({ period, values: close }));
  });

  it.each([9, 12, 26, 200])("EMA(%i), seeded with the SMA of the first period values", (period) => {
    expectSame(stream(new EMA(period)), ti.EMA.calculate({ period, values: close }));
  });

  it.each([10, 30])("WMA(%i)", (period) => {
    expectSame(stream(new WMA(period)), ti.WMA.calculate({ period, values: close }));
  });

  it.each([2, 14, 21])("RSI(%i), Wilder smoothing rounded to 2 decimals", (period) => {
    const ours = stream(new RSI(period));
    expectSame(ours, ti.RSI.calculate({ period, values: close }));
    expect(ours.every((v) => Math.round(v * 100) / 100 === v)).toBe(true);
  });

  it.each([[12, 26, 9]])(
    "MACD(%i, %i, %i) with EMA oscillators and an EMA signal line",
    (fastPeriod, slowPeriod, signalPeriod) => {
      const theirs = ti.MACD.calculate({
        values: close,
        fastPeriod,
        slowPeriod,
        signalPeriod,
        SimpleMAOscillator: false,
        SimpleMASignal: false,
      });
      // The library's default for a plain input object is the same (its flags are falsy when absent).
      const head = close.slice(0, 500);
      expect(ti.MACD.calculate({ values: head, fastPeriod, slowPeriod, signalPeriod } as never)).toEqual(
        ti.MACD.calculate({
          values: head,
          fastPeriod,
          slowPeriod,
          signalPeriod,
          SimpleMAOscillator: false,
          SimpleMASignal: false,
        }),
      );
      const m = new MACD(fastPeriod, slowPeriod, signalPeriod);
      const lines: [number[], number[], number[]] = [[], [], []];
      for (const x of close) {
        m.update(x);
        for (let k = 0; k < 3; k++) if (!Number.isNaN(m.output(k))) lines[k].push(m.output(k));
      }
      expectSame(
        lines[0],
        theirs.map((x) => x.MACD),
      );
      expectSame(
        lines[1],
        theirs.map((x) => x.signal),
      );
      expectSame(
        lines[2],
        theirs.map((x) => x.histogram),
      );
    },
  );

  it.each([[20, 2]])("Bollinger Bands(%i, %f) with the population standard deviation", (period, stdDev) => {
    const theirs = ti.BollingerBands.calculate({ period, stdDev, values: close });
    const bb = new BollingerBands(period, stdDev);
    const bands: [number[], number[], number[]] = [[], [], []];
    for (const x of close) {
      bb.update(x);
      if (bb.isReady) for (let k = 0; k < 3; k++) bands[k].push(bb.output(k));
    }
    expectSame(
      bands[0],
      theirs.map((b) => b.upper),
    );
    expectSame(
      bands[1],
      theirs.map((b) => b.middle),
    );
    expectSame(
      bands[2],
      theirs.map((b) => b.lower),
    );
  });

  it("ATR(14) from high, low and close", () => {
    expectSame(stream(new ATR(14)), ti.ATR.calculate({ period: 14, high, low, close }));
  });

  it("Stochastic(14, 3)", () => {
    const theirs = ti.Stochastic.calculate({ period: 14, signalPeriod: 3, high, low, close });
    expectSame(
      stream(new Stochastic(14, 3), 0),
      theirs.map((s) => s.k),
    );
    expectSame(
      stream(new Stochastic(14, 3), 1),
      theirs.map((s) => s.d),
    );
  });

  describe("on volume (includes a real zero-volume candle, 2023-03-24)", () => {
    beforeAll(() => {
      seriesInput = volume;
    });
    afterAll(() => {
      seriesInput = close;
    });

    it("has a zero in the data", () => {
      expect(volume.includes(0)).toBe(true);
    });

    it("EMA, RSI and MACD still match", () => {
      expectSame(stream(new EMA(20)), ti.EMA.calculate({ period: 20, values: volume }));
      expectSame(stream(new RSI(14)), ti.RSI.calculate({ period: 14, values: volume }));
      const m = ti.MACD.calculate({
        values: volume.slice(0, 3000),
        fastPeriod: 12,
        slowPeriod: 26,
        signalPeriod: 9,
        SimpleMAOscillator: false,
        SimpleMASignal: false,
      });
      const ours = new MACD(12, 26, 9);
      const hist: number[] = [];
      for (const x of volume.slice(0, 3000)) {
        ours.update(x);
        if (ours.isReady) hist.push(ours.output(2));
      }
      expectSame(
        hist,
        m.map((x) => x.histogram),
      );
    });

    it("Bollinger Bands reproduce the library's standard deviation across a zero value", () => {
      // Only the windows around the zero differ from a textbook deviation; check those and a margin.
      const zero = volume.indexOf(0);
      const part = volume.slice(zero - 100, zero + 100);
      const theirs = ti.BollingerBands.calculate({ period: 20, stdDev: 2, values: part });
      const bb = new BollingerBands(20, 2);
      const upper: number[] = [];
      const lower: number[] = [];
      for (const x of part) {
        bb.update(x);
        if (bb.isReady) {
          upper.push(bb.output(0));
          lower.push(bb.output(2));
        }
      }
      expectSame(
        upper,
        theirs.map((b) => b.upper),
      );
      expectSame(
        lower,
        theirs.map((b) => b.lower),
      );
    });
  });
});

describe("RSI rounding", () => {
  it("equals parseFloat(x.toFixed(2)) for any value in [0, 100]", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 100, noNaN: true }),
        (v) => roundLikeToFixed2(v) === parseFloat(v.toFixed(2)),
      ),
      { numRuns: 20_000 },
    );
  });

  it("the one-division RSI equals the library's expression rounded by toFixed(2)", () => {
    const avg = fc.double({ min: 1e-9, max: 1e6, noNaN: true, noDefaultInfinity: true });
    fc.assert(
      fc.property(
        avg,
        avg,
        (ag, al) => rsiFromAverages(ag, al) === parseFloat((100 - 100 / (1 + ag / al)).toFixed(2)),
      ),
      { numRuns: 50_000 },
    );
    // and on values built to sit on a half-cent: ag / (ag + al) = k / 20000 for odd k
    for (let k = 1; k < 20_000; k += 2) {
      const ag = k;
      const al = 20_000 - k;
      expect(rsiFromAverages(ag, al)).toBe(parseFloat((100 - 100 / (1 + ag / al)).toFixed(2)));
    }
  });

  it("handles half-cent ties the way toFixed does", () => {
    for (const v of [1.005, 1.015, 50.125, 99.995, 0.005, 12.345, 33.335]) {
      expect(roundLikeToFixed2(v)).toBe(parseFloat(v.toFixed(2)));
    }
  });
});

describe("warm-up", () => {
  const makers: [string, () => AnyIndicator][] = Object.values(INDICATORS).map((spec) => {
    const params = Object.fromEntries(
      spec.params.map((p) => [
        p.name,
        p.name === "stdDev"
          ? 2
          : p.name === "slowPeriod"
            ? 12
            : p.name === "fastPeriod"
              ? 5
              : p.name === "signalPeriod"
                ? 4
                : 7,
      ]),
    );
    return [spec.type, () => spec.create(params)];
  });

  it.each(makers)("%s has no value before its declared warm-up and is ready exactly at it", (_type, make) => {
    const ind = make();
    expect(ind.warmup).toBeGreaterThan(0);
    const ready: boolean[] = [];
    const allDefined: boolean[] = [];
    for (let i = 0; i < ind.warmup + 5; i++) {
      if (ind.input === "bar") ind.update(high[i], low[i], close[i]);
      else ind.update(close[i]);
      ready.push(ind.isReady);
      allDefined.push(ind.outputs.every((_, k) => Number.isFinite(ind.output(k))));
    }
    const expected = ready.map((_, i) => i + 1 >= ind.warmup);
    expect(ready).toEqual(expected);
    expect(allDefined).toEqual(expected);
  });

  it("the primary value of a single-output indicator is undefined during warm-up", () => {
    const ema = new EMA(3);
    ema.update(1);
    ema.update(2);
    expect(ema.value).toBeUndefined();
    ema.update(3);
    expect(ema.value).toBe(2);
  });
});

describe("snapshot / restore", () => {
  const makers: [string, () => AnyIndicator][] = Object.values(INDICATORS).map((spec) => {
    const params = Object.fromEntries(
      spec.params.map((p) => [
        p.name,
        p.name === "stdDev" ? 2 : p.name === "slowPeriod" ? 26 : p.name === "fastPeriod" ? 12 : 9,
      ]),
    );
    return [spec.type, () => spec.create(params)];
  });

  it.each(makers)("%s continues identically after a JSON round trip, at any cut", (_type, make) => {
    for (const cut of [0, 3, 8, 40, 500]) {
      const a = make();
      const feed = (ind: AnyIndicator, i: number) =>
        ind.input === "bar" ? ind.update(high[i], low[i], close[i]) : ind.update(close[i]);
      for (let i = 0; i < cut; i++) feed(a, i);
      const b = make();
      b.restore(JSON.parse(JSON.stringify(a.snapshot())));
      const outA: number[] = [];
      const outB: number[] = [];
      for (let i = cut; i < cut + 300; i++) {
        feed(a, i);
        feed(b, i);
        for (let k = 0; k < a.outputs.length; k++) {
          outA.push(a.output(k));
          outB.push(b.output(k));
        }
      }
      expect(outB).toEqual(outA);
    }
  });

  it("refuses a snapshot from another indicator or other parameters", () => {
    const s = new EMA(12).snapshot();
    expect(() => new SMA(12).restore(s)).toThrow(/EMA/);
    expect(() => new EMA(26).restore(s)).toThrow(/period/);
  });
});

describe("updateMany (the block form the backtest uses)", () => {
  // Random positive series with runs of equal values and, for "volume", zeros: the cases where
  // the library's truthiness quirks and the warm-up branches matter.
  const series = fc
    .record({
      start: fc.double({ min: 1, max: 1e5, noNaN: true }),
      steps: fc.array(fc.tuple(fc.integer({ min: -300, max: 300 }), fc.integer({ min: 0, max: 9 })), {
        minLength: 1,
        maxLength: 400,
      }),
      zeros: fc.boolean(),
    })
    .map(({ start, steps, zeros }) => {
      const close: number[] = [];
      const high: number[] = [];
      const low: number[] = [];
      let p = start;
      for (const [bps, w] of steps) {
        p = w === 0 ? p : Math.round(p * (1 + bps / 1e4) * 100) / 100;
        const x = zeros && w === 9 ? 0 : p;
        close.push(x);
        high.push(x * (1 + w / 1000));
        low.push(x * (1 - w / 1000));
      }
      return { close, high, low };
    });
  const cuts = fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 12 });
  const specs = Object.values(INDICATORS);
  const paramsOf = (type: string, small: boolean): Record<string, number> =>
    small
      ? { period: 3, fastPeriod: 2, slowPeriod: 4, signalPeriod: 2, stdDev: 1.5 }
      : type === "MACD"
        ? { fastPeriod: 12, slowPeriod: 26, signalPeriod: 9 }
        : { period: 14, signalPeriod: 3, stdDev: 2 };

  const feed = (ind: AnyIndicator, s: { close: number[]; high: number[]; low: number[] }, i: number) =>
    ind.input === "bar" ? ind.update(s.high[i], s.low[i], s.close[i]) : ind.update(s.close[i]);

  it.each(specs.map((s) => [s.type, s] as const))(
    "%s: equals update() value for value, in blocks of any size, and ends in the same state",
    (_type, spec) => {
      fc.assert(
        fc.property(series, cuts, fc.boolean(), (s, blockSizes, small) => {
          const params = paramsOf(spec.type, small);
          const one = spec.create(params);
          const many = spec.create(params);
          const k = one.outputs.length;
          const n = s.close.length;
          const expected = new Float64Array(n * k);
          for (let i = 0; i < n; i++) {
            feed(one, s, i);
            for (let o = 0; o < k; o++) expected[i * k + o] = one.output(o);
          }
          // Rows of width k + 2 with a marker around each indicator's cells, to catch stray writes.
          const w = k + 2;
          const out = new Float64Array(n * w).fill(-1);
          const cols = [s.close, s.high, s.low].map((xs) => Float64Array.from(xs));
          for (let from = 0, b = 0; from < n; b++) {
            const to = Math.min(n, from + blockSizes[b % blockSizes.length]);
            if (many.input === "bar")
              many.updateMany(cols[1], cols[2], cols[0], from, to, out, from * w + 1, w);
            else many.updateMany(cols[0], from, to, out, from * w + 1, w);
            from = to;
          }
          for (let i = 0; i < n; i++) {
            expect(out[i * w]).toBe(-1);
            expect(out[i * w + k + 1]).toBe(-1);
            for (let o = 0; o < k; o++) expect(Object.is(out[i * w + 1 + o], expected[i * k + o])).toBe(true);
          }
          expect(many.snapshot()).toEqual(one.snapshot());
          for (let o = 0; o < k; o++) expect(Object.is(many.output(o), one.output(o))).toBe(true);
        }),
        { numRuns: 150 },
      );
    },
  );

  it("EMA, RSI and MACD in blocks equal technicalindicators on random series", () => {
    fc.assert(
      fc.property(series, cuts, (s, blockSizes) => {
        const src = Float64Array.from(s.close);
        const n = src.length;
        const run = (ind: AnyIndicator): Float64Array => {
          const k = ind.outputs.length;
          const out = new Float64Array(n * k);
          for (let from = 0, b = 0; from < n; b++) {
            const to = Math.min(n, from + blockSizes[b % blockSizes.length]);
            if (ind.input === "series") ind.updateMany(src, from, to, out, from * k, k);
            from = to;
          }
          return out;
        };
        const defined = (out: Float64Array, k: number, o: number) =>
          Array.from({ length: n }, (_, i) => out[i * k + o]).filter((v) => v === v);
        expectSame(defined(run(new EMA(5)), 1, 0), ti.EMA.calculate({ period: 5, values: s.close }));
        expectSame(defined(run(new RSI(5)), 1, 0), ti.RSI.calculate({ period: 5, values: s.close }));
        const macd = run(new MACD(3, 6, 4));
        const theirs = ti.MACD.calculate({
          values: s.close,
          fastPeriod: 3,
          slowPeriod: 6,
          signalPeriod: 4,
          SimpleMAOscillator: false,
          SimpleMASignal: false,
        });
        expectSame(
          defined(macd, 3, 2),
          theirs.map((x) => x.histogram),
        );
      }),
      { numRuns: 200 },
    );
  });
});
