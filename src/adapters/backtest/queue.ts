// The durable backtest job queue: pg-boss on AURA's own PostgreSQL (embedded or server), in its
// own schema. A job carries only the id of its backtest_results row; the row is the truth about a
// run, the job is the promise that some worker will take it. Jobs are enqueued in the same
// transaction that inserts their rows, so a row is never left without a job or a job without a
// row. pg-boss fetches by priority (higher first), then age: AURA sets the priority so that users
// are served round-robin (see store.ts, fairPriority).
import PgBoss from "pg-boss";
import { QueryTypes, type Sequelize, type Transaction } from "sequelize";
import { JOB_SCHEMA } from "../storage/migrations/0002_backtest_queue";

export const BACKTEST_QUEUE = "backtest-run";

export interface QueuedJob {
  /** the backtest_results id, reused as the job id */
  id: string;
  priority: number;
}

export interface JobQueueOptions {
  url: string;
  /** how often an idle worker asks for work; a local enqueue also wakes it at once */
  pollingIntervalSeconds?: number;
  log?: (level: "warn" | "error", msg: string, err?: unknown) => void;
}

/** Runs one job; resolving completes it, rejecting hands it back to the queue for another try. */
export type JobHandler = (backtestId: string) => Promise<void>;

export class JobQueue {
  private readonly workerIds: string[] = [];
  private stopped = false;

  private constructor(
    private readonly boss: PgBoss,
    private readonly opts: JobQueueOptions,
  ) {}

  static async start(opts: JobQueueOptions): Promise<JobQueue> {
    const boss = new PgBoss({
      connectionString: opts.url,
      schema: JOB_SCHEMA,
      max: 4,
      application_name: "aura-jobs",
      // AURA keeps its own history in backtest_results; pg-boss needs no cron and no state monitor
      schedule: false,
      supervise: true,
      maintenanceIntervalSeconds: 60,
    });
    boss.on("error", (err: Error) => opts.log?.("warn", "job queue error", err));
    await boss.start();
    if (!(await boss.getQueue(BACKTEST_QUEUE))) {
      await boss
        .createQueue(BACKTEST_QUEUE, {
          name: BACKTEST_QUEUE,
          policy: "standard",
          // a run interrupted by a stop or a crash goes back to the queue; a run that fails on its
          // own is recorded as failed by AURA and completes its job, so this limit is only a
          // backstop against a run that keeps killing its process
          retryLimit: 20,
          retryDelay: 0,
          expireInSeconds: 4 * 3600,
          retentionMinutes: 24 * 60,
        })
        .catch(async (e: Error) => {
          // another process created it at the same moment
          if (!(await boss.getQueue(BACKTEST_QUEUE))) throw e;
        });
    }
    return new JobQueue(boss, opts);
  }

  /** Enqueues jobs inside `transaction`, so they exist exactly when the rows that describe them do. */
  async enqueue(sequelize: Sequelize, transaction: Transaction, jobs: QueuedJob[]): Promise<void> {
    if (jobs.length === 0) return;
    const db = {
      executeSql: async (text: string, values: unknown[]) => ({
        // Sequelize refuses undefined bind values; pg-boss leaves unset options undefined
        rows: await sequelize.query(text, {
          bind: values.map((v) => (v === undefined ? null : v)),
          transaction,
          type: QueryTypes.SELECT,
        }),
      }),
    };
    await this.boss.insert(
      jobs.map((j) => ({ id: j.id, name: BACKTEST_QUEUE, data: { id: j.id }, priority: j.priority })),
      { db },
    );
  }

  /** Wakes this process's idle workers (after a local enqueue, instead of waiting for a poll). */
  wake(): void {
    for (const id of this.workerIds) this.boss.notifyWorker(id);
  }

  /** Starts `concurrency` workers, each taking one job at a time. */
  async work(concurrency: number, handler: JobHandler): Promise<void> {
    for (let i = 0; i < concurrency; i++) {
      const id = await this.boss.work<{ id: string }>(
        BACKTEST_QUEUE,
        { batchSize: 1, pollingIntervalSeconds: this.opts.pollingIntervalSeconds ?? 1 },
        async ([job]) => {
          await handler(job.data.id);
        },
      );
      this.workerIds.push(id);
    }
  }

  /**
   * Puts jobs whose worker died back in the queue (they stay "active" in pg-boss until then).
   * Failing an active job with retries left makes it fetchable again at once (retryDelay 0).
   */
  async release(ids: string[]): Promise<void> {
    if (ids.length) await this.boss.fail(BACKTEST_QUEUE, ids);
  }

  /** Jobs that are waiting or running, by id: used to find rows whose job is gone. */
  async liveJobIds(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = (await this.boss
      .getDb()
      .executeSql(
        `SELECT id::text FROM ${JOB_SCHEMA}.job WHERE name = $1 AND id = ANY($2::uuid[]) AND state < 'completed'`,
        [BACKTEST_QUEUE, ids],
      )) as { rows: { id: string }[] };
    return new Set(rows.rows.map((r) => r.id));
  }

  /**
   * Gives runs whose job is gone (finished in pg-boss while the row was not, or never created by
   * an older version of AURA) a fresh job, so no queued run waits forever.
   */
  async restore(sequelize: Sequelize, runs: QueuedJob[]): Promise<number> {
    if (runs.length === 0) return 0;
    const live = await this.liveJobIds(runs.map((r) => r.id));
    const missing = runs.filter((r) => !live.has(r.id));
    if (missing.length === 0) return 0;
    await this.boss.deleteJob(
      BACKTEST_QUEUE,
      missing.map((r) => r.id),
    );
    await sequelize.transaction((t) => this.enqueue(sequelize, t, missing));
    return missing.length;
  }

  /** Cancels waiting jobs (their runs were deleted). Running ones finish and find their row gone. */
  async cancel(ids: string[]): Promise<void> {
    if (ids.length) await this.boss.cancel(BACKTEST_QUEUE, ids).catch(() => {});
  }

  /**
   * Stops taking jobs. Jobs this process is running are handed back by the caller (their handlers
   * reject once the worker threads are gone); pg-boss fails whatever is still in flight with
   * retries left, so nothing is lost and nothing is marked failed.
   */
  async stop(timeoutMs = 5000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.boss.stop({ graceful: true, wait: true, timeout: Math.max(1000, timeoutMs) });
  }
}
