// Broker options for every AURA process, driven by the environment (see README "Configuration").
// Fault-tolerance values are explicit because Moleculer's defaults are unsafe for money movement:
// no request timeout, 30 s heartbeat, and a retry policy that would re-send order commands.
import type { BrokerOptions, Context, Middleware } from "moleculer";
import { Errors } from "moleculer";
import { readEnv } from "./src/adapters/config/env";
import { transportConfig } from "./src/adapters/config/transport";
import { busCheckMiddleware, busNodeId, natsTransporter } from "./src/runtime/bus";
import { pinoOptions, requestScope } from "./src/runtime/logging";
import { installFailoverShard } from "./src/runtime/shard-strategy";

// "Shard" routes a symbol elsewhere while its node's endpoint is out, instead of failing the call
installFailoverShard();

const env = readEnv();
const bus = transportConfig();

type ScopedContext = Context<unknown, { user?: { id?: string | number } }>;
// handlers reach middlewares already bound to their service; the typings still ask for a `this`
type BoundHandler = (ctx: ScopedContext) => unknown;

/** Puts the request id of the running action/event in AsyncLocalStorage so every log line carries it. */
const requestIdMiddleware: Middleware = {
  name: "AuraRequestId",
  localAction(next) {
    const handler = next as BoundHandler;
    return (ctx: ScopedContext) =>
      requestScope.run({ requestId: ctx.requestID ?? undefined, userId: ctx.meta?.user?.id }, () =>
        handler(ctx),
      );
  },
  localEvent(next) {
    return (ctx: ScopedContext) =>
      requestScope.run({ requestId: ctx.requestID ?? undefined }, () => next(ctx));
  },
};

// Request ids ride on AsyncLocalStorage, whose promise hooks then run for every promise of the
// process: a sixth of a strategy runner's CPU per candle (strategy-fanout bench). A process that
// runs nothing but strategy actors goes without them; its lines name the instance and candle, and
// the request's other hops (gateway, strategies) still log its id.
const requestIds = !(env.services?.length && env.services.every((s) => s === "strategy-runner"));

// Moleculer reads this transit option, but its typings do not declare it.
const transit: NonNullable<BrokerOptions["transit"]> & { serviceChangedDebounceTime: number } = {
  serviceChangedDebounceTime: 200,
};

const config: BrokerOptions = {
  namespace: env.namespace,
  // role-prefixed on a bus with per-role users, so the server can scope what each role may read
  nodeID: env.nodeId ?? (env.transporter && bus.role ? busNodeId(bus) : undefined),
  transporter: env.transporter ? natsTransporter(env.transporter, bus) : null,
  cacher: env.redisUrl
    ? {
        type: "Redis",
        // ioredis takes the URL string as is; the typings only allow an options object
        options: {
          prefix: "aura-cache",
          redis: env.redisUrl as unknown as Record<string, unknown>,
          ttl: 300,
        },
      }
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
    check: (err) => {
      const code = (err as Partial<Errors.MoleculerError> | null)?.code;
      return Boolean(err) && (code === undefined || code >= 500);
    },
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
  middlewares: requestIds ? [requestIdMiddleware, busCheckMiddleware] : [busCheckMiddleware],
  // The runner owns SIGTERM/SIGINT: services stop first, then the database.
  skipProcessEventRegistration: true,
  transit,
  replOptions: { delimiter: "aura $ " },
};

export = config;
