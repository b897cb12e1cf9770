// The declarative strategy format (docs/strategy-format.md): what the API stores, the builder produces, the
// CLI reads and the compiler turns into a BaseStrategy.
import type { PriceField } from "../model/candle";

/** A number, a price field (`close`), an indicator (`rsi`) or an indicator output (`bb.lower`). */
export type Operand = number | string;
export type OperandPair = [Operand, Operand];

export type ComparisonOperator = "gt" | "gte" | "lt" | "lte";
export type CrossOperator = "crossesAbove" | "crossesBelow";
export type BinaryOperator = ComparisonOperator | CrossOperator;

export type Condition =
  | { gt: OperandPair }
  | { gte: OperandPair }
  | { lt: OperandPair }
  | { lte: OperandPair }
  | { crossesAbove: OperandPair }
  | { crossesBelow: OperandPair }
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition };

export const COMPARISON_OPERATORS: readonly ComparisonOperator[] = ["gt", "gte", "lt", "lte"];
export const CROSS_OPERATORS: readonly CrossOperator[] = ["crossesAbove", "crossesBelow"];
export const BINARY_OPERATORS: readonly BinaryOperator[] = [...COMPARISON_OPERATORS, ...CROSS_OPERATORS];
export const CONDITION_OPERATORS: readonly string[] = [...BINARY_OPERATORS, "all", "any", "not"];

export interface IndicatorDefinition {
  readonly type: string;
  /** Series indicators only; default "close". */
  readonly source?: PriceField;
  readonly [param: string]: string | number | undefined;
}

export interface RiskDefinition {
  readonly takeProfitPct?: number;
  readonly stopLossPct?: number;
  /** Share of current equity per entry, 0 < p ≤ 100. */
  readonly positionSizePct: number;
  readonly maxOpenPositions?: number;
  readonly cooldownCandles?: number;
}

export interface StrategyDefinition {
  readonly name: string;
  readonly symbol: string;
  readonly interval: string;
  readonly indicators: Readonly<Record<string, IndicatorDefinition>>;
  readonly entry: Condition;
  /** Optional: without it positions close by take-profit, stop-loss or at the end of data. */
  readonly exit?: Condition;
  readonly risk: RiskDefinition;
  /** Candles before `from` that feed indicators in a backtest (default 200). */
  readonly warmupCandles?: number;
}

export const DEFAULT_WARMUP_CANDLES = 200;
export const RESERVED_NAMES: readonly string[] = ["open", "high", "low", "close", "volume"];
export const INDICATOR_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const LIMITS = Object.freeze({
  nameLength: 120,
  indicators: 50,
  conditionDepth: 32,
  conditionNodes: 1000,
  maxOpenPositions: 100,
  cooldownCandles: 1_000_000,
  warmupCandles: 100_000,
  takeProfitPct: 10_000,
});
