// Backtest runs and sweeps in PostgreSQL (backtest_results, backtest_sweeps). Every query binds
// its values as parameters and every user-facing read is scoped by the owner's id.
//
// A run's life: queued → running → completed | failed. `attempts` counts claims; a worker passes
// the attempt it claimed with to every later write, so a worker whose run was taken over (its
// heartbeat stopped, or the process was presumed dead) can no longer change the row.
import { QueryTypes, type Sequelize, type Transaction } from "sequelize";
import type { IntrabarMode } from "../../core/backtest/engine";

export type RunStatus = "queued" | "running" | "completed" | "failed";

export interface RunRow {
  id: string;
  user_id: string;
  strategy_id: string | null;
  sweep_id: string | null;
  sweep_params: Record<string, unknown> | null;
  cache_key: string;
  status: RunStatus;
  progress: number;
  priority: number;
  attempts: number;
  params: RunParamsRecord;
  definition: Record<string, unknown>;
  metrics: Record<string, unknown> | null;
  result?: unknown;
  error: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

/** What a run was asked to do, stored as `params`. */
export interface RunParamsRecord {
  symbol: string;
  interval: string;
  from: string;
  to: string;
  initialBalance: number;
  feeRate: number;
  slippageBps: number;
  /** Absent on runs stored before the option existed: those ran with "stop_first". */
  intrabar?: IntrabarMode;
  warmupCandles: number;
  dataSource: "database" | "bundled";
  /** the exact candles the run reads, fixed when it was accepted */
  window: { firstOpenTime: number; lastOpenTime: number; candles: number; warmupCandles: number };
}

export interface NewRun {
  userId: number;
  strategyId: number | null;
  cacheKey: string;
  engineVersion: string;
  params: RunParamsRecord;
  definition: unknown;
  sweepId?: string;
  sweepParams?: Record<string, unknown>;
}

export interface SweepRow {
  id: string;
  user_id: string;
  strategy_id: string | null;
  params: Record<string, unknown>;
  definition: Record<string, unknown>;
  grid: Record<string, unknown[]>;
  rank_by: string;
  descending: boolean;
  runs: number;
  skipped: unknown[];
  created_at: Date;
}

const CURSOR = `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor`;

const SUMMARY_COLUMNS = `id, user_id, strategy_id, sweep_id, sweep_params, cache_key, status, progress, priority,
  attempts, params, definition, metrics, error, created_at, started_at, finished_at`;

/**
 * The queue position a user's next run gets: minus the number of runs that user already has
 * queued or running. Jobs are fetched by priority, highest first, so every user's first pending
 * run goes before anyone's second: users are served round-robin, and one user's backlog delays
 * another user's single run by at most the runs already taken by workers.
 */
export function fairPriority(activeRunsOfUser: number, offset = 0): number {
  return -(activeRunsOfUser + offset);
}

export class BacktestStore {
  constructor(private readonly sequelize: Sequelize) {}

  private select<T extends object>(sql: string, bind: unknown[], transaction?: Transaction): Promise<T[]> {
    return this.sequelize.query<T>(sql, { bind, type: QueryTypes.SELECT, transaction });
  }

  private async exec(sql: string, bind: unknown[], transaction?: Transaction): Promise<number> {
    const [, meta] = await this.sequelize.query(sql, { bind, transaction });
    return (meta as { rowCount?: number } | undefined)?.rowCount ?? 0;
  }

  /** Serialises submissions, so the queue bounds hold under concurrent requests. */
  async transaction<T>(fn: (t: Transaction) => Promise<T>): Promise<T> {
    return this.sequelize.transaction(async (t) => {
      await this.sequelize.query(`SELECT pg_advisory_xact_lock(7306131)`, { transaction: t });
      return fn(t);
    });
  }

  /** Queued and running runs: the user's and everyone's. */
  async activeCounts(userId: number, t?: Transaction): Promise<{ user: number; total: number }> {
    const [r] = await this.select<{ user: string; total: string }>(
      `SELECT count(*) FILTER (WHERE user_id = $1) AS user, count(*) AS total
         FROM backtest_results WHERE status IN ('queued', 'running')`,
      [userId],
      t,
    );
    return { user: Number(r.user), total: Number(r.total) };
  }

