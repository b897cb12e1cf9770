// OCO lists: placement checks, one leg filling expires the other (eR OCO_TRIGGER, list ALL_DONE),
// cancels, the shared lock, and the user-data event order of docs/exchange-contract.md.
import { D, engineAt, executions, trail, walkCandle } from "./helpers";
import type { EngineEvent, NewOcoRequest } from "../../../src/sim/engine/types";

const sellOco = (extra: Partial<NewOcoRequest> = {}): NewOcoRequest => ({
  symbol: "BTCUSDT",
  side: "SELL",
  quantity: D("1"),
  above: { type: "LIMIT_MAKER", price: D("108") },
  below: { type: "STOP_LOSS_LIMIT", stopPrice: D("96"), price: D("95.5"), timeInForce: "GTC" },
  ...extra,
});

const buyOco = (): NewOcoRequest => ({
  symbol: "BTCUSDT",
  side: "BUY",
  quantity: D("1"),
  above: { type: "STOP_LOSS", stopPrice: D("109") },
  below: { type: "LIMIT_MAKER", price: D("97") },
});

function listEvents(events: EngineEvent[]) {
  return events.filter((e): e is Extract<EngineEvent, { kind: "listStatus" }> => e.kind === "listStatus");
}

describe("OCO order lists", () => {
  it("places both legs with one shared lock and the placement events in Binance order", () => {
    const { engine, accountId } = engineAt("100");
    const r = engine.placeOco(accountId, sellOco({ listClientOrderId: "list-1" }), 10);
    expect(r.list.listClientOrderId).toBe("list-1");
    expect(r.legs.map((o) => [o.type, o.orderListId, o.workingTime])).toEqual([
      ["STOP_LOSS_LIMIT", r.list.orderListId, -1],
      ["LIMIT_MAKER", r.list.orderListId, 10],
    ]);
    const [stop, limit] = r.legs;
    expect(trail(r.events)).toEqual([
      "list:EXEC_STARTED",
      `exec:NEW:${stop.orderId}`,
      `exec:NEW:${limit.orderId}`,
      "account",
    ]);
    // the base quantity is locked once, not per leg
    const btc = engine.balance(accountId, "BTC");
    expect([btc.free.toString(), btc.locked.toString()]).toEqual(["9", "1"]);
  });

  it("limit leg fills → stop leg EXPIRED with OCO_TRIGGER → list ALL_DONE → account", () => {
    const { engine, accountId } = engineAt("100");
    const r = engine.placeOco(accountId, sellOco(), 10);
    const [stop, limit] = r.legs;
    // high first (open 100 nearer the high 109): the limit leg at 108 fills before the low
    const events = walkCandle(engine, ["100", "109", "90", "91"]);
    expect(trail(events)).toEqual([
      `exec:TRADE:${limit.orderId}`,
      `exec:EXPIRED:${stop.orderId}`,
      "list:ALL_DONE",
      "account",
    ]);
    const expired = executions(events).find((e) => e.execType === "EXPIRED")!;
    expect(expired.order.expiryReason).toBe("OCO_TRIGGER");
    expect(listEvents(events)[0].list.listOrderStatus).toBe("ALL_DONE");
    expect(engine.getOrder(accountId, "BTCUSDT", { orderId: stop.orderId }).status).toBe("EXPIRED");
    expect(engine.openOrders(accountId)).toHaveLength(0);
    const btc = engine.balance(accountId, "BTC");
    expect([btc.free.toString(), btc.locked.toString()]).toEqual(["9", "0"]);
    // 108 USDT minus 0.1 % commission
    expect(engine.balance(accountId, "USDT").free.toString()).toBe("100107.892");
  });

  it("stop leg triggers → limit leg expires even before the stop-limit fills", () => {
    const { engine, accountId } = engineAt("100");
    const r = engine.placeOco(
      accountId,
      sellOco({ below: { type: "STOP_LOSS_LIMIT", stopPrice: D("96"), price: D("97"), timeInForce: "GTC" } }),
      10,
    );
    const [stop, limit] = r.legs;
    const events = walkCandle(engine, ["100", "101", "95", "95.5"]);
    // triggered at 96 with limit 97 above it: not marketable, rests; the limit-maker leg expires at once
    expect(trail(events).slice(0, 3)).toEqual([`exec:EXPIRED:${limit.orderId}`, "list:ALL_DONE", "account"]);
    const s = engine.getOrder(accountId, "BTCUSDT", { orderId: stop.orderId });
    expect([s.status, s.workingTime !== -1]).toEqual(["NEW", true]);
    // the lock stays with the working stop leg until it fills or is cancelled
    expect(engine.balance(accountId, "BTC").locked.toString()).toBe("1");
    walkCandle(engine, ["95.5", "98", "95", "97.5"], 2000);
    expect(engine.getOrder(accountId, "BTCUSDT", { orderId: stop.orderId }).status).toBe("FILLED");
    expect(engine.balance(accountId, "BTC").locked.isZero()).toBe(true);
  });

  it("BUY OCO: the stop above the market fills and the limit below expires", () => {
    const { engine, accountId } = engineAt("100");
    const r = engine.placeOco(accountId, buyOco(), 10);
    // the quote lock covers the dearer leg
    expect(engine.balance(accountId, "USDT").locked.toString()).toBe("109");
    const [stop, limit] = r.legs;
    const events = walkCandle(engine, ["100", "112", "99", "111"]);
    expect(trail(events)).toEqual([
      `exec:TRADE:${stop.orderId}`,
      `exec:EXPIRED:${limit.orderId}`,
      "list:ALL_DONE",
      "account",
    ]);
    expect(executions(events)[0].fill!.price.toString()).toBe("109");
    expect(engine.balance(accountId, "USDT").locked.isZero()).toBe(true);
    expect(engine.balance(accountId, "USDT").free.toString()).toBe("99891");
  });

  it("cancelling one leg cancels the whole list", () => {
    const { engine, accountId } = engineAt("100");
    const r = engine.placeOco(accountId, sellOco(), 10);
    const [stop, limit] = r.legs;
    const c = engine.cancelOrder(accountId, "BTCUSDT", { orderId: limit.orderId }, 20, "my-cancel");
    expect(c.cancelClientOrderId).toBe("my-cancel");
    expect(c.list!.list.listOrderStatus).toBe("ALL_DONE");
    expect(trail(c.events)).toEqual([
      `exec:CANCELED:${stop.orderId}`,
      `exec:CANCELED:${limit.orderId}`,
      "list:ALL_DONE",
      "account",
    ]);
    expect(engine.balance(accountId, "BTC").locked.isZero()).toBe(true);
    expect(() =>
      engine.cancelOrderList(accountId, "BTCUSDT", { orderListId: r.list.orderListId }, 30),
    ).toThrow("Order list does not exist.");
  });

  it("cancelAllOpen returns single cancels and list reports", () => {
    const { engine, accountId } = engineAt("100");
    engine.placeOco(accountId, sellOco(), 10);
    engine.placeOrder(
      accountId,
      { symbol: "BTCUSDT", side: "BUY", type: "LIMIT", timeInForce: "GTC", quantity: D("1"), price: D("90") },
      10,
    );
    const r = engine.cancelAllOpen(accountId, "BTCUSDT", 20);
    expect(r.single).toHaveLength(1);
    expect(r.lists).toHaveLength(1);
    expect(r.lists[0].reports.map((x) => x.order.status)).toEqual(["CANCELED", "CANCELED"]);
    expect(() => engine.cancelAllOpen(accountId, "BTCUSDT", 30)).toThrow("Unknown order sent.");
  });

  it.each([
    [
      "SELL with the stop above",
      {
        above: { type: "STOP_LOSS" as const, stopPrice: D("105") },
        below: { type: "LIMIT_MAKER" as const, price: D("95") },
      },
      -1166,
    ],
    [
      "BUY with the limit above",
      {
        side: "BUY" as const,
        above: { type: "LIMIT_MAKER" as const, price: D("105") },
        below: { type: "STOP_LOSS" as const, stopPrice: D("95") },
      },
      -1165,
    ],
    [
      "two limit legs",
      {
        above: { type: "LIMIT_MAKER" as const, price: D("105") },
        below: { type: "TAKE_PROFIT" as const, stopPrice: D("95") },
      },
      -1168,
    ],
    [
      "a LIMIT leg",
      { above: { type: "LIMIT" as const, price: D("105"), timeInForce: "GTC" as const } },
      -1158,
    ],
    ["a limit leg below the market", { above: { type: "LIMIT_MAKER" as const, price: D("99") } }, -2010],
    ["a stop above the market", { below: { type: "STOP_LOSS" as const, stopPrice: D("101") } }, -2010],
    ["a missing leg price", { above: { type: "LIMIT_MAKER" as const } }, -1102],
    ["a stop price off the tick", { below: { type: "STOP_LOSS" as const, stopPrice: D("96.005") } }, -1013],
  ])("rejects an OCO with %s", (_name, patch, code) => {
    const { engine, accountId } = engineAt("100");
    let thrown: unknown;
    try {
      engine.placeOco(accountId, { ...sellOco(), ...patch } as NewOcoRequest, 10);
    } catch (e) {
      thrown = e;
    }
    expect((thrown as { code?: number })?.code).toBe(code);
    expect(engine.openOrders(accountId)).toHaveLength(0);
    expect(engine.balance(accountId, "BTC").locked.isZero()).toBe(true);
  });

  it("list client ids are unique among executing lists only", () => {
    const { engine, accountId } = engineAt("100");
    const r = engine.placeOco(accountId, sellOco({ listClientOrderId: "L" }), 10);
    expect(() => engine.placeOco(accountId, sellOco({ listClientOrderId: "L" }), 11)).toThrow(
      "Duplicate order sent.",
    );
    engine.cancelOrderList(accountId, "BTCUSDT", { orderListId: r.list.orderListId }, 12);
    expect(engine.placeOco(accountId, sellOco({ listClientOrderId: "L" }), 13).list.listClientOrderId).toBe(
      "L",
    );
    expect(engine.getOrderList(accountId, { listClientOrderId: "L" }).listOrderStatus).toBe("EXECUTING");
  });
});
