// The `intrabar` fill option over the HTTP API: it reaches the worker (a "path" run equals the
// core engine's "path" result), it is part of what identifies a stored result (a "path" run is no
// cache hit for a "stop_first" one, while the default and an explicit "stop_first" share one), and
// anything else is refused.
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
// levels close enough that some hourly candles reach both: the two modes give different results
const definition = { ...example, risk: { ...example.risk, takeProfitPct: 0.5, stopLossPct: 0.5 } };

let db: TestDatabase;
let cluster: TestCluster;
let token: string;

async function api(
  method: string,
  url: string,
  body?: unknown,
  auth = true,
): Promise<{ status: number; body: any }> {
  const res = await fetch(cluster.baseUrl + url, {
    method,
    headers: { "content-type": "application/json", ...(auth ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function waitDone(id: string) {
  for (let i = 0; i < 300; i++) {
    const r = await api("GET", `/api/v1/backtests/${id}`);
    expect(r.status).toBe(200);
    if (r.body.status === "completed" || r.body.status === "failed") return r.body;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error("backtest did not finish");
}

beforeAll(async () => {
  db = await createTestDatabase();
  cluster = await startServices(["api", "auth", "backtest"]);
  const password = "correct horse battery staple";
  const credentials = { email: "intrabar@example.com", password };
  expect((await api("POST", "/api/v1/auth/register", credentials, false)).status).toBe(201);
  token = (await api("POST", "/api/v1/auth/login", credentials, false)).body.accessToken;
});
afterAll(async () => {
  await cluster?.stop();
  await db?.drop();
});

const request = { definition, from: "2023-01-01", to: "2023-06-30", feeRate: 0.001, slippageBps: 5 };
const engine = (intrabar: "stop_first" | "path") =>
  JSON.parse(
    JSON.stringify(
      runBacktest({
        strategy: definition,
        candles: loadCandles({ symbol: "BTCUSDT", interval: "1h" }),
        from: request.from,
        to: request.to,
        feeRate: 0.001,
        slippageBps: 5,
        intrabar,
      }),
    ),
  );

test('a "path" run equals the engine\'s "path" result and is stored apart from "stop_first"', async () => {
  const first = await api("POST", "/api/v1/backtests", { ...request, intrabar: "stop_first" });
  expect(first.status).toBe(202);
  const firstDone = await waitDone(first.body.id);
  expect(firstDone.status).toBe("completed");
  expect(firstDone.params.intrabar).toBe("stop_first");
  expect(firstDone.result).toEqual(engine("stop_first"));

  // the default is stop_first: the same stored result
  const byDefault = await api("POST", "/api/v1/backtests", request);
  expect(byDefault.body).toMatchObject({ status: "completed", cached: true });

  const byPath = await api("POST", "/api/v1/backtests", { ...request, intrabar: "path" });
  expect(byPath.body.cached).toBe(false);
  const pathDone = await waitDone(byPath.body.id);
  expect(pathDone.status).toBe("completed");
  expect(pathDone.params.intrabar).toBe("path");
  const expected = engine("path");
  expect(pathDone.result).toEqual(expected);
  expect(pathDone.result.metrics.netProfit).not.toBe(firstDone.result.metrics.netProfit);

  const cmp = await api("POST", "/api/v1/backtests/compare", { ids: [first.body.id, byPath.body.id] });
  expect(cmp.body.backtests.map((b: any) => b.intrabar)).toEqual(["stop_first", "path"]);
});

test("an unknown intrabar mode is a 400", async () => {
  const r = await api("POST", "/api/v1/backtests", { ...request, intrabar: "low_first" });
  expect(r.status).toBe(400);
  expect(JSON.stringify(r.body.error)).toContain("intrabar");
});
