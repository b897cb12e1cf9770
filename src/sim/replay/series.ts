// Historical klines of one symbol plus the interval arithmetic the REST and stream layers need:
// bucket boundaries for every Binance interval (with the klines `timeZone` shift), aggregation of
// base candles into larger ones, and Binance's list windowing over open times.
import { Decimal } from "../../core/money/decimal";
import { intervalMs, KLINE_INTERVALS } from "../../core/market/symbols";
import type { KlineRow } from "../../adapters/klines/files";

export type { KlineRow };

const DAY = 86_400_000;
const WEEK = 7 * DAY;
/** 1970-01-05 was a Monday; Binance weeks open on Monday 00:00. */
const MONDAY_OFFSET = 4 * DAY;

export interface MarketSeries {
  readonly symbol: string;
  readonly interval: string;
  readonly intervalMs: number;
  readonly rows: readonly KlineRow[];
  readonly openTimes: Float64Array;
  /** tradeIdBase[i]: synthetic id of the first trade of candle i (cumulative trade counts). */
  readonly tradeIdBase: Float64Array;
}

export function makeSeries(symbol: string, interval: string, rows: readonly KlineRow[]): MarketSeries {
  const ms = intervalMs(interval);
  if (ms === undefined) throw new Error(`${symbol}: unsupported klines interval ${interval}`);
  if (rows.length === 0) throw new Error(`${symbol}: no klines`);
  const openTimes = new Float64Array(rows.length);
  const tradeIdBase = new Float64Array(rows.length);
  let trades = 1;
  for (let i = 0; i < rows.length; i++) {
    if (i > 0 && rows[i][0] <= rows[i - 1][0])
      throw new Error(`${symbol}: klines are not strictly increasing at row ${i}`);
    openTimes[i] = rows[i][0];
    tradeIdBase[i] = trades;
    trades += Number(rows[i][8]) || 0;
  }
  return { symbol, interval, intervalMs: ms, rows, openTimes, tradeIdBase };
}

