import { describe, expect, test } from "@jest/globals";
import fs from "node:fs";
import path from "node:path";
import { validateStrategy } from "./core";
import {
  accepts,
  applyDrop,
  decodePayload,
  dropTargets,
  encodePayload,
  moveChoice,
  paletteOperands,
  pickUp,
  place,
  targetKey,
  targetLabel,
  type KeyboardDrag,
  type Payload,
  type Target,
} from "./dnd";
import { fromRequestPath, issuesOf, locate, parsePointer, placeIssues } from "./errors";
import {
  emptyModel,
  findNode,
  fromJson,
  toJson,
  type BuilderModel,
  type CompareNode,
  type GroupNode,
} from "./model";
import {
  addIndicator,
  insertCondition,
  moveCondition,
  nameProblem,
  removeCondition,
  renameIndicator,
  setExitEnabled,
  setField,
  setIndicatorType,
  setOperand,
  setRisk,
  wrapCondition,
} from "./ops";
import { isRunning, liveKeys, stateOf } from "./strategies";

const EXAMPLES_DIR = path.resolve(__dirname, "../../../../examples/strategies");
const examples = fs
  .readdirSync(EXAMPLES_DIR)
  .filter((f) => f.endsWith(".json"))
  .map((f) => [f, JSON.parse(fs.readFileSync(path.join(EXAMPLES_DIR, f), "utf8")) as unknown] as const);

function model(doc: unknown): BuilderModel {
  const r = fromJson(doc);
  if (!r.ok) throw new Error(r.reason);
  return r.model;
}

/** Drags as the browser does: the payload travels as text through the DataTransfer. */
function drag(m: BuilderModel, p: Payload, t: Target): BuilderModel {
  return applyDrop(m, decodePayload(encodePayload(p))!, t);
}

/** The same action with the keyboard: pick up, arrow down to the target, Enter. */
function keyboard(m: BuilderModel, p: Payload, t: Target): BuilderModel {
  let d: KeyboardDrag | null = pickUp(m, p);
  if (!d) throw new Error("nothing to pick up");
  for (let i = 0; targetKey(d.targets[d.index]) !== targetKey(t); i++) {
    if (i > d.targets.length) throw new Error(`target ${targetKey(t)} is not offered`);
    d = moveChoice(d, "ArrowDown");
  }
  return place(m, d);
}

const root = (m: BuilderModel, which: "entry" | "exit" = "entry") => m[which] as GroupNode;

describe("blocks ⇄ JSON", () => {
  expect(examples.length).toBeGreaterThan(0);

  test.each(examples)("%s round-trips exactly, key order included", (_f, doc) => {
    const back = toJson(model(doc));
    expect(back).toEqual(doc);
    expect(JSON.stringify(back)).toBe(JSON.stringify(doc));
    expect(validateStrategy(back).ok).toBe(true);
  });

  test.each(examples)("%s: every operand of the palette is valid for it", (_f, doc) => {
    const m = model(doc);
    const ops = paletteOperands(m);
    expect(ops).toEqual(expect.arrayContaining(["close", "volume"]));
    for (const v of ops) {
      const d = structuredClone(doc) as { entry: unknown };
      d.entry = { gt: [v, 1] };
      expect(validateStrategy(d).errors).toEqual([]);
    }
  });

  test("incomplete blocks round-trip too: empty slots are null, an empty NOT is {not: null}", () => {
    const doc = {
      entry: { any: [{ gt: [null, 3] }, { not: null }, { all: [] }] },
      name: "x",
      risk: { stopLossPct: 2, positionSizePct: 50 },
    };
    expect(JSON.stringify(toJson(model(doc)))).toBe(JSON.stringify(doc));
  });

  test.each([
    [[], "JSON object"],
    [{ name: "a", extra: 1 }, '"extra"'],
    [{ entry: { gt: ["close", 1], lt: ["close", 2] } }, "exactly one operator"],
    [{ entry: { between: ["close", 1] } }, '"between"'],
    [{ entry: { gt: ["close"] } }, "two operands"],
    [{ name: 3 }, '"name"'],
    [{ indicators: { a: { type: "EMA", period: [1] } } }, 'Indicator "a"'],
  ])("%j is not shown as blocks (%s)", (doc, reason) => {
    const r = fromJson(doc);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(reason);
  });

  test("a new strategy is the format's smallest document, invalid only where blocks are missing", () => {
    const m = emptyModel();
    expect(toJson(m)).toEqual({
      name: "",
      symbol: "BTCUSDT",
      interval: "1h",
      indicators: {},
      entry: { all: [] },
      risk: { positionSizePct: 100 },
    });
    const v = validateStrategy(toJson(m));
    expect(v.errors.map((e) => [e.path, e.code])).toEqual([
      ["/name", "empty"],
      ["/entry/all", "empty"],
    ]);
  });
});

