import { EMA } from "./ema";
import {
  assertPeriod,
  checkSnapshot,
  dec,
  enc,
  type IndicatorSnapshot,
  outputArray,
  type SeriesIndicator,
} from "./types";

const MACD_OUTPUTS: readonly string[] = Object.freeze(["macd", "signal", "histogram"]);

/**
 * MACD as technicalindicators 3.1.0 computes it for a plain input object: EMA oscillators (its
 * `SimpleMAOscillator`/`SimpleMASignal` flags are falsy unless given) and an EMA signal line that
 * is itself seeded with the SMA of the first `signalPeriod` MACD values. `macd` is defined from
 * input `slowPeriod`, `signal` and `histogram` from input `slowPeriod + signalPeriod − 1`.
 * The library's truthiness tests (an oscillator or signal of exactly 0 counts as "missing") are
 * kept so outputs stay identical.
 */
export class MACD implements SeriesIndicator {
  readonly type = "MACD";
  readonly input = "series";
  readonly outputs = MACD_OUTPUTS;
  readonly warmup: number;
  private readonly fast: EMA;
  private readonly slow: EMA;
  private readonly sig: EMA;
  private n = 0;
  /** [macd, signal, histogram] */
  readonly values: Float64Array;

  constructor(
    readonly fastPeriod: number,
    readonly slowPeriod: number,
    readonly signalPeriod: number,
    out?: Float64Array,
  ) {
    assertPeriod("MACD fastPeriod", fastPeriod);
    this.values = outputArray(3, out);
    assertPeriod("MACD slowPeriod", slowPeriod);
    assertPeriod("MACD signalPeriod", signalPeriod);
    if (fastPeriod >= slowPeriod) throw new RangeError("MACD fastPeriod must be smaller than slowPeriod");
    this.fast = new EMA(fastPeriod);
    this.slow = new EMA(slowPeriod);
    this.sig = new EMA(signalPeriod);
    this.warmup = slowPeriod + signalPeriod - 1;
  }

  update(x: number): void {
    this.fast.update(x);
    this.slow.update(x);
    if (++this.n < this.slowPeriod) return;
    const f = this.fast.values[0];
    const s = this.slow.values[0];
    const v = this.values;
    // `if (fast && slow)` in the library: NaN and 0 are both falsy.
    if (f === f && f !== 0 && s === s && s !== 0) {
      v[0] = f - s;
      this.sig.update(v[0]);
    }
    const sig = this.sig.values[0];
    v[1] = sig !== 0 ? sig : NaN;
    v[2] = v[0] - sig;
  }

  get isReady(): boolean {
    return this.values[2] === this.values[2] && this.values[1] === this.values[1];
  }
  get value(): number | undefined {
    return this.values[0] === this.values[0] ? this.values[0] : undefined;
  }
  output(index: number): number {
    return this.values[index];
  }

  snapshot(): IndicatorSnapshot {
    const fast = this.fast.snapshot().state;
    const slow = this.slow.snapshot().state;
    const sig = this.sig.snapshot().state;
    return {
      type: this.type,
      params: { fastPeriod: this.fastPeriod, slowPeriod: this.slowPeriod, signalPeriod: this.signalPeriod },
      state: {
        n: this.n,
        macd: enc(this.values[0]),
        fast: [fast.n, fast.sum, fast.ema] as number[],
        slow: [slow.n, slow.sum, slow.ema] as number[],
        sig: [sig.n, sig.sum, sig.ema] as number[],
      },
    };
  }

  restore(s: IndicatorSnapshot): void {
    checkSnapshot(s, this.type, {
      fastPeriod: this.fastPeriod,
      slowPeriod: this.slowPeriod,
      signalPeriod: this.signalPeriod,
    });
    const ema = (target: EMA, period: number, v: unknown, what: string) => {
      if (!Array.isArray(v) || v.length !== 3)
        throw new TypeError(`indicator state: ${what} must be [n, sum, ema]`);
      target.restore({ type: "EMA", params: { period }, state: { n: v[0], sum: v[1], ema: v[2] } });
    };
    ema(this.fast, this.fastPeriod, s.state.fast, "fast");
    ema(this.slow, this.slowPeriod, s.state.slow, "slow");
    ema(this.sig, this.signalPeriod, s.state.sig, "sig");
    this.n = dec(s.state.n, "n");
    const v = this.values;
    v[0] = dec(s.state.macd, "macd");
    const sig = this.sig.values[0];
    v[1] = sig !== 0 ? sig : NaN;
    v[2] = this.n >= this.slowPeriod ? v[0] - sig : NaN;
  }
}
