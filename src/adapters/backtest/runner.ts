// The worker side of the backtest queue, in every process that runs the backtest service: takes
// jobs from the durable queue as worker threads free up, claims the run's row, reads its candle
// window from the shared cache, runs the core engine in a thread and records the outcome once.
//
// Nothing is lost or done twice across stops and crashes:
// - a graceful stop interrupts running runs and hands them back to the queue as they were;
// - a crash leaves rows "running" whose heartbeat stops; any live process puts them back in the
//   queue after `staleAfterSec` and releases their jobs;
// - every write after the claim names the attempt it claimed with, so a worker presumed dead
//   that comes back cannot overwrite the run another worker took over;
// - a run that another user's identical run already answered copies that result.
import { BacktestJobError, PoolClosedError, type BacktestPool } from "./pool";
import type { JobQueue } from "./queue";
import type { BacktestStore, RunRow } from "./store";
import type { WindowCache } from "./windows";
import { ENGINE_VERSION } from "../../core/backtest/version";

export interface RunnerEvents {
  progress(ev: { id: string; userId: number; sweepId: string | null; progress: number }): void;
  finished(ev: {
    id: string;
    userId: number;
    sweepId: string | null;
    status: "completed" | "failed";
    metrics?: unknown;
    error?: string;
  }): void;
}

export interface RunnerOptions {
  store: BacktestStore;
  queue: JobQueue;
  pool: BacktestPool;
  windows: WindowCache;
  nodeId: string;
  events: RunnerEvents;
  log: {
    warn(o: object, m: string): void;
    error(o: object, m: string): void;
    info(o: object, m: string): void;
  };
  heartbeatMs?: number;
  /**
   * True once the process is shutting down. A stop reaches this runner only when the broker stops
   * its service, after the gateway's in-flight requests; jobs fetched in between must not start.
   */
  processStopping?: () => boolean;
  /** a running row whose heartbeat is older than this is presumed abandoned */
  staleAfterSec?: number;
  /**
   * Of the given worker node ids, those known to be gone (not this process, not a live cluster
   * member): their runs are taken back without waiting for the heartbeat to go stale.
   */
  deadNodes?: (nodes: string[]) => string[];
}

interface Claim {
  id: string;
  attempt: number;
}

export class BacktestRunner {
  private readonly claims = new Map<string, Claim>();
  private readonly inFlight = new Set<Promise<void>>();
  private timers: NodeJS.Timeout[] = [];
  private stopping = false;

  constructor(private readonly o: RunnerOptions) {}

  get running(): number {
    return this.claims.size;
  }

  async start(): Promise<void> {
    const beat = this.o.heartbeatMs ?? 5000;
    this.timers.push(
      setInterval(() => void this.heartbeat(), beat),
      setInterval(() => void this.reap(), Math.max(1000, beat * 2)),
    );
    for (const t of this.timers) t.unref();
    await this.reap();
    await this.o.queue.work(this.o.pool.size, (id) => this.track(this.runJob(id)));
  }

  private track(p: Promise<void>): Promise<void> {
    this.inFlight.add(p);
    const done = () => this.inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  private async heartbeat(): Promise<void> {
    try {
      await this.o.store.heartbeat([...this.claims.values()]);
    } catch (e) {
      this.o.log.warn({ err: (e as Error).message }, "backtest heartbeat failed");
    }
  }

  /** Puts abandoned runs back in the queue. Any process may do it; the UPDATE decides who wins. */
  async reap(): Promise<string[]> {
    try {
      const dead = this.o.deadNodes ? this.o.deadNodes(await this.o.store.runningNodes()) : [];
      const ids = await this.o.store.reapStale(this.o.staleAfterSec ?? 30, dead);
      if (ids.length) {
        await this.o.queue.release(ids);
        this.o.log.warn(
          { runs: ids.length },
          "backtest runs abandoned by a stopped worker were queued again",
        );
      }
      return ids;
    } catch (e) {
      this.o.log.warn({ err: (e as Error).message }, "could not check for abandoned backtest runs");
      return [];
    }
  }

  private async runJob(id: string): Promise<void> {
    if (this.stopping || this.o.processStopping?.()) throw new PoolClosedError();
    const row = await this.o.store.claim(id, this.o.nodeId);
    // deleted by its owner, or already finished by an earlier delivery of this job
    if (!row) return;
    const claim = { id, attempt: row.attempts };
    this.claims.set(id, claim);
    try {
      await this.execute(row, claim);
    } catch (err) {
      if (err instanceof PoolClosedError) {
        // interrupted by a stop: back to the queue as it was, for this or another process
        await this.o.store.requeue(id, claim.attempt);
        await this.o.queue.release([id]);
      }
      throw err;
    } finally {
      this.claims.delete(id);
    }
  }

  private async execute(row: RunRow, claim: Claim): Promise<void> {
    const userId = Number(row.user_id);
    const copy = await this.o.store.anyCompleted(row.cache_key, ENGINE_VERSION, row.id);
    if (copy) {
      if (await this.o.store.complete(row.id, claim.attempt, copy.metrics, copy.result)) {
        this.o.events.finished({
          id: row.id,
          userId,
          sweepId: row.sweep_id,
          status: "completed",
          metrics: copy.metrics,
        });
      }
      return;
    }
    const p = row.params;
    let report: string;
    try {
      const { columns, release } = await this.o.windows.acquire(
        {
          source: p.dataSource,
          symbol: p.symbol,
          interval: p.interval,
          firstOpenTime: p.window.firstOpenTime,
          lastOpenTime: p.window.lastOpenTime,
        },
        p.window.candles + p.window.warmupCandles,
      );
      try {
        let lastWrite = 0;
        const out = await this.o.pool.run(
          {
            definition: row.definition,
            columns,
            from: p.from,
            to: p.to,
            feeRate: p.feeRate,
            slippageBps: p.slippageBps,
            intrabar: p.intrabar,
            initialBalance: p.initialBalance,
            warmupCandles: p.warmupCandles,
          },
          (fraction) => {
            const now = Date.now();
            if (now - lastWrite < 250) return;
            lastWrite = now;
            this.o.events.progress({ id: row.id, userId, sweepId: row.sweep_id, progress: fraction });
            void this.o.store.progress(row.id, claim.attempt, fraction).catch(() => {});
          },
        );
        report = out.report;
      } finally {
        release();
      }
    } catch (err) {
      if (err instanceof PoolClosedError || this.stopping)
        throw err instanceof PoolClosedError ? err : new PoolClosedError();
      const message =
        err instanceof BacktestJobError ? err.message : "the backtest could not run; see the server log";
      if (!(err instanceof BacktestJobError))
        this.o.log.error({ id: row.id, err: (err as Error)?.message }, "backtest failed");
      if (await this.o.store.fail(row.id, claim.attempt, message)) {
        this.o.events.finished({
          id: row.id,
          userId,
          sweepId: row.sweep_id,
          status: "failed",
          error: message,
        });
      }
      return;
    }
    const metrics = (JSON.parse(report) as { metrics: unknown }).metrics;
    if (await this.o.store.complete(row.id, claim.attempt, metrics, report)) {
      this.o.events.finished({ id: row.id, userId, sweepId: row.sweep_id, status: "completed", metrics });
    }
  }

  /** Interrupts running runs (they go back to the queue) and stops taking jobs. */
  async stop(timeoutMs: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.o.pool.close();
    await Promise.allSettled([...this.inFlight]);
    await this.o.queue.stop(timeoutMs);
  }
}