describe("edits", () => {
  test("build the EMA cross by blocks: the document is the valid one of the format", () => {
    let m = setField(emptyModel(), "name", "EMA cross");
    m = addIndicator(m, "EMA", "fast");
    m = addIndicator(m, "EMA", "slow");
    m = setIndicatorType(m, m.indicators![0].id, "EMA");
    const entry = root(m).id;
    m = drag(m, { kind: "condition", op: "crossesAbove" }, { kind: "group", node: entry });
    const cmp = root(m).children[0].id;
    m = drag(m, { kind: "operand", value: "fast" }, { kind: "slot", node: cmp, index: 0 });
    m = keyboard(m, { kind: "operand", value: "slow" }, { kind: "slot", node: cmp, index: 1 });
    m = setExitEnabled(m, true);
    m = drag(m, { kind: "condition", op: "crossesBelow" }, { kind: "group", node: root(m, "exit").id });
    const x = root(m, "exit").children[0].id;
    m = setOperand(setOperand(m, x, 0, "fast"), x, 1, "slow");
    m = setRisk(m, "stopLossPct", 2);
    const doc = toJson(m);
    expect(doc).toEqual({
      name: "EMA cross",
      symbol: "BTCUSDT",
      interval: "1h",
      indicators: {
        fast: { type: "EMA", period: 20, source: "close" },
        slow: { type: "EMA", period: 20, source: "close" },
      },
      entry: { all: [{ crossesAbove: ["fast", "slow"] }] },
      risk: { positionSizePct: 100, stopLossPct: 2 },
      exit: { any: [{ crossesBelow: ["fast", "slow"] }] },
    });
    expect(validateStrategy(doc).ok).toBe(true);
  });

  test("renaming an indicator renames what reads it; a taken or reserved name is refused", () => {
    const m = model(examples.find(([f]) => f === "bollinger-mean-reversion.json")![1]);
    const bb = m.indicators!.find((i) => i.name === "bb")!;
    const r = renameIndicator(m, bb.id, "band");
    expect(toJson(r).entry).toEqual({
      all: [{ crossesBelow: ["close", "band.lower"] }, { lt: ["rsi", 35] }],
    });
    expect(Object.keys(toJson(r).indicators as object)).toEqual(["band", "rsi"]);
    expect(renameIndicator(m, bb.id, "rsi")).toBe(m);
    expect(nameProblem(m, bb.id, "rsi")).toMatch(/Another indicator/);
    expect(nameProblem(m, bb.id, "close")).toMatch(/price field/);
    expect(nameProblem(m, bb.id, "9x")).toMatch(/Start with a letter/);
    expect(nameProblem(m, bb.id, "bb")).toBeUndefined();
  });

  test("edits never change the model they were given", () => {
    const m = model(examples[0][1]);
    const before = JSON.stringify(m);
    removeCondition(m, root(m).children[0].id);
    wrapCondition(m, root(m).id, "any");
    setRisk(m, "cooldownCandles", undefined);
    expect(JSON.stringify(m)).toBe(before);
  });

  test("removing the entry root leaves an empty AND group; removing the exit root removes the exit", () => {
    const m = model(examples[0][1]);
    expect(toJson(removeCondition(m, m.entry!.id)).entry).toEqual({ all: [] });
    expect(toJson(removeCondition(m, m.exit!.id))).not.toHaveProperty("exit");
  });

  test("wrap a root comparison in a group, then add beside it", () => {
    let m = model({ ...(examples[0][1] as object), entry: { gt: ["close", 1] } });
    m = wrapCondition(m, m.entry!.id, "any");
    m = insertCondition(m, { kind: "group", node: m.entry!.id }, "not");
    expect(toJson(m).entry).toEqual({ any: [{ gt: ["close", 1] }, { not: null }] });
  });
});

