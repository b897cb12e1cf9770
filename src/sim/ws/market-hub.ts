// Fan-out of replayed market data to stream subscribers. Each payload is serialised once per
// event and written to every subscribed socket (raw or wrapped for combined streams).
import { Decimal } from "../../core/money/decimal";
import type { MarketView } from "../venue/market";
import type { FeedEvent, SymbolFeed } from "../replay/feed";
import {
  AggregateCache,
  bookTickerPayload,
  depthPayload,
  klinePayload,
  resolveStream,
  tickerPayload,
  tradePayload,
  type ParsedStream,
} from "./streams";

export interface StreamSink {
  /** Wraps each message as {"stream","data"} (the /stream endpoint or SET_PROPERTY combined). */
  combined: boolean;
  readonly streams: Set<string>;
  send(text: string): void;
  bufferedAmount(): number;
}

interface Subscription {
  stream: ParsedStream;
  sinks: Set<StreamSink>;
  cache?: AggregateCache;
}

/** Above this many bytes queued on any socket, the realtime replay waits for the reader. */
const HIGH_WATER = 8 * 1024 * 1024;

export class MarketHub {
  private readonly subs = new Map<string, Subscription>();
  private readonly bySymbol = new Map<string, Set<string>>();
  private readonly prevPrice = new Map<string, Decimal>();
  /** Messages written to sockets since start (for benchmarks and stats). */
  sent = 0;
  /** Called after any subscribe or unsubscribe. */
  onChange?: () => void;

  constructor(
    private readonly feeds: ReadonlyMap<string, SymbolFeed>,
    private readonly market: MarketView,
  ) {}

  /** Adds a stream to a sink; returns an error text if the stream cannot be served. */
  subscribe(sink: StreamSink, name: string): string | undefined {
    let sub = this.subs.get(name);
    if (!sub) {
      const r = resolveStream(name, this.feeds);
      if (typeof r === "string") return r;
      const feed = this.feeds.get(r.symbol)!;
      sub = {
        stream: r,
        sinks: new Set(),
        cache:
          r.kind === "kline" && r.interval !== feed.series.interval
            ? new AggregateCache(r.interval!, r.tzMs ?? 0)
            : undefined,
      };
      this.subs.set(name, sub);
      let names = this.bySymbol.get(r.symbol);
      if (!names) this.bySymbol.set(r.symbol, (names = new Set()));
      names.add(name);
    }
    sub.sinks.add(sink);
    sink.streams.add(name);
    this.onChange?.();
    return undefined;
  }

  unsubscribe(sink: StreamSink, name: string): void {
    sink.streams.delete(name);
    const sub = this.subs.get(name);
    if (!sub) return;
    sub.sinks.delete(sink);
    if (sub.sinks.size === 0) {
      this.subs.delete(name);
      this.bySymbol.get(sub.stream.symbol)?.delete(name);
    }
    this.onChange?.();
  }

  removeSink(sink: StreamSink): void {
    for (const name of [...sink.streams]) this.unsubscribe(sink, name);
  }

  private deliver(sub: Subscription, payload: string): void {
    let wrapped: string | undefined;
    for (const sink of sub.sinks) {
      if (sink.combined)
        sink.send((wrapped ??= `{"stream":${JSON.stringify(sub.stream.name)},"data":${payload}}`));
      else sink.send(payload);
      this.sent++;
    }
  }

  onTick(feed: SymbolFeed, ev: Extract<FeedEvent, { kind: "tick" }>): void {
    const names = this.bySymbol.get(feed.symbol);
    const prev = this.prevPrice.get(feed.symbol);
    this.prevPrice.set(feed.symbol, ev.price);
    if (!names || names.size === 0) return;
    for (const name of names) {
      const sub = this.subs.get(name)!;
      const payload = this.payload(feed, sub, ev.time, false, prev);
      if (payload !== undefined) this.deliver(sub, payload);
    }
  }

  onClose(feed: SymbolFeed, ev: Extract<FeedEvent, { kind: "close" }>): void {
    const names = this.bySymbol.get(feed.symbol);
    if (!names || names.size === 0) return;
    for (const name of names) {
      const sub = this.subs.get(name)!;
      if (sub.stream.kind !== "kline") continue;
      this.deliver(sub, klinePayload(feed, sub.stream, ev.time, true, sub.cache));
    }
  }

  /** After a clock jump every subscriber gets the state at the new time. */
  onJump(feed: SymbolFeed, time: number): void {
    this.prevPrice.delete(feed.symbol);
    const names = this.bySymbol.get(feed.symbol);
    if (!names || feed.index < 0 || !feed.price) return;
    for (const name of names) {
      const sub = this.subs.get(name)!;
      const payload = this.payload(feed, sub, time, !feed.isOpen, undefined);
      if (payload !== undefined) this.deliver(sub, payload);
    }
  }

  private payload(
    feed: SymbolFeed,
    sub: Subscription,
    time: number,
    closing: boolean,
    prev: Decimal | undefined,
  ): string | undefined {
    const st = sub.stream;
    switch (st.kind) {
      case "kline":
        return klinePayload(feed, st, time, closing, sub.cache);
      case "trade":
      case "aggTrade": {
        const row = feed.series.rows[feed.index];
        const qty = Decimal.parse(row[5]).div(Decimal.from(feed.points - 1), 8, "down");
        return tradePayload(feed, st.kind, time, qty.toFixed(8), prev !== undefined && feed.price!.lt(prev));
      }
      case "bookTicker":
        return bookTickerPayload(this.market, feed.symbol);
      case "miniTicker":
      case "ticker":
        return tickerPayload(this.market, feed.symbol, time, st.kind === "miniTicker");
      case "depth":
        return depthPayload(this.market, feed.symbol, st.levels ?? 20);
    }
  }

  congested(): boolean {
    for (const sub of this.subs.values())
      for (const s of sub.sinks) if (s.bufferedAmount() > HIGH_WATER) return true;
    return false;
  }

  /** Subscribers of one stream. */
  subscribers(name: string): number {
    return this.subs.get(name)?.sinks.size ?? 0;
  }

  subscriberCount(): number {
    let n = 0;
    for (const sub of this.subs.values()) n += sub.sinks.size;
    return n;
  }
}
