// Drag and drop in the builder, and its keyboard equivalent. Both end in applyDrop(model, payload,
// target): a drag carries the payload in its DataTransfer and ends on a drop zone; the keyboard
// picks the payload up (Enter or Space on a palette item or a block's "Move" button), walks the
// same list of targets that the drop zones show (arrow keys, Home, End) and places it with Enter.
// One list and one function, so a keyboard user can build exactly what a mouse user can.
import { PRICE_FIELDS, indicatorSpec } from "./core";
import {
  findNode,
  operandChoices,
  walk,
  type BuilderModel,
  type CompareOp,
  type CondNode,
  type GroupOp,
} from "./model";
import { addIndicator, contains, insertCondition, moveCondition, setOperand } from "./ops";
import { conditionLabel, newBlockLabel, operandLabel, rootLabel } from "./labels";

export type Payload =
  | { kind: "operand"; value: number | string }
  | { kind: "condition"; op: CompareOp | GroupOp | "not" }
  | { kind: "move"; node: string }
  | { kind: "indicator"; type: string };

export type Target =
  | { kind: "slot"; node: string; index: 0 | 1 }
  | { kind: "group"; node: string }
  | { kind: "not"; node: string }
  | { kind: "indicators" };

/** The DataTransfer type of the builder's own drags: drops of anything else are ignored. */
export const MIME = "application/x-aura-block";

export function encodePayload(p: Payload): string {
  return JSON.stringify(p);
}

export function decodePayload(s: string | undefined | null): Payload | null {
  if (!s) return null;
  try {
    const p = JSON.parse(s) as Payload;
    switch (p?.kind) {
      case "operand":
        return typeof p.value === "number" || typeof p.value === "string"
          ? { kind: "operand", value: p.value }
          : null;
      case "condition":
        return typeof p.op === "string" ? { kind: "condition", op: p.op } : null;
      case "move":
        return typeof p.node === "string" ? { kind: "move", node: p.node } : null;
      case "indicator":
        return typeof p.type === "string" ? { kind: "indicator", type: p.type } : null;
      default:
        return null;
    }
  } catch {
    return null;
  }
}

/** A stable string for a target: drop zones carry it, and equal targets have equal keys. */
export function targetKey(t: Target): string {
  return t.kind === "indicators"
    ? "indicators"
    : t.kind === "slot"
      ? `slot:${t.node}:${t.index}`
      : `${t.kind}:${t.node}`;
}

/** Every place the payload may go, in the order the blocks appear on the page. */
export function dropTargets(m: BuilderModel, p: Payload): Target[] {
  if (p.kind === "indicator") return [{ kind: "indicators" }];
  const out: Target[] = [];
  for (const { node } of walk(m)) {
    if (p.kind === "operand") {
      if (node.kind === "compare")
        out.push({ kind: "slot", node: node.id, index: 0 }, { kind: "slot", node: node.id, index: 1 });
      continue;
    }
    if (p.kind === "move" && contains(m, p.node, node.id)) continue;
    if (node.kind === "group") out.push({ kind: "group", node: node.id });
    if (node.kind === "not" && node.child === null) out.push({ kind: "not", node: node.id });
  }
  return out;
}

export function accepts(m: BuilderModel, p: Payload, t: Target): boolean {
  const k = targetKey(t);
  return dropTargets(m, p).some((x) => targetKey(x) === k);
}

/** The model after dropping the payload on the target, or the same model when it does not fit. */
export function applyDrop(m: BuilderModel, p: Payload, t: Target): BuilderModel {
  if (!accepts(m, p, t)) return m;
  switch (p.kind) {
    case "indicator":
      return addIndicator(m, p.type);
    case "operand":
      return t.kind === "slot" ? setOperand(m, t.node, t.index, p.value) : m;
    case "condition":
      return t.kind === "group" || t.kind === "not" ? insertCondition(m, t, p.op) : m;
    case "move":
      return t.kind === "group" || t.kind === "not" ? moveCondition(m, p.node, t) : m;
  }
}

// ---------------------------------------------------------------- keyboard

export interface KeyboardDrag {
  payload: Payload;
  targets: Target[];
  /** the target that Enter would place the payload on */
  index: number;
}

/** Picks a payload up; null when it has nowhere to go. */
export function pickUp(m: BuilderModel, payload: Payload): KeyboardDrag | null {
  const targets = dropTargets(m, payload);
  return targets.length ? { payload, targets, index: 0 } : null;
}

/** Moves the choice with the arrow keys (wrapping), Home and End; other keys change nothing. */
export function moveChoice(d: KeyboardDrag, key: string): KeyboardDrag {
  const n = d.targets.length;
  const index =
    key === "ArrowDown" || key === "ArrowRight"
      ? (d.index + 1) % n
      : key === "ArrowUp" || key === "ArrowLeft"
        ? (d.index - 1 + n) % n
        : key === "Home"
          ? 0
          : key === "End"
            ? n - 1
            : d.index;
  return { ...d, index };
}

export function place(m: BuilderModel, d: KeyboardDrag): BuilderModel {
  return applyDrop(m, d.payload, d.targets[d.index]);
}

// ---------------------------------------------------------------- words for screen readers

/** "Entry, AND group, condition 2 (crosses above)": where a block sits, for a listener. */
export function nodePath(m: BuilderModel, id: string): string {
  for (const root of ["entry", "exit"] as const) {
    const r = m[root];
    if (!r) continue;
    const trail = findTrail(r, id, [rootLabel(root)], true);
    if (trail) return trail.join(", ");
  }
  return "";
}

function findTrail(c: CondNode, id: string, trail: string[], isRoot: boolean): string[] | null {
  const here = isRoot ? [...trail, conditionLabel(c)] : trail;
  if (c.id === id) return here;
  if (c.kind === "group")
    for (const [i, k] of c.children.entries()) {
      const t = findTrail(k, id, [...here, `item ${i + 1} ${conditionLabel(k)}`], false);
      if (t) return t;
    }
  if (c.kind === "not" && c.child) return findTrail(c.child, id, [...here, conditionLabel(c.child)], false);
  return null;
}

export function targetLabel(m: BuilderModel, t: Target): string {
  if (t.kind === "indicators") return "Indicators";
  const where = nodePath(m, t.node);
  if (t.kind === "slot") {
    const c = findNode(m, t.node);
    const current = c?.kind === "compare" ? c.operands[t.index] : null;
    return `${where}: ${t.index === 0 ? "left" : "right"} operand (${current === null ? "empty" : operandLabel(current)})`;
  }
  return t.kind === "group" ? `${where}: add to this group` : `${where}: its condition`;
}

export function payloadLabel(m: BuilderModel, p: Payload): string {
  switch (p.kind) {
    case "operand":
      return operandLabel(p.value);
    case "condition":
      return `a new ${newBlockLabel(p.op)}`;
    case "move": {
      const c = findNode(m, p.node);
      return c ? `the ${conditionLabel(c)} block` : "the block";
    }
    case "indicator":
      return `a new ${p.type} indicator`;
  }
}

/** The operands the palette offers for this model: price fields, then each indicator's outputs. */
export function paletteOperands(m: BuilderModel): string[] {
  return operandChoices(m, PRICE_FIELDS, (type) => indicatorSpec(type)?.outputs);
}
