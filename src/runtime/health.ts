// Liveness and readiness of one AURA process. Ready means: migrations ran, the broker started
// every local service, and the database, cache and transporter answer. A service can add its own
// view by defining a `health()` method returning { status, details }. A service whose state is
// already part of another's view defines a `healthReportedBy()` method naming that service and is
// left out of the list: a runner's strategy actors are hundreds of services per process, which its
// own health() summarises, and listing each would rebuild and copy hundreds of entries for every
// snapshot the probe thread gets.
// Probes are answered cheaply and say little: the readiness report is computed at most about once
// a second however many probes arrive, and callers other than loopback (or, on the gateway, an
// admin) get only the overall status and each infrastructure component's up/down — no node id,
// no service list, no error text that would help someone map the deployment.
import type { Service, ServiceBroker } from "moleculer";
import { getDatabase } from "../adapters/storage/database";
import type { ComponentHealth, HealthReport } from "./probe-views";

export {
  isLoopbackAddress,
  publicReadiness,
  readinessStatusCode,
  type ComponentHealth,
  type ComponentStatus,
  type HealthReport,
} from "./probe-views";

export const processState = { ready: false, stopping: false, startedAt: Date.now(), dbRequired: true };

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      const t = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
      t.unref();
    }),
  ]);
}

async function checkDatabase(): Promise<ComponentHealth> {
  try {
    const db = await withTimeout(getDatabase(), 2000, "database");
    await withTimeout(db.sequelize.query("SELECT 1"), 2000, "database");
    return { status: "up", details: { embedded: Boolean(db.embedded) } };
  } catch (e) {
    return { status: "down", details: { error: (e as Error).message } };
  }
}

/** The Redis cacher's client (ioredis); the base cacher type does not declare it. */
interface PingableCacher {
  client?: { ping?: () => Promise<unknown> };
}

/** A service that reports its own health (see the top of this file). */
type ServiceWithHealth = Service & {
  health?: () => ComponentHealth | Promise<ComponentHealth>;
  healthReportedBy?: () => string;
};

async function checkCache(broker: ServiceBroker): Promise<ComponentHealth> {
  const cacher = broker.cacher;
  if (!cacher) return { status: "up", details: { type: "none" } };
  const type = cacher.constructor?.name ?? "unknown";
  const client = (cacher as PingableCacher).client;
  if (client && typeof client.ping === "function") {
    try {
      await withTimeout(client.ping(), 2000, "redis");
      return { status: "up", details: { type } };
    } catch (e) {
      return { status: "down", details: { type, error: (e as Error).message } };
    }
  }
  return { status: "up", details: { type } };
}

function checkTransporter(broker: ServiceBroker): ComponentHealth {
  const transit = broker.transit;
  if (!transit) return { status: "up", details: { type: "none (single process)" } };
  return transit.connected
    ? { status: "up", details: { type: transit.tx?.constructor?.name } }
    : { status: "down", details: { type: transit.tx?.constructor?.name, error: "not connected" } };
}

async function checkServices(broker: ServiceBroker): Promise<Record<string, ComponentHealth>> {
  const out: Record<string, ComponentHealth> = {};
  for (const svc of broker.services as ServiceWithHealth[]) {
    const name = svc.fullName ?? svc.name;
    if (name.startsWith("$") || typeof svc.healthReportedBy === "function") continue;
    if (typeof svc.health === "function") {
      try {
        out[name] = await withTimeout(Promise.resolve(svc.health()), 2000, name);
      } catch (e) {
        out[name] = { status: "down", details: { error: (e as Error).message } };
      }
    } else {
      out[name] = { status: broker.started ? "up" : "down" };
    }
  }
  return out;
}

export async function readiness(broker: ServiceBroker): Promise<HealthReport> {
  const [database, cache, services] = await Promise.all([
    processState.dbRequired
      ? checkDatabase()
      : Promise.resolve<ComponentHealth>({ status: "up", details: { required: false } }),
    checkCache(broker),
    checkServices(broker),
  ]);
  const checks = { database, cache, transporter: checkTransporter(broker) };
  return withProcessState({ status: "ok", nodeId: broker.nodeID, uptimeSec: 0, checks, services });
}

/**
 * The report's overall status and uptime as of now: from its components, overridden while the
 * process starts or stops. Applied again when a cached report is served, so a probe sees a stop
 * at once rather than up to a cache period later.
 */
function withProcessState(r: HealthReport): HealthReport {
  const all = [...Object.values(r.checks), ...Object.values(r.services)];
  let status: HealthReport["status"] = all.some((c) => c.status === "down")
    ? "down"
    : all.some((c) => c.status === "degraded")
      ? "degraded"
      : "ok";
  if (processState.stopping) status = "stopping";
  else if (!processState.ready) status = "starting";
  return { ...r, status, uptimeSec: Math.round((Date.now() - processState.startedAt) / 1000) };
}

/** How long one readiness report answers probes before it is computed again. */
export const READINESS_CACHE_MS = 1000;
/**
 * How old a report may be and still answer a probe while its successor is being computed. Under
 * load the database check waits for a pooled connection; a probe must not wait with it (an
 * orchestrator that sees slow probes takes a busy pod out of service), so it gets the previous
 * report meanwhile. Past this age a probe waits for the new report: a dependency that stopped
 * answering shows as down within this bound plus the checks' own 2 s timeouts.
 */
export const READINESS_STALE_MS = 5000;

/**
 * Readiness computed at most once per `maxAgeMs`: concurrent probes share one computation, a
 * burst of probes costs one database round trip, not one each, and a probe is answered from the
 * previous report while a new one is computed, as long as that report is younger than `staleMs`.
 */
export class ReadinessCache {
  private last: { at: number; report: HealthReport } | undefined;
  private pending: Promise<HealthReport> | undefined;

  constructor(
    private readonly compute: () => Promise<HealthReport>,
    private readonly maxAgeMs = READINESS_CACHE_MS,
    private readonly now: () => number = Date.now,
    private readonly staleMs = READINESS_STALE_MS,
  ) {}

  async get(): Promise<HealthReport> {
    const age = this.last ? this.now() - this.last.at : Infinity;
    if (age < this.maxAgeMs) return withProcessState(this.last!.report);
    const next = this.refresh();
    if (age < this.staleMs) return withProcessState(this.last!.report);
    return withProcessState(await next);
  }

  private refresh(): Promise<HealthReport> {
    if (!this.pending) {
      this.pending = this.compute()
        .then((report) => {
          this.last = { at: this.now(), report };
          return report;
        })
        .finally(() => {
          this.pending = undefined;
        });
      // a background refresh nobody awaits must not become an unhandled rejection
      this.pending.catch(() => undefined);
    }
    return this.pending;
  }
}

const caches = new WeakMap<ServiceBroker, ReadinessCache>();

/** The one readiness cache of a broker: the gateway's endpoints and the probe thread share it. */
export function readinessFor(broker: ServiceBroker): ReadinessCache {
  let c = caches.get(broker);
  if (!c) caches.set(broker, (c = new ReadinessCache(() => readiness(broker))));
  return c;
}

export function liveness(broker: ServiceBroker) {
  return {
    status: processState.stopping ? "stopping" : "ok",
    nodeId: broker.nodeID,
    uptimeSec: Math.round((Date.now() - processState.startedAt) / 1000),
  };
}

export function publicLiveness(): { status: "ok" | "stopping" } {
  return { status: processState.stopping ? "stopping" : "ok" };
}
