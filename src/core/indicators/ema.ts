import {
  assertPeriod,
  checkSnapshot,
  dec,
  enc,
  outputArray,
  type IndicatorSnapshot,
  type SeriesIndicator,
  SingleOutputIndicator,
} from "./types";

/**
 * Exponential moving average, k = 2 / (period + 1), seeded with the SMA of the first `period`
 * values (technicalindicators 3.1.0). The library's seed test is truthy, so a seed of exactly 0
 * takes one EMA step from 0 instead; that is reproduced to keep outputs identical.
 */
export class EMA extends SingleOutputIndicator implements SeriesIndicator {
  readonly type = "EMA";
  readonly input = "series";
  readonly warmup: number;
  private readonly k: number;
  private sum = 0;
  private n = 0;
  readonly values: Float64Array;

  constructor(
    readonly period: number,
    out?: Float64Array,
  ) {
    super();
    assertPeriod("EMA period", period);
    this.values = outputArray(1, out);
    this.warmup = period;
    this.k = 2 / (period + 1);
  }

  update(x: number): void {
    if (this.n >= this.period) {
      const e = this.values[0];
      this.values[0] = (x - e) * this.k + e;
    } else {
      this.sum = this.sum + x;
      if (this.n + 1 === this.period) {
        const seed = this.sum / this.period;
        this.values[0] = seed !== 0 ? seed : (x - seed) * this.k + seed;
      }
    }
    this.n++;
  }

  updateMany(
    src: Float64Array,
    from: number,
    to: number,
    out: Float64Array,
    at: number,
    stride: number,
  ): void {
    const v = this.values;
    let i = from;
    for (; i < to && this.n < this.period; i++, at += stride) {
      this.update(src[i]);
      out[at] = v[0];
    }
    if (i === to) return;
    // Past the seed, update() is this recurrence; a local keeps it out of memory between steps.
    const k = this.k;
    let e = v[0];
    this.n += to - i;
    for (; i < to; i++, at += stride) out[at] = e = (src[i] - e) * k + e;
    v[0] = e;
  }

  snapshot(): IndicatorSnapshot {
    return {
      type: this.type,
      params: { period: this.period },
      state: { n: this.n, sum: this.sum, ema: enc(this.values[0]) },
    };
  }

  restore(s: IndicatorSnapshot): void {
    checkSnapshot(s, this.type, { period: this.period });
    this.n = dec(s.state.n, "n");
    this.sum = dec(s.state.sum, "sum");
    this.values[0] = dec(s.state.ema, "ema");
  }
}
