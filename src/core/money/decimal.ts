/**
 * Exact decimal arithmetic for money, prices and quantities.
 *
 * A `Decimal` is an immutable value `units / 10^scale` with `units` a BigInt and `scale` ≥ 0
 * fractional digits. Addition, subtraction and multiplication are exact; the only operations
 * that can lose digits (division, rounding to fewer decimals or to a step such as `tickSize`)
 * take an explicit {@link RoundingMode}, so every rounding in the code base is visible at the
 * call site. Floats never enter: inputs are decimal strings (or safe integers), outputs are
 * decimal strings.
 *
 * ```ts
 * const qty = Decimal.parse("0.00123");
 * const cost = qty.mul(Decimal.parse("27000.12"));              // 33.2101476 (exact)
 * cost.toFixed(8);                                               // "33.21014760"
 * Decimal.parse("0.123456").roundDown(Decimal.parse("0.00001")); // 0.12345
 * Decimal.parse("10").div(Decimal.parse("3"), 8, "halfEven");   // 3.33333333
 * ```
 *
 * Pure: no I/O, no clock, no randomness, no dependencies.
 */

/**
 * How to drop digits.
 * - `down`: toward zero (truncate)          - `up`: away from zero
 * - `floor`: toward −∞                        - `ceil`: toward +∞
 * - `halfUp`: nearest, ties away from zero    - `halfEven`: nearest, ties to the even neighbour
 */
export type RoundingMode = "down" | "up" | "floor" | "ceil" | "halfUp" | "halfEven";

/** Binance formats every price, quantity and balance with this many decimals. */
export const BINANCE_DECIMALS = 8;

/** Anything {@link Decimal.from} accepts. Numbers must be finite; they are read via their shortest decimal form. */
export type DecimalLike = Decimal | string | bigint | number;

export class DecimalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecimalError";
  }
}

const POW10: bigint[] = [1n];
function pow10(n: number): bigint {
  while (POW10.length <= n) POW10.push(POW10[POW10.length - 1] * 10n);
  return POW10[n];
}

const MAX_SCALE = 1000;
const DECIMAL_RE = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** Rounds the exact quotient n/d to an integer with the given mode. */
function divRound(n: bigint, d: bigint, mode: RoundingMode): bigint {
  if (d === 0n) throw new DecimalError("division by zero");
  const negative = n < 0n !== d < 0n && n !== 0n;
  const an = n < 0n ? -n : n;
  const ad = d < 0n ? -d : d;
  let q = an / ad;
  const r = an % ad;
  if (r !== 0n) {
    let bump: boolean;
    switch (mode) {
      case "down":
        bump = false;
        break;
      case "up":
        bump = true;
        break;
      case "floor":
        bump = negative;
        break;
      case "ceil":
        bump = !negative;
        break;
      case "halfUp":
        bump = 2n * r >= ad;
        break;
      case "halfEven": {
        const twice = 2n * r;
        bump = twice > ad || (twice === ad && (q & 1n) === 1n);
        break;
      }
      default:
        throw new DecimalError(`unknown rounding mode ${String(mode)}`);
    }
    if (bump) q += 1n;
  }
  return negative ? -q : q;
}

export class Decimal {
  /** Integer coefficient: the value is `units / 10^scale`. */
  readonly units: bigint;
  /** Number of fractional digits carried (not necessarily significant). */
  readonly scale: number;

  private constructor(units: bigint, scale: number) {
    this.units = units;
    this.scale = scale;
  }

  static readonly ZERO = new Decimal(0n, 0);
  static readonly ONE = new Decimal(1n, 0);

  /** Builds `units / 10^scale` directly, e.g. `Decimal.of(12345n, 2)` is 123.45. */
  static of(units: bigint, scale = 0): Decimal {
    if (!Number.isInteger(scale) || scale < 0 || scale > MAX_SCALE)
      throw new DecimalError(`invalid scale ${scale}`);
    return new Decimal(units, scale);
  }

  /**
   * Parses a decimal string: optional sign, digits with an optional fraction, optional
   * exponent (`"1e-8"`). Leading/trailing whitespace is not accepted. Throws {@link DecimalError}.
   */
  static parse(text: string): Decimal {
    const d = Decimal.tryParse(text);
    if (d === undefined) throw new DecimalError(`not a decimal number: ${JSON.stringify(text)}`);
    return d;
  }

