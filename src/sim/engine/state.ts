// The matching engine's durable state as plain JSON (decimals as strings) and the strict reader
// that turns it back into engine objects. Reading builds every object before the engine takes
// any of them, so a bad snapshot is refused whole instead of leaving a half-restored engine.
import { Decimal } from "../../core/money/decimal";
import {
  isOpenStatus,
  type AccountState,
  type Balance,
  type CommissionAsset,
  type ExpiryReason,
  type ListOrderStatus,
  type ListStatusType,
  type Lock,
  type Order,
  type OrderList,
  type OrderStatus,
  type OrderType,
  type Side,
  type TimeInForce,
  type Trade,
} from "./types";

export interface EngineAccountJson {
  id: number;
  balances: Record<string, { free: string; locked: string }>;
  commission: { maker: string; taker: string; asset: CommissionAsset };
  updateTime: number;
}

export interface LockJson {
  asset: string;
  amount: string;
  users: number;
}

export interface OrderJson {
  accountId: number;
  symbol: string;
  orderId: number;
  orderListId: number;
  clientOrderId: string;
  side: Side;
  type: OrderType;
  timeInForce: TimeInForce;
  price: string;
  origQty: string;
  stopPrice: string;
  origQuoteOrderQty: string;
  executedQty: string;
  cummulativeQuoteQty: string;
  status: OrderStatus;
  time: number;
  updateTime: number;
  workingTime: number;
  triggered: boolean;
  expiryReason?: ExpiryReason;
  strategyId?: number;
  strategyType?: number;
  /** Index into `locks`: OCO legs share one lock, so locks are stored once and referenced. */
  lock?: number;
}

export interface OrderListJson {
  accountId: number;
  symbol: string;
  orderListId: number;
  listClientOrderId: string;
  contingencyType: "OCO";
  listStatusType: ListStatusType;
  listOrderStatus: ListOrderStatus;
  transactionTime: number;
  updateTime: number;
  orderIds: number[];
}

export interface TradeJson {
  symbol: string;
  id: number;
  orderId: number;
  orderListId: number;
  accountId: number;
  price: string;
  qty: string;
  quoteQty: string;
  commission: string;
  commissionAsset: string;
  time: number;
  isBuyer: boolean;
  isMaker: boolean;
}

export interface EngineStateJson {
  nextOrderId: number;
  nextListId: number;
  nextAccountId: number;
  nextExecutionId: number;
  /** State of the generator behind auto-assigned client ids, so they do not repeat after a restore. */
  rng: number;
  tradeSeq: Record<string, number>;
  accounts: EngineAccountJson[];
  locks: LockJson[];
  orders: OrderJson[];
  lists: OrderListJson[];
  trades: TradeJson[];
}

/** Engine objects read from a snapshot, linked and checked, ready for the engine to take over. */
export interface EngineState {
  nextOrderId: number;
  nextListId: number;
  nextAccountId: number;
  nextExecutionId: number;
  rng: number;
  tradeSeq: Map<string, number>;
  accounts: AccountState[];
  orders: Order[];
  lists: OrderList[];
  trades: Trade[];
}

export class SnapshotError extends Error {
  constructor(message: string) {
    super(`invalid simulator snapshot: ${message}`);
    this.name = "SnapshotError";
  }
}

// ---------------------------------------------------------------- field readers

export function obj(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new SnapshotError(`${path} must be an object`);
  return v as Record<string, unknown>;
}

export function arr(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) throw new SnapshotError(`${path} must be an array`);
  return v;
}

export function int(v: unknown, path: string, min = Number.MIN_SAFE_INTEGER): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min)
    throw new SnapshotError(`${path} must be an integer${min > Number.MIN_SAFE_INTEGER ? ` >= ${min}` : ""}`);
  return v;
}

export function str(v: unknown, path: string, re?: RegExp): string {
  if (typeof v !== "string" || (re && !re.test(v))) throw new SnapshotError(`${path} must be a valid string`);
  return v;
}

export function bool(v: unknown, path: string): boolean {
  if (typeof v !== "boolean") throw new SnapshotError(`${path} must be true or false`);
  return v;
}

export function oneOf<T extends string>(v: unknown, path: string, values: readonly T[]): T {
  if (typeof v !== "string" || !(values as readonly string[]).includes(v))
    throw new SnapshotError(`${path} must be one of ${values.join(", ")}`);
  return v as T;
}

/** A non-negative decimal string: every amount the engine keeps is one. */
export function dec(v: unknown, path: string): Decimal {
  const d = typeof v === "string" ? Decimal.tryParse(v) : undefined;
  if (!d || d.isNegative()) throw new SnapshotError(`${path} must be a non-negative decimal string`);
  return d;
}

