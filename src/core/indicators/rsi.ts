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
 * technicalindicators rounds RSI with `parseFloat(x.toFixed(2))`. Formatting a string per update
 * is slow, so the rounding is done in binary, and the string path is kept only within 1e-7 of a
 * half-cent tie, where binary rounding error could pick the other side. Away from ties the
 * nearest integer of x·100 is the one toFixed picks, and n / 100 is the correctly rounded double
 * of the decimal n/100, i.e. the very number parseFloat returns.
 */
export function roundLikeToFixed2(v: number): number {
  const s = v * 100;
  const r = Math.round(s);
  if (Math.abs(s - r) > 0.4999999 || !(Math.abs(s) < 1e15)) return parseFloat(v.toFixed(2));
  return r / 100;
}

/**
 * The library's RSI for positive average gain `ag` and loss `al`:
 * parseFloat((100 − 100 / (1 + ag / al)).toFixed(2)). Mathematically 100 − 100/(1 + ag/al) is
 * 100·ag / (ag + al), which costs one division instead of three; the two doubles differ by far
 * less than 1e-11, so they round to the same cent unless the value sits within 1e-9 of a
 * half-cent. Only there (about one update in 10⁷) is the library's exact expression evaluated.
 */
export function rsiFromAverages(ag: number, al: number): number {
  const s = (10_000 * ag) / (ag + al);
  // Math.round costs V8 about ten times Math.floor. floor(s + 0.5) is the same integer except
  // when s + 0.5 rounds up onto one, i.e. s within an ulp below a half, which the tie test below
  // sends to the exact path anyway.
  const r = Math.floor(s + 0.5);
  const d = s - r;
  if (d > 0.4999999 || d < -0.4999999) return roundLikeToFixed2(100 - 100 / (1 + ag / al));
  return r / 100;
}

/**
 * Relative strength index with Wilder smoothing: average gain/loss seeded with the plain mean
 * of the first `period` changes, then avg = (avg × (period − 1) + x) / period; 100 when the
 * average loss is 0, 0 when the average gain is 0, otherwise rounded to 2 decimals.
 */
export class RSI extends SingleOutputIndicator implements SeriesIndicator {
  readonly type = "RSI";
  readonly input = "series";
  readonly warmup: number;
  private n = 0;
  private last = NaN;
  private gainSum = 0;
  private lossSum = 0;
  private avgGain = NaN;
  private avgLoss = NaN;
  readonly values: Float64Array;

  constructor(
    readonly period: number,
    out?: Float64Array,
  ) {
    super();
    assertPeriod("RSI period", period);
    this.values = outputArray(1, out);
    this.warmup = period + 1;
  }

  update(x: number): void {
    const n = this.n++;
    if (n === 0) {
      this.last = x;
      return;
    }
    const up = x - this.last;
    const down = this.last - x;
    this.last = x;
    const gain = up > 0 ? up : 0;
    const loss = down > 0 ? down : 0;
    const p = this.period;
    if (n < p) {
      if (gain > 0) this.gainSum = this.gainSum + gain;
      if (loss > 0) this.lossSum = this.lossSum + loss;
      return;
    }
    if (n === p) {
      if (gain > 0) this.gainSum = this.gainSum + gain;
      if (loss > 0) this.lossSum = this.lossSum + loss;
      this.avgGain = this.gainSum / p;
      this.avgLoss = this.lossSum / p;
    } else {
      this.avgGain = (this.avgGain * (p - 1) + gain) / p;
      this.avgLoss = (this.avgLoss * (p - 1) + loss) / p;
    }
    const ag = this.avgGain;
    const al = this.avgLoss;
    if (al === 0) this.values[0] = 100;
    else if (ag === 0) this.values[0] = 0;
    else this.values[0] = rsiFromAverages(ag, al);
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
    const p = this.period;
    let i = from;
    for (; i < to && this.n <= p; i++, at += stride) {
      this.update(src[i]);
      out[at] = v[0];
    }
    if (i === to) return;
    // Once seeded, update() is this loop body; locals keep its state out of memory between steps.
    const q = p - 1;
    let last = this.last;
    let ag = this.avgGain;
    let al = this.avgLoss;
    let r = v[0];
    this.n += to - i;
    for (; i < to; i++, at += stride) {
      const x = src[i];
      const up = x - last;
      const down = last - x;
      last = x;
      ag = (ag * q + (up > 0 ? up : 0)) / p;
      al = (al * q + (down > 0 ? down : 0)) / p;
      r = al === 0 ? 100 : ag === 0 ? 0 : rsiFromAverages(ag, al);
      out[at] = r;
    }
    this.last = last;
    this.avgGain = ag;
    this.avgLoss = al;
    v[0] = r;
  }

  snapshot(): IndicatorSnapshot {
    return {
      type: this.type,
      params: { period: this.period },
      state: {
        n: this.n,
        last: enc(this.last),
        gainSum: this.gainSum,
        lossSum: this.lossSum,
        avgGain: enc(this.avgGain),
        avgLoss: enc(this.avgLoss),
        out: enc(this.values[0]),
      },
    };
  }

  restore(s: IndicatorSnapshot): void {
    checkSnapshot(s, this.type, { period: this.period });
    this.n = dec(s.state.n, "n");
    this.last = dec(s.state.last, "last");
    this.gainSum = dec(s.state.gainSum, "gainSum");
    this.lossSum = dec(s.state.lossSum, "lossSum");
    this.avgGain = dec(s.state.avgGain, "avgGain");
    this.avgLoss = dec(s.state.avgLoss, "avgLoss");
    this.values[0] = dec(s.state.out, "out");
  }
}
