// The exchange boundary without a network: weight pacing and 429 pauses, reconnect delays, kline
// frame decoding (with the closed flag), ccxt errors → core taxonomy, endpoint configuration.
import { backoffDelay } from "../../../src/adapters/exchange/backoff";
import { ccxtModule } from "../../../src/adapters/exchange/ccxt-loader";
import { endpointsFor, parseExchangeKind, simUrl } from "../../../src/adapters/exchange/config";
import { translateExchangeError } from "../../../src/adapters/exchange/errors";
import {
  decodeStreamFrame,
  klineStreamName,
  parseKlineStreamName,
} from "../../../src/adapters/exchange/kline-decoder";
import { WeightGovernor } from "../../../src/adapters/exchange/weight-governor";
import { MemoryCandleCache } from "../../../src/adapters/market/candle-cache";
import { readMarketDataEnv } from "../../../services/market-data.service";
import { parseWatch } from "../../../src/adapters/config";
import {
  ExchangeUnavailableError,
  FilterRejectedError,
  InsufficientBalanceError,
  NotFoundError,
  RateLimitedError,
  TimeoutError,
  UnauthorizedError,
} from "../../../src/core/model/errors";

function fakeClock(start: number) {
  let now = start;
  const slept: number[] = [];
  return {
    now: () => now,
    sleep: async (ms: number) => {
      slept.push(ms);
      now += ms;
    },
    slept,
    advance: (ms: number) => (now += ms),
  };
}

describe("WeightGovernor", () => {
  const MIN = 60_000;
  test("requests under the budget go straight through", async () => {
    const c = fakeClock(10 * MIN + 5000);
    const g = new WeightGovernor({ limitPerMinute: 100, budgetFraction: 0.8, now: c.now, sleep: c.sleep });
    for (let i = 0; i < 40; i++) await g.acquire(2);
    expect(c.slept).toEqual([]);
    expect(g.stats().usedWeight).toBe(80);
  });

  test("over the budget it waits for the next 1-minute window (plus a skew margin)", async () => {
    const c = fakeClock(10 * MIN + 5000);
    const g = new WeightGovernor({
      limitPerMinute: 100,
      budgetFraction: 0.8,
      boundaryMarginMs: 1000,
      now: c.now,
      sleep: c.sleep,
    });
    g.record({ "X-Mbx-Used-Weight-1m": "79" });
    await g.acquire(2);
    expect(c.slept).toEqual([MIN - 5000 + 1000]);
    expect(c.now()).toBe(11 * MIN + 1000);
  });

  test("the exchange's own count wins: weight used by others on the IP is respected", async () => {
    const c = fakeClock(10 * MIN);
    const g = new WeightGovernor({ limitPerMinute: 6000, now: c.now, sleep: c.sleep });
    await g.acquire(2);
    g.record({ "x-mbx-used-weight-1m": "4799" });
    await g.acquire(2);
    expect(c.slept.length).toBe(1);
  });

  test("a 429 pauses every request for Retry-After; without one for a minute; a 418 counts as a ban", async () => {
    const c = fakeClock(10 * MIN);
    const g = new WeightGovernor({ now: c.now, sleep: c.sleep });
    g.penalize(429, 2000);
    await g.acquire(1);
    expect(c.slept).toEqual([2000]);
    g.penalize(429, undefined);
    await g.acquire(1);
    expect(c.slept[1]).toBe(60_000);
    g.penalize(418, 120_000);
    expect(g.stats()).toMatchObject({ rateLimited: 2, banned: 1 });
  });
});

describe("backoffDelay", () => {
  test("grows exponentially with jitter inside [ceiling/2, ceiling], never 0, capped", () => {
    const o = { baseMs: 100, maxMs: 5000 };
    for (let a = 0; a < 12; a++) {
      const ceiling = Math.min(5000, 100 * 2 ** a);
      expect(backoffDelay(a, o, () => 0)).toBe(ceiling / 2);
      expect(backoffDelay(a, o, () => 0.999999)).toBeLessThanOrEqual(ceiling);
    }
    expect(backoffDelay(1000, o, () => 1)).toBe(5000);
  });
});

