// Compiles a validated definition into a BaseStrategy. Every operand of a candle lives in one row
// of numbers (NaN = not defined yet): the candle's prices in the first five cells, each used
// indicator's outputs, then the constants. The latest row is `cur`, which the indicators write
// into directly and which snapshots save.
//
// Candles are processed in blocks: a block is a matrix of such rows, its row 0 being the candle
// before the block. Each indicator runs over the block's input column in one call (its own loop,
// so the update inlines), then each condition node is evaluated over all rows at once into a
// column of truth values. A block of one candle is `onCandle`; the backtest engine asks for
// blocks of many (`scan`). Row r only depends on candles up to r, so both see the same values.
import type { AnyIndicator, BarIndicator, IndicatorSnapshot, SeriesIndicator } from "../indicators/types";
import { indicatorSpec } from "../indicators/registry";
import type { Candle, CandleColumns, PriceField } from "../model/candle";
import { allocateColumns, isPriceField } from "../model/candle";
import { ValidationError } from "../model/errors";
import { NO_SIGNALS, type Signal } from "../model/signal";
import { BaseStrategy, type StrategyContext, type StrategySnapshot } from "./base";
import type { Condition, StrategyDefinition } from "./definition";
import { validateStrategy } from "./validator";

/**
 * Kleene truth values: a comparison with an undefined operand is UNKNOWN, and only TRUE fires.
 * Ordered so that `all` is the minimum of its children, `any` the maximum and `not` is TRUE − v.
 */
const FALSE = 0;
const UNKNOWN = 1;
const TRUE = 2;

/** Bits of `DeclarativeStrategy.scan`'s output: the entry / exit condition is TRUE on that candle. */
export const ENTRY_BIT = 1;
export const EXIT_BIT = 2;

/** Rows per block in `scan`: enough to spread the per-block calls thin, few enough to stay in cache. */
const BLOCK = 512;

const enum Op {
  Gt,
  Gte,
  Lt,
  Lte,
  CrossesAbove,
  CrossesBelow,
  All,
  Any,
  Not,
}

/**
 * A compiled condition. Every node has the same shape and one function evaluates them all, a
 * whole block per call: closures per node would be recreated for every compiled strategy, and V8
 * stops inlining closures that exist in many copies.
 */
interface Node {
  readonly op: Op;
  /** Operand slots (binary operators). */
  readonly a: number;
  readonly b: number;
  /** Children (all / any / not). */
  readonly kids: readonly Node[];
  /** The node's truth value on each row of the block being evaluated. */
  truth: Uint8Array;
}

/** Cells of the operand array that hold the candle's prices. */
const PRICE_INDEX: Readonly<Record<PriceField, number>> = { open: 0, high: 1, low: 2, close: 3, volume: 4 };

interface CompiledIndicator {
  readonly name: string;
  readonly indicator: AnyIndicator;
  /** PRICE_INDEX of the source for series indicators; -1 for bar indicators. */
  readonly source: number;
  /** First cell of its outputs in a row. */
  readonly offset: number;
}

interface CompiledCondition {
  readonly node: Node;
  /** Candles needed before every operand (and its previous value, for crosses) is defined. */
  readonly warmup: number;
}

const STATE_VERSION = 1;

export class DeclarativeStrategy extends BaseStrategy {
  readonly definition: StrategyDefinition;
  readonly warmup: number;
  private readonly indicators: readonly CompiledIndicator[];
  private readonly series: readonly SeriesIndicator[];
  private readonly seriesSource: Uint8Array;
  private readonly seriesAt: Int32Array;
  private readonly bars: readonly BarIndicator[];
  private readonly barsAt: Int32Array;
  /** Price cells the conditions read (indicators read the candle columns themselves). */
  private readonly prices: Uint8Array;
  private readonly entryCond: Node;
  private readonly exitCond: Node | null;
  /** Operand values on the latest candle: prices, indicator outputs (written in place), constants. */
  private readonly cur: Float64Array;
  /** The block matrix, grown on demand: row 0 is the candle before the block. */
  private rows = new Float64Array(0);
  private capacity = 0;
  /** onCandle's block of one candle and its decision. */
  private readonly one: CandleColumns = allocateColumns(1);
  private readonly oneDecision = new Uint8Array(1);
  private seen = 0;

