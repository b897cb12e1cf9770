// Execution nodes as real processes for the cluster suites (test/cluster/execution*.test.ts):
// `aura start` with SERVICES=execution on NATS under a namespace of their own, a fresh database,
// and SIM_URL pointing at a simulator this test process hosts (so the test arms its faults and
// reads its books directly). Callers join the namespace from the test process as strategy actors.
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { ServiceBroker } from "moleculer";
import { brokerConfig } from "../../../src/runtime/runner";
import { REPL_CALLER } from "../../../src/runtime/repl-commands";
import { createSimulator, type Simulator, type SimulatorOptions } from "../../../src/sim";
import { createTestDatabase, type TestDatabase } from "../../support/db";
import { NATS_URL } from "../../support/servers";
import { accountFor, sleep, waitFor, type Account } from "./support";
import { freePort } from "../../support/ports";
export { freePort };

const ROOT = path.resolve(__dirname, "../../..");

export interface ExecNode {
  nodeId: string;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

export interface ClusterCtx {
  ns: string;
  db: TestDatabase;
  sim: Simulator;
  /** a caller on the namespace, with AURA's broker options (retries off, request timeout) */
  caller: ServiceBroker;
  /** another caller broker on the namespace (stopped with the cluster) */
  addCaller(name: string): Promise<ServiceBroker>;
  nodes: ExecNode[];
  startNode(env?: Record<string, string>, name?: string): Promise<ExecNode>;
  /** waits until `node` answers execution.status with ready (its startup reconciliation is done) */
  ready(node: ExecNode, ms?: number): Promise<void>;
  account(opts?: { usdt?: string }): Promise<Account>;
  stop(): Promise<void>;
}

export async function startCluster(
  opts: { sim?: SimulatorOptions; callerNodeId?: string; requestTimeout?: number } = {},
): Promise<ClusterCtx> {
  const ns = `aura-exec-${crypto.randomBytes(4).toString("hex")}`;
  const db = await createTestDatabase({ install: false });
  const sim = await createSimulator({ step: true, from: "2023-06-01", ...opts.sim });
  await sim.listen(0, "127.0.0.1");
  const callers: ServiceBroker[] = [];
  const newCaller = async (name: string) => {
    const b = new ServiceBroker(
      brokerConfig({
        namespace: ns,
        nodeID: `${ns}-${name}`,
        transporter: { type: "NATS", options: { url: NATS_URL } },
        logger: false,
        requestTimeout: opts.requestTimeout ?? 15_000,
      }),
    );
    await b.start();
    callers.push(b);
    return b;
  };
  const caller = await newCaller(opts.callerNodeId ?? "caller");
  let n = 0;
  const ctx: ClusterCtx = {
    ns,
    db,
    sim,
    caller,
    addCaller: newCaller,
    nodes: [],
    async startNode(env = {}, name) {
      const nodeId = `${ns}-${name ?? `exec${++n}`}`;
      const fullEnv: NodeJS.ProcessEnv = {
        ...process.env,
        TRANSPORTER: NATS_URL,
        AURA_NAMESPACE: ns,
        DATABASE_URL: db.url,
        SERVICES: "execution",
        SIM_URL: sim.baseUrl,
        NODE_ID: nodeId,
        HEALTH_PORT: String(await freePort()),
        LOG_LEVEL: "info",
        HOST: "127.0.0.1",
        ...env,
      };
      for (const k of ["REDIS_URL", "METRICS_PORT", "PORT"]) if (!(k in env)) delete fullEnv[k];
      const child = spawn(process.execPath, [path.join(ROOT, "bin/aura.js"), "start"], {
        cwd: ROOT,
        env: fullEnv,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout!.on("data", (d) => (out += d));
      child.stderr!.on("data", (d) => (out += d));
      if (process.env.AURA_TEST_NODE_LOGS) {
        const file = path.join(process.env.AURA_TEST_NODE_LOGS, `${nodeId}.log`);
        child.on("exit", () => fs.writeFileSync(file, out));
      }
      const node: ExecNode = {
        nodeId,
        child,
        exited: new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal }))),
        output: () => out,
      };
      ctx.nodes.push(node);
      return node;
    },
    async ready(node, ms = 30_000) {
      await waitFor(
        async () => {
          if (node.child.exitCode !== null || node.child.signalCode !== null)
            throw new Error(`${node.nodeId} exited; its output:\n${node.output().slice(-3000)}`);
          try {
            const s = await caller.call<{ ready: boolean }, Record<string, never>>(
              "execution.status",
              {},
              { nodeID: node.nodeId, caller: REPL_CALLER, timeout: 1000 },
            );
            return s.ready;
          } catch {
            return false;
          }
        },
        ms,
        `${node.nodeId} to be ready`,
        100,
      );
    },
    async account(o = {}) {
      const creds = sim.createAccount({ balances: { USDT: o.usdt ?? "10000" } });
      return accountFor(db.sequelize, creds);
    },
    async stop() {
      for (const node of ctx.nodes)
        if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill("SIGKILL");
      await Promise.all(ctx.nodes.map((x) => x.exited));
      await Promise.all(callers.map((b) => b.stop().catch(() => {})));
      await sim.close();
      await db.drop();
    },
  };
  return ctx;
}

/** Kills a node outright and waits until it is gone. */
export async function kill9(node: ExecNode): Promise<void> {
  if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill("SIGKILL");
  await node.exited;
  // the other brokers notice a vanished node only at their heartbeat timeout; nothing waits on that
  await sleep(50);
}
