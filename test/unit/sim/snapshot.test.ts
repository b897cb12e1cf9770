// Snapshots of the simulator: everything durable survives a JSON round trip into a fresh
// simulator, which then behaves exactly as the original would; bad snapshots are refused whole.
import { Decimal } from "../../../src/core/money/decimal";
import { createSimulator, SnapshotError, type Simulator, type SimSnapshot } from "../../../src/sim";

const D = (s: string) => Decimal.parse(s);
const TICK = D("0.01");
// mid-candle, so the restored feed must resume inside a candle's intrabar path
const FROM = "2023-06-01T00:30:00Z";

function price(sim: Simulator): Decimal {
  return D(sim.clock.state().symbols.find((s) => s.symbol === "BTCUSDT")!.price!);
}

async function buildState() {
  const sim = await createSimulator({ step: true, from: FROM });
  const a = sim.createAccount({ balances: { USDT: "10000" } });
  const b = sim.createAccount({
    balances: { USDT: "500", ETH: "2" },
    permissions: { enableWithdrawals: true },
    commission: { maker: "0.0005", taker: "0.00075", asset: "quote" },
  });
  sim.injectOrder({ apiKey: a.apiKey, symbol: "BTCUSDT", side: "BUY", type: "MARKET", quantity: "0.1" });
  const p = price(sim);
  // a resting buy far below the market, and a cancelled one for the history
  sim.injectOrder({
    apiKey: a.apiKey,
    symbol: "BTCUSDT",
    side: "BUY",
    type: "LIMIT",
    timeInForce: "GTC",
    quantity: "0.01",
    price: p.mul(D("0.5")).roundDown(TICK).toString(),
  });
  const gone = sim.injectOrder({
    apiKey: a.apiKey,
    symbol: "BTCUSDT",
    side: "BUY",
    type: "LIMIT",
    timeInForce: "GTC",
    quantity: "0.01",
    price: p.mul(D("0.6")).roundDown(TICK).toString(),
  });
  sim.core.engine.cancelOrder(1, "BTCUSDT", { orderId: gone.orderId as number }, sim.core.marketTime());
  const stop = p.mul(D("0.985")).roundDown(TICK);
  const oco = sim.core.engine.placeOco(
    1,
    {
      symbol: "BTCUSDT",
      side: "SELL",
      quantity: D("0.05"),
      listClientOrderId: "keep-me",
      above: { type: "LIMIT_MAKER", price: p.mul(D("1.015")).roundUp(TICK) },
      below: {
        type: "STOP_LOSS_LIMIT",
        stopPrice: stop,
        price: stop.mul(D("0.999")).roundDown(TICK),
        timeInForce: "GTC",
      },
    },
    sim.core.marketTime(),
  );
  // the snapshot falls between price points, with time gone by since the orders
  sim.clock.advance({ ms: 60_000 });
  return { sim, a, b, listId: oco.list.orderListId };
}

