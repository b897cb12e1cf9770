// Builders for scenario tests: small candle tables written as [open, high, low, close] rows, and
// a scripted strategy that emits signals on chosen candles, so expected trades can be worked out
// by hand.
import { runBacktest, type BacktestOptions } from "../../src/core/backtest/engine";
import type { BacktestResult } from "../../src/core/backtest/result";
import type { Candle } from "../../src/core/model/candle";
import { NO_SIGNALS, type Signal, type SignalKind } from "../../src/core/model/signal";
import {
  BaseStrategy,
  type RiskSettings,
  type StrategyContext,
  type StrategySnapshot,
} from "../../src/core/strategy/base";

export const HOUR = 3_600_000;
/** 2024-01-01 00:00 UTC */
export const T0 = Date.UTC(2024, 0, 1);

export type Row = [open: number, high: number, low: number, close: number];

/** Hourly candles from `start`, one per row. */
export function candles(rows: Row[], start = T0, interval = HOUR): Candle[] {
  return rows.map(([open, high, low, close], i) => {
    if (!(low <= Math.min(open, close) && high >= Math.max(open, close))) {
      throw new Error(`row ${i} is not a valid candle: ${[open, high, low, close]}`);
    }
    return {
      openTime: start + i * interval,
      closeTime: start + (i + 1) * interval - 1,
      open,
      high,
      low,
      close,
      volume: 1,
    };
  });
}

/** Open time of the i-th candle built by `candles`. */
export const at = (i: number, start = T0) => start + i * HOUR;

/**
 * Emits the given signals on the given candle indices (counted over every candle it is fed,
 * warm-up included). Records what the engine told it, to check the context it saw.
 */
export class ScriptedStrategy extends BaseStrategy {
  readonly warmup: number;
  readonly seen: { index: number; canEnter: boolean; openPositions: number }[] = [];
  private i = 0;

  constructor(
    private readonly script: Record<number, SignalKind[]>,
    risk: Partial<RiskSettings> = {},
    opts: { symbol?: string; warmup?: number; warmupCandles?: number } = {},
  ) {
    super({
      symbol: opts.symbol ?? "BTCUSDT",
      interval: "1h",
      risk: { positionSizePct: 100, ...risk },
      warmupCandles: opts.warmupCandles,
    });
    this.warmup = opts.warmup ?? 1;
  }

  onCandle(candle: Candle, ctx: StrategyContext): readonly Signal[] {
    const index = this.i++;
    this.seen.push({ index, canEnter: ctx.canEnter, openPositions: ctx.openPositions });
    const kinds = this.script[index];
    return kinds ? kinds.map((k) => this.signal(k, candle, ctx)) : NO_SIGNALS;
  }

  snapshot(): StrategySnapshot {
    return { kind: "scripted", version: 1, state: { i: this.i } };
  }

  restore(s: StrategySnapshot): void {
    this.i = (s.state as { i: number }).i;
  }
}

/** Runs with scenario defaults: balance 1000, no fee, no slippage unless given. */
export function run(
  strategy: BacktestOptions["strategy"],
  rows: Candle[],
  opts: Partial<BacktestOptions> = {},
): BacktestResult {
  return runBacktest({ strategy, candles: rows, initialBalance: 1000, feeRate: 0, slippageBps: 0, ...opts });
}

export const equities = (r: BacktestResult) => r.equity.map((p) => p.equity);
