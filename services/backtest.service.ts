// Backtests and parameter sweeps over the API. A request is checked and planned (src/adapters/
// backtest/planner.ts), stored with its place in the durable, fair job queue, and answered at once
// with 202; worker threads in any process running this service take the runs (runner.ts). No
// request waits on long work, and queued work survives any kind of stop.
import type { Context, Service, ServiceSchema } from "moleculer";
import type { Transaction } from "sequelize";
import { BacktestPool } from "../src/adapters/backtest/pool";
import { backtestConfig } from "../src/adapters/config";
import { planRun, planSweep, resolveBase, type RunRequest } from "../src/adapters/backtest/planner";
import { JobQueue } from "../src/adapters/backtest/queue";
import { BacktestRunner } from "../src/adapters/backtest/runner";
import {
  BacktestStore,
  fairPriority,
  type NewRun,
  type RunRow,
  type RunStatus,
  type SweepRow,
} from "../src/adapters/backtest/store";
import { loadWindow, WindowCache } from "../src/adapters/backtest/windows";
import { processState } from "../src/runtime/health";
import { getDatabase } from "../src/adapters/storage/database";
import { RANKABLE_METRICS, rankRuns, type GridPoint, type RankableMetric } from "../src/core/backtest";
import type { BacktestMetrics } from "../src/core/backtest/metrics";
import { ENGINE_VERSION } from "../src/core/backtest/version";
import { ConflictError, NotFoundError, RateLimitedError } from "../src/core/model/errors";
import { AuthGuardMixin, guarded, requireUser } from "../mixins/auth-guard.mixin";
import { idParam, isoTimestampParam, utcDateParam } from "../src/gateway/params";
import ErrorsMixin from "../mixins/errors.mixin";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface BacktestSettings {
  /** worker threads in this process; undefined: one per core, at most 4 */
  workers?: number;
  /** queued and running runs one user may have (a sweep counts each run) */
  queuePerUser: number;
  /** queued and running runs over all users */
  queueMax: number;
  heartbeatMs: number;
  staleAfterSec: number;
  pollingIntervalSeconds: number;
}

interface BacktestVars {
  store: BacktestStore;
  queue: JobQueue;
  pool: BacktestPool;
  runner: BacktestRunner;
}

interface BacktestMethods {
  enqueue(
    userId: number,
    runs: NewRun[],
    onInsert?: (t: Transaction) => Promise<void>,
  ): Promise<{ id: string; status: RunStatus; priority: number; created_at: Date }[]>;
  owned(id: string, userId: number, withResult: boolean): Promise<RunRow>;
  present(row: RunRow, position: number | undefined, withResult: boolean): Record<string, unknown>;
  presentSweep(sweep: SweepRow, runs: RunRow[]): Record<string, unknown>;
  deadNodes(nodes: string[]): string[];
}

type Self = Service<BacktestSettings> & BacktestVars & BacktestMethods;

const RUN_PARAMS = {
  $$strict: "remove",
  definition: { type: "object", optional: true },
  strategyId: idParam("strategyId", { optional: true }),
  symbol: {
    type: "string",
    optional: true,
    pattern: /^[A-Z0-9]{2,20}$/,
    messages: { stringPattern: "symbol must be an upper-case Binance symbol such as BTCUSDT" },
  },
  from: utcDateParam("from"),
  to: utcDateParam("to"),
  initialBalance: { type: "number", positive: true, max: 1e12, optional: true, convert: true },
  feeRate: { type: "number", min: 0, max: 0.1, optional: true, convert: true },
  slippageBps: { type: "number", min: 0, max: 1000, optional: true, convert: true },
  intrabar: { type: "enum", values: ["stop_first", "path"], optional: true },
} as const;
const ID = { $$strict: "remove", id: { type: "string", min: 1, max: 64 } } as const;
const PAGE = {
  $$strict: "remove",
  limit: { type: "number", integer: true, min: 1, max: 100, optional: true, convert: true },
  before: isoTimestampParam("before", { optional: true }),
} as const;

