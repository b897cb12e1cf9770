// One PostgreSQL server for the whole integration run: DATABASE_URL when given (CI points it at
// the machine's server), otherwise an embedded PostgreSQL kept in the OS temp dir and reused
// between runs. Each test file then creates its own database on it (test/support/db.ts).
import crypto from "node:crypto";
import os from "node:os";
import path from "node:path";

export default async function globalSetup(): Promise<void> {
  // services under test that keep files (generated development secrets) keep them out of the checkout
  if (!process.env.AURA_DATA_DIR) {
    const tag = crypto.createHash("sha1").update(process.cwd()).digest("hex").slice(0, 8);
    process.env.AURA_DATA_DIR = path.join(os.tmpdir(), `aura-test-data-${tag}`);
  }
  if (process.env.AURA_TEST_PG_URL) return;
  if (process.env.DATABASE_URL) {
    process.env.AURA_TEST_PG_URL = process.env.DATABASE_URL;
    return;
  }
  const { startEmbeddedPostgres } =
    require("../../src/adapters/storage/embedded") as typeof import("../../src/adapters/storage/embedded");
  const tag = crypto.createHash("sha1").update(process.cwd()).digest("hex").slice(0, 8);
  const dir = path.join(os.tmpdir(), `aura-test-pg-${tag}`);
  const pg = await startEmbeddedPostgres(dir);
  (globalThis as any).__AURA_TEST_PG__ = pg;
  process.env.AURA_TEST_PG_URL = pg.url;
}
