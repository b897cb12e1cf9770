// HTTP gateway (moleculer-web): /api/v1 routes from the explicit allowlist in src/gateway/routes.ts,
// /health/live and /health/ready, one error envelope, body limits and request ids.
// Security: access tokens are verified here (HS256 pinned, issuer, audience, lifetime) against a
// short-lived cached view of the user (active? role? is the token's session a live session of
// that user?), so the hot path has no database round trip; per-route auth levels (public | user |
// admin); rate limits per ip, per user and, stricter, on credential routes, shared through Redis
// when REDIS_URL is set. Hostile input (NUL characters, prototype keys, absurd nesting) is refused
// here for every route before any service runs.
import crypto from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Errors, type Context, type LogLevels, type Service, type ServiceSchema } from "moleculer";
import ApiGateway from "moleculer-web";
import { gatewayConfig, readEnv } from "../src/adapters/config";
import {
  consumeOrRetryAfter,
  createLimiterFactory,
  type Limiter,
  type LimiterFactory,
} from "../src/adapters/auth/rate-limit";
import { bearerToken, verifyAccessToken } from "../src/adapters/auth/tokens";
import { clientIp } from "../src/gateway/client-ip";
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
  readiness,
  ReadinessCache,
  readinessStatusCode,
} from "../src/runtime/health";
import { loadSecrets } from "../src/runtime/secrets";
import type { AuraContext } from "../mixins/auth-guard.mixin";

const env = readEnv();
const gateway = gatewayConfig();
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
};

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
  routeSpec(req: Req): RouteSpec | undefined;
  awaitLimiterStore(): Promise<void>;
  jwtSecret(): Buffer;
  logAccess(req: Req, res: ServerResponse): void;
  authenticate(ctx: AuraContext<unknown>, route: unknown, req: Req): Promise<GatewayUser | null>;
  userFromToken(req: Req, header: string | string[]): Promise<GatewayUser>;
  authorize(ctx: AuraContext<unknown>, route: unknown, req: Req): Promise<void>;
}

type Self = Service<ApiSettings> & ApiVars & ApiMethods;

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

const ApiService: ServiceSchema<ApiSettings, ApiMethods, ApiVars, Self> = {
  name: "api",
  mixins: [ApiGateway],

  settings: {
    port: env.port,
    ip: env.host,
    // Request ids: keep a well-formed X-Request-ID from the caller, otherwise mint one.
    rootCallOptions(this: Self, options: { requestID?: string }, req: Req) {
      const given = req.headers["x-request-id"];
      const id = typeof given === "string" && REQUEST_ID_RE.test(given) ? given : crypto.randomUUID();
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
          allowedHeaders: ["Authorization", "Content-Type", "X-Request-ID"],
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
    onError(this: Self, req: Req, res: ServerResponse, err: unknown) {
      sendEnvelope(req, res, err);
      this.logAccess(req, res);
    },
    routes: [
      {
        name: "health",
        path: "/health",
        mappingPolicy: "restrict",
        autoAliases: false,
        bodyParsers: false,
        use: [securityHeaders],
        aliases: {
          async "GET live"(this: Self, req: Req, res: ServerResponse) {
            const full = await this.mayReadHealthDetails(req);
            this.sendJson(req, res, 200, full ? liveness(this.broker) : publicLiveness());
          },
          async "GET ready"(this: Self, req: Req, res: ServerResponse) {
            const report = await this.readinessCache.get();
            const full = await this.mayReadHealthDetails(req);
            this.sendJson(req, res, readinessStatusCode(report), full ? report : publicReadiness(report));
          },
        },
      },
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
          this.logAccess(req, res);
          return data;
        },
        onError(this: Self, req: Req, res: ServerResponse, err: unknown) {
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
    this.readinessCache = new ReadinessCache(() => readiness(this.broker));
  },

  async started(this: Self) {
    await this.awaitLimiterStore();
  },

  async stopped(this: Self) {
    await this.limiters?.close();
  },

  events: {
    "auth.session.changed": {
      params: { userId: { type: "number", integer: true, positive: true } },
      handler(this: Self, ctx: Context<{ userId: number }>) {
        this.sessionStates.invalidate(String(ctx.params.userId));
      },
    },
  },

  actions: {
    info: {
      rest: undefined,
      visibility: "published",
      handler(this: Self) {
        return { name: "AURA", apiVersion: "v1", nodeId: this.broker.nodeID };
      },
    },
  },

  methods: {
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
      const token = bearerToken(header);
      let claims;
      try {
        if (!token) throw new Error("not a bearer token");
        claims = verifyAccessToken(this.jwtSecret(), token);
        if (!Number.isSafeInteger(Number(claims.sub))) throw new Error("subject out of range");
      } catch (e) {
        this.logger.debug(
          {
            requestId: req.$requestId,
            reason: (e as { reason?: string } | undefined)?.reason ?? "malformed",
          },
          "access token refused",
        );
        throw new ApiGateway.Errors.UnAuthorizedError(ApiGateway.Errors.ERR_INVALID_TOKEN, null);
      }
      const state = await this.sessionStates.get(claims.sub, claims.sid);
      if (state.status !== "active" || !state.sessionLive) {
        this.logger.debug(
          {
            requestId: req.$requestId,
            userId: claims.sub,
            reason: state.status !== "active" ? state.status : "not a live session of this user",
          },
          "access token refused",
        );
        throw new ApiGateway.Errors.UnAuthorizedError(ApiGateway.Errors.ERR_INVALID_TOKEN, null);
      }
      return { id: Number(claims.sub), email: state.email, role: state.role, sid: claims.sid };
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
  },
};

export default ApiService;
