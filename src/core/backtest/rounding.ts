// Rounding to a symbol's tick or step without decimal noise. A filter like "0.00001" is read as
// the integer 1 at scale 10^5; a value is converted to units of the filter, rounded as integers,
// and converted back with one division by the power of ten. n / 10^d is the double nearest to
// the decimal n·10^-d, so quantities print as 0.3, never 0.30000000000000004.
//
// Float arithmetic can land a hair off an exact boundary (30000 × 1.03 = 30900.000000000004),
// so a value within one part in 10^9 of a whole number of units is treated as on it before
// rounding up or down. The backtest works in floats (its results are numbers, docs/backtesting.md); orders
// sent to the exchange use exact decimal strings instead.

const SNAP = 1e-9;

export class StepRounder {
  /** The filter as an integer number of 10^-decimals units (e.g. "0.05" → 5 at scale 100). */
  readonly units: number;
  readonly scale: number;
  readonly decimals: number;
  /** The filter value as a number. */
  readonly step: number;

  constructor(step: string) {
    const m = /^(\d+)(?:\.(\d+))?$/.exec(step.trim());
    if (!m) throw new RangeError(`step/tick must be a positive decimal string, got "${step}"`);
    const frac = (m[2] ?? "").replace(/0+$/, "");
    this.decimals = frac.length;
    if (this.decimals > 15) throw new RangeError(`step/tick ${step} has more than 15 decimals`);
    this.scale = 10 ** this.decimals;
    this.units = Number(m[1] + frac);
    if (!(this.units > 0) || !Number.isSafeInteger(this.units))
      throw new RangeError(`step/tick must be > 0, got "${step}"`);
    this.step = this.units / this.scale;
  }

  /** Number of whole steps in x, rounded down (boundary-safe). */
  stepsDown(x: number): number {
    const u = (x * this.scale) / this.units;
    const r = Math.round(u);
    return Math.abs(u - r) <= SNAP * Math.max(1, Math.abs(u)) ? r : Math.floor(u);
  }

  /** Number of whole steps in x, rounded up (boundary-safe). */
  stepsUp(x: number): number {
    const u = (x * this.scale) / this.units;
    const r = Math.round(u);
    return Math.abs(u - r) <= SNAP * Math.max(1, Math.abs(u)) ? r : Math.ceil(u);
  }

  fromSteps(n: number): number {
    return (n * this.units) / this.scale;
  }

  down(x: number): number {
    return this.fromSteps(this.stepsDown(x));
  }

  up(x: number): number {
    return this.fromSteps(this.stepsUp(x));
  }
}
