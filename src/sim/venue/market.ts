// Read-only market views built from the replay cursors: last price, rolling 24h ticker, a
// synthetic order book around the replayed price, average price. Shared by REST and streams.
import { Decimal } from "../../core/money/decimal";
import type { SymbolRules } from "../engine/filters";
import type { SymbolFeed } from "../replay/feed";
import { indexAtOrAfter } from "../replay/series";

const DAY = 86_400_000;
const f8 = (d: Decimal) => d.toFixed(8);

function hash32(s: string, a: number, b: number): number {
  let h = 2166136261 ^ a;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  h = Math.imul(h ^ b, 2654435761);
  h ^= h >>> 15;
  return h >>> 0;
}

export interface BookSide {
  price: Decimal;
  qty: Decimal;
}

export class MarketView {
  private readonly updateIds = new Map<string, number>();

  constructor(
    readonly feeds: ReadonlyMap<string, SymbolFeed>,
    private readonly rules: (symbol: string) => SymbolRules,
  ) {}

  feed(symbol: string): SymbolFeed | undefined {
    return this.feeds.get(symbol);
  }

  /** Monotonic book version per symbol, bumped on every replayed price point. */
  bump(symbol: string): number {
    const id = (this.updateIds.get(symbol) ?? 1_000_000) + 1;
    this.updateIds.set(symbol, id);
    return id;
  }

  updateId(symbol: string): number {
    return this.updateIds.get(symbol) ?? 1_000_000;
  }

  status(symbol: string): "TRADING" | "BREAK" {
    return this.feeds.get(symbol)?.price ? "TRADING" : "BREAK";
  }

  /**
   * A deterministic book: best bid at the replayed price, best ask one tick above, further levels
   * one tick apart, quantities pseudo-random per level and update id.
   */
  book(symbol: string, levels: number): { lastUpdateId: number; bids: BookSide[]; asks: BookSide[] } {
    const feed = this.feeds.get(symbol);
    const lastUpdateId = this.updateId(symbol);
    if (!feed?.price) return { lastUpdateId, bids: [], asks: [] };
    const r = this.rules(symbol);
    const qty = (side: number, level: number) => {
      const units = 100 + (hash32(symbol, side * 100_000 + level, lastUpdateId) % 200_000);
      return Decimal.max(r.stepSize, Decimal.of(BigInt(units), 5).roundDown(r.stepSize));
    };
    const bids: BookSide[] = [];
    const asks: BookSide[] = [];
    for (let i = 0; i < levels; i++) {
      const bid = feed.price.sub(r.tickSize.mul(Decimal.from(i)));
      if (bid.isPositive()) bids.push({ price: bid, qty: qty(0, i) });
      asks.push({ price: feed.price.add(r.tickSize.mul(Decimal.from(i + 1))), qty: qty(1, i) });
    }
    return { lastUpdateId, bids, asks };
  }

  bookJson(
    symbol: string,
    levels: number,
  ): { lastUpdateId: number; bids: [string, string][]; asks: [string, string][] } {
    const b = this.book(symbol, levels);
    const side = (xs: BookSide[]) => xs.map((x) => [f8(x.price), f8(x.qty)] as [string, string]);
    return { lastUpdateId: b.lastUpdateId, bids: side(b.bids), asks: side(b.asks) };
  }

  bookTicker(symbol: string): {
    symbol: string;
    bidPrice: string;
    bidQty: string;
    askPrice: string;
    askQty: string;
  } {
    const b = this.book(symbol, 1);
    const zero = "0.00000000";
    return {
      symbol,
      bidPrice: b.bids[0] ? f8(b.bids[0].price) : zero,
      bidQty: b.bids[0] ? f8(b.bids[0].qty) : zero,
      askPrice: b.asks[0] ? f8(b.asks[0].price) : zero,
      askQty: b.asks[0] ? f8(b.asks[0].qty) : zero,
    };
  }

  /** Rolling 24h statistics over the replayed candles up to `now` (the open one pro-rated). */
  ticker24h(symbol: string, now: number): Record<string, unknown> {
    const feed = this.feeds.get(symbol)!;
    const s = feed.series;
    const openTime = now - DAY;
    const last = feed.index;
    const first = last < 0 ? 0 : Math.min(indexAtOrAfter(s, openTime), last);
    let open: Decimal | undefined;
    let high: Decimal | undefined;
    let low: Decimal | undefined;
    let volume = Decimal.ZERO;
    let quoteVolume = Decimal.ZERO;
    let count = 0;
    for (let i = first; i <= last && last >= 0; i++) {
      const r = feed.rowAt(i);
      if (open === undefined) open = Decimal.parse(r[1]);
      const h = Decimal.parse(r[2]);
      const l = Decimal.parse(r[3]);
      if (high === undefined || h.gt(high)) high = h;
      if (low === undefined || l.lt(low)) low = l;
      volume = volume.add(Decimal.parse(r[5]));
      quoteVolume = quoteVolume.add(Decimal.parse(r[7]));
      count += Number(r[8]) || 0;
    }
    const lastPrice = feed.price ?? Decimal.ZERO;
    open ??= lastPrice;
    const prevClose = first > 0 ? Decimal.parse(s.rows[first - 1][4]) : open;
    const change = lastPrice.sub(open);
    const pct = open.isZero() ? Decimal.ZERO : change.mul(Decimal.from(100)).div(open, 3, "halfUp");
    const wavg = volume.isZero() ? lastPrice : quoteVolume.div(volume, 8, "halfUp");
    const bt = this.bookTicker(symbol);
    const firstId = last >= 0 ? s.tradeIdBase[first] : 0;
    return {
      symbol,
      priceChange: f8(change),
      priceChangePercent: pct.toFixed(3),
      weightedAvgPrice: f8(wavg),
      prevClosePrice: f8(prevClose),
      lastPrice: f8(lastPrice),
      lastQty: f8(this.rules(symbol).stepSize),
      bidPrice: bt.bidPrice,
      bidQty: bt.bidQty,
      askPrice: bt.askPrice,
      askQty: bt.askQty,
      openPrice: f8(open),
      highPrice: f8(high ?? lastPrice),
      lowPrice: f8(low ?? lastPrice),
      volume: f8(volume),
      quoteVolume: f8(quoteVolume),
      openTime,
      closeTime: now,
      firstId: count > 0 ? firstId : -1,
      lastId: count > 0 ? firstId + count - 1 : -1,
      count,
    };
  }
}
