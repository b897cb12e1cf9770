// Pre-trade checks: pure, exact, and a result rather than an exception. A denial is a business
// outcome the user sees in the strategy's log; it never reaches the venue. Amounts are decimals
// rounded by the symbol's filters here and nowhere else (see docs/exchange-contract.md, Filters).
import { Decimal } from "../money/decimal";
import type { SymbolSpec } from "../market/symbols";

export type DenialReason =
  | "halted"
  | "paused"
  | "insufficient_balance"
  /** the exchange key cannot trade: missing, not the user's, not valid, or unreadable */
  | "key_unusable"
  | "below_min_notional"
  | "below_min_qty"
  | "above_max_qty"
  | "exposure_cap"
  | "max_open_positions"
  | "no_position"
  | "unknown_symbol"
  | "stale_command";

export interface Denial {
  readonly ok: false;
  readonly reason: DenialReason;
  readonly message: string;
}

/** A market BUY that spends `quoteOrderQty` (the venue works out the quantity, rounded down). */
export interface ApprovedEntry {
  readonly ok: true;
  readonly quoteOrderQty: string;
  /** the quantity the reference price buys, for the exposure check and the log */
  readonly estimatedQty: string;
}

/** A market SELL of `quantity`, already a multiple of the lot step. */
export interface ApprovedExit {
  readonly ok: true;
  readonly quantity: string;
}

export interface TradingState {
  /** the operator's cluster-wide halt: no new entries */
  readonly halted: boolean;
  /** the instance is paused: no new entries */
  readonly paused: boolean;
}

export interface EntryInput extends TradingState {
  readonly spec: SymbolSpec;
  /** the last price: only an estimate of the fill, used for the exposure cap and minimums */
  readonly referencePrice: Decimal;
  /** the quote asset free on the account */
  readonly freeQuote: Decimal;
  /** what the account is worth in the quote asset (free + locked quote + positions at the price) */
  readonly equity: Decimal;
  readonly positionSizePct: number;
  readonly feeRate: Decimal;
  readonly openPositions: number;
  readonly maxOpenPositions: number;
  /** the user's cap on the quote value of all open positions together, if any */
  readonly maxExposure?: Decimal;
  /** the quote value of the user's open positions now */
  readonly exposure: Decimal;
}

function deny(reason: DenialReason, message: string): Denial {
  return { ok: false, reason, message };
}

/**
 * Sizes an entry as the backtest does: positionSizePct of equity, with room left for the fee,
 * never more than the free quote balance.
 */
export function checkEntry(i: EntryInput): ApprovedEntry | Denial {
  if (i.halted) return deny("halted", "trading is halted by an operator: no new entries");
  if (i.paused) return deny("paused", "the strategy is paused: no new entries");
  if (i.openPositions >= i.maxOpenPositions)
    return deny(
      "max_open_positions",
      `${i.openPositions} position(s) already open (at most ${i.maxOpenPositions})`,
    );
  if (!(i.positionSizePct > 0 && i.positionSizePct <= 100) || !i.referencePrice.isPositive())
    return deny("insufficient_balance", "nothing to size the order with");
  const pct = Decimal.parse(i.positionSizePct.toFixed(8));
  const onePlusFee = Decimal.ONE.add(i.feeRate);
  // one division, truncated once: cutting twice can push an exact size just below a lot step
  let spend = i.equity.mul(pct).div(Decimal.from(100).mul(onePlusFee), 8, "down");
  // as the backtest does: never more than the free cash can pay with its fee on top (the fee may
  // be charged in the quote asset)
  const affordable = i.freeQuote.div(onePlusFee, 8, "down");
  if (spend.gt(affordable)) spend = affordable;
  const minNotional = Decimal.parse(i.spec.minNotional);
  const step = Decimal.parse(i.spec.stepSize);
  const qty = spend.div(i.referencePrice, step.scale + 2, "down").roundDown(step);
  if (!spend.isPositive() || i.freeQuote.lt(minNotional))
    return deny(
      "insufficient_balance",
      `free ${i.spec.quoteAsset} ${i.freeQuote.toString()} is below the minimum order of ${minNotional.toString()}`,
    );
  if (spend.lt(minNotional))
    return deny(
      "below_min_notional",
      `the order would spend ${spend.toFixed(2)} ${i.spec.quoteAsset}, below the minimum of ${minNotional.toString()}`,
    );
  if (qty.lt(Decimal.parse(i.spec.minQty)))
    return deny(
      "below_min_qty",
      `the order would buy ${qty.toString()}, below the minimum of ${i.spec.minQty}`,
    );
  if (qty.gt(Decimal.parse(i.spec.marketMaxQty)))
    return deny(
      "above_max_qty",
      `the order would buy ${qty.toString()}, above the maximum of ${i.spec.marketMaxQty}`,
    );
  // the venue checks the notional of what it can buy (the quantity rounded down to the lot step)
  if (qty.mul(i.referencePrice).lt(minNotional))
    return deny(
      "below_min_notional",
      `the order would buy ${qty.toString()} ${i.spec.baseAsset} worth ${qty.mul(i.referencePrice).toFixed(2)} ${i.spec.quoteAsset}, below the minimum of ${minNotional.toString()}`,
    );
  if (i.maxExposure !== undefined && i.exposure.add(spend).gt(i.maxExposure))
    return deny(
      "exposure_cap",
      `open positions (${i.exposure.toFixed(2)}) plus this entry (${spend.toFixed(2)}) exceed the cap of ${i.maxExposure.toString()} ${i.spec.quoteAsset}`,
    );
  return { ok: true, quoteOrderQty: spend.toString(), estimatedQty: qty.toString() };
}

export interface ExitInput {
  readonly spec: SymbolSpec;
  /** the position's quantity net of any base-asset fee */
  readonly positionQty: Decimal;
  /** the base asset free on the account (the venue sells only what is free) */
  readonly freeBase: Decimal;
  readonly referencePrice: Decimal;
}

/**
 * Sells the position (never more than is free), rounded down to the lot step. Halt and pause
 * never block an exit: they stop new risk, not its reduction.
 */
export function checkExit(i: ExitInput): ApprovedExit | Denial {
  if (!i.positionQty.isPositive()) return deny("no_position", "there is no open position to exit");
  const step = Decimal.parse(i.spec.stepSize);
  const have = Decimal.min(i.positionQty, i.freeBase);
  const qty = have.roundDown(step);
  if (qty.lt(Decimal.parse(i.spec.minQty)) || !qty.isPositive())
    return deny(
      "below_min_qty",
      `only ${have.toString()} ${i.spec.baseAsset} to sell, below the lot minimum`,
    );
  if (qty.gt(Decimal.parse(i.spec.marketMaxQty)))
    return deny(
      "above_max_qty",
      `selling ${qty.toString()} ${i.spec.baseAsset} at market is above the venue's maximum of ${i.spec.marketMaxQty}`,
    );
  if (qty.mul(i.referencePrice).lt(Decimal.parse(i.spec.minNotional)))
    return deny(
      "below_min_notional",
      `selling ${qty.toString()} ${i.spec.baseAsset} is below the minimum order of ${i.spec.minNotional} ${i.spec.quoteAsset}`,
    );
  return { ok: true, quantity: qty.toString() };
}
