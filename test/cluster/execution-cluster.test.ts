// Execution as a cluster over a real NATS, every node its own `aura start` process:
//  - ORD-13: 1,000 commands from 3 callers across 3 execution nodes, one joining and one leaving
//    mid-run: at the venue, never more than one request in flight per account×symbol.
//  - MOL-01: the retry policy never re-sends `execution.submit` into a second order, whether the
//    caller's request times out or the caller asks Moleculer to retry.
//  - MOL-03: an execution node killed with 20 calls in flight: every intent ends with one venue
//    order or none, never two, once the callers' repeats reach the surviving nodes.
//  - no bus packet and no debug log line carries an API key or secret.
// The venue is a simulator in this process (SIM_URL); the symbol table has two symbols, so the
// 10 account×symbol pairs are 5 accounts on BTCUSDT and ETHUSDT.
import { connect, type NatsConnection } from "nats";
import type { ServiceBroker } from "moleculer";
import { intentId } from "../../src/core/execution/ids";
import { bookProblems, sleep, type Account } from "../integration/execution/support";
import { kill9, startCluster, type ClusterCtx, type ExecNode } from "../integration/execution/cluster";
import { NATS_URL, requireServers } from "../support/servers";

jest.setTimeout(180_000);

const H = 3_600_000;
const T0 = Date.UTC(2023, 5, 1);
const SYMBOLS = ["BTCUSDT", "ETHUSDT"] as const;

let available = false;
let c: ClusterCtx;
let nats: NatsConnection | undefined;
const packets: string[] = [];
const accounts: Account[] = [];
let nodes: ExecNode[] = [];

beforeAll(async () => {
  available = await requireServers(["nats"], "execution cluster suite");
  if (!available) return;
  c = await startCluster({ requestTimeout: 20_000 });
  // every packet of this cluster, as it crosses the bus
  nats = await connect({ servers: NATS_URL });
  const sub = nats.subscribe(`MOL-${c.ns}.>`);
  void (async () => {
    for await (const m of sub) packets.push(`${m.subject} ${new TextDecoder().decode(m.data)}`);
  })();
  // a busy venue: the burst must not be limited by request weight here
  c.sim.setLimits({ weightPerMinute: 10_000_000, ordersPer10s: 1_000_000, ordersPerDay: 100_000_000 });
  const env = { LOG_LEVEL: "debug", EXECUTION_RECONCILE_INTERVAL_MS: "5000" };
  nodes = [await c.startNode(env, "a"), await c.startNode(env, "b")];
  await Promise.all(nodes.map((n) => c.ready(n)));
});
afterAll(async () => {
  await nats?.drain();
  await c?.stop();
});

function cmdFor(a: Account, symbol: string, i: number) {
  const t = T0 + i * H;
  const entry = i % 2 === 0;
  return {
    intentId: `${intentId(a.strategyId, t, entry ? "entry" : "exit")}-${symbol}`,
    userId: a.userId,
    keyId: a.keyId,
    instanceId: a.strategyId,
    fencingToken: a.fencingToken,
    symbol,
    side: entry ? "BUY" : "SELL",
    kind: entry ? "entry" : "exit",
    candleOpenTime: t,
    reason: "cluster test",
    ...(entry ? { sizing: { positionSizePct: 5 }, risk: { takeProfitPct: 3, stopLossPct: 2 } } : {}),
  };
}

/** Sends until execution answers (a retryable refusal or a lost call is repeated with the same intent). */
async function untilAnswered(
  broker: ServiceBroker,
  a: Account,
  params: Record<string, unknown>,
  opts: { timeout?: number; ms?: number } = {},
): Promise<{ status: string; tries: number }> {
  const deadline = Date.now() + (opts.ms ?? 90_000);
  for (let tries = 1; ; tries++) {
    try {
      const r = await broker.call<{ status: string }, Record<string, unknown>>("execution.submit", params, {
        caller: `strategy.${a.strategyId}`,
        timeout: opts.timeout ?? 20_000,
      });
      return { status: r.status, tries };
    } catch (e) {
      const err = e as { retryable?: boolean; name?: string; message: string };
      const again =
        err.retryable ||
        /ServiceNotAvailable|RequestTimeout|RequestRejected|NotAvailable/.test(err.name ?? "");
      if (!again || Date.now() > deadline) throw e;
      await sleep(200);
    }
  }
}

