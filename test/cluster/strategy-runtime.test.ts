// The strategy runtime over a real NATS with separate processes: 3 (then 4) strategy-runner nodes,
// one market-data + exchange-sim node on a stepped simulator, and a helper node in this process
// that hosts the execution test double and steps the simulator through its admin API.
//
// 30 active instances spread over the runners within one of the fair share; a 4th runner takes
// its share; a runner killed with SIGKILL has its instances running elsewhere within the lease
// expiry + 5 s, while candles keep closing; a runner stopped with SIGTERM hands over before its
// leases would have expired. Throughout: at most one live owner per instance at every sample,
// fencing tokens only grow, and every candle is decided exactly once per instance.
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import path from "node:path";
import { ServiceBroker, type Context } from "moleculer";
import { QueryTypes } from "sequelize";
import { lastCandleSql } from "../../src/adapters/strategies/decisions";
import type { SubmitCommand, SubmitResult } from "../../src/core/execution/types";
import { createTestDatabase, type TestDatabase } from "../support/db";
import { NATS_URL, requireServers } from "../support/servers";
import { freePort } from "../support/ports";

jest.setTimeout(150_000);
const ROOT = path.resolve(__dirname, "../..");
const H = 3_600_000;
const TTL = 3000;
const INSTANCES = 30;

const GREEN_RED = {
  name: "Green in, red out",
  symbol: "BTCUSDT",
  interval: "1h",
  indicators: {},
  entry: { gt: ["close", "open"] },
  exit: { lt: ["close", "open"] },
  risk: { positionSizePct: 10 },
};

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Node {
  id: string;
  child: ChildProcess;
  exit: Promise<number | null>;
  output(): string;
  healthPort: number;
}

let available = false;
let db: TestDatabase | undefined;
let helper: ServiceBroker | undefined;
const nodes: Node[] = [];
const ns = `aura-rt-${crypto.randomBytes(3).toString("hex")}`;
let simPort = 0;
let userId = 0;
const submits: (SubmitCommand & { node: string })[] = [];

const sql = async <T = any>(text: string, bind: unknown[] = []): Promise<T[]> =>
  db!.sequelize.query<any>(text, { bind, type: QueryTypes.SELECT });

