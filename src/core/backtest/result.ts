import type { ClosedTrade } from "../model/position";
import type { BacktestMetrics } from "./metrics";

export interface EquityPoint {
  /** Close time of the candle the equity was marked at. */
  readonly time: number;
  readonly equity: number;
}

/** The backtest JSON document (docs/backtesting.md, Results): `aura backtest --json`, the API's `result`. */
export interface BacktestReport {
  readonly metrics: BacktestMetrics;
  readonly trades: readonly ClosedTrade[];
  readonly equity: readonly EquityPoint[];
}

/** How the run was set up; not part of the JSON document. */
export interface BacktestRunInfo {
  readonly symbol: string;
  readonly interval: string;
  readonly firstCandleTime: number;
  readonly lastCandleTime: number;
  /** Candles in range (each produces one equity point). */
  readonly candles: number;
  /** Candles before the range that fed the indicators. */
  readonly warmupCandles: number;
  readonly initialBalance: number;
  readonly feeRate: number;
  readonly slippageBps: number;
}

/**
 * The equity curve is kept in typed arrays and turned into objects only when `equity` is read or
 * the result is serialised, so long runs stay lean. `equityTime` is a view of the input candles'
 * close times (equity is marked at each close), so it shares memory with the candle columns.
 */
export class BacktestResult implements BacktestReport {
  private points: EquityPoint[] | undefined;

  constructor(
    readonly metrics: BacktestMetrics,
    readonly trades: readonly ClosedTrade[],
    readonly equityTime: Float64Array,
    readonly equityValue: Float64Array,
    readonly info: BacktestRunInfo,
  ) {}

  get equity(): readonly EquityPoint[] {
    if (!this.points) {
      const pts: EquityPoint[] = new Array(this.equityValue.length);
      for (let i = 0; i < pts.length; i++) pts[i] = { time: this.equityTime[i], equity: this.equityValue[i] };
      this.points = pts;
    }
    return this.points;
  }

  toJSON(): BacktestReport {
    return { metrics: this.metrics, trades: this.trades, equity: this.equity };
  }
}
