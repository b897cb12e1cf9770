// The simulator's state and the wiring between its parts: replay → matching engine → user data,
// replay → market streams. The HTTP, WebSocket and admin layers all work through this object.
import { Decimal } from "../../core/money/decimal";
import { MatchingEngine, type EngineConfig } from "../engine/engine";
import type { CommissionAsset, EngineEvent } from "../engine/types";
import { SymbolFeed } from "../replay/feed";
import { Replay, realTimers, type Timers } from "../replay/replay";
import { MarketHub } from "../ws/market-hub";
import { UserDataHub } from "../ws/user-data";
import {
  AccountRegistry,
  checkPermissions,
  randomKey,
  type ApiPermissions,
  type SimAccount,
} from "./accounts";
import { loadMarketData, type DataOptions } from "./data";
import { FaultInjector } from "./faults";
import { DEFAULT_LIMITS, RateLimiter, type LimitsConfig } from "./limits";
import { MarketView } from "./market";
import {
  DEFAULT_SNAPSHOT_HISTORY,
  SNAPSHOT_VERSION,
  SnapshotError,
  readSnapshot,
  type RestoredState,
  type SimSnapshot,
} from "./snapshot";

export interface CoreOptions extends DataOptions {
  /** Replay start: epoch ms or an ISO date/time (UTC). Default: 1000 candles after the data starts. */
  from?: number | string;
  /** Replay ms per wall ms. Default 1800: one 1h candle every 2 s. */
  speed?: number;
  /** Start in step mode: replay time moves only via advance/jump. */
  step?: boolean;
  paused?: boolean;
  /** Moves per intrabar leg (default 4: 13 price points per candle). */
  intrabarSteps?: number;
  /** Wall clock (request timestamps, rate-limit windows, fault windows). */
  now?: () => number;
  timers?: Timers;
  engine?: Partial<EngineConfig>;
  limits?: Partial<LimitsConfig>;
  /** Legacy listenKey lifetime without keep-alive (default 60 min). */
  listenKeyTtlMs?: number;
  /**
   * A snapshot (SimCore.snapshot, possibly through JSON) to rebuild the venue from. Its clock
   * replaces from/speed/step/paused. A bad snapshot throws a SnapshotError and nothing is built.
   */
  restore?: unknown;
}

export const DEFAULT_SPEED = 1800;
export const DEFAULT_INTRABAR_STEPS = 4;

export interface CreateAccountOptions {
  /** Free balances per asset as decimal strings, e.g. { USDT: "10000" }. */
  balances?: Record<string, string>;
  permissions?: Partial<ApiPermissions>;
  /**
   * Commission rates, e.g. { maker: "0.001", taker: "0.001" }, and the asset fees are paid in:
   * "received" (default, Binance's rule) or "quote" (every fee in the quote asset).
   */
  commission?: { maker?: string; taker?: string; asset?: CommissionAsset };
  apiKey?: string;
  secretKey?: string;
}

export interface AccountCredentials {
  accountId: number;
  apiKey: string;
  secretKey: string;
}

interface ListenKeyState {
  accountId: number;
  expiresAt: number;
}

export function parseTime(v: number | string, name: string): number {
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new RangeError(`${name} must be a time`);
    return v;
  }
  if (/^\d+$/.test(v)) return Number(v);
  const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v);
  if (Number.isNaN(t))
    throw new RangeError(`${name}: cannot read '${v}' as a date (use 2023-01-01, an ISO time or epoch ms)`);
  return t;
}

export function parseBalances(b: unknown): Record<string, Decimal> {
  if (b === undefined) return {};
  if (typeof b !== "object" || b === null || Array.isArray(b))
    throw new RangeError('balances must be an object like {"USDT": "10000"}');
  const out: Record<string, Decimal> = {};
  for (const [asset, v] of Object.entries(b)) {
    if (!/^[A-Z0-9]{1,20}$/.test(asset)) throw new RangeError(`invalid asset name '${asset}'`);
    const d = typeof v === "string" || typeof v === "number" ? Decimal.tryParse(String(v)) : undefined;
    if (!d || d.isNegative())
      throw new RangeError(`balance of ${asset} must be a non-negative decimal string`);
    if (d.decimalPlaces() > 8) throw new RangeError(`balance of ${asset} has more than 8 decimals`);
    out[asset] = d;
  }
  return out;
}

