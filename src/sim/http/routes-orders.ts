// Trading endpoints (docs/exchange-contract.md, Orders and OCO order lists): orders, order lists
// (both OCO routes map onto one engine), open orders and history.
import { Decimal } from "../../core/money/decimal";
import { BinanceError, err } from "../binance/errors";
import {
  cancelReport,
  defaultRespType,
  listCancel,
  listJson,
  listPlacement,
  orderQuery,
  orderResponse,
} from "../binance/format";
import type { SimCore } from "../venue/venue";
import {
  ORDER_TYPES,
  SIDES,
  TIME_IN_FORCE,
  type NewOcoRequest,
  type NewOrderRequest,
  type OcoLegRequest,
  type OrderType,
  type RespType,
  type Side,
} from "../engine/types";
import type { Params } from "./params";
import { ok, type Route } from "./route";

const RESP_TYPES: readonly RespType[] = ["ACK", "RESULT", "FULL"];
const DAY = 86_400_000;

function side(p: Params): Side {
  const s = p.oneOf("side", SIDES, err.side);
  if (s === undefined) throw err.mandatory("side");
  return s;
}

function noTrailing(p: Params, name = "trailingDelta"): void {
  if (p.has(name)) throw err.rejected("Trailing stop orders are not supported for this symbol.");
}

export function newOrderRequest(p: Params): NewOrderRequest {
  const symbol = p.req("symbol");
  const s = side(p);
  const type = p.oneOf("type", ORDER_TYPES, err.orderType);
  if (type === undefined) throw err.mandatory("type");
  noTrailing(p);
  if (p.has("pegPriceType")) throw err.rejected("Pegged orders are not supported for this symbol.");
  return {
    symbol,
    side: s,
    type,
    timeInForce: p.oneOf("timeInForce", TIME_IN_FORCE, err.tif),
    quantity: p.decimal("quantity"),
    quoteOrderQty: p.decimal("quoteOrderQty"),
    price: p.decimal("price"),
    stopPrice: p.decimal("stopPrice"),
    icebergQty: p.decimal("icebergQty"),
    newClientOrderId: p.str("newClientOrderId"),
    strategyId: p.int("strategyId"),
    strategyType: p.int("strategyType"),
  };
}

function respType(p: Params, fallback: RespType): RespType {
  return p.oneOf("newOrderRespType", RESP_TYPES, () => err.invalidParam("newOrderRespType")) ?? fallback;
}

function ocoLeg(p: Params, prefix: "above" | "below"): OcoLegRequest {
  const type = p.oneOf(`${prefix}Type`, ORDER_TYPES, err.ocoType);
  if (type === undefined) throw err.mandatory(`${prefix}Type`);
  noTrailing(p, `${prefix}TrailingDelta`);
  return {
    type,
    clientOrderId: p.str(`${prefix}ClientOrderId`),
    price: p.decimal(`${prefix}Price`),
    stopPrice: p.decimal(`${prefix}StopPrice`),
    timeInForce: p.oneOf(`${prefix}TimeInForce`, TIME_IN_FORCE, err.tif),
    icebergQty: p.decimal(`${prefix}IcebergQty`),
    strategyId: p.int(`${prefix}StrategyId`),
    strategyType: p.int(`${prefix}StrategyType`),
  };
}

/** POST /api/v3/orderList/oco parameters. */
export function ocoRequest(p: Params): NewOcoRequest {
  return {
    symbol: p.req("symbol"),
    side: side(p),
    quantity: p.reqDecimal("quantity"),
    listClientOrderId: p.str("listClientOrderId"),
    above: ocoLeg(p, "above"),
    below: ocoLeg(p, "below"),
  };
}

/** The deprecated POST /api/v3/order/oco parameters, mapped onto the same above/below legs. */
export function legacyOcoRequest(p: Params): NewOcoRequest {
  const s = side(p);
  noTrailing(p);
  const price = p.reqDecimal("price");
  const stopPrice = p.reqDecimal("stopPrice");
  const stopLimitPrice = p.decimal("stopLimitPrice");
  const stopLimitTif = p.oneOf("stopLimitTimeInForce", TIME_IN_FORCE, err.tif);
  if (stopLimitPrice !== undefined && stopLimitTif === undefined) throw err.mandatory("stopLimitTimeInForce");
  if (stopLimitPrice === undefined && stopLimitTif !== undefined)
    throw err.notRequired("stopLimitTimeInForce");
  const limitLeg: OcoLegRequest = {
    type: "LIMIT_MAKER",
    clientOrderId: p.str("limitClientOrderId"),
    price,
    icebergQty: p.decimal("limitIcebergQty"),
    strategyId: p.int("limitStrategyId"),
    strategyType: p.int("limitStrategyType"),
  };
  const stopType: OrderType = stopLimitPrice !== undefined ? "STOP_LOSS_LIMIT" : "STOP_LOSS";
  const stopLeg: OcoLegRequest = {
    type: stopType,
    clientOrderId: p.str("stopClientOrderId"),
    stopPrice,
    price: stopLimitPrice,
    timeInForce: stopLimitTif,
    icebergQty: p.decimal("stopIcebergQty"),
    strategyId: p.int("stopStrategyId"),
    strategyType: p.int("stopStrategyType"),
  };
  // SELL: take-profit limit above the market, stop below; BUY: the mirror image
  return {
    symbol: p.req("symbol"),
    side: s,
    quantity: p.reqDecimal("quantity"),
    listClientOrderId: p.str("listClientOrderId"),
    above: s === "SELL" ? limitLeg : stopLeg,
    below: s === "SELL" ? stopLeg : limitLeg,
  };
}

