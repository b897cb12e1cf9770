// Paper accounts that pay every fee in the quote asset (commission asset "quote"), seen the way
// AURA's services see them: created through the admin API or the exchange-sim service, traded
// through ccxt. Every report of a fill (the order response, myTrades, the user-data stream) names
// USDT as the commission asset, and GET /api/v3/account shows the whole bought quantity.
import { Errors, ServiceBroker } from "moleculer";
import ExchangeSimService from "../../services/exchange-sim.service";
import { bundledSeries } from "../../src/adapters/klines/files";
import { Decimal } from "../../src/core/money/decimal";
import type { Simulator } from "../../src/sim";
import { REPL_CALLER } from "../../src/runtime/repl-commands";
import { admin, ccxt, ccxtFor, closeCcxt, signed, startSim } from "./helpers";

const FROM = Date.parse("2023-06-01T00:00:00Z");
const open = Decimal.parse(bundledSeries("BTCUSDT", "1h").find((r) => r[0] === FROM)![1]);

let sim: Simulator;
let ex: any;
let creds: { apiKey: string; secretKey: string };

beforeAll(async () => {
  sim = await startSim({ from: FROM });
  const r = await admin(sim, "POST", "/accounts", {
    balances: { USDT: "10000" },
    commission: { asset: "quote" },
  });
  expect(r.status).toBe(201);
  creds = r.body;
  ex = await ccxtFor(sim, creds);
  await ex.loadMarkets();
});

afterAll(async () => {
  await closeCcxt(ex);
  await sim?.close();
});

describe('commission asset "quote" through ccxt', () => {
  it("the admin API records the choice and refuses an unknown asset", async () => {
    const view = await admin(sim, "GET", `/accounts/${creds.apiKey}`);
    expect(view.body.commission).toEqual({ maker: "0.00100000", taker: "0.00100000", asset: "quote" });
    const other = await admin(sim, "POST", "/accounts", { balances: { USDT: "1" } });
    expect((await admin(sim, "GET", `/accounts/${other.body.apiKey}`)).body.commission.asset).toBe(
      "received",
    );
    const bad = await admin(sim, "POST", "/accounts", { commission: { asset: "BNB" } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain("commission.asset");
  });

  it("a market buy reports its fee in USDT, and the account holds the whole quantity", async () => {
    const trades = ex.watchMyTrades("BTC/USDT");
    await sim.whenUserStream(creds.apiKey);
    const buy = await ex.createOrder("BTC/USDT", "market", "buy", 0.01);
    const notional = open.mul(Decimal.parse("0.01"));
    const fee = notional.mul(Decimal.parse("0.001")).round(8, "halfUp");
    expect([buy.status, buy.filled, buy.average]).toEqual(["closed", 0.01, open.toNumber()]);
    expect(buy.fee).toEqual({ currency: "USDT", cost: fee.toNumber() });
    expect(buy.info.fills.map((f: any) => [f.commission, f.commissionAsset])).toEqual([
      [fee.toFixed(8), "USDT"],
    ]);
    // the user-data stream's executionReport (N) says the same
    let seen = await trades;
    while (!seen.some((t: any) => t.order === buy.id)) seen = await ex.watchMyTrades("BTC/USDT");
    const streamed = seen.find((t: any) => t.order === buy.id);
    expect(streamed.fee).toEqual({ currency: "USDT", cost: fee.toNumber() });

    const account = await signed(sim, creds, "GET", "/api/v3/account", {});
    expect(account.body.balances).toEqual([
      { asset: "BTC", free: "0.01000000", locked: "0.00000000" },
      { asset: "USDT", free: Decimal.parse("10000").sub(notional).sub(fee).toFixed(8), locked: "0.00000000" },
    ]);
    const balance = await ex.fetchBalance();
    expect(balance.BTC.free).toBe(0.01);
  });

  it("myTrades names USDT as the commission asset of buys and sells alike", async () => {
    const sell = await ex.createOrder("BTC/USDT", "market", "sell", 0.005);
    expect(sell.fee.currency).toBe("USDT");
    const trades = await ex.fetchMyTrades("BTC/USDT");
    expect(trades.map((t: any) => [t.side, t.fee.currency])).toEqual([
      ["buy", "USDT"],
      ["sell", "USDT"],
    ]);
    for (const t of trades) expect(t.info.commissionAsset).toBe("USDT");
    const account = await signed(sim, creds, "GET", "/api/v3/account", {});
    expect(account.body.balances[0]).toEqual({ asset: "BTC", free: "0.00500000", locked: "0.00000000" });
  });

  it("a buy the USDT cannot pay with its fee is refused as insufficient balance", async () => {
    const usdt = (await ex.fetchBalance()).USDT.free;
    // a quote amount equal to the free USDT leaves nothing for the fee
    const buy = ex.createOrder("BTC/USDT", "market", "buy", undefined, undefined, { quoteOrderQty: usdt });
    await expect(buy).rejects.toBeInstanceOf(ccxt.InsufficientFunds);
  });
});

describe("exchange-sim.createAccount", () => {
  it("accepts commission.asset received or quote and refuses anything else", async () => {
    const broker = new ServiceBroker({ logger: false, nodeID: `sim-quote-fees-${process.pid}` });
    broker.createService({
      ...ExchangeSimService,
      settings: { ...ExchangeSimService.settings, port: 0, step: true, from: "2023-06-01" },
    });
    await broker.start();
    try {
      const as = { caller: REPL_CALLER };
      for (const asset of ["received", "quote"]) {
        const acc: any = await broker.call(
          "exchange-sim.createAccount",
          { balances: { USDT: "100" }, commission: { asset } },
          as,
        );
        expect(acc.apiKey).toEqual(expect.any(String));
      }
      await expect(
        broker.call("exchange-sim.createAccount", { commission: { asset: "BNB" } }, as),
      ).rejects.toBeInstanceOf(Errors.ValidationError);
    } finally {
      await broker.stop();
    }
  });
});
