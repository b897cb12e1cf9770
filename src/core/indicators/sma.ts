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
  SINGLE_OUTPUT,
} from "./types";

/** Simple moving average with technicalindicators' running sum (sum − oldest + newest). */
export class SMA implements SeriesIndicator {
  readonly type = "SMA";
  readonly input = "series";
  readonly outputs = SINGLE_OUTPUT;
  readonly warmup: number;
  private readonly ring: Ring;
  private sum = 0;
  private n = 0;
  readonly values: Float64Array;

  constructor(
    readonly period: number,
    out?: Float64Array,
  ) {
    assertPeriod("SMA period", period);
    this.values = outputArray(1, out);
    this.warmup = period;
    this.ring = new Ring(period);
  }

  update(x: number): void {
    this.sum = this.sum - this.ring.push(x) + x;
    if (++this.n >= this.period) this.values[0] = this.sum / this.period;
  }

  get isReady(): boolean {
    return this.values[0] === this.values[0];
  }
  get value(): number | undefined {
    return this.values[0] === this.values[0] ? this.values[0] : undefined;
  }
  output(_index: number): number {
    return this.values[0];
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
