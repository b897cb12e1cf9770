// The candle cache in Redis (REDIS_URL set): through the broker's Redis cacher, shared by every
// node, newest candles kept in order.
import { ServiceBroker } from "moleculer";
import { createCandleCache } from "../../../src/adapters/market/candle-cache";
import { REDIS_URL, requireServers } from "../../support/servers";

const c = (t: number) => ({
  openTime: t,
  closeTime: t + 9,
  open: "1.00000000",
  high: "2.00000000",
  low: "0.50000000",
  close: "1.50000000",
  volume: "3.00000000",
  quoteVolume: "4.00000000",
  trades: 5,
  takerBuyBase: "1.00000000",
  takerBuyQuote: "2.00000000",
});

test("candles appended on one node are read, in order and trimmed, on another", async () => {
  if (!(await requireServers(["redis"], "market-data Redis cache"))) return;
  const prefix = `aura-test-${process.pid}-${Date.now()}`;
  const mk = (id: string) =>
    new ServiceBroker({
      nodeID: id,
      logger: false,
      cacher: { type: "Redis", options: { prefix, redis: REDIS_URL } } as any,
    });
  const a = mk("a");
  const b = mk("b");
  await a.start();
  await b.start();
  try {
    const writer = createCandleCache(a.cacher, 3);
    const reader = createCandleCache(b.cacher, 3);
    expect(writer.kind).toBe("redis");
    const symbol = `T${process.pid}`;
    await Promise.all([10, 20, 30, 20, 40].map((t) => writer.append(symbol, "1h", c(t))));
    expect((await reader.get(symbol, "1h"))!.map((x) => x.openTime)).toEqual([20, 30, 40]);
    expect((await reader.get(symbol, "1h"))![2]).toEqual(c(40));
    await writer.clear(symbol, "1h");
    expect(await reader.get(symbol, "1h")).toBeUndefined();
  } finally {
    await a.stop();
    await b.stop();
  }
});
