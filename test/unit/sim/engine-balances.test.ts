// Balances and commission in exact decimals: free/locked bookkeeping per order type, the
// commission asset per side, partial fills, and a long random run (10,000+ fills) whose
// balances must equal deposits ± fills ∓ commissions to the last satoshi.
import { Decimal } from "../../../src/core/money/decimal";
import { SYMBOLS } from "../../../src/core/market/symbols";
import { MatchingEngine } from "../../../src/sim/engine/engine";
import type { NewOrderRequest, Side } from "../../../src/sim/engine/types";
import { D, engineAt, executions, order, trail } from "./helpers";

describe("balances and commission", () => {
  it("market BUY: pays quote, receives base minus base-asset commission", () => {
    const { engine, accountId } = engineAt("27000.12", {}, { USDT: "1000" });
    const r = engine.placeOrder(accountId, order({ side: "BUY", type: "MARKET", quantity: "0.00123" }), 1);
    expect(
      r.fills.map((f) => [f.price.toString(), f.qty.toString(), f.commission.toFixed(8), f.commissionAsset]),
    ).toEqual([["27000.12", "0.00123", "0.00000123", "BTC"]]);
    expect(r.order.cummulativeQuoteQty.toString()).toBe("33.2101476");
    expect(engine.balance(accountId, "USDT").free.toString()).toBe("966.7898524");
    expect(engine.balance(accountId, "BTC").free.toString()).toBe("0.00122877");
    expect(trail(r.events)).toEqual([
      `exec:NEW:${r.order.orderId}`,
      `exec:TRADE:${r.order.orderId}`,
      "account",
    ]);
  });

  it("market SELL: receives quote minus quote-asset commission, rounded half-up to 8 decimals", () => {
    const { engine, accountId } = engineAt("27000.13", {}, { BTC: "1" });
    const r = engine.placeOrder(accountId, order({ side: "SELL", type: "MARKET", quantity: "0.00123" }), 1);
    // 0.00123 × 27000.13 = 33.2101599; × 0.001 = 0.0332101599 → 0.03321016
    expect(r.fills[0].commission.toFixed(8)).toBe("0.03321016");
    expect(engine.balance(accountId, "USDT").free.toString()).toBe("33.17694974");
    expect(engine.balance(accountId, "BTC").free.toString()).toBe("0.99877");
  });

  it("quoteOrderQty BUY and SELL spend/receive at most the quote amount, quantity on the step", () => {
    const { engine, accountId } = engineAt("27000", {}, { USDT: "1000", BTC: "1" });
    const buy = engine.placeOrder(accountId, order({ side: "BUY", type: "MARKET", quoteOrderQty: "100" }), 1);
    expect(buy.order.origQty.toString()).toBe("0.0037"); // 100/27000 = 0.0037037… → 0.00370
    expect(buy.order.cummulativeQuoteQty.toString()).toBe("99.9");
    expect(buy.order.origQuoteOrderQty.toString()).toBe("100");
    const sell = engine.placeOrder(
      accountId,
      order({ side: "SELL", type: "MARKET", quoteOrderQty: "50" }),
      2,
    );
    expect(sell.order.origQty.toString()).toBe("0.00185");
    expect(sell.order.cummulativeQuoteQty.lte(D("50"))).toBe(true);
  });

  it("limit orders lock funds at placement and release the unspent part", () => {
    const { engine, accountId } = engineAt("100", {}, { USDT: "1000", BTC: "2" });
    const buy = engine.placeOrder(
      accountId,
      order({ side: "BUY", type: "LIMIT", price: "99", quantity: "3", timeInForce: "GTC" }),
      1,
    );
    expect([
      engine.balance(accountId, "USDT").free.toString(),
      engine.balance(accountId, "USDT").locked.toString(),
    ]).toEqual(["703", "297"]);
    engine.placeOrder(
      accountId,
      order({ side: "SELL", type: "LIMIT", price: "110", quantity: "1.5", timeInForce: "GTC" }),
      1,
    );
    expect([
      engine.balance(accountId, "BTC").free.toString(),
      engine.balance(accountId, "BTC").locked.toString(),
    ]).toEqual(["0.5", "1.5"]);
    // the price gaps below the limit: the buy fills at 90, the 27 USDT not spent go back to free
    engine.onPrice("BTCUSDT", D("90"), 2, true);
    expect(engine.getOrder(accountId, "BTCUSDT", { orderId: buy.order.orderId }).status).toBe("FILLED");
    expect([
      engine.balance(accountId, "USDT").free.toString(),
      engine.balance(accountId, "USDT").locked.toString(),
    ]).toEqual(["730", "0"]);
    expect(engine.balance(accountId, "BTC").free.toString()).toBe("3.497"); // 0.5 + 3 − 0.003 commission
  });

  it("rejects an order the free balance cannot cover, without changing anything", () => {
    const { engine, accountId } = engineAt("100", {}, { USDT: "99.99" });
    expect(() =>
      engine.placeOrder(accountId, order({ side: "BUY", type: "MARKET", quantity: "1" }), 1),
    ).toThrow("Account has insufficient balance for requested action.");
    expect(() =>
      engine.placeOrder(
        accountId,
        order({ side: "SELL", type: "LIMIT", price: "100", quantity: "0.1", timeInForce: "GTC" }),
        1,
      ),
    ).toThrow("Account has insufficient balance for requested action.");
    expect(engine.balance(accountId, "USDT").free.toString()).toBe("99.99");
    expect(engine.allOrdersEverywhere()).toHaveLength(0);
  });

  it("partial fills when configured: PARTIALLY_FILLED per price update, then FILLED", () => {
    const { engine, accountId } = engineAt("100", { partialFillRatio: "0.25" }, { USDT: "1000" });
    const r = engine.placeOrder(
      accountId,
      order({ side: "BUY", type: "LIMIT", price: "99", quantity: "1", timeInForce: "GTC" }),
      1,
    );
    const statuses: string[] = [];
    for (let i = 0; i < 5; i++) {
      const ev = executions(engine.onPrice("BTCUSDT", D("98.5"), 10 + i));
      statuses.push(...ev.map((e) => `${e.order.status}:${e.fill?.qty.toString()}`));
    }
    expect(statuses).toEqual([
      "PARTIALLY_FILLED:0.25",
      "PARTIALLY_FILLED:0.25",
      "PARTIALLY_FILLED:0.25",
      "FILLED:0.25",
    ]);
    expect(
      engine.getOrder(accountId, "BTCUSDT", { orderId: r.order.orderId }).cummulativeQuoteQty.toString(),
    ).toBe("99");
    // a market order is split into several fills within one request
    const m = engine.placeOrder(accountId, order({ side: "BUY", type: "MARKET", quantity: "2" }), 20);
    expect(m.fills.map((f) => f.qty.toString())).toEqual(["0.5", "0.5", "0.5", "0.5"]);
    expect(executions(m.events).map((e) => e.order.status)).toEqual([
      "NEW",
      "PARTIALLY_FILLED",
      "PARTIALLY_FILLED",
      "PARTIALLY_FILLED",
      "FILLED",
    ]);
  });

  it("with partial fills, IOC keeps its first chunk and FOK expires whole (also when a stop-limit triggers)", () => {
    const { engine, accountId } = engineAt("100", { partialFillRatio: "0.5" }, { USDT: "1000", BTC: "2" });
    const ioc = engine.placeOrder(
      accountId,
      order({ side: "BUY", type: "LIMIT", price: "101", quantity: "1", timeInForce: "IOC" }),
      1,
    );
    expect([ioc.order.status, ioc.order.executedQty.toString()]).toEqual(["EXPIRED", "0.5"]);
    const fok = engine.placeOrder(
      accountId,
      order({ side: "BUY", type: "LIMIT", price: "101", quantity: "1", timeInForce: "FOK" }),
      1,
    );
    expect([fok.order.status, fok.order.executedQty.toString()]).toEqual(["EXPIRED", "0"]);
    const stop = engine.placeOrder(
      accountId,
      order({
        side: "SELL",
        type: "STOP_LOSS_LIMIT",
        stopPrice: "99",
        price: "98",
        quantity: "1",
        timeInForce: "FOK",
      }),
      1,
    );
    engine.onPrice("BTCUSDT", D("98.5"), 2);
    const s = engine.getOrder(accountId, "BTCUSDT", { orderId: stop.order.orderId });
    expect([s.status, s.executedQty.toString(), s.expiryReason]).toEqual([
      "EXPIRED",
      "0",
      "UNFILLED_FOK_ORDER_EXPIRED",
    ]);
    expect(engine.balance(accountId, "BTC").locked.isZero()).toBe(true);
  });

  it("applies market slippage against the trader, rounded to the tick", () => {
    const { engine, accountId } = engineAt("100.00", { slippageBps: "15" }, { USDT: "1000", BTC: "1" });
    const b = engine.placeOrder(accountId, order({ side: "BUY", type: "MARKET", quantity: "1" }), 1);
    const s = engine.placeOrder(accountId, order({ side: "SELL", type: "MARKET", quantity: "1" }), 1);
    expect([b.fills[0].price.toString(), s.fills[0].price.toString()]).toEqual(["100.15", "99.85"]);
  });
});

