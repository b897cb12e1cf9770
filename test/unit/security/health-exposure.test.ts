// Probes are cheap and say little: one readiness computation per period however many probes
// arrive (concurrent ones share it), a stop shows at once even from the cache, and the public view
// carries the status and per-component up/down only.
import {
  isLoopbackAddress,
  processState,
  publicLiveness,
  publicReadiness,
  ReadinessCache,
  type HealthReport,
} from "../../../src/runtime/health";

const report = (over: Partial<HealthReport> = {}): HealthReport => ({
  status: "ok",
  nodeId: "node-secret-name",
  uptimeSec: 1,
  checks: {
    database: { status: "up", details: { embedded: true } },
    cache: { status: "down", details: { type: "RedisCacher", error: "connect ECONNREFUSED 10.0.0.7:6379" } },
    transporter: { status: "degraded" },
  },
  services: { api: { status: "up" }, monitor: { status: "up" } },
  ...over,
});

beforeEach(() => {
  processState.ready = true;
  processState.stopping = false;
});

test("one computation per period; concurrent probes share it", async () => {
  let now = 0;
  let computed = 0;
  let release!: () => void;
  const cache = new ReadinessCache(
    () =>
      new Promise<HealthReport>((r) => {
        computed++;
        release = () => r(report({ checks: { database: { status: "up" } } }));
      }),
    1000,
    () => now,
  );
  const probes = Promise.all(Array.from({ length: 50 }, () => cache.get()));
  release();
  const results = await probes;
  expect(computed).toBe(1);
  expect(results.every((r) => r.status === "ok")).toBe(true);
  now = 999;
  await cache.get();
  expect(computed).toBe(1);
  now = 1000;
  const next = cache.get();
  release();
  await next;
  expect(computed).toBe(2);
});

test("while a new report is computed, probes get the previous one until it is too old", async () => {
  let now = 0;
  let computed = 0;
  let release!: (r: HealthReport) => void;
  const cache = new ReadinessCache(
    () =>
      new Promise<HealthReport>((r) => {
        computed++;
        release = r;
      }),
    1000,
    () => now,
    5000,
  );
  const first = cache.get();
  release(report({ checks: { database: { status: "up" } }, services: {} }));
  expect((await first).status).toBe("ok");
  // the database check is slow now: a probe is answered at once from the previous report
  now = 1500;
  let answered = false;
  const probe = cache.get().then((r) => ((answered = true), r));
  await new Promise((r) => setImmediate(r));
  expect(answered).toBe(true);
  expect((await probe).status).toBe("ok");
  expect(computed).toBe(2);
  // the slow computation ends with the database down: the next probe says so
  release(report({ checks: { database: { status: "down" } }, services: {} }));
  await new Promise((r) => setImmediate(r));
  now = 1600;
  expect((await cache.get()).status).toBe("down");
  // a report older than the bound is never served: the probe waits for the new one
  now = 1500 + 5000;
  answered = false;
  const late = cache.get().then((r) => ((answered = true), r));
  await new Promise((r) => setImmediate(r));
  expect(answered).toBe(false);
  release(report({ checks: { database: { status: "up" } }, services: {} }));
  expect((await late).status).toBe("ok");
  expect(computed).toBe(3);
});

test("a cached report reflects a stop at once", async () => {
  const cache = new ReadinessCache(async () => report({ checks: {}, services: {} }), 60_000);
  expect((await cache.get()).status).toBe("ok");
  processState.stopping = true;
  expect((await cache.get()).status).toBe("stopping");
});

test("the public views hold the status and up/down per component, nothing else", () => {
  const pub = publicReadiness(report());
  expect(pub).toEqual({ status: "ok", checks: { database: "up", cache: "down", transporter: "up" } });
  const text = JSON.stringify(pub);
  for (const secret of ["node-secret-name", "ECONNREFUSED", "10.0.0.7", "RedisCacher", "monitor", "embedded"])
    expect(text).not.toContain(secret);
  expect(publicLiveness()).toEqual({ status: "ok" });
});

test("loopback addresses", () => {
  for (const ip of ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"])
    expect(isLoopbackAddress(ip)).toBe(true);
  for (const ip of [
    "10.0.0.1",
    "::ffff:10.0.0.1",
    "128.0.0.1",
    "::2",
    "",
    undefined,
    "127.0.0.1.evil",
    "unknown",
  ])
    expect(isLoopbackAddress(ip)).toBe(false);
});
