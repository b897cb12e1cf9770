// Public REST market data through ccxt (implicit /api/v3 methods, so prices stay the exchange's
// exact decimal strings): exchangeInfo, klines, server time. Every request passes the weight
// governor first; a 429/418 pauses all requests for Retry-After; ccxt exceptions leave this file
// translated into the core error taxonomy.
import { candleFromRow, type MarketCandle, type RawKlineRow } from "../../core/market/events";
import { AuraError, NotFoundError, RateLimitedError } from "../../core/model/errors";
import { backoffDelay, type BackoffOptions } from "./backoff";
import { createCcxtBinance, type CcxtBinance } from "./ccxt-client";
import type { ExchangeEndpoints } from "./config";
import { translateExchangeError } from "./errors";
import { WeightGovernor } from "./weight-governor";

export interface ExchangeSymbol {
  symbol: string;
  status: string;
  baseAsset: string;
  quoteAsset: string;
  tickSize: string | undefined;
  stepSize: string | undefined;
  minNotional: string | undefined;
}

export interface KlineQuery {
  symbol: string;
  interval: string;
  startTime?: number;
  endTime?: number;
  /** 1..1000 (Binance's cap) */
  limit?: number;
}

export interface MarketRestOptions {
  endpoints: ExchangeEndpoints;
  governor?: WeightGovernor;
  /** tries after a network error, timeout or 5xx (reads only) */
  retries?: number;
  /** how many 429 answers one call waits out before giving up (each honours Retry-After) */
  rateLimitRetries?: number;
  retryBackoff?: BackoffOptions;
  /** how long exchangeInfo is reused */
  exchangeInfoTtlMs?: number;
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** an existing ccxt instance (tests); otherwise one is created for `endpoints` */
  ccxt?: CcxtBinance;
}

export interface RestStats {
  requests: number;
  failures: number;
  status429: number;
  status418: number;
  governor: ReturnType<WeightGovernor["stats"]>;
}

export const WEIGHTS = { exchangeInfo: 20, klines: 2, time: 1 } as const;
export const MAX_KLINES_PER_REQUEST = 1000;

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The parts of GET /api/v3/exchangeInfo read here. */
interface ExchangeInfoAnswer {
  symbols?: {
    symbol: string;
    status: string;
    baseAsset: string;
    quoteAsset: string;
    filters?: { filterType: string; tickSize?: string; stepSize?: string; minNotional?: string }[];
  }[];
  rateLimits?: {
    rateLimitType: string;
    interval: string;
    intervalNum: number | string;
    limit: number | string;
  }[];
}

export class MarketRest {
  readonly endpoints: ExchangeEndpoints;
  readonly governor: WeightGovernor;
  readonly ex: CcxtBinance;
  private readonly retries: number;
  private readonly rateLimitRetries: number;
  private readonly backoff: BackoffOptions;
  private readonly infoTtl: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private info: { at: number; symbols: Map<string, ExchangeSymbol> } | undefined;
  private infoLoading: Promise<Map<string, ExchangeSymbol>> | undefined;
  private readonly counters = { requests: 0, failures: 0, status429: 0, status418: 0 };

  constructor(opts: MarketRestOptions) {
    this.endpoints = opts.endpoints;
    this.governor = opts.governor ?? new WeightGovernor();
    this.retries = opts.retries ?? 2;
    this.rateLimitRetries = opts.rateLimitRetries ?? 5;
    this.backoff = opts.retryBackoff ?? { baseMs: 250, maxMs: 5000 };
    this.infoTtl = opts.exchangeInfoTtlMs ?? 3_600_000;
    this.sleep = opts.sleep ?? realSleep;
    this.ex = opts.ccxt ?? createCcxtBinance(opts.endpoints, {}, { timeoutMs: opts.timeoutMs });
  }

  stats(): RestStats {
    return { ...this.counters, governor: this.governor.stats() };
  }

  /** Symbols the exchange lists (exchangeInfo, cached for an hour; concurrent callers share one request). */
  async symbols(): Promise<Map<string, ExchangeSymbol>> {
    if (this.info && Date.now() - this.info.at < this.infoTtl) return this.info.symbols;
    this.infoLoading ??= this.loadInfo().finally(() => (this.infoLoading = undefined));
    return this.infoLoading;
  }

  async symbol(symbol: string): Promise<ExchangeSymbol | undefined> {
    return (await this.symbols()).get(symbol);
  }

