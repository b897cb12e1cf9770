// Shapes of the backtest API's answers (services/backtest.service.ts) and the reads the pages share.
import type { ApiClient } from "./api";
import type { Metrics } from "./metrics";

export type RunStatus = "queued" | "running" | "completed" | "failed";

export interface RunParams {
  symbol: string;
  interval: string;
  from: string;
  to: string;
  initialBalance: number;
  feeRate: number;
  slippageBps: number;
  intrabar?: string;
  warmupCandles?: number;
  window?: { firstOpenTime: number; lastOpenTime: number; candles: number };
}

export interface Trade {
  entryTime: number;
  entryPrice: number;
  exitTime: number;
  exitPrice: number;
  qty: number;
  fees: number;
  pnl: number;
  exitReason: string;
}

export interface RunResult {
  metrics: Metrics;
  trades: Trade[];
  equity: { time: number; equity: number }[];
}

export interface Run {
  id: string;
  status: RunStatus;
  progress: number;
  position?: number | null;
  params: RunParams;
  name?: string;
  sweepId?: string;
  sweepParams?: Record<string, number | string>;
  metrics: Metrics | null;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  result?: RunResult | null;
  cached?: boolean;
}

export interface Candle {
  openTime: number;
  closeTime: number;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
}

/** Every candle of a run's window, read 1000 at a time (the API's page size), at most maxPages. */
export async function runCandles(api: ApiClient, p: RunParams, maxPages = 20): Promise<Candle[]> {
  const first = p.window?.firstOpenTime ?? Date.parse(p.from);
  const last = p.window?.lastOpenTime ?? Date.parse(p.to);
  const out: Candle[] = [];
  let from = first;
  for (let i = 0; i < maxPages && from <= last; i++) {
    const page = await api.get<{ candles: Candle[] }>("/market/klines", {
      symbol: p.symbol,
      interval: p.interval,
      from,
      to: last,
      limit: 1000,
    });
    if (page.candles.length === 0) break;
    out.push(...page.candles);
    from = page.candles[page.candles.length - 1].openTime + 1;
  }
  return out;
}

export const isFinished = (s: RunStatus) => s === "completed" || s === "failed";

/** A grid point as "fast period = 8, stop = 1.5". */
export function describePoint(p: Record<string, number | string> | undefined): string {
  if (!p) return "";
  return Object.entries(p)
    .map(([k, v]) => `${k} = ${v}`)
    .join(", ");
}