  /** Use `compileStrategy`; this constructor trusts that `def` passed validation. */
  constructor(def: StrategyDefinition) {
    super({
      name: def.name,
      symbol: def.symbol,
      interval: def.interval,
      risk: def.risk,
      ...(def.warmupCandles !== undefined ? { warmupCandles: def.warmupCandles } : {}),
    });
    this.definition = deepFreeze(structuredCloneJson(def));
    const b = new Builder(this.definition);
    const entry = b.condition(this.definition.entry);
    const exit = this.definition.exit ? b.condition(this.definition.exit) : null;
    this.entryCond = entry.node;
    this.exitCond = exit ? exit.node : null;
    this.warmup = Math.max(1, entry.warmup, exit ? exit.warmup : 0);
    const { cur, indicators, prices } = b.finish();
    this.cur = cur;
    this.prices = prices;
    this.indicators = indicators;
    const series = indicators.filter((i) => i.source >= 0);
    this.series = series.map((i) => i.indicator as SeriesIndicator);
    this.seriesSource = Uint8Array.from(series.map((i) => i.source));
    this.seriesAt = Int32Array.from(series.map((i) => i.offset));
    const bars = indicators.filter((i) => i.source < 0);
    this.bars = bars.map((i) => i.indicator as BarIndicator);
    this.barsAt = Int32Array.from(bars.map((i) => i.offset));
  }

  onCandle(candle: Candle, ctx: StrategyContext): readonly Signal[] {
    const one = this.one;
    one.open[0] = candle.open;
    one.high[0] = candle.high;
    one.low[0] = candle.low;
    one.close[0] = candle.close;
    one.volume[0] = candle.volume;
    this.block(one, 0, 1, this.oneDecision, 0);
    const d = this.oneDecision[0];
    if (d === 0) return NO_SIGNALS;
    const exit = (d & EXIT_BIT) !== 0 && ctx.openPositions > 0;
    const entry = (d & ENTRY_BIT) !== 0 && ctx.canEnter;
    if (!exit && !entry) return NO_SIGNALS;
    if (exit && entry) return [this.signal("exit", candle, ctx), this.signal("entry", candle, ctx)];
    return [this.signal(exit ? "exit" : "entry", candle, ctx)];
  }

  /**
   * onCandle for candles from..to−1 of `c` in one call, without the context: out[i − from] gets
   * ENTRY_BIT and/or EXIT_BIT when that condition is TRUE on candle i (0 during warm-up). The
   * context only decides which of those onCandle would return, so the caller applies it. Leaves
   * the strategy in the state onCandle on each of these candles would.
   */
  scan(c: CandleColumns, from: number, to: number, out: Uint8Array): void {
    for (let s = from; s < to; s += BLOCK) this.block(c, s, Math.min(to, s + BLOCK), out, s - from);
  }

  private block(c: CandleColumns, from: number, to: number, out: Uint8Array, outAt: number): void {
    const len = to - from;
    if (len > this.capacity) this.grow(len);
    const m = this.rows;
    const cur = this.cur;
    const w = cur.length;
    // Plain loops rather than set() and fill(): their call costs more than a row of copying,
    // which matters for onCandle's one-candle blocks.
    for (let j = 0; j < w; j++) m[j] = cur[j];
    const prices = this.prices;
    for (let p = 0; p < prices.length; p++) {
      const col = priceColumn(c, prices[p]);
      for (let i = from, at = w + prices[p]; i < to; i++, at += w) m[at] = col[i];
    }
    const series = this.series;
    for (let k = 0; k < series.length; k++)
      series[k].updateMany(priceColumn(c, this.seriesSource[k]), from, to, m, w + this.seriesAt[k], w);
    const bars = this.bars;
    for (let k = 0; k < bars.length; k++)
      bars[k].updateMany(c.high, c.low, c.close, from, to, m, w + this.barsAt[k], w);
    // The indicators' outputs in `cur` are current already; the prices are the last candle's.
    const last = to - 1;
    cur[0] = c.open[last];
    cur[1] = c.high[last];
    cur[2] = c.low[last];
    cur[3] = c.close[last];
    cur[4] = c.volume[last];

    // Row r is the candle counted seen + r + 1; before the warm-up its decision is 0.
    const seen = this.seen;
    this.seen = seen + len;
    const first = Math.min(len, Math.max(0, this.warmup - seen - 1));
    for (let r = 0; r < first; r++) out[outAt + r] = 0;
    if (first === len) return;
    const entry = evaluate(this.entryCond, m, w, len);
    const exit = this.exitCond !== null ? evaluate(this.exitCond, m, w, len) : null;
    if (exit === null) {
      for (let r = first; r < len; r++) out[outAt + r] = entry[r] === TRUE ? ENTRY_BIT : 0;
    } else {
      for (let r = first; r < len; r++)
        out[outAt + r] = (entry[r] === TRUE ? ENTRY_BIT : 0) | (exit[r] === TRUE ? EXIT_BIT : 0);
    }
  }