describe("kline frames", () => {
  const raw = `{"e":"kline","E":1679659201000,"s":"BTCUSDT","k":{"t":1679655600000,"T":1679659199999,"s":"BTCUSDT","i":"1h","f":1,"L":2,"o":"28039.71000000","c":"28080.00000000","h":"28091.03000000","l":"27963.84000000","v":"1267.41714000","n":25083,"x":true,"q":"35521462.04342730","V":"675.90368000","Q":"18945009.69057470","B":"0"}}`;
  const candle = {
    openTime: 1679655600000,
    closeTime: 1679659199999,
    open: "28039.71000000",
    high: "28091.03000000",
    low: "27963.84000000",
    close: "28080.00000000",
    volume: "1267.41714000",
    quoteVolume: "35521462.04342730",
    trades: 25083,
    takerBuyBase: "675.90368000",
    takerBuyQuote: "18945009.69057470",
  };

  test("combined-stream and raw kline events decode to the same candle with the closed flag", () => {
    const combined = decodeStreamFrame(`{"stream":"btcusdt@kline_1h","data":${raw}}`);
    expect(combined).toEqual({
      type: "kline",
      stream: "btcusdt@kline_1h",
      symbol: "BTCUSDT",
      interval: "1h",
      closed: true,
      eventTime: 1679659201000,
      candle,
    });
    expect(decodeStreamFrame(raw)).toEqual(combined);
    const forming = decodeStreamFrame(raw.replace('"x":true', '"x":false'));
    expect(forming).toMatchObject({ type: "kline", closed: false });
  });

  test("replies, errors, server shutdown notices and garbage", () => {
    expect(decodeStreamFrame(`{"result":null,"id":7}`)).toEqual({
      type: "reply",
      id: 7,
      result: null,
      error: undefined,
    });
    expect(decodeStreamFrame(`{"error":{"code":2,"msg":"Invalid request"},"id":8}`)).toMatchObject({
      type: "reply",
      id: 8,
      error: { code: 2 },
    });
    expect(decodeStreamFrame(`{"e":"serverShutdown","E":1}`)).toEqual({ type: "shutdown" });
    expect(decodeStreamFrame(`{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1}}`)).toEqual({
      type: "shutdown",
    });
    expect(decodeStreamFrame("not json")).toEqual({ type: "other" });
    expect(decodeStreamFrame(`{"e":"trade"}`)).toEqual({ type: "other" });
  });

  test("stream names", () => {
    expect(klineStreamName("BTCUSDT", "1h")).toBe("btcusdt@kline_1h");
    expect(parseKlineStreamName("ethusdt@kline_15m")).toEqual({ symbol: "ETHUSDT", interval: "15m" });
    expect(parseKlineStreamName("btcusdt@trade")).toBeUndefined();
  });
});

describe("ccxt errors become the core taxonomy", () => {
  const ccxt = ccxtModule();
  test.each([
    [
      new ccxt.DDoSProtection('binance 429 Too Many Requests {"code":-1003}'),
      { idempotent: true, headers: { "Retry-After": "3" } },
      RateLimitedError,
      true,
    ],
    [new ccxt.RequestTimeout("binance GET … request timed out"), { idempotent: true }, TimeoutError, true],
    [new ccxt.RequestTimeout("binance POST … request timed out"), { idempotent: false }, TimeoutError, false],
    [
      new ccxt.NetworkError("binance POST … fetch failed: socket hang up"),
      { idempotent: false },
      TimeoutError,
      false,
    ],
    [
      new ccxt.NetworkError("binance GET … fetch failed: ECONNREFUSED"),
      { idempotent: true },
      ExchangeUnavailableError,
      true,
    ],
    [new ccxt.ExchangeNotAvailable("binance 503"), { idempotent: true }, ExchangeUnavailableError, true],
    [new ccxt.AuthenticationError('binance {"code":-2015}'), { idempotent: true }, UnauthorizedError, false],
    [
      new ccxt.InsufficientFunds("Account has insufficient balance"),
      { idempotent: false },
      InsufficientBalanceError,
      false,
    ],
    [new ccxt.InvalidOrder("Filter failure: LOT_SIZE"), { idempotent: false }, FilterRejectedError, false],
    [new ccxt.OrderNotFound("Unknown order sent."), { idempotent: true }, NotFoundError, false],
    [new ccxt.BadSymbol("Invalid symbol."), { idempotent: true }, NotFoundError, false],
  ])("%p", (err, opts, type, retryable) => {
    const out: any = translateExchangeError(err, opts as any);
    expect(out).toBeInstanceOf(type);
    expect(out.retryable).toBe(retryable);
  });

  test("Retry-After and the 418 status are kept", () => {
    const r = translateExchangeError(new ccxt.DDoSProtection('binance 418 I\'m a teapot {"code":-1003}'), {
      idempotent: true,
      headers: { "retry-after": "120" },
    }) as RateLimitedError;
    expect(r.retryAfterMs).toBe(120_000);
    expect(r.details).toMatchObject({ status: 418 });
    expect(r.message).toMatch(/banned/);
  });

  test("non-ccxt errors pass through untouched", () => {
    const e = new TypeError("bug");
    expect(translateExchangeError(e, { idempotent: true })).toBe(e);
  });
});

