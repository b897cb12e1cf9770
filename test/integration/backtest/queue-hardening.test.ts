// The backtest queue under hostile and heavy use, through the real gateway: sizes the caller
// controls are bounded before any work, grid keys cannot reach a prototype, each user has a quota
// (429 with Retry-After beyond it), and one user's backlog does not hold up another user's run.
import fs from "node:fs";
import path from "node:path";
import { QueryTypes } from "sequelize";
import { startServices, type TestCluster } from "../../support/broker";
import { createTestDatabase, type TestDatabase } from "../../support/db";

jest.setTimeout(120_000);
const ROOT = path.resolve(__dirname, "../../..");
const example = JSON.parse(
  fs.readFileSync(path.join(ROOT, "examples/strategies/ema-cross-rsi.json"), "utf8"),
);

let db: TestDatabase;
let cluster: TestCluster;

async function api(method: string, url: string, token?: string, body?: unknown) {
  const res = await fetch(cluster.baseUrl + url, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

async function login(email: string): Promise<string> {
  const password = "correct horse battery staple";
  expect((await api("POST", "/api/v1/auth/register", undefined, { email, password })).status).toBe(201);
  const res = await api("POST", "/api/v1/auth/login", undefined, { email, password });
  return res.body.accessToken;
}

const month = { definition: example, from: "2023-03-01", to: "2023-03-31" };
const twoYears = { definition: example, from: "2023-01-01", to: "2024-12-31" };

async function sql<T extends object = Record<string, unknown>>(
  q: string,
  bind: unknown[] = [],
): Promise<T[]> {
  return db.sequelize.query<T>(q, { bind, type: QueryTypes.SELECT });
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, tries = 1200): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  db = await createTestDatabase();
  cluster = await startServices(["api", "auth", "backtest"], {
    settings: { backtest: { workers: 1, queuePerUser: 210, queueMax: 1000 } },
  });
});
afterAll(async () => {
  await cluster?.stop();
  await db?.drop();
});

describe("sizes the caller controls are bounded before any work", () => {
  let token: string;
  beforeAll(async () => {
    token = await login("bomb@example.com");
  });

  test("five fields of fifty values (312,500,000 combinations) are refused at once, without allocating them", async () => {
    const values = Array.from({ length: 50 }, (_, i) => i + 2);
    const heapBefore = process.memoryUsage().heapUsed;
    const r = await api("POST", "/api/v1/backtests/sweep", token, {
      ...month,
      grid: {
        "indicators.fast.period": values,
        "indicators.slow.period": values,
        "indicators.rsi.period": values,
        "risk.stopLossPct": values,
        "risk.takeProfitPct": values,
      },
    });
    expect(r.status).toBe(400);
    expect(r.body.error.details[0].message).toMatch(/312500000 combinations; at most 100/);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    // nothing was stored, and the service still answers
    expect(await sql(`SELECT id FROM backtest_sweeps`)).toHaveLength(0);
    expect((await api("GET", "/api/v1/backtests", token)).status).toBe(200);
  });

  test("more than five grid fields, or more than fifty values for one, are refused", async () => {
    const six = await api("POST", "/api/v1/backtests/sweep", token, {
      ...month,
      grid: {
        "indicators.fast.period": [5],
        "indicators.slow.period": [30],
        "indicators.rsi.period": [14],
        "risk.stopLossPct": [1],
        "risk.takeProfitPct": [2],
        "risk.positionSizePct": [50],
      },
    });
    expect(six.status).toBe(400);
    expect(six.body.error.details[0].message).toMatch(/at most 5 may be swept/);
    const many = await api("POST", "/api/v1/backtests/sweep", token, {
      ...month,
      grid: { "indicators.fast.period": Array.from({ length: 51 }, (_, i) => i + 2) },
    });
    expect(many.status).toBe(400);
    expect(many.body.error.details[0].message).toMatch(/at most 50 per field/);
  });

  test("a range holding more candles than a run may read is refused before any query", async () => {
    const r = await api("POST", "/api/v1/backtests", token, {
      definition: { ...example, interval: "1s" },
      from: "2020-01-01",
      to: "2024-12-31",
    });
    expect(r.status).toBe(400);
    expect(r.body.error.details[0].message).toMatch(/at most 1,100,000 per run/);
  });
});

