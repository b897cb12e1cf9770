// Backtest ranges are UTC calendar dates, both inclusive (docs/backtesting.md, range and warm-up):
// candles whose open time is ≥ from 00:00 and < (to + 1 day) 00:00.
import type { ValidationIssue } from "../model/errors";

const DAY_MS = 86_400_000;

/** Epoch ms of YYYY-MM-DD 00:00 UTC, or undefined when the string is not a real calendar date. */
export function parseUtcDate(s: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return undefined;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const t = Date.UTC(y, mo - 1, d);
  const check = new Date(t);
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d)
    return undefined;
  return t;
}

export function formatUtcDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function formatUtcTime(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 16);
}

export interface TimeRange {
  /** Inclusive start, epoch ms (−Infinity when open). */
  readonly startMs: number;
  /** Exclusive end, epoch ms (+Infinity when open). */
  readonly endMs: number;
}

/** Parses the inclusive date range; issues point at `/from` and `/to`. */
export function parseDateRange(from?: string, to?: string): { range?: TimeRange; errors: ValidationIssue[] } {
  const errors: ValidationIssue[] = [];
  let startMs = -Infinity;
  let endMs = Infinity;
  if (from !== undefined) {
    const t = parseUtcDate(from);
    if (t === undefined)
      errors.push({
        path: "/from",
        code: "invalid_date",
        message: `from must be a UTC date YYYY-MM-DD, got "${from}"`,
      });
    else startMs = t;
  }
  if (to !== undefined) {
    const t = parseUtcDate(to);
    if (t === undefined)
      errors.push({
        path: "/to",
        code: "invalid_date",
        message: `to must be a UTC date YYYY-MM-DD, got "${to}"`,
      });
    else endMs = t + DAY_MS;
  }
  if (errors.length === 0 && startMs >= endMs) {
    errors.push({ path: "/to", code: "contradictory", message: `to (${to}) is before from (${from})` });
  }
  return errors.length ? { errors } : { range: { startMs, endMs }, errors };
}

/** First index whose value is ≥ t in an ascending array. */
export function lowerBound(a: Float64Array, t: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