describe("configuration", () => {
  test("EXCHANGE selects the venue; unset means the simulator", () => {
    expect(parseExchangeKind(undefined)).toBe("sim");
    expect(parseExchangeKind("Binance")).toBe("binance");
    expect(() => parseExchangeKind("kraken")).toThrow(
      /EXCHANGE must be one of binance, binance-testnet, sim/,
    );
  });

  test("SIM_URL, else 127.0.0.1:SIM_PORT, else :8090", () => {
    expect(simUrl({})).toBe("http://127.0.0.1:8090");
    expect(simUrl({ SIM_PORT: "9000" })).toBe("http://127.0.0.1:9000");
    expect(simUrl({ SIM_URL: "http://sim:7000/", SIM_PORT: "9000" })).toBe("http://sim:7000");
    expect(() => simUrl({ SIM_URL: "sim:7000" })).toThrow(/SIM_URL/);
    expect(endpointsFor("sim", {}, { SIM_URL: "http://10.0.0.5:8090" })).toEqual({
      kind: "sim",
      restBase: "http://10.0.0.5:8090",
      wsBase: "ws://10.0.0.5:8090",
    });
    expect(endpointsFor("sim", { restUrl: "http://127.0.0.1:1234/api/v3" })).toMatchObject({
      restBase: "http://127.0.0.1:1234",
      wsBase: "ws://127.0.0.1:1234",
    });
    expect(endpointsFor("binance")).toEqual({
      kind: "binance",
      restBase: "https://api.binance.com",
      wsBase: "wss://stream.binance.com:9443",
    });
    expect(endpointsFor("binance-testnet").restBase).toBe("https://testnet.binance.vision");
  });

  test("MARKET_DATA_WATCH: default BTCUSDT:1h,ETHUSDT:1h on the simulator, nothing on Binance", () => {
    expect(readMarketDataEnv({}).watch).toEqual([
      { symbol: "BTCUSDT", interval: "1h" },
      { symbol: "ETHUSDT", interval: "1h" },
    ]);
    expect(readMarketDataEnv({ EXCHANGE: "binance" }).watch).toEqual([]);
    expect(readMarketDataEnv({ MARKET_DATA_WATCH: "none" }).watch).toEqual([]);
    expect(parseWatch("solusdt:15m")).toEqual([{ symbol: "SOLUSDT", interval: "15m" }]);
    expect(() => parseWatch("BTCUSDT")).toThrow(/BTCUSDT:1h/);
    expect(() => parseWatch("BTCUSDT:1M")).toThrow(/interval one of/);
    expect(readMarketDataEnv({}).staleAfterMs).toBe(4000);
    expect(readMarketDataEnv({ SIM_STEP: "1" }).staleAfterMs).toBe(0);
    expect(() => readMarketDataEnv({ MARKET_DATA_STALE_MS: "-1" })).toThrow(/MARKET_DATA_STALE_MS/);
    expect(() => readMarketDataEnv({ MARKET_DATA_BUNDLED: "maybe" })).toThrow(/MARKET_DATA_BUNDLED/);
  });
});

test("the memory candle cache keeps the newest candles in order and ignores older ones", async () => {
  const cache = new MemoryCandleCache(3);
  const c = (t: number) => ({
    openTime: t,
    closeTime: t + 9,
    open: "1",
    high: "1",
    low: "1",
    close: "1",
    volume: "1",
    quoteVolume: "1",
    trades: 1,
    takerBuyBase: "1",
    takerBuyQuote: "1",
  });
  for (const t of [10, 20, 30, 20, 40, 50]) await cache.append("BTCUSDT", "1h", c(t));
  expect((await cache.get("BTCUSDT", "1h"))!.map((x) => x.openTime)).toEqual([30, 40, 50]);
  await cache.clear("BTCUSDT", "1h");
  expect(await cache.get("BTCUSDT", "1h")).toBeUndefined();
});
