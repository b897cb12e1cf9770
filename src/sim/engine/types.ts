// Domain types of the matching engine. Plain data: the HTTP and WebSocket layers turn them into
// Binance JSON (src/sim/binance/format.ts); the engine never formats anything itself.
import type { Decimal } from "../../core/money/decimal";

export type Side = "BUY" | "SELL";
export type OrderType =
  "LIMIT" | "MARKET" | "STOP_LOSS" | "STOP_LOSS_LIMIT" | "TAKE_PROFIT" | "TAKE_PROFIT_LIMIT" | "LIMIT_MAKER";
export type TimeInForce = "GTC" | "IOC" | "FOK";
export type OrderStatus = "NEW" | "PARTIALLY_FILLED" | "FILLED" | "CANCELED" | "REJECTED" | "EXPIRED";
export type ExecutionType = "NEW" | "CANCELED" | "REJECTED" | "TRADE" | "EXPIRED";
export type RespType = "ACK" | "RESULT" | "FULL";
export type ListStatusType = "RESPONSE" | "EXEC_STARTED" | "UPDATED" | "ALL_DONE";
export type ListOrderStatus = "EXECUTING" | "ALL_DONE" | "REJECT";
export type ExpiryReason =
  | "OCO_TRIGGER"
  | "UNFILLED_IOC_QUANTITY_EXPIRED"
  | "UNFILLED_FOK_ORDER_EXPIRED"
  | "INSUFFICIENT_LIQUIDITY"
  | "EXCHANGE_CANCELED";

export const ORDER_TYPES: readonly OrderType[] = [
  "LIMIT",
  "LIMIT_MAKER",
  "MARKET",
  "STOP_LOSS",
  "STOP_LOSS_LIMIT",
  "TAKE_PROFIT",
  "TAKE_PROFIT_LIMIT",
];
export const SIDES: readonly Side[] = ["BUY", "SELL"];
export const TIME_IN_FORCE: readonly TimeInForce[] = ["GTC", "IOC", "FOK"];

export const isStopType = (t: OrderType): boolean =>
  t === "STOP_LOSS" || t === "STOP_LOSS_LIMIT" || t === "TAKE_PROFIT" || t === "TAKE_PROFIT_LIMIT";
export const isLimitPriced = (t: OrderType): boolean =>
  t === "LIMIT" || t === "LIMIT_MAKER" || t === "STOP_LOSS_LIMIT" || t === "TAKE_PROFIT_LIMIT";
export const isOpenStatus = (s: OrderStatus): boolean => s === "NEW" || s === "PARTIALLY_FILLED";

/** Funds held for open orders. OCO legs share one lock; it is released when its last user ends. */
export interface Lock {
  asset: string;
  amount: Decimal;
  users: number;
}

export interface Order {
  readonly accountId: number;
  readonly symbol: string;
  readonly orderId: number;
  orderListId: number;
  readonly clientOrderId: string;
  readonly side: Side;
  readonly type: OrderType;
  readonly timeInForce: TimeInForce;
  /** Limit price; zero for MARKET / STOP_LOSS / TAKE_PROFIT. */
  readonly price: Decimal;
  readonly origQty: Decimal;
  /** Zero unless a stop type. */
  readonly stopPrice: Decimal;
  readonly origQuoteOrderQty: Decimal;
  executedQty: Decimal;
  cummulativeQuoteQty: Decimal;
  status: OrderStatus;
  readonly time: number;
  updateTime: number;
  /** -1 while a stop order has not triggered. */
  workingTime: number;
  /** Stop orders: the trigger fired (the order now behaves as MARKET or LIMIT). */
  triggered: boolean;
  expiryReason?: ExpiryReason;
  readonly strategyId?: number;
  readonly strategyType?: number;
  /** Undefined once the order is closed. */
  lock?: Lock;
}

export interface OrderList {
  readonly accountId: number;
  readonly symbol: string;
  readonly orderListId: number;
  readonly listClientOrderId: string;
  readonly contingencyType: "OCO";
  listStatusType: ListStatusType;
  listOrderStatus: ListOrderStatus;
  readonly transactionTime: number;
  updateTime: number;
  /** Binance lists the stop leg first, then the limit/take-profit leg. */
  readonly orders: Order[];
}

