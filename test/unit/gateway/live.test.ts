// The live channel's hub without a network: owner scoping of user events, authentication rules,
// token expiry and revocation, upstream series reference counting, and the bounded per-socket
// queue (coalescing for a slow client, closing one that stays too slow).
import { CLOSE, LiveHub, type LiveIdentity, type LiveSocket } from "../../../src/gateway/live";

class FakeSocket implements LiveSocket {
  sent: any[] = [];
  bufferedAmount = 0;
  closed?: { code: number; reason: string };
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close(code: number, reason: string) {
    this.closed = { code, reason };
  }
  of(type: string) {
    return this.sent.filter((m) => m.type === type);
  }
}

/** Timers driven by the test: run() fires those due at the current fake time. */
class Clock {
  now = 1_000_000;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private seq = 0;
  set = (fn: () => void, ms: number) => {
    const id = ++this.seq;
    this.timers.set(id, { at: this.now + ms, fn });
    return id;
  };
  clear = (t: unknown) => {
    this.timers.delete(t as number);
  };
  advance(ms: number) {
    this.now += ms;
    for (const [id, t] of [...this.timers].sort((a, b) => a[1].at - b[1].at)) {
      if (t.at <= this.now && this.timers.has(id)) {
        this.timers.delete(id);
        t.fn();
      }
    }
  }
  get pending() {
    return this.timers.size;
  }
}

const flush = () => new Promise((r) => setImmediate(r));

function setup(opts: { limits?: any; acquire?: (s: string, i: string) => Promise<void> } = {}) {
  const clock = new Clock();
  const users: Record<string, LiveIdentity> = {
    "token-alice": { userId: 1, sid: "s-alice", role: "user", expiresAt: clock.now + 60_000 },
    "token-alice-2": { userId: 1, sid: "s-alice", role: "user", expiresAt: clock.now + 120_000 },
    "token-bob": { userId: 2, sid: "s-bob", role: "user", expiresAt: clock.now + 60_000 },
  };
  const liveSessions = new Set(["s-alice", "s-bob"]);
  const acquired: string[] = [];
  const released: string[] = [];
  const hub = new LiveHub({
    authenticate: async (token) => {
      const u = users[token];
      if (!u) throw new Error("bad token");
      return u;
    },
    sessionLive: async (_userId, sid) => liveSessions.has(sid),
    acquireSeries: opts.acquire ?? (async (s, i) => void acquired.push(`${s}:${i}`)),
    releaseSeries: (s, i) => void released.push(`${s}:${i}`),
    now: () => clock.now,
    setTimer: clock.set,
    clearTimer: clock.clear,
    limits: opts.limits,
  });
  async function connect(token?: string) {
    const socket = new FakeSocket();
    const conn = hub.connect(socket);
    if (token) {
      conn.onMessage(JSON.stringify({ type: "auth", token }));
      await flush();
    }
    return { socket, conn, send: async (m: object) => (conn.onMessage(JSON.stringify(m)), await flush()) };
  }
  return { hub, clock, connect, acquired, released, liveSessions };
}

const candle = (openTime: number, close = "100.00") => ({
  openTime,
  closeTime: openTime + 3_599_999,
  open: "100.00",
  high: "101.00",
  low: "99.00",
  close,
  volume: "1",
});

