// The one symbol-filter table: the simulator's exchangeInfo, the backtest engine and order
// rounding all read it, so a backtest, paper trading and the venue agree on tick/step/notional.

export interface SymbolSpec {
  readonly symbol: string;
  readonly baseAsset: string;
  readonly quoteAsset: string;
  /** PRICE_FILTER */
  readonly tickSize: string;
  readonly minPrice: string;
  readonly maxPrice: string;
  /** LOT_SIZE */
  readonly stepSize: string;
  readonly minQty: string;
  readonly maxQty: string;
  /** MARKET_LOT_SIZE max quantity */
  readonly marketMaxQty: string;
  /** NOTIONAL */
  readonly minNotional: string;
  readonly maxNotional: string;
  /** decimals implied by tickSize / stepSize */
  readonly priceDecimals: number;
  readonly qtyDecimals: number;
}

function decimalsOf(step: string): number {
  const dot = step.indexOf(".");
  if (dot === -1) return 0;
  const frac = step.slice(dot + 1).replace(/0+$/, "");
  return frac.length;
}

function spec(s: Omit<SymbolSpec, "priceDecimals" | "qtyDecimals">): SymbolSpec {
  return Object.freeze({ ...s, priceDecimals: decimalsOf(s.tickSize), qtyDecimals: decimalsOf(s.stepSize) });
}

export const SYMBOLS: Readonly<Record<string, SymbolSpec>> = Object.freeze({
  BTCUSDT: spec({
    symbol: "BTCUSDT",
    baseAsset: "BTC",
    quoteAsset: "USDT",
    tickSize: "0.01",
    minPrice: "0.01",
    maxPrice: "1000000",
    stepSize: "0.00001",
    minQty: "0.00001",
    maxQty: "9000",
    marketMaxQty: "100",
    minNotional: "5",
    maxNotional: "9000000",
  }),
  ETHUSDT: spec({
    symbol: "ETHUSDT",
    baseAsset: "ETH",
    quoteAsset: "USDT",
    tickSize: "0.01",
    minPrice: "0.01",
    maxPrice: "1000000",
    stepSize: "0.0001",
    minQty: "0.0001",
    maxQty: "9000",
    marketMaxQty: "1000",
    minNotional: "5",
    maxNotional: "9000000",
  }),
});

/** Filters for a symbol outside the built-in table (e.g. loaded from a klines file): BTCUSDT-like defaults. */
export function defaultSpecFor(symbol: string, baseAsset: string, quoteAsset: string): SymbolSpec {
  return spec({ ...SYMBOLS.BTCUSDT, symbol, baseAsset, quoteAsset });
}

export function symbolSpec(symbol: string): SymbolSpec | undefined {
  return SYMBOLS[symbol];
}

export const KLINE_INTERVALS = [
  "1s",
  "1m",
  "3m",
  "5m",
  "15m",
  "30m",
  "1h",
  "2h",
  "4h",
  "6h",
  "8h",
  "12h",
  "1d",
  "3d",
  "1w",
  "1M",
] as const;
export type KlineInterval = (typeof KLINE_INTERVALS)[number];

const INTERVAL_MS: Record<string, number> = {
  "1s": 1_000,
  "1m": 60_000,
  "3m": 180_000,
  "5m": 300_000,
  "15m": 900_000,
  "30m": 1_800_000,
  "1h": 3_600_000,
  "2h": 7_200_000,
  "4h": 14_400_000,
  "6h": 21_600_000,
  "8h": 28_800_000,
  "12h": 43_200_000,
  "1d": 86_400_000,
  "3d": 259_200_000,
  "1w": 604_800_000,
};

/** Fixed-length intervals only ("1M" varies with the month and is not used for candle math). */
export function intervalMs(interval: string): number | undefined {
  return INTERVAL_MS[interval];
}

/**
 * The intervals AURA trades, stores and streams: those with a fixed length. "1M" varies with the
 * month, so its candles cannot be checked for continuity or stepped through in a backtest.
 */
export const FIXED_INTERVALS: readonly string[] = KLINE_INTERVALS.filter((i) => intervalMs(i) !== undefined);
