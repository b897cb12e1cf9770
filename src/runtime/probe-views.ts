// What a health probe answers, as pure functions of a report: shared by the gateway's endpoints
// and the probe thread (which must not load the database layer to answer).

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

/** Which health probe a request path asks for (a query string is ignored). */
export function healthProbeOf(url: string | undefined): "live" | "ready" | undefined {
  const u = url ?? "";
  const q = u.indexOf("?");
  const p = q < 0 ? u : u.slice(0, q);
  return p === "/health/live" ? "live" : p === "/health/ready" ? "ready" : undefined;
}

/** Probes are read-only: any other method gets 405 with this body and `Allow: GET, HEAD`. */
export function probeMethodRefusal(method: string | undefined): object | undefined {
  return method === "GET" || method === "HEAD"
    ? undefined
    : { error: { code: "METHOD_NOT_ALLOWED", message: "Health probes answer GET and HEAD." } };
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

/** Whether an address is this machine (IPv4 127/8, IPv6 ::1, or IPv4-mapped loopback). */
export function isLoopbackAddress(ip: string | undefined): boolean {
  if (!ip) return false;
  const v4 = ip.startsWith("::ffff:") ? ip.slice(7) : ip;
  return ip === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}
