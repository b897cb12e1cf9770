// Continuity of one (symbol, interval) candle series: decides what is published, what must be
// back-filled over REST first, what is a duplicate, and what is a real exchange gap. No I/O: the
// caller feeds it WebSocket candles and REST answers and executes the actions it returns, which
// keeps every ordering rule testable with plain arrays.
//
// Guarantees of the published sequence (the actions of kind "publish", in return order):
//   - open times strictly increase, each one interval after the previous one, except across a
//     reported gap (an action of kind "gap" covering exactly the skipped open times);
//   - no candle is published twice and none older than the last published one;
//   - only candles known to be closed are published (the exchange said so, or a newer candle
//     exists);
//   - a gap with reason "exchange" is reported only when a REST answer contained a later candle
//     but not the missing ones.
import type { GapReason, MarketCandle } from "./events";

export interface BackfillRequest {
  /** matches the answer to the request; answers to superseded requests are ignored */
  readonly id: number;
  /** first open time wanted (inclusive) */
  readonly from: number;
  /** last open time wanted (inclusive); undefined = "everything up to now" (catch-up after a reconnect) */
  readonly to: number | undefined;
  /** 0 for the first try of this hole; the caller waits a backoff delay before retries */
  readonly attempt: number;
}

export type SeriesAction =
  | { readonly kind: "publish"; readonly candle: MarketCandle; readonly source: "live" | "backfill" }
  | {
      readonly kind: "gap";
      readonly from: number;
      readonly to: number;
      readonly missing: number;
      readonly reason: GapReason;
    }
  | { readonly kind: "backfill"; readonly request: BackfillRequest }
  | { readonly kind: "drop"; readonly openTime: number; readonly reason: "duplicate" | "stale" };

export interface SeriesOptions {
  readonly intervalMs: number;
  /**
   * Open time of the last candle already delivered before this tracker existed (e.g. the newest
   * stored candle). The series resumes after it, back-filling the hole, when the first live
   * candle is newer and the hole is at most `maxResumeCandles`; otherwise it starts at the first
   * live candle.
   */
  readonly resumeAfter?: number;
  readonly maxResumeCandles?: number;
  /** candles per REST request (Binance caps klines at 1000) */
  readonly maxBackfillCandles?: number;
  /** failed or unconfirmed tries of one hole before it is reported as an "unavailable" gap */
  readonly maxBackfillAttempts?: number;
}

export interface SeriesSnapshot {
  readonly lastPublished: number | undefined;
  readonly pending: number;
  readonly horizon: number | undefined;
  readonly backfillInFlight: BackfillRequest | undefined;
  readonly attempts: number;
}

export class CandleSeries {
  readonly intervalMs: number;
  private readonly maxResume: number;
  private readonly maxPerRequest: number;
  private readonly maxAttempts: number;
  private resumeAfter: number | undefined;

  /** open time of the last published candle (or of the last slot of a reported gap) */
  private last: number | undefined;
  /** closed candles newer than `last`, waiting for the slots before them */
  private readonly pending = new Map<number, { candle: MarketCandle; source: "live" | "backfill" }>();
  /** open times REST confirmed the exchange does not have (all newer than `last`) */
  private readonly missing = new Set<number>();
  /** newest open time known to exist, closed or not */
  private horizon: number | undefined;
  private inflight: BackfillRequest | undefined;
  private nextId = 1;
  private attempts = 0;
  private catchUp = false;

  constructor(opts: SeriesOptions) {
    if (!(opts.intervalMs > 0)) throw new Error("intervalMs must be positive");
    this.intervalMs = opts.intervalMs;
    this.resumeAfter = opts.resumeAfter;
    this.maxResume = opts.maxResumeCandles ?? 1000;
    this.maxPerRequest = Math.max(1, opts.maxBackfillCandles ?? 1000);
    this.maxAttempts = Math.max(1, opts.maxBackfillAttempts ?? 6);
  }

  get lastPublished(): number | undefined {
    return this.last;
  }

  snapshot(): SeriesSnapshot {
    return {
      lastPublished: this.last,
      pending: this.pending.size,
      horizon: this.horizon,
      backfillInFlight: this.inflight,
      attempts: this.attempts,
    };
  }

  /** True while newer candles are held back because older ones are still being fetched. */
  get blocked(): boolean {
    return this.last !== undefined && this.bound() > this.last + this.intervalMs;
  }

  /** A candle from the live stream; `closed` is the exchange's own flag (Binance `k.x`). */
  live(candle: MarketCandle, closed: boolean): SeriesAction[] {
    const t = candle.openTime;
    if (this.last === undefined) this.anchor(t);
    const out: SeriesAction[] = [];
    if (t <= this.last!) {
      if (closed) out.push({ kind: "drop", openTime: t, reason: t === this.last ? "duplicate" : "stale" });
      return out;
    }
    this.see(t);
    if (closed) {
      if (this.pending.has(t)) out.push({ kind: "drop", openTime: t, reason: "duplicate" });
      else this.pending.set(t, { candle, source: "live" });
    }
    this.step(out);
    return out;
  }

  /**
   * The stream was re-established (after the new subscription is acknowledged): anything that
   * closed while it was down must come from REST before newer candles are released.
   */
  reconnected(): SeriesAction[] {
    const out: SeriesAction[] = [];
    if (this.last === undefined) return out;
    this.catchUp = true;
    this.step(out);
    return out;
  }