export interface Trade {
  readonly symbol: string;
  readonly id: number;
  readonly orderId: number;
  readonly orderListId: number;
  readonly accountId: number;
  readonly price: Decimal;
  readonly qty: Decimal;
  readonly quoteQty: Decimal;
  readonly commission: Decimal;
  readonly commissionAsset: string;
  readonly time: number;
  readonly isBuyer: boolean;
  readonly isMaker: boolean;
}

export interface Balance {
  free: Decimal;
  locked: Decimal;
}

export interface CommissionRates {
  maker: Decimal;
  taker: Decimal;
}

/**
 * Where an account's fees are paid. "received": in the asset the fill brings in (base on a BUY,
 * quote on a SELL), Binance's rule. "quote": always in the quote asset, as when fees come out of a
 * separate balance valued at par: a BUY receives its whole quantity and pays the fee on top.
 */
export type CommissionAsset = "received" | "quote";

export interface AccountState {
  readonly id: number;
  readonly balances: Map<string, Balance>;
  commission: CommissionRates;
  readonly commissionAsset: CommissionAsset;
  /** Replay time of the last balance change. */
  updateTime: number;
}

/** Validated, typed new-order request (the HTTP layer checks syntax; the engine checks semantics). */
export interface NewOrderRequest {
  symbol: string;
  side: Side;
  type: OrderType;
  timeInForce?: TimeInForce;
  quantity?: Decimal;
  quoteOrderQty?: Decimal;
  price?: Decimal;
  stopPrice?: Decimal;
  newClientOrderId?: string;
  strategyId?: number;
  strategyType?: number;
  /** Set by the order-list engine for OCO legs. */
  icebergQty?: Decimal;
}

export interface OcoLegRequest {
  type: OrderType;
  clientOrderId?: string;
  price?: Decimal;
  stopPrice?: Decimal;
  timeInForce?: TimeInForce;
  icebergQty?: Decimal;
  strategyId?: number;
  strategyType?: number;
}

/** Both OCO routes (`/orderList/oco` and the legacy `/order/oco`) map onto this. */
export interface NewOcoRequest {
  symbol: string;
  side: Side;
  quantity: Decimal;
  listClientOrderId?: string;
  above: OcoLegRequest;
  below: OcoLegRequest;
}

export interface Fill {
  price: Decimal;
  qty: Decimal;
  commission: Decimal;
  commissionAsset: string;
  tradeId: number;
  isMaker: boolean;
}

/** A frozen copy of an order at the moment of an event. */
export type OrderSnapshot = Readonly<Omit<Order, "lock">>;

export type EngineEvent =
  | {
      kind: "execution";
      accountId: number;
      time: number;
      executionId: number;
      execType: ExecutionType;
      order: OrderSnapshot;
      fill?: Fill;
      /** On cancels: the id of the cancel request (`c`), the order's own id going to `C`. */
      cancelClientOrderId?: string;
    }
  | {
      kind: "account";
      accountId: number;
      time: number;
      balances: { asset: string; free: Decimal; locked: Decimal }[];
    }
  | { kind: "balance"; accountId: number; time: number; asset: string; delta: Decimal }
  | {
      kind: "listStatus";
      accountId: number;
      time: number;
      list: Readonly<Omit<OrderList, "orders">>;
      orders: { symbol: string; orderId: number; clientOrderId: string }[];
    };

export interface PlaceResult {
  order: OrderSnapshot;
  fills: Fill[];
  events: EngineEvent[];
}

export interface CancelResult {
  /** The cancel report of the order that was asked for. */
  order: OrderSnapshot;
  cancelClientOrderId: string;
  list?: { list: OrderList; reports: { order: OrderSnapshot; cancelClientOrderId: string }[] };
  events: EngineEvent[];
}

export interface PlaceListResult {
  list: OrderList;
  /** Snapshots of the legs right after placement (what orderReports shows). */
  legs: OrderSnapshot[];
  events: EngineEvent[];
}

export interface CancelListResult {
  list: OrderList;
  reports: { order: OrderSnapshot; cancelClientOrderId: string }[];
  cancelListClientOrderId: string;
  events: EngineEvent[];
}
