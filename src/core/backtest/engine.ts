// The event-driven backtest engine: the fill model of docs/backtesting.md, candle by candle, over a
// column store. For each candle t, in order:
//   1. pending exit, then pending entry, fill at the open (market, slippage against the trader);
//   2. each open position's stop / take-profit is checked against t's range (stop first, or in
//      the order of the simulator's intrabar path with `intrabar: "path"`);
//   3. the strategy sees t; its entry/exit signals become pending orders for t+1;
//   4. equity is marked at t's close.
// No allocation per candle except when a trade opens or closes. A compiled strategy decides a
// block of candles per call (DeclarativeStrategy.scan) instead of one onCandle call per candle;
// a decision only depends on candles up to its own, so this changes nothing but the speed.
import { SimulatedClock } from "../clock";
import { lowFirst } from "../market/intrabar";
import { intervalMs as intervalMsOf, type SymbolSpec, symbolSpec } from "../market/symbols";
import {
  allocateColumns,
  type Candle,
  type CandleColumns,
  isCandleColumns,
  toColumns,
} from "../model/candle";
import { ValidationError, type ValidationIssue } from "../model/errors";
import type { ClosedTrade, ExitReason } from "../model/position";
import type { Signal } from "../model/signal";
import { Decimal } from "../money/decimal";
import { BaseStrategy, type StrategyContext } from "../strategy/base";
import { compileStrategy, DeclarativeStrategy, ENTRY_BIT, EXIT_BIT } from "../strategy/compiler";
import { computeMetrics } from "./metrics";
import { formatUtcTime, lowerBound, parseDateRange } from "./range";
import { BacktestResult } from "./result";
import { StepRounder } from "./rounding";

export interface BacktestOptions {
  /** A compiled or code strategy (fresh instance), or a definition (validated and compiled here). */
  readonly strategy: BaseStrategy | unknown;
  /** Ascending by open time. Columns are the fast path; an array of candles is converted once. */
  readonly candles: readonly Candle[] | CandleColumns;
  /** UTC date YYYY-MM-DD, inclusive; default: the first candle. */
  readonly from?: string;
  /** UTC date YYYY-MM-DD, inclusive; default: the last candle. */
  readonly to?: string;
  /** Fee per fill as a fraction of notional, in the quote asset (default 0.001). */
  readonly feeRate?: number;
  /** Market-fill slippage in basis points, always against the trader (default 0). */
  readonly slippageBps?: number;
  /**
   * Which of a stop and a target one candle reaches both of is taken: "stop_first" (default) the
   * stop, "path" the one the simulator's intrabar path reaches first (docs/backtesting.md).
   */
  readonly intrabar?: IntrabarMode;
  /** Starting quote balance (default 10,000). */
  readonly initialBalance?: number;
  /** Candles before `from` that feed indicators only (default: the strategy's, 200). */
  readonly warmupCandles?: number;
  /** Filters to trade with (default: the strategy symbol's entry in the symbol table). */
  readonly spec?: SymbolSpec;
  /** Called every `progressEvery` candles and once at the end, with candles processed / total. */
  readonly onProgress?: (done: number, total: number) => void;
  readonly progressEvery?: number;
}

export type IntrabarMode = "stop_first" | "path";
export const INTRABAR_MODES: readonly IntrabarMode[] = Object.freeze(["stop_first", "path"]);

export const BACKTEST_DEFAULTS = Object.freeze({
  feeRate: 0.001,
  slippageBps: 0,
  initialBalance: 10_000,
  intrabar: "stop_first" as IntrabarMode,
});

/** Candles a compiled strategy decides per scan call. */
const DECISION_BLOCK = 512;

/**
 * The last backtest's simulation, emptied of candles and results. V8 drops optimized code that
 * relies on an object layout once a full GC finds no object with that layout alive (deopt reason
 * "weak objects"). Each backtest builds its simulation and strategy afresh, so after a forced or
 * idle-time GC between two backtests the next one ran its per-candle loop in the interpreter
 * until recompiled: 1.5× the time of a 2M-candle run. Keeping one simulation alive keeps that code.
 */
const retained: { simulation?: Simulation } = {};

interface OpenPosition {
  readonly qty: number;
  readonly entryPrice: number;
  readonly entryNotional: number;
  readonly entryFee: number;
  readonly entryTime: number;
  /** NaN when the strategy sets no take-profit / stop-loss. */
  readonly takeProfit: number;
  readonly stop: number;
}

