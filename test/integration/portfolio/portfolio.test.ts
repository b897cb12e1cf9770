// The portfolio over the API with simulator accounts: value over several keys and assets at the
// venue's prices, P&L and fees on hand-computed fixtures (partial fills, fees in the base and the
// quote asset, several round trips), performance metrics equal to the backtest engine's on the same
// equity series, and caching with invalidation by events.
import type { ServiceBroker } from "moleculer";
import { rowsToColumns } from "../../../src/adapters/backtest/candles";
import { bundledSeries } from "../../../src/adapters/klines/files";
import { performanceMetrics, resample, TradeBook } from "../../../src/adapters/portfolio/performance";
import { runBacktest } from "../../../src/core/backtest/engine";
import { Decimal } from "../../../src/core/money/decimal";
import { REPL_CALLER } from "../../../src/runtime/repl-commands";
import {
  http,
  registerAndLogin,
  startSecurityEnv,
  type SecurityEnv,
  type Session,
} from "../security/helpers";
import { addKey, addStrategy, q } from "../history/support";

jest.setTimeout(180_000);

let env: SecurityEnv;
let base: string;
let broker: ServiceBroker;
let simUrl: string;
const previousSimUrl = process.env.SIM_URL;

const D = (s: string) => Decimal.parse(s);
const money = (v: Decimal) => v.round(8, "halfEven").toString();

async function simAccount(balances: Record<string, string>) {
  return broker.call<{ apiKey: string; secretKey: string }, Record<string, unknown>>(
    "exchange-sim.createAccount",
    { balances },
    { caller: REPL_CALLER },
  );
}

async function price(symbol: string): Promise<string> {
  const res = await fetch(`${simUrl}/api/v3/ticker/price?symbol=${symbol}`);
  return ((await res.json()) as { price: string }).price;
}

/** The simulator's replay clock (step mode: it stands still unless a test moves it). */
async function venueNow(): Promise<number> {
  const res = await fetch(`${simUrl}/sim/v1/clock`);
  return ((await res.json()) as { time: number }).time;
}

beforeAll(async () => {
  env = await startSecurityEnv({
    services: ["api", "auth", "exchange-sim", "portfolio"],
    settings: {
      "exchange-sim": { port: 0, step: true },
      portfolio: { snapshotIntervalMs: 0, eventDebounceMs: 50 },
    },
  });
  base = env.cluster.baseUrl;
  broker = env.cluster.broker;
  const info = await broker.call<{ baseUrl: string }, Record<string, never>>(
    "exchange-sim.info",
    {},
    {
      caller: REPL_CALLER,
    },
  );
  simUrl = info.baseUrl;
  process.env.SIM_URL = simUrl;
});

afterAll(async () => {
  await env?.stop();
  if (previousSimUrl === undefined) delete process.env.SIM_URL;
  else process.env.SIM_URL = previousSimUrl;
});

async function userWithAccounts(balances: Record<string, string>[]): Promise<{ s: Session; keys: number[] }> {
  const s = await registerAndLogin(base);
  const keys: number[] = [];
  for (const [i, b] of balances.entries()) {
    const acc = await simAccount(b);
    keys.push(
      await addKey(env.db.sequelize, s.id, { paper: i === 0, apiKey: acc.apiKey, secret: acc.secretKey }),
    );
  }
  return { s, keys };
}

test("the value of several keys and assets at the venue's prices, in exact decimals", async () => {
  const { s } = await userWithAccounts([
    { USDT: "1000", BTC: "0.5" },
    { USDT: "250.5", ETH: "2.125" },
  ]);
  const [btc, eth] = await Promise.all([price("BTCUSDT"), price("ETHUSDT")]);
  const res = await http(base, "GET", "/portfolio", { token: s.accessToken });
  expect(res.status).toBe(200);
  const expected = D("1000")
    .add(D("0.5").mul(D(btc)))
    .add(D("250.5"))
    .add(D("2.125").mul(D(eth)));
  expect(res.body.totalValue).toBe(money(expected));
  expect(res.body.complete).toBe(true);
  expect(res.body.accounts.map((a: any) => [a.mode, a.status])).toEqual([
    ["live", "ok"],
    ["paper", "ok"],
  ]);
  const assets = Object.fromEntries(res.body.assets.map((a: any) => [a.asset, a]));
  expect(assets.USDT).toMatchObject({ free: "1250.5", locked: "0", total: "1250.5", value: "1250.5" });
  expect(assets.BTC.value).toBe(money(D("0.5").mul(D(btc))));
  expect(assets.ETH.value).toBe(money(D("2.125").mul(D(eth))));
  const paper = await http(base, "GET", "/portfolio?mode=paper", { token: s.accessToken });
  expect(paper.body.totalValue).toBe(money(D("1000").add(D("0.5").mul(D(btc)))));
});

