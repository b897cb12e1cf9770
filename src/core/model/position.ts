export type ExitReason = "take_profit" | "stop_loss" | "signal" | "end_of_data";

export const EXIT_REASONS: readonly ExitReason[] = Object.freeze([
  "take_profit",
  "stop_loss",
  "signal",
  "end_of_data",
]);

/** An open long position as the core models it (numbers; exchange-bound values are decimals). */
export interface Position {
  readonly symbol: string;
  readonly side: "long";
  readonly qty: number;
  readonly entryPrice: number;
  readonly entryTime: number;
  readonly entryFee: number;
  /** Protective prices, already rounded to the tick (target up, stop down); absent when not set. */
  readonly takeProfitPrice?: number;
  readonly stopPrice?: number;
}

/** A closed round trip (also the backtest JSON trade shape, docs/backtesting.md, Results). */
export interface ClosedTrade {
  readonly entryTime: number;
  readonly entryPrice: number;
  readonly exitTime: number;
  readonly exitPrice: number;
  readonly qty: number;
  readonly fees: number;
  readonly pnl: number;
  readonly exitReason: ExitReason;
}
