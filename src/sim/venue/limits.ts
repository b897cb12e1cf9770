// Request-weight accounting per IP and order-rate accounting per account, in fixed windows
// aligned to the wall clock (a minute window starts at :00, a 10-second window at :00, :10, …),
// as Binance counts them (docs/exchange-contract.md, Rate limits).
import { BinanceError } from "../binance/errors";

export interface LimitsConfig {
  /** REQUEST_WEIGHT per 1 MINUTE and IP. */
  weightPerMinute: number;
  /** ORDERS per 10 SECOND and account. */
  ordersPer10s: number;
  /** ORDERS per 1 DAY and account. */
  ordersPerDay: number;
  /** RAW_REQUESTS per 5 MINUTE (advertised in exchangeInfo). */
  rawRequestsPer5m: number;
  /** Requests an IP may still send while limited (each answered 429) before it is banned with 418. */
  banAfter429s: number;
  /** Length of a 418 ban. */
  banMs: number;
}

export const DEFAULT_LIMITS: LimitsConfig = {
  weightPerMinute: 6000,
  ordersPer10s: 100,
  ordersPerDay: 200_000,
  rawRequestsPer5m: 61_000,
  banAfter429s: 10,
  banMs: 120_000,
};

const MINUTE = 60_000;
const TEN_S = 10_000;
const DAY = 86_400_000;

interface IpState {
  window: number;
  used: number;
  strikes: number;
  bannedUntil: number;
}

interface OrderState {
  w10: number;
  c10: number;
  wDay: number;
  cDay: number;
}

export class RateLimiter {
  private readonly ips = new Map<string, IpState>();
  private readonly orders = new Map<number, OrderState>();

  constructor(
    public config: LimitsConfig,
    private readonly now: () => number,
  ) {}

  private ip(ip: string): IpState {
    const t = this.now();
    const w = Math.floor(t / MINUTE) * MINUTE;
    let s = this.ips.get(ip);
    if (!s) this.ips.set(ip, (s = { window: w, used: 0, strikes: 0, bannedUntil: 0 }));
    if (s.window !== w) {
      s.window = w;
      s.used = 0;
      s.strikes = 0;
    }
    return s;
  }

  usedWeight(ip: string): number {
    return this.ip(ip).used;
  }

  /** Adds a request's weight; returns the 429/418 answer when the IP is over its limit or banned. */
  charge(ip: string, weight: number): BinanceError | undefined {
    const t = this.now();
    const s = this.ip(ip);
    if (s.bannedUntil > t) return this.banned(s, t);
    s.used += weight;
    if (s.used <= this.config.weightPerMinute) return undefined;
    s.strikes++;
    if (s.strikes > this.config.banAfter429s) {
      s.bannedUntil = t + this.config.banMs;
      return this.banned(s, t);
    }
    const retry = Math.max(1, Math.ceil((s.window + MINUTE - t) / 1000));
    return new BinanceError(
      -1003,
      `Too much request weight used; current limit is ${this.config.weightPerMinute} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.`,
      429,
      { "Retry-After": String(retry) },
    );
  }

  private banned(s: IpState, t: number): BinanceError {
    const retry = Math.max(1, Math.ceil((s.bannedUntil - t) / 1000));
    return new BinanceError(
      -1003,
      `Way too much request weight used; IP banned until ${s.bannedUntil}. Please use WebSocket Streams for live updates to avoid bans.`,
      418,
      { "Retry-After": String(retry) },
    );
  }

  private orderState(accountId: number): OrderState {
    const t = this.now();
    const w10 = Math.floor(t / TEN_S) * TEN_S;
    const wDay = Math.floor(t / DAY) * DAY;
    let s = this.orders.get(accountId);
    if (!s) this.orders.set(accountId, (s = { w10, c10: 0, wDay, cDay: 0 }));
    if (s.w10 !== w10) {
      s.w10 = w10;
      s.c10 = 0;
    }
    if (s.wDay !== wDay) {
      s.wDay = wDay;
      s.cDay = 0;
    }
    return s;
  }

  /** -1015 when `n` more orders would break the 10-second or daily order limit. */
  checkOrders(accountId: number, n: number): BinanceError | undefined {
    const s = this.orderState(accountId);
    if (s.c10 + n > this.config.ordersPer10s)
      return new BinanceError(
        -1015,
        `Too many new orders; current limit is ${this.config.ordersPer10s} orders per 10 SECOND.`,
        429,
        { "Retry-After": String(Math.max(1, Math.ceil((s.w10 + TEN_S - this.now()) / 1000))) },
      );
    if (s.cDay + n > this.config.ordersPerDay)
      return new BinanceError(
        -1015,
        `Too many new orders; current limit is ${this.config.ordersPerDay} orders per 1 DAY.`,
        429,
        { "Retry-After": String(Math.max(1, Math.ceil((s.wDay + DAY - this.now()) / 1000))) },
      );
    return undefined;
  }

  recordOrders(accountId: number, n: number): { count10s: number; count1d: number } {
    const s = this.orderState(accountId);
    s.c10 += n;
    s.cDay += n;
    return { count10s: s.c10, count1d: s.cDay };
  }

  orderCounts(accountId: number): { count10s: number; count1d: number } {
    const s = this.orderState(accountId);
    return { count10s: s.c10, count1d: s.cDay };
  }

  /** Forgets all counters and bans. */
  reset(): void {
    this.ips.clear();
    this.orders.clear();
  }

  rateLimitsJson(): { rateLimitType: string; interval: string; intervalNum: number; limit: number }[] {
    return [
      {
        rateLimitType: "REQUEST_WEIGHT",
        interval: "MINUTE",
        intervalNum: 1,
        limit: this.config.weightPerMinute,
      },
      { rateLimitType: "ORDERS", interval: "SECOND", intervalNum: 10, limit: this.config.ordersPer10s },
      { rateLimitType: "ORDERS", interval: "DAY", intervalNum: 1, limit: this.config.ordersPerDay },
      {
        rateLimitType: "RAW_REQUESTS",
        interval: "MINUTE",
        intervalNum: 5,
        limit: this.config.rawRequestsPer5m,
      },
    ];
  }
}
