// Incremental indicators. Every kernel is a plain class over numbers: one `update` per input,
// no allocation per update, NaN internally for "not defined yet". Values equal
// technicalindicators 3.1.0 for the same inputs (same operations in the same order).

/** JSON-safe number: `null` stands for "not defined" (NaN internally). */
export type StateNumber = number | null;

export interface IndicatorSnapshot {
  readonly type: string;
  readonly params: Readonly<Record<string, number>>;
  readonly state: Readonly<Record<string, StateNumber | readonly StateNumber[]>>;
}

export interface Indicator {
  readonly type: string;
  /** Output names; a single-output indicator has exactly one, "value". */
  readonly outputs: readonly string[];
  /** Inputs needed before every output is defined (for non-degenerate input). */
  readonly warmup: number;
  readonly isReady: boolean;
  /** The primary output, or undefined while warming up. */
  readonly value: number | undefined;
  /** Output by index (see `outputs`), NaN while undefined. */
  output(index: number): number;
  /**
   * The current outputs, in `outputs` order, NaN while undefined. The array is owned by the
   * indicator and updated in place: the allocation-free, call-free read path for hot loops.
   */
  readonly values: Float64Array;
  snapshot(): IndicatorSnapshot;
  restore(snapshot: IndicatorSnapshot): void;
}

/** Fed one number per candle (its `source` field). */
export interface SeriesIndicator extends Indicator {
  readonly input: "series";
  update(value: number): void;
  /**
   * `update(src[i])` for i in [from, to), copying the outputs after each input to
   * out[at + (i − from)·stride + k]. Same results and end state as the single updates; each class
   * has its own loop so that the update inside it sees one receiver type and inlines.
   */
  updateMany(
    src: Float64Array,
    from: number,
    to: number,
    out: Float64Array,
    at: number,
    stride: number,
  ): void;
}

/** Fed high, low and close of each candle. */
export interface BarIndicator extends Indicator {
  readonly input: "bar";
  update(high: number, low: number, close: number): void;
  /** As SeriesIndicator.updateMany, over the high, low and close columns. */
  updateMany(
    high: Float64Array,
    low: Float64Array,
    close: Float64Array,
    from: number,
    to: number,
    out: Float64Array,
    at: number,
    stride: number,
  ): void;
}

export type AnyIndicator = SeriesIndicator | BarIndicator;

export const SINGLE_OUTPUT: readonly string[] = Object.freeze(["value"]);

/** The read side shared by every one-output indicator: its value lives in values[0], NaN until ready. */
export abstract class SingleOutputIndicator {
  readonly outputs = SINGLE_OUTPUT;
  abstract readonly values: Float64Array;

  get isReady(): boolean {
    return this.values[0] === this.values[0];
  }
  get value(): number | undefined {
    return this.values[0] === this.values[0] ? this.values[0] : undefined;
  }
  output(_index: number): number {
    return this.values[0];
  }
}

export function nanArray(n: number): Float64Array {
  return new Float64Array(n).fill(NaN);
}

/**
 * The output array of an indicator: its own, or a caller's view (e.g. a slice of a compiled
 * strategy's operand array, so outputs land where conditions read them without copying).
 */
export function outputArray(n: number, out?: Float64Array): Float64Array {
  if (!out) return nanArray(n);
  if (out.length !== n) throw new RangeError(`output array must hold ${n} values, got ${out.length}`);
  return out.fill(NaN);
}

export function enc(x: number): StateNumber {
  return Number.isNaN(x) ? null : x;
}

export function dec(x: StateNumber | readonly StateNumber[] | undefined, what = "value"): number {
  if (x === null) return NaN;
  if (typeof x !== "number") throw new TypeError(`indicator state: ${what} must be a number or null`);
  return x;
}

export function decArray(x: StateNumber | readonly StateNumber[] | undefined, what: string): number[] {
  if (!Array.isArray(x)) throw new TypeError(`indicator state: ${what} must be an array`);
  return (x as readonly StateNumber[]).map((v) => (v === null ? NaN : v));
}

export function checkSnapshot(s: IndicatorSnapshot, type: string, params: Record<string, number>): void {
  if (!s || s.type !== type) throw new TypeError(`cannot restore a ${s?.type} snapshot into ${type}`);
  for (const k of Object.keys(params)) {
    if (s.params?.[k] !== params[k]) {
      throw new TypeError(
        `cannot restore ${type}: ${k} is ${s.params?.[k]} in the snapshot, ${params[k]} here`,
      );
    }
  }
}

export function assertPeriod(name: string, p: number): void {
  if (!Number.isInteger(p) || p < 1) throw new RangeError(`${name} must be an integer >= 1, got ${p}`);
}

/**
 * A fixed-size window over a Float64Array. Slots start at 0, which is exactly how
 * technicalindicators' SMA behaves while filling (it subtracts a seeded 0).
 */
export class Ring {
  readonly buf: Float64Array;
  /** Next slot to overwrite; once full, also the oldest value. */
  head = 0;
  /** Values held, up to the size. */
  filled = 0;

  constructor(readonly size: number) {
    this.buf = new Float64Array(size);
  }

  /** Stores x and returns the value it replaced (0 while filling). */
  push(x: number): number {
    const h = this.head;
    const old = this.buf[h];
    this.buf[h] = x;
    this.head = h + 1 === this.size ? 0 : h + 1;
    if (this.filled < this.size) this.filled++;
    return old;
  }

  /** Held values, oldest first. */
  toArray(): number[] {
    const out: number[] = [];
    const start = this.filled < this.size ? 0 : this.head;
    for (let i = 0; i < this.filled; i++) out.push(this.buf[(start + i) % this.size]);
    return out;
  }

  load(values: readonly number[]): void {
    if (values.length > this.size)
      throw new RangeError(`window holds ${this.size} values, got ${values.length}`);
    this.buf.fill(0);
    for (let i = 0; i < values.length; i++) this.buf[i] = values[i];
    this.filled = values.length;
    this.head = values.length === this.size ? 0 : values.length;
  }
}
