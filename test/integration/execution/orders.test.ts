// Execution against the simulator in step mode, on a real PostgreSQL: an entry fills and is
// protected by an OCO on the venue at once; a repeated intent sends nothing; a signal exit
// cancels the OCO and sells; an OCO leg that fires closes the position once with its reason;
// denials and stale commands never reach the venue.
import type { IncomingMessage, Server } from "node:http";
import type { VenueAccounts } from "../../../src/adapters/execution/accounts";
import { startServices, type TestCluster } from "../../support/broker";
import { createTestDatabase, type TestDatabase } from "../../support/db";
import { admin, signed } from "../../contract/helpers";
import { intentId, isOurClientOrderId } from "../../../src/core/execution/ids";
import { REPL_CALLER } from "../../../src/runtime/repl-commands";
import { entryCmd, paperAccount, q, submit, type Account } from "./support";

jest.setTimeout(90_000);

let db: TestDatabase;
let cluster: TestCluster;
let sim: { baseUrl: string };

beforeAll(async () => {
  db = await createTestDatabase();
  cluster = await startServices(["exchange-sim", "execution"], {
    settings: {
      "exchange-sim": { port: 0, step: true, from: "2023-06-01" },
      execution: { reconcileIntervalMs: 3_600_000 },
    },
  });
  const info = await cluster.broker.call<{ baseUrl: string }, Record<string, never>>(
    "exchange-sim.info",
    {},
    {
      caller: REPL_CALLER,
    },
  );
  sim = { baseUrl: info.baseUrl };
  // wait for execution's startup reconciliation
  for (let i = 0; i < 100; i++) {
    const s = await cluster.broker.call<{ ready: boolean }, Record<string, never>>(
      "execution.status",
      {},
      {
        caller: REPL_CALLER,
      },
    );
    if (s.ready) break;
    await new Promise((r) => setTimeout(r, 50));
  }
});
afterAll(async () => {
  await cluster?.stop();
  await db?.drop();
});

async function venueOrders(a: Account) {
  const r = await signed(sim as never, a, "GET", "/api/v3/allOrders", { symbol: "BTCUSDT" });
  return r.body as { clientOrderId: string; status: string; type: string; side: string }[];
}
async function openOrders(a: Account) {
  return (await signed(sim as never, a, "GET", "/api/v3/openOrders", { symbol: "BTCUSDT" })).body as {
    clientOrderId: string;
    type: string;
  }[];
}
const advance = (body: unknown) => admin(sim as never, "POST", "/clock/advance", body);