describe("drag and keyboard give the same model", () => {
  const base = () => model(examples.find(([f]) => f === "ema-cross-rsi.json")![1]);

  test("targets follow the page order and depend on what is carried", () => {
    const m = base();
    const slots = dropTargets(m, { kind: "operand", value: "close" });
    expect(slots).toHaveLength(6);
    expect(targetLabel(m, slots[0])).toBe(
      "Entry, AND group, item 1 crosses above comparison: left operand (fast)",
    );
    expect(dropTargets(m, { kind: "condition", op: "gt" }).map((t) => t.kind)).toEqual(["group", "group"]);
    // a block never goes into itself
    expect(dropTargets(m, { kind: "move", node: m.entry!.id })).toEqual([
      { kind: "group", node: m.exit!.id },
    ]);
    expect(dropTargets(m, { kind: "indicator", type: "SMA" })).toEqual([{ kind: "indicators" }]);
  });

  const cases: [string, (m: BuilderModel) => [Payload, Target]][] = [
    [
      "a price into a slot",
      (m) => [
        { kind: "operand", value: "close" },
        { kind: "slot", node: root(m, "exit").children[0].id, index: 1 },
      ],
    ],
    [
      "an indicator output into a slot",
      (m) => [
        { kind: "operand", value: "macd.signal" },
        { kind: "slot", node: root(m).children[1].id, index: 0 },
      ],
    ],
    [
      "a constant into a slot",
      (m) => [
        { kind: "operand", value: 55.5 },
        { kind: "slot", node: root(m).children[1].id, index: 1 },
      ],
    ],
    [
      "a new comparison into the exit group",
      (m) => [
        { kind: "condition", op: "lte" },
        { kind: "group", node: root(m, "exit").id },
      ],
    ],
    [
      "a new OR group into the entry",
      (m) => [
        { kind: "condition", op: "any" },
        { kind: "group", node: root(m).id },
      ],
    ],
    [
      "a block moved from entry to exit",
      (m) => [
        { kind: "move", node: root(m).children[1].id },
        { kind: "group", node: root(m, "exit").id },
      ],
    ],
    ["a new indicator", () => [{ kind: "indicator", type: "STOCH" }, { kind: "indicators" }]],
  ];

  test.each(cases)("%s", (_name, make) => {
    const m = base();
    const [p, t] = make(m);
    const dragged = drag(m, p, t);
    expect(dragged).not.toEqual(m);
    expect(keyboard(m, p, t)).toEqual(dragged);
  });

  test("the keyboard wraps around, Home and End jump, Escape is the caller's: other keys change nothing", () => {
    const m = base();
    let d = pickUp(m, { kind: "operand", value: "open" })!;
    expect(d.index).toBe(0);
    d = moveChoice(d, "ArrowUp");
    expect(d.index).toBe(5);
    d = moveChoice(d, "ArrowDown");
    expect(d.index).toBe(0);
    expect(moveChoice(d, "End").index).toBe(5);
    expect(moveChoice(moveChoice(d, "End"), "Home").index).toBe(0);
    expect(moveChoice(d, "x").index).toBe(0);
  });

  test("nothing to pick up without a place to put it; a drop where the payload does not fit changes nothing", () => {
    const m = emptyModel();
    expect(pickUp(m, { kind: "operand", value: "close" })).toBeNull();
    const t: Target = { kind: "slot", node: "nope", index: 0 };
    expect(accepts(m, { kind: "operand", value: "close" }, t)).toBe(false);
    expect(applyDrop(m, { kind: "operand", value: "close" }, t)).toBe(m);
    expect(decodePayload("{bad")).toBeNull();
    expect(decodePayload(JSON.stringify({ kind: "operand", value: {} }))).toBeNull();
  });

  test("moving a block keeps its contents", () => {
    const m = base();
    const moved = moveCondition(m, root(m).children[1].id, { kind: "group", node: root(m, "exit").id });
    expect(toJson(moved).entry).toEqual({ all: [{ crossesAbove: ["fast", "slow"] }] });
    expect(toJson(moved).exit).toEqual({ any: [{ crossesBelow: ["fast", "slow"] }, { lt: ["rsi", 70] }] });
  });
});