async function startNode(name: string, env: Record<string, string>): Promise<Node> {
  const healthPort = await freePort();
  const id = `${ns}-${name}`;
  const fullEnv: NodeJS.ProcessEnv = {
    ...process.env,
    TRANSPORTER: NATS_URL,
    DATABASE_URL: db!.url,
    AURA_NAMESPACE: ns,
    NODE_ID: id,
    HEALTH_PORT: String(healthPort),
    LOG_LEVEL: "warn",
    STRATEGY_LEASE_TTL_MS: String(TTL),
    STRATEGY_SCAN_INTERVAL_MS: "500",
    ...env,
  };
  // the candle cache in a shared Redis is keyed without the namespace: other runs would mix in
  delete fullEnv.REDIS_URL;
  const child = spawn(process.execPath, [path.join(ROOT, "bin/aura.js"), "start"], {
    cwd: ROOT,
    env: fullEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const node: Node = {
    id,
    child,
    healthPort,
    exit: new Promise((r) => child.on("exit", (code) => r(code))),
    output: () => out,
  };
  nodes.push(node);
  return node;
}

async function ready(node: Node): Promise<void> {
  await waitFor(
    `${node.id} to be ready`,
    async () => {
      if (node.child.exitCode !== null) throw new Error(`${node.id} exited:\n${node.output().slice(-3000)}`);
      const r = await fetch(`http://127.0.0.1:${node.healthPort}/health/ready`);
      return r.status === 200;
    },
    60_000,
  );
}

function startRunner(n: number): Promise<Node> {
  return startNode(`runner${n}`, { SERVICES: "strategy-runner" });
}

interface Held {
  id: number;
  token: number;
  state: string;
  subscribed: boolean;
}

/** Each live runner's instances: node id → instances. */
async function holdings(runners: Node[]): Promise<Map<string, Held[]>> {
  const out = new Map<string, Held[]>();
  await Promise.all(
    runners.map(async (r) => {
      const res: any = await helper!.call("strategy-runner.instances", {}, { nodeID: r.id, caller: "repl" });
      out.set(
        r.id,
        res.instances.map((i: any) => ({
          id: i.id,
          token: i.fencingToken,
          state: i.state,
          subscribed: i.subscribed,
        })),
      );
    }),
  );
  return out;
}

function runningCounts(h: Map<string, { state: string }[]>): number[] {
  return [...h.values()].map((l) => l.filter((i) => i.state === "running").length).sort((a, b) => a - b);
}

async function advance(): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${simPort}/sim/v1/clock/advance`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ candles: 1 }),
  });
  const body: any = await r.json();
  return Math.floor(body.time / H) * H - H;
}

async function allDecided(candle: number, ms = 20_000): Promise<void> {
  await waitFor(
    `every instance to decide ${new Date(candle).toISOString()}`,
    async () => {
      const [r] = await sql<{ n: string }>(
        `SELECT count(*) AS n FROM strategies s WHERE status = 'active' AND ${lastCandleSql("s")} = $1`,
        [candle],
      );
      return Number(r.n) === INSTANCES;
    },
    ms,
  );
}

/** Samples leases and runner holdings while a phase runs; records every violation. */
function sampler(runners: () => Node[]) {
  const problems: string[] = [];
  const tokens = new Map<number, number>();
  let stop = false;
  let rounds = 0;
  const loop = (async () => {
    while (!stop) {
      const leases = await sql<{
        strategy_id: string;
        owner_node: string;
        fencing_token: string;
        live: boolean;
      }>(
        `SELECT strategy_id, owner_node, fencing_token, expires_at > now() AS live FROM strategy_leases`,
      ).catch(() => []);
      for (const l of leases) {
        const id = Number(l.strategy_id);
        const t = Number(l.fencing_token);
        if (t < (tokens.get(id) ?? 0))
          problems.push(`instance ${id}: token went from ${tokens.get(id)} to ${t}`);
        tokens.set(id, Math.max(t, tokens.get(id) ?? 0));
      }
      const live = runners().filter((r) => r.child.exitCode === null && r.child.signalCode === null);
      const h = await holdings(live).catch(() => undefined);
      if (h) {
        const owners = new Map<number, string[]>();
        for (const [node, list] of h)
          for (const i of list)
            if (i.state === "running") owners.set(i.id, [...(owners.get(i.id) ?? []), node]);
        for (const [id, o] of owners)
          if (o.length > 1) problems.push(`instance ${id} running on ${o.join(" and ")}`);
        rounds++;
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  })();
  return {
    problems,
    rounds: () => rounds,
    async end() {
      stop = true;
      await loop;
    },
  };
}

/** Every instance decided every candle from its first decision to `last` exactly once, with tokens that only grow. */
async function checkDecisions(last: number): Promise<void> {
  const rows = await sql<{ strategy_id: string; candle_open_time: string; fencing_token: string }>(
    `SELECT strategy_id, candle_open_time, fencing_token FROM strategy_decisions
      WHERE kind = 'decision' ORDER BY strategy_id, candle_open_time`,
  );
  const by = new Map<number, { t: number; token: number }[]>();
  for (const r of rows)
    by.set(Number(r.strategy_id), [
      ...(by.get(Number(r.strategy_id)) ?? []),
      { t: Number(r.candle_open_time), token: Number(r.fencing_token) },
    ]);
  expect(by.size).toBe(INSTANCES);
  for (const [id, list] of by) {
    const times = list.map((x) => x.t);
    const expected = Array.from({ length: (last - times[0]) / H + 1 }, (_, i) => times[0] + i * H);
    expect({ id, times }).toEqual({ id, times: expected });
    for (let i = 1; i < list.length; i++) expect(list[i].token).toBeGreaterThanOrEqual(list[i - 1].token);
  }
  // an intent acted on by execution at most once: a repeat carries the same command
  const first = new Map<string, SubmitCommand>();
  for (const s of submits) {
    const f = first.get(s.intentId);
    if (f)
      expect({ ...s, fencingToken: 0, deadline: 0, node: "" }).toEqual({
        ...f,
        fencingToken: 0,
        deadline: 0,
        node: "",
      });
    else first.set(s.intentId, s);
  }
}

beforeAll(async () => {
  available = await requireServers(["nats"], "cluster strategy runtime suite");
  if (!available) return;
  db = await createTestDatabase();
  const [u] = await sql<{ id: string }>(
    `INSERT INTO users (email, password_hash) VALUES ('cluster@example.com', 'x') RETURNING id`,
  );
  userId = Number(u.id);
  const [k] = await sql<{ id: string }>(
    `INSERT INTO user_api_keys (user_id, label, exchange, api_key_enc, api_secret_enc, enc_key_id, api_key_last4, status, paper)
     VALUES ($1, 'Paper account', 'sim', 'x', 'x', 'k', 'abcd', 'valid', true) RETURNING id`,
    [userId],
  );
  for (let i = 0; i < INSTANCES; i++) {
    const [s] = await sql<{ id: string }>(
      `INSERT INTO strategies (user_id, api_key_id, name, symbol, interval, definition, status, active_version, activated_at)
       VALUES ($1, $2, $3, 'BTCUSDT', '1h', $4, 'active', 1, now()) RETURNING id`,
      [userId, k.id, `${GREEN_RED.name} ${i}`, JSON.stringify(GREEN_RED)],
    );
    await sql(`INSERT INTO strategy_versions (strategy_id, version, definition) VALUES ($1, 1, $2)`, [
      s.id,
      JSON.stringify(GREEN_RED),
    ]);
  }

  helper = new ServiceBroker({
    namespace: ns,
    nodeID: `${ns}-helper`,
    transporter: { type: "NATS", options: { url: NATS_URL } },
    logger: false,
    // a call to a runner that was just killed must fail fast, not wait for the heartbeat timeout
    requestTimeout: 2000,
    heartbeatInterval: 5,
    heartbeatTimeout: 15,
  });
  helper.createService({
    name: "execution",
    actions: {
      async submit(ctx: Context<SubmitCommand>): Promise<SubmitResult> {
        const c = ctx.params;
        const repeated = submits.some((s) => s.intentId === c.intentId);
        submits.push({ ...c, node: ctx.nodeID ?? "" });
        if (!repeated) {
          const fill = new Date(c.candleOpenTime + H);
          if (c.side === "BUY")
            await sql(
              `INSERT INTO positions (user_id, strategy_id, api_key_id, symbol, qty, entry_price, opened_at, intent_id)
               VALUES ($1, $2, $3, $4, 1, 1, $5, $6) ON CONFLICT DO NOTHING`,
              [c.userId, c.instanceId, c.keyId, c.symbol, fill, c.intentId],
            );
          else
            await sql(
              `UPDATE positions SET status = 'closed', closed_at = $2 WHERE strategy_id = $1 AND status = 'open'`,
              [c.instanceId, fill],
            );
        }
        return { intentId: c.intentId, status: "accepted", repeated };
      },
    },
  });
  await helper.start();

  simPort = await freePort();
  const md = await startNode("market", {
    SERVICES: "market-data,exchange-sim",
    SIM_STEP: "true",
    SIM_PORT: String(simPort),
    SIM_FROM: "2023-06-01T00:30:00Z",
    MARKET_DATA_WATCH: "none",
  });
  await ready(md);
});

afterAll(async () => {
  for (const n of nodes)
    if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill("SIGKILL");
  await helper?.stop();
  await db?.drop();
});

test("instances spread fairly, move on SIGKILL within lease expiry + 5 s and on SIGTERM before expiry, each candle decided once", async () => {
  if (!available) return;
  const runners = await Promise.all([1, 2, 3].map(startRunner));
  await Promise.all(runners.map(ready));
  const live = () => runners.filter((r) => r.child.exitCode === null && r.child.signalCode === null);

  // 30 over 3: within one of the fair share (10), all running and subscribed
  await waitFor("30 instances running over 3 runners", async () => {
    const h = await holdings(live());
    const c = runningCounts(h);
    const subscribed = [...h.values()].flat().every((i) => i.subscribed);
    return subscribed && c.reduce((a, b) => a + b, 0) === INSTANCES && c.every((n) => Math.abs(n - 10) <= 1);
  });
  const watch = sampler(live);
  let last = await advance();
  await allDecided(last);

  // a 4th runner: 30 over 4 is 8, 8, 7, 7
  const fourth = await startRunner(4);
  runners.push(fourth);
  await ready(fourth);
  await waitFor("the 4th runner to take its share", async () => {
    const c = runningCounts(await holdings(live()));
    return JSON.stringify(c) === JSON.stringify([7, 7, 8, 8]) && c;
  });
  last = await advance();
  await allDecided(last);

  // SIGKILL: the victim's instances run elsewhere within the lease expiry + 5 s, candles keep closing
  const victim = runners[0];
  const victims = (await holdings([victim])).get(victim.id)!.map((i) => i.id);
  expect(victims.length).toBeGreaterThanOrEqual(7);
  const killedAt = Date.now();
  victim.child.kill("SIGKILL");
  let stepping = true;
  const stepper = (async () => {
    while (stepping) {
      last = await advance();
      await new Promise((r) => setTimeout(r, 400));
    }
  })();
  await waitFor(
    "the killed runner's instances to run elsewhere",
    async () => {
      const h = await holdings(live());
      const running = new Set(
        [...h.values()]
          .flat()
          .filter((i) => i.state === "running")
          .map((i) => i.id),
      );
      return victims.every((id) => running.has(id));
    },
    TTL + 5000 + 2000,
  );
  const movedAfter = Date.now() - killedAt;
  if (process.env.AURA_TEST_TIMINGS)
    process.stderr.write(`moved ${victims.length} instances ${movedAfter} ms after SIGKILL\n`);
  expect(movedAfter).toBeLessThanOrEqual(TTL + 5000);
  await new Promise((r) => setTimeout(r, 1000));
  stepping = false;
  await stepper;
  await allDecided(last);
  await waitFor("30 over 3 again", async () => {
    const c = runningCounts(await holdings(live()));
    return JSON.stringify(c) === JSON.stringify([10, 10, 10]);
  });

  // SIGTERM: handed over before the leases would have expired
  const leaving = runners[1];
  const before = await sql<{ strategy_id: string; expires_at: Date }>(
    `SELECT strategy_id, expires_at FROM strategy_leases WHERE owner_node = $1`,
    [leaving.id],
  );
  expect(before.length).toBe(10);
  leaving.child.kill("SIGTERM");
  expect(await leaving.exit).toBe(0);
  const ids = before.map((b) => Number(b.strategy_id));
  const after = await waitFor(
    "the stopped runner's instances to be claimed",
    async () => {
      const rows = await sql<{ strategy_id: string; owner_node: string; acquired_at: Date }>(
        `SELECT strategy_id, owner_node, acquired_at FROM strategy_leases WHERE strategy_id = ANY($1::bigint[])`,
        [ids],
      );
      return rows.length === ids.length && rows.every((r) => r.owner_node !== leaving.id) && rows;
    },
    TTL + 5000,
  );
  const expiry = new Map(before.map((b) => [Number(b.strategy_id), b.expires_at.getTime()]));
  if (process.env.AURA_TEST_TIMINGS) {
    const margin = Math.min(
      ...after.map((r) => expiry.get(Number(r.strategy_id))! - r.acquired_at.getTime()),
    );
    process.stderr.write(`SIGTERM: taken over ${margin} ms before the old leases would have expired\n`);
  }
  for (const r of after) expect(r.acquired_at.getTime()).toBeLessThan(expiry.get(Number(r.strategy_id))!);
  await waitFor("30 over 2", async () => {
    const c = runningCounts(await holdings(live()));
    return JSON.stringify(c) === JSON.stringify([15, 15]);
  });
  last = await advance();
  await allDecided(last);

  await watch.end();
  expect(watch.problems).toEqual([]);
  expect(watch.rounds()).toBeGreaterThan(10);
  await checkDecisions(last);
  const entries = submits.filter((s) => s.kind === "entry").length;
  expect(entries).toBeGreaterThan(0);

  for (const r of live()) r.child.kill("SIGTERM");
  for (const r of runners.slice(2)) expect(await r.exit).toBe(0);
});
