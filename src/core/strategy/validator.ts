// Structural and semantic validation of a strategy definition. Every problem is reported, each
// with a JSON Pointer to the offending value, a stable code and a message a trader can act on.
import { FIXED_INTERVALS, SYMBOLS, symbolSpec } from "../market/symbols";
import { isPriceField, PRICE_FIELDS } from "../model/candle";
import type { ValidationIssue } from "../model/errors";
import { indicatorSpec, INDICATOR_TYPES, type IndicatorSpec } from "../indicators/registry";
import {
  BINARY_OPERATORS,
  CONDITION_OPERATORS,
  INDICATOR_NAME_PATTERN,
  LIMITS,
  RESERVED_NAMES,
  type StrategyDefinition,
} from "./definition";

export type ValidationResult =
  | { readonly ok: true; readonly definition: StrategyDefinition; readonly errors: readonly [] }
  | { readonly ok: false; readonly errors: readonly ValidationIssue[] };

/** Issue codes, stable for API clients. */
export const ISSUE = Object.freeze({
  required: "required",
  unknownField: "unknown_field",
  type: "invalid_type",
  notInteger: "not_integer",
  outOfRange: "out_of_range",
  contradictory: "contradictory",
  unknownSymbol: "unknown_symbol",
  unknownInterval: "unknown_interval",
  invalidName: "invalid_name",
  reservedName: "reserved_name",
  tooMany: "too_many",
  unknownIndicatorType: "unknown_indicator_type",
  invalidSource: "invalid_source",
  invalidCondition: "invalid_condition",
  unknownOperator: "unknown_operator",
  invalidOperand: "invalid_operand",
  undefinedIndicator: "undefined_indicator",
  unknownOutput: "unknown_output",
  outputRequired: "output_required",
  constantCondition: "constant_condition",
  empty: "empty",
  tooDeep: "too_deep",
  tooLarge: "too_large",
});

const TOP_FIELDS = ["name", "symbol", "interval", "indicators", "entry", "exit", "risk", "warmupCandles"];
const TOP_REQUIRED = ["name", "symbol", "interval", "indicators", "entry", "risk"];
const RISK_FIELDS = [
  "takeProfitPct",
  "stopLossPct",
  "positionSizePct",
  "maxOpenPositions",
  "cooldownCandles",
];

