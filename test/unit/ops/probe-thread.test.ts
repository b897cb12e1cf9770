// The probe thread answers health probes while the main event loop is busy, from the main loop's
// last snapshot, and reports a main loop that went silent instead of letting the probe time out.
import { spawnSync } from "node:child_process";
import type { ServiceBroker } from "moleculer";
import { processState, ReadinessCache, type HealthReport } from "../../../src/runtime/health";
import { startProbeThread, type ProbeThread } from "../../../src/runtime/probe-thread";

const broker = { nodeID: "probe-node", services: [], started: true } as unknown as ServiceBroker;
const report = (database: "up" | "down"): HealthReport => ({
  status: database === "up" ? "ok" : "down",
  nodeId: "probe-node",
  uptimeSec: 1,
  checks: {
    database: {
      status: database,
      details: { error: database === "down" ? "ECONNREFUSED 10.0.0.9" : undefined },
    },
  },
  services: {},
});

let database: "up" | "down" = "up";
let probes: ProbeThread;

beforeAll(async () => {
  processState.ready = true;
  processState.stopping = false;
  const cache = new ReadinessCache(async () => report(database), 0);
  probes = await startProbeThread(broker, 0, "127.0.0.1", {
    readiness: cache,
    trustProxyHops: 1,
    readySilenceMs: 1000,
    liveSilenceMs: 3000,
  });
});
afterAll(async () => {
  await probes?.close();
});

/**
 * GET from another process, synchronously: the call blocks this thread, so only the probe
 * thread can answer it.
 */
function getFromOutside(
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
): { status: number; body: any } {
  const script = `fetch(${JSON.stringify(`http://127.0.0.1:${probes.port}${path}`)}, { method: "${method}", headers: ${JSON.stringify(
    headers,
  )} }).then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, body: await r.json() })))`;
  const out = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 20_000 });
  return JSON.parse(out.stdout) as { status: number; body: any };
}

const settle = async () => {
  for (let i = 0; i < 3; i++) {
    probes.publish();
    await new Promise((r) => setTimeout(r, 50));
  }
};

test("loopback callers get the main loop's report; others the status and up/down per component", async () => {
  await settle();
  const local = getFromOutside("/health/ready");
  expect(local).toMatchObject({ status: 200, body: { status: "ok", nodeId: "probe-node" } });
  const outside = getFromOutside("/health/ready", { "x-forwarded-for": "203.0.113.9" });
  expect(outside).toEqual({ status: 200, body: { status: "ok", checks: { database: "up" } } });
  expect(getFromOutside("/health/live", { "x-forwarded-for": "203.0.113.9" })).toEqual({
    status: 200,
    body: { status: "ok" },
  });
  expect(getFromOutside("/health/other").status).toBe(404);
  // a query string does not change the probe; other methods are refused
  expect(getFromOutside("/health/ready?full=1").status).toBe(200);
  expect(getFromOutside("/health/ready", {}, "POST")).toMatchObject({
    status: 405,
    body: { error: { code: "METHOD_NOT_ALLOWED" } },
  });
});

test("a database outage the main loop saw is reported as not ready, without its details outside", async () => {
  database = "down";
  await settle();
  const outside = getFromOutside("/health/ready", { "x-forwarded-for": "203.0.113.9" });
  expect(outside).toEqual({ status: 503, body: { status: "down", checks: { database: "down" } } });
  expect(JSON.stringify(outside)).not.toContain("ECONNREFUSED");
  database = "up";
  await settle();
  expect(getFromOutside("/health/ready").status).toBe(200);
});

test("probes are answered while the main loop is busy; a main loop silent too long is reported", async () => {
  await settle();
  // the main loop is busy (this thread blocks): the probe thread still answers at once
  const busyUntil = Date.now() + 300;
  while (Date.now() < busyUntil);
  expect(getFromOutside("/health/ready").status).toBe(200);
  // silent past the readiness bound: not ready, but still live (a restart is not called for yet)
  const silentUntil = Date.now() + 1200;
  while (Date.now() < silentUntil);
  const ready = getFromOutside("/health/ready");
  expect(ready).toMatchObject({ status: 503, body: { status: "unresponsive" } });
  expect(ready.body.silentMs).toBeGreaterThan(1000);
  expect(getFromOutside("/health/live").status).toBe(200);
  // silent past the liveness bound: not live either
  const stuckUntil = Date.now() + 2000;
  while (Date.now() < stuckUntil);
  expect(getFromOutside("/health/live")).toMatchObject({ status: 503, body: { status: "unresponsive" } });
  // the loop answers again: so do the probes
  await settle();
  expect(getFromOutside("/health/ready").status).toBe(200);
  expect(getFromOutside("/health/live").status).toBe(200);
});