  private grow(len: number): void {
    const cap = len > 1 ? Math.max(len, BLOCK) : 1;
    const w = this.cur.length;
    // Every row starts as a copy of `cur`, so the constants are in place once and for all.
    const m = new Float64Array((cap + 1) * w);
    for (let r = 0; r <= cap; r++) m.set(this.cur, r * w);
    this.rows = m;
    this.capacity = cap;
    const alloc = (n: Node): void => {
      n.truth = new Uint8Array(cap);
      n.kids.forEach(alloc);
    };
    alloc(this.entryCond);
    if (this.exitCond) alloc(this.exitCond);
  }

  /** Names of the indicators the conditions use; only these are computed. */
  get computedIndicators(): readonly string[] {
    return this.indicators.map((i) => i.name);
  }

  /** Current value of a computed indicator output (e.g. "bb.lower"), undefined while warming up. */
  read(operand: string): number | undefined {
    const dot = operand.indexOf(".");
    const name = dot === -1 ? operand : operand.slice(0, dot);
    const ci = this.indicators.find((i) => i.name === name);
    if (!ci) return undefined;
    const idx = dot === -1 ? 0 : ci.indicator.outputs.indexOf(operand.slice(dot + 1));
    if (idx < 0) return undefined;
    const v = ci.indicator.values[idx];
    return v === v ? v : undefined;
  }

  snapshot(): StrategySnapshot {
    const indicators: Record<string, IndicatorSnapshot> = {};
    for (const ci of this.indicators) indicators[ci.name] = ci.indicator.snapshot();
    return {
      kind: "declarative",
      version: STATE_VERSION,
      state: { seen: this.seen, indicators, operands: Array.from(this.cur, (v) => (v === v ? v : null)) },
    };
  }

  restore(snapshot: StrategySnapshot): void {
    if (!snapshot || snapshot.kind !== "declarative" || snapshot.version !== STATE_VERSION) {
      throw new TypeError(`not a declarative strategy snapshot (version ${STATE_VERSION})`);
    }
    const st = snapshot.state as {
      seen: number;
      indicators: Record<string, IndicatorSnapshot>;
      operands: (number | null)[];
    };
    if (!Array.isArray(st?.operands) || st.operands.length !== this.cur.length) {
      throw new TypeError("snapshot does not match this strategy's conditions");
    }
    for (const ci of this.indicators) {
      const s = st.indicators?.[ci.name];
      if (!s) throw new TypeError(`snapshot has no state for indicator "${ci.name}"`);
      ci.indicator.restore(s);
    }
    this.seen = st.seen;
    // Indicator outputs were restored in place above; this also brings back the last prices.
    for (let i = 0; i < st.operands.length; i++) {
      const v = st.operands[i];
      this.cur[i] = v === null ? NaN : v;
    }
    // The block rows hold the constants as they were; take them from the snapshot like `cur`.
    this.capacity = 0;
  }

  toJSON(): StrategyDefinition {
    return this.definition;
  }
}

/** Validates and compiles; throws a ValidationError listing every problem when the definition is invalid. */
export function compileStrategy(input: unknown): DeclarativeStrategy {
  const v = validateStrategy(input);
  if (!v.ok) throw new ValidationError(v.errors);
  return new DeclarativeStrategy(v.definition);
}

