// The live channel's browser client with a fake WebSocket and fake timers: the token goes in the
// first message, subscriptions are sent again after a reconnect, reconnects back off, a refused
// token is replaced by a forced refresh, and a fresh token is sent before the old one expires.
import { describe, expect, test } from "@jest/globals";
import { backoffDelay, LiveClient, reauthDelay, type LiveToken, type WebSocketLike } from "./live";

class FakeWs implements WebSocketLike {
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {}
  send(d: string) {
    this.sent.push(JSON.parse(d));
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(m: object) {
    this.onmessage?.({ data: JSON.stringify(m) });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
}

function setup() {
  let now = 0;
  const timers: { at: number; fn: () => void; id: number }[] = [];
  let seq = 0;
  const sockets: FakeWs[] = [];
  const tokenCalls: { min: number; force?: boolean }[] = [];
  let tokenN = 0;
  let signedOut = false;
  const client = new LiveClient({
    url: () => "ws://x/api/v1/live",
    token: async (min, force) => {
      tokenCalls.push({ min, force });
      if (signedOut) return null;
      tokenN++;
      return { token: `t${tokenN}`, issuedAt: now, expiresAt: now + 30_000 } satisfies LiveToken;
    },
    createSocket: (u) => {
      const ws = new FakeWs(u);
      sockets.push(ws);
      return ws;
    },
    setTimer: (fn, ms) => {
      const id = ++seq;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimer: (id) => {
      const i = timers.findIndex((t) => t.id === id);
      if (i >= 0) timers.splice(i, 1);
    },
    now: () => now,
    random: () => 0.5,
  });
  const settle = () => new Promise((r) => setTimeout(r, 0));
  async function advance(ms: number) {
    now += ms;
    for (;;) {
      timers.sort((a, b) => a.at - b.at);
      const t = timers[0];
      if (!t || t.at > now) break;
      timers.shift();
      t.fn();
      await settle();
    }
  }
  return {
    client,
    sockets,
    tokenCalls,
    settle,
    advance,
    signOut: () => (signedOut = true),
    last: () => sockets[sockets.length - 1],
  };
}

describe("live client", () => {
  test("authenticates in the first message, then subscribes; nothing in the URL", async () => {
    const { client, settle, last } = setup();
    const got: unknown[] = [];
    client.candles("BTCUSDT", "1h", (m) => got.push(m));
    await settle();
    const ws = last();
    expect(ws.url).toBe("ws://x/api/v1/live");
    ws.open();
    expect(ws.sent).toEqual([{ type: "auth", token: "t1" }]);
    ws.receive({ type: "ready", userId: 1 });
    expect(ws.sent[1]).toEqual({ type: "subscribe", channel: "candles", symbol: "BTCUSDT", interval: "1h" });
    ws.receive({ type: "candle", symbol: "BTCUSDT", interval: "1h", closed: false, candle: { openTime: 1 } });
    ws.receive({ type: "candle", symbol: "ETHUSDT", interval: "1h", closed: false, candle: { openTime: 1 } });
    expect(got).toHaveLength(1);
  });

  test("after a drop it reconnects with backoff, re-authenticates, resubscribes and tells listeners", async () => {
    const { client, settle, advance, sockets, last } = setup();
    let reconnects = 0;
    client.onReconnect(() => reconnects++);
    client.channel("backtests", () => undefined);
    client.candles("BTCUSDT", "1h", () => undefined);
    await settle();
    last().open();
    last().receive({ type: "ready" });
    last().drop();
    expect(client.status).toBe("reconnecting");
    await advance(backoffDelay(0, 0.5) - 1);
    expect(sockets).toHaveLength(1);
    await advance(1);
    expect(sockets).toHaveLength(2);
    last().open();
    last().receive({ type: "ready" });
    expect(last().sent.map((m) => m.channel ?? m.type)).toEqual(["auth", "backtests", "candles"]);
    expect(reconnects).toBe(1);
    expect(client.status).toBe("open");
  });

  test("backoff doubles up to the cap, with jitter", () => {
    expect(backoffDelay(0, 0.5)).toBe(500);
    expect(backoffDelay(3, 0.5)).toBe(4000);
    expect(backoffDelay(20, 0.5)).toBe(30_000);
    expect(backoffDelay(20, 0)).toBe(15_000);
    expect(backoffDelay(20, 0.999)).toBeLessThan(45_000);
  });

  test("a token the server refused is replaced by a forced refresh; signed out stops the client", async () => {
    const { client, settle, advance, tokenCalls, last, signOut } = setup();
    client.channel("orders", () => undefined);
    await settle();
    last().open();
    last().receive({ type: "ready" });
    last().drop(4001);
    await advance(60_000);
    expect(tokenCalls[1]).toMatchObject({ force: true });
    last().open();
    last().receive({ type: "ready" });
    signOut();
    last().drop(4001);
    await advance(60_000);
    expect(client.status).toBe("signed-out");
  });

  test("a fresh token is sent a third of its life before it expires", async () => {
    const { client, settle, advance, last } = setup();
    client.channel("orders", () => undefined);
    await settle();
    last().open();
    last().receive({ type: "ready" });
    expect(reauthDelay({ token: "x", issuedAt: 0, expiresAt: 30_000 }, 0)).toBe(20_000);
    await advance(19_999);
    expect(last().sent.filter((m) => m.type === "auth")).toHaveLength(1);
    await advance(1);
    expect(
      last()
        .sent.filter((m) => m.type === "auth")
        .map((m) => m.token),
    ).toEqual(["t1", "t2"]);
  });

  test("the last unsubscribe of a key is sent to the server", async () => {
    const { client, settle, last } = setup();
    const off1 = client.candles("BTCUSDT", "1h", () => undefined);
    const off2 = client.candles("BTCUSDT", "1h", () => undefined);
    await settle();
    last().open();
    last().receive({ type: "ready" });
    off1();
    expect(last().sent.filter((m) => m.type === "unsubscribe")).toEqual([]);
    off2();
    expect(last().sent.filter((m) => m.type === "unsubscribe")).toEqual([
      { type: "unsubscribe", channel: "candles", symbol: "BTCUSDT", interval: "1h" },
    ]);
  });
});
