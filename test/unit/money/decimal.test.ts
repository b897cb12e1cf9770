import fc from "fast-check";
import { Decimal, DecimalError, dec, fixed8, type RoundingMode } from "../../../src/core/money/decimal";

const d = (s: string) => Decimal.parse(s);

describe("Decimal parsing and formatting", () => {
  it.each([
    ["0", "0"],
    ["-0", "0"],
    ["1.500", "1.5"],
    ["+2", "2"],
    [".5", "0.5"],
    ["5.", "5"],
    ["-0.00000001", "-0.00000001"],
    ["00012.3400", "12.34"],
    ["1e-8", "0.00000001"],
    ["1.5E3", "1500"],
    ["123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789"],
  ])("parse(%s) → %s", (input, canonical) => {
    expect(d(input).toString()).toBe(canonical);
  });

  it.each(["", ".", "-", "1.2.3", "1,5", " 1", "1 ", "abc", "NaN", "Infinity", "0x10", "1e"])(
    "rejects %j",
    (bad) => {
      expect(() => Decimal.parse(bad)).toThrow(DecimalError);
      expect(Decimal.tryParse(bad)).toBeUndefined();
    },
  );

  it("formats with fixed decimals the way Binance does", () => {
    expect(d("42000.01").toFixed(8)).toBe("42000.01000000");
    expect(d("0.01").toFixed(8)).toBe("0.01000000");
    expect(d("0").toFixed(8)).toBe("0.00000000");
    expect(d("-1.5").toFixed(2)).toBe("-1.50");
    expect(fixed8("5")).toBe("5.00000000");
    expect(d("0.123456789").toFixed(8)).toBe("0.12345679");
    expect(d("0.123456789").toFixed(8, "down")).toBe("0.12345678");
    expect(JSON.stringify({ p: d("1.10") })).toBe('{"p":"1.1"}');
  });

  it("converts numbers through their shortest decimal form, never binary noise", () => {
    expect(dec(0.1).add(dec(0.2)).toString()).toBe("0.3");
    expect(dec(1e-7).toString()).toBe("0.0000001");
    expect(() => dec(NaN)).toThrow(DecimalError);
    expect(dec(12345678901234567890n).toString()).toBe("12345678901234567890");
  });
});

describe("Decimal arithmetic", () => {
  it("adds, subtracts and multiplies exactly", () => {
    expect(d("0.1").add(d("0.2")).toString()).toBe("0.3");
    expect(d("1").sub(d("0.00000001")).toString()).toBe("0.99999999");
    expect(d("0.00123").mul(d("27000.12")).toString()).toBe("33.2101476");
    expect(d("-2.5").mul(d("4")).toString()).toBe("-10");
  });

  it("compares numerically regardless of scale", () => {
    expect(d("1.0").eq(d("1"))).toBe(true);
    expect(d("1.01").gt(d("1.009"))).toBe(true);
    expect(d("-1").lt(d("0"))).toBe(true);
    expect(d("2").cmp(d("2.000"))).toBe(0);
    expect(Decimal.max(d("1"), d("1.5")).toString()).toBe("1.5");
    expect(Decimal.min(d("1"), d("1.5")).toString()).toBe("1");
    expect(Decimal.sum([d("0.1"), d("0.2"), d("0.3")]).toString()).toBe("0.6");
  });

  // value, scale, down, up, floor, ceil, halfUp, halfEven
  const table: [string, number, string, string, string, string, string, string][] = [
    ["2.5", 0, "2", "3", "2", "3", "3", "2"],
    ["3.5", 0, "3", "4", "3", "4", "4", "4"],
    ["-2.5", 0, "-2", "-3", "-3", "-2", "-3", "-2"],
    ["1.234", 2, "1.23", "1.24", "1.23", "1.24", "1.23", "1.23"],
    ["1.235", 2, "1.23", "1.24", "1.23", "1.24", "1.24", "1.24"],
    ["1.245", 2, "1.24", "1.25", "1.24", "1.25", "1.25", "1.24"],
    ["-1.235", 2, "-1.23", "-1.24", "-1.24", "-1.23", "-1.24", "-1.24"],
    ["7", 0, "7", "7", "7", "7", "7", "7"],
  ];
  const modes: RoundingMode[] = ["down", "up", "floor", "ceil", "halfUp", "halfEven"];
  it.each(table)("round(%s, %i) in every mode", (v, scale, ...expected) => {
    modes.forEach((m, i) => expect(`${m}:${d(v).round(scale, m).toString()}`).toBe(`${m}:${expected[i]}`));
  });

  it("divides with an explicit scale and rounding mode", () => {
    expect(d("10").div(d("3"), 8, "halfEven").toString()).toBe("3.33333333");
    expect(d("2").div(d("3"), 8, "down").toString()).toBe("0.66666666");
    expect(d("2").div(d("3"), 8, "halfUp").toString()).toBe("0.66666667");
    expect(d("-2").div(d("3"), 2, "floor").toString()).toBe("-0.67");
    expect(d("1").div(d("0.0001"), 0, "down").toString()).toBe("10000");
    expect(d("0.000123").div(d("1000"), 3, "up").toString()).toBe("0.001");
    expect(() => d("1").div(d("0"), 2, "down")).toThrow("division by zero");
  });

  it("rounds to a step such as tickSize or stepSize", () => {
    const tick = d("0.01");
    expect(d("27000.123").roundDown(tick).toString()).toBe("27000.12");
    expect(d("27000.121").roundUp(tick).toString()).toBe("27000.13");
    expect(d("27000.12").roundUp(tick).toString()).toBe("27000.12");
    expect(d("0.123456").roundDown(d("0.00001")).toString()).toBe("0.12345");
    expect(d("17").roundToStep(d("5"), "halfUp").toString()).toBe("15");
    expect(d("17.5").roundToStep(d("5"), "halfUp").toString()).toBe("20");
    expect(d("-0.015").roundDown(tick).toString()).toBe("-0.02");
    expect(() => d("1").roundDown(d("0"))).toThrow("step must be positive");
  });

  it("checks divisibility by a step", () => {
    expect(d("27000.12").isMultipleOf(d("0.01"))).toBe(true);
    expect(d("27000.125").isMultipleOf(d("0.01"))).toBe(false);
    expect(d("0.00002").isMultipleOf(d("0.00001"))).toBe(true);
    expect(d("0.000015").isMultipleOf(d("0.00001"))).toBe(false);
  });

  it("reports significant decimals", () => {
    expect(d("1.2300").decimalPlaces()).toBe(2);
    expect(d("100").decimalPlaces()).toBe(0);
    expect(d("0.00000001").decimalPlaces()).toBe(8);
    expect(d("5.000").isInteger()).toBe(true);
  });
});

