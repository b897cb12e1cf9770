// Accounts that pay every fee in the quote asset (commission asset "quote", paper accounts that
// should match the backtest): a BUY receives its whole quantity and pays quantity × price × rate
// in USDT on top, held in its lock from placement; a SELL is charged as by default. Balances are
// checked to the last satoshi, and a random run checks they never go negative.
import { Decimal } from "../../../src/core/money/decimal";
import { SYMBOLS } from "../../../src/core/market/symbols";
import { MatchingEngine, type EngineConfig } from "../../../src/sim/engine/engine";
import type { CommissionAsset, NewOrderRequest, Side } from "../../../src/sim/engine/types";
import { D, order, SYM } from "./helpers";

function quoteAccount(
  price: string,
  balances: Record<string, string>,
  cfg: Partial<EngineConfig> = {},
  commission: { maker?: string; taker?: string; asset?: CommissionAsset } = { asset: "quote" },
) {
  const engine = new MatchingEngine(cfg, [SYMBOLS.BTCUSDT]);
  engine.onPrice(SYM, D(price), 0, true);
  const acc = engine.createAccount(Object.fromEntries(Object.entries(balances).map(([k, v]) => [k, D(v)])), {
    maker: commission.maker !== undefined ? D(commission.maker) : undefined,
    taker: commission.taker !== undefined ? D(commission.taker) : undefined,
    asset: commission.asset,
  });
  const bal = (asset: string) => {
    const b = engine.balance(acc.id, asset);
    return [b.free.toString(), b.locked.toString()];
  };
  return { engine, accountId: acc.id, bal };
}