  async insertRuns(
    t: Transaction,
    runs: (NewRun & { status: RunStatus; priority: number; metrics?: unknown; result?: unknown })[],
  ): Promise<{ id: string; status: RunStatus; priority: number; created_at: Date }[]> {
    if (runs.length === 0) return [];
    const rows = runs.map((r) => ({
      user_id: r.userId,
      strategy_id: r.strategyId,
      sweep_id: r.sweepId ?? null,
      sweep_params: r.sweepParams ?? null,
      cache_key: r.cacheKey,
      engine_version: r.engineVersion,
      status: r.status,
      progress: r.status === "completed" ? 1 : 0,
      priority: r.priority,
      params: r.params,
      definition: r.definition,
      metrics: r.metrics ?? null,
      result: r.result ?? null,
      done: r.status === "completed",
    }));
    // one statement for a whole sweep. created_at is the transaction's time, as the jobs' is, and
    // the rows of one batch have distinct priorities: (priority, created_at, id) orders runs the
    // way the job queue fetches them, which makes queue positions exact
    return this.select(
      `INSERT INTO backtest_results (user_id, strategy_id, sweep_id, sweep_params, cache_key, engine_version, status,
                                     progress, priority, params, definition, metrics, result, created_at,
                                     started_at, finished_at)
       SELECT user_id, strategy_id, sweep_id, sweep_params, cache_key, engine_version, status, progress, priority,
              params, definition, metrics, result, now(),
              CASE WHEN done THEN now() END, CASE WHEN done THEN now() END
         FROM jsonb_to_recordset($1::jsonb) AS x(
              user_id bigint, strategy_id bigint, sweep_id uuid, sweep_params jsonb, cache_key text,
              engine_version text, status text, progress real, priority int, params jsonb, definition jsonb,
              metrics jsonb, result jsonb, done boolean)
       RETURNING id, status, priority, created_at`,
      [JSON.stringify(rows)],
      t,
    );
  }

  /** The caller's own completed run with this cache key (a repeat they may be told about). */
  async ownCompleted(userId: number, cacheKey: string, engineVersion: string) {
    const [row] = await this.select<{ metrics: unknown; result: unknown }>(
      `SELECT metrics, result FROM backtest_results
        WHERE user_id = $1 AND cache_key = $2 AND engine_version = $3 AND status = 'completed'
        ORDER BY finished_at DESC LIMIT 1`,
      [userId, cacheKey, engineVersion],
    );
    return row;
  }

  /** Anyone's completed run with this cache key: a worker copies it instead of computing again. */
  async anyCompleted(cacheKey: string, engineVersion: string, exceptId: string) {
    const [row] = await this.select<{ metrics: unknown; result: string }>(
      `SELECT metrics, result::text AS result FROM backtest_results
        WHERE cache_key = $1 AND engine_version = $2 AND status = 'completed' AND id <> $3
        ORDER BY finished_at DESC LIMIT 1`,
      [cacheKey, engineVersion, exceptId],
    );
    return row;
  }

  async get(id: string, userId: number, withResult: boolean): Promise<RunRow | undefined> {
    const [row] = await this.select<RunRow>(
      `SELECT ${SUMMARY_COLUMNS}${withResult ? ", result" : ""} FROM backtest_results WHERE id = $1 AND user_id = $2`,
      [id, userId],
    );
    return row;
  }

  async getMany(ids: string[], userId: number): Promise<RunRow[]> {
    return this.select<RunRow>(
      `SELECT ${SUMMARY_COLUMNS} FROM backtest_results WHERE id = ANY($1::uuid[]) AND user_id = $2`,
      [ids, userId],
    );
  }

  /**
   * The caller's single runs (not the runs of sweeps), newest first, keyset-paged by creation time.
   * `cursor` is the creation time to the microsecond, which a JS Date would round.
   */
  async list(userId: number, limit: number, before?: string): Promise<(RunRow & { cursor: string })[]> {
    return before
      ? this.select(
          `SELECT ${SUMMARY_COLUMNS}, ${CURSOR} FROM backtest_results
            WHERE user_id = $1 AND sweep_id IS NULL AND created_at < $2 ORDER BY created_at DESC, id LIMIT $3`,
          [userId, before, limit],
        )
      : this.select(
          `SELECT ${SUMMARY_COLUMNS}, ${CURSOR} FROM backtest_results
            WHERE user_id = $1 AND sweep_id IS NULL ORDER BY created_at DESC, id LIMIT $2`,
          [userId, limit],
        );
  }

  async remove(id: string, userId: number): Promise<boolean> {
    return (await this.exec(`DELETE FROM backtest_results WHERE id = $1 AND user_id = $2`, [id, userId])) > 0;
  }

