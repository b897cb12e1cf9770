// The /sim/v1 admin API: accounts and permissions, balances, the clock, the venue's order book
// (reconciliation view and order injection), limits, logs, stats, and its JSON error format.
import { hmacHex, wsApiPayload, type Simulator } from "../../src/sim";
import { admin, ManualTimers, raw, signed, startSim, WsClient } from "./helpers";

const HOUR = 3_600_000;
let sim: Simulator;
let timers: ManualTimers;

beforeAll(async () => {
  timers = new ManualTimers();
  sim = await startSim({ from: "2023-06-01", timers });
});
afterAll(() => sim.close());

describe("accounts", () => {
  it("creates an account with balances and permissions; apiRestrictions answers per key", async () => {
    const r = await admin(sim, "POST", "/accounts", {
      balances: { USDT: "10000", BTC: "0.5" },
      permissions: { enableWithdrawals: true, ipRestrict: false },
    });
    expect(r.status).toBe(201);
    expect(Object.keys(r.body).sort()).toEqual(["accountId", "apiKey", "secretKey"]);
    const restr = await signed(sim, r.body, "GET", "/sapi/v1/account/apiRestrictions", {});
    expect(restr.body).toMatchObject({
      ipRestrict: false,
      enableWithdrawals: true,
      enableSpotAndMarginTrading: true,
      enableInternalTransfer: false,
      permitsUniversalTransfer: false,
      enableReading: true,
    });
    expect(typeof restr.body.createTime).toBe("number");
    const view = await admin(sim, "GET", `/accounts/${r.body.apiKey}`);
    expect(view.body.balances).toEqual({
      BTC: { free: "0.50000000", locked: "0.00000000" },
      USDT: { free: "10000.00000000", locked: "0.00000000" },
    });
    const perms = await admin(sim, "PUT", `/accounts/${r.body.apiKey}/permissions`, {
      enableSpotAndMarginTrading: false,
    });
    expect(perms.body.enableSpotAndMarginTrading).toBe(false);
    const order = await signed(sim, r.body, "POST", "/api/v3/order", {
      symbol: "BTCUSDT",
      side: "BUY",
      type: "MARKET",
      quantity: "0.001",
    });
    expect([order.status, order.body.code]).toEqual([401, -2015]);
  });

  it("sets balances", async () => {
    const a = sim.createAccount({ balances: { USDT: "1" } });
    const r = await admin(sim, "PUT", `/accounts/${a.apiKey}/balances`, {
      balances: { USDT: "250.5", ETH: "3" },
    });
    expect(r.body.balances).toMatchObject({ USDT: { free: "250.50000000" }, ETH: { free: "3.00000000" } });
    const acc = await signed(sim, a, "GET", "/api/v3/account", { omitZeroBalances: "true" });
    expect(acc.body.balances).toEqual([
      { asset: "ETH", free: "3.00000000", locked: "0.00000000" },
      { asset: "USDT", free: "250.50000000", locked: "0.00000000" },
    ]);
  });

  it.each([
    [
      "a negative balance",
      { balances: { USDT: "-1" } },
      /balance of USDT must be a non-negative decimal string/,
    ],
    ["a float-ish balance", { balances: { USDT: "1e3x" } }, /non-negative decimal/],
    ["an unknown permission", { permissions: { canFly: true } }, /unknown permission 'canFly'/],
    ["a non-boolean permission", { permissions: { enableWithdrawals: "yes" } }, /must be true or false/],
  ])("rejects %s with a JSON error", async (_n, body, message) => {
    const r = await admin(sim, "POST", "/accounts", body);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ status: 400, code: "BAD_REQUEST" });
    expect(r.body.error.message).toMatch(message);
  });
});

