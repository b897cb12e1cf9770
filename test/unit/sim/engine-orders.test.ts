// Order validation with Binance's codes, symbol filters from the shared table (src/core/market/symbols.ts),
// client-id uniqueness among open orders only, cancels and queries.
import { D, engineAt, order } from "./helpers";
import type { NewOrderRequest } from "../../../src/sim/engine/types";

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    const x = e as { code?: number; msg?: string };
    return `${x.code} ${x.msg}`;
  }
  return "no error";
}

describe("order validation", () => {
  const { engine, accountId } = engineAt("27000");
  const place = (o: Parameters<typeof order>[0]) => codeOf(() => engine.placeOrder(accountId, order(o), 1));

  it.each<[string, Parameters<typeof order>[0], string]>([
    [
      "price off the 0.01 tick",
      { type: "LIMIT", price: "27000.005", quantity: "0.001", timeInForce: "GTC" },
      "-1013 Filter failure: PRICE_FILTER",
    ],
    [
      "price above maxPrice",
      { type: "LIMIT", price: "1000000.01", quantity: "0.001", timeInForce: "GTC" },
      "-1013 Filter failure: PRICE_FILTER",
    ],
    [
      "stop price off the tick",
      { type: "STOP_LOSS", side: "SELL", stopPrice: "26000.001", quantity: "0.001" },
      "-1013 Filter failure: PRICE_FILTER",
    ],
    [
      "quantity off the 0.00001 step",
      { type: "LIMIT", price: "20000", quantity: "0.000015", timeInForce: "GTC" },
      "-1013 Filter failure: LOT_SIZE",
    ],
    [
      "quantity below minQty",
      { type: "LIMIT", price: "20000", quantity: "0.000001", timeInForce: "GTC" },
      "-1013 Filter failure: LOT_SIZE",
    ],
    [
      "quantity above maxQty",
      { type: "LIMIT", price: "1", quantity: "9000.00001", timeInForce: "GTC" },
      "-1013 Filter failure: LOT_SIZE",
    ],
    [
      "market quantity above MARKET_LOT_SIZE",
      { type: "MARKET", quantity: "100.00001" },
      "-1013 Filter failure: MARKET_LOT_SIZE",
    ],
    [
      "notional below 5",
      { type: "LIMIT", price: "20000", quantity: "0.00024", timeInForce: "GTC" },
      "-1013 Filter failure: NOTIONAL",
    ],
    ["market notional below 5", { type: "MARKET", quantity: "0.00018" }, "-1013 Filter failure: NOTIONAL"],
    [
      "quote order qty below min notional",
      { type: "MARKET", quoteOrderQty: "4.99" },
      "-1013 Filter failure: NOTIONAL",
    ],
    [
      "notional above maxNotional",
      { type: "LIMIT", price: "1000000", quantity: "9.1", timeInForce: "GTC" },
      "-1013 Filter failure: NOTIONAL",
    ],
    [
      "LIMIT without timeInForce",
      { type: "LIMIT", price: "20000", quantity: "0.001" },
      "-1102 Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
    ],
    [
      "LIMIT without price",
      { type: "LIMIT", quantity: "0.001", timeInForce: "GTC" },
      "-1102 Mandatory parameter 'price' was not sent, was empty/null, or malformed.",
    ],
    [
      "MARKET without quantity",
      { type: "MARKET" },
      "-1102 Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
    ],
    [
      "MARKET with a price",
      { type: "MARKET", quantity: "0.001", price: "1" },
      "-1106 Parameter 'price' sent when not required.",
    ],
    [
      "MARKET with both quantities",
      { type: "MARKET", quantity: "0.001", quoteOrderQty: "10" },
      "-1106 Parameter 'quoteOrderQty' sent when not required.",
    ],
    [
      "STOP_LOSS without stopPrice",
      { type: "STOP_LOSS", side: "SELL", quantity: "0.001" },
      "-1102 Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed.",
    ],
    [
      "LIMIT_MAKER with timeInForce",
      { type: "LIMIT_MAKER", price: "20000", quantity: "0.001", timeInForce: "GTC" },
      "-1106 Parameter 'timeInForce' sent when not required.",
    ],
    [
      "a client id with illegal characters",
      { type: "LIMIT", price: "20000", quantity: "0.001", timeInForce: "GTC", newClientOrderId: "bad id!" },
      "-1100 Illegal characters found in parameter 'newClientOrderId'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
    ],
    [
      "more than the balance",
      { type: "LIMIT", price: "20000", quantity: "6", timeInForce: "GTC" },
      "-2010 Account has insufficient balance for requested action.",
    ],
  ])("%s", (_n, o, expected) => {
    expect(place(o)).toBe(expected);
  });

  it("rejects an unknown symbol with -1121", () => {
    expect(
      codeOf(() =>
        engine.placeOrder(
          accountId,
          { ...order({ type: "MARKET", quantity: "1" }), symbol: "DOGEUSDT" } as NewOrderRequest,
          1,
        ),
      ),
    ).toBe("-1121 Invalid symbol.");
  });

  it("enforces MAX_NUM_ORDERS per account and symbol", () => {
    const e = engineAt("100", { maxNumOrders: 3 });
    for (let i = 0; i < 3; i++)
      e.engine.placeOrder(
        e.accountId,
        order({ type: "LIMIT", price: "90", quantity: "0.1", timeInForce: "GTC" }),
        1,
      );
    expect(
      codeOf(() =>
        e.engine.placeOrder(
          e.accountId,
          order({ type: "LIMIT", price: "90", quantity: "0.1", timeInForce: "GTC" }),
          1,
        ),
      ),
    ).toBe("-1013 Filter failure: MAX_NUM_ORDERS");
  });
});