test("P&L and fees on hand-computed fixtures: partial fills, base and quote fees, several round trips", async () => {
  const sq = env.db.sequelize;
  // a paper key: its records carry the venue's times, and its windows end at the venue's "now"
  const { s, keys } = await userWithAccounts([{ USDT: "100" }]);
  const key = keys[0];
  const strat = await addStrategy(sq, s.id, key, "fixture strategy");
  const now = new Date(await venueNow()).toISOString();
  const order = async (
    symbol: string,
    side: string,
    role: string,
    qty: string,
    quote: string,
    list?: string,
  ) => {
    const [o] = await q<{ id: string }>(
      sq,
      `INSERT INTO orders (user_id, strategy_id, api_key_id, intent_id, client_order_id, symbol, side, type, role, state,
                           quantity, filled_qty, cumulative_quote, order_list_id)
       VALUES ($1, $2, $3, $4, $4, $5, $6, 'MARKET', $7, 'FILLED', $8, $8, $9, $10) RETURNING id`,
      [s.id, strat, key, `fx-${s.id}-${Math.random()}`, symbol, side, role, qty, quote, list ?? null],
    );
    return o.id;
  };
  const fill = (
    orderId: string,
    symbol: string,
    side: string,
    price: string,
    qty: string,
    fee: string,
    asset: string,
    daysAgo = 0,
  ) =>
    sq.query(
      `INSERT INTO fills (order_id, user_id, symbol, exchange_trade_id, side, price, qty, quote_qty, commission,
                          commission_asset, executed_at)
       VALUES ($1, $2, $3, $4, $5, $6::numeric, $7::numeric, $6::numeric * $7::numeric, $8, $9,
               $11::timestamptz - make_interval(days => $10))`,
      { bind: [orderId, s.id, symbol, `tr-${Math.random()}`, side, price, qty, fee, asset, daysAgo, now] },
    );

  // BTC entry in two partial fills, fees in BTC: 0.004 @ 20000 and 0.006 @ 20100
  const e1 = await order("BTCUSDT", "BUY", "entry", "0.01", "200.6");
  await fill(e1, "BTCUSDT", "BUY", "20000", "0.004", "0.000004", "BTC");
  await fill(e1, "BTCUSDT", "BUY", "20100", "0.006", "0.000006", "BTC");
  await sq.query(
    `INSERT INTO positions (user_id, strategy_id, api_key_id, entry_order_id, symbol, qty, entry_price, entry_fees, opened_at, protection)
     VALUES ($1, $2, $3, $4, 'BTCUSDT', 0.00999, 20060, 0.2006, now(), 'protected')`,
    { bind: [s.id, strat, key, e1] },
  );
  // ETH entry with a quote fee, then a take-profit leg that sold part of it (fee in USDT)
  const e2 = await order("ETHUSDT", "BUY", "entry", "0.5", "750");
  await fill(e2, "ETHUSDT", "BUY", "1500", "0.5", "0.75", "USDT");
  const [p2] = await q<{ id: string }>(
    sq,
    `INSERT INTO positions (user_id, strategy_id, api_key_id, entry_order_id, symbol, qty, entry_price, entry_fees, opened_at, protection)
     VALUES ($1, $2, $3, $4, 'ETHUSDT', 0.5, 1500, 0.75, now(), 'protected') RETURNING id`,
    [s.id, strat, key, e2],
  );
  const [list] = await q<{ id: string }>(
    sq,
    `INSERT INTO order_lists (user_id, strategy_id, api_key_id, symbol, list_client_order_id, quantity, position_id, state)
     VALUES ($1, $2, $3, 'ETHUSDT', $4, 0.5, $5, 'EXECUTING') RETURNING id`,
    [s.id, strat, key, `list-${s.id}`, p2.id],
  );
  const tp = await order("ETHUSDT", "SELL", "take_profit", "0.5", "320", list.id);
  await fill(tp, "ETHUSDT", "SELL", "1600", "0.2", "0.32", "USDT");
  // an old fill (40 days) and a fee paid in BNB
  const old = await order("BTCUSDT", "SELL", "exit", "0.001", "25");
  await fill(old, "BTCUSDT", "SELL", "25000", "0.001", "0.5", "USDT", 40);
  const bnb = await order("BTCUSDT", "SELL", "exit", "0.001", "25");
  await fill(bnb, "BTCUSDT", "SELL", "25000", "0.001", "0.01", "BNB");
  // closed round trips: today, 3, 10 and 40 days ago
  for (const [pnl, days] of [
    ["12.5", 0],
    ["-4.25", 3],
    ["7.125", 10],
    ["-1.5", 40],
  ] as const)
    await sq.query(
      `INSERT INTO trades (user_id, strategy_id, api_key_id, symbol, qty, entry_time, entry_price, exit_time, exit_price, fees, pnl, exit_reason)
       VALUES ($1, $2, $3, 'BTCUSDT', 0.01, $6::timestamptz - make_interval(days => $5) - interval '1 hour', 20000,
               $6::timestamptz - make_interval(days => $5), 20100, 0.4, $4, 'signal')`,
      { bind: [s.id, strat, key, pnl, days, now] },
    );

  const [btc, eth] = await Promise.all([price("BTCUSDT"), price("ETHUSDT")]);
  const res = await http(base, "GET", "/portfolio", { token: s.accessToken });
  expect(res.status).toBe(200);
  const byId = Object.fromEntries(res.body.positions.map((p: any) => [p.symbol, p]));
  // BTC: 0.00999 held (0.01 bought less 0.00001 paid in BTC), cost 80 + 120.6 = 200.6
  const btcPnl = D("0.00999").mul(D(btc)).sub(D("200.6"));
  expect(byId.BTCUSDT).toMatchObject({
    qty: "0.00999",
    entryPrice: "20060",
    currentPrice: btc,
    costBasis: "200.6",
    marketValue: money(D("0.00999").mul(D(btc))),
    unrealizedPnl: money(btcPnl),
    unrealizedPnlPct: btcPnl.mul(D("100")).div(D("200.6"), 4, "halfEven").toString(),
    strategy: "fixture strategy",
  });
  // ETH: 0.3 held; cost 750 + 0.75 fee; the take-profit brought 320 − 0.32
  const ethPnl = D("0.3").mul(D(eth)).add(D("319.68")).sub(D("750.75"));
  expect(byId.ETHUSDT).toMatchObject({
    qty: "0.3",
    costBasis: "750.75",
    unrealizedPnl: money(ethPnl),
    unrealizedPnlPct: ethPnl.mul(D("100")).div(D("750.75"), 4, "halfEven").toString(),
  });
  expect(res.body.unrealizedPnl).toBe(money(btcPnl.add(ethPnl)));
  expect(res.body.realizedPnl).toEqual({ today: "12.5", d7: "8.25", d30: "15.375", all: "13.875" });
  // 0.000004 × 20000 + 0.000006 × 20100 (BTC fees at their fills' prices) + 0.75 + 0.32; +0.5 forty days ago
  expect(res.body.fees).toEqual({
    today: "1.2706",
    d7: "1.2706",
    d30: "1.2706",
    all: "1.7706",
    otherAssets: { BNB: "0.01" },
  });
  // another user sees none of it
  const other = await registerAndLogin(base);
  const theirs = await http(base, "GET", "/portfolio", { token: other.accessToken });
  expect(theirs.body.positions).toEqual([]);
  expect(theirs.body.realizedPnl.all).toBe("0");
  expect(theirs.text).not.toContain("fixture strategy");
});

