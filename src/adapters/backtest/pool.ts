// A fixed pool of backtest worker threads with a FIFO queue. A worker that dies fails only its
// own job and is replaced.
import os from "node:os";
import path from "node:path";
import { Worker } from "node:worker_threads";
import type { IntrabarMode } from "../../core/backtest/engine";
import type { BacktestRunInfo } from "../../core/backtest/result";

export interface ColumnArrays {
  openTime: Float64Array;
  closeTime: Float64Array;
  open: Float64Array;
  high: Float64Array;
  low: Float64Array;
  close: Float64Array;
  volume: Float64Array;
}

export interface BacktestJob {
  definition: unknown;
  columns: ColumnArrays;
  from?: string;
  to?: string;
  feeRate?: number;
  slippageBps?: number;
  intrabar?: IntrabarMode;
  initialBalance?: number;
  warmupCandles?: number;
}

export type WorkerRequest = { jobId: number; job: BacktestJob };
export type WorkerResponse =
  | { jobId: number; type: "progress"; done: number; total: number }
  | { jobId: number; type: "result"; report: string; info: BacktestRunInfo }
  | {
      jobId: number;
      type: "error";
      error: { name?: string; code?: string; message: string; details?: unknown };
    };

export interface JobOutcome {
  /** the backtest JSON document (docs/backtesting.md, Results), already serialised by the worker */
  report: string;
  info: BacktestRunInfo;
}

export class BacktestJobError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly details: unknown,
  ) {
    super(message);
  }
}

/** The pool stopped before the job finished: the job did not fail, it was interrupted. */
export class PoolClosedError extends Error {
  constructor() {
    super("backtest pool is closing");
    this.name = "PoolClosedError";
  }
}

interface Pending {
  jobId: number;
  job: BacktestJob;
  onProgress?: (fraction: number) => void;
  resolve: (o: JobOutcome) => void;
  reject: (e: Error) => void;
}

const ENTRY = path.join(__dirname, "worker-entry.js");

export class BacktestPool {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Pending>();
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;
  private workers = 0;

  constructor(
    readonly size = Math.max(1, Math.min(4, os.availableParallelism())),
    private readonly threadHeapMb = 1024,
  ) {}

  get pending(): number {
    return this.queue.length + this.busy.size;
  }

  run(job: BacktestJob, onProgress?: (fraction: number) => void): Promise<JobOutcome> {
    if (this.closed) return Promise.reject(new PoolClosedError());
    return new Promise((resolve, reject) => {
      this.queue.push({ jobId: this.nextId++, job, onProgress, resolve, reject });
      this.pump();
    });
  }

  private spawn(): Worker {
    // a run that outgrows its heap kills its own thread, not the process that holds everyone's work
    const w = new Worker(ENTRY, { resourceLimits: { maxOldGenerationSizeMb: this.threadHeapMb } });
    this.workers++;
    w.on("message", (m: WorkerResponse) => {
      const p = this.busy.get(w);
      if (!p || p.jobId !== m.jobId) return;
      if (m.type === "progress") {
        p.onProgress?.(m.total ? m.done / m.total : 0);
        return;
      }
      this.busy.delete(w);
      if (m.type === "result") p.resolve({ report: m.report, info: m.info });
      else p.reject(new BacktestJobError(m.error.message, m.error.code, m.error.details));
      if (this.closed) void w.terminate();
      else this.idle.push(w);
      this.pump();
    });
    w.on("error", (err) => this.onWorkerGone(w, err));
    w.on(
      "exit",
      (code) => code !== 0 && this.onWorkerGone(w, new Error(`backtest worker exited with code ${code}`)),
    );
    return w;
  }

  private onWorkerGone(w: Worker, err: Error) {
    this.workers--;
    const i = this.idle.indexOf(w);
    if (i >= 0) this.idle.splice(i, 1);
    const p = this.busy.get(w);
    if (p) {
      this.busy.delete(w);
      p.reject(
        this.closed
          ? new PoolClosedError()
          : new BacktestJobError(
              `the backtest stopped unexpectedly (${err.message})`,
              "WORKER_CRASHED",
              undefined,
            ),
      );
    }
    this.pump();
  }

  private pump() {
    while (!this.closed && this.queue.length > 0) {
      let w = this.idle.pop();
      if (!w) {
        if (this.workers >= this.size) return;
        w = this.spawn();
      }
      const p = this.queue.shift()!;
      this.busy.set(w, p);
      w.postMessage({ jobId: p.jobId, job: p.job } satisfies WorkerRequest);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new PoolClosedError());
    const busy = [...this.busy.entries()];
    this.busy.clear();
    await Promise.all([...this.idle.splice(0), ...busy.map(([w]) => w)].map((w) => w.terminate()));
    for (const [, p] of busy) p.reject(new PoolClosedError());
  }
}
