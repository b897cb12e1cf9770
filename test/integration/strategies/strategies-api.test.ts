// The strategies service through the real gateway, with the real key check against the built-in
// simulator: stored definitions and their versions, the desired state of each instance (activation
// on a live key or the paper account, pause, resume, deactivation), the decision log, the trading
// halt, and the internal actions the runtime and the REPL use.
import { QueryTypes } from "sequelize";
import { openApiKeyRow } from "../../../src/adapters/auth/api-keys";
import { KeyRing } from "../../../src/adapters/crypto/aead";
import { createCcxtClient } from "../../../src/adapters/exchange/key-validation";
import { auraReplCommands, REPL_CALLER } from "../../../src/runtime/repl-commands";
import type { Simulator } from "../../../src/sim";
import { strategyDefinition } from "../security/idor-matrix";
import {
  http,
  nodeCcxt,
  registerAndLogin,
  startSecurityEnv,
  useTestSecrets,
  type SecurityEnv,
  type Session,
} from "../security/helpers";

jest.setTimeout(60_000);

const MAX_PER_USER = 8;
const PAPER_BALANCE = "2500.5";

let env: SecurityEnv;
let base: string;
let sim: Simulator;
let admin: Session;
const events: { name: string; payload: any }[] = [];
const ccxt = nodeCcxt();

const listener = {
  name: "strategy-runner",
  events: {
    "strategies.changed"(ctx: any) {
      events.push({ name: ctx.eventName, payload: ctx.params });
    },
    "trading.flags.changed"(ctx: any) {
      events.push({ name: ctx.eventName, payload: ctx.params });
    },
  },
};

beforeAll(async () => {
  env = await startSecurityEnv({
    services: ["api", "auth", "keys", "strategies", "exchange-sim"],
    settings: {
      "exchange-sim": { port: 0, step: true },
      keys: {
        validation: {
          timeoutMs: 3000,
          createClient: (ex: any, c: any, o: any) => createCcxtClient(ex, c, o, ccxt),
        },
        recheckIntervalMs: 0,
      },
      strategies: { maxPerUser: MAX_PER_USER, paperBalanceUsdt: PAPER_BALANCE },
    },
    extra: [listener as any],
  });
  base = env.cluster.baseUrl;
  sim = (env.cluster.broker.getLocalService("exchange-sim") as any).sim;
  admin = await registerAndLogin(base); // the first user is the admin
});
afterAll(async () => {
  await env?.stop();
});

const q = <T extends object = any>(sql: string, bind: unknown[] = []) =>
  env.db.sequelize.query<T>(sql, { bind, type: QueryTypes.SELECT });

const as = (s: Session) => ({
  get: (path: string) => http(base, "GET", path, { token: s.accessToken }),
  post: (path: string, body: unknown = {}) => http(base, "POST", path, { token: s.accessToken, body }),
  put: (path: string, body: unknown) => http(base, "PUT", path, { token: s.accessToken, body }),
  del: (path: string) => http(base, "DELETE", path, { token: s.accessToken }),
});

async function createStrategy(s: Session, name = `s-${Math.random().toString(36).slice(2, 8)}`) {
  const res = await as(s).post("/strategies", { definition: strategyDefinition(name) });
  expect(res.status).toBe(201);
  return res.body;
}

/** An exchange key of `s` on the in-cluster simulator, checked by the keys service. */
async function simKey(s: Session, label: string, permissions: Record<string, boolean> = {}) {
  const acct = sim.createAccount({ balances: { USDT: "1000" }, permissions });
  const res = await as(s).post("/keys", {
    label,
    exchange: "sim",
    apiKey: acct.apiKey,
    apiSecret: acct.secretKey,
  });
  expect(res.status).toBe(201);
  return res.body;
}

