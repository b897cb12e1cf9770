// What protects a position (ORD-09 to ORD-12): an entry the venue fills only in part is protected
// for what it bought, an exit racing the take-profit ends with the leg's fill and nothing sold
// twice, a refused OCO leads to an emergency exit or an UNPROTECTED alert within seconds, and a
// leg that fills while execution is down closes the position once when it comes back.
import { Decimal } from "../../../src/core/money/decimal";
import {
  bookProblems,
  entryCmd,
  exitCmd,
  q,
  sleep,
  startHarness,
  submit,
  submitUntilAnswered,
  venueOrders,
  waitFor,
  type Account,
  type Harness,
} from "./support";

jest.setTimeout(90_000);

const H = 3_600_000;
const T0 = Date.UTC(2023, 6, 1);

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ execution: { venueTimeoutMs: 2000 } });
});
afterAll(async () => {
  await h?.stop();
});
afterEach(() => h.sim.faults.clear());

async function position(a: Account) {
  const [p] = await q<{
    id: string;
    status: string;
    protection: string;
    qty: string;
    exit_reason: string | null;
    realized_pnl: string | null;
  }>(
    h.db.sequelize,
    `SELECT id, status, protection, qty::text, exit_reason, realized_pnl::text FROM positions
      WHERE api_key_id = $1 ORDER BY id DESC LIMIT 1`,
    [a.keyId],
  );
  return p;
}

async function untilLegFills(a: Account, maxCandles = 300): Promise<void> {
  for (let i = 0; i < maxCandles; i++) {
    const open = venueOrders(h.sim, a).filter((o) => o.orderListId !== -1 && o.status === "NEW");
    if (open.length < 2) return;
    h.sim.clock.advance({ candles: 1 });
  }
  throw new Error("no OCO leg filled");
}

test("ORD-09 an entry the venue fills in part: the position and its OCO are what was bought, nothing for the rest", async () => {
  const a = await h.account();
  h.sim.faults.add({ kind: "partial-fill", ratio: "0.23" });
  const cmd = entryCmd(a, T0, { sizing: { positionSizePct: 20 } });
  const r = await submit(h.broker, a, cmd);
  expect(r).toMatchObject({ status: "accepted", orderState: "EXPIRED" });
  const [entry] = venueOrders(h.sim, a).filter((o) => o.side === "BUY");
  expect(entry.status).toBe("EXPIRED");
  const orig = Decimal.parse(entry.origQty);
  const executed = Decimal.parse(entry.executedQty);
  expect(executed.lt(orig)).toBe(true);
  const [row] = await q<{ state: string; filled_qty: string }>(
    h.db.sequelize,
    `SELECT state, filled_qty::text FROM orders WHERE intent_id = $1 AND role = 'entry'`,
    [cmd.intentId],
  );
  expect(row.state).toBe("EXPIRED");
  expect(Decimal.parse(row.filled_qty).eq(executed)).toBe(true);
  // the base-asset fee came off what was bought
  const [fee] = await q<{ fee: string }>(
    h.db.sequelize,
    `SELECT sum(commission)::text AS fee FROM fills f JOIN orders o ON o.id = f.order_id WHERE o.intent_id = $1 AND o.role = 'entry'`,
    [cmd.intentId],
  );
  const pos = await position(a);
  expect(pos).toMatchObject({ status: "open", protection: "protected" });
  expect(Decimal.parse(pos.qty).eq(executed.sub(Decimal.parse(fee.fee)))).toBe(true);
  const legs = venueOrders(h.sim, a).filter((o) => o.orderListId !== -1);
  expect(legs).toHaveLength(2);
  const expectedOco = Decimal.parse(pos.qty).roundDown(Decimal.parse("0.00001"));
  for (const leg of legs) expect(Decimal.parse(leg.origQty).eq(expectedOco)).toBe(true);
  // nothing else was placed for the part that did not fill
  expect(venueOrders(h.sim, a)).toHaveLength(3);
  expect(await bookProblems(h.sim, h.db.sequelize, a)).toEqual([]);
  process.stdout.write(
    `ORD-09 ordered ${orig.toString()} BTC, filled ${executed.toString()} (${executed.div(orig, 4, "halfEven").toString()}), fee ${fee.fee}, OCO ${expectedOco.toString()}\n`,
  );
});

