// Live candles from the simulator's kline streams to market.candle.closed: exactly the closed
// candles, in order, equal to the replayed history; continuity across dropped connections and
// across the real exchange gap of 2023-03-24 13:00; forming candles never published as closed;
// one upstream stream per series however many subscribers.
import { AS_OPERATOR, AS_STRATEGY, H, bundled, eventually, startMarketEnv, type MarketEnv } from "./helpers";

jest.setTimeout(30_000);

let env: MarketEnv | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

const t = (iso: string) => Date.parse(iso);
const times = (cs: { openTime: number }[]) => cs.map((c) => new Date(c.openTime).toISOString().slice(0, 13));

test("advancing 10 candles yields exactly 10 closed events per subscribed series, in order, equal to the bundled data", async () => {
  env = await startMarketEnv({ from: "2023-03-20T00:00:00Z" });
  const { cluster, sim } = env;
  for (const symbol of ["BTCUSDT", "ETHUSDT"]) {
    const r: any = await cluster.broker.call(
      "market-data.subscribe",
      { symbol, interval: "1h", subscriber: "test" },
      AS_STRATEGY,
    );
    expect(r).toMatchObject({ symbol, interval: "1h", subscribers: 1, live: true });
  }
  sim.clock.advance({ candles: 10 });
  await env.until(
    () => env!.closed("BTCUSDT").length >= 10 && env!.closed("ETHUSDT").length >= 10,
    "10 closed candles per series",
  );

  const start = t("2023-03-20T00:00:00Z");
  for (const symbol of ["BTCUSDT", "ETHUSDT"]) {
    const got = env.closed(symbol);
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => bundled(symbol, start + i * H)));
  }
  // nothing else was published: the service's own count agrees after the stream went quiet
  const subs: any[] = await cluster.broker.call("market-data.subscriptions", {}, AS_OPERATOR);
  expect(subs.map((s) => [s.symbol, s.published, s.gaps])).toEqual([
    ["BTCUSDT", 10, 0],
    ["ETHUSDT", 10, 0],
  ]);
  expect(env.log.filter((r) => r.event === "market.data.gap")).toEqual([]);
});

test("candles missed while the WebSocket was down are back-filled once each, in order, before newer ones", async () => {
  env = await startMarketEnv({ from: "2023-03-20T00:00:00Z" });
  const { cluster, sim } = env;
  await cluster.broker.call(
    "market-data.subscribe",
    { symbol: "BTCUSDT", interval: "1h", subscriber: "test" },
    AS_STRATEGY,
  );
  sim.clock.advance({ candles: 2 });
  await env.until(() => env!.closed().length === 2, "2 live candles");

  const stream = env.service().stream;
  const down = new Promise<void>((r) => stream.once("disconnected", () => r()));
  // drop every market connection and refuse new ones until the fault is removed
  const fault = sim.faults.add({ kind: "ws-drop", scope: "market", durationMs: 60_000 });
  await down;
  sim.clock.advance({ candles: 3 });
  expect(env.closed()).toHaveLength(2);
  sim.faults.remove(fault.id);
  await env.until(() => env!.closed().length >= 5, "3 back-filled candles");

  sim.clock.advance({ candles: 1 });
  await env.until(() => env!.closed().length >= 6, "the next live candle");
  const start = t("2023-03-20T00:00:00Z");
  expect(env.closed()).toEqual(Array.from({ length: 6 }, (_, i) => bundled("BTCUSDT", start + i * H)));
  expect(stream.stats().reconnects).toBeGreaterThanOrEqual(1);
});

