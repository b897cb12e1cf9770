// The venue accounts execution trades for. A key's secret is decrypted here, in the process that
// signs with it, from the encrypted row (this process holds AURA_MASTER_KEY): plaintext never
// travels over the bus, and the ccxt instance per key lives in memory only, never serialised or
// logged. Each account also carries its order-flow brakes: a pause after 429/418 until the
// venue's Retry-After, and a circuit breaker that stops hammering a venue that keeps failing.
import { QueryTypes, type Sequelize } from "sequelize";
import { openApiKeyRow, type ApiKeyRow, type ExchangeId } from "../auth/api-keys";
import type { KeyRing } from "../crypto/aead";
import { createCcxtBinance } from "../exchange/ccxt-client";
import type { ExchangeEndpoints } from "../exchange/config";
import { TradingClient } from "../exchange/trading-client";

export interface TradingAccount {
  keyId: number;
  userId: number;
  exchange: ExchangeId;
  paper: boolean;
  client: TradingClient;
}

export class AccountUnusableError extends Error {
  constructor(
    readonly reason: "not_found" | "not_owner" | "invalid" | "unreadable",
    message: string,
  ) {
    super(message);
    this.name = "AccountUnusableError";
  }
}

interface Brakes {
  pausedUntil: number;
  failures: number;
  openUntil: number;
}

export interface AccountsOptions {
  sequelize: Sequelize;
  ring: KeyRing;
  endpoints(exchange: ExchangeId): Promise<ExchangeEndpoints>;
  now?: () => number;
  /** consecutive ambiguous failures that open the breaker, and how long it stays open */
  breakerThreshold?: number;
  breakerOpenMs?: number;
  timeoutMs?: number;
  /** observes every order request as it leaves (benchmarks) */
  onOrderSent?: (clientOrderId: string) => void;
}

export class VenueAccounts {
  private readonly cache = new Map<number, Promise<TradingAccount>>();
  private readonly brakes = new Map<number, Brakes>();
  /** per venue address: request weight is counted per IP, so a 429 there stops every key */
  private readonly venuePause = new Map<string, number>();
  private readonly venueOf = new Map<number, string>();
  /** price requests in flight, per venue address and symbol */
  private readonly pricing = new Map<string, Promise<string>>();
  private readonly now: () => number;

  constructor(private readonly o: AccountsOptions) {
    this.now = o.now ?? Date.now;
  }

  /** The account of `keyId`, which must belong to `userId` and be valid for trading. */
  async get(keyId: number, userId: number): Promise<TradingAccount> {
    let p = this.cache.get(keyId);
    if (!p) {
      p = this.open(keyId);
      this.cache.set(keyId, p);
      p.catch(() => this.cache.delete(keyId));
    }
    const acc = await p;
    if (acc.userId !== userId) throw new AccountUnusableError("not_owner", "API key not found.");
    return acc;
  }

  /** Forgets a key (deleted, invalidated, rotated): the next use reads the row again. */
  forget(keyId: number): void {
    this.cache.delete(keyId);
  }

  private async open(keyId: number): Promise<TradingAccount> {
    const [row] = await this.o.sequelize.query<ApiKeyRow & { paper: boolean }>(
      `SELECT id, user_id, label, exchange, api_key_enc, api_secret_enc, enc_key_id, api_key_last4, permissions,
              status, status_reason, validated_at, created_at, paper
         FROM user_api_keys WHERE id = $1`,
      { bind: [keyId], type: QueryTypes.SELECT },
    );
    if (!row) throw new AccountUnusableError("not_found", "API key not found.");
    if (row.status !== "valid")
      throw new AccountUnusableError("invalid", `API key ${keyId} is not valid for trading (${row.status}).`);
    let plain: { apiKey: string; apiSecret: string };
    try {
      plain = openApiKeyRow(this.o.ring, row);
    } catch {
      throw new AccountUnusableError("unreadable", `API key ${keyId} could not be decrypted.`);
    }
    const endpoints = await this.o.endpoints(row.exchange);
    const ex = createCcxtBinance(
      endpoints,
      { apiKey: plain.apiKey, secret: plain.apiSecret },
      { timeoutMs: this.o.timeoutMs ?? 10_000 },
    );
    this.venueOf.set(keyId, endpoints.restBase);
    return {
      keyId: Number(row.id),
      userId: Number(row.user_id),
      exchange: row.exchange,
      paper: row.paper === true,
      client: new TradingClient(ex, {
        blockedFor: () => this.blockedFor(keyId),
        onRateLimited: (f) => this.pause(keyId, f.retryAfterMs, f.scope),
        onOrderSent: this.o.onOrderSent,
      }),
    };
  }

