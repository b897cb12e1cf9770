// Symbol filters (PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, NOTIONAL, MAX_NUM_ORDERS) in exact
// decimals, built from the shared table in src/core/market/symbols.ts (docs/exchange-contract.md,
// Symbols and filters).
import { Decimal } from "../../core/money/decimal";
import type { SymbolSpec } from "../../core/market/symbols";
import { err } from "../binance/errors";

export interface SymbolRules {
  readonly spec: SymbolSpec;
  readonly symbol: string;
  readonly baseAsset: string;
  readonly quoteAsset: string;
  readonly tickSize: Decimal;
  readonly minPrice: Decimal;
  readonly maxPrice: Decimal;
  readonly stepSize: Decimal;
  readonly minQty: Decimal;
  readonly maxQty: Decimal;
  readonly marketMinQty: Decimal;
  readonly marketMaxQty: Decimal;
  /** Zero: MARKET_LOT_SIZE has no step of its own (Binance sends "0.00000000"). */
  readonly marketStepSize: Decimal;
  readonly minNotional: Decimal;
  readonly maxNotional: Decimal;
  readonly maxNumOrders: number;
}

export function rulesFor(spec: SymbolSpec, maxNumOrders: number): SymbolRules {
  const d = Decimal.parse;
  return Object.freeze({
    spec,
    symbol: spec.symbol,
    baseAsset: spec.baseAsset,
    quoteAsset: spec.quoteAsset,
    tickSize: d(spec.tickSize),
    minPrice: d(spec.minPrice),
    maxPrice: d(spec.maxPrice),
    stepSize: d(spec.stepSize),
    minQty: d(spec.minQty),
    maxQty: d(spec.maxQty),
    marketMinQty: Decimal.ZERO,
    marketMaxQty: d(spec.marketMaxQty),
    marketStepSize: Decimal.ZERO,
    minNotional: d(spec.minNotional),
    maxNotional: d(spec.maxNotional),
    maxNumOrders,
  });
}

/** PRICE_FILTER for `price` and `stopPrice`. A zero bound or tick switches that check off. */
export function checkPrice(r: SymbolRules, price: Decimal): void {
  if (!price.isPositive()) throw err.filter("PRICE_FILTER");
  if (!r.minPrice.isZero() && price.lt(r.minPrice)) throw err.filter("PRICE_FILTER");
  if (!r.maxPrice.isZero() && price.gt(r.maxPrice)) throw err.filter("PRICE_FILTER");
  if (!r.tickSize.isZero() && !price.sub(r.minPrice).isMultipleOf(r.tickSize))
    throw err.filter("PRICE_FILTER");
}

function lot(qty: Decimal, min: Decimal, max: Decimal, step: Decimal, name: string): void {
  if (!qty.isPositive()) throw err.filter(name);
  if (qty.lt(min)) throw err.filter(name);
  if (!max.isZero() && qty.gt(max)) throw err.filter(name);
  if (!step.isZero() && !qty.sub(min).isMultipleOf(step)) throw err.filter(name);
}

export function checkLotSize(r: SymbolRules, qty: Decimal): void {
  lot(qty, r.minQty, r.maxQty, r.stepSize, "LOT_SIZE");
}

export function checkMarketLotSize(r: SymbolRules, qty: Decimal): void {
  lot(qty, r.marketMinQty, r.marketMaxQty, r.marketStepSize, "MARKET_LOT_SIZE");
}

/**
 * NOTIONAL: minNotional ≤ price × qty ≤ maxNotional. For market-priced orders only the minimum
 * applies (applyMinToMarket true, applyMaxToMarket false), priced at the current price.
 */
export function checkNotional(r: SymbolRules, price: Decimal, qty: Decimal, market: boolean): void {
  const notional = price.mul(qty);
  if (!notional.isPositive()) throw err.rejected("Price * QTY is zero or less.");
  if (notional.lt(r.minNotional)) throw err.filter("NOTIONAL");
  if (!market && !r.maxNotional.isZero() && notional.gt(r.maxNotional)) throw err.filter("NOTIONAL");
}