describe('commission asset "quote"', () => {
  it("market BUY: receives the whole quantity and pays the fee in USDT on top of the notional", () => {
    const { engine, accountId, bal } = quoteAccount("27000.12", { USDT: "1000" });
    const r = engine.placeOrder(accountId, order({ side: "BUY", type: "MARKET", quantity: "0.00123" }), 1);
    // notional 0.00123 × 27000.12 = 33.2101476; fee × 0.001 = 0.0332101476 → 0.03321015 (half-up)
    expect(
      r.fills.map((f) => [f.price.toString(), f.qty.toString(), f.commission.toFixed(8), f.commissionAsset]),
    ).toEqual([["27000.12", "0.00123", "0.03321015", "USDT"]]);
    expect(r.order.cummulativeQuoteQty.toString()).toBe("33.2101476");
    // 1000 − 33.2101476 − 0.03321015
    expect(bal("USDT")).toEqual(["966.75664225", "0"]);
    expect(bal("BTC")).toEqual(["0.00123", "0"]);
    expect(engine.allTrades(accountId).map((t) => [t.commission.toString(), t.commissionAsset])).toEqual([
      ["0.03321015", "USDT"],
    ]);
  });

  it("market SELL: charged exactly as by default (quote received minus the quote fee)", () => {
    const quote = quoteAccount("27000.13", { BTC: "1" });
    const received = quoteAccount("27000.13", { BTC: "1" }, {}, {});
    for (const { engine, accountId } of [quote, received])
      engine.placeOrder(accountId, order({ side: "SELL", type: "MARKET", quantity: "0.00123" }), 1);
    // 0.00123 × 27000.13 = 33.2101599; fee 0.03321016 → 33.17694974
    expect(quote.bal("USDT")).toEqual(["33.17694974", "0"]);
    expect(quote.bal("BTC")).toEqual(["0.99877", "0"]);
    expect([quote.bal("USDT"), quote.bal("BTC")]).toEqual([received.bal("USDT"), received.bal("BTC")]);
    expect(quote.engine.allTrades(quote.accountId)[0].commissionAsset).toBe("USDT");
  });

  it("quoteOrderQty BUY: the notional stays within quoteOrderQty, the fee is paid on top", () => {
    const { engine, accountId, bal } = quoteAccount("27000", { USDT: "100" });
    const r = engine.placeOrder(accountId, order({ side: "BUY", type: "MARKET", quoteOrderQty: "100" }), 1);
    // 100 / 27000 = 0.0037037… → 0.0037 (step 0.00001); notional 99.9, fee 0.0999: 99.9999 of 100
    expect([r.order.origQty.toString(), r.order.cummulativeQuoteQty.toString()]).toEqual(["0.0037", "99.9"]);
    expect(r.fills[0].commission.toString()).toBe("0.0999");
    expect(bal("USDT")).toEqual(["0.0001", "0"]);
    expect(bal("BTC")).toEqual(["0.0037", "0"]);
  });

  it("refuses a BUY whose quote covers the notional but not the fee, and changes nothing", () => {
    // 0.0037 BTC at 27000: notional 99.9, fee 0.0999
    const short = quoteAccount("27000", { USDT: "99.9998" });
    for (const req of [
      order({ side: "BUY", type: "MARKET", quantity: "0.0037" }),
      order({ side: "BUY", type: "MARKET", quoteOrderQty: "99.99" }), // also 0.0037
      order({ side: "BUY", type: "LIMIT", price: "27000", quantity: "0.0037", timeInForce: "GTC" }),
    ])
      expect(() => short.engine.placeOrder(short.accountId, req, 1)).toThrow(
        "Account has insufficient balance for requested action.",
      );
    expect(short.bal("USDT")).toEqual(["99.9998", "0"]);
    expect(short.engine.allOrdersEverywhere()).toHaveLength(0);
    // by default the same account pays its fee in BTC and can buy
    const received = quoteAccount("27000", { USDT: "99.9998" }, {}, {});
    received.engine.placeOrder(
      received.accountId,
      order({ side: "BUY", type: "MARKET", quantity: "0.0037" }),
      1,
    );
    expect(received.bal("USDT")).toEqual(["0.0998", "0"]);
    expect(received.bal("BTC")).toEqual(["0.0036963", "0"]);
    // one satoshi more covers it exactly
    const exact = quoteAccount("27000", { USDT: "99.9999" });
    exact.engine.placeOrder(exact.accountId, order({ side: "BUY", type: "MARKET", quantity: "0.0037" }), 1);
    expect(exact.bal("USDT")).toEqual(["0", "0"]);
    expect(exact.bal("BTC")).toEqual(["0.0037", "0"]);
  });

  it("a resting limit BUY locks notional + fee at the higher rate, fills as maker, releases the rest", () => {
    const { engine, accountId, bal } = quoteAccount(
      "100",
      { USDT: "1000" },
      {},
      { maker: "0.0005", taker: "0.001", asset: "quote" },
    );
    engine.placeOrder(
      accountId,
      order({ side: "BUY", type: "LIMIT", price: "99", quantity: "3", timeInForce: "GTC" }),
      1,
    );
    // lock 3 × 99 = 297 + 297 × 0.001 = 0.297
    expect(bal("USDT")).toEqual(["702.703", "297.297"]);
    // gap below the limit: fills at 90 as maker, 270 + 270 × 0.0005 = 270.135 spent
    engine.onPrice(SYM, D("90"), 2, true);
    const [t] = engine.allTrades(accountId);
    expect([t.isMaker, t.commission.toString(), t.commissionAsset]).toEqual([true, "0.135", "USDT"]);
    expect(bal("USDT")).toEqual(["729.865", "0"]);
    expect(bal("BTC")).toEqual(["3", "0"]);
  });

  it("a BUY OCO locks the dearer leg's notional plus its fee; the filled leg pays the fee in USDT", () => {
    const { engine, accountId, bal } = quoteAccount("100", { USDT: "1000" });
    engine.placeOco(
      accountId,
      {
        symbol: SYM,
        side: "BUY",
        quantity: D("2"),
        above: { type: "STOP_LOSS", stopPrice: D("110") },
        below: { type: "LIMIT_MAKER", price: D("90") },
      },
      1,
    );
    // 2 × 110 = 220 + 0.22
    expect(bal("USDT")).toEqual(["779.78", "220.22"]);
    engine.onPrice(SYM, D("111"), 2); // continuous: the stop fills at 110
    expect(bal("USDT")).toEqual(["779.78", "0"]); // 1000 − 220 − 0.22
    expect(bal("BTC")).toEqual(["2", "0"]);
  });

  it("with partial fills, the lock also holds what rounding each fill's fee on its own can add", () => {
    // 0.0003 at 27000.5 in two fills of 0.00015: each fee 0.004050075 → 0.00405008, together
    // 0.00810016, one satoshi more than the fee of the whole (0.00810015). Notional 8.10015.
    const cfg = { partialFillRatio: "0.5" };
    const buy = order({ side: "BUY", type: "MARKET", quantity: "0.0003" });
    const whole = "8.10825015"; // notional + the fee of the whole order
    const tight = quoteAccount("27000.5", { USDT: whole }, cfg);
    expect(() => tight.engine.placeOrder(tight.accountId, buy, 1)).toThrow(
      "Account has insufficient balance for requested action.",
    );
    expect(tight.bal("USDT")).toEqual([whole, "0"]);
    // the reserve is one satoshi per fill; what the rounding did not use is released
    const ok = quoteAccount("27000.5", { USDT: "8.10825017" }, cfg);
    const r = ok.engine.placeOrder(ok.accountId, buy, 1);
    expect(r.fills.map((f) => f.commission.toString())).toEqual(["0.00405008", "0.00405008"]);
    expect(ok.bal("USDT")).toEqual(["0.00000001", "0"]);
    expect(ok.bal("BTC")).toEqual(["0.0003", "0"]);
  });

  it("the default and an explicit 'received' behave identically", () => {
    const a = quoteAccount("27000.12", { USDT: "1000" }, {}, {});
    const b = quoteAccount("27000.12", { USDT: "1000" }, {}, { asset: "received" });
    for (const { engine, accountId } of [a, b])
      engine.placeOrder(accountId, order({ side: "BUY", type: "MARKET", quantity: "0.00123" }), 1);
    expect(a.bal("USDT")).toEqual(["966.7898524", "0"]);
    expect(a.bal("BTC")).toEqual(["0.00122877", "0"]);
    expect([b.bal("USDT"), b.bal("BTC")]).toEqual([a.bal("USDT"), a.bal("BTC")]);
    expect(b.engine.account(b.accountId).commissionAsset).toBe("received");
  });
});

