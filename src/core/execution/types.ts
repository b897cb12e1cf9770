// The messages between strategy actors and execution, defined once. A command is an imperative
// request with validated fields; its result is a fact the actor records in its decision log.

/** What a strategy actor asks execution to do for one decision on one candle. */
export interface SubmitCommand {
  /** intentId(instanceId, candleOpenTime, action): the same decision always has the same id */
  readonly intentId: string;
  readonly userId: number;
  /** the exchange key to trade with; a paper account is a key on the simulator venue */
  readonly keyId: number;
  /** the strategy instance (strategies.id) */
  readonly instanceId: number;
  /** the caller's lease token: execution refuses a command whose token is no longer current */
  readonly fencingToken: number;
  readonly symbol: string;
  readonly side: "BUY" | "SELL";
  readonly kind: "entry" | "exit";
  /** open time of the candle the decision was made on */
  readonly candleOpenTime: number;
  readonly reason: string;
  /** entries: share of the account's equity (quote asset) to commit, 0 < p ≤ 100 */
  readonly sizing?: { readonly positionSizePct: number };
  /** entries: protection placed as an OCO once the entry fills */
  readonly risk?: { readonly takeProfitPct?: number; readonly stopLossPct?: number };
  /** epoch ms after which the command must not reach the venue any more */
  readonly deadline?: number;
  /**
   * wall-clock epoch ms when the closed candle behind this decision reached the strategy actor
   * (absent for candles the actor caught up on); only measured, never acted on
   */
  readonly signalAt?: number;
}

export type SubmitStatus =
  /** the order is on the venue (or filled); details follow in events */
  | "accepted"
  /** the venue's answer is not known yet (a timeout); execution keeps asking it by client order id */
  | "pending"
  /** the venue refused the order definitively */
  | "rejected"
  /** refused before reaching the venue: a business rule, recorded and emitted as order.denied */
  | "denied"
  /** nothing to do (an exit without a position) */
  | "noop";

export interface SubmitResult {
  readonly intentId: string;
  readonly status: SubmitStatus;
  /** true when this intent had been submitted before and this is the first answer again */
  readonly repeated: boolean;
  readonly clientOrderId?: string;
  readonly orderState?: string;
  /** denials: a stable code (insufficient_balance, below_min_notional, halted, …) and a message */
  readonly reason?: string;
  readonly message?: string;
}