const H = 3_600_000;

test("performance metrics equal the backtest engine's on the same equity series", () => {
  const cols = rowsToColumns(bundledSeries("BTCUSDT", "1h"));
  const strategy = {
    name: "parity",
    symbol: "BTCUSDT",
    interval: "1h",
    indicators: { fast: { type: "EMA", period: 8 }, slow: { type: "EMA", period: 21 } },
    entry: { crossesAbove: ["fast", "slow"] },
    exit: { crossesBelow: ["fast", "slow"] },
    risk: { positionSizePct: 50, takeProfitPct: 4, stopLossPct: 2 },
  };
  const r = runBacktest({ strategy: strategy as any, candles: cols, from: "2023-05-01", to: "2023-08-31" });
  // a stretch of the bundled history without a missing candle: the engine marks equity per candle,
  // the portfolio per step of its grid, and those agree only where every step has its candle
  expect(r.trades.length).toBeGreaterThan(5);
  const n = r.equityValue.length;
  const firstOpen = r.info.firstCandleTime;
  const rows = Array.from(r.equityValue, (equity, i) => ({ time: r.equityTime[i], equity }));
  const series = resample(
    rows,
    { time: firstOpen - 1, equity: r.info.initialBalance },
    firstOpen,
    r.equityTime[n - 1],
    H,
  )!;
  expect(Array.from(series.equity)).toEqual(Array.from(r.equityValue));
  expect(Array.from(series.time)).toEqual(Array.from(r.equityTime));
  const book = new TradeBook();
  for (const [i, t] of r.trades.entries())
    book.add(
      { id: String(i), strategy_id: "1", symbol: "BTCUSDT", pnl: t.pnl, fees: t.fees, exit_ms: t.exitTime },
      ["s:1"],
    );
  const exposed = Math.round((r.metrics.exposurePct * n) / 100);
  const m = performanceMetrics(series, book, exposed, r.metrics.skippedOrders);
  const { feesPaid, ...rest } = m;
  const { feesPaid: engineFees, ...engineRest } = r.metrics;
  expect(rest).toEqual(engineRest);
  expect(feesPaid).toBeCloseTo(engineFees, 6);
});

