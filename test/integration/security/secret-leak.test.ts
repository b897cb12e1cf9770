// Secret leaks: the auth and key flows (successes, failures, reuse, a tampered key, the real ccxt client
// against a Binance stand-in) run with every log line at debug level captured; no password, API
// secret, full API key, JWT or refresh token appears in the logs, in the audit trail or in any
// response other than the one that hands a token to its owner.
import crypto from "node:crypto";
import { Writable } from "node:stream";
import { QueryTypes } from "sequelize";
import { createCcxtClient } from "../../../src/adapters/exchange/key-validation";
import type { VenueAccounts } from "../../../src/adapters/execution/accounts";
import { pinoOptions } from "../../../src/runtime/logging";
import {
  http,
  nodeCcxt,
  randomApiKey,
  SAFE_RESTRICTIONS,
  startFakeBinance,
  startSecurityEnv,
  uniqueEmail,
  type FakeBinance,
  type HttpResult,
  type SecurityEnv,
} from "./helpers";

let captured = "";
const sink = new Writable({
  write(chunk, _enc, cb) {
    captured += chunk.toString();
    cb();
  },
});

let env: SecurityEnv;
let fake: FakeBinance;
const ccxt = nodeCcxt();
/** The venue accounts of the execution service in this process: keys are opened there, never sent. */
const accounts = () => (env.cluster.broker.getLocalService("execution") as any).accounts as VenueAccounts;

beforeAll(async () => {
  fake = await startFakeBinance();
  env = await startSecurityEnv({
    services: ["api", "auth", "keys", "execution"],
    broker: {
      logLevel: "debug",
      logger: {
        type: "Pino",
        options: { level: "debug", pino: { options: pinoOptions("debug"), destination: sink } },
      },
    },
    settings: {
      keys: {
        validation: {
          simUrl: fake.url,
          timeoutMs: 1000,
          createClient: (ex: any, c: any, o: any) => createCcxtClient(ex, c, o, ccxt),
        },
      },
    },
  });
});
afterAll(async () => {
  await env?.stop();
  await fake?.close();
});

