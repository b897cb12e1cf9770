// HTTP gateway (moleculer-web): /api/v1 routes from the explicit allowlist in src/gateway/routes.ts,
// /health/live and /health/ready, one error envelope, body limits and request ids.
import crypto from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ServiceSchema } from "moleculer";
import ApiGateway from "moleculer-web";
import { readEnv } from "../src/adapters/config/env";
import { sendEnvelope } from "../src/gateway/errors";
import { API_PREFIX, ROUTES, aliasKey, type RouteSpec } from "../src/gateway/routes";
import { liveness, readiness, readinessStatusCode } from "../src/runtime/health";

const env = readEnv();
const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{8,64}$/;

type Req = IncomingMessage & { $requestId?: string; $alias?: any; $ctx?: any; $route?: any; $startTime?: [number, number] };

function aliasesFor(routes: RouteSpec[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of routes) out[aliasKey(r)] = r.action;
  return out;
}

const ROUTE_BY_ALIAS = new Map(ROUTES.map((r) => [aliasKey(r), r]));

const securityHeaders = (_req: Req, res: ServerResponse, next: () => void) => {
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("X-Frame-Options", "DENY");
  res.setHeader("Referrer-Policy", "no-referrer");
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
  next();
};

const ApiService: ServiceSchema = {
  name: "api",
  mixins: [ApiGateway as any],

  settings: {
    port: env.port,
    ip: env.host,
    // Request ids: keep a well-formed X-Request-ID from the caller, otherwise mint one.
    rootCallOptions(this: any, options: any, req: Req) {
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
    cors: env.corsOrigin
      ? { origin: env.corsOrigin.split(","), methods: ["GET", "POST", "PUT", "PATCH", "DELETE"], credentials: true, maxAge: 600 }
      : undefined,
    onError(this: any, req: Req, res: ServerResponse, err: any) {
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
          async "GET live"(this: any, req: Req, res: ServerResponse) {
            this.sendJson(req, res, 200, liveness(this.broker));
          },
          async "GET ready"(this: any, req: Req, res: ServerResponse) {
            const report = await readiness(this.broker);
            this.sendJson(req, res, readinessStatusCode(report), report);
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
        onBeforeCall(this: any, ctx: any, _route: any, req: Req) {
          ctx.meta.ip = this.clientIp(req);
          ctx.meta.userAgent = typeof req.headers["user-agent"] === "string" ? req.headers["user-agent"].slice(0, 200) : undefined;
        },
        onAfterCall(this: any, _ctx: any, _route: any, req: Req, res: ServerResponse, data: unknown) {
          this.logAccess(req, res);
          return data;
        },
        onError(this: any, req: Req, res: ServerResponse, err: any) {
          sendEnvelope(req, res, err);
          this.logAccess(req, res);
        },
      },
    ],
  } as any,

  actions: {
    info: {
      rest: undefined,
      visibility: "published",
      handler(this: any) {
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
    clientIp(req: Req): string {
      const trusted = Number(process.env.TRUST_PROXY_HOPS ?? 0);
      const fwd = req.headers["x-forwarded-for"];
      if (trusted > 0 && typeof fwd === "string") {
        const parts = fwd.split(",").map((s) => s.trim()).filter(Boolean);
        const idx = parts.length - trusted;
        if (idx >= 0 && parts[idx]) return parts[idx];
      }
      return req.socket?.remoteAddress ?? "unknown";
    },

    logAccess(this: any, req: Req, res: ServerResponse) {
      const started = req.$startTime;
      const ms = started ? Number(process.hrtime.bigint() - (BigInt(started[0]) * 1_000_000_000n + BigInt(started[1]))) / 1e6 : undefined;
      const url = (req.url ?? "").split("?")[0];
      this.logger.info({ requestId: req.$requestId, method: req.method, url, status: res.statusCode, ms: ms && Math.round(ms * 10) / 10 }, "http request");
    },

    // Gateway authentication: resolved into ctx.meta.user from a verified access token only.
    async authenticate(this: any, ctx: any, _route: any, req: Req) {
      const auth = req.headers.authorization;
      if (!auth) return null;
      if (typeof this.verifyAccessToken !== "function") return null;
      return this.verifyAccessToken(ctx, auth, req);
    },

    async authorize(this: any, ctx: any, _route: any, req: Req) {
      const alias = req.$alias;
      const spec = alias ? ROUTE_BY_ALIAS.get(`${alias.method} ${alias.path.startsWith("/") ? alias.path : "/" + alias.path}`) : undefined;
      if (!spec) throw new ApiGateway.Errors.NotFoundError("NOT_FOUND", null);
      if (spec.auth === "public") return;
      const user = ctx.meta.user;
      if (!user) throw new ApiGateway.Errors.UnAuthorizedError(ApiGateway.Errors.ERR_NO_TOKEN, null);
      if (spec.auth === "admin" && user.role !== "admin") {
        throw new ApiGateway.Errors.ForbiddenError("FORBIDDEN", { message: "Administrator role required." });
      }
    },
  },
};

export default ApiService;
