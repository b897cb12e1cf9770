// The process-wide database handle: DATABASE_URL when set, else the embedded PostgreSQL under
// AURA_DATA_DIR. Services share one Sequelize pool per process; `aura start` opens it and runs
// migrations before any service starts, so readiness implies an up-to-date schema.
import { Sequelize } from "sequelize";
import { readEnv } from "../config/env";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "./embedded";
import { migrateUp } from "./migrator";

export interface Database {
  sequelize: Sequelize;
  url: string;
  embedded: EmbeddedPostgres | undefined;
  /** migrations applied by this process at open */
  applied: string[];
  close(): Promise<void>;
}

export interface OpenOptions {
  databaseUrl?: string;
  dataDir?: string;
  migrate?: boolean;
  /** `level` marks the embedded server's lifecycle events (start, adoption, stop) as info */
  log?: (msg: string, level?: "info" | "debug") => void;
  poolMax?: number;
}

export function createSequelize(url: string, poolMax = 10): Sequelize {
  return new Sequelize(url, {
    dialect: "postgres",
    logging: false,
    pool: { max: poolMax, min: 0, idle: 10_000, acquire: 30_000 },
    // NUMERIC comes back as strings: money stays exact.
    dialectOptions: { application_name: "aura" },
    define: { underscored: true, timestamps: false },
  });
}

export async function openDatabase(opts: OpenOptions = {}): Promise<Database> {
  const env = readEnv();
  const log = opts.log ?? (() => {});
  const databaseUrl = opts.databaseUrl ?? env.databaseUrl;
  let embedded: EmbeddedPostgres | undefined;
  let url = databaseUrl;
  if (!url) {
    embedded = await startEmbeddedPostgres(opts.dataDir ?? env.dataDir, log);
    url = embedded.url;
  }
  const sequelize = createSequelize(url, opts.poolMax);
  try {
    await sequelize.authenticate();
    const applied = opts.migrate === false ? [] : await migrateUp(sequelize, log);
    return {
      sequelize,
      url,
      embedded,
      applied,
      async close() {
        await sequelize.close().catch(() => {});
        await embedded?.stop();
      },
    };
  } catch (err) {
    await sequelize.close().catch(() => {});
    await embedded?.stop();
    throw err;
  }
}

let current: Promise<Database> | undefined;

/** The process-wide database, opened (and migrated) on first use. */
export function getDatabase(opts?: OpenOptions): Promise<Database> {
  if (!current) {
    current = openDatabase(opts);
    current.catch(() => {
      current = undefined;
    });
  }
  return current;
}

/** Installs an already-open database as the process-wide one (used by the runner and tests). */
export function setDatabase(db: Database | undefined): void {
  current = db ? Promise.resolve(db) : undefined;
}

export async function closeDatabase(): Promise<void> {
  const db = current;
  current = undefined;
  if (db) await (await db).close();
}
