// Edits of the builder model. Each takes a model and returns a new one (the input is left as it
// was), so the page can hold the model as one immutable value and every edit, whether it came
// from a form, a drop or the keyboard, goes through the same function.
import { indicatorSpec, INDICATOR_NAME_PATTERN, RESERVED_NAMES } from "./core";
import {
  clone,
  findNode,
  nextId,
  type BuilderModel,
  type CompareOp,
  type CondNode,
  type ConditionRoot,
  type GroupOp,
  type JsonScalar,
  type OperandValue,
} from "./model";

export type TopField = "name" | "symbol" | "interval" | "warmupCandles";

export function setField<K extends TopField>(
  m: BuilderModel,
  key: K,
  value: BuilderModel[K] | undefined,
): BuilderModel {
  const n = clone(m);
  if (value === undefined) delete n[key];
  else {
    n[key] = value;
    if (!n.order.includes(key)) n.order.push(key);
  }
  return n;
}

// ---------------------------------------------------------------- indicators

/** Parameter values a new indicator starts with: the textbook settings of each type. */
const DEFAULTS: Record<string, Record<string, number>> = {
  SMA: { period: 20 },
  EMA: { period: 20 },
  WMA: { period: 20 },
  RSI: { period: 14 },
  MACD: { fastPeriod: 12, slowPeriod: 26, signalPeriod: 9 },
  BB: { period: 20, stdDev: 2 },
  ATR: { period: 14 },
  STOCH: { period: 14, signalPeriod: 3 },
};

/** The definition a new indicator of this type starts with. */
export function defaultDefinition(type: string): Record<string, JsonScalar> {
  const spec = indicatorSpec(type);
  const def: Record<string, JsonScalar> = { type };
  for (const p of spec?.params ?? [])
    def[p.name] = DEFAULTS[type]?.[p.name] ?? (p.kind === "integer" ? 14 : 1);
  if (spec?.input === "series") def.source = "close";
  return def;
}

/** A name not yet taken: the type in lower case, then a number when needed (ema, ema2, …). */
export function freeName(m: BuilderModel, type: string): string {
  const base = type.toLowerCase();
  const taken = new Set((m.indicators ?? []).map((i) => i.name));
  if (!taken.has(base)) return base;
  for (let k = 2; ; k++) if (!taken.has(`${base}${k}`)) return `${base}${k}`;
}

export function addIndicator(m: BuilderModel, type: string, name?: string): BuilderModel {
  const n = clone(m);
  n.indicators ??= [];
  if (!n.order.includes("indicators")) n.order.push("indicators");
  n.indicators.push({ id: nextId(n, "i"), name: name ?? freeName(m, type), def: defaultDefinition(type) });
  return n;
}

export function removeIndicator(m: BuilderModel, id: string): BuilderModel {
  const n = clone(m);
  n.indicators = (n.indicators ?? []).filter((i) => i.id !== id);
  return n;
}

/** Why a name cannot be used for this indicator, or undefined when it can. */
export function nameProblem(m: BuilderModel, id: string, name: string): string | undefined {
  if (!INDICATOR_NAME_PATTERN.test(name)) return "Start with a letter or _, then letters, digits and _ only.";
  if (RESERVED_NAMES.includes(name)) return `“${name}” is a price field.`;
  if ((m.indicators ?? []).some((i) => i.id !== id && i.name === name))
    return `Another indicator is called “${name}”.`;
  return undefined;
}

/**
 * Renames an indicator and every condition operand that reads it (`fast`, `bb.lower`), so a
 * rename never breaks a working strategy. A name another indicator has is refused: the document
 * is an object keyed by name and one of the two would be lost.
 */
export function renameIndicator(m: BuilderModel, id: string, name: string): BuilderModel {
  const ind = m.indicators?.find((i) => i.id === id);
  if (!ind || ind.name === name || (m.indicators ?? []).some((i) => i.id !== id && i.name === name)) return m;
  const old = ind.name;
  const n = clone(m);
  n.indicators!.find((i) => i.id === id)!.name = name;
  const rename = (v: OperandValue): OperandValue => {
    if (typeof v !== "string") return v;
    if (v === old) return name;
    if (v.startsWith(old + ".")) return name + v.slice(old.length);
    return v;
  };
  for (const root of [n.entry, n.exit])
    if (root)
      eachNode(root, (c) => {
        if (c.kind === "compare") c.operands = [rename(c.operands[0]), rename(c.operands[1])];
      });
  return n;
}

/** Sets (or with undefined removes) one field of an indicator's definition. */
export function setIndicatorField(
  m: BuilderModel,
  id: string,
  key: string,
  value: JsonScalar | undefined,
): BuilderModel {
  const n = clone(m);
  const ind = n.indicators?.find((i) => i.id === id);
  if (!ind) return m;
  if (value === undefined) delete ind.def[key];
  else ind.def[key] = value;
  return n;
}

/** Another type starts from that type's defaults: parameters rarely mean the same across types. */
export function setIndicatorType(m: BuilderModel, id: string, type: string): BuilderModel {
  const n = clone(m);
  const ind = n.indicators?.find((i) => i.id === id);
  if (!ind || ind.def.type === type) return m;
  ind.def = defaultDefinition(type);
  return n;
}

// ---------------------------------------------------------------- risk

export function setRisk(m: BuilderModel, key: string, value: number | undefined): BuilderModel {
  const n = clone(m);
  n.risk ??= {};
  if (!n.order.includes("risk")) n.order.push("risk");
  if (value === undefined) delete n.risk[key];
  else n.risk[key] = value;
  return n;
}

