// One WebSocket connection to the exchange's combined market-stream endpoint carrying every kline
// stream this process needs (Binance allows 1024 streams per connection), with live
// SUBSCRIBE/UNSUBSCRIBE, reconnect with exponential backoff and jitter, a stale-data detector,
// client heartbeats, and a make-before-break reconnect before Binance's 24-hour connection limit.
//
// Why our own client instead of ccxt.pro's watchOHLCV: watchOHLCV returns candle arrays without
// Binance's closed flag (k.x), hides reconnects (so we could not back-fill what was missed), and
// opens streams we cannot unsubscribe one by one. REST still goes through ccxt (market-rest.ts).
import { EventEmitter } from "node:events";
import WebSocket from "ws";
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff";
import { decodeStreamFrame, type KlineMessage } from "./kline-decoder";

export interface KlineStreamOptions {
  /** ws(s)://host[:port] of the market streams; "/stream" is appended */
  wsBase: string;
  path?: string;
  /** a stream with no message for this long is stale: event + reconnect (0 = off) */
  staleAfterMs?: number;
  /** reconnect (make-before-break) after this long; Binance drops connections at 24 h */
  maxConnectionAgeMs?: number;
  backoff?: BackoffOptions;
  /** client ping interval; a missing pong by the next ping terminates the socket (0 = off) */
  heartbeatMs?: number;
  /** minimum gap between control messages (Binance allows 5 incoming messages per second) */
  controlIntervalMs?: number;
  /** a SUBSCRIBE without reply for this long means the connection is broken */
  ackTimeoutMs?: number;
  log?: { info(...a: unknown[]): void; warn(...a: unknown[]): void; debug(...a: unknown[]): void };
  random?: () => number;
}

export interface StaleInfo {
  stream: string;
  lastUpdateAt: number;
  silentForMs: number;
  thresholdMs: number;
}

export interface KlineStreamStats {
  connected: boolean;
  /** sockets currently open (2 during a make-before-break rotation) */
  sockets: number;
  wanted: string[];
  subscribed: string[];
  stale: string[];
  connects: number;
  reconnects: number;
  rotations: number;
  staleEvents: number;
  messages: number;
  disconnectedSince: number | undefined;
  lastMessageAt: number | undefined;
}

/** Events: "kline"(KlineMessage), "subscribed"(streams, afterReconnect), "stale"(StaleInfo), "connected", "disconnected"(reason), "rejected"(stream, msg). */
export interface KlineStreamEvents {
  kline: [KlineMessage];
  subscribed: [string[], boolean];
  stale: [StaleInfo];
  connected: [];
  disconnected: [string];
  rejected: [string, string];
}

interface Pending {
  method: "SUBSCRIBE" | "UNSUBSCRIBE";
  streams: string[];
  sentAt: number;
}

interface Conn {
  ws: WebSocket;
  seq: number;
  open: boolean;
  openedAt: number;
  subscribed: Set<string>;
  subscribedAt: Map<string, number>;
  pending: Map<number, Pending>;
  queue: { method: "SUBSCRIBE" | "UNSUBSCRIBE"; streams: string[] }[];
  lastControlAt: number;
  controlTimer: NodeJS.Timeout | undefined;
  awaitingPong: boolean;
  /** true for the first connection and after a drop: missed data must be back-filled */
  afterDrop: boolean;
}

const MAX_PARAMS = 200;

export class KlineStream extends EventEmitter<KlineStreamEvents> {
  private readonly url: string;
  private readonly staleAfter: number;
  private readonly maxAge: number;
  private readonly backoff: BackoffOptions;
  private readonly heartbeat: number;
  private readonly controlGap: number;
  private readonly ackTimeout: number;
  private readonly log: NonNullable<KlineStreamOptions["log"]>;
  private readonly random: () => number;

