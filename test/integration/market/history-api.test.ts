// History reads (market-data.candles: cache → database → exchange) and the HTTP routes
// GET /api/v1/market/klines and /market/symbols: correct candles from each source, real gaps not
// invented, forming candles never returned, bad input answered with a clear 4xx.
import { http, registerAndLogin, useTestSecrets, type Session } from "../security/helpers";
import { AS_OPERATOR, AS_STRATEGY, AS_USER, H, bundled, startMarketEnv, type MarketEnv } from "./helpers";

jest.setTimeout(30_000);

let env: MarketEnv;
let user: Session;
beforeAll(async () => {
  useTestSecrets();
  // replay at 2023-03-25 00:00: everything before it is history, the 00:00 candle is forming
  env = await startMarketEnv({
    from: "2023-03-25T00:00:00Z",
    services: ["api", "auth", "market-data"],
    extraSettings: {
      api: { rateLimits: { ipPerMinute: 100_000, userPerMinute: 100_000, credentialsPerMinute: 100_000 } },
    },
  });
  user = await registerAndLogin(env.cluster.baseUrl);
});
afterAll(async () => {
  await env?.stop();
});

const t = (iso: string) => Date.parse(iso);
const call = (params: Record<string, unknown>) =>
  env.cluster.broker.call("market-data.candles", params, AS_USER) as Promise<any>;
const get = (query: string) =>
  http(env.cluster.baseUrl, "GET", `/market/klines?${query}`, { token: user.accessToken });

test("history comes from the exchange first, then from the database, equal to the exchange's candles", async () => {
  const q = { symbol: "BTCUSDT", interval: "1h", from: t("2023-03-10T00:00:00Z"), limit: 5 };
  const first = await call(q);
  expect(first.source).toBe("exchange");
  expect(first.candles).toEqual(Array.from({ length: 5 }, (_, i) => bundled("BTCUSDT", q.from + i * H)));
  const again = await call(q);
  expect(again).toEqual({ ...first, source: "database" });
});

test("a window across the real exchange gap has no invented candle, and is then answered by the database", async () => {
  const q = { symbol: "BTCUSDT", interval: "1h", from: "2023-03-24T10:00:00Z", to: "2023-03-24T15:00:00Z" };
  const first = await call(q);
  expect(first.candles.map((c: any) => new Date(c.openTime).toISOString().slice(11, 13))).toEqual([
    "10",
    "11",
    "12",
    "14",
    "15",
  ]);
  for (const c of first.candles) expect(c).toEqual(bundled("BTCUSDT", c.openTime));
  expect((await call(q)).source).toBe("database");
});

test("the latest candles never include the one still forming", async () => {
  const r = await call({ symbol: "BTCUSDT", interval: "1h", limit: 3 });
  expect(r.candles.map((c: any) => c.openTime)).toEqual([
    t("2023-03-24T21:00:00Z"),
    t("2023-03-24T22:00:00Z"),
    t("2023-03-24T23:00:00Z"),
  ]);
  const upTo = await call({ symbol: "BTCUSDT", interval: "1h", to: t("2023-03-25T05:00:00Z"), limit: 2 });
  expect(upTo.candles.map((c: any) => c.openTime)).toEqual([
    t("2023-03-24T22:00:00Z"),
    t("2023-03-24T23:00:00Z"),
  ]);
});

test("a live series is served from the cache", async () => {
  await env.cluster.broker.call(
    "market-data.subscribe",
    { symbol: "ETHUSDT", interval: "1h", subscriber: "history-test" },
    AS_STRATEGY,
  );
  env.sim.clock.advance({ candles: 3 });
  await env.until(() => env.closed("ETHUSDT").length === 3, "3 live ETHUSDT candles");
  const r = await call({ symbol: "ETHUSDT", interval: "1h", from: t("2023-03-25T00:00:00Z"), limit: 10 });
  expect(r.source).toBe("cache");
  expect(r.candles).toEqual(env.closed("ETHUSDT"));
  const latest = await call({ symbol: "ETHUSDT", interval: "1h", limit: 2 });
  expect(latest).toMatchObject({ source: "cache", candles: env.closed("ETHUSDT").slice(1) });
  await env.cluster.broker.call(
    "market-data.unsubscribe",
    { symbol: "ETHUSDT", interval: "1h", subscriber: "history-test" },
    AS_STRATEGY,
  );
});

test("GET /api/v1/market/klines and /market/symbols answer a signed-in user; without a token 401", async () => {
  const res = await get(`symbol=btcusdt&interval=1h&from=2023-03-20&limit=2`);
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ symbol: "BTCUSDT", interval: "1h", complete: true });
  expect(res.body.candles).toEqual([
    bundled("BTCUSDT", t("2023-03-20T00:00:00Z")),
    bundled("BTCUSDT", t("2023-03-20T01:00:00Z")),
  ]);

  const syms = await http(env.cluster.baseUrl, "GET", "/market/symbols", { token: user.accessToken });
  expect(syms.status).toBe(200);
  expect(syms.body.symbols.map((s: any) => s.symbol)).toEqual(["BTCUSDT", "ETHUSDT"]);
  expect(syms.body.symbols[0]).toMatchObject({
    status: "TRADING",
    baseAsset: "BTC",
    quoteAsset: "USDT",
    tickSize: "0.01000000",
  });
  expect(syms.body.intervals).toContain("1h");
  expect(syms.body.intervals).not.toContain("1M");

  expect((await http(env.cluster.baseUrl, "GET", "/market/klines?symbol=BTCUSDT&interval=1h")).status).toBe(
    401,
  );
  expect((await http(env.cluster.baseUrl, "GET", "/market/symbols")).status).toBe(401);
});