  /** Like {@link parse} but returns `undefined` for malformed input. */
  static tryParse(text: string): Decimal | undefined {
    if (typeof text !== "string" || text.length === 0 || text.length > 2000) return undefined;
    const m = DECIMAL_RE.exec(text);
    if (!m) return undefined;
    const [, sign, intPart, fracPartRaw, expRaw] = m;
    const fracPart = fracPartRaw ?? "";
    if (intPart.length === 0 && fracPart.length === 0) return undefined;
    let units = BigInt((intPart || "0") + fracPart);
    if (sign === "-") units = -units;
    let scale = fracPart.length;
    if (expRaw !== undefined) {
      const exp = Number(expRaw);
      if (!Number.isSafeInteger(exp) || Math.abs(exp) > MAX_SCALE) return undefined;
      if (exp >= 0) {
        if (exp <= scale) scale -= exp;
        else {
          units *= pow10(exp - scale);
          scale = 0;
        }
      } else scale -= exp;
      if (scale > MAX_SCALE) return undefined;
    }
    return new Decimal(units, scale);
  }

  /** Converts a string, bigint, finite number or Decimal. */
  static from(value: DecimalLike): Decimal {
    if (value instanceof Decimal) return value;
    if (typeof value === "bigint") return new Decimal(value, 0);
    if (typeof value === "number") {
      if (!Number.isFinite(value)) throw new DecimalError(`not a finite number: ${value}`);
      return Decimal.parse(String(value));
    }
    return Decimal.parse(value);
  }

  static isDecimal(x: unknown): x is Decimal {
    return x instanceof Decimal;
  }

  static min(a: Decimal, b: Decimal): Decimal {
    return a.cmp(b) <= 0 ? a : b;
  }

  static max(a: Decimal, b: Decimal): Decimal {
    return a.cmp(b) >= 0 ? a : b;
  }

  static sum(values: Iterable<Decimal>): Decimal {
    let acc = Decimal.ZERO;
    for (const v of values) acc = acc.add(v);
    return acc;
  }

  /** This value expressed with `scale` digits (scale ≥ this.scale, so exact). */
  private unitsAt(scale: number): bigint {
    return scale === this.scale ? this.units : this.units * pow10(scale - this.scale);
  }

  add(other: Decimal): Decimal {
    if (this.scale === other.scale) return new Decimal(this.units + other.units, this.scale);
    const s = Math.max(this.scale, other.scale);
    return new Decimal(this.unitsAt(s) + other.unitsAt(s), s);
  }

  sub(other: Decimal): Decimal {
    if (this.scale === other.scale) return new Decimal(this.units - other.units, this.scale);
    const s = Math.max(this.scale, other.scale);
    return new Decimal(this.unitsAt(s) - other.unitsAt(s), s);
  }

  /** Exact product (the scale is the sum of both scales). */
  mul(other: Decimal): Decimal {
    const s = this.scale + other.scale;
    if (s > MAX_SCALE) throw new DecimalError("scale overflow in mul; round intermediate results");
    return new Decimal(this.units * other.units, s);
  }

  /** Quotient with exactly `scale` fractional digits, rounded with `mode`. Throws on division by zero. */
  div(other: Decimal, scale: number, mode: RoundingMode): Decimal {
    if (other.units === 0n) throw new DecimalError("division by zero");
    if (!Number.isInteger(scale) || scale < 0 || scale > MAX_SCALE)
      throw new DecimalError(`invalid scale ${scale}`);
    // (a/10^sa) / (b/10^sb) * 10^scale = a * 10^(scale + sb - sa) / b
    const e = scale + other.scale - this.scale;
    const n = e >= 0 ? this.units * pow10(e) : this.units;
    const d = e >= 0 ? other.units : other.units * pow10(-e);
    return new Decimal(divRound(n, d, mode), scale);
  }

  neg(): Decimal {
    return new Decimal(-this.units, this.scale);
  }

  abs(): Decimal {
    return this.units < 0n ? this.neg() : this;
  }

  /** -1, 0 or 1. */
  sign(): -1 | 0 | 1 {
    return this.units === 0n ? 0 : this.units < 0n ? -1 : 1;
  }

  isZero(): boolean {
    return this.units === 0n;
  }

  isNegative(): boolean {
    return this.units < 0n;
  }

  isPositive(): boolean {
    return this.units > 0n;
  }

  isInteger(): boolean {
    return this.scale === 0 || this.units % pow10(this.scale) === 0n;
  }

  /** -1, 0 or 1 as this is less than, equal to or greater than `other` (numerically: 1.0 equals 1). */
  cmp(other: Decimal): -1 | 0 | 1 {
    let a: bigint;
    let b: bigint;
    if (this.scale === other.scale) {
      a = this.units;
      b = other.units;
    } else {
      const s = Math.max(this.scale, other.scale);
      a = this.unitsAt(s);
      b = other.unitsAt(s);
    }
    return a === b ? 0 : a < b ? -1 : 1;
  }

