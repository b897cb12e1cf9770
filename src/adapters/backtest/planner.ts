// Turns a backtest or sweep request into runs the queue can take: the definition (sent, or one of
// the caller's stored strategies) validated by the core, the range bounded in candles before any
// query, the candle window summarised in the database, and the cache key that identifies the
// result (definition, fill model, exact data, engine version).
import crypto from "node:crypto";
import { QueryTypes, type Sequelize } from "sequelize";
import {
  applyGridPoint,
  BACKTEST_DEFAULTS,
  canonicalJson,
  checkGrid,
  checkRangeSize,
  expandGrid,
  parseDateRange,
  type GridPoint,
  type IntrabarMode,
} from "../../core/backtest";
import { ENGINE_VERSION } from "../../core/backtest/version";
import { intervalMs } from "../../core/market/symbols";
import { NotFoundError, ValidationError, type ValidationIssue } from "../../core/model/errors";
import { DEFAULT_WARMUP_CANDLES, validateStrategy, type StrategyDefinition } from "../../core/strategy";
import type { RunParamsRecord } from "./store";
import { summarizeWindow, type WindowSummary } from "./windows";

export interface RunRequest {
  definition?: unknown;
  strategyId?: number;
  symbol?: string;
  from: string;
  to: string;
  initialBalance?: number;
  feeRate?: number;
  slippageBps?: number;
  intrabar?: IntrabarMode;
}

export interface PlannedRun {
  definition: StrategyDefinition;
  params: RunParamsRecord;
  cacheKey: string;
}

export interface Base {
  definition: StrategyDefinition;
  strategyId: number | null;
  /** where validation issues of the definition point: "/definition" when it was sent */
  pointer: string;
}

/** The definition to run: the one sent, or the caller's stored strategy (exactly one of them). */
export async function resolveBase(sequelize: Sequelize, req: RunRequest, userId: number): Promise<Base> {
  if ((req.definition === undefined) === (req.strategyId === undefined)) {
    throw new ValidationError(
      [
        {
          path: "/definition",
          code: "required",
          message: "send either a strategy definition or a strategyId (exactly one)",
        },
      ],
      "The backtest request is invalid.",
    );
  }
  let definition = req.definition;
  let strategyId: number | null = null;
  if (req.strategyId !== undefined) {
    const [row] = await sequelize.query<{ id: string; definition: unknown }>(
      `SELECT id, definition FROM strategies WHERE id = $1 AND user_id = $2`,
      { bind: [req.strategyId, userId], type: QueryTypes.SELECT },
    );
    if (!row) throw new NotFoundError("Strategy not found.");
    definition = row.definition;
    strategyId = Number(row.id);
  }
  if (req.symbol && definition && typeof definition === "object" && !Array.isArray(definition)) {
    definition = { ...(definition as object), symbol: req.symbol };
  }
  const pointer = req.strategyId !== undefined ? "" : "/definition";
  return { definition: checked(definition, pointer), strategyId, pointer };
}

function checked(definition: unknown, pointer: string): StrategyDefinition {
  const v = validateStrategy(definition);
  if (!v.ok) {
    throw new ValidationError(
      v.errors.map((e) => ({ ...e, path: `${pointer}${e.path}` })),
      "The strategy definition is invalid.",
    );
  }
  return v.definition;
}

interface Window {
  summary: WindowSummary;
  params: RunParamsRecord;
}