describe("10,000 random fills keep balances exact", () => {
  // deterministic generator so a failure reproduces
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
  ])("%s", (_name, partialFillRatio) => {
    const r = rng(partialFillRatio ? 7 : 42);
    const engine = new MatchingEngine(
      { makerCommission: "0.00075", takerCommission: "0.001", partialFillRatio },
      [SYMBOLS.BTCUSDT],
    );
    const deposits = { USDT: D("1000000"), BTC: D("20") };
    const acc = engine.createAccount({ ...deposits });
    const id = acc.id;
    let price = D("27000");
    engine.onPrice("BTCUSDT", price, 0, true);
    const tick = D("0.01");
    const qty = () => Decimal.of(BigInt(1 + Math.floor(r() * 20000)), 5); // 0.00001 … 0.2
    let t = 1;
    const trades = () => engine.allTrades(id).length;
    while (trades() < 10_000) {
      t++;
      const x = r();
      const side: Side = r() < 0.5 ? "BUY" : "SELL";
      let req: NewOrderRequest | undefined;
      if (x < 0.3) req = { symbol: "BTCUSDT", side, type: "MARKET", quantity: qty() };
      else if (x < 0.55) {
        const off = Decimal.of(BigInt(Math.floor(r() * 5000)), 2);
        const p = side === "BUY" ? price.sub(off) : price.add(off);
        req = {
          symbol: "BTCUSDT",
          side,
          type: "LIMIT",
          timeInForce: "GTC",
          quantity: qty(),
          price: p.roundDown(tick),
        };
      } else if (x < 0.6) {
        const off = Decimal.of(BigInt(1 + Math.floor(r() * 5000)), 2);
        req = {
          symbol: "BTCUSDT",
          side,
          type: "STOP_LOSS",
          quantity: qty(),
          stopPrice: side === "SELL" ? price.sub(off) : price.add(off),
        };
      } else if (x < 0.62) {
        try {
          engine.placeOco(
            id,
            {
              symbol: "BTCUSDT",
              side: "SELL",
              quantity: qty(),
              above: { type: "LIMIT_MAKER", price: price.add(D("20")) },
              below: { type: "STOP_LOSS", stopPrice: price.sub(D("20")) },
            },
            t,
          );
        } catch {
          // insufficient balance or notional: rejected orders change nothing
        }
      } else if (x < 0.65) {
        const open = engine.openOrders(id);
        if (open.length)
          engine.cancelOrder(id, "BTCUSDT", { orderId: open[Math.floor(r() * open.length)].orderId }, t);
      } else {
        // random walk; sometimes a gap
        const step = Decimal.of(BigInt(Math.floor((r() - 0.5) * (r() < 0.05 ? 40000 : 4000))), 2);
        price = Decimal.max(D("1000"), price.add(step));
        engine.onPrice("BTCUSDT", price, t, r() < 0.05);
      }
      if (req) {
        try {
          engine.placeOrder(id, req, t);
        } catch {
          // rejected: nothing changes
        }
      }
      for (const a of ["USDT", "BTC"]) {
        const b = engine.balance(id, a);
        if (b.free.isNegative() || b.locked.isNegative())
          throw new Error(`${a} went negative at step ${t}: ${b.free} / ${b.locked}`);
      }
      if (engine.openOrders(id).length > 60) engine.cancelAllOpen(id, "BTCUSDT", t);
    }
    if (engine.openOrders(id).length) engine.cancelAllOpen(id, "BTCUSDT", t + 1);
    // replay the ledger from the trades alone (mismatches are collected: one expect per check is slow)
    const problems: string[] = [];
    let usdt = deposits.USDT;
    let btc = deposits.BTC;
    for (const tr of engine.allTrades(id)) {
      const rate = tr.isMaker ? D("0.00075") : D("0.001");
      if (tr.isBuyer) {
        if (tr.commissionAsset !== "BTC" || !tr.commission.eq(tr.qty.mul(rate).round(8, "halfUp")))
          problems.push(`trade ${tr.id}: commission ${tr.commission} ${tr.commissionAsset}`);
        usdt = usdt.sub(tr.quoteQty);
        btc = btc.add(tr.qty).sub(tr.commission);
      } else {
        if (tr.commissionAsset !== "USDT" || !tr.commission.eq(tr.quoteQty.mul(rate).round(8, "halfUp")))
          problems.push(`trade ${tr.id}: commission ${tr.commission} ${tr.commissionAsset}`);
        usdt = usdt.add(tr.quoteQty).sub(tr.commission);
        btc = btc.sub(tr.qty);
      }
      if (!tr.quoteQty.eq(tr.qty.mul(tr.price)))
        problems.push(`trade ${tr.id}: quoteQty ${tr.quoteQty} ≠ ${tr.qty} × ${tr.price}`);
    }
    const u = engine.balance(id, "USDT");
    const b = engine.balance(id, "BTC");
    expect(u.locked.toString()).toBe("0");
    expect(b.locked.toString()).toBe("0");
    expect(u.free.add(u.locked).toString()).toBe(usdt.toString());
    expect(b.free.add(b.locked).toString()).toBe(btc.toString());
    expect(engine.allTrades(id).length).toBeGreaterThanOrEqual(10_000);
    // every order's executed quantity and quote match its trades
    const byOrder = new Map<number, { q: Decimal; z: Decimal }>();
    for (const tr of engine.allTrades(id)) {
      const cur = byOrder.get(tr.orderId) ?? { q: Decimal.ZERO, z: Decimal.ZERO };
      byOrder.set(tr.orderId, { q: cur.q.add(tr.qty), z: cur.z.add(tr.quoteQty) });
    }
    for (const o of engine.allOrdersEverywhere()) {
      const s = byOrder.get(o.orderId) ?? { q: Decimal.ZERO, z: Decimal.ZERO };
      if (!o.executedQty.eq(s.q) || !o.cummulativeQuoteQty.eq(s.z))
        problems.push(
          `order ${o.orderId}: executed ${o.executedQty}/${o.cummulativeQuoteQty} vs trades ${s.q}/${s.z}`,
        );
      if (o.executedQty.gt(o.origQty)) problems.push(`order ${o.orderId}: overfilled`);
    }
    expect(problems).toEqual([]);
  });
});
