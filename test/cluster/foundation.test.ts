// Two AURA processes form one cluster over a real NATS with a Redis cache: a gateway node and a
// worker node that serves health on HEALTH_PORT. An operator broker joining the namespace sees
// both and can call the worker's services; SIGTERM stops both cleanly.
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import path from "node:path";
import { ServiceBroker } from "moleculer";
import { createTestDatabase, type TestDatabase } from "../support/db";
import { NATS_URL, REDIS_URL, requireServers } from "../support/servers";
import { freePort } from "../support/ports";

jest.setTimeout(90_000);
const ROOT = path.resolve(__dirname, "../..");

async function waitReady(url: string, ms = 45_000): Promise<any> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const r = await fetch(url);
      if (r.status === 200) return r.json();
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} not ready`);
}

let available = false;
let db: TestDatabase | undefined;
const children: ChildProcess[] = [];
const ns = `aura-test-${crypto.randomBytes(3).toString("hex")}`;

beforeAll(async () => {
  available = await requireServers(["nats", "redis"], "cluster foundation suite");
  if (available) db = await createTestDatabase({ install: false });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await db?.drop();
});

function startNode(env: Record<string, string>): {
  child: ChildProcess;
  exit: Promise<number | null>;
  output: () => string;
} {
  const fullEnv = {
    ...process.env,
    TRANSPORTER: NATS_URL,
    REDIS_URL,
    DATABASE_URL: db!.url,
    AURA_NAMESPACE: ns,
    LOG_LEVEL: "info",
    HOST: "127.0.0.1",
    ...env,
  };
  const child = spawn(process.execPath, [path.join(ROOT, "bin/aura.js"), "start"], {
    cwd: ROOT,
    env: fullEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  children.push(child);
  return { child, exit: new Promise((r) => child.on("exit", (code) => r(code))), output: () => out };
}

test("gateway and worker nodes discover each other over NATS, share Redis, and stop cleanly", async () => {
  if (!available) return;
  const gwPort = await freePort();
  const healthPort = await freePort();
  const gw = startNode({ SERVICES: "api", PORT: String(gwPort), NODE_ID: `${ns}-gw` });
  const worker = startNode({ SERVICES: "monitor", HEALTH_PORT: String(healthPort), NODE_ID: `${ns}-worker` });

  const gwReady = await waitReady(`http://127.0.0.1:${gwPort}/health/ready`);
  expect(gwReady.checks.transporter).toMatchObject({ status: "up", details: { type: "NatsTransporter" } });
  expect(gwReady.checks.cache).toMatchObject({ status: "up", details: { type: "RedisCacher" } });
  const workerReady = await waitReady(`http://127.0.0.1:${healthPort}/health/ready`);
  expect(workerReady.status).toBe("ok");
  expect(Object.keys(workerReady.services)).toEqual(["monitor"]);

  const operator = new ServiceBroker({
    namespace: ns,
    nodeID: `${ns}-operator`,
    transporter: { type: "NATS", options: { url: NATS_URL } },
    logger: false,
  });
  await operator.start();
  try {
    await operator.waitForServices(["api", "monitor"], 20_000, 100);
    const nodes = ((await operator.call("$node.list")) as any[])
      .filter((n) => n.available)
      .map((n) => n.id)
      .sort();
    expect(nodes).toEqual([`${ns}-gw`, `${ns}-operator`, `${ns}-worker`].sort());
    const report: any = await operator.call(
      "monitor.checkHealth",
      {},
      { nodeID: `${ns}-worker`, caller: "repl" },
    );
    expect(report.nodeId).toBe(`${ns}-worker`);
    expect(report.checks.database.status).toBe("up");
  } finally {
    await operator.stop();
  }

  gw.child.kill("SIGTERM");
  worker.child.kill("SIGTERM");
  expect(await gw.exit).toBe(0);
  expect(await worker.exit).toBe(0);
  expect(gw.output()).toContain("AURA stopped");
});
