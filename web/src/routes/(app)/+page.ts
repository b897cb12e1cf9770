import { guard } from "$lib/session.svelte";
import type { PageLoad } from "./$types";

export interface SymbolInfo {
  symbol: string;
  status: string;
  baseAsset: string;
  quoteAsset: string;
  tickSize?: string;
  stepSize?: string;
  minNotional?: string;
}

export interface KlineCandle {
  openTime: number;
  closeTime: number;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
}

export interface Klines {
  symbol: string;
  interval: string;
  candles: KlineCandle[];
  source: string;
  complete: boolean;
}

export const load: PageLoad = ({ url }) =>
  guard(url, async ({ api }) => {
    const symbols = await api.get<{ symbols: SymbolInfo[]; intervals: string[] }>("/market/symbols");
    const trading = symbols.symbols.filter((s) => s.status === "TRADING");
    const wanted = url.searchParams.get("symbol");
    const symbol =
      trading.find((s) => s.symbol === wanted)?.symbol ??
      trading.find((s) => s.symbol === "BTCUSDT")?.symbol ??
      trading[0]?.symbol;
    const wantedInterval = url.searchParams.get("interval");
    const interval = symbols.intervals.includes(wantedInterval ?? "") ? wantedInterval! : "1h";
    const klines = symbol ? await api.get<Klines>("/market/klines", { symbol, interval, limit: 300 }) : null;
    return { symbols: trading, intervals: symbols.intervals, symbol, interval, klines };
  });
