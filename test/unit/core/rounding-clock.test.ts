import fc from "fast-check";
import { StepRounder } from "../../../src/core/backtest/rounding";
import { SimulatedClock } from "../../../src/core/clock";
import { InvariantViolation } from "../../../src/core/model/errors";

describe("StepRounder", () => {
  it("rounds to the step without binary noise", () => {
    const step = new StepRounder("0.00001");
    expect(step.down(0.1 + 0.2)).toBe(0.3);
    expect(String(step.down(0.30000999))).toBe("0.3");
    expect(step.down(9.950248756)).toBe(9.95024);
    const tick = new StepRounder("0.01");
    expect(tick.up(30000 * 1.03)).toBe(30900); // 30900.000000000004 is on the boundary
    expect(tick.up(33.33 * 1.03)).toBe(34.33);
    expect(tick.down(33.33 * 0.985)).toBe(32.83);
  });

  it("supports steps that are not powers of ten", () => {
    const half = new StepRounder("0.5");
    expect(half.down(2.74)).toBe(2.5);
    expect(half.up(2.26)).toBe(2.5);
    expect(new StepRounder("5").down(23)).toBe(20);
  });

  it("every result is a whole number of steps that prints with at most the step's decimals", () => {
    const step = new StepRounder("0.0001");
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e6, noNaN: true }), (x) => {
        const d = step.down(x);
        const u = step.up(x);
        expect(d).toBeLessThanOrEqual(x + 1e-9 * Math.max(1, x));
        expect(u).toBeGreaterThanOrEqual(x - 1e-9 * Math.max(1, x));
        expect(u - d).toBeLessThanOrEqual(0.0001 + 1e-9);
        for (const v of [d, u]) expect(String(v)).toMatch(/^\d+(\.\d{1,4})?$/);
      }),
      { numRuns: 2000 },
    );
  });

  it("rejects malformed steps", () => {
    for (const s of ["0", "-1", "abc", "1e-5"]) expect(() => new StepRounder(s)).toThrow(RangeError);
  });
});

describe("SimulatedClock", () => {
  it("moves forward or stays, and refuses to go backwards", () => {
    const c = new SimulatedClock(1000);
    c.set(1000);
    c.set(2000);
    c.advance(500);
    expect(c.now()).toBe(2500);
    expect(() => c.set(2499)).toThrow(InvariantViolation);
    expect(() => c.advance(-1)).toThrow(InvariantViolation);
    expect(c.now()).toBe(2500);
  });
});
