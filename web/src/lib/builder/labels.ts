// The words the builder shows and reads out for operators, operands and blocks.
import type { CondNode, CompareOp, GroupOp, OperandValue } from "./model";

type AnyOp = CompareOp | GroupOp | "not";

/** Symbol on the block, and the words a screen reader says. */
export const OPS: Record<AnyOp, { symbol: string; words: string }> = {
  crossesAbove: { symbol: "crosses above", words: "crosses above" },
  crossesBelow: { symbol: "crosses below", words: "crosses below" },
  gt: { symbol: ">", words: "greater than" },
  gte: { symbol: "≥", words: "greater than or equal to" },
  lt: { symbol: "<", words: "less than" },
  lte: { symbol: "≤", words: "less than or equal to" },
  all: { symbol: "AND", words: "AND: all of" },
  any: { symbol: "OR", words: "OR: any of" },
  not: { symbol: "NOT", words: "NOT" },
};

export function opWords(op: AnyOp): string {
  return OPS[op].words;
}

export function conditionLabel(c: CondNode): string {
  if (c.kind === "group") return `${OPS[c.op].symbol} group`;
  if (c.kind === "not") return "NOT block";
  return `${OPS[c.op].words} comparison`;
}

export function newBlockLabel(op: AnyOp): string {
  return op === "all" || op === "any"
    ? `${OPS[op].symbol} group`
    : op === "not"
      ? "NOT block"
      : `${OPS[op].words} comparison`;
}

export function operandLabel(v: OperandValue): string {
  if (v === null) return "empty";
  if (typeof v === "number") return `the number ${v}`;
  return v;
}

export function rootLabel(root: "entry" | "exit"): string {
  return root === "entry" ? "Entry" : "Exit";
}
