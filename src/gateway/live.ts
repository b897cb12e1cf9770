// The dashboard's live channel: one WebSocket per browser tab at /api/v1/live. The hub is fed
// from Moleculer broadcasts (market candles, backtest progress, orders, positions, strategy changes,
// alerts), so every gateway pod sees every event and each pod serves only its own sockets.
//
// Rules the hub enforces, independent of the transport:
// - nothing but `auth` is accepted until a token is verified, and the token arrives in the first
//   message, never in the URL (URLs end up in proxy logs and browser history);
// - user events are owner-scoped: an event reaches a socket only when its `userId` is the socket's
//   user; an event without a valid userId reaches nobody;
// - the socket lives only while its access token does: the client sends a fresh token before the
//   old one expires, and a revoked session closes its sockets when `auth.session.changed` arrives;
// - a slow client never grows memory: messages wait in a bounded per-socket queue where candles
//   coalesce (the latest update and the latest closed candle per series) and backtest progress
//   coalesces per run; when the queue is still full the socket is closed and the client
//   reconnects and reloads over REST.

export interface LiveSocket {
  send(data: string): void;
  /** bytes accepted by send() and not yet written to the network */
  readonly bufferedAmount: number;
  close(code: number, reason: string): void;
}

export interface LiveIdentity {
  userId: number;
  sid: string;
  role: string;
  /** access-token expiry, epoch ms */
  expiresAt: number;
}

export type UserChannel = "backtests" | "orders" | "positions" | "strategies" | "alerts";
export const USER_CHANNELS: readonly UserChannel[] = [
  "backtests",
  "orders",
  "positions",
  "strategies",
  "alerts",
];

/** Which user channel an event name belongs to. */
export function channelOf(event: string): UserChannel | undefined {
  if (event.startsWith("backtest.")) return "backtests";
  if (event.startsWith("order.")) return "orders";
  if (event.startsWith("position.")) return "positions";
  if (event.startsWith("strategies.") || event.startsWith("strategy.")) return "strategies";
  if (event.startsWith("alert.")) return "alerts";
  return undefined;
}

export interface LiveHubOptions {
  /** verifies an access token and the liveness of its session; throws when either fails */
  authenticate(token: string): Promise<LiveIdentity>;
  /** whether a session is still live (after `auth.session.changed`) */
  sessionLive(userId: number, sid: string): Promise<boolean>;
  /** keeps the upstream series streaming while any socket watches it; rejects an unknown series */
  acquireSeries?(symbol: string, interval: string): Promise<void>;
  releaseSeries?(symbol: string, interval: string): void;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
  log?: { debug(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  limits?: Partial<LiveLimits>;
  /** told the number of open connections whenever it changes (for the metrics) */
  onCount?: (open: number) => void;
}

export interface LiveLimits {
  /** time allowed for the first `auth` message */
  authTimeoutMs: number;
  /** queued messages per socket before it is closed as too slow */
  maxQueue: number;
  /** queued bytes per socket before it is closed as too slow */
  maxQueuedBytes: number;
  /** while the socket holds more unsent bytes than this, messages wait in the queue */
  highWaterBytes: number;
  /** how often a backed-up queue retries */
  flushIntervalMs: number;
  /** candle series one socket may watch */
  maxSeriesPerSocket: number;
  /** largest accepted client message */
  maxMessageBytes: number;
}

export const DEFAULT_LIVE_LIMITS: LiveLimits = {
  authTimeoutMs: 10_000,
  maxQueue: 256,
  maxQueuedBytes: 512 * 1024,
  highWaterBytes: 64 * 1024,
  flushIntervalMs: 50,
  maxSeriesPerSocket: 10,
  maxMessageBytes: 4096,
};

/** WebSocket close codes the client acts on. */
export const CLOSE = {
  /** no token, bad token, expired token, revoked session: get a fresh token and reconnect */
  unauthorized: 4001,
  /** the queue overflowed: reconnect and reload over REST */
  tooSlow: 4008,
  /** a message that is not part of the protocol */
  protocol: 4002,
  /** the gateway is stopping */
  goingAway: 1001,
} as const;

const SYMBOL_RE = /^[A-Z0-9]{2,20}$/;
const INTERVAL_RE = /^[1-9][0-9]?[smhdw]$/;

interface Conn {
  socket: LiveSocket;
  identity?: LiveIdentity;
  channels: Set<UserChannel>;
  series: Set<string>;
  /** coalescing key → serialized message; Map keeps first-insertion order */
  queue: Map<string, string>;
  queuedBytes: number;
  seq: number;
  flushTimer?: unknown;
  authTimer?: unknown;
  expiryTimer?: unknown;
  closed: boolean;
  /** auth messages are handled one at a time, in order */
  authChain: Promise<void>;
}

export interface LiveConnection {
  onMessage(data: string): void;
  onClose(): void;
}

export class LiveHub {
  private readonly limits: LiveLimits;
  private readonly conns = new Set<Conn>();
  private readonly byUser = new Map<number, Set<Conn>>();
  private readonly bySeries = new Map<string, Set<Conn>>();
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (t: unknown) => void;

  constructor(private readonly o: LiveHubOptions) {
    this.limits = { ...DEFAULT_LIVE_LIMITS, ...(o.limits ?? {}) };
    this.now = o.now ?? Date.now;
    this.setTimer =
      o.setTimer ??
      ((fn, ms) => {
        const t = setTimeout(fn, ms);
        t.unref?.();
        return t;
      });
    this.clearTimer = o.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout));
  }

