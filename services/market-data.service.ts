// Market data: live klines from the exchange's WebSocket (closed candles only, strictly in order,
// gaps back-filled over REST first), subscriptions stored in the database, each series streamed by
// exactly one market-data node through a lease (another node takes it over when that one dies),
// the candle store and cache, and history reads. The logic lives in src/adapters/market and
// src/core/market; this file wires it to the broker: params in, events out.
import { Errors, type EventSchema, type Context, type Service, type ServiceSchema } from "moleculer";
import { AuthGuardMixin, guarded } from "../mixins/auth-guard.mixin";
import { backoffDelay, type BackoffOptions } from "../src/adapters/exchange/backoff";
import { marketDataConfig } from "../src/adapters/config";
import { endpointsFor, type ExchangeEndpoints, type ExchangeKind } from "../src/adapters/exchange/config";
import { KlineStream } from "../src/adapters/exchange/kline-stream";
import { MarketRest, type ExchangeSymbol } from "../src/adapters/exchange/market-rest";
import { createCandleCache, type CandleCache } from "../src/adapters/market/candle-cache";
import { MarketFeed } from "../src/adapters/market/feed";
import { CandleHistory, GapBook } from "../src/adapters/market/history";
import { ensureBundledHistory, type BundledLoadResult } from "../src/adapters/market/import";
import { BatchedKlineWriter, KlineStore } from "../src/adapters/market/kline-store";
import { StreamOwnership, type Outgoing } from "../src/adapters/market/ownership";
import { StreamStore, strategyIdOf, type SeriesId } from "../src/adapters/market/streams";
import { toMoleculerError } from "../src/adapters/errors";
import { getDatabase } from "../src/adapters/storage/database";
import { epochOrIsoTimeParam } from "../src/gateway/params";
import { REPL_CALLER } from "../src/runtime/repl-commands";
import {
  MARKET_EVENTS,
  seriesKey,
  type CandleClosedEvent,
  type DataGapEvent,
} from "../src/core/market/events";
import { FIXED_INTERVALS, intervalMs } from "../src/core/market/symbols";
import { AuraError } from "../src/core/model/errors";
import { auraMetrics, type AuraMetrics } from "../src/adapters/metrics";

export const MAX_CANDLES_PER_REQUEST = 1000;

export interface MarketDataSettings {
  /** simUrl: SIM_URL when set (otherwise the in-process simulator is asked for its address) */
  exchange: { kind: ExchangeKind; restUrl?: string; wsUrl?: string; simUrl?: string };
  /** series kept subscribed for the life of the process, each closed candle logged at info */
  watch: { symbol: string; interval: string }[];
  /** load the bundled 2023–2024 BTCUSDT/ETHUSDT 1h history into `klines` on start (idempotent) */
  loadBundled: boolean;
  /** a subscribed stream silent for this long is stale (reconnect + market.data.stale); 0 = off */
  staleAfterMs: number;
  maxConnectionAgeMs: number;
  reconnect: BackoffOptions;
  backfillBackoff: BackoffOptions;
  maxBackfillAttempts: number;
  updateThrottleMs: number;
  cacheSize: number;
  /** how long subscribe waits for the exchange to acknowledge a new stream */
  subscribeWaitMs: number;
  writer: { maxRows: number; maxDelayMs: number };
  /** after a restart, candles missed since the newest stored one are back-filled up to this many */
  maxResumeCandles: number;
  /** how long a node's lease on a series' stream lasts unless renewed (every third of it) */
  streamLeaseTtlMs: number;
  /**
   * how long a gateway node may be missing from the registry before its subscriptions are dropped
   * (it may not have been discovered yet, or be leaving without a goodbye)
   */
  nodeBoundGraceMs: number;
}

