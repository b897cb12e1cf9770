// Broker options that protect money movement are explicit, not Moleculer's defaults (MOL-01).
import { readEnv } from "../../../src/adapters/config/env";

function loadConfig(env: Record<string, string | undefined> = {}) {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  try {
    let cfg: any;
    jest.isolateModules(() => {
      cfg = require("../../../moleculer.config");
    });
    return cfg;
  } finally {
    process.env = saved;
  }
}

describe("moleculer.config", () => {
  const cfg = loadConfig({ TRANSPORTER: undefined, REDIS_URL: undefined });

  test("requests time out and dead nodes are noticed quickly", () => {
    expect(cfg.requestTimeout).toBeGreaterThan(0);
    expect(cfg.heartbeatInterval).toBeGreaterThan(0);
    expect(cfg.heartbeatTimeout).toBeGreaterThan(cfg.heartbeatInterval);
    expect(cfg.heartbeatTimeout).toBeLessThanOrEqual(30);
  });

  test("retries are off by default (order commands must never be re-sent blindly)", () => {
    expect(cfg.retryPolicy.enabled).toBe(false);
    expect(cfg.retryPolicy.retries).toBeGreaterThan(0);
  });

  test("circuit breaker and bulkhead values are set explicitly", () => {
    expect(cfg.circuitBreaker).toMatchObject({
      enabled: true,
      threshold: expect.any(Number),
      minRequestCount: expect.any(Number),
      windowTime: expect.any(Number),
      halfOpenTime: expect.any(Number),
    });
    expect(cfg.bulkhead).toMatchObject({
      enabled: true,
      concurrency: expect.any(Number),
      maxQueueSize: expect.any(Number),
    });
    // a business rejection (4xx) must not trip the breaker
    expect(cfg.circuitBreaker.check({ code: 400 })).toBe(false);
    expect(cfg.circuitBreaker.check({ code: 503 })).toBe(true);
  });

  test("graceful shutdown waits for in-flight requests, and the balancer stays on", () => {
    expect(cfg.tracking.enabled).toBe(true);
    expect(cfg.tracking.shutdownTimeout).toBeGreaterThan(0);
    expect(cfg.disableBalancer).toBe(false);
    expect(cfg.skipProcessEventRegistration).toBe(true);
  });

  test("tracing never records action params (they carry secrets)", () => {
    expect(cfg.tracing.tags.action.params).toBe(false);
  });

  test("single process without TRANSPORTER, NATS with it; memory cache without REDIS_URL, Redis with it", () => {
    expect(cfg.transporter).toBeNull();
    expect(cfg.cacher.type).toBe("Memory");
    const clustered = loadConfig({
      TRANSPORTER: "nats://127.0.0.1:4222",
      REDIS_URL: "redis://127.0.0.1:6379",
    });
    expect(clustered.transporter).toEqual({ type: "NATS", options: { url: "nats://127.0.0.1:4222" } });
    expect(clustered.cacher.type).toBe("Redis");
  });

  test("bad environment values fail with a message naming the variable", () => {
    expect(() => readEnv({ LOG_LEVEL: "loud" })).toThrow(/LOG_LEVEL/);
    expect(() => readEnv({ PORT: "abc" })).toThrow(/PORT/);
    expect(() => readEnv({ TRANSPORTER: "tcp://x" })).toThrow(/TRANSPORTER/);
    expect(readEnv({ SERVICES: "api, monitor" }).services).toEqual(["api", "monitor"]);
    expect(readEnv({}).services).toBeUndefined();
    // development stays on loopback; production listens everywhere unless HOST says otherwise
    expect(readEnv({}).host).toBe("127.0.0.1");
    expect(readEnv({ NODE_ENV: "production" }).host).toBe("0.0.0.0");
    expect(readEnv({ NODE_ENV: "production", HOST: "10.0.0.5" }).host).toBe("10.0.0.5");
  });

  test("the logger is pino JSON and redacts secrets at any depth", () => {
    expect(cfg.logger.type).toBe("Pino");
    const { redact } = require("../../../src/runtime/logging");
    const out = JSON.stringify(
      redact({
        email: "a@b.c",
        password: "hunter2hunter2",
        nested: {
          apiSecret: "S3CR3T",
          headers: { authorization: "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijklmnop" },
        },
      }),
    );
    expect(out).toContain("a@b.c");
    expect(out).not.toMatch(/hunter2|S3CR3T|eyJhbGci/);
  });
});