  private readonly wanted = new Set<string>();
  private readonly waiters = new Map<string, { resolve: () => void; reject: (e: Error) => void }[]>();
  private readonly lastMessage = new Map<string, number>();
  private readonly staleSet = new Set<string>();
  private active: Conn | undefined;
  private rotating: Conn | undefined;
  private nextId = 1;
  private connSeq = 0;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private ageTimer: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private hbTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private hadConnection = false;
  private disconnectedSince: number | undefined;
  private lastMessageAt: number | undefined;
  private readonly counters = { connects: 0, reconnects: 0, rotations: 0, staleEvents: 0, messages: 0 };

  constructor(opts: KlineStreamOptions) {
    super();
    this.url = opts.wsBase.replace(/\/+$/, "") + (opts.path ?? "/stream");
    this.staleAfter = opts.staleAfterMs ?? 0;
    this.maxAge = opts.maxConnectionAgeMs ?? 23.5 * 3_600_000;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.heartbeat = opts.heartbeatMs ?? 30_000;
    this.controlGap = opts.controlIntervalMs ?? 250;
    this.ackTimeout = opts.ackTimeoutMs ?? 10_000;
    this.log = opts.log ?? { info() {}, warn() {}, debug() {} };
    this.random = opts.random ?? Math.random;
  }

  /** Adds a stream; resolves once the exchange acknowledged the subscription. */
  add(stream: string): Promise<void> {
    if (this.closed) return Promise.reject(new Error("kline stream client is closed"));
    const p = new Promise<void>((resolve, reject) => {
      const list = this.waiters.get(stream) ?? [];
      list.push({ resolve, reject });
      this.waiters.set(stream, list);
    });
    // keep an unobserved rejection (client closed) from crashing the process
    p.catch(() => {});
    if (this.active?.subscribed.has(stream)) {
      this.settle(stream);
      return p;
    }
    const isNew = !this.wanted.has(stream);
    this.wanted.add(stream);
    this.ensureTimers();
    if (!this.active) this.connect(false);
    else if (this.active.open && isNew) this.control(this.active, "SUBSCRIBE", [stream]);
    return p;
  }

  /** Removes a stream; with none left the connection is closed. */
  remove(stream: string): void {
    if (!this.wanted.delete(stream)) return;
    this.lastMessage.delete(stream);
    this.staleSet.delete(stream);
    for (const w of this.waiters.get(stream) ?? [])
      w.reject(new Error(`stream ${stream} was removed before it was subscribed`));
    this.waiters.delete(stream);
    if (this.wanted.size === 0) {
      this.dropAll("no streams wanted");
      return;
    }
    for (const c of [this.active, this.rotating]) {
      if (!c) continue;
      for (const q of c.queue)
        if (q.method === "SUBSCRIBE") q.streams = q.streams.filter((x) => x !== stream);
      c.queue = c.queue.filter((q) => q.streams.length > 0);
      if (c.open && c.subscribed.has(stream)) this.control(c, "UNSUBSCRIBE", [stream]);
      c.subscribed.delete(stream);
    }
  }

  has(stream: string): boolean {
    return this.wanted.has(stream);
  }

  isSubscribed(stream: string): boolean {
    return this.active?.subscribed.has(stream) ?? false;
  }

  get connected(): boolean {
    return this.active?.open ?? false;
  }