/** The service's settings: the variables from marketDataConfig, the rest fixed here. */
export function readMarketDataEnv(env?: NodeJS.ProcessEnv): MarketDataSettings {
  const cfg = marketDataConfig(env);
  return {
    exchange: { kind: cfg.kind, simUrl: cfg.simUrl },
    watch: cfg.watch,
    loadBundled: cfg.loadBundled,
    staleAfterMs: cfg.staleAfterMs,
    maxConnectionAgeMs: 23.5 * 3_600_000,
    reconnect: { baseMs: 500, maxMs: 30_000 },
    backfillBackoff: { baseMs: 500, maxMs: 15_000 },
    maxBackfillAttempts: 6,
    updateThrottleMs: 1000,
    cacheSize: 1000,
    subscribeWaitMs: 5000,
    writer: { maxRows: 1000, maxDelayMs: 100 },
    maxResumeCandles: 1000,
    streamLeaseTtlMs: cfg.streamLeaseTtlMs,
    nodeBoundGraceMs: 30_000,
  };
}

const SYMBOL = {
  type: "string",
  trim: true,
  uppercase: true,
  pattern: /^[A-Z0-9]{2,20}$/,
  messages: {
    stringPattern: "'symbol' must be an exchange symbol such as BTCUSDT (2-20 letters or digits).",
    required: "'symbol' is required (e.g. BTCUSDT).",
  },
} as const;
const INTERVAL = {
  type: "enum",
  values: FIXED_INTERVALS,
  messages: {
    enumValue: `Unsupported 'interval': use one of ${FIXED_INTERVALS.join(", ")}.`,
    required: "'interval' is required (e.g. 1h).",
  },
} as const;

/**
 * Epoch ms (number or digits) or an ISO date / date-time (UTC when no zone is given), a real
 * calendar date within 1970..2100, so `new Date(t).toISOString()` below cannot throw.
 */
function timeParam(name: string) {
  return epochOrIsoTimeParam(name, { optional: true });
}

/**
 * Who may hold subscriptions: the strategy actors (`strategy.<instanceId>`), market-data's own
 * nodes (MARKET_DATA_WATCH), the gateway, which holds the series its dashboard sockets watch
 * (subscriber `api.<node>`), and operators.
 */
const SUBSCRIBERS = ["strategy.*", "market-data", "api", REPL_CALLER];

/** The subscriber id of the MARKET_DATA_WATCH series: one for every node, so they share one subscription. */
export const WATCH_SUBSCRIBER = "watch:env";

/** A gateway node's subscriber id is this prefix and its node id; it lasts while that node is in the cluster. */
const NODE_BOUND_PREFIX = "api.";

/** Broadcast to the other market-data nodes when a stream is given back, so one takes it at once. */
const STREAM_RELEASED = "market-data.stream.released";

/** The bundled history load, as health() reports it. */
type BundledState =
  | { state: "disabled" | "pending" | "loading" }
  | ({ state: "interrupted" | "done" } & BundledLoadResult)
  | { state: "failed"; error: string };

type Health = {
  status: "up" | "degraded";
  details: Record<string, unknown>;
};

interface MarketDataVars {
  metrics: AuraMetrics;
  gaps: GapBook;
  /** MARKET_DATA_WATCH series (seriesKey), whose closed candles this node logs when it streams them */
  watchKeys: Set<string>;
  /** gateway nodes with subscriptions that the registry does not list, since when */
  missingSince: Map<string, number>;
  stopping: boolean;
  bundled: BundledState;
  bundledTask?: Promise<void>;
  watchTask?: Promise<void>;
  // set in started()
  endpoints: ExchangeEndpoints;
  rest: MarketRest;
  stream: KlineStream;
  store: KlineStore;
  writer: BatchedKlineWriter;
  cache: CandleCache;
  feed: MarketFeed;
  history: CandleHistory;
  streams: StreamStore;
  ownership: StreamOwnership;
}

type SubscribeResult = { symbol: string; interval: string; subscribers: number; live: boolean };

