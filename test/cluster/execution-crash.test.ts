// ORD-05: kill -9 of the execution process at each cut point of an entry, then a restart. After
// it, every venue order maps 1:1 to a row by client order id, no client id is on the venue twice,
// and every filled entry has exactly one live OCO (or an UNPROTECTED flag with its alert) within
// 10 s of the restart. The cut points are reached through AURA_FAULT_CRASH_AT (the process kills
// itself there) or, for "the POST has left", by the test killing it while the simulator holds the
// answer (committed) or the request (not yet processed).
import { bookProblems, entryCmd, sleep, type Account } from "../integration/execution/support";
import { kill9, startCluster, type ClusterCtx, type ExecNode } from "../integration/execution/cluster";
import { requireServers } from "../support/servers";

jest.setTimeout(120_000);

const TRIALS = 3;
const H = 3_600_000;
const T0 = Date.UTC(2023, 5, 1);

let available = false;
let c: ClusterCtx;

beforeAll(async () => {
  available = await requireServers(["nats"], "execution crash suite");
  if (available) c = await startCluster();
});
afterAll(async () => {
  await c?.stop();
});

function submitTo(node: ExecNode, a: Account, cmd: Record<string, unknown>) {
  return c.caller.call(
    "execution.submit",
    {
      userId: a.userId,
      keyId: a.keyId,
      instanceId: a.strategyId,
      fencingToken: a.fencingToken,
      symbol: "BTCUSDT",
      reason: "crash test",
      ...cmd,
    },
    { caller: `strategy.${a.strategyId}`, nodeID: node.nodeId, timeout: 20_000 },
  );
}

/** The caller repeats its intent on the new node until execution answers it (as an actor does). */
async function repeatUntilAnswered(node: ExecNode, a: Account, cmd: Record<string, unknown>) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      return await submitTo(node, a, cmd);
    } catch (e) {
      if (!(e as { retryable?: boolean }).retryable || Date.now() > deadline) throw e;
      await sleep(250);
    }
  }
}

async function booksAgreeWithin(accounts: Account[], ms: number): Promise<number> {
  const started = Date.now();
  let last: string[] = [];
  while (Date.now() - started < ms) {
    last = [];
    for (const a of accounts) last.push(...(await bookProblems(c.sim, c.db.sequelize, a)));
    if (last.length === 0) return Date.now() - started;
    await sleep(200);
  }
  throw new Error(`books disagree ${ms} ms after the restart:\n${last.join("\n")}`);
}

const points: [string, string | undefined, "hold-answer" | "hold-request" | undefined][] = [
  ["after the intent row is stored", "entry-inserted", undefined],
  ["after the POST left, the venue committed and holds the answer", undefined, "hold-answer"],
  ["after the POST left, the venue holds it unprocessed", undefined, "hold-request"],
  ["after the ack, before the row is updated", "order-acked", undefined],
  ["after the entry filled, before the OCO is sent", "entry-filled", undefined],
  ["after the OCO ack, before the rows are updated", "oco-acked", undefined],
];

test.each(points)("ORD-05 kill -9 %s, then restart", async (_what, crashAt, hold) => {
  if (!available) return;
  const accounts = await Promise.all(Array.from({ length: TRIALS }, () => c.account()));
  const node = await c.startNode(crashAt ? { AURA_FAULT_CRASH_AT: crashAt } : {});
  await c.ready(node);
  const t = T0 + Math.floor(Math.random() * 5000) * H;
  const cmds = accounts.map((a) => entryCmd(a, t));
  if (hold === "hold-answer") c.sim.faults.add({ kind: "delay-after-commit", ms: 30_000, count: TRIALS });
  if (hold === "hold-request")
    c.sim.faults.add({
      kind: "latency",
      ms: 2000,
      count: TRIALS,
      match: { method: "POST", path: "/api/v3/order" },
    });
  const calls = accounts.map((a, i) => submitTo(node, a, cmds[i]).catch((e: Error) => e));
  if (hold === "hold-answer") {
    // every order is on the venue, no answer has come back
    const ids = new Set(accounts.map((a) => a.apiKey));
    const deadline = Date.now() + 10_000;
    while (c.sim.orders().filter((o) => ids.has(o.apiKey)).length < TRIALS && Date.now() < deadline)
      await sleep(20);
    await kill9(node);
  } else if (hold === "hold-request") {
    const deadline = Date.now() + 10_000;
    const inflight = () =>
      Object.values((c.sim.stats().inflight as { current: Record<string, number> }).current).reduce(
        (s, n) => s + n,
        0,
      );
    while (inflight() < TRIALS && Date.now() < deadline) await sleep(10);
    await kill9(node);
  }
  const exit = await Promise.race([
    node.exited,
    sleep(30_000).then(() => {
      throw new Error(`${node.nodeId} never reached ${crashAt ?? hold}:\n${node.output().slice(-3000)}`);
    }),
  ]);
  expect(exit.signal).toBe("SIGKILL");
  // the callers' first calls end with the request timeout (nobody answers them): not waited for
  void Promise.all(calls);
  c.sim.faults.clear();

  const restarted = await c.startNode({ EXECUTION_RECONCILE_INTERVAL_MS: "5000" });
  await c.ready(restarted);
  const readyAt = Date.now();
  // the actors repeat their intents; execution answers from what the venue and the rows say
  const answers = await Promise.all(accounts.map((a, i) => repeatUntilAnswered(restarted, a, cmds[i])));
  for (const r of answers)
    expect(["accepted", "pending", "rejected"]).toContain((r as { status: string }).status);
  const tookMs = await booksAgreeWithin(accounts, 10_000 - (Date.now() - readyAt));
  // one venue entry per intent at most; every filled one protected
  for (const a of accounts) {
    const entries = c.sim.orders({ apiKey: a.apiKey }).filter((o) => o.side === "BUY");
    expect(entries.length).toBeLessThanOrEqual(1);
  }
  process.stdout.write(
    `ORD-05 ${crashAt ?? hold}: ${TRIALS} trials, books agree ${Date.now() - readyAt} ms after the restart was ready (${tookMs} ms of checks)\n`,
  );
  await kill9(restarted);
});
