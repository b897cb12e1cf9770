// Start-up behaviour: the bundled history is loaded once (and skipped quickly afterwards), the
// watched series stream from the start, and a restarted service resumes each series after the
// newest stored candle, back-filling what closed while it was down.
import { startServices } from "../../support/broker";
import { AS_OPERATOR, AS_STRATEGY, H, bundled, startMarketEnv, type MarketEnv } from "./helpers";

jest.setTimeout(60_000);

let env: MarketEnv | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

const count = async (e: MarketEnv) => {
  const [rows]: any = await e.db.sequelize.query(
    "SELECT symbol, count(*)::int AS n FROM klines GROUP BY symbol ORDER BY symbol",
  );
  return rows.map((r: any) => [r.symbol, r.n]);
};

test("first start loads the bundled 2023-2024 history without holding readiness; the next start skips it", async () => {
  env = await startMarketEnv({
    from: "2023-03-20T00:00:00Z",
    settings: { loadBundled: true, watch: [{ symbol: "BTCUSDT", interval: "1h" }] },
  });
  // started() has returned: the load runs in the background
  await env.until(
    () => ["done", "failed"].includes(env!.service().bundled.state),
    "the bundled load",
    30_000,
  );
  const first = env.service().bundled;
  expect(first.state).toBe("done");
  expect(first.series.map((s: any) => [s.symbol, s.inserted])).toEqual([
    ["BTCUSDT", 17543],
    ["ETHUSDT", 17543],
  ]);
  process.stdout.write(`bundled history load: ${first.durationMs} ms for ${2 * 17543} candles\n`);
  expect(await count(env)).toEqual([
    ["BTCUSDT", 17543],
    ["ETHUSDT", 17543],
  ]);

  // MARKET_DATA_WATCH: the watched series streams without any strategy subscribing
  await env.until(
    () => (env!.service().stream.stats().subscribed as string[]).includes("btcusdt@kline_1h"),
    "the watched stream",
  );
  const subs: any[] = await env.cluster.broker.call("market-data.subscriptions", {}, AS_OPERATOR);
  expect(subs).toEqual([
    expect.objectContaining({ symbol: "BTCUSDT", interval: "1h", subscribers: ["watch:env"] }),
  ]);
  env.sim.clock.advance({ candles: 1 });
  await env.until(() => env!.closed("BTCUSDT").length === 1, "a watched candle");
  expect(env.closed("BTCUSDT")).toEqual([bundled("BTCUSDT", Date.parse("2023-03-20T00:00:00Z"))]);

  // a second process on the same database finds everything in place
  const second = await startServices(["market-data"], {
    settings: {
      "market-data": { exchange: { kind: "sim", restUrl: env.sim.baseUrl }, watch: [], loadBundled: true },
    },
  });
  try {
    const svc: any = second.broker.getLocalService("market-data");
    await env.until(() => svc.bundled.state === "done", "the second bundled check", 10_000);
    expect(svc.bundled.series.map((s: any) => [s.symbol, s.inserted, s.skipped])).toEqual([
      ["BTCUSDT", 0, true],
      ["ETHUSDT", 0, true],
    ]);
    expect(svc.bundled.durationMs).toBeLessThan(1000);
  } finally {
    await second.stop();
  }
});

test("after a restart a series resumes after the newest stored candle and back-fills what it missed", async () => {
  env = await startMarketEnv({ from: "2023-03-20T00:00:00Z" });
  const { sim } = env;
  await env.cluster.broker.call(
    "market-data.subscribe",
    { symbol: "ETHUSDT", interval: "1h", subscriber: "s" },
    AS_STRATEGY,
  );
  sim.clock.advance({ candles: 2 });
  await env.until(() => env!.closed().length === 2, "2 candles");
  await env.cluster.stop(); // flushes the writer: both candles are stored

  sim.clock.advance({ candles: 3 }); // 02:00, 03:00, 04:00 close while no market-data runs
  const restarted = await startServices(["market-data"], {
    settings: {
      "market-data": {
        exchange: { kind: "sim", restUrl: sim.baseUrl },
        watch: [],
        loadBundled: false,
        reconnect: { baseMs: 20, maxMs: 200 },
      },
    },
    extra: [
      {
        name: "market-listener-2",
        events: {
          "market.candle.closed": (ctx: any) =>
            void env!.log.push({ event: "restart.closed", payload: ctx.params }),
        },
      },
    ],
  });
  env.cluster = restarted;
  await restarted.broker.call(
    "market-data.subscribe",
    { symbol: "ETHUSDT", interval: "1h", subscriber: "s" },
    AS_STRATEGY,
  );
  const after = () => env!.log.filter((r) => r.event === "restart.closed").map((r) => r.payload.candle);
  sim.clock.advance({ candles: 1 });
  await env.until(() => after().length >= 4, "3 back-filled candles and the live one");
  const start = Date.parse("2023-03-20T02:00:00Z");
  expect(after()).toEqual(Array.from({ length: 4 }, (_, i) => bundled("ETHUSDT", start + i * H)));
});