test("the real exchange gap of 2023-03-24 13:00 is reported as a gap, not invented, on a live stream", async () => {
  env = await startMarketEnv({ from: "2023-03-24T09:00:00Z" });
  const { cluster, sim } = env;
  await cluster.broker.call(
    "market-data.subscribe",
    { symbol: "BTCUSDT", interval: "1h", subscriber: "test" },
    AS_STRATEGY,
  );
  sim.clock.advance({ candles: 7 }); // to 16:00: 09, 10, 11, 12, (13 does not exist), 14, 15 close
  await env.until(() => env!.closed().length >= 6, "6 closed candles");

  expect(times(env.closed())).toEqual([
    "2023-03-24T09",
    "2023-03-24T10",
    "2023-03-24T11",
    "2023-03-24T12",
    "2023-03-24T14",
    "2023-03-24T15",
  ]);
  for (const c of env.closed()) expect(c).toEqual(bundled("BTCUSDT", c.openTime));
  const order = env.log
    .filter((r) => r.event !== "market.candle.updated")
    .map((r) =>
      r.event === "market.data.gap" ? "gap" : new Date(r.payload.candle.openTime).toISOString().slice(11, 13),
    );
  expect(order).toEqual(["09", "10", "11", "12", "gap", "14", "15"]);
  const gap = env.log.find((r) => r.event === "market.data.gap")!.payload;
  expect(gap).toEqual({
    symbol: "BTCUSDT",
    interval: "1h",
    from: t("2023-03-24T13:00:00Z"),
    to: t("2023-03-24T13:00:00Z"),
    missing: 1,
    reason: "exchange",
  });
});

test("a disconnect across the real gap: back-fill delivers every candle once and reports the missing hour", async () => {
  env = await startMarketEnv({ from: "2023-03-24T11:00:00Z" });
  const { cluster, sim } = env;
  await cluster.broker.call(
    "market-data.subscribe",
    { symbol: "BTCUSDT", interval: "1h", subscriber: "test" },
    AS_STRATEGY,
  );
  sim.clock.advance({ candles: 1 });
  await env.until(() => env!.closed().length === 1, "11:00 live");

  const stream = env.service().stream;
  const down = new Promise<void>((r) => stream.once("disconnected", () => r()));
  const fault = sim.faults.add({ kind: "ws-drop", scope: "market", durationMs: 60_000 });
  await down;
  sim.clock.advance({ candles: 3 }); // to 15:00: 12 and 14 close while disconnected
  sim.faults.remove(fault.id);
  await env.until(() => env!.closed().length >= 3, "back-filled 12:00 and 14:00");
  sim.clock.advance({ candles: 1 });
  await env.until(() => env!.closed().length >= 4, "15:00 live");

  expect(times(env.closed())).toEqual(["2023-03-24T11", "2023-03-24T12", "2023-03-24T14", "2023-03-24T15"]);
  for (const c of env.closed()) expect(c).toEqual(bundled("BTCUSDT", c.openTime));
  const gaps = env.log.filter((r) => r.event === "market.data.gap").map((r) => r.payload);
  expect(gaps).toEqual([
    {
      symbol: "BTCUSDT",
      interval: "1h",
      from: t("2023-03-24T13:00:00Z"),
      to: t("2023-03-24T13:00:00Z"),
      missing: 1,
      reason: "exchange",
    },
  ]);
});

test("forming candles reach market.candle.updated (throttled) but never market.candle.closed", async () => {
  env = await startMarketEnv({ from: "2023-03-20T00:00:00Z", settings: { updateThrottleMs: 60_000 } });
  const { cluster, sim } = env;
  await cluster.broker.call(
    "market-data.subscribe",
    { symbol: "BTCUSDT", interval: "1h", subscriber: "test" },
    AS_STRATEGY,
  );
  sim.clock.advance({ ms: 50 * 60_000 }); // 50 minutes into the candle: a dozen intrabar pushes
  const sent = (sim.stats() as any).streamMessagesSent as number;
  expect(sent).toBeGreaterThan(3);
  await env.until(() => env!.service().stream.stats().messages === sent, "every intrabar push to arrive");
  await env.until(() => env!.log.some((r) => r.event === "market.candle.updated"), "an intrabar update");
  expect(env.closed()).toEqual([]);
  const updates = env.log.filter((r) => r.event === "market.candle.updated");
  // one per throttle window, however many pushes
  expect(updates).toHaveLength(1);
  expect(updates[0].payload.candle.openTime).toBe(t("2023-03-20T00:00:00Z"));
  expect(updates[0].payload.candle).not.toEqual(bundled("BTCUSDT", t("2023-03-20T00:00:00Z")));

  sim.clock.advance({ candles: 1 });
  await env.until(() => env!.closed().length === 1, "the candle to close");
  expect(env.closed()).toEqual([bundled("BTCUSDT", t("2023-03-20T00:00:00Z"))]);
});

