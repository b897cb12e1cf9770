// Alerts: raised once per condition from the events that call for them, stored alerts of other
// services pushed once, listing and acknowledging scoped to the owner, and webhooks: refused for
// loopback, private, link-local and reserved addresses (at save time and again at send time),
// delivered signed with HMAC-SHA256 and retried with backoff.
import crypto from "node:crypto";
import nodeHttp from "node:http";
import type { AddressInfo } from "node:net";
import type { ServiceBroker, ServiceSchema } from "moleculer";
import { checkWebhookUrl, isPublicAddress, WebhookUrlError } from "../../../src/adapters/alerts/webhook";
import {
  http,
  registerAndLogin,
  startSecurityEnv,
  type SecurityEnv,
  type Session,
} from "../security/helpers";
import { addKey, addStrategy, q } from "../history/support";
import { auraReplCommands } from "../../../src/runtime/repl-commands";

jest.setTimeout(120_000);

const seen: Record<string, any>[] = [];
const listener: ServiceSchema = {
  name: "alert-listener",
  events: {
    "alert.raised"(ctx: { params: Record<string, any> }) {
      seen.push(ctx.params);
    },
  },
};

let env: SecurityEnv;
let base: string;
let broker: ServiceBroker;
let a: Session;
let b: Session;

const until = async <T>(fn: () => Promise<T | undefined | false>, what: string, ms = 10_000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

beforeAll(async () => {
  env = await startSecurityEnv({
    services: ["api", "auth", "alerts"],
    settings: { alerts: { outboxIntervalMs: 100, outboxGraceMs: 200, webhookBackoffMs: [100, 200] } },
    extra: [listener],
  });
  base = env.cluster.baseUrl;
  broker = env.cluster.broker;
  a = await registerAndLogin(base);
  b = await registerAndLogin(base);
});

afterAll(async () => {
  await env?.stop();
});

const alertsOf = (s: Session, query = "") => http(base, "GET", `/alerts${query}`, { token: s.accessToken });

describe("raising", () => {
  test("an actionable denial raises one open alert however often it repeats; routine ones none", async () => {
    const strat = await addStrategy(env.db.sequelize, a.id, null, "denied strategy");
    const ev = {
      userId: a.id,
      strategyId: strat,
      symbol: "BTCUSDT",
      reason: "insufficient_balance",
      message: "x",
    };
    for (let i = 0; i < 3; i++) await broker.broadcast("order.denied", { ...ev, intentId: `i${i}` });
    await broker.broadcast("order.denied", { ...ev, reason: "paused" });
    const list = await until(async () => {
      const r = await alertsOf(a, "?kind=ORDER_DENIED");
      return r.body.items.length ? r : undefined;
    }, "the denial alert");
    await new Promise((r) => setTimeout(r, 300));
    const again = await alertsOf(a, "?kind=ORDER_DENIED");
    expect(again.body.items).toHaveLength(1);
    expect(list.body.items[0]).toMatchObject({ kind: "ORDER_DENIED", severity: "warn", strategyId: strat });
    expect(list.body.items[0].message).toContain("does not hold enough");
    // pushed to the dashboard once, with the user and the stored id
    const pushed = seen.filter((e) => e.alertId === list.body.items[0].id);
    expect(pushed).toHaveLength(1);
    expect(pushed[0].userId).toBe(a.id);

    // acknowledged: only by the owner; afterwards the same condition opens a new alert
    const id = list.body.items[0].id;
    expect((await http(base, "POST", `/alerts/${id}/ack`, { token: b.accessToken })).status).toBe(404);
    const ack = await http(base, "POST", `/alerts/${id}/ack`, { token: a.accessToken });
    expect(ack.status).toBe(200);
    expect(ack.body.acknowledgedAt).toMatch(/Z$/);
    expect(
      (await http(base, "POST", `/alerts/${id}/ack`, { token: a.accessToken })).body.acknowledgedAt,
    ).toBe(ack.body.acknowledgedAt);
    await broker.broadcast("order.denied", { ...ev, intentId: "later" });
    await until(
      async () => (await alertsOf(a, "?kind=ORDER_DENIED&status=open")).body.items.length === 1,
      "a new alert",
    );
    expect((await alertsOf(b)).body.items).toHaveLength(0);
  });

  test("a strategy put in error, stale market data and a FATAL record raise alerts for their owners", async () => {
    const sq = env.db.sequelize;
    const s1 = await addStrategy(sq, a.id, null, "crashy", { status: "error" });
    await sq.query(`UPDATE strategies SET status_reason = 'boom x5', crash_count = 5 WHERE id = $1`, {
      bind: [s1],
    });
    await broker.broadcast("strategies.changed", { id: s1, userId: a.id, status: "error" });
    const crash = await until(
      async () => (await alertsOf(a, "?kind=STRATEGY_ERROR")).body.items[0],
      "strategy alert",
    );
    expect(crash).toMatchObject({ severity: "error", strategyId: s1 });
    expect(crash.message).toContain("crashy");

    await addStrategy(sq, b.id, null, "eth watcher", { symbol: "ETHUSDT", status: "active" });
    await broker.broadcast("market.data.stale", {
      symbol: "ETHUSDT",
      interval: "1h",
      lastUpdateAt: Date.now() - 9000,
      silentForMs: 9000,
      thresholdMs: 4000,
    });
    const stale = await until(
      async () => (await alertsOf(b, "?kind=MARKET_DATA_STALE")).body.items[0],
      "stale alert",
    );
    expect(stale.message).toContain("ETHUSDT 1h");
    expect((await alertsOf(a, "?kind=MARKET_DATA_STALE")).body.items).toHaveLength(0);

    const s2 = await addStrategy(sq, a.id, null, "fatal one");
    await sq.query(
      `INSERT INTO system_logs (level, service, message, strategy_id) VALUES ('fatal', 'execution', 'invariant broken', $1)`,
      { bind: [s2] },
    );
    const fatal = await until(
      async () => (await alertsOf(a, "?kind=FATAL_LOG")).body.items[0],
      "fatal alert",
    );
    expect(fatal).toMatchObject({ severity: "critical", strategyId: s2 });
    expect(fatal.message).toContain("invariant broken");
  });

  test("alerts execution stored are pushed once: announced ones claimed, silent ones picked up", async () => {
    const sq = env.db.sequelize;
    // reconciliation found an order nobody recorded: stored, not announced
    const [silent] = await q<{ id: string }>(
      sq,
      `INSERT INTO alerts (user_id, kind, severity, message, dedupe_key) VALUES ($1, 'ORDER_ADOPTED', 'warn', 'adopted x', $2)
       RETURNING id`,
      [a.id, `order-seen:${a.id}:x`],
    );
    const pushed = await until(
      async () => seen.find((e) => e.alertId === Number(silent.id)),
      "the silent alert push",
    );
    expect(pushed).toMatchObject({ userId: a.id, kind: "ORDER_ADOPTED" });
    // an unprotected position: stored, then announced by execution itself
    const [loud] = await q<{ id: string }>(
      sq,
      `INSERT INTO alerts (user_id, kind, severity, message, data, dedupe_key)
       VALUES ($1, 'UNPROTECTED', 'critical', 'bare', '{"positionId": 77}', 'unprotected:77') RETURNING id`,
      [a.id],
    );
    await broker.broadcast("alert.raised", {
      userId: a.id,
      kind: "UNPROTECTED",
      severity: "critical",
      positionId: 77,
      message: "bare",
    });
    await new Promise((r) => setTimeout(r, 600));
    expect(seen.filter((e) => e.alertId === Number(loud.id))).toHaveLength(0);
    const [row] = await q<{ notified: boolean }>(
      sq,
      `SELECT notified_at IS NOT NULL AS notified FROM alerts WHERE id = $1`,
      [loud.id],
    );
    expect(row.notified).toBe(true);
    const [{ n }] = await q<{ n: string }>(
      sq,
      `SELECT count(*)::text AS n FROM alerts WHERE kind = 'UNPROTECTED' AND user_id = $1`,
      [a.id],
    );
    expect(n).toBe("1");
  });
});

describe("webhooks", () => {
  test("URLs that are or resolve to loopback, private, link-local or reserved addresses are refused", async () => {
    for (const url of [
      "http://127.0.0.1/hook",
      "http://127.1.2.3:8080/hook",
      "http://localhost/hook",
      "http://app.localhost/hook",
      "http://10.1.2.3/hook",
      "http://172.16.0.1/hook",
      "http://192.168.1.10/hook",
      "http://169.254.169.254/latest/meta-data",
      "http://100.64.0.1/hook",
      "http://0.0.0.0/hook",
      "http://[::1]/hook",
      "http://[fe80::1]/hook",
      "http://[fd00::1]/hook",
      "http://[::ffff:127.0.0.1]/hook",
      "http://[::ffff:a9fe:a9fe]/hook",
      "http://2130706433/hook",
      "http://0x7f000001/hook",
      "ftp://example.com/hook",
      "https://user:pass@example.com/hook",
    ]) {
      const res = await http(base, "PUT", "/alerts/webhook", { token: a.accessToken, body: { url } });
      expect([url, res.status]).toEqual([url, 400]);
      expect(res.body.error.code).toBe("VALIDATION_FAILED");
    }
    expect((await http(base, "GET", "/alerts/webhook", { token: a.accessToken })).body.webhook).toBeNull();
    // every resolved address counts: one private among public ones is enough to refuse
    const mixed = async () => [
      { address: "93.184.216.34", family: 4 },
      { address: "10.0.0.5", family: 4 },
    ];
    await expect(checkWebhookUrl("https://hooks.example.com/x", { resolve: mixed })).rejects.toThrow(
      WebhookUrlError,
    );
    const v6 = async () => [{ address: "fc00::1", family: 6 }];
    await expect(checkWebhookUrl("https://hooks.example.com/x", { resolve: v6 })).rejects.toThrow(
      /not public/,
    );
    const ok = async () => [{ address: "93.184.216.34", family: 4 }];
    await expect(checkWebhookUrl("https://hooks.example.com/x", { resolve: ok })).resolves.toBeTruthy();
    expect(["8.8.8.8", "2606:4700::1111"].map(isPublicAddress)).toEqual([true, true]);
    expect(["198.18.0.1", "224.0.0.1", "255.255.255.255", "2001:db8::1", "::"].map(isPublicAddress)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  test("delivered as signed JSON, retried with backoff until the receiver accepts it", async () => {
    const got: { headers: nodeHttp.IncomingHttpHeaders; body: string }[] = [];
    const server = nodeHttp.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        got.push({ headers: req.headers, body });
        res.statusCode = got.length === 1 ? 503 : 204;
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    const svc: any = broker.getLocalService("alerts");
    svc.settings.webhookAllowPrivate = true;
    try {
      const u = await registerAndLogin(base);
      const set = await http(base, "PUT", "/alerts/webhook", {
        token: u.accessToken,
        body: { url: `http://127.0.0.1:${port}/hook` },
      });
      expect(set.status).toBe(200);
      const secret = set.body.secret as string;
      expect(secret.length).toBeGreaterThan(30);
      const view = await http(base, "GET", "/alerts/webhook", { token: u.accessToken });
      expect(view.body.webhook.url).toBe(`http://127.0.0.1:${port}/hook`);
      expect(view.text).not.toContain(secret);
      const [row] = await q<{ secret_enc: string }>(
        env.db.sequelize,
        `SELECT secret_enc FROM alert_webhooks WHERE user_id = $1`,
        [u.id],
      );
      expect(row.secret_enc).not.toContain(secret);

      await broker.broadcast("order.denied", {
        userId: u.id,
        strategyId: null,
        symbol: "BTCUSDT",
        reason: "exposure_cap",
      });
      await until(async () => got.length >= 2, "the retried delivery");
      expect(got[0].body).toBe(got[1].body);
      const h = got[1].headers;
      const expected = crypto
        .createHmac("sha256", secret)
        .update(`${h["x-aura-timestamp"]}.${got[1].body}`)
        .digest("hex");
      expect(h["x-aura-signature"]).toBe(`sha256=${expected}`);
      expect(h["content-type"]).toBe("application/json");
      expect(JSON.parse(got[1].body)).toMatchObject({
        type: "alert",
        alert: { kind: "ORDER_DENIED", severity: "warn" },
      });
      await until(
        async () =>
          (await http(base, "GET", "/alerts/webhook", { token: u.accessToken })).body.webhook.lastStatus ===
          "delivered",
        "the delivery to be recorded",
      );

      // checked again when sending: with private addresses refused, nothing leaves
      svc.settings.webhookAllowPrivate = false;
      const before = got.length;
      await broker.broadcast("order.denied", {
        userId: u.id,
        strategyId: null,
        symbol: "ETHUSDT",
        reason: "below_min_qty",
      });
      await until(
        async () =>
          (await http(base, "GET", "/alerts/webhook", { token: u.accessToken })).body.webhook.lastStatus ===
          "refused",
        "the refusal at send time",
      );
      expect(got.length).toBe(before);
      expect((await http(base, "DELETE", "/alerts/webhook", { token: u.accessToken })).status).toBe(200);
      expect((await http(base, "DELETE", "/alerts/webhook", { token: u.accessToken })).status).toBe(404);
    } finally {
      svc.settings.webhookAllowPrivate = false;
      server.close();
    }
  });
});

test("system alerts are for administrators only", async () => {
  await addKey(env.db.sequelize, a.id);
  const res = await alertsOf(b, "?scope=system");
  expect(res.status).toBe(400);
  expect(res.text).toContain("administrators");
});

test("operators list open alerts of every user at the REPL, one user's with --user; users cannot", async () => {
  const c = await registerAndLogin(base);
  const strat = await addStrategy(env.db.sequelize, c.id, null, "operator view");
  await broker.broadcast("order.denied", {
    userId: c.id,
    strategyId: strat,
    symbol: "BTCUSDT",
    reason: "insufficient_balance",
    message: "x",
    intentId: "op-1",
  });
  const mine = await until(async () => {
    const r = await alertsOf(c, "?kind=ORDER_DENIED");
    return r.body.items.length ? r.body.items[0] : undefined;
  }, "the alert");
  const run = async (options: Record<string, string | undefined>) => {
    const def = auraReplCommands.find((d) => d.command === "alerts")!;
    const out: string[] = [];
    const spy = jest
      .spyOn(console, "log")
      .mockImplementation((...x: unknown[]) => void out.push(x.join(" ")));
    try {
      await def.action(broker, { options, rawCommand: "alerts" });
    } finally {
      spy.mockRestore();
    }
    return out.join("\n");
  };
  const rowOf = (table: string) => table.split("\n").find((l) => l.startsWith(`${mine.id} `));
  expect(rowOf(await run({}))).toMatch(new RegExp(`^${mine.id}\\s+${c.id}\\s+warn\\s+ORDER_DENIED`));
  expect(rowOf(await run({ user: String(c.id) }))).toBeDefined();
  expect(rowOf(await run({ user: String(a.id) }))).toBeUndefined();
  // acknowledged: gone from the open list, still there with --all
  expect((await http(base, "POST", `/alerts/${mine.id}/ack`, { token: c.accessToken })).status).toBe(200);
  expect(rowOf(await run({}))).toBeUndefined();
  expect(rowOf(await run({ all: "true" }))).toBeDefined();
  // the action is for the REPL only: a user's call (from the gateway) is refused
  await expect(
    broker.call("alerts.operatorList", {}, { meta: { user: { id: c.id, role: "admin" } } }),
  ).rejects.toMatchObject({ code: 403 });
});