describe("clock control", () => {
  it("state, advance, jump, speed, pause/resume, mode", async () => {
    const s0 = (await admin(sim, "GET", "/clock")).body;
    expect(s0).toMatchObject({ mode: "step", paused: false, intervalMs: HOUR });
    expect(s0.symbols.map((x: any) => x.symbol)).toEqual(["BTCUSDT", "ETHUSDT"]);
    const s1 = (await admin(sim, "POST", "/clock/advance", { candles: 2 })).body;
    expect(s1.time).toBe(Math.floor(s0.time / HOUR) * HOUR + 2 * HOUR);
    expect((await admin(sim, "POST", "/clock/advance", { ms: 60_000 })).body.time).toBe(s1.time + 60_000);
    expect((await admin(sim, "POST", "/clock/advance", { candles: 1, ms: 5 })).status).toBe(400);
    const j = (await admin(sim, "POST", "/clock/jump", { time: "2024-03-01T10:00:00Z" })).body;
    expect(j.iso).toBe("2024-03-01T10:00:00.000Z");
    const k = await raw(sim, "GET", "/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=1");
    expect(k.body[0][0]).toBe(Date.parse("2024-03-01T10:00:00Z"));
    expect((await admin(sim, "POST", "/clock/jump", { time: "yesterday-ish" })).status).toBe(400);
    expect((await admin(sim, "POST", "/clock/speed", { speed: 3600 })).body.speed).toBe(3600);
    expect((await admin(sim, "POST", "/clock/speed", { speed: -1 })).status).toBe(400);
    expect((await admin(sim, "POST", "/clock/pause")).body.paused).toBe(true);
    expect((await admin(sim, "POST", "/clock/resume")).body.paused).toBe(false);
    expect((await admin(sim, "POST", "/clock/mode", { step: false })).body.mode).toBe("realtime");
    expect((await admin(sim, "POST", "/clock/mode", { step: true })).body.mode).toBe("step");
    await admin(sim, "POST", "/clock/jump", { time: "2023-06-01" });
  });
});

describe("orders held by the venue", () => {
  it("lists every order with its account, and injects orphans with or without user-data events", async () => {
    const a = sim.createAccount({ balances: { USDT: "10000" } });
    const b = sim.createAccount({ balances: { USDT: "10000" } });
    await signed(sim, a, "POST", "/api/v3/order", {
      symbol: "BTCUSDT",
      side: "BUY",
      type: "LIMIT",
      timeInForce: "GTC",
      quantity: "0.001",
      price: "20000",
      newClientOrderId: "mine-1",
    });
    const ws = new WsClient(sim.wsApiUrl);
    await ws.opened;
    const params: Record<string, unknown> = { apiKey: b.apiKey, timestamp: Date.now() };
    params.signature = hmacHex(b.secretKey, wsApiPayload(params));
    await ws.request({ id: 1, method: "userDataStream.subscribe.signature", params });
    // silent orphan: on the venue, visible over REST, never announced on the stream
    const silent = await admin(sim, "POST", "/orders", {
      apiKey: b.apiKey,
      symbol: "BTCUSDT",
      side: "BUY",
      type: "LIMIT",
      timeInForce: "GTC",
      quantity: "0.001",
      price: "21000",
      newClientOrderId: "x-AURA-orphan",
      emitEvents: false,
    });
    expect(silent.status).toBe(201);
    expect(silent.body).toMatchObject({ clientOrderId: "x-AURA-orphan", status: "NEW" });
    await ws.request({ id: 2, method: "ping" });
    expect(ws.drain().filter((m) => m.event)).toEqual([]);
    const open = await signed(sim, b, "GET", "/api/v3/openOrders", { symbol: "BTCUSDT" });
    expect(open.body.map((o: any) => o.clientOrderId)).toEqual(["x-AURA-orphan"]);
    // announced injection
    await admin(sim, "POST", "/orders", {
      apiKey: b.apiKey,
      symbol: "BTCUSDT",
      side: "BUY",
      type: "MARKET",
      quantity: "0.001",
      newClientOrderId: "foreign-1",
    });
    expect((await ws.next((m) => m.event?.e === "executionReport")).event.c).toBe("foreign-1");
    await ws.close();
    const all = (await admin(sim, "GET", "/orders")).body;
    expect(
      all
        .filter((o: any) => ["mine-1", "x-AURA-orphan", "foreign-1"].includes(o.clientOrderId))
        .map((o: any) => [o.clientOrderId, o.apiKey === a.apiKey ? "a" : "b", o.status]),
    ).toEqual([
      ["mine-1", "a", "NEW"],
      ["x-AURA-orphan", "b", "NEW"],
      ["foreign-1", "b", "FILLED"],
    ]);
    expect(
      (await admin(sim, "GET", `/orders?apiKey=${b.apiKey}&status=open`)).body.map(
        (o: any) => o.clientOrderId,
      ),
    ).toEqual(["x-AURA-orphan"]);
    const rejected = await admin(sim, "POST", "/orders", {
      apiKey: b.apiKey,
      symbol: "BTCUSDT",
      side: "BUY",
      type: "LIMIT",
      timeInForce: "GTC",
      quantity: "0.001",
      price: "20000.001",
    });
    expect(rejected.body.error).toMatchObject({
      status: 400,
      code: "REJECTED",
      binance: { code: -1013, msg: "Filter failure: PRICE_FILTER" },
    });
  });
});

