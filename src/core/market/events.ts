// The market-data contract: candle shape and event payloads, defined once. Publishers
// (services/market-data.service.ts) and consumers (strategy actors, the dashboard gateway) import
// these types so a field rename is a compile error on both sides.
import type { Candle } from "../model/candle";

/**
 * One candle as the exchange reports it. Prices and volumes are the exchange's exact decimal
 * strings (Binance: 8 decimals, e.g. "23141.57000000"); times are epoch ms, closeTime = openTime
 * + interval − 1.
 */
export interface MarketCandle {
  readonly openTime: number;
  readonly closeTime: number;
  readonly open: string;
  readonly high: string;
  readonly low: string;
  readonly close: string;
  readonly volume: string;
  readonly quoteVolume: string;
  readonly trades: number;
  readonly takerBuyBase: string;
  readonly takerBuyQuote: string;
}

/** A row exactly as Binance's `GET /api/v3/klines` returns it (and as the bundled files store it). */
export type RawKlineRow = readonly [
  openTime: number,
  open: string,
  high: string,
  low: string,
  close: string,
  volume: string,
  closeTime: number,
  quoteAssetVolume: string,
  numberOfTrades: number,
  takerBuyBaseVolume: string,
  takerBuyQuoteVolume: string,
  ignore?: string,
];

export const MARKET_EVENTS = Object.freeze({
  /** broadcast for every closed candle of a subscribed series, strictly in order, no duplicates */
  candleClosed: "market.candle.closed",
  /** intrabar snapshot of the forming candle, throttled; for dashboards, never for trading */
  candleUpdated: "market.candle.updated",
  /** candles that will never be published for a series (the exchange has none, or they could not be fetched) */
  dataGap: "market.data.gap",
  /** a subscribed series stopped receiving updates; the stream is being reconnected */
  dataStale: "market.data.stale",
} as const);

export interface CandleClosedEvent {
  readonly symbol: string;
  readonly interval: string;
  readonly candle: MarketCandle;
}

export interface CandleUpdatedEvent {
  readonly symbol: string;
  readonly interval: string;
  /** the forming candle: its close is the last trade price so far */
  readonly candle: MarketCandle;
}

/**
 * "exchange": REST confirmed the exchange has no candle for these open times (a later candle
 * exists); "unavailable": the candles could not be fetched after repeated attempts and the series
 * moved on so newer candles are not held back forever.
 */
export type GapReason = "exchange" | "unavailable";

export interface DataGapEvent {
  readonly symbol: string;
  readonly interval: string;
  /** open time of the first missing candle */
  readonly from: number;
  /** open time of the last missing candle (inclusive) */
  readonly to: number;
  readonly missing: number;
  readonly reason: GapReason;
}

export interface DataStaleEvent {
  readonly symbol: string;
  readonly interval: string;
  /** epoch ms of the last message for this series, or of the subscription when none arrived */
  readonly lastUpdateAt: number;
  readonly silentForMs: number;
  readonly thresholdMs: number;
}

export function seriesKey(symbol: string, interval: string): string {
  return `${symbol}:${interval}`;
}

/** A market candle as strategies see it: numbers where the exchange has decimal strings. */
export function strategyCandle(c: MarketCandle): Candle {
  return {
    openTime: c.openTime,
    closeTime: c.closeTime,
    open: Number(c.open),
    high: Number(c.high),
    low: Number(c.low),
    close: Number(c.close),
    volume: Number(c.volume),
  };
}

export function candleFromRow(row: RawKlineRow): MarketCandle {
  return {
    openTime: row[0],
    closeTime: row[6],
    open: row[1],
    high: row[2],
    low: row[3],
    close: row[4],
    volume: row[5],
    quoteVolume: row[7],
    trades: row[8],
    takerBuyBase: row[9],
    takerBuyQuote: row[10],
  };
}