test("an entry fills and is protected at once by an OCO on the venue; a repeat sends nothing", async () => {
  const a = await paperAccount(cluster.broker, db.sequelize);
  const t = Date.UTC(2023, 5, 1);
  const intent = intentId(a.strategyId, t, "entry");
  const r = await submit(cluster.broker, a, {
    intentId: intent,
    side: "BUY",
    kind: "entry",
    candleOpenTime: t,
    sizing: { positionSizePct: 50 },
    risk: { takeProfitPct: 3, stopLossPct: 1.5 },
  });
  expect(r).toMatchObject({ intentId: intent, status: "accepted", repeated: false, orderState: "FILLED" });

  const [pos] = await q<{ status: string; protection: string; qty: string; entry_price: string }>(
    db.sequelize,
    `SELECT status, protection, qty, entry_price FROM positions WHERE strategy_id = $1`,
    [a.strategyId],
  );
  expect(pos).toMatchObject({ status: "open", protection: "protected" });
  // about half of 10,000 USDT, net of the base-asset fee
  const notional = Number(pos.qty) * Number(pos.entry_price);
  expect(notional).toBeGreaterThan(4900);
  expect(notional).toBeLessThan(5000);
  const open = await openOrders(a);
  expect(open.map((o) => o.type).sort()).toEqual(["LIMIT_MAKER", "STOP_LOSS_LIMIT"]);
  expect(open.every((o) => isOurClientOrderId(o.clientOrderId))).toBe(true);
  const [list] = await q<{ state: string; take_profit_price: string; stop_price: string }>(
    db.sequelize,
    `SELECT state, take_profit_price, stop_price FROM order_lists WHERE strategy_id = $1`,
    [a.strategyId],
  );
  expect(list.state).toBe("EXECUTING");
  expect(Number(list.take_profit_price)).toBeCloseTo(Number(pos.entry_price) * 1.03, 1);
  expect(Number(list.stop_price)).toBeCloseTo(Number(pos.entry_price) * 0.985, 1);

  const before = (await venueOrders(a)).length;
  const again = await submit(cluster.broker, a, {
    intentId: intent,
    side: "BUY",
    kind: "entry",
    candleOpenTime: t,
    sizing: { positionSizePct: 50 },
    risk: { takeProfitPct: 3, stopLossPct: 1.5 },
  });
  expect(again).toMatchObject({ status: "accepted", repeated: true });
  expect((await venueOrders(a)).length).toBe(before);

  // a signal exit cancels the OCO, then sells; the round trip is recorded once
  const exitIntent = intentId(a.strategyId, t + 3_600_000, "exit");
  const ex = await submit(cluster.broker, a, {
    intentId: exitIntent,
    side: "SELL",
    kind: "exit",
    candleOpenTime: t + 3_600_000,
  });
  expect(ex).toMatchObject({ status: "accepted", orderState: "FILLED" });
  expect(await openOrders(a)).toEqual([]);
  const [closed] = await q<{ status: string; exit_reason: string }>(
    db.sequelize,
    `SELECT status, exit_reason FROM positions WHERE strategy_id = $1`,
    [a.strategyId],
  );
  expect(closed).toEqual({ status: "closed", exit_reason: "signal" });
  const trades = await q<{ exit_reason: string; pnl: string }>(
    db.sequelize,
    `SELECT exit_reason, pnl FROM trades WHERE strategy_id = $1`,
    [a.strategyId],
  );
  expect(trades).toHaveLength(1);
  expect(trades[0].exit_reason).toBe("signal");
  // an exit with nothing open is a no-op that sends nothing
  const n = (await venueOrders(a)).length;
  const noop = await submit(cluster.broker, a, {
    intentId: intentId(a.strategyId, t + 7_200_000, "exit"),
    side: "SELL",
    kind: "exit",
    candleOpenTime: t + 7_200_000,
  });
  expect(noop.status).toBe("noop");
  expect((await venueOrders(a)).length).toBe(n);
});

