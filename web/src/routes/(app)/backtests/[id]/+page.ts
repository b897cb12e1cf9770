import { runCandles, type Run } from "$lib/backtests";
import { guard } from "$lib/session.svelte";
import type { PageLoad } from "./$types";

export const load: PageLoad = ({ url, params, depends }) =>
  guard(url, async ({ api }) => {
    depends("app:backtest");
    const run = await api.get<Run>(`/backtests/${encodeURIComponent(params.id)}`);
    const { symbols } = await api.get<{
      symbols: { symbol: string; tickSize?: string; stepSize?: string }[];
    }>("/market/symbols");
    return {
      run,
      precision: symbols.find((s) => s.symbol === run.params.symbol),
      // the price chart's candles stream in after the page shows (a year of 1h candles is 9 reads)
      candles: run.status === "completed" ? runCandles(api, run.params) : null,
    };
  });