  /**
   * The REST answer for `req`: every kline the exchange has with open time in [req.from, req.to]
   * (the newest one may still be forming). `serverTime`, when known, marks rows whose close time
   * has passed as closed even without a newer row.
   */
  backfilled(req: BackfillRequest, rows: readonly MarketCandle[], serverTime?: number): SeriesAction[] {
    const out: SeriesAction[] = [];
    if (!this.inflight || this.inflight.id !== req.id) return out;
    this.inflight = undefined;
    const iv = this.intervalMs;
    const upper = req.to ?? Number.POSITIVE_INFINITY;
    const present = new Set<number>();
    let newest: number | undefined;
    for (const r of rows) {
      if (r.openTime < req.from || r.openTime > upper) continue;
      present.add(r.openTime);
      if (newest === undefined || r.openTime > newest) newest = r.openTime;
    }
    if (newest !== undefined) this.see(newest);
    const last = this.last!;
    for (const r of rows) {
      const t = r.openTime;
      if (!present.has(t) || t <= last || this.pending.has(t)) continue;
      const closed = t < this.horizon! || (serverTime !== undefined && t + iv <= serverTime);
      if (closed) this.pending.set(t, { candle: r, source: "backfill" });
    }
    // A slot is confirmed missing only when the same answer holds a newer candle.
    if (newest !== undefined) {
      for (let s = req.from; s < newest && s <= upper; s += iv) {
        if (s > last && !present.has(s) && !this.pending.has(s)) this.missing.add(s);
      }
    }
    // Attempts count tries at the same hole: an answer that moved the series on (or arrived after
    // the stream filled the hole) starts the count again.
    const resolved = last + iv > req.from || this.pending.has(last + iv) || this.missing.has(last + iv);
    if (resolved || !this.blocked) this.attempts = 0;
    else this.attempts++;
    this.step(out);
    return out;
  }

  /** The REST request for `req` failed (network, 5xx, rate limit). */
  backfillFailed(req: BackfillRequest): SeriesAction[] {
    const out: SeriesAction[] = [];
    if (!this.inflight || this.inflight.id !== req.id) return out;
    this.inflight = undefined;
    if (this.last! + this.intervalMs > req.from) this.attempts = 0;
    else this.attempts++;
    if (req.to === undefined) this.catchUp = true;
    this.step(out);
    return out;
  }

  private anchor(firstSeen: number): void {
    const iv = this.intervalMs;
    const r = this.resumeAfter;
    this.resumeAfter = undefined;
    if (r !== undefined && r < firstSeen && (firstSeen - r) / iv - 1 <= this.maxResume) this.last = r;
    else this.last = firstSeen - iv;
  }

  private see(t: number): void {
    if (this.horizon === undefined || t > this.horizon) this.horizon = t;
  }

  /** newest open time known to exist beyond `last` (pending or seen), or -∞ */
  private bound(): number {
    let b = this.horizon ?? Number.NEGATIVE_INFINITY;
    for (const t of this.pending.keys()) if (t > b) b = t;
    return b;
  }

  private step(out: SeriesAction[]): void {
    const iv = this.intervalMs;
    for (;;) {
      this.drain(out);
      if (this.inflight) return;
      const next = this.last! + iv;
      const hole = this.bound() > next;
      if (!hole && !this.catchUp) {
        this.attempts = 0;
        return;
      }
      if (this.attempts >= this.maxAttempts) {
        this.attempts = 0;
        this.catchUp = false;
        if (!hole) return;
        // Give up on the slots before the first candle we do hold (or the forming one).
        let stop = this.horizon ?? next;
        for (const t of this.pending.keys()) if (t < stop) stop = t;
        this.emitGap(out, next, stop - iv, "unavailable");
        continue;
      }
      let to: number | undefined;
      if (hole) {
        // Include the newest known candle so the answer can confirm the slots before it.
        to = Math.min(this.bound(), next + (this.maxPerRequest - 1) * iv);
      }
      this.catchUp = false;
      this.inflight = { id: this.nextId++, from: next, to, attempt: this.attempts };
      out.push({ kind: "backfill", request: this.inflight });
      return;
    }
  }

  private drain(out: SeriesAction[]): void {
    const iv = this.intervalMs;
    for (;;) {
      const next = this.last! + iv;
      const p = this.pending.get(next);
      if (p) {
        this.pending.delete(next);
        this.last = next;
        out.push({ kind: "publish", candle: p.candle, source: p.source });
        continue;
      }
      if (this.missing.has(next)) {
        let end = next;
        while (this.missing.has(end + iv)) end += iv;
        this.emitGap(out, next, end, "exchange");
        continue;
      }
      return;
    }
  }

  private emitGap(out: SeriesAction[], from: number, to: number, reason: GapReason): void {
    const iv = this.intervalMs;
    for (let s = from; s <= to; s += iv) {
      this.missing.delete(s);
      this.pending.delete(s);
    }
    this.last = to;
    out.push({ kind: "gap", from, to, missing: Math.round((to - from) / iv) + 1, reason });
  }
}

/** Open times of the slots a window [from, to] (inclusive) holds on an interval grid. */
export function slotCount(from: number, to: number, intervalMs: number): number {
  if (to < from) return 0;
  return Math.floor((to - from) / intervalMs) + 1;
}

/** First grid slot at or after `t` (grids are aligned to the epoch, as Binance's are). */
export function alignUp(t: number, intervalMs: number): number {
  return Math.ceil(t / intervalMs) * intervalMs;
}

/** Last grid slot at or before `t`. */
export function alignDown(t: number, intervalMs: number): number {
  return Math.floor(t / intervalMs) * intervalMs;
}
