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

/** Linearly weighted moving average, summed oldest (weight 1) to newest (weight period). */
export class WMA extends SingleOutputIndicator implements SeriesIndicator {
  readonly type = "WMA";
  readonly input = "series";
  readonly warmup: number;
  private readonly ring: Ring;
  private readonly denominator: number;
  readonly values: Float64Array;

  constructor(
    readonly period: number,
    out?: Float64Array,
  ) {
    super();
    assertPeriod("WMA period", period);
    this.values = outputArray(1, out);
    this.warmup = period;
    this.ring = new Ring(period);
    this.denominator = (period * (period + 1)) / 2;
  }

  update(x: number): void {
    const ring = this.ring;
    ring.push(x);
    if (ring.filled < this.period) return;
    const buf = ring.buf;
    const p = this.period;
    const d = this.denominator;
    let j = ring.head;
    let result = 0;
    for (let i = 1; i <= p; i++) {
      result = result + (buf[j] * i) / d;
      if (++j === p) j = 0;
    }
    this.values[0] = result;
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
      state: { out: enc(this.values[0]), window: this.ring.toArray() },
    };
  }

  restore(s: IndicatorSnapshot): void {
    checkSnapshot(s, this.type, { period: this.period });
    this.values[0] = dec(s.state.out, "out");
    this.ring.load(decArray(s.state.window, "window"));
  }
}
