// Parameter sweeps: a grid of values for a few numeric fields of a strategy definition, expanded
// into one definition per combination and ranked by a metric once the runs are done.
// Every size the caller controls is counted before anything is allocated: the number of keys,
// the values per key and the product of their lengths. Grid keys are dotted paths, and only paths
// that exist in the strategy format are accepted, so a key can never reach an object's prototype.
import { indicatorSpec } from "../indicators/registry";
import type { ValidationIssue } from "../model/errors";
import type { StrategyDefinition } from "../strategy/definition";
import type { BacktestMetrics } from "./metrics";

export const SWEEP_LIMITS = Object.freeze({
  /** grid keys (swept fields) per sweep */
  maxKeys: 5,
  /** values per key */
  maxValuesPerKey: 50,
  /** combinations (runs) per sweep */
  maxRuns: 100,
});

/** Risk fields a sweep may vary. */
const RISK_FIELDS = [
  "takeProfitPct",
  "stopLossPct",
  "positionSizePct",
  "maxOpenPositions",
  "cooldownCandles",
];
const SOURCES = ["open", "high", "low", "close", "volume"];

export type GridValue = number | string;
export type Grid = Readonly<Record<string, readonly GridValue[]>>;
export type GridPoint = Readonly<Record<string, GridValue>>;

export const RANKABLE_METRICS = [
  "netProfit",
  "totalReturnPct",
  "cagrPct",
  "sharpe",
  "sortino",
  "profitFactor",
  "expectancy",
  "winRatePct",
  "maxDrawdownPct",
] as const satisfies readonly (keyof BacktestMetrics)[];
export type RankableMetric = (typeof RANKABLE_METRICS)[number];

const own = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/**
 * Whether `path` names a field a sweep may vary in `base`: `indicators.<name>.<param>` for an
 * indicator the definition declares and a parameter (or `source`) its type takes,
 * `risk.<field>`, or `warmupCandles`. Returns the kind of value the field holds.
 */
export function sweepablePath(base: StrategyDefinition, path: string): "number" | "source" | undefined {
  const seg = path.split(".");
  if (seg.length === 1) return seg[0] === "warmupCandles" ? "number" : undefined;
  if (seg.length === 2) return seg[0] === "risk" && RISK_FIELDS.includes(seg[1]) ? "number" : undefined;
  if (seg.length !== 3 || seg[0] !== "indicators") return undefined;
  const [, name, param] = seg;
  if (!own(base.indicators, name)) return undefined;
  const spec = indicatorSpec(String(base.indicators[name].type));
  if (!spec) return undefined;
  if (param === "source") return spec.input === "series" ? "source" : undefined;
  return spec.params.some((p) => p.name === param) ? "number" : undefined;
}

/**
 * Checks the grid's shape and size without expanding it. `combinations` is exact (the product of
 * at most `maxKeys` lengths of at most `maxValuesPerKey` each cannot overflow).
 */
