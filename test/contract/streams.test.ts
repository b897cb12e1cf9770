// WebSocket behaviour with a raw client (docs/exchange-contract.md, Market streams, User-data stream):
// kline payloads exactly as Binance sends them (x:false intrabar, x:true at close), raw and combined
// streams, live SUBSCRIBE, pings both ways, the legacy listenKey flow and the WebSocket-API user-data
// stream.
import WebSocket from "ws";
import { bundledSeries } from "../../src/adapters/klines/files";
import { hmacHex, wsApiPayload, type Simulator } from "../../src/sim";
import { raw, signed, startSim, WsClient } from "./helpers";

const HOUR = 3_600_000;
const FROM = Date.parse("2023-06-01T00:00:00Z");
const rows = bundledSeries("BTCUSDT", "1h");
const rowAt = (t: number) => rows.find((r) => r[0] === t)!;

let sim: Simulator;
let acc: { apiKey: string; secretKey: string };
const clients: WsClient[] = [];
const client = async (url: string, opts?: WebSocket.ClientOptions) => {
  const c = new WsClient(url, opts);
  clients.push(c);
  await c.opened;
  return c;
};

beforeAll(async () => {
  sim = await startSim({ from: FROM });
  acc = sim.createAccount({ balances: { USDT: "10000", BTC: "1" } });
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(() => sim.close());

describe("kline streams", () => {
  it("/ws/<stream>: intrabar updates with x:false, then the closed candle with x:true, exactly as the data", async () => {
    const t0 = sim.clock.state().symbols[0].candleOpenTime!;
    const ws = await client(`${sim.wsUrl}/btcusdt@kline_1h`);
    await sim.whenSubscribed("btcusdt@kline_1h");
    sim.clock.advance({ candles: 1 });
    const msgs = await ws.settle();
    // 12 remaining points of the open candle, the close, then the next candle's open
    expect(msgs.map((m) => `${m.k.t === t0 ? "t0" : "t1"}:${m.k.x}`)).toEqual([
      ...Array(12).fill("t0:false"),
      "t0:true",
      "t1:false",
    ]);
    const r = rowAt(t0);
    const final = msgs[12];
    expect(final).toEqual({
      e: "kline",
      E: t0 + HOUR,
      s: "BTCUSDT",
      k: {
        t: t0,
        T: r[6],
        s: "BTCUSDT",
        i: "1h",
        f: final.k.f,
        L: final.k.f + r[8] - 1,
        o: r[1],
        c: r[4],
        h: r[2],
        l: r[3],
        v: r[5],
        n: r[8],
        x: true,
        q: r[7],
        V: r[9],
        Q: r[10],
        B: "0",
      },
    });
    // event times increase, partial volumes grow, every update stays inside the final range
    for (let i = 1; i < 13; i++) {
      expect(msgs[i].E).toBeGreaterThan(msgs[i - 1].E);
      expect(+msgs[i].k.v).toBeGreaterThanOrEqual(+msgs[i - 1].k.v);
      expect(+msgs[i].k.h).toBeLessThanOrEqual(+r[2]);
      expect(+msgs[i].k.l).toBeGreaterThanOrEqual(+r[3]);
    }
    expect(msgs[13].k).toMatchObject({ t: t0 + HOUR, o: rowAt(t0 + HOUR)[1], v: "0.00000000", x: false });
  });

  it("/stream?streams=a/b wraps every message as {stream, data}", async () => {
    const ws = await client(`${sim.streamUrl}?streams=btcusdt@kline_1h/ethusdt@kline_1h`);
    await sim.whenSubscribed("ethusdt@kline_1h");
    sim.clock.advance({ ms: 10 * 60_000 });
    const msgs = await ws.settle();
    expect(new Set(msgs.map((m) => m.stream))).toEqual(new Set(["btcusdt@kline_1h", "ethusdt@kline_1h"]));
    for (const m of msgs) {
      expect(Object.keys(m).sort()).toEqual(["data", "stream"]);
      expect(m.data.s).toBe(m.stream.split("@")[0].toUpperCase());
    }
  });

  it("aggregated 4h stream: x:true only when the 4-hour bucket closes", async () => {
    const ws = await client(`${sim.wsUrl}/btcusdt@kline_4h`);
    await sim.whenSubscribed("btcusdt@kline_4h");
    const now = sim.clock.state().time;
    const bucketEnd = Math.floor(now / (4 * HOUR)) * 4 * HOUR + 4 * HOUR;
    sim.clock.advance({ ms: bucketEnd - now });
    const msgs = await ws.settle();
    const closes = msgs.filter((m) => m.k.x);
    expect(closes).toHaveLength(1);
    expect(closes[0].k).toMatchObject({ t: bucketEnd - 4 * HOUR, T: bucketEnd - 1, i: "4h" });
    const hours = rows.filter((r) => r[0] >= bucketEnd - 4 * HOUR && r[0] < bucketEnd);
    expect(closes[0].k.o).toBe(hours[0][1]);
    expect(closes[0].k.c).toBe(hours[3][4]);
    expect(closes[0].k.n).toBe(hours.reduce((a, r) => a + r[8], 0));
  });

  it("other market streams: trade, bookTicker, miniTicker, depth5", async () => {
    const ws = await client(
      `${sim.streamUrl}?streams=btcusdt@trade/btcusdt@bookTicker/btcusdt@miniTicker/btcusdt@depth5`,
    );
    await sim.whenSubscribed("btcusdt@depth5");
    sim.clock.advance({ ms: 5 * 60_000 });
    const by: Record<string, any[]> = {};
    for (const m of await ws.settle()) (by[m.stream] ??= []).push(m);
    const last = (k: string) => by[k][by[k].length - 1].data;
    const price = sim.clock.state().symbols[0].price;
    expect(last("btcusdt@trade")).toMatchObject({ e: "trade", s: "BTCUSDT", p: price, M: true });
    expect(last("btcusdt@bookTicker")).toMatchObject({ s: "BTCUSDT", b: price });
    expect(+last("btcusdt@bookTicker").a).toBeGreaterThan(+price!);
    expect(last("btcusdt@miniTicker")).toMatchObject({ e: "24hrMiniTicker", s: "BTCUSDT", c: price });
    const depth = last("btcusdt@depth5");
    expect(depth.bids).toHaveLength(5);
    expect(+depth.bids[0][0]).toBeGreaterThan(+depth.bids[1][0]);
    expect(+depth.asks[0][0]).toBeLessThan(+depth.asks[1][0]);
  });
});

describe("live subscriptions on /ws/<n> (what ccxt.pro does)", () => {
  it("SUBSCRIBE, LIST_SUBSCRIPTIONS, UNSUBSCRIBE and error answers", async () => {
    const ws = await client(`${sim.wsUrl}/0`);
    expect(
      await ws.request({ method: "SUBSCRIBE", params: ["btcusdt@kline_1h", "ethusdt@kline_1h"], id: 1 }),
    ).toEqual({ result: null, id: 1 });
    expect(await ws.request({ method: "LIST_SUBSCRIPTIONS", id: 2 })).toEqual({
      result: ["btcusdt@kline_1h", "ethusdt@kline_1h"],
      id: 2,
    });
    sim.clock.advance({ ms: 5 * 60_000 });
    expect((await ws.next((m) => m.e === "kline")).k.i).toBe("1h");
    expect(
      await ws.request({
        method: "UNSUBSCRIBE",
        params: ["btcusdt@kline_1h", "ethusdt@kline_1h"],
        id: "x-3",
      }),
    ).toEqual({ result: null, id: "x-3" });
    await ws.settle();
    sim.clock.advance({ ms: 5 * 60_000 });
    expect(await ws.request({ method: "LIST_SUBSCRIPTIONS", id: 4 })).toEqual({ result: [], id: 4 });
    expect(ws.drain()).toEqual([]);
    const bad = await ws.request({ method: "SUBSCRIBE", params: ["btcusdt@kline_1m"], id: 5 });
    expect(bad.error.code).toBe(2);
    expect(bad.error.msg).toMatch(/^Invalid request: /);
    expect((await ws.request({ method: "SUBSCRIBE", params: ["dogeusdt@trade"], id: 6 })).error.code).toBe(2);
    ws.ws.send("{not json");
    expect((await ws.next((m) => m.error?.code === 3)).id).toBeNull();
    expect(await ws.request({ method: "SET_PROPERTY", params: ["combined", true], id: 7 })).toEqual({
      result: null,
      id: 7,
    });
    expect(await ws.request({ method: "GET_PROPERTY", params: ["combined"], id: 8 })).toEqual({
      result: true,
      id: 8,
    });
    await ws.request({ method: "SUBSCRIBE", params: ["btcusdt@kline_1h"], id: 9 });
    sim.clock.advance({ ms: 5 * 60_000 });
    expect((await ws.next((m) => m.stream)).stream).toBe("btcusdt@kline_1h");
  });

  it("rejects the upgrade for a stream the replay cannot serve, 404 for unknown paths", async () => {
    await expect(new WsClient(`${sim.wsUrl}/btcusdt@kline_1m`).opened).rejects.toThrow("HTTP 400");
    await expect(
      new WsClient(`${sim.streamUrl}?streams=btcusdt@kline_1h/xrpusdt@kline_1h`).opened,
    ).rejects.toThrow("HTTP 400");
    await expect(new WsClient(`${sim.baseUrl.replace("http", "ws")}/nope`).opened).rejects.toThrow(
      "HTTP 404",
    );
  });
});

describe("keep-alive", () => {
  let fast: Simulator;
  beforeAll(async () => {
    fast = await startSim({ ws: { pingIntervalMs: 25, pongTimeoutMs: 80 } });
  });
  afterAll(() => fast.close());

  it("the server sends ping frames and answers client pings", async () => {
    const ws = await client(`${fast.wsUrl}/0`);
    await new Promise<void>((resolve) => ws.ws.once("ping", () => resolve()));
    const pong = new Promise<Buffer>((resolve) => ws.ws.once("pong", (d) => resolve(d)));
    ws.ws.ping("hello");
    expect((await pong).toString()).toBe("hello");
  });

  it("a client that never answers pings is disconnected", async () => {
    const ws = await client(`${fast.wsUrl}/0`, { autoPong: false });
    await ws.closed;
    expect(ws.pings).toBeGreaterThan(1);
  });
});

describe("legacy listenKey user-data stream", () => {
  it("POST/PUT/DELETE /api/v3/userDataStream with the key only; raw events on /ws/<listenKey>", async () => {
    const created = await raw(sim, "POST", "/api/v3/userDataStream", "", { "X-MBX-APIKEY": acc.apiKey });
    const key = created.body.listenKey;
    expect(key).toMatch(/^[A-Za-z0-9]{64}$/);
    // an active key is returned again
    expect(
      (await raw(sim, "POST", "/api/v3/userDataStream", "", { "X-MBX-APIKEY": acc.apiKey })).body.listenKey,
    ).toBe(key);
    const ws = await client(`${sim.wsUrl}/${key}`);
    const combined = await client(`${sim.streamUrl}?streams=${key}`);
    await sim.whenUserStream(acc.apiKey, 2);
    const placed = await signed(sim, acc, "POST", "/api/v3/order", {
      symbol: "BTCUSDT",
      side: "SELL",
      type: "MARKET",
      quantity: "0.01",
    });
    expect(placed.status).toBe(200);
    const report = await ws.next((m) => m.e === "executionReport" && m.x === "TRADE");
    expect(report).toMatchObject({
      s: "BTCUSDT",
      S: "SELL",
      o: "MARKET",
      X: "FILLED",
      i: placed.body.orderId,
      l: "0.01000000",
      N: "USDT",
    });
    expect((await ws.next((m) => m.e === "outboundAccountPosition")).B.map((b: any) => b.a)).toEqual([
      "BTC",
      "USDT",
    ]);
    expect((await combined.next((m) => m.data?.e === "executionReport")).stream).toBe(key);
    expect(
      (await raw(sim, "PUT", `/api/v3/userDataStream?listenKey=${key}`, "", { "X-MBX-APIKEY": acc.apiKey }))
        .body,
    ).toEqual({});
    const unknown = await raw(sim, "PUT", `/api/v3/userDataStream?listenKey=${"x".repeat(64)}`, "", {
      "X-MBX-APIKEY": acc.apiKey,
    });
    expect([unknown.status, unknown.body]).toEqual([
      400,
      { code: -1125, msg: "This listenKey does not exist." },
    ]);
    expect(
      (
        await raw(sim, "DELETE", `/api/v3/userDataStream?listenKey=${key}`, "", {
          "X-MBX-APIKEY": acc.apiKey,
        })
      ).body,
    ).toEqual({});
    await ws.closed;
    await combined.closed;
  });

  it("a lapsed listenKey gets listenKeyExpired and the socket closes", async () => {
    let skew = 0;
    const s = await startSim({
      now: () => Date.now() + skew,
      listenKeyTtlMs: 60_000,
      ws: { pingIntervalMs: 20, pongTimeoutMs: 600_000 },
    });
    try {
      const a = s.createAccount({ balances: { USDT: "1" } });
      const key = (await raw(s, "POST", "/api/v3/userDataStream", "", { "X-MBX-APIKEY": a.apiKey })).body
        .listenKey;
      const ws = await client(`${s.wsUrl}/${key}`);
      skew = 61_000;
      expect(await ws.next((m) => m.e === "listenKeyExpired")).toMatchObject({ listenKey: key });
      await ws.closed;
    } finally {
      await s.close();
    }
  });
});

describe("WebSocket API user-data stream", () => {
  const sign = (params: Record<string, unknown>) => ({
    ...params,
    signature: hmacHex(acc.secretKey, wsApiPayload(params)),
  });

  it("session.logon + userDataStream.subscribe: events wrapped {subscriptionId, event}, in Binance's order", async () => {
    const ws = await client(sim.wsApiUrl);
    const logon = await ws.request({
      id: 1,
      method: "session.logon",
      params: sign({ apiKey: acc.apiKey, timestamp: Date.now() }),
    });
    expect(logon).toMatchObject({ id: 1, status: 200, result: { apiKey: acc.apiKey } });
    expect(logon.rateLimits[0]).toMatchObject({
      rateLimitType: "REQUEST_WEIGHT",
      interval: "MINUTE",
      intervalNum: 1,
    });
    expect(await ws.request({ id: 2, method: "userDataStream.subscribe" })).toMatchObject({
      status: 200,
      result: { subscriptionId: 0 },
    });
    expect((await ws.request({ id: 3, method: "userDataStream.subscribe" })).error).toEqual({
      code: -2035,
      msg: "User Data Stream subscription already active.",
    });
    expect((await ws.request({ id: 4, method: "session.subscriptions" })).result).toEqual([
      { subscriptionId: 0 },
    ]);
    // an OCO placement: listStatus, NEW per leg, then the balance change
    const price = +sim.clock.state().symbols[0].price!;
    const oco = await signed(sim, acc, "POST", "/api/v3/orderList/oco", {
      symbol: "BTCUSDT",
      side: "SELL",
      quantity: "0.01",
      aboveType: "LIMIT_MAKER",
      abovePrice: (price * 1.5).toFixed(2),
      belowType: "STOP_LOSS",
      belowStopPrice: (price * 0.5).toFixed(2),
    });
    expect(oco.status).toBe(200);
    const events = [];
    for (let i = 0; i < 4; i++) events.push(await ws.next((m) => m.subscriptionId === 0));
    expect(
      events.map(
        (m) =>
          `${m.event.e}${m.event.x ? `:${m.event.x}` : ""}${m.event.l && m.event.e === "listStatus" ? `:${m.event.l}` : ""}`,
      ),
    ).toEqual([
      "listStatus:EXEC_STARTED",
      "executionReport:NEW",
      "executionReport:NEW",
      "outboundAccountPosition",
    ]);
    expect(events[1].event.g).toBe(oco.body.orderListId);
    // an admin balance change arrives as balanceUpdate
    sim.setBalances(acc.apiKey, { ETH: "2.5" });
    expect((await ws.next((m) => m.event?.e === "balanceUpdate")).event).toMatchObject({
      a: "ETH",
      d: "2.50000000",
    });
    expect(
      await ws.request({ id: 5, method: "userDataStream.unsubscribe", params: { subscriptionId: 0 } }),
    ).toMatchObject({ status: 200, result: {} });
    expect((await ws.next((m) => m.event?.e === "eventStreamTerminated")).subscriptionId).toBe(0);
    expect(
      (await ws.request({ id: 6, method: "userDataStream.unsubscribe", params: { subscriptionId: 0 } })).error
        .code,
    ).toBe(-2036);
    expect((await ws.request({ id: 7, method: "order.place", params: {} })).status).toBe(400);
    await signed(sim, acc, "DELETE", "/api/v3/openOrders", { symbol: "BTCUSDT" });
  });

  it("userDataStream.subscribe without a session is refused", async () => {
    const ws = await client(`${sim.wsApiUrl}?returnRateLimits=false`);
    const r = await ws.request({ id: "a", method: "userDataStream.subscribe" });
    expect([r.status, r.error.code, r.rateLimits]).toEqual([401, -2015, undefined]);
  });
});
