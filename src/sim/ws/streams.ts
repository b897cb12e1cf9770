// Market stream names and payloads exactly as Binance sends them (docs/exchange-contract.md, Market
// streams).
import type { KlineRow } from "../replay/series";
import { bucketStart, canAggregate, indexAtOrAfter, KlineAccumulator, nextBucket } from "../replay/series";
import type { SymbolFeed } from "../replay/feed";
import type { MarketView } from "../venue/market";

export type StreamKind = "kline" | "trade" | "aggTrade" | "bookTicker" | "miniTicker" | "ticker" | "depth";

export interface ParsedStream {
  name: string;
  symbol: string;
  kind: StreamKind;
  interval?: string;
  tzMs?: number;
  levels?: number;
}

const KLINE_RE = /^([a-z0-9]+)@kline_(1s|1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1M)(@\+08:00)?$/;
const SIMPLE_RE = /^([a-z0-9]+)@(trade|aggTrade|bookTicker|miniTicker|ticker)$/;
const DEPTH_RE = /^([a-z0-9]+)@depth(5|10|20)(@100ms|@1000ms)?$/;

/** Recognises a stream name; `undefined` when it is not one (e.g. ccxt's "/ws/0" index). */
export function parseStreamName(
  name: string,
): (Omit<ParsedStream, "symbol"> & { symbolLower: string }) | undefined {
  let m = KLINE_RE.exec(name);
  if (m) return { name, symbolLower: m[1], kind: "kline", interval: m[2], tzMs: m[3] ? 8 * 3_600_000 : 0 };
  m = SIMPLE_RE.exec(name);
  if (m) return { name, symbolLower: m[1], kind: m[2] as StreamKind };
  m = DEPTH_RE.exec(name);
  if (m) return { name, symbolLower: m[1], kind: "depth", levels: Number(m[2]) };
  return undefined;
}

/** Resolves a stream against the replayed symbols; returns an error text when it cannot be served. */
export function resolveStream(name: string, feeds: ReadonlyMap<string, SymbolFeed>): ParsedStream | string {
  const p = parseStreamName(name);
  if (!p) return `Invalid request: unknown stream '${name}'`;
  const symbol = p.symbolLower.toUpperCase();
  const feed = feeds.get(symbol);
  if (!feed) return `Invalid request: unknown symbol in stream '${name}'`;
  if (p.kind === "kline" && !canAggregate(p.interval!, feed.series.intervalMs, p.tzMs)) {
    return `Invalid request: interval ${p.interval} cannot be replayed from ${feed.series.interval} candles`;
  }
  return { name, symbol, kind: p.kind, interval: p.interval, tzMs: p.tzMs, levels: p.levels };
}

/** Running aggregate of the closed base candles of the current bucket, per aggregated stream. */
export class AggregateCache {
  private bucket = NaN;
  private upTo = -1;
  private acc = new KlineAccumulator();
  private firstIndex = -1;

  constructor(
    private readonly interval: string,
    private readonly tzMs: number,
  ) {}

  /** The bucket candle containing the feed's current candle, plus whether the bucket has ended. */
  row(feed: SymbolFeed): { row: KlineRow; firstIndex: number; bucketEnd: number } {
    const s = feed.series;
    const idx = feed.index;
    const b = bucketStart(s.openTimes[idx], this.interval, this.tzMs);
    if (b !== this.bucket || idx - 1 < this.upTo) {
      this.bucket = b;
      this.acc = new KlineAccumulator();
      this.firstIndex = indexAtOrAfter(s, b);
      this.upTo = this.firstIndex - 1;
    }
    while (this.upTo < idx - 1) this.acc.add(s.rows[++this.upTo] as KlineRow);
    const acc = this.acc.clone();
    acc.add(feed.rowAt(idx));
    const end = nextBucket(b, this.interval, this.tzMs);
    return { row: acc.row(b, end - 1), firstIndex: this.firstIndex, bucketEnd: end };
  }
}