export function checkGrid(
  base: StrategyDefinition,
  grid: unknown,
): { ok: true; grid: Grid; combinations: number } | { ok: false; issues: ValidationIssue[] } {
  const issues: ValidationIssue[] = [];
  if (grid === null || typeof grid !== "object" || Array.isArray(grid)) {
    return {
      ok: false,
      issues: [{ path: "/grid", code: "type", message: "grid must be an object of field path → values" }],
    };
  }
  const keys = Object.keys(grid);
  if (keys.length === 0) {
    return {
      ok: false,
      issues: [{ path: "/grid", code: "required", message: "grid needs at least one field" }],
    };
  }
  if (keys.length > SWEEP_LIMITS.maxKeys) {
    return {
      ok: false,
      issues: [
        {
          path: "/grid",
          code: "too_large",
          message: `grid has ${keys.length} fields; at most ${SWEEP_LIMITS.maxKeys} may be swept at once`,
        },
      ],
    };
  }
  let combinations = 1;
  for (const key of keys) {
    const ptr = `/grid/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`;
    const kind = sweepablePath(base, key);
    if (!kind) {
      issues.push({
        path: ptr,
        code: "unknown_field",
        message: `"${key.slice(0, 80)}" is not a field this strategy can sweep: use indicators.<name>.<parameter>, risk.<field> or warmupCandles`,
      });
      continue;
    }
    const values = (grid as Record<string, unknown>)[key];
    if (!Array.isArray(values) || values.length === 0) {
      issues.push({ path: ptr, code: "type", message: "each grid field needs a non-empty array of values" });
      continue;
    }
    if (values.length > SWEEP_LIMITS.maxValuesPerKey) {
      issues.push({
        path: ptr,
        code: "too_large",
        message: `${values.length} values; at most ${SWEEP_LIMITS.maxValuesPerKey} per field`,
      });
      continue;
    }
    const bad = values.findIndex((v) =>
      kind === "source"
        ? typeof v !== "string" || !SOURCES.includes(v)
        : typeof v !== "number" || !Number.isFinite(v),
    );
    if (bad >= 0) {
      issues.push({
        path: `${ptr}/${bad}`,
        code: "type",
        message:
          kind === "source" ? `a source is one of ${SOURCES.join(", ")}` : "values must be finite numbers",
      });
      continue;
    }
    combinations *= values.length;
  }
  if (issues.length) return { ok: false, issues };
  if (combinations > SWEEP_LIMITS.maxRuns) {
    return {
      ok: false,
      issues: [
        {
          path: "/grid",
          code: "too_large",
          message: `the grid has ${combinations} combinations; at most ${SWEEP_LIMITS.maxRuns} are allowed`,
        },
      ],
    };
  }
  return { ok: true, grid: grid as Grid, combinations };
}

/** Every combination of a grid that `checkGrid` accepted, in a stable order. */
export function expandGrid(grid: Grid): GridPoint[] {
  let out: Record<string, GridValue>[] = [{}];
  for (const key of Object.keys(grid)) {
    const next: Record<string, GridValue>[] = [];
    for (const point of out) {
      for (const v of grid[key]) {
        const p: Record<string, GridValue> = Object.create(null);
        Object.assign(p, point);
        Object.defineProperty(p, key, { value: v, enumerable: true, writable: true, configurable: true });
        next.push(p);
      }
    }
    out = next;
  }
  // plain objects again so they serialise and compare as usual
  return out.map((p) => ({ ...p }));
}

/**
 * A copy of `base` with the grid point's values written in. Paths were checked by
 * `sweepablePath`, and each step is an own property of a plain copied object.
 */
export function applyGridPoint(base: StrategyDefinition, point: GridPoint): StrategyDefinition {
  const copy = JSON.parse(JSON.stringify(base)) as Record<string, unknown>;
  for (const path of Object.keys(point)) {
    if (!sweepablePath(base, path)) throw new Error(`not a sweepable path: ${path}`);
    const seg = path.split(".");
    let cur = copy;
    for (const s of seg.slice(0, -1)) {
      const next = own(cur, s) ? cur[s] : undefined;
      if (next === null || typeof next !== "object" || Array.isArray(next)) {
        throw new Error(`not a sweepable path: ${path}`);
      }
      cur = next as Record<string, unknown>;
    }
    Object.defineProperty(cur, seg[seg.length - 1], {
      value: point[path],
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy as unknown as StrategyDefinition;
}

export interface SweepRun<T = unknown> {
  readonly params: GridPoint;
  readonly metrics: BacktestMetrics;
  readonly ref?: T;
}

/**
 * Runs sorted by a metric, best first. "Best" is the larger value unless `descending` says
 * otherwise (default: larger is better except for the drawdown). Non-finite values sort last.
 */
export function rankRuns<T>(
  runs: readonly SweepRun<T>[],
  rankBy: RankableMetric,
  descending = rankBy !== "maxDrawdownPct",
): (SweepRun<T> & { rank: number })[] {
  const key = (r: SweepRun<T>): number => {
    const x = Number(r.metrics[rankBy]);
    return Number.isFinite(x) ? x : NaN;
  };
  return [...runs]
    .sort((a, b) => {
      const x = key(a);
      const y = key(b);
      if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) ? (Number.isNaN(y) ? 0 : 1) : -1;
      return descending ? y - x : x - y;
    })
    .map((r, i) => ({ ...r, rank: i + 1 }));
}
