// HTTP gateway (moleculer-web): /api/v1 routes from the explicit allowlist in src/gateway/routes.ts,
// /health/live and /health/ready, one error envelope, body limits and request ids; the dashboard
// (the SvelteKit app built into web/build) for every other path, and its live channel, a WebSocket
// at /api/v1/live fed from Moleculer broadcasts (src/gateway/live.ts).
// Security: access tokens are verified here (HS256 pinned, issuer, audience, lifetime) against a
// short-lived cached view of the user (active? role? is the token's session a live session of
// that user?), so the hot path has no database round trip; per-route auth levels (public | user |
// admin); rate limits per ip, per user and, stricter, on credential routes, shared through Redis
// when REDIS_URL is set. Hostile input (NUL characters, prototype keys, absurd nesting) is refused
// here for every route before any service runs. Browsers get the refresh token as an HttpOnly
// cookie instead of JSON (src/gateway/cookie-session.ts).
import crypto from "node:crypto";
import fs from "node:fs";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { WebSocketServer, type WebSocket } from "ws";
import {
  Errors,
  type ActionSchema,
  type Context,
  type LogLevels,
  type Service,
  type ServiceSchema,
} from "moleculer";
import ApiGateway from "moleculer-web";
import { authConfig, gatewayConfig, readEnv } from "../src/adapters/config";
import {
  consumeOrRetryAfter,
  createLimiterFactory,
  type Limiter,
  type LimiterFactory,
} from "../src/adapters/auth/rate-limit";
import { bearerToken, verifyAccessToken } from "../src/adapters/auth/tokens";
import { clientIp } from "../src/gateway/client-ip";
import {
  clearedRefreshCookie,
  crossSiteProblem,
  readCookie,
  REFRESH_COOKIE,
  refreshCookie,
  wantsCookieSession,
} from "../src/gateway/cookie-session";
import { LiveHub, type LiveIdentity } from "../src/gateway/live";
import { auraMetrics } from "../src/adapters/metrics";
import { sendEnvelope } from "../src/gateway/errors";
import { rateLimited, storeFactoryFor, type GatewayRateLimits } from "../src/gateway/rate-limit";
import { API_PREFIX, ROUTES, aliasKey, type RouteSpec } from "../src/gateway/routes";
import { SessionStateCache, type SessionStateWire } from "../src/gateway/session-cache";
import { findInputProblem, findRawQueryProblem, type InputProblem } from "../src/gateway/input-guard";
import {
  isLoopbackAddress,
  liveness,
  publicLiveness,
  publicReadiness,
  readinessFor,
  readinessStatusCode,
  type ReadinessCache,
} from "../src/runtime/health";
import { healthProbeOf, probeMethodRefusal } from "../src/runtime/probe-views";
import { loadSecrets } from "../src/runtime/secrets";
import { NOTICES_PER_EVENT } from "../src/adapters/strategies/decisions";
import type { AuraContext } from "../mixins/auth-guard.mixin";

const env = readEnv();
const gateway = gatewayConfig();
const auth = authConfig();
/** adapter-node's request handler for the dashboard, built by `npm ci` (the root prepare script) */
const DASHBOARD_HANDLER = path.resolve(__dirname, "../web/build/handler.js");
const LIVE_PATH = "/api/v1/live";
/** live sockets per client ip, and on one gateway in all */
const LIVE_PER_IP = 20;
const LIVE_MAX = 10_000;
const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{8,64}$/;

/** The alias a request matched, as moleculer-web hands it over (`keys`: its path params). */
interface MatchedAlias {
  method: string;
  path: string;
  keys?: { name: string }[];
}

/** A request as moleculer-web passes it on: what it adds to the Node request, and our request id. */
type Req = IncomingMessage & {
  $requestId?: string;
  $alias?: MatchedAlias;
  $params?: Record<string, unknown>;
  /** process.hrtime() when moleculer-web took the request */
  $startTime?: [number, number];
  originalUrl?: string;
  query?: unknown;
  body?: unknown;
  /** the caller asked for the cookie-based browser session */
  $cookieSession?: boolean;
};

/** adapter-node's handler: answers the request, or calls next() when it has nothing for it */
type NodeHandler = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

type Middleware = (req: Req, res: ServerResponse, next: () => void) => void;
type AliasHandler = (this: Self, req: Req, res: ServerResponse) => Promise<void>;

/**
 * Route options as this gateway writes them. moleculer-web's own route type has no `this` and no
 * fifth (alias) argument for onBeforeCall, both of which it passes at runtime.
 */
