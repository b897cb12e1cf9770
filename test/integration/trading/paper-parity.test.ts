// Paper trading equals the backtest. A strategy is created and activated in paper mode through
// the strategies service; the strategy-runner's actor decides on the simulator's closed candles,
// execution trades on the user's paper account (fees in the quote asset) with an OCO on every
// entry; over 2,016 candles (12 weeks of bundled BTCUSDT 1h) the round trips it records are the
// backtest's over the same candles with the intrabar "path" option and the simulator's fee:
// entry/exit candles, prices, quantities, fees, P&L and exit reasons.
//
// Time moves in two steps per candle so that what a live market spreads over an hour happens in
// order here too: first the candle's whole intrabar path (protective legs may fill), then its
// close (the actor decides); each waits until the services have caught up.
import fs from "node:fs";
import path from "node:path";
import { QueryTypes } from "sequelize";
import { loadCandles } from "../../../src/adapters/backtest/candles";
import { getDatabase } from "../../../src/adapters/storage/database";
import { runBacktest } from "../../../src/core/backtest";
import type { Simulator } from "../../../src/sim";
import { startServices, type TestCluster } from "../../support/broker";
import { createTestDatabase, type TestDatabase } from "../../support/db";

jest.setTimeout(600_000);

const H = 3_600_000;
const FROM = "2024-03-01";
const CANDLES = Number(process.env.PARITY_CANDLES ?? 24 * 84);
const ROOT = path.resolve(__dirname, "../../..");
const definition = JSON.parse(
  fs.readFileSync(path.join(ROOT, "examples/strategies/ema-cross-rsi.json"), "utf8"),
);

let db: TestDatabase;
let cluster: TestCluster;
let sim: Simulator;

const sql = async <T extends object>(text: string, bind: unknown[] = []): Promise<T[]> =>
  (await getDatabase()).sequelize.query<T>(text, { bind, type: QueryTypes.SELECT });

async function waitFor(what: string, fn: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn().catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  cluster = await startServices(
    ["exchange-sim", "market-data", "strategies", "strategy-runner", "execution"],
    {
      settings: {
        "exchange-sim": { port: 0, step: true, from: FROM },
        "market-data": {
          watch: [],
          loadBundled: false,
          staleAfterMs: 0,
          reconnect: { baseMs: 20, maxMs: 200 },
          backfillBackoff: { baseMs: 20, maxMs: 200 },
        },
        "strategy-runner": { scanIntervalMs: 200, settleMs: 0 },
        execution: { reconcileIntervalMs: 3_600_000 },
      },
      // the operators' view of the same run (src/adapters/metrics), no reporter needed
      broker: { metrics: { enabled: true, reporter: [] } },
    },
  );
  sim = (cluster.broker.getLocalService("exchange-sim") as unknown as { sim: Simulator }).sim;
});
afterAll(async () => {
  await cluster?.stop();
  await db?.drop();
});

/**
 * Nothing in flight, and the database agrees with the venue: no order waits for an answer, and
 * every open position has its live OCO, whose two legs are the venue's only open orders (the
 * paper account is the simulator's only account). A leg the venue filled leaves the position
 * open in the database until execution has read the fill: not settled yet.
 */
async function settled(strategyId: number): Promise<boolean> {
  const [r] = await sql<{ busy: string; open: string; unprotected: string }>(
    `SELECT (SELECT count(*) FROM orders WHERE strategy_id = $1
              AND state IN ('PENDING', 'SUBMITTING', 'UNKNOWN', 'PENDING_CANCEL')) AS busy,
            (SELECT count(*) FROM positions WHERE strategy_id = $1 AND status = 'open') AS open,
            (SELECT count(*) FROM positions p WHERE p.strategy_id = $1 AND p.status = 'open'
              AND NOT EXISTS (SELECT 1 FROM order_lists l WHERE l.position_id = p.id AND l.state = 'EXECUTING')) AS unprotected`,
    [strategyId],
  );
  if (Number(r.busy) > 0 || Number(r.unprotected) > 0) return false;
  return sim.orders({ status: "open" }).length === 2 * Number(r.open);
}