async function waitFor<T>(fn: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const v = fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("definitions and versions", () => {
  test("create, list, get, update (a new version), delete", async () => {
    const u = await registerAndLogin(base);
    const created = await as(u).post("/strategies", { definition: strategyDefinition("Trend 1") });
    expect(created.status).toBe(201);
    expect(created.headers.get("location")).toBe(`/api/v1/strategies/${created.body.id}`);
    expect(created.body).toMatchObject({
      name: "Trend 1",
      symbol: "BTCUSDT",
      interval: "1h",
      status: "draft",
      paused: false,
      mode: null,
      keyId: null,
      version: 1,
      activeVersion: null,
      restartNeeded: false,
      runner: null,
      definition: strategyDefinition("Trend 1"),
    });
    const id = created.body.id;
    await waitFor(
      () => events.find((e) => e.name === "strategies.changed" && e.payload.id === id),
      "strategies.changed on create",
    );
    expect(events.find((e) => e.payload.id === id)?.payload).toEqual({ id, userId: u.id, status: "draft" });

    const changed = { ...strategyDefinition("Trend 1b"), symbol: "ETHUSDT", interval: "4h" };
    const updated = await as(u).put(`/strategies/${id}`, { definition: changed });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({
      name: "Trend 1b",
      symbol: "ETHUSDT",
      interval: "4h",
      version: 2,
      restartNeeded: false,
      definition: changed,
    });
    const versions = await q(
      `SELECT version, definition FROM strategy_versions WHERE strategy_id = $1 ORDER BY 1`,
      [id],
    );
    expect(versions.map((v: any) => [v.version, v.definition.name])).toEqual([
      [1, "Trend 1"],
      [2, "Trend 1b"],
    ]);

    const got = await as(u).get(`/strategies/${id}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id, version: 2, definition: changed });
    expect(got.body.activeDefinition).toBeUndefined();

    const listed = await as(u).get("/strategies");
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((s: any) => s.id)).toEqual([id]);
    expect(listed.body.items[0].definition).toBeUndefined();
    expect(listed.body.nextAfterId).toBeNull();

    const removed = await as(u).del(`/strategies/${id}`);
    expect(removed.status).toBe(204);
    expect((await as(u).get(`/strategies/${id}`)).status).toBe(404);
    expect(await q(`SELECT 1 FROM strategy_versions WHERE strategy_id = $1`, [id])).toEqual([]);
    await waitFor(
      () => events.find((e) => e.payload.id === id && e.payload.status === "deleted"),
      "strategies.changed on delete",
    );
    const audit = await q(`SELECT action FROM audit_log WHERE user_id = $1 AND target_type = 'strategy'`, [
      u.id,
    ]);
    expect(audit.map((a: any) => a.action).sort()).toEqual([
      "strategy.create",
      "strategy.delete",
      "strategy.update",
    ]);
  });

  test("the list is keyset-paged by id", async () => {
    const u = await registerAndLogin(base);
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await createStrategy(u, `page-${i}`)).id);
    const first = await as(u).get("/strategies?limit=2");
    expect(first.body.items.map((s: any) => s.id)).toEqual(ids.slice(0, 2));
    expect(first.body.nextAfterId).toBe(ids[1]);
    const second = await as(u).get(`/strategies?limit=2&afterId=${first.body.nextAfterId}`);
    expect(second.body.items.map((s: any) => s.id)).toEqual(ids.slice(2, 4));
    const last = await as(u).get(`/strategies?limit=2&afterId=${second.body.nextAfterId}`);
    expect(last.body.items.map((s: any) => s.id)).toEqual(ids.slice(4));
    expect(last.body.nextAfterId).toBeNull();
    expect((await as(u).get("/strategies?limit=101")).status).toBe(400);
  });

  test("an invalid definition is refused with JSON Pointer paths under /definition", async () => {
    const u = await registerAndLogin(base);
    const bad = {
      ...strategyDefinition("bad"),
      symbol: "DOGEUSDT",
      risk: { positionSizePct: 0 },
      extra: 1,
    };
    const res = await as(u).post("/strategies", { definition: bad });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("VALIDATION_FAILED");
    const paths = res.body.error.details.map((d: any) => d.path);
    expect(paths).toEqual(
      expect.arrayContaining(["/definition/symbol", "/definition/risk/positionSizePct", "/definition/extra"]),
    );
    expect(paths.every((p: string) => p.startsWith("/definition"))).toBe(true);
    // JSON can carry half a surrogate pair, which PostgreSQL cannot store: refused at the edge
    const torn = await as(u).post("/strategies", { definition: strategyDefinition("half \ud800 a pair") });
    expect(torn.status).toBe(400);
    expect(torn.body.error.details).toEqual([
      expect.objectContaining({ field: "definition.name", type: "invalidText" }),
    ]);
    expect((await as(u).post("/strategies", {})).body.error.code).toBe("VALIDATION_ERROR");
    expect((await as(u).post("/strategies", { definition: [1] })).status).toBe(400);

    const s = await createStrategy(u);
    const put = await as(u).put(`/strategies/${s.id}`, { definition: bad });
    expect(put.status).toBe(400);
    expect(put.body.error.details[0].path).toMatch(/^\/definition\//);
    expect((await as(u).get(`/strategies/${s.id}`)).body.version).toBe(1);
  });

  test("one user keeps a bounded number of strategies", async () => {
    const u = await registerAndLogin(base);
    for (let i = 0; i < MAX_PER_USER; i++) await createStrategy(u);
    const res = await as(u).post("/strategies", { definition: strategyDefinition("one too many") });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: "STRATEGY_LIMIT", details: { count: MAX_PER_USER } });
    expect(res.body.error.message).toMatch(/delete one/);
  });

  test("another user's strategy is not found, whatever the route", async () => {
    const owner = await registerAndLogin(base);
    const other = await registerAndLogin(base);
    const s = await createStrategy(owner, "private one");
    for (const res of [
      await as(other).get(`/strategies/${s.id}`),
      await as(other).put(`/strategies/${s.id}`, { definition: strategyDefinition("mine now") }),
      await as(other).post(`/strategies/${s.id}/activate`, { mode: "paper" }),
      await as(other).post(`/strategies/${s.id}/pause`),
      await as(other).get(`/strategies/${s.id}/logs`),
      await as(other).del(`/strategies/${s.id}`),
    ]) {
      expect(res.status).toBe(404);
      expect(res.body.error.message).toBe("Strategy not found.");
      expect(res.text).not.toContain("private one");
    }
    expect((await as(owner).get(`/strategies/${s.id}`)).body).toMatchObject({
      name: "private one",
      version: 1,
    });
  });
});

describe("activation", () => {
  test("live mode needs a valid exchange key of the caller, and says why one is refused", async () => {
    const u = await registerAndLogin(base);
    const other = await registerAndLogin(base);
    const s = await createStrategy(u);

    const noKey = await as(u).post(`/strategies/${s.id}/activate`, { mode: "live" });
    expect(noKey.status).toBe(400);
    expect(noKey.body.error.message).toMatch(/keyId is required for live mode/);

    const withdrawing = await simKey(u, "withdrawing", { enableWithdrawals: true });
    expect(withdrawing).toMatchObject({ status: "invalid", statusReason: "withdrawals_enabled" });
    const invalid = await as(u).post(`/strategies/${s.id}/activate`, { mode: "live", keyId: withdrawing.id });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.code).toBe("KEY_NOT_VALID");
    expect(invalid.body.error.message).toMatch(/withdrawals_enabled/);
    expect(invalid.body.error.message).toMatch(/Withdrawals are enabled/);
    expect(invalid.body.error.details).toMatchObject({ status: "invalid", reason: "withdrawals_enabled" });

    const foreign = await simKey(other, "theirs");
    const stolen = await as(u).post(`/strategies/${s.id}/activate`, { mode: "live", keyId: foreign.id });
    expect(stolen.status).toBe(404);
    expect(stolen.body.error.message).toBe("API key not found.");
    expect(stolen.text).not.toContain("theirs");

    expect((await as(u).get(`/strategies/${s.id}`)).body.status).toBe("draft");

    const good = await simKey(u, "good");
    const active = await as(u).post(`/strategies/${s.id}/activate`, { mode: "live", keyId: good.id });
    expect(active.status).toBe(200);
    expect(active.body).toMatchObject({
      status: "active",
      mode: "live",
      keyId: good.id,
      paused: false,
      activeVersion: 1,
      closeOnStop: false,
    });
    expect(active.body.activatedAt).toEqual(expect.any(String));
    await waitFor(
      () => events.find((e) => e.payload.id === s.id && e.payload.status === "active"),
      "strategies.changed on activate",
    );

    // the same request again changes nothing; another mode or key must wait for a stop
    const again = await as(u).post(`/strategies/${s.id}/activate`, { mode: "live", keyId: good.id });
    expect(again.status).toBe(200);
    expect(again.body.activatedAt).toBe(active.body.activatedAt);
    const otherMode = await as(u).post(`/strategies/${s.id}/activate`, { mode: "paper" });
    expect(otherMode.status).toBe(409);
    expect(otherMode.body.error.code).toBe("STRATEGY_ACTIVE");

    // an edit while running: the instance keeps version 1 until it is activated again
    const edited = await as(u).put(`/strategies/${s.id}`, {
      definition: { ...strategyDefinition("edited"), symbol: "ETHUSDT" },
    });
    expect(edited.body).toMatchObject({ version: 2, activeVersion: 1, restartNeeded: true });
    const got = await as(u).get(`/strategies/${s.id}`);
    expect(got.body.activeDefinition).toMatchObject({ symbol: "BTCUSDT" });
    expect(got.body.definition).toMatchObject({ symbol: "ETHUSDT" });

    // what the runtime reads: the running version, for internal callers only
    const inst: any = await env.cluster.broker.call(
      "strategies.instance",
      { id: s.id },
      { caller: "strategy-runner" },
    );
    expect(inst).toMatchObject({
      id: s.id,
      userId: u.id,
      status: "active",
      mode: "live",
      keyId: good.id,
      activeVersion: 1,
      version: 2,
      symbol: "BTCUSDT",
      paused: false,
      closeOnStop: false,
      lastCandleTime: null,
    });
    expect(inst.definition).toMatchObject({ symbol: "BTCUSDT", name: s.name });
    await expect(
      env.cluster.broker.call("strategies.instance", { id: s.id }, { caller: "strategy.17" }),
    ).resolves.toMatchObject({ id: s.id });
    await expect(
      env.cluster.broker.call("strategies.instance", { id: s.id }, { caller: "api" }),
    ).rejects.toMatchObject({
      code: 403,
    });

    const del = await as(u).del(`/strategies/${s.id}`);
    expect(del.status).toBe(409);
    expect(del.body.error.code).toBe("STRATEGY_ACTIVE");
    expect(del.body.error.message).toMatch(/deactivate it/);

    const audit = await q(
      `SELECT details FROM audit_log WHERE action = 'strategy.activate' AND target_id = $1`,
      [String(s.id)],
    );
    expect(audit).toEqual([{ details: { mode: "live", keyId: good.id, version: 1 } }]);
  });

  test("paper mode opens the user's paper account on the simulator once and reuses it", async () => {
    const u = await registerAndLogin(base);
    const first = await createStrategy(u);
    const second = await createStrategy(u);
    const a = await as(u).post(`/strategies/${first.id}/activate`, { mode: "paper" });
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ status: "active", mode: "paper", keyId: expect.any(Number) });
    const b = await as(u).post(`/strategies/${second.id}/activate`, { mode: "paper" });
    expect(b.status).toBe(200);
    expect(b.body.keyId).toBe(a.body.keyId);

    const rows = await q(`SELECT * FROM user_api_keys WHERE user_id = $1 AND paper`, [u.id]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      id: String(a.body.keyId),
      exchange: "sim",
      label: "Paper account",
      status: "valid",
    });
    // sealed like every key, and a real simulator account holding PAPER_BALANCE_USDT
    expect(rows[0].api_key_enc).toMatch(/^v1\./);
    const ring = new KeyRing(Buffer.from(useTestSecrets().masterKey, "base64"));
    const plain = openApiKeyRow(ring, rows[0]);
    expect(rows[0].api_key_enc).not.toContain(plain.apiKey);
    expect(sim.accountView(plain.apiKey).balances.USDT).toEqual({
      free: "2500.50000000",
      locked: "0.00000000",
    });

    const keys = await as(u).get("/keys");
    expect(keys.body.keys).toEqual([expect.objectContaining({ id: a.body.keyId, label: "Paper account" })]);
    expect(keys.text).not.toContain(plain.apiKey);

    // the paper account is not a live key, and paper mode takes no exchange key
    const third = await createStrategy(u);
    const live = await as(u).post(`/strategies/${third.id}/activate`, { mode: "live", keyId: a.body.keyId });
    expect(live.status).toBe(400);
    expect(live.body.error.code).toBe("KEY_IS_PAPER_ACCOUNT");
    const exchangeKey = await simKey(u, "exchange key");
    const paperWithKey = await as(u).post(`/strategies/${third.id}/activate`, {
      mode: "paper",
      keyId: exchangeKey.id,
    });
    expect(paperWithKey.status).toBe(400);
    expect(paperWithKey.body.error.message).toMatch(/leave keyId out/);
    const audit = await q(
      `SELECT details FROM audit_log WHERE user_id = $1 AND action = 'keys.add' ORDER BY id`,
      [u.id],
    );
    expect(audit[0].details).toMatchObject({ exchange: "sim", paper: true });
  });

  test("two first paper activations at once open one paper account", async () => {
    const u = await registerAndLogin(base);
    const [x, y] = [await createStrategy(u), await createStrategy(u)];
    const [rx, ry] = await Promise.all(
      [x, y].map((s) => as(u).post(`/strategies/${s.id}/activate`, { mode: "paper" })),
    );
    expect([rx.status, ry.status]).toEqual([200, 200]);
    expect(rx.body.keyId).toBe(ry.body.keyId);
    expect(await q(`SELECT id FROM user_api_keys WHERE user_id = $1`, [u.id])).toEqual([
      { id: String(rx.body.keyId) },
    ]);
  });

  test("without a simulator in the cluster, paper activation is refused with 503", async () => {
    const bare = await startSecurityEnv({ db: env.db, services: ["api", "auth", "strategies"] });
    try {
      const u = await registerAndLogin(bare.cluster.baseUrl);
      const created = await http(bare.cluster.baseUrl, "POST", "/strategies", {
        token: u.accessToken,
        body: { definition: strategyDefinition("no venue") },
      });
      const res = await http(bare.cluster.baseUrl, "POST", `/strategies/${created.body.id}/activate`, {
        token: u.accessToken,
        body: { mode: "paper" },
      });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe("PAPER_TRADING_UNAVAILABLE");
      expect(res.body.error.message).toMatch(/Paper trading needs the simulator venue/);
      expect(await q(`SELECT 1 FROM user_api_keys WHERE user_id = $1`, [u.id])).toEqual([]);
    } finally {
      await bare.stop();
    }
  });
});

describe("pause, resume, deactivate", () => {
  test("follow the instance's state", async () => {
    const u = await registerAndLogin(base);
    const s = await createStrategy(u);
    const path = (a: string) => `/strategies/${s.id}/${a}`;
    for (const a of ["pause", "resume", "deactivate"]) {
      const res = await as(u).post(path(a));
      expect([a, res.status, res.body.error.code]).toEqual([a, 409, "STRATEGY_NOT_ACTIVE"]);
    }
    expect((await as(u).post(path("deactivate"))).body.error.message).toMatch(/never been activated/);

    expect((await as(u).post(path("activate"), { mode: "paper" })).status).toBe(200);
    expect((await as(u).post(path("pause"))).body).toMatchObject({ status: "active", paused: true });
    expect((await as(u).post(path("pause"))).body).toMatchObject({ paused: true });
    expect((await as(u).post(path("resume"))).body).toMatchObject({ status: "active", paused: false });
    await waitFor(
      () =>
        events.filter((e) => e.payload.id === s.id && e.payload.status === "active").length >= 3 || undefined,
      "a change event per activate, pause and resume",
    );

    const stopping = await as(u).post(path("deactivate"), { closePosition: true });
    expect(stopping.status).toBe(200);
    expect(stopping.body).toMatchObject({ status: "stopping", closeOnStop: true });
    expect((await as(u).post(path("deactivate"))).body).toMatchObject({
      status: "stopping",
      closeOnStop: true,
    });
    expect((await as(u).post(path("pause"))).status).toBe(409);
    const restart = await as(u).post(path("activate"), { mode: "paper" });
    expect([restart.status, restart.body.error.code]).toEqual([409, "STRATEGY_STOPPING"]);
    expect((await as(u).del(`/strategies/${s.id}`)).status).toBe(409);

    // the runner finishes the stop; what an old run left behind is reset by a new activation
    await q(
      `UPDATE strategies SET status = 'stopped', crash_count = 3,
              status_reason = 'stopped by runner', paused = true WHERE id = $1`,
      [s.id],
    );
    await q(
      `INSERT INTO strategy_decisions (user_id, strategy_id, kind, candle_open_time, action, message)
       SELECT user_id, id, 'decision', 1700000000000, 'none', 'the old run' FROM strategies WHERE id = $1`,
      [s.id],
    );
    expect((await as(u).get(`/strategies/${s.id}`)).body).toMatchObject({ lastCandleTime: 1700000000000 });
    const stopped = await as(u).post(path("deactivate"));
    expect([stopped.status, stopped.body.error.code]).toEqual([409, "STRATEGY_NOT_ACTIVE"]);
    expect(stopped.body.error.message).toMatch(/already stopped/);
    const again = await as(u).post(path("activate"), { mode: "paper" });
    expect(again.body).toMatchObject({
      status: "active",
      paused: false,
      statusReason: null,
      lastCandleTime: null,
      closeOnStop: false,
    });
    expect((await q(`SELECT crash_count FROM strategies WHERE id = $1`, [s.id]))[0].crash_count).toBe(0);

    // an instance in error has no runner: it stops at once unless its position must be closed
    await q(`UPDATE strategies SET status = 'error', status_reason = 'crashed 5 times' WHERE id = $1`, [
      s.id,
    ]);
    expect((await as(u).post(path("deactivate"))).body).toMatchObject({
      status: "stopped",
      statusReason: "crashed 5 times",
    });
    expect((await as(u).del(`/strategies/${s.id}`)).status).toBe(204);
    // its decision log goes with it
    expect(await q(`SELECT id FROM strategy_decisions WHERE strategy_id = $1`, [s.id])).toEqual([]);
  });
});

describe("decision log", () => {
  test("newest first, keyset-paged by id, the instance's own entries only", async () => {
    const u = await registerAndLogin(base);
    const s = await createStrategy(u);
    const other = await createStrategy(u);
    const ids: number[] = [];
    for (let i = 0; i < 7; i++) {
      const [row] = await q<{ id: string }>(
        `INSERT INTO strategy_decisions (user_id, strategy_id, kind, candle_open_time, action, message, data)
         VALUES ($1, $2, 'decision', $3, 'entry', $4, $5) RETURNING id`,
        [u.id, s.id, 1_700_000_000_000 + i * 3_600_000, `decision ${i}`, JSON.stringify({ i })],
      );
      ids.push(Number(row.id));
    }
    await q(
      `INSERT INTO strategy_decisions (user_id, strategy_id, kind, message) VALUES ($1, $2, 'lifecycle', 'elsewhere')`,
      [u.id, other.id],
    );
    const newest = [...ids].reverse();
    const page1 = await as(u).get(`/strategies/${s.id}/logs?limit=3`);
    expect(page1.status).toBe(200);
    expect(page1.body.items.map((d: any) => d.id)).toEqual(newest.slice(0, 3));
    expect(page1.body.items[0]).toMatchObject({
      kind: "decision",
      level: "info",
      action: "entry",
      message: "decision 6",
      candleOpenTime: 1_700_000_000_000 + 6 * 3_600_000,
      data: { i: 6 },
    });
    expect(page1.body.nextBefore).toBe(newest[2]);
    const page2 = await as(u).get(`/strategies/${s.id}/logs?limit=3&before=${page1.body.nextBefore}`);
    expect(page2.body.items.map((d: any) => d.id)).toEqual(newest.slice(3, 6));
    const page3 = await as(u).get(`/strategies/${s.id}/logs?limit=3&before=${page2.body.nextBefore}`);
    expect(page3.body.items.map((d: any) => d.id)).toEqual(newest.slice(6));
    expect(page3.body.nextBefore).toBeNull();
    expect((await as(u).get(`/strategies/${s.id}/logs`)).body.items).toHaveLength(7);
    expect((await as(u).get(`/strategies/${s.id}/logs?limit=201`)).status).toBe(400);
    expect((await as(u).get(`/strategies/${other.id}/logs`)).body.items.map((d: any) => d.message)).toEqual([
      "elsewhere",
    ]);
  });
});

describe("the trading halt", () => {
  test("administrators halt and resume trading; users cannot", async () => {
    const u = await registerAndLogin(base);
    expect((await as(admin).get("/admin/trading")).body).toEqual({
      halt: { halted: false, reason: null, changedBy: null, changedAt: null },
    });
    for (const res of [
      await as(u).get("/admin/trading"),
      await as(u).post("/admin/trading/halt", { reason: "mine" }),
      await as(u).post("/admin/trading/resume"),
    ]) {
      expect(res.status).toBe(403);
    }
    expect((await as(admin).post("/admin/trading/halt", {})).status).toBe(400);

    const torn = await as(admin).post("/admin/trading/halt", { reason: "half \udc00 a pair" });
    expect(torn.status).toBe(400);
    expect((await as(admin).get("/admin/trading")).body.halt).toMatchObject({ halted: false });
    const halted = await as(admin).post("/admin/trading/halt", { reason: "exchange maintenance" });
    expect(halted.status).toBe(200);
    expect(halted.body.halt).toMatchObject({
      halted: true,
      reason: "exchange maintenance",
      changedBy: admin.id,
    });
    expect((await as(admin).get("/admin/trading")).body.halt).toMatchObject({ halted: true });
    await waitFor(
      () => events.find((e) => e.name === "trading.flags.changed" && e.payload.halted === true),
      "trading.flags.changed",
    );

    const resumed = await as(admin).post("/admin/trading/resume");
    expect(resumed.body.halt).toMatchObject({ halted: false, reason: null, changedBy: admin.id });
    const audit = await q(
      `SELECT action, actor_id, details FROM audit_log WHERE action LIKE 'trading.%' ORDER BY id`,
    );
    expect(audit.slice(-2)).toEqual([
      { action: "trading.halt", actor_id: String(admin.id), details: { reason: "exchange maintenance" } },
      { action: "trading.resume", actor_id: String(admin.id), details: { reason: null } },
    ]);
  });
});

describe("operators", () => {
  const run = async (line: string, args: Record<string, unknown> = {}) => {
    const def = auraReplCommands.find((c) => c.command.split(" ")[0] === line.split(" ")[0])!;
    const out: string[] = [];
    const spy = jest
      .spyOn(console, "log")
      .mockImplementation((...a: unknown[]) => void out.push(a.join(" ")));
    try {
      await def.action(env.cluster.broker, { options: {}, rawCommand: line, ...args });
    } finally {
      spy.mockRestore();
    }
    return out.join("\n");
  };

  test("the REPL lists instances, shows one, and halts and resumes trading", async () => {
    const u = await registerAndLogin(base);
    const s = await createStrategy(u, "operator view");
    await as(u).post(`/strategies/${s.id}/activate`, { mode: "paper" });
    await q(
      `INSERT INTO strategy_leases (strategy_id, owner_node, expires_at) VALUES ($1, 'runner-1', now() + interval '30 seconds')`,
      [s.id],
    );
    await q(
      `INSERT INTO strategy_decisions (user_id, strategy_id, kind, message) VALUES ($1, $2, 'lifecycle', 'started')`,
      [u.id, s.id],
    );

    const table = await run("strategies");
    expect(table).toMatch(/trading is running/);
    const line = table.split("\n").find((l) => l.startsWith(`${s.id} `))!;
    expect(line).toContain(u.email);
    expect(line).toContain("operator view");
    expect(line).toContain("runner-1");
    expect(line).toMatch(/active/);

    const shown = JSON.parse(await run(`strategy ${s.id}`, { id: String(s.id) }));
    expect(shown.strategy).toMatchObject({ id: s.id, status: "active", mode: "paper", userId: u.id });
    expect(shown.strategy.runner).toMatchObject({ ownerNode: "runner-1", fencingToken: expect.any(Number) });
    expect(shown.lease).toMatchObject({ ownerNode: "runner-1", live: true });
    expect(shown.decisions.map((d: any) => d.message)).toEqual(["started"]);
    expect(shown.actor).toMatch(new RegExp(`strategy\\.${s.id} did not answer`));

    expect(await run("halt market is broken")).toMatch(/TRADING HALTED .* by an operator: market is broken/);
    expect((await as(admin).get("/admin/trading")).body.halt).toMatchObject({
      halted: true,
      reason: "market is broken",
      changedBy: null,
    });
    expect(await run("resume")).toMatch(/trading is running/);

    // the REPL's actions answer the REPL only
    await expect(env.cluster.broker.call("strategies.overview", {}, { caller: "api" })).rejects.toMatchObject(
      {
        code: 403,
      },
    );
    await expect(
      env.cluster.broker.call("strategies.overview", {}, { caller: REPL_CALLER }),
    ).resolves.toMatchObject({ halt: { halted: false } });
  });
});
