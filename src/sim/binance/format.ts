// Engine values → Binance JSON, field for field as the venue sends them (docs/exchange-contract.md:
// Orders, OCO order lists, User-data stream). Prices and quantities are strings with 8 decimals,
// ids and times are numbers.
import { Decimal } from "../../core/money/decimal";
import type {
  AccountState,
  EngineEvent,
  Fill,
  OrderList,
  OrderSnapshot,
  RespType,
  Trade,
} from "../engine/types";

const f8 = (d: Decimal) => d.toFixed(8);
const ZERO8 = "0.00000000";

function withConditional(
  o: OrderSnapshot,
  out: Record<string, unknown>,
  includeStop: boolean,
): Record<string, unknown> {
  if (includeStop && o.stopPrice.isPositive()) out.stopPrice = f8(o.stopPrice);
  if (o.strategyId !== undefined) out.strategyId = o.strategyId;
  if (o.strategyType !== undefined) out.strategyType = o.strategyType;
  return out;
}

export function orderAck(o: OrderSnapshot, transactTime: number): Record<string, unknown> {
  return {
    symbol: o.symbol,
    orderId: o.orderId,
    orderListId: o.orderListId,
    clientOrderId: o.clientOrderId,
    transactTime,
  };
}

export function orderResult(o: OrderSnapshot, transactTime: number): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ...orderAck(o, transactTime),
    price: f8(o.price),
    origQty: f8(o.origQty),
    executedQty: f8(o.executedQty),
    origQuoteOrderQty: f8(o.origQuoteOrderQty),
    cummulativeQuoteQty: f8(o.cummulativeQuoteQty),
    status: o.status,
    timeInForce: o.timeInForce,
    type: o.type,
    side: o.side,
  };
  withConditional(o, out, true);
  out.workingTime = o.workingTime;
  out.selfTradePreventionMode = "NONE";
  if (o.expiryReason) out.expiryReason = o.expiryReason;
  return out;
}

export function fillJson(f: Fill): Record<string, unknown> {
  return {
    price: f8(f.price),
    qty: f8(f.qty),
    commission: f8(f.commission),
    commissionAsset: f.commissionAsset,
    tradeId: f.tradeId,
  };
}

export function orderResponse(
  o: OrderSnapshot,
  transactTime: number,
  fills: Fill[],
  type: RespType,
): Record<string, unknown> {
  if (type === "ACK") return orderAck(o, transactTime);
  const out = orderResult(o, transactTime);
  if (type === "FULL") out.fills = fills.map(fillJson);
  return out;
}

/** Default response type: FULL for MARKET and LIMIT, ACK for every other type. */
export function defaultRespType(type: string): RespType {
  return type === "MARKET" || type === "LIMIT" ? "FULL" : "ACK";
}

/** GET /api/v3/order, openOrders, allOrders. */
export function orderQuery(o: OrderSnapshot): Record<string, unknown> {
  const out: Record<string, unknown> = {
    symbol: o.symbol,
    orderId: o.orderId,
    orderListId: o.orderListId,
    clientOrderId: o.clientOrderId,
    price: f8(o.price),
    origQty: f8(o.origQty),
    executedQty: f8(o.executedQty),
    cummulativeQuoteQty: f8(o.cummulativeQuoteQty),
    status: o.status,
    timeInForce: o.timeInForce,
    type: o.type,
    side: o.side,
    stopPrice: f8(o.stopPrice),
    icebergQty: ZERO8,
    time: o.time,
    updateTime: o.updateTime,
    isWorking: o.workingTime !== -1,
    workingTime: o.workingTime,
    origQuoteOrderQty: f8(o.origQuoteOrderQty),
    selfTradePreventionMode: "NONE",
  };
  if (o.strategyId !== undefined) out.strategyId = o.strategyId;
  if (o.strategyType !== undefined) out.strategyType = o.strategyType;
  if (o.expiryReason) out.expiryReason = o.expiryReason;
  return out;
}

/** DELETE /api/v3/order (and each cancelled order inside list reports). */
export function cancelReport(
  o: OrderSnapshot,
  cancelClientOrderId: string,
  transactTime: number,
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    symbol: o.symbol,
    origClientOrderId: o.clientOrderId,
    orderId: o.orderId,
    orderListId: o.orderListId,
    clientOrderId: cancelClientOrderId,
    transactTime,
    price: f8(o.price),
    origQty: f8(o.origQty),
    executedQty: f8(o.executedQty),
    origQuoteOrderQty: f8(o.origQuoteOrderQty),
    cummulativeQuoteQty: f8(o.cummulativeQuoteQty),
    status: o.status,
    timeInForce: o.timeInForce,
    type: o.type,
    side: o.side,
  };
  withConditional(o, out, true);
  out.selfTradePreventionMode = "NONE";
  return out;
}

export function listJson(
  list: OrderList,
  transactionTime = list.transactionTime,
  listStatusType = list.listStatusType,
): Record<string, unknown> {
  return {
    orderListId: list.orderListId,
    contingencyType: list.contingencyType,
    listStatusType,
    listOrderStatus: list.listOrderStatus,
    listClientOrderId: list.listClientOrderId,
    transactionTime,
    symbol: list.symbol,
    orders: list.orders.map((o) => ({
      symbol: o.symbol,
      orderId: o.orderId,
      clientOrderId: o.clientOrderId,
    })),
  };
}