// ---------------------------------------------------------------- conditions

function eachNode(c: CondNode, fn: (c: CondNode) => void): void {
  fn(c);
  if (c.kind === "group") for (const k of c.children) eachNode(k, fn);
  if (c.kind === "not" && c.child) eachNode(c.child, fn);
}

/** A new, empty condition block. */
export function newCondition(m: BuilderModel, op: CompareOp | GroupOp | "not"): CondNode {
  const id = nextId(m, "c");
  if (op === "all" || op === "any") return { id, kind: "group", op, children: [] };
  if (op === "not") return { id, kind: "not", child: null };
  return { id, kind: "compare", op, operands: [null, null] };
}

/**
 * Adds an empty root group (entry: AND, exit: OR) or removes the root. Exit conditions are
 * optional; the entry is required, and only goes missing when the JSON view removed it.
 */
export function setRootEnabled(m: BuilderModel, root: ConditionRoot, on: boolean): BuilderModel {
  if (on === (m[root] !== undefined)) return m;
  const n = clone(m);
  if (on) {
    n[root] = { id: nextId(n, "c"), kind: "group", op: root === "entry" ? "all" : "any", children: [] };
    if (!n.order.includes(root)) n.order.push(root);
  } else delete n[root];
  return n;
}

export const setExitEnabled = (m: BuilderModel, on: boolean) => setRootEnabled(m, "exit", on);

export function setOperand(m: BuilderModel, nodeId: string, index: 0 | 1, value: OperandValue): BuilderModel {
  const n = clone(m);
  const c = findNode(n, nodeId);
  if (c?.kind !== "compare") return m;
  c.operands[index] = value;
  return n;
}

export function setCompareOp(m: BuilderModel, nodeId: string, op: CompareOp): BuilderModel {
  const n = clone(m);
  const c = findNode(n, nodeId);
  if (c?.kind !== "compare") return m;
  c.op = op;
  return n;
}

export function setGroupOp(m: BuilderModel, nodeId: string, op: GroupOp): BuilderModel {
  const n = clone(m);
  const c = findNode(n, nodeId);
  if (c?.kind !== "group") return m;
  c.op = op;
  return n;
}

/** Detaches a node from wherever it is; an emptied root becomes an empty group (entry) or goes (exit). */
function detach(n: BuilderModel, id: string): CondNode | undefined {
  for (const root of ["entry", "exit"] as ConditionRoot[]) {
    const r = n[root];
    if (!r) continue;
    if (r.id === id) {
      if (root === "entry") n.entry = { id: nextId(n, "c"), kind: "group", op: "all", children: [] };
      else delete n.exit;
      return r;
    }
    let found: CondNode | undefined;
    eachNode(r, (c) => {
      if (found) return;
      if (c.kind === "group") {
        const i = c.children.findIndex((k) => k.id === id);
        if (i >= 0) found = c.children.splice(i, 1)[0];
      } else if (c.kind === "not" && c.child?.id === id) {
        found = c.child;
        c.child = null;
      }
    });
    if (found) return found;
  }
  return undefined;
}

export function removeCondition(m: BuilderModel, id: string): BuilderModel {
  const n = clone(m);
  return detach(n, id) ? n : m;
}

/** Puts the node in a group of its own (AND/OR), so siblings can be added beside it. */
export function wrapCondition(m: BuilderModel, id: string, op: GroupOp): BuilderModel {
  const n = clone(m);
  const wrap = (c: CondNode): CondNode => ({ id: nextId(n, "c"), kind: "group", op, children: [c] });
  for (const root of ["entry", "exit"] as ConditionRoot[]) {
    const r = n[root];
    if (!r) continue;
    if (r.id === id) {
      n[root] = wrap(r);
      return n;
    }
    let done = false;
    eachNode(r, (c) => {
      if (done) return;
      if (c.kind === "group") {
        const i = c.children.findIndex((k) => k.id === id);
        if (i >= 0) {
          c.children[i] = wrap(c.children[i]);
          done = true;
        }
      } else if (c.kind === "not" && c.child?.id === id) {
        c.child = wrap(c.child);
        done = true;
      }
    });
    if (done) return n;
  }
  return m;
}

/** Where a condition block may go: the end of a group, or the empty place of a NOT. */
export type ConditionTarget = { kind: "group"; node: string } | { kind: "not"; node: string };

/** Places a condition; false when the target does not take it. */
function attach(n: BuilderModel, target: ConditionTarget, c: CondNode): boolean {
  const t = findNode(n, target.node);
  if (target.kind === "group" && t?.kind === "group") {
    t.children.push(c);
    return true;
  }
  if (target.kind === "not" && t?.kind === "not" && t.child === null) {
    t.child = c;
    return true;
  }
  return false;
}

export function insertCondition(
  m: BuilderModel,
  target: ConditionTarget,
  op: CompareOp | GroupOp | "not",
): BuilderModel {
  const n = clone(m);
  return attach(n, target, newCondition(n, op)) ? n : m;
}

/** Whether `inner` is `outer` or inside it (a block cannot be moved into itself). */
export function contains(m: BuilderModel, outer: string, inner: string): boolean {
  const o = findNode(m, outer);
  if (!o) return false;
  let hit = false;
  eachNode(o, (c) => (hit ||= c.id === inner));
  return hit;
}

export function moveCondition(m: BuilderModel, id: string, target: ConditionTarget): BuilderModel {
  if (contains(m, id, target.node)) return m;
  const n = clone(m);
  const c = detach(n, id);
  if (!c) return m;
  return attach(n, target, c) ? n : m;
}