describe("bad input gets a clear 4xx and changes nothing", () => {
  test.each([
    [
      "unknown symbol",
      "symbol=DOGEXYZ&interval=1h",
      404,
      "UNKNOWN_SYMBOL",
      /Unknown symbol DOGEXYZ.*BTCUSDT, ETHUSDT/,
    ],
    ["unsupported interval", "symbol=BTCUSDT&interval=7h", 400, "VALIDATION_ERROR", /Unsupported 'interval'/],
    ["monthly interval", "symbol=BTCUSDT&interval=1M", 400, "VALIDATION_ERROR", /Unsupported 'interval'/],
    [
      "from after to",
      "symbol=BTCUSDT&interval=1h&from=2023-03-10&to=2023-03-01",
      400,
      "INVALID_RANGE",
      /'from' \(2023-03-10T00:00:00.000Z\) is after 'to'/,
    ],
    [
      "limit over the maximum",
      "symbol=BTCUSDT&interval=1h&limit=1001",
      400,
      "VALIDATION_ERROR",
      /at most 1000 candles/,
    ],
    ["limit zero", "symbol=BTCUSDT&interval=1h&limit=0", 400, "VALIDATION_ERROR", /at least 1/],
    [
      "unreadable time",
      "symbol=BTCUSDT&interval=1h&from=yesterday",
      400,
      "VALIDATION_ERROR",
      /'from' must be epoch milliseconds or an ISO date/,
    ],
    ["missing symbol", "interval=1h", 400, "VALIDATION_ERROR", /'symbol' is required/],
  ])("%s", async (_name, query, status, code, message) => {
    const res = await get(query);
    expect([res.status, res.body?.error?.code]).toEqual([status, code]);
    const details = Array.isArray(res.body.error.details) ? res.body.error.details : [];
    const text = [res.body.error.message, ...details.map((d: any) => d.message)].join(" | ");
    expect(text).toMatch(message);
  });

  test("the same rules apply to broker calls", async () => {
    await expect(call({ symbol: "DOGEXYZ", interval: "1h" })).rejects.toMatchObject({
      code: 404,
      type: "UNKNOWN_SYMBOL",
    });
    await expect(call({ symbol: "BTCUSDT", interval: "7h" })).rejects.toMatchObject({
      type: "VALIDATION_ERROR",
    });
    await expect(call({ symbol: "BTCUSDT", interval: "1h", from: 10, to: 5 })).rejects.toMatchObject({
      code: 400,
      type: "INVALID_RANGE",
    });
    await expect(call({ symbol: "BTCUSDT", interval: "1h", limit: 5000 })).rejects.toMatchObject({
      type: "VALIDATION_ERROR",
    });
    await expect(
      env.cluster.broker.call(
        "market-data.subscribe",
        { symbol: "DOGEXYZ", interval: "1h", subscriber: "x" },
        AS_STRATEGY,
      ),
    ).rejects.toMatchObject({ code: 404 });
    await expect(
      env.cluster.broker.call("market-data.subscribe", { symbol: "BTCUSDT", interval: "1h" }, AS_STRATEGY),
    ).rejects.toMatchObject({ type: "VALIDATION_ERROR" });
    // the simulator replays 1h candles and cannot stream 1m ones: the exchange's refusal comes back
    await expect(
      env.cluster.broker.call(
        "market-data.subscribe",
        { symbol: "BTCUSDT", interval: "1m", subscriber: "x" },
        AS_STRATEGY,
      ),
    ).rejects.toMatchObject({
      code: 400,
      type: "STREAM_REFUSED",
      message: expect.stringMatching(/cannot be replayed/),
    });
    expect(await env.cluster.broker.call("market-data.subscriptions", {}, AS_OPERATOR)).toEqual([]);
  });
});

test("each action answers only its audience: users read history, strategies, gateways and operators subscribe, operators list", async () => {
  const series = { symbol: "BTCUSDT", interval: "1h", subscriber: "x" };
  await expect(
    env.cluster.broker.call("market-data.candles", { symbol: "BTCUSDT", interval: "1h" }),
  ).rejects.toMatchObject({ code: 401 });
  await expect(env.cluster.broker.call("market-data.symbols", {})).rejects.toMatchObject({ code: 401 });
  for (const caller of [undefined, "auth", "strategy", "strategies.1"]) {
    await expect(env.cluster.broker.call("market-data.subscribe", series, { caller })).rejects.toMatchObject({
      code: 403,
    });
  }
  await expect(env.cluster.broker.call("market-data.unsubscribe", series)).rejects.toMatchObject({
    code: 403,
  });
  await expect(env.cluster.broker.call("market-data.subscriptions", {}, AS_STRATEGY)).rejects.toMatchObject({
    code: 403,
  });
  // any strategy actor, whatever its instance id; the gateway; operators
  for (const caller of ["strategy.7f3a", "api", "repl"]) {
    expect(await env.cluster.broker.call("market-data.unsubscribe", series, { caller })).toMatchObject({
      subscribers: 0,
    });
  }
});
