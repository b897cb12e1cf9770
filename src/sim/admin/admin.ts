// The simulator's own control API under /sim/v1 (not part of Binance): accounts, balances, key
// permissions, the replay clock, fault injection, the venue's order book for reconciliation
// checks, limits and request logs. JSON in, JSON out; errors are
// {"error": {"status", "code", "message"}}.
import type { IncomingMessage, ServerResponse } from "node:http";
import { BinanceError } from "../binance/errors";
import type { FaultSpec } from "../venue/faults";

export class AdminError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** What the admin API drives; implemented by the Simulator. */
export interface AdminTarget {
  createAccount(body: Record<string, unknown>): unknown;
  accountView(apiKey: string): unknown;
  accountViews(): unknown;
  setBalances(apiKey: string, balances: Record<string, string>): unknown;
  setPermissions(apiKey: string, permissions: Record<string, unknown>): unknown;
  clockState(): unknown;
  clockAdvance(by: { candles?: number; ms?: number }): unknown;
  clockJump(time: number | string): unknown;
  clockSpeed(speed: number): unknown;
  clockPause(): unknown;
  clockResume(): unknown;
  clockStep(step: boolean): unknown;
  addFault(spec: FaultSpec): unknown;
  listFaults(): unknown;
  removeFault(id: string): boolean;
  clearFaults(): void;
  dropConnections(scope?: "all" | "market" | "user", refuseMs?: number): number;
  orders(filter: { apiKey?: string; symbol?: string; status?: string; clientOrderId?: string }): unknown;
  injectOrder(body: Record<string, unknown>): unknown;
  limitsView(): unknown;
  setLimits(limits: Record<string, unknown>): unknown;
  resetLimits(): void;
  requests(limit?: number): unknown;
  clearRequests(): void;
  stats(): unknown;
  routes(): unknown;
}

type Handler = (m: {
  params: Record<string, string>;
  body: Record<string, unknown>;
  query: URLSearchParams;
}) => { status?: number; body: unknown };

interface AdminRoute {
  method: string;
  pattern: string;
  re: RegExp;
  keys: string[];
  description: string;
  handler: Handler;
}

const bad = (message: string) => new AdminError(400, "BAD_REQUEST", message);

function num(v: unknown, name: string): number {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n)) throw bad(`${name} must be a number`);
  return n;
}

function obj(v: unknown, name: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad(`${name} must be an object`);
  return v as Record<string, unknown>;
}

export class AdminApi {
  private readonly routes: AdminRoute[] = [];