/** The candle handed to the strategy: one object, refilled per candle (see BaseStrategy.onCandle). */
class CandleCursor implements Candle {
  openTime = 0;
  closeTime = 0;
  open = 0;
  high = 0;
  low = 0;
  close = 0;
  volume = 0;
  load(c: CandleColumns, i: number): this {
    this.openTime = c.openTime[i];
    this.closeTime = c.closeTime[i];
    this.open = c.open[i];
    this.high = c.high[i];
    this.low = c.low[i];
    this.close = c.close[i];
    this.volume = c.volume[i];
    return this;
  }
}

class MutableContext implements StrategyContext {
  now = 0;
  openPositions = 0;
  canEnter = false;
}

export function runBacktest(opts: BacktestOptions): BacktestResult {
  const strategy = opts.strategy instanceof BaseStrategy ? opts.strategy : compileStrategy(opts.strategy);
  const cols = isCandleColumns(opts.candles) ? opts.candles : toColumns(opts.candles as readonly Candle[]);
  const feeRate = opts.feeRate ?? BACKTEST_DEFAULTS.feeRate;
  const slippageBps = opts.slippageBps ?? BACKTEST_DEFAULTS.slippageBps;
  const initialBalance = opts.initialBalance ?? BACKTEST_DEFAULTS.initialBalance;
  const intrabar = opts.intrabar ?? BACKTEST_DEFAULTS.intrabar;
  const warmupCandles = opts.warmupCandles ?? strategy.warmupCandles;
  const spec = opts.spec ?? symbolSpec(strategy.symbol);
  const interval = intervalMsOf(strategy.interval);

  const issues: ValidationIssue[] = [];
  const bad = (path: string, code: string, message: string) => issues.push({ path, code, message });
  if (!(feeRate >= 0 && feeRate < 0.1))
    bad("/feeRate", "out_of_range", `fee must be >= 0 and < 0.1 (10%), got ${feeRate}`);
  if (!(slippageBps >= 0 && slippageBps < 10_000))
    bad("/slippageBps", "out_of_range", `slippage must be >= 0 and < 10000 bps, got ${slippageBps}`);
  if (!(initialBalance > 0 && Number.isFinite(initialBalance)))
    bad("/initialBalance", "out_of_range", `balance must be > 0, got ${initialBalance}`);
  if (!(Number.isInteger(warmupCandles) && warmupCandles >= 0))
    bad("/warmupCandles", "out_of_range", `warmupCandles must be an integer >= 0, got ${warmupCandles}`);
  if (!INTRABAR_MODES.includes(intrabar))
    bad("/intrabar", "unknown_intrabar", `intrabar must be "stop_first" or "path", got ${String(intrabar)}`);
  if (!spec) bad("/symbol", "unknown_symbol", `no symbol filters for ${strategy.symbol}`);
  if (interval === undefined)
    bad("/interval", "unknown_interval", `interval ${strategy.interval} has no fixed length`);
  const { range, errors: rangeErrors } = parseDateRange(opts.from, opts.to);
  issues.push(...rangeErrors);
  const n = cols.length;
  const badCandle = checkCandles(cols);
  if (badCandle) issues.push(badCandle);
  if (issues.length) throw new ValidationError(issues);

  const start = lowerBound(cols.openTime, range!.startMs);
  const end = lowerBound(cols.openTime, range!.endMs);
  if (start >= end) {
    const have =
      n > 0
        ? `the data covers ${formatUtcTime(cols.openTime[0])} to ${formatUtcTime(cols.openTime[n - 1])} UTC`
        : "there are no candles";
    const want = `${opts.from ?? "the first candle"} to ${opts.to ?? "the last candle"}`;
    throw new ValidationError([
      { path: "/candles", code: "empty_range", message: `no candles from ${want}; ${have}` },
    ]);
  }
  const feedStart = Math.max(0, start - warmupCandles);

  const sim = new Simulation(
    strategy,
    cols,
    spec!,
    interval!,
    feeRate,
    slippageBps / 10_000,
    initialBalance,
    intrabar === "path",
  );
  const total = end - feedStart;
  const every = Math.max(1, opts.progressEvery ?? 65_536);
  const progress = opts.onProgress;
  let done = 0;
  while (done < total) {
    const stop = Math.min(total, done + every);
    sim.feed(feedStart + done, Math.min(feedStart + stop, start));
    sim.run(Math.max(feedStart + done, start), feedStart + stop, end);
    done = stop;
    if (progress) progress(done, total);
  }
  const result = sim.result(start, end, start - feedStart);
  sim.release();
  retained.simulation = sim;
  return result;
}

