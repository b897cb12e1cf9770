// Shared setup for the security suites: test secrets in the environment (so nothing is written
// under .aura/), a fresh database, the real gateway + auth + keys services, and small HTTP helpers.
import crypto from "node:crypto";
import nodeHttp from "node:http";
import type { AddressInfo } from "node:net";
import type { ServiceSchema } from "moleculer";
import { startServices, type TestCluster } from "../../support/broker";
import { createTestDatabase, type TestDatabase } from "../../support/db";

export function useTestSecrets(): { jwtSecret: string; masterKey: string } {
  process.env.JWT_SECRET ??= crypto.randomBytes(48).toString("base64");
  process.env.AURA_MASTER_KEY ??= crypto.randomBytes(32).toString("base64");
  return { jwtSecret: process.env.JWT_SECRET, masterKey: process.env.AURA_MASTER_KEY };
}

/** Generous limits so suites that are not about rate limiting never trip them. */
export const RELAXED_LIMITS = { ipPerMinute: 100_000, userPerMinute: 100_000, credentialsPerMinute: 100_000 };

export interface SecurityEnv {
  db: TestDatabase;
  cluster: TestCluster;
  stop(): Promise<void>;
}

export async function startSecurityEnv(
  opts: {
    services?: string[];
    settings?: Record<string, Record<string, unknown>>;
    extra?: ServiceSchema[];
    broker?: Record<string, unknown>;
    db?: TestDatabase;
  } = {},
): Promise<SecurityEnv> {
  useTestSecrets();
  const db = opts.db ?? (await createTestDatabase());
  const settings = { ...(opts.settings ?? {}) };
  settings.api = { rateLimits: RELAXED_LIMITS, ...(settings.api ?? {}) };
  const cluster = await startServices(opts.services ?? ["api", "auth", "keys"], {
    settings,
    extra: opts.extra,
    broker: opts.broker as any,
  });
  return {
    db,
    cluster,
    async stop() {
      await cluster.stop();
      if (!opts.db) await db.drop();
    },
  };
}

export interface HttpResult<T = any> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

export async function http<T = any>(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<HttpResult<T>> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(base + (path.startsWith("/api") ? path : `/api/v1${path}`), {
    method,
    headers,
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
  });
  const text = await res.text();
  let body: any = undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  return { status: res.status, body, text, headers: res.headers };
}

export interface Session {
  id: number;
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
}

let seq = 0;
export function uniqueEmail(tag = "user"): string {
  return `${tag}.${process.pid}.${Date.now().toString(36)}.${seq++}@example.com`;
}

export const STRONG_PASSWORD = "correct horse battery staple 42";

export async function registerAndLogin(
  base: string,
  email = uniqueEmail(),
  password = STRONG_PASSWORD,
): Promise<Session> {
  const reg = await http(base, "POST", "/auth/register", { body: { email, password } });
  if (reg.status !== 201) throw new Error(`register failed: ${reg.status} ${reg.text}`);
  const login = await http(base, "POST", "/auth/login", { body: { email, password } });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${login.text}`);
  return {
    id: reg.body.user.id,
    email,
    password,
    accessToken: login.body.accessToken,
    refreshToken: login.body.refreshToken,
  };
}

/**
 * A ccxt client constructor for createCcxtClient that runs ccxt in Node's own realm: Jest's module
 * loader cannot require ccxt's ESM dependencies (@noble/*), and objects made in Jest's realm lose
 * their options in ccxt's deep merge. Production code loads ccxt normally.
 */
export function nodeCcxt(): (config: Record<string, unknown>) => any {
  const { Module } = require("node:module") as any;
  const m = new Module(__filename);
  m.paths = Module._nodeModulePaths(__dirname);
  const make = m.require(require("node:path").join(__dirname, "ccxt-realm.cjs"));
  return (config) => make(JSON.stringify(config));
}

export interface FakeKeyBehaviour {
  account?: Record<string, unknown>;
  restrictions?: Record<string, unknown>;
  error?: Error;
}

export const SAFE_RESTRICTIONS = {
  ipRestrict: true,
  enableReading: true,
  enableSpotAndMarginTrading: true,
  enableWithdrawals: false,
  enableInternalTransfer: false,
  permitsUniversalTransfer: false,
  enableMargin: false,
  enableFutures: false,
};

/** An in-process stand-in for the exchange client, answering per API key. */
export function fakeExchangeClient(behaviour: (apiKey: string) => FakeKeyBehaviour) {
  return (_exchange: string, creds: { apiKey: string; secret: string }) => {
    const b = behaviour(creds.apiKey);
    return {
      async privateGetAccount() {
        if (b.error) throw b.error;
        return b.account ?? { canTrade: true, canWithdraw: false, permissions: ["SPOT"], balances: [] };
      },
      async sapiGetAccountApiRestrictions() {
        if (b.error) throw b.error;
        return b.restrictions ?? SAFE_RESTRICTIONS;
      },
    };
  };
}

// 64 alphanumeric characters, all random: keys padded to length (as they once were) often ended
// in the same characters, and two users' keys then shared the masked "****ZZZZ" the IDOR test
// uses to tell one user's key from another's
export const randomApiKey = () => crypto.randomBytes(32).toString("hex");

export interface FakeBinanceKey {
  secret: string;
  restrictions?: Record<string, unknown> | "500" | "hang";
  account?: Record<string, unknown>;
}

export interface FakeBinance {
  url: string;
  keys: Map<string, FakeBinanceKey>;
  /** paths requested so far */
  seen: string[];
  close(): Promise<void>;
}

/**
 * A minimal Binance stand-in for key checks: verifies X-MBX-APIKEY and the HMAC signature like
 * Binance does, and answers GET /api/v3/account and GET /sapi/v1/account/apiRestrictions per key.
 */
export async function startFakeBinance(): Promise<FakeBinance> {
  const keys = new Map<string, FakeBinanceKey>();
  const seen: string[] = [];
  const server = nodeHttp.createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    seen.push(u.pathname);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const key = keys.get(String(req.headers["x-mbx-apikey"] ?? ""));
    if (!key) return send(401, { code: -2015, msg: "Invalid API-key, IP, or permissions for action." });
    const signed = u.search.slice(1).replace(/&signature=[0-9a-f]+$/, "");
    if (
      u.searchParams.get("signature") !== crypto.createHmac("sha256", key.secret).update(signed).digest("hex")
    ) {
      return send(400, { code: -1022, msg: "Signature for this request is not valid." });
    }
    if (u.pathname === "/api/v3/account") {
      return send(
        200,
        key.account ?? {
          canTrade: true,
          canWithdraw: false,
          canDeposit: true,
          accountType: "SPOT",
          balances: [],
          permissions: ["SPOT"],
        },
      );
    }
    if (u.pathname === "/sapi/v1/account/apiRestrictions") {
      if (key.restrictions === "500")
        return send(500, { code: -1000, msg: "An unknown error occurred while processing the request." });
      if (key.restrictions === "hang") return; // never answers
      return send(200, { createTime: 1700000000000, ...(key.restrictions ?? SAFE_RESTRICTIONS) });
    }
    send(404, { code: -1, msg: "not here" });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    keys,
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
