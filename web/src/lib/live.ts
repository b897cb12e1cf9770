// The client side of the live channel (the gateway's /api/v1/live): one WebSocket per tab, shared
// by every component through subscriptions. The access token goes in the first message, never in
// the URL; it is sent again before it expires (the gateway closes a socket whose token ran out).
// A lost connection is re-opened with exponential backoff and jitter, and every subscription is
// sent again; listeners hear about the reconnect so they can reload what they may have missed.

export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface LiveToken {
  token: string;
  issuedAt: number;
  expiresAt: number;
}

export type LiveStatus = "idle" | "connecting" | "open" | "reconnecting" | "signed-out";

export interface LiveClientOptions {
  url: () => string;
  /**
   * A token valid for at least minValidityMs (refreshing if needed), or null when signed out;
   * `force`: refresh even if the current one looks valid (the server refused it).
   */
  token(minValidityMs: number, force?: boolean): Promise<LiveToken | null>;
  createSocket?: (url: string) => WebSocketLike;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
  now?: () => number;
  random?: () => number;
  onStatus?: (s: LiveStatus) => void;
  /** first reconnect delay and cap, ms */
  backoff?: { baseMs: number; maxMs: number };
}

export interface CandleMessage {
  type: "candle";
  symbol: string;
  interval: string;
  closed: boolean;
  candle: {
    openTime: number;
    closeTime: number;
    open: string;
    high: string;
    low: string;
    close: string;
    volume: string;
  };
}

export interface EventMessage {
  type: "event";
  channel: string;
  event: string;
  data: Record<string, unknown>;
}

type Handler<T> = (msg: T) => void;

interface Subscription {
  request: Record<string, unknown>;
  handlers: Set<Handler<never>>;
}

const OPEN = 1;
/** close codes of the gateway (src/gateway/live.ts) */
const UNAUTHORIZED = 4001;

/** When to send a fresh token: a third of its life before it ends, at most a minute before. */
export function reauthDelay(t: LiveToken, now: number): number {
  const lifetime = Math.max(1000, t.expiresAt - t.issuedAt);
  const lead = Math.min(60_000, lifetime / 3);
  return Math.max(1000, t.expiresAt - lead - now);
}

/** Backoff before reconnect attempt n (0-based): base·2ⁿ capped, with ±50 % jitter. */
export function backoffDelay(attempt: number, random: number, baseMs = 500, maxMs = 30_000): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 16));
  return Math.round(raw * (0.5 + random));
}

export class LiveClient {
  private ws: WebSocketLike | null = null;
  private readonly subs = new Map<string, Subscription>();
  private readonly reconnectListeners = new Set<() => void>();
  private attempt = 0;
  private ready = false;
  private started = false;
  private reconnectTimer: unknown;
  private reauthTimer: unknown;
  private current: LiveToken | null = null;
  private hadConnection = false;
  /** the server refused the last token: the next connect asks for a new one */
  private refused = false;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (t: unknown) => void;
  private readonly now: () => number;
  private readonly random: () => number;
  status: LiveStatus = "idle";

  constructor(private readonly o: LiveClientOptions) {
    this.setTimer = o.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = o.clearTimer ?? ((t) => clearTimeout(t as ReturnType<typeof setTimeout>));
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
  }

  /** Candles of one series: every forming update and every closed candle. */
  candles(symbol: string, interval: string, fn: Handler<CandleMessage>): () => void {
    return this.add(
      `candles:${symbol}:${interval}`,
      { type: "subscribe", channel: "candles", symbol, interval },
      fn,
    );
  }

  /** Events of one of the caller's own channels: backtests, orders, positions, strategies, alerts. */
  channel(name: string, fn: Handler<EventMessage>): () => void {
    return this.add(`channel:${name}`, { type: "subscribe", channel: name }, fn);
  }

  /** Called after every reconnect (not the first connect): reload what may have been missed. */
  onReconnect(fn: () => void): () => void {
    this.reconnectListeners.add(fn);
    return () => this.reconnectListeners.delete(fn);
  }

  /** A new access token arrived (refresh elsewhere in the app): hand it to the open socket. */
  tokenChanged(t: LiveToken | null): void {
    if (!t) {
      this.stop("signed-out");
      return;
    }
    if (this.ws && this.ready && t.token !== this.current?.token) this.sendAuth(t);
  }