test("no secret reaches a log line, the audit trail or a response", async () => {
  const base = env.cluster.baseUrl;
  const secrets: string[] = [];
  const allowedTokenResponses = new Set<HttpResult>();
  const responses: HttpResult[] = [];
  const call = async (
    method: string,
    path: string,
    opts: { token?: string; body?: unknown } = {},
    handsOutTokens = false,
  ) => {
    const r = await http(base, method, path, opts);
    responses.push(r);
    if (handsOutTokens) allowedTokenResponses.add(r);
    for (const t of [r.body?.accessToken, r.body?.refreshToken]) if (typeof t === "string") secrets.push(t);
    return r;
  };

  const password = `pw-${crypto.randomBytes(12).toString("hex")}`;
  const wrong = `wrong-${crypto.randomBytes(12).toString("hex")}`;
  const newPassword = `new-${crypto.randomBytes(12).toString("hex")}`;
  secrets.push(password, wrong, newPassword);
  const email = uniqueEmail("leak");

  await call("POST", "/auth/register", { body: { email, password } });
  await call("POST", "/auth/register", { body: { email, password } }); // 409
  await call("POST", "/auth/register", { body: { email: "not-an-email", password } }); // 400
  await call("POST", "/auth/login", { body: { email, password: wrong } });
  await call("POST", "/auth/login", { body: { email: uniqueEmail("ghost"), password: wrong } });
  const login = await call("POST", "/auth/login", { body: { email, password } }, true);
  const token = login.body.accessToken;
  await call("GET", "/auth/me", { token });
  await call("GET", "/auth/me", { token: token.slice(0, -3) + "abc" }); // tampered
  await call("POST", "/auth/refresh", { body: { refreshToken: login.body.refreshToken } }, true);
  await call("POST", "/auth/refresh", { body: { refreshToken: login.body.refreshToken } }); // reuse → family revoked

  const session = await call("POST", "/auth/login", { body: { email, password } }, true);
  const t2 = session.body.accessToken;
  const apiKey = randomApiKey();
  const apiSecret = randomApiKey();
  const badKey = randomApiKey();
  const badSecret = randomApiKey();
  secrets.push(apiKey, apiSecret, badKey, badSecret);
  fake.keys.set(apiKey, { secret: apiSecret });
  fake.keys.set(badKey, {
    secret: badSecret,
    restrictions: { ...SAFE_RESTRICTIONS, enableWithdrawals: true },
  });
  const key = await call("POST", "/keys", {
    token: t2,
    body: { label: "leak-test", exchange: "sim", apiKey, apiSecret },
  });
  expect(key.body.status).toBe("valid");
  await call("POST", "/keys", {
    token: t2,
    body: { label: "leak-bad", exchange: "sim", apiKey: badKey, apiSecret: badSecret },
  });
  await call("POST", "/keys", {
    token: t2,
    body: { label: "leak-wrong-secret", exchange: "sim", apiKey, apiSecret: badSecret },
  });
  await call("POST", "/keys", {
    token: t2,
    body: { label: "x", exchange: "sim", apiKey: "bad key!", apiSecret },
  }); // 400
  await call("GET", "/keys", { token: t2 });
  await call("POST", `/keys/${key.body.id}/validate`, { token: t2 });
  const opened = await accounts().get(key.body.id, login.body.user.id);
  expect((opened.client.exchange as unknown as { secret: string }).secret).toBe(apiSecret);
  // a tampered row: opening it fails, and the failure (and the re-check that logs it) must not
  // carry the plaintext either
  await env.db.sequelize.query(`UPDATE user_api_keys SET api_secret_enc = api_key_enc WHERE id = :id`, {
    replacements: { id: key.body.id },
  });
  accounts().forget(key.body.id);
  const unreadable = await accounts()
    .get(key.body.id, login.body.user.id)
    .then(
      () => undefined,
      (e: unknown) => e as Error,
    );
  expect(unreadable).toMatchObject({ name: "AccountUnusableError", reason: "unreadable" });
  const failures = [String(unreadable?.message)];
  await call("POST", `/keys/${key.body.id}/validate`, { token: t2 });
  await call("POST", "/auth/password", { token: t2, body: { currentPassword: wrong, newPassword } });
  await call("POST", "/auth/password", { token: t2, body: { currentPassword: password, newPassword } }, true);
  await call("POST", "/auth/logout", { token: t2 });

  // the capture works and saw the flows at debug level
  expect(captured.split("\n").length).toBeGreaterThan(50);
  expect(captured).toMatch(/"level":"debug"/);
  expect(captured).toMatch(/auth\.login|\/api\/v1\/auth\/login/);

  const audit = JSON.stringify(
    await env.db.sequelize.query(`SELECT * FROM audit_log`, { type: QueryTypes.SELECT }),
  );
  const leaks: string[] = [];
  for (const s of secrets) {
    if (captured.includes(s)) leaks.push(`log contains ${s.slice(0, 6)}…`);
    if (audit.includes(s)) leaks.push(`audit_log contains ${s.slice(0, 6)}…`);
    if (failures.some((f) => f.includes(s))) leaks.push(`an error contains ${s.slice(0, 6)}…`);
    for (const r of responses)
      if (!allowedTokenResponses.has(r) && r.text.includes(s))
        leaks.push(`response ${r.status} contains ${s.slice(0, 6)}…`);
  }
  // API keys: only the last four characters may be shown
  for (const k of [apiKey, badKey]) {
    if (captured.includes(k.slice(0, 12)) || captured.includes(k.slice(-12)))
      leaks.push("log contains part of an API key");
  }
  expect(captured).not.toMatch(/eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}/);
  expect(captured).not.toMatch(/art_[A-Za-z0-9_-]{43}/);
  expect(leaks).toEqual([]);
});