export class SimCore {
  readonly engine: MatchingEngine;
  readonly feeds = new Map<string, SymbolFeed>();
  readonly replay: Replay;
  readonly market: MarketView;
  readonly streams: MarketHub;
  readonly users: UserDataHub;
  readonly accounts = new AccountRegistry();
  readonly limiter: RateLimiter;
  readonly faults: FaultInjector;
  readonly wallNow: () => number;
  readonly timers: Timers;
  private readonly listenKeys = new Map<string, ListenKeyState>();
  private readonly listenKeyTtl: number;
  /** Orders hidden from GET /api/v3/order until the given wall time (order-not-found fault). */
  private readonly hiddenOrders = new Map<number, number>();
  /** Called to close sockets (ws-drop fault, listenKey removal); set by the WebSocket gateway. */
  onDrop?: (scope: "all" | "market" | "user", listenKey?: string) => number;
  private fromTime: number;

  constructor(opts: CoreOptions = {}) {
    this.wallNow = opts.now ?? Date.now;
    this.timers = opts.timers ?? realTimers;
    this.faults = new FaultInjector(this.wallNow);
    this.limiter = new RateLimiter({ ...DEFAULT_LIMITS, ...opts.limits }, this.wallNow);
    this.listenKeyTtl = opts.listenKeyTtlMs ?? 3_600_000;
    const data = loadMarketData(opts);
    const restored: RestoredState | undefined =
      opts.restore !== undefined
        ? readSnapshot(opts.restore, new Set(data.map((d) => d.spec.symbol)))
        : undefined;
    this.engine = new MatchingEngine(
      opts.engine,
      data.map((d) => d.spec),
    );
    const steps = opts.intrabarSteps ?? DEFAULT_INTRABAR_STEPS;
    for (const d of data)
      this.feeds.set(d.spec.symbol, new SymbolFeed(d.series, steps, Decimal.parse(d.spec.tickSize)));
    this.market = new MarketView(this.feeds, (s) => this.engine.symbolRules(s)!);
    this.streams = new MarketHub(this.feeds, this.market);
    this.users = new UserDataHub(this.faults);
    this.faults.onChange = (f, change) => {
      if (f.kind === "pause-user-data" && change === "ended") this.users.flushHeld();
      if (f.kind === "ws-drop" && change === "added") {
        this.onDrop?.(f.spec.scope ?? "all");
        // without a window the drop is a one-off; with one, reconnects are refused until it ends
        if (f.until === undefined) this.faults.remove(f.id);
      }
      if (f.kind === "pause-user-data" && change === "added" && f.until !== undefined) {
        this.timers.setTimeout(() => this.users.flushHeld(), f.until - this.wallNow() + 1);
      }
    };
    const clock = restored?.clock;
    this.fromTime = clock
      ? clock.time
      : opts.from !== undefined
        ? parseTime(opts.from, "from")
        : this.defaultFrom();
    this.replay = new Replay(
      [...this.feeds.values()],
      {
        from: this.fromTime,
        speed: clock?.speed ?? opts.speed ?? DEFAULT_SPEED,
        step: clock ? clock.mode === "step" : (opts.step ?? false),
        paused: clock?.paused ?? opts.paused,
        wallNow: this.wallNow,
        timers: this.timers,
      },
      {
        onTick: (feed, ev) => {
          this.market.bump(feed.symbol);
          this.streams.onTick(feed, ev);
          this.users.publish(this.engine.onPrice(feed.symbol, ev.price, ev.time, ev.jump));
        },
        onClose: (feed, ev) => this.streams.onClose(feed, ev),
        onJump: (feeds, time) => {
          for (const f of feeds) {
            this.market.bump(f.symbol);
            this.streams.onJump(f, time);
            if (f.price) this.users.publish(this.engine.onPrice(f.symbol, f.price, time, true));
          }
        },
        congested: () => this.streams.congested(),
      },
    );
    for (const f of this.feeds.values())
      if (f.price) this.engine.onPrice(f.symbol, f.price, this.fromTime, true);
    if (restored) this.restore(restored);
  }

