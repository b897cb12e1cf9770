// Compiles a validated definition into a BaseStrategy. Every operand lives in one Float64Array
// (NaN = not defined yet): the candle's prices in the first five cells, each used indicator's
// outputs in a view the indicator writes into directly, then the constants. Conditions are plain
// nodes over that array and the previous candle's copy. A candle costs the indicator updates, one
// short copy and a few comparisons, with no allocation unless a signal fires.
import type { AnyIndicator, BarIndicator, IndicatorSnapshot, SeriesIndicator } from "../indicators/types";
import { indicatorSpec } from "../indicators/registry";
import type { Candle, PriceField } from "../model/candle";
import { isPriceField } from "../model/candle";
import { ValidationError } from "../model/errors";
import { NO_SIGNALS, type Signal } from "../model/signal";
import { BaseStrategy, type StrategyContext, type StrategySnapshot } from "./base";
import type { Condition, StrategyDefinition } from "./definition";
import { validateStrategy } from "./validator";

/** Kleene truth values: a comparison with an undefined operand is UNKNOWN, and only TRUE fires. */
const FALSE = 0;
const TRUE = 1;
const UNKNOWN = 2;
type Truth = 0 | 1 | 2;

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
 * A compiled condition. Every node has the same shape and one function evaluates them all:
 * closures per node would be recreated for every compiled strategy, and V8 stops inlining
 * closures that exist in many copies, which made each candle pay several real calls.
 */
interface Node {
  readonly op: Op;
  /** Operand slots (binary operators). */
  readonly a: number;
  readonly b: number;
  /** Children (all / any / not). */
  readonly kids: readonly Node[];
}

/** Cells of the operand array that hold the candle's prices. */
const PRICE_INDEX: Readonly<Record<PriceField, number>> = { open: 0, high: 1, low: 2, close: 3, volume: 4 };

interface CompiledIndicator {
  readonly name: string;
  readonly indicator: AnyIndicator;
  /** PRICE_INDEX of the source for series indicators; -1 for bar indicators. */
  readonly source: number;
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
  private readonly bars: readonly BarIndicator[];
  private readonly entryCond: Node;
  private readonly exitCond: Node | null;
  /** Operand values on this candle: prices, indicator outputs (written in place), constants. */
  private readonly cur: Float64Array;
  /** The same on the previous candle, for crosses. */
  private readonly prev: Float64Array;
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
    const { cur, indicators } = b.finish();
    this.cur = cur;
    this.prev = cur.slice();
    this.indicators = indicators;
    const series = indicators.filter((i) => i.source >= 0);
    this.series = series.map((i) => i.indicator as SeriesIndicator);
    this.seriesSource = Uint8Array.from(series.map((i) => i.source));
    this.bars = indicators.filter((i) => i.source < 0).map((i) => i.indicator as BarIndicator);
  }

  onCandle(candle: Candle, ctx: StrategyContext): readonly Signal[] {
    const cur = this.cur;
    const prev = this.prev;
    for (let i = 0; i < cur.length; i++) prev[i] = cur[i];
    cur[0] = candle.open;
    cur[1] = candle.high;
    cur[2] = candle.low;
    cur[3] = candle.close;
    cur[4] = candle.volume;
    const series = this.series;
    const src = this.seriesSource;
    for (let i = 0; i < series.length; i++) series[i].update(cur[src[i]]);
    const bars = this.bars;
    for (let i = 0; i < bars.length; i++) bars[i].update(candle.high, candle.low, candle.close);
    if (++this.seen < this.warmup) return NO_SIGNALS;
    const exit =
      this.exitCond !== null && ctx.openPositions > 0 && evaluate(this.exitCond, cur, prev) === TRUE;
    const entry = ctx.canEnter && evaluate(this.entryCond, cur, prev) === TRUE;
    if (!exit && !entry) return NO_SIGNALS;
    if (exit && entry) return [this.signal("exit", candle, ctx), this.signal("entry", candle, ctx)];
    return [this.signal(exit ? "exit" : "entry", candle, ctx)];
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
  }

  toJSON(): StrategyDefinition {
    return this.definition;
  }
}

/** Validates and compiles; throws ValidationError (with every issue) when the definition is invalid. */
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

  constructor(private readonly def: StrategyDefinition) {}

  /** Allocates the operand array and creates the used indicators over views of it. */
  finish(): { cur: Float64Array; indicators: CompiledIndicator[] } {
    const cur = new Float64Array(this.size).fill(NaN);
    for (const c of this.constants) cur[c.slot] = c.value;
    // Declaration order, so the feed order (and any snapshot) is stable.
    const indicators = Object.keys(this.def.indicators)
      .filter((n) => this.planned.has(n))
      .map((n) => {
        const p = this.planned.get(n) as PlannedIndicator;
        const indicator = p.create(cur.subarray(p.offset, p.offset + p.outputs.length));
        return { name: p.name, indicator, source: p.source };
      });
    return { cur, indicators };
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
    if (isPriceField(op)) return { slot: PRICE_INDEX[op], warmup: 1 };
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
        node: { op: binary, a: A.slot, b: B.slot, kids: [] },
        warmup: Math.max(A.warmup, B.warmup) + (cross ? 1 : 0),
      };
    }
    if (op === "all" || op === "any") {
      const kids = (arg as Condition[]).map((k) => this.condition(k));
      return {
        node: { op: op === "all" ? Op.All : Op.Any, a: -1, b: -1, kids: kids.map((k) => k.node) },
        warmup: Math.max(0, ...kids.map((k) => k.warmup)),
      };
    }
    if (op === "not") {
      const k = this.condition(arg as Condition);
      return { node: { op: Op.Not, a: -1, b: -1, kids: [k.node] }, warmup: k.warmup };
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

/** Kleene evaluation: `all` is FALSE as soon as one child is, `any` TRUE as soon as one is. */
function evaluate(n: Node, cur: Float64Array, prev: Float64Array): Truth {
  const op = n.op;
  if (op <= Op.Lte) {
    const x = cur[n.a];
    const y = cur[n.b];
    if (x !== x || y !== y) return UNKNOWN;
    switch (op) {
      case Op.Gt:
        return x > y ? TRUE : FALSE;
      case Op.Gte:
        return x >= y ? TRUE : FALSE;
      case Op.Lt:
        return x < y ? TRUE : FALSE;
      default:
        return x <= y ? TRUE : FALSE;
    }
  }
  if (op <= Op.CrossesBelow) {
    const x = cur[n.a];
    const y = cur[n.b];
    const px = prev[n.a];
    const py = prev[n.b];
    if (x !== x || y !== y || px !== px || py !== py) return UNKNOWN;
    if (op === Op.CrossesAbove) return px <= py && x > y ? TRUE : FALSE;
    return px >= py && x < y ? TRUE : FALSE;
  }
  const kids = n.kids;
  if (op === Op.Not) {
    const v = evaluate(kids[0], cur, prev);
    return v === UNKNOWN ? UNKNOWN : v === TRUE ? FALSE : TRUE;
  }
  let r: Truth = op === Op.All ? TRUE : FALSE;
  const stop = op === Op.All ? FALSE : TRUE;
  for (let i = 0; i < kids.length; i++) {
    const v = evaluate(kids[i], cur, prev);
    if (v === stop) return stop;
    if (v === UNKNOWN) r = UNKNOWN;
  }
  return r;
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
