// One strategy instance at work: the actor behind the `strategy.<instanceId>` service. It restores
// the instance (row, active version, compiled strategy), warms the indicators from stored candles,
// learns its position from the positions table, subscribes to its series and then decides each
// closed candle in order, one at a time: skip what was decided, back-fill what was missed, decide
// with the backtest's rules (src/core/strategy/live.ts), record the decision under the lease, and
// only then ask execution to act.
//
// The runner (services/strategy-runner.service.ts) owns the lease and the lifecycle: it feeds
// candles in, and is told when the actor crashed, lost its lease or finished stopping. The
// Moleculer service of an actor only answers `status` and `logs`; it has no event handler of its
// own (the runner routes candles), so creating and destroying actors leaves nothing behind in the
// registry.
import type { ServiceBroker, ServiceSchema, Context, Service } from "moleculer";
import { QueryTypes, type Sequelize } from "sequelize";
import { AuthGuardMixin, guarded } from "../../../mixins/auth-guard.mixin";
import { intentId, type IntentAction } from "../../core/execution/ids";
import type { SubmitCommand, SubmitResult } from "../../core/execution/types";
import { strategyCandle, type MarketCandle } from "../../core/market/events";
import { intervalMs as intervalMsOf } from "../../core/market/symbols";
import type { Candle } from "../../core/model/candle";
import { indicatorSpec } from "../../core/indicators/registry";
import { compileStrategy, DeclarativeStrategy, type BaseStrategy } from "../../core/strategy";
import {
  decide,
  type Decision,
  type DecisionAction,
  type LivePosition,
  type LiveState,
} from "../../core/strategy/live";
import { backoffDelay } from "../exchange/backoff";
import {
  lastCandleSql,
  type DecisionFeed,
  type DecisionLog,
  type DecisionLogRow,
  type StoredIntent,
} from "./decisions";
import { numberOrNull } from "../storage/rows";

/** Who may ask an actor for its status and log. */
export const ACTOR_CALLERS = ["repl", "strategies", "api"];

/** The instance as the actor restores it. */
export interface InstanceInfo {
  id: number;
  userId: number;
  keyId: number | null;
  name: string;
  symbol: string;
  interval: string;
  mode: string;
  status: string;
  paused: boolean;
  closeOnStop: boolean;
  lastCandleTime: number | null;
  /** the version the instance runs (active_version, else the current one) */
  version: number;
  definition: unknown;
}

/** Builds the strategy object of an instance; the default compiles the stored definition. */
export type StrategyFactory = (definition: unknown, instance: InstanceInfo) => BaseStrategy;

type Log = Pick<Service["logger"], "debug" | "info" | "warn" | "error">;

/** A failure of the strategy itself (its definition or its code), as opposed to the infrastructure. */
export class StrategyFault extends Error {
  constructor(
    readonly original: unknown,
    /** the definition cannot run at all (it does not compile): restarting cannot help */
    readonly permanent = false,
  ) {
    super(original instanceof Error ? original.message : String(original));
    this.name = "StrategyFault";
  }
}

// ---------------------------------------------------------------------------------------------
// shared per runner: a concurrency gate, the candle source, the position book

/**
 * At most `limit` calls in flight. Moleculer's bulkhead on the callee queues 100 calls and refuses
 * the rest, so hundreds of actors starting together must not call market-data all at once.
 */
export class Gate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

type Call = <T>(action: string, params: object, opts: { caller: string; meta?: object }) => Promise<T>;

interface CandlesAnswer {
  candles: MarketCandle[];
  complete: boolean;
}

/**
 * Candles from `market-data.candles`, paged at 1000. Actors of one runner that start together ask
 * for the same window (the newest candles, or the candles up to the same last decided one), so a
 * window is fetched once and shared; a newer closed candle of the series drops the "newest" window.
 */
export class CandleSource {
  private readonly windows = new Map<
    string,
    { count: number; at: number; candles: Promise<MarketCandle[]> }
  >();

  constructor(
    private readonly call: Call,
    private readonly gate: Gate,
    private readonly ttlMs = 60_000,
  ) {}

  private async page(
    caller: string,
    userId: number,
    params: { symbol: string; interval: string; from?: number; to?: number; limit: number },
  ): Promise<MarketCandle[]> {
    const r = await this.gate.run(() =>
      this.call<CandlesAnswer>("market-data.candles", params, {
        caller,
        meta: { user: { id: userId, role: "user" } },
      }),
    );
    if (!r.complete)
      throw new Error(`market-data could not serve ${params.symbol} ${params.interval} candles`);
    return r.candles;
  }