describe("validator errors on blocks", () => {
  test("pointers are decoded as RFC 6901 says", () => {
    expect(parsePointer("")).toEqual([]);
    expect(parsePointer("/indicators/a~1b/~0x")).toEqual(["indicators", "a/b", "~x"]);
    expect(fromRequestPath("/definition/risk/stopLossPct")).toBe("/risk/stopLossPct");
    expect(fromRequestPath("/definition")).toBe("");
  });

  test("every issue of a broken document lands on its block and field", () => {
    const doc = {
      name: "",
      symbol: "BTCUSDT",
      interval: "1M",
      indicators: {
        fast: { type: "EMA", period: 0, source: "close" },
        m: { type: "MACD", fastPeriod: 26, slowPeriod: 12, signalPeriod: 9 },
      },
      entry: {
        all: [
          { crossesAbove: ["fast", "nope"] },
          { not: { gt: ["m", 1] } },
          { any: [] },
          { lt: [null, 3] },
          { gt: [1, 2] },
        ],
      },
      exit: { not: null },
      risk: { positionSizePct: 0, stopLossPct: 120, bogus: 1 },
      warmupCandles: -1,
    };
    const m = model(doc);
    const v = validateStrategy(toJson(m));
    expect(v.ok).toBe(false);
    const placed = placeIssues(m, v.errors);
    const [fast, macd] = m.indicators!;
    const e = root(m).children;
    const spot = (block: string, field?: string) => issuesOf(placed, block, field).map((i) => i.code);
    expect(spot("settings", "name")).toEqual(["empty"]);
    expect(spot("settings", "interval")).toEqual(["unknown_interval"]);
    expect(spot("settings", "warmupCandles")).toEqual(["out_of_range"]);
    expect(spot(`indicator:${fast.id}`, "period")).toEqual(["out_of_range"]);
    expect(spot(`indicator:${macd.id}`, "fastPeriod")).toEqual(["contradictory"]);
    // the NOT's inner comparison, right operand untouched, left operand names a multi-output
    const inner = (e[1] as { child: CompareNode }).child;
    expect(spot(`cond:${e[0].id}`, "1")).toEqual(["undefined_indicator"]);
    expect(spot(`cond:${e[0].id}`, "0")).toEqual([]);
    expect(spot(`cond:${inner.id}`, "0")).toEqual(["output_required"]);
    expect(spot(`cond:${e[2].id}`)).toEqual(["empty"]);
    expect(spot(`cond:${e[3].id}`, "0")).toEqual(["invalid_operand"]);
    expect(spot(`cond:${e[4].id}`)).toEqual(["constant_condition"]);
    expect(spot(`cond:${m.exit!.id}`)).toEqual(["invalid_condition"]);
    expect(spot("risk", "positionSizePct")).toEqual(["out_of_range"]);
    expect(spot("risk", "stopLossPct")).toEqual(["contradictory"]);
    expect(spot("risk", "bogus")).toEqual(["unknown_field"]);
    // nothing is left without a place
    expect(placed.filter((p) => p.block === "strategy")).toEqual([]);
    expect(placed).toHaveLength(v.errors.length);
  });

  test("paths the model does not reach fall back to the nearest block", () => {
    const m = model(examples[0][1]);
    expect(locate(m, "/indicators/ghost/period")).toEqual({ block: "indicators" });
    expect(locate(m, "/entry/all/9")).toEqual({ block: `cond:${m.entry!.id}` });
    expect(locate(m, "/whatever")).toEqual({ block: "strategy" });
    expect(locate({ ...m, exit: undefined }, "/exit")).toEqual({ block: "exit" });
    expect(findNode(m, "nope")).toBeUndefined();
  });
});

describe("the list's view of a strategy", () => {
  test("state, running and the keys that may trade live", () => {
    expect(stateOf({ status: "active", paused: true })).toBe("paused");
    expect(stateOf({ status: "active", paused: false })).toBe("active");
    expect(stateOf({ status: "error", paused: false })).toBe("error");
    expect(isRunning({ status: "stopping" })).toBe(true);
    expect(isRunning({ status: "stopped" })).toBe(false);
    expect(
      liveKeys([
        { id: 1, label: "Simulator", exchange: "sim", status: "valid" },
        { id: 2, label: "Paper account", exchange: "sim", status: "valid" },
        { id: 3, label: "Main", exchange: "binance", status: "invalid" },
      ]).map((k) => k.id),
    ).toEqual([1]);
  });
});
