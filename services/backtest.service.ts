// Backtests over the API: validates the definition, loads candles (database, else the bundled
// history), runs the shared core engine in worker threads, stores results in backtest_results and
// answers repeats of the same (definition, data, fill model, engine version) from that store.
import crypto from "node:crypto";
import type { Context, ServiceSchema } from "moleculer";
import { Errors } from "moleculer";
import { QueryTypes } from "sequelize";
import { loadBacktestCandles } from "../src/adapters/backtest/db-candles";
import {
  BacktestJobError,
  BacktestPool,
  shareColumns,
  type BacktestJob,
} from "../src/adapters/backtest/pool";
import { getDatabase } from "../src/adapters/storage/database";
import { BACKTEST_DEFAULTS, parseDateRange } from "../src/core/backtest";
import { ENGINE_VERSION } from "../src/core/backtest/version";
import type { BacktestMetrics } from "../src/core/backtest/metrics";
import { DEFAULT_WARMUP_CANDLES, validateStrategy, type StrategyDefinition } from "../src/core/strategy";
import ErrorsMixin from "../mixins/errors.mixin";

const { MoleculerClientError } = Errors;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_SWEEP_RUNS = 100;
const RANKABLE: (keyof BacktestMetrics)[] = [
  "netProfit",
  "totalReturnPct",
  "cagrPct",
  "sharpe",
  "sortino",
  "profitFactor",
  "expectancy",
  "winRatePct",
  "maxDrawdownPct",
];

interface RunParams {
  definition?: unknown;
  strategyId?: number;
  symbol?: string;
  from: string;
  to: string;
  initialBalance?: number;
  feeRate?: number;
  slippageBps?: number;
}

interface Prepared {
  definition: StrategyDefinition;
  strategyId: number | null;
  from: string;
  to: string;
  initialBalance: number;
  feeRate: number;
  slippageBps: number;
  warmup: number;
  fromMs: number;
  toMs: number;
}

const RUN_PARAMS = {
  $$strict: "remove",
  definition: { type: "object", optional: true },
  strategyId: { type: "number", integer: true, positive: true, optional: true, convert: true },
  symbol: {
    type: "string",
    optional: true,
    pattern: /^[A-Z0-9]{2,20}$/,
    messages: { stringPattern: "symbol must be an upper-case Binance symbol such as BTCUSDT" },
  },
  from: {
    type: "string",
    pattern: /^\d{4}-\d{2}-\d{2}$/,
    messages: { stringPattern: "from must be a UTC date YYYY-MM-DD" },
  },
  to: {
    type: "string",
    pattern: /^\d{4}-\d{2}-\d{2}$/,
    messages: { stringPattern: "to must be a UTC date YYYY-MM-DD" },
  },
  initialBalance: { type: "number", positive: true, max: 1e12, optional: true, convert: true },
  feeRate: { type: "number", min: 0, max: 0.1, optional: true, convert: true },
  slippageBps: { type: "number", min: 0, max: 1000, optional: true, convert: true },
} as const;

function userId(ctx: Context<any, any>): number {
  const id = ctx.meta?.user?.id;
  if (id === undefined || id === null)
    throw new MoleculerClientError("Authentication required.", 401, "UNAUTHORIZED");
  return Number(id);
}

function invalid(
  issues: { path: string; code: string; message: string }[],
  message = "The backtest request is invalid.",
): never {
  throw new MoleculerClientError(message, 400, "VALIDATION_FAILED", issues);
}

/** Stable JSON: object keys sorted, so equal definitions hash equally whatever their key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as any)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

/** Sets a value at a dotted path ("indicators.fast.period") in a deep copy of `obj`. */
function setPath(obj: unknown, path: string, value: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(obj));
  const keys = path.split(".");
  let cur: any = copy;
  for (const k of keys.slice(0, -1)) {
    if (cur[k] === undefined || typeof cur[k] !== "object") cur[k] = {};
    cur = cur[k];
  }
  cur[keys[keys.length - 1]] = value;
  return copy;
}

function cartesian(grid: Record<string, unknown[]>): Record<string, unknown>[] {
  let out: Record<string, unknown>[] = [{}];
  for (const [k, values] of Object.entries(grid))
    out = out.flatMap((o) => values.map((v) => ({ ...o, [k]: v })));
  return out;
}