test("an OCO leg that fires closes the position once, with its reason, from the user-data stream", async () => {
  const a = await paperAccount(cluster.broker, db.sequelize);
  const t = Date.UTC(2023, 5, 2);
  const r = await submit(cluster.broker, a, {
    intentId: intentId(a.strategyId, t, "entry"),
    side: "BUY",
    kind: "entry",
    candleOpenTime: t,
    sizing: { positionSizePct: 100 },
    risk: { takeProfitPct: 0.5, stopLossPct: 0.5 },
  });
  expect(r.status).toBe("accepted");
  // move the market until one leg fills
  for (let i = 0; i < 200 && (await openOrders(a)).length > 0; i++) await advance({ candles: 1 });
  expect(await openOrders(a)).toEqual([]);
  // no reconciliation is asked for: the stream's event makes execution read the list
  let pos: { status: string; exit_reason: string } | undefined;
  for (let i = 0; i < 200; i++) {
    [pos] = await q<{ status: string; exit_reason: string }>(
      db.sequelize,
      `SELECT status, exit_reason FROM positions WHERE strategy_id = $1`,
      [a.strategyId],
    );
    if (pos?.status === "closed") break;
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(pos!.status).toBe("closed");
  expect(["take_profit", "stop_loss"]).toContain(pos!.exit_reason);
  await cluster.broker.call("execution.reconcile", {}, { caller: REPL_CALLER });
  const trades = await q(db.sequelize, `SELECT id FROM trades WHERE strategy_id = $1`, [a.strategyId]);
  expect(trades).toHaveLength(1);
  const [list] = await q<{ state: string }>(
    db.sequelize,
    `SELECT state FROM order_lists WHERE strategy_id = $1`,
    [a.strategyId],
  );
  expect(list.state).toBe("ALL_DONE");
});

test("an entry on a key that cannot trade is denied as key_unusable, recorded, never sent", async () => {
  const a = await paperAccount(cluster.broker, db.sequelize);
  await db.sequelize.query(`UPDATE user_api_keys SET status = 'invalid' WHERE id = $1`, { bind: [a.keyId] });
  const cmd = entryCmd(a, Date.UTC(2023, 5, 4));
  const intent = cmd.intentId;
  const r = await submit(cluster.broker, a, cmd);
  expect(r).toMatchObject({ status: "denied", reason: "key_unusable" });
  expect(String(r.message)).toMatch(/not valid for trading \(invalid\)/);
  expect(await venueOrders(a)).toEqual([]);
  const rows = await q<{ state: string; deny_reason: string }>(
    db.sequelize,
    `SELECT state, deny_reason FROM orders WHERE intent_id = $1`,
    [intent],
  );
  expect(rows).toEqual([{ state: "DENIED", deny_reason: "key_unusable" }]);
});

test("instances entering at once ask the venue for the price once; a paused key's refusal is not shared", async () => {
  const accounts = (cluster.broker.getLocalService("execution") as unknown as { accounts: VenueAccounts })
    .accounts;
  const server = (cluster.broker.getLocalService("exchange-sim") as unknown as { sim: { server: Server } })
    .sim.server;
  let asked = 0;
  const count = (req: IncomingMessage) => {
    if (req.url?.startsWith("/api/v3/ticker/price")) asked++;
  };
  server.prependListener("request", count);
  try {
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => paperAccount(cluster.broker, db.sequelize)));
    const [accA, accB, accC] = await Promise.all([a, b, c].map((x) => accounts.get(x.keyId, x.userId)));
    const prices = await Promise.all([accA, accB, accC].map((x) => accounts.price(x, "BTCUSDT")));
    expect(asked).toBe(1);
    expect(new Set(prices).size).toBe(1);
    expect(Number(prices[0])).toBeGreaterThan(0);

    // A is paused: its ask fails without a request; B, which joined it, asks through its own key
    accounts.pause(accA.keyId, 60_000);
    asked = 0;
    const [fromA, fromB] = await Promise.allSettled([
      accounts.price(accA, "BTCUSDT"),
      accounts.price(accB, "BTCUSDT"),
    ]);
    expect(fromA.status).toBe("rejected");
    expect(fromB).toEqual({ status: "fulfilled", value: prices[0] });
    expect(asked).toBe(1);
  } finally {
    server.removeListener("request", count);
  }
});

test("denials are recorded and never reach the venue; a stale command is refused without a record", async () => {
  const a = await paperAccount(cluster.broker, db.sequelize, { usdt: "3" });
  const t = Date.UTC(2023, 5, 3);
  const intent = intentId(a.strategyId, t, "entry");
  const cmd = {
    intentId: intent,
    side: "BUY",
    kind: "entry",
    candleOpenTime: t,
    sizing: { positionSizePct: 100 },
  };
  const r = await submit(cluster.broker, a, cmd);
  expect(r).toMatchObject({ status: "denied", reason: "insufficient_balance" });
  expect(await venueOrders(a)).toEqual([]);
  expect(await submit(cluster.broker, a, cmd)).toMatchObject({ status: "denied", repeated: true });
  const rows = await q<{ state: string; deny_reason: string }>(
    db.sequelize,
    `SELECT state, deny_reason FROM orders WHERE intent_id = $1`,
    [intent],
  );
  expect(rows).toEqual([{ state: "DENIED", deny_reason: "insufficient_balance" }]);

  const b = await paperAccount(cluster.broker, db.sequelize);
  const stale = await submit(cluster.broker, b, {
    intentId: intentId(b.strategyId, t, "entry"),
    fencingToken: b.fencingToken - 1,
    side: "BUY",
    kind: "entry",
    candleOpenTime: t,
    sizing: { positionSizePct: 10 },
  });
  expect(stale).toMatchObject({ status: "denied", reason: "stale_command" });
  expect(await q(db.sequelize, `SELECT id FROM orders WHERE strategy_id = $1`, [b.strategyId])).toEqual([]);
  expect(await venueOrders(b)).toEqual([]);
  // only strategy actors (and the runner) may submit
  await expect(
    cluster.broker.call(
      "execution.submit",
      {
        ...cmd,
        userId: b.userId,
        keyId: b.keyId,
        instanceId: b.strategyId,
        fencingToken: b.fencingToken,
        symbol: "BTCUSDT",
        reason: "x",
      },
      { caller: "api" },
    ),
  ).rejects.toMatchObject({ code: 403 });
});