interface RouteSettings {
  name: string;
  path: string;
  mappingPolicy: "restrict";
  autoAliases: false;
  whitelist?: string[];
  authentication?: boolean;
  authorization?: boolean;
  bodyParsers: false | { json: { limit: string; strict: boolean }; urlencoded: false };
  use: Middleware[];
  aliases: Record<string, string | AliasHandler>;
  onBeforeCall?(
    this: Self,
    ctx: AuraContext<unknown>,
    route: unknown,
    req: Req,
    res: ServerResponse,
    alias: MatchedAlias | undefined,
  ): Promise<void>;
  onAfterCall?(
    this: Self,
    ctx: AuraContext<unknown>,
    route: unknown,
    req: Req,
    res: ServerResponse,
    data: unknown,
  ): unknown;
  onError?(this: Self, req: Req, res: ServerResponse, err: unknown): void;
}

/** A route as moleculer-web built it from RouteSettings; only what created() changes. */
interface BuiltRoute {
  name?: string;
  rateLimit?: {
    window: number;
    limit: number;
    headers: boolean;
    key(req: Req): string;
    store: object;
  };
}

interface ApiSettings {
  port: number;
  ip: string;
  rootCallOptions(this: Self, options: { requestID?: string }, req: Req): void;
  logRequest: LogLevels;
  logResponse: LogLevels;
  logRequestParams: null;
  logResponseData: null;
  log4XXResponses: boolean;
  httpServerTimeout: number;
  cors?: {
    origin: string[];
    methods: string[];
    allowedHeaders: string[];
    exposedHeaders: string[];
    credentials: boolean;
    maxAge: number;
  };
  rateLimits: Partial<GatewayRateLimits>;
  sessionStateTtlMs: number;
  trustProxyHops: number;
  redisUrl: string | undefined;
  limiterPrefix: string;
  /** adapter-node's handler.js of the dashboard; false: no dashboard, every other path is a 404 */
  dashboard: string | false;
  /** lifetime of the refresh-token cookie (the refresh token's idle lifetime) */
  refreshCookieMaxAgeSec: number;
  onError(this: Self, req: Req, res: ServerResponse, err: unknown): void;
  routes: RouteSettings[];
}

interface ApiVars {
  /** moleculer-web's routes, built from settings.routes before created() runs */
  routes: BuiltRoute[];
  routeByAlias: Map<string, RouteSpec>;
  proxyHops: number;
  limiters: LimiterFactory;
  credentialsLimiter: Limiter | undefined;
  userLimiter: Limiter | undefined;
  sessionStates: SessionStateCache;
  readinessCache: ReadinessCache;
  cachedJwtSecret?: Buffer;
  /** moleculer-web's HTTP server */
  server: Server;
  corsOrigins: string[];
  dashboardHandler?: NodeHandler;
  live: LiveHub;
  liveServer?: WebSocketServer;
  livePerIp: Map<string, number>;
  liveHeartbeat?: NodeJS.Timeout;
}

interface GatewayUser {
  id: number;
  email: string;
  role: "user" | "admin";
  sid: string;
}

