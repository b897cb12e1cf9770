// Broker options for every AURA process, driven by the environment (see README "Configuration").
// Fault-tolerance values are explicit because Moleculer's defaults are unsafe for money movement:
// no request timeout, 30 s heartbeat, and a retry policy that would re-send order commands.
import type { BrokerOptions, Middleware } from "moleculer";
import { Errors } from "moleculer";
import { readEnv } from "./src/adapters/config/env";
import { pinoOptions, requestScope } from "./src/runtime/logging";

const env = readEnv();

/** Puts the request id of the running action/event in AsyncLocalStorage so every log line carries it. */
const requestIdMiddleware: Middleware = {
  name: "AuraRequestId",
  localAction(next: any) {
    return (ctx: any) =>
      requestScope.run({ requestId: ctx.requestID, userId: ctx.meta?.user?.id }, () => next(ctx));
  },
  localEvent(next: any) {
    return (ctx: any) => requestScope.run({ requestId: ctx.requestID }, () => next(ctx));
  },
} as Middleware;

const config: BrokerOptions = {
  namespace: env.namespace,
  nodeID: env.nodeId,
  transporter: env.transporter ? { type: "NATS", options: { url: env.transporter } } : null,
  cacher: env.redisUrl
    ? ({ type: "Redis", options: { prefix: "aura-cache", redis: env.redisUrl, ttl: 300 } } as any)
    : { type: "Memory", options: { ttl: 300 } },
  serializer: "JSON",

  logger: {
    type: "Pino",
    options: { level: env.logLevel, pino: { options: pinoOptions(env.logLevel) } },
  },
  logLevel: env.logLevel,

  requestTimeout: env.requestTimeoutMs,
  // Off globally: a retried order command could place a second order. Idempotent actions opt in
  // with their own `retryPolicy: { enabled: true }`.
  retryPolicy: {
    enabled: false,
    retries: 3,
    delay: 100,
    maxDelay: 2000,
    factor: 2,
    check: (err: Error) => err instanceof Errors.MoleculerRetryableError,
  },
  maxCallLevel: 20,
  heartbeatInterval: 5,
  heartbeatTimeout: 15,
  contextParamsCloning: false,
  tracking: { enabled: true, shutdownTimeout: env.shutdownTimeoutMs },
  disableBalancer: false,
  registry: { strategy: "RoundRobin", preferLocal: true },
  circuitBreaker: {
    enabled: true,
    threshold: 0.5,
    minRequestCount: 20,
    windowTime: 60,
    halfOpenTime: 10_000,
    // Only infrastructure failures trip the breaker; business rejections (4xx) never do.
    check: (err: any) => err && (err.code >= 500 || err.code === undefined),
  },
  bulkhead: { enabled: true, concurrency: 10, maxQueueSize: 100 },
  validator: true,
  errorHandler: undefined,
  metrics: env.metricsPort
    ? {
        enabled: true,
        reporter: [{ type: "Prometheus", options: { port: env.metricsPort, path: "/metrics" } }],
      }
    : { enabled: false },
  // Spans would otherwise carry every ctx.params, including passwords and API secrets.
  tracing: { enabled: false, tags: { action: { params: false, meta: false } } },
  middlewares: [requestIdMiddleware],
  // The runner owns SIGTERM/SIGINT: services stop first, then the database.
  skipProcessEventRegistration: true,
  transit: { serviceChangedDebounceTime: 200 } as any,
  replOptions: { delimiter: "aura $ " } as any,
};

export = config;
