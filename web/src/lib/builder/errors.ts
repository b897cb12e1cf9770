// Puts each validator issue on the block it concerns. The validator (the server's own) locates
// every problem with a JSON Pointer into the document; the builder follows that pointer through
// its model to the field, indicator, condition block or operand slot it names.
import type { ValidationIssue } from "./core";
import type { BuilderModel, CondNode } from "./model";

/**
 * Where an issue belongs: `block` is "strategy" (the document itself), "settings", "indicators",
 * "indicator:<id>", "entry", "exit", "cond:<id>" or "risk"; `field` narrows it down (a top-level
 * field, an indicator parameter, a risk field, or operand "0"/"1" of a comparison).
 */
export interface IssueSpot {
  block: string;
  field?: string;
}

export interface PlacedIssue extends ValidationIssue {
  block: string;
  field?: string;
}

/** RFC 6901: "/a~1b/0" → ["a/b", "0"]; the empty pointer is the document. */
export function parsePointer(p: string): string[] {
  if (p === "") return [];
  return p
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

export function locate(m: BuilderModel, path: string): IssueSpot {
  const [head, ...rest] = parsePointer(path);
  switch (head) {
    case undefined:
      return { block: "strategy" };
    case "name":
    case "symbol":
    case "interval":
    case "warmupCandles":
      return { block: "settings", field: head };
    case "indicators": {
      if (rest.length === 0) return { block: "indicators" };
      const ind = m.indicators?.find((i) => i.name === rest[0]);
      if (!ind) return { block: "indicators" };
      return rest.length > 1
        ? { block: `indicator:${ind.id}`, field: rest[1] }
        : { block: `indicator:${ind.id}` };
    }
    case "entry":
    case "exit": {
      const root = m[head];
      return root ? conditionSpot(root, rest) : { block: head };
    }
    case "risk":
      return rest.length ? { block: "risk", field: rest[0] } : { block: "risk" };
    default:
      return { block: "strategy" };
  }
}

/** Follows the pointer's segments down the condition tree as far as the model goes. */
function conditionSpot(node: CondNode, segs: string[]): IssueSpot {
  let c = node;
  let i = 0;
  while (i < segs.length) {
    const seg = segs[i];
    if (c.kind === "compare") {
      if (seg !== c.op) break;
      const k = segs[i + 1];
      return k === "0" || k === "1" ? { block: `cond:${c.id}`, field: k } : { block: `cond:${c.id}` };
    }
    if (c.kind === "group") {
      if (seg !== c.op) break;
      const child = c.children[Number(segs[i + 1])];
      if (segs[i + 1] === undefined || !child) break;
      c = child;
      i += 2;
      continue;
    }
    if (seg !== "not" || !c.child) break;
    c = c.child;
    i += 1;
  }
  return { block: `cond:${c.id}` };
}

/** Every issue with its place. */
export function placeIssues(m: BuilderModel, issues: readonly ValidationIssue[]): PlacedIssue[] {
  return issues.map((i) => ({ ...i, ...locate(m, i.path) }));
}

/** The issues of one block, optionally of one of its fields only. */
export function issuesOf(placed: readonly PlacedIssue[], block: string, field?: string): PlacedIssue[] {
  return placed.filter((p) => p.block === block && (field === undefined || p.field === field));
}

/** The server answers with pointers into the request body (`/definition/...`): back to the document. */
export function fromRequestPath(path: string): string {
  return path === "/definition"
    ? ""
    : path.startsWith("/definition/")
      ? path.slice("/definition".length)
      : path;
}
