import { describe, expect, test } from "@jest/globals";
import { asReturnPct, downsample, drawdown, sortRows } from "./series";

describe("series", () => {
  test("downsampling keeps extremes and the last point", () => {
    const pts = Array.from({ length: 10_000 }, (_, i) => ({
      time: i,
      value: Math.sin(i / 100) * 100 + (i === 5000 ? 1000 : 0),
    }));
    const d = downsample(pts, 600);
    expect(d.length).toBeLessThanOrEqual(601);
    expect(Math.max(...d.map((p) => p.value))).toBe(Math.max(...pts.map((p) => p.value)));
    expect(Math.min(...d.map((p) => p.value))).toBe(Math.min(...pts.map((p) => p.value)));
    expect(d[d.length - 1]).toEqual(pts[pts.length - 1]);
    expect(d.every((p, i) => i === 0 || p.time > d[i - 1].time)).toBe(true);
  });

  test("drawdown and return", () => {
    const pts = [100, 120, 90, 130].map((v, i) => ({ time: i, value: v }));
    expect(drawdown(pts).map((p) => p.value)).toEqual([0, 0, -25, 0]);
    expect(asReturnPct(pts).map((p) => Math.round(p.value))).toEqual([0, 20, -10, 30]);
  });

  test("sorting puts missing values last in both directions", () => {
    const rows = [{ v: 2 }, { v: null }, { v: 5 }, { v: 1 }];
    expect(sortRows(rows, (r) => r.v, true).map((r) => r.v)).toEqual([5, 2, 1, null]);
    expect(sortRows(rows, (r) => r.v, false).map((r) => r.v)).toEqual([1, 2, 5, null]);
  });
});
