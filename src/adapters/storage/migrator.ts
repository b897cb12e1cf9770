// Versioned schema migrations (umzug), run at start and by `aura migrate`. A PostgreSQL advisory
// lock serialises pods that start together so only one applies a migration.
import type { ClientBase } from "pg";
import type { QueryInterface, Sequelize } from "sequelize";
import { SequelizeStorage, Umzug } from "umzug";

export interface MigrationContext {
  sequelize: Sequelize;
  queryInterface: QueryInterface;
}
export interface Migration {
  name: string;
  up(params: { context: MigrationContext }): Promise<void>;
  down(params: { context: MigrationContext }): Promise<void>;
}

/** A migration that runs one SQL text up and another down. */
export function sqlMigration(name: string, up: string, down: string): Migration {
  return {
    name,
    async up({ context }) {
      await context.sequelize.query(up);
    },
    async down({ context }) {
      await context.sequelize.query(down);
    },
  };
}

/** Every migration in order. Add new files here; never edit a released one. */
export function allMigrations(): Migration[] {
  return [
    require("./migrations/0001_initial").migration,
    require("./migrations/0002_backtest_queue").migration,
    require("./migrations/0003_live_trading").migration,
    require("./migrations/0004_history").migration,
    require("./migrations/0005_sim_state").migration,
    require("./migrations/0006_decision_log_writes").migration,
    require("./migrations/0007_snapshot_clock").migration,
    require("./migrations/0008_stream_published").migration,
  ];
}

const LOCK_KEY = 7_306_121; // arbitrary constant shared by every AURA process

export function createMigrator(sequelize: Sequelize, log: (msg: string) => void = () => {}) {
  return new Umzug<MigrationContext>({
    migrations: allMigrations().map((m) => ({ name: m.name, up: m.up, down: m.down })),
    context: { sequelize, queryInterface: sequelize.getQueryInterface() },
    storage: new SequelizeStorage({ sequelize, tableName: "aura_migrations" }),
    logger: {
      info: (m: Record<string, unknown>) => m.event && log(`migration ${m.name}: ${m.event}`),
      warn: (m: Record<string, unknown>) => log(`migration warning: ${JSON.stringify(m)}`),
      error: (m: Record<string, unknown>) => log(`migration error: ${JSON.stringify(m)}`),
      debug: () => {},
    },
  });
}

async function withLock<T>(sequelize: Sequelize, fn: () => Promise<T>): Promise<T> {
  // A session-level lock needs one dedicated connection for lock and unlock.
  // the postgres dialect hands out pg clients; sequelize types them only as `object`
  const conn = (await sequelize.connectionManager.getConnection({ type: "write" })) as ClientBase;
  try {
    await conn.query(`SELECT pg_advisory_lock(${LOCK_KEY})`);
    return await fn();
  } finally {
    await conn.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`).catch(() => {});
    sequelize.connectionManager.releaseConnection(conn);
  }
}

export async function migrateUp(sequelize: Sequelize, log?: (msg: string) => void): Promise<string[]> {
  return withLock(sequelize, async () => (await createMigrator(sequelize, log).up()).map((m) => m.name));
}

/** Reverts `steps` migrations (default 1), or all of them with steps = "all". */
export async function migrateDown(
  sequelize: Sequelize,
  steps: number | "all" = 1,
  log?: (msg: string) => void,
): Promise<string[]> {
  return withLock(sequelize, async () => {
    const m = createMigrator(sequelize, log);
    const done = steps === "all" ? await m.down({ to: 0 }) : await m.down({ step: steps });
    return done.map((x) => x.name);
  });
}

export async function migrationStatus(
  sequelize: Sequelize,
): Promise<{ executed: string[]; pending: string[] }> {
  const m = createMigrator(sequelize);
  return {
    executed: (await m.executed()).map((x) => x.name),
    pending: (await m.pending()).map((x) => x.name),
  };
}
