// The user's portfolio: what every valid key (the paper account included) holds, valued in USDT
// at the venue's current prices; open positions with unrealised P&L; realised P&L and fees per
// window; and performance over an equity curve built from snapshots, with the backtest engine's
// metric code. Balances are read from the venue through the user's own key, opened here with the
// master key; only read calls are made.
//
// Answers are cached per user in the broker's cacher (Redis when REDIS_URL is set), and dropped on
// the events that change them (order.filled, position.opened, position.closed, all carrying
// userId); a node that misses an event serves at most one cache TTL of stale data. Snapshots are
// taken every PORTFOLIO_SNAPSHOT_INTERVAL_MS and after fills and closes.
import type { Context, Service, ServiceSchema } from "moleculer";
import { KeyRing } from "../src/adapters/crypto/aead";
import type { ExchangeEndpoints } from "../src/adapters/exchange/config";
import { portfolioConfig } from "../src/adapters/config";
import type { ExchangeId } from "../src/adapters/auth/api-keys";
import { VenueAccounts } from "../src/adapters/execution/accounts";
import {
  exposedSteps,
  performanceMetrics,
  RANGE_MS,
  resample,
  TradeBook,
  type Range,
} from "../src/adapters/portfolio/performance";
import { money, openPositionPnl, sum } from "../src/adapters/portfolio/pnl";
import { PortfolioStore, type KeyScope, type Mode, type WindowSums } from "../src/adapters/portfolio/store";
import { Valuation, VALUE_ASSET, type AccountView } from "../src/adapters/portfolio/valuation";
import { getDatabase } from "../src/adapters/storage/database";
import { Decimal } from "../src/core/money/decimal";
import { symbolSpec } from "../src/core/market/symbols";
import { loadSecrets } from "../src/runtime/secrets";
import { REPL_CALLER } from "../src/runtime/repl-commands";
import { AuthGuardMixin, guarded, requireUser, type AuraMeta } from "../mixins/auth-guard.mixin";
import ErrorsMixin from "../mixins/errors.mixin";
import { venueEndpoints } from "../src/adapters/exchange/cluster-sim";
import { numberOrNull } from "../src/adapters/storage/rows";

export interface PortfolioSettings {
  snapshotIntervalMs: number;
  /** seconds a summary (balances, prices) is served from the cache */
  summaryTtlSec: number;
  /** seconds performance figures are served from the cache (events drop them sooner) */
  performanceTtlSec: number;
  /** how long the venue may take to answer a balance or price request */
  venueTimeoutMs: number;
  /** snapshots after events: at most one per user and mode within this gap */
  eventSnapshotGapMs: number;
  /** events for one user within this window lead to one snapshot */
  eventDebounceMs: number;
}

interface PortfolioVars {
  store: PortfolioStore;
  accounts: VenueAccounts;
  valuation: Valuation;
  inflight: Map<string, Promise<unknown>>;
  pendingSnapshots: Map<number, NodeJS.Timeout>;
  timer?: NodeJS.Timeout;
  snapshotting?: Promise<void>;
  stopping: boolean;
}

interface PortfolioMethods {
  endpoints(exchange: ExchangeId): Promise<ExchangeEndpoints>;
  cached<T>(key: string, ttlSec: number, compute: () => Promise<T>): Promise<T>;
  cacheKeys(userId: number): string[];
  invalidate(userId: number): Promise<void>;
  computeSummary(userId: number, mode: Mode | undefined): Promise<Record<string, unknown>>;
  computePerformance(userId: number, range: Range, mode: Mode): Promise<Record<string, unknown>>;
  snapshot(userId: number, mode: Mode, minGapMs: number): Promise<boolean>;
  snapshotDue(): Promise<void>;
  onTradingEvent(ctx: Context<{ userId?: unknown }>): void;
}

type Self = Service<PortfolioSettings> & PortfolioVars & PortfolioMethods;

const RANGES: Range[] = ["7d", "30d", "90d", "all"];
const MODES: Mode[] = ["live", "paper"];
const CACHE_PREFIX = "portfolio:v1";

/** Window sums of several key scopes added up. */
function sumWindows(parts: readonly WindowSums[]): Record<keyof WindowSums, Decimal> {
  return {
    today: sum(parts.map((p) => p.today)),
    d7: sum(parts.map((p) => p.d7)),
    d30: sum(parts.map((p) => p.d30)),
    all: sum(parts.map((p) => p.all)),
  };
}