/** Index of the last candle with openTime ≤ t, or -1. */
export function indexAtOrBefore(s: MarketSeries, t: number): number {
  let lo = 0;
  let hi = s.openTimes.length - 1;
  let ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (s.openTimes[mid] <= t) {
      ans = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return ans;
}

/** Index of the first candle with openTime ≥ t (may be rows.length). */
export function indexAtOrAfter(s: MarketSeries, t: number): number {
  let lo = 0;
  let hi = s.openTimes.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (s.openTimes[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Parses the klines `timeZone` parameter ("0", "8", "-1:00", "05:45", "+08:00") into an offset in ms. */
export function parseTimeZone(tz: string | undefined): number | undefined {
  if (tz === undefined || tz === "") return 0;
  const m = /^([+-])?(\d{1,2})(?::(\d{2}))?$/.exec(tz);
  if (!m) return undefined;
  const sign = m[1] === "-" ? -1 : 1;
  const h = Number(m[2]);
  const min = m[3] ? Number(m[3]) : 0;
  if (min >= 60) return undefined;
  const off = sign * (h * 60 + min) * 60_000;
  if (off < -12 * 3_600_000 || off > 14 * 3_600_000) return undefined;
  return off;
}

export function isKlineInterval(i: string): boolean {
  return (KLINE_INTERVALS as readonly string[]).includes(i);
}

/** Start of the `interval` bucket containing t, for a timezone offset (buckets shift, times stay UTC). */
export function bucketStart(t: number, interval: string, tzMs = 0): number {
  if (interval === "1M") {
    const d = new Date(t + tzMs);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) - tzMs;
  }
  const ms = intervalMs(interval)!;
  const base = interval === "1w" ? MONDAY_OFFSET : 0;
  const x = t + tzMs - base;
  return Math.floor(x / ms) * ms + base - tzMs;
}

/** Start of the bucket after the one that starts at `start`. */
export function nextBucket(start: number, interval: string, tzMs = 0): number {
  if (interval === "1M") {
    const d = new Date(start + tzMs);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) - tzMs;
  }
  return start + (interval === "1w" ? WEEK : intervalMs(interval)!);
}

/**
 * Whether `interval` can be served from base candles of `baseMs`: every bucket must be a whole
 * number of base candles.
 */
export function canAggregate(interval: string, baseMs: number, tzMs = 0): boolean {
  if (!isKlineInterval(interval) || tzMs % baseMs !== 0) return false;
  if (interval === "1M") return DAY % baseMs === 0;
  const ms = intervalMs(interval)!;
  return ms >= baseMs && ms % baseMs === 0;
}

/** Running aggregate of base candles into one bucket candle. */
export class KlineAccumulator {
  private open?: string;
  private high?: Decimal;
  private low?: Decimal;
  private close?: string;
  private volume = Decimal.ZERO;
  private quoteVolume = Decimal.ZERO;
  private takerBase = Decimal.ZERO;
  private takerQuote = Decimal.ZERO;
  private trades = 0;
  count = 0;

  add(r: KlineRow): void {
    if (this.open === undefined) this.open = r[1];
    const h = Decimal.parse(r[2]);
    const l = Decimal.parse(r[3]);
    if (this.high === undefined || h.gt(this.high)) this.high = h;
    if (this.low === undefined || l.lt(this.low)) this.low = l;
    this.close = r[4];
    this.volume = this.volume.add(Decimal.parse(r[5]));
    this.quoteVolume = this.quoteVolume.add(Decimal.parse(r[7]));
    this.trades += Number(r[8]) || 0;
    this.takerBase = this.takerBase.add(Decimal.parse(r[9]));
    this.takerQuote = this.takerQuote.add(Decimal.parse(r[10]));
    this.count++;
  }

  clone(): KlineAccumulator {
    const c = new KlineAccumulator();
    Object.assign(c, this);
    return c;
  }

  row(openTime: number, closeTime: number): KlineRow {
    const f = (d: Decimal) => d.toFixed(8);
    return [
      openTime,
      this.open ?? "0.00000000",
      this.high ? f(this.high) : "0.00000000",
      this.low ? f(this.low) : "0.00000000",
      this.close ?? "0.00000000",
      f(this.volume),
      closeTime,
      f(this.quoteVolume),
      this.trades,
      f(this.takerBase),
      f(this.takerQuote),
      "0",
    ];
  }
}

export interface KlineWindow {
  startTime?: number;
  endTime?: number;
  limit: number;
}

/**
 * Klines of `interval` visible at replay time `now`: only candles whose open time ≤ now; the
 * candle containing `now` comes from `current(i)` (the still-open candle with partial OHLC).
 */
export function klinesAt(
  s: MarketSeries,
  interval: string,
  w: KlineWindow,
  now: number,
  current: { index: number; row: KlineRow } | undefined,
  tzMs = 0,
): KlineRow[] {
  const last = indexAtOrBefore(s, now);
  if (last < 0) return [];
  const rowAt = (i: number): KlineRow =>
    current && current.index === i ? current.row : (s.rows[i] as KlineRow);
  if (interval === s.interval) {
    let hi = last;
    if (w.endTime !== undefined) hi = Math.min(hi, indexAtOrBefore(s, w.endTime));
    let lo: number;
    if (w.startTime !== undefined) {
      lo = indexAtOrAfter(s, w.startTime);
      hi = Math.min(hi, lo + w.limit - 1);
    } else lo = Math.max(0, hi - w.limit + 1);
    const out: KlineRow[] = [];
    for (let i = lo; i <= hi; i++) out.push(rowAt(i));
    return out;
  }
  // aggregated interval: find the base candles of the wanted buckets, then group them
  const upper = Math.min(
    now,
    w.endTime !== undefined ? nextBucket(bucketStart(w.endTime, interval, tzMs), interval, tzMs) - 1 : now,
  );
  let hi = indexAtOrBefore(s, upper);
  let lo: number;
  if (w.startTime !== undefined) {
    let first = bucketStart(w.startTime, interval, tzMs);
    if (first < w.startTime) first = nextBucket(first, interval, tzMs);
    lo = indexAtOrAfter(s, first);
    let end = first;
    for (let k = 0; k < w.limit; k++) end = nextBucket(end, interval, tzMs);
    hi = Math.min(hi, indexAtOrBefore(s, end - 1));
  } else {
    if (hi < 0) return [];
    let start = bucketStart(s.openTimes[hi], interval, tzMs);
    for (let k = 1; k < w.limit; k++) {
      const prev = interval === "1M" ? bucketStart(start - 1, interval, tzMs) : start - intervalMs(interval)!;
      if (prev < s.openTimes[0] - DAY * 31) break;
      start = prev;
    }
    lo = indexAtOrAfter(s, start);
  }
  const out: KlineRow[] = [];
  let acc: KlineAccumulator | undefined;
  let bStart = 0;
  for (let i = lo; i <= hi; i++) {
    const r = rowAt(i);
    const b = bucketStart(r[0], interval, tzMs);
    if (!acc || b !== bStart) {
      if (acc) out.push(acc.row(bStart, nextBucket(bStart, interval, tzMs) - 1));
      acc = new KlineAccumulator();
      bStart = b;
    }
    acc.add(r);
  }
  if (acc) out.push(acc.row(bStart, nextBucket(bStart, interval, tzMs) - 1));
  let res = out;
  if (w.startTime !== undefined) res = res.filter((r) => r[0] >= w.startTime!).slice(0, w.limit);
  else res = res.slice(Math.max(0, res.length - w.limit));
  if (w.endTime !== undefined) res = res.filter((r) => r[0] <= w.endTime!);
  return res;
}