/** The first candle out of order or with a price that is not a positive number. */
function checkCandles(c: CandleColumns): ValidationIssue | undefined {
  const i = firstBadCandle(c);
  if (i < 0) return undefined;
  if (i > 0 && !(c.openTime[i] > c.openTime[i - 1])) {
    const message = `candles must be strictly ascending by open time (index ${i})`;
    return { path: `/candles/${i}`, code: "unordered", message };
  }
  const message = `candle ${i} has a price that is not a positive number`;
  return { path: `/candles/${i}`, code: "invalid_candle", message };
}

/**
 * Index of the first bad candle, or −1. A loop of its own, over locals only: inside runBacktest,
 * or next to the code that builds the issue, or bounded by `c.length`, V8's optimized code for
 * it ran three to five times slower than this.
 */
function firstBadCandle(c: CandleColumns): number {
  const { openTime, open, high, low, close } = c;
  const n = c.length;
  for (let i = 0; i < n; i++) {
    if (i > 0 && !(openTime[i] > openTime[i - 1])) return i;
    if (!(open[i] > 0 && high[i] > 0 && low[i] > 0 && close[i] > 0 && high[i] < Infinity)) return i;
  }
  return -1;
}

/** onCandle's signals as the bits of DeclarativeStrategy.scan. */
function decisionBits(signals: readonly Signal[]): number {
  let d = 0;
  for (let k = 0; k < signals.length; k++) {
    const kind = signals[k].kind;
    if (kind === "entry") d |= ENTRY_BIT;
    else if (kind === "exit") d |= EXIT_BIT;
  }
  return d;
}

class Simulation {
  private readonly clock = new SimulatedClock(-Number.MAX_VALUE);
  private readonly cursor = new CandleCursor();
  private readonly ctx = new MutableContext();
  private readonly lot: StepRounder;
  private readonly tick: StepRounder;
  private readonly minNotional: number;
  private readonly minQty: number;
  private readonly sizeFraction: number;
  private readonly tpFactor: number;
  private readonly slFactor: number;
  private readonly maxOpen: number;
  private readonly cooldown: number;
  private readonly warmup: number;
  /** The strategy when it can decide blocks of candles (see DeclarativeStrategy.scan). */
  private readonly batch: DeclarativeStrategy | null;
  private readonly decisions = new Uint8Array(DECISION_BLOCK);

  private cash = 0;
  private positions: OpenPosition[] = [];
  private pendingEntry = false;
  private pendingExit = false;
  private lastExitIndex = -1;
  private feesPaid = 0;
  private skipped = 0;
  private exposed = 0;
  private seen = 0;
  private trades: ClosedTrade[] = [];
  private equity: Float64Array = new Float64Array(0);
  private rangeStart = 0;

  constructor(
    private readonly strategy: BaseStrategy,
    private c: CandleColumns,
    spec: SymbolSpec,
    private readonly intervalMs: number,
    private readonly feeRate: number,
    private readonly slip: number,
    private readonly initialBalance: number,
    /** Take the level the intrabar path reaches first when a candle reaches both. */
    private readonly followPath: boolean,
  ) {
    this.cash = initialBalance;
    this.lot = new StepRounder(spec.stepSize);
    this.tick = new StepRounder(spec.tickSize);
    this.minNotional = Number(spec.minNotional);
    this.minQty = Number(spec.minQty);
    const r = strategy.risk;
    this.sizeFraction = r.positionSizePct / 100;
    this.tpFactor = r.takeProfitPct !== undefined ? 1 + r.takeProfitPct / 100 : NaN;
    this.slFactor = r.stopLossPct !== undefined ? 1 - r.stopLossPct / 100 : NaN;
    this.maxOpen = r.maxOpenPositions;
    this.cooldown = r.cooldownCandles;
    this.warmup = strategy.warmup;
    // A subclass that overrides onCandle must be asked through it.
    this.batch =
      strategy instanceof DeclarativeStrategy && strategy.onCandle === DeclarativeStrategy.prototype.onCandle
        ? strategy
        : null;
  }