  get size(): number {
    return this.conns.size;
  }

  /** Series some socket of this gateway watches, as "SYMBOL:interval". */
  watchedSeries(): string[] {
    return [...this.bySeries.keys()];
  }

  connect(socket: LiveSocket): LiveConnection {
    const c: Conn = {
      socket,
      channels: new Set(),
      series: new Set(),
      queue: new Map(),
      queuedBytes: 0,
      seq: 0,
      closed: false,
      authChain: Promise.resolve(),
    };
    this.conns.add(c);
    this.o.onCount?.(this.conns.size);
    c.authTimer = this.setTimer(() => {
      if (!c.identity) this.close(c, CLOSE.unauthorized, "authentication timeout");
    }, this.limits.authTimeoutMs);
    return {
      onMessage: (data) => this.onMessage(c, data),
      onClose: () => this.drop(c),
    };
  }

  /** A closed candle (`closed`) or the forming one; latest per series wins in a backed-up queue. */
  publishCandle(ev: { symbol: string; interval: string; candle: unknown }, closed: boolean): void {
    const key = `${ev.symbol}:${ev.interval}`;
    const conns = this.bySeries.get(key);
    if (!conns?.size) return;
    const msg = JSON.stringify({
      type: "candle",
      symbol: ev.symbol,
      interval: ev.interval,
      closed,
      candle: ev.candle,
    });
    for (const c of conns) this.enqueue(c, `${closed ? "closed" : "forming"}:${key}`, msg);
  }

  /**
   * An event that belongs to one user. Delivered only to that user's sockets subscribed to the
   * event's channel; without a valid `userId` it is delivered to nobody.
   */
  publishUserEvent(event: string, payload: unknown): void {
    const channel = channelOf(event);
    if (!channel) return;
    const userId = (payload as { userId?: unknown } | null)?.userId;
    if (typeof userId !== "number" || !Number.isSafeInteger(userId) || userId <= 0) return;
    const conns = this.byUser.get(userId);
    if (!conns?.size) return;
    const msg = JSON.stringify({ type: "event", channel, event, data: payload });
    // progress is a level, not a history: only the latest per run matters to a slow client
    const runId = (payload as { id?: unknown }).id;
    const key = event === "backtest.progress" && typeof runId === "string" ? `progress:${runId}` : undefined;
    for (const c of conns) {
      if (c.identity?.userId !== userId || !c.channels.has(channel)) continue;
      this.enqueue(c, key, msg);
    }
  }

  /** After `auth.session.changed`: every socket of the user whose session ended is closed. */
  async revalidateUser(userId: number): Promise<void> {
    const conns = [...(this.byUser.get(userId) ?? [])];
    await Promise.all(
      conns.map(async (c) => {
        const id = c.identity;
        if (!id) return;
        let live = false;
        try {
          live = await this.o.sessionLive(id.userId, id.sid);
        } catch {
          live = false;
        }
        if (!live && c.identity === id) this.close(c, CLOSE.unauthorized, "session ended");
      }),
    );
  }