  stop(status: LiveStatus = "idle"): void {
    this.started = false;
    this.ready = false;
    this.clearTimer(this.reconnectTimer);
    this.clearTimer(this.reauthTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      ws.close(1000, "bye");
    }
    this.setStatus(status);
  }

  // --- internals

  private add(key: string, request: Record<string, unknown>, fn: Handler<never>): () => void {
    let sub = this.subs.get(key);
    if (!sub) {
      sub = { request, handlers: new Set() };
      this.subs.set(key, sub);
      if (this.ready) this.send(request);
    }
    sub.handlers.add(fn);
    this.ensureStarted();
    return () => {
      const s = this.subs.get(key);
      if (!s) return;
      s.handlers.delete(fn);
      if (s.handlers.size === 0) {
        this.subs.delete(key);
        if (this.ready) this.send({ ...s.request, type: "unsubscribe" });
      }
    };
  }

  private ensureStarted(): void {
    if (this.started) return;
    this.started = true;
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (!this.started) return;
    this.setStatus(this.hadConnection ? "reconnecting" : "connecting");
    let t: LiveToken | null;
    try {
      t = await this.o.token(5_000, this.refused);
      this.refused = false;
    } catch {
      return this.scheduleReconnect();
    }
    if (!this.started) return;
    if (!t) return this.stop("signed-out");
    const create = this.o.createSocket ?? ((u: string) => new WebSocket(u) as unknown as WebSocketLike);
    let ws: WebSocketLike;
    try {
      ws = create(this.o.url());
    } catch {
      return this.scheduleReconnect();
    }
    this.ws = ws;
    ws.onopen = () => this.sendAuth(t);
    ws.onmessage = (ev) => this.onMessage(ev.data);
    ws.onerror = () => undefined;
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      this.clearTimer(this.reauthTimer);
      if (!this.started) return;
      if (ev.code === UNAUTHORIZED) {
        // the token ran out or the session ended: the next connect gets a fresh one (or signs out)
        this.refused = true;
        this.attempt = Math.max(this.attempt, 1);
      }
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    if (!this.started) return;
    this.setStatus("reconnecting");
    const delay = backoffDelay(this.attempt++, this.random(), this.o.backoff?.baseMs, this.o.backoff?.maxMs);
    this.clearTimer(this.reconnectTimer);
    this.reconnectTimer = this.setTimer(() => void this.connect(), delay);
  }

  private sendAuth(t: LiveToken): void {
    this.current = t;
    this.send({ type: "auth", token: t.token });
    this.clearTimer(this.reauthTimer);
    this.reauthTimer = this.setTimer(() => void this.reauth(), reauthDelay(t, this.now()));
  }

  private async reauth(): Promise<void> {
    const t = this.current;
    if (!t || !this.ws) return;
    const lead = Math.min(60_000, (t.expiresAt - t.issuedAt) / 3);
    let next: LiveToken | null;
    try {
      next = await this.o.token(lead + 1000);
    } catch {
      // the server could not refresh now; the socket closes at expiry and reconnects
      return;
    }
    if (!next) return this.stop("signed-out");
    if (this.ws) this.sendAuth(next);
  }

  private onMessage(data: unknown): void {
    if (typeof data !== "string") return;
    let msg: { type?: string; [k: string]: unknown };
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (msg.type === "ready") {
      if (this.ready) return; // a re-auth on an open socket
      this.ready = true;
      this.attempt = 0;
      const reconnected = this.hadConnection;
      this.hadConnection = true;
      this.setStatus("open");
      for (const s of this.subs.values()) this.send(s.request);
      if (reconnected) for (const fn of this.reconnectListeners) fn();
      return;
    }
    if (msg.type === "candle") {
      const m = msg as unknown as CandleMessage;
      this.dispatch(`candles:${m.symbol}:${m.interval}`, m);
      return;
    }
    if (msg.type === "event") {
      const m = msg as unknown as EventMessage;
      this.dispatch(`channel:${m.channel}`, m);
    }
  }

  private dispatch(key: string, msg: unknown): void {
    const s = this.subs.get(key);
    if (!s) return;
    for (const fn of s.handlers) (fn as Handler<unknown>)(msg);
  }

  private send(msg: Record<string, unknown>): void {
    if (this.ws && this.ws.readyState === OPEN) this.ws.send(JSON.stringify(msg));
  }

  private setStatus(s: LiveStatus): void {
    if (this.status === s) return;
    this.status = s;
    this.o.onStatus?.(s);
  }
}
