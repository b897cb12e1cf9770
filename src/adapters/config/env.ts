// Every environment variable AURA reads, parsed in one place with its documented default.
// The README's configuration table mirrors this file.
import path from "node:path";

export interface AuraEnv {
  nodeEnv: string;
  production: boolean;
  /** unset → no transporter: every service in one process */
  transporter: string | undefined;
  /** unset → in-memory cacher and in-process locks */
  redisUrl: string | undefined;
  /** unset → embedded PostgreSQL under dataDir */
  databaseUrl: string | undefined;
  dataDir: string;
  logLevel: "debug" | "info" | "warn" | "error" | "fatal";
  nodeId: string | undefined;
  /** Moleculer namespace: clusters sharing one NATS stay apart */
  namespace: string;
  /** which services this process runs; undefined = all */
  services: string[] | undefined;
  port: number;
  host: string;
  healthPort: number | undefined;
  metricsPort: number | undefined;
  requestTimeoutMs: number;
  shutdownTimeoutMs: number;
  corsOrigin: string | undefined;
  bodyLimit: string;
}

const LEVELS = ["debug", "info", "warn", "error", "fatal"] as const;

function int(name: string, raw: string | undefined, def: number | undefined): number | undefined {
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

export function readEnv(env: NodeJS.ProcessEnv = process.env): AuraEnv {
  const nodeEnv = env.NODE_ENV ?? "development";
  const level = (env.LOG_LEVEL ?? "info").toLowerCase();
  if (!(LEVELS as readonly string[]).includes(level)) {
    throw new Error(`LOG_LEVEL must be one of ${LEVELS.join(", ")}, got "${env.LOG_LEVEL}"`);
  }
  const transporter = env.TRANSPORTER?.trim() || undefined;
  if (transporter && !/^nats:\/\//.test(transporter)) {
    throw new Error(
      `TRANSPORTER must be a nats://host:port URL (or unset for a single process), got "${transporter}"`,
    );
  }
  const services = env.SERVICES?.trim()
    ? env.SERVICES.split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    : undefined;
  return {
    nodeEnv,
    production: nodeEnv === "production",
    transporter,
    redisUrl: env.REDIS_URL?.trim() || undefined,
    databaseUrl: env.DATABASE_URL?.trim() || undefined,
    dataDir: path.resolve(env.AURA_DATA_DIR?.trim() || ".aura"),
    logLevel: level as AuraEnv["logLevel"],
    nodeId: env.NODE_ID?.trim() || undefined,
    namespace: env.AURA_NAMESPACE?.trim() || "aura",
    services:
      services && services.length > 0 && !(services.length === 1 && services[0] === "all")
        ? services
        : undefined,
    port: int("PORT", env.PORT, 3000)!,
    // a laptop run stays on loopback (the first account to register becomes admin); containers
    // run with NODE_ENV=production and listen on every interface
    host: env.HOST?.trim() || (nodeEnv === "production" ? "0.0.0.0" : "127.0.0.1"),
    healthPort: int("HEALTH_PORT", env.HEALTH_PORT, undefined),
    metricsPort: int("METRICS_PORT", env.METRICS_PORT, undefined),
    requestTimeoutMs: int("REQUEST_TIMEOUT_MS", env.REQUEST_TIMEOUT_MS, 10_000)!,
    shutdownTimeoutMs: int("SHUTDOWN_TIMEOUT_MS", env.SHUTDOWN_TIMEOUT_MS, 10_000)!,
    corsOrigin: env.CORS_ORIGIN?.trim() || undefined,
    bodyLimit: env.BODY_LIMIT?.trim() || "100kb",
  };
}
