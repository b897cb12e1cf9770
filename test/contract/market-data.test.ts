// Public market data (docs/exchange-contract.md): exchangeInfo with the shared symbol filters, klines
// parameters and errors, tickers, the synthetic book, avgPrice, and a symbol loaded from a
// klines file at start.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { bundledSeries } from "../../src/adapters/klines/files";
import type { Simulator } from "../../src/sim";
import { raw, startSim } from "./helpers";

const HOUR = 3_600_000;
const FROM = Date.parse("2023-06-01T00:00:00Z");
let sim: Simulator;
let dir: string;

beforeAll(async () => {
  // a klines file for another symbol, laid out <SYMBOL>/<interval>/<month>.json
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "aura-sim-klines-"));
  fs.mkdirSync(path.join(dir, "SOLUSDT", "1h"), { recursive: true });
  const eth = bundledSeries("ETHUSDT", "1h").filter(
    (r) => r[0] >= FROM - 48 * HOUR && r[0] < FROM + 48 * HOUR,
  );
  fs.writeFileSync(path.join(dir, "SOLUSDT", "1h", "2023-06-01.json"), JSON.stringify(eth));
  sim = await startSim({ from: FROM, klines: [dir] });
});
afterAll(async () => {
  await sim.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const get = (p: string) => raw(sim, "GET", p);

describe("exchangeInfo", () => {
  it("lists every replayed symbol with exactly the shared filter table (NOTIONAL, never MIN_NOTIONAL)", async () => {
    const r = await get("/api/v3/exchangeInfo");
    expect(r.body.symbols.map((s: any) => s.symbol)).toEqual(["BTCUSDT", "ETHUSDT", "SOLUSDT"]);
    const [btc, eth] = r.body.symbols;
    expect(btc.filters).toEqual([
      {
        filterType: "PRICE_FILTER",
        minPrice: "0.01000000",
        maxPrice: "1000000.00000000",
        tickSize: "0.01000000",
      },
      { filterType: "LOT_SIZE", minQty: "0.00001000", maxQty: "9000.00000000", stepSize: "0.00001000" },
      { filterType: "MARKET_LOT_SIZE", minQty: "0.00000000", maxQty: "100.00000000", stepSize: "0.00000000" },
      {
        filterType: "NOTIONAL",
        minNotional: "5.00000000",
        applyMinToMarket: true,
        maxNotional: "9000000.00000000",
        applyMaxToMarket: false,
        avgPriceMins: 5,
      },
      { filterType: "MAX_NUM_ORDERS", maxNumOrders: 200 },
    ]);
    expect(eth.filters[1]).toEqual({
      filterType: "LOT_SIZE",
      minQty: "0.00010000",
      maxQty: "9000.00000000",
      stepSize: "0.00010000",
    });
    expect(btc).toMatchObject({
      status: "TRADING",
      baseAsset: "BTC",
      quoteAsset: "USDT",
      ocoAllowed: true,
      quoteOrderQtyMarketAllowed: true,
      permissions: [],
      permissionSets: [["SPOT"]],
    });
    expect(btc.orderTypes).toEqual([
      "LIMIT",
      "LIMIT_MAKER",
      "MARKET",
      "STOP_LOSS",
      "STOP_LOSS_LIMIT",
      "TAKE_PROFIT",
      "TAKE_PROFIT_LIMIT",
    ]);
    expect(r.body.rateLimits).toEqual([
      { rateLimitType: "REQUEST_WEIGHT", interval: "MINUTE", intervalNum: 1, limit: 6000 },
      { rateLimitType: "ORDERS", interval: "SECOND", intervalNum: 10, limit: 100 },
      { rateLimitType: "ORDERS", interval: "DAY", intervalNum: 1, limit: 200000 },
      { rateLimitType: "RAW_REQUESTS", interval: "MINUTE", intervalNum: 5, limit: 61000 },
    ]);
    expect(JSON.stringify(r.body)).not.toContain("MIN_NOTIONAL");
  });

  it("filters by symbol / symbols and rejects unknown ones with -1121", async () => {
    expect((await get("/api/v3/exchangeInfo?symbol=ETHUSDT")).body.symbols.map((s: any) => s.symbol)).toEqual(
      ["ETHUSDT"],
    );
    expect(
      (
        await get(`/api/v3/exchangeInfo?symbols=${encodeURIComponent('["SOLUSDT","BTCUSDT"]')}`)
      ).body.symbols.map((s: any) => s.symbol),
    ).toEqual(["SOLUSDT", "BTCUSDT"]);
    expect((await get("/api/v3/exchangeInfo?symbol=DOGEUSDT")).body).toEqual({
      code: -1121,
      msg: "Invalid symbol.",
    });
  });
});

describe("klines", () => {
  it("default limit 500, capped at 1000", async () => {
    expect((await get("/api/v3/klines?symbol=BTCUSDT&interval=1h")).body).toHaveLength(500);
    expect((await get("/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=5000")).body).toHaveLength(1000);
  });

  it.each([
    ["interval=1x", { code: -1120, msg: "Invalid interval." }],
    ["interval=1m", { code: -1120, msg: "Invalid interval." }],
    ["", { code: -1102, msg: "Mandatory parameter 'interval' was not sent, was empty/null, or malformed." }],
    [
      "interval=1h&limit=abc",
      { code: -1100, msg: "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'." },
    ],
    ["interval=1h&startTime=20&endTime=10", { code: -1023, msg: "Start time is greater than end time." }],
  ])("BTCUSDT %s → error", async (q, body) => {
    const r = await get(`/api/v3/klines?symbol=BTCUSDT&${q}`);
    expect([r.status, r.body]).toEqual([400, body]);
  });

  it("serves the loaded symbol's file", async () => {
    const rows = (
      await get(`/api/v3/klines?symbol=SOLUSDT&interval=1h&startTime=${FROM - 48 * HOUR}&limit=48`)
    ).body;
    const eth = bundledSeries("ETHUSDT", "1h").filter((r) => r[0] >= FROM - 48 * HOUR && r[0] < FROM);
    expect(rows).toEqual(eth);
  });
});

describe("tickers, book, average price", () => {
  it("ticker/price for one, some and all symbols", async () => {
    const price = sim.clock.state().symbols[0].price;
    expect((await get("/api/v3/ticker/price?symbol=BTCUSDT")).body).toEqual({ symbol: "BTCUSDT", price });
    expect((await get("/api/v3/ticker/price")).body.map((t: any) => t.symbol)).toEqual([
      "BTCUSDT",
      "ETHUSDT",
      "SOLUSDT",
    ]);
    expect(
      (await get(`/api/v3/ticker/price?symbols=${encodeURIComponent('["ETHUSDT"]')}`)).body.map(
        (t: any) => t.symbol,
      ),
    ).toEqual(["ETHUSDT"]);
  });

  it("ticker/24hr: rolling 24 hours of the replayed candles", async () => {
    const t = (await get("/api/v3/ticker/24hr?symbol=BTCUSDT")).body;
    const now = sim.clock.state().time;
    const day = bundledSeries("BTCUSDT", "1h").filter((r) => r[0] >= now - 24 * HOUR && r[0] < now);
    expect(t).toMatchObject({
      symbol: "BTCUSDT",
      openPrice: day[0][1],
      lastPrice: sim.clock.state().symbols[0].price,
      openTime: now - 24 * HOUR,
      closeTime: now,
    });
    expect(+t.highPrice).toBe(Math.max(...day.map((r) => +r[2])));
    expect(t.count).toBe(day.reduce((a, r) => a + r[8], 0));
    expect(Object.keys(t)).toEqual([
      "symbol",
      "priceChange",
      "priceChangePercent",
      "weightedAvgPrice",
      "prevClosePrice",
      "lastPrice",
      "lastQty",
      "bidPrice",
      "bidQty",
      "askPrice",
      "askQty",
      "openPrice",
      "highPrice",
      "lowPrice",
      "volume",
      "quoteVolume",
      "openTime",
      "closeTime",
      "firstId",
      "lastId",
      "count",
    ]);
  });

  it("depth: sorted sides around the replayed price, lastUpdateId never goes back", async () => {
    const a = (await get("/api/v3/depth?symbol=BTCUSDT&limit=10")).body;
    expect(a.bids).toHaveLength(10);
    expect(a.bids[0][0]).toBe(sim.clock.state().symbols[0].price);
    for (let i = 1; i < 10; i++) {
      expect(+a.bids[i][0]).toBeLessThan(+a.bids[i - 1][0]);
      expect(+a.asks[i][0]).toBeGreaterThan(+a.asks[i - 1][0]);
    }
    expect(+a.asks[0][0]).toBeGreaterThan(+a.bids[0][0]);
    sim.clock.advance({ ms: 10 * 60_000 });
    const b = (await get("/api/v3/depth?symbol=BTCUSDT")).body;
    expect(b.lastUpdateId).toBeGreaterThan(a.lastUpdateId);
    expect(b.bids).toHaveLength(100);
    expect((await get("/api/v3/depth?symbol=BTCUSDT")).body.lastUpdateId).toBe(b.lastUpdateId);
  });

  it("avgPrice", async () => {
    expect((await get("/api/v3/avgPrice?symbol=ETHUSDT")).body).toEqual({
      mins: 5,
      price: sim.clock.state().symbols[1].price,
      closeTime: sim.clock.state().time,
    });
  });
});
