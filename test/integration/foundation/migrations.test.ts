// The schema (docs/architecture.md) is created by migrations that go up, down and up again on a real
// PostgreSQL (embedded, or the server DATABASE_URL names).
import { QueryTypes } from "sequelize";
import {
  allMigrations,
  migrateDown,
  migrateUp,
  migrationStatus,
} from "../../../src/adapters/storage/migrator";
import { createTestDatabase, type TestDatabase } from "../../support/db";

const TABLES = [
  "users",
  "refresh_tokens",
  "user_api_keys",
  "strategies",
  "strategy_leases",
  "klines",
  "orders",
  "order_lists",
  "fills",
  "positions",
  "trades",
  "backtest_results",
  "equity_snapshots",
  "system_logs",
  "audit_log",
  "sim_state",
];

// Later issues add migrations; these assertions cover the whole list, with 0001 first.
const ALL = allMigrations().map((m) => m.name);

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ migrate: false, install: false });
});
afterAll(async () => {
  await db?.drop();
});

async function q<T = any>(sql: string, replacements?: Record<string, unknown>): Promise<T[]> {
  if (/^\s*SELECT/i.test(sql))
    return (await db.sequelize.query(sql, { replacements, type: QueryTypes.SELECT })) as T[];
  const [rows] = await db.sequelize.query(sql, { replacements });
  return rows as T[];
}
const tables = async () =>
  (
    await q<{ tablename: string }>(`SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = 'public'`)
  ).map((r) => r.tablename);

/** Column sets of unique/primary constraints and unique indexes on a table. */
async function uniqueColumnSets(table: string): Promise<string[]> {
  const rows = await q<{ cols: string }>(
    `SELECT string_agg(a.attname, ',' ORDER BY k.ord) AS cols
       FROM pg_index i
       JOIN pg_class t ON t.oid = i.indrelid
       CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
      WHERE t.relname = :table AND i.indisunique
      GROUP BY i.indexrelid`,
    { table },
  );
  return rows.map((r) => r.cols);
}

