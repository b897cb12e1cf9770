// A run's queue position is read after its row: a worker may take the run in between. The caller
// still shows the run queued, so it must get a position (the head of the queue), never null
// beside "queued" (a dashboard would show "position unknown" for a run about to start).
import { QueryTypes } from "sequelize";
import { BacktestStore, type NewRun } from "../../../src/adapters/backtest/store";
import { createTestDatabase, type TestDatabase } from "../../support/db";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

test("a run taken by a worker after it was read as queued is at the head of the queue, not missing", async () => {
  const [u] = await db.sequelize.query<{ id: string }>(
    `INSERT INTO users (email, password_hash) VALUES ('queue@example.com', 'x') RETURNING id`,
    { type: QueryTypes.SELECT },
  );
  const store = new BacktestStore(db.sequelize);
  const run = (n: number): NewRun & { status: "queued"; priority: number } => ({
    userId: Number(u.id),
    strategyId: null,
    cacheKey: `k${n}`,
    engineVersion: "test",
    params: {
      symbol: "BTCUSDT",
      interval: "1h",
      from: "2023-01-01T00:00:00Z",
      to: "2023-02-01T00:00:00Z",
      initialBalance: 10_000,
      feeRate: 0.001,
      slippageBps: 0,
      warmupCandles: 0,
      dataSource: "bundled",
      window: { firstOpenTime: 0, lastOpenTime: 0, candles: 0, warmupCandles: 0 },
    },
    definition: {},
    status: "queued",
    priority: -n,
  });
  const inserted = await store.transaction((t) => store.insertRuns(t, [run(0), run(1), run(2)]));
  const rows = await store.list(Number(u.id), 10);
  const byId = new Map(rows.map((r) => [r.id, r]));
  const read = inserted.map((r) => byId.get(r.id)!);
  expect(read.map((r) => r.status)).toEqual(["queued", "queued", "queued"]);
  expect([...(await store.queuePositions(read)).values()].sort()).toEqual([1, 2, 3]);

  // a worker takes the first run after the caller read all three as queued
  expect(await store.claim(inserted[0].id, "worker-1")).toBeDefined();
  const positions = await store.queuePositions(read);
  expect(positions.get(inserted[0].id)).toBe(1);
  expect(positions.get(inserted[1].id)).toBe(1);
  expect(positions.get(inserted[2].id)).toBe(2);
});
