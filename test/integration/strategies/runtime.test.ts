// The strategy runtime on one node: the strategy-runner claims active instances, runs one actor per
// instance on the stepped simulator's candles, and the actor's order intents are exactly the
// backtest's for the same strategy and candles, each candle decided once, across a restart of the
// runner. A strategy that throws ends in status error without delaying another instance; a paused
// instance records its entry signals as ignored; deactivating with closePosition sends a close
// intent, then the instance is stopped and its lease gone.
//
// `execution` here is a test double: it records every SubmitCommand and opens or closes a row in
// `positions` the way the fills would (at the next candle's open), so actors see their positions.
import { Errors, type Context, type ServiceSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { loadCandles } from "../../../src/adapters/backtest/candles";
import { getDatabase } from "../../../src/adapters/storage/database";
import { readiness } from "../../../src/runtime/health";
import { lastCandleSql } from "../../../src/adapters/strategies/decisions";
import { runBacktest } from "../../../src/core/backtest";
import type { SubmitCommand, SubmitResult } from "../../../src/core/execution/types";
import type { Candle } from "../../../src/core/model/candle";
import { NO_SIGNALS, type Signal } from "../../../src/core/model/signal";
import { BaseStrategy, compileStrategy, type StrategyContext } from "../../../src/core/strategy";
import type { Simulator } from "../../../src/sim";
import { startServices, type TestCluster } from "../../support/broker";
import { createTestDatabase, type TestDatabase } from "../../support/db";

jest.setTimeout(180_000);

const H = 3_600_000;
const START = Date.parse("2023-06-01T00:00:00Z");
const AS_REPL = { caller: "repl" };

const EMA_CROSS = {
  name: "EMA cross",
  symbol: "BTCUSDT",
  interval: "1h",
  indicators: {
    fast: { type: "EMA", period: 9, source: "close" },
    slow: { type: "EMA", period: 21, source: "close" },
  },
  entry: { crossesAbove: ["fast", "slow"] },
  exit: { crossesBelow: ["fast", "slow"] },
  risk: { positionSizePct: 50, cooldownCandles: 0 },
};

/** Throws on every candle it may act on (after its one-candle warm-up). */
class Thrower extends BaseStrategy {
  readonly warmup = 1;
  constructor() {
    super({ symbol: "BTCUSDT", interval: "1h", risk: { positionSizePct: 10 }, warmupCandles: 0 });
  }
  onCandle(_c: Candle, ctx: StrategyContext): readonly Signal[] {
    if (ctx.canEnter) throw new Error("boom: the strategy's code is broken");
    return NO_SIGNALS;
  }
  snapshot() {
    return { kind: "thrower", version: 1, state: null };
  }
  restore() {}
}

let db: TestDatabase;
let cluster: TestCluster;
let sim: Simulator;
let userId = 0;
let keyId = 0;
const submits: SubmitCommand[] = [];
/** instances whose order requests execution cannot take (it is restarting), and what it turned away */
const unreachable = new Set<number>();
const turnedAway: SubmitCommand[] = [];
const decided: { userId: number; strategyId: number; candleOpenTime: number; action: string }[] = [];

/** What a gateway hears: the decisions it pushes to the owner's dashboard. */
const dashboard: ServiceSchema = {
  name: "decision-listener",
  events: {
    "strategy.decisions"(ctx: Context<{ decisions: (typeof decided)[number][] }>) {
      decided.push(...ctx.params.decisions);
    },
  },
};

const sql = async <T = any>(text: string, bind: unknown[] = []): Promise<T[]> =>
  (await getDatabase()).sequelize.query<any>(text, { bind, type: QueryTypes.SELECT });

/** The test double of execution: records, and fills at the next candle's open. */
const execution: ServiceSchema = {
  name: "execution",
  actions: {
    submit: {
      async handler(ctx: Context<SubmitCommand>): Promise<SubmitResult> {
        const c = ctx.params;
        if (unreachable.has(c.instanceId)) {
          turnedAway.push(c);
          throw new Errors.MoleculerRetryableError("execution is restarting", 503);
        }
        const repeated = submits.some((s) => s.intentId === c.intentId);
        submits.push(c);
        if (!repeated) {
          const fillTime = new Date(c.candleOpenTime + H);
          if (c.side === "BUY") {
            await sql(
              `INSERT INTO positions (user_id, strategy_id, api_key_id, symbol, qty, entry_price, opened_at, intent_id, entry_candle)
               VALUES ($1, $2, $3, $4, 1, 1, $5, $6, $7)`,
              [c.userId, c.instanceId, c.keyId, c.symbol, fillTime, c.intentId, c.candleOpenTime + H],
            );
          } else {
            await sql(
              `UPDATE positions SET status = 'closed', closed_at = $2, exit_price = 1, exit_reason = 'signal'
                WHERE strategy_id = $1 AND status = 'open'`,
              [c.instanceId, fillTime],
            );
          }
        }
        return { intentId: c.intentId, status: "accepted", repeated };
      },
    },
  },
};

async function addInstance(definition: object, opts: { paused?: boolean } = {}): Promise<number> {
  const [row] = await sql<{ id: string }>(
    `INSERT INTO strategies (user_id, api_key_id, name, symbol, interval, definition, mode, status, version,
                             active_version, paused, activated_at)
     VALUES ($1, $2, $3, 'BTCUSDT', '1h', $4, 'paper', 'active', 1, 1, $5, now()) RETURNING id`,
    [userId, keyId, (definition as { name: string }).name, JSON.stringify(definition), opts.paused ?? false],
  );
  await sql(`INSERT INTO strategy_versions (strategy_id, version, definition) VALUES ($1, 1, $2)`, [
    row.id,
    JSON.stringify(definition),
  ]);
  await changed(Number(row.id), "active");
  return Number(row.id);
}

async function changed(id: number, status: string): Promise<void> {
  await cluster.broker.broadcast("strategies.changed", { id, userId, status });
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function status(id: number): Promise<any> {
  return cluster.broker.call(`strategy.${id}.status`, {}, AS_REPL);
}

/** Deciding, and subscribed: market-data streams the series. */
async function running(id: number): Promise<boolean> {
  const s = await status(id);
  return s.state === "running" && s.subscribed === true;
}

async function lastCandle(id: number): Promise<number | null> {
  const [r] = await sql<{ t: string | null }>(
    `SELECT ${lastCandleSql("s")} AS t FROM strategies s WHERE id = $1`,
    [id],
  );
  return r?.t == null ? null : Number(r.t);
}

/** Closes the next candle and waits until every instance in `ids` decided it. */
async function step(ids: number[], ms = 10_000): Promise<number> {
  sim.clock.advance({ candles: 1 });
  const closed = Math.floor(sim.clock.state().time / H) * H - H;
  for (const id of ids)
    await waitFor(
      `instance ${id} to decide ${new Date(closed).toISOString()}`,
      async () => (await lastCandle(id)) === closed,
      ms,
    );
  return closed;
}

async function decisions(
  id: number,
): Promise<{ candle_open_time: string; action: string; message: string }[]> {
  return sql(
    `SELECT candle_open_time, action, message FROM strategy_decisions
      WHERE strategy_id = $1 AND kind = 'decision' ORDER BY candle_open_time`,
    [id],
  );
}

beforeAll(async () => {
  db = await createTestDatabase();
  const [u] = await sql<{ id: string }>(
    `INSERT INTO users (email, password_hash) VALUES ('runtime@example.com', 'x') RETURNING id`,
  );
  userId = Number(u.id);
  const [k] = await sql<{ id: string }>(
    `INSERT INTO user_api_keys (user_id, label, exchange, api_key_enc, api_secret_enc, enc_key_id, api_key_last4, status, paper)
     VALUES ($1, 'Paper account', 'sim', 'x', 'x', 'k', 'abcd', 'valid', true) RETURNING id`,
    [userId],
  );
  keyId = Number(k.id);
  cluster = await startServices(["exchange-sim", "market-data", "strategy-runner"], {
    settings: {
      "exchange-sim": { port: 0, step: true, from: "2023-06-01T00:30:00Z" },
      "market-data": {
        watch: [],
        loadBundled: false,
        staleAfterMs: 0,
        reconnect: { baseMs: 20, maxMs: 200 },
        backfillBackoff: { baseMs: 20, maxMs: 200 },
      },
      "strategy-runner": runnerSettings(),
    },
    extra: [execution, dashboard],
  });
  sim = (cluster.broker.getLocalService("exchange-sim") as any).sim;
});

function runnerSettings(): Record<string, unknown> {
  return {
    leaseTtlMs: 3000,
    scanIntervalMs: 200,
    settleMs: 0,
    restartBackoff: { baseMs: 50, maxMs: 200 },
    submitDeadlineMs: 1000,
    resubmitRetryMs: 500,
    strategyFactory: (def: { name?: string }) =>
      def.name === "Throws" ? new Thrower() : compileStrategy(def),
  };
}

afterAll(async () => {
  await cluster?.stop();
  await db?.drop();
});

let ema = 0;

test("the runner claims an active instance, warms it up, and its intents equal the backtest's, across a runner restart", async () => {
  ema = await addInstance(EMA_CROSS);
  const st = await waitFor("the actor to run", async () => {
    const s = await status(ema);
    return s.state === "running" && s.subscribed && s;
  });
  expect(st).toMatchObject({
    instanceId: ema,
    state: "running",
    lastCandleTime: START - H,
    ownerNode: cluster.broker.nodeID,
    version: 1,
    warmup: { needed: 200, fed: 200, done: true },
  });
  expect(st.fencingToken).toBeGreaterThan(0);
  expect(Object.keys(st.indicators).sort()).toEqual(["fast", "slow"]);
  const [lease] = await sql(`SELECT owner_node, fencing_token FROM strategy_leases WHERE strategy_id = $1`, [
    ema,
  ]);
  expect(lease).toMatchObject({ owner_node: cluster.broker.nodeID, fencing_token: String(st.fencingToken) });

  for (let i = 0; i < 150; i++) await step([ema]);

  // the runner goes away (its actors stop and the leases are handed back); two candles close
  // while nobody runs the instance; a new runner resumes after last_candle_time
  const runner = cluster.broker.getLocalService("strategy-runner")!;
  await cluster.broker.destroyService(runner);
  expect(await sql(`SELECT * FROM strategy_leases WHERE strategy_id = $1`, [ema])).toEqual([]);
  expect(cluster.broker.getLocalService(`strategy.${ema}`)).toBeFalsy();
  sim.clock.advance({ candles: 2 });
  const { loadServiceSchema } = require("../../../src/runtime/runner");
  const schema = loadServiceSchema("strategy-runner");
  cluster.broker.createService({ ...schema, settings: { ...schema.settings, ...runnerSettings() } });
  const resumed = START + 151 * H;
  await waitFor("the new runner to catch up", async () => (await lastCandle(ema)) === resumed);
  const st2 = await status(ema);
  expect(st2.fencingToken).toBeGreaterThan(st.fencingToken);

  while ((await lastCandle(ema))! < START + 311 * H) await step([ema]);

  // each candle from 2023-06-01 00:00 to 2023-06-13 23:00 decided exactly once
  const rows = await decisions(ema);
  expect(rows.map((r) => Number(r.candle_open_time))).toEqual(
    Array.from({ length: 312 }, (_, i) => START + i * H),
  );
  // and each announced once to the owner's dashboards, with the action the log holds
  const announced = decided.filter((e) => e.strategyId === ema);
  expect(announced.map((e) => e.candleOpenTime)).toEqual(rows.map((r) => Number(r.candle_open_time)));
  expect(announced.every((e) => e.userId === userId)).toBe(true);
  expect(announced.map((e) => e.action)).toEqual(rows.map((r) => r.action));

  const bt = runBacktest({
    strategy: EMA_CROSS,
    candles: loadCandles({ symbol: "BTCUSDT", interval: "1h" }),
    from: "2023-06-01",
    to: "2023-06-13",
  });
  const expected = bt.trades.flatMap((t) => [
    { candle: t.entryTime - H, kind: "entry" },
    ...(t.exitReason === "signal" ? [{ candle: t.exitTime - H, kind: "exit" }] : []),
  ]);
  expect(expected.length).toBeGreaterThanOrEqual(6);
  const last = START + 311 * H;
  const actual = submits
    .filter((c) => c.instanceId === ema && c.candleOpenTime < last)
    .map((c) => ({ candle: c.candleOpenTime, kind: c.kind }));
  expect(actual).toEqual(expected);
  // every command as execution needs it
  const entry = submits.find((c) => c.instanceId === ema && c.kind === "entry")!;
  expect(entry).toMatchObject({
    intentId: `s${ema}-${entry.candleOpenTime}-entry`,
    userId,
    keyId,
    symbol: "BTCUSDT",
    side: "BUY",
    sizing: { positionSizePct: 50 },
    risk: {},
  });
  expect(entry.deadline).toBeGreaterThan(Date.now() - 600_000);
  expect(submits.find((c) => c.instanceId === ema && c.kind === "exit")).toMatchObject({ side: "SELL" });
  // a result row per intent
  const [orders] = await sql<{ n: string }>(
    `SELECT count(*) AS n FROM strategy_decisions WHERE strategy_id = $1 AND kind = 'order'`,
    [ema],
  );
  expect(Number(orders.n)).toBe(submits.filter((c) => c.instanceId === ema).length);
  const logs: any[] = await cluster.broker.call(`strategy.${ema}.logs`, { limit: 5 }, AS_REPL);
  expect(logs).toHaveLength(5);
});

test("the process's readiness report counts the runner's actors instead of listing each", async () => {
  await waitFor("the actor to run", () => running(ema));
  const report = await readiness(cluster.broker);
  // hundreds of actors per runner: each listed would be rebuilt and copied on every probe snapshot
  expect(Object.keys(report.services).filter((n) => n.startsWith("strategy."))).toEqual([]);
  expect(report.services["strategy-runner"]).toMatchObject({
    status: "up",
    details: { instances: 1, actors: { running: 1 }, halted: false },
  });
  // the actor itself still answers as a service
  expect(cluster.broker.getLocalService(`strategy.${ema}`)).toBeTruthy();
});

test("a strategy that throws on every candle ends in status error while another instance keeps deciding on time", async () => {
  const other = await addInstance({
    ...EMA_CROSS,
    name: "EMA 12/26",
    indicators: {
      fast: { type: "EMA", period: 12, source: "close" },
      slow: { type: "EMA", period: 26, source: "close" },
    },
  });
  const thrower = await addInstance({ ...EMA_CROSS, name: "Throws" });
  await waitFor("both actors to run", async () => (await running(other)) && (await running(thrower)));
  let steps = 0;
  for (; steps < 30; steps++) {
    const [row] = await sql<{ status: string }>(`SELECT status FROM strategies WHERE id = $1`, [thrower]);
    if (row.status === "error") break;
    const t0 = Date.now();
    await step([ema, other], 2000);
    expect(Date.now() - t0).toBeLessThan(2000);
  }
  const [row] = await sql<{ status: string; status_reason: string; crash_count: number }>(
    `SELECT status, status_reason, crash_count FROM strategies WHERE id = $1`,
    [thrower],
  );
  expect(row.status).toBe("error");
  expect(row.status_reason).toMatch(/crashed 5 times within \d+ min; last error: boom/);
  expect(row.crash_count).toBe(5);
  expect(await sql(`SELECT * FROM strategy_leases WHERE strategy_id = $1`, [thrower])).toEqual([]);
  const errors = await sql(
    `SELECT message FROM strategy_decisions WHERE strategy_id = $1 AND kind = 'error'`,
    [thrower],
  );
  expect(errors).toHaveLength(5);
  await waitFor(
    "the thrower's actor to go",
    async () => !cluster.broker.getLocalService(`strategy.${thrower}`),
  );
  // the other one decided every candle of the window
  const rows = await decisions(other);
  const times = rows.map((r) => Number(r.candle_open_time));
  expect(times).toEqual(Array.from({ length: times.length }, (_, i) => times[0] + i * H));
  expect(times.length).toBe(steps);
});

test("an order request execution could not take is sent again shortly, not left for a restart", async () => {
  const always = await addInstance({
    name: "Always in",
    symbol: "BTCUSDT",
    interval: "1h",
    indicators: {},
    entry: { gt: ["close", 0] },
    exit: { lt: ["close", 0] },
    risk: { positionSizePct: 10 },
  });
  await waitFor("the actor to run", () => running(always));
  unreachable.add(always);
  const candle = await step([ema, always]);
  // the deadline passes with every try turned away: the failure is logged for the owner
  await waitFor("the failed request in the log", async () => {
    const [r] = await sql<{ n: string }>(
      `SELECT count(*) AS n FROM strategy_decisions WHERE strategy_id = $1 AND kind = 'error'
          AND message LIKE 'order request failed%'`,
      [always],
    );
    return Number(r.n) > 0;
  });
  expect(turnedAway.filter((c) => c.instanceId === always).length).toBeGreaterThan(0);
  expect(submits.filter((c) => c.instanceId === always)).toEqual([]);
  // execution is back: the same intent goes through without a new candle or a restart
  unreachable.delete(always);
  const sent = await waitFor("the entry sent again", async () =>
    submits.find((c) => c.instanceId === always && c.kind === "entry"),
  );
  expect(sent).toMatchObject({
    candleOpenTime: candle,
    intentId: turnedAway.find((c) => c.instanceId === always)!.intentId,
  });
  expect(await lastCandle(always)).toBe(candle);
  await waitFor("the answer in the log", async () => {
    const [r] = await sql<{ n: string }>(
      `SELECT count(*) AS n FROM strategy_decisions WHERE strategy_id = $1 AND kind = 'order' AND message LIKE 'entry accepted%'`,
      [always],
    );
    return Number(r.n) === 1;
  });
  // answered now: nothing is sent again
  await new Promise((r) => setTimeout(r, 1200));
  expect(submits.filter((c) => c.instanceId === always && c.kind === "entry")).toHaveLength(1);
  await sql(`UPDATE strategies SET status = 'stopped' WHERE id = $1`, [always]);
  await changed(always, "stopped");
});

test("a paused instance records its entry signals as ignored and still exits", async () => {
  const flip = await addInstance({
    name: "Flip-flop",
    symbol: "BTCUSDT",
    interval: "1h",
    indicators: {},
    entry: { gt: ["close", 0] },
    exit: { gt: ["close", 0] },
    risk: { positionSizePct: 10 },
  });
  await waitFor("the actor to run", () => running(flip));
  await step([ema, flip]);
  await step([ema, flip]);
  await sql(`UPDATE strategies SET paused = true WHERE id = $1`, [flip]);
  await changed(flip, "active");
  await waitFor("the actor to see the pause", async () => (await status(flip)).paused === true);
  for (let i = 0; i < 3; i++) await step([ema, flip]);
  const rows = await decisions(flip);
  const after = rows.slice(-3);
  expect(after.filter((r) => /entry signal ignored: paused/.test(r.message)).length).toBeGreaterThanOrEqual(
    1,
  );
  // no entry intent after the pause took effect
  const pausedFrom = Number(after[0].candle_open_time);
  expect(
    submits.filter((c) => c.instanceId === flip && c.kind === "entry" && c.candleOpenTime >= pausedFrom),
  ).toEqual([]);
  const [open] = await sql<{ n: string }>(
    `SELECT count(*) AS n FROM positions WHERE strategy_id = $1 AND status = 'open'`,
    [flip],
  );
  expect(Number(open.n)).toBe(0);
});

test("deactivating with closePosition sends a close intent, then the instance is stopped and its lease gone", async () => {
  const hold = await addInstance({
    name: "Always in",
    symbol: "BTCUSDT",
    interval: "1h",
    indicators: {},
    entry: { gt: ["close", 0] },
    risk: { positionSizePct: 10 },
  });
  await waitFor("the actor to run", () => running(hold));
  await step([ema, hold]);
  await step([ema, hold]);
  const [open] = await sql<{ n: string }>(
    `SELECT count(*) AS n FROM positions WHERE strategy_id = $1 AND status = 'open'`,
    [hold],
  );
  expect(Number(open.n)).toBe(1);
  const last = await lastCandle(hold);

  await sql(`UPDATE strategies SET status = 'stopping', close_on_stop = true WHERE id = $1`, [hold]);
  await changed(hold, "stopping");
  await waitFor("the instance to stop", async () => {
    const [r] = await sql<{ status: string }>(`SELECT status FROM strategies WHERE id = $1`, [hold]);
    return r.status === "stopped";
  });
  const close = submits.filter((c) => c.instanceId === hold && c.intentId.endsWith("-close"));
  expect(close).toEqual([
    expect.objectContaining({
      intentId: `s${hold}-${last}-close`,
      side: "SELL",
      kind: "exit",
      candleOpenTime: last,
    }),
  ]);
  expect(await sql(`SELECT * FROM strategy_leases WHERE strategy_id = $1`, [hold])).toEqual([]);
  await waitFor("the actor to go", async () => !cluster.broker.getLocalService(`strategy.${hold}`));
  const lifecycle = await sql(
    `SELECT action FROM strategy_decisions WHERE strategy_id = $1 AND kind = 'lifecycle'`,
    [hold],
  );
  expect(lifecycle).toEqual([{ action: "close" }]);
});