/** The range checked and bounded, and the window summarised; 400 when no candle is in range. */
async function planWindow(
  sequelize: Sequelize,
  def: StrategyDefinition,
  req: RunRequest,
  warmup: number,
): Promise<Window> {
  const { range, errors } = parseDateRange(req.from, req.to);
  if (!range) throw new ValidationError(errors, "The backtest range is invalid.");
  const step = intervalMs(def.interval);
  if (!step) {
    throw new ValidationError([
      {
        path: "/definition/interval",
        code: "unsupported",
        message: `interval ${def.interval} cannot be backtested`,
      },
    ]);
  }
  const tooBig = checkRangeSize(range, step, def.interval);
  if (tooBig.length) throw new ValidationError(tooBig, "The backtest range is too large.");
  const summary = await summarizeWindow(sequelize, {
    symbol: def.symbol,
    interval: def.interval,
    fromMs: range.startMs,
    toMs: range.endMs,
    warmup,
  });
  if (!summary) {
    throw new ValidationError([
      {
        path: "/from",
        code: "no_data",
        message: `no ${def.symbol} ${def.interval} candles between ${req.from} and ${req.to}; import history first (aura data import)`,
      },
    ]);
  }
  return {
    summary,
    params: {
      symbol: def.symbol,
      interval: def.interval,
      from: req.from,
      to: req.to,
      initialBalance: req.initialBalance ?? BACKTEST_DEFAULTS.initialBalance,
      feeRate: req.feeRate ?? BACKTEST_DEFAULTS.feeRate,
      slippageBps: req.slippageBps ?? BACKTEST_DEFAULTS.slippageBps,
      intrabar: req.intrabar ?? BACKTEST_DEFAULTS.intrabar,
      warmupCandles: warmup,
      dataSource: summary.source,
      window: {
        firstOpenTime: summary.firstOpenTime,
        lastOpenTime: summary.lastOpenTime,
        candles: summary.candles,
        warmupCandles: summary.warmupCandles,
      },
    },
  };
}

function cacheKey(definition: StrategyDefinition, w: Window): string {
  const { dataSource: _s, window: _w, intrabar, ...rest } = w.params;
  // The default mode stays out of the hash: results stored before the option existed were run
  // with it, and their keys (and so their reuse) stay valid.
  const fillModel =
    intrabar === undefined || intrabar === BACKTEST_DEFAULTS.intrabar ? rest : { ...rest, intrabar };
  return crypto
    .createHash("sha256")
    .update(canonicalJson({ definition, ...fillModel, data: w.summary.fingerprint, engine: ENGINE_VERSION }))
    .digest("hex");
}

export async function planRun(sequelize: Sequelize, base: Base, req: RunRequest): Promise<PlannedRun> {
  const warmup = base.definition.warmupCandles ?? DEFAULT_WARMUP_CANDLES;
  const w = await planWindow(sequelize, base.definition, req, warmup);
  return { definition: base.definition, params: w.params, cacheKey: cacheKey(base.definition, w) };
}

export interface PlannedSweep {
  runs: (PlannedRun & { point: GridPoint })[];
  /** grid points whose definition the validator refused: reported, not run */
  skipped: { params: GridPoint; errors: readonly ValidationIssue[] }[];
  /** the window of the base definition, for the sweep's own record */
  params: RunParamsRecord;
}

export async function planSweep(
  sequelize: Sequelize,
  base: Base,
  req: RunRequest,
  grid: unknown,
): Promise<PlannedSweep> {
  const g = checkGrid(base.definition, grid);
  if (!g.ok) throw new ValidationError(g.issues, "The sweep grid is invalid.");
  const windows = new Map<number, Window>();
  const windowFor = async (warmup: number): Promise<Window> => {
    let w = windows.get(warmup);
    if (!w) windows.set(warmup, (w = await planWindow(sequelize, base.definition, req, warmup)));
    return w;
  };
  const baseWindow = await windowFor(base.definition.warmupCandles ?? DEFAULT_WARMUP_CANDLES);
  const runs: PlannedSweep["runs"] = [];
  const skipped: PlannedSweep["skipped"] = [];
  for (const point of expandGrid(g.grid)) {
    const v = validateStrategy(applyGridPoint(base.definition, point));
    if (!v.ok) {
      skipped.push({ params: point, errors: v.errors });
      continue;
    }
    const w = await windowFor(v.definition.warmupCandles ?? DEFAULT_WARMUP_CANDLES);
    runs.push({ definition: v.definition, params: w.params, cacheKey: cacheKey(v.definition, w), point });
  }
  return { runs, skipped, params: baseWindow.params };
}