describe("migrations", () => {
  test("up creates every table of the design, with the migration recorded", async () => {
    const applied = await migrateUp(db.sequelize);
    expect(applied).toEqual(ALL);
    expect(ALL[0]).toBe("0001_initial");
    const have = await tables();
    for (const t of TABLES) expect(have).toContain(t);
    expect(await migrationStatus(db.sequelize)).toEqual({ executed: ALL, pending: [] });
    // a second run is a no-op
    expect(await migrateUp(db.sequelize)).toEqual([]);
  });

  test("money and quantity columns are NUMERIC, never floating point", async () => {
    const cols = await q<{ table_name: string; column_name: string; data_type: string }>(
      `SELECT table_name, column_name, data_type FROM information_schema.columns
        WHERE table_schema = 'public' AND column_name IN
          ('price','qty','quantity','quote_qty','commission','pnl','fees','equity','entry_price','exit_price','realized_pnl','filled_qty','cumulative_quote','stop_price','open','high','low','close','volume')`,
    );
    expect(cols.length).toBeGreaterThan(20);
    for (const c of cols) expect(`${c.table_name}.${c.column_name}:${c.data_type}`).toMatch(/:numeric$/);
  });

  test("unique constraints that make order and data handling idempotent exist", async () => {
    // intent ids carry their strategy instance: one order per intent and leg
    expect(await uniqueColumnSets("orders")).toEqual(
      expect.arrayContaining(["client_order_id", "intent_id,role"]),
    );
    // one decision per strategy instance and candle, whichever runner makes it
    expect(await uniqueColumnSets("strategy_decisions")).toContain("strategy_id,candle_open_time");
    // both sides of one venue trade can be AURA accounts: a fill is its order's trade
    expect(await uniqueColumnSets("fills")).toContain("order_id,exchange_trade_id");
    expect(await uniqueColumnSets("klines")).toContain("symbol,interval,open_time");
    expect(await uniqueColumnSets("order_lists")).toContain("list_client_order_id");
    expect(await uniqueColumnSets("refresh_tokens")).toContain("token_hash");
    expect(await uniqueColumnSets("user_api_keys")).toContain("user_id,label");
    expect(await uniqueColumnSets("trades")).toContain("position_id");
  });

  test("foreign keys tie user-owned rows to their user", async () => {
    const fks = await q<{ table_name: string; column_name: string; foreign_table: string }>(
      `SELECT kcu.table_name, kcu.column_name, ccu.table_name AS foreign_table
         FROM information_schema.table_constraints tc
         JOIN information_schema.key_column_usage kcu ON tc.constraint_name = kcu.constraint_name
         JOIN information_schema.constraint_column_usage ccu ON tc.constraint_name = ccu.constraint_name
        WHERE tc.constraint_type = 'FOREIGN KEY'`,
    );
    const has = (t: string, c: string, f: string) =>
      fks.some((k) => k.table_name === t && k.column_name === c && k.foreign_table === f);
    for (const t of [
      "refresh_tokens",
      "user_api_keys",
      "strategies",
      "orders",
      "order_lists",
      "fills",
      "positions",
      "trades",
      "backtest_results",
      "equity_snapshots",
    ]) {
      expect([t, has(t, "user_id", "users")]).toEqual([t, true]);
    }
    expect(has("fills", "order_id", "orders")).toBe(true);
    expect(has("strategy_leases", "strategy_id", "strategies")).toBe(true);
    expect(has("orders", "order_list_id", "order_lists")).toBe(true);
  });

  test("indexes for history filters, keyset pagination and lease scans exist", async () => {
    const idx = (
      await q<{ indexname: string; indexdef: string }>(
        `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'`,
      )
    ).map((r) => r.indexdef);
    const expectIndex = (re: RegExp) => expect(idx.some((d) => re.test(d))).toBe(true);
    expectIndex(/ON public\.trades .*\(user_id, exit_time DESC, id DESC\)/);
    expectIndex(/ON public\.orders .*\(user_id, created_at DESC, id DESC\)/);
    expectIndex(/ON public\.strategy_leases .*\(expires_at\)/);
    expectIndex(/ON public\.system_logs .*\(level, "?time"? DESC\)/);
    expectIndex(/ON public\.audit_log .*\(user_id, "?time"? DESC\)/);
    expectIndex(/ON public\.users .*lower\(email\)/);
  });

  test("constraints reject bad rows", async () => {
    await q(`INSERT INTO users (email, password_hash) VALUES ('a@example.com', 'x')`);
    await expect(
      q(`INSERT INTO users (email, password_hash) VALUES ('A@Example.com', 'x')`),
    ).rejects.toMatchObject({ name: "SequelizeUniqueConstraintError" });
    await expect(
      q(`INSERT INTO users (email, password_hash, role) VALUES ('b@example.com', 'x', 'root')`),
    ).rejects.toMatchObject({ parent: { code: "23514" } });
    await expect(
      q(
        `INSERT INTO user_api_keys (user_id, label, exchange, api_key_enc, api_secret_enc, enc_key_id, api_key_last4) VALUES (999999, 'l', 'sim', 'a', 'b', 'k', '1234')`,
      ),
    ).rejects.toMatchObject({ name: "SequelizeForeignKeyConstraintError" });
    await q(`DELETE FROM users`);
  });

  test("down removes everything and up again restores it", async () => {
    expect(await migrateDown(db.sequelize, "all")).toEqual([...ALL].reverse());
    const after = await tables();
    for (const t of TABLES) expect(after).not.toContain(t);
    expect(await migrationStatus(db.sequelize)).toEqual({ executed: [], pending: ALL });
    expect(await migrateUp(db.sequelize)).toEqual(ALL);
    const again = await tables();
    for (const t of TABLES) expect(again).toContain(t);
  });

  test("concurrent migrators apply each migration exactly once", async () => {
    await migrateDown(db.sequelize, "all");
    const { createSequelize } =
      require("../../../src/adapters/storage/database") as typeof import("../../../src/adapters/storage/database");
    const other = createSequelize(db.url, 2);
    try {
      const [a, b] = await Promise.all([migrateUp(db.sequelize), migrateUp(other)]);
      expect([...a, ...b].sort()).toEqual([...ALL].sort());
      expect(a.length === 0 || b.length === 0).toBe(true);
    } finally {
      await other.close();
    }
  });
});
