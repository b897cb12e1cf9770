// The explicit allowlist of actions reachable over HTTP. Nothing else is exposed: no $node.*,
// no auto-aliases, no action-name URLs. A security test (SEC-11) compares this table with what the
// gateway actually answers, and the IDOR matrix requires an entry for every id-bearing route.

export type RouteAuth = "public" | "user" | "admin";

export interface RouteSpec {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** path under /api/v1, moleculer-web alias syntax (":id" params) */
  path: string;
  action: string;
  auth: RouteAuth;
  /** stricter per-IP limiter bucket for credential endpoints */
  limiter?: "credentials";
}

export const API_PREFIX = "/api/v1";

export const ROUTES: RouteSpec[] = [
  // --- system
  { method: "GET", path: "/system/info", action: "api.info", auth: "public" },

  // --- auth (identity issue)

  // --- keys (identity issue)

  // --- market data

  // --- backtests

  // --- strategies / execution / portfolio / history
];

export function aliasKey(r: Pick<RouteSpec, "method" | "path">): string {
  return `${r.method} ${r.path}`;
}
