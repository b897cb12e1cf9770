// Liveness and readiness of one AURA process. Ready means: migrations ran, the broker started
// every local service, and the database, cache and transporter answer. A service can add its own
// view by defining a `health()` method returning { status, details }.
// Probes are answered cheaply and say little: the readiness report is computed at most about once
// a second however many probes arrive, and callers other than loopback (or, on the gateway, an
// admin) get only the overall status and each infrastructure component's up/down — no node id,
// no service list, no error text that would help someone map the deployment.
import http from "node:http";
import type { Service, ServiceBroker } from "moleculer";
import { getDatabase } from "../adapters/storage/database";
import { clientIp } from "../gateway/client-ip";

export type ComponentStatus = "up" | "degraded" | "down";
export interface ComponentHealth {
  status: ComponentStatus;
  details?: unknown;
}
export interface HealthReport {
  status: "ok" | "degraded" | "down" | "starting" | "stopping";
  nodeId: string;
  uptimeSec: number;
  checks: Record<string, ComponentHealth>;
  services: Record<string, ComponentHealth>;
}

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
type ServiceWithHealth = Service & { health?: () => ComponentHealth | Promise<ComponentHealth> };

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
    if (name.startsWith("$")) continue;
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

/** How long one readiness report answers probes. */
export const READINESS_CACHE_MS = 1000;

/**
 * Readiness computed at most once per `maxAgeMs`: concurrent probes share one computation, and a
 * burst of probes costs one database round trip, not one each.
 */
export class ReadinessCache {
  private last: { at: number; report: HealthReport } | undefined;
  private pending: Promise<HealthReport> | undefined;

  constructor(
    private readonly compute: () => Promise<HealthReport>,
    private readonly maxAgeMs = READINESS_CACHE_MS,
    private readonly now: () => number = Date.now,
  ) {}

  async get(): Promise<HealthReport> {
    if (this.last && this.now() - this.last.at < this.maxAgeMs) return withProcessState(this.last.report);
    if (!this.pending) {
      this.pending = this.compute()
        .then((report) => {
          this.last = { at: this.now(), report };
          return report;
        })
        .finally(() => {
          this.pending = undefined;
        });
    }
    return withProcessState(await this.pending);
  }
}

/** HTTP status for a readiness report: degraded still serves traffic; anything else is 503. */
export function readinessStatusCode(r: HealthReport): number {
  return r.status === "ok" || r.status === "degraded" ? 200 : 503;
}

/** What anyone may see: the overall status and each infrastructure component up or down. */
export function publicReadiness(r: HealthReport): {
  status: HealthReport["status"];
  checks: Record<string, "up" | "down">;
} {
  const checks: Record<string, "up" | "down"> = {};
  for (const [name, c] of Object.entries(r.checks)) checks[name] = c.status === "down" ? "down" : "up";
  return { status: r.status, checks };
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

/** Whether an address is this machine (IPv4 127/8, IPv6 ::1, or IPv4-mapped loopback). */
export function isLoopbackAddress(ip: string | undefined): boolean {
  if (!ip) return false;
  const v4 = ip.startsWith("::ffff:") ? ip.slice(7) : ip;
  return ip === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/**
 * Health endpoints for processes without a gateway (HEALTH_PORT): the full report to loopback
 * callers (operators on the machine, the CI script), the public view to everyone else. There is
 * no admin token here: such a process may not run the auth service to check one. The caller is
 * the socket peer unless `trustProxyHops` proxies are declared in front of this port.
 */
export function startHealthServer(
  broker: ServiceBroker,
  port: number,
  host = "0.0.0.0",
  opts: { trustProxyHops?: number } = {},
): Promise<http.Server> {
  const ready = new ReadinessCache(() => readiness(broker));
  const hops = opts.trustProxyHops ?? 0;
  const server = http.createServer(async (req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, {
        "Content-Type": "application/json; charset=utf-8",
        "Cache-Control": "no-store",
      });
      res.end(JSON.stringify(body));
    };
    if (req.method !== "GET")
      return send(405, { error: { code: "METHOD_NOT_ALLOWED", message: "Use GET." } });
    const full = isLoopbackAddress(clientIp(req, hops));
    if (req.url === "/health/live") return send(200, full ? liveness(broker) : publicLiveness());
    if (req.url === "/health/ready") {
      const r = await ready.get();
      return send(readinessStatusCode(r), full ? r : publicReadiness(r));
    }
    send(404, { error: { code: "NOT_FOUND", message: "Not found." } });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
