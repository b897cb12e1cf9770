import { SMA } from "./sma";
import {
  assertPeriod,
  type BarIndicator,
  checkSnapshot,
  dec,
  decArray,
  enc,
  outputArray,
  type IndicatorSnapshot,
  Ring,
} from "./types";

const STOCH_OUTPUTS: readonly string[] = Object.freeze(["k", "d"]);

/**
 * Stochastic oscillator: %K = (close − lowest low) / (highest high − lowest low) × 100 over
 * `period` bars (0 when the range is empty), %D = SMA(signalPeriod) of %K.
 */
export class Stochastic implements BarIndicator {
  readonly type = "STOCH";
  readonly input = "bar";
  readonly outputs = STOCH_OUTPUTS;
  readonly warmup: number;
  private readonly highs: Ring;
  private readonly lows: Ring;
  private readonly dSma: SMA;
  /** [k, d] */
  readonly values: Float64Array;

  constructor(
    readonly period: number,
    readonly signalPeriod: number,
    out?: Float64Array,
  ) {
    assertPeriod("STOCH period", period);
    this.values = outputArray(2, out);
    assertPeriod("STOCH signalPeriod", signalPeriod);
    this.highs = new Ring(period);
    this.lows = new Ring(period);
    this.dSma = new SMA(signalPeriod);
    this.warmup = period + signalPeriod - 1;
  }

  update(high: number, low: number, close: number): void {
    this.highs.push(high);
    this.lows.push(low);
    const p = this.period;
    if (this.highs.filled < p) return;
    const hb = this.highs.buf;
    const lb = this.lows.buf;
    let hh = hb[0];
    let ll = lb[0];
    for (let i = 1; i < p; i++) {
      if (hb[i] > hh) hh = hb[i];
      if (lb[i] < ll) ll = lb[i];
    }
    let k = ((close - ll) / (hh - ll)) * 100;
    if (k !== k) k = 0;
    this.values[0] = k;
    this.dSma.update(k);
    this.values[1] = this.dSma.values[0];
  }

  get isReady(): boolean {
    return this.values[1] === this.values[1];
  }
  get value(): number | undefined {
    return this.values[0] === this.values[0] ? this.values[0] : undefined;
  }
  output(index: number): number {
    return this.values[index];
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
      out[at + 1] = v[1];
    }
  }

  snapshot(): IndicatorSnapshot {
    const d = this.dSma.snapshot().state;
    return {
      type: this.type,
      params: { period: this.period, signalPeriod: this.signalPeriod },
      state: {
        k: enc(this.values[0]),
        highs: this.highs.toArray(),
        lows: this.lows.toArray(),
        dN: d.n as number,
        dSum: d.sum as number,
        dOut: d.out as number | null,
        dWindow: d.window as number[],
      },
    };
  }

  restore(s: IndicatorSnapshot): void {
    checkSnapshot(s, this.type, { period: this.period, signalPeriod: this.signalPeriod });
    this.values[0] = dec(s.state.k, "k");
    this.highs.load(decArray(s.state.highs, "highs"));
    this.lows.load(decArray(s.state.lows, "lows"));
    this.dSma.restore({
      type: "SMA",
      params: { period: this.signalPeriod },
      state: { n: s.state.dN, sum: s.state.dSum, out: s.state.dOut, window: s.state.dWindow },
    });
    this.values[1] = this.dSma.values[0];
  }
}