test("ORD-10 the take-profit fills while the exit's cancel is in flight (-2011): the leg's fill closes the position, nothing sold twice", async () => {
  const a = await h.account();
  const t = T0 + 50 * H;
  const r = await submit(h.broker, a, entryCmd(a, t, { risk: { takeProfitPct: 0.5, stopLossPct: 0.5 } }));
  expect(r.status).toBe("accepted");
  const sells = () => venueOrders(h.sim, a).filter((o) => o.side === "SELL" && o.type === "MARKET");
  // hold the cancel at the venue's door, move the market through a leg meanwhile
  h.sim.faults.add({ kind: "latency", ms: 1500, match: { method: "DELETE", path: "/api/v3/orderList" } });
  const exit = submit(h.broker, a, exitCmd(a, t + H));
  await waitFor(
    () => Object.keys((h.sim.stats().inflight as { current: Record<string, number> }).current).length > 0,
    5000,
    "the cancel to reach the venue",
    5,
  );
  await untilLegFills(a);
  const result = await exit;
  expect(result).toMatchObject({ status: "noop" });
  const legs = venueOrders(h.sim, a).filter((o) => o.orderListId !== -1);
  expect(legs.map((l) => l.status).sort()).toEqual(["EXPIRED", "FILLED"]);
  expect(sells()).toHaveLength(0);
  const pos = await position(a);
  expect(pos.status).toBe("closed");
  expect(["take_profit", "stop_loss"]).toContain(pos.exit_reason);
  const legRows = await q<{ state: string }>(
    h.db.sequelize,
    `SELECT state FROM orders WHERE api_key_id = $1 AND role IN ('take_profit', 'stop_loss') ORDER BY state`,
    [a.keyId],
  );
  expect(legRows.map((l) => l.state)).toEqual(["EXPIRED", "FILLED"]);
  await h.broker.call("execution.reconcile", {}, { caller: "repl" });
  const trades = await q(h.db.sequelize, `SELECT id FROM trades WHERE user_id = $1`, [a.userId]);
  expect(trades).toHaveLength(1);
  expect(await bookProblems(h.sim, h.db.sequelize, a)).toEqual([]);
});

test("ORD-11 a refused OCO: the position is sold at once (emergency exit), with the unprotected time measured", async () => {
  const a = await h.account();
  h.sim.faults.add({ kind: "reject-oco" });
  const cmd = entryCmd(a, T0 + 100 * H);
  const started = Date.now();
  const r = await submit(h.broker, a, cmd);
  const elapsed = Date.now() - started;
  expect(r.status).toBe("accepted");
  const pos = await position(a);
  expect(pos).toMatchObject({ status: "closed" });
  const [times] = await q<{ unprotected_ms: string }>(
    h.db.sequelize,
    `SELECT (extract(epoch FROM x.updated_at - e.updated_at) * 1000)::text AS unprotected_ms
       FROM orders e, orders x
      WHERE e.intent_id = $1 AND e.role = 'entry' AND x.api_key_id = e.api_key_id AND x.role = 'close'
        AND x.state = 'FILLED'`,
    [cmd.intentId],
  );
  const unprotectedMs = Number(times.unprotected_ms);
  expect(unprotectedMs).toBeLessThanOrEqual(5000);
  const alerts = await q<{ kind: string }>(h.db.sequelize, `SELECT kind FROM alerts WHERE user_id = $1`, [
    a.userId,
  ]);
  expect(alerts.map((x) => x.kind)).toEqual(["EMERGENCY_EXIT"]);
  expect(await bookProblems(h.sim, h.db.sequelize, a)).toEqual([]);
  process.stdout.write(
    `ORD-11 refused OCO → emergency exit: unprotected for ${unprotectedMs.toFixed(1)} ms (submit took ${elapsed} ms)\n`,
  );
});