describe("simulator snapshots", () => {
  it("restores accounts, balances, orders, lists, trades and id counters from JSON", async () => {
    const { sim, a, b, listId } = await buildState();
    const snap = sim.snapshot();
    expect(snap.version).toBe(1);
    const json = JSON.parse(JSON.stringify(snap));
    const back = await createSimulator({ restore: json });

    expect(back.snapshot()).toEqual(snap);
    expect(back.clock.state()).toEqual(sim.clock.state());
    for (const k of [a.apiKey, b.apiKey]) expect(back.accountView(k)).toEqual(sim.accountView(k));
    expect(back.core.account(b.apiKey).secretKey).toBe(b.secretKey);
    expect(back.accountView(b.apiKey).commission).toEqual({
      maker: "0.00050000",
      taker: "0.00075000",
      asset: "quote",
    });
    expect(back.accountView(b.apiKey).permissions.enableWithdrawals).toBe(true);
    expect(back.orders()).toEqual(sim.orders());
    expect(back.orders({ status: "open" })).toHaveLength(3);
    const lists = back.core.engine.openOrderLists(1);
    expect(lists.map((l) => [l.orderListId, l.listClientOrderId, l.orders.map((o) => o.status)])).toEqual([
      [listId, "keep-me", ["NEW", "NEW"]],
    ]);
    expect(back.core.engine.orderListOf(lists[0].orders[0].orderId)).toBe(lists[0]);
    expect(back.core.engine.myTrades(1, "BTCUSDT", {})).toEqual(sim.core.engine.myTrades(1, "BTCUSDT", {}));
    expect(back.core.engine.myTrades(1, "BTCUSDT", {})).toHaveLength(1);

    // ids go on from where they were, never reused, and generated client ids do not repeat
    const next = (s: Simulator) =>
      s.injectOrder({
        apiKey: a.apiKey,
        symbol: "BTCUSDT",
        side: "BUY",
        type: "LIMIT",
        timeInForce: "GTC",
        quantity: "0.01",
        price: "1000",
      });
    const [x, y] = [next(sim), next(back)];
    expect(y.orderId).toBe(x.orderId);
    expect(y.clientOrderId).toBe(x.clientOrderId);
    expect(y.orderId as number).toBeGreaterThan(
      Math.max(
        ...sim
          .orders()
          .slice(0, -1)
          .map((o) => o.orderId as number),
      ),
    );
  });

  it("a restored OCO fills exactly as the original does when the clock moves on", async () => {
    const { sim, listId } = await buildState();
    const back = await createSimulator({ restore: JSON.parse(JSON.stringify(sim.snapshot())) });
    const list = (s: Simulator) => s.core.engine.getOrderList(1, { orderListId: listId });
    for (let i = 0; i < 20 && list(sim).listOrderStatus === "EXECUTING"; i++) {
      sim.clock.advance({ candles: 6 });
      back.clock.advance({ candles: 6 });
    }
    expect(list(sim).listOrderStatus).toBe("ALL_DONE");
    expect(list(back).listOrderStatus).toBe("ALL_DONE");
    expect(
      list(back)
        .orders.map((o) => o.status)
        .sort(),
    ).toEqual(
      list(sim)
        .orders.map((o) => o.status)
        .sort(),
    );
    expect(list(back).orders.some((o) => o.status === "FILLED")).toBe(true);
    expect(back.orders()).toEqual(sim.orders());
    expect(back.accountViews()).toEqual(sim.accountViews());
    expect(back.core.engine.allTrades(1)).toEqual(sim.core.engine.allTrades(1));
    expect(back.snapshot()).toEqual(sim.snapshot());
  });

  it("keeps open orders always but only the newest finished orders and trades per account", async () => {
    const { sim } = await buildState();
    const snap = sim.snapshot(1);
    // of account 1's two finished orders (the market buy, the cancelled limit) only the newer stays
    expect(snap.engine.orders.filter((o) => o.status === "FILLED" || o.status === "CANCELED")).toEqual([
      expect.objectContaining({ status: "CANCELED" }),
    ]);
    expect(snap.engine.orders.filter((o) => o.status === "NEW")).toHaveLength(3);
    expect(snap.engine.trades).toHaveLength(1);
    const back = await createSimulator({ restore: snap });
    expect(back.orders({ status: "open" })).toEqual(sim.orders({ status: "open" }));
  });

  it("refuses a bad snapshot with a clear error instead of restoring part of it", async () => {
    const { sim } = await buildState();
    const good = () => JSON.parse(JSON.stringify(sim.snapshot())) as any;
    const refused = async (snap: unknown, msg: RegExp) => {
      const p = createSimulator({ restore: snap });
      await expect(p).rejects.toThrow(SnapshotError);
      await expect(p).rejects.toThrow(msg);
    };
    await refused({ ...good(), version: 99 }, /version 99 is not supported/);
    await refused("nope", /snapshot must be an object/);
    const negative = good();
    negative.accounts[0].balances.USDT.free = "-1";
    await refused(negative, /accounts\[0\]\.balances\.USDT\.free must be a non-negative decimal/);
    const reused = good();
    reused.engine.nextOrderId = 2;
    await refused(reused, /order id \d+ is not below its counter 2/);
    const orphan = good();
    orphan.engine.lists = [];
    await refused(orphan, /belongs to a missing list/);
    const late = good();
    late.clock.time = Date.parse("2040-01-01");
    await refused(late, /outside the replay data/);
    const noSymbol = good();
    noSymbol.engine.orders[0].symbol = "DOGEUSDT";
    await refused(noSymbol, /DOGEUSDT is not in the replay data/);
  });
});

describe("a realtime replay restored", () => {
  it("resumes at the saved replay time and runs on at its speed from there", async () => {
    let wall = 1_800_000_000_000;
    const timers = { setTimeout: () => 0, clearTimeout: () => undefined };
    const a = await createSimulator({ speed: 1800, from: FROM, now: () => wall, timers });
    const snap = JSON.parse(JSON.stringify(a.snapshot())) as SimSnapshot;
    await a.close();
    wall += 60_000; // the restart took a minute of wall time
    const b = await createSimulator({ restore: snap, now: () => wall, timers });
    // reading the clock before the replay starts must not run it from the epoch
    expect(b.clock.state().time).toBe(snap.clock.time);
    wall += 1000;
    expect(b.clock.state().time).toBe(snap.clock.time + 1000 * 1800);
    await b.close();
  });
});