  /**
   * 1-based position among every queued run, in the order workers will take them, for the given
   * rows read as queued. A run a worker took since that read is at the head of the queue (1), not
   * missing: its caller still shows it queued.
   */
  async queuePositions(
    rows: Pick<RunRow, "id" | "status" | "priority" | "created_at">[],
  ): Promise<Map<string, number>> {
    const queued = rows.filter((r) => r.status === "queued");
    const out = new Map<string, number>();
    if (queued.length === 0) return out;
    const found = await this.select<{ id: string; pos: string }>(
      `SELECT q.id, greatest(1, (SELECT count(*) FROM backtest_results b
                      WHERE b.status = 'queued'
                        AND (b.priority > q.priority OR (b.priority = q.priority AND (b.created_at, b.id) <= (q.created_at, q.id)))
                    )) AS pos
         FROM backtest_results q WHERE q.id = ANY($1::uuid[])`,
      [queued.map((r) => r.id)],
    );
    for (const f of found) out.set(f.id, Number(f.pos));
    return out;
  }

  /** Recent run durations, to tell a refused caller when to try again. */
  async meanRunSeconds(): Promise<number | undefined> {
    const [r] = await this.select<{ s: number | null }>(
      `SELECT avg(extract(epoch FROM finished_at - started_at))::float8 AS s FROM (
         SELECT started_at, finished_at FROM backtest_results
          WHERE status = 'completed' AND started_at IS NOT NULL AND finished_at IS NOT NULL
          ORDER BY finished_at DESC LIMIT 50) x`,
      [],
    );
    return r?.s ?? undefined;
  }

  /** Takes a queued run (or one whose worker was presumed gone); returns the attempt number. */
  async claim(id: string, node: string): Promise<RunRow | undefined> {
    const [row] = await this.select<RunRow>(
      `UPDATE backtest_results
          SET status = 'running', attempts = attempts + 1, worker_node = $2, heartbeat_at = now(),
              started_at = now(), progress = 0
        WHERE id = $1 AND status IN ('queued', 'running')
        RETURNING ${SUMMARY_COLUMNS}`,
      [id, node],
    );
    return row;
  }

  async heartbeat(claims: { id: string; attempt: number }[]): Promise<void> {
    if (claims.length === 0) return;
    await this.exec(
      `UPDATE backtest_results b SET heartbeat_at = now()
         FROM jsonb_to_recordset($1::jsonb) AS c(id uuid, attempt int)
        WHERE b.id = c.id AND b.attempts = c.attempt AND b.status = 'running'`,
      [JSON.stringify(claims)],
    );
  }

  async progress(id: string, attempt: number, fraction: number): Promise<void> {
    await this.exec(
      `UPDATE backtest_results SET progress = $3 WHERE id = $1 AND attempts = $2 AND status = 'running'`,
      [id, attempt, fraction],
    );
  }

  /** Records the result once: a second completion of the same run (a retried job) changes nothing. */
  async complete(id: string, attempt: number, metrics: unknown, resultJson: string): Promise<boolean> {
    return (
      (await this.exec(
        `UPDATE backtest_results
            SET status = 'completed', progress = 1, metrics = $3::jsonb, result = $4::jsonb, finished_at = now(),
                worker_node = NULL
          WHERE id = $1 AND attempts = $2 AND status = 'running'`,
        [id, attempt, JSON.stringify(metrics), resultJson],
      )) > 0
    );
  }

  async fail(id: string, attempt: number, message: string): Promise<boolean> {
    return (
      (await this.exec(
        `UPDATE backtest_results SET status = 'failed', error = $3, finished_at = now(), worker_node = NULL
          WHERE id = $1 AND attempts = $2 AND status = 'running'`,
        [id, attempt, message],
      )) > 0
    );
  }

  /** A run interrupted by a stop goes back to the queue as it was. */
  async requeue(id: string, attempt: number): Promise<void> {
    await this.exec(
      `UPDATE backtest_results SET status = 'queued', progress = 0, worker_node = NULL, heartbeat_at = NULL,
              started_at = NULL
        WHERE id = $1 AND attempts = $2 AND status = 'running'`,
      [id, attempt],
    );
  }

  /** Worker nodes that hold running runs. */
  async runningNodes(): Promise<string[]> {
    const rows = await this.select<{ node: string }>(
      `SELECT DISTINCT worker_node AS node FROM backtest_results WHERE status = 'running' AND worker_node IS NOT NULL`,
      [],
    );
    return rows.map((r) => r.node);
  }

