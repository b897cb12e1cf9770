// What a backtest request may ask for, decided before any candle is read: the range is bounded
// in candles (from the dates and the interval alone), and equal requests get equal cache keys
// whatever the key order of their JSON.
import type { ValidationIssue } from "../model/errors";
import type { TimeRange } from "./range";

export const BACKTEST_LIMITS = Object.freeze({
  /** candles in range per run (two years of 1m candles; longer histories need a longer interval) */
  maxCandles: 1_100_000,
});

/** Candles a range can hold at an interval; an open range counts as unbounded. */
export function candlesInRange(range: TimeRange, intervalMs: number): number {
  if (!Number.isFinite(range.startMs) || !Number.isFinite(range.endMs)) return Infinity;
  return Math.ceil((range.endMs - range.startMs) / intervalMs);
}

export function checkRangeSize(range: TimeRange, intervalMs: number, interval: string): ValidationIssue[] {
  const n = candlesInRange(range, intervalMs);
  if (n <= BACKTEST_LIMITS.maxCandles) return [];
  return [
    {
      path: "/to",
      code: "too_large",
      message: `the range holds ${Number.isFinite(n) ? n.toLocaleString("en-US") : "unbounded"} ${interval} candles; at most ${BACKTEST_LIMITS.maxCandles.toLocaleString("en-US")} per run: shorten the range or use a longer interval`,
    },
  ];
}

/** JSON with object keys sorted at every level, so equal documents serialise equally. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}