describe('random fills with commission asset "quote", buying with nearly all the cash', () => {
  function rng(seed: number) {
    let s = seed >>> 0;
    return () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s / 2 ** 32;
    };
  }

  it.each([
    ["whole fills", undefined],
    ["partial fills", "0.3"],
  ])("%s: balances never go negative and equal the ledger of notionals and USDT fees", (_n, ratio) => {
    const r = rng(ratio ? 11 : 5);
    const maker = D("0.00075");
    const taker = D("0.001");
    const engine = new MatchingEngine(
      { makerCommission: "0.00075", takerCommission: "0.001", partialFillRatio: ratio },
      [SYMBOLS.BTCUSDT],
    );
    const deposits = { USDT: D("3000"), BTC: D("0.1") };
    const id = engine.createAccount({ ...deposits }, { asset: "quote" }).id;
    let price = D("27000");
    engine.onPrice(SYM, price, 0, true);
    const tick = D("0.01");
    const step = D("0.00001");
    // Buys are sized from the free cash, often to within the fee of all of it: that is where a
    // fee not held in the lock would take the balance below zero.
    const share = () => Decimal.of(BigInt(9900 + Math.floor(r() * 101)), 4); // 0.99 … 1.0
    const free = (a: string) => engine.balance(id, a).free;
    let t = 1;
    let refused = 0;
    while (engine.allTrades(id).length < 3000 && t < 200_000) {
      t++;
      const x = r();
      const side: Side = r() < 0.5 ? "BUY" : "SELL";
      const sellQty = () =>
        Decimal.max(
          step,
          free("BTC")
            .mul(Decimal.of(BigInt(3 + Math.floor(r() * 8)), 1))
            .roundDown(step),
        );
      const buyQty = (p: Decimal) => free("USDT").mul(share()).div(p, 5, "down");
      let req: NewOrderRequest | undefined;
      if (x < 0.25) {
        const quantity = side === "BUY" ? buyQty(price) : sellQty();
        req = { symbol: SYM, side, type: "MARKET", quantity };
      } else if (x < 0.35) {
        const quoteOrderQty =
          side === "BUY" ? free("USDT").mul(share()).roundDown(tick) : free("BTC").mul(price).roundDown(tick);
        req = { symbol: SYM, side, type: "MARKET", quoteOrderQty };
      } else if (x < 0.5) {
        const off = Decimal.of(BigInt(Math.floor(r() * 5000)), 2);
        const p = (side === "BUY" ? price.sub(off) : price.add(off)).roundDown(tick);
        const quantity = side === "BUY" ? buyQty(p) : sellQty();
        req = { symbol: SYM, side, type: "LIMIT", timeInForce: "GTC", quantity, price: p };
      } else if (x < 0.55) {
        const off = Decimal.of(BigInt(1 + Math.floor(r() * 5000)), 2);
        const stopPrice = side === "SELL" ? price.sub(off) : price.add(off);
        const quantity = side === "BUY" ? buyQty(stopPrice) : sellQty();
        req = { symbol: SYM, side, type: "STOP_LOSS", quantity, stopPrice };
      } else if (x < 0.6) {
        const open = engine.openOrders(id);
        if (open.length)
          engine.cancelOrder(id, SYM, { orderId: open[Math.floor(r() * open.length)].orderId }, t);
      } else {
        const move = Decimal.of(BigInt(Math.floor((r() - 0.5) * (r() < 0.05 ? 40000 : 4000))), 2);
        price = Decimal.max(D("1000"), price.add(move));
        engine.onPrice(SYM, price, t, r() < 0.05);
      }
      if (req) {
        try {
          engine.placeOrder(id, req, t);
        } catch {
          refused++;
        }
      }
      for (const a of ["USDT", "BTC"]) {
        const b = engine.balance(id, a);
        if (b.free.isNegative() || b.locked.isNegative())
          throw new Error(`${a} went negative at step ${t}: ${b.free} / ${b.locked}`);
      }
      if (engine.openOrders(id).length > 5) engine.cancelAllOpen(id, SYM, t);
    }
    if (engine.openOrders(id).length) engine.cancelAllOpen(id, SYM, t + 1);
    expect(engine.allTrades(id).length).toBeGreaterThanOrEqual(3000);
    expect(refused).toBeGreaterThan(100);
    const problems: string[] = [];
    let usdt = deposits.USDT;
    let btc = deposits.BTC;
    for (const tr of engine.allTrades(id)) {
      const fee = tr.quoteQty.mul(tr.isMaker ? maker : taker).round(8, "halfUp");
      if (tr.commissionAsset !== "USDT" || !tr.commission.eq(fee))
        problems.push(`trade ${tr.id}: commission ${tr.commission} ${tr.commissionAsset}`);
      if (tr.isBuyer) {
        usdt = usdt.sub(tr.quoteQty).sub(tr.commission);
        btc = btc.add(tr.qty);
      } else {
        usdt = usdt.add(tr.quoteQty).sub(tr.commission);
        btc = btc.sub(tr.qty);
      }
    }
    expect(problems).toEqual([]);
    const u = engine.balance(id, "USDT");
    const b = engine.balance(id, "BTC");
    expect([u.locked.toString(), b.locked.toString()]).toEqual(["0", "0"]);
    expect([u.free.toString(), b.free.toString()]).toEqual([usdt.toString(), btc.toString()]);
  });
});