test("two subscribers share one upstream stream, re-subscribing does not double count, the last unsubscribe closes it", async () => {
  env = await startMarketEnv({ from: "2023-03-20T00:00:00Z" });
  const { cluster, sim } = env;
  const call = (action: string, subscriber: string) =>
    cluster.broker.call(
      `market-data.${action}`,
      { symbol: "BTCUSDT", interval: "1h", subscriber },
      AS_STRATEGY,
    );
  expect(await call("subscribe", "strategy-a")).toMatchObject({ subscribers: 1 });
  expect(await call("subscribe", "strategy-b")).toMatchObject({ subscribers: 2 });
  // a restarted strategy subscribes again with the same id
  expect(await call("subscribe", "strategy-a")).toMatchObject({ subscribers: 2 });
  expect(sim.stats()).toMatchObject({ connections: { market: 1 }, streamSubscribers: 1 });
  const subs: any[] = await cluster.broker.call("market-data.subscriptions", {}, AS_OPERATOR);
  expect(subs).toEqual([
    expect.objectContaining({ symbol: "BTCUSDT", interval: "1h", subscribers: ["strategy-a", "strategy-b"] }),
  ]);

  sim.clock.advance({ candles: 1 });
  await env.until(() => env!.closed().length === 1, "one candle");

  expect(await call("unsubscribe", "strategy-a")).toMatchObject({ subscribers: 1 });
  expect(sim.stats()).toMatchObject({ connections: { market: 1 }, streamSubscribers: 1 });
  expect(await call("unsubscribe", "strategy-b")).toMatchObject({ subscribers: 0 });
  await env.until(
    () => (sim.stats() as any).streamSubscribers === 0 && (sim.stats() as any).connections.market === 0,
    "the upstream stream to close",
  );
  expect(env.service().stream.stats().wanted).toEqual([]);
  expect(await cluster.broker.call("market-data.subscriptions", {}, AS_OPERATOR)).toEqual([]);

  // with nobody subscribed nothing is published
  sim.clock.advance({ candles: 1 });
  const again: any = await call("subscribe", "strategy-c");
  expect(again).toMatchObject({ subscribers: 1, live: true });
  expect(env.closed()).toHaveLength(1);
});

test("a silent stream is reported stale, the service turns degraded, and recovers when data flows again", async () => {
  env = await startMarketEnv({ from: "2023-03-20T00:00:00Z", settings: { staleAfterMs: 300 } });
  const { cluster, sim } = env;
  await cluster.broker.call(
    "market-data.subscribe",
    { symbol: "BTCUSDT", interval: "1h", subscriber: "test" },
    AS_STRATEGY,
  );
  // step mode: the simulator sends nothing until the clock moves
  await env.until(() => env!.log.some((r) => r.event === "market.data.stale"), "market.data.stale", 5000);
  const stale = env.log.find((r) => r.event === "market.data.stale")!.payload;
  expect(stale).toMatchObject({ symbol: "BTCUSDT", interval: "1h", thresholdMs: 300 });
  expect(stale.silentForMs).toBeGreaterThan(300);
  expect(env.service().health()).toMatchObject({ status: "degraded" });
  // the detector reconnected the stream
  await env.until(
    () => env!.service().stream.stats().reconnects >= 1 && env!.service().stream.stats().connected,
    "a reconnect",
  );

  sim.clock.advance({ candles: 1 });
  await env.until(() => env!.closed().length === 1, "a candle after recovery");
  // In step mode the stream falls silent again after each step, and goes stale once more 300 ms
  // later: a loaded machine can sleep through that window. Data flowing means steps keep coming.
  const stepping = setInterval(() => sim.clock.advance({ candles: 1 }), 100);
  try {
    await env.until(() => env!.service().health().status === "up", "health back to up");
  } finally {
    clearInterval(stepping);
  }
});