  stats(): KlineStreamStats {
    return {
      connected: this.connected,
      sockets: [this.active, this.rotating].filter((c) => c?.open).length,
      wanted: [...this.wanted].sort(),
      subscribed: [...(this.active?.subscribed ?? [])].sort(),
      stale: [...this.staleSet].sort(),
      ...this.counters,
      disconnectedSince: this.disconnectedSince,
      lastMessageAt: this.lastMessageAt,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.dropAll("client closed");
    for (const [s, list] of this.waiters)
      for (const w of list) w.reject(new Error(`kline stream client closed before ${s} was subscribed`));
    this.waiters.clear();
    this.removeAllListeners();
  }

  /** Makes the current connection go away as a network failure would (operator action, tests). */
  forceReconnect(reason = "forced"): void {
    if (this.active) this.terminate(this.active, reason);
  }

  // ------------------------------------------------------------------ connection lifecycle

  private connect(rotation: boolean): void {
    if (this.closed || this.wanted.size === 0) return;
    const ws = new WebSocket(this.url, { perMessageDeflate: false, handshakeTimeout: 10_000 });
    const c: Conn = {
      ws,
      seq: ++this.connSeq,
      open: false,
      openedAt: 0,
      subscribed: new Set(),
      subscribedAt: new Map(),
      pending: new Map(),
      queue: [],
      lastControlAt: 0,
      controlTimer: undefined,
      awaitingPong: false,
      afterDrop: !rotation && this.hadConnection,
    };
    if (rotation) this.rotating = c;
    else this.active = c;
    ws.on("open", () => {
      if (c !== this.active && c !== this.rotating) return ws.terminate();
      c.open = true;
      c.openedAt = Date.now();
      this.counters.connects++;
      if (c === this.active) {
        this.disconnectedSince = undefined;
        this.scheduleRotation(c);
        this.emit("connected");
      }
      this.log.debug({ url: this.url, conn: c.seq, rotation }, "market stream connected");
      const streams = [...this.wanted];
      for (let i = 0; i < streams.length; i += MAX_PARAMS)
        this.control(c, "SUBSCRIBE", streams.slice(i, i + MAX_PARAMS));
    });
    ws.on("message", (data, isBinary) => {
      if (isBinary) return;
      this.onFrame(c, data.toString());
    });
    ws.on("pong", () => {
      c.awaitingPong = false;
    });
    ws.on("error", (e) => {
      this.log.debug({ conn: c.seq, err: e.message }, "market stream socket error");
    });
    ws.on("close", (code, reason) =>
      this.onClose(c, `${code}${reason?.length ? " " + reason.toString() : ""}`),
    );
  }

  private onClose(c: Conn, why: string): void {
    c.open = false;
    if (c.controlTimer) clearTimeout(c.controlTimer);
    if (c === this.rotating) {
      // the fresh connection failed before taking over: the old one keeps serving; try again later
      this.rotating = undefined;
      if (!this.closed && this.active) {
        const retry = setTimeout(
          () => this.rotate("retrying the connection refresh"),
          backoffDelay(2, this.backoff, this.random),
        );
        retry.unref();
      }
      return;
    }
    if (c !== this.active) return;
    this.active = undefined;
    if (this.ageTimer) clearTimeout(this.ageTimer);
    if (this.closed) return;
    if (this.rotating?.open) {
      // the old socket died mid-rotation: the new one takes over, but it may have missed data
      this.promote(this.rotating, true);
      return;
    }
    if (this.rotating) {
      // a refresh still connecting is abandoned: the ordinary reconnect below replaces both
      const r = this.rotating;
      this.rotating = undefined;
      r.open = false;
      r.ws.removeAllListeners("close");
      r.ws.on("close", () => {});
      r.ws.terminate();
    }
    this.disconnectedSince ??= Date.now();
    this.emit("disconnected", why);
    if (this.wanted.size === 0) return;
    const delay = backoffDelay(this.attempt++, this.backoff, this.random);
    this.counters.reconnects++;
    this.log.warn(
      { reason: why, retryInMs: delay, attempt: this.attempt },
      "market stream disconnected; reconnecting",
    );
    this.hadConnection = true;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.active) this.connect(false);
    }, delay);
  }

  private terminate(c: Conn, reason: string): void {
    this.log.debug({ conn: c.seq, reason }, "terminating market stream socket");
    c.ws.terminate();
  }

  private dropAll(reason: string): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    if (this.ageTimer) clearTimeout(this.ageTimer);
    this.ageTimer = undefined;
    const conns = [this.active, this.rotating];
    this.active = undefined;
    this.rotating = undefined;
    for (const c of conns) {
      if (!c) continue;
      if (c.controlTimer) clearTimeout(c.controlTimer);
      c.open = false;
      c.ws.removeAllListeners("close");
      c.ws.on("close", () => {});
      c.ws.terminate();
    }
    this.stopTimers();
    this.attempt = 0;
    this.hadConnection = false;
    this.disconnectedSince = undefined;
    this.log.debug({ reason }, "market stream closed");
  }

  private scheduleRotation(c: Conn): void {
    if (this.ageTimer) clearTimeout(this.ageTimer);
    if (!(this.maxAge > 0)) return;
    // spread rotations of many processes over ±5 % of the age
    const age = Math.round(this.maxAge * (0.95 + 0.1 * this.random()));
    this.ageTimer = setTimeout(() => {
      this.ageTimer = undefined;
      if (c === this.active) this.rotate("connection age limit");
    }, age);
    this.ageTimer.unref();
  }

  /** Opens a second connection, subscribes everything, then retires the old one. */
  private rotate(reason: string): void {
    if (this.rotating || this.closed || !this.active) return;
    this.counters.rotations++;
    this.log.info({ reason }, "market stream: opening a fresh connection before retiring the old one");
    this.connect(true);
  }

  private promote(c: Conn, afterDrop: boolean): void {
    const old = this.active;
    this.rotating = undefined;
    this.active = c;
    this.disconnectedSince = undefined;
    this.scheduleRotation(c);
    if (old && old !== c) {
      old.open = false;
      old.ws.removeAllListeners("close");
      old.ws.on("close", () => {});
      old.ws.close(1000, "rotated");
      setTimeout(() => old.ws.terminate(), 1000).unref();
    }
    if (afterDrop) {
      // streams this connection acknowledges from now on may also have missed data
      c.afterDrop = true;
      this.emit("subscribed", [...c.subscribed], true);
    }
  }

  // ------------------------------------------------------------------ control messages

  private control(c: Conn, method: "SUBSCRIBE" | "UNSUBSCRIBE", streams: string[]): void {
    const last = c.queue[c.queue.length - 1];
    if (last && last.method === method && last.streams.length + streams.length <= MAX_PARAMS)
      last.streams.push(...streams);
    else c.queue.push({ method, streams: [...streams] });
    this.pump(c);
  }

  private pump(c: Conn): void {
    if (c.controlTimer || !c.open) return;
    const wait = c.lastControlAt + this.controlGap - Date.now();
    if (wait > 0) {
      c.controlTimer = setTimeout(() => {
        c.controlTimer = undefined;
        this.pump(c);
      }, wait);
      return;
    }
    const next = c.queue.shift();
    if (!next) return;
    const id = this.nextId++;
    c.pending.set(id, { method: next.method, streams: next.streams, sentAt: Date.now() });
    c.lastControlAt = Date.now();
    c.ws.send(JSON.stringify({ method: next.method, params: next.streams, id }));
    if (c.queue.length) this.pump(c);
  }

  private onReply(c: Conn, id: unknown, error: { code: number; msg: string } | undefined): void {
    const p = typeof id === "number" ? c.pending.get(id) : undefined;
    if (!p) return;
    c.pending.delete(id as number);
    if (p.method === "UNSUBSCRIBE") return;
    if (error) {
      // the exchange refuses the stream (unknown symbol or interval): nothing to reconnect for
      for (const s of p.streams) {
        this.wanted.delete(s);
        this.emit("rejected", s, error.msg);
        for (const w of this.waiters.get(s) ?? [])
          w.reject(new Error(`exchange refused stream ${s}: ${error.msg}`));
        this.waiters.delete(s);
      }
      if (this.wanted.size === 0) this.dropAll("every stream refused");
      return;
    }
    const now = Date.now();
    const acked: string[] = [];
    const unwanted: string[] = [];
    for (const s of p.streams) {
      if (!this.wanted.has(s)) {
        // removed while the SUBSCRIBE was in flight: take it back so the exchange stops sending
        unwanted.push(s);
        continue;
      }
      c.subscribed.add(s);
      c.subscribedAt.set(s, now);
      acked.push(s);
    }
    if (unwanted.length) this.control(c, "UNSUBSCRIBE", unwanted);
    if (c === this.rotating) {
      if ([...this.wanted].every((s) => c.subscribed.has(s)) && c.pending.size === 0) this.promote(c, false);
      return;
    }
    if (c !== this.active) return;
    // the connection works: the next drop starts the backoff from the beginning
    this.attempt = 0;
    for (const s of acked) this.settle(s);
    if (acked.length) this.emit("subscribed", acked, c.afterDrop);
  }

  private settle(stream: string): void {
    for (const w of this.waiters.get(stream) ?? []) w.resolve();
    this.waiters.delete(stream);
  }

  // ------------------------------------------------------------------ data

  private onFrame(c: Conn, text: string): void {
    const m = decodeStreamFrame(text);
    if (m.type === "kline") {
      const now = Date.now();
      this.counters.messages++;
      this.lastMessageAt = now;
      this.lastMessage.set(m.stream, now);
      if (this.staleSet.delete(m.stream))
        this.log.info({ stream: m.stream }, "market stream data flowing again");
      if (this.wanted.has(m.stream)) this.emit("kline", m);
    } else if (m.type === "reply") this.onReply(c, m.id, m.error);
    else if (m.type === "shutdown") this.rotate("exchange announced a server shutdown");
  }

  // ------------------------------------------------------------------ timers

  private ensureTimers(): void {
    if (!this.tickTimer) {
      const every =
        this.staleAfter > 0 ? Math.max(20, Math.min(1000, Math.floor(this.staleAfter / 4))) : 1000;
      this.tickTimer = setInterval(() => this.tick(), every);
      this.tickTimer.unref();
    }
    if (!this.hbTimer && this.heartbeat > 0) {
      this.hbTimer = setInterval(() => this.beat(), this.heartbeat);
      this.hbTimer.unref();
    }
  }

  private stopTimers(): void {
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.hbTimer) clearInterval(this.hbTimer);
    this.tickTimer = undefined;
    this.hbTimer = undefined;
  }

  private beat(): void {
    for (const c of [this.active, this.rotating]) {
      if (!c?.open) continue;
      if (c.awaitingPong) {
        this.terminate(c, "no pong");
        continue;
      }
      c.awaitingPong = true;
      c.ws.ping();
    }
  }

  private tick(): void {
    const now = Date.now();
    for (const c of [this.active, this.rotating]) {
      if (!c?.open) continue;
      for (const p of c.pending.values()) {
        if (now - p.sentAt > this.ackTimeout) {
          this.terminate(c, `no reply to ${p.method} within ${this.ackTimeout} ms`);
          break;
        }
      }
    }
    const c = this.active;
    if (!(this.staleAfter > 0) || !c?.open) return;
    let reconnect = false;
    for (const s of c.subscribed) {
      const last = Math.max(this.lastMessage.get(s) ?? 0, c.subscribedAt.get(s) ?? 0);
      const silent = now - last;
      if (silent <= this.staleAfter) continue;
      reconnect = true;
      if (!this.staleSet.has(s)) {
        this.staleSet.add(s);
        this.counters.staleEvents++;
        this.emit("stale", {
          stream: s,
          lastUpdateAt: last,
          silentForMs: silent,
          thresholdMs: this.staleAfter,
        });
      }
    }
    if (reconnect) {
      this.log.warn({ stale: [...this.staleSet] }, "market stream went stale; reconnecting");
      this.terminate(c, "stale data");
    }
  }
}