describe("owner scoping", () => {
  test("a user event reaches only its owner's sockets that subscribed to its channel", async () => {
    const { hub, connect } = setup();
    const alice = await connect("token-alice");
    const alice2 = await connect("token-alice");
    const bob = await connect("token-bob");
    const aliceUnsubscribed = await connect("token-alice");
    for (const c of [alice, alice2, bob]) await c.send({ type: "subscribe", channel: "backtests" });

    hub.publishUserEvent("backtest.progress", { id: "r1", userId: 1, sweepId: null, progress: 0.5 });
    hub.publishUserEvent("backtest.completed", { id: "r2", userId: 2, status: "completed" });

    expect(alice.socket.of("event").map((m) => m.data.id)).toEqual(["r1"]);
    expect(alice2.socket.of("event").map((m) => m.data.id)).toEqual(["r1"]);
    expect(bob.socket.of("event").map((m) => m.data.id)).toEqual(["r2"]);
    expect(aliceUnsubscribed.socket.of("event")).toEqual([]);
  });

  test("events without a valid userId reach nobody", async () => {
    const { hub, connect } = setup();
    const alice = await connect("token-alice");
    await alice.send({ type: "subscribe", channel: "alerts" });
    await alice.send({ type: "subscribe", channel: "orders" });
    for (const payload of [
      { severity: "critical", message: "system alert" },
      { userId: "1" },
      { userId: 0 },
      { userId: 1.5 },
      { userId: -1 },
      null,
    ]) {
      hub.publishUserEvent("alert.raised", payload);
      hub.publishUserEvent("order.filled", payload);
    }
    expect(alice.socket.of("event")).toEqual([]);
    hub.publishUserEvent("order.filled", { userId: 1, orderId: 7 });
    expect(alice.socket.of("event")).toEqual([
      { type: "event", channel: "orders", event: "order.filled", data: { userId: 1, orderId: 7 } },
    ]);
  });

  test("each event family goes to its channel", async () => {
    const { hub, connect } = setup();
    const a = await connect("token-alice");
    await a.send({ type: "subscribe", channel: "positions" });
    hub.publishUserEvent("order.accepted", { userId: 1 });
    hub.publishUserEvent("position.opened", { userId: 1 });
    hub.publishUserEvent("strategies.changed", { userId: 1 });
    hub.publishUserEvent("something.else", { userId: 1 });
    expect(a.socket.of("event").map((m) => [m.channel, m.event])).toEqual([["positions", "position.opened"]]);
  });

  test("nothing but auth is accepted before authentication, and a bad token closes the socket", async () => {
    const { hub, connect } = setup();
    const early = await connect();
    await early.send({ type: "subscribe", channel: "backtests" });
    expect(early.socket.closed?.code).toBe(CLOSE.unauthorized);
    hub.publishUserEvent("backtest.progress", { id: "x", userId: 1, progress: 1 });
    expect(early.socket.sent).toEqual([]);

    const forged = await connect("token-mallory");
    expect(forged.socket.closed?.code).toBe(CLOSE.unauthorized);
    expect(hub.size).toBe(0);
  });

  test("a socket stays with its first user: a token of another user closes it", async () => {
    const { hub, connect } = setup();
    const a = await connect("token-alice");
    await a.send({ type: "subscribe", channel: "backtests" });
    await a.send({ type: "auth", token: "token-bob" });
    expect(a.socket.closed?.code).toBe(CLOSE.unauthorized);
    hub.publishUserEvent("backtest.progress", { id: "b", userId: 2, progress: 1 });
    expect(a.socket.of("event")).toEqual([]);
  });

  test("no auth within the deadline closes the socket", async () => {
    const { clock, connect } = setup();
    const c = await connect();
    clock.advance(10_001);
    expect(c.socket.closed?.code).toBe(CLOSE.unauthorized);
  });

  test("the socket closes when its token expires, unless a fresh token arrives first", async () => {
    const { clock, connect } = setup();
    const renewed = await connect("token-alice");
    const lapsed = await connect("token-alice");
    clock.advance(50_000);
    await renewed.send({ type: "auth", token: "token-alice-2" });
    clock.advance(10_001);
    expect(lapsed.socket.closed).toEqual({ code: CLOSE.unauthorized, reason: "token expired" });
    expect(renewed.socket.closed).toBeUndefined();
    clock.advance(60_000);
    expect(renewed.socket.closed?.code).toBe(CLOSE.unauthorized);
  });

  test("a revoked session closes that user's sockets only", async () => {
    const { hub, connect, liveSessions } = setup();
    const a = await connect("token-alice");
    const b = await connect("token-bob");
    liveSessions.delete("s-alice");
    await hub.revalidateUser(1);
    await hub.revalidateUser(2);
    expect(a.socket.closed).toEqual({ code: CLOSE.unauthorized, reason: "session ended" });
    expect(b.socket.closed).toBeUndefined();
  });
});

describe("candle subscriptions", () => {
  test("candles go to the sockets watching that series; the upstream is held while anyone watches", async () => {
    const { hub, connect, acquired, released } = setup();
    const a = await connect("token-alice");
    const b = await connect("token-bob");
    await a.send({ type: "subscribe", channel: "candles", symbol: "BTCUSDT", interval: "1h", id: 1 });
    await b.send({ type: "subscribe", channel: "candles", symbol: "BTCUSDT", interval: "1h" });
    await b.send({ type: "subscribe", channel: "candles", symbol: "ETHUSDT", interval: "1h" });
    expect(a.socket.of("subscribed")).toEqual([
      { type: "subscribed", channel: "candles", symbol: "BTCUSDT", interval: "1h", id: 1 },
    ]);
    expect(acquired).toEqual(["BTCUSDT:1h", "ETHUSDT:1h"]);

    hub.publishCandle({ symbol: "BTCUSDT", interval: "1h", candle: candle(0) }, true);
    hub.publishCandle({ symbol: "ETHUSDT", interval: "1h", candle: candle(0) }, false);
    hub.publishCandle({ symbol: "BTCUSDT", interval: "4h", candle: candle(0) }, true);
    expect(a.socket.of("candle").map((m) => [m.symbol, m.interval, m.closed])).toEqual([
      ["BTCUSDT", "1h", true],
    ]);
    expect(b.socket.of("candle").map((m) => [m.symbol, m.closed])).toEqual([
      ["BTCUSDT", true],
      ["ETHUSDT", false],
    ]);

    await a.send({ type: "unsubscribe", channel: "candles", symbol: "BTCUSDT", interval: "1h" });
    expect(released).toEqual([]);
    b.conn.onClose();
    expect(released.sort()).toEqual(["BTCUSDT:1h", "ETHUSDT:1h"]);
    expect(hub.watchedSeries()).toEqual([]);
  });

  test("an unknown series is refused with the upstream's reason and not kept", async () => {
    const { hub, connect } = setup({
      acquire: async () => {
        throw Object.assign(new Error("Unknown symbol NOPE"), { type: "UNKNOWN_SYMBOL" });
      },
    });
    const a = await connect("token-alice");
    await a.send({ type: "subscribe", channel: "candles", symbol: "NOPEUSDT", interval: "1h" });
    expect(a.socket.of("error")).toEqual([
      { type: "error", code: "UNKNOWN_SYMBOL", message: "Unknown symbol NOPE", id: undefined },
    ]);
    expect(hub.watchedSeries()).toEqual([]);
  });

  test("malformed subscriptions are answered with an error; junk closes the socket", async () => {
    const { connect } = setup();
    const a = await connect("token-alice");
    await a.send({ type: "subscribe", channel: "candles", symbol: "btc usdt", interval: "1h" });
    await a.send({ type: "subscribe", channel: "secrets" });
    expect(a.socket.of("error").map((m) => m.code)).toEqual(["VALIDATION_ERROR", "UNKNOWN_CHANNEL"]);
    a.conn.onMessage("not json");
    expect(a.socket.closed?.code).toBe(CLOSE.protocol);
  });

  test("one socket watches at most maxSeriesPerSocket series", async () => {
    const { connect } = setup({ limits: { maxSeriesPerSocket: 2 } });
    const a = await connect("token-alice");
    for (const s of ["AAAUSDT", "BBBUSDT", "CCCUSDT"])
      await a.send({ type: "subscribe", channel: "candles", symbol: s, interval: "1m" });
    expect(a.socket.of("subscribed")).toHaveLength(2);
    expect(a.socket.of("error").map((m) => m.code)).toEqual(["TOO_MANY_SUBSCRIPTIONS"]);
  });
});