test("before the connection age limit a fresh connection takes over without losing or repeating a candle", async () => {
  env = await startMarketEnv({ from: "2023-03-20T00:00:00Z", settings: { maxConnectionAgeMs: 400 } });
  const { cluster, sim } = env;
  await cluster.broker.call(
    "market-data.subscribe",
    { symbol: "BTCUSDT", interval: "1h", subscriber: "test" },
    AS_STRATEGY,
  );
  const stream = env.service().stream;
  sim.clock.advance({ candles: 1 });
  await env.until(() => env!.closed().length === 1, "a candle on the first connection");
  await env.until(
    () => stream.stats().rotations >= 1 && stream.stats().sockets === 1 && stream.stats().connected,
    "a completed rotation",
  );
  expect(stream.stats().reconnects).toBe(0);
  await env.until(() => (sim.stats() as any).connections.market === 1, "the old connection to close");
  sim.clock.advance({ candles: 2 });
  await env.until(() => env!.closed().length === 3, "candles on the new connection");
  const start = t("2023-03-20T00:00:00Z");
  expect(env.closed()).toEqual(Array.from({ length: 3 }, (_, i) => bundled("BTCUSDT", start + i * H)));
});

test("a gateway node's subscriptions are released when it leaves the cluster; others stay", async () => {
  env = await startMarketEnv({ from: "2023-03-20T00:00:00Z" });
  const call = (action: string, subscriber: string, caller: string) =>
    env!.cluster.broker.call(
      `market-data.${action}`,
      { symbol: "BTCUSDT", interval: "1h", subscriber },
      { caller },
    );
  await call("subscribe", "api.node-x", "api");
  await call("subscribe", "strategy.local", "strategy.local");
  await env.cluster.broker.broadcastLocal("$node.disconnected", { node: { id: "node-x" }, unexpected: true });
  const subs: any[] = await eventually(
    () => env!.cluster.broker.call("market-data.subscriptions", {}, AS_OPERATOR),
    (v: any[]) => v[0]?.subscribers.length === 1,
    "the departed node's subscription to go",
  );
  expect(subs).toEqual([expect.objectContaining({ symbol: "BTCUSDT", subscribers: ["strategy.local"] })]);
  await call("unsubscribe", "strategy.local", "strategy.local");
  await env.until(() => (env!.sim.stats() as any).streamSubscribers === 0, "the stream to close");
});

test("a series subscribed again later continues after its last published candle: no repeats, nothing skipped", async () => {
  env = await startMarketEnv({ from: "2023-03-20T00:00:00Z" });
  const { cluster, sim } = env;
  const call = (action: string) =>
    cluster.broker.call(
      `market-data.${action}`,
      { symbol: "ETHUSDT", interval: "1h", subscriber: "s" },
      AS_STRATEGY,
    );
  await call("subscribe");
  sim.clock.advance({ candles: 2 });
  await env.until(() => env!.closed().length === 2, "2 candles");
  await call("unsubscribe");
  await env.until(() => (sim.stats() as any).streamSubscribers === 0, "the stream to close");
  sim.clock.advance({ candles: 2 }); // nobody listens
  await call("subscribe");
  sim.clock.advance({ candles: 1 });
  await env.until(() => env!.closed().length === 5, "the 2 missed candles and the new one");
  const start = t("2023-03-20T00:00:00Z");
  expect(env.closed()).toEqual(Array.from({ length: 5 }, (_, i) => bundled("ETHUSDT", start + i * H)));
});
