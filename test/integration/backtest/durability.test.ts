// Backtest work survives every kind of stop, on a real `aura start` process and its embedded
// PostgreSQL: after kill -9 during queued and running work, a restart finishes every run exactly
// once; a graceful stop leaves queued and interrupted runs queued (not failed); and no PostgreSQL
// process is left behind for the data directory at the end.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client } from "pg";
import {
  ROOT,
  killChildren,
  postgresProcesses,
  serverPid,
  startAura,
  stopAura,
  waitFor,
  type Aura,
} from "../../support/aura-process";

jest.setTimeout(240_000);

const example = JSON.parse(
  fs.readFileSync(path.join(ROOT, "examples/strategies/ema-cross-rsi.json"), "utf8"),
);
const WORKERS = { SERVICES: "api,auth,backtest", BACKTEST_WORKERS: "1" };

let dataDir: string;
let aura: Aura | undefined;

beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "aura-backtest-durability-"));
});
afterAll(async () => {
  killChildren();
  const pid = serverPid(dataDir);
  if (pid !== undefined) process.kill(pid, "SIGINT");
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function api(method: string, url: string, token?: string, body?: unknown) {
  const res = await fetch(aura!.baseUrl + url, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Reads the run rows straight from the embedded database while AURA runs. */
async function rows(): Promise<{ id: string; status: string; attempts: number; has_result: boolean }[]> {
  const creds = JSON.parse(fs.readFileSync(path.join(dataDir, "pg-credentials.json"), "utf8"));
  const port = Number(fs.readFileSync(path.join(dataDir, "pg", "postmaster.pid"), "utf8").split("\n")[3]);
  const c = new Client({
    host: "127.0.0.1",
    port,
    user: creds.user,
    password: creds.password,
    database: creds.database,
  });
  await c.connect();
  try {
    return (
      await c.query(
        `SELECT id, status, attempts, result IS NOT NULL AS has_result FROM backtest_results ORDER BY created_at, id`,
      )
    ).rows;
  } finally {
    await c.end();
  }
}

async function submitRuns(token: string, fees: number[]): Promise<string[]> {
  const ids: string[] = [];
  for (const feeRate of fees) {
    const r = await api("POST", "/api/v1/backtests", token, {
      definition: example,
      from: "2023-01-01",
      to: "2024-12-31",
      feeRate,
    });
    expect(r.status).toBe(202);
    ids.push(r.body.id);
  }
  return ids;
}

async function statuses(token: string, ids: string[]): Promise<string[]> {
  return Promise.all(ids.map(async (id) => (await api("GET", `/api/v1/backtests/${id}`, token)).body.status));
}

test("kill -9 and SIGTERM during queued and running work: every run finishes exactly once", async () => {
  aura = await startAura(dataDir, WORKERS);
  const password = "correct horse battery staple";
  expect(
    (await api("POST", "/api/v1/auth/register", undefined, { email: "d@example.com", password })).status,
  ).toBe(201);
  const token = (await api("POST", "/api/v1/auth/login", undefined, { email: "d@example.com", password }))
    .body.accessToken as string;

  // --- crash while one run is running and others wait
  const first = await submitRuns(token, [0.001, 0.0011, 0.0012, 0.0013, 0.0014]);
  const sweep = await api("POST", "/api/v1/backtests/sweep", token, {
    definition: example,
    from: "2023-01-01",
    to: "2024-12-31",
    grid: { "risk.stopLossPct": [1, 2, 3] },
  });
  expect(sweep.status).toBe(202);
  // kill -9 while a run is running. A run can end between the moment it is seen running and the
  // kill, and the worker takes the next one only at its next poll, so which runs the kill
  // interrupted is read from the database as the kill left it (a start without backtest
  // workers), and the kill is repeated until it interrupted one.
  let interrupted: string[] = [];
  for (let attempt = 1; interrupted.length === 0; attempt++) {
    if (attempt > 5) throw new Error("no kill landed while a run was running");
    await waitFor(async () => (await rows()).some((r) => r.status === "running"), 60_000, "a running run");
    aura.child.kill("SIGKILL");
    await aura.exited;
    aura = await startAura(dataDir, { SERVICES: "api,auth" });
    interrupted = (await rows()).filter((r) => r.status === "running").map((r) => r.id);
    await stopAura(aura);
    aura = await startAura(dataDir, WORKERS);
  }

  await waitFor(
    async () => (await statuses(token, first)).every((s) => s === "completed"),
    120_000,
    "every run to complete after the crash",
  );
  await waitFor(
    async () =>
      (await api("GET", `/api/v1/backtests/sweeps/${sweep.body.id}`, token)).body.status === "completed",
    120_000,
    "the sweep to complete after the crash",
  );
  const afterCrash = await rows();
  expect(afterCrash).toHaveLength(first.length + 3);
  expect(afterCrash.every((r) => r.status === "completed" && r.has_result)).toBe(true);
  // the runs the kill interrupted were claimed again; nothing ran to completion twice
  expect(afterCrash.filter((r) => interrupted.includes(r.id)).map((r) => r.attempts >= 2)).toEqual(
    interrupted.map(() => true),
  );
  const sweepView = (await api("GET", `/api/v1/backtests/sweeps/${sweep.body.id}`, token)).body;
  expect(sweepView.results).toHaveLength(3);
  expect(sweepView.failed).toEqual([]);

  // --- graceful stop while one run is running and others wait: nothing fails, nothing is lost
  // a run over cached candles takes a fraction of a second here: enough runs that some still
  // wait when the first is seen running (read from the database, the quickest look)
  const second = await submitRuns(
    token,
    Array.from({ length: 10 }, (_, i) => 0.002 + i / 10_000),
  );
  await waitFor(
    async () => (await rows()).some((r) => second.includes(r.id) && r.status === "running"),
    60_000,
    "a running run",
  );
  await stopAura(aura);

  // with no backtest worker running, the runs are as the stop left them: queued, none failed
  aura = await startAura(dataDir, { SERVICES: "api,auth" });
  const left = (await rows()).filter((r) => second.includes(r.id)).map((r) => r.status);
  expect(left.filter((s) => s !== "queued" && s !== "completed")).toEqual([]);
  expect(left.filter((s) => s === "queued").length).toBeGreaterThan(0);
  await stopAura(aura);

  aura = await startAura(dataDir, WORKERS);
  await waitFor(
    async () => (await statuses(token, second)).every((s) => s === "completed"),
    120_000,
    "every run to complete after the graceful stop",
  );
  const all = await rows();
  expect(all).toHaveLength(first.length + 3 + second.length);
  expect(all.every((r) => r.status === "completed" && r.has_result)).toBe(true);
  await stopAura(aura);

  // the database stopped with the last AURA process
  expect(serverPid(dataDir)).toBeUndefined();
  expect(postgresProcesses(dataDir)).toEqual([]);
});
