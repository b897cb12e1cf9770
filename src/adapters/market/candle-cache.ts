// The newest closed candles of each live series, so charts and strategy warm-ups do not hit the
// database for the candles everyone wants. In memory per process by default; in Redis (through the
// broker's cacher) when REDIS_URL is set, so every gateway node shares what the streaming node saw.
import type { MarketCandle } from "../../core/market/events";

export interface CandleCache {
  readonly kind: "memory" | "redis";
  /** Appends one closed candle (newer than every cached one) and trims to capacity. */
  append(symbol: string, interval: string, candle: MarketCandle): Promise<void>;
  /** The cached candles, oldest first (contiguous as published: only real gaps are missing). */
  get(symbol: string, interval: string): Promise<readonly MarketCandle[] | undefined>;
  /** Drops a series (its continuity is about to restart). */
  clear(symbol: string, interval: string): Promise<void>;
}

const key = (symbol: string, interval: string) => `${symbol}:${interval}`;

export class MemoryCandleCache implements CandleCache {
  readonly kind = "memory" as const;
  private readonly series = new Map<string, MarketCandle[]>();

  constructor(private readonly capacity = 1000) {}

  async append(symbol: string, interval: string, candle: MarketCandle): Promise<void> {
    const k = key(symbol, interval);
    let arr = this.series.get(k);
    if (!arr) this.series.set(k, (arr = []));
    if (arr.length && arr[arr.length - 1].openTime >= candle.openTime) return;
    arr.push(candle);
    // trim in blocks so the amortised cost of a shift stays tiny
    if (arr.length > this.capacity * 1.25) arr.splice(0, arr.length - this.capacity);
  }

  async get(symbol: string, interval: string): Promise<readonly MarketCandle[] | undefined> {
    const arr = this.series.get(key(symbol, interval));
    if (!arr) return undefined;
    return arr.length > this.capacity ? arr.slice(arr.length - this.capacity) : arr.slice();
  }

  async clear(symbol: string, interval: string): Promise<void> {
    this.series.delete(key(symbol, interval));
  }
}

interface Cacher {
  get(key: string): Promise<unknown>;
  set(key: string, data: unknown, ttl?: number): Promise<unknown>;
  del(key: string | string[]): Promise<unknown>;
}

/**
 * Stores each series as one list value in the broker's cacher. Appends to a series are serialised
 * in this process; only the node that streams a series writes it.
 */
export class CacherCandleCache implements CandleCache {
  readonly kind = "redis" as const;
  private readonly chains = new Map<string, Promise<void>>();

  constructor(
    private readonly cacher: Cacher,
    private readonly capacity = 1000,
    /** seconds; refreshed on every append, so an abandoned series expires */
    private readonly ttlSec = 7 * 24 * 3600,
  ) {}

  private cacheKey(symbol: string, interval: string): string {
    return `market-data.latest:${symbol}:${interval}`;
  }

  append(symbol: string, interval: string, candle: MarketCandle): Promise<void> {
    const k = this.cacheKey(symbol, interval);
    const prev = this.chains.get(k) ?? Promise.resolve();
    const next = prev.then(async () => {
      const arr = ((await this.cacher.get(k)) as MarketCandle[] | null) ?? [];
      if (arr.length && arr[arr.length - 1].openTime >= candle.openTime) return;
      arr.push(candle);
      if (arr.length > this.capacity) arr.splice(0, arr.length - this.capacity);
      await this.cacher.set(k, arr, this.ttlSec);
    });
    const settled = next.catch(() => {});
    this.chains.set(k, settled);
    void settled.then(() => {
      if (this.chains.get(k) === settled) this.chains.delete(k);
    });
    return next;
  }

  async get(symbol: string, interval: string): Promise<readonly MarketCandle[] | undefined> {
    const k = this.cacheKey(symbol, interval);
    await this.chains.get(k);
    const arr = (await this.cacher.get(k)) as MarketCandle[] | null;
    return arr ?? undefined;
  }

  async clear(symbol: string, interval: string): Promise<void> {
    const k = this.cacheKey(symbol, interval);
    await this.chains.get(k);
    await this.cacher.del(k);
  }
}

/** Redis-backed when the broker's cacher is Redis, otherwise in memory. */
export function createCandleCache(brokerCacher: unknown, capacity = 1000): CandleCache {
  const c = brokerCacher as (Cacher & { constructor?: { name?: string } }) | undefined;
  if (c && /redis/i.test(c.constructor?.name ?? "") && typeof c.get === "function")
    return new CacherCandleCache(c, capacity);
  return new MemoryCandleCache(capacity);
}
