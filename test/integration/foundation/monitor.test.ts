// ERROR/FATAL log records end up in system_logs (secrets redacted); FATAL and failing health
// checks raise `alert.raised`.
import { QueryTypes } from "sequelize";
import { REPL_CALLER } from "../../../src/runtime/repl-commands";
import { startServices, type TestCluster } from "../../support/broker";
import { createTestDatabase, type TestDatabase } from "../../support/db";

let db: TestDatabase;
let cluster: TestCluster;
const alerts: any[] = [];
const listener = {
  name: "alert-listener",
  events: { "alert.raised": (ctx: any) => alerts.push(ctx.params) },
};

beforeAll(async () => {
  db = await createTestDatabase();
  cluster = await startServices(["monitor"], { extra: [listener as any], broker: { logLevel: "warn" } });
});
afterAll(async () => {
  await cluster?.stop();
  await db?.drop();
});

async function waitFor<T>(fn: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("an ERROR log line is persisted to system_logs with secrets redacted", async () => {
  const logger = cluster.broker.getLogger("probe", { svc: "probe" });
  logger.error("could not place order", {
    orderId: 7,
    apiSecret: "TOPSECRET-123",
    password: "hunter2hunter2",
  });
  const rows = await waitFor(async () => {
    const r = await db.sequelize.query<any>(
      `SELECT level, message, context FROM system_logs WHERE message LIKE 'could not place order%'`,
      { type: QueryTypes.SELECT },
    );
    return r.length ? r : undefined;
  });
  expect(rows[0].level).toBe("error");
  expect(JSON.stringify(rows[0])).toContain("orderId");
  expect(JSON.stringify(rows[0])).not.toMatch(/TOPSECRET|hunter2/);
  expect(alerts.filter((a) => a.message.includes("could not place order"))).toHaveLength(0);
});

test("a FATAL log line raises a critical alert and is persisted", async () => {
  cluster.broker.getLogger("probe", { svc: "probe" }).fatal("invariant broken: position without entry");
  const alert = await waitFor(async () => alerts.find((a) => a.message.includes("invariant broken")));
  expect(alert).toMatchObject({ severity: "critical", nodeId: cluster.broker.nodeID });
  await waitFor(async () => {
    const r = await db.sequelize.query<any>(`SELECT 1 FROM system_logs WHERE level = 'fatal'`, {
      type: QueryTypes.SELECT,
    });
    return r.length ? true : undefined;
  });
  const recent: any[] = await cluster.broker.call(
    "monitor.recentLogs",
    { level: "fatal" },
    { caller: REPL_CALLER },
  );
  expect(recent[0].message).toContain("invariant broken");
});

test("a failing health check raises an alert naming the component", async () => {
  const svc: any = cluster.broker.getLocalService("monitor");
  const original = svc.health;
  svc.health = () => ({ status: "down", details: { error: "simulated" } });
  try {
    const report: any = await cluster.broker.call("monitor.checkHealth", {}, { caller: REPL_CALLER });
    expect(report.status).toBe("down");
    const alert = await waitFor(async () => alerts.find((a) => a.source === "health:monitor"));
    expect(alert.severity).toBe("critical");
  } finally {
    svc.health = original;
  }
});

test("the operator actions answer the REPL only", async () => {
  await expect(cluster.broker.call("monitor.recentLogs", {})).rejects.toMatchObject({ code: 403 });
  await expect(
    cluster.broker.call("monitor.checkHealth", {}, { caller: "market-data" }),
  ).rejects.toMatchObject({ code: 403 });
});
