// Reconciliation (ORD-06, ORD-20, ORD-22): orders on the venue without a row are adopted when they
// carry our id prefix and recorded EXTERNAL otherwise, never cancelled; commands that arrive while
// a starting node reconciles are refused with a retryable RECONCILING and nothing is sent before it
// is done; reconciling again, or from two instances at once, changes nothing.
import crypto from "node:crypto";
import type { ServiceBroker } from "moleculer";
import { clientOrderId } from "../../../src/core/execution/ids";
import { REPL_CALLER } from "../../../src/runtime/repl-commands";
import { startServices } from "../../support/broker";
import {
  bookProblems,
  entryCmd,
  exitCmd,
  q,
  sleep,
  startHarness,
  submit,
  venueOrders,
  waitFor,
  type Account,
  type Harness,
} from "./support";

jest.setTimeout(90_000);

const H = 3_600_000;
const T0 = Date.UTC(2023, 8, 1);
const INTERVAL_MS = 1000;

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ execution: { reconcileIntervalMs: INTERVAL_MS } });
});
afterAll(async () => {
  await h?.stop();
});
afterEach(() => h.sim.faults.clear());

const reconcile = (broker: ServiceBroker = h.broker) =>
  broker.call<{ keys: Record<string, unknown>[] }, Record<string, never>>(
    "execution.reconcile",
    {},
    { caller: REPL_CALLER, timeout: 60_000 },
  );

function inject(a: Account, clientId: string, price = "10000.00") {
  return h.sim.injectOrder({
    apiKey: a.apiKey,
    symbol: "BTCUSDT",
    side: "BUY",
    type: "LIMIT",
    timeInForce: "GTC",
    quantity: "0.001",
    price,
    newClientOrderId: clientId,
    emitEvents: false,
  });
}

test("ORD-06 orphans: ours adopted, a foreign one recorded EXTERNAL, within one cycle, never cancelled, counted once", async () => {
  const a = await h.account();
  const ours = clientOrderId(`lost-${crypto.randomBytes(4).toString("hex")}`, "entry");
  const foreign = `web_${crypto.randomBytes(6).toString("hex")}`;
  inject(a, ours);
  inject(a, foreign, "9000.00");
  const rows = await waitFor(
    async () => {
      const r = await q<{ client_order_id: string; origin: string; state: string }>(
        h.db.sequelize,
        `SELECT client_order_id, origin, state FROM orders WHERE api_key_id = $1 ORDER BY origin`,
        [a.keyId],
      );
      return r.length === 2 ? r : undefined;
    },
    2 * INTERVAL_MS + 2000,
    "the orphans to be recorded by the periodic pass",
  );
  expect(rows).toEqual([
    { client_order_id: ours, origin: "adopted", state: "NEW" },
    { client_order_id: foreign, origin: "external", state: "NEW" },
  ]);
  // more passes, the periodic one and two asked for: nothing recorded twice, nothing cancelled
  await reconcile();
  await reconcile();
  await sleep(INTERVAL_MS + 200);
  const again = await q(h.db.sequelize, `SELECT id FROM orders WHERE api_key_id = $1`, [a.keyId]);
  expect(again).toHaveLength(2);
  expect(venueOrders(h.sim, a).map((o) => [o.clientOrderId, o.status])).toEqual([
    [ours, "NEW"],
    [foreign, "NEW"],
  ]);
  const alerts = await q<{ kind: string }>(
    h.db.sequelize,
    `SELECT kind FROM alerts WHERE user_id = $1 ORDER BY kind`,
    [a.userId],
  );
  expect(alerts.map((x) => x.kind)).toEqual(["EXTERNAL_ORDER", "ORDER_ADOPTED"]);
  // a signal exit of the account's strategy leaves the foreign order alone too
  expect((await submit(h.broker, a, exitCmd(a, T0))).status).toBe("noop");
  expect(venueOrders(h.sim, a).find((o) => o.clientOrderId === foreign)?.status).toBe("NEW");
});

test("ORD-20 commands during the startup reconciliation get a retryable RECONCILING; nothing is sent before it is done", async () => {
  const a = await h.account();
  expect((await submit(h.broker, a, entryCmd(a, T0 + 10 * H))).status).toBe("accepted");
  const b = await h.account();
  await h.stopExecution();
  // make the startup pass slow: every list lookup is held for a while
  h.sim.faults.add({
    kind: "latency",
    ms: 1500,
    durationMs: 60_000,
    match: { method: "GET", path: "/api/v3/orderList" },
  });
  await h.startExecution();
  let readyAt = 0;
  const refused: string[] = [];
  const sent: Record<string, unknown>[] = [];
  const poll = (async () => {
    for (;;) {
      const s = await h.broker.call<{ ready: boolean }, Record<string, never>>(
        "execution.status",
        {},
        { caller: REPL_CALLER },
      );
      if (s.ready) {
        readyAt = Date.now();
        return;
      }
      await sleep(5);
    }
  })();
  // commands keep coming while it reconciles: each is refused, none reaches the venue
  const cmd = entryCmd(b, T0 + 11 * H);
  for (let i = 0; readyAt === 0 && i < 200; i++) {
    try {
      sent.push(await submit(h.broker, b, cmd));
      break;
    } catch (e) {
      const err = e as { type?: string; retryable?: boolean; code?: number };
      expect(err).toMatchObject({ type: "RECONCILING", retryable: true, code: 503 });
      refused.push(err.type!);
      await sleep(50);
    }
  }
  await poll;
  expect(refused.length).toBeGreaterThan(3);
  const posts = h.sim
    .requests()
    .filter((r) => r.method === "POST" && r.path === "/api/v3/order" && r.apiKey === b.apiKey);
  for (const p of posts) expect(p.time).toBeGreaterThanOrEqual(readyAt - 5);
  h.sim.faults.clear();
  // once ready, the same command goes through
  const r = sent[0] ?? (await submit(h.broker, b, cmd));
  expect(r.status).toBe("accepted");
  process.stdout.write(
    `ORD-20 ${refused.length} commands refused with RECONCILING before the node was ready\n`,
  );
});