function rejectOcoFault(core: SimCore, method: string, path: string): void {
  const f = core.faults.take("reject-oco", method, path);
  if (f)
    throw new BinanceError(
      f.spec.code ?? -1013,
      f.spec.msg ?? "Filter failure: PRICE_FILTER",
      f.spec.status ?? 400,
    );
}

function placeOco(core: SimCore, req: NewOcoRequest, accountId: number, type: RespType) {
  const t = core.marketTime();
  const r = core.engine.placeOco(accountId, req, t);
  core.publish(r.events);
  return { body: listPlacement(r.list, r.legs, type), placedOrderIds: r.legs.map((o) => o.orderId) };
}

/** The current and the legacy OCO endpoint differ only in how they name the legs' parameters. */
function ocoRoute(core: SimCore, path: string, parse: (p: Params) => NewOcoRequest): Route {
  return {
    method: "POST",
    path,
    security: "SIGNED",
    permission: "trade",
    weight: 1,
    orderCount: 2,
    handler: (ctx) => {
      const req = parse(ctx.params);
      const type = respType(ctx.params, "RESULT");
      rejectOcoFault(core, ctx.method, ctx.path);
      return placeOco(core, req, ctx.account!.id, type);
    },
  };
}

function orderRef(p: Params): { orderId?: number; origClientOrderId?: string } {
  return { orderId: p.int("orderId"), origClientOrderId: p.str("origClientOrderId") };
}