  private restore(r: RestoredState): void {
    const { dataStart, dataEnd } = this.replay.state();
    if (r.clock.time < dataStart || r.clock.time > dataEnd)
      throw new SnapshotError(
        `its replay time ${r.clock.iso} lies outside the replay data (${new Date(dataStart).toISOString()} to ${new Date(dataEnd).toISOString()})`,
      );
    // prices were set above from the feeds at the snapshot's time, before any order existed, so
    // the restored orders next see a continuous move, as the saved venue's orders would have
    this.engine.importState(r.engine);
    for (const a of r.accounts)
      this.accounts.add(a.id, a.createTime, {
        apiKey: a.apiKey,
        secretKey: a.secretKey,
        permissions: a.permissions,
      });
  }

  /** The durable state as plain JSON; at most `maxHistory` finished orders and trades per account. */
  snapshot(maxHistory = DEFAULT_SNAPSHOT_HISTORY): SimSnapshot {
    const clock = this.replay.state();
    const { accounts, ...engine } = this.engine.exportState(maxHistory);
    const byId = new Map(accounts.map((a) => [a.id, a]));
    return {
      version: SNAPSHOT_VERSION,
      clock: { time: clock.time, iso: clock.iso, mode: clock.mode, speed: clock.speed, paused: clock.paused },
      accounts: this.accounts.list().map((a) => ({
        ...byId.get(a.id)!,
        apiKey: a.apiKey,
        secretKey: a.secretKey,
        permissions: { ...a.permissions },
        createTime: a.createTime,
      })),
      engine,
    };
  }

  /** Starts the realtime replay loop (no-op in step mode). */
  start(): void {
    this.replay.start();
  }

  stop(): void {
    this.replay.stop();
  }

  private defaultFrom(): number {
    let t = -Infinity;
    for (const f of this.feeds.values()) {
      const s = f.series;
      const i = Math.min(1000, s.openTimes.length - 1);
      t = Math.max(t, s.openTimes[i]);
    }
    return t;
  }

  /** The venue's clock for request timestamps and /api/v3/time: the wall clock plus any clock-offset fault. */
  serverTime(): number {
    const off = this.faults.take("clock-offset");
    return this.wallNow() + (off?.spec.ms ?? 0);
  }

  /** Replay time: candles, prices, order and trade times. */
  marketTime(): number {
    return this.replay.now();
  }

  publish(events: readonly EngineEvent[]): void {
    this.users.publish(events);
  }

  // ---------------------------------------------------------------- accounts

  createAccount(opts: CreateAccountOptions = {}): AccountCredentials {
    const balances = parseBalances(opts.balances);
    const permissions = opts.permissions
      ? checkPermissions(opts.permissions as Record<string, unknown>)
      : undefined;
    const commission: { maker?: Decimal; taker?: Decimal; asset?: CommissionAsset } = {};
    for (const k of ["maker", "taker"] as const) {
      const v = opts.commission?.[k];
      if (v === undefined) continue;
      const d = Decimal.tryParse(String(v));
      if (!d || d.isNegative() || d.gt(Decimal.ONE))
        throw new RangeError(`commission.${k} must be a decimal fraction such as "0.001"`);
      commission[k] = d;
    }
    const asset: unknown = opts.commission?.asset;
    if (asset !== undefined) {
      if (asset !== "received" && asset !== "quote")
        throw new RangeError('commission.asset must be "received" or "quote"');
      commission.asset = asset;
    }
    if (opts.apiKey !== undefined && this.accounts.get(opts.apiKey))
      throw new RangeError("apiKey already in use");
    const acc = this.engine.createAccount(balances, commission, this.marketTime());
    const sim = this.accounts.add(acc.id, this.wallNow(), {
      apiKey: opts.apiKey,
      secretKey: opts.secretKey,
      permissions,
    });
    return { accountId: acc.id, apiKey: sim.apiKey, secretKey: sim.secretKey };
  }

