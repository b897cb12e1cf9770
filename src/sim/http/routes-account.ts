// Account endpoints: balances, trade history, key restrictions and the legacy listenKey flow.
import { BinanceError, err } from "../binance/errors";
import { accountJson, tradeJson } from "../binance/format";
import type { SimCore } from "../venue/venue";
import type { Params } from "./params";
import { ok, type Route } from "./route";

const DAY = 86_400_000;

export function tradeQuery(p: Params): {
  orderId?: number;
  fromId?: number;
  startTime?: number;
  endTime?: number;
  limit: number;
} {
  const orderId = p.int("orderId");
  const fromId = p.int("fromId");
  const startTime = p.time("startTime");
  const endTime = p.time("endTime");
  if (fromId !== undefined && (startTime !== undefined || endTime !== undefined))
    throw new BinanceError(-1128, "Combination of optional parameters invalid.");
  if (orderId !== undefined && (startTime !== undefined || endTime !== undefined))
    throw new BinanceError(-1128, "Combination of optional parameters invalid.");
  if (startTime !== undefined && endTime !== undefined) {
    if (startTime > endTime) throw new BinanceError(-1023, "Start time is greater than end time.");
    if (endTime - startTime > DAY)
      throw new BinanceError(-1127, "More than 24 hours between startTime and endTime.");
  }
  return { orderId, fromId, startTime, endTime, limit: p.limit("limit", 500, 1000) };
}

export function accountRoutes(core: SimCore): Route[] {
  return [
    {
      method: "GET",
      path: "/api/v3/account",
      security: "SIGNED",
      permission: "read",
      weight: 20,
      handler: (ctx) => {
        const a = ctx.account!;
        core.replay.sync();
        return ok(
          accountJson(core.engine.account(a.id), {
            uid: 100_000 + a.id,
            canTrade: a.permissions.enableSpotAndMarginTrading,
            canWithdraw: a.permissions.enableWithdrawals,
            canDeposit: true,
            omitZeroBalances: ctx.params.bool("omitZeroBalances") ?? false,
          }),
        );
      },
    },
    {
      method: "GET",
      path: "/api/v3/myTrades",
      security: "SIGNED",
      permission: "read",
      weight: (p) => (p.has("orderId") ? 5 : 20),
      handler: (ctx) => {
        const symbol = ctx.params.req("symbol");
        const q = tradeQuery(ctx.params);
        core.replay.sync();
        return ok(core.engine.myTrades(ctx.account!.id, symbol, q).map(tradeJson));
      },
    },
    {
      method: "GET",
      path: "/sapi/v1/account/apiRestrictions",
      security: "SIGNED",
      weight: 1,
      handler: (ctx) => {
        const a = ctx.account!;
        return ok({
          ...a.permissions,
          createTime: a.createTime,
          tradingAuthorityExpirationTime: a.createTime + 90 * DAY,
        });
      },
    },
    {
      method: "POST",
      path: "/api/v3/userDataStream",
      security: "API_KEY",
      weight: 2,
      handler: (ctx) => ok({ listenKey: core.createListenKey(ctx.account!.id) }),
    },
    {
      method: "PUT",
      path: "/api/v3/userDataStream",
      security: "API_KEY",
      weight: 2,
      handler: (ctx) => {
        if (!core.keepAliveListenKey(ctx.params.req("listenKey"), ctx.account!.id)) throw err.listenKey();
        return ok({});
      },
    },
    {
      method: "DELETE",
      path: "/api/v3/userDataStream",
      security: "API_KEY",
      weight: 2,
      handler: (ctx) => {
        if (!core.deleteListenKey(ctx.params.req("listenKey"), ctx.account!.id)) throw err.listenKey();
        return ok({});
      },
    },
  ];
}