export function klinePayload(
  feed: SymbolFeed,
  stream: ParsedStream,
  eventTime: number,
  closing: boolean,
  cache: AggregateCache | undefined,
): string {
  const s = feed.series;
  let row: KlineRow;
  let firstIdx: number;
  let closed: boolean;
  if (!cache) {
    row = feed.rowAt(feed.index);
    firstIdx = feed.index;
    closed = closing;
  } else {
    const r = cache.row(feed);
    row = r.row;
    firstIdx = r.firstIndex;
    closed = closing && feed.closeTime(feed.index) >= r.bucketEnd;
  }
  const n = row[8];
  const f = n > 0 ? s.tradeIdBase[firstIdx] : -1;
  const L = n > 0 ? f + n - 1 : -1;
  return (
    `{"e":"kline","E":${eventTime},"s":"${feed.symbol}","k":{"t":${row[0]},"T":${row[6]},"s":"${feed.symbol}","i":"${stream.interval}",` +
    `"f":${f},"L":${L},"o":"${row[1]}","c":"${row[4]}","h":"${row[2]}","l":"${row[3]}","v":"${row[5]}","n":${n},"x":${closed},` +
    `"q":"${row[7]}","V":"${row[9]}","Q":"${row[10]}","B":"0"}}`
  );
}

/** Synthetic trade id of the current path point (ids advance with the candle's real trade count). */
function tradeId(feed: SymbolFeed): number {
  const s = feed.series;
  const n = Number(s.rows[feed.index][8]) || 0;
  return s.tradeIdBase[feed.index] + Math.floor((n * Math.max(0, feed.pointIndex)) / (feed.points - 1));
}

export function tradePayload(
  feed: SymbolFeed,
  kind: "trade" | "aggTrade",
  eventTime: number,
  qty: string,
  buyerMaker: boolean,
): string {
  const id = tradeId(feed);
  const p = feed.price!.toFixed(8);
  if (kind === "trade")
    return `{"e":"trade","E":${eventTime},"s":"${feed.symbol}","t":${id},"p":"${p}","q":"${qty}","T":${eventTime},"m":${buyerMaker},"M":true}`;
  return `{"e":"aggTrade","E":${eventTime},"s":"${feed.symbol}","a":${id},"p":"${p}","q":"${qty}","f":${id},"l":${id},"T":${eventTime},"m":${buyerMaker},"M":true}`;
}

export function bookTickerPayload(market: MarketView, symbol: string): string {
  const b = market.bookTicker(symbol);
  return `{"u":${market.updateId(symbol)},"s":"${symbol}","b":"${b.bidPrice}","B":"${b.bidQty}","a":"${b.askPrice}","A":"${b.askQty}"}`;
}

export function tickerPayload(market: MarketView, symbol: string, eventTime: number, mini: boolean): string {
  const t = market.ticker24h(symbol, eventTime) as Record<string, string | number>;
  if (mini) {
    return JSON.stringify({
      e: "24hrMiniTicker",
      E: eventTime,
      s: symbol,
      c: t.lastPrice,
      o: t.openPrice,
      h: t.highPrice,
      l: t.lowPrice,
      v: t.volume,
      q: t.quoteVolume,
    });
  }
  return JSON.stringify({
    e: "24hrTicker",
    E: eventTime,
    s: symbol,
    p: t.priceChange,
    P: t.priceChangePercent,
    w: t.weightedAvgPrice,
    x: t.prevClosePrice,
    c: t.lastPrice,
    Q: t.lastQty,
    b: t.bidPrice,
    B: t.bidQty,
    a: t.askPrice,
    A: t.askQty,
    o: t.openPrice,
    h: t.highPrice,
    l: t.lowPrice,
    v: t.volume,
    q: t.quoteVolume,
    O: t.openTime,
    C: t.closeTime,
    F: t.firstId,
    L: t.lastId,
    n: t.count,
  });
}

export function depthPayload(market: MarketView, symbol: string, levels: number): string {
  return JSON.stringify(market.bookJson(symbol, levels));
}