interface ApiMethods {
  sendJson(req: Req, res: ServerResponse, status: number, body: unknown): void;
  clientIp(req: Req): string;
  refuseHostileInput(req: Req, alias: MatchedAlias | undefined): void;
  mayReadHealthDetails(req: Req): Promise<boolean>;
  httpHandler(req: Req, res: ServerResponse, next?: (err?: unknown) => void): Promise<void> | void;
  serveHealth(req: Req, res: ServerResponse, probe: "live" | "ready"): Promise<void>;
  routeSpec(req: Req): RouteSpec | undefined;
  awaitLimiterStore(): Promise<void>;
  jwtSecret(): Buffer;
  logAccess(req: Req, res: ServerResponse): void;
  authenticate(ctx: AuraContext<unknown>, route: unknown, req: Req): Promise<GatewayUser | null>;
  userFromToken(req: Req, header: string | string[]): Promise<GatewayUser>;
  identityFromToken(token: string | undefined, requestId?: string): Promise<GatewayUser & { exp: number }>;
  authorize(ctx: AuraContext<unknown>, route: unknown, req: Req): Promise<void>;
  sendError(req: Req, res: ServerResponse, err: unknown): void;
  send404(req: Req, res: ServerResponse): void;
  loadDashboard(): Promise<void>;
  cookieSessionBefore(req: Req, spec: RouteSpec | undefined): void;
  cookieSessionAfter(req: Req, res: ServerResponse, data: unknown): unknown;
  secureCookies(req: Req): boolean;
  startLiveChannel(): void;
  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

type Self = Service<ApiSettings> & ApiVars & ApiMethods;

/** The caller's well-formed X-Request-ID, or a new one. */
function requestIdOf(req: IncomingMessage): string {
  const given = req.headers["x-request-id"];
  return typeof given === "string" && REQUEST_ID_RE.test(given) ? given : crypto.randomUUID();
}

function aliasesFor(routes: RouteSpec[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of routes) out[aliasKey(r)] = r.action;
  return out;
}

const securityHeaders: Middleware = (_req, res, next) => {
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("X-Frame-Options", "DENY");
  res.setHeader("Referrer-Policy", "no-referrer");
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
  next();
};

/**
 * Headers of every dashboard response. Pages get their Content-Security-Policy from SvelteKit
 * (web/svelte.config.js: scripts, styles and connections from this origin only, plus the hash of
 * its start-up script), which replaces the fallback set here; immutable assets get their cache
 * headers from adapter-node, which replace no-store.
 */
function dashboardHeaders(res: ServerResponse): void {
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("X-Frame-Options", "DENY");
  res.setHeader("Referrer-Policy", "same-origin");
  res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
  res.setHeader("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()");
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("Content-Security-Policy", "default-src 'self'; object-src 'none'; frame-ancestors 'none'");
}

/** Paths the API owns: unknown ones there get the JSON 404 envelope, never a dashboard page. */
function isApiPath(p: string): boolean {
  return p === "/api" || p.startsWith("/api/") || p === "/health" || p.startsWith("/health/");
}

/** A user event for the live channel, which delivers it to its owner's sockets only. */
function toLive(svc: Self, ctx: Context<unknown>): void {
  if (ctx.eventName) svc.live.publishUserEvent(ctx.eventName, ctx.params);
}

/** The real dynamic import, kept out of reach of transpilers that turn import() into require(). */
const importEsm = new Function("specifier", "return import(specifier)") as (s: string) => Promise<unknown>;

const ApiService: ServiceSchema<ApiSettings, ApiMethods, ApiVars, Self> = {
  name: "api",
  mixins: [ApiGateway],

  settings: {
    port: env.port,
    ip: env.host,
    // Request ids: keep a well-formed X-Request-ID from the caller, otherwise mint one.
    rootCallOptions(this: Self, options: { requestID?: string }, req: Req) {
      const id = requestIdOf(req);
      options.requestID = id;
      req.$requestId = id;
    },
    logRequest: "debug",
    logResponse: "debug",
    // Parameters and responses can hold passwords, keys and tokens: never logged.
    logRequestParams: null,
    logResponseData: null,
    log4XXResponses: false,
    httpServerTimeout: 30_000,
    // Only the dashboard's origin(s); without CORS_ORIGIN no cross-origin browser call is allowed.
    cors: env.corsOrigin
      ? {
          origin: env.corsOrigin
            .split(",")
            .map((o) => o.trim())
            .filter(Boolean),
          methods: ["GET", "POST", "PUT", "PATCH", "DELETE"],
          allowedHeaders: ["Authorization", "Content-Type", "X-Request-ID", "X-Aura-Session"],
          exposedHeaders: ["X-Request-ID", "Retry-After"],
          credentials: true,
          maxAge: 600,
        }
      : undefined,
    rateLimits: gateway.rateLimits,
    /** how long a gateway trusts its cached view of a user (status, role, revoked sessions) */
    sessionStateTtlMs: gateway.authStateTtlMs,
    trustProxyHops: gateway.trustProxyHops,
    /** where shared rate-limit counters live (REDIS_URL); unset → this process's memory */
    redisUrl: env.redisUrl,
    limiterPrefix: "aura-rl",
    dashboard: DASHBOARD_HANDLER,
    refreshCookieMaxAgeSec: auth.session.idleTtlSec,
    onError(this: Self, req: Req, res: ServerResponse, err: unknown) {
      sendEnvelope(req, res, err);
      this.logAccess(req, res);
    },
    routes: [
      {
        name: "api-v1",
        path: API_PREFIX,
        mappingPolicy: "restrict",
        autoAliases: false,
        whitelist: ROUTES.map((r) => r.action),
        authentication: true,
        authorization: true,
        bodyParsers: { json: { limit: env.bodyLimit, strict: true }, urlencoded: false },
        use: [securityHeaders],
        aliases: aliasesFor(ROUTES),
        async onBeforeCall(
          this: Self,
          ctx: AuraContext<unknown>,
          _route: unknown,
          req: Req,
          _res: ServerResponse,
          alias: MatchedAlias | undefined,
        ) {
          // before authentication and before any service: hostile input never reaches a handler
          this.refuseHostileInput(req, alias);
          ctx.meta.ip = this.clientIp(req);
          ctx.meta.userAgent =
            typeof req.headers["user-agent"] === "string"
              ? req.headers["user-agent"].slice(0, 200)
              : undefined;
          const spec = this.routeSpec(req);
          this.cookieSessionBefore(req, spec);
          if (spec?.limiter === "credentials" && this.credentialsLimiter) {
            const retryAfter = await consumeOrRetryAfter(
              this.credentialsLimiter,
              `${ctx.meta.ip}|${spec.method} ${spec.path}`,
            );
            if (retryAfter) throw rateLimited(retryAfter);
          }
        },
        onAfterCall(
          this: Self,
          _ctx: AuraContext<unknown>,
          _route: unknown,
          req: Req,
          res: ServerResponse,
          data: unknown,
        ) {
          const out = this.cookieSessionAfter(req, res, data);
          this.logAccess(req, res);
          return out;
        },
        onError(this: Self, req: Req, res: ServerResponse, err: unknown) {
          // a browser whose refresh cookie was refused should not keep sending it
          if (
            req.$cookieSession &&
            this.routeSpec(req)?.action === "auth.refresh" &&
            (err as { code?: unknown } | undefined)?.code === 401 &&
            !res.headersSent
          )
            res.setHeader("Set-Cookie", clearedRefreshCookie(this.secureCookies(req)));
          sendEnvelope(req, res, err);
          this.logAccess(req, res);
        },
      },
    ],
  },

  created(this: Self) {
    // Production refuses to start with a missing or weak JWT_SECRET / AURA_MASTER_KEY.
    if (env.production) loadSecrets();
    this.routeByAlias = new Map<string, RouteSpec>(ROUTES.map((r) => [aliasKey(r), r]));
    this.proxyHops = Number(this.settings.trustProxyHops ?? 0);
    const limits: GatewayRateLimits = { ...gateway.rateLimits, ...(this.settings.rateLimits ?? {}) };
    this.limiters = createLimiterFactory(this.settings.redisUrl, { prefix: this.settings.limiterPrefix });
    // moleculer-web built its routes before this hook; attach the per-ip limit to /api/v1 with a
    // store from the shared factory (its default key trusts X-Forwarded-For, ours does not).
    const apiRoute = this.routes.find((r) => r.name === "api-v1");
    if (apiRoute && limits.ipPerMinute > 0) {
      const Store = storeFactoryFor(this.limiters, "ip");
      apiRoute.rateLimit = {
        window: 60_000,
        limit: limits.ipPerMinute,
        headers: false,
        key: (req: Req) => clientIp(req, this.proxyHops),
        store: new Store(60_000, { limit: limits.ipPerMinute }),
      };
    }
    this.credentialsLimiter =
      limits.credentialsPerMinute > 0
        ? this.limiters.create({ name: "credentials", points: limits.credentialsPerMinute, durationSec: 60 })
        : undefined;
    this.userLimiter =
      limits.userPerMinute > 0
        ? this.limiters.create({ name: "user", points: limits.userPerMinute, durationSec: 60 })
        : undefined;
    this.sessionStates = new SessionStateCache(
      (userId: string, sid: string) =>
        this.broker.call<SessionStateWire, { userId: number; sid: string }>(
          "auth.session",
          { userId: Number(userId), sid },
          { caller: this.fullName },
        ),
      Number(this.settings.sessionStateTtlMs),
    );
    this.readinessCache = readinessFor(this.broker);
    this.corsOrigins = (env.corsOrigin ?? "")
      .split(",")
      .map((o) => o.trim())
      .filter(Boolean);
    this.livePerIp = new Map();
    const subscriber = `api.${this.broker.nodeID}`;
    const metrics = auraMetrics(this.broker);
    this.live = new LiveHub({
      onCount: (open) => metrics.set("wsClients", open),
      authenticate: async (token): Promise<LiveIdentity> => {
        const u = await this.identityFromToken(token);
        return { userId: u.id, sid: u.sid, role: u.role, expiresAt: u.exp * 1000 };
      },
      sessionLive: async (userId, sid) => {
        const state = await this.sessionStates.get(String(userId), sid);
        return state.status === "active" && state.sessionLive;
      },
      // the market-data service streams a series only while someone holds it; this gateway holds
      // the series its sockets watch, under one subscriber id per node
      acquireSeries: async (symbol, interval) => {
        await this.broker.call(
          "market-data.subscribe",
          { symbol, interval, subscriber },
          { caller: this.fullName },
        );
      },
      releaseSeries: (symbol, interval) => {
        this.broker
          .call("market-data.unsubscribe", { symbol, interval, subscriber }, { caller: this.fullName })
          .catch((e: Error) => this.logger.debug({ err: e.message }, "live: unsubscribe failed"));
      },
      log: this.logger,
    });
  },

  async started(this: Self) {
    await this.awaitLimiterStore();
    await this.loadDashboard();
    this.startLiveChannel();
  },

  async stopped(this: Self) {
    this.live?.closeAll();
    if (this.liveHeartbeat) clearInterval(this.liveHeartbeat);
    this.liveServer?.close();
    await this.limiters?.close();
  },

  events: {
    "auth.session.changed": {
      params: { userId: { type: "number", integer: true, positive: true } },
      handler(this: Self, ctx: Context<{ userId: number }>) {
        this.sessionStates.invalidate(String(ctx.params.userId));
        void this.live.revalidateUser(ctx.params.userId);
      },
    },
    // the live channel's feed: broadcasts reach every gateway pod, each serves its own sockets
    "market.candle.closed"(this: Self, ctx: Context<{ symbol: string; interval: string; candle: unknown }>) {
      this.live.publishCandle(ctx.params, true);
    },
    "market.candle.updated"(this: Self, ctx: Context<{ symbol: string; interval: string; candle: unknown }>) {
      this.live.publishCandle(ctx.params, false);
    },
    "backtest.progress"(this: Self, ctx: Context<unknown>) {
      toLive(this, ctx);
    },
    "backtest.completed"(this: Self, ctx: Context<unknown>) {
      toLive(this, ctx);
    },
    "order.*"(this: Self, ctx: Context<unknown>) {
      toLive(this, ctx);
    },
    "position.*"(this: Self, ctx: Context<unknown>) {
      toLive(this, ctx);
    },
    "strategies.changed"(this: Self, ctx: Context<unknown>) {
      toLive(this, ctx);
    },
    // runners announce their decisions in batches; each socket still gets one message per
    // decision of its own user, as "strategy.decision"
    "strategy.decisions"(this: Self, ctx: Context<{ decisions?: unknown }>) {
      const list = ctx.params?.decisions;
      if (!Array.isArray(list)) return;
      for (const d of list.slice(0, NOTICES_PER_EVENT)) this.live.publishUserEvent("strategy.decision", d);
    },
    "alert.raised"(this: Self, ctx: Context<unknown>) {
      toLive(this, ctx);
    },
  },

  actions: {
    // moleculer-web handles every HTTP request inside this action. With the broker-wide
    // bulkhead (10 at a time) the whole gateway served ten requests at once and refused the
    // rest as QUEUE_FULL before it knew who was asking, so one user's burst took every other
    // user's slots. Fairness is the per-user and per-address rate limits' job and protecting a
    // service is its own actions' bulkheads'; here the bound only caps the requests one gateway
    // holds open.
    rest: {
      bulkhead: { enabled: true, concurrency: gateway.maxInFlight, maxQueueSize: gateway.maxInFlight },
    } as unknown as ActionSchema<Self>,
    info: {
      rest: undefined,
      visibility: "published",
      handler(this: Self) {
        return { name: "AURA", apiVersion: "v1", nodeId: this.broker.nodeID };
      },
    },
  },

  methods: {
    /**
     * Health probes are answered here, before moleculer-web hands the request to its `rest`
     * action: that action passes the broker's bulkhead, so under load a probe would queue behind
     * (or be refused with) user traffic and an orchestrator would take a busy gateway out of
     * service or restart it. A probe costs no action call and waits for nothing but readiness.
     */
    httpHandler(this: Self, req: Req, res: ServerResponse, next?: (err?: unknown) => void) {
      const probe = healthProbeOf(req.url);
      if (probe) return this.serveHealth(req, res, probe);
      return (ApiGateway.methods!.httpHandler as (this: Self, ...a: unknown[]) => Promise<void>).call(
        this,
        req,
        res,
        next,
      );
    },

    async serveHealth(this: Self, req: Req, res: ServerResponse, probe: "live" | "ready") {
      req.$requestId = requestIdOf(req);
      securityHeaders(req, res, () => undefined);
      try {
        const refusal = probeMethodRefusal(req.method);
        if (refusal) {
          res.setHeader("Allow", "GET, HEAD");
          return this.sendJson(req, res, 405, refusal);
        }
        if (probe === "live") {
          const full = await this.mayReadHealthDetails(req);
          return this.sendJson(req, res, 200, full ? liveness(this.broker) : publicLiveness());
        }
        const report = await this.readinessCache.get();
        const full = await this.mayReadHealthDetails(req);
        this.sendJson(req, res, readinessStatusCode(report), full ? report : publicReadiness(report));
      } catch (e) {
        sendEnvelope(req, res, e);
      }
    },

    sendJson(req: Req, res: ServerResponse, status: number, body: unknown) {
      res.statusCode = status;
      res.setHeader("Content-Type", "application/json; charset=utf-8");
      res.setHeader("Cache-Control", "no-store");
      if (req.$requestId) res.setHeader("X-Request-ID", req.$requestId);
      res.end(JSON.stringify(body));
    },

    /** The socket peer; X-Forwarded-For is trusted only from the configured proxy hops. */
    clientIp(this: Self, req: Req): string {
      return clientIp(req, this.proxyHops ?? 0);
    },

    /**
     * 400 VALIDATION_ERROR for NUL characters, prototype keys, or too deep / too large data in the
     * path params, the query string (raw keys too: the parser drops `__proto__[x]` silently) or
     * the JSON body. Runs for every /api/v1 route, so services need not each defend against these.
     */
    refuseHostileInput(this: Self, req: Req, alias: MatchedAlias | undefined) {
      const pathParams: Record<string, unknown> = {};
      const params = req.$params ?? {};
      for (const k of Array.isArray(alias?.keys) ? alias.keys : [])
        if (Object.prototype.hasOwnProperty.call(params, k.name)) pathParams[k.name] = params[k.name];
      const url = req.originalUrl ?? req.url ?? "";
      const q = url.indexOf("?");
      const problem: InputProblem | undefined =
        findInputProblem(pathParams, "path") ??
        (q === -1 ? undefined : findRawQueryProblem(url.slice(q + 1))) ??
        findInputProblem(req.query, "query") ??
        findInputProblem(req.body, "body");
      if (problem) {
        this.logger.debug({ requestId: req.$requestId, type: problem.type }, "hostile input refused");
        throw new Errors.ValidationError("Invalid request parameters.", "VALIDATION_ERROR", [problem]);
      }
    },

    /**
     * Whether this caller may see the full health report (node id, services, error details):
     * from loopback (operators on the machine, the CI script), or with a valid admin token.
     * Anyone else gets the overall status only; a bad token is not an error here, probes must
     * never fail because of a header.
     */
    async mayReadHealthDetails(this: Self, req: Req): Promise<boolean> {
      if (isLoopbackAddress(this.clientIp(req))) return true;
      const header = req.headers.authorization;
      if (!header) return false;
      try {
        return (await this.userFromToken(req, header)).role === "admin";
      } catch {
        return false;
      }
    },

    /** The allowlist entry of the alias this request matched. */
    routeSpec(this: Self, req: Req): RouteSpec | undefined {
      const alias = req.$alias;
      if (!alias) return undefined;
      return this.routeByAlias.get(
        `${alias.method} ${alias.path.startsWith("/") ? alias.path : "/" + alias.path}`,
      );
    },

    /** Until Redis answers, limits are counted per process (the insurance limiter): wait a little for it. */
    async awaitLimiterStore(this: Self) {
      if (!(await this.limiters.ready(5000)))
        this.logger.warn("rate-limit store (Redis) not reachable yet; limits are per process until it is");
    },

    jwtSecret(this: Self): Buffer {
      this.cachedJwtSecret ??= loadSecrets(undefined, { warn: (m) => this.logger.warn(m) }).jwtSecret;
      return this.cachedJwtSecret;
    },

    logAccess(this: Self, req: Req, res: ServerResponse) {
      const started = req.$startTime;
      const ms = started
        ? Number(process.hrtime.bigint() - (BigInt(started[0]) * 1_000_000_000n + BigInt(started[1]))) / 1e6
        : undefined;
      const url = (req.url ?? "").split("?")[0];
      this.logger.info(
        {
          requestId: req.$requestId,
          method: req.method,
          url,
          status: res.statusCode,
          ms: ms && Math.round(ms * 10) / 10,
        },
        "http request",
      );
    },

    // Gateway authentication: resolved into ctx.meta.user from a verified access token only.
    async authenticate(this: Self, _ctx: AuraContext<unknown>, _route: unknown, req: Req) {
      const spec = this.routeSpec(req);
      if (!spec || spec.auth === "public") return null;
      const header = req.headers.authorization;
      if (!header) throw new ApiGateway.Errors.UnAuthorizedError(ApiGateway.Errors.ERR_NO_TOKEN, null);
      return this.userFromToken(req, header);
    },

    /**
     * The user an Authorization header proves, or 401: a verified access token whose account is
     * active and whose session (`sid`) is an unrevoked session of that same user. The role is the
     * account's current one, not the one frozen into the token.
     */
    async userFromToken(this: Self, req: Req, header: string | string[]): Promise<GatewayUser> {
      const { exp: _exp, ...user } = await this.identityFromToken(bearerToken(header), req.$requestId);
      return user;
    },

    /** The user and session a raw access token proves (and its expiry, epoch seconds), or 401. */
    async identityFromToken(this: Self, token: string | undefined, requestId?: string) {
      let claims;
      try {
        if (!token) throw new Error("not a bearer token");
        claims = verifyAccessToken(this.jwtSecret(), token);
        if (!Number.isSafeInteger(Number(claims.sub))) throw new Error("subject out of range");
      } catch (e) {
        this.logger.debug(
          { requestId, reason: (e as { reason?: string } | undefined)?.reason ?? "malformed" },
          "access token refused",
        );
        throw new ApiGateway.Errors.UnAuthorizedError(ApiGateway.Errors.ERR_INVALID_TOKEN, null);
      }
      const state = await this.sessionStates.get(claims.sub, claims.sid);
      if (state.status !== "active" || !state.sessionLive) {
        this.logger.debug(
          {
            requestId,
            userId: claims.sub,
            reason: state.status !== "active" ? state.status : "not a live session of this user",
          },
          "access token refused",
        );
        throw new ApiGateway.Errors.UnAuthorizedError(ApiGateway.Errors.ERR_INVALID_TOKEN, null);
      }
      return {
        id: Number(claims.sub),
        email: state.email,
        role: state.role,
        sid: claims.sid,
        exp: claims.exp,
      };
    },

    async authorize(this: Self, ctx: AuraContext<unknown>, _route: unknown, req: Req) {
      const spec = this.routeSpec(req);
      if (!spec) throw new ApiGateway.Errors.NotFoundError("NOT_FOUND", null);
      if (spec.auth === "public") return;
      const user = ctx.meta.user;
      if (!user) throw new ApiGateway.Errors.UnAuthorizedError(ApiGateway.Errors.ERR_NO_TOKEN, null);
      if (this.userLimiter) {
        const retryAfter = await consumeOrRetryAfter(this.userLimiter, String(user.id));
        if (retryAfter) throw rateLimited(retryAfter);
      }
      if (spec.auth === "admin" && user.role !== "admin") {
        throw new ApiGateway.Errors.ForbiddenError("FORBIDDEN", { message: "Administrator role required." });
      }
    },

    // --- the browser session (src/gateway/cookie-session.ts, docs/security.md)

    /**
     * For a caller in cookie mode (`X-Aura-Session: cookie`): refuses a cross-site request, and
     * gives a refresh without a token in its body the one from the HttpOnly cookie.
     */
    cookieSessionBefore(this: Self, req: Req, spec: RouteSpec | undefined) {
      if (!wantsCookieSession(req) || !spec?.action.startsWith("auth.")) return;
      if (crossSiteProblem(req, { allowedOrigins: this.corsOrigins, trustProxy: this.proxyHops > 0 })) {
        throw new ApiGateway.Errors.ForbiddenError("ORIGIN_NOT_ALLOWED", null);
      }
      req.$cookieSession = true;
      if (spec.action === "auth.refresh") {
        const params = req.$params ?? {};
        if (params.refreshToken === undefined) {
          const fromCookie = readCookie(req, REFRESH_COOKIE);
          if (!fromCookie)
            throw new ApiGateway.Errors.UnAuthorizedError(ApiGateway.Errors.ERR_NO_TOKEN, null);
          params.refreshToken = fromCookie;
        }
      }
    },

    /** Moves a refresh token from the JSON answer into the cookie; logout removes the cookie. */
    cookieSessionAfter(this: Self, req: Req, res: ServerResponse, data: unknown): unknown {
      if (!req.$cookieSession) return data;
      const action = this.routeSpec(req)?.action;
      if (action === "auth.logout") {
        res.setHeader("Set-Cookie", clearedRefreshCookie(this.secureCookies(req)));
        return data;
      }
      const body = data as { refreshToken?: unknown } | null;
      if (!body || typeof body !== "object" || typeof body.refreshToken !== "string") return data;
      const { refreshToken, ...rest } = body as { refreshToken: string } & Record<string, unknown>;
      res.setHeader(
        "Set-Cookie",
        refreshCookie(refreshToken, {
          secure: this.secureCookies(req),
          maxAgeSec: Number(this.settings.refreshCookieMaxAgeSec),
        }),
      );
      return rest;
    },

    /** Secure cookies in production (always behind TLS) and on any HTTPS request. */
    secureCookies(this: Self, req: Req): boolean {
      if (env.production) return true;
      if ((req.socket as { encrypted?: boolean } | undefined)?.encrypted) return true;
      const proto = req.headers["x-forwarded-proto"];
      return this.proxyHops > 0 && typeof proto === "string" && proto.split(",")[0].trim() === "https";
    },

    // --- the dashboard

    /** Loads the built dashboard; without a build the gateway serves the API alone. */
    async loadDashboard(this: Self) {
      const file = this.settings.dashboard;
      if (!file) return;
      if (!fs.existsSync(file)) {
        this.logger.warn(`dashboard not built (${path.relative(process.cwd(), file)} missing): run npm ci`);
        return;
      }
      try {
        const mod = (await importEsm(pathToFileURL(file).href)) as { handler?: NodeHandler };
        if (typeof mod.handler !== "function") throw new Error("no handler export");
        this.dashboardHandler = mod.handler;
      } catch (e) {
        // a test runner's module sandbox cannot import ES modules: expected there, a fault elsewhere
        const code = String((e as { code?: unknown }).code ?? "");
        const level = code.startsWith("ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING") ? "debug" : "warn";
        this.logger[level](
          { err: (e as Error).message },
          "dashboard could not be loaded; serving the API only",
        );
      }
    },

    /**
     * moleculer-web calls this for every request no route handled: paths under /api and /health
     * keep the JSON 404 envelope, every other GET or HEAD is the dashboard's.
     */
    send404(this: Self, req: Req, res: ServerResponse) {
      const p = (req.originalUrl ?? req.url ?? "/").split("?")[0];
      const handler = this.dashboardHandler;
      if (!handler || isApiPath(p) || (req.method !== "GET" && req.method !== "HEAD")) {
        securityHeaders(req, res, () => undefined);
        this.sendError(req, res, new ApiGateway.Errors.NotFoundError("NOT_FOUND", null));
        return;
      }
      // moleculer-web rewrote nothing for an unrouted request, but be exact about what the app sees
      if (req.originalUrl) req.url = req.originalUrl;
      dashboardHeaders(res);
      handler(req, res, () =>
        this.sendError(req, res, new ApiGateway.Errors.NotFoundError("NOT_FOUND", null)),
      );
    },

    // --- the live channel (src/gateway/live.ts)

    startLiveChannel(this: Self) {
      if (!this.server) return;
      this.liveServer = new WebSocketServer({ noServer: true, maxPayload: 4096, perMessageDeflate: false });
      this.server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) =>
        this.onUpgrade(req, socket, head),
      );
      // a peer that vanished without a close frame is found by a missed pong
      const alive = new WeakSet<WebSocket>();
      this.liveHeartbeat = setInterval(() => {
        for (const ws of this.liveServer?.clients ?? []) {
          if (!alive.has(ws)) {
            ws.terminate();
            continue;
          }
          alive.delete(ws);
          ws.ping();
        }
      }, 30_000);
      this.liveHeartbeat.unref();
      this.liveServer.on("connection", (ws: WebSocket, req: IncomingMessage) => {
        alive.add(ws);
        ws.on("pong", () => alive.add(ws));
        const ip = this.clientIp(req as Req);
        const conn = this.live.connect({
          send: (d) => ws.send(d),
          get bufferedAmount() {
            return ws.bufferedAmount;
          },
          close: (code, reason) => ws.close(code, reason),
        });
        ws.on("message", (data, isBinary) => conn.onMessage(isBinary ? "" : String(data)));
        ws.on("error", () => ws.terminate());
        ws.on("close", () => {
          conn.onClose();
          const n = (this.livePerIp.get(ip) ?? 1) - 1;
          if (n <= 0) this.livePerIp.delete(ip);
          else this.livePerIp.set(ip, n);
        });
      });
    },

    /** Only /api/v1/live upgrades, same-origin (or CORS_ORIGIN), within the connection limits. */
    onUpgrade(this: Self, req: IncomingMessage, socket: Duplex, head: Buffer) {
      const refuse = (status: number, text: string) => {
        socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      };
      const p = (req.url ?? "").split("?")[0];
      const wss = this.liveServer;
      if (p !== LIVE_PATH || !wss) return refuse(404, "Not Found");
      if (crossSiteProblem(req, { allowedOrigins: this.corsOrigins, trustProxy: this.proxyHops > 0 })) {
        return refuse(403, "Forbidden");
      }
      const ip = this.clientIp(req as Req);
      const perIp = this.livePerIp.get(ip) ?? 0;
      if (perIp >= LIVE_PER_IP || this.live.size >= LIVE_MAX) return refuse(429, "Too Many Requests");
      this.livePerIp.set(ip, perIp + 1);
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
    },
  },
};

export default ApiService;