interface BacktestSettings {
  workers: number;
}

const BacktestService: ServiceSchema<BacktestSettings & Record<string, any>> = {
  name: "backtest",
  mixins: [ErrorsMixin],
  settings: {
    workers: Number(process.env.BACKTEST_WORKERS ?? 0) || 0,
  },

  created() {
    this.pool = new BacktestPool(this.settings.workers > 0 ? this.settings.workers : undefined);
  },

  actions: {
    /** POST /api/v1/backtests → 202 { id, status } */
    create: {
      params: RUN_PARAMS,
      async handler(ctx: Context<RunParams, any>) {
        const uid = userId(ctx);
        const p = await this.prepare(ctx.params, uid);
        const row = await this.submit(uid, p);
        ctx.meta.$statusCode = 202;
        return row;
      },
    },

    /** GET /api/v1/backtests/:id → { id, status, progress, result, … } */
    get: {
      params: { $$strict: "remove", id: { type: "string", min: 1, max: 64 } },
      async handler(ctx: Context<{ id: string }, any>) {
        const row = await this.findOwned(ctx.params.id, userId(ctx), true);
        return this.present(row, true);
      },
    },

    /** GET /api/v1/backtests → the caller's backtests, newest first (no results) */
    list: {
      params: {
        $$strict: "remove",
        limit: { type: "number", integer: true, min: 1, max: 100, optional: true, convert: true },
        before: {
          type: "string",
          optional: true,
          pattern: /^\d{4}-\d{2}-\d{2}T[\d:.]+Z$/,
          messages: { stringPattern: "before must be an ISO timestamp (createdAt of the last item)" },
        },
      },
      async handler(ctx: Context<{ limit?: number; before?: string }, any>) {
        const db = await getDatabase();
        const rows = await db.sequelize.query<any>(
          `SELECT id, status, progress, params, metrics, error, created_at, finished_at FROM backtest_results
            WHERE user_id = :uid ${ctx.params.before ? "AND created_at < :before" : ""}
            ORDER BY created_at DESC, id LIMIT :limit`,
          {
            replacements: { uid: userId(ctx), before: ctx.params.before, limit: ctx.params.limit ?? 20 },
            type: QueryTypes.SELECT,
          },
        );
        return { items: rows.map((r) => this.present(r, false)) };
      },
    },

    /** DELETE /api/v1/backtests/:id */
    remove: {
      params: { $$strict: "remove", id: { type: "string", min: 1, max: 64 } },
      async handler(ctx: Context<{ id: string }, any>) {
        const row = await this.findOwned(ctx.params.id, userId(ctx), false);
        const db = await getDatabase();
        await db.sequelize.query(`DELETE FROM backtest_results WHERE id = :id AND user_id = :uid`, {
          replacements: { id: row.id, uid: userId(ctx) },
        });
        return { id: row.id, deleted: true };
      },
    },

    /** POST /api/v1/backtests/compare { ids } → metrics side by side */
    compare: {
      params: {
        $$strict: "remove",
        ids: { type: "array", items: { type: "string", max: 64 }, min: 2, max: 10, unique: true },
      },
      async handler(ctx: Context<{ ids: string[] }, any>) {
        const uid = userId(ctx);
        const rows = await Promise.all(ctx.params.ids.map((id) => this.findOwned(id, uid, false)));
        const notDone = rows.filter((r) => r.status !== "completed");
        if (notDone.length) {
          throw new MoleculerClientError(
            "Only completed backtests can be compared.",
            409,
            "CONFLICT",
            notDone.map((r) => ({ id: r.id, status: r.status })),
          );
        }
        const metricNames = Object.keys(rows[0].metrics ?? {});
        return {
          metrics: metricNames,
          backtests: rows.map((r) => ({
            id: r.id,
            name: r.definition?.name,
            symbol: r.params.symbol,
            interval: r.params.interval,
            from: r.params.from,
            to: r.params.to,
            feeRate: r.params.feeRate,
            slippageBps: r.params.slippageBps,
            metrics: r.metrics,
          })),
        };
      },
    },

    /** POST /api/v1/backtests/sweep { definition | strategyId, grid, from, to, …, rankBy } → ranked table */
    sweep: {
      params: {
        ...RUN_PARAMS,
        grid: {
          type: "record",
          key: { type: "string", pattern: /^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)+$/ },
          value: { type: "array", min: 1, max: 50 },
        },
        rankBy: { type: "enum", values: RANKABLE, optional: true },
        descending: { type: "boolean", optional: true, convert: true },
      },
      ...({ timeout: 120_000 } as object),
      async handler(
        ctx: Context<
          RunParams & {
            grid: Record<string, unknown[]>;
            rankBy?: keyof BacktestMetrics;
            descending?: boolean;
          },
          any
        >,
      ) {
        const uid = userId(ctx);
        const base = await this.prepare(ctx.params, uid);
        const combos = cartesian(ctx.params.grid);
        if (combos.length > MAX_SWEEP_RUNS) {
          invalid([
            {
              path: "/grid",
              code: "too_large",
              message: `the grid has ${combos.length} combinations; at most ${MAX_SWEEP_RUNS} are allowed`,
            },
          ]);
        }
        const variants = combos.map((params) => {
          let def: unknown = base.definition;
          for (const [k, v] of Object.entries(params)) def = setPath(def, k, v);
          const checked = validateStrategy(def);
          return { params, definition: def, errors: checked.ok ? [] : checked.errors };
        });
        const db = await getDatabase();
        const window = await loadBacktestCandles(
          db.sequelize,
          base.definition.symbol,
          base.definition.interval,
          base.fromMs,
          base.toMs,
          base.warmup,
        );
        const columns = shareColumns(window.columns);
        const started = Date.now();
        const results = await Promise.all(
          variants.map(async (v) => {
            if (v.errors.length) return { params: v.params, skipped: true, errors: v.errors };
            const out = await this.pool.run({ ...this.jobOf(base, v.definition), columns });
            return { params: v.params, metrics: JSON.parse(out.report).metrics as BacktestMetrics };
          }),
        );
        const rankBy = ctx.params.rankBy ?? "sharpe";
        const desc = ctx.params.descending ?? rankBy !== "maxDrawdownPct";
        const ranked = results
          .filter((r): r is { params: Record<string, unknown>; metrics: BacktestMetrics } => "metrics" in r)
          .sort((a, b) => {
            const x = Number(a.metrics[rankBy]);
            const y = Number(b.metrics[rankBy]);
            const nx = Number.isFinite(x) ? x : -Infinity;
            const ny = Number.isFinite(y) ? y : -Infinity;
            return desc ? ny - nx : nx - ny;
          })
          .map((r, i) => ({ rank: i + 1, ...r }));
        return {
          rankBy,
          descending: desc,
          runs: ranked.length,
          skipped: results.filter((r) => "skipped" in r),
          elapsedMs: Date.now() - started,
          results: ranked,
        };
      },
    },
  },

  methods: {
    async prepare(this: any, params: RunParams, uid: number): Promise<Prepared> {
      if ((params.definition === undefined) === (params.strategyId === undefined)) {
        invalid([
          {
            path: "/definition",
            code: "required",
            message: "send either a strategy definition or a strategyId (exactly one)",
          },
        ]);
      }
      let definition: unknown = params.definition;
      let strategyId: number | null = null;
      if (params.strategyId !== undefined) {
        const db = await getDatabase();
        const [row] = await db.sequelize.query<any>(
          `SELECT id, definition FROM strategies WHERE id = :id AND user_id = :uid`,
          {
            replacements: { id: params.strategyId, uid },
            type: QueryTypes.SELECT,
          },
        );
        if (!row) throw new MoleculerClientError("Strategy not found.", 404, "NOT_FOUND");
        definition = row.definition;
        strategyId = row.id;
      }
      if (params.symbol && definition && typeof definition === "object")
        definition = { ...(definition as object), symbol: params.symbol };
      const checked = validateStrategy(definition);
      if (!checked.ok) {
        invalid(
          checked.errors.map((e) => ({ ...e, path: params.strategyId ? e.path : `/definition${e.path}` })),
          "The strategy definition is invalid.",
        );
      }
      const { range, errors } = parseDateRange(params.from, params.to);
      if (!range) invalid(errors);
      const def = (checked as { definition: StrategyDefinition }).definition;
      return {
        definition: def,
        strategyId,
        from: params.from,
        to: params.to,
        initialBalance: params.initialBalance ?? BACKTEST_DEFAULTS.initialBalance,
        feeRate: params.feeRate ?? BACKTEST_DEFAULTS.feeRate,
        slippageBps: params.slippageBps ?? BACKTEST_DEFAULTS.slippageBps,
        warmup: def.warmupCandles ?? DEFAULT_WARMUP_CANDLES,
        fromMs: range!.startMs,
        toMs: range!.endMs,
      };
    },

    jobOf(p: Prepared, definition: unknown): Omit<BacktestJob, "columns"> {
      return {
        definition,
        from: p.from,
        to: p.to,
        feeRate: p.feeRate,
        slippageBps: p.slippageBps,
        initialBalance: p.initialBalance,
        warmupCandles: p.warmup,
      };
    },

    async submit(this: any, uid: number, p: Prepared) {
      const db = await getDatabase();
      const window = await loadBacktestCandles(
        db.sequelize,
        p.definition.symbol,
        p.definition.interval,
        p.fromMs,
        p.toMs,
        p.warmup,
      );
      const inRange = window.columns.openTime.filter((t) => t >= p.fromMs && t < p.toMs).length;
      if (inRange === 0) {
        invalid([
          {
            path: "/from",
            code: "no_data",
            message: `no ${p.definition.symbol} ${p.definition.interval} candles between ${p.from} and ${p.to}; import history first (aura data import)`,
          },
        ]);
      }
      const params = {
        symbol: p.definition.symbol,
        interval: p.definition.interval,
        from: p.from,
        to: p.to,
        initialBalance: p.initialBalance,
        feeRate: p.feeRate,
        slippageBps: p.slippageBps,
        warmupCandles: p.warmup,
        dataSource: window.source,
      };
      const cacheKey = crypto
        .createHash("sha256")
        .update(
          canonical({
            definition: p.definition,
            ...params,
            dataSource: undefined,
            data: window.fingerprint,
            engine: ENGINE_VERSION,
          }),
        )
        .digest("hex");

      const [hit] = await db.sequelize.query<any>(
        `SELECT metrics, result FROM backtest_results WHERE cache_key = :cacheKey AND status = 'completed' AND engine_version = :engine LIMIT 1`,
        { replacements: { cacheKey, engine: ENGINE_VERSION }, type: QueryTypes.SELECT },
      );
      const [row] = await db.sequelize.query<any>(
        `INSERT INTO backtest_results (user_id, strategy_id, cache_key, engine_version, status, progress, params, definition, metrics, result, started_at, finished_at)
         VALUES (:uid, :sid, :cacheKey, :engine, :status, :progress, :params::jsonb, :definition::jsonb, :metrics::jsonb, :result::jsonb,
                 CASE WHEN :cached THEN now() END, CASE WHEN :cached THEN now() END)
         RETURNING id, status, created_at`,
        {
          replacements: {
            uid,
            sid: p.strategyId,
            cacheKey,
            engine: ENGINE_VERSION,
            status: hit ? "completed" : "queued",
            progress: hit ? 1 : 0,
            params: JSON.stringify(params),
            definition: JSON.stringify(p.definition),
            metrics: hit ? JSON.stringify(hit.metrics) : null,
            result: hit ? JSON.stringify(hit.result) : null,
            cached: Boolean(hit),
          },
          type: QueryTypes.SELECT,
        },
      );
      if (!hit) void this.execute(row.id, uid, { ...this.jobOf(p, p.definition), columns: window.columns });
      return { id: row.id, status: row.status, cached: Boolean(hit) };
    },

    async execute(this: any, id: string, uid: number, job: BacktestJob) {
      const db = await getDatabase();
      const [claimed] = await db.sequelize.query<any>(
        `UPDATE backtest_results SET status = 'running', started_at = now() WHERE id = :id AND status = 'queued' RETURNING id`,
        { replacements: { id }, type: QueryTypes.SELECT },
      );
      if (!claimed) return;
      let lastWrite = 0;
      try {
        const out = await this.pool.run(job, (fraction: number) => {
          const now = Date.now();
          if (now - lastWrite < 250) return;
          lastWrite = now;
          this.broker.broadcast("backtest.progress", { id, userId: uid, progress: fraction }).catch(() => {});
          db.sequelize
            .query(`UPDATE backtest_results SET progress = :p WHERE id = :id AND status = 'running'`, {
              replacements: { p: fraction, id },
            })
            .catch(() => {});
        });
        const report = JSON.parse(out.report);
        await db.sequelize.query(
          `UPDATE backtest_results SET status = 'completed', progress = 1, metrics = :metrics::jsonb, result = :result::jsonb, finished_at = now() WHERE id = :id`,
          { replacements: { id, metrics: JSON.stringify(report.metrics), result: out.report } },
        );
        this.broker
          .broadcast("backtest.completed", { id, userId: uid, status: "completed", metrics: report.metrics })
          .catch(() => {});
      } catch (err: any) {
        const message =
          err instanceof BacktestJobError ? err.message : "the backtest could not run; see the server log";
        if (!(err instanceof BacktestJobError))
          this.logger.error({ id, err: err?.message }, "backtest failed");
        await db.sequelize
          .query(
            `UPDATE backtest_results SET status = 'failed', error = :message, finished_at = now() WHERE id = :id`,
            { replacements: { id, message } },
          )
          .catch(() => {});
        this.broker
          .broadcast("backtest.completed", { id, userId: uid, status: "failed", error: message })
          .catch(() => {});
      }
    },

    async findOwned(this: any, id: string, uid: number, withResult: boolean) {
      if (!UUID_RE.test(id)) throw new MoleculerClientError("Backtest not found.", 404, "NOT_FOUND");
      const db = await getDatabase();
      const [row] = await db.sequelize.query<any>(
        `SELECT id, status, progress, params, definition, metrics, error, created_at, started_at, finished_at${withResult ? ", result" : ""}
           FROM backtest_results WHERE id = :id AND user_id = :uid`,
        { replacements: { id, uid }, type: QueryTypes.SELECT },
      );
      if (!row) throw new MoleculerClientError("Backtest not found.", 404, "NOT_FOUND");
      return row;
    },

    present(row: any, withResult: boolean) {
      return {
        id: row.id,
        status: row.status,
        progress: Number(row.progress),
        params: row.params,
        ...(row.definition ? { name: row.definition.name } : {}),
        metrics: row.metrics ?? null,
        error: row.error ?? null,
        createdAt: row.created_at,
        finishedAt: row.finished_at ?? null,
        ...(withResult ? { result: row.result ?? null } : {}),
      };
    },

    /** Re-queues runs another process left unfinished (it stopped or crashed mid-run). */
    async resumeInterrupted(this: any) {
      const db = await getDatabase();
      await db.sequelize.query(
        `UPDATE backtest_results SET status = 'queued', progress = 0 WHERE status = 'running' AND started_at < now() - interval '10 minutes'`,
      );
      const stale = await db.sequelize.query<any>(
        `SELECT id, user_id, params, definition FROM backtest_results WHERE status = 'queued' AND created_at < now() - interval '1 minute' ORDER BY created_at LIMIT 20`,
        { type: QueryTypes.SELECT },
      );
      for (const r of stale) {
        try {
          const p = await this.prepare(
            {
              definition: r.definition,
              from: r.params.from,
              to: r.params.to,
              initialBalance: r.params.initialBalance,
              feeRate: r.params.feeRate,
              slippageBps: r.params.slippageBps,
            },
            r.user_id,
          );
          const window = await loadBacktestCandles(
            db.sequelize,
            p.definition.symbol,
            p.definition.interval,
            p.fromMs,
            p.toMs,
            p.warmup,
          );
          void this.execute(r.id, r.user_id, { ...this.jobOf(p, p.definition), columns: window.columns });
        } catch (e: any) {
          await db.sequelize.query(
            `UPDATE backtest_results SET status = 'failed', error = :m WHERE id = :id`,
            { replacements: { id: r.id, m: `could not resume: ${e.message}` } },
          );
        }
      }
    },
  },

  async started() {
    this.resumeInterrupted().catch((e: Error) =>
      this.logger.warn({ err: e.message }, "could not resume interrupted backtests"),
    );
  },

  async stopped() {
    await this.pool.close();
  },
};

export default BacktestService;
