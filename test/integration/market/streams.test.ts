// Stream ownership between market-data nodes sharing one database: only the lease holder streams
// and publishes a series, a node that stops renewing is deposed and fenced off while another takes
// the stream over and back-fills, a stopping node hands its streams over at once, subscriptions
// outlive the node that took them, and a strategy's subscription holds its series only while the
// strategy is active.
import type { BrokerOptions } from "moleculer";
import { QueryTypes } from "sequelize";
import { KlineStore } from "../../../src/adapters/market/kline-store";
import { startServices, type TestCluster } from "../../support/broker";
import { AS_OPERATOR, AS_STRATEGY, H, bundled, eventually, startMarketEnv, type MarketEnv } from "./helpers";

jest.setTimeout(60_000);

const TTL = 3000;
const FROM = Date.parse("2023-03-20T00:00:00Z");
const SERIES = { symbol: "BTCUSDT", interval: "1h" };

let env: MarketEnv | undefined;
const extra: TestCluster[] = [];
afterEach(async () => {
  for (const c of extra.splice(0)) await c.stop().catch(() => {});
  await env?.stop();
  env = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function settings(e: MarketEnv) {
  return {
    exchange: { kind: "sim", restUrl: e.sim.baseUrl },
    watch: [],
    loadBundled: false,
    staleAfterMs: 0,
    reconnect: { baseMs: 20, maxMs: 200 },
    backfillBackoff: { baseMs: 20, maxMs: 200 },
    streamLeaseTtlMs: TTL,
  };
}

async function start(): Promise<MarketEnv> {
  return startMarketEnv({ from: "2023-03-20T00:00:00Z", settings: { streamLeaseTtlMs: TTL } });
}

/** Another market-data node on the same database; what it publishes is logged as `<tag>.closed`. */
async function node(e: MarketEnv, tag: string, broker?: Partial<BrokerOptions>): Promise<TestCluster> {
  const c = await startServices(["market-data"], {
    settings: { "market-data": settings(e) },
    broker,
    extra: [
      {
        name: "market-listener",
        events: {
          "market.candle.closed": (ctx: any) =>
            void e.log.push({ event: `${tag}.closed`, payload: ctx.params }),
        },
      },
    ],
  });
  extra.push(c);
  return c;
}

const closedBy = (e: MarketEnv, event: string) =>
  e.log.filter((r) => r.event === event).map((r) => r.payload.candle);

async function lease(
  e: MarketEnv,
): Promise<{ owner: string | null; token: number; live: boolean } | undefined> {
  const rows = await e.db.sequelize.query<{ owner: string | null; token: number; live: boolean }>(
    `SELECT owner_node AS owner, fencing_token::int AS token, coalesce(expires_at > now(), false) AS live
       FROM market_streams WHERE symbol = $1 AND interval = $2`,
    { bind: [SERIES.symbol, SERIES.interval], type: QueryTypes.SELECT },
  );
  return rows[0];
}

const md = (c: TestCluster): any => c.broker.getLocalService("market-data");

/**
 * Resolves once the node's upstream connection carries exactly the series it holds: a stepped
 * simulator pushes a kline only when its clock moves, so a stream must be subscribed before that.
 */
function streaming(e: MarketEnv, c: TestCluster, n: number): Promise<void> {
  return e.until(() => {
    const held = md(c)
      .ownership.stats()
      .held.map((h: any) => `${h.symbol.toLowerCase()}@kline_${h.interval}`);
    const subscribed: string[] = md(c).stream.stats().subscribed;
    return held.length === n && held.sort().join() === subscribed.join();
  }, `${n} streams subscribed upstream by ${c.broker.nodeID}`);
}
const series = (n: number) => Array.from({ length: n }, (_, i) => bundled("BTCUSDT", FROM + i * H));

test("one node streams a series; when it stops renewing, another takes over, back-fills, and the deposed one is fenced off", async () => {
  env = await start();
  const a = env.cluster;
  const r: any = await a.broker.call("market-data.subscribe", { ...SERIES, subscriber: "s" }, AS_STRATEGY);
  expect(r).toMatchObject({ subscribers: 1, live: true });
  expect(await lease(env)).toMatchObject({ owner: a.broker.nodeID, token: 1, live: true });
  // B joins once A owns the stream: a B already running could win the first claim (a race the
  // product allows; this test is about what happens after)
  const b = await node(env, "b");

  env.sim.clock.advance({ candles: 2 });
  await env.until(() => env!.closed().length === 2, "2 candles from the owner");
  // a few rounds later still exactly one node streams it: one upstream stream, B holds nothing
  await sleep(TTL);
  expect((env.sim.stats() as any).streamSubscribers).toBe(1);
  expect(md(b).ownership.stats().held).toEqual([]);
  await eventually(
    () =>
      env!.db.sequelize.query("SELECT count(*)::int AS n FROM klines WHERE open_time >= $1", {
        bind: [FROM],
        type: QueryTypes.SELECT,
      }),
    (rows: any[]) => rows[0].n === 2,
    "the owner's candles to be stored",
  );

  // A stalls: no renewals, no watchdog, but its feed keeps running and tries to publish
  const oa = md(a).ownership;
  jest.spyOn(oa, "tick").mockResolvedValue(undefined);
  jest.spyOn(oa, "watchdog").mockImplementation(() => {});
  const stalledAt = Date.now();
  const taken = await eventually(
    () => lease(env!),
    (l) => l?.owner === b.broker.nodeID && l.live,
    "B to take the stream over",
    3 * TTL + 5000,
  );
  expect(Date.now() - stalledAt).toBeLessThan(TTL + 5000);
  expect(taken!.token).toBe(2);
  await streaming(env, b, 1);

  env.sim.clock.advance({ candles: 3 });
  await env.until(() => closedBy(env!, "b.closed").length === 3, "the back-filled and live candles from B");
  // the deposed owner saw the same candles but published none of them
  await env.until(() => oa.stats().lost === 1, "A to stop the stream it lost");
  expect(env.closed()).toEqual(series(2));
  expect(oa.stats().fenced).toBeGreaterThanOrEqual(1);
  expect([...env.closed(), ...closedBy(env, "b.closed")]).toEqual(series(5));
  expect(md(b).ownership.stats().held).toEqual([expect.objectContaining({ ...SERIES, fencingToken: 2 })]);
});

test("a node taking over while the market stands still publishes what closed during the hand-over, whatever else is stored", async () => {
  env = await start();
  const a = env.cluster;
  await a.broker.call("market-data.subscribe", { ...SERIES, subscriber: "s" }, AS_STRATEGY);
  const b = await node(env, "b");
  env.sim.clock.advance({ candles: 2 });
  await env.until(() => env!.closed().length === 2, "2 candles from the owner");
  await eventually(
    () => md(a).streams.publishedThrough(SERIES),
    (t) => t === FROM + H,
    "the owner to record how far it published",
  );
  // history the simulator is about to replay, already stored (as the bundled klines are): no
  // stream published it, so it must not tell a successor where to resume
  await new KlineStore(env.db.sequelize).insert(
    SERIES.symbol,
    SERIES.interval,
    Array.from({ length: 10 }, (_, i) => bundled("BTCUSDT", FROM + (10 + i) * H)),
  );

  // A dies as far as anyone can tell: no renewals, nothing it sees gets out
  const oa = md(a).ownership;
  jest.spyOn(oa, "tick").mockResolvedValue(undefined);
  jest.spyOn(oa, "watchdog").mockImplementation(() => {});
  jest.spyOn(oa, "publish").mockImplementation(() => {});
  // a candle closes while nobody publishes, then the market stands still (a minute into the next)
  env.sim.clock.advance({ candles: 1 });
  env.sim.clock.advance({ ms: 60_000 });
  await eventually(
    () => lease(env!),
    (l) => l?.owner === b.broker.nodeID && l.live,
    "B to take the stream over",
    3 * TTL + 5000,
  );
  // no kline moves any more: B finds the missed candle from where the series was published
  await env.until(() => closedBy(env!, "b.closed").length === 1, "the candle closed during the hand-over");
  expect(closedBy(env, "b.closed")).toEqual([bundled("BTCUSDT", FROM + 2 * H)]);
  expect([...env.closed(), ...closedBy(env, "b.closed")]).toEqual(series(3));
});

test("a stopping node hands its streams over at once, and stored subscriptions outlive every node that served them", async () => {
  env = await start();
  const a = env.cluster;
  await a.broker.call("market-data.subscribe", { ...SERIES, subscriber: "s" }, AS_STRATEGY);
  expect(await lease(env)).toMatchObject({ owner: a.broker.nodeID, live: true });
  const b = await node(env, "b");
  env.sim.clock.advance({ candles: 2 });
  await env.until(() => env!.closed().length === 2, "2 candles from A");

  const stoppedAt = Date.now();
  await a.stop(); // gives the lease back after storing what it published
  await eventually(
    () => lease(env!),
    (l) => l?.owner === b.broker.nodeID,
    "B to take the stream over",
  );
  // no waiting for expiry: the next round of B took it
  expect(Date.now() - stoppedAt).toBeLessThan(TTL);
  await streaming(env, b, 1);
  env.sim.clock.advance({ candles: 2 });
  await env.until(() => closedBy(env!, "b.closed").length === 2, "2 candles from B");

  // B stops too; a new node finds the subscription in the database without anyone subscribing again
  extra.splice(extra.indexOf(b), 1);
  await b.stop();
  env.sim.clock.advance({ candles: 1 }); // 04:00 closes while no node runs
  const c = await node(env, "c");
  extra.splice(extra.indexOf(c), 1);
  env.cluster = c;
  await eventually(
    () => lease(env!),
    (l) => l?.owner === c.broker.nodeID,
    "the new node to stream the stored subscription",
  );
  await streaming(env, c, 1);
  env.sim.clock.advance({ candles: 1 });
  await env.until(() => closedBy(env!, "c.closed").length === 2, "the missed candle and the next one from C");
  expect([...env.closed(), ...closedBy(env, "b.closed"), ...closedBy(env, "c.closed")]).toEqual(series(6));
  const subs: any[] = await c.broker.call("market-data.subscriptions", {}, AS_OPERATOR);
  expect(subs).toEqual([
    expect.objectContaining({ ...SERIES, subscribers: ["s"], owner: c.broker.nodeID, fencingToken: 3 }),
  ]);
});

test("a strategy's subscription holds its series only while the strategy is active or stopping", async () => {
  env = await start();
  const { cluster, db } = env;
  const sql = (q: string, bind: unknown[] = []) =>
    db.sequelize.query<any>(q, { bind, type: QueryTypes.SELECT });
  const [u] = await sql(
    `INSERT INTO users (email, password_hash) VALUES ('md@example.com', 'x') RETURNING id`,
  );
  const [s] = await sql(
    `INSERT INTO strategies (user_id, name, symbol, interval, definition, status)
     VALUES ($1, 'S', 'BTCUSDT', '1h', '{}', 'active') RETURNING id`,
    [u.id],
  );
  const actor = `strategy.${s.id}`;
  const sub = (subscriber: string, caller: string, symbol = "BTCUSDT") =>
    cluster.broker.call("market-data.subscribe", { symbol, interval: "1h", subscriber }, { caller });

  expect(await sub(actor, actor)).toMatchObject({ subscribers: 1, live: true });
  await expect(sub("strategy.987654", "strategy.987654")).rejects.toMatchObject({ code: 404 });
  // an operator's subscription has no strategy: it lasts until unsubscribed
  expect(await sub("ops", "repl", "ETHUSDT")).toMatchObject({ subscribers: 1, live: true });
  const [row] = await sql(`SELECT strategy_id::int AS id FROM market_subscriptions WHERE subscriber = $1`, [
    actor,
  ]);
  expect(row.id).toBe(Number(s.id));

  // a stopping strategy still holds it (its actor is winding down)
  await sql(`UPDATE strategies SET status = 'stopping' WHERE id = $1`, [s.id]);
  await sleep(TTL);
  expect(await lease(env)).toMatchObject({ owner: cluster.broker.nodeID, live: true });

  // the strategy ended, its runner gone: nobody unsubscribes, yet the series is let go
  await sql(`UPDATE strategies SET status = 'error' WHERE id = $1`, [s.id]);
  await eventually(
    () => lease(env!),
    (l) => l?.owner === null,
    "the stream to be given back",
  );
  await env.until(
    () => (env!.sim.stats() as any).streamSubscribers === 1,
    "only the operator's stream to remain upstream",
  );
  expect(await sql(`SELECT subscriber FROM market_subscriptions ORDER BY subscriber`)).toEqual([
    { subscriber: "ops" },
  ]);
  const subs: any[] = await cluster.broker.call("market-data.subscriptions", {}, AS_OPERATOR);
  expect(subs.map((x) => [x.symbol, x.subscribers])).toEqual([["ETHUSDT", ["ops"]]]);

  // active again: its actor subscribes again and the series streams
  await sql(`UPDATE strategies SET status = 'active' WHERE id = $1`, [s.id]);
  expect(await sub(actor, actor)).toMatchObject({ subscribers: 1, live: true });
  expect(await lease(env)).toMatchObject({ owner: cluster.broker.nodeID, live: true });
});

test("nodes that see each other split the streams by a fair share, and the survivor takes them all back", async () => {
  // an in-process transporter: both brokers are one cluster, with one registry view
  const cluster: Partial<BrokerOptions> = {
    transporter: "Fake",
    namespace: `md-${process.pid}-${Date.now()}`,
  };
  env = await startMarketEnv({
    from: "2023-03-20T00:00:00Z",
    settings: { streamLeaseTtlMs: TTL },
    broker: cluster,
  });
  const a = env.cluster;
  const all = ["BTCUSDT:1h", "BTCUSDT:2h", "ETHUSDT:1h", "ETHUSDT:2h"];
  for (const k of all) {
    const [symbol, interval] = k.split(":");
    await a.broker.call("market-data.subscribe", { symbol, interval, subscriber: "s" }, AS_STRATEGY);
  }
  expect(md(a).ownership.stats().held).toHaveLength(4);

  const b = await node(env, "b", cluster);
  const held = (c: TestCluster) =>
    md(c)
      .ownership.stats()
      .held.map((h: any) => `${h.symbol}:${h.interval}`);
  await env.until(
    () => held(a).length === 2 && held(b).length === 2,
    "two streams on each node",
    3 * TTL + 5000,
  );
  expect([...held(a), ...held(b)].sort()).toEqual(all);
  await streaming(env, a, 2);
  await streaming(env, b, 2);
  await env.until(() => (env!.sim.stats() as any).streamSubscribers === 4, "one upstream stream per series");

  // whichever node streams a series, each closed candle arrives once, in order
  env.sim.clock.advance({ candles: 2 });
  await env.until(() => env!.closed().length === 6, "2 + 1 candles per symbol");
  for (const symbol of ["BTCUSDT", "ETHUSDT"]) {
    const got = env.log
      .filter((r) => r.event === "market.candle.closed" && r.payload.symbol === symbol)
      .map((r) => `${r.payload.interval}@${(r.payload.candle.openTime - FROM) / H}`);
    expect(got.filter((x) => x.startsWith("1h"))).toEqual(["1h@0", "1h@1"]);
    expect(got.filter((x) => x.startsWith("2h"))).toEqual(["2h@0"]);
  }

  extra.splice(extra.indexOf(b), 1);
  await b.stop();
  await env.until(() => held(a).length === 4, "the survivor to take every stream back", TTL);
});