  /**
   * Runs whose worker stopped beating, or whose worker node is known to be gone: back to queued,
   * and their ids (their jobs must be released).
   */
  async reapStale(staleSeconds: number, deadNodes: string[] = []): Promise<string[]> {
    const rows = await this.select<{ id: string }>(
      `UPDATE backtest_results SET status = 'queued', progress = 0, worker_node = NULL, heartbeat_at = NULL,
              started_at = NULL
        WHERE status = 'running'
          AND (heartbeat_at < now() - make_interval(secs => $1) OR worker_node = ANY($2::text[]))
        RETURNING id`,
      [staleSeconds, deadNodes],
    );
    return rows.map((r) => r.id);
  }

  /** Queued or running runs (at most `limit`), oldest first: checked against the job queue at start. */
  async unfinished(limit: number): Promise<{ id: string; status: RunStatus; priority: number }[]> {
    return this.select(
      `SELECT id, status, priority FROM backtest_results WHERE status IN ('queued', 'running')
        ORDER BY created_at LIMIT $1`,
      [limit],
    );
  }

  // --- sweeps

  async insertSweep(
    t: Transaction,
    s: {
      userId: number;
      strategyId: number | null;
      params: unknown;
      definition: unknown;
      grid: unknown;
      rankBy: string;
      descending: boolean;
      runs: number;
      skipped: unknown[];
    },
  ): Promise<{ id: string; created_at: Date }> {
    const [row] = await this.select<{ id: string; created_at: Date }>(
      `INSERT INTO backtest_sweeps (user_id, strategy_id, params, definition, grid, rank_by, descending, runs, skipped)
       VALUES ($1, $2, $3::jsonb, $4::jsonb, $5::jsonb, $6, $7, $8, $9::jsonb) RETURNING id, created_at`,
      [
        s.userId,
        s.strategyId,
        JSON.stringify(s.params),
        JSON.stringify(s.definition),
        JSON.stringify(s.grid),
        s.rankBy,
        s.descending,
        s.runs,
        JSON.stringify(s.skipped),
      ],
      t,
    );
    return row;
  }

  async getSweep(id: string, userId: number): Promise<SweepRow | undefined> {
    const [row] = await this.select<SweepRow>(
      `SELECT id, user_id, strategy_id, params, definition, grid, rank_by, descending, runs, skipped, created_at
         FROM backtest_sweeps WHERE id = $1 AND user_id = $2`,
      [id, userId],
    );
    return row;
  }

  async listSweeps(
    userId: number,
    limit: number,
    before?: string,
  ): Promise<(SweepRow & { done: string; cursor: string })[]> {
    return this.select(
      `SELECT s.id, s.user_id, s.strategy_id, s.params, s.definition, s.grid, s.rank_by, s.descending, s.runs,
              s.skipped, s.created_at, ${CURSOR.replace("created_at", "s.created_at")},
              (SELECT count(*) FROM backtest_results r
                WHERE r.sweep_id = s.id AND r.status IN ('completed', 'failed')) AS done
         FROM backtest_sweeps s
        WHERE s.user_id = $1 ${before ? "AND s.created_at < $3" : ""}
        ORDER BY s.created_at DESC, s.id LIMIT $2`,
      before ? [userId, limit, before] : [userId, limit],
    );
  }

  async sweepRuns(sweepId: string, userId: number): Promise<RunRow[]> {
    return this.select<RunRow>(
      `SELECT ${SUMMARY_COLUMNS} FROM backtest_results WHERE sweep_id = $1 AND user_id = $2 ORDER BY priority DESC, id`,
      [sweepId, userId],
    );
  }

  /** Deletes a sweep and its runs; returns the ids of runs that had not finished (their jobs are cancelled). */
  async removeSweep(id: string, userId: number): Promise<string[] | undefined> {
    return this.sequelize.transaction(async (t) => {
      const open = await this.select<{ id: string }>(
        `SELECT id FROM backtest_results WHERE sweep_id = $1 AND user_id = $2 AND status IN ('queued', 'running')`,
        [id, userId],
        t,
      );
      const n = await this.exec(
        `DELETE FROM backtest_sweeps WHERE id = $1 AND user_id = $2`,
        [id, userId],
        t,
      );
      return n > 0 ? open.map((r) => r.id) : undefined;
    });
  }
}