describe("slow clients", () => {
  test("a backed-up socket gets the latest candle per series, in order, once it drains", async () => {
    const { hub, clock, connect } = setup();
    const a = await connect("token-alice");
    await a.send({ type: "subscribe", channel: "candles", symbol: "BTCUSDT", interval: "1h" });
    await a.send({ type: "subscribe", channel: "candles", symbol: "ETHUSDT", interval: "1h" });
    await a.send({ type: "subscribe", channel: "backtests" });
    a.socket.sent = [];
    a.socket.bufferedAmount = 1_000_000; // the network is not taking anything
    for (let i = 0; i < 1000; i++) {
      hub.publishCandle({ symbol: "BTCUSDT", interval: "1h", candle: candle(0, `${100 + i}.00`) }, false);
      hub.publishCandle({ symbol: "ETHUSDT", interval: "1h", candle: candle(0, `${200 + i}.00`) }, false);
      hub.publishUserEvent("backtest.progress", { id: "r1", userId: 1, progress: i / 1000 });
    }
    hub.publishCandle({ symbol: "BTCUSDT", interval: "1h", candle: candle(0, "555.00") }, true);
    expect(a.socket.sent).toEqual([]);
    expect(a.socket.closed).toBeUndefined();

    a.socket.bufferedAmount = 0;
    clock.advance(100);
    expect(
      a.socket.sent.map((m) =>
        m.type === "candle" ? `${m.symbol}:${m.closed}:${m.candle.close}` : `p:${m.data.progress}`,
      ),
    ).toEqual(["BTCUSDT:false:1099.00", "ETHUSDT:false:1199.00", "p:0.999", "BTCUSDT:true:555.00"]);
  });

  test("a socket that stays too slow is closed and its queue freed, never grown past the bound", async () => {
    const { hub, connect } = setup({ limits: { maxQueue: 50 } });
    const a = await connect("token-alice");
    const b = await connect("token-alice");
    for (const c of [a, b]) await c.send({ type: "subscribe", channel: "orders" });
    a.socket.bufferedAmount = 1_000_000;
    for (let i = 0; i < 50; i++) hub.publishUserEvent("order.filled", { userId: 1, orderId: i });
    expect(a.socket.closed).toBeUndefined();
    hub.publishUserEvent("order.filled", { userId: 1, orderId: 50 });
    expect(a.socket.closed).toEqual({ code: CLOSE.tooSlow, reason: "too slow" });
    // the healthy socket of the same user got everything; the slow one is forgotten
    expect(b.socket.of("event")).toHaveLength(51);
    expect(hub.size).toBe(1);
  });

  test("the queue is bounded in bytes as well", async () => {
    const { hub, connect } = setup({ limits: { maxQueuedBytes: 10_000 } });
    const a = await connect("token-alice");
    await a.send({ type: "subscribe", channel: "orders" });
    a.socket.bufferedAmount = 1_000_000;
    for (let i = 0; i < 20 && !a.socket.closed; i++)
      hub.publishUserEvent("order.filled", { userId: 1, note: "x".repeat(1000), i });
    expect(a.socket.closed?.code).toBe(CLOSE.tooSlow);
  });

  test("closing a socket clears its timers", async () => {
    const { clock, connect } = setup();
    const a = await connect("token-alice");
    expect(clock.pending).toBeGreaterThan(0);
    a.conn.onClose();
    expect(clock.pending).toBe(0);
  });
});