/** RFC 6901 escaping of one path segment. */
export function pointer(...segments: (string | number)[]): string {
  return segments.map((s) => "/" + String(s).replace(/~/g, "~0").replace(/\//g, "~1")).join("");
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

const has = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

class Checker {
  readonly errors: ValidationIssue[] = [];
  /** name → spec of every indicator that passed its own checks (or at least has a known type). */
  readonly indicators = new Map<string, IndicatorSpec>();
  /** Declared names whose definition is already reported as broken: references to them are not re-reported. */
  private readonly broken = new Set<string>();
  private nodes = 0;

  add(path: string, code: string, message: string): void {
    this.errors.push({ path, code, message });
  }

  fields(
    obj: Record<string, unknown>,
    base: string[],
    allowed: readonly string[],
    required: readonly string[],
    what: string,
  ) {
    for (const k of required) {
      if (!has(obj, k) || obj[k] === undefined)
        this.add(pointer(...base, k), ISSUE.required, `${what} needs "${k}"`);
    }
    for (const k of Object.keys(obj)) {
      if (!allowed.includes(k)) {
        this.add(
          pointer(...base, k),
          ISSUE.unknownField,
          `unknown field "${k}" in ${what}; allowed: ${allowed.join(", ")}`,
        );
      }
    }
  }

  /** A number in range; `kind` integer also rejects fractions. Returns true when valid. */
  number(
    v: unknown,
    path: string,
    label: string,
    o: { integer?: boolean; min?: number; exclusiveMin?: boolean; max?: number; exclusiveMax?: boolean },
  ): boolean {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      this.add(path, ISSUE.type, `${label} must be a number, got ${typeName(v)}`);
      return false;
    }
    if (o.integer && !Number.isInteger(v)) {
      this.add(path, ISSUE.notInteger, `${label} must be a whole number, got ${v}`);
      return false;
    }
    const tooLow = o.min !== undefined && (o.exclusiveMin ? v <= o.min : v < o.min);
    const tooHigh = o.max !== undefined && (o.exclusiveMax ? v >= o.max : v > o.max);
    if (tooLow || tooHigh) {
      const lo = o.min === undefined ? "" : o.exclusiveMin ? `> ${o.min}` : `>= ${o.min}`;
      const hi = o.max === undefined ? "" : o.exclusiveMax ? `< ${o.max}` : `<= ${o.max}`;
      this.add(
        path,
        ISSUE.outOfRange,
        `${label} must be ${[lo, hi].filter(Boolean).join(" and ")}, got ${v}`,
      );
      return false;
    }
    return true;
  }

  top(def: unknown): void {
    if (!isObject(def)) {
      this.add("", ISSUE.type, `a strategy definition is a JSON object, got ${typeName(def)}`);
      return;
    }
    this.fields(def, [], TOP_FIELDS, TOP_REQUIRED, "the strategy");

    if (has(def, "name")) {
      const n = def.name;
      if (typeof n !== "string") this.add("/name", ISSUE.type, `name must be a string, got ${typeName(n)}`);
      else if (n.trim().length === 0) this.add("/name", ISSUE.empty, "name must not be empty");
      else if (n.length > LIMITS.nameLength)
        this.add("/name", ISSUE.outOfRange, `name is longer than ${LIMITS.nameLength} characters`);
    }
    if (has(def, "symbol")) {
      const s = def.symbol;
      if (typeof s !== "string")
        this.add("/symbol", ISSUE.type, `symbol must be a string, got ${typeName(s)}`);
      else if (!symbolSpec(s)) {
        this.add(
          "/symbol",
          ISSUE.unknownSymbol,
          `unknown symbol "${s}"; supported: ${Object.keys(SYMBOLS).join(", ")}`,
        );
      }
    }
    if (has(def, "interval")) {
      const iv = def.interval;
      if (typeof iv !== "string")
        this.add("/interval", ISSUE.type, `interval must be a string, got ${typeName(iv)}`);
      else if (!FIXED_INTERVALS.includes(iv)) {
        this.add(
          "/interval",
          ISSUE.unknownInterval,
          `unknown or unsupported interval "${iv}"; use one of ${FIXED_INTERVALS.join(", ")}`,
        );
      }
    }
    if (has(def, "warmupCandles")) {
      this.number(def.warmupCandles, "/warmupCandles", "warmupCandles", {
        integer: true,
        min: 0,
        max: LIMITS.warmupCandles,
      });
    }
    if (has(def, "indicators")) this.indicatorsBlock(def.indicators);
    if (has(def, "entry")) this.condition(def.entry, ["entry"], 1);
    if (has(def, "exit")) this.condition(def.exit, ["exit"], 1);
    if (has(def, "risk")) this.risk(def.risk);
  }

  indicatorsBlock(v: unknown): void {
    if (!isObject(v)) {
      this.add(
        "/indicators",
        ISSUE.type,
        `indicators must be an object of name → indicator, got ${typeName(v)}`,
      );
      return;
    }
    const names = Object.keys(v);
    if (names.length > LIMITS.indicators) {
      this.add("/indicators", ISSUE.tooMany, `at most ${LIMITS.indicators} indicators, got ${names.length}`);
    }
    for (const name of names) {
      const base = ["indicators", name];
      const path = pointer(...base);
      let nameOk = true;
      if (RESERVED_NAMES.includes(name)) {
        this.add(path, ISSUE.reservedName, `"${name}" is a price field and cannot name an indicator`);
        nameOk = false;
      } else if (name in Object.prototype) {
        // names become keys of plain objects (indicator snapshots, the decision log): never a
        // prototype's property such as __proto__ or constructor
        this.add(path, ISSUE.reservedName, `"${name}" is reserved and cannot name an indicator`);
        nameOk = false;
      } else if (!INDICATOR_NAME_PATTERN.test(name)) {
        this.add(
          path,
          ISSUE.invalidName,
          `indicator name "${name}" must start with a letter or _ and use only letters, digits and _`,
        );
        nameOk = false;
      }
      const ind = v[name];
      if (!nameOk) continue;
      this.broken.add(name);
      if (!isObject(ind)) {
        this.add(
          path,
          ISSUE.type,
          `indicator "${name}" must be an object like {"type": "EMA", "period": 12}, got ${typeName(ind)}`,
        );
        continue;
      }
      if (!has(ind, "type")) {
        this.add(
          pointer(...base, "type"),
          ISSUE.required,
          `indicator "${name}" needs a "type" (${INDICATOR_TYPES.join(", ")})`,
        );
        continue;
      }
      const type = ind.type;
      const spec = typeof type === "string" ? indicatorSpec(type) : undefined;
      if (!spec) {
        this.add(
          pointer(...base, "type"),
          ISSUE.unknownIndicatorType,
          `unknown indicator type ${JSON.stringify(type)}; supported: ${INDICATOR_TYPES.join(", ")}`,
        );
        continue;
      }
      this.broken.delete(name);
      this.indicators.set(name, spec);
      const paramNames = spec.params.map((p) => p.name);
      const allowed = ["type", ...(spec.input === "series" ? ["source"] : []), ...paramNames];
      for (const k of Object.keys(ind)) {
        if (allowed.includes(k)) continue;
        const msg =
          k === "source"
            ? `${spec.type} reads high, low and close; it takes no "source"`
            : `unknown field "${k}" for ${spec.type}; allowed: ${allowed.join(", ")}`;
        this.add(pointer(...base, k), ISSUE.unknownField, msg);
      }
      if (has(ind, "source") && spec.input === "series") {
        const s = ind.source;
        if (typeof s !== "string" || !isPriceField(s)) {
          this.add(
            pointer(...base, "source"),
            ISSUE.invalidSource,
            `source must be one of ${PRICE_FIELDS.join(", ")}, got ${JSON.stringify(s)}`,
          );
        }
      }
      let paramsOk = true;
      for (const p of spec.params) {
        const ppath = pointer(...base, p.name);
        if (!has(ind, p.name)) {
          this.add(ppath, ISSUE.required, `${spec.type} needs "${p.name}" (${p.description})`);
          paramsOk = false;
          continue;
        }
        const ok = this.number(ind[p.name], ppath, `${spec.type} ${p.name}`, {
          integer: p.kind === "integer",
          min: p.min,
          exclusiveMin: p.exclusiveMin,
          max: p.max,
        });
        paramsOk = paramsOk && ok;
      }
      if (paramsOk && spec.check) {
        const bad = spec.check(ind as Record<string, number>);
        if (bad) this.add(pointer(...base, bad[0]), ISSUE.contradictory, bad[1]);
      }
    }
  }

  condition(c: unknown, base: (string | number)[], depth: number): void {
    const path = pointer(...base);
    if (++this.nodes > LIMITS.conditionNodes) {
      if (this.nodes === LIMITS.conditionNodes + 1) {
        this.add(path, ISSUE.tooLarge, `conditions may have at most ${LIMITS.conditionNodes} nodes in total`);
      }
      return;
    }
    if (depth > LIMITS.conditionDepth) {
      this.add(path, ISSUE.tooDeep, `conditions may nest at most ${LIMITS.conditionDepth} levels`);
      return;
    }
    if (!isObject(c)) {
      this.add(
        path,
        ISSUE.invalidCondition,
        `a condition is an object like {"gt": ["close", 100]}, got ${typeName(c)}`,
      );
      return;
    }
    const keys = Object.keys(c);
    if (keys.length !== 1) {
      this.add(
        path,
        ISSUE.invalidCondition,
        keys.length === 0
          ? `empty condition; use one of ${CONDITION_OPERATORS.join(", ")}`
          : `a condition has exactly one operator, got ${keys.join(", ")} (combine them with "all" or "any")`,
      );
      return;
    }
    const op = keys[0];
    const arg = c[op];
    const here = [...base, op];
    if ((BINARY_OPERATORS as readonly string[]).includes(op)) {
      if (!Array.isArray(arg) || arg.length !== 2) {
        this.add(
          pointer(...here),
          ISSUE.invalidCondition,
          `${op} takes exactly two operands [a, b], got ${Array.isArray(arg) ? `${arg.length}` : typeName(arg)}`,
        );
        return;
      }
      const okA = this.operand(arg[0], [...here, 0]);
      const okB = this.operand(arg[1], [...here, 1]);
      if (okA && okB && typeof arg[0] === "number" && typeof arg[1] === "number") {
        this.add(
          pointer(...here),
          ISSUE.constantCondition,
          `${op} compares two numbers, so its result never changes; use a price field or an indicator`,
        );
      }
      return;
    }
    if (op === "all" || op === "any") {
      if (!Array.isArray(arg)) {
        this.add(
          pointer(...here),
          ISSUE.invalidCondition,
          `${op} takes a list of conditions, got ${typeName(arg)}`,
        );
        return;
      }
      if (arg.length === 0) {
        this.add(pointer(...here), ISSUE.empty, `${op} needs at least one condition`);
        return;
      }
      arg.forEach((child, i) => this.condition(child, [...here, i], depth + 1));
      return;
    }
    if (op === "not") {
      this.condition(arg, here, depth + 1);
      return;
    }
    this.add(
      pointer(...here),
      ISSUE.unknownOperator,
      `unknown operator "${op}"; use one of ${CONDITION_OPERATORS.join(", ")}`,
    );
  }

  operand(v: unknown, base: (string | number)[]): boolean {
    const path = pointer(...base);
    if (typeof v === "number") {
      if (Number.isFinite(v)) return true;
      this.add(path, ISSUE.invalidOperand, "numbers must be finite");
      return false;
    }
    if (typeof v !== "string") {
      this.add(
        path,
        ISSUE.invalidOperand,
        `an operand is a number, a price field, an indicator name or "name.output", got ${typeName(v)}`,
      );
      return false;
    }
    if (isPriceField(v)) return true;
    const dot = v.indexOf(".");
    const name = dot === -1 ? v : v.slice(0, dot);
    const out = dot === -1 ? undefined : v.slice(dot + 1);
    if (isPriceField(name)) {
      this.add(path, ISSUE.invalidOperand, `"${name}" is a price field and has no outputs; write "${name}"`);
      return false;
    }
    if (this.broken.has(name)) return true;
    const spec = this.indicators.get(name);
    if (!spec) {
      const known = [...this.indicators.keys()];
      this.add(
        path,
        ISSUE.undefinedIndicator,
        `"${name}" is not a price field (${PRICE_FIELDS.join(", ")}) or a defined indicator` +
          (known.length ? ` (defined: ${known.join(", ")})` : ""),
      );
      return false;
    }
    if (spec.outputs === null) {
      if (out !== undefined) {
        this.add(path, ISSUE.unknownOutput, `${name} (${spec.type}) has a single output; write "${name}"`);
        return false;
      }
      return true;
    }
    if (out === undefined) {
      this.add(
        path,
        ISSUE.outputRequired,
        `${name} (${spec.type}) has several outputs; write one of ${spec.outputs.map((o) => `"${name}.${o}"`).join(", ")}`,
      );
      return false;
    }
    if (!spec.outputs.includes(out)) {
      this.add(
        path,
        ISSUE.unknownOutput,
        `${name} (${spec.type}) has no output "${out}"; outputs: ${spec.outputs.join(", ")}`,
      );
      return false;
    }
    return true;
  }

  risk(r: unknown): void {
    if (!isObject(r)) {
      this.add("/risk", ISSUE.type, `risk must be an object, got ${typeName(r)}`);
      return;
    }
    this.fields(r, ["risk"], RISK_FIELDS, ["positionSizePct"], "risk");
    if (has(r, "positionSizePct")) {
      this.number(r.positionSizePct, "/risk/positionSizePct", "positionSizePct (share of equity per entry)", {
        min: 0,
        exclusiveMin: true,
        max: 100,
      });
    }
    if (has(r, "takeProfitPct")) {
      this.number(r.takeProfitPct, "/risk/takeProfitPct", "takeProfitPct", {
        min: 0,
        exclusiveMin: true,
        max: LIMITS.takeProfitPct,
      });
    }
    if (has(r, "stopLossPct")) {
      const v = r.stopLossPct;
      if (typeof v === "number" && v >= 100) {
        this.add(
          "/risk/stopLossPct",
          ISSUE.contradictory,
          `stopLossPct ${v} puts the stop at or below a price of 0; it must be < 100`,
        );
      } else {
        this.number(v, "/risk/stopLossPct", "stopLossPct", {
          min: 0,
          exclusiveMin: true,
          max: 100,
          exclusiveMax: true,
        });
      }
    }
    if (has(r, "maxOpenPositions")) {
      this.number(r.maxOpenPositions, "/risk/maxOpenPositions", "maxOpenPositions", {
        integer: true,
        min: 1,
        max: LIMITS.maxOpenPositions,
      });
    }
    if (has(r, "cooldownCandles")) {
      this.number(r.cooldownCandles, "/risk/cooldownCandles", "cooldownCandles", {
        integer: true,
        min: 0,
        max: LIMITS.cooldownCandles,
      });
    }
  }
}

/** Checks a parsed JSON document; on success returns it typed as a StrategyDefinition. */
export function validateStrategy(input: unknown): ValidationResult {
  const c = new Checker();
  c.top(input);
  if (c.errors.length > 0) return { ok: false, errors: c.errors };
  return { ok: true, definition: input as StrategyDefinition, errors: [] };
}