test("ORD-13 1,000 commands, 3 callers, 3 nodes (one joins, one leaves): at most one request in flight per account×symbol", async () => {
  if (!available) return;
  const mine = await Promise.all(Array.from({ length: 5 }, () => c.account({ usdt: "100000" })));
  // a strategy on the second symbol too, so both pairs of each account are watched
  for (const a of mine)
    await c.db.sequelize.query(
      `INSERT INTO strategies (user_id, api_key_id, name, symbol, interval, definition, mode, status, active_version)
       SELECT user_id, api_key_id, name, 'ETHUSDT', interval, definition, mode, status, active_version
         FROM strategies WHERE id = $1`,
      { bind: [a.strategyId] },
    );
  accounts.push(...mine);
  const callers = [c.caller, await c.addCaller("caller2"), await c.addCaller("caller3")];
  await Promise.all(callers.map((b) => b.waitForServices(["execution"], 20_000)));
  c.sim.clearRequests(); // also resets the in-flight maxima
  const work: { a: Account; params: Record<string, unknown> }[] = [];
  for (let i = 0; i < 100; i++)
    for (const a of mine) for (const s of SYMBOLS) work.push({ a, params: cmdFor(a, s, i) });
  expect(work).toHaveLength(1000);
  let next = 0;
  let done = 0;
  const statuses: Record<string, number> = {};
  let joined: ExecNode | undefined;
  let left = false;
  const changes = (async () => {
    while (done < 300) await sleep(20);
    joined = await c.startNode({ LOG_LEVEL: "debug", EXECUTION_RECONCILE_INTERVAL_MS: "5000" }, "c");
    await c.ready(joined);
    while (done < 600) await sleep(20);
    // graceful: the node finishes what it has, its guards are released, callers move on
    nodes[0].child.kill("SIGTERM");
    left = true;
    expect((await nodes[0].exited).code).toBe(0);
  })();
  await Promise.all(
    callers.flatMap((broker) =>
      Array.from({ length: 8 }, async () => {
        for (;;) {
          const w = work[next++];
          if (!w) return;
          const r = await untilAnswered(broker, w.a, w.params);
          statuses[r.status] = (statuses[r.status] ?? 0) + 1;
          done++;
        }
      }),
    ),
  );
  await changes;
  expect(joined).toBeDefined();
  expect(left).toBe(true);
  nodes = [nodes[1], joined!];
  expect(done).toBe(1000);
  const inflight = c.sim.stats().inflight as { maxConcurrent: Record<string, number> };
  const max = Math.max(...Object.values(inflight.maxConcurrent));
  expect(Object.keys(inflight.maxConcurrent).length).toBeGreaterThanOrEqual(10);
  expect(max).toBe(1);
  // every entry intent led to one venue order at most
  const byId = new Map<string, number>();
  for (const o of c.sim.orders())
    byId.set(o.clientOrderId as string, (byId.get(o.clientOrderId as string) ?? 0) + 1);
  expect([...byId.values()].filter((n) => n > 1)).toEqual([]);
  for (const a of mine) expect(await bookProblems(c.sim, c.db.sequelize, a)).toEqual([]);
  process.stdout.write(
    `ORD-13 1000 commands (${JSON.stringify(statuses)}) over ${Object.keys(inflight.maxConcurrent).length} account×symbol pairs: max in flight per pair ${max}\n`,
  );
});

