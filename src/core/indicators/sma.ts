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
  SingleOutputIndicator,
} from "./types";

/** Simple moving average with technicalindicators' running sum (sum − oldest + newest). */
export class SMA extends SingleOutputIndicator implements SeriesIndicator {
  readonly type = "SMA";
  readonly input = "series";
  readonly warmup: number;
  private readonly ring: Ring;
  private sum = 0;
  private n = 0;
  readonly values: Float64Array;

  constructor(
    readonly period: number,
    out?: Float64Array,
  ) {
    super();
    assertPeriod("SMA period", period);
    this.values = outputArray(1, out);
    this.warmup = period;
    this.ring = new Ring(period);
  }

  update(x: number): void {
    this.sum = this.sum - this.ring.push(x) + x;
    if (++this.n >= this.period) this.values[0] = this.sum / this.period;
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
    }
  }

  snapshot(): IndicatorSnapshot {
    return {
      type: this.type,
      params: { period: this.period },
      state: { n: this.n, sum: this.sum, out: enc(this.values[0]), window: this.ring.toArray() },
    };
  }

  restore(s: IndicatorSnapshot): void {
    checkSnapshot(s, this.type, { period: this.period });
    this.n = dec(s.state.n, "n");
    this.sum = dec(s.state.sum, "sum");
    this.values[0] = dec(s.state.out, "out");
    this.ring.load(decArray(s.state.window, "window"));
  }
}