test("the performance route computes the same metrics from stored snapshots and trades", async () => {
  const sq = env.db.sequelize;
  const { s, keys } = await userWithAccounts([{ USDT: "1000" }]);
  const strat = await addStrategy(sq, s.id, keys[0], "perf strategy");
  // a paper key: its curve and trades are on the venue's clock
  const now = await venueNow();
  const points: { time: number; equity: number }[] = [];
  let e = 1000;
  for (let i = 0; i < 120; i++) {
    e = e * (1 + Math.sin(i / 5) / 100);
    points.push({ time: now - 6 * 86_400_000 + i * 4_000_000, equity: Math.round(e * 1e6) / 1e6 });
  }
  await sq.query(
    `INSERT INTO equity_snapshots (user_id, time, equity, mode)
     SELECT $1, to_timestamp((p->>'time')::float8 / 1000), (p->>'equity')::numeric, 'paper'
       FROM jsonb_array_elements($2::jsonb) p`,
    { bind: [s.id, JSON.stringify([{ time: now - 8 * 86_400_000, equity: 1000 }, ...points])] },
  );
  const pnls = [5.5, -2.25, 3, -1, 8];
  for (const [i, pnl] of pnls.entries())
    await sq.query(
      `INSERT INTO trades (user_id, strategy_id, api_key_id, symbol, qty, entry_time, entry_price, exit_time, exit_price, fees, pnl, exit_reason)
       VALUES ($1, $2, $3, $4, 1, $7::timestamptz - interval '3 days', 1, $7::timestamptz - make_interval(hours => $5), 1,
               0.25, $6, 'signal')`,
      {
        bind: [s.id, strat, keys[0], i % 2 ? "ETHUSDT" : "BTCUSDT", 50 - i, pnl, new Date(now).toISOString()],
      },
    );
  const res = await http(base, "GET", "/portfolio/performance?range=7d&mode=paper", { token: s.accessToken });
  expect(res.status).toBe(200);
  const to = Date.parse(res.body.to);
  expect(to).toBe(now);
  const from = Date.parse(res.body.from);
  const series = resample(points, { time: now - 8 * 86_400_000, equity: 1000 }, from, to)!;
  const book = new TradeBook();
  for (const pnl of pnls) book.add({ id: "", strategy_id: "", symbol: "", pnl, fees: 0.25, exit_ms: 0 }, []);
  const expected = performanceMetrics(series, book, 0, 0);
  expect(res.body.metrics).toEqual(JSON.parse(JSON.stringify(expected)));
  expect(res.body.equity).toHaveLength(series.equity.length);
  expect(res.body.byStrategy).toEqual([
    expect.objectContaining({
      strategy: "perf strategy",
      trades: 5,
      pnl: 13.25,
      winRatePct: 60,
      profitFactor: 16.5 / 3.25,
    }),
  ]);
  expect(res.body.bySymbol.map((x: any) => [x.symbol, x.trades])).toEqual([
    ["BTCUSDT", 3],
    ["ETHUSDT", 2],
  ]);
});