/** A digest of what execution keeps about money: orders, fills, positions, lists, trades, alerts. */
async function snapshot(): Promise<{ hash: string; counts: Record<string, number> }> {
  const parts: Record<string, unknown[]> = {
    orders: await q(
      h.db.sequelize,
      `SELECT client_order_id, intent_id, role, origin, state, exchange_order_id, exchange_status, filled_qty::text,
              cumulative_quote::text, quantity::text, quote_order_qty::text, order_list_id, params
         FROM orders ORDER BY client_order_id`,
    ),
    fills: await q(
      h.db.sequelize,
      `SELECT o.client_order_id, f.exchange_trade_id, f.qty::text, f.price::text, f.commission::text
         FROM fills f JOIN orders o ON o.id = f.order_id ORDER BY 1, 2`,
    ),
    positions: await q(
      h.db.sequelize,
      `SELECT intent_id, status, protection, qty::text, entry_price::text, exit_price::text, realized_pnl::text,
              exit_reason, order_list_id FROM positions ORDER BY intent_id`,
    ),
    lists: await q(
      h.db.sequelize,
      `SELECT list_client_order_id, state, exchange_order_list_id, quantity::text FROM order_lists ORDER BY 1`,
    ),
    trades: await q(
      h.db.sequelize,
      `SELECT position_id, qty::text, pnl::text FROM trades ORDER BY position_id`,
    ),
    alerts: await q(h.db.sequelize, `SELECT kind, dedupe_key FROM alerts ORDER BY dedupe_key, kind`),
  };
  const counts = Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, v.length]));
  return { hash: crypto.createHash("sha256").update(JSON.stringify(parts)).digest("hex"), counts };
}

test("ORD-22 reconciliation is idempotent: twice in a row, and twice at once from two instances", async () => {
  // something for each kind of work: an open protected position, a closed round trip, a leg that
  // filled unseen, orphans of both kinds
  const accounts = await Promise.all([1, 2, 3].map(() => h.account()));
  const [a, b, c] = accounts;
  expect((await submit(h.broker, a, entryCmd(a, T0 + 20 * H))).status).toBe("accepted");
  expect((await submit(h.broker, b, entryCmd(b, T0 + 20 * H))).status).toBe("accepted");
  expect((await submit(h.broker, b, exitCmd(b, T0 + 21 * H))).status).toBe("accepted");
  expect(
    (await submit(h.broker, c, entryCmd(c, T0 + 20 * H, { risk: { takeProfitPct: 0.3, stopLossPct: 0.3 } })))
      .status,
  ).toBe("accepted");
  inject(a, clientOrderId(`lost-${crypto.randomBytes(4).toString("hex")}`, "entry"));
  inject(b, `web_${crypto.randomBytes(6).toString("hex")}`, "9000.00");
  await h.stopExecution();
  for (let i = 0; i < 300 && venueOrders(h.sim, c).filter((o) => o.status === "NEW").length === 2; i++)
    h.sim.clock.advance({ candles: 1 });
  // the second instance: another broker with its own execution service on the same database
  const other = await startServices(["execution"], {
    settings: { execution: { reconcileIntervalMs: 3_600_000 } },
  });
  try {
    await h.startExecution({ reconcileIntervalMs: 3_600_000 });
    await h.ready();
    await h.ready(other.broker);
    await reconcile();
    const first = await snapshot();
    await reconcile();
    expect(await snapshot()).toEqual(first);
    await Promise.all([reconcile(), reconcile(other.broker)]);
    expect(await snapshot()).toEqual(first);
    await Promise.all([reconcile(), reconcile(other.broker), reconcile()]);
    expect(await snapshot()).toEqual(first);
    const dup = await q(
      h.db.sequelize,
      `SELECT client_order_id FROM orders GROUP BY client_order_id HAVING count(*) > 1
       UNION ALL SELECT list_client_order_id FROM order_lists GROUP BY list_client_order_id HAVING count(*) > 1
       UNION ALL SELECT intent_id FROM positions WHERE intent_id IS NOT NULL GROUP BY intent_id HAVING count(*) > 1
       UNION ALL SELECT position_id::text FROM trades GROUP BY position_id HAVING count(*) > 1`,
    );
    expect(dup).toEqual([]);
    for (const x of accounts) expect(await bookProblems(h.sim, h.db.sequelize, x)).toEqual([]);
    process.stdout.write(`ORD-22 snapshot ${first.hash.slice(0, 12)} ${JSON.stringify(first.counts)}\n`);
  } finally {
    await other.stop();
    await h.stopExecution();
    await h.startExecution({ reconcileIntervalMs: INTERVAL_MS });
  }
});