describe("Decimal properties", () => {
  // decimals with up to 12 fractional digits and 15 integer digits
  const arbDec = fc
    .tuple(fc.bigInt({ min: -(10n ** 27n), max: 10n ** 27n }), fc.integer({ min: 0, max: 12 }))
    .map(([u, s]) => Decimal.of(u, s));
  const arbPos = fc
    .tuple(fc.bigInt({ min: 1n, max: 10n ** 20n }), fc.integer({ min: 0, max: 10 }))
    .map(([u, s]) => Decimal.of(u, s));
  const arbMode = fc.constantFrom<RoundingMode>("down", "up", "floor", "ceil", "halfUp", "halfEven");

  it("parse(toString(x)) == x and toFixed keeps the value when no digits are dropped", () => {
    fc.assert(
      fc.property(arbDec, (x) => {
        expect(Decimal.parse(x.toString()).eq(x)).toBe(true);
        expect(Decimal.parse(x.toFixed(x.scale)).eq(x)).toBe(true);
      }),
    );
  });

  it("add/sub are inverse and commutative, mul distributes over add", () => {
    fc.assert(
      fc.property(arbDec, arbDec, arbDec, (a, b, c) => {
        expect(a.add(b).sub(b).eq(a)).toBe(true);
        expect(a.add(b).eq(b.add(a))).toBe(true);
        expect(a.mul(b.add(c)).eq(a.mul(b).add(a.mul(c)))).toBe(true);
        expect(a.sub(b).sign()).toBe(a.cmp(b));
      }),
    );
  });

  it("roundDown/roundUp bracket the value within one step", () => {
    fc.assert(
      fc.property(arbDec, arbPos, (x, step) => {
        const lo = x.roundDown(step);
        const hi = x.roundUp(step);
        expect(lo.lte(x) && x.lte(hi)).toBe(true);
        expect(lo.isMultipleOf(step) && hi.isMultipleOf(step)).toBe(true);
        expect(hi.sub(lo).lte(step)).toBe(true);
        expect(x.isMultipleOf(step) === lo.eq(hi)).toBe(true);
      }),
    );
  });

  it("division rounds to within one unit of the last place, in the stated direction", () => {
    fc.assert(
      fc.property(arbDec, arbPos, fc.integer({ min: 0, max: 12 }), arbMode, (a, b, scale, mode) => {
        const q = a.div(b, scale, mode);
        const ulp = Decimal.of(1n, scale);
        const err = q.mul(b).sub(a); // q*b - a, i.e. the rounding error times b
        expect(err.abs().lte(ulp.mul(b))).toBe(true);
        if (mode === "floor") expect(q.mul(b).lte(a)).toBe(true);
        if (mode === "ceil") expect(q.mul(b).gte(a)).toBe(true);
        if (mode === "down") expect(q.abs().mul(b).lte(a.abs())).toBe(true);
        if (mode === "halfUp" || mode === "halfEven")
          expect(err.abs().mul(Decimal.from(2)).lte(ulp.mul(b))).toBe(true);
      }),
    );
  });

  it("sums of many small amounts never drift (float would)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 99_999_999 }), { minLength: 1, maxLength: 300 }),
        (units) => {
          const total = units.reduce((acc, u) => acc.add(Decimal.of(BigInt(u), 8)), Decimal.ZERO);
          const exact = units.reduce((acc, u) => acc + BigInt(u), 0n);
          expect(total.eq(Decimal.of(exact, 8))).toBe(true);
        },
      ),
    );
  });
});
