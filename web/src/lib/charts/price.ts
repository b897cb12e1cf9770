// Candlestick charts (TradingView Lightweight Charts): the dashboard's live price chart and the
// backtest result's price chart with its trades marked. The library draws UTC only; local time is
// shown by shifting every timestamp by the zone's offset (format.ts zoneShiftSec).
import type { SeriesMarker, Time, UTCTimestamp } from "lightweight-charts";
import { zoneShiftSec, type TimeZoneMode } from "../format";

export interface CandleLike {
  openTime: number;
  open: string | number;
  high: string | number;
  low: string | number;
  close: string | number;
}

export interface Bar {
  time: UTCTimestamp;
  open: number;
  high: number;
  low: number;
  close: number;
}

export interface TradeLike {
  entryTime: number;
  entryPrice: number;
  exitTime: number;
  exitPrice: number;
  pnl: number;
  exitReason: string;
}

export function chartTime(ms: number, zone: TimeZoneMode): UTCTimestamp {
  return (Math.floor(ms / 1000) + zoneShiftSec(ms, zone)) as UTCTimestamp;
}

export function toBar(c: CandleLike, zone: TimeZoneMode): Bar {
  return {
    time: chartTime(c.openTime, zone),
    open: Number(c.open),
    high: Number(c.high),
    low: Number(c.low),
    close: Number(c.close),
  };
}

/**
 * Entry and exit markers for trades, on the candle each fill happened in (the candle whose open
 * time is the latest at or before the fill).
 */
export function tradeMarkers(
  trades: readonly TradeLike[],
  candleOpenTimes: readonly number[],
  zone: TimeZoneMode,
): SeriesMarker<Time>[] {
  const snap = (t: number): number => {
    let lo = 0;
    let hi = candleOpenTimes.length - 1;
    if (hi < 0) return t;
    if (t <= candleOpenTimes[0]) return candleOpenTimes[0];
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (candleOpenTimes[mid] <= t) lo = mid;
      else hi = mid - 1;
    }
    return candleOpenTimes[lo];
  };
  const out: SeriesMarker<Time>[] = [];
  for (const t of trades) {
    out.push({
      time: chartTime(snap(t.entryTime), zone),
      position: "belowBar",
      shape: "arrowUp",
      color: "#2563eb",
      text: "Buy",
    });
    out.push({
      time: chartTime(snap(t.exitTime), zone),
      position: "aboveBar",
      shape: "arrowDown",
      color: t.pnl >= 0 ? "#15803d" : "#b91c1c",
      text: t.exitReason === "take_profit" ? "TP" : t.exitReason === "stop_loss" ? "SL" : "Sell",
    });
  }
  return out.sort((a, b) => (a.time as number) - (b.time as number));
}