  eq(other: Decimal): boolean {
    return this.cmp(other) === 0;
  }

  lt(other: Decimal): boolean {
    return this.cmp(other) < 0;
  }

  lte(other: Decimal): boolean {
    return this.cmp(other) <= 0;
  }

  gt(other: Decimal): boolean {
    return this.cmp(other) > 0;
  }

  gte(other: Decimal): boolean {
    return this.cmp(other) >= 0;
  }

  /** Rounds to `scale` fractional digits (exact when `scale` ≥ the current scale). */
  round(scale: number, mode: RoundingMode): Decimal {
    if (!Number.isInteger(scale) || scale < 0 || scale > MAX_SCALE)
      throw new DecimalError(`invalid scale ${scale}`);
    if (scale >= this.scale) return scale === this.scale ? this : new Decimal(this.unitsAt(scale), scale);
    return new Decimal(divRound(this.units, pow10(this.scale - scale), mode), scale);
  }

  /**
   * Rounds to an integer multiple of `step` (e.g. a tickSize or stepSize) with `mode`.
   * The result carries the larger of both scales. Throws if `step` is not positive.
   */
  roundToStep(step: Decimal, mode: RoundingMode): Decimal {
    if (step.units <= 0n) throw new DecimalError("step must be positive");
    const s = Math.max(this.scale, step.scale);
    const b = step.unitsAt(s);
    return new Decimal(divRound(this.unitsAt(s), b, mode) * b, s);
  }

  /** Largest multiple of `step` that is ≤ this value (for positive steps: rounds toward −∞). */
  roundDown(step: Decimal): Decimal {
    return this.roundToStep(step, "floor");
  }

  /** Smallest multiple of `step` that is ≥ this value. */
  roundUp(step: Decimal): Decimal {
    return this.roundToStep(step, "ceil");
  }

  /** True when this value is an integer multiple of `step` (`step` must be positive). */
  isMultipleOf(step: Decimal): boolean {
    if (step.units <= 0n) throw new DecimalError("step must be positive");
    const s = Math.max(this.scale, step.scale);
    return this.unitsAt(s) % step.unitsAt(s) === 0n;
  }

  /** Number of significant fractional digits (trailing zeros ignored): 1.2300 → 2. */
  decimalPlaces(): number {
    if (this.units === 0n) return 0;
    let s = this.scale;
    let u = this.units;
    while (s > 0 && u % 10n === 0n) {
      u /= 10n;
      s--;
    }
    return s;
  }

  /** Same value with trailing fractional zeros removed. */
  normalize(): Decimal {
    const dp = this.decimalPlaces();
    return dp === this.scale ? this : this.round(dp, "down");
  }

  /**
   * Fixed-point text with exactly `dp` decimals, rounding with `mode` (default `halfUp`) if the
   * value carries more digits. `toFixed(8)` is the Binance wire format, e.g. "0.01000000".
   */
  toFixed(dp: number, mode: RoundingMode = "halfUp"): string {
    if (dp >= this.scale && Number.isInteger(dp)) {
      // no digits dropped: pad with zeros instead of rescaling the BigInt
      const text = format(this.units, this.scale);
      if (dp === this.scale) return text;
      return this.scale === 0 ? `${text}.${"0".repeat(dp)}` : text + "0".repeat(dp - this.scale);
    }
    const r = this.round(dp, mode);
    return format(r.units, dp);
  }

  /** Canonical text: no exponent, no trailing fractional zeros ("1.5", "-0.001", "0"). */
  toString(): string {
    const n = this.normalize();
    return format(n.units, n.scale);
  }

  /** JSON representation is the canonical string, so prices never become floats on the wire. */
  toJSON(): string {
    return this.toString();
  }

  /** Nearest double. For display and float-tolerant maths only; never feed it back into money. */
  toNumber(): number {
    return Number(this.toString());
  }
}

function format(units: bigint, scale: number): string {
  const negative = units < 0n;
  let digits = (negative ? -units : units).toString();
  if (scale === 0) return negative ? "-" + digits : digits;
  if (digits.length <= scale) digits = "0".repeat(scale - digits.length + 1) + digits;
  const text = digits.slice(0, digits.length - scale) + "." + digits.slice(digits.length - scale);
  return negative ? "-" + text : text;
}

/** Shorthand for {@link Decimal.from}. */
export function dec(value: DecimalLike): Decimal {
  return Decimal.from(value);
}

/** Formats any decimal-like value the way Binance does: fixed 8 decimals ("42000.01000000"). */
export function fixed8(value: DecimalLike): string {
  return Decimal.from(value).toFixed(BINANCE_DECIMALS);
}