  account(apiKeyOrId: string | number): SimAccount {
    const a =
      typeof apiKeyOrId === "number" ? this.accounts.getById(apiKeyOrId) : this.accounts.get(apiKeyOrId);
    if (!a) throw new RangeError(`unknown account ${apiKeyOrId}`);
    return a;
  }

  /** Sets free balances (each asset's free amount becomes the given value) and emits balanceUpdate events. */
  setBalances(apiKeyOrId: string | number, balances: Record<string, string>): void {
    const acc = this.account(apiKeyOrId);
    const parsed = parseBalances(balances);
    const t = this.marketTime();
    for (const [asset, amount] of Object.entries(parsed))
      this.publish(this.engine.setBalance(acc.id, asset, amount, t));
  }

  setPermissions(apiKeyOrId: string | number, permissions: Partial<ApiPermissions>): ApiPermissions {
    const acc = this.account(apiKeyOrId);
    acc.permissions = { ...acc.permissions, ...checkPermissions(permissions as Record<string, unknown>) };
    return acc.permissions;
  }

  // ---------------------------------------------------------------- legacy listenKeys

  createListenKey(accountId: number): string {
    const now = this.wallNow();
    for (const [k, v] of this.listenKeys) {
      if (v.accountId === accountId && v.expiresAt > now) {
        v.expiresAt = now + this.listenKeyTtl;
        return k;
      }
    }
    const key = randomKey(64);
    this.listenKeys.set(key, { accountId, expiresAt: now + this.listenKeyTtl });
    return key;
  }

  /** The account of a live listenKey, or undefined. */
  listenKeyAccount(key: string): number | undefined {
    const v = this.listenKeys.get(key);
    if (!v) return undefined;
    if (v.expiresAt <= this.wallNow()) {
      this.expireListenKey(key);
      return undefined;
    }
    return v.accountId;
  }

  keepAliveListenKey(key: string, accountId: number): boolean {
    const v = this.listenKeys.get(key);
    if (!v || v.accountId !== accountId || v.expiresAt <= this.wallNow()) return false;
    v.expiresAt = this.wallNow() + this.listenKeyTtl;
    return true;
  }

  deleteListenKey(key: string, accountId: number): boolean {
    const v = this.listenKeys.get(key);
    if (!v || v.accountId !== accountId) return false;
    this.listenKeys.delete(key);
    this.onDrop?.("user", key);
    return true;
  }

  /** Expires lapsed listenKeys: their sockets get listenKeyExpired, then close. */
  sweepListenKeys(): void {
    const now = this.wallNow();
    for (const [k, v] of this.listenKeys) if (v.expiresAt <= now) this.expireListenKey(k);
  }

  private expireListenKey(key: string): void {
    const v = this.listenKeys.get(key);
    if (!v) return;
    this.listenKeys.delete(key);
    this.onListenKeyExpired?.(key, v.accountId);
  }

  onListenKeyExpired?: (key: string, accountId: number) => void;

  // ---------------------------------------------------------------- order visibility fault

  hideOrder(orderId: number, untilWall: number): void {
    this.hiddenOrders.set(orderId, untilWall);
  }

  isHidden(orderId: number): boolean {
    const until = this.hiddenOrders.get(orderId);
    if (until === undefined) return false;
    if (until <= this.wallNow()) {
      this.hiddenOrders.delete(orderId);
      return false;
    }
    return true;
  }
}
