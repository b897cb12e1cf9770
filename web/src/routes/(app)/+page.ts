import { ApiError, SessionEndedError } from "$lib/api";
import type { Trade } from "$lib/history";
import type { Portfolio } from "$lib/components/portfolio/types";
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
    // the chart comes first: a portfolio that cannot be read is shown as a problem beside it
    const soft = <T>(p: Promise<T>): Promise<{ value?: T; problem?: string }> =>
      p.then(
        (value) => ({ value }),
        (e: unknown) => {
          if (e instanceof SessionEndedError) throw e;
          return { problem: e instanceof ApiError ? e.message : String(e) };
        },
      );
    const [klines, portfolio, trades] = await Promise.all([
      symbol ? api.get<Klines>("/market/klines", { symbol, interval, limit: 300 }) : null,
      soft(api.get<Portfolio>("/portfolio")),
      symbol
        ? soft(api.get<{ items: Trade[] }>("/trades", { symbol, limit: 200 }))
        : { value: { items: [] } },
    ]);
    return {
      symbols: trading,
      intervals: symbols.intervals,
      symbol,
      interval,
      klines,
      portfolio: portfolio.value ?? null,
      portfolioProblem: portfolio.problem ?? null,
      trades: trades.value?.items ?? [],
    };
  });
