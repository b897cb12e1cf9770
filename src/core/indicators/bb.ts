import {
  assertPeriod,
  checkSnapshot,
  dec,
  decArray,
  enc,
  outputArray,
  type IndicatorSnapshot,
  Ring,
  type SeriesIndicator,
} from "./types";

const BB_OUTPUTS: readonly string[] = Object.freeze(["upper", "middle", "lower"]);

/**
 * Bollinger Bands: middle = SMA(period) (running sum), sd = population standard deviation of the
 * window around that mean (two-pass, oldest first, as technicalindicators computes it), bands at
 * middle ± stdDev × sd.
 *
 * Two library quirks are kept so outputs stay identical; both need a value of exactly 0 in the
 * window, so they matter only for `source: "volume"` with zero-volume candles: the deviation sum
 * stops at the first 0 (its list iterator treats a falsy value as the end) while still dividing
 * by `period`, and a window whose mean is 0 leaves the previous bands in place.
 */
export class BollingerBands implements SeriesIndicator {
  readonly type = "BB";
  readonly input = "series";
  readonly outputs = BB_OUTPUTS;
  readonly warmup: number;
  private readonly ring: Ring;
  private sum = 0;
  private n = 0;
  /** [upper, middle, lower] */
  readonly values: Float64Array;

  constructor(
    readonly period: number,
    readonly stdDev: number,
    out?: Float64Array,
  ) {
    assertPeriod("BB period", period);
    this.values = outputArray(3, out);
    if (!(stdDev > 0) || !Number.isFinite(stdDev))
      throw new RangeError(`BB stdDev must be > 0, got ${stdDev}`);
    this.warmup = period;
    this.ring = new Ring(period);
  }

  update(x: number): void {
    const ring = this.ring;
    this.sum = this.sum - ring.push(x) + x;
    const p = this.period;
    if (++this.n < p) return;
    const mean = this.sum / p;
    if (mean === 0 || mean !== mean) return;
    const buf = ring.buf;
    let j = ring.head;
    let acc = 0;
    for (let i = 0; i < p; i++) {
      const v = buf[j];
      if (v === 0 || v !== v) break;
      const d = v - mean;
      acc = acc + d * d;
      if (++j === p) j = 0;
    }
    const sd = Math.sqrt(acc / p);
    const v = this.values;
    v[0] = mean + sd * this.stdDev;
    v[1] = mean;
    v[2] = mean - sd * this.stdDev;
  }

  get isReady(): boolean {
    return this.values[1] === this.values[1];
  }
  get value(): number | undefined {
    return this.values[1] === this.values[1] ? this.values[1] : undefined;
  }
  output(index: number): number {
    return this.values[index];
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
    for (let i = from; i < to; i++, at += stride) {
      this.update(src[i]);
      out[at] = v[0];
      out[at + 1] = v[1];
      out[at + 2] = v[2];
    }
  }

  snapshot(): IndicatorSnapshot {
    return {
      type: this.type,
      params: { period: this.period, stdDev: this.stdDev },
      state: {
        n: this.n,
        sum: this.sum,
        upper: enc(this.values[0]),
        middle: enc(this.values[1]),
        lower: enc(this.values[2]),
        window: this.ring.toArray(),
      },
    };
  }

  restore(s: IndicatorSnapshot): void {
    checkSnapshot(s, this.type, { period: this.period, stdDev: this.stdDev });
    this.n = dec(s.state.n, "n");
    this.sum = dec(s.state.sum, "sum");
    this.values[0] = dec(s.state.upper, "upper");
    this.values[1] = dec(s.state.middle, "middle");
    this.values[2] = dec(s.state.lower, "lower");
    this.ring.load(decArray(s.state.window, "window"));
  }
}
