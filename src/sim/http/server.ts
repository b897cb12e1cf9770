// The REST request pipeline: route → 429 storm fault → request weight → latency fault → API key,
// signature and timestamp → key permission → order-rate limit → before-commit fault → handler →
// after-commit faults → response with X-MBX-* headers. Admin requests (/sim/v1) go to the admin API untouched.
import type { IncomingMessage, ServerResponse } from "node:http";
import { BinanceError, err, MSG } from "../binance/errors";
import { hmacHex, restPayload, signaturesMatch } from "../binance/signing";
import { API_KEY_RE } from "../venue/accounts";
import type { SimCore } from "../venue/venue";
import { Params } from "./params";
import type { RequestContext, Route, RouteResult } from "./route";
import { accountRoutes } from "./routes-account";
import { marketRoutes } from "./routes-market";
import { orderRoutes } from "./routes-orders";

const MAX_BODY = 1 << 20;
const RECV_WINDOW_RE = /^[0-9]{1,5}(\.[0-9]{1,3})?$/;
const JAN_2017 = 1_483_228_800_000;

export interface RequestLogEntry {
  time: number;
  method: string;
  path: string;
  status: number;
  weight: number;
  code?: number;
  apiKey?: string;
}

export interface InflightStats {
  /** Highest number of concurrent trade requests seen per "accountId:symbol". */
  maxConcurrent: Record<string, number>;
  current: Record<string, number>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new BinanceError(-1000, "Request body too large.", 413));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

export class RestApi {
  private readonly routes = new Map<string, Route>();
  private readonly paths = new Set<string>();
  private readonly log: RequestLogEntry[] = [];
  private readonly logLimit = 5000;
  private readonly inflight = new Map<string, number>();
  private readonly maxInflight = new Map<string, number>();
  private readonly sleeps = new Set<{ handle: unknown; resolve: () => void }>();

  constructor(private readonly core: SimCore) {
    for (const r of [...marketRoutes(core), ...accountRoutes(core), ...orderRoutes(core)]) {
      this.routes.set(`${r.method} ${r.path}`, r);
      this.paths.add(r.path);
    }
  }