test("a paper strategy's round trips equal the backtest's over 2,016 candles", async () => {
  const [u] = await sql<{ id: string }>(
    `INSERT INTO users (email, password_hash) VALUES ('parity@example.com', 'x') RETURNING id`,
  );
  const as = { meta: { user: { id: Number(u.id), role: "user" } } };
  const created = await cluster.broker.call<{ id: number }, Record<string, unknown>>(
    "strategies.create",
    { definition },
    as,
  );
  await cluster.broker.call("strategies.activate", { id: created.id, mode: "paper" }, as);
  const id = created.id;
  await waitFor(
    "the actor to run",
    async () => {
      const s = await cluster.broker.call<{ state: string; subscribed?: boolean }, Record<string, never>>(
        `strategy.${id}.status`,
        {},
        { caller: "repl" },
      );
      // deciding, and market-data streams its series
      return s.state === "running" && s.subscribed === true;
    },
    30_000,
  );

  const start = Date.parse(`${FROM}T00:00:00Z`);
  for (let i = 0; i < CANDLES; i++) {
    const open = start + i * H;
    // the candle's intrabar path: protective legs may fill; execution reads them back
    sim.clock.advance({ ms: H - 1 });
    await waitFor(`protective fills of ${new Date(open).toISOString()}`, () => settled(id));
    // its close: the actor decides, execution carries the decision out
    sim.clock.advance({ ms: 1 });
    await waitFor(`the decision on ${new Date(open).toISOString()}`, async () => {
      const [d] = await sql<{ n: string }>(
        `SELECT count(*) AS n FROM strategy_decisions WHERE strategy_id = $1 AND kind = 'decision' AND candle_open_time = $2`,
        [id, open],
      );
      return Number(d.n) === 1;
    });
    // every intent of the decision was answered by execution (an 'order' entry in the log)
    await waitFor(`execution's answers for ${new Date(open).toISOString()}`, async () => {
      const [r] = await sql<{ n: string }>(
        `SELECT count(*) AS n FROM strategy_decisions d
           CROSS JOIN LATERAL jsonb_array_elements(COALESCE(d.data -> 'intents', '[]'::jsonb)) AS i(intent)
          WHERE d.strategy_id = $1 AND d.kind = 'decision' AND d.candle_open_time = $2
            AND NOT EXISTS (SELECT 1 FROM strategy_decisions o WHERE o.strategy_id = d.strategy_id
                              AND o.kind IN ('order', 'error') AND o.data ->> 'intentId' = i.intent ->> 'intentId')`,
        [id, open],
      );
      return Number(r.n) === 0;
    });
    await waitFor(`orders of ${new Date(open).toISOString()}`, () => settled(id));
  }

  const paper = await sql<{
    entry_time: Date;
    entry_price: string;
    exit_time: Date;
    exit_price: string;
    qty: string;
    fees: string;
    pnl: string;
    exit_reason: string;
  }>(
    `SELECT entry_time, entry_price, exit_time, exit_price, qty, fees, pnl, exit_reason FROM trades
      WHERE strategy_id = $1 ORDER BY entry_time`,
    [id],
  );
  const to = new Date(start + (CANDLES - 1) * H).toISOString().slice(0, 10);
  const bt = runBacktest({
    strategy: definition,
    candles: loadCandles({ symbol: "BTCUSDT", interval: "1h" }),
    from: FROM,
    to,
    feeRate: 0.001,
    slippageBps: 0,
    initialBalance: 10_000,
    intrabar: "path",
  });
  const expected = bt.trades.filter((t) => t.exitReason !== "end_of_data");
  if (!process.env.PARITY_CANDLES) expect(expected.length).toBeGreaterThan(5);
  // the candle an exit happened in: intrabar fills carry their own time on the venue
  const candleOf = (ms: number) => Math.floor(ms / H) * H;
  const got = paper.map((t) => ({
    entryTime: t.entry_time.getTime(),
    entryPrice: Number(t.entry_price),
    exitCandle: candleOf(t.exit_time.getTime()),
    exitPrice: Number(t.exit_price),
    qty: Number(t.qty),
    fees: Number(t.fees),
    pnl: Number(t.pnl),
    exitReason: t.exit_reason,
  }));
  const want = expected.map((t) => ({
    entryTime: t.entryTime,
    entryPrice: t.entryPrice,
    exitCandle: candleOf(t.exitTime),
    exitPrice: t.exitPrice,
    qty: t.qty,
    fees: t.fees,
    pnl: t.pnl,
    exitReason: t.exitReason,
  }));
  expect(got.length).toBe(want.length);
  for (let k = 0; k < want.length; k++) {
    const g = got[k];
    const w = want[k];
    expect({
      k,
      entryTime: g.entryTime,
      exitCandle: g.exitCandle,
      qty: g.qty,
      exitReason: g.exitReason,
    }).toEqual({
      k,
      entryTime: w.entryTime,
      exitCandle: w.exitCandle,
      qty: w.qty,
      exitReason: w.exitReason,
    });
    expect(g.entryPrice).toBeCloseTo(w.entryPrice, 6);
    expect(g.exitPrice).toBeCloseTo(w.exitPrice, 6);
    expect(g.fees).toBeCloseTo(w.fees, 6);
    expect(g.pnl).toBeCloseTo(w.pnl, 6);
  }
  // every entry, and every exit the strategy signalled, was an order command counted as accepted,
  // and each of those timed from its candle reaching the actor to its request leaving
  const metric = (name: string) => cluster.broker.metrics.getMetric(name)!.snapshot() as any[];
  const accepted = metric("aura_orders_total")
    .filter((v) => v.labels.outcome === "accepted")
    .reduce((n, v) => n + v.value, 0);
  const signalled = want.length + want.filter((t) => t.exitReason === "signal").length;
  expect(accepted).toBe(signalled);
  const [timed] = metric("aura_signal_to_order_seconds");
  expect(timed.count).toBe(signalled);
  expect(timed.sum / timed.count).toBeGreaterThan(0);
});