function optInt(v: unknown, path: string): number | undefined {
  return v === undefined || v === null ? undefined : int(v, path);
}

const SIDES = ["BUY", "SELL"] as const;
const TYPES = [
  "LIMIT",
  "MARKET",
  "STOP_LOSS",
  "STOP_LOSS_LIMIT",
  "TAKE_PROFIT",
  "TAKE_PROFIT_LIMIT",
  "LIMIT_MAKER",
] as const;
const TIFS = ["GTC", "IOC", "FOK"] as const;
const STATUSES = ["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REJECTED", "EXPIRED"] as const;
const EXPIRY = [
  "OCO_TRIGGER",
  "UNFILLED_IOC_QUANTITY_EXPIRED",
  "UNFILLED_FOK_ORDER_EXPIRED",
  "INSUFFICIENT_LIQUIDITY",
  "EXCHANGE_CANCELED",
] as const;
const LIST_STATUS_TYPES = ["RESPONSE", "EXEC_STARTED", "UPDATED", "ALL_DONE"] as const;
const LIST_ORDER_STATUSES = ["EXECUTING", "ALL_DONE", "REJECT"] as const;
const ASSET_RE = /^[A-Z0-9]{1,20}$/;

// ---------------------------------------------------------------- writing

/** Decimal text at the value's own scale, so a restored amount is the same value to the digit. */
export function text(d: Decimal): string {
  return d.toFixed(d.scale);
}

export function accountJson(a: AccountState): EngineAccountJson {
  const balances: Record<string, { free: string; locked: string }> = {};
  for (const [asset, b] of a.balances) balances[asset] = { free: text(b.free), locked: text(b.locked) };
  return {
    id: a.id,
    balances,
    commission: {
      maker: text(a.commission.maker),
      taker: text(a.commission.taker),
      asset: a.commissionAsset,
    },
    updateTime: a.updateTime,
  };
}

export function orderJson(o: Order, lockIndex: (l: Lock) => number): OrderJson {
  const out: OrderJson = {
    accountId: o.accountId,
    symbol: o.symbol,
    orderId: o.orderId,
    orderListId: o.orderListId,
    clientOrderId: o.clientOrderId,
    side: o.side,
    type: o.type,
    timeInForce: o.timeInForce,
    price: text(o.price),
    origQty: text(o.origQty),
    stopPrice: text(o.stopPrice),
    origQuoteOrderQty: text(o.origQuoteOrderQty),
    executedQty: text(o.executedQty),
    cummulativeQuoteQty: text(o.cummulativeQuoteQty),
    status: o.status,
    time: o.time,
    updateTime: o.updateTime,
    workingTime: o.workingTime,
    triggered: o.triggered,
  };
  if (o.expiryReason !== undefined) out.expiryReason = o.expiryReason;
  if (o.strategyId !== undefined) out.strategyId = o.strategyId;
  if (o.strategyType !== undefined) out.strategyType = o.strategyType;
  if (o.lock) out.lock = lockIndex(o.lock);
  return out;
}

export function listJson(l: OrderList): OrderListJson {
  return {
    accountId: l.accountId,
    symbol: l.symbol,
    orderListId: l.orderListId,
    listClientOrderId: l.listClientOrderId,
    contingencyType: l.contingencyType,
    listStatusType: l.listStatusType,
    listOrderStatus: l.listOrderStatus,
    transactionTime: l.transactionTime,
    updateTime: l.updateTime,
    orderIds: l.orders.map((o) => o.orderId),
  };
}

export function tradeJson(t: Trade): TradeJson {
  return {
    symbol: t.symbol,
    id: t.id,
    orderId: t.orderId,
    orderListId: t.orderListId,
    accountId: t.accountId,
    price: text(t.price),
    qty: text(t.qty),
    quoteQty: text(t.quoteQty),
    commission: text(t.commission),
    commissionAsset: t.commissionAsset,
    time: t.time,
    isBuyer: t.isBuyer,
    isMaker: t.isMaker,
  };
}

// ---------------------------------------------------------------- reading

