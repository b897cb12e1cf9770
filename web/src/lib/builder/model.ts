// The visual builder's model of a strategy definition (docs/strategy-format.md) and its exact
// conversion to and from the JSON document. The model keeps what the blocks need (ids to key,
// drag and point errors at) and nothing the document does not say: toJson(fromJson(doc)) writes
// back the same document, key order included, so switching between the JSON view and the blocks
// never rewrites what a user typed.
//
// Incomplete blocks are representable on purpose: an empty operand slot is `null` and a NOT
// without its condition is `{"not": null}`. The document is then invalid, and the validator's
// error for that exact pointer is shown on the empty slot.

export type OperandValue = number | string | null;
export type CompareOp = "gt" | "gte" | "lt" | "lte" | "crossesAbove" | "crossesBelow";
export type GroupOp = "all" | "any";
export const COMPARE_OPS: readonly CompareOp[] = ["crossesAbove", "crossesBelow", "gt", "gte", "lt", "lte"];
export const GROUP_OPS: readonly GroupOp[] = ["all", "any"];

export interface CompareNode {
  id: string;
  kind: "compare";
  op: CompareOp;
  operands: [OperandValue, OperandValue];
}
export interface GroupNode {
  id: string;
  kind: "group";
  op: GroupOp;
  children: CondNode[];
}
export interface NotNode {
  id: string;
  kind: "not";
  child: CondNode | null;
}
export type CondNode = CompareNode | GroupNode | NotNode;

export type JsonScalar = string | number | boolean | null;

export interface IndicatorBlock {
  id: string;
  name: string;
  /** the definition as written, `type` included, in its own key order */
  def: Record<string, JsonScalar>;
}

export type ConditionRoot = "entry" | "exit";

export interface BuilderModel {
  /** top-level keys in the order the document had them; new keys follow in TOP_ORDER */
  order: string[];
  name?: string;
  symbol?: string;
  interval?: string;
  indicators?: IndicatorBlock[];
  entry?: CondNode;
  exit?: CondNode;
  risk?: Record<string, JsonScalar>;
  warmupCandles?: number;
  /** the next block id: ids are deterministic, so equal edits give equal models */
  seq: number;
}

export const TOP_ORDER = [
  "name",
  "symbol",
  "interval",
  "indicators",
  "entry",
  "exit",
  "risk",
  "warmupCandles",
];

export type FromJsonResult = { ok: true; model: BuilderModel } | { ok: false; reason: string };

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isScalar = (v: unknown): v is JsonScalar =>
  v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean";

class NotRepresentable extends Error {}

/** A new block id, advancing the model's counter. */
export function nextId(m: BuilderModel, prefix: string): string {
  return `${prefix}${m.seq++}`;
}

/** The blocks of a document, or why the document cannot be shown as blocks. */
export function fromJson(doc: unknown): FromJsonResult {
  try {
    return { ok: true, model: build(doc) };
  } catch (e) {
    if (e instanceof NotRepresentable) return { ok: false, reason: e.message };
    throw e;
  }
}

function build(doc: unknown): BuilderModel {
  if (!isObject(doc)) throw new NotRepresentable("The strategy must be a JSON object.");
  const m: BuilderModel = { order: Object.keys(doc), seq: 1 };
  for (const k of m.order)
    if (!TOP_ORDER.includes(k))
      throw new NotRepresentable(
        `"${k}" is not a field of the strategy format; remove it to edit with blocks.`,
      );
  for (const k of ["name", "symbol", "interval"] as const) {
    if (!(k in doc)) continue;
    const v = doc[k];
    if (typeof v !== "string") throw new NotRepresentable(`"${k}" must be a string to edit with blocks.`);
    m[k] = v;
  }
  if ("warmupCandles" in doc) {
    const v = doc.warmupCandles;
    if (typeof v !== "number")
      throw new NotRepresentable(`"warmupCandles" must be a number to edit with blocks.`);
    m.warmupCandles = v;
  }
  if ("indicators" in doc) {
    const ind = doc.indicators;
    if (!isObject(ind)) throw new NotRepresentable(`"indicators" must be an object to edit with blocks.`);
    m.indicators = Object.entries(ind).map(([name, def]) => {
      if (!isObject(def) || !Object.values(def).every(isScalar))
        throw new NotRepresentable(
          `Indicator "${name}" must be an object of plain values to edit with blocks.`,
        );
      return { id: nextId(m, "i"), name, def: { ...(def as Record<string, JsonScalar>) } };
    });
  }
  if ("risk" in doc) {
    const r = doc.risk;
    if (!isObject(r) || !Object.values(r).every(isScalar))
      throw new NotRepresentable(`"risk" must be an object of plain values to edit with blocks.`);
    m.risk = { ...(r as Record<string, JsonScalar>) };
  }
  for (const k of ["entry", "exit"] as const) if (k in doc) m[k] = condition(m, doc[k], k);
  return m;
}