export function orderRoutes(core: SimCore): Route[] {
  return [
    {
      method: "POST",
      path: "/api/v3/order",
      security: "SIGNED",
      permission: "trade",
      weight: 1,
      orderCount: 1,
      handler: (ctx) => {
        const req = newOrderRequest(ctx.params);
        const type = respType(ctx.params, defaultRespType(req.type));
        const t = core.marketTime();
        const thin =
          req.type === "MARKET" ? core.faults.take("partial-fill", ctx.method, ctx.path) : undefined;
        const r = thin
          ? core.engine.placeThinMarket(ctx.account!.id, req, t, Decimal.parse(thin.spec.ratio ?? "0.5"))
          : core.engine.placeOrder(ctx.account!.id, req, t);
        core.publish(r.events);
        return { body: orderResponse(r.order, t, r.fills, type), placedOrderIds: [r.order.orderId] };
      },
    },
    {
      method: "POST",
      path: "/api/v3/order/test",
      security: "SIGNED",
      permission: "trade",
      weight: (p) => (p.bool("computeCommissionRates") ? 20 : 1),
      handler: (ctx) => {
        const req = newOrderRequest(ctx.params);
        respType(ctx.params, "ACK");
        core.replay.sync();
        core.engine.testOrder(ctx.account!.id, req);
        if (!ctx.params.bool("computeCommissionRates")) return ok({});
        const c = core.engine.account(ctx.account!.id).commission;
        const z = "0.00000000";
        return ok({
          standardCommissionForOrder: { maker: c.maker.toFixed(8), taker: c.taker.toFixed(8) },
          specialCommissionForOrder: { maker: z, taker: z },
          taxCommissionForOrder: { maker: z, taker: z },
          discount: { enabledForAccount: false, enabledForSymbol: false, discountAsset: "BNB", discount: z },
        });
      },
    },
    {
      method: "GET",
      path: "/api/v3/order",
      security: "SIGNED",
      permission: "read",
      weight: 4,
      handler: (ctx) => {
        const symbol = ctx.params.req("symbol");
        core.replay.sync();
        const o = core.engine.getOrder(ctx.account!.id, symbol, orderRef(ctx.params));
        if (core.isHidden(o.orderId)) throw err.noSuchOrder();
        return ok(orderQuery(o));
      },
    },
    {
      method: "DELETE",
      path: "/api/v3/order",
      security: "SIGNED",
      permission: "trade",
      weight: 1,
      handler: (ctx) => {
        const p = ctx.params;
        const symbol = p.req("symbol");
        const restrictions = p.oneOf(
          "cancelRestrictions",
          ["ONLY_NEW", "ONLY_PARTIALLY_FILLED"] as const,
          err.cancelRestrictionsParam,
        );
        const t = core.marketTime();
        const r = core.engine.cancelOrder(
          ctx.account!.id,
          symbol,
          orderRef(p),
          t,
          p.str("newClientOrderId"),
          restrictions,
        );
        core.publish(r.events);
        return ok(cancelReport(r.order, r.cancelClientOrderId, t));
      },
    },
    {
      method: "GET",
      path: "/api/v3/openOrders",
      security: "SIGNED",
      permission: "read",
      weight: (p) => (p.has("symbol") ? 6 : 80),
      handler: (ctx) => {
        core.replay.sync();
        return ok(core.engine.openOrders(ctx.account!.id, ctx.params.str("symbol")).map(orderQuery));
      },
    },
    {
      method: "DELETE",
      path: "/api/v3/openOrders",
      security: "SIGNED",
      permission: "trade",
      weight: 1,
      handler: (ctx) => {
        const symbol = ctx.params.req("symbol");
        const t = core.marketTime();
        const r = core.engine.cancelAllOpen(ctx.account!.id, symbol, t);
        core.publish(r.events);
        const out: unknown[] = [];
        for (const s of r.single) out.push(cancelReport(s.order, s.cancelClientOrderId, t));
        for (const l of r.lists) out.push(listCancel(l.list, l.reports, t));
        return ok(out);
      },
    },
    {
      method: "GET",
      path: "/api/v3/allOrders",
      security: "SIGNED",
      permission: "read",
      weight: 20,
      handler: (ctx) => {
        const p = ctx.params;
        const symbol = p.req("symbol");
        const startTime = p.time("startTime");
        const endTime = p.time("endTime");
        if (startTime !== undefined && endTime !== undefined && endTime - startTime > DAY)
          throw new BinanceError(-1127, "More than 24 hours between startTime and endTime.");
        core.replay.sync();
        const rows = core.engine.allOrders(ctx.account!.id, symbol, {
          orderId: p.int("orderId"),
          startTime,
          endTime,
          limit: p.limit("limit", 500, 1000),
        });
        return ok(rows.map(orderQuery));
      },
    },
    ocoRoute(core, "/api/v3/orderList/oco", ocoRequest),
    ocoRoute(core, "/api/v3/order/oco", legacyOcoRequest),
    {
      method: "DELETE",
      path: "/api/v3/orderList",
      security: "SIGNED",
      permission: "trade",
      weight: 1,
      handler: (ctx) => {
        const p = ctx.params;
        const symbol = p.req("symbol");
        const t = core.marketTime();
        const r = core.engine.cancelOrderList(
          ctx.account!.id,
          symbol,
          { orderListId: p.int("orderListId"), listClientOrderId: p.str("listClientOrderId") },
          t,
          p.str("newClientOrderId"),
        );
        core.publish(r.events);
        return ok(listCancel(r.list, r.reports, t));
      },
    },
    {
      method: "GET",
      path: "/api/v3/orderList",
      security: "SIGNED",
      permission: "read",
      weight: 4,
      handler: (ctx) => {
        core.replay.sync();
        const l = core.engine.getOrderList(ctx.account!.id, {
          orderListId: ctx.params.int("orderListId"),
          listClientOrderId: ctx.params.str("origClientOrderId"),
        });
        return ok(listJson(l));
      },
    },
    {
      method: "GET",
      path: "/api/v3/openOrderList",
      security: "SIGNED",
      permission: "read",
      weight: 6,
      handler: (ctx) => {
        core.replay.sync();
        return ok(core.engine.openOrderLists(ctx.account!.id).map((l) => listJson(l)));
      },
    },
    {
      method: "GET",
      path: "/api/v3/allOrderList",
      security: "SIGNED",
      permission: "read",
      weight: 20,
      handler: (ctx) => {
        const p = ctx.params;
        const fromId = p.int("fromId");
        const startTime = p.time("startTime");
        const endTime = p.time("endTime");
        if (fromId !== undefined && (startTime !== undefined || endTime !== undefined))
          throw new BinanceError(-1128, "Combination of optional parameters invalid.");
        core.replay.sync();
        return ok(
          core.engine
            .allOrderLists(ctx.account!.id, {
              fromId,
              startTime,
              endTime,
              limit: p.limit("limit", 500, 1000),
            })
            .map((l) => listJson(l)),
        );
      },
    },
  ];
}
