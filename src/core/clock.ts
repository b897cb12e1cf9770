// Time is injected: the core never reads the wall clock. Backtests and tests drive a simulated
// clock, which refuses to go backwards so an out-of-order event is caught where it happens.
import { InvariantViolation } from "./model/errors";

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export class SimulatedClock implements Clock {
  private t = 0;

  constructor(start = 0) {
    if (!Number.isFinite(start)) throw new InvariantViolation(`clock start must be finite, got ${start}`);
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  /** Moves to `t`; staying at the same instant is allowed, going back is an invariant violation. */
  set(t: number): void {
    // Kept tiny so it inlines into per-candle loops; the failure path lives out of line.
    if (t >= this.t) this.t = t;
    else backwards(this.t, t);
  }

  advance(ms: number): void {
    if (!(ms >= 0)) throw new InvariantViolation(`simulated clock cannot advance by ${ms} ms`);
    this.t += ms;
  }
}

function backwards(now: number, requested: number): never {
  throw new InvariantViolation(`simulated clock cannot go backwards: ${requested} < ${now}`, {
    now,
    requested,
  });
}