function condition(m: BuilderModel, c: unknown, where: string): CondNode {
  if (!isObject(c)) throw new NotRepresentable(`${where}: a condition must be an object with one operator.`);
  const keys = Object.keys(c);
  if (keys.length !== 1)
    throw new NotRepresentable(`${where}: a condition has exactly one operator, got ${keys.length}.`);
  const op = keys[0];
  const arg = c[op];
  if ((COMPARE_OPS as readonly string[]).includes(op)) {
    if (!Array.isArray(arg) || arg.length !== 2)
      throw new NotRepresentable(`${where}: ${op} takes exactly two operands.`);
    for (const a of arg)
      if (!(a === null || typeof a === "number" || typeof a === "string"))
        throw new NotRepresentable(`${where}: an operand is a number or a name.`);
    return { id: nextId(m, "c"), kind: "compare", op: op as CompareOp, operands: [arg[0], arg[1]] };
  }
  if (op === "all" || op === "any") {
    if (!Array.isArray(arg)) throw new NotRepresentable(`${where}: ${op} takes a list of conditions.`);
    const id = nextId(m, "c");
    return { id, kind: "group", op, children: arg.map((x, i) => condition(m, x, `${where}/${op}/${i}`)) };
  }
  if (op === "not") {
    const id = nextId(m, "c");
    return { id, kind: "not", child: arg === null ? null : condition(m, arg, `${where}/not`) };
  }
  throw new NotRepresentable(`${where}: "${op}" is not an operator of the strategy format.`);
}

/** The strategy document the blocks describe. */
export function toJson(m: BuilderModel): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const keys = [
    ...m.order.filter((k) => TOP_ORDER.includes(k)),
    ...TOP_ORDER.filter((k) => !m.order.includes(k)),
  ];
  for (const k of keys) {
    const v = fieldJson(m, k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

function fieldJson(m: BuilderModel, k: string): unknown {
  switch (k) {
    case "indicators":
      return m.indicators && Object.fromEntries(m.indicators.map((i) => [i.name, { ...i.def }]));
    case "entry":
      return m.entry && conditionJson(m.entry);
    case "exit":
      return m.exit && conditionJson(m.exit);
    case "risk":
      return m.risk && { ...m.risk };
    case "name":
    case "symbol":
    case "interval":
    case "warmupCandles":
      return m[k];
    default:
      return undefined;
  }
}

export function conditionJson(c: CondNode): unknown {
  switch (c.kind) {
    case "compare":
      return { [c.op]: [c.operands[0], c.operands[1]] };
    case "group":
      return { [c.op]: c.children.map(conditionJson) };
    case "not":
      return { not: c.child ? conditionJson(c.child) : null };
  }
}

/** A fresh strategy: the market, an empty entry group and the one required risk field. */
export function emptyModel(): BuilderModel {
  return {
    order: [...TOP_ORDER.filter((k) => k !== "exit" && k !== "warmupCandles")],
    name: "",
    symbol: "BTCUSDT",
    interval: "1h",
    indicators: [],
    entry: { id: "c1", kind: "group", op: "all", children: [] },
    risk: { positionSizePct: 100 },
    seq: 2,
  };
}

/** A deep copy: models are replaced, never mutated, so every edit is a new value. */
export function clone(m: BuilderModel): BuilderModel {
  return JSON.parse(JSON.stringify(m)) as BuilderModel;
}

/** Every condition node, depth first, with the root it belongs to. */
export function* walk(
  m: BuilderModel,
): Generator<{ node: CondNode; root: ConditionRoot; parent: CondNode | null }> {
  function* go(
    node: CondNode,
    root: ConditionRoot,
    parent: CondNode | null,
  ): Generator<{ node: CondNode; root: ConditionRoot; parent: CondNode | null }> {
    yield { node, root, parent };
    if (node.kind === "group") for (const c of node.children) yield* go(c, root, node);
    if (node.kind === "not" && node.child) yield* go(node.child, root, node);
  }
  if (m.entry) yield* go(m.entry, "entry", null);
  if (m.exit) yield* go(m.exit, "exit", null);
}

export function findNode(m: BuilderModel, id: string): CondNode | undefined {
  for (const w of walk(m)) if (w.node.id === id) return w.node;
  return undefined;
}

/** The names a condition may read: price fields first, then every indicator output. */
export function operandChoices(
  m: BuilderModel,
  priceFields: readonly string[],
  outputsOf: (type: string) => readonly string[] | null | undefined,
): string[] {
  const out = [...priceFields];
  for (const i of m.indicators ?? []) {
    const outputs = typeof i.def.type === "string" ? outputsOf(i.def.type) : undefined;
    if (outputs) for (const o of outputs) out.push(`${i.name}.${o}`);
    else out.push(i.name);
  }
  return out;
}
