// History reads for market-data.candles: cache → database → exchange. The cache answers windows
// it fully covers; the database answers windows it holds completely (known exchange gaps
// excepted); otherwise the exchange is asked, what it returns is stored, and the answer is the
// union of the two. Only closed candles are ever returned.
import type { MarketCandle } from "../../core/market/events";
import { alignDown, alignUp, slotCount } from "../../core/market/series";
import type { MarketRest } from "../exchange/market-rest";
import type { CandleCache } from "./candle-cache";
import type { KlineStore } from "./kline-store";

export interface CandlesQuery {
  symbol: string;
  interval: string;
  intervalMs: number;
  /** open times, epoch ms, inclusive */
  from?: number;
  to?: number;
  limit: number;
}

export type CandleSource = "cache" | "database" | "exchange";

export interface CandlesResult {
  symbol: string;
  interval: string;
  candles: MarketCandle[];
  source: CandleSource;
  /** false when the exchange could not be asked and the database did not hold the whole window */
  complete: boolean;
}

/** Open times the exchange confirmed it has no candle for (per process, bounded). */
export class GapBook {
  private readonly gaps = new Map<string, Set<number>>();
  constructor(private readonly maxPerSeries = 100_000) {}

  add(symbol: string, interval: string, from: number, to: number, intervalMs: number): void {
    const k = `${symbol}:${interval}`;
    let s = this.gaps.get(k);
    if (!s) this.gaps.set(k, (s = new Set()));
    for (let t = from; t <= to && s.size < this.maxPerSeries; t += intervalMs) s.add(t);
  }

  countIn(symbol: string, interval: string, from: number, to: number): number {
    const s = this.gaps.get(`${symbol}:${interval}`);
    if (!s) return 0;
    let n = 0;
    for (const t of s) if (t >= from && t <= to) n++;
    return n;
  }
}

export interface HistoryDeps {
  store: KlineStore;
  cache: CandleCache;
  rest: MarketRest;
  gaps: GapBook;
  /** open time of the newest candle published live for the series on this node, if it streams it */
  livePublished(symbol: string, interval: string): number | undefined;
  /** makes buffered live writes visible to database reads */
  flushWrites?(): Promise<void>;
  log?: { warn(...a: unknown[]): void };
}

interface Window {
  lo: number | undefined;
  hi: number | undefined;
  pick: "asc" | "desc";
}

function clip(rows: MarketCandle[], w: Window, limit: number): MarketCandle[] {
  const inside = rows.filter(
    (c) => (w.lo === undefined || c.openTime >= w.lo) && (w.hi === undefined || c.openTime <= w.hi),
  );
  return w.pick === "asc" ? inside.slice(0, limit) : inside.slice(Math.max(0, inside.length - limit));
}

function merge(a: readonly MarketCandle[], b: readonly MarketCandle[]): MarketCandle[] {
  const m = new Map<number, MarketCandle>();
  for (const c of a) m.set(c.openTime, c);
  for (const c of b) if (!m.has(c.openTime)) m.set(c.openTime, c);
  return [...m.values()].sort((x, y) => x.openTime - y.openTime);
}

export class CandleHistory {
  constructor(private readonly d: HistoryDeps) {}

