// Balances and prices for the portfolio, read from each venue through the user's key (execution's
// VenueAccounts: the secret is opened in this process, never sent over the bus; only read calls
// are made). A paper account is priced by its own venue, the simulator, whose clock is not the
// market's; a key or price that cannot be read makes its part "unavailable" instead of failing the
// whole portfolio. Prices are kept a few seconds per venue and symbol. A paper account's windows
// ("today", "7 days") and snapshots run on its venue's clock, which `nowOf` reads.
import { AccountUnusableError, type VenueAccounts } from "../execution/accounts";
import type { TradingClient } from "../exchange/trading-client";
import { Decimal } from "../../core/money/decimal";
import { money } from "./pnl";
import type { KeyRow, Mode, PortfolioStore } from "./store";

export const VALUE_ASSET = "USDT";
/** a market every venue AURA trades on lists, read for the market's clock */
const CLOCK_SYMBOL = "BTCUSDT";
/** how long a venue's answer stands for its clock (its replay may run 1,800× real time) */
const CLOCK_TTL_MS = 500;

export interface BalanceView {
  asset: string;
  free: string;
  locked: string;
  total: string;
  /** in USDT; null when no price is known */
  price: string | null;
  value: string | null;
}

export interface AccountView {
  keyId: number;
  label: string;
  exchange: string;
  mode: Mode;
  status: "ok" | "unavailable";
  message?: string;
  value: string;
  balances: BalanceView[];
}

export interface ValuationOptions {
  accounts: VenueAccounts;
  store: PortfolioStore;
  priceTtlMs?: number;
  now?: () => number;
}

export class Valuation {
  private readonly prices = new Map<string, { at: number; price: Promise<string | undefined> }>();
  /** the last time each venue (by exchange id) told, and when it was asked */
  private readonly clocks = new Map<string, { at: number; venue: number }>();
  private readonly now: () => number;

  constructor(private readonly o: ValuationOptions) {
    this.now = o.now ?? Date.now;
  }

  /** The key's balances valued in USDT. */
  async account(key: KeyRow, userId: number): Promise<AccountView> {
    const base = {
      keyId: Number(key.id),
      label: key.label,
      exchange: key.exchange,
      mode: (key.paper ? "paper" : "live") as Mode,
    };
    let client: TradingClient;
    let balances: Map<string, { free: string; locked: string }>;
    try {
      client = (await this.o.accounts.get(Number(key.id), userId)).client;
      balances = (await client.account()).balances;
    } catch (e) {
      return {
        ...base,
        status: "unavailable",
        message:
          e instanceof AccountUnusableError
            ? "The key cannot be used to read balances."
            : "The exchange did not answer the balance request.",
        value: "0",
        balances: [],
      };
    }
    const out: BalanceView[] = [];
    let value = Decimal.ZERO;
    for (const [asset, b] of balances) {
      const total = Decimal.parse(b.free || "0").add(Decimal.parse(b.locked || "0"));
      if (total.isZero()) continue;
      const price = await this.priceOf(key.exchange, client, asset);
      const v = price === undefined ? undefined : total.mul(Decimal.parse(price));
      if (v) value = value.add(v);
      out.push({
        asset,
        free: Decimal.parse(b.free || "0").toString(),
        locked: Decimal.parse(b.locked || "0").toString(),
        total: total.toString(),
        price: price ?? null,
        value: v ? money(v) : null,
      });
    }
    out.sort((a, b) => a.asset.localeCompare(b.asset));
    return { ...base, status: "ok", value: money(value), balances: out };
  }

  /** USDT per unit of `asset` on the key's venue (its ticker, else the last stored close). */
  priceOf(exchange: string, client: TradingClient | undefined, asset: string): Promise<string | undefined> {
    if (asset === VALUE_ASSET) return Promise.resolve("1");
    return this.symbolPrice(exchange, client, `${asset}${VALUE_ASSET}`);
  }

  symbolPrice(
    exchange: string,
    client: TradingClient | undefined,
    symbol: string,
  ): Promise<string | undefined> {
    const k = `${exchange}:${symbol}`;
    const hit = this.prices.get(k);
    const ttl = this.o.priceTtlMs ?? 5000;
    if (hit && this.now() - hit.at < ttl) return hit.price;
    const p = (async () => {
      if (client) {
        try {
          return await client.price(symbol);
        } catch {
          // no such market on the venue, or it did not answer: the stored candles may know
        }
      }
      return this.o.store.lastClose(symbol).catch(() => undefined);
    })();
    this.prices.set(k, { at: this.now(), price: p });
    if (this.prices.size > 5000) this.prices.delete(this.prices.keys().next().value as string);
    return p;
  }

  /**
   * "Now" for a set of keys of one mode: the machine's clock for live keys; for paper keys the
   * clock of their venue, the simulator, which replays a past market (usually much faster than
   * real time). Paper fills, trades and positions carry that venue's times, so "today" and "the
   * last 7 days" of a paper account are the venue's. The venue's clock is shared by all its
   * accounts and asked at most once per CLOCK_TTL_MS; a venue that does not answer leaves its
   * last known time, else the machine's.
   */
  async nowOf(mode: Mode, keys: readonly KeyRow[], userId: number): Promise<number> {
    if (mode === "live") return this.now();
    const key = keys.find((k) => k.paper);
    if (!key) return this.now();
    const hit = this.clocks.get(key.exchange);
    if (hit && this.now() - hit.at < CLOCK_TTL_MS) return hit.venue;
    const venue = await (
      await this.clientOf(Number(key.id), userId)
    )
      ?.marketTime(CLOCK_SYMBOL)
      .catch(() => undefined);
    if (venue === undefined) return hit?.venue ?? this.now();
    this.clocks.set(key.exchange, { at: this.now(), venue });
    return venue;
  }

  /** The venue client of a key, when it can be opened (for prices of its positions). */
  async clientOf(keyId: number, userId: number): Promise<TradingClient | undefined> {
    try {
      return (await this.o.accounts.get(keyId, userId)).client;
    } catch {
      return undefined;
    }
  }
}