describe("client order ids", () => {
  it("are unique among open orders only (Binance: Duplicate order sent.)", () => {
    const { engine, accountId } = engineAt("100");
    const o = engine.placeOrder(
      accountId,
      order({
        type: "LIMIT",
        price: "90",
        quantity: "0.1",
        timeInForce: "GTC",
        newClientOrderId: "intent-1",
      }),
      1,
    );
    expect(
      codeOf(() =>
        engine.placeOrder(
          accountId,
          order({
            type: "LIMIT",
            price: "91",
            quantity: "0.1",
            timeInForce: "GTC",
            newClientOrderId: "intent-1",
          }),
          2,
        ),
      ),
    ).toBe("-2010 Duplicate order sent.");
    engine.cancelOrder(accountId, "BTCUSDT", { origClientOrderId: "intent-1" }, 3);
    const again = engine.placeOrder(
      accountId,
      order({
        type: "LIMIT",
        price: "92",
        quantity: "0.1",
        timeInForce: "GTC",
        newClientOrderId: "intent-1",
      }),
      4,
    );
    expect(again.order.orderId).not.toBe(o.order.orderId);
    // lookups by client id prefer the open order, then the newest
    expect(engine.getOrder(accountId, "BTCUSDT", { origClientOrderId: "intent-1" }).orderId).toBe(
      again.order.orderId,
    );
    // a filled order frees its id too
    const m = engine.placeOrder(
      accountId,
      order({ type: "MARKET", quantity: "0.1", newClientOrderId: "mkt" }),
      5,
    );
    expect(m.order.status).toBe("FILLED");
    expect(
      engine.placeOrder(accountId, order({ type: "MARKET", quantity: "0.1", newClientOrderId: "mkt" }), 6)
        .order.clientOrderId,
    ).toBe("mkt");
  });

  it("are generated deterministically (22 characters) when not sent", () => {
    const ids = (seed: number) => {
      const { engine, accountId } = engineAt("100", { seed });
      return [1, 2, 3].map(
        () => engine.placeOrder(accountId, order({ type: "MARKET", quantity: "0.1" }), 1).order.clientOrderId,
      );
    };
    expect(ids(7)).toEqual(ids(7));
    expect(ids(7)).not.toEqual(ids(8));
    for (const id of ids(7)) expect(id).toMatch(/^[A-Za-z0-9]{22}$/);
  });
});