interface MarketDataMethods {
  callExchange<T>(fn: () => Promise<T>): Promise<T>;
  requireSymbol(symbol: string): Promise<ExchangeSymbol>;
  addSubscriber(symbol: string, interval: string, subscriber: string): Promise<SubscribeResult>;
  removeSubscriber(
    symbol: string,
    interval: string,
    subscriber: string,
  ): Promise<{ symbol: string; interval: string; subscribers: number }>;
  startSeries(s: SeriesId): Promise<void>;
  marketNodes(): string[];
  sweepNodeBound(): Promise<void>;
  deliver(items: Outgoing[]): void;
  onClosed(ev: CandleClosedEvent): void;
  onGap(ev: DataGapEvent): void;
  resolveEndpoints(): Promise<ExchangeEndpoints>;
  keepWatching(symbol: string, interval: string): Promise<void>;
  health(): Health;
}

type Self = Service<MarketDataSettings> & MarketDataVars & MarketDataMethods;

type SeriesParams = { symbol: string; interval: string; subscriber: string };

/** What market-data reads of `exchange-sim.info`. */
type SimInfo = { baseUrl: string };

/** An error as thrown by the broker or the exchange adapters (only these fields are read). */
type CaughtError = { message: string; code?: unknown; type?: unknown };

const MarketDataService: ServiceSchema<MarketDataSettings, MarketDataMethods, MarketDataVars, Self> = {
  name: "market-data",
  mixins: [AuthGuardMixin],
  settings: readMarketDataEnv(),

  actions: {
    /**
     * Keeps a series streaming while at least one subscriber holds it. The same subscriber id
     * subscribing twice counts once, so a restarting strategy cannot inflate the count. The
     * subscription is stored, so it outlives this node; `strategy.<id>` holds the series only while
     * that strategy is active or stopping, `api.<node>` while that gateway node is in the cluster.
     */
    subscribe: guarded({
      auth: "internal",
      callers: SUBSCRIBERS,
      visibility: "public",
      strategy: "Shard",
      strategyOptions: { shardKey: "symbol" },
      params: {
        $$strict: "remove",
        symbol: SYMBOL,
        interval: INTERVAL,
        subscriber: { type: "string", min: 1, max: 200 },
      },
      async handler(this: Self, ctx: Context<SeriesParams>) {
        const { symbol, interval, subscriber } = ctx.params;
        await this.requireSymbol(symbol);
        return this.addSubscriber(symbol, interval, subscriber);
      },
    }),

    unsubscribe: guarded({
      auth: "internal",
      callers: SUBSCRIBERS,
      visibility: "public",
      strategy: "Shard",
      strategyOptions: { shardKey: "symbol" },
      params: {
        $$strict: "remove",
        symbol: SYMBOL,
        interval: INTERVAL,
        subscriber: { type: "string", min: 1, max: 200 },
      },
      async handler(this: Self, ctx: Context<SeriesParams>) {
        const { symbol, interval, subscriber } = ctx.params;
        return this.removeSubscriber(symbol, interval, subscriber);
      },
    }),

    /**
     * Series held by subscriptions, with their subscribers, the node streaming each and, for the
     * series streamed here, their continuity state; for operators
     * (`call market-data.subscriptions --$caller repl` in the REPL).
     */
    subscriptions: guarded({
      auth: "internal",
      callers: [REPL_CALLER],
      visibility: "public",
      async handler(this: Self) {
        const health = this.feed?.seriesHealth() ?? {};
        const rows = await this.streams.subscriptions();
        const out = new Map<string, Record<string, unknown> & { subscribers: string[] }>();
        for (const r of rows) {
          if (!r.counts) continue;
          const k = seriesKey(r.symbol, r.interval);
          let e = out.get(k);
          if (!e) {
            e = {
              symbol: r.symbol,
              interval: r.interval,
              subscribers: [],
              owner: r.live ? r.owner : null,
              fencingToken: r.token,
              ...(health[k] ?? {}),
            };
            out.set(k, e);
          }
          e.subscribers.push(r.subscriber);
        }
        return [...out.values()];
      },
    }),

    /** Closed candles of a series: from the cache, else the database, else the exchange. */
    candles: guarded({
      auth: "user",
      visibility: "published",
      retryPolicy: { enabled: true },
      params: {
        $$strict: "remove",
        symbol: SYMBOL,
        interval: INTERVAL,
        from: timeParam("from"),
        to: timeParam("to"),
        limit: {
          type: "number",
          integer: true,
          min: 1,
          max: MAX_CANDLES_PER_REQUEST,
          optional: true,
          convert: true,
          messages: {
            numberMax: `'limit' must be at most ${MAX_CANDLES_PER_REQUEST} candles per request; page with 'from'/'to' for more.`,
            numberMin: "'limit' must be at least 1.",
          },
        },
      },
      async handler(
        this: Self,
        ctx: Context<{
          symbol: string;
          interval: string;
          from?: number | null;
          to?: number | null;
          limit?: number | null;
        }>,
      ) {
        const { symbol, interval } = ctx.params;
        // an optional field may arrive as null (JSON); null means "not given"
        const from = ctx.params.from ?? undefined;
        const to = ctx.params.to ?? undefined;
        if (from !== undefined && to !== undefined && from > to) {
          throw new Errors.MoleculerClientError(
            `'from' (${new Date(from).toISOString()}) is after 'to' (${new Date(to).toISOString()}).`,
            400,
            "INVALID_RANGE",
            { from, to },
          );
        }
        await this.requireSymbol(symbol);
        try {
          return await this.history.candles({
            symbol,
            interval,
            intervalMs: intervalMs(interval)!,
            from,
            to,
            limit: ctx.params.limit ?? 500,
          });
        } catch (e) {
          throw toMoleculerError(e);
        }
      },
    }),

    /** Symbols the exchange lists, with their filters and the supported intervals. */
    symbols: guarded({
      auth: "user",
      visibility: "published",
      retryPolicy: { enabled: true },
      params: { $$strict: "remove" },
      async handler(this: Self) {
        const syms = await this.callExchange(() => this.rest.symbols());
        return {
          exchange: this.endpoints.kind,
          intervals: FIXED_INTERVALS,
          symbols: [...syms.values()].sort((a, b) => (a.symbol < b.symbol ? -1 : 1)),
        };
      },
    }),
  },

  events: {
    "$node.disconnected"(this: Self, ctx: Context<{ node?: { id?: string } } | undefined>) {
      const gone = ctx.params?.node?.id;
      // a gateway that left will never unsubscribe; its sockets went with it
      if (gone && this.streams) {
        this.streams
          .dropBound(NODE_BOUND_PREFIX, [gone])
          .catch((e: Error) =>
            this.logger.warn({ err: e.message }, "could not drop a departed node's subscriptions"),
          );
      }
      // a market-data node that left gave its streams back first (or its leases run out): take them
      this.ownership?.requestTick(0);
    },
    // a market-data node joined or left: rebalance (local changes are this node's own)
    // outside the bulkhead: a runner creating hundreds of actors sends a burst of these, and a
    // handler that only schedules a tick must never be refused as QUEUE_FULL
    "$services.changed": {
      bulkhead: { enabled: false },
      handler(this: Self, ctx: Context<{ localService?: boolean }>) {
        if (!ctx.params?.localService) this.ownership?.requestTick(100);
      },
    } as unknown as EventSchema,
    [STREAM_RELEASED](this: Self) {
      this.ownership?.requestTick(0);
    },
  },

  methods: {
    async callExchange<T>(fn: () => Promise<T>): Promise<T> {
      try {
        return await fn();
      } catch (e) {
        throw toMoleculerError(e);
      }
    },

    async requireSymbol(this: Self, symbol: string) {
      try {
        return await this.rest.requireSymbol(symbol);
      } catch (e) {
        if (e instanceof AuraError && e.code === "NOT_FOUND")
          throw new Errors.MoleculerClientError(e.message, 404, "UNKNOWN_SYMBOL", { symbol });
        throw toMoleculerError(e);
      }
    },

    async addSubscriber(this: Self, symbol: string, interval: string, subscriber: string) {
      const series = { symbol, interval };
      if (!(await this.streams.subscribe(series, subscriber))) {
        throw new Errors.MoleculerClientError(
          `Subscriber ${subscriber} names strategy ${strategyIdOf(subscriber)}, which does not exist.`,
          404,
          "NOT_FOUND",
          { subscriber },
        );
      }
      const subscribers = await this.streams.subscribers(series);
      if (subscribers === 0) return { symbol, interval, subscribers, live: false };
      // nobody streams it yet: this node takes it; the fair share may move it later
      const here = (await this.ownership.acquire([series], true)).length > 0;
      if (!here)
        return { symbol, interval, subscribers, live: (await this.streams.owner(series)) !== undefined };
      let live = true;
      // the start this node's claim began, then the stream's state now (it may have dropped since)
      const started = (this.ownership.started(series) ?? Promise.resolve()).then(() => {
        // given back or lost meanwhile: starting the feed now would stream it unowned
        if (!this.ownership.holds(series)) throw new Error("the stream moved to another node");
        return this.feed.start(symbol, interval);
      });
      const timeout = new Promise<"timeout">((r) =>
        setTimeout(() => r("timeout"), this.settings.subscribeWaitMs).unref(),
      );
      try {
        if ((await Promise.race([started, timeout])) === "timeout") live = false;
      } catch (err) {
        const e = err as CaughtError;
        // anything but a refusal is this node's trouble, not the subscriber's: the subscription
        // is stored, and this node or another streams the series once it can
        if (!/exchange refused/.test(e.message)) return { symbol, interval, subscribers, live: false };
        await this.streams.unsubscribe(series, subscriber);
        if ((await this.streams.subscribers(series)) === 0) await this.ownership.release(series);
        throw new Errors.MoleculerClientError(
          `Cannot stream ${symbol} ${interval}: ${e.message}`,
          400,
          "STREAM_REFUSED",
          { symbol, interval },
        );
      }
      return { symbol, interval, subscribers, live };
    },

    async removeSubscriber(this: Self, symbol: string, interval: string, subscriber: string) {
      const series = { symbol, interval };
      await this.streams.unsubscribe(series, subscriber);
      const subscribers = await this.streams.subscribers(series);
      // a stream held elsewhere is given back by its owner at its next round
      if (subscribers === 0 && this.ownership.holds(series)) await this.ownership.release(series);
      return { symbol, interval, subscribers };
    },

    /** Starts streaming a series this node just claimed. */
    async startSeries(this: Self, s: SeriesId) {
      // the cached tail may have a hole from the time nobody streamed the series here
      if (!this.feed.has(s.symbol, s.interval)) await this.cache.clear(s.symbol, s.interval).catch(() => {});
      // given back or lost while the cache was cleared: nothing to start
      if (!this.ownership.holds(s)) return;
      await this.feed.start(s.symbol, s.interval);
    },

    /** The available nodes running market-data, this one included. */
    marketNodes(this: Self) {
      const nodes = this.broker.registry
        .getServiceList({ onlyAvailable: true, skipInternal: true })
        .filter((x) => x.name === this.name && x.nodeID !== undefined)
        .map((x) => x.nodeID as string);
      return nodes.includes(this.broker.nodeID) ? nodes : [...nodes, this.broker.nodeID];
    },

    /**
     * Drops the subscriptions of gateway nodes the registry has not listed for the grace time: they
     * stopped without a goodbye that reached this node.
     */
    async sweepNodeBound(this: Self) {
      const bound = await this.streams.boundNodes(NODE_BOUND_PREFIX);
      const present = new Set(this.broker.registry.getNodeList({ onlyAvailable: true }).map((n) => n.id));
      const now = Date.now();
      const gone: string[] = [];
      for (const n of bound) {
        if (present.has(n)) {
          this.missingSince.delete(n);
          continue;
        }
        const since = this.missingSince.get(n) ?? now;
        this.missingSince.set(n, since);
        if (now - since >= this.settings.nodeBoundGraceMs) gone.push(n);
      }
      for (const n of this.missingSince.keys()) if (!bound.includes(n)) this.missingSince.delete(n);
      if (gone.length) {
        await this.streams.dropBound(NODE_BOUND_PREFIX, gone);
        for (const n of gone) this.missingSince.delete(n);
        this.logger.info({ nodes: gone }, "dropped the subscriptions of gateway nodes that left the cluster");
      }
    },

    deliver(this: Self, items: Outgoing[]) {
      for (const it of items) {
        if (it.kind === "closed") this.onClosed(it.ev);
        else this.onGap(it.ev);
      }
    },

    onClosed(this: Self, ev: CandleClosedEvent) {
      this.metrics.set("candleLag", Math.max(0, (Date.now() - ev.candle.closeTime - 1) / 1000), {
        symbol: ev.symbol,
        interval: ev.interval,
      });
      this.broker
        .broadcast(MARKET_EVENTS.candleClosed, ev)
        .catch((e: Error) => this.logger.error({ err: e.message }, "could not broadcast a closed candle"));
      this.writer.add(ev.symbol, ev.interval, ev.candle);
      this.cache
        .append(ev.symbol, ev.interval, ev.candle)
        .catch((e: Error) => this.logger.warn({ err: e.message }, "candle cache write failed"));
      if (this.watchKeys.has(seriesKey(ev.symbol, ev.interval))) {
        const c = ev.candle;
        this.logger.info(
          {
            symbol: ev.symbol,
            interval: ev.interval,
            openTime: new Date(c.openTime).toISOString(),
            open: c.open,
            high: c.high,
            low: c.low,
            close: c.close,
            volume: c.volume,
          },
          `candle closed ${ev.symbol} ${ev.interval} ${new Date(c.openTime).toISOString()} close ${c.close}`,
        );
      }
    },

    onGap(this: Self, ev: DataGapEvent) {
      this.gaps.add(ev.symbol, ev.interval, ev.from, ev.to, intervalMs(ev.interval)!);
      this.logger.warn(
        {
          symbol: ev.symbol,
          interval: ev.interval,
          from: new Date(ev.from).toISOString(),
          to: new Date(ev.to).toISOString(),
          missing: ev.missing,
          reason: ev.reason,
        },
        ev.reason === "exchange"
          ? "the exchange has no candles for this span: reported as a gap"
          : "candles could not be fetched; continuing after a gap",
      );
      this.broker.broadcast(MARKET_EVENTS.dataGap, ev).catch(() => {});
    },

    async resolveEndpoints(this: Self): Promise<ExchangeEndpoints> {
      const ex = this.settings.exchange;
      if (ex.kind === "sim" && !ex.restUrl && !ex.simUrl && this.broker.getLocalService("exchange-sim")) {
        // the in-process simulator may listen on a port chosen at start (SIM_PORT=0)
        for (let attempt = 0; !this.stopping; attempt++) {
          try {
            const info = await this.broker.call<SimInfo, object>(
              "exchange-sim.info",
              {},
              { caller: this.fullName },
            );
            return endpointsFor("sim", { restUrl: info.baseUrl });
          } catch {
            await new Promise((r) =>
              setTimeout(r, Math.min(1000, backoffDelay(attempt, { baseMs: 50, maxMs: 1000 }))),
            );
          }
        }
      }
      return endpointsFor(ex.kind, { restUrl: ex.restUrl, wsUrl: ex.wsUrl });
    },

    /**
     * Keeps a MARKET_DATA_WATCH series subscribed for the life of the process, retrying until the
     * exchange answers; a series the exchange does not serve is logged and given up.
     */
    async keepWatching(this: Self, symbol: string, interval: string) {
      for (let attempt = 0; !this.stopping; attempt++) {
        try {
          await this.requireSymbol(symbol);
          const r = await this.addSubscriber(symbol, interval, WATCH_SUBSCRIBER);
          this.logger.info({ symbol, interval, live: r.live }, "watching series (MARKET_DATA_WATCH)");
          return;
        } catch (err) {
          const e = err as CaughtError | undefined;
          if (e?.code === 404 || e?.type === "STREAM_REFUSED") {
            this.logger.error(
              { symbol, interval, err: e.message },
              "MARKET_DATA_WATCH names a series the exchange does not serve",
            );
            return;
          }
          const delay = backoffDelay(attempt, { baseMs: 1000, maxMs: 30_000 });
          this.logger.warn(
            { symbol, interval, err: e?.message, retryInMs: delay },
            "cannot watch series yet; retrying",
          );
          await new Promise((r) => setTimeout(r, delay).unref());
        }
      }
    },

    health(this: Self) {
      const feed: MarketFeed | undefined = this.feed;
      const fh = feed?.health() ?? { status: "up", reasons: [] };
      return {
        status: fh.status,
        details: {
          exchange: this.endpoints?.kind,
          reasons: fh.reasons.length ? fh.reasons : undefined,
          stream: this.stream?.stats(),
          series: feed?.seriesHealth(),
          rest: this.rest?.stats(),
          bundledHistory: this.bundled,
          streams: this.ownership?.stats(),
          writer: this.writer
            ? { written: this.writer.written, buffered: this.writer.buffered, dropped: this.writer.dropped }
            : undefined,
        },
      };
    },
  },

  created(this: Self) {
    this.metrics = auraMetrics(this.broker);
    this.gaps = new GapBook();
    this.watchKeys = new Set(this.settings.watch.map((w) => seriesKey(w.symbol, w.interval)));
    this.missingSince = new Map();
    this.stopping = false;
    this.bundled = { state: this.settings.loadBundled ? "pending" : "disabled" };
  },

  async started(this: Self) {
    const s = this.settings;
    const log = this.logger;
    this.endpoints = await this.resolveEndpoints();
    this.rest = new MarketRest({ endpoints: this.endpoints, rateLimitRetries: 3 });
    this.stream = new KlineStream({
      wsBase: this.endpoints.wsBase,
      staleAfterMs: s.staleAfterMs,
      maxConnectionAgeMs: s.maxConnectionAgeMs,
      backoff: s.reconnect,
      log: {
        info: (...a: unknown[]) => log.info(...a),
        warn: (...a: unknown[]) => log.warn(...a),
        debug: (...a: unknown[]) => log.debug(...a),
      },
    });
    const db = await getDatabase();
    this.store = new KlineStore(db.sequelize);
    this.writer = new BatchedKlineWriter(this.store, {
      maxRows: s.writer.maxRows,
      maxDelayMs: s.writer.maxDelayMs,
      onError: (e, rows) => log.warn({ err: e.message, rows }, "could not store closed candles; will retry"),
      onStored: (symbol, interval, newest) =>
        this.streams
          .markPublished({ symbol, interval }, newest)
          .catch((e: Error) =>
            log.warn(
              { symbol, interval, err: e.message },
              "could not record how far the series was published; a successor publishes those candles again",
            ),
          ),
    });
    this.cache = createCandleCache(this.broker.cacher, s.cacheSize);
    this.feed = new MarketFeed({
      stream: this.stream,
      rest: this.rest,
      updateThrottleMs: s.updateThrottleMs,
      backfillBackoff: s.backfillBackoff,
      maxBackfillAttempts: s.maxBackfillAttempts,
      maxResumeCandles: s.maxResumeCandles,
      // after what this series' streams published (what this node still buffers included), never
      // after the newest stored candle: `klines` also holds candles no stream published (bundled
      // history a simulator replays, imports)
      resumeAfter: async (symbol, interval) => {
        await this.writer.flush().catch(() => {});
        return this.streams.publishedThrough({ symbol, interval });
      },
      anchored: async (symbol, interval, candle) => {
        await this.store.insert(symbol, interval, [candle]);
        await this.streams.markPublished({ symbol, interval }, candle.openTime);
      },
      log: {
        info: (...a: unknown[]) => log.info(...a),
        warn: (...a: unknown[]) => log.warn(...a),
        debug: (...a: unknown[]) => log.debug(...a),
        error: (...a: unknown[]) => log.error(...a),
      },
      publisher: {
        // closed candles and gaps leave only through the lease check
        closed: (ev) => this.ownership.publish({ kind: "closed", ev }),
        updated: (ev) => void this.broker.broadcast(MARKET_EVENTS.candleUpdated, ev).catch(() => {}),
        gap: (ev) => this.ownership.publish({ kind: "gap", ev }),
        stale: (ev) => {
          log.warn(
            { symbol: ev.symbol, interval: ev.interval, silentForMs: ev.silentForMs },
            "market data stale: no update from the exchange; reconnecting",
          );
          void this.broker.broadcast(MARKET_EVENTS.dataStale, ev).catch(() => {});
          this.metrics.inc("marketStale", { symbol: ev.symbol });
        },
      },
    });
    this.history = new CandleHistory({
      store: this.store,
      cache: this.cache,
      rest: this.rest,
      gaps: this.gaps,
      livePublished: (symbol, interval) => this.feed.lastPublished(symbol, interval),
      flushWrites: () => this.writer.flush(),
      log: { warn: (...a: unknown[]) => log.warn(...a) },
    });
    this.streams = new StreamStore(db.sequelize, this.broker.nodeID);
    this.ownership = new StreamOwnership({
      store: this.streams,
      nodeId: this.broker.nodeID,
      ttlMs: s.streamLeaseTtlMs,
      nodes: () => this.marketNodes(),
      start: (x) => this.startSeries(x),
      // a lost stream may have published candles that never got out: the store says what did
      stop: (x) => this.feed.stop(x.symbol, x.interval, { forget: true }),
      deliver: (items) => this.deliver(items),
      flush: () => this.writer.flush(),
      housekeeping: () => this.sweepNodeBound(),
      released: () =>
        void this.broker.broadcast(STREAM_RELEASED, {}, { groups: [this.name] }).catch(() => {}),
      log: {
        info: (...a: unknown[]) => log.info(...a),
        warn: (...a: unknown[]) => log.warn(...a),
        error: (...a: unknown[]) => log.error(...a),
      },
    });
    this.ownership.begin();

    if (s.loadBundled) {
      // in the background: readiness does not wait for it, a stop interrupts it between batches
      this.bundled = { state: "loading" };
      this.bundledTask = ensureBundledHistory(this.store, { shouldStop: () => this.stopping })
        .then((r: BundledLoadResult) => {
          this.bundled = { state: r.aborted ? "interrupted" : "done", ...r };
          const inserted = r.series.reduce((n, x) => n + x.inserted, 0);
          if (inserted > 0)
            log.info({ inserted, ms: r.durationMs }, "bundled 2023-2024 klines loaded into the database");
        })
        .catch((e: Error) => {
          this.bundled = { state: "failed", error: e.message };
          log.warn({ err: e.message }, "could not load the bundled klines");
        });
    }

    for (const w of s.watch) {
      // kept subscribed for the life of the process; retried until the exchange answers. After the
      // bundled history is in place: a series resumes after the newest stored candle
      this.watchTask = (this.watchTask ?? this.bundledTask ?? Promise.resolve()).then(() =>
        this.keepWatching(w.symbol, w.interval),
      );
    }
    log.info(
      {
        exchange: this.endpoints.kind,
        rest: this.endpoints.restBase,
        ws: this.endpoints.wsBase,
        watch: s.watch.map((w) => `${w.symbol}:${w.interval}`),
      },
      "market data ready",
    );
  },

  async stopped(this: Self) {
    this.stopping = true;
    // hand the streams back (what was published is stored first), so others need not wait for expiry
    await this.ownership
      ?.shutdown()
      .catch((e: Error) => this.logger.warn({ err: e.message }, "could not hand the market streams back"));
    await this.feed?.close().catch(() => {});
    await this.writer?.flush().catch(() => {});
    await this.bundledTask?.catch(() => {});
  },
};

export default MarketDataService;
