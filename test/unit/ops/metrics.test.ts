// The alerting rules and the Grafana dashboard in k8s/monitoring name only metrics that exist: a
// real broker with the Prometheus reporter is scraped after each of AURA's metrics has been
// recorded once (and an action call has succeeded and failed, for Moleculer's own), and every
// metric name in a rule or panel expression must be among what it served.
import fs from "node:fs";
import path from "node:path";
import { Errors, ServiceBroker } from "moleculer";
import { parse } from "yaml";
import { AURA_METRICS, auraMetrics } from "../../../src/adapters/metrics";
import { freePort } from "../../support/ports";

const ROOT = path.resolve(__dirname, "../../..");
const RULES = path.join(ROOT, "k8s/monitoring/aura-rules.yml");
const DASHBOARD = path.join(ROOT, "k8s/monitoring/grafana-dashboard.json");

/** Metric names in a PromQL expression: identifiers of AURA's or Moleculer's families. */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b((?:aura|moleculer|process)_[a-z0-9_]+)/g)].map((m) => m[1]);
}

let broker: ServiceBroker;
let served = new Set<string>();

beforeAll(async () => {
  const port = await freePort();
  broker = new ServiceBroker({
    logger: false,
    metrics: { enabled: true, reporter: [{ type: "Prometheus", options: { port, path: "/metrics" } }] },
  });
  broker.createService({
    name: "probe",
    actions: {
      ok: () => "ok",
      fail: () => {
        throw new Errors.MoleculerError("boom", 500);
      },
    },
  });
  await broker.start();
  const m = auraMetrics(broker);
  m.inc("orders", { outcome: "accepted", kind: "entry" });
  m.observe("signalToOrder", 0.004);
  m.set("activeInstances", 3);
  m.set("candleLag", 1.5, { symbol: "BTCUSDT", interval: "1h" });
  m.inc("marketStale", { symbol: "BTCUSDT" });
  m.inc("reconcileDifferences", { kind: "adopted" });
  m.set("unprotectedPositions", 0);
  m.set("wsClients", 2);
  await broker.call("probe.ok");
  await broker.call("probe.fail").catch(() => undefined);
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  served = new Set(
    text
      .split("\n")
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => l.split(/[{\s]/)[0]),
  );
});

afterAll(async () => {
  await broker?.stop();
});

test("every AURA metric is served under its name once recorded", () => {
  for (const def of Object.values(AURA_METRICS)) {
    const name = def.type === "histogram" ? `${def.name}_bucket` : def.name;
    expect([...served]).toContain(name);
  }
});

test("every metric an alerting rule names exists, and the rules cover what must page someone", () => {
  const doc = parse(fs.readFileSync(RULES, "utf8")) as {
    groups: { rules: { alert: string; expr: string }[] }[];
  };
  const rules = doc.groups.flatMap((g) => g.rules);
  const names = rules.flatMap((r) => metricNames(r.expr));
  expect(names.length).toBeGreaterThan(rules.length - 1);
  for (const n of names) expect([...served]).toContain(n);
  const alerts = rules.map((r) => r.alert);
  for (const needed of ["AuraUnprotectedPosition", "AuraMarketDataStale", "AuraRunnerLost", "AuraErrorRate"])
    expect(alerts).toContain(needed);
});

test("every metric a Grafana panel queries exists", () => {
  const dash = JSON.parse(fs.readFileSync(DASHBOARD, "utf8")) as {
    panels: { targets: { expr: string }[] }[];
  };
  const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));
  expect(exprs.length).toBeGreaterThan(5);
  for (const n of exprs.flatMap(metricNames)) expect([...served]).toContain(n);
});
