// Gateway authentication cost: authenticated GET /api/v1/auth/me (JWT verify, cached session
// state, per-user rate limit, admin/role check, action call) against an unauthenticated route of
// the same shape (GET /api/v1/bench/ping, registered for this run because /system/info requires a token) on
// the same gateway in the same run, both through autocannon.
// Target: ratio ≥ 0.5. Also reports p99 latency and how many session-state fetches (the only
// database round trip of token verification) happened per authenticated request.
// Run: node --import tsx bench/auth-me.ts [seconds per endpoint] [connections]
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { ServiceBroker, type Middleware } from "moleculer";
import { benchEnv, emit } from "./lib";

/** The part of autocannon's result this benchmark reads (the package ships no types). */
interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}
const autocannon = require("autocannon") as (
  opts: {
    url: string;
    headers: Record<string, string>;
    connections: number;
    duration: number;
    pipelining: number;
  },
  cb: (err: Error | null, res: CannonResult) => void,
) => unknown;

const SECONDS = Number(process.argv[2] ?? 8);
const CONNECTIONS = Number(process.argv[3] ?? 16);
const RUNS = 2;

process.env.JWT_SECRET ??= crypto.randomBytes(48).toString("base64");
process.env.AURA_MASTER_KEY ??= crypto.randomBytes(32).toString("base64");
process.env.LOG_LEVEL ??= "warn";

const env = benchEnv({
  seconds: SECONDS,
  connections: CONNECTIONS,
  transport: "loopback HTTP keep-alive; autocannon, gateway, auth service and database client in one process",
});

function cannon(url: string, headers: Record<string, string>, duration: number): Promise<CannonResult> {
  return new Promise((resolve, reject) => {
    autocannon({ url, headers, connections: CONNECTIONS, duration, pipelining: 1 }, (err, res) =>
      err ? reject(err) : resolve(res),
    );
  });
}

async function main(): Promise<void> {
  const { startEmbeddedPostgres } =
    require("../src/adapters/storage/embedded") as typeof import("../src/adapters/storage/embedded");
  const { openDatabase, setDatabase } =
    require("../src/adapters/storage/database") as typeof import("../src/adapters/storage/database");
  const { brokerConfig, loadServiceSchema } =
    require("../src/runtime/runner") as typeof import("../src/runtime/runner");
  // the baseline: a public route through the same /api/v1 pipeline, registered before the gateway
  // module reads the route table
  const { ROUTES } = require("../src/gateway/routes") as typeof import("../src/gateway/routes");
  ROUTES.push({ method: "GET", path: "/bench/ping", action: "bench.ping", auth: "public" });
  const pingService = {
    name: "bench",
    actions: { ping: { visibility: "published", handler: () => ({ name: "AURA", apiVersion: "v1" }) } },
  };

  // a throwaway database: the embedded server in a temp dir unless DATABASE_URL names one
  let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  let dir: string | undefined;
  let url = process.env.DATABASE_URL;
  if (!url) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "aura-bench-auth-"));
    embedded = await startEmbeddedPostgres(dir);
    url = embedded.url;
  }
  const dbName = `aura_bench_${crypto.randomBytes(4).toString("hex")}`;
  const { Client } = require("pg") as typeof import("pg");
  const admin = new Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${dbName}"`);
  const u = new URL(url);
  u.pathname = `/${dbName}`;
  const db = await openDatabase({ databaseUrl: u.toString() });
  setDatabase(db);

  const calls = new Map<string, number>();
  const counter: Middleware = {
    name: "BenchCallCounter",
    localAction(next: any, action: any) {
      return (ctx: any) => {
        calls.set(action.name, (calls.get(action.name) ?? 0) + 1);
        return next(ctx);
      };
    },
  } as Middleware;
  const base = brokerConfig({ logLevel: "warn" });
  const broker = new ServiceBroker({
    ...base,
    nodeID: `bench-${process.pid}`,
    middlewares: [...((base.middlewares as Middleware[]) ?? []), counter],
  });
  for (const name of ["api", "auth", "keys"]) {
    const schema = loadServiceSchema(name);
    const settings =
      name === "api"
        ? {
            ...schema.settings,
            port: 0,
            ip: "127.0.0.1",
            rateLimits: { ipPerMinute: 1e9, userPerMinute: 1e9, credentialsPerMinute: 1e9 },
          }
        : schema.settings;
    broker.createService({ ...schema, settings });
  }
  broker.createService(pingService as any);
  await broker.start();
  try {
    const api: any = broker.getLocalService("api");
    const baseUrl = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
    const email = `bench-${crypto.randomUUID()}@example.com`;
    const password = "a long benchmark passphrase";
    const post = (p: string, body: unknown) =>
      fetch(baseUrl + p, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    if ((await post("/api/v1/auth/register", { email, password })).status !== 201)
      throw new Error("register failed");
    const login = (await (await post("/api/v1/auth/login", { email, password })).json()) as any;
    const auth = { authorization: `Bearer ${login.accessToken}` };
    const me = await fetch(baseUrl + "/api/v1/auth/me", { headers: auth });
    if (me.status !== 200) throw new Error(`GET /auth/me answered ${me.status}`);

    // warm both paths (JIT, caches, connections)
    await cannon(`${baseUrl}/api/v1/bench/ping`, {}, 1);
    await cannon(`${baseUrl}/api/v1/auth/me`, auth, 1);

    const best = { info: undefined as CannonResult | undefined, me: undefined as CannonResult | undefined };
    let sessionFetches = 0;
    let meRequests = 0;
    for (let i = 0; i < RUNS; i++) {
      const info = await cannon(`${baseUrl}/api/v1/bench/ping`, {}, SECONDS);
      const before = calls.get("auth.session") ?? 0;
      const mine = await cannon(`${baseUrl}/api/v1/auth/me`, auth, SECONDS);
      sessionFetches += (calls.get("auth.session") ?? 0) - before;
      meRequests += mine.requests.total;
      if (info.non2xx || mine.non2xx || info.errors || mine.errors)
        throw new Error(
          `non-2xx answers: info ${info.non2xx}/${info.errors}, me ${mine.non2xx}/${mine.errors}`,
        );
      if (!best.info || info.requests.average > best.info.requests.average) best.info = info;
      if (!best.me || mine.requests.average > best.me.requests.average) best.me = mine;
    }
    const { info, me: mine } = best as { info: CannonResult; me: CannonResult };
    emit(env, "gateway_auth_me_throughput", mine.requests.average, info.requests.average, "req/s", {
      target: ">= 0.5",
      baselineRoute: "GET /api/v1/bench/ping (no auth)",
    });
    emit(env, "gateway_auth_me_p99_latency", mine.latency.p99, info.latency.p99, "ms (lower is better)", {
      baselineRoute: "GET /api/v1/bench/ping (no auth)",
    });
    process.stdout.write(
      JSON.stringify({
        metric: "gateway_auth_session_fetches_per_request",
        ours: +(sessionFetches / Math.max(1, meRequests)).toExponential(2),
        baseline: 1,
        ratio: +(sessionFetches / Math.max(1, meRequests)).toExponential(2),
        unit: "auth.session calls per authenticated request (1 = a database round trip per request)",
        env,
        sessionFetches,
        requests: meRequests,
      }) + "\n",
    );
  } finally {
    await broker.stop();
    await db.close();
    await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`).catch(() => {});
    await admin.end();
    await embedded?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e?.stack ?? e}\n`);
  process.exit(1);
});
