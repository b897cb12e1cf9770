// A venue that fills resting orders in parts (the simulator's partialFillRatio): a take-profit
// that fills over several price moves ends its list at the first fill while it keeps working. The
// position stays open until the leg is done and then closes once with every fill; an exit while
// the leg still works stops it and sells only what is left, the round trip counted once.
import { Decimal } from "../../../src/core/money/decimal";
import {
  bookProblems,
  entryCmd,
  exitCmd,
  q,
  startHarness,
  submit,
  venueOrders,
  waitFor,
  type Account,
  type Harness,
} from "./support";

jest.setTimeout(90_000);

const H = 3_600_000;
const T0 = Date.UTC(2023, 7, 1);
const STEP_MS = Math.floor(H / 13);

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ sim: { engine: { partialFillRatio: "0.25" } } });
});
afterAll(async () => {
  await h?.stop();
});

async function position(a: Account) {
  const [p] = await q<{
    id: string;
    status: string;
    qty: string;
    exit_reason: string | null;
    realized_pnl: string;
  }>(
    h.db.sequelize,
    `SELECT id, status, qty::text, exit_reason, realized_pnl::text FROM positions WHERE api_key_id = $1`,
    [a.keyId],
  );
  return p;
}

const takeProfit = (a: Account) =>
  venueOrders(h.sim, a).find((o) => o.orderListId !== -1 && o.type === "LIMIT_MAKER")!;

/** Moves the market one intrabar price at a time until the take-profit has filled in part. */
async function untilPartlyFilled(a: Account): Promise<void> {
  for (let i = 0; i < 13 * 200; i++) {
    const tp = takeProfit(a);
    if (tp.status === "PARTIALLY_FILLED") return;
    if (tp.status !== "NEW") throw new Error(`the take-profit went ${tp.status} at once`);
    h.sim.clock.advance({ ms: STEP_MS });
  }
  throw new Error("the take-profit never filled");
}

/** Sum of everything the account sold, and what it spent on the entry, from the venue's trades. */
function venueRoundTrip(a: Account) {
  const trades = h.sim.core.engine.allTrades(h.sim.core.accounts.get(a.apiKey)!.id);
  let spent = Decimal.ZERO;
  let got = Decimal.ZERO;
  for (const t of trades) {
    if (t.isBuyer) spent = spent.add(t.quoteQty);
    else got = got.add(t.quoteQty.sub(t.commission));
  }
  return { trades: trades.length, pnl: got.sub(spent) };
}

async function fillsRecorded(a: Account): Promise<number> {
  const [r] = await q<{ n: string }>(
    h.db.sequelize,
    `SELECT count(*)::text AS n FROM fills f JOIN orders o ON o.id = f.order_id WHERE o.api_key_id = $1`,
    [a.keyId],
  );
  return Number(r.n);
}

test("a take-profit filling in parts keeps the position open until it is done, then closes it once with every fill", async () => {
  const a = await h.account();
  const r = await submit(
    h.broker,
    a,
    entryCmd(a, T0, { sizing: { positionSizePct: 20 }, risk: { takeProfitPct: 0.4, stopLossPct: 10 } }),
  );
  expect(r.status).toBe("accepted");
  await h.sim.whenUserStream(a.apiKey);
  await untilPartlyFilled(a);
  // the list is done on the venue (the stop expired) but the take-profit still works
  await h.broker.call("execution.reconcile", {}, { caller: "repl" });
  expect((await position(a)).status).toBe("open");
  for (let i = 0; i < 13 * 1000 && takeProfit(a).status !== "FILLED"; i++)
    h.sim.clock.advance({ ms: STEP_MS });
  expect(takeProfit(a).status).toBe("FILLED");
  const pos = await waitFor(
    async () => {
      const p = await position(a);
      return p.status === "closed" ? p : undefined;
    },
    5000,
    "the position to close from the stream",
  );
  expect(pos.exit_reason).toBe("take_profit");
  const venue = venueRoundTrip(a);
  expect(await fillsRecorded(a)).toBe(venue.trades);
  expect(Decimal.parse(pos.realized_pnl).sub(venue.pnl).abs().lt(Decimal.parse("0.00000100"))).toBe(true);
  const trades = await q(h.db.sequelize, `SELECT id FROM trades WHERE user_id = $1`, [a.userId]);
  expect(trades).toHaveLength(1);
  expect(await bookProblems(h.sim, h.db.sequelize, a)).toEqual([]);
});

test("an exit while the take-profit fills in parts stops the leg, sells only the rest, and counts the round trip once", async () => {
  const a = await h.account();
  const t = T0 + 300 * H;
  h.sim.clock.jump(t);
  const r = await submit(
    h.broker,
    a,
    entryCmd(a, t, { sizing: { positionSizePct: 20 }, risk: { takeProfitPct: 0.4, stopLossPct: 10 } }),
  );
  expect(r.status).toBe("accepted");
  await untilPartlyFilled(a);
  const ex = await submit(h.broker, a, exitCmd(a, t + 5 * H));
  expect(ex).toMatchObject({ status: "accepted", orderState: "FILLED" });
  expect(takeProfit(a).status).toBe("CANCELED");
  const pos = await position(a);
  expect(pos).toMatchObject({ status: "closed", exit_reason: "signal" });
  // everything bought was sold (but for less than one lot step), and nothing twice
  const sold = venueOrders(h.sim, a)
    .filter((o) => o.side === "SELL")
    .reduce((s, o) => s.add(Decimal.parse(o.executedQty)), Decimal.ZERO);
  expect(Decimal.parse(pos.qty).sub(sold).lt(Decimal.parse("0.00001"))).toBe(true);
  expect(Decimal.parse(pos.qty).gte(sold)).toBe(true);
  const venue = venueRoundTrip(a);
  expect(await fillsRecorded(a)).toBe(venue.trades);
  expect(Decimal.parse(pos.realized_pnl).sub(venue.pnl).abs().lt(Decimal.parse("0.00000100"))).toBe(true);
  const trades = await q(h.db.sequelize, `SELECT id FROM trades WHERE user_id = $1`, [a.userId]);
  expect(trades).toHaveLength(1);
  expect(await bookProblems(h.sim, h.db.sequelize, a)).toEqual([]);
});