  /** Up to `count` candles ending at open time `to` (undefined: the newest closed one), ascending. */
  newest(
    caller: string,
    userId: number,
    symbol: string,
    interval: string,
    count: number,
    to?: number,
  ): Promise<MarketCandle[]> {
    const key = `${symbol}:${interval}:${to ?? "newest"}`;
    const now = Date.now();
    const hit = this.windows.get(key);
    if (hit && hit.count >= count && now - hit.at < this.ttlMs)
      return hit.candles.then((cs) => cs.slice(Math.max(0, cs.length - count)));
    const iv = intervalMsOf(interval)!;
    const candles = (async () => {
      let out: MarketCandle[] = [];
      let cursor = to;
      while (out.length < count) {
        const want = Math.min(1000, count - out.length);
        const got = await this.page(caller, userId, {
          symbol,
          interval,
          ...(cursor !== undefined ? { to: cursor } : {}),
          limit: want,
        });
        out = got.concat(out);
        if (got.length < want || !got.length) break;
        cursor = got[0].openTime - iv;
      }
      return out;
    })();
    this.windows.set(key, { count, at: now, candles });
    candles.catch(() => {
      if (this.windows.get(key)?.candles === candles) this.windows.delete(key);
    });
    return candles;
  }

  /** The closed candles with open times from..to (inclusive), ascending. */
  async range(
    caller: string,
    userId: number,
    symbol: string,
    interval: string,
    from: number,
    to: number,
  ): Promise<MarketCandle[]> {
    const iv = intervalMsOf(interval)!;
    const out: MarketCandle[] = [];
    for (let cursor = from; cursor <= to;) {
      const got = await this.page(caller, userId, { symbol, interval, from: cursor, to, limit: 1000 });
      if (!got.length) break;
      out.push(...got);
      cursor = got[got.length - 1].openTime + iv;
    }
    return out;
  }

  /** A newer candle of the series closed: "newest" windows are out of date. */
  invalidate(symbol: string, interval: string): void {
    this.windows.delete(`${symbol}:${interval}:newest`);
    const now = Date.now();
    for (const [k, w] of this.windows) if (now - w.at >= this.ttlMs) this.windows.delete(k);
  }
}

export interface PositionView {
  /** open positions of the instance */
  open: number;
  /** when the latest closed one closed, epoch ms */
  lastClosedMs: number | null;
  /** of the intent ids asked about, those that have a position row (open or closed) */
  seen: string[];
}

/**
 * The positions table as the actors of one runner read it: gathered over one turn of the event
 * loop into one query, because after a candle closes every actor of the series asks at once.
 */
export class PositionBook {
  private queue: {
    id: number;
    intents: string[];
    resolve(v: PositionView): void;
    reject(e: unknown): void;
  }[] = [];
  private scheduled = false;

  constructor(private readonly sequelize: Sequelize) {}

