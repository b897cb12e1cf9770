// The runtime's variables: transport, storage, logging, ports and timeouts.
import path from "node:path";
import { EnvReader } from "./readers";

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
const PORT = { min: 0, max: 65_535 };

export function nodeEnvOf(r: EnvReader): string {
  return r.string("NODE_ENV", { default: "development" });
}

export function dataDirOf(r: EnvReader): string {
  return path.resolve(r.string("AURA_DATA_DIR", { default: ".aura" }));
}

export function readEnv(env: NodeJS.ProcessEnv = process.env): AuraEnv {
  const r = new EnvReader(env);
  const nodeEnv = nodeEnvOf(r);
  const production = nodeEnv === "production";
  const services = r.list("SERVICES", {
    default: [] as string[],
    item: (s) => (/^[a-z][a-z0-9-]*$/.test(s) ? s : undefined),
    accepts: "service names (file names under services/, e.g. api,auth) or all",
  });
  return r.done({
    nodeEnv,
    production,
    transporter: r.url("TRANSPORTER", {
      protocols: ["nats:"],
      accepts: "a nats://host:port URL (or unset for a single process)",
    }),
    redisUrl: r.url("REDIS_URL", { protocols: ["redis:", "rediss:"] }),
    databaseUrl: r.url("DATABASE_URL", { protocols: ["postgres:", "postgresql:"] }),
    dataDir: dataDirOf(r),
    logLevel: r.enumOf("LOG_LEVEL", LEVELS, "info"),
    nodeId: r.string("NODE_ID", { default: undefined }),
    namespace: r.string("AURA_NAMESPACE", { default: "aura" }),
    services: services.length > 0 && !(services.length === 1 && services[0] === "all") ? services : undefined,
    port: r.int("PORT", { default: 3000, ...PORT }),
    // a laptop run stays on loopback (the first account to register becomes admin); containers
    // run with NODE_ENV=production and listen on every interface
    host: r.string("HOST", { default: production ? "0.0.0.0" : "127.0.0.1" }),
    healthPort: r.int("HEALTH_PORT", { default: undefined, ...PORT }),
    metricsPort: r.int("METRICS_PORT", { default: undefined, ...PORT }),
    requestTimeoutMs: r.duration("REQUEST_TIMEOUT_MS", { unit: "ms", default: 10_000, min: 0 }),
    shutdownTimeoutMs: r.duration("SHUTDOWN_TIMEOUT_MS", { unit: "ms", default: 10_000, min: 0 }),
    corsOrigin: r.string("CORS_ORIGIN", { default: undefined }),
    // the size syntax of the JSON body parser, which treats anything else as no limit at all
    bodyLimit: r.string("BODY_LIMIT", {
      default: "100kb",
      pattern: /^\d+(\.\d+)? *(b|kb|mb|gb|tb|pb)?$/i,
      accepts: "a size such as 100kb, 1mb or 65536",
    }),
  });
}