/** Optional params may arrive as null; the planner reads "absent" as undefined. */
function asRequest(p: Record<string, unknown>): RunRequest {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) if (v !== null) out[k] = v;
  return out as unknown as RunRequest;
}

const BacktestService: ServiceSchema<BacktestSettings, BacktestMethods, BacktestVars, Self> = {
  name: "backtest",
  mixins: [AuthGuardMixin, ErrorsMixin],

  settings: {
    ...backtestConfig(),
    heartbeatMs: 5000,
    staleAfterSec: 30,
    pollingIntervalSeconds: 1,
  },

  actions: {
    /** POST /api/v1/backtests → 202 { id, status, position } */
    create: guarded({
      auth: "user",
      params: RUN_PARAMS,
      async handler(this: Self, ctx: Context<Record<string, unknown>, { $statusCode?: number }>) {
        const me = requireUser(ctx);
        const sequelize = (await getDatabase()).sequelize;
        const req = asRequest(ctx.params);
        const base = await resolveBase(sequelize, req, me.id);
        const plan = await planRun(sequelize, base, req);
        const run: NewRun = {
          userId: me.id,
          strategyId: base.strategyId,
          cacheKey: plan.cacheKey,
          engineVersion: ENGINE_VERSION,
          params: plan.params,
          definition: plan.definition,
        };
        ctx.meta.$statusCode = 202;
        // a repeat of the caller's own run is answered from their stored result
        const own = await this.store.ownCompleted(me.id, plan.cacheKey, ENGINE_VERSION);
        if (own) {
          const [row] = await this.store.transaction((t) =>
            this.store.insertRuns(t, [
              { ...run, status: "completed", priority: 0, metrics: own.metrics, result: own.result },
            ]),
          );
          return { id: row.id, status: row.status, cached: true };
        }
        const [row] = await this.enqueue(me.id, [run]);
        const positions = await this.store.queuePositions([row]);
        return { id: row.id, status: row.status, cached: false, position: positions.get(row.id) ?? null };
      },
    }),

    /** GET /api/v1/backtests/:id → { id, status, progress, position, result, … } */
    get: guarded({
      auth: "user",
      params: ID,
      async handler(this: Self, ctx: Context<{ id: string }>) {
        const row = await this.owned(ctx.params.id, requireUser(ctx).id, true);
        const positions = await this.store.queuePositions([row]);
        return this.present(row, positions.get(row.id), true);
      },
    }),

    /** GET /api/v1/backtests → the caller's single runs, newest first (no results) */
    list: guarded({
      auth: "user",
      params: PAGE,
      async handler(this: Self, ctx: Context<{ limit?: number; before?: string | null }>) {
        const limit = ctx.params.limit ?? 20;
        const rows = await this.store.list(requireUser(ctx).id, limit, ctx.params.before ?? undefined);
        const positions = await this.store.queuePositions(rows);
        return {
          items: rows.map((r) => this.present(r, positions.get(r.id), false)),
          nextBefore: rows.length === limit ? rows[rows.length - 1].cursor : null,
        };
      },
    }),

    /** DELETE /api/v1/backtests/:id: a queued run leaves the queue; a running one is discarded */
    remove: guarded({
      auth: "user",
      params: ID,
      async handler(this: Self, ctx: Context<{ id: string }>) {
        const me = requireUser(ctx);
        const row = await this.owned(ctx.params.id, me.id, false);
        await this.store.remove(row.id, me.id);
        if (row.status === "queued" || row.status === "running") await this.queue.cancel([row.id]);
        return { id: row.id, deleted: true };
      },
    }),

    /** POST /api/v1/backtests/compare { ids } → metrics side by side */
    compare: guarded({
      auth: "user",
      params: {
        $$strict: "remove",
        ids: { type: "array", items: { type: "string", max: 64 }, min: 2, max: 10, unique: true },
      },
      async handler(this: Self, ctx: Context<{ ids: string[] }>) {
        const me = requireUser(ctx);
        const valid = ctx.params.ids.filter((id) => UUID_RE.test(id));
        const rows = valid.length === ctx.params.ids.length ? await this.store.getMany(valid, me.id) : [];
        if (rows.length !== ctx.params.ids.length) throw new NotFoundError("Backtest not found.");
        const byId = new Map(rows.map((r) => [r.id, r]));
        const ordered = ctx.params.ids.map((id) => byId.get(id)!);
        const notDone = ordered.filter((r) => r.status !== "completed");
        if (notDone.length) {
          throw new ConflictError(
            "Only completed backtests can be compared.",
            notDone.map((r) => ({ id: r.id, status: r.status })),
          );
        }
        return {
          metrics: Object.keys(ordered[0].metrics ?? {}),
          backtests: ordered.map((r) => ({
            id: r.id,
            name: (r.definition as { name?: string }).name,
            symbol: r.params.symbol,
            interval: r.params.interval,
            from: r.params.from,
            to: r.params.to,
            feeRate: r.params.feeRate,
            slippageBps: r.params.slippageBps,
            intrabar: r.params.intrabar ?? "stop_first",
            sweepParams: r.sweep_params ?? undefined,
            metrics: r.metrics,
          })),
        };
      },
    }),

    /** POST /api/v1/backtests/sweep { definition | strategyId, grid, from, to, …, rankBy } → 202 { id, runs } */
    sweep: guarded({
      auth: "user",
      params: {
        ...RUN_PARAMS,
        grid: { type: "object" },
        rankBy: { type: "enum", values: [...RANKABLE_METRICS], optional: true },
        descending: { type: "boolean", optional: true, convert: true },
      },
      async handler(
        this: Self,
        ctx: Context<
          Record<string, unknown> & { grid: unknown; rankBy?: RankableMetric; descending?: boolean },
          { $statusCode?: number }
        >,
      ) {
        const me = requireUser(ctx);
        const sequelize = (await getDatabase()).sequelize;
        const req = asRequest(ctx.params);
        const base = await resolveBase(sequelize, req, me.id);
        const plan = await planSweep(sequelize, base, req, ctx.params.grid);
        const rankBy = ctx.params.rankBy ?? "sharpe";
        const descending = ctx.params.descending ?? rankBy !== "maxDrawdownPct";
        let sweepId = "";
        const runs: NewRun[] = plan.runs.map((r) => ({
          userId: me.id,
          strategyId: base.strategyId,
          cacheKey: r.cacheKey,
          engineVersion: ENGINE_VERSION,
          params: r.params,
          definition: r.definition,
          sweepParams: r.point as Record<string, unknown>,
        }));
        await this.enqueue(me.id, runs, async (t) => {
          const s = await this.store.insertSweep(t, {
            userId: me.id,
            strategyId: base.strategyId,
            params: plan.params,
            definition: base.definition,
            grid: ctx.params.grid,
            rankBy,
            descending,
            runs: runs.length,
            skipped: plan.skipped,
          });
          sweepId = s.id;
          for (const r of runs) r.sweepId = s.id;
        });
        ctx.meta.$statusCode = 202;
        return {
          id: sweepId,
          status: runs.length ? "queued" : "completed",
          runs: runs.length,
          skipped: plan.skipped,
        };
      },
    }),

    /** GET /api/v1/backtests/sweeps/:id → progress, and the runs ranked (completed ones first) */
    sweepGet: guarded({
      auth: "user",
      params: ID,
      async handler(this: Self, ctx: Context<{ id: string }>) {
        const me = requireUser(ctx);
        const sweep = UUID_RE.test(ctx.params.id)
          ? await this.store.getSweep(ctx.params.id, me.id)
          : undefined;
        if (!sweep) throw new NotFoundError("Sweep not found.");
        return this.presentSweep(sweep, await this.store.sweepRuns(sweep.id, me.id));
      },
    }),

    /** GET /api/v1/backtests/sweeps → the caller's sweeps, newest first */
    sweepList: guarded({
      auth: "user",
      params: PAGE,
      async handler(this: Self, ctx: Context<{ limit?: number; before?: string | null }>) {
        const limit = ctx.params.limit ?? 20;
        const rows = await this.store.listSweeps(requireUser(ctx).id, limit, ctx.params.before ?? undefined);
        return {
          nextBefore: rows.length === limit ? rows[rows.length - 1].cursor : null,
          items: rows.map((s) => ({
            id: s.id,
            name: (s.definition as { name?: string }).name,
            status: Number(s.done) >= s.runs ? "completed" : "running",
            runs: s.runs,
            done: Number(s.done),
            rankBy: s.rank_by,
            grid: s.grid,
            createdAt: s.created_at,
          })),
        };
      },
    }),

    /** DELETE /api/v1/backtests/sweeps/:id: the sweep and all its runs */
    sweepRemove: guarded({
      auth: "user",
      params: ID,
      async handler(this: Self, ctx: Context<{ id: string }>) {
        const me = requireUser(ctx);
        const open = UUID_RE.test(ctx.params.id)
          ? await this.store.removeSweep(ctx.params.id, me.id)
          : undefined;
        if (!open) throw new NotFoundError("Sweep not found.");
        await this.queue.cancel(open);
        return { id: ctx.params.id, deleted: true };
      },
    }),
  },

  methods: {
    /**
     * Stores runs and their jobs in one transaction, within the per-user and overall queue
     * bounds (429 with Retry-After beyond them). Each run's priority puts it behind the runs this
     * user already has waiting, so users are served round-robin.
     */
    async enqueue(this: Self, userId: number, runs: NewRun[], onInsert?: (t: Transaction) => Promise<void>) {
      const created = await this.store.transaction(async (t) => {
        const active = await this.store.activeCounts(userId, t);
        const over =
          active.user + runs.length > this.settings.queuePerUser
            ? `you have ${active.user} backtest runs queued or running; at most ${this.settings.queuePerUser} are allowed`
            : active.total + runs.length > this.settings.queueMax
              ? "the backtest queue is full"
              : undefined;
        if (over) {
          const mean = (await this.store.meanRunSeconds()) ?? 5;
          const workers = Math.max(1, this.pool.size);
          const waitSec = Math.min(600, Math.max(5, Math.ceil((mean * Math.max(1, runs.length)) / workers)));
          throw new RateLimitedError(`${over}; try again later (${runs.length} requested).`, waitSec * 1000);
        }
        await onInsert?.(t);
        const rows = await this.store.insertRuns(
          t,
          runs.map((r, i) => ({ ...r, status: "queued" as const, priority: fairPriority(active.user, i) })),
        );
        await this.queue.enqueue(
          (await getDatabase()).sequelize,
          t,
          rows.map((r) => ({ id: r.id, priority: r.priority })),
        );
        return rows;
      });
      this.queue.wake();
      return created;
    },

    async owned(this: Self, id: string, userId: number, withResult: boolean) {
      const row = UUID_RE.test(id) ? await this.store.get(id, userId, withResult) : undefined;
      if (!row) throw new NotFoundError("Backtest not found.");
      return row;
    },

    present(row: RunRow, position: number | undefined, withResult: boolean) {
      return {
        id: row.id,
        status: row.status,
        progress: Number(row.progress),
        ...(row.status === "queued" ? { position: position ?? null } : {}),
        params: row.params,
        name: (row.definition as { name?: string })?.name,
        ...(row.sweep_id ? { sweepId: row.sweep_id, sweepParams: row.sweep_params } : {}),
        metrics: row.metrics ?? null,
        error: row.error ?? null,
        createdAt: row.created_at,
        startedAt: row.started_at ?? null,
        finishedAt: row.finished_at ?? null,
        ...(withResult ? { result: row.result ?? null } : {}),
      };
    },

    presentSweep(sweep: SweepRow, runs: RunRow[]) {
      const completed = runs.filter((r) => r.status === "completed" && r.metrics);
      const failed = runs.filter((r) => r.status === "failed");
      const done = completed.length + failed.length;
      const progress =
        runs.length === 0
          ? 1
          : runs.reduce(
              (s, r) => s + (r.status === "running" ? Number(r.progress) : r.status === "queued" ? 0 : 1),
              0,
            ) / runs.length;
      const ranked = rankRuns(
        completed.map((r) => ({
          params: (r.sweep_params ?? {}) as GridPoint,
          metrics: r.metrics as unknown as BacktestMetrics,
          ref: r.id,
        })),
        sweep.rank_by as RankableMetric,
        sweep.descending,
      );
      return {
        id: sweep.id,
        status:
          done >= runs.length
            ? "completed"
            : runs.some((r) => r.status === "running") || done > 0
              ? "running"
              : "queued",
        progress,
        name: (sweep.definition as { name?: string }).name,
        params: sweep.params,
        grid: sweep.grid,
        rankBy: sweep.rank_by,
        descending: sweep.descending,
        runs: runs.length,
        completed: completed.length,
        failed: failed.map((r) => ({ id: r.id, params: r.sweep_params, error: r.error })),
        skipped: sweep.skipped,
        createdAt: sweep.created_at,
        results: ranked.map((r) => ({ rank: r.rank, id: r.ref, params: r.params, metrics: r.metrics })),
      };
    },

    /**
     * Worker nodes known to be gone. Alone (no transporter) every other node id is a previous run
     * of this process. In a cluster a node is gone when the registry, complete once heartbeats had
     * time to arrive, does not list it as available.
     */
    deadNodes(this: Self, nodes: string[]) {
      const me = this.broker.nodeID;
      if (!this.broker.transit) return nodes.filter((n) => n !== me);
      const uptimeSec = process.uptime();
      const heartbeatTimeout = Number(this.broker.options.heartbeatTimeout ?? 15);
      if (uptimeSec < heartbeatTimeout * 1.5) return [];
      return nodes.filter((n) => n !== me && !this.broker.registry.nodes.get(n)?.available);
    },
  },

  created(this: Self) {
    this.pool = new BacktestPool(this.settings.workers);
  },

  async started(this: Self) {
    const db = await getDatabase();
    this.store = new BacktestStore(db.sequelize);
    this.queue = await JobQueue.start({
      url: db.url,
      pollingIntervalSeconds: this.settings.pollingIntervalSeconds,
      log: (level, msg, err) => this.logger[level]({ err: (err as Error | undefined)?.message }, msg),
    });
    const restored = await this.queue.restore(db.sequelize, await this.store.unfinished(100_000));
    if (restored)
      this.logger.warn({ runs: restored }, "queued backtest runs without a job were given one again");
    const windows = new WindowCache((key, expected) => loadWindow(db.sequelize, key, expected));
    this.runner = new BacktestRunner({
      store: this.store,
      queue: this.queue,
      pool: this.pool,
      windows,
      nodeId: this.broker.nodeID,
      heartbeatMs: this.settings.heartbeatMs,
      processStopping: () => processState.stopping,
      staleAfterSec: this.settings.staleAfterSec,
      deadNodes: (nodes) => this.deadNodes(nodes),
      log: this.logger,
      events: {
        progress: (ev) => void this.broker.broadcast("backtest.progress", ev).catch(() => {}),
        finished: (ev) => void this.broker.broadcast("backtest.completed", ev).catch(() => {}),
      },
    });
    await this.runner.start();
  },

  async stopped(this: Self) {
    await this.runner?.stop(5000);
    await this.pool.close();
  },
};

export default BacktestService;