  /** Closes every socket (the gateway is stopping). */
  closeAll(code: number = CLOSE.goingAway, reason = "server stopping"): void {
    for (const c of [...this.conns]) this.close(c, code, reason);
  }

  // --- internals

  private onMessage(c: Conn, data: string): void {
    if (c.closed) return;
    if (data.length > this.limits.maxMessageBytes) return this.close(c, CLOSE.protocol, "message too large");
    let msg: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(data);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
        throw new Error("not an object");
      msg = parsed as Record<string, unknown>;
    } catch {
      return this.close(c, CLOSE.protocol, "not a JSON object");
    }
    const type = msg.type;
    const id = typeof msg.id === "string" || typeof msg.id === "number" ? msg.id : undefined;
    if (type === "auth") {
      const token = msg.token;
      c.authChain = c.authChain.then(() => this.auth(c, typeof token === "string" ? token : ""));
      return;
    }
    if (!c.identity) return this.close(c, CLOSE.unauthorized, "authenticate first");
    if (type === "ping") return this.enqueue(c, undefined, JSON.stringify({ type: "pong", id }));
    if (type === "subscribe" || type === "unsubscribe") {
      void this.subscription(c, type, msg, id);
      return;
    }
    this.close(c, CLOSE.protocol, "unknown message type");
  }

  private async auth(c: Conn, token: string): Promise<void> {
    if (c.closed) return;
    let identity: LiveIdentity;
    try {
      if (!token || token.length > 2048) throw new Error("no token");
      identity = await this.o.authenticate(token);
    } catch {
      return this.close(c, CLOSE.unauthorized, "invalid token");
    }
    if (c.closed) return;
    // a socket belongs to one user for its whole life; a token of someone else ends it
    if (c.identity && c.identity.userId !== identity.userId) {
      return this.close(c, CLOSE.unauthorized, "token of another user");
    }
    const first = !c.identity;
    c.identity = identity;
    if (c.authTimer !== undefined) this.clearTimer(c.authTimer);
    c.authTimer = undefined;
    if (c.expiryTimer !== undefined) this.clearTimer(c.expiryTimer);
    c.expiryTimer = this.setTimer(
      () => {
        if (c.identity === identity) this.close(c, CLOSE.unauthorized, "token expired");
      },
      Math.max(0, identity.expiresAt - this.now()),
    );
    if (first) {
      let set = this.byUser.get(identity.userId);
      if (!set) this.byUser.set(identity.userId, (set = new Set()));
      set.add(c);
    }
    this.enqueue(
      c,
      undefined,
      JSON.stringify({ type: "ready", userId: identity.userId, expiresAt: identity.expiresAt }),
    );
  }

  private async subscription(
    c: Conn,
    type: "subscribe" | "unsubscribe",
    msg: Record<string, unknown>,
    id: string | number | undefined,
  ): Promise<void> {
    const reply = (body: Record<string, unknown>) =>
      this.enqueue(c, undefined, JSON.stringify({ ...body, id }));
    const channel = msg.channel;
    if (channel === "candles") {
      const symbol = msg.symbol;
      const interval = msg.interval;
      if (
        typeof symbol !== "string" ||
        !SYMBOL_RE.test(symbol) ||
        typeof interval !== "string" ||
        !INTERVAL_RE.test(interval)
      ) {
        return reply({
          type: "error",
          code: "VALIDATION_ERROR",
          message: "symbol and interval are required",
        });
      }
      const key = `${symbol}:${interval}`;
      if (type === "unsubscribe") {
        this.leaveSeries(c, key);
        return reply({ type: "unsubscribed", channel, symbol, interval });
      }
      if (c.series.has(key)) return reply({ type: "subscribed", channel, symbol, interval });
      if (c.series.size >= this.limits.maxSeriesPerSocket) {
        return reply({
          type: "error",
          code: "TOO_MANY_SUBSCRIPTIONS",
          message: "too many candle series on one socket",
        });
      }
      const firstWatcher = !this.bySeries.has(key);
      // the socket is registered before the upstream answers so nothing closed in between is lost
      c.series.add(key);
      let set = this.bySeries.get(key);
      if (!set) this.bySeries.set(key, (set = new Set()));
      set.add(c);
      if (firstWatcher && this.o.acquireSeries) {
        try {
          await this.o.acquireSeries(symbol, interval);
        } catch (e) {
          this.leaveSeries(c, key);
          const err = e as { type?: unknown; code?: unknown; message?: unknown };
          return reply({
            type: "error",
            code: typeof err.type === "string" ? err.type : "SUBSCRIBE_FAILED",
            message: typeof err.message === "string" ? err.message : "could not subscribe",
          });
        }
      }
      if (c.closed) return;
      return reply({ type: "subscribed", channel, symbol, interval });
    }
    if (typeof channel === "string" && (USER_CHANNELS as readonly string[]).includes(channel)) {
      const ch = channel as UserChannel;
      if (type === "subscribe") c.channels.add(ch);
      else c.channels.delete(ch);
      return reply({ type: type === "subscribe" ? "subscribed" : "unsubscribed", channel: ch });
    }
    return reply({ type: "error", code: "UNKNOWN_CHANNEL", message: "unknown channel" });
  }

  private leaveSeries(c: Conn, key: string): void {
    if (!c.series.delete(key)) return;
    const set = this.bySeries.get(key);
    if (!set) return;
    set.delete(c);
    if (set.size === 0) {
      this.bySeries.delete(key);
      const [symbol, interval] = key.split(":");
      this.o.releaseSeries?.(symbol, interval);
    }
  }

  private enqueue(c: Conn, key: string | undefined, msg: string): void {
    if (c.closed) return;
    if (c.queue.size === 0 && c.socket.bufferedAmount < this.limits.highWaterBytes) {
      this.write(c, msg);
      return;
    }
    const k = key ?? `#${c.seq++}`;
    const old = c.queue.get(k);
    if (old !== undefined) c.queuedBytes -= old.length;
    else if (c.queue.size >= this.limits.maxQueue) return this.tooSlow(c);
    if (c.queuedBytes + msg.length > this.limits.maxQueuedBytes) return this.tooSlow(c);
    c.queue.set(k, msg);
    c.queuedBytes += msg.length;
    this.scheduleFlush(c);
  }

  private tooSlow(c: Conn): void {
    this.o.log?.debug({ userId: c.identity?.userId, queued: c.queue.size }, "live socket too slow; closed");
    this.close(c, CLOSE.tooSlow, "too slow");
  }

  private scheduleFlush(c: Conn): void {
    if (c.flushTimer !== undefined || c.closed) return;
    c.flushTimer = this.setTimer(() => {
      c.flushTimer = undefined;
      this.flush(c);
    }, this.limits.flushIntervalMs);
  }

  /** Sends queued messages while the socket takes them; what remains waits for the next round. */
  flush(c: Conn): void {
    if (c.closed) return;
    for (const [k, msg] of c.queue) {
      if (c.socket.bufferedAmount >= this.limits.highWaterBytes) break;
      c.queue.delete(k);
      c.queuedBytes -= msg.length;
      this.write(c, msg);
      if (c.closed) return;
    }
    if (c.queue.size) this.scheduleFlush(c);
  }

  private write(c: Conn, msg: string): void {
    try {
      c.socket.send(msg);
    } catch {
      this.drop(c);
    }
  }

  private close(c: Conn, code: number, reason: string): void {
    if (c.closed) return;
    this.drop(c);
    try {
      c.socket.close(code, reason);
    } catch {
      // already gone
    }
  }

  /** Forgets a socket: its queue, timers and subscriptions (idempotent). */
  private drop(c: Conn): void {
    if (c.closed) return;
    c.closed = true;
    this.conns.delete(c);
    this.o.onCount?.(this.conns.size);
    for (const t of [c.flushTimer, c.authTimer, c.expiryTimer]) if (t !== undefined) this.clearTimer(t);
    c.queue.clear();
    c.queuedBytes = 0;
    for (const key of [...c.series]) this.leaveSeries(c, key);
    if (c.identity) {
      const set = this.byUser.get(c.identity.userId);
      set?.delete(c);
      if (set && set.size === 0) this.byUser.delete(c.identity.userId);
    }
  }
}