interface PlannedIndicator {
  readonly name: string;
  readonly create: (out: Float64Array) => AnyIndicator;
  readonly source: number;
  /** First cell of its outputs in the operand array. */
  readonly offset: number;
  readonly outputs: readonly string[];
  readonly warmup: number;
}

class Builder {
  /** Cells allocated so far; 0–4 are the prices. */
  private size = 5;
  private readonly constants: { slot: number; value: number }[] = [];
  private readonly constantSlot = new Map<number, number>();
  private readonly planned = new Map<string, PlannedIndicator>();
  private readonly prices = new Set<number>();

  constructor(private readonly def: StrategyDefinition) {}

  /** Allocates the operand array and creates the used indicators over views of it. */
  finish(): { cur: Float64Array; indicators: CompiledIndicator[]; prices: Uint8Array } {
    const cur = new Float64Array(this.size).fill(NaN);
    for (const c of this.constants) cur[c.slot] = c.value;
    // Declaration order, so the feed order (and any snapshot) is stable.
    const indicators = Object.keys(this.def.indicators)
      .filter((n) => this.planned.has(n))
      .map((n) => {
        const p = this.planned.get(n) as PlannedIndicator;
        const indicator = p.create(cur.subarray(p.offset, p.offset + p.outputs.length));
        return { name: p.name, indicator, source: p.source, offset: p.offset };
      });
    return { cur, indicators, prices: Uint8Array.from(this.prices) };
  }

  private indicator(name: string): PlannedIndicator {
    let p = this.planned.get(name);
    if (!p) {
      const d = this.def.indicators[name];
      const spec = indicatorSpec(d.type);
      if (!spec) throw new TypeError(`unknown indicator type ${d.type}`);
      const params: Record<string, number> = {};
      for (const q of spec.params) params[q.name] = d[q.name] as number;
      const outputs = spec.outputs ?? ["value"];
      p = {
        name,
        create: (out) => spec.create(params, out),
        source: spec.input === "bar" ? -1 : PRICE_INDEX[d.source ?? "close"],
        offset: this.size,
        outputs,
        warmup: spec.warmup(params),
      };
      this.size += outputs.length;
      this.planned.set(name, p);
    }
    return p;
  }

  /** Cell and warm-up of an operand. */
  private operand(op: string | number): { slot: number; warmup: number } {
    if (typeof op === "number") {
      let slot = this.constantSlot.get(op);
      if (slot === undefined) {
        slot = this.size++;
        this.constantSlot.set(op, slot);
        this.constants.push({ slot, value: op });
      }
      return { slot, warmup: 0 };
    }
    if (isPriceField(op)) {
      this.prices.add(PRICE_INDEX[op]);
      return { slot: PRICE_INDEX[op], warmup: 1 };
    }
    const dot = op.indexOf(".");
    const p = this.indicator(dot === -1 ? op : op.slice(0, dot));
    const index = dot === -1 ? 0 : p.outputs.indexOf(op.slice(dot + 1));
    if (index < 0) throw new TypeError(`unknown output in ${op}`);
    return { slot: p.offset + index, warmup: p.warmup };
  }

  condition(c: Condition): CompiledCondition {
    const op = Object.keys(c)[0];
    const arg = (c as Record<string, unknown>)[op];
    const binary = BINARY_OPS[op];
    if (binary !== undefined) {
      const [a, b] = arg as [string | number, string | number];
      const A = this.operand(a);
      const B = this.operand(b);
      const cross = binary === Op.CrossesAbove || binary === Op.CrossesBelow;
      return {
        node: { op: binary, a: A.slot, b: B.slot, kids: [], truth: NO_TRUTH },
        warmup: Math.max(A.warmup, B.warmup) + (cross ? 1 : 0),
      };
    }
    if (op === "all" || op === "any") {
      const kids = (arg as Condition[]).map((k) => this.condition(k));
      return {
        node: {
          op: op === "all" ? Op.All : Op.Any,
          a: -1,
          b: -1,
          kids: kids.map((k) => k.node),
          truth: NO_TRUTH,
        },
        warmup: Math.max(0, ...kids.map((k) => k.warmup)),
      };
    }
    if (op === "not") {
      const k = this.condition(arg as Condition);
      return { node: { op: Op.Not, a: -1, b: -1, kids: [k.node], truth: NO_TRUTH }, warmup: k.warmup };
    }
    throw new TypeError(`unknown operator ${op}`);
  }
}

