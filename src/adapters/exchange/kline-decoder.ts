// Decodes Binance market-stream frames: kline events (raw, or wrapped {"stream","data"} by the
// combined endpoint), replies to SUBSCRIBE/UNSUBSCRIBE, and the serverShutdown notice. Unlike
// ccxt.pro's watchOHLCV arrays, the result keeps the exchange's closed flag (k.x), which is what
// decides whether a candle may drive a strategy.
import type { MarketCandle } from "../../core/market/events";

export interface KlineMessage {
  type: "kline";
  /** stream name, e.g. "btcusdt@kline_1h" */
  stream: string;
  symbol: string;
  interval: string;
  closed: boolean;
  eventTime: number;
  candle: MarketCandle;
}

export interface ReplyMessage {
  type: "reply";
  id: number | string | null;
  result: unknown;
  error: { code: number; msg: string } | undefined;
}

export type StreamMessage = KlineMessage | ReplyMessage | { type: "shutdown" } | { type: "other" };

export function klineStreamName(symbol: string, interval: string): string {
  return `${symbol.toLowerCase()}@kline_${interval}`;
}

export function parseKlineStreamName(name: string): { symbol: string; interval: string } | undefined {
  const m = /^([a-z0-9]+)@kline_([0-9]+[smhdwM])$/.exec(name);
  return m ? { symbol: m[1].toUpperCase(), interval: m[2] } : undefined;
}

/** A kline payload (`k`) as Binance sends it; field types are the exchange's, not checked here. */
interface RawKline {
  t?: number;
  T: number;
  s?: string;
  i: string;
  x?: boolean;
  o: string;
  h: string;
  l: string;
  c: string;
  v: string;
  q: string;
  n: number;
  V: string;
  Q: string;
}

/** Any frame of the stream: an event (maybe wrapped in {stream, data}) or a reply to a request. */
interface RawFrame {
  stream?: unknown;
  data?: RawFrame;
  id: number | string | null;
  result?: unknown;
  error?: { code: number; msg: string } | null;
  e?: unknown;
  E: number;
  s?: string;
  k?: RawKline;
}

const OTHER: StreamMessage = { type: "other" };
const SHUTDOWN: StreamMessage = { type: "shutdown" };

export function decodeStreamFrame(text: string): StreamMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return OTHER;
  }
  if (parsed === null || typeof parsed !== "object") return OTHER;
  const msg = parsed as RawFrame;
  let data: RawFrame | undefined = msg;
  if (typeof msg.stream === "string" && msg.data !== undefined) data = msg.data;
  else if ("id" in msg && ("result" in msg || "error" in msg)) {
    return { type: "reply", id: msg.id, result: msg.result, error: msg.error ?? undefined };
  }
  const e = data?.e;
  if (e === "kline") {
    const k = data.k;
    if (!k || typeof k.t !== "number") return OTHER;
    const symbol = (k.s ?? data.s) as string;
    const interval: string = k.i;
    return {
      type: "kline",
      stream: typeof msg.stream === "string" ? msg.stream : klineStreamName(symbol, interval),
      symbol,
      interval,
      closed: k.x === true,
      eventTime: data.E,
      candle: {
        openTime: k.t,
        closeTime: k.T,
        open: k.o,
        high: k.h,
        low: k.l,
        close: k.c,
        volume: k.v,
        quoteVolume: k.q,
        trades: k.n,
        takerBuyBase: k.V,
        takerBuyQuote: k.Q,
      },
    };
  }
  if (e === "serverShutdown") return SHUTDOWN;
  return OTHER;
}
