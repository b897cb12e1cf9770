// The venue's user-data stream per account with open work (ccxt.pro's watchOrders, which uses
// the WebSocket API subscription on Binance and the simulator). The stream only says "something
// happened on this symbol": what happened is then read over REST by the same code reconciliation
// uses, so one path decides every state change and a dropped or replayed event cannot make two.
// Each event's order status comes along so that execution can skip the REST read when the
// database already shows exactly that (the acknowledgements of the orders it just placed).
// After a reconnect everything the account has open is checked again, since events may have
// been missed while the socket was down.
import { classifyOrderFailure, type OrderFailure } from "../exchange/trading-client";
import type { TradingAccount } from "./accounts";

/** What one execution report said about one order (Binance's c, X and z). */
export interface StreamOrderEvent {
  clientOrderId: string;
  /** the venue's order status: NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED, REJECTED … */
  status: string;
  /** cumulative filled quantity, as the venue wrote it */
  filled: string;
}

export interface UserStreamsOptions {
  /**
   * something changed on this account×symbol, as these events say (or on all its symbols, and
   * unknown what: symbol and events undefined)
   */
  onActivity(keyId: number, userId: number, symbol: string | undefined, events?: StreamOrderEvent[]): void;
  log: { warn(o: object, m: string): void; info(o: object, m: string): void };
  /** backoff after a failed watch, doubled up to maxMs */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** ms the venue asked this key to wait (429/418): no reconnect before */
  blockedFor?(keyId: number): number;
  /** a (re)connect was refused for the venue's rate limits */
  onRateLimited?(keyId: number, f: Extract<OrderFailure, { kind: "rate_limited" }>): void;
}

/** ccxt.pro's binance class, as far as this module uses it. */
interface WatchingExchange {
  loadMarkets(): Promise<unknown>;
  watchOrders(): Promise<
    { symbol?: string; info?: { s?: string; c?: string; C?: string; X?: string; z?: string } }[]
  >;
  marketId(symbol: string): string;
  loadHttpProxyAgent?(): Promise<unknown>;
}

interface Watch {
  stop: boolean;
  done: Promise<void>;
}

export class UserStreams {
  private readonly watches = new Map<number, Watch>();
  private closed = false;

  constructor(private readonly o: UserStreamsOptions) {}

  get watching(): number[] {
    return [...this.watches.keys()];
  }

  /** Starts watching the account unless it is watched already. */
  ensure(acc: TradingAccount): void {
    // a reconciliation still finishing while the service stops must not reopen a stream
    if (this.closed || this.watches.has(acc.keyId)) return;
    const w: Watch = { stop: false, done: Promise.resolve() };
    w.done = this.loop(acc, w);
    this.watches.set(acc.keyId, w);
  }

  private async loop(acc: TradingAccount, w: Watch): Promise<void> {
    const ex = acc.client.exchange as unknown as WatchingExchange;
    let backoff = this.o.backoffMs ?? 500;
    let resync = true;
    while (!w.stop) {
      // a reconnect is a request too: while the venue asks us to wait, it waits
      const wait = this.o.blockedFor?.(acc.keyId) ?? 0;
      if (wait > 0) {
        await new Promise((r) => setTimeout(r, wait).unref());
        continue;
      }
      try {
        await ex.loadHttpProxyAgent?.();
        await ex.loadMarkets();
        const pending = ex.watchOrders();
        // the subscription is up once watchOrders is waiting: whatever happened before is read now
        if (resync) {
          this.o.onActivity(acc.keyId, acc.userId, undefined);
          resync = false;
        }
        const orders = await pending;
        backoff = this.o.backoffMs ?? 500;
        const bySymbol = new Map<string, StreamOrderEvent[] | undefined>();
        for (const o of orders) {
          const id = o.info?.s ?? (o.symbol ? ex.marketId(o.symbol) : undefined);
          if (!id) continue;
          // on a cancel, c names the cancel request and C the order it cancelled
          const { C, X, z } = o.info ?? {};
          const c = typeof C === "string" && C !== "" ? C : o.info?.c;
          // an event that does not say which order and how far it went asks for a full check
          const known = bySymbol.has(id) ? bySymbol.get(id) : [];
          bySymbol.set(
            id,
            known && typeof c === "string" && typeof X === "string" && typeof z === "string"
              ? [...known, { clientOrderId: c, status: X, filled: z }]
              : undefined,
          );
        }
        for (const [s, events] of bySymbol) this.o.onActivity(acc.keyId, acc.userId, s, events);
      } catch (e) {
        if (w.stop) break;
        const f = classifyOrderFailure(e);
        if (f.kind === "rate_limited") this.o.onRateLimited?.(acc.keyId, f);
        this.o.log.warn(
          { keyId: acc.keyId, err: (e as Error).message.slice(0, 200), retryInMs: backoff },
          "user-data stream interrupted; reconnecting",
        );
        resync = true;
        await new Promise((r) => setTimeout(r, backoff).unref());
        backoff = Math.min(backoff * 2, this.o.maxBackoffMs ?? 30_000);
      }
    }
  }

  /** Stops watching one account (its work is done). */
  stop(keyId: number): void {
    const w = this.watches.get(keyId);
    if (!w) return;
    w.stop = true;
    this.watches.delete(keyId);
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.watches.values()];
    for (const w of all) w.stop = true;
    this.watches.clear();
  }
}