test("MOL-01 a timed-out call, and a call the caller retries, never become a second order", async () => {
  if (!available) return;
  const a = await c.account();
  accounts.push(a);
  const params = cmdFor(a, "BTCUSDT", 1000);
  const posts = () =>
    c.sim
      .requests()
      .filter((r) => r.method === "POST" && r.path === "/api/v3/order" && r.apiKey === a.apiKey);
  // the venue takes the order and answers late: the caller gives up first
  c.sim.faults.add({ kind: "delay-after-commit", ms: 3000 });
  await expect(
    c.caller.call("execution.submit", params, { caller: `strategy.${a.strategyId}`, timeout: 500 }),
  ).rejects.toMatchObject({ name: "RequestTimeoutError" });
  // a caller that asks for retries gets them, on a command that is repeat-safe
  c.sim.faults.add({ kind: "delay-after-commit", ms: 3000 });
  const retried = c.caller
    .call("execution.submit", params, {
      caller: `strategy.${a.strategyId}`,
      timeout: 500,
      retries: 3,
    })
    .catch((e: Error) => e);
  await retried;
  const r = await untilAnswered(c.caller, a, params);
  expect(r.status).toBe("accepted");
  await sleep(3500);
  expect(posts()).toHaveLength(1);
  expect(c.sim.orders({ apiKey: a.apiKey }).filter((o) => o.side === "BUY")).toHaveLength(1);
  c.sim.faults.clear();
});

test("MOL-03 a node killed with 20 calls in flight: one venue order or none per intent, resolved by the callers' repeats", async () => {
  if (!available) return;
  const victim = nodes[0];
  const mine = await Promise.all(Array.from({ length: 20 }, () => c.account()));
  accounts.push(...mine);
  // the venue holds the answers, so all 20 are in flight at the venue when the node dies. Armed
  // for a window, not a count: other nodes' order requests (earlier tests' exits) would use it up.
  c.sim.faults.add({ kind: "delay-after-commit", ms: 30_000, durationMs: 25_000 });
  const cmds = mine.map((a, i) => cmdFor(a, SYMBOLS[i % 2], 2000));
  const first = mine.map((a, i) =>
    c.caller
      .call("execution.submit", cmds[i], {
        caller: `strategy.${a.strategyId}`,
        nodeID: victim.nodeId,
        timeout: 60_000,
      })
      .catch((e: Error) => e),
  );
  const keys = new Set(mine.map((a) => a.apiKey));
  const deadline = Date.now() + 20_000;
  while (c.sim.orders().filter((o) => keys.has(o.apiKey)).length < 20 && Date.now() < deadline)
    await sleep(20);
  expect(c.sim.orders().filter((o) => keys.has(o.apiKey))).toHaveLength(20);
  await kill9(victim);
  c.sim.faults.clear();
  void Promise.all(first);
  // the strategies repeat their intents; the calls find the surviving node
  const started = Date.now();
  const answers = await Promise.all(
    mine.map((a, i) => untilAnswered(c.caller, a, cmds[i], { timeout: 4000 })),
  );
  for (const r of answers) expect(["accepted", "pending"]).toContain(r.status);
  for (const a of mine) {
    const entries = c.sim.orders({ apiKey: a.apiKey }).filter((o) => o.side === "BUY");
    expect(entries).toHaveLength(1);
  }
  const deadline2 = Date.now() + 15_000;
  let problems: string[] = [];
  do {
    problems = [];
    for (const a of mine) problems.push(...(await bookProblems(c.sim, c.db.sequelize, a)));
    if (problems.length) await sleep(250);
  } while (problems.length && Date.now() < deadline2);
  expect(problems).toEqual([]);
  process.stdout.write(
    `MOL-03 20 intents in flight on the killed node: all resolved ${Date.now() - started} ms after the kill, ${Math.max(...answers.map((x) => x.tries))} tries at most\n`,
  );
});

test("no bus packet and no debug log line carries an API key or secret", async () => {
  if (!available) return;
  expect(accounts.length).toBeGreaterThan(20);
  expect(packets.length).toBeGreaterThan(1000);
  const logs = c.nodes.map((n) => n.output()).join("\n");
  expect(logs).toContain('"level":"debug"');
  const leaks: string[] = [];
  for (const a of accounts)
    for (const [what, secret] of [
      ["api key", a.apiKey],
      ["secret", a.secretKey],
    ] as const) {
      if (packets.some((p) => p.includes(secret))) leaks.push(`${what} of key ${a.keyId} on the bus`);
      if (logs.includes(secret)) leaks.push(`${what} of key ${a.keyId} in a log`);
    }
  expect(leaks).toEqual([]);
  process.stdout.write(
    `secrets: ${accounts.length} accounts, ${packets.length} bus packets and ${logs.split("\n").length} debug log lines checked\n`,
  );
});