const BINARY_OPS: Readonly<Record<string, Op>> = {
  gt: Op.Gt,
  gte: Op.Gte,
  lt: Op.Lt,
  lte: Op.Lte,
  crossesAbove: Op.CrossesAbove,
  crossesBelow: Op.CrossesBelow,
};

const NO_TRUTH = new Uint8Array(0);

function priceColumn(c: CandleColumns, slot: number): Float64Array {
  switch (slot) {
    case 0:
      return c.open;
    case 1:
      return c.high;
    case 2:
      return c.low;
    case 3:
      return c.close;
    default:
      return c.volume;
  }
}

/**
 * The truth of `n` on rows 1..len of the block `m` (row width `w`), into n.truth[0..len). With
 * FALSE < UNKNOWN < TRUE, `all` is the minimum and `any` the maximum, the Kleene connectives.
 */
function evaluate(n: Node, m: Float64Array, w: number, len: number): Uint8Array {
  const t = n.truth;
  const op = n.op;
  if (op <= Op.CrossesBelow) {
    let a = w + n.a;
    let b = w + n.b;
    // A comparison with NaN is false both ways round, which leaves UNKNOWN.
    switch (op) {
      case Op.Gt:
        for (let r = 0; r < len; r++, a += w, b += w) {
          const x = m[a];
          const y = m[b];
          t[r] = x > y ? TRUE : x <= y ? FALSE : UNKNOWN;
        }
        break;
      case Op.Gte:
        for (let r = 0; r < len; r++, a += w, b += w) {
          const x = m[a];
          const y = m[b];
          t[r] = x >= y ? TRUE : x < y ? FALSE : UNKNOWN;
        }
        break;
      case Op.Lt:
        for (let r = 0; r < len; r++, a += w, b += w) {
          const x = m[a];
          const y = m[b];
          t[r] = x < y ? TRUE : x >= y ? FALSE : UNKNOWN;
        }
        break;
      case Op.Lte:
        for (let r = 0; r < len; r++, a += w, b += w) {
          const x = m[a];
          const y = m[b];
          t[r] = x <= y ? TRUE : x > y ? FALSE : UNKNOWN;
        }
        break;
      case Op.CrossesAbove:
        for (let r = 0; r < len; r++, a += w, b += w) {
          const x = m[a];
          const y = m[b];
          const px = m[a - w];
          const py = m[b - w];
          t[r] = x !== x || y !== y || px !== px || py !== py ? UNKNOWN : px <= py && x > y ? TRUE : FALSE;
        }
        break;
      default:
        for (let r = 0; r < len; r++, a += w, b += w) {
          const x = m[a];
          const y = m[b];
          const px = m[a - w];
          const py = m[b - w];
          t[r] = x !== x || y !== y || px !== px || py !== py ? UNKNOWN : px >= py && x < y ? TRUE : FALSE;
        }
    }
    return t;
  }
  const kids = n.kids;
  if (op === Op.Not) {
    const k = evaluate(kids[0], m, w, len);
    for (let r = 0; r < len; r++) t[r] = TRUE - k[r];
    return t;
  }
  // One child is its own result; otherwise the first two are combined into t, then the rest.
  let acc = evaluate(kids[0], m, w, len);
  for (let i = 1; i < kids.length; i++) {
    const k = evaluate(kids[i], m, w, len);
    if (op === Op.All) {
      for (let r = 0; r < len; r++) {
        const x = acc[r];
        const y = k[r];
        t[r] = x < y ? x : y;
      }
    } else {
      for (let r = 0; r < len; r++) {
        const x = acc[r];
        const y = k[r];
        t[r] = x > y ? x : y;
      }
    }
    acc = t;
  }
  return acc;
}

function structuredCloneJson<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