  /** Candles before the range: indicators only, signals discarded. */
  feed(from: number, to: number): void {
    const c = this.c;
    const batch = this.batch;
    if (batch !== null) {
      for (let s = from; s < to; s += DECISION_BLOCK) {
        const e = Math.min(to, s + DECISION_BLOCK);
        for (let i = s; i < e; i++) this.clock.set(c.closeTime[i]);
        batch.scan(c, s, e, this.decisions);
      }
      if (to > from) this.seen += to - from;
      return;
    }
    const ctx = this.ctx;
    ctx.openPositions = 0;
    ctx.canEnter = false;
    for (let i = from; i < to; i++) {
      this.clock.set(c.closeTime[i]);
      ctx.now = c.closeTime[i];
      this.seen++;
      this.strategy.onCandle(this.cursor.load(c, i), ctx);
    }
  }

  run(from: number, to: number, end: number): void {
    if (from >= to) return;
    if (this.equity.length === 0) {
      this.rangeStart = from;
      this.equity = new Float64Array(end - from);
    }
    const { openTime: OT, closeTime: CT, open: O, high: H, low: L, close: C, volume: V } = this.c;
    const ctx = this.ctx;
    const strategy = this.strategy;
    const cursor = this.cursor;
    const clock = this.clock;
    const ps = this.positions;
    const equity = this.equity;
    const rangeStart = this.rangeStart;
    const slip = this.slip;
    const warmup = this.warmup;
    const maxOpen = this.maxOpen;
    const cooldown = this.cooldown;
    const last = end - 1;
    const batch = this.batch;
    const decisions = this.decisions;
    for (let s = from; s < to; s += DECISION_BLOCK) {
      const e = Math.min(to, s + DECISION_BLOCK);
      if (batch !== null) batch.scan(this.c, s, e, decisions);
      for (let i = s; i < e; i++) {
        // Columns are read only where needed: most candles see no fill and no open position,
        // and on millions of candles each column read costs memory bandwidth.

        // 1. Pending market orders fill at the open: the exit first, then the entry.
        if (this.pendingExit) {
          this.pendingExit = false;
          if (ps.length > 0) {
            this.closeAll(O[i] * (1 - slip), OT[i], "signal");
            this.lastExitIndex = i;
          }
        }
        if (this.pendingEntry) {
          this.pendingEntry = false;
          this.enter(O[i], OT[i]);
        }
        if (ps.length > 0) {
          this.exposed++;
          // 2. Protective exits inside the candle.
          this.protect(i);
        }

        // 3. The strategy sees the closed candle.
        const closeTime = CT[i];
        clock.set(closeTime);
        const npos = ps.length;
        const cooling = cooldown > 0 && this.lastExitIndex >= 0 && i < this.lastExitIndex + cooldown;
        const ready = ++this.seen >= warmup;
        const canEnter = ready && npos < maxOpen && !cooling;
        let d: number;
        if (batch !== null) {
          d = decisions[i - s];
        } else {
          ctx.now = closeTime;
          ctx.openPositions = npos;
          ctx.canEnter = canEnter;
          cursor.openTime = OT[i];
          cursor.closeTime = closeTime;
          cursor.open = O[i];
          cursor.high = H[i];
          cursor.low = L[i];
          cursor.close = C[i];
          cursor.volume = V[i];
          d = decisionBits(strategy.onCandle(cursor, ctx));
        }
        if (d !== 0 && ready && i !== last) {
          if ((d & EXIT_BIT) !== 0 && npos > 0) this.pendingExit = true;
          if ((d & ENTRY_BIT) !== 0 && canEnter) this.pendingEntry = true;
        }

        if (i === last && ps.length > 0) this.closeAll(C[i], closeTime, "end_of_data");

        // 4. Mark to the close.
        let eq = this.cash;
        if (ps.length > 0) {
          const close = C[i];
          for (let p = 0; p < ps.length; p++) eq += ps[p].qty * close;
        }
        equity[i - rangeStart] = eq;
      }
    }
  }

  private enter(open: number, time: number): void {
    const price = open * (1 + this.slip);
    let equity = this.cash;
    const ps = this.positions;
    for (let p = 0; p < ps.length; p++) equity += ps[p].qty * open;
    const unitCost = price * (1 + this.feeRate);
    const wanted = (this.sizeFraction * equity) / unitCost;
    const affordable = this.cash / unitCost;
    let steps = this.lot.stepsDown(wanted < affordable ? wanted : affordable);
    // The boundary snap can round up by one step at most; never spend more cash than there is.
    if (steps > 0 && this.cost(steps, price) > this.cash) steps--;
    const qty = this.lot.fromSteps(steps);
    const notional = qty * price;
    if (
      !(steps > 0) ||
      qty < this.minQty ||
      notional < this.minNotional ||
      this.cost(steps, price) > this.cash
    ) {
      this.skipped++;
      return;
    }
    const fee = notional * this.feeRate;
    this.cash -= notional + fee;
    this.feesPaid += fee;
    ps.push({
      qty,
      entryPrice: price,
      entryNotional: notional,
      entryFee: fee,
      entryTime: time,
      takeProfit: this.tpFactor === this.tpFactor ? this.tick.up(price * this.tpFactor) : NaN,
      stop: this.slFactor === this.slFactor ? this.tick.down(price * this.slFactor) : NaN,
    });
  }

