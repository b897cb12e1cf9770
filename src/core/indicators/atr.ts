import {
  assertPeriod,
  type BarIndicator,
  checkSnapshot,
  dec,
  enc,
  outputArray,
  type IndicatorSnapshot,
  SingleOutputIndicator,
} from "./types";

/**
 * Average true range: true range from the second bar on, smoothed by Wilder's EMA (k = 1/period)
 * seeded with the SMA of the first `period` true ranges, as technicalindicators' ATR/WEMA.
 */
export class ATR extends SingleOutputIndicator implements BarIndicator {
  readonly type = "ATR";
  readonly input = "bar";
  readonly warmup: number;
  private readonly k: number;
  private n = 0;
  private prevClose = NaN;
  private sum = 0;
  readonly values: Float64Array;

  constructor(
    readonly period: number,
    out?: Float64Array,
  ) {
    super();
    assertPeriod("ATR period", period);
    this.values = outputArray(1, out);
    this.warmup = period + 1;
    this.k = 1 / period;
  }

  update(high: number, low: number, close: number): void {
    const n = this.n++;
    if (n === 0) {
      this.prevClose = close;
      return;
    }
    const pc = this.prevClose;
    const hc = Math.abs(high - pc);
    const lc = Math.abs(low - pc);
    const tr = Math.max(high - low, hc !== hc ? 0 : hc, lc !== lc ? 0 : lc);
    this.prevClose = close;
    if (n > this.period) {
      const a = this.values[0];
      this.values[0] = (tr - a) * this.k + a;
    } else {
      this.sum = this.sum + tr;
      if (n === this.period) this.values[0] = this.sum / this.period;
    }
  }

  updateMany(
    high: Float64Array,
    low: Float64Array,
    close: Float64Array,
    from: number,
    to: number,
    out: Float64Array,
    at: number,
    stride: number,
  ): void {
    const v = this.values;
    for (let i = from; i < to; i++, at += stride) {
      this.update(high[i], low[i], close[i]);
      out[at] = v[0];
    }
  }

  snapshot(): IndicatorSnapshot {
    return {
      type: this.type,
      params: { period: this.period },
      state: { n: this.n, prevClose: enc(this.prevClose), sum: this.sum, atr: enc(this.values[0]) },
    };
  }

  restore(s: IndicatorSnapshot): void {
    checkSnapshot(s, this.type, { period: this.period });
    this.n = dec(s.state.n, "n");
    this.prevClose = dec(s.state.prevClose, "prevClose");
    this.sum = dec(s.state.sum, "sum");
    this.values[0] = dec(s.state.atr, "atr");
  }
}
