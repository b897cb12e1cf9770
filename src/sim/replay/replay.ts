// The replay clock. Replay time runs either in real time scaled by `speed` (one timer armed for
// the next price point, never a busy loop) or in step mode, where it moves only when told.
// Every event due up to the replay time is delivered in time order to the listener, which feeds
// the matching engine and the market streams.
import type { Decimal } from "../../core/money/decimal";
import type { FeedEvent, SymbolFeed } from "./feed";

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => {
    const h = setTimeout(fn, ms);
    h.unref?.();
    return h;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface ReplayListener {
  onTick(feed: SymbolFeed, ev: Extract<FeedEvent, { kind: "tick" }>): void;
  onClose(feed: SymbolFeed, ev: Extract<FeedEvent, { kind: "close" }>): void;
  /** A clock jump moved every feed to a new position (a discontinuity, not a walk). */
  onJump?(feeds: readonly SymbolFeed[], time: number): void;
  /** Asked before each realtime batch: a slow stream consumer defers the next batch. */
  congested?(): boolean;
}

export interface ReplayOptions {
  from: number;
  /** Replay milliseconds per wall millisecond. */
  speed: number;
  step: boolean;
  paused?: boolean;
  wallNow: () => number;
  timers: Timers;
  /** Events processed per timer turn before yielding to I/O. */
  batchSize?: number;
}

export interface ClockState {
  mode: "realtime" | "step";
  paused: boolean;
  speed: number;
  time: number;
  iso: string;
  intervalMs: number;
  dataStart: number;
  dataEnd: number;
  ended: boolean;
  symbols: { symbol: string; price: string | null; candleOpenTime: number | null; candleClosed: boolean }[];
}

export class Replay {
  private mode: "realtime" | "step";
  private paused: boolean;
  private speed: number;
  private simTime: number;
  private anchorWall = 0;
  private anchorSim = 0;
  private timer: unknown;
  private closed = false;
  private readonly batchSize: number;
  readonly intervalMs: number;

  constructor(
    private readonly feeds: readonly SymbolFeed[],
    private readonly opts: ReplayOptions,
    private readonly listener: ReplayListener,
  ) {
    if (feeds.length === 0) throw new Error("replay needs at least one symbol");
    checkSpeed(opts.speed);
    this.mode = opts.step ? "step" : "realtime";
    this.paused = opts.paused ?? false;
    this.speed = opts.speed;
    this.simTime = opts.from;
    // anchored from the start: state() before start() (a restore reads the data range) must not
    // run the replay from the epoch
    this.anchorWall = opts.wallNow();
    this.anchorSim = opts.from;
    this.batchSize = opts.batchSize ?? 2000;
    this.intervalMs = Math.min(...feeds.map((f) => f.series.intervalMs));
    for (const f of feeds) f.seek(opts.from);
  }

  /** Starts the realtime loop (a no-op in step mode or while paused). */
  start(): void {
    this.reanchor();
    this.schedule();
  }

  stop(): void {
    this.closed = true;
    this.clearTimer();
  }

  private running(): boolean {
    return this.mode === "realtime" && !this.paused && !this.closed;
  }

  /** Replay time the clock has reached (in realtime mode, derived from the wall clock). */
  private target(): number {
    if (!this.running()) return this.simTime;
    return Math.max(
      this.simTime,
      this.anchorSim + Math.floor((this.opts.wallNow() - this.anchorWall) * this.speed),
    );
  }

  private reanchor(): void {
    this.anchorWall = this.opts.wallNow();
    this.anchorSim = this.simTime;
  }

  /** Delivers everything due up to the current replay time. */
  sync(): void {
    this.processUntil(this.target());
  }

  /** The current replay time, after delivering every event due by then. */
  now(): number {
    this.sync();
    return this.simTime;
  }

  private nextFeed(limit: number): SymbolFeed | undefined {
    let best: SymbolFeed | undefined;
    let bestT = Infinity;
    for (const f of this.feeds) {
      const t = f.nextTime();
      if (t !== undefined && t <= limit && t < bestT) {
        best = f;
        bestT = t;
      }
    }
    return best;
  }

  /** Processes due events up to `t`; returns false when it stopped early at `maxEvents`. */
  private processUntil(t: number, maxEvents = Infinity): boolean {
    let n = 0;
    for (;;) {
      const f = this.nextFeed(t);
      if (!f) break;
      if (n++ >= maxEvents) return false;
      const ev = f.step();
      this.simTime = Math.max(this.simTime, ev.time);
      if (ev.kind === "tick") this.listener.onTick(f, ev);
      else this.listener.onClose(f, ev);
    }
    this.simTime = Math.max(this.simTime, t);
    return true;
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      this.opts.timers.clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private schedule(): void {
    this.clearTimer();
    if (!this.running()) return;
    let next = Infinity;
    for (const f of this.feeds) {
      const t = f.nextTime();
      if (t !== undefined && t < next) next = t;
    }
    if (next === Infinity) return;
    const delay = Math.max(0, Math.ceil((next - this.target()) / this.speed));
    this.timer = this.opts.timers.setTimeout(() => this.turn(), delay);
  }

  private turn(): void {
    this.timer = undefined;
    if (!this.running()) return;
    if (this.listener.congested?.()) {
      this.timer = this.opts.timers.setTimeout(() => this.turn(), 5);
      return;
    }
    const t = this.target();
    const done = this.processUntil(t, this.batchSize);
    if (!done) {
      this.timer = this.opts.timers.setTimeout(() => this.turn(), 0);
      return;
    }
    this.schedule();
  }

  // ---------------------------------------------------------------- control

  /**
   * Moves replay time forward: `candles` to the n-th next candle boundary of the finest
   * interval, or by `ms`. Works in every mode; in step mode it is the only way time moves.
   */
  advance(by: { candles?: number; ms?: number }): ClockState {
    const { candles, ms } = by;
    if ((candles === undefined) === (ms === undefined))
      throw new RangeError("give exactly one of candles or ms");
    let target: number;
    if (candles !== undefined) {
      if (!Number.isInteger(candles) || candles < 1 || candles > 1_000_000)
        throw new RangeError("candles must be an integer in 1..1000000");
      this.sync();
      target = Math.floor(this.simTime / this.intervalMs) * this.intervalMs + candles * this.intervalMs;
    } else {
      if (!Number.isFinite(ms!) || ms! < 0 || !Number.isInteger(ms!))
        throw new RangeError("ms must be a non-negative integer");
      this.sync();
      target = this.simTime + ms!;
    }
    this.processUntil(target);
    this.reanchor();
    this.schedule();
    return this.state();
  }

  /** Sets the replay time directly (forwards or backwards) without walking the path in between. */
  jump(time: number): ClockState {
    if (!Number.isFinite(time)) throw new RangeError("time must be a number");
    this.simTime = time;
    for (const f of this.feeds) f.seek(time);
    this.listener.onJump?.(this.feeds, time);
    this.reanchor();
    this.schedule();
    return this.state();
  }

  setSpeed(speed: number): ClockState {
    checkSpeed(speed);
    this.sync();
    this.speed = speed;
    this.reanchor();
    this.schedule();
    return this.state();
  }

  pause(): ClockState {
    this.sync();
    this.paused = true;
    this.clearTimer();
    return this.state();
  }

  resume(): ClockState {
    this.paused = false;
    this.reanchor();
    this.schedule();
    return this.state();
  }

  setStepMode(step: boolean): ClockState {
    this.sync();
    this.mode = step ? "step" : "realtime";
    this.reanchor();
    this.schedule();
    return this.state();
  }

  state(): ClockState {
    this.sync();
    const starts = this.feeds.map((f) => f.series.openTimes[0]);
    const ends = this.feeds.map((f) => f.closeTime(f.series.openTimes.length - 1));
    return {
      mode: this.mode,
      paused: this.paused,
      speed: this.speed,
      time: this.simTime,
      iso: new Date(this.simTime).toISOString(),
      intervalMs: this.intervalMs,
      dataStart: Math.min(...starts),
      dataEnd: Math.max(...ends),
      ended: this.feeds.every((f) => f.nextTime() === undefined),
      symbols: this.feeds.map((f) => ({
        symbol: f.symbol,
        price: f.price ? priceText(f.price) : null,
        candleOpenTime: f.index >= 0 ? f.series.openTimes[f.index] : null,
        candleClosed: f.index >= 0 && !f.isOpen,
      })),
    };
  }
}

function checkSpeed(speed: number): void {
  if (!Number.isFinite(speed) || speed <= 0) throw new RangeError("speed must be a positive number");
}

function priceText(p: Decimal): string {
  return p.toFixed(8);
}