  /**
   * The venue's last price of a symbol, asked through this account. An ask made while another
   * for the same venue and symbol is in flight shares its answer: when a candle closes, every
   * instance entering on it needs the same reference price at the same moment, and a hundred
   * identical requests would cost the venue's per-IP weight and everyone's time for nothing.
   * A shared request that fails is asked again by each sharer through its own account, so one
   * key's pause or refusal never becomes another's.
   */
  price(acc: TradingAccount, symbol: string): Promise<string> {
    const venue = this.venueOf.get(acc.keyId);
    if (venue === undefined) return acc.client.price(symbol);
    const key = `${venue} ${symbol}`;
    const inFlight = this.pricing.get(key);
    if (inFlight) return inFlight.catch(() => acc.client.price(symbol));
    const asked = acc.client.price(symbol);
    this.pricing.set(key, asked);
    const done = () => {
      if (this.pricing.get(key) === asked) this.pricing.delete(key);
    };
    asked.then(done, done);
    return asked;
  }

  private brake(keyId: number): Brakes {
    let b = this.brakes.get(keyId);
    if (!b) this.brakes.set(keyId, (b = { pausedUntil: 0, failures: 0, openUntil: 0 }));
    return b;
  }

  /** ms until this key may send requests again (a rate-limit pause or an open breaker), 0 = now. */
  blockedFor(keyId: number): number {
    const venue = this.venueOf.get(keyId);
    const all = venue === undefined ? 0 : (this.venuePause.get(venue) ?? 0) - this.now();
    const b = this.brakes.get(keyId);
    if (!b) return Math.max(0, all);
    return Math.max(0, all, b.pausedUntil - this.now(), b.openUntil - this.now());
  }

  /**
   * The venue asked us to wait: "ip" for its request weight (every key this process sends from
   * waits), "account" for one key's order rate.
   */
  pause(keyId: number, ms: number, scope: "ip" | "account" = "account"): void {
    const until = this.now() + ms;
    const venue = this.venueOf.get(keyId);
    if (scope === "ip" && venue !== undefined) {
      this.venuePause.set(venue, Math.max(this.venuePause.get(venue) ?? 0, until));
      return;
    }
    const b = this.brake(keyId);
    b.pausedUntil = Math.max(b.pausedUntil, until);
  }

  /** A request's outcome: ambiguous failures count towards the breaker, anything else resets it. */
  outcome(keyId: number, ambiguous: boolean): void {
    const b = this.brake(keyId);
    if (!ambiguous) {
      b.failures = 0;
      return;
    }
    b.failures++;
    if (b.failures >= (this.o.breakerThreshold ?? 5)) {
      b.openUntil = this.now() + (this.o.breakerOpenMs ?? 30_000);
      b.failures = 0;
    }
  }

  async close(): Promise<void> {
    const all = await Promise.allSettled([...this.cache.values()]);
    this.cache.clear();
    for (const a of all) {
      if (a.status === "fulfilled") {
        const ex = a.value.client.exchange as unknown as { close?: () => Promise<void> };
        await ex.close?.().catch(() => {});
      }
    }
  }
}