  constructor(
    private readonly target: AdminTarget,
    private readonly token?: string,
  ) {
    const t = target;
    this.add("GET", "/sim/v1", "this index", () => ({
      body: {
        endpoints: this.routes.map((r) => ({
          method: r.method,
          path: r.pattern,
          description: r.description,
        })),
      },
    }));
    this.add("GET", "/sim/v1/health", "liveness", () => ({ body: { ok: true } }));
    this.add("GET", "/sim/v1/routes", "the Binance routes served", () => ({ body: t.routes() }));
    this.add(
      "POST",
      "/sim/v1/accounts",
      "create an account {balances, permissions?, commission?: {maker?, taker?, asset?: received|quote}, apiKey?, secretKey?} → {accountId, apiKey, secretKey}",
      ({ body }) => ({ status: 201, body: t.createAccount(body) }),
    );
    this.add("GET", "/sim/v1/accounts", "list accounts with balances", () => ({ body: t.accountViews() }));
    this.add("GET", "/sim/v1/accounts/:apiKey", "one account", ({ params }) => ({
      body: t.accountView(params.apiKey),
    }));
    const setBalances: Handler = ({ params, body }) => ({
      body: t.setBalances(params.apiKey, obj(body.balances, "balances") as Record<string, string>),
    });
    this.add(
      "PUT",
      "/sim/v1/accounts/:apiKey/balances",
      'set free balances {balances: {USDT: "100"}} (emits balanceUpdate)',
      setBalances,
    );
    this.add("POST", "/sim/v1/accounts/:apiKey/balances", "same as PUT", setBalances);
    this.add(
      "PUT",
      "/sim/v1/accounts/:apiKey/permissions",
      "set key permissions {enableWithdrawals: false, ...}",
      ({ params, body }) => ({ body: t.setPermissions(params.apiKey, body) }),
    );
    this.add("GET", "/sim/v1/clock", "replay clock state", () => ({ body: t.clockState() }));
    this.add("POST", "/sim/v1/clock/advance", "advance replay time {candles} or {ms}", ({ body }) => ({
      body: t.clockAdvance({
        candles: body.candles === undefined ? undefined : num(body.candles, "candles"),
        ms: body.ms === undefined ? undefined : num(body.ms, "ms"),
      }),
    }));
    this.add("POST", "/sim/v1/clock/jump", "set replay time {time: epoch ms or ISO}", ({ body }) => {
      if (typeof body.time !== "number" && typeof body.time !== "string")
        throw bad("time must be epoch ms or an ISO date");
      return { body: t.clockJump(body.time) };
    });
    this.add("POST", "/sim/v1/clock/speed", "set replay speed {speed}", ({ body }) => ({
      body: t.clockSpeed(num(body.speed, "speed")),
    }));
    this.add("POST", "/sim/v1/clock/pause", "pause realtime replay", () => ({ body: t.clockPause() }));
    this.add("POST", "/sim/v1/clock/resume", "resume realtime replay", () => ({ body: t.clockResume() }));
    this.add("POST", "/sim/v1/clock/mode", "switch mode {step: true|false}", ({ body }) => {
      if (typeof body.step !== "boolean") throw bad("step must be true or false");
      return { body: t.clockStep(body.step) };
    });
    this.add("GET", "/sim/v1/faults", "armed faults", () => ({ body: t.listFaults() }));
    this.add(
      "POST",
      "/sim/v1/faults",
      "arm a fault {kind, count?, durationMs?, match?, ...}",
      ({ body }) => ({ status: 201, body: t.addFault(body as unknown as FaultSpec) }),
    );
    this.add("DELETE", "/sim/v1/faults", "disarm every fault", () => {
      t.clearFaults();
      return { body: {} };
    });
    this.add("DELETE", "/sim/v1/faults/:id", "disarm one fault", ({ params }) => {
      if (!t.removeFault(params.id)) throw new AdminError(404, "NOT_FOUND", `no fault ${params.id}`);
      return { body: {} };
    });
    this.add(
      "POST",
      "/sim/v1/ws/drop",
      "drop WebSocket connections now {scope?: all|market|user, refuseMs?}",
      ({ body }) => {
        const scope = body.scope ?? "all";
        if (scope !== "all" && scope !== "market" && scope !== "user")
          throw bad("scope must be all, market or user");
        return {
          body: {
            dropped: t.dropConnections(
              scope,
              body.refuseMs === undefined ? 0 : num(body.refuseMs, "refuseMs"),
            ),
          },
        };
      },
    );
    this.add(
      "GET",
      "/sim/v1/orders",
      "every order the venue holds (?apiKey=&symbol=&status=open|closed|NEW|…&clientOrderId=)",
      ({ query }) => ({
        body: t.orders({
          apiKey: query.get("apiKey") ?? undefined,
          symbol: query.get("symbol") ?? undefined,
          status: query.get("status") ?? undefined,
          clientOrderId: query.get("clientOrderId") ?? undefined,
        }),
      }),
    );
    this.add(
      "POST",
      "/sim/v1/orders",
      "inject an order into an account {apiKey, symbol, side, type, quantity, price?, ..., emitEvents?}",
      ({ body }) => ({ status: 201, body: t.injectOrder(body) }),
    );
    this.add("GET", "/sim/v1/limits", "rate limits", () => ({ body: t.limitsView() }));
    this.add(
      "PUT",
      "/sim/v1/limits",
      "change rate limits {weightPerMinute?, ordersPer10s?, ...}",
      ({ body }) => ({ body: t.setLimits(body) }),
    );
    this.add("POST", "/sim/v1/limits/reset", "forget weight/order counters and bans", () => {
      t.resetLimits();
      return { body: {} };
    });
    this.add("GET", "/sim/v1/requests", "recent REST requests (?limit=)", ({ query }) => ({
      body: t.requests(query.get("limit") ? num(query.get("limit"), "limit") : undefined),
    }));
    this.add("DELETE", "/sim/v1/requests", "clear the request log", () => {
      t.clearRequests();
      return { body: {} };
    });
    this.add(
      "GET",
      "/sim/v1/stats",
      "connections, in-flight trade requests per account:symbol, event counters",
      () => ({ body: t.stats() }),
    );
  }