const PortfolioService: ServiceSchema<PortfolioSettings, PortfolioMethods, PortfolioVars, Self> = {
  name: "portfolio",
  mixins: [AuthGuardMixin, ErrorsMixin],

  settings: {
    snapshotIntervalMs: portfolioConfig().snapshotIntervalMs,
    summaryTtlSec: 10,
    performanceTtlSec: 120,
    venueTimeoutMs: 5000,
    eventSnapshotGapMs: 1000,
    eventDebounceMs: 500,
  },

  actions: {
    /** GET /api/v1/portfolio[?mode=live|paper] */
    summary: guarded({
      auth: "user",
      params: { $$strict: "remove", mode: { type: "enum", values: MODES, optional: true } },
      async handler(this: Self, ctx: Context<{ mode?: Mode | null }, AuraMeta>) {
        const me = requireUser(ctx);
        const mode = ctx.params.mode ?? undefined;
        return this.cached(
          `${CACHE_PREFIX}:${me.id}:summary:${mode ?? "all"}`,
          this.settings.summaryTtlSec,
          () => this.computeSummary(me.id, mode),
        );
      },
    }),

    /** GET /api/v1/portfolio/performance?range=7d|30d|90d|all&mode=live|paper */
    performance: guarded({
      auth: "user",
      params: {
        $$strict: "remove",
        range: { type: "enum", values: RANGES, optional: true },
        mode: { type: "enum", values: MODES, optional: true },
      },
      async handler(this: Self, ctx: Context<{ range?: Range | null; mode?: Mode | null }, AuraMeta>) {
        const me = requireUser(ctx);
        const range = ctx.params.range ?? "30d";
        const mode = ctx.params.mode ?? "live";
        return this.cached(
          `${CACHE_PREFIX}:${me.id}:perf:${range}:${mode}`,
          this.settings.performanceTtlSec,
          () => this.computePerformance(me.id, range, mode),
        );
      },
    }),

    /** Takes a snapshot of the user's equity now (tests, operators). */
    snapshotNow: guarded({
      auth: "internal",
      callers: [REPL_CALLER],
      visibility: "public",
      params: { $$strict: "remove", userId: { type: "number", integer: true, positive: true } },
      async handler(this: Self, ctx: Context<{ userId: number }>) {
        const taken: Mode[] = [];
        for (const mode of MODES) if (await this.snapshot(ctx.params.userId, mode, 0)) taken.push(mode);
        await this.invalidate(ctx.params.userId);
        return { taken };
      },
    }),
  },

  events: {
    "order.filled"(this: Self, ctx: Context<{ userId?: unknown }>) {
      this.onTradingEvent(ctx);
    },
    "position.opened"(this: Self, ctx: Context<{ userId?: unknown }>) {
      this.onTradingEvent(ctx);
    },
    "position.closed"(this: Self, ctx: Context<{ userId?: unknown }>) {
      this.onTradingEvent(ctx);
    },
    // a key that is gone must not keep answering from a cached client
    "keys.removed"(this: Self, ctx: Context<{ keyId?: unknown; userId?: unknown }>) {
      this.accounts?.forget(Number(ctx.params.keyId));
      if (Number.isSafeInteger(ctx.params.userId)) void this.invalidate(Number(ctx.params.userId));
    },
    "keys.invalidated"(this: Self, ctx: Context<{ keyId?: unknown; userId?: unknown }>) {
      this.accounts?.forget(Number(ctx.params.keyId));
      if (Number.isSafeInteger(ctx.params.userId)) void this.invalidate(Number(ctx.params.userId));
    },
  },

  methods: {
    endpoints(this: Self, exchange: ExchangeId): Promise<ExchangeEndpoints> {
      return venueEndpoints(this.broker, this.fullName, exchange);
    },

    /** The cached answer, or one computation shared by every concurrent caller on this node. */
    async cached<T>(this: Self, key: string, ttlSec: number, compute: () => Promise<T>): Promise<T> {
      const cacher = this.broker.cacher;
      const hit = cacher ? ((await cacher.get(key).catch(() => null)) as T | null) : null;
      if (hit) return hit;
      const running = this.inflight.get(key) as Promise<T> | undefined;
      if (running) return running;
      const p = (async () => {
        const v = await compute();
        if (cacher) await cacher.set(key, v, ttlSec).catch(() => undefined);
        return v;
      })();
      this.inflight.set(key, p);
      try {
        return await p;
      } finally {
        this.inflight.delete(key);
      }
    },

    cacheKeys(userId: number): string[] {
      const keys = ["all", ...MODES].map((m) => `${CACHE_PREFIX}:${userId}:summary:${m}`);
      for (const r of RANGES) for (const m of MODES) keys.push(`${CACHE_PREFIX}:${userId}:perf:${r}:${m}`);
      return keys;
    },

    async invalidate(this: Self, userId: number) {
      const cacher = this.broker.cacher;
      if (!cacher) return;
      await Promise.all(this.cacheKeys(userId).map((k) => cacher.del(k).catch(() => undefined)));
    },

    onTradingEvent(this: Self, ctx: Context<{ userId?: unknown }>) {
      const userId = Number(ctx.params?.userId);
      if (!Number.isSafeInteger(userId) || userId <= 0) return;
      void this.invalidate(userId);
      if (this.stopping) return;
      // a burst of events (fill, position opened, OCO placed) leads to one snapshot after it
      const pending = this.pendingSnapshots.get(userId);
      if (pending) clearTimeout(pending);
      const t = setTimeout(() => {
        this.pendingSnapshots.delete(userId);
        void (async () => {
          for (const mode of MODES) await this.snapshot(userId, mode, this.settings.eventSnapshotGapMs);
          await this.invalidate(userId);
        })().catch((e: Error) => this.logger.warn({ userId, err: e.message }, "portfolio snapshot failed"));
      }, this.settings.eventDebounceMs);
      t.unref();
      this.pendingSnapshots.set(userId, t);
    },

    async computeSummary(this: Self, userId: number, mode: Mode | undefined) {
      const keys = await this.store.keys(userId, mode);
      const paperKeyIds = mode === "live" ? [] : await this.store.keyIdsOfMode(userId, "paper");
      const modeKeyIds =
        mode === "paper"
          ? paperKeyIds
          : mode === "live"
            ? await this.store.keyIdsOfMode(userId, "live")
            : undefined;
      // the windows ("today", "7 days") of each mode on its own clock: paper records carry the
      // simulator's times, which replay a past market
      const scopes: { scope: KeyScope; now: number }[] = [];
      if (mode !== "live")
        scopes.push({ scope: { only: paperKeyIds }, now: await this.valuation.nowOf("paper", keys, userId) });
      if (mode !== "paper")
        scopes.push({
          scope: mode === "live" ? { only: modeKeyIds } : { except: paperKeyIds },
          now: await this.valuation.nowOf("live", keys, userId),
        });
      const [accounts, positions, windowSums, feeRowsPerScope] = await Promise.all([
        Promise.all(keys.map((k) => this.valuation.account(k, userId))),
        this.store.openPositions(userId, modeKeyIds),
        Promise.all(scopes.map((x) => this.store.realized(userId, x.scope, x.now))),
        Promise.all(scopes.map((x) => this.store.fees(userId, x.scope, x.now))),
      ]);
      const realized = sumWindows(windowSums);
      const feeRows = feeRowsPerScope.flat();
      const byKey = new Map(keys.map((k) => [String(k.id), k]));

      // open positions at the price of their own venue
      const [entryFills, legSales] = await Promise.all([
        this.store.orderFills(positions.map((p) => p.entry_order_id).filter((x): x is string => x !== null)),
        this.store.legSales(positions.map((p) => String(p.id))),
      ]);
      let unrealized = Decimal.ZERO;
      const positionViews = [];
      for (const p of positions) {
        const spec = symbolSpec(p.symbol);
        const base = spec?.baseAsset ?? p.symbol.replace(/USDT$/, "");
        const quote = spec?.quoteAsset ?? VALUE_ASSET;
        const key = p.api_key_id === null ? undefined : byKey.get(String(p.api_key_id));
        const client = key ? await this.valuation.clientOf(Number(key.id), userId) : undefined;
        const price = await this.valuation.symbolPrice(key?.exchange ?? "stored", client, p.symbol);
        const r = openPositionPnl({
          qty: p.qty,
          entryPrice: p.entry_price,
          entryFees: p.entry_fees,
          baseAsset: base,
          quoteAsset: quote,
          entry: p.entry_order_id === null ? undefined : entryFills.get(String(p.entry_order_id)),
          sold: legSales.get(String(p.id)),
          price,
        });
        if (r.unrealizedPnl !== null && quote === VALUE_ASSET)
          unrealized = unrealized.add(Decimal.parse(r.unrealizedPnl));
        positionViews.push({
          id: Number(p.id),
          strategyId: numberOrNull(p.strategy_id),
          strategy: p.strategy,
          keyId: numberOrNull(p.api_key_id),
          mode: key ? (key.paper ? "paper" : "live") : null,
          symbol: p.symbol,
          qty: r.qty,
          entryPrice: Decimal.parse(p.entry_price).toString(),
          currentPrice: price ?? null,
          costBasis: r.cost,
          marketValue: r.marketValue,
          unrealizedPnl: r.unrealizedPnl,
          unrealizedPnlPct: r.unrealizedPnlPct,
          protection: p.protection,
          openedAt: p.opened_at,
        });
      }

      // fees: quote-asset fees as they are, base-asset fees at their fills' prices, others apart
      const windows = ["today", "d7", "d30", "all"] as const;
      const fees = Object.fromEntries(windows.map((w) => [w, Decimal.ZERO])) as Record<
        (typeof windows)[number],
        Decimal
      >;
      const otherFees: Record<string, Decimal> = {};
      for (const r of feeRows) {
        const spec = symbolSpec(r.symbol);
        if (!r.asset) continue;
        for (const w of windows) {
          const raw = r[w];
          if (spec && r.asset === spec.quoteAsset && spec.quoteAsset === VALUE_ASSET)
            fees[w] = fees[w].add(Decimal.parse(raw));
          else if (spec && r.asset === spec.baseAsset && spec.quoteAsset === VALUE_ASSET)
            fees[w] = fees[w].add(Decimal.parse(r[`${w}_px`]));
          else if (w === "all")
            otherFees[r.asset] = (otherFees[r.asset] ?? Decimal.ZERO).add(Decimal.parse(raw));
        }
      }

      const assets = new Map<string, { free: Decimal; locked: Decimal; value: Decimal | null }>();
      for (const a of accounts)
        for (const b of a.balances) {
          const cur = assets.get(b.asset) ?? {
            free: Decimal.ZERO,
            locked: Decimal.ZERO,
            value: Decimal.ZERO,
          };
          cur.free = cur.free.add(Decimal.parse(b.free));
          cur.locked = cur.locked.add(Decimal.parse(b.locked));
          cur.value = b.value === null || cur.value === null ? null : cur.value.add(Decimal.parse(b.value));
          assets.set(b.asset, cur);
        }
      const total = sum(accounts.map((a: AccountView) => a.value));
      return {
        currency: VALUE_ASSET,
        asOf: new Date().toISOString(),
        ...(mode ? { mode } : {}),
        totalValue: money(total),
        complete: accounts.every((a) => a.status === "ok" && a.balances.every((b) => b.value !== null)),
        accounts,
        assets: [...assets.entries()]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([asset, v]) => ({
            asset,
            free: v.free.toString(),
            locked: v.locked.toString(),
            total: v.free.add(v.locked).toString(),
            value: v.value === null ? null : money(v.value),
          })),
        positions: positionViews,
        unrealizedPnl: money(unrealized),
        realizedPnl: {
          today: money(realized.today),
          d7: money(realized.d7),
          d30: money(realized.d30),
          all: money(realized.all),
        },
        fees: {
          today: money(fees.today),
          d7: money(fees.d7),
          d30: money(fees.d30),
          all: money(fees.all),
          ...(Object.keys(otherFees).length
            ? {
                otherAssets: Object.fromEntries(Object.entries(otherFees).map(([k, v]) => [k, v.toString()])),
              }
            : {}),
        },
      };
    },

    async computePerformance(this: Self, userId: number, range: Range, mode: Mode) {
      const now = await this.valuation.nowOf(mode, await this.store.keys(userId, mode), userId);
      const fromMs = range === "all" ? null : now - RANGE_MS[range];
      const keyIds = await this.store.keyIdsOfMode(userId, mode);
      const { before, rows } = await this.store.snapshots(userId, mode, fromMs);
      const series = resample(rows, before, fromMs, now);
      const book = new TradeBook();
      for await (const batch of this.store.trades(userId, keyIds, fromMs))
        for (const t of batch) book.add(t, [`s:${t.strategy_id ?? ""}`, `y:${t.symbol}`]);
      const byStrategy = book.breakdown("s:");
      const names = await this.store.strategyNames(
        userId,
        byStrategy.map((b) => b.key).filter((k) => k !== ""),
      );
      const base = {
        range,
        mode,
        currency: VALUE_ASSET,
        from:
          fromMs === null
            ? series
              ? new Date(series.startMs).toISOString()
              : null
            : new Date(fromMs).toISOString(),
        to: new Date(now).toISOString(),
        byStrategy: byStrategy.map(({ key, ...b }) => ({
          strategyId: key === "" ? null : Number(key),
          strategy: names.get(key) ?? null,
          ...b,
        })),
        bySymbol: book.breakdown("y:").map(({ key, ...b }) => ({ symbol: key, ...b })),
      };
      if (!series)
        return { ...base, stepMs: null, equity: [], metrics: { ...book.overall(), feesPaid: book.fees } };
      const [spans, skipped] = await Promise.all([
        this.store.positionSpans(userId, keyIds, fromMs),
        this.store.skippedEntries(userId, keyIds, fromMs),
      ]);
      const metrics = performanceMetrics(series, book, exposedSteps(series, spans, now), skipped);
      const equity = Array.from(series.equity, (e, i) => ({ time: series.time[i], equity: e }));
      return { ...base, stepMs: series.stepMs, initialEquity: series.initialBalance, equity, metrics };
    },

    /** Values the user's keys of one mode and stores a snapshot; false when none was due or possible. */
    async snapshot(this: Self, userId: number, mode: Mode, minGapMs: number): Promise<boolean> {
      const keys = await this.store.keys(userId, mode);
      if (!keys.length) return false;
      const accounts = await Promise.all(keys.map((k) => this.valuation.account(k, userId)));
      // a snapshot missing an account would show as a fall in equity that never happened
      if (accounts.some((a) => a.status !== "ok")) return false;
      const balances: Record<string, string> = {};
      for (const a of accounts)
        for (const b of a.balances)
          balances[b.asset] = Decimal.parse(balances[b.asset] ?? "0")
            .add(Decimal.parse(b.total))
            .toString();
      const equity = money(sum(accounts.map((a) => a.value)));
      const at = await this.valuation.nowOf(mode, keys, userId);
      return this.store.insertSnapshot(userId, mode, equity, balances, minGapMs, at);
    },

    async snapshotDue(this: Self) {
      const due = await this.store.snapshotsDue(Math.floor(this.settings.snapshotIntervalMs * 0.9));
      for (const d of due) {
        if (this.stopping) return;
        await this.snapshot(d.userId, d.mode, Math.floor(this.settings.snapshotIntervalMs * 0.5)).catch(
          (e: Error) =>
            this.logger.warn({ userId: d.userId, mode: d.mode, err: e.message }, "portfolio snapshot failed"),
        );
      }
    },
  },

  created(this: Self) {
    this.inflight = new Map();
    this.pendingSnapshots = new Map();
    this.stopping = false;
  },

  async started(this: Self) {
    const secrets = loadSecrets(process.env, { warn: (m) => this.logger.warn(m) });
    const db = await getDatabase();
    this.store = new PortfolioStore(db.sequelize);
    this.accounts = new VenueAccounts({
      sequelize: db.sequelize,
      ring: new KeyRing(secrets.masterKey, secrets.oldMasterKeys),
      endpoints: (exchange) => this.endpoints(exchange),
      timeoutMs: this.settings.venueTimeoutMs,
    });
    this.valuation = new Valuation({ accounts: this.accounts, store: this.store });
    if (this.settings.snapshotIntervalMs > 0) {
      this.timer = setInterval(() => {
        if (this.snapshotting || this.stopping) return;
        this.snapshotting = this.snapshotDue()
          .catch((e: Error) => this.logger.warn({ err: e.message }, "portfolio snapshots failed"))
          .finally(() => (this.snapshotting = undefined));
      }, this.settings.snapshotIntervalMs);
      this.timer.unref();
    }
  },

  async stopped(this: Self) {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    for (const t of this.pendingSnapshots.values()) clearTimeout(t);
    this.pendingSnapshots.clear();
    await this.snapshotting;
    await this.accounts?.close();
  },
};

export default PortfolioService;
