// PostgreSQL logs the statement of every failing query. Statements must carry placeholders only,
// so a failed INSERT (a duplicate email) leaves the email's existence in the log, never the
// password hash or anything else the query was given. Checked on a real `aura start` process and
// the log of its embedded PostgreSQL.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { killChildren, serverPid, startAura, stopAura, type Aura } from "../../support/aura-process";

jest.setTimeout(120_000);

let dataDir: string;
let aura: Aura | undefined;

beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "aura-db-log-"));
});

afterAll(() => {
  killChildren();
  // a server a failed assertion left running goes too, so nothing outlives the test
  const pid = serverPid(dataDir);
  if (pid !== undefined) process.kill(pid, "SIGINT");
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function register(email: string, password: string) {
  const res = await fetch(`${aura!.baseUrl}/api/v1/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  return { status: res.status, body: (await res.json()) as { error?: { code?: string } } };
}

/** The log split into entries: a line with the log prefix plus its tab-indented continuation lines. */
function logEntries(log: string): string[] {
  const entries: string[] = [];
  for (const line of log.split("\n")) {
    if (/^\s/.test(line) && entries.length > 0) entries[entries.length - 1] += "\n" + line;
    else entries.push(line);
  }
  return entries;
}

test("a duplicate-email INSERT is logged with placeholders, without the password hash or password", async () => {
  const email = "db-log@example.com";
  const password = "canary passphrase Zq7!xv";
  aura = await startAura(dataDir, { SERVICES: "api,auth" });
  expect((await register(email, password)).status).toBe(201);
  const again = await register(email, password);
  expect(again.status).toBe(409);
  expect(again.body.error?.code).toBe("EMAIL_TAKEN");
  await stopAura(aura);

  const log = fs.readFileSync(path.join(dataDir, "postgres.log"), "utf8");
  const entries = logEntries(log);
  const failed = entries.findIndex((e) => e.includes("duplicate key value violates unique constraint"));
  expect(failed).toBeGreaterThanOrEqual(0);
  // the failing statement follows its error (after DETAIL), so statements do reach this log
  const statement = entries.slice(failed + 1).find((e) => e.includes("STATEMENT:"));
  expect(statement).toMatch(/STATEMENT:\s+INSERT INTO users/);
  expect(statement).toMatch(/VALUES \(\$1, \$2, \$3\)/);
  expect(statement).not.toContain(email);
  expect(log).not.toContain("$argon2id$");
  expect(log).not.toContain(password);
});
