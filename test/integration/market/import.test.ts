// History import against the simulator: resumable without duplicates, real exchange gaps
// reported and not retried forever, 429 storms waited out (Retry-After honoured, never a 418),
// and the `aura data` command line end to end.
import { spawn } from "node:child_process";
import path from "node:path";
import { endpointsFor } from "../../../src/adapters/exchange/config";
import { MarketRest } from "../../../src/adapters/exchange/market-rest";
import { importHistory, loadKlineFiles, type ImportSummary } from "../../../src/adapters/market/import";
import { KlineStore } from "../../../src/adapters/market/kline-store";
import { bundledKlinesDir } from "../../../src/adapters/klines/files";
import { createSimulator, type Simulator } from "../../../src/sim";
import { createTestDatabase, type TestDatabase } from "../../support/db";
import { H, bundled } from "./helpers";

jest.setTimeout(30_000);

const ROOT = path.resolve(__dirname, "../../..");
const FROM = Date.parse("2023-03-20T00:00:00Z");
const TO = Date.parse("2023-03-31T23:00:00Z");
// 12 days of hours, minus 2023-03-24 13:00 which the exchange never had
const EXPECTED = 12 * 24 - 1;

let sim: Simulator;
let db: TestDatabase;
let store: KlineStore;
beforeAll(async () => {
  // the replay clock is past the range, so the simulator serves all of it
  sim = await createSimulator({ step: true, from: "2024-06-01T00:00:00Z" });
  await sim.listen(0);
  db = await createTestDatabase();
  store = new KlineStore(db.sequelize);
});
afterAll(async () => {
  await sim?.close();
  await db?.drop();
});
beforeEach(async () => {
  await db.sequelize.query("TRUNCATE klines");
  sim.clearRequests();
  sim.faults.clear();
});

const rest = () => new MarketRest({ endpoints: endpointsFor("sim", { restUrl: sim.baseUrl }) });
const run = (o: Partial<Parameters<typeof importHistory>[0]> = {}) =>
  importHistory({
    rest: rest(),
    store,
    symbol: "BTCUSDT",
    interval: "1h",
    from: FROM,
    to: TO,
    pageLimit: 50,
    ...o,
  });

async function storedTimes(): Promise<number[]> {
  const [rows]: any = await db.sequelize.query(
    `SELECT open_time FROM klines WHERE symbol = 'BTCUSDT' AND interval = '1h' ORDER BY open_time`,
  );
  return rows.map((r: any) => Number(r.open_time));
}

test("an interrupted import resumes after the newest stored candle, without duplicates, and reports the real gap", async () => {
  const abort = new AbortController();
  const first = await run({ signal: abort.signal, onProgress: (p) => p.done >= 100 && abort.abort() });
  expect(first.interrupted).toBe(true);
  const partial = await storedTimes();
  expect(partial.length).toBeGreaterThanOrEqual(100);
  expect(partial.length).toBeLessThan(EXPECTED);

  sim.clearRequests();
  const second = await run();
  expect(second.interrupted).toBe(false);
  expect(second.resumedFrom).toBe(partial[partial.length - 1] + H);
  // nothing before the resume point was downloaded again
  expect(second.fetched).toBe(EXPECTED - partial.length);
  expect(second.inserted).toBe(EXPECTED - partial.length);
  expect(first.inserted + second.inserted).toBe(EXPECTED);

  const all = await storedTimes();
  expect(all).toHaveLength(EXPECTED);
  expect(new Set(all).size).toBe(EXPECTED);
  expect(all).not.toContain(Date.parse("2023-03-24T13:00:00Z"));
  // each run reports the missing hour once (a resumed run re-checks it with one request)
  expect(second.exchangeGaps).toBe(1);
  const [row] = await store.range("BTCUSDT", "1h", {
    from: Date.parse("2023-03-24T14:00:00Z"),
    limit: 1,
    pick: "asc",
  });
  expect(row).toEqual(bundled("BTCUSDT", Date.parse("2023-03-24T14:00:00Z")));

  // a third run has nothing to fetch beyond re-checking the known gap once
  const third = await run();
  expect(third).toMatchObject({ inserted: 0, fetched: 0, exchangeGaps: 1 });
  expect(third.requests).toBeLessThanOrEqual(3);
});