describe("limits, logs and stats", () => {
  it("limits are readable and settable; unknown names are refused", async () => {
    const before = (await admin(sim, "GET", "/limits")).body;
    expect(before).toMatchObject({ weightPerMinute: 6000, ordersPer10s: 100, ordersPerDay: 200000 });
    expect((await admin(sim, "POST", "/limits/reset")).status).toBe(200);
    try {
      expect((await admin(sim, "PUT", "/limits", { weightPerMinute: 50 })).body.weightPerMinute).toBe(50);
      const info = await raw(sim, "GET", "/api/v3/exchangeInfo?symbol=BTCUSDT");
      expect(info.body.rateLimits[0]).toEqual({
        rateLimitType: "REQUEST_WEIGHT",
        interval: "MINUTE",
        intervalNum: 1,
        limit: 50,
      });
      expect((await admin(sim, "PUT", "/limits", { bogus: 1 })).status).toBe(400);
    } finally {
      await admin(sim, "PUT", "/limits", before);
      await admin(sim, "POST", "/limits/reset");
    }
  });

  it("records REST requests; admin requests carry no Binance weight", async () => {
    await admin(sim, "DELETE", "/requests");
    await raw(sim, "GET", "/api/v3/ping");
    const r = await admin(sim, "GET", "/requests");
    expect(r.body.map((x: any) => [x.method, x.path, x.status, x.weight])).toEqual([
      ["GET", "/api/v3/ping", 200, 1],
    ]);
    expect(r.headers.get("x-mbx-used-weight-1m")).toBeNull();
  });

  it("stats show the highest number of concurrent trade requests per account and symbol", async () => {
    const a = sim.createAccount({ balances: { USDT: "10000" } });
    sim.addFault({ kind: "latency", ms: 1000, count: 2 });
    const base = timers.armed();
    const o = { symbol: "BTCUSDT", side: "BUY", type: "MARKET", quantity: "0.001" };
    const p1 = signed(sim, a, "POST", "/api/v3/order", o);
    const p2 = signed(sim, a, "POST", "/api/v3/order", o);
    await timers.whenArmed(base + 2);
    timers.releaseAll();
    await Promise.all([p1, p2]);
    const stats = (await admin(sim, "GET", "/stats")).body;
    expect(stats.inflight.maxConcurrent[`${a.accountId}:BTCUSDT`]).toBe(2);
    expect(stats.inflight.current[`${a.accountId}:BTCUSDT`]).toBeUndefined();
  });
});

describe("admin API hygiene", () => {
  it("answers unknown endpoints, wrong methods and bad JSON with its JSON error format", async () => {
    expect(await admin(sim, "GET", "/nope")).toMatchObject({
      status: 404,
      body: { error: { status: 404, code: "NOT_FOUND" } },
    });
    expect(await admin(sim, "DELETE", "/clock")).toMatchObject({
      status: 405,
      body: { error: { code: "METHOD_NOT_ALLOWED" } },
    });
    expect(await admin(sim, "POST", "/accounts", "{oops")).toMatchObject({
      status: 400,
      body: { error: { code: "BAD_REQUEST", message: "body is not valid JSON" } },
    });
    const index = (await admin(sim, "GET", "")).body.endpoints.map((e: any) => `${e.method} ${e.path}`);
    expect(index).toEqual(
      expect.arrayContaining([
        "POST /sim/v1/accounts",
        "POST /sim/v1/clock/advance",
        "POST /sim/v1/faults",
        "GET /sim/v1/orders",
        "POST /sim/v1/orders",
      ]),
    );
  });

  it("requires the bearer token when one is configured", async () => {
    const guarded = await startSim({ adminToken: "s3cret" });
    try {
      expect((await admin(guarded, "GET", "/clock")).body.error.code).toBe("UNAUTHORIZED");
      expect(
        (await admin(guarded, "GET", "/clock", undefined, { Authorization: "Bearer s3cret" })).status,
      ).toBe(200);
    } finally {
      await guarded.close();
    }
  });
});