  read(id: number, intents: string[] = []): Promise<PositionView> {
    return new Promise((resolve, reject) => {
      this.queue.push({ id, intents, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    try {
      const rows = await this.sequelize.query<{
        strategy_id: string;
        open: number;
        last_closed_ms: string | null;
        seen: string[] | null;
      }>(
        `SELECT p.strategy_id,
                count(*) FILTER (WHERE p.status = 'open')::int AS open,
                round(extract(epoch FROM max(p.closed_at) FILTER (WHERE p.status = 'closed')) * 1000)::bigint
                  AS last_closed_ms,
                array_agg(p.intent_id) FILTER (WHERE p.intent_id = ANY($2::text[])) AS seen
           FROM positions p WHERE p.strategy_id = ANY($1::bigint[])
          GROUP BY p.strategy_id`,
        {
          bind: [[...new Set(batch.map((b) => b.id))], [...new Set(batch.flatMap((b) => b.intents))]],
          type: QueryTypes.SELECT,
        },
      );
      const by = new Map(rows.map((r) => [Number(r.strategy_id), r]));
      for (const b of batch) {
        const r = by.get(b.id);
        b.resolve({
          open: r?.open ?? 0,
          lastClosedMs: r?.last_closed_ms == null ? null : Number(r.last_closed_ms),
          seen: (r?.seen ?? []).filter((s) => b.intents.includes(s)),
        });
      }
    } catch (e) {
      for (const b of batch) b.reject(e);
    }
  }
}

interface InstanceRow {
  id: string;
  user_id: string;
  api_key_id: string | null;
  name: string;
  symbol: string;
  interval: string;
  mode: string;
  status: string;
  paused: boolean;
  close_on_stop: boolean;
  last_candle_time: string | null;
  version: number;
  definition: unknown;
}

/**
 * Instance rows with their active version's definition, gathered over one turn of the event loop
 * into one query: a claim starts hundreds of actors at once.
 */
export class InstanceLoader {
  private queue: { id: number; resolve(v: InstanceInfo | undefined): void; reject(e: unknown): void }[] = [];
  private scheduled = false;

  constructor(private readonly sequelize: Sequelize) {}

  load(id: number): Promise<InstanceInfo | undefined> {
    return new Promise((resolve, reject) => {
      this.queue.push({ id, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    try {
      const rows = await this.sequelize.query<InstanceRow>(
        `SELECT s.id, s.user_id, s.api_key_id, s.name, s.symbol, s.interval, s.mode, s.status, s.paused,
                s.close_on_stop, ${lastCandleSql("s")} AS last_candle_time, COALESCE(v.version, s.version) AS version,
                COALESCE(v.definition, s.definition) AS definition
           FROM strategies s
           LEFT JOIN strategy_versions v
             ON v.strategy_id = s.id AND v.version = COALESCE(s.active_version, s.version)
          WHERE s.id = ANY($1::bigint[])`,
        { bind: [[...new Set(batch.map((b) => b.id))]], type: QueryTypes.SELECT },
      );
      const by = new Map(rows.map((r) => [Number(r.id), r]));
      for (const b of batch) {
        const r = by.get(b.id);
        b.resolve(
          r && {
            id: Number(r.id),
            userId: Number(r.user_id),
            keyId: numberOrNull(r.api_key_id),
            name: r.name,
            symbol: r.symbol,
            interval: r.interval,
            mode: r.mode,
            status: r.status,
            paused: r.paused,
            closeOnStop: r.close_on_stop,
            lastCandleTime: numberOrNull(r.last_candle_time),
            version: Number(r.version),
            definition: r.definition,
          },
        );
      }
    } catch (e) {
      for (const b of batch) b.reject(e);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// the actor

export interface ActorPorts {
  broker: ServiceBroker;
  instances: InstanceLoader;
  decisions: DecisionLog;
  /** the owner's dashboards hear of each decision through it */
  feed: DecisionFeed;
  positions: PositionBook;
  candles: CandleSource;
  gate: Gate;
  /** bounds this runner's orders in flight to execution, apart from the market-data calls */
  submitGate: Gate;
  log: Log;
  factory?: StrategyFactory;
  /** the cluster-wide halt switch (no new entries) */
  halted(): boolean;
  /** this node's lease on the instance has more than the safety margin left (local clock) */
  leaseValid(): boolean;
  /** a decided candle more than this many intervals behind the newest known one is not traded */
  tradeLagCandles: number;
  /** how long an order request may take to reach the venue */
  submitDeadlineMs: number;
  /** after an order request got no answer, how long until it is sent again (while still tradeable) */
  resubmitRetryMs: number;
}

export interface ActorHooks {
  /** processing failed; `counted`: the strategy itself failed (counts toward the crash limit) */
  crashed(actor: StrategyActor, err: unknown, counted: boolean): void;
  /** the decision log refused a write: another node holds the lease now */
  leaseLost(actor: StrategyActor): void;
  /** a stopping instance closed what it had to: the runner ends it */
  finished(actor: StrategyActor): void;
}

export type ActorState =
  "starting" | "warming" | "running" | "closing" | "stopped" | "crashed" | "lost" | "finished";

/** Candles queued beyond this are dropped oldest first; the gap back-fill fetches them again. */
const MAX_QUEUE = 1000;
/** An accepted order not yet seen in the positions table counts for this many intervals. */
const PENDING_INTERVALS = 3;

/**
 * The strategy's view of a market candle. A runner hands the same event object to every actor of
 * the series, so the conversion is made once per candle and shared (frozen: no strategy can
 * change what another one sees).
 */
const converted = new WeakMap<MarketCandle, Candle>();
function toCandle(c: MarketCandle): Candle {
  let out = converted.get(c);
  if (!out) converted.set(c, (out = Object.freeze(strategyCandle(c))));
  return out;
}

/** Open time of the candle containing `t`. Binance's weekly candles open on Monday, not on the epoch's Thursday. */
export function candleContaining(t: number, interval: string, iv: number): number {
  const offset = interval === "1w" ? 4 * 86_400_000 : 0;
  return Math.floor((t - offset) / iv) * iv + offset;
}

const iso = (t: number | null | undefined) => (t == null ? null : new Date(t).toISOString());

export class StrategyActor {
  state: ActorState = "starting";
  info?: InstanceInfo;
  private strategy?: BaseStrategy;
  /** the indicator values the strategy exposes, as read by indicators() */
  private readable?: string[];
  private readonly live: LiveState = { seen: 0 };
  private iv = 0;
  /** open time of the last candle decided, or fed during warm-up */
  private last: number | undefined;
  /** open time of the newest closed candle known */
  private newest = 0;
  private queue: MarketCandle[] = [];
  /** when each queued candle reached this actor (wall clock), for the signal-to-order metric */
  private readonly arrivals = new Map<number, number>();
  private draining?: Promise<void>;
  private halted = false;
  private resubmitDue = false;
  private resubmitTimer: NodeJS.Timeout | undefined;
  private paused = false;
  private stopping = false;
  private closeOnStop = false;
  private readonly pendingEntries = new Map<string, number>();
  private pendingExit?: { candle: number };
  private position: LivePosition = { open: 0 };
  private warm = { needed: 0, fed: 0 };
  private subscribing?: Promise<void>;
  /** ends the wait between subscription attempts once the actor stops */
  private wake?: () => void;
  private subscribed = false;
  private lastDecision?: { candleOpenTime: number; actions: readonly string[]; reason: string };
  readonly startedAt = Date.now();

  constructor(
    readonly id: number,
    readonly token: number,
    readonly name: string,
    private readonly ports: ActorPorts,
    private readonly hooks: ActorHooks,
  ) {}

  get symbol(): string | undefined {
    return this.info?.symbol;
  }

  /** Restores the instance and starts deciding; failures go to the hooks, never thrown. */
  async start(): Promise<void> {
    try {
      const info = await this.ports.instances.load(this.id);
      if (this.halted) return;
      if (!info || (info.status !== "active" && info.status !== "stopping")) {
        // deleted or deactivated between the claim and now: the runner's next scan ends it
        this.state = "stopped";
        this.halted = true;
        return;
      }
      this.info = info;
      this.paused = info.paused;
      this.closeOnStop = info.closeOnStop;
      const iv = intervalMsOf(info.interval);
      if (!iv) throw new StrategyFault(new Error(`interval ${info.interval} has no fixed length`), true);
      this.iv = iv;
      if (info.status === "stopping") {
        this.stopping = true;
        await this.learnNewest();
        await this.resubmitUnanswered();
        if (!this.halted) await this.closeOut();
        return;
      }
      this.strategy = this.build(info);
      this.readable = undefined;
      this.state = "warming";
      await this.readPosition(undefined);
      await this.warmUp(info);
      if (this.halted) return;
      if (info.lastCandleTime !== null) await this.learnNewest();
      await this.resubmitUnanswered();
      if (this.halted) return;
      // The runner routes every candle of the series it receives whoever subscribed, so deciding
      // need not wait for market-data to store this subscription; it is kept trying meanwhile.
      this.keepSubscribed();
      if (info.lastCandleTime !== null) await this.catchUp();
      if (this.halted) return;
      // stopped while starting: close instead of running
      if (this.stopping) return await this.closeOut();
      this.state = "running";
      this.kick();
    } catch (e) {
      this.fail(e);
    }
  }

  private build(info: InstanceInfo): BaseStrategy {
    try {
      return this.ports.factory
        ? this.ports.factory(info.definition, info)
        : compileStrategy(info.definition);
    } catch (e) {
      throw new StrategyFault(e, true);
    }
  }

  /** Feeds indicators only, as the backtest does before its range: no decisions, no orders. */
  private async warmUp(info: InstanceInfo): Promise<void> {
    const s = this.strategy!;
    const count = Math.max(s.warmup, s.warmupCandles);
    this.warm = { needed: count, fed: 0 };
    const to = info.lastCandleTime ?? undefined;
    // at least one candle: a fresh instance starts deciding after the newest closed one
    const candles = await this.ports.candles.newest(
      this.name,
      info.userId,
      info.symbol,
      info.interval,
      Math.max(1, count),
      to,
    );
    if (this.halted) return;
    const ctx = { now: 0, openPositions: 0, canEnter: false };
    for (const c of count > 0 ? candles : []) {
      ctx.now = c.closeTime;
      this.live.seen++;
      this.warm.fed++;
      try {
        s.onCandle(toCandle(c), ctx);
      } catch (e) {
        throw new StrategyFault(e);
      }
    }
    const newest = candles.length ? candles[candles.length - 1].openTime : undefined;
    // resuming: the successor continues after the predecessor's last decision whatever the warm-up held
    this.last = info.lastCandleTime ?? newest;
    if (newest !== undefined) this.newest = Math.max(this.newest, newest);
  }

  /** The newest closed candle of the series: what "recent enough to trade" is measured against. */
  private async learnNewest(): Promise<void> {
    const info = this.info!;
    const latest = await this.ports.candles.newest(this.name, info.userId, info.symbol, info.interval, 1);
    if (latest.length) this.newest = Math.max(this.newest, latest[latest.length - 1].openTime);
  }

  /** Candles closed after the last decision while nobody ran the instance. */
  private async catchUp(): Promise<void> {
    const info = this.info!;
    if (this.last === undefined || this.newest <= this.last) return;
    const missed = await this.ports.candles.range(
      this.name,
      info.userId,
      info.symbol,
      info.interval,
      this.last + this.iv,
      this.newest,
    );
    for (const c of missed) {
      if (this.halted) return;
      if (c.openTime > this.last!) await this.decideOn(c);
    }
  }

  private async subscribe(): Promise<void> {
    const info = this.info!;
    await this.ports.gate.run(() =>
      this.ports.broker.call(
        "market-data.subscribe",
        { symbol: info.symbol, interval: info.interval, subscriber: this.name },
        { caller: this.name },
      ),
    );
  }

  /** Subscribes, retrying with backoff until market-data answers or the actor stops. */
  private keepSubscribed(): void {
    if (this.subscribing) return;
    this.subscribing = (async () => {
      for (let attempt = 0; !this.halted; attempt++) {
        try {
          await this.subscribe();
          this.subscribed = true;
          return;
        } catch (e) {
          const wait = backoffDelay(attempt, { baseMs: 500, maxMs: 30_000 });
          if (attempt % 5 === 0)
            this.ports.log.warn(
              { instanceId: this.id, err: (e as Error).message, retryInMs: wait },
              "could not subscribe to the series yet; retrying",
            );
          await new Promise<void>((r) => {
            this.wake = r;
            setTimeout(r, wait).unref();
          });
        }
      }
    })().finally(() => {
      this.subscribing = undefined;
      this.wake = undefined;
    });
  }

  /** Subscribes again after market-data restarted (subscribing is idempotent). */
  resubscribe(): void {
    if (this.halted || !this.info || this.stopping) return;
    this.keepSubscribed();
  }

  /** Gives up the market-data subscription: only when the instance stops for good. */
  async unsubscribe(): Promise<void> {
    const info = this.info;
    if (!info) return;
    // a subscription still on its way would land after the unsubscription
    await this.subscribing;
    await this.ports.gate
      .run(() =>
        this.ports.broker.call(
          "market-data.unsubscribe",
          { symbol: info.symbol, interval: info.interval, subscriber: this.name },
          { caller: this.name },
        ),
      )
      .catch((e: Error) =>
        this.ports.log.warn({ instanceId: this.id, err: e.message }, "unsubscribe failed"),
      );
  }

  /** A closed candle of the actor's series (the runner routes them); processed in arrival order. */
  push(c: MarketCandle): void {
    if (this.halted) return;
    this.arrivals.set(c.openTime, Date.now());
    if (this.arrivals.size > MAX_QUEUE) this.arrivals.delete(this.arrivals.keys().next().value!);
    this.queue.push(c);
    if (this.queue.length > MAX_QUEUE) this.queue.splice(0, this.queue.length - MAX_QUEUE);
    this.kick();
  }

  private kick(): void {
    if (this.draining || this.halted || this.state !== "running") return;
    if (!this.queue.length && !this.resubmitDue) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      this.kick();
    });
  }

  /**
   * An order request went unanswered (execution unreachable past the deadline): it is sent again
   * after a while, in the actor's own turn so it never races a decision, for as long as its candle
   * is recent enough to trade. Execution answers a repeated intent id with its first outcome.
   */
  private retryUnansweredLater(): void {
    if (this.resubmitTimer || this.halted) return;
    this.resubmitTimer = setTimeout(() => {
      this.resubmitTimer = undefined;
      if (this.halted) return;
      this.resubmitDue = true;
      this.kick();
    }, this.ports.resubmitRetryMs);
    this.resubmitTimer.unref();
  }

  private async drain(): Promise<void> {
    if (this.resubmitDue && !this.halted) {
      this.resubmitDue = false;
      try {
        await this.resubmitUnanswered();
      } catch (e) {
        this.ports.log.warn(
          { instanceId: this.id, err: (e as Error).message },
          "could not send unanswered order requests again; trying later",
        );
        this.retryUnansweredLater();
      }
    }
    while (this.queue.length && !this.halted && this.state === "running") {
      const c = this.queue.shift()!;
      try {
        await this.onClosed(c);
      } catch (e) {
        this.fail(e);
        return;
      }
    }
  }

  private async onClosed(c: MarketCandle): Promise<void> {
    if (this.last !== undefined && c.openTime <= this.last) return;
    this.newest = Math.max(this.newest, c.openTime);
    if (this.last !== undefined && c.openTime > this.last + this.iv) {
      const info = this.info!;
      const missed = await this.ports.candles.range(
        this.name,
        info.userId,
        info.symbol,
        info.interval,
        this.last + this.iv,
        c.openTime - this.iv,
      );
      for (const m of missed) {
        if (this.halted) return;
        if (m.openTime > this.last!) await this.decideOn(m);
      }
    }
    if (!this.halted) await this.decideOn(c);
  }

  private async readPosition(candleOpenTime: number | undefined): Promise<LivePosition> {
    const p = await this.ports.positions.read(this.id, [...this.pendingEntries.keys()]);
    for (const s of p.seen) this.pendingEntries.delete(s);
    const now = candleOpenTime ?? this.newest;
    for (const [k, t] of this.pendingEntries)
      if (now - t > PENDING_INTERVALS * this.iv) this.pendingEntries.delete(k);
    let open = p.open;
    let lastExit =
      p.lastClosedMs === null ? undefined : candleContaining(p.lastClosedMs, this.info!.interval, this.iv);
    // a close time beyond the market's clock (a venue on replay time, a clock off) is this candle
    if (lastExit !== undefined && candleOpenTime !== undefined && lastExit > candleOpenTime)
      lastExit = candleOpenTime;
    if (this.pendingExit) {
      if (open === 0 || now - this.pendingExit.candle > PENDING_INTERVALS * this.iv)
        this.pendingExit = undefined;
      else {
        // an accepted exit fills at the next open: the position is as good as closed there
        open = 0;
        const exitCandle = this.pendingExit.candle + this.iv;
        lastExit = lastExit === undefined ? exitCandle : Math.max(lastExit, exitCandle);
      }
    }
    open += this.pendingEntries.size;
    this.position = lastExit === undefined ? { open } : { open, lastExitCandle: lastExit };
    return this.position;
  }

  private command(
    action: IntentAction,
    candleOpenTime: number,
    reason: string,
  ): Omit<SubmitCommand, "deadline" | "fencingToken"> {
    const info = this.info!;
    const risk = this.strategy?.risk;
    return {
      intentId: intentId(this.id, candleOpenTime, action),
      userId: info.userId,
      keyId: info.keyId ?? 0,
      instanceId: this.id,
      symbol: info.symbol,
      side: action === "entry" ? "BUY" : "SELL",
      kind: action === "entry" ? "entry" : "exit",
      candleOpenTime,
      reason: reason.slice(0, 500),
      ...(action === "entry" && risk
        ? {
            sizing: { positionSizePct: risk.positionSizePct },
            risk: {
              ...(risk.takeProfitPct !== undefined ? { takeProfitPct: risk.takeProfitPct } : {}),
              ...(risk.stopLossPct !== undefined ? { stopLossPct: risk.stopLossPct } : {}),
            },
          }
        : {}),
    };
  }

  /** The strategy's indicator values now, by name (outputs of multi-output ones as name.output). */
  private indicators(): Record<string, number | null> | undefined {
    const s = this.strategy;
    if (!(s instanceof DeclarativeStrategy)) return undefined;
    // which values a definition has never changes: listed once, read on every candle
    this.readable ??= s.computedIndicators.flatMap((name) => {
      const outputs = indicatorSpec(s.definition.indicators[name].type)?.outputs;
      return outputs ? outputs.map((o) => `${name}.${o}`) : [name];
    });
    const out: Record<string, number | null> = {};
    for (const key of this.readable) out[key] = s.read(key) ?? null;
    return out;
  }

  /** The rules of a compiled definition whose signals fired on this candle. */
  private firedRules(d: Decision): Record<string, unknown> | undefined {
    const s = this.strategy;
    if (!(s instanceof DeclarativeStrategy) || !d.signals.length) return undefined;
    const out: Record<string, unknown> = {};
    for (const sig of d.signals)
      out[sig.kind] = sig.kind === "entry" ? s.definition.entry : s.definition.exit;
    return out;
  }

  /** Why nothing fired, in the terms the backtest uses. */
  private whyNothing(d: Decision, position: LivePosition): string {
    const exitRule =
      !(this.strategy instanceof DeclarativeStrategy) || this.strategy.definition.exit !== undefined;
    const held = position.open > 0 ? `${position.open} position(s) open` : "no position";
    if (d.canEnter)
      return position.open > 0 && exitRule
        ? "no signal: neither rule held"
        : "no signal: the entry rule did not hold";
    if (position.open > 0)
      return exitRule
        ? `no signal: the exit rule did not hold (${held})`
        : `no signal: ${held}, no exit rule`;
    return "no signal: cooling down after an exit";
  }

  private async decideOn(c: MarketCandle): Promise<void> {
    const info = this.info!;
    const strategy = this.strategy!;
    const position = await this.readPosition(c.openTime);
    if (this.halted) return;
    const halted = this.ports.halted();
    let d: Decision;
    try {
      d = decide(strategy, this.live, toCandle(c), position, this.iv, this.paused || halted);
    } catch (e) {
      throw new StrategyFault(e);
    }
    const lag = Math.round((this.newest - c.openTime) / this.iv);
    const tradeable = lag <= this.ports.tradeLagCandles;
    const noKey = info.keyId === null;
    const signalAt = this.arrivals.get(c.openTime);
    this.arrivals.delete(c.openTime);
    const intents =
      tradeable && !noKey
        ? d.actions.map((a) => ({
            ...this.command(a, c.openTime, d.reason),
            ...(signalAt ? { signalAt } : {}),
          }))
        : [];
    let message = d.reason === "no signal" ? this.whyNothing(d, position) : d.reason;
    if (d.warmingUp) message = `warming up: ${this.live.seen} of ${strategy.warmup} candles seen`;
    if (d.actions.length && !tradeable) message += `; not traded: the candle is ${lag} intervals old`;
    else if (d.actions.length && noKey) message += "; not traded: the instance has no exchange key";
    if (halted && d.signals.some((s) => s.kind === "entry"))
      message = message.replace("ignored: paused", "ignored: trading halted");
    const indicators = this.indicators();
    const rules = this.firedRules(d);
    const action = d.actions.length ? d.actions.join(",") : "none";
    const outcome = await this.ports.decisions.record({
      kind: "decision",
      strategyId: this.id,
      userId: info.userId,
      fencingToken: this.token,
      candleOpenTime: c.openTime,
      action,
      message,
      // only what says something: every runner writes one of these per instance and candle.
      // One shape for every decision, absent fields undefined (JSON leaves them out): objects of
      // one hidden class serialise on V8's fast path, hundreds per candle.
      data: {
        indicators: indicators ?? null,
        close: c.close,
        canEnter: d.canEnter,
        position,
        signals: d.signals.length ? d.signals.map((s) => s.kind) : undefined,
        rules,
        warmingUp: d.warmingUp || undefined,
        paused: this.paused || undefined,
        halted: halted || undefined,
        intents: intents.length ? intents : undefined,
        notTraded: d.actions.length && !intents.length ? d.actions : undefined,
      },
    });
    if (outcome === "lost") return this.loseLease();
    this.last = c.openTime;
    if (outcome === "duplicate") {
      this.ports.log.debug({ instanceId: this.id, candle: iso(c.openTime) }, "candle already decided");
      return;
    }
    this.lastDecision = { candleOpenTime: c.openTime, actions: d.actions, reason: message };
    // the owner's dashboards show each decision as it is made (gateways route it by userId)
    this.ports.feed.publish({
      userId: info.userId,
      strategyId: this.id,
      candleOpenTime: c.openTime,
      action,
      message,
    });
    this.ports.log.info(
      {
        instanceId: this.id,
        candle: iso(c.openTime),
        candleOpenTime: c.openTime,
        indicators,
        actions: d.actions,
        rules,
        reason: message,
        intents: intents.length ? intents.map((i) => i.intentId) : undefined,
      },
      "strategy decision",
    );
    for (const cmd of intents) {
      if (this.halted) return;
      await this.submit(cmd, c.openTime, cmd.intentId.endsWith("-entry") ? "entry" : "exit");
    }
  }

  /**
   * Sends one intent to execution and records the answer. Execution is repeat-safe by intent id,
   * so a timeout or a full queue is retried until the deadline; a refusal is an answer too.
   */
  private async submit(
    cmd: Omit<SubmitCommand, "deadline" | "fencingToken">,
    candleOpenTime: number,
    action: DecisionAction | "close",
  ): Promise<void> {
    if (!this.ports.leaseValid()) return; // a successor re-sends it: the decision is recorded
    const deadline = Date.now() + this.ports.submitDeadlineMs;
    const full: SubmitCommand = { ...cmd, fencingToken: this.token, deadline };
    let result: SubmitResult | undefined;
    let failure: string | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        result = await this.ports.submitGate.run(() =>
          this.ports.broker.call<SubmitResult, SubmitCommand>("execution.submit", full, {
            caller: this.name,
            timeout: Math.max(1000, deadline - Date.now() + 1000),
          }),
        );
        break;
      } catch (err) {
        const e = err as { message?: string; retryable?: boolean; code?: number };
        failure = e.message ?? String(err);
        const retry = e.retryable === true || e.code === undefined || e.code >= 500;
        const wait = backoffDelay(attempt, { baseMs: 100, maxMs: 1000 });
        if (!retry || this.halted || Date.now() + wait >= deadline || !this.ports.leaseValid()) break;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
    const info = this.info!;
    if (!result) {
      this.ports.log.warn(
        { instanceId: this.id, intentId: cmd.intentId, err: failure, retryInMs: this.ports.resubmitRetryMs },
        "order request failed; it is sent again shortly while its candle is recent enough to trade",
      );
      this.retryUnansweredLater();
      await this.ports.decisions.append([
        {
          kind: "error",
          strategyId: this.id,
          userId: info.userId,
          level: "error",
          candleOpenTime,
          action,
          message: `order request failed: ${failure}`,
          data: { failedIntentId: cmd.intentId },
          fencingToken: this.token,
        },
      ]);
      return;
    }
    if (result.status === "accepted") {
      if (action === "entry") this.pendingEntries.set(cmd.intentId, candleOpenTime);
      else this.pendingExit = { candle: candleOpenTime };
    }
    await this.ports.decisions.append([
      {
        kind: "order",
        strategyId: this.id,
        userId: info.userId,
        level: result.status === "denied" ? "warn" : "info",
        candleOpenTime,
        action,
        message: `${action} ${result.status}${result.reason ? `: ${result.reason}` : ""}${result.message ? ` (${result.message})` : ""}`,
        data: { intentId: cmd.intentId, result },
        fencingToken: this.token,
      },
    ]);
  }

  /**
   * Intents recorded by a predecessor (or by this instance before a crash) whose answer was never
   * recorded, sent again with this actor's token: execution answers a repeated intent id with the
   * first outcome. Only intents on candles recent enough to trade; older ones stay unsent.
   */
  private async resubmitUnanswered(): Promise<void> {
    if (this.info?.keyId == null || !this.newest) return;
    const since = this.newest - this.ports.tradeLagCandles * this.iv;
    const open = await this.ports.decisions.unanswered(this.id, since);
    for (const { candleOpenTime, intent } of open) {
      if (this.halted) return;
      const stored = intent as StoredIntent & Omit<SubmitCommand, "deadline" | "fencingToken">;
      const action = stored.intentId.endsWith("-entry")
        ? "entry"
        : stored.intentId.endsWith("-close")
          ? "close"
          : "exit";
      this.ports.log.info(
        { instanceId: this.id, intentId: stored.intentId },
        "sending an order request again: its answer was never recorded",
      );
      await this.submit(stored, candleOpenTime, action);
    }
  }

  /** A stopping instance: close the position if asked to, then tell the runner it is done. */
  private async closeOut(): Promise<void> {
    this.state = "closing";
    const info = this.info!;
    const p = await this.readPosition(undefined);
    if (this.halted) return;
    if (this.closeOnStop && p.open > 0 && info.keyId !== null) {
      let candle = this.last ?? info.lastCandleTime ?? undefined;
      if (candle === undefined) {
        const latest = await this.ports.candles.newest(this.name, info.userId, info.symbol, info.interval, 1);
        candle = latest.length ? latest[latest.length - 1].openTime : 0;
      }
      const cmd = this.command("close", candle, "instance stopping: closing the position");
      const outcome = await this.ports.decisions.record({
        kind: "lifecycle",
        strategyId: this.id,
        userId: info.userId,
        fencingToken: this.token,
        candleOpenTime: candle,
        action: "close",
        message: "instance stopping: closing the open position",
        data: { position: p, intents: [cmd] },
      });
      if (outcome === "lost") return this.loseLease();
      await this.submit(cmd, candle, "close");
    }
    if (this.halted) return;
    this.state = "finished";
    this.halted = true;
    this.hooks.finished(this);
  }

  /** The runner saw the instance change (pause, stop, close-on-stop). */
  update(row: { status: string; paused: boolean; closeOnStop: boolean }): void {
    this.paused = row.paused;
    this.closeOnStop = row.closeOnStop;
    if (row.status !== "stopping" || this.stopping) return;
    this.stopping = true;
    // still starting: start() closes out instead of going on to run
    if (this.state !== "running") return;
    this.state = "closing";
    void (async () => {
      try {
        await this.draining;
        if (!this.halted) await this.closeOut();
      } catch (e) {
        this.fail(e);
      }
    })();
  }

  private loseLease(): void {
    if (this.halted) return;
    this.halted = true;
    this.state = "lost";
    this.hooks.leaseLost(this);
  }

  private fail(e: unknown): void {
    if (this.halted) return;
    this.halted = true;
    this.state = "crashed";
    this.hooks.crashed(this, e, e instanceof StrategyFault);
  }

  /** Stops acting: nothing new is decided or sent; resolves once the candle in hand is done (or `waitMs` passed). */
  async stop(waitMs: number): Promise<void> {
    if (!this.halted) {
      this.halted = true;
      if (this.state !== "crashed" && this.state !== "lost" && this.state !== "finished")
        this.state = "stopped";
    }
    this.queue = [];
    this.wake?.();
    if (this.resubmitTimer) clearTimeout(this.resubmitTimer);
    this.resubmitTimer = undefined;
    const inFlight = this.draining;
    if (inFlight) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([inFlight, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
      clearTimeout(timer);
    }
  }

  /** What a runner lists about its actors: cheap, no indicator values. */
  summary(): { state: ActorState; symbol?: string; lastCandleTime: number | null; subscribed: boolean } {
    return {
      state: this.state,
      symbol: this.info?.symbol,
      lastCandleTime: this.last ?? null,
      subscribed: this.subscribed,
    };
  }

  status(): Record<string, unknown> {
    const info = this.info;
    return {
      state: this.state,
      symbol: info?.symbol,
      interval: info?.interval,
      mode: info?.mode,
      paused: this.paused,
      halted: this.ports.halted(),
      lastCandleTime: this.last ?? null,
      lastCandle: iso(this.last),
      lastDecision: this.lastDecision ?? null,
      indicators: this.indicators() ?? null,
      position: this.position,
      pendingIntents: [...this.pendingEntries.keys()],
      version: info?.version ?? null,
      warmup: {
        needed: this.warm.needed,
        fed: this.warm.fed,
        strategyWarmup: this.strategy?.warmup ?? null,
        done: this.state === "running" || this.state === "closing" || this.warm.fed >= this.warm.needed,
      },
      queued: this.queue.length,
      subscribed: this.subscribed,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// the Moleculer service of an actor

/** What the service of an actor reads of the runner's slot for that instance. */
export interface ActorHandle {
  readonly id: number;
  readonly name: string;
  readonly token: number;
  readonly ownerNode: string;
  /** the current actor (a crash replaces it in place, under the same name) */
  actor(): StrategyActor;
  /** restarts after crashes so far, and the time of the next one if it is waiting */
  crashes(): { count: number; lastError: string | null; restartAt: number | null };
  readonly decisions: DecisionLog;
}

/** Builds the schema of `strategy.<instanceId>`. */
export function actorSchema(handle: ActorHandle): ServiceSchema {
  return {
    name: handle.name,
    mixins: [AuthGuardMixin],
    methods: {
      // the runner's health() counts its actors by state (src/runtime/health.ts)
      healthReportedBy: () => "strategy-runner",
    },
    actions: {
      /** state, last candle, indicator values, position, lease, version, warm-up progress */
      status: guarded({
        auth: "internal",
        callers: ACTOR_CALLERS,
        visibility: "public",
        handler() {
          const crashes = handle.crashes();
          return {
            instanceId: handle.id,
            ...handle.actor().status(),
            ownerNode: handle.ownerNode,
            fencingToken: handle.token,
            crashes: {
              count: crashes.count,
              lastError: crashes.lastError,
              restartAt: crashes.restartAt === null ? null : new Date(crashes.restartAt).toISOString(),
            },
          };
        },
      }),
      /** the instance's latest decision-log entries, newest first */
      logs: guarded({
        auth: "internal",
        callers: ACTOR_CALLERS,
        visibility: "public",
        params: {
          $$strict: "remove",
          limit: { type: "number", integer: true, min: 1, max: 500, optional: true, convert: true },
        },
        async handler(ctx: Context<{ limit?: number }>): Promise<DecisionLogRow[]> {
          return handle.decisions.recent(handle.id, ctx.params.limit ?? 50);
        },
      }),
    },
  };
}
