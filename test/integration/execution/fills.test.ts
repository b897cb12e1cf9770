// Fills are money (ORD-07, ORD-08): whatever order the venue's reports and trades arrive in, and
// however often (an order response with its fills, a status query followed by the trade list, the
// checks a user-data event triggers, all of them repeated and running at once), a trade is
// recorded once and the position holds exactly what the unique trades bought. A trade that would
// take an order beyond its quantity is refused and raises an alert. The executor runs against the
// real PostgreSQL store and a scripted venue whose reports the property draws.
import fc from "fast-check";
import { Decimal } from "../../../src/core/money/decimal";
import { clientOrderId } from "../../../src/core/execution/ids";
import { symbolSpec } from "../../../src/core/market/symbols";
import { Executor } from "../../../src/adapters/execution/executor";
import { ExecutionStore } from "../../../src/adapters/execution/store";
import type { TradingAccount, VenueAccounts } from "../../../src/adapters/execution/accounts";
import {
  OrderRequestError,
  type VenueOrder,
  type VenueTrade,
} from "../../../src/adapters/exchange/trading-client";
import { createTestDatabase, type TestDatabase } from "../../support/db";
import { accountFor, q, type Account } from "./support";

jest.setTimeout(120_000);

interface ScriptedOrder {
  clientOrderId: string;
  orderId: string;
  origQty: string;
  trades: VenueTrade[];
  /** trades the venue shows now (order status and executed quantity follow them) */
  visible: number;
  /** how many of the visible trades the trade list shows yet (it may lag the order status) */
  listed: number;
  /** the venue reports this status once every trade is visible */
  finalStatus: "FILLED" | "CANCELED";
}

/** A venue that answers from a script: order status by client id, trades by order id. */
class ScriptedVenue {
  readonly orders = new Map<string, ScriptedOrder>();
  calls = 0;

  report(o: ScriptedOrder, withFills: boolean): VenueOrder {
    const shown = o.trades.slice(0, o.visible);
    const executed = shown.reduce((s, t) => s.add(Decimal.parse(t.qty)), Decimal.ZERO);
    const quote = shown.reduce((s, t) => s.add(Decimal.parse(t.quoteQty)), Decimal.ZERO);
    const all = o.visible === o.trades.length;
    return {
      symbol: "BTCUSDT",
      orderId: o.orderId,
      orderListId: "-1",
      clientOrderId: o.clientOrderId,
      side: "BUY",
      type: "MARKET",
      status: all ? o.finalStatus : o.visible > 0 ? "PARTIALLY_FILLED" : "NEW",
      origQty: o.origQty,
      executedQty: executed.toString(),
      cummulativeQuoteQty: quote.toString(),
      price: "0",
      updateTime: 1_690_000_000_000,
      ...(withFills
        ? {
            fills: shown.map((t) => ({
              price: t.price,
              qty: t.qty,
              commission: t.commission,
              commissionAsset: t.commissionAsset,
              tradeId: t.id,
            })),
          }
        : {}),
    };
  }

  client(pickFills: () => boolean) {
    return {
      queryOrder: async (_symbol: string, id: string) => {
        this.calls++;
        await new Promise((r) => setImmediate(r));
        const o = this.orders.get(id);
        if (!o) throw new OrderRequestError({ kind: "not_found", message: "Order does not exist." });
        return this.report(o, pickFills());
      },
      tradesOfOrder: async (_symbol: string, orderId: string) => {
        this.calls++;
        await new Promise((r) => setImmediate(r));
        const o = [...this.orders.values()].find((x) => x.orderId === orderId)!;
        return o.trades.slice(0, Math.min(o.listed, o.visible));
      },
      openOrders: async () => [],
      syncTime: async () => {},
    };
  }
}

let db: TestDatabase;
let store: ExecutionStore;
let acc: Account;
const venue = new ScriptedVenue();
let useFills = () => false;
const alerts: string[] = [];