  private cost(steps: number, price: number): number {
    const notional = this.lot.fromSteps(steps) * price;
    return notional + notional * this.feeRate;
  }

  private protect(i: number): void {
    const c = this.c;
    const open = c.open[i];
    const high = c.high[i];
    const low = c.low[i];
    const time = c.openTime[i];
    const ps = this.positions;
    for (let p = 0; p < ps.length;) {
      const pos = ps[p];
      // Stop first when both are reached (the range does not say which came first), unless the
      // path decides: that case is rare, so its decimal work stays out of the common path.
      if (
        low <= pos.stop &&
        !(this.followPath && high >= pos.takeProfit && this.pathTakesTarget(i, pos.stop, pos.takeProfit))
      ) {
        const base = open < pos.stop ? open : pos.stop;
        this.close(pos, base * (1 - this.slip), time, "stop_loss");
      } else if (high >= pos.takeProfit) {
        this.close(pos, open > pos.takeProfit ? open : pos.takeProfit, time, "take_profit");
      } else {
        p++;
        continue;
      }
      ps.splice(p, 1);
      this.lastExitIndex = i;
    }
  }

  /**
   * Whether the simulator's intrabar path of candle `i`, which reaches both levels, reaches the
   * target before the stop. The path starts at the open, so an open at or beyond a level reaches
   * that level first (a gap fills at the open); otherwise its first leg runs to the nearer
   * extreme, decided exactly as the simulator does, in decimals.
   */
  private pathTakesTarget(i: number, stop: number, target: number): boolean {
    const c = this.c;
    const open = c.open[i];
    if (open <= stop) return false;
    if (open >= target) return true;
    return !lowFirst({
      open: Decimal.parse(String(open)),
      high: Decimal.parse(String(c.high[i])),
      low: Decimal.parse(String(c.low[i])),
      close: Decimal.parse(String(c.close[i])),
    });
  }

  private closeAll(price: number, time: number, reason: ExitReason): void {
    const ps = this.positions;
    for (let p = 0; p < ps.length; p++) this.close(ps[p], price, time, reason);
    ps.length = 0;
  }

  /** Books the exit of `pos`; the caller removes it from the open list. */
  private close(pos: OpenPosition, price: number, time: number, reason: ExitReason): void {
    const notional = pos.qty * price;
    const fee = notional * this.feeRate;
    this.cash += notional - fee;
    this.feesPaid += fee;
    this.trades.push({
      entryTime: pos.entryTime,
      entryPrice: pos.entryPrice,
      exitTime: time,
      exitPrice: price,
      qty: pos.qty,
      fees: pos.entryFee + fee,
      pnl: notional - pos.entryNotional - pos.entryFee - fee,
      exitReason: reason,
    });
  }

  /** Lets go of the candles and the results; the object is only kept for `retained`. */
  release(): void {
    this.c = allocateColumns(0);
    this.equity = new Float64Array(0);
    this.trades = [];
  }

  result(start: number, end: number, warmupUsed: number): BacktestResult {
    const c = this.c;
    // Equity is marked at each candle's close: its times are a view of the close-time column.
    const equityTime = c.closeTime.subarray(start, end);
    const metrics = computeMetrics({
      initialBalance: this.initialBalance,
      equity: this.equity,
      equityTime,
      trades: this.trades,
      startMs: c.openTime[start],
      intervalMs: this.intervalMs,
      lastOpenTime: c.openTime[end - 1],
      exposedCandles: this.exposed,
      feesPaid: this.feesPaid,
      skippedOrders: this.skipped,
    });
    return new BacktestResult(metrics, this.trades, equityTime, this.equity, {
      symbol: this.strategy.symbol,
      interval: this.strategy.interval,
      firstCandleTime: c.openTime[start],
      lastCandleTime: c.openTime[end - 1],
      candles: end - start,
      warmupCandles: warmupUsed,
      initialBalance: this.initialBalance,
      feeRate: this.feeRate,
      slippageBps: this.slip * 10_000,
    });
  }
}