describe("cancels and queries", () => {
  it("cancel: -2011 for unknown or closed orders, cancelRestrictions honoured", () => {
    const { engine, accountId } = engineAt("100", { partialFillRatio: "0.5" });
    expect(codeOf(() => engine.cancelOrder(accountId, "BTCUSDT", { orderId: 999 }, 1))).toBe(
      "-2011 Unknown order sent.",
    );
    const o = engine.placeOrder(
      accountId,
      order({ type: "LIMIT", price: "90", quantity: "1", timeInForce: "GTC" }),
      1,
    );
    expect(
      codeOf(() =>
        engine.cancelOrder(
          accountId,
          "BTCUSDT",
          { orderId: o.order.orderId },
          2,
          undefined,
          "ONLY_PARTIALLY_FILLED",
        ),
      ),
    ).toBe("-2011 Order was not canceled due to cancel restrictions.");
    engine.onPrice("BTCUSDT", D("89"), 3);
    expect(
      codeOf(() =>
        engine.cancelOrder(accountId, "BTCUSDT", { orderId: o.order.orderId }, 4, undefined, "ONLY_NEW"),
      ),
    ).toBe("-2011 Order was not canceled due to cancel restrictions.");
    const c = engine.cancelOrder(
      accountId,
      "BTCUSDT",
      { orderId: o.order.orderId, origClientOrderId: o.order.clientOrderId },
      5,
      undefined,
      "ONLY_PARTIALLY_FILLED",
    );
    expect([c.order.status, c.order.executedQty.toString()]).toEqual(["CANCELED", "0.5"]);
    expect(codeOf(() => engine.cancelOrder(accountId, "BTCUSDT", { orderId: o.order.orderId }, 6))).toBe(
      "-2011 Unknown order sent.",
    );
    expect(codeOf(() => engine.getOrder(accountId, "BTCUSDT", { orderId: 12345 }))).toBe(
      "-2013 Order does not exist.",
    );
    expect(codeOf(() => engine.getOrder(accountId, "BTCUSDT", {}))).toBe(
      "-1102 Param 'orderId' or 'origClientOrderId' must be sent, but both were empty/null!",
    );
    // orderId and origClientOrderId must agree
    expect(
      codeOf(() =>
        engine.getOrder(accountId, "BTCUSDT", { orderId: o.order.orderId, origClientOrderId: "other" }),
      ),
    ).toBe("-2013 Order does not exist.");
  });

  it("an account never sees another account's orders", () => {
    const { engine, accountId } = engineAt("100");
    const other = engine.createAccount({ USDT: D("1000") }).id;
    const o = engine.placeOrder(
      accountId,
      order({ type: "LIMIT", price: "90", quantity: "1", timeInForce: "GTC" }),
      1,
    );
    expect(codeOf(() => engine.getOrder(other, "BTCUSDT", { orderId: o.order.orderId }))).toBe(
      "-2013 Order does not exist.",
    );
    expect(codeOf(() => engine.cancelOrder(other, "BTCUSDT", { orderId: o.order.orderId }, 2))).toBe(
      "-2011 Unknown order sent.",
    );
    expect(engine.openOrders(other)).toEqual([]);
  });

  it("allOrders and myTrades follow Binance's windowing (newest by default, oldest from startTime)", () => {
    const { engine, accountId } = engineAt("100");
    for (let t = 1; t <= 10; t++)
      engine.placeOrder(accountId, order({ type: "MARKET", quantity: "0.1" }), t * 1000);
    const ids = (xs: { orderId: number }[]) => xs.map((x) => x.orderId);
    expect(ids(engine.allOrders(accountId, "BTCUSDT", { limit: 3 }))).toEqual([8, 9, 10]);
    expect(ids(engine.allOrders(accountId, "BTCUSDT", { startTime: 3000, limit: 3 }))).toEqual([3, 4, 5]);
    expect(ids(engine.allOrders(accountId, "BTCUSDT", { endTime: 4000, limit: 2 }))).toEqual([3, 4]);
    expect(ids(engine.allOrders(accountId, "BTCUSDT", { startTime: 3000, endTime: 4000 }))).toEqual([3, 4]);
    expect(ids(engine.allOrders(accountId, "BTCUSDT", { orderId: 9 }))).toEqual([9, 10]);
    expect(engine.myTrades(accountId, "BTCUSDT", { fromId: 9 }).map((t) => t.id)).toEqual([9, 10]);
    expect(engine.myTrades(accountId, "BTCUSDT", { orderId: 4 }).map((t) => t.orderId)).toEqual([4]);
    expect(engine.myTrades(accountId, "BTCUSDT", { limit: 2 }).map((t) => t.id)).toEqual([9, 10]);
  });

  it("setBalance emits balanceUpdate then outboundAccountPosition", () => {
    const { engine, accountId } = engineAt("100", {}, { USDT: "100" });
    const ev = engine.setBalance(accountId, "USDT", D("250.5"), 77);
    expect(ev.map((e) => e.kind)).toEqual(["balance", "account"]);
    expect(ev[0].kind === "balance" && ev[0].delta.toString()).toBe("150.5");
    expect(engine.balance(accountId, "USDT").free.toString()).toBe("250.5");
  });
});