function executor(): Executor {
  const account = {
    keyId: 0,
    userId: 0,
    exchange: "sim",
    paper: true,
    client: venue.client(() => useFills()),
  } as unknown as TradingAccount;
  const accounts = {
    get: async (keyId: number, userId: number) => ({ ...account, keyId, userId }),
    blockedFor: () => 0,
    outcome: () => {},
    pause: () => {},
    price: (a: TradingAccount, symbol: string) => a.client.price(symbol),
  } as unknown as VenueAccounts;
  const quiet = { info() {}, warn() {}, error() {}, fatal() {} };
  return new Executor({
    store,
    accounts,
    specFor: symbolSpec,
    log: quiet,
    events: { emit: (e, p) => void (e === "alert.raised" && alerts.push(String(p.kind))) },
    sleep: async () => {},
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  store = new ExecutionStore(db.sequelize);
  acc = await accountFor(db.sequelize, { apiKey: "k".repeat(64), secretKey: "s".repeat(64) });
});
afterAll(async () => {
  await db?.drop();
});

let seq = 0;

/** An entry whose outcome is in doubt (its answer was lost): reconciliation must find it out. */
async function entryInDoubt(o: ScriptedOrder): Promise<string> {
  const intent = `fills-${process.pid}-${++seq}`;
  o.clientOrderId = clientOrderId(intent, "entry");
  venue.orders.set(o.clientOrderId, o);
  const { row } = await store.insertOrder({
    userId: acc.userId,
    strategyId: acc.strategyId,
    apiKeyId: acc.keyId,
    intentId: intent,
    clientOrderId: o.clientOrderId,
    symbol: "BTCUSDT",
    side: "BUY",
    type: "MARKET",
    role: "entry",
    quoteOrderQty: "1000",
    state: "PENDING",
    params: {},
  });
  await store.setState(row.id, "PENDING", "SUBMITTING", { submitted: true });
  await store.setState(row.id, "SUBMITTING", "UNKNOWN");
  return intent;
}

const qtyArb = fc
  .integer({ min: 1, max: 40_000 })
  .map((n) => Decimal.from(n).div(Decimal.from(100_000), 5, "down"));

const scriptArb = fc.record({
  qtys: fc.array(qtyArb, { minLength: 1, maxLength: 6 }),
  finalStatus: fc.constantFrom<"FILLED" | "CANCELED">("FILLED", "CANCELED"),
  // each step: reveal more trades, let the trade list catch up, or run 1–5 checks at once
  steps: fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant("reveal" as const), n: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant("list" as const), n: fc.integer({ min: 1, max: 3 }) }),
      fc.record({
        kind: fc.constant("check" as const),
        at: fc.integer({ min: 1, max: 5 }),
        fills: fc.boolean(),
      }),
    ),
    { minLength: 1, maxLength: 12 },
  ),
});

test("ORD-07 every trade is recorded once and the position holds what the unique trades bought, in any interleaving", async () => {
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(scriptArb, async ({ qtys, finalStatus, steps }) => {
      runs++;
      const price = Decimal.parse("30000.00");
      const trades: VenueTrade[] = qtys.map((qty, i) => ({
        id: String(1_000_000 + runs * 10 + i),
        orderId: String(500_000 + runs),
        orderListId: "-1",
        price: price.toString(),
        qty: qty.toString(),
        quoteQty: qty.mul(price).toString(),
        commission: qty.mul(Decimal.parse("0.001")).round(8, "halfUp").toString(),
        commissionAsset: "BTC",
        time: 1_690_000_000_000 + i,
        isBuyer: true,
        isMaker: false,
      }));
      const total = qtys.reduce((s, x) => s.add(x), Decimal.ZERO);
      // a cancelled order filled only part of what it asked for
      const origQty = finalStatus === "FILLED" ? total : total.add(Decimal.parse("0.01"));
      const o: ScriptedOrder = {
        clientOrderId: "",
        orderId: String(500_000 + runs),
        origQty: origQty.toString(),
        trades,
        visible: 0,
        listed: 0,
        finalStatus,
      };
      const intent = await entryInDoubt(o);
      const ex = executor();
      const check = () => ex.reconcileSymbol(acc.keyId, acc.userId, "BTCUSDT");
      for (const step of steps) {
        if (step.kind === "reveal") o.visible = Math.min(trades.length, o.visible + step.n);
        else if (step.kind === "list") o.listed = Math.min(trades.length, o.listed + step.n);
        else {
          useFills = () => (step.fills ? Math.random() < 0.5 : false);
          // the same reports, delivered by several checks at once (stream events and a REST pass)
          await Promise.all(Array.from({ length: step.at }, () => check()));
        }
      }
      // the venue settles and a last pass runs
      o.visible = trades.length;
      o.listed = trades.length;
      useFills = () => false;
      await check();
      const [order] = await q<{ id: string; state: string; filled_qty: string }>(
        db.sequelize,
        `SELECT id, state, filled_qty::text FROM orders WHERE intent_id = $1 AND role = 'entry'`,
        [intent],
      );
      expect(order.state).toBe(finalStatus);
      const fills = await q<{ exchange_trade_id: string; n: string }>(
        db.sequelize,
        `SELECT exchange_trade_id, count(*)::text AS n FROM fills WHERE order_id = $1 GROUP BY 1`,
        [order.id],
      );
      expect(fills.map((f) => f.n).every((n) => n === "1")).toBe(true);
      expect(fills.map((f) => f.exchange_trade_id).sort()).toEqual(trades.map((t) => t.id).sort());
      expect(Decimal.parse(order.filled_qty).eq(total)).toBe(true);
      const fees = trades.reduce((s, t) => s.add(Decimal.parse(t.commission)), Decimal.ZERO);
      const positions = await q<{ qty: string }>(
        db.sequelize,
        `SELECT qty::text FROM positions WHERE intent_id = $1`,
        [intent],
      );
      expect(positions).toHaveLength(1);
      expect(Decimal.parse(positions[0].qty).eq(total.sub(fees))).toBe(true);
    }),
    { numRuns: 100 },
  );
  expect(runs).toBeGreaterThanOrEqual(100);
});