  private add(method: string, pattern: string, description: string, handler: Handler): void {
    const keys: string[] = [];
    const re = new RegExp(
      "^" + pattern.replace(/:([a-zA-Z]+)/g, (_m, k: string) => (keys.push(k), "([^/]+)")) + "$",
    );
    this.routes.push({ method, pattern, re, keys, description, handler });
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string, rawQuery: string): Promise<void> {
    const send = (status: number, body: unknown) => {
      if (res.writableEnded || res.destroyed) return;
      const text = JSON.stringify(body);
      res.writeHead(status, {
        "Content-Type": "application/json; charset=utf-8",
        "Content-Length": Buffer.byteLength(text),
        "Cache-Control": "no-store",
      });
      res.end(text);
    };
    try {
      if (this.token !== undefined && req.headers.authorization !== `Bearer ${this.token}`)
        throw new AdminError(401, "UNAUTHORIZED", "admin API needs 'Authorization: Bearer <token>'");
      const method = (req.method ?? "GET").toUpperCase();
      const p = path.length > 7 && path.endsWith("/") ? path.slice(0, -1) : path;
      let pathMatched = false;
      for (const r of this.routes) {
        const m = r.re.exec(p);
        if (!m) continue;
        pathMatched = true;
        if (r.method !== method) continue;
        const params: Record<string, string> = {};
        r.keys.forEach((k, i) => (params[k] = decodeURIComponent(m[i + 1])));
        const body = await readJson(req);
        const out = r.handler({ params, body, query: new URLSearchParams(rawQuery) });
        return send(out.status ?? 200, out.body);
      }
      if (pathMatched) throw new AdminError(405, "METHOD_NOT_ALLOWED", `${method} is not allowed on ${p}`);
      throw new AdminError(404, "NOT_FOUND", `no admin endpoint ${p}; GET /sim/v1 lists them`);
    } catch (e) {
      if (e instanceof AdminError)
        return send(e.status, { error: { status: e.status, code: e.code, message: e.message, ...e.extra } });
      if (e instanceof BinanceError)
        return send(400, { error: { status: 400, code: "REJECTED", message: e.msg, binance: e.toJSON() } });
      if (e instanceof RangeError || e instanceof TypeError)
        return send(400, { error: { status: 400, code: "BAD_REQUEST", message: e.message } });
      return send(500, {
        error: { status: 500, code: "INTERNAL", message: e instanceof Error ? e.message : String(e) },
      });
    }
  }
}

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > 1 << 20) {
        reject(new AdminError(413, "PAYLOAD_TOO_LARGE", "body over 1 MiB"));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8").trim();
      if (text === "") return resolve({});
      try {
        const v = JSON.parse(text);
        if (typeof v !== "object" || v === null || Array.isArray(v))
          return reject(bad("body must be a JSON object"));
        resolve(v);
      } catch {
        reject(bad("body is not valid JSON"));
      }
    });
    req.on("error", reject);
  });
}
