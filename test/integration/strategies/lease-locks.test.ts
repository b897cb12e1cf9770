// A runner renews its leases while its actors record decisions: both statements lock the same
// lease rows (the renewal updates them, the fenced decision insert shares them). Taken in
// different orders they deadlock, PostgreSQL aborts one, and the actor whose decision write was
// the victim crashes and decides that candle late. Every statement that locks many lease rows
// takes them in strategy id order, so a runner whose leases were claimed in shuffled order (as the
// supervisor claims them) renews and records side by side without an error.
import { QueryTypes } from "sequelize";
import { DecisionLog, type RecordOutcome } from "../../../src/adapters/strategies/decisions";
import { LeaseStore, type Held } from "../../../src/adapters/strategies/leases";
import { createTestDatabase, type TestDatabase } from "../../support/db";

jest.setTimeout(120_000);

const N = 400;
const ROUNDS = 12;
const NODE = "runner-a";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

test("renewals, releases and fenced decision writes over the same leases never deadlock", async () => {
  const q = <T extends object>(sql: string, bind: unknown[] = []) =>
    db.sequelize.query<T>(sql, { bind, type: QueryTypes.SELECT });
  const [u] = await q<{ id: string }>(
    `INSERT INTO users (email, password_hash) VALUES ('locks@example.com', 'x') RETURNING id`,
  );
  const ids = (
    await q<{ id: string }>(
      `INSERT INTO strategies (user_id, name, symbol, interval, definition, status, active_version, activated_at)
       SELECT $1, 'S' || g, 'BTCUSDT', '1h', '{}'::jsonb, 'active', 1, now() FROM generate_series(1, $2) AS g
       RETURNING id`,
      [u.id, N],
    )
  ).map((r) => Number(r.id));
  const leases = new LeaseStore(db.sequelize, NODE);
  // claimed in the shuffled order a supervisor claims in; held in that order too
  const held: Held[] = await leases.claim(shuffled(ids, 7), 60_000);
  expect(held).toHaveLength(N);
  const log = new DecisionLog(db.sequelize, NODE);
  const decide = (h: Held, candleOpenTime: number) =>
    log.record({
      kind: "decision",
      strategyId: h.id,
      userId: Number(u.id),
      fencingToken: h.token,
      candleOpenTime,
      action: "none",
      message: "no signal",
      data: { candleOpenTime },
    });

  const failures: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const candle = Date.UTC(2024, 0, 1) + round * 3_600_000;
    const records = held.map((h) => decide(h, candle));
    const renewals = [0, 1].map((k) => leases.renew(shuffled(held, round * 2 + k + 1), 60_000));
    const settled = await Promise.allSettled<RecordOutcome | Set<number>>([...records, ...renewals]);
    for (const s of settled) if (s.status === "rejected") failures.push(String((s.reason as Error).message));
    expect(failures).toEqual([]);
    const outcomes = settled.slice(0, N).map((s) => (s.status === "fulfilled" ? s.value : "failed"));
    expect(new Set(outcomes)).toEqual(new Set(["recorded"]));
    for (const r of settled.slice(N))
      expect(r.status === "fulfilled" && (r.value as Set<number>).size).toBe(N);
  }

  // a release of half the leases while the other half keep recording
  const [gone, kept] = [held.slice(0, N / 2), held.slice(N / 2)];
  const candle = Date.UTC(2024, 0, 1) + ROUNDS * 3_600_000;
  const [released, ...outcomes] = await Promise.all([
    leases.release(shuffled(gone, 99)),
    ...kept.map((h) => decide(h, candle)),
  ]);
  expect(released).toBe(N / 2);
  expect(new Set(outcomes)).toEqual(new Set(["recorded"]));
  const [{ n }] = await q<{ n: number }>(
    `SELECT count(*)::int AS n FROM strategy_decisions WHERE kind = 'decision'`,
  );
  expect(n).toBe(N * ROUNDS + N / 2);
});
