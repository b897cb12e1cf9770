// A fresh, migrated database per test file on the run's PostgreSQL server, installed as the
// process-wide database so services under test use it.
import crypto from "node:crypto";
import { Client } from "pg";
import { closeDatabase, openDatabase, setDatabase, type Database } from "../../src/adapters/storage/database";

export function serverUrl(): string {
  const url = process.env.AURA_TEST_PG_URL ?? process.env.DATABASE_URL;
  if (!url) throw new Error("integration tests need the jest globalSetup (AURA_TEST_PG_URL) or DATABASE_URL");
  return url;
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

async function admin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: serverUrl() });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export interface TestDatabase extends Database {
  name: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(
  opts: { migrate?: boolean; install?: boolean } = {},
): Promise<TestDatabase> {
  const name = `aura_t_${process.pid}_${crypto.randomBytes(4).toString("hex")}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = withDatabase(serverUrl(), name);
  const db = await openDatabase({ databaseUrl: url, migrate: opts.migrate !== false, poolMax: 5 });
  if (opts.install !== false) setDatabase(db);
  return {
    ...db,
    name,
    async drop() {
      if (opts.install !== false) await closeDatabase();
      else await db.close();
      await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}