  private async loadInfo(): Promise<Map<string, ExchangeSymbol>> {
    const body: ExchangeInfoAnswer | undefined = await this.call(WEIGHTS.exchangeInfo, () =>
      this.ex.publicGetExchangeInfo(),
    );
    const out = new Map<string, ExchangeSymbol>();
    for (const s of body?.symbols ?? []) {
      const f = (type: string) => (s.filters ?? []).find((x) => x.filterType === type);
      out.set(s.symbol, {
        symbol: s.symbol,
        status: s.status,
        baseAsset: s.baseAsset,
        quoteAsset: s.quoteAsset,
        tickSize: f("PRICE_FILTER")?.tickSize,
        stepSize: f("LOT_SIZE")?.stepSize,
        minNotional: (f("NOTIONAL") ?? f("MIN_NOTIONAL"))?.minNotional,
      });
    }
    const weight = (body?.rateLimits ?? []).find(
      (r) => r.rateLimitType === "REQUEST_WEIGHT" && r.interval === "MINUTE" && Number(r.intervalNum) === 1,
    );
    if (weight) this.governor.setLimit(Number(weight.limit));
    this.info = { at: Date.now(), symbols: out };
    return out;
  }

  /** Exchange clock (epoch ms). */
  async serverTime(): Promise<number> {
    const body: { serverTime?: number | string } = await this.call(WEIGHTS.time, () =>
      this.ex.publicGetTime(),
    );
    return Number(body.serverTime);
  }

  /** One klines request: at most 1000 rows, oldest first; the newest may still be forming. */
  async klines(q: KlineQuery): Promise<MarketCandle[]> {
    const limit = Math.min(MAX_KLINES_PER_REQUEST, Math.max(1, q.limit ?? MAX_KLINES_PER_REQUEST));
    const params: Record<string, string | number> = { symbol: q.symbol, interval: q.interval, limit };
    if (q.startTime !== undefined) params.startTime = q.startTime;
    if (q.endTime !== undefined) params.endTime = q.endTime;
    const rows: unknown = await this.call(WEIGHTS.klines, () => this.ex.publicGetKlines(params));
    if (!Array.isArray(rows))
      throw new AuraError(
        "EXCHANGE_UNAVAILABLE",
        "exchange answered klines with something that is not a list",
        { retryable: true },
      );
    return rows.map((r: unknown[]) => candleFromRow(normalizeRow(r)));
  }

  /**
   * Every kline with open time in [from, to], fetched page by page (1000 per request) in order;
   * `onPage` sees each page as it arrives. Stops early when the exchange has nothing newer.
   */
  async klinesRange(
    symbol: string,
    interval: string,
    from: number,
    to: number,
    onPage?: (rows: MarketCandle[]) => void | Promise<void>,
  ): Promise<MarketCandle[]> {
    const out: MarketCandle[] = [];
    let start = from;
    while (start <= to) {
      const page = await this.klines({
        symbol,
        interval,
        startTime: start,
        endTime: to,
        limit: MAX_KLINES_PER_REQUEST,
      });
      if (page.length === 0) break;
      if (onPage) await onPage(page);
      else out.push(...page);
      const last = page[page.length - 1].openTime;
      if (last < start) break;
      start = last + 1;
      if (page.length < MAX_KLINES_PER_REQUEST) break;
    }
    return out;
  }

  /** Fails with NotFoundError (404-able) when the exchange does not list `symbol`. */
  async requireSymbol(symbol: string): Promise<ExchangeSymbol> {
    const s = await this.symbol(symbol);
    if (!s) {
      const known = [...(await this.symbols()).keys()].sort();
      const hint = known.length <= 20 ? ` Known symbols: ${known.join(", ")}.` : "";
      throw new NotFoundError(`Unknown symbol ${symbol}: the exchange does not list it.${hint}`, { symbol });
    }
    return s;
  }

  /**
   * Runs one request under the governor: waits for weight, records the exchange's weight header,
   * waits out 429s (never sending during Retry-After), retries transient failures with backoff.
   */
  private async call<T>(weight: number, fn: () => Promise<T>): Promise<T> {
    let transient = 0;
    let limited = 0;
    for (;;) {
      await this.governor.acquire(weight);
      this.counters.requests++;
      try {
        const res = await fn();
        this.governor.record(this.ex.last_response_headers);
        return res;
      } catch (raw) {
        const headers = this.ex.last_response_headers;
        this.governor.record(headers);
        this.counters.failures++;
        const err = translateExchangeError(raw, { idempotent: true, headers });
        if (err instanceof RateLimitedError) {
          const status = (err.details as { status?: number } | undefined)?.status;
          if (status === 418) this.counters.status418++;
          else this.counters.status429++;
          this.governor.penalize(status, err.retryAfterMs);
          if (++limited > this.rateLimitRetries) throw err;
          continue;
        }
        if (err instanceof AuraError && err.retryable && transient < this.retries) {
          await this.sleep(backoffDelay(transient++, this.backoff));
          continue;
        }
        throw err;
      }
    }
  }
}

/** Binance rows are [number, string×5, number, string, number, string, string, string]; keep that shape. */
function normalizeRow(r: unknown[]): RawKlineRow {
  const s = (v: unknown) => (typeof v === "string" ? v : String(v));
  return [
    Number(r[0]),
    s(r[1]),
    s(r[2]),
    s(r[3]),
    s(r[4]),
    s(r[5]),
    Number(r[6]),
    s(r[7]),
    Number(r[8]),
    s(r[9]),
    s(r[10]),
    "0",
  ];
}
