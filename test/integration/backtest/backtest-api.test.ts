// Backtests over the HTTP API on a real PostgreSQL: queued → completed in a worker thread with the
// very result the core engine gives, served from the store on repeat, validated on input, and
// private to their owner.
import fs from "node:fs";
import path from "node:path";
import { runBacktest } from "../../../src/core/backtest";
import { loadCandles } from "../../../src/adapters/backtest/candles";
import { startServices, type TestCluster } from "../../support/broker";
import { createTestDatabase, type TestDatabase } from "../../support/db";

jest.setTimeout(60_000);
const ROOT = path.resolve(__dirname, "../../..");
const example = JSON.parse(
  fs.readFileSync(path.join(ROOT, "examples/strategies/ema-cross-rsi.json"), "utf8"),
);

let db: TestDatabase;
let cluster: TestCluster;
let tokenA: string;
let tokenB: string;

async function api(
  method: string,
  url: string,
  token?: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const res = await fetch(cluster.baseUrl + url, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function login(email: string): Promise<string> {
  const password = "correct horse battery staple";
  const reg = await api("POST", "/api/v1/auth/register", undefined, { email, password });
  expect(reg.status).toBe(201);
  const res = await api("POST", "/api/v1/auth/login", undefined, { email, password });
  expect(res.status).toBe(200);
  return res.body.accessToken;
}

async function waitDone(id: string, token: string) {
  for (let i = 0; i < 300; i++) {
    const r = await api("GET", `/api/v1/backtests/${id}`, token);
    expect(r.status).toBe(200);
    if (r.body.status === "completed" || r.body.status === "failed") return r.body;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error("backtest did not finish");
}

beforeAll(async () => {
  db = await createTestDatabase();
  cluster = await startServices(["api", "auth", "backtest"]);
  tokenA = await login("alice@example.com");
  tokenB = await login("bob@example.com");
});
afterAll(async () => {
  await cluster?.stop();
  await db?.drop();
});

const request = {
  definition: example,
  from: "2023-01-01",
  to: "2023-06-30",
  initialBalance: 10_000,
  feeRate: 0.001,
  slippageBps: 5,
};

test("a backtest is accepted with 202, completes, and equals the core engine's result", async () => {
  const created = await api("POST", "/api/v1/backtests", tokenA, request);
  expect(created.status).toBe(202);
  expect(created.body).toMatchObject({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), cached: false });
  const done = await waitDone(created.body.id, tokenA);
  expect(done.status).toBe("completed");
  expect(done.progress).toBe(1);

  const expected = runBacktest({
    strategy: example,
    candles: loadCandles({ symbol: "BTCUSDT", interval: "1h" }),
    from: "2023-01-01",
    to: "2023-06-30",
    feeRate: 0.001,
    slippageBps: 5,
    initialBalance: 10_000,
  });
  expect(done.result).toEqual(JSON.parse(JSON.stringify(expected)));
  expect(done.result.trades.length).toBeGreaterThan(0);
  expect(done.metrics).toEqual(done.result.metrics);
});

test("the same request again is answered from the store, immediately and identically", async () => {
  const first = await api("POST", "/api/v1/backtests", tokenA, request);
  const firstDone = await waitDone(first.body.id, tokenA);
  const again = await api("POST", "/api/v1/backtests", tokenA, {
    ...request,
    definition: JSON.parse(JSON.stringify(example)),
  });
  expect(again.status).toBe(202);
  expect(again.body).toMatchObject({ status: "completed", cached: true });
  expect(again.body.id).not.toBe(first.body.id);
  const row = await api("GET", `/api/v1/backtests/${again.body.id}`, tokenA);
  expect(row.body.result).toEqual(firstDone.result);
  // a different fill model is a different result, not a cache hit
  const other = await api("POST", "/api/v1/backtests", tokenA, { ...request, slippageBps: 0 });
  expect(other.body.cached).toBe(false);
});

test("a malformed definition gets 400 with the validator's errors and their paths; nothing is stored", async () => {
  const bad = {
    ...example,
    indicators: {
      ...example.indicators,
      fast: { type: "EMA", period: -3, source: "close" },
      close: { type: "SMA", period: 5 },
    },
  };
  const before = await api("GET", "/api/v1/backtests?limit=100", tokenA);
  const r = await api("POST", "/api/v1/backtests", tokenA, { ...request, definition: bad });
  expect(r.status).toBe(400);
  expect(r.body.error.code).toBe("VALIDATION_FAILED");
  const paths = r.body.error.details.map((d: any) => d.path);
  expect(paths).toEqual(
    expect.arrayContaining(["/definition/indicators/fast/period", "/definition/indicators/close"]),
  );
  const after = await api("GET", "/api/v1/backtests?limit=100", tokenA);
  expect(after.body.items.length).toBe(before.body.items.length);
});

test("bad ranges and parameters are 400s with a clear message", async () => {
  let r = await api("POST", "/api/v1/backtests", tokenA, {
    ...request,
    from: "2024-02-01",
    to: "2024-01-01",
  });
  expect(r.status).toBe(400);
  expect(r.body.error.details[0].message).toMatch(/before from/);
  r = await api("POST", "/api/v1/backtests", tokenA, { ...request, from: "01/02/2023" });
  expect(r.status).toBe(400);
  expect(r.body.error.code).toBe("VALIDATION_ERROR");
  r = await api("POST", "/api/v1/backtests", tokenA, { ...request, from: "2030-01-01", to: "2030-02-01" });
  expect(r.status).toBe(400);
  expect(r.body.error.details[0].message).toMatch(/no BTCUSDT 1h candles/);
  r = await api("POST", "/api/v1/backtests", tokenA, { from: "2023-01-01", to: "2023-02-01" });
  expect(r.status).toBe(400);
  r = await api("POST", "/api/v1/backtests", undefined, request);
  expect(r.status).toBe(401);
});

test("another user's backtest is invisible (404), and absent from their list", async () => {
  const mine = await api("POST", "/api/v1/backtests", tokenA, { ...request, to: "2023-03-31" });
  await waitDone(mine.body.id, tokenA);
  expect((await api("GET", `/api/v1/backtests/${mine.body.id}`, tokenB)).status).toBe(404);
  expect((await api("DELETE", `/api/v1/backtests/${mine.body.id}`, tokenB)).status).toBe(404);
  const mine2 = await api("POST", "/api/v1/backtests", tokenA, { ...request, to: "2023-04-30" });
  await waitDone(mine2.body.id, tokenA);
  expect(
    (await api("POST", "/api/v1/backtests/compare", tokenB, { ids: [mine.body.id, mine2.body.id] })).status,
  ).toBe(404);
  const list = await api("GET", "/api/v1/backtests", tokenB);
  expect(list.body.items.map((i: any) => i.id)).not.toContain(mine.body.id);
  expect((await api("GET", `/api/v1/backtests/not-a-uuid`, tokenA)).status).toBe(404);
});

test("compare returns metrics side by side", async () => {
  const a = await api("POST", "/api/v1/backtests", tokenA, { ...request, feeRate: 0.001 });
  const b = await api("POST", "/api/v1/backtests", tokenA, { ...request, feeRate: 0.002 });
  await waitDone(a.body.id, tokenA);
  await waitDone(b.body.id, tokenA);
  const r = await api("POST", "/api/v1/backtests/compare", tokenA, { ids: [a.body.id, b.body.id] });
  expect(r.status).toBe(200);
  expect(r.body.backtests.map((x: any) => x.feeRate)).toEqual([0.001, 0.002]);
  expect(r.body.backtests[1].metrics.feesPaid).toBeGreaterThan(r.body.backtests[0].metrics.feesPaid);
  expect(r.body.metrics).toContain("sharpe");
});

async function waitSweep(id: string, token: string) {
  for (let i = 0; i < 600; i++) {
    const r = await api("GET", `/api/v1/backtests/sweeps/${id}`, token);
    expect(r.status).toBe(200);
    if (r.body.status === "completed") return r.body;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error("sweep did not finish");
}

test("a parameter sweep is a job: 202 at once, then every combination runs and is ranked", async () => {
  const r = await api("POST", "/api/v1/backtests/sweep", tokenA, {
    ...request,
    grid: { "indicators.fast.period": [8, 12], "risk.stopLossPct": [1, 2] },
    rankBy: "netProfit",
  });
  expect(r.status).toBe(202);
  expect(r.body).toMatchObject({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), runs: 4, skipped: [] });
  const done = await waitSweep(r.body.id, tokenA);
  expect(done.runs).toBe(4);
  expect(done.completed).toBe(4);
  expect(done.progress).toBe(1);
  const profits = done.results.map((x: any) => x.metrics.netProfit);
  expect(profits).toEqual([...profits].sort((x: number, y: number) => y - x));
  expect(done.results.map((x: any) => x.rank)).toEqual([1, 2, 3, 4]);
  const combos = done.results
    .map((x: any) => `${x.params["indicators.fast.period"]}/${x.params["risk.stopLossPct"]}`)
    .sort();
  expect(combos).toEqual(["12/1", "12/2", "8/1", "8/2"]);
  // each row equals a single run with those parameters
  const best = done.results[0];
  const def = JSON.parse(JSON.stringify(example));
  def.indicators.fast.period = best.params["indicators.fast.period"];
  def.risk.stopLossPct = best.params["risk.stopLossPct"];
  const single = runBacktest({
    strategy: def,
    candles: loadCandles({ symbol: "BTCUSDT", interval: "1h" }),
    from: request.from,
    to: request.to,
    feeRate: 0.001,
    slippageBps: 5,
  });
  expect(best.metrics).toEqual(JSON.parse(JSON.stringify(single.metrics)));
  // the runs are stored backtests: they can be read and compared like any other
  const run = await api("GET", `/api/v1/backtests/${best.id}`, tokenA);
  expect(run.body).toMatchObject({ status: "completed", sweepId: r.body.id });
  const cmp = await api("POST", "/api/v1/backtests/compare", tokenA, {
    ids: done.results.slice(0, 2).map((x: any) => x.id),
  });
  expect(cmp.status).toBe(200);
  // another user cannot see the sweep
  expect((await api("GET", `/api/v1/backtests/sweeps/${r.body.id}`, tokenB)).status).toBe(404);
  expect((await api("GET", "/api/v1/backtests/sweeps", tokenA)).body.items[0].id).toBe(r.body.id);

  const tooBig = await api("POST", "/api/v1/backtests/sweep", tokenA, {
    ...request,
    grid: {
      "indicators.fast.period": Array.from({ length: 11 }, (_, i) => i + 2),
      "indicators.slow.period": Array.from({ length: 10 }, (_, i) => i + 30),
    },
  });
  expect(tooBig.status).toBe(400);
  expect(tooBig.body.error.details[0].message).toMatch(/110 combinations/);
});
