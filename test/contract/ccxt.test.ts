// The simulator driven by ccxt 4.5.84 exactly as AURA's services use it: ccxt.pro.binance with
// URL overrides and the spot-only options only, checked against the ccxt mapping of
// docs/exchange-contract.md.
import { bundledSeries } from "../../src/adapters/klines/files";
import { Decimal } from "../../src/core/money/decimal";
import type { Simulator } from "../../src/sim";
import { ccxt, ccxtFor, closeCcxt, startSim } from "./helpers";

const HOUR = 3_600_000;
const FROM = Date.parse("2023-06-01T00:00:00Z");
const rows = bundledSeries("BTCUSDT", "1h");
const rowAt = (t: number) => rows.find((r) => r[0] === t)!;
const num = (r: readonly any[]) => [r[0], +r[1], +r[2], +r[3], +r[4], +r[5]];

let sim: Simulator;
let ex: any;
let creds: { apiKey: string; secretKey: string };

beforeAll(async () => {
  sim = await startSim({ from: FROM });
  creds = sim.createAccount({ balances: { USDT: "10000" } });
  ex = await ccxtFor(sim, creds);
});

afterAll(async () => {
  await closeCcxt(ex);
  await sim?.close();
});

describe("ccxt against the simulator (docs/exchange-contract.md, ccxt mapping)", () => {
  it("loadMarkets makes exactly one request: GET /api/v3/exchangeInfo", async () => {
    sim.clearRequests();
    await ex.loadMarkets();
    expect(sim.requests().map((r) => `${r.method} ${r.path}`)).toEqual(["GET /api/v3/exchangeInfo"]);
    const m = ex.market("BTC/USDT");
    expect([m.id, m.active, m.precision.price, m.precision.amount]).toEqual(["BTCUSDT", true, 0.01, 0.00001]);
    expect(m.limits.cost.min).toBe(5);
    expect(Object.keys(ex.markets).sort()).toEqual(["BTC/USDT", "ETH/USDT"]);
  });

  it("fetchOHLCV returns 1000 rows equal to the bundled data", async () => {
    const since = Date.parse("2023-01-20T00:00:00Z");
    const got = await ex.fetchOHLCV("BTC/USDT", "1h", since, 1000);
    const i = rows.findIndex((r) => r[0] === since);
    expect(got).toHaveLength(1000);
    expect(got).toEqual(rows.slice(i, i + 1000).map(num));
  });

  it("fetchOHLCV ends with the still-open candle at the replay time", async () => {
    const got = await ex.fetchOHLCV("BTC/USDT", "1h", undefined, 2);
    expect(got.map((c: number[]) => c[0])).toEqual([FROM - HOUR, FROM]);
    expect(got[1][1]).toBe(+rowAt(FROM)[1]);
    expect(got[1][5]).toBe(0); // just opened: no volume yet
  });

  it("fetchBalance", async () => {
    const b = await ex.fetchBalance();
    expect(b.USDT).toEqual({ free: 10000, used: 0, total: 10000 });
  });

  it("createOrder market by amount, and by quote amount via price (quoteOrderQty)", async () => {
    const price = +rowAt(FROM)[1];
    const byAmount = await ex.createOrder("BTC/USDT", "market", "buy", 0.01);
    expect([byAmount.status, byAmount.filled, byAmount.average]).toEqual(["closed", 0.01, price]);
    expect(byAmount.fee).toEqual({ currency: "BTC", cost: 0.00001 });
    const byQuote = await ex.createOrder("BTC/USDT", "market", "buy", 0.01, 25000);
    // ccxt sent quoteOrderQty = 0.01 × 25000 = 250 USDT
    expect(byQuote.info.origQuoteOrderQty).toBe("250.00000000");
    expect(byQuote.status).toBe("closed");
    expect(byQuote.cost).toBeLessThanOrEqual(250);
    expect(byQuote.filled).toBe(
      +Decimal.parse("250")
        .div(Decimal.parse(rowAt(FROM)[1]), 5, "down")
        .toString(),
    );
    const sell = await ex.createOrder("BTC/USDT", "market", "sell", 0.005);
    expect([sell.status, sell.fee.currency]).toEqual(["closed", "USDT"]);
  });

  it("limit order: listed open, cancelled, then fetchOrder shows canceled", async () => {
    const o = await ex.createOrder("BTC/USDT", "limit", "buy", 0.001, 20000);
    expect(o.status).toBe("open");
    const open = await ex.fetchOpenOrders("BTC/USDT");
    expect(open.map((x: any) => x.id)).toContain(o.id);
    await ex.cancelOrder(o.id, "BTC/USDT");
    const after = await ex.fetchOrder(o.id, "BTC/USDT");
    expect(after.status).toBe("canceled");
    expect((await ex.fetchOpenOrders("BTC/USDT")).map((x: any) => x.id)).not.toContain(o.id);
  });

  it("raises the ccxt exception classes for the simulator's rejections", async () => {
    await expect(ex.cancelOrder("987654", "BTC/USDT")).rejects.toBeInstanceOf(ccxt.OrderNotFound);
    await expect(ex.fetchOrder("987654", "BTC/USDT")).rejects.toBeInstanceOf(ccxt.OrderNotFound);
    await expect(ex.createOrder("BTC/USDT", "limit", "buy", 1, 20000)).rejects.toBeInstanceOf(
      ccxt.InsufficientFunds,
    );
    const lot = ex.createOrder("BTC/USDT", "limit", "buy", 9001, 1);
    await expect(lot).rejects.toBeInstanceOf(ccxt.InvalidOrder);
    await expect(lot).rejects.toThrow("LOT_SIZE");
    const notional = ex.createOrder("BTC/USDT", "limit", "buy", 0.0001, 20000);
    await expect(notional).rejects.toBeInstanceOf(ccxt.BadRequest);
    await expect(notional).rejects.toThrow("Filter failure: NOTIONAL");
  });

  it("raises AuthenticationError for a wrong secret and for an unknown key", async () => {
    const wrong = await ccxtFor(sim, { apiKey: creds.apiKey, secretKey: "not-the-secret" });
    const unknown = await ccxtFor(sim, { apiKey: "AbCdEf0123456789", secretKey: "x" });
    try {
      await expect(wrong.fetchBalance()).rejects.toBeInstanceOf(ccxt.AuthenticationError);
      await expect(unknown.fetchBalance()).rejects.toBeInstanceOf(ccxt.AuthenticationError);
    } finally {
      await closeCcxt(wrong);
      await closeCcxt(unknown);
    }
  });

  it("raises DDoSProtection on a 429 from the request-weight limit", async () => {
    const before = sim.limitsView();
    sim.resetLimits();
    sim.setLimits({ weightPerMinute: 30 });
    try {
      const calls = Array.from({ length: 20 }, () =>
        ex.fetchTicker("BTC/USDT").then(
          () => "ok",
          (e: unknown) => e,
        ),
      );
      const results = await Promise.all(calls);
      const errors = results.filter((r) => r !== "ok");
      expect(errors.length).toBeGreaterThan(0);
      for (const e of errors) expect(e).toBeInstanceOf(ccxt.DDoSProtection);
      expect(String(errors[0])).toContain("429");
    } finally {
      sim.setLimits(before);
      sim.resetLimits();
    }
  });

  it("OCO via privatePostOrderListOco: the take-profit fills, the stop leg expires", async () => {
    // from the data: the next 24 hours reach this high without first reaching the stop
    const next = rows.filter((r) => r[0] >= FROM && r[0] < FROM + 24 * HOUR);
    const start = +rowAt(FROM)[1];
    const high = Math.max(...next.map((r) => +r[2]));
    const low = Math.min(...next.map((r) => +r[3]));
    const tp = ((start + high) / 2).toFixed(2);
    const stop = (low * 0.9).toFixed(2);
    const list = await ex.privatePostOrderListOco({
      symbol: "BTCUSDT",
      side: "SELL",
      quantity: "0.002",
      aboveType: "LIMIT_MAKER",
      abovePrice: tp,
      belowType: "STOP_LOSS_LIMIT",
      belowStopPrice: stop,
      belowPrice: (low * 0.89).toFixed(2),
      belowTimeInForce: "GTC",
      listClientOrderId: "aura-oco-1",
    });
    expect([list.contingencyType, list.listStatusType, list.listOrderStatus, list.listClientOrderId]).toEqual(
      ["OCO", "EXEC_STARTED", "EXECUTING", "aura-oco-1"],
    );
    expect(list.orderReports.map((r: any) => r.type).sort()).toEqual(["LIMIT_MAKER", "STOP_LOSS_LIMIT"]);
    for (let i = 0; i < 24; i++) {
      sim.clock.advance({ candles: 1 });
      const l = await ex.privateGetOrderList({ orderListId: list.orderListId });
      if (l.listOrderStatus === "ALL_DONE") break;
    }
    const done = await ex.privateGetOrderList({ orderListId: list.orderListId });
    expect([done.listStatusType, done.listOrderStatus]).toEqual(["ALL_DONE", "ALL_DONE"]);
    const legs = await Promise.all(done.orders.map((o: any) => ex.fetchOrder(String(o.orderId), "BTC/USDT")));
    const byType = Object.fromEntries(legs.map((o: any) => [o.info.type, o]));
    expect(byType.LIMIT_MAKER.status).toBe("closed");
    expect(byType.LIMIT_MAKER.average).toBe(+tp);
    expect(byType.STOP_LOSS_LIMIT.status).toBe("expired");
    expect(byType.STOP_LOSS_LIMIT.info.expiryReason).toBe("OCO_TRIGGER");
  });

  it("OCO via the legacy privatePostOrderOco: the limit leg fills, the stop leg expires", async () => {
    const now = sim.clock.state().time;
    const next = rows.filter((r) => r[0] >= now && r[0] < now + 24 * HOUR);
    const start = +sim.clock.state().symbols[0].price!;
    const low = Math.min(...next.map((r) => +r[3]));
    const high = Math.max(...next.map((r) => +r[2]));
    const limit = ((start + low) / 2).toFixed(2);
    const list = await ex.privatePostOrderOco({
      symbol: "BTCUSDT",
      side: "BUY",
      quantity: "0.002",
      price: limit,
      stopPrice: (high * 1.1).toFixed(2),
      stopLimitPrice: (high * 1.11).toFixed(2),
      stopLimitTimeInForce: "GTC",
    });
    expect(list.orderReports.map((r: any) => r.type).sort()).toEqual(["LIMIT_MAKER", "STOP_LOSS_LIMIT"]);
    for (
      let i = 0;
      i < 24 &&
      (await ex.privateGetOrderList({ orderListId: list.orderListId })).listOrderStatus !== "ALL_DONE";
      i++
    )
      sim.clock.advance({ candles: 1 });
    const open = await ex.privateGetOpenOrderList();
    expect(open.map((l: any) => l.orderListId)).not.toContain(list.orderListId);
    const all = await ex.privateGetAllOrderList();
    expect(all.find((l: any) => l.orderListId === list.orderListId).listOrderStatus).toBe("ALL_DONE");
    const statuses = await Promise.all(
      list.orders.map(async (o: any) => (await ex.fetchOrder(String(o.orderId), "BTC/USDT")).info),
    );
    expect(statuses.map((o: any) => `${o.type}:${o.status}`).sort()).toEqual([
      "LIMIT_MAKER:FILLED",
      "STOP_LOSS_LIMIT:EXPIRED",
    ]);
  });

  it("DELETE /api/v3/openOrders returns single cancels and list reports", async () => {
    const price = +sim.clock.state().symbols[0].price!;
    await ex.createOrder("BTC/USDT", "limit", "buy", 0.001, Math.round(price * 0.5));
    await ex.privatePostOrderListOco({
      symbol: "BTCUSDT",
      side: "SELL",
      quantity: "0.001",
      aboveType: "LIMIT_MAKER",
      abovePrice: (price * 1.5).toFixed(2),
      belowType: "STOP_LOSS",
      belowStopPrice: (price * 0.5).toFixed(2),
    });
    const res = await ex.privateDeleteOpenOrders({ symbol: "BTCUSDT" });
    const lists = res.filter((x: any) => x.contingencyType === "OCO");
    const singles = res.filter((x: any) => x.contingencyType === undefined);
    expect(singles.map((x: any) => x.status)).toEqual(["CANCELED"]);
    expect(lists).toHaveLength(1);
    expect([lists[0].listStatusType, lists[0].listOrderStatus]).toEqual(["ALL_DONE", "ALL_DONE"]);
    expect(lists[0].orderReports.map((r: any) => r.status)).toEqual(["CANCELED", "CANCELED"]);
  });

  it("fetchMyTrades lists the fills with commission", async () => {
    const trades = await ex.fetchMyTrades("BTC/USDT");
    expect(trades.length).toBeGreaterThanOrEqual(5);
    for (const t of trades) {
      expect(t.fee.currency).toBe(t.side === "buy" ? "BTC" : "USDT");
      expect(t.cost).toBeCloseTo(t.price * t.amount, 6);
    }
    expect(new Set(trades.map((t: any) => t.id)).size).toBe(trades.length);
  });

  it("apiRestrictions through sapiGetAccountApiRestrictions", async () => {
    const r = await ex.sapiGetAccountApiRestrictions();
    expect(r).toMatchObject({
      enableSpotAndMarginTrading: true,
      enableWithdrawals: false,
      ipRestrict: true,
      enableReading: true,
    });
  });

  it("watchOHLCV over /ws/<n> + SUBSCRIBE receives the open candle updating, then the closed candle", async () => {
    const t0 = sim.clock.state().symbols[0].candleOpenTime!;
    let updates = ex.watchOHLCV("BTC/USDT", "1h");
    await sim.whenSubscribed("btcusdt@kline_1h");
    sim.clock.advance({ ms: 20 * 60_000 });
    const partial = (await updates).find((c: number[]) => c[0] === t0);
    expect(partial[5]).toBeGreaterThan(0);
    expect(partial[5]).toBeLessThan(+rowAt(t0)[5]);
    updates = ex.watchOHLCV("BTC/USDT", "1h");
    sim.clock.advance({ candles: 1 });
    let got = await updates;
    while (!got.some((c: number[]) => c[0] === t0 + HOUR)) got = await ex.watchOHLCV("BTC/USDT", "1h");
    const cache = ex.ohlcvs["BTC/USDT"]["1h"];
    const closed = cache.find((c: number[]) => c[0] === t0);
    expect(closed).toEqual(num(rowAt(t0)));
  });

  it("watchOrders and watchBalance via the WebSocket API (userDataStream.subscribe.signature)", async () => {
    const orders = ex.watchOrders("BTC/USDT");
    await sim.whenUserStream(creds.apiKey);
    const balance = ex.watchBalance();
    const placed = await ex.createOrder("BTC/USDT", "market", "buy", 0.001);
    let seen = await orders;
    while (!seen.some((o: any) => o.id === placed.id && o.status === "closed"))
      seen = await ex.watchOrders("BTC/USDT");
    const b = await balance;
    expect(b.BTC.free).toBeGreaterThan(0);
    expect(b.USDT.free).toBeLessThan(10000);
  });
});
