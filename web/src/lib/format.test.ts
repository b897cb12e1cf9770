import { describe, expect, test } from "@jest/globals";
import {
  decimalsOf,
  formatDecimal,
  formatDuration,
  formatMoney,
  formatPct,
  formatPrice,
  formatQty,
  formatRatio,
  formatTime,
  zoneShiftSec,
} from "./format";

const BTC = { symbol: "BTCUSDT", tickSize: "0.01000000", stepSize: "0.00001000" };
const SHIB = { symbol: "SHIBUSDT", tickSize: "0.00000001", stepSize: "1.00000000" };

describe("precision per asset", () => {
  test("decimals come from the step, trailing zeros ignored", () => {
    expect(decimalsOf("0.01000000")).toBe(2);
    expect(decimalsOf("0.00001000")).toBe(5);
    expect(decimalsOf("1.00000000")).toBe(0);
    expect(decimalsOf("10")).toBe(0);
    expect(decimalsOf(undefined, 4)).toBe(4);
    expect(decimalsOf("junk", 3)).toBe(3);
  });

  test("prices use the tick size, quantities the lot step", () => {
    expect(formatPrice("23141.57000000", BTC)).toBe("23,141.57");
    expect(formatQty("0.12345678", BTC)).toBe("0.12346");
    expect(formatPrice("0.00001234", SHIB)).toBe("0.00001234");
    expect(formatQty("1234567.00000000", SHIB)).toBe("1,234,567");
  });

  test("decimal strings round exactly, half away from zero, without float error", () => {
    expect(formatDecimal("1.005", 2)).toBe("1.01"); // a float would give 1.00
    expect(formatDecimal("-1.005", 2)).toBe("-1.01");
    expect(formatDecimal("999.995", 2)).toBe("1,000.00");
    expect(formatDecimal("-0.001", 2)).toBe("0.00");
    expect(formatDecimal("12345678901234567890.5", 0)).toBe("12,345,678,901,234,567,891");
    expect(formatDecimal(2.5, 0)).toBe("3");
    expect(formatDecimal(null, 2)).toBe("—");
    expect(formatDecimal("1e5", 2)).toBe("—");
  });
});

describe("money, percentages and ratios", () => {
  test("formats", () => {
    expect(formatMoney(1234.5)).toBe("1,234.50 USDT");
    expect(formatMoney(-3.456)).toBe("-3.46 USDT");
    expect(formatPct(1.234)).toBe("+1.23 %");
    expect(formatPct(-0.5)).toBe("−0.50 %");
    expect(formatPct(0.0001)).toBe("0.00 %");
    expect(formatPct(12.5, 1, false)).toBe("12.5 %");
    expect(formatPct(null)).toBe("—");
    expect(formatRatio(null)).toBe("—");
    expect(formatRatio(-1.234)).toBe("−1.23");
    expect(formatDuration(3 * 86400_000 + 4 * 3600_000)).toBe("3 d 4 h");
    expect(formatDuration(90_000)).toBe("1 min");
  });
});

describe("UTC and local time", () => {
  const t = Date.UTC(2024, 0, 2, 13, 5, 9);

  test("UTC is the same everywhere", () => {
    expect(formatTime(t, "utc")).toBe("2024-01-02 13:05");
    expect(formatTime(t, "utc", { seconds: true, label: true })).toBe("2024-01-02 13:05:09 UTC");
    expect(zoneShiftSec(t, "utc")).toBe(0);
  });

  test("local time follows the browser's zone", () => {
    const d = new Date(t);
    const expected = `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")} ${String(d.getHours()).padStart(2, "0")}:05`;
    expect(formatTime(t, "local")).toBe(expected);
    expect(zoneShiftSec(t, "local")).toBe(-d.getTimezoneOffset() * 60);
  });
});