describe("grid keys cannot reach a prototype", () => {
  test("__proto__, constructor and prototype paths are refused, and Object.prototype is untouched", async () => {
    const mallory = await login("mallory@example.com");
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    for (const key of [
      "__proto__.polluted",
      "constructor.prototype.polluted",
      "indicators.__proto__.polluted",
      "indicators.fast.__proto__",
      "risk.__proto__",
      "prototype.polluted",
    ]) {
      const r = await api("POST", "/api/v1/backtests/sweep", mallory, { ...month, grid: { [key]: [1, 2] } });
      expect(r.status).toBe(400);
    }
    // a raw body, so the key reaches the server as written
    const raw = await fetch(cluster.baseUrl + "/api/v1/backtests/sweep", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${mallory}` },
      body: `{"definition":${JSON.stringify(example)},"from":"2023-03-01","to":"2023-03-31","grid":{"__proto__":{"polluted":[1]},"indicators.fast.period":[5]}}`,
    });
    expect(raw.status).toBeLessThan(500);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // another user is treated exactly as before
    const alice = await login("alice-proto@example.com");
    const ok = await api("POST", "/api/v1/backtests", alice, month);
    expect(ok.status).toBe(202);
  });
});

describe("quota and fairness", () => {
  test("one user's 200 queued runs do not delay another user's single run by more than one run", async () => {
    const heavy = await login("heavy@example.com");
    const light = await login("light@example.com");
    const grid = (offset: number) => ({
      "indicators.fast.period": Array.from({ length: 10 }, (_, i) => i + 3 + offset),
      "indicators.slow.period": Array.from({ length: 10 }, (_, i) => i + 30),
    });
    const s1 = await api("POST", "/api/v1/backtests/sweep", heavy, { ...twoYears, grid: grid(0) });
    const s2 = await api("POST", "/api/v1/backtests/sweep", heavy, { ...twoYears, grid: grid(10) });
    expect([s1.status, s2.status]).toEqual([202, 202]);
    expect(s1.body.runs + s2.body.runs).toBe(200);

    // beyond the quota: 429 with a Retry-After, nothing stored
    const over = await api("POST", "/api/v1/backtests/sweep", heavy, {
      ...twoYears,
      grid: { "indicators.fast.period": Array.from({ length: 20 }, (_, i) => i + 40) },
    });
    expect(over.status).toBe(429);
    expect(over.body.error.code).toBe("RATE_LIMITED");
    expect(Number(over.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await sql(`SELECT count(*)::int AS n FROM backtest_sweeps`)).toEqual([{ n: 2 }]);

    // truthful states: one run at a time with one worker, every other run queued with its position
    const states = await sql<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM backtest_results GROUP BY status ORDER BY status`,
    );
    const running = states.find((s) => s.status === "running")?.n ?? 0;
    expect(running).toBeLessThanOrEqual(1);
    const queuedBefore = await sql<{ id: string }>(`SELECT id FROM backtest_results WHERE status = 'queued'`);
    expect(queuedBefore.length).toBeGreaterThan(150);

    // the other user's run is next in line, not behind 200 runs. Every user's first run shares the
    // top priority, so the heavy user's first run is still ahead of it when the one worker has not
    // taken that run yet (a slow start on a loaded machine): then it is second, and only then.
    const heavyFirstQueued = await sql<{ n: number }>(
      `SELECT count(*)::int AS n FROM backtest_results WHERE status = 'queued' AND priority = 0`,
    );
    const mine = await api("POST", "/api/v1/backtests", light, month);
    expect(mine.status).toBe(202);
    expect(mine.body.position).toBeLessThanOrEqual(1 + heavyFirstQueued[0].n);
    expect(mine.body.position).toBeLessThanOrEqual(2);
    const queuedIds = new Set(queuedBefore.map((r) => r.id));
    const view = await api("GET", `/api/v1/backtests/${mine.body.id}`, light);
    if (view.body.status === "queued") {
      expect(view.body.position).toBeLessThanOrEqual(mine.body.position);
      expect(view.body.startedAt).toBeNull();
    }
    await waitFor("the light user's run", async () => {
      const r = await api("GET", `/api/v1/backtests/${mine.body.id}`, light);
      return r.body.status === "completed" && r.body;
    });
    const [me] = await sql<{ started_at: Date; created_at: Date }>(
      `SELECT started_at, created_at FROM backtest_results WHERE id = $1`,
      [mine.body.id],
    );
    // between its submission and its start, the one worker took at most the heavy run it was
    // already fetching when the light run arrived: a delay of at most one run
    const overtook = await sql<{ id: string }>(
      `SELECT id FROM backtest_results WHERE user_id <> (SELECT user_id FROM backtest_results WHERE id = $1)
          AND started_at >= $2 AND started_at < $3`,
      [mine.body.id, me.created_at, me.started_at],
    );
    expect(overtook.length).toBeLessThanOrEqual(1);
    expect(queuedIds.size).toBeGreaterThan(150);
    const stillQueued = await sql<{ n: number }>(
      `SELECT count(*)::int AS n FROM backtest_results WHERE status = 'queued'`,
    );
    expect(stillQueued[0].n).toBeGreaterThan(100);

    // a deleted sweep leaves the queue with all its runs
    expect((await api("DELETE", `/api/v1/backtests/sweeps/${s1.body.id}`, heavy)).status).toBe(200);
    expect((await api("DELETE", `/api/v1/backtests/sweeps/${s2.body.id}`, heavy)).status).toBe(200);
    expect(await sql(`SELECT id FROM backtest_results WHERE sweep_id IS NOT NULL`)).toEqual([]);
  });
});
