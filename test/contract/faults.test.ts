// Every fault switch and what a client sees (docs/simulator.md, Fault switches). Fault delays run
// on hand-released timers and fault windows on a skewable wall clock, so no test waits on time.
import { hmacHex, wsApiPayload, type Simulator } from "../../src/sim";
import { admin, ccxt, ccxtFor, closeCcxt, ManualTimers, raw, signed, startSim, WsClient } from "./helpers";

let sim: Simulator;
let timers: ManualTimers;
let skew = 0;
let acc: { apiKey: string; secretKey: string };
let ex: any;
const sockets: WsClient[] = [];

beforeAll(async () => {
  timers = new ManualTimers();
  sim = await startSim({ now: () => Date.now() + skew, timers });
  acc = sim.createAccount({ balances: { USDT: "100000", BTC: "1" } });
  ex = await ccxtFor(sim, acc, { timeout: 300 });
  await ex.loadMarkets();
});

afterEach(async () => {
  sim.clearFaults();
  timers.releaseAll();
  skew = 0;
  await Promise.all(sockets.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  await closeCcxt(ex);
  await sim.close();
});

const limitBuy = (id: string) =>
  ex.createOrder("BTC/USDT", "limit", "buy", 0.001, 20000, { clientOrderId: id });
const venueOrder = (clientOrderId: string) => sim.orders({ clientOrderId });

async function wsApiSubscribed(): Promise<WsClient> {
  const ws = new WsClient(sim.wsApiUrl);
  sockets.push(ws);
  await ws.opened;
  const params: Record<string, unknown> = { apiKey: acc.apiKey, timestamp: Date.now() };
  params.signature = hmacHex(acc.secretKey, wsApiPayload(params));
  expect((await ws.request({ id: 1, method: "userDataStream.subscribe.signature", params })).status).toBe(
    200,
  );
  return ws;
}

describe("request faults", () => {
  it("latency: the request is held before it is processed; a short client timeout fires, nothing was placed yet", async () => {
    const base = timers.armed();
    sim.addFault({ kind: "latency", ms: 2000, match: { method: "POST", path: "/api/v3/order" } });
    const pending = signed(sim, acc, "POST", "/api/v3/order", {
      symbol: "BTCUSDT",
      side: "BUY",
      type: "LIMIT",
      timeInForce: "GTC",
      quantity: "0.001",
      price: "20000",
      newClientOrderId: "late-1",
    });
    await timers.whenArmed(base + 1);
    // held: other requests are answered meanwhile, and the order does not exist yet
    expect((await raw(sim, "GET", "/api/v3/ping")).status).toBe(200);
    expect(venueOrder("late-1")).toEqual([]);
    timers.releaseAll();
    expect((await pending).status).toBe(200);
    expect(venueOrder("late-1")).toHaveLength(1);
    // one-shot: the next request is not delayed
    await expect(ex.fetchTicker("BTC/USDT")).resolves.toBeDefined();
  });

  it("latency beyond the ccxt timeout raises RequestTimeout", async () => {
    sim.addFault({ kind: "latency", ms: 10_000, match: { path: "/api/v3/ticker/24hr" } });
    await expect(ex.fetchTicker("BTC/USDT")).rejects.toBeInstanceOf(ccxt.RequestTimeout);
  });

  it("delay-after-commit: the order is placed, the answer comes after the client gave up", async () => {
    const base = timers.armed();
    sim.addFault({ kind: "delay-after-commit", ms: 10_000 });
    const attempt = limitBuy("intent-delay");
    await timers.whenArmed(base + 1);
    expect(venueOrder("intent-delay").map((o) => o.status)).toEqual(["NEW"]);
    await expect(attempt).rejects.toBeInstanceOf(ccxt.RequestTimeout);
    // the recovery path: ask the venue by client order id instead of sending again
    const found = await ex.fetchOrder(undefined, "BTC/USDT", { origClientOrderId: "intent-delay" });
    expect([found.clientOrderId, found.status]).toEqual(["intent-delay", "open"]);
  });

  it("error-after-commit: 503 / -1000 although the order was placed (unknown outcome)", async () => {
    sim.addFault({ kind: "error-after-commit" });
    const e = await limitBuy("intent-503").catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ccxt.OperationFailed);
    expect(String(e)).toContain('"code":-1000');
    expect(venueOrder("intent-503")).toHaveLength(1);
  });

  it("error-after-commit with -1007: ccxt RequestTimeout, the order exists", async () => {
    sim.addFault({ kind: "error-after-commit", code: -1007 });
    const r = await signed(sim, acc, "POST", "/api/v3/order", {
      symbol: "BTCUSDT",
      side: "BUY",
      type: "MARKET",
      quantity: "0.001",
      newClientOrderId: "intent-1007",
    });
    expect([r.status, r.body]).toEqual([
      503,
      {
        code: -1007,
        msg: "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
      },
    ]);
    expect(venueOrder("intent-1007").map((o) => o.status)).toEqual(["FILLED"]);
    sim.addFault({ kind: "error-after-commit", code: -1007 });
    await expect(limitBuy("intent-1007b")).rejects.toBeInstanceOf(ccxt.RequestTimeout);
  });

  it("rate-limit storm: the next N requests get 429 with Retry-After (ccxt DDoSProtection), then normal service", async () => {
    sim.addFault({ kind: "rate-limit", count: 2, retryAfter: 3 });
    const r = await raw(sim, "GET", "/api/v3/ping");
    expect([r.status, r.headers.get("retry-after"), r.body.code]).toEqual([429, "3", -1003]);
    await expect(ex.fetchTicker("BTC/USDT")).rejects.toBeInstanceOf(ccxt.DDoSProtection);
    expect((await raw(sim, "GET", "/api/v3/ping")).status).toBe(200);
    sim.addFault({ kind: "rate-limit", status: 418 });
    expect((await raw(sim, "GET", "/api/v3/ping")).status).toBe(418);
  });

  it("order-not-found: GET order answers -2013 for ms after accept, then finds it", async () => {
    sim.addFault({ kind: "order-not-found", ms: 3000 });
    const placed = await limitBuy("intent-lag");
    await expect(ex.fetchOrder(placed.id, "BTC/USDT")).rejects.toBeInstanceOf(ccxt.OrderNotFound);
    const r = await signed(sim, acc, "GET", "/api/v3/order", {
      symbol: "BTCUSDT",
      origClientOrderId: "intent-lag",
    });
    expect(r.body).toEqual({ code: -2013, msg: "Order does not exist." });
    skew = 3001;
    expect((await ex.fetchOrder(placed.id, "BTC/USDT")).clientOrderId).toBe("intent-lag");
  });

  it("reject-oco: the next OCO is rejected (-1013 PRICE_FILTER by default), the one after is accepted", async () => {
    sim.addFault({ kind: "reject-oco" });
    const price = +sim.clock.state().symbols[0].price!;
    const oco = () =>
      ex.privatePostOrderListOco({
        symbol: "BTCUSDT",
        side: "SELL",
        quantity: "0.001",
        aboveType: "LIMIT_MAKER",
        abovePrice: (price * 1.2).toFixed(2),
        belowType: "STOP_LOSS",
        belowStopPrice: (price * 0.8).toFixed(2),
      });
    const e = await oco().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ccxt.InvalidOrder);
    expect(String(e)).toContain("Filter failure: PRICE_FILTER");
    expect((await oco()).listOrderStatus).toBe("EXECUTING");
  });

  it("clock-offset: the venue clock jumps, signed requests get -1021 until the client resyncs", async () => {
    sim.addFault({ kind: "clock-offset", ms: 30_000 });
    const e = await ex.fetchBalance().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ccxt.InvalidNonce);
    expect(String(e)).toContain("-1021");
    const server = (await raw(sim, "GET", "/api/v3/time")).body.serverTime;
    expect(server - Date.now()).toBeGreaterThan(29_000);
    // a client that adjusts for the time difference recovers
    await ex.loadTimeDifference();
    await expect(ex.fetchBalance()).resolves.toBeDefined();
    ex.options.timeDifference = 0;
  });
});