test("holes inside what is stored are fetched again on the next run", async () => {
  await run();
  await db.sequelize.query(`DELETE FROM klines WHERE open_time BETWEEN $1 AND $2`, {
    bind: [Date.parse("2023-03-22T00:00:00Z"), Date.parse("2023-03-22T05:00:00Z")],
  });
  const again = await run();
  expect(again.inserted).toBe(6);
  expect(again.holesRepaired).toBeGreaterThanOrEqual(1);
  expect(await storedTimes()).toHaveLength(EXPECTED);
});

test("a 429 storm is waited out: Retry-After honoured, zero 418s, and the import completes", async () => {
  sim.faults.add({ kind: "rate-limit", count: 2, retryAfter: 1 });
  const summary: ImportSummary = await run({ pageLimit: 1000 });
  expect(summary.rateLimited).toBe(2);
  expect(summary.banned).toBe(0);
  expect(await storedTimes()).toHaveLength(EXPECTED);

  const log = sim.requests();
  expect(log.filter((r) => r.status === 418)).toEqual([]);
  const limited = log.filter((r) => r.status === 429);
  expect(limited).toHaveLength(2);
  // after each 429 the next request waited for Retry-After (1 s)
  for (const r of limited) {
    const next = log[log.indexOf(r) + 1];
    expect(next).toBeDefined();
    expect(next.time - r.time).toBeGreaterThanOrEqual(950);
  }
});

test("klines files in the bundled format load idempotently", async () => {
  const dir = path.join(bundledKlinesDir(), "ETHUSDT", "1h");
  const first = await loadKlineFiles(store, dir);
  expect(first.series).toEqual([
    expect.objectContaining({ symbol: "ETHUSDT", interval: "1h", rows: 17543, inserted: 17543 }),
  ]);
  const again = await loadKlineFiles(store, dir);
  expect(again.series[0].inserted).toBe(0);
  const [row] = await store.range("ETHUSDT", "1h", {
    from: Date.parse("2023-03-24T14:00:00Z"),
    limit: 1,
    pick: "asc",
  });
  expect(row).toEqual(bundled("ETHUSDT", Date.parse("2023-03-24T14:00:00Z")));
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = {
      ...process.env,
      DATABASE_URL: db.url,
      SIM_URL: sim.baseUrl,
      EXCHANGE: "sim",
      LOG_LEVEL: "warn",
    };
    const child = spawn(process.execPath, [path.join(ROOT, "bin/aura.js"), ...args], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

test("aura data import / status from the command line; bad input exits non-zero with a reason", async () => {
  const ok = await cli([
    "data",
    "import",
    "--symbol",
    "BTCUSDT",
    "--interval",
    "1h",
    "--from",
    "2023-03-20",
    "--to",
    "2023-03-31",
    "--json",
  ]);
  expect(ok.stderr).not.toMatch(/aura:/);
  expect(ok.code).toBe(0);
  const summary = JSON.parse(ok.stdout.trim().split("\n").pop()!);
  expect(summary).toMatchObject({
    symbol: "BTCUSDT",
    interval: "1h",
    inserted: EXPECTED,
    exchangeGaps: 1,
    banned: 0,
  });
  const status = await cli(["data", "status", "--json"]);
  expect(JSON.parse(status.stdout)).toEqual([
    { symbol: "BTCUSDT", interval: "1h", first: FROM, last: TO, count: EXPECTED },
  ]);

  const unknown = await cli([
    "data",
    "import",
    "--symbol",
    "NOPEUSDT",
    "--interval",
    "1h",
    "--from",
    "2023-03-20",
  ]);
  expect(unknown.code).not.toBe(0);
  expect(unknown.stderr).toMatch(/Unknown symbol NOPEUSDT/);
  const reversed = await cli([
    "data",
    "import",
    "--symbol",
    "BTCUSDT",
    "--interval",
    "1h",
    "--from",
    "2023-03-20",
    "--to",
    "2023-03-01",
  ]);
  expect(reversed.code).not.toBe(0);
  expect(reversed.stderr).toMatch(/is after --to/);
});