  async candles(q: CandlesQuery): Promise<CandlesResult> {
    const { symbol, interval, intervalMs: iv, limit } = q;
    const out = (candles: MarketCandle[], source: CandleSource, complete = true): CandlesResult => ({
      symbol,
      interval,
      candles,
      source,
      complete,
    });
    const from = q.from === undefined ? undefined : alignUp(q.from, iv);
    const to = q.to === undefined ? undefined : alignDown(q.to, iv);
    if (from !== undefined && to !== undefined && from > to) return out([], "database");

    const live = this.d.livePublished(symbol, interval);
    let w: Window;
    if (from !== undefined)
      w = { lo: from, hi: Math.min(to ?? Number.POSITIVE_INFINITY, from + (limit - 1) * iv), pick: "asc" };
    // like Binance: "to" alone means the newest `limit` candles at or before it
    else if (to !== undefined) w = { lo: undefined, hi: to, pick: "desc" };
    else w = { lo: undefined, hi: undefined, pick: "desc" };
    // a live series knows its newest closed candle: nothing after it exists yet
    if (live !== undefined) {
      if (w.hi === undefined || w.hi > live) w.hi = live;
      if (w.lo === undefined) w.lo = w.hi - (limit - 1) * iv;
      if (w.lo > w.hi) return out([], "cache");
    }

    // 1. cache: a window inside what is cached
    if (w.lo !== undefined && w.hi !== undefined && Number.isFinite(w.hi)) {
      const cached = await this.d.cache.get(symbol, interval);
      if (
        cached &&
        cached.length &&
        cached[0].openTime <= w.lo &&
        w.hi <= cached[cached.length - 1].openTime
      ) {
        return out(clip(cached as MarketCandle[], w, limit), "cache");
      }
    }

    // 2. database: complete when every slot of the window is stored or a known exchange gap
    let stored: MarketCandle[] = [];
    if (w.lo !== undefined || w.hi !== undefined) {
      if (live !== undefined) await this.d.flushWrites?.();
      const hi = w.hi !== undefined && Number.isFinite(w.hi) ? w.hi : undefined;
      stored = await this.d.store.range(symbol, interval, { from: w.lo, to: hi, limit, pick: w.pick });
      if (w.lo !== undefined && hi !== undefined) {
        const expected = slotCount(w.lo, hi, iv) - this.d.gaps.countIn(symbol, interval, w.lo, hi);
        if (stored.length >= Math.min(limit, expected)) return out(stored, "database");
      } else if (hi !== undefined && stored.length === limit && stored[limit - 1].openTime === hi) {
        const first = stored[0].openTime;
        if (slotCount(first, hi, iv) - this.d.gaps.countIn(symbol, interval, first, hi) === limit)
          return out(stored, "database");
      }
    }

    // 3. exchange, one slot beyond the window so a closed candle can be told from the forming one
    try {
      const fetched = await this.fetchClosed(symbol, interval, iv, w, limit);
      if (fetched.length) {
        try {
          await this.d.store.insert(symbol, interval, fetched);
        } catch (e) {
          this.d.log?.warn(
            { symbol, interval, err: (e as Error).message },
            "could not store klines fetched for a history read",
          );
        }
      }
      return out(clip(merge(fetched, stored), w, limit), "exchange");
    } catch (e) {
      if (w.lo === undefined && w.hi === undefined) {
        stored = await this.d.store.range(symbol, interval, { limit, pick: "desc" });
      }
      this.d.log?.warn(
        { symbol, interval, err: (e as Error).message },
        "exchange unavailable for a history read; answering from the database",
      );
      return out(stored, "database", false);
    }
  }

  private async fetchClosed(
    symbol: string,
    interval: string,
    iv: number,
    w: Window,
    limit: number,
  ): Promise<MarketCandle[]> {
    const rest = this.d.rest;
    let rows: MarketCandle[];
    if (w.lo !== undefined) {
      const hi = w.hi !== undefined && Number.isFinite(w.hi) ? w.hi : w.lo + (limit - 1) * iv;
      rows = await rest.klines({
        symbol,
        interval,
        startTime: w.lo,
        endTime: hi + iv,
        limit: Math.min(1000, slotCount(w.lo, hi, iv) + 1),
      });
    } else if (w.hi !== undefined) {
      rows = await rest.klines({ symbol, interval, endTime: w.hi + iv, limit: Math.min(1000, limit + 1) });
    } else {
      rows = await rest.klines({ symbol, interval, limit: Math.min(1000, limit + 1) });
    }
    if (rows.length === 0) return rows;
    // slots between returned rows that the exchange does not have are real gaps
    for (let i = 1; i < rows.length; i++) {
      const a = rows[i - 1].openTime;
      const b = rows[i].openTime;
      if (b - a > iv) this.d.gaps.add(symbol, interval, a + iv, b - iv, iv);
    }
    // A row is closed when the exchange already has a newer one. The newest row is asked about
    // separately unless the extra slot beyond the window came back: its close time cannot be
    // compared with a server clock (the simulator's replay time is not its wall time).
    const newest = rows[rows.length - 1].openTime;
    const wantedHi =
      w.hi !== undefined && Number.isFinite(w.hi)
        ? w.hi
        : w.lo !== undefined
          ? w.lo + (limit - 1) * iv
          : Number.POSITIVE_INFINITY;
    if (newest > wantedHi) return rows.filter((c) => c.openTime < newest);
    const probe = await rest.klines({ symbol, interval, startTime: newest + 1, limit: 1 });
    return probe.length > 0 ? rows : rows.slice(0, -1);
  }
}