test("answers are cached per user and dropped by trading events; events take snapshots", async () => {
  const sq = env.db.sequelize;
  const { s, keys } = await userWithAccounts([{ USDT: "500" }]);
  const first = await http(base, "GET", "/portfolio", { token: s.accessToken });
  expect(first.body.realizedPnl.all).toBe("0");
  await sq.query(
    `INSERT INTO trades (user_id, api_key_id, symbol, qty, entry_time, entry_price, exit_time, exit_price, fees, pnl, exit_reason)
     VALUES ($1, $2, 'BTCUSDT', 1, now(), 1, now(), 1, 0, 42.5, 'signal')`,
    { bind: [s.id, keys[0]] },
  );
  // cached: the new trade is not seen until an event says something changed
  expect((await http(base, "GET", "/portfolio", { token: s.accessToken })).body.realizedPnl.all).toBe("0");
  await broker.broadcast("position.closed", { userId: s.id, positionId: 1, pnl: "42.5" });
  let seen = "";
  for (let i = 0; i < 50 && seen !== "42.5"; i++) {
    await new Promise((r) => setTimeout(r, 50));
    seen = (await http(base, "GET", "/portfolio", { token: s.accessToken })).body.realizedPnl.all;
  }
  expect(seen).toBe("42.5");
  // the event also led to a snapshot of the paper account
  let snaps: { equity: string; mode: string }[] = [];
  for (let i = 0; i < 50 && !snaps.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    snaps = await q(sq, `SELECT equity::text, mode FROM equity_snapshots WHERE user_id = $1`, [s.id]);
  }
  expect(snaps).toEqual([{ equity: "500.0000000000", mode: "paper" }]);
});

test("a paper account's windows and snapshots run on its venue's clock, a live account's on ours", async () => {
  const sq = env.db.sequelize;
  const { s, keys } = await userWithAccounts([{ USDT: "100" }, { USDT: "200" }]);
  const [paperKey, liveKey] = keys;
  const venue = await venueNow();
  // the simulator replays a past market: its "today" is not this machine's
  expect(Math.abs(Date.now() - venue)).toBeGreaterThan(2 * 86_400_000);
  const trade = (key: number, exit: number, pnl: string) =>
    sq.query(
      `INSERT INTO trades (user_id, api_key_id, symbol, qty, entry_time, entry_price, exit_time, exit_price, fees, pnl, exit_reason)
       VALUES ($1, $2, 'BTCUSDT', 1, $3::timestamptz - interval '1 hour', 1, $3::timestamptz, 1, 0, $4, 'signal')`,
      { bind: [s.id, key, new Date(exit).toISOString(), pnl] },
    );
  await trade(paperKey, venue, "3");
  await trade(paperKey, venue - 10 * 86_400_000, "5");
  await trade(liveKey, Date.now(), "7");
  await trade(liveKey, Date.now() - 40 * 86_400_000, "11");
  const get = async (path: string) => {
    const res = await http(base, "GET", path, { token: s.accessToken });
    expect(res.status).toBe(200);
    return res.body.realizedPnl;
  };
  expect(await get("/portfolio?mode=paper")).toEqual({ today: "3", d7: "3", d30: "8", all: "8" });
  expect(await get("/portfolio?mode=live")).toEqual({ today: "7", d7: "7", d30: "7", all: "18" });
  expect(await get("/portfolio")).toEqual({ today: "10", d7: "10", d30: "15", all: "26" });

  const before = Date.now();
  await broker.call("portfolio.snapshotNow", { userId: s.id }, { caller: REPL_CALLER });
  const snaps = await q<{ mode: string; t: string; taken: string }>(
    sq,
    `SELECT mode, (extract(epoch FROM time) * 1000)::float8::text AS t,
            (extract(epoch FROM taken_at) * 1000)::float8::text AS taken
       FROM equity_snapshots WHERE user_id = $1 ORDER BY mode`,
    [s.id],
  );
  expect(snaps.map((x) => x.mode)).toEqual(["live", "paper"]);
  const [live, paper] = snaps;
  expect(Number(paper.t)).toBe(venue);
  expect(Number(live.t)).toBeGreaterThanOrEqual(before - 1000);
  // whether a snapshot was due is this machine's question either way
  for (const x of snaps) expect(Number(x.taken)).toBeGreaterThanOrEqual(before - 1000);
  const perf = await http(base, "GET", "/portfolio/performance?range=30d&mode=paper", {
    token: s.accessToken,
  });
  expect(perf.status).toBe(200);
  expect(Date.parse(perf.body.to)).toBe(venue);
  // both paper trades lie within 30 days of the venue's "now" (none of ours would)
  expect(perf.body.bySymbol.map((x: any) => [x.symbol, x.trades, x.pnl])).toEqual([["BTCUSDT", 2, 8]]);
});
