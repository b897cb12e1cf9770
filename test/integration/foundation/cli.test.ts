// The operator-facing CLI: migrate up/down/status against a real database, and clear errors.
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { allMigrations } from "../../../src/adapters/storage/migrator";
import { createTestDatabase, type TestDatabase } from "../../support/db";

jest.setTimeout(60_000);
const run = promisify(execFile);
const ROOT = path.resolve(__dirname, "../../..");
const aura = (args: string[], env: Record<string, string | undefined>) =>
  run(process.execPath, [path.join(ROOT, "bin/aura.js"), ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: "warn", ...env } as NodeJS.ProcessEnv,
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e) => ({ code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }),
  );

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ migrate: false, install: false });
});
afterAll(async () => {
  await db?.drop();
});

test("aura migrate: status, up, down and up again", async () => {
  const env = { DATABASE_URL: db.url };
  const all = allMigrations().map((m) => m.name);
  let r = await aura(["migrate", "status"], env);
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual({ executed: [], pending: all });
  r = await aura(["migrate", "up"], env);
  expect(r.stdout).toContain(`applied: ${all.join(", ")}`);
  r = await aura(["migrate"], env);
  expect(r.stdout).toContain("already up to date");
  r = await aura(["migrate", "down"], env);
  expect(r.stdout).toContain(`reverted: ${all[all.length - 1]}`);
  await aura(["migrate", "up"], env);
  r = await aura(["migrate", "down", "--steps", "all"], env);
  expect(r.stdout).toContain(`reverted: ${[...all].reverse().join(", ")}`);
  r = await aura(["migrate", "status"], env);
  expect(JSON.parse(r.stdout)).toEqual({ executed: [], pending: all });
  r = await aura(["migrate", "up"], env);
  expect(r.stdout).toContain(`applied: ${all.join(", ")}`);
});

test("bad CLI input fails with a message a person can act on", async () => {
  let r = await aura(["migrate", "sideways"], { DATABASE_URL: db.url });
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/unknown direction "sideways": use up, down or status/);
  r = await aura(["repl"], { TRANSPORTER: undefined });
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/TRANSPORTER is not set.*npm start -- --repl/s);
  r = await aura(["start"], { NODE_ENV: "production", DATABASE_URL: "" });
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/NODE_ENV=production requires DATABASE_URL/);
  r = await aura(["start"], { LOG_LEVEL: "chatty" });
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/LOG_LEVEL must be one of/);
});
