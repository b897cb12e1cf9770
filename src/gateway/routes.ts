// The explicit allowlist of actions reachable over HTTP. Nothing else is exposed: no $node.*,
// no auto-aliases, no action-name URLs. The HTTP exposure test (test/integration/security/exposure.test.ts)
// compares this table with what the gateway actually answers, and the IDOR matrix requires an entry
// for every id-bearing route.

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
  // the node id it reports is for signed-in clients only
  { method: "GET", path: "/system/info", action: "api.info", auth: "user" },

  // --- auth
  { method: "POST", path: "/auth/register", action: "auth.register", auth: "public", limiter: "credentials" },
  { method: "POST", path: "/auth/login", action: "auth.login", auth: "public", limiter: "credentials" },
  { method: "POST", path: "/auth/refresh", action: "auth.refresh", auth: "public", limiter: "credentials" },
  { method: "POST", path: "/auth/logout", action: "auth.logout", auth: "user" },
  { method: "GET", path: "/auth/me", action: "auth.me", auth: "user" },
  {
    method: "POST",
    path: "/auth/password",
    action: "auth.changePassword",
    auth: "user",
    limiter: "credentials",
  },

  // --- admin
  { method: "GET", path: "/admin/users", action: "auth.listUsers", auth: "admin" },
  { method: "POST", path: "/admin/users/:id/disable", action: "auth.disableUser", auth: "admin" },
  { method: "POST", path: "/admin/users/:id/enable", action: "auth.enableUser", auth: "admin" },
  { method: "PUT", path: "/admin/users/:id/role", action: "auth.setRole", auth: "admin" },

  // --- keys
  { method: "POST", path: "/keys", action: "keys.create", auth: "user" },
  { method: "GET", path: "/keys", action: "keys.list", auth: "user" },
  { method: "GET", path: "/keys/:id", action: "keys.get", auth: "user" },
  { method: "PATCH", path: "/keys/:id", action: "keys.update", auth: "user" },
  { method: "DELETE", path: "/keys/:id", action: "keys.remove", auth: "user" },
  { method: "POST", path: "/keys/:id/validate", action: "keys.validate", auth: "user" },

  // --- market data
  { method: "GET", path: "/market/klines", action: "market-data.candles", auth: "user" },
  { method: "GET", path: "/market/symbols", action: "market-data.symbols", auth: "user" },

  // --- backtests
  { method: "POST", path: "/backtests", action: "backtest.create", auth: "user" },
  { method: "GET", path: "/backtests", action: "backtest.list", auth: "user" },
  { method: "POST", path: "/backtests/compare", action: "backtest.compare", auth: "user" },
  { method: "POST", path: "/backtests/sweep", action: "backtest.sweep", auth: "user" },
  { method: "GET", path: "/backtests/sweeps", action: "backtest.sweepList", auth: "user" },
  { method: "GET", path: "/backtests/sweeps/:id", action: "backtest.sweepGet", auth: "user" },
  { method: "DELETE", path: "/backtests/sweeps/:id", action: "backtest.sweepRemove", auth: "user" },
  { method: "GET", path: "/backtests/:id/export", action: "history.backtestExport", auth: "user" },
  { method: "GET", path: "/backtests/:id", action: "backtest.get", auth: "user" },
  { method: "DELETE", path: "/backtests/:id", action: "backtest.remove", auth: "user" },

  // --- strategies
  { method: "POST", path: "/strategies", action: "strategies.create", auth: "user" },
  { method: "GET", path: "/strategies", action: "strategies.list", auth: "user" },
  { method: "GET", path: "/strategies/:id", action: "strategies.get", auth: "user" },
  { method: "PUT", path: "/strategies/:id", action: "strategies.update", auth: "user" },
  { method: "DELETE", path: "/strategies/:id", action: "strategies.remove", auth: "user" },
  { method: "POST", path: "/strategies/:id/activate", action: "strategies.activate", auth: "user" },
  { method: "POST", path: "/strategies/:id/deactivate", action: "strategies.deactivate", auth: "user" },
  { method: "POST", path: "/strategies/:id/pause", action: "strategies.pause", auth: "user" },
  { method: "POST", path: "/strategies/:id/resume", action: "strategies.resume", auth: "user" },
  { method: "GET", path: "/strategies/:id/logs", action: "strategies.logs", auth: "user" },

  // --- trading halt
  { method: "GET", path: "/admin/trading", action: "strategies.tradingStatus", auth: "admin" },
  { method: "POST", path: "/admin/trading/halt", action: "strategies.halt", auth: "admin" },
  { method: "POST", path: "/admin/trading/resume", action: "strategies.resumeTrading", auth: "admin" },

  // --- portfolio
  { method: "GET", path: "/portfolio", action: "portfolio.summary", auth: "user" },
  { method: "GET", path: "/portfolio/performance", action: "portfolio.performance", auth: "user" },

  // --- history and exports (specific paths before any ":id")
  { method: "GET", path: "/orders", action: "history.orders", auth: "user" },
  { method: "GET", path: "/trades/export", action: "history.tradesExport", auth: "user" },
  { method: "GET", path: "/trades", action: "history.trades", auth: "user" },
  { method: "GET", path: "/logs", action: "history.logs", auth: "user" },

  // --- alerts
  { method: "GET", path: "/alerts/webhook", action: "alerts.webhookGet", auth: "user" },
  { method: "PUT", path: "/alerts/webhook", action: "alerts.webhookSet", auth: "user" },
  { method: "DELETE", path: "/alerts/webhook", action: "alerts.webhookRemove", auth: "user" },
  { method: "GET", path: "/alerts", action: "alerts.list", auth: "user" },
  { method: "POST", path: "/alerts/:id/ack", action: "alerts.ack", auth: "user" },
];

export function aliasKey(r: Pick<RouteSpec, "method" | "path">): string {
  return `${r.method} ${r.path}`;
}
