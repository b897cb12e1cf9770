// Starts one AURA process: database (embedded or DATABASE_URL) and migrations first, then the
// broker with the services this process runs (SERVICES), health endpoints, and a graceful stop
// on SIGTERM/SIGINT that lets in-flight requests finish before the database goes away.
import fs from "node:fs";
import path from "node:path";
import { ServiceBroker, type BrokerOptions, type ServiceSchema } from "moleculer";
import pino from "pino";
import { maskCredentials, validateConfig, type AuraEnv } from "../adapters/config";
import { closeDatabase, getDatabase } from "../adapters/storage/database";
import { processState } from "./health";
import { startProbeThread, type ProbeThread } from "./probe-thread";
import { pinoOptions } from "./logging";
import { auraReplCommands } from "./repl-commands";
import { handleUnhandledRejections } from "./rejections";

export const SERVICES_DIR = path.resolve(__dirname, "../../services");
/** Services every process runs whatever SERVICES says. */
const ALWAYS = ["monitor"];

export function availableServices(): string[] {
  return fs
    .readdirSync(SERVICES_DIR)
    .filter((f) => f.endsWith(".service.ts") || f.endsWith(".service.js"))
    .map((f) => f.replace(/\.service\.(ts|js)$/, ""))
    .sort();
}

export function selectServices(env: AuraEnv): string[] {
  const all = availableServices();
  if (!env.services) return all;
  const unknown = env.services.filter((s) => !all.includes(s));
  if (unknown.length)
    throw new Error(`SERVICES names unknown service(s): ${unknown.join(", ")}; available: ${all.join(", ")}`);
  return [...new Set([...env.services, ...ALWAYS])].filter((s) => all.includes(s));
}

export function loadServiceSchema(name: string): ServiceSchema {
  const file = fs.existsSync(path.join(SERVICES_DIR, `${name}.service.ts`))
    ? path.join(SERVICES_DIR, `${name}.service.ts`)
    : path.join(SERVICES_DIR, `${name}.service.js`);
  const mod = require(file);
  return (mod.default ?? mod) as ServiceSchema;
}

export function brokerConfig(overrides: Partial<BrokerOptions> = {}): BrokerOptions {
  // moleculer.config.ts reads the environment when first loaded
  const base = require("../../moleculer.config") as BrokerOptions;
  const cfg = { ...base, ...overrides };
  if (overrides.logLevel && !overrides.logger && typeof overrides.logLevel === "string") {
    const level = overrides.logLevel;
    cfg.logger = { type: "Pino", options: { level, pino: { options: pinoOptions(level) } } };
  }
  return cfg;
}

export interface AuraProcess {
  broker: ServiceBroker;
  services: string[];
  stop(reason?: string): Promise<void>;
}

export interface StartOptions {
  repl?: boolean;
  /** exit the process after a signal-driven stop (the CLI); tests keep the process */
  exitOnStop?: boolean;
  installSignalHandlers?: boolean;
}

export async function startAura(opts: StartOptions = {}): Promise<AuraProcess> {
  // every variable of every feature, checked before anything opens: one error lists them all
  const env = validateConfig(undefined, { availableServices: availableServices() }).runtime;
  const log = pino(pinoOptions(env.logLevel)).child({ mod: "runner", nodeID: env.nodeId });
  if (opts.exitOnStop) handleUnhandledRejections(log, (code) => process.exit(code));
  processState.ready = false;
  processState.stopping = false;
  processState.startedAt = Date.now();

  const services = selectServices(env);
  log.info(
    {
      services,
      // a TRANSPORTER may carry a password in its user info
      transporter: env.transporter ? maskCredentials(env.transporter) : "none (single process)",
      database: env.databaseUrl ? "DATABASE_URL" : `embedded (${env.dataDir})`,
    },
    "starting AURA",
  );

  const db = await getDatabase({ log: (m, level) => log[level ?? "debug"](m) });
  log.info({ embedded: Boolean(db.embedded), port: db.embedded?.port }, "database ready");
  if (db.applied.length) log.info({ applied: db.applied }, "migrations applied");

  const broker = new ServiceBroker(
    brokerConfig(
      opts.repl ? { replOptions: { delimiter: "aura $ ", customCommands: auraReplCommands } } : {},
    ),
  );
  for (const name of services) broker.createService(loadServiceSchema(name));

  let probes: ProbeThread | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (reason = "stop"): Promise<void> => {
    if (stopping) return stopping;
    stopping = (async () => {
      processState.stopping = true;
      processState.ready = false;
      log.info({ reason }, "stopping AURA");
      await probes?.close();
      // broker.stop waits (tracking) for in-flight requests up to the shutdown timeout
      await broker.stop().catch((e) => log.error({ err: e.message }, "broker stop failed"));
      await closeDatabase().catch((e) => log.error({ err: e.message }, "database close failed"));
      log.info("AURA stopped");
    })();
    return stopping;
  };

  if (opts.installSignalHandlers !== false) {
    const onSignal = (sig: string) => {
      const force = setTimeout(() => {
        log.error({ sig }, "shutdown took too long; exiting");
        process.exit(1);
      }, env.shutdownTimeoutMs + 10_000);
      force.unref();
      stop(sig).then(() => opts.exitOnStop !== false && process.exit(0));
    };
    process.once("SIGTERM", () => onSignal("SIGTERM"));
    process.once("SIGINT", () => onSignal("SIGINT"));
  }

  try {
    await broker.start();
    // every process with HEALTH_PORT, the gateway's too: there the probes do not queue behind
    // user traffic (the gateway also answers /health/* on its own port, in its event loop)
    if (env.healthPort !== undefined) {
      probes = await startProbeThread(broker, env.healthPort, env.host);
      log.info({ port: probes.port }, "health probes listening");
    }
  } catch (err) {
    log.fatal({ err: (err as Error).message }, "AURA failed to start");
    await stop("startup failure");
    throw err;
  }
  processState.ready = true;
  log.info(
    { nodeID: broker.nodeID, port: services.includes("api") ? env.port : probes?.port },
    "AURA is ready",
  );
  if (opts.repl) broker.repl();
  return { broker, services, stop };
}
