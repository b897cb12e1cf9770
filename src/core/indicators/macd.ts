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
  // The fast, slow and signal EMAs live here as plain fields (count, seed sum, value each) rather
  // than as three EMA objects: one object to load from per update. Their steps are EMA.update's.
  private readonly kFast: number;
  private readonly kSlow: number;
  private readonly kSig: number;
  private nFast = 0;
  private nSlow = 0;
  private nSig = 0;
  private sumFast = 0;
  private sumSlow = 0;
  private sumSig = 0;
  private fast = NaN;
  private slow = NaN;
  private sig = NaN;
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
    this.kFast = 2 / (fastPeriod + 1);
    this.kSlow = 2 / (slowPeriod + 1);
    this.kSig = 2 / (signalPeriod + 1);
    this.warmup = slowPeriod + signalPeriod - 1;
  }

  update(x: number): void {
    let f = this.fast;
    if (this.nFast >= this.fastPeriod) {
      this.fast = f = (x - f) * this.kFast + f;
    } else {
      this.sumFast = this.sumFast + x;
      if (this.nFast + 1 === this.fastPeriod) {
        const seed = this.sumFast / this.fastPeriod;
        this.fast = f = seed !== 0 ? seed : (x - seed) * this.kFast + seed;
      }
    }
    this.nFast++;
    let s = this.slow;
    if (this.nSlow >= this.slowPeriod) {
      this.slow = s = (x - s) * this.kSlow + s;
    } else {
      this.sumSlow = this.sumSlow + x;
      if (this.nSlow + 1 === this.slowPeriod) {
        const seed = this.sumSlow / this.slowPeriod;
        this.slow = s = seed !== 0 ? seed : (x - seed) * this.kSlow + seed;
      }
    }
    this.nSlow++;
    if (++this.n < this.slowPeriod) return;
    const v = this.values;
    // `if (fast && slow)` in the library: NaN and 0 are both falsy.
    if (f === f && f !== 0 && s === s && s !== 0) {
      const m = f - s;
      v[0] = m;
      const g = this.sig;
      if (this.nSig >= this.signalPeriod) {
        this.sig = (m - g) * this.kSig + g;
      } else {
        this.sumSig = this.sumSig + m;
        if (this.nSig + 1 === this.signalPeriod) {
          const seed = this.sumSig / this.signalPeriod;
          this.sig = seed !== 0 ? seed : (m - seed) * this.kSig + seed;
        }
      }
      this.nSig++;
    }
    const g = this.sig;
    v[1] = g !== 0 ? g : NaN;
    v[2] = v[0] - g;
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
    return {
      type: this.type,
      params: { fastPeriod: this.fastPeriod, slowPeriod: this.slowPeriod, signalPeriod: this.signalPeriod },
      state: {
        n: this.n,
        macd: enc(this.values[0]),
        fast: [this.nFast, this.sumFast, enc(this.fast)] as number[],
        slow: [this.nSlow, this.sumSlow, enc(this.slow)] as number[],
        sig: [this.nSig, this.sumSig, enc(this.sig)] as number[],
      },
    };
  }

  restore(s: IndicatorSnapshot): void {
    checkSnapshot(s, this.type, {
      fastPeriod: this.fastPeriod,
      slowPeriod: this.slowPeriod,
      signalPeriod: this.signalPeriod,
    });
    const ema = (v: unknown, what: string): [number, number, number] => {
      if (!Array.isArray(v) || v.length !== 3)
        throw new TypeError(`indicator state: ${what} must be [n, sum, ema]`);
      return [dec(v[0], "n"), dec(v[1], "sum"), dec(v[2], "ema")];
    };
    [this.nFast, this.sumFast, this.fast] = ema(s.state.fast, "fast");
    [this.nSlow, this.sumSlow, this.slow] = ema(s.state.slow, "slow");
    [this.nSig, this.sumSig, this.sig] = ema(s.state.sig, "sig");
    this.n = dec(s.state.n, "n");
    const v = this.values;
    v[0] = dec(s.state.macd, "macd");
    const sig = this.sig;
    v[1] = sig !== 0 ? sig : NaN;
    v[2] = this.n >= this.slowPeriod ? v[0] - sig : NaN;
  }
}