/** POST /api/v3/orderList/oco and /api/v3/order/oco. */
export function listPlacement(
  list: OrderList,
  legs: OrderSnapshot[],
  type: RespType,
): Record<string, unknown> {
  const out = listJson(list, list.transactionTime, "EXEC_STARTED");
  out.listOrderStatus = "EXECUTING";
  out.orderReports = legs.map((o) => {
    if (type === "ACK") return orderAck(o, list.transactionTime);
    const r = orderResult(o, list.transactionTime);
    if (type === "FULL") r.fills = [];
    return r;
  });
  return out;
}

export function listCancel(
  list: OrderList,
  reports: { order: OrderSnapshot; cancelClientOrderId: string }[],
  time: number,
): Record<string, unknown> {
  const out = listJson(list, time, "ALL_DONE");
  out.orderReports = reports.map((r) => cancelReport(r.order, r.cancelClientOrderId, time));
  return out;
}

export function tradeJson(t: Trade): Record<string, unknown> {
  return {
    symbol: t.symbol,
    id: t.id,
    orderId: t.orderId,
    orderListId: t.orderListId,
    price: f8(t.price),
    qty: f8(t.qty),
    quoteQty: f8(t.quoteQty),
    commission: f8(t.commission),
    commissionAsset: t.commissionAsset,
    time: t.time,
    isBuyer: t.isBuyer,
    isMaker: t.isMaker,
    isBestMatch: true,
  };
}

export interface AccountExtras {
  uid: number;
  canTrade: boolean;
  canWithdraw: boolean;
  canDeposit: boolean;
  omitZeroBalances: boolean;
}

export function accountJson(acc: AccountState, x: AccountExtras): Record<string, unknown> {
  const bps = (d: Decimal) => Number(d.mul(Decimal.from(10000)).round(0, "halfUp").toString());
  const balances = [...acc.balances.entries()]
    .filter(([, b]) => !x.omitZeroBalances || !b.free.add(b.locked).isZero())
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([asset, b]) => ({ asset, free: f8(b.free), locked: f8(b.locked) }));
  return {
    makerCommission: bps(acc.commission.maker),
    takerCommission: bps(acc.commission.taker),
    buyerCommission: 0,
    sellerCommission: 0,
    commissionRates: {
      maker: f8(acc.commission.maker),
      taker: f8(acc.commission.taker),
      buyer: ZERO8,
      seller: ZERO8,
    },
    canTrade: x.canTrade,
    canWithdraw: x.canWithdraw,
    canDeposit: x.canDeposit,
    brokered: false,
    requireSelfTradePrevention: false,
    preventSor: false,
    updateTime: acc.updateTime,
    accountType: "SPOT",
    balances,
    permissions: ["SPOT"],
    uid: x.uid,
  };
}

/** A user-data event in its raw (unwrapped) form. */
export function userEventJson(ev: EngineEvent): Record<string, unknown> {
  switch (ev.kind) {
    case "execution": {
      const o = ev.order;
      const fill = ev.fill;
      const out: Record<string, unknown> = {
        e: "executionReport",
        E: ev.time,
        s: o.symbol,
        c: ev.cancelClientOrderId ?? o.clientOrderId,
        S: o.side,
        o: o.type,
        f: o.timeInForce,
        q: f8(o.origQty),
        p: f8(o.price),
        P: f8(o.stopPrice),
        F: ZERO8,
        g: o.orderListId,
        C: ev.cancelClientOrderId !== undefined ? o.clientOrderId : "",
        x: ev.execType,
        X: o.status,
        r: "NONE",
        i: o.orderId,
        l: fill ? f8(fill.qty) : ZERO8,
        z: f8(o.executedQty),
        L: fill ? f8(fill.price) : ZERO8,
        n: fill ? f8(fill.commission) : "0",
        N: fill ? fill.commissionAsset : null,
        T: ev.time,
        t: fill ? fill.tradeId : -1,
        I: ev.executionId,
        w: (o.status === "NEW" || o.status === "PARTIALLY_FILLED") && o.workingTime !== -1,
        m: fill ? fill.isMaker : false,
        M: false,
        O: o.time,
        Z: f8(o.cummulativeQuoteQty),
        Y: fill ? f8(fill.qty.mul(fill.price)) : ZERO8,
        Q: f8(o.origQuoteOrderQty),
      };
      if (o.workingTime !== -1) out.W = o.workingTime;
      out.V = "NONE";
      if (o.strategyId !== undefined) out.j = o.strategyId;
      if (o.strategyType !== undefined) out.J = o.strategyType;
      if (ev.execType === "EXPIRED" && o.expiryReason) out.eR = o.expiryReason;
      return out;
    }
    case "account":
      return {
        e: "outboundAccountPosition",
        E: ev.time,
        u: ev.time,
        B: ev.balances.map((b) => ({ a: b.asset, f: f8(b.free), l: f8(b.locked) })),
      };
    case "balance":
      return { e: "balanceUpdate", E: ev.time, a: ev.asset, d: f8(ev.delta), T: ev.time };
    case "listStatus":
      return {
        e: "listStatus",
        E: ev.time,
        s: ev.list.symbol,
        g: ev.list.orderListId,
        c: ev.list.contingencyType,
        l: ev.list.listStatusType,
        L: ev.list.listOrderStatus,
        r: "NONE",
        C: ev.list.listClientOrderId,
        T: ev.time,
        O: ev.orders.map((o) => ({ s: o.symbol, i: o.orderId, c: o.clientOrderId })),
      };
  }
}