/** Reads and cross-checks engine state; `symbols` are the ones the engine trades now. */
export function readEngineState(v: unknown, symbols: ReadonlySet<string>, path = "engine"): EngineState {
  const s = obj(v, path);
  const symbol = (x: unknown, p: string) => {
    const name = str(x, p);
    if (!symbols.has(name)) throw new SnapshotError(`${p}: symbol ${name} is not in the replay data`);
    return name;
  };

  const accounts = arr(s.accounts, `${path}.accounts`).map((x, i) =>
    readAccount(x, `${path}.accounts[${i}]`),
  );
  const accountIds = new Set<number>();
  for (const a of accounts) {
    if (accountIds.has(a.id)) throw new SnapshotError(`${path}.accounts: account ${a.id} appears twice`);
    accountIds.add(a.id);
  }
  const account = (x: unknown, p: string) => {
    const id = int(x, p, 1);
    if (!accountIds.has(id)) throw new SnapshotError(`${p}: no account ${id}`);
    return id;
  };

  const locks: Lock[] = arr(s.locks, `${path}.locks`).map((x, i) => {
    const p = `${path}.locks[${i}]`;
    const l = obj(x, p);
    return {
      asset: str(l.asset, `${p}.asset`, ASSET_RE),
      amount: dec(l.amount, `${p}.amount`),
      users: int(l.users, `${p}.users`, 0),
    };
  });
  const lockUsers = new Map<Lock, number>();

  const orders: Order[] = [];
  const orderById = new Map<number, Order>();
  arr(s.orders, `${path}.orders`).forEach((x, i) => {
    const p = `${path}.orders[${i}]`;
    const o = obj(x, p);
    const order: Order = {
      accountId: account(o.accountId, `${p}.accountId`),
      symbol: symbol(o.symbol, `${p}.symbol`),
      orderId: int(o.orderId, `${p}.orderId`, 1),
      orderListId: int(o.orderListId, `${p}.orderListId`, -1),
      clientOrderId: str(o.clientOrderId, `${p}.clientOrderId`),
      side: oneOf(o.side, `${p}.side`, SIDES),
      type: oneOf(o.type, `${p}.type`, TYPES),
      timeInForce: oneOf(o.timeInForce, `${p}.timeInForce`, TIFS),
      price: dec(o.price, `${p}.price`),
      origQty: dec(o.origQty, `${p}.origQty`),
      stopPrice: dec(o.stopPrice, `${p}.stopPrice`),
      origQuoteOrderQty: dec(o.origQuoteOrderQty, `${p}.origQuoteOrderQty`),
      executedQty: dec(o.executedQty, `${p}.executedQty`),
      cummulativeQuoteQty: dec(o.cummulativeQuoteQty, `${p}.cummulativeQuoteQty`),
      status: oneOf(o.status, `${p}.status`, STATUSES),
      time: int(o.time, `${p}.time`),
      updateTime: int(o.updateTime, `${p}.updateTime`),
      workingTime: int(o.workingTime, `${p}.workingTime`),
      triggered: bool(o.triggered, `${p}.triggered`),
      strategyId: optInt(o.strategyId, `${p}.strategyId`),
      strategyType: optInt(o.strategyType, `${p}.strategyType`),
    };
    if (o.expiryReason !== undefined) order.expiryReason = oneOf(o.expiryReason, `${p}.expiryReason`, EXPIRY);
    if (o.lock !== undefined) {
      const k = int(o.lock, `${p}.lock`, 0);
      if (k >= locks.length) throw new SnapshotError(`${p}.lock: no lock ${k}`);
      if (!isOpenStatus(order.status)) throw new SnapshotError(`${p}: a closed order holds no lock`);
      order.lock = locks[k];
      lockUsers.set(locks[k], (lockUsers.get(locks[k]) ?? 0) + 1);
    }
    if (orderById.has(order.orderId)) throw new SnapshotError(`${p}: order ${order.orderId} appears twice`);
    orderById.set(order.orderId, order);
    orders.push(order);
  });
  for (const [l, n] of lockUsers)
    if (l.users !== n)
      throw new SnapshotError(`${path}.locks: a lock counts ${l.users} users but ${n} orders hold it`);

  const lists: OrderList[] = [];
  const listIds = new Set<number>();
  arr(s.lists, `${path}.lists`).forEach((x, i) => {
    const p = `${path}.lists[${i}]`;
    const l = obj(x, p);
    const accountId = account(l.accountId, `${p}.accountId`);
    const orderListId = int(l.orderListId, `${p}.orderListId`, 1);
    const legs = arr(l.orderIds, `${p}.orderIds`).map((id, j) => {
      const o = orderById.get(int(id, `${p}.orderIds[${j}]`, 1));
      if (!o || o.accountId !== accountId || o.orderListId !== orderListId)
        throw new SnapshotError(`${p}.orderIds[${j}]: no order of this list with id ${String(id)}`);
      return o;
    });
    if (listIds.has(orderListId)) throw new SnapshotError(`${p}: list ${orderListId} appears twice`);
    listIds.add(orderListId);
    lists.push({
      accountId,
      symbol: symbol(l.symbol, `${p}.symbol`),
      orderListId,
      listClientOrderId: str(l.listClientOrderId, `${p}.listClientOrderId`),
      contingencyType: oneOf(l.contingencyType, `${p}.contingencyType`, ["OCO"] as const),
      listStatusType: oneOf(l.listStatusType, `${p}.listStatusType`, LIST_STATUS_TYPES),
      listOrderStatus: oneOf(l.listOrderStatus, `${p}.listOrderStatus`, LIST_ORDER_STATUSES),
      transactionTime: int(l.transactionTime, `${p}.transactionTime`),
      updateTime: int(l.updateTime, `${p}.updateTime`),
      orders: legs,
    });
  });
  // an open leg must still be tied to its list, or a fill would not expire the other leg
  for (const o of orders)
    if (o.orderListId !== -1 && isOpenStatus(o.status) && !listIds.has(o.orderListId))
      throw new SnapshotError(
        `${path}.orders: open order ${o.orderId} belongs to a missing list ${o.orderListId}`,
      );

  const trades: Trade[] = arr(s.trades, `${path}.trades`).map((x, i) => {
    const p = `${path}.trades[${i}]`;
    const t = obj(x, p);
    return {
      symbol: symbol(t.symbol, `${p}.symbol`),
      id: int(t.id, `${p}.id`, 1),
      orderId: int(t.orderId, `${p}.orderId`, 1),
      orderListId: int(t.orderListId, `${p}.orderListId`, -1),
      accountId: account(t.accountId, `${p}.accountId`),
      price: dec(t.price, `${p}.price`),
      qty: dec(t.qty, `${p}.qty`),
      quoteQty: dec(t.quoteQty, `${p}.quoteQty`),
      commission: dec(t.commission, `${p}.commission`),
      commissionAsset: str(t.commissionAsset, `${p}.commissionAsset`, ASSET_RE),
      time: int(t.time, `${p}.time`),
      isBuyer: bool(t.isBuyer, `${p}.isBuyer`),
      isMaker: bool(t.isMaker, `${p}.isMaker`),
    };
  });

  const seqObj = obj(s.tradeSeq, `${path}.tradeSeq`);
  const tradeSeq = new Map<string, number>();
  for (const [k, n] of Object.entries(seqObj))
    tradeSeq.set(symbol(k, `${path}.tradeSeq`), int(n, `${path}.tradeSeq.${k}`, 0));

  const out: EngineState = {
    nextOrderId: int(s.nextOrderId, `${path}.nextOrderId`, 1),
    nextListId: int(s.nextListId, `${path}.nextListId`, 1),
    nextAccountId: int(s.nextAccountId, `${path}.nextAccountId`, 1),
    nextExecutionId: int(s.nextExecutionId, `${path}.nextExecutionId`, 1),
    rng: int(s.rng, `${path}.rng`, 1),
    tradeSeq,
    accounts,
    orders,
    lists,
    trades,
  };
  // counters behind every id must lie past the ids in use, or a new order would reuse one
  const past = (counter: number, ids: Iterable<number>, what: string) => {
    for (const id of ids)
      if (id >= counter)
        throw new SnapshotError(`${path}: ${what} ${id} is not below its counter ${counter}`);
  };
  past(out.nextOrderId, orderById.keys(), "order id");
  past(out.nextListId, listIds, "order list id");
  past(out.nextAccountId, accountIds, "account id");
  for (const t of trades)
    if (t.id > (tradeSeq.get(t.symbol) ?? 0))
      throw new SnapshotError(`${path}: trade id ${t.id} of ${t.symbol} is past its counter`);
  return out;
}

function readAccount(x: unknown, p: string): AccountState {
  const a = obj(x, p);
  const balances = new Map<string, Balance>();
  for (const [asset, b] of Object.entries(obj(a.balances, `${p}.balances`))) {
    str(asset, `${p}.balances`, ASSET_RE);
    const bo = obj(b, `${p}.balances.${asset}`);
    balances.set(asset, {
      free: dec(bo.free, `${p}.balances.${asset}.free`),
      locked: dec(bo.locked, `${p}.balances.${asset}.locked`),
    });
  }
  const c = obj(a.commission, `${p}.commission`);
  return {
    id: int(a.id, `${p}.id`, 1),
    balances,
    commission: {
      maker: dec(c.maker, `${p}.commission.maker`),
      taker: dec(c.taker, `${p}.commission.taker`),
    },
    commissionAsset: oneOf(c.asset, `${p}.commission.asset`, ["received", "quote"] as const),
    updateTime: int(a.updateTime, `${p}.updateTime`),
  };
}