test("ORD-11 a refused OCO and a refused emergency exit: UNPROTECTED with a critical alert within 5 s", async () => {
  const a = await h.account();
  h.sim.faults.add({ kind: "reject-oco" });
  // the entry goes through; the emergency sell is refused too (the venue asks us to wait 2 s)
  h.sim.faults.add({
    kind: "rate-limit",
    retryAfter: 2,
    match: { method: "POST", path: "/api/v3/order" },
    skip: 1,
    count: 1,
  });
  const cmd = entryCmd(a, T0 + 150 * H);
  const started = Date.now();
  await submitUntilAnswered(h.broker, a, cmd);
  const pos = await waitFor(
    async () => {
      const p = await position(a);
      return p?.protection === "unprotected" ? p : undefined;
    },
    5000,
    "the position to be flagged UNPROTECTED",
  );
  const flaggedMs = Date.now() - started;
  const [alert] = await q<{ kind: string; severity: string }>(
    h.db.sequelize,
    `SELECT kind, severity FROM alerts WHERE user_id = $1 AND kind = 'UNPROTECTED'`,
    [a.userId],
  );
  expect(alert).toEqual({ kind: "UNPROTECTED", severity: "critical" });
  expect(pos.status).toBe("open");
  expect(flaggedMs).toBeLessThanOrEqual(5000);
  process.stdout.write(`ORD-11 refused OCO and exit → UNPROTECTED + alert after ${flaggedMs} ms\n`);
  // the next reconciliation protects it again once the venue takes orders
  await sleep(2100);
  await h.broker.call("execution.reconcile", {}, { caller: "repl" });
  expect((await position(a)).protection).toBe("protected");
  expect(await bookProblems(h.sim, h.db.sequelize, a)).toEqual([]);
});

test("ORD-12 an OCO leg fills while execution is down: on restart the position closes once, the leg FILLED, the other EXPIRED", async () => {
  const a = await h.account();
  const t = T0 + 200 * H;
  expect(
    (await submit(h.broker, a, entryCmd(a, t, { risk: { takeProfitPct: 0.5, stopLossPct: 0.5 } }))).status,
  ).toBe("accepted");
  await h.stopExecution();
  await untilLegFills(a);
  await h.startExecution();
  await h.ready();
  const pos = await waitFor(
    async () => {
      const p = await position(a);
      return p?.status === "closed" ? p : undefined;
    },
    5000,
    "the position to close after the restart",
  );
  expect(["take_profit", "stop_loss"]).toContain(pos.exit_reason);
  const legRows = await q<{ role: string; state: string }>(
    h.db.sequelize,
    `SELECT role, state FROM orders WHERE api_key_id = $1 AND role IN ('take_profit', 'stop_loss')`,
    [a.keyId],
  );
  const filled = legRows.find((l) => l.state === "FILLED")!;
  expect(filled.role).toBe(pos.exit_reason);
  expect(legRows.map((l) => l.state).sort()).toEqual(["EXPIRED", "FILLED"]);
  const [list] = await q<{ state: string }>(
    h.db.sequelize,
    `SELECT state FROM order_lists WHERE api_key_id = $1`,
    [a.keyId],
  );
  expect(list.state).toBe("ALL_DONE");
  // P&L counted once, also after more passes
  for (let i = 0; i < 2; i++) await h.broker.call("execution.reconcile", {}, { caller: "repl" });
  const trades = await q<{ pnl: string }>(h.db.sequelize, `SELECT pnl::text FROM trades WHERE user_id = $1`, [
    a.userId,
  ]);
  expect(trades).toHaveLength(1);
  expect(trades[0].pnl).toBe(pos.realized_pnl);
  expect(await bookProblems(h.sim, h.db.sequelize, a)).toEqual([]);
});