describe("stream faults", () => {
  it("ws-drop: every socket is cut (1006); with a window, reconnects are refused until it ends", async () => {
    const market = new WsClient(`${sim.wsUrl}/btcusdt@kline_1h`);
    sockets.push(market);
    await market.opened;
    const user = await wsApiSubscribed();
    const r = await admin(sim, "POST", "/faults", { kind: "ws-drop", durationMs: 5000 });
    expect(r.status).toBe(201);
    expect((await market.closed).code).toBe(1006);
    expect((await user.closed).code).toBe(1006);
    await expect(new WsClient(`${sim.wsUrl}/0`).opened).rejects.toThrow("HTTP 503");
    skew = 5001;
    const again = new WsClient(`${sim.wsUrl}/0`);
    sockets.push(again);
    await expect(again.opened).resolves.toBeUndefined();
  });

  it("pause-user-data (drop): events during the pause never arrive; later ones do", async () => {
    const ws = await wsApiSubscribed();
    sim.addFault({ kind: "pause-user-data", durationMs: 10_000 });
    const lost = await signed(sim, acc, "POST", "/api/v3/order", {
      symbol: "BTCUSDT",
      side: "BUY",
      type: "MARKET",
      quantity: "0.001",
    });
    skew = 10_001;
    const seen = await signed(
      sim,
      acc,
      "POST",
      "/api/v3/order",
      { symbol: "BTCUSDT", side: "BUY", type: "MARKET", quantity: "0.001" },
      { timestamp: Date.now() + skew },
    );
    expect(seen.status).toBe(200);
    const report = await ws.next((m) => m.event?.e === "executionReport");
    expect(report.event.i).toBe(seen.body.orderId);
    await ws.next((m) => m.event?.e === "outboundAccountPosition");
    const rest = ws.drain();
    expect(rest.map((m) => m.event?.i).filter((i) => i === lost.body.orderId)).toEqual([]);
  });

  it("pause-user-data (hold): events wait for the end of the pause, then arrive in order", async () => {
    const ws = await wsApiSubscribed();
    const f = sim.addFault({ kind: "pause-user-data", mode: "hold" });
    const a = await signed(sim, acc, "POST", "/api/v3/order", {
      symbol: "BTCUSDT",
      side: "BUY",
      type: "MARKET",
      quantity: "0.001",
    });
    const b = await signed(sim, acc, "POST", "/api/v3/order", {
      symbol: "BTCUSDT",
      side: "SELL",
      type: "MARKET",
      quantity: "0.001",
    });
    expect((await admin(sim, "DELETE", `/faults/${f.id}`)).status).toBe(200);
    const ids: number[] = [];
    while (ids.length < 4) ids.push((await ws.next((m) => m.event?.e === "executionReport")).event.i);
    expect(ids).toEqual([a.body.orderId, a.body.orderId, b.body.orderId, b.body.orderId]);
  });
});