test("ORD-08 trades beyond the order's quantity are refused and raise an alert", async () => {
  const price = "30000.00";
  const mk = (id: string, qty: string): VenueTrade => ({
    id,
    orderId: "900001",
    orderListId: "-1",
    price,
    qty,
    quoteQty: Decimal.parse(qty).mul(Decimal.parse(price)).toString(),
    commission: "0",
    commissionAsset: "BTC",
    time: 1_690_000_000_000,
    isBuyer: true,
    isMaker: false,
  });
  const o: ScriptedOrder = {
    clientOrderId: "",
    orderId: "900001",
    origQty: "0.10000",
    trades: [mk("t-1", "0.06000"), mk("t-2", "0.04000"), mk("t-3", "0.05000")],
    visible: 3,
    listed: 3,
    finalStatus: "FILLED",
  };
  const intent = await entryInDoubt(o);
  alerts.length = 0;
  const ex = executor();
  // twice, and twice at once: the excess is refused every time, the alert raised once
  await ex.reconcileSymbol(acc.keyId, acc.userId, "BTCUSDT");
  await Promise.all([
    ex.reconcileSymbol(acc.keyId, acc.userId, "BTCUSDT"),
    ex.reconcileSymbol(acc.keyId, acc.userId, "BTCUSDT"),
  ]);
  const [order] = await q<{ id: string; state: string; filled_qty: string }>(
    db.sequelize,
    `SELECT id, state, filled_qty::text FROM orders WHERE intent_id = $1 AND role = 'entry'`,
    [intent],
  );
  expect(order.state).toBe("FILLED");
  expect(Decimal.parse(order.filled_qty).eq(Decimal.parse("0.1"))).toBe(true);
  const fills = await q<{ exchange_trade_id: string }>(
    db.sequelize,
    `SELECT exchange_trade_id FROM fills WHERE order_id = $1 ORDER BY 1`,
    [order.id],
  );
  expect(fills.map((f) => f.exchange_trade_id)).toEqual(["t-1", "t-2"]);
  const raised = await q<{ kind: string; severity: string; data: { tradeId: string } }>(
    db.sequelize,
    `SELECT kind, severity, data FROM alerts WHERE kind = 'OVERFILL' AND data->>'orderId' = $1`,
    [order.id],
  );
  expect(raised).toHaveLength(1);
  expect(raised[0]).toMatchObject({ severity: "critical", data: { tradeId: "t-3" } });
  expect(alerts).toEqual(["OVERFILL"]);
  const [pos] = await q<{ qty: string }>(
    db.sequelize,
    `SELECT qty::text FROM positions WHERE intent_id = $1`,
    [intent],
  );
  expect(Decimal.parse(pos.qty).eq(Decimal.parse("0.1"))).toBe(true);
});
