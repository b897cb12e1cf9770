// The P&L arithmetic of the portfolio, in exact decimals and with the executor's definitions
// (src/adapters/execution/executor.ts), so an open position's unrealised P&L turns into the
// realised P&L its close records at the same prices, before the exit's own fee:
//  - what an entry cost is the quote it spent plus any fee paid in the quote asset; a fee paid in
//    the base asset is already there as fewer coins held;
//  - what a sale brought is its quote minus its fees, a base-asset fee valued at the sale's price;
//  - fees are reported in the quote asset: base-asset fees at the price of their own fills.
import { Decimal } from "../../core/money/decimal";

const ZERO = Decimal.ZERO;
const d = (v: string | null | undefined): Decimal => (v ? Decimal.parse(v) : ZERO);
/** money shown to users: 8 decimals, as the exchange and the executor keep them */
export const money = (v: Decimal): string => v.round(8, "halfEven").toString();

/** Fill sums of one order (or one group of orders) by commission asset. */
export interface FillSums {
  qty: string;
  quote: string;
  /** commission per asset */
  fees: Record<string, string>;
}

export interface OpenPositionInput {
  qty: string;
  entryPrice: string;
  entryFees: string;
  baseAsset: string;
  quoteAsset: string;
  /** the entry order's fills (absent for a position without an entry order row) */
  entry?: FillSums;
  /** what its protection legs sold so far (a take-profit filling in parts) */
  sold?: FillSums;
  /** the price now, in the quote asset; undefined when unknown */
  price?: string;
}

export interface OpenPositionPnl {
  /** quantity still held */
  qty: string;
  cost: string;
  marketValue: string | null;
  unrealizedPnl: string | null;
  /** % of cost, 4 decimals */
  unrealizedPnlPct: string | null;
  /** fees paid so far in the quote asset */
  fees: string;
}

/** Fees of some fills in the quote asset; fees in other assets are returned apart. */
export function quoteFees(
  sums: FillSums,
  baseAsset: string,
  quoteAsset: string,
): { fees: Decimal; other: Record<string, string> } {
  const qty = d(sums.qty);
  const avg = qty.isPositive() ? d(sums.quote).div(qty, 10, "halfEven") : ZERO;
  let fees = ZERO;
  const other: Record<string, string> = {};
  for (const [asset, fee] of Object.entries(sums.fees)) {
    if (asset === quoteAsset) fees = fees.add(d(fee));
    else if (asset === baseAsset) fees = fees.add(d(fee).mul(avg));
    else other[asset] = fee;
  }
  return { fees, other };
}

export function openPositionPnl(p: OpenPositionInput): OpenPositionPnl {
  let cost: Decimal;
  let fees: Decimal;
  if (p.entry) {
    const qf = d(p.entry.fees[p.quoteAsset]);
    cost = d(p.entry.quote).add(qf);
    fees = quoteFees(p.entry, p.baseAsset, p.quoteAsset).fees;
  } else {
    cost = d(p.qty).mul(d(p.entryPrice)).add(d(p.entryFees));
    fees = d(p.entryFees);
  }
  let held = d(p.qty);
  let proceeds = ZERO;
  if (p.sold && d(p.sold.qty).isPositive()) {
    const sf = quoteFees(p.sold, p.baseAsset, p.quoteAsset).fees;
    held = held.sub(d(p.sold.qty));
    proceeds = d(p.sold.quote).sub(sf);
    fees = fees.add(sf);
  }
  if (held.isNegative()) held = ZERO;
  if (p.price === undefined)
    return {
      qty: held.toString(),
      cost: money(cost),
      marketValue: null,
      unrealizedPnl: null,
      unrealizedPnlPct: null,
      fees: money(fees),
    };
  const value = held.mul(d(p.price));
  const pnl = value.add(proceeds).sub(cost);
  return {
    qty: held.toString(),
    cost: money(cost),
    marketValue: money(value),
    unrealizedPnl: money(pnl),
    unrealizedPnlPct: cost.isPositive()
      ? pnl.mul(Decimal.parse("100")).div(cost, 4, "halfEven").toString()
      : null,
    fees: money(fees),
  };
}

/** Sum of decimal strings. */
export function sum(values: Iterable<string | null | undefined>): Decimal {
  let s = ZERO;
  for (const v of values) if (v) s = s.add(d(v));
  return s;
}
