// The probe thread answers health probes while the main event loop is busy, from the main loop's
// last snapshot, and reports a main loop that went silent instead of letting the probe time out.
import { Worker } from "node:worker_threads";
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
  client = new Worker(
    `const { parentPort, workerData } = require("node:worker_threads");
     const signal = new Int32Array(workerData, 0, 2);
     const answer = new Uint8Array(workerData, 8);
     parentPort.on("message", async ({ url, method, headers }) => {
       let text;
       try {
         const r = await fetch(url, { method, headers });
         text = JSON.stringify({ status: r.status, body: await r.json() });
       } catch (e) {
         text = JSON.stringify({ status: 0, body: { error: String(e) } });
       }
       const bytes = new TextEncoder().encode(text).subarray(0, answer.length);
       answer.set(bytes);
       Atomics.store(signal, 1, bytes.length);
       Atomics.store(signal, 0, 1);
       Atomics.notify(signal, 0);
     });
     parentPort.postMessage("ready");`,
    { eval: true, workerData: shared },
  );
  await new Promise((resolve) => client.once("message", resolve));
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
  await client?.terminate();
  await probes?.close();
});

/**
 * A client on a thread of its own. getFromOutside() hands it a request and blocks this thread
 * until the answer is back, so only the probe thread can answer it; unlike a child process per
 * request, it adds no start-up time to the main loop's silence (four process starts on a loaded
 * CI machine took longer than the 1 s readiness bound by themselves).
 */
const shared = new SharedArrayBuffer(8 + 64 * 1024);
const signal = new Int32Array(shared, 0, 2);
const answer = new Uint8Array(shared, 8);
let client: Worker;

function getFromOutside(
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
): { status: number; body: any } {
  Atomics.store(signal, 0, 0);
  client.postMessage({ url: `http://127.0.0.1:${probes.port}${path}`, method, headers });
  if (Atomics.wait(signal, 0, 0, 20_000) === "timed-out") throw new Error(`no answer to ${method} ${path}`);
  const text = new TextDecoder().decode(answer.slice(0, Atomics.load(signal, 1)));
  return JSON.parse(text) as { status: number; body: any };
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
