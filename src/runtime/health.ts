// Liveness and readiness of one AURA process. Ready means: migrations ran, the broker started
// every local service, and the database, cache and transporter answer. A service can add its own
// view by defining a `health()` method returning { status, details }.
import http from "node:http";
import type { ServiceBroker } from "moleculer";
import { getDatabase } from "../adapters/storage/database";

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
  } catch (e: any) {
    return { status: "down", details: { error: e.message } };
  }
}

async function checkCache(broker: ServiceBroker): Promise<ComponentHealth> {
  const cacher: any = broker.cacher;
  if (!cacher) return { status: "up", details: { type: "none" } };
  const type = cacher.constructor?.name ?? "unknown";
  if (cacher.client && typeof cacher.client.ping === "function") {
    try {
      await withTimeout(cacher.client.ping(), 2000, "redis");
      return { status: "up", details: { type } };
    } catch (e: any) {
      return { status: "down", details: { type, error: e.message } };
    }
  }
  return { status: "up", details: { type } };
}

function checkTransporter(broker: ServiceBroker): ComponentHealth {
  const transit: any = (broker as any).transit;
  if (!transit) return { status: "up", details: { type: "none (single process)" } };
  return transit.connected
    ? { status: "up", details: { type: transit.tx?.constructor?.name } }
    : { status: "down", details: { type: transit.tx?.constructor?.name, error: "not connected" } };
}

async function checkServices(broker: ServiceBroker): Promise<Record<string, ComponentHealth>> {
  const out: Record<string, ComponentHealth> = {};
  for (const svc of broker.services as any[]) {
    const name = svc.fullName ?? svc.name;
    if (name.startsWith("$")) continue;
    if (typeof svc.health === "function") {
      try {
        out[name] = await withTimeout(Promise.resolve(svc.health()), 2000, name);
      } catch (e: any) {
        out[name] = { status: "down", details: { error: e.message } };
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
  const all = [...Object.values(checks), ...Object.values(services)];
  let status: HealthReport["status"] = all.some((c) => c.status === "down")
    ? "down"
    : all.some((c) => c.status === "degraded")
      ? "degraded"
      : "ok";
  if (processState.stopping) status = "stopping";
  else if (!processState.ready) status = "starting";
  return {
    status,
    nodeId: broker.nodeID,
    uptimeSec: Math.round((Date.now() - processState.startedAt) / 1000),
    checks,
    services,
  };
}

/** HTTP status for a readiness report: degraded still serves traffic; anything else is 503. */
export function readinessStatusCode(r: HealthReport): number {
  return r.status === "ok" || r.status === "degraded" ? 200 : 503;
}

export function liveness(broker: ServiceBroker) {
  return {
    status: processState.stopping ? "stopping" : "ok",
    nodeId: broker.nodeID,
    uptimeSec: Math.round((Date.now() - processState.startedAt) / 1000),
  };
}

/** Health endpoints for processes without a gateway (HEALTH_PORT). */
export function startHealthServer(
  broker: ServiceBroker,
  port: number,
  host = "0.0.0.0",
): Promise<http.Server> {
  const server = http.createServer(async (req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "Content-Type": "application/json; charset=utf-8" });
      res.end(JSON.stringify(body));
    };
    if (req.method !== "GET")
      return send(405, { error: { code: "METHOD_NOT_ALLOWED", message: "Use GET." } });
    if (req.url === "/health/live") return send(200, liveness(broker));
    if (req.url === "/health/ready") {
      const r = await readiness(broker);
      return send(readinessStatusCode(r), r);
    }
    send(404, { error: { code: "NOT_FOUND", message: "Not found." } });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
