// Order intents: what a strategy's signal becomes before any network call. Quantities and prices
// are decimal strings already rounded to the symbol's filters; the id is derived up front so a
// retry after a timeout asks the venue by the same id instead of sending twice.

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Our id for an order, derived from (strategy instance, candle time, leg). */
export type ClientOrderId = Brand<string, "ClientOrderId">;
/** The venue's id for an order. */
export type ExchangeOrderId = Brand<string, "ExchangeOrderId">;
export type StrategyInstanceId = Brand<string, "StrategyInstanceId">;
/** A decimal number as a string, e.g. "0.00123". */
export type DecimalString = Brand<string, "DecimalString">;

export type OrderSide = "BUY" | "SELL";
export type OrderLeg = "entry" | "exit" | "take_profit" | "stop_loss";

export interface MarketOrderIntent {
  readonly kind: "market";
  readonly clientOrderId: ClientOrderId;
  readonly strategyInstanceId: StrategyInstanceId;
  readonly symbol: string;
  readonly side: OrderSide;
  readonly leg: "entry" | "exit";
  /** Base-asset quantity; for a BUY sized by quote, `quoteOrderQty` is set instead. */
  readonly quantity?: DecimalString;
  readonly quoteOrderQty?: DecimalString;
  /** Open time of the candle whose signal produced this intent. */
  readonly candleOpenTime: number;
  readonly createdAt: number;
}

/** The exchange-native OCO protecting an entry: a take-profit limit and a stop-loss. */
export interface OcoIntent {
  readonly kind: "oco";
  readonly clientOrderId: ClientOrderId;
  readonly strategyInstanceId: StrategyInstanceId;
  readonly symbol: string;
  readonly side: "SELL";
  readonly quantity: DecimalString;
  readonly takeProfitPrice: DecimalString;
  readonly stopPrice: DecimalString;
  readonly stopLimitPrice?: DecimalString;
  readonly candleOpenTime: number;
  readonly createdAt: number;
}

export type OrderIntent = MarketOrderIntent | OcoIntent;