  routeList(): { method: string; path: string }[] {
    return [...this.routes.values()].map((r) => ({ method: r.method, path: r.path }));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = { handle: undefined as unknown, resolve };
      entry.handle = this.core.timers.setTimeout(() => {
        this.sleeps.delete(entry);
        resolve();
      }, ms);
      this.sleeps.add(entry);
    });
  }

  /** Releases pending fault delays (on shutdown). */
  cancelSleeps(): void {
    for (const s of this.sleeps) {
      this.core.timers.clearTimeout(s.handle);
      s.resolve();
    }
    this.sleeps.clear();
  }

  inflightStats(): InflightStats {
    return {
      maxConcurrent: Object.fromEntries(this.maxInflight),
      current: Object.fromEntries(this.inflight),
    };
  }

  /** The most recent requests (up to 5000), oldest first. */
  recent(limit = this.logLimit): RequestLogEntry[] {
    return this.log.slice(Math.max(0, this.log.length - Math.min(limit, this.logLimit)));
  }

  clearLog(): void {
    this.log.length = 0;
    this.maxInflight.clear();
  }

  private record(e: RequestLogEntry): void {
    this.log.push(e);
    // trim in chunks: amortised O(1) per request instead of shifting the whole log every time
    if (this.log.length >= 2 * this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string, rawQuery: string): Promise<void> {
    const method = (req.method ?? "GET").toUpperCase();
    const ip = req.socket.remoteAddress ?? "unknown";
    const route = this.routes.get(`${method} ${path}`);
    const headers: Record<string, string> = {};
    let weight = 0;
    let inflightKey: string | undefined;
    const apiKeyHeader = req.headers["x-mbx-apikey"];
    const send = (status: number, body: unknown, extra: Record<string, string> = {}) => {
      if (res.writableEnded || res.destroyed) return;
      const text = JSON.stringify(body);
      res.writeHead(status, {
        "Content-Type": "application/json;charset=UTF-8",
        "Content-Length": Buffer.byteLength(text),
        "X-MBX-USED-WEIGHT-1M": String(this.core.limiter.usedWeight(ip)),
        ...headers,
        ...extra,
      });
      res.end(text);
      this.record({
        time: this.core.wallNow(),
        method,
        path,
        status,
        weight,
        code: status >= 400 ? (body as { code?: number }).code : undefined,
        apiKey: typeof apiKeyHeader === "string" ? apiKeyHeader : undefined,
      });
    };
    const fail = (e: unknown) => {
      if (e instanceof BinanceError) return send(e.httpStatus, e.toJSON(), e.headers);
      const msg = e instanceof Error ? e.message : String(e);
      return send(500, { code: -1000, msg: `${MSG.unknown} (${msg})` });
    };
    try {
      const body = await readBody(req);
      if (!route) {
        throw new BinanceError(
          -1020,
          this.paths.has(path)
            ? MSG.unsupportedOperation
            : `${MSG.unsupportedOperation} Unknown path ${path}.`,
          this.paths.has(path) ? 405 : 404,
        );
      }
      const rawBody = body.toString("latin1");
      const storm = this.core.faults.take("rate-limit", method, path);
      if (storm) {
        const status = storm.spec.status ?? 429;
        const until = this.core.wallNow() + (storm.spec.retryAfter ?? 2) * 1000;
        throw new BinanceError(
          -1003,
          status === 418
            ? `Way too much request weight used; IP banned until ${until}. Please use WebSocket Streams for live updates to avoid bans.`
            : `Too much request weight used; current limit is ${this.core.limiter.config.weightPerMinute} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.`,
          status,
          { "Retry-After": String(storm.spec.retryAfter ?? 2) },
        );
      }
      const params = Params.fromRaw(rawQuery, rawBody);
      // a trade request is in flight from arrival to answer (the admin stats report the maximum per
      // account×symbol, so a test can check that orders for one symbol are never sent concurrently)
      const caller =
        route.permission === "trade" && typeof apiKeyHeader === "string"
          ? this.core.accounts.get(apiKeyHeader)
          : undefined;
      if (caller) {
        inflightKey = `${caller.id}:${params.str("symbol") ?? "*"}`;
        const n = (this.inflight.get(inflightKey) ?? 0) + 1;
        this.inflight.set(inflightKey, n);
        this.maxInflight.set(inflightKey, Math.max(n, this.maxInflight.get(inflightKey) ?? 0));
      }
      weight = typeof route.weight === "number" ? route.weight : route.weight(params);
      const limited = this.core.limiter.charge(ip, weight);
      if (limited) throw limited;
      const latency = this.core.faults.take("latency", method, path);
      if (latency) await this.sleep(latency.spec.ms ?? 0);
      let serverTime: number | undefined;
      const ctx: RequestContext = {
        core: this.core,
        method,
        path,
        params,
        ip,
        headers: req.headers,
        serverTime: () => (serverTime ??= this.core.serverTime()),
      };
      if (route.security !== "NONE") this.authenticate(route, ctx, rawQuery, rawBody);
      const account = ctx.account;
      if (route.orderCount && account) {
        const over = this.core.limiter.checkOrders(account.id, route.orderCount);
        if (over) throw over;
      }
      // a gateway failure in front of the matching engine: the client sees a 5xx, nothing was placed
      const refused = this.core.faults.take("error-before-commit", method, path);
      if (refused) {
        const code = refused.spec.code ?? -1000;
        const msg =
          refused.spec.msg ??
          (code === -1007 ? MSG.timeout : code === -1001 ? MSG.disconnected : MSG.unknown);
        return send(refused.spec.status ?? 503, { code, msg });
      }
      const result: RouteResult = route.handler(ctx);
      // the request has been committed: after-commit faults and the success headers apply
      if (route.orderCount && account) {
        const c = this.core.limiter.recordOrders(account.id, route.orderCount);
        headers["X-MBX-ORDER-COUNT-10S"] = String(c.count10s);
        headers["X-MBX-ORDER-COUNT-1D"] = String(c.count1d);
      }
      if (result.placedOrderIds?.length) {
        const hide = this.core.faults.take("order-not-found", method, path);
        if (hide)
          for (const id of result.placedOrderIds)
            this.core.hideOrder(id, this.core.wallNow() + (hide.spec.ms ?? 0));
      }
      const delay = this.core.faults.take("delay-after-commit", method, path);
      if (delay) await this.sleep(delay.spec.ms ?? 0);
      const boom = this.core.faults.take("error-after-commit", method, path);
      if (boom) {
        const code = boom.spec.code ?? -1000;
        const msg =
          boom.spec.msg ?? (code === -1007 ? MSG.timeout : code === -1001 ? MSG.disconnected : MSG.unknown);
        return send(boom.spec.status ?? 503, { code, msg });
      }
      send(result.status ?? 200, result.body, result.headers);
    } catch (e) {
      fail(e);
    } finally {
      this.release(inflightKey);
    }
  }

  private release(key: string | undefined): void {
    if (key === undefined) return;
    const n = (this.inflight.get(key) ?? 1) - 1;
    if (n <= 0) this.inflight.delete(key);
    else this.inflight.set(key, n);
  }

  private authenticate(route: Route, ctx: RequestContext, rawQuery: string, rawBody: string): void {
    const key = ctx.headers["x-mbx-apikey"];
    if (typeof key !== "string" || !API_KEY_RE.test(key)) throw err.apiKeyFormat();
    const account = this.core.accounts.get(key);
    if (!account) throw err.rejectedKey();
    if (route.security === "SIGNED") {
      const p = ctx.params;
      const tsText = p.req("timestamp");
      if (!/^[0-9]{1,20}$/.test(tsText)) throw err.illegalChars("timestamp", "^[0-9]{1,20}$");
      let ts = Number(tsText);
      if (ts >= 1e14) ts = Math.floor(ts / 1000);
      const rwText = p.str("recvWindow");
      let recvWindow = 5000;
      if (rwText !== undefined) {
        if (!RECV_WINDOW_RE.test(rwText) && !/^[0-9]{1,20}$/.test(rwText))
          throw err.illegalChars("recvWindow", "^[0-9]{1,5}(\\.[0-9]{1,3})?$");
        recvWindow = Number(rwText);
        if (recvWindow > 60_000) throw err.tooGreat("recvWindow", "60000");
      }
      const signature = p.req("signature");
      const expected = hmacHex(account.secretKey, restPayload(rawQuery, rawBody));
      if (!signaturesMatch(expected, signature)) throw err.signature();
      const now = ctx.serverTime();
      if (ts >= now + 1000) throw err.tsAhead();
      if (now - ts > recvWindow || ts < JAN_2017) throw err.tsOutside();
    }
    const perms = account.permissions;
    if (route.permission === "read" && !perms.enableReading) throw err.rejectedKey();
    if (route.permission === "trade" && !perms.enableSpotAndMarginTrading) throw err.rejectedKey();
    ctx.account = account;
  }
}
