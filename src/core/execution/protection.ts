// The exchange-native protection of a filled entry: one OCO SELL with a take-profit LIMIT_MAKER
// above the price and a STOP_LOSS_LIMIT below, priced exactly as the backtest prices its target
// and stop (docs/backtesting.md): target = entry × (1 + TP%) rounded up to the tick, stop =
// entry × (1 − SL%) rounded down to the tick. The stop leg's limit sits a margin below its
// trigger so a fast fall still fills; its quantity is what the entry delivered net of fees.
import { Decimal } from "../money/decimal";
import type { SymbolSpec } from "../market/symbols";

export interface ProtectionInput {
  readonly spec: SymbolSpec;
  /** average fill price of the entry */
  readonly entryPrice: Decimal;
  /** quantity the entry delivered, net of a base-asset fee */
  readonly quantity: Decimal;
  readonly takeProfitPct?: number;
  readonly stopLossPct?: number;
  /** how far below the stop trigger the stop leg's limit may fill, in percent (default 5) */
  readonly stopLimitMarginPct?: number;
}

export interface OcoPlan {
  readonly quantity: string;
  readonly takeProfitPrice: string;
  readonly stopPrice: string;
  readonly stopLimitPrice: string;
}

export type ProtectionPlan =
  | { readonly kind: "oco"; readonly plan: OcoPlan }
  /** the strategy sets neither target nor stop: nothing to place */
  | { readonly kind: "none" }
  /** protection is wanted but cannot be placed as asked (quantity too small, one-sided risk) */
  | { readonly kind: "impossible"; readonly message: string };

const pct = (p: number) => Decimal.parse(p.toFixed(8)).div(Decimal.from(100), 10, "halfEven");

export function planProtection(i: ProtectionInput): ProtectionPlan {
  const hasTp = i.takeProfitPct !== undefined && i.takeProfitPct > 0;
  const hasSl = i.stopLossPct !== undefined && i.stopLossPct > 0 && i.stopLossPct < 100;
  if (!hasTp && !hasSl) return { kind: "none" };
  // an OCO needs both legs; a one-sided risk block is protected by the strategy's exit signal
  // and the backtest's intrabar check only
  if (!hasTp || !hasSl)
    return {
      kind: "impossible",
      message: "exchange-native protection needs both takeProfitPct and stopLossPct (an OCO has two legs)",
    };
  const tick = Decimal.parse(i.spec.tickSize);
  const step = Decimal.parse(i.spec.stepSize);
  const qty = i.quantity.roundDown(step);
  if (qty.lt(Decimal.parse(i.spec.minQty)) || !qty.isPositive())
    return { kind: "impossible", message: `quantity ${i.quantity.toString()} is below the lot minimum` };
  // a target beyond what the venue takes (its highest price, or a notional above its maximum)
  // could never be placed: it sits at the highest price the venue takes for this quantity
  const maxPrice = Decimal.min(
    Decimal.parse(i.spec.maxPrice),
    Decimal.parse(i.spec.maxNotional).div(qty, tick.scale, "down"),
  ).roundDown(tick);
  const tp = Decimal.min(i.entryPrice.mul(Decimal.ONE.add(pct(i.takeProfitPct!))).roundUp(tick), maxPrice);
  const stop = i.entryPrice.mul(Decimal.ONE.sub(pct(i.stopLossPct!))).roundDown(tick);
  if (stop.lt(Decimal.parse(i.spec.minPrice)) || !stop.isPositive() || !tp.gt(i.entryPrice))
    return {
      kind: "impossible",
      message: `the stop (${stop.toString()}) or target (${tp.toString()}) falls outside the venue's price range`,
    };
  const margin = pct(i.stopLimitMarginPct ?? 5);
  const stopLimit = Decimal.max(
    stop.mul(Decimal.ONE.sub(margin)).roundDown(tick),
    Decimal.parse(i.spec.minPrice),
  );
  const minNotional = Decimal.parse(i.spec.minNotional);
  if (qty.mul(stopLimit).lt(minNotional))
    return {
      kind: "impossible",
      message: `the stop leg (${qty.toString()} at ${stopLimit.toString()}) is below the minimum order of ${minNotional.toString()}`,
    };
  return {
    kind: "oco",
    plan: {
      quantity: qty.toString(),
      takeProfitPrice: tp.toString(),
      stopPrice: stop.toString(),
      stopLimitPrice: stopLimit.toString(),
    },
  };
}
