// A fixed pool of backtest worker threads with a FIFO queue. A worker that dies fails only its
// own job and is replaced.
import os from "node:os";
import path from "node:path";
import { Worker } from "node:worker_threads";
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
  /** the backtest JSON document (DESIGN §4.2), already serialised by the worker */
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

  constructor(readonly size = Math.max(1, Math.min(4, os.availableParallelism()))) {}

  get pending(): number {
    return this.queue.length + this.busy.size;
  }

  run(job: BacktestJob, onProgress?: (fraction: number) => void): Promise<JobOutcome> {
    if (this.closed) return Promise.reject(new Error("backtest pool is closed"));
    return new Promise((resolve, reject) => {
      this.queue.push({ jobId: this.nextId++, job, onProgress, resolve, reject });
      this.pump();
    });
  }

  private spawn(): Worker {
    const w = new Worker(ENTRY);
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
      p.reject(err);
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
    for (const p of this.queue.splice(0)) p.reject(new Error("backtest pool is closing"));
    await Promise.all([...this.idle.splice(0), ...this.busy.keys()].map((w) => w.terminate()));
  }
}

/** Copies columns into SharedArrayBuffers so many jobs can read one copy without transfer. */
export function shareColumns(c: ColumnArrays): ColumnArrays {
  const share = (a: Float64Array) => {
    const s = new Float64Array(new SharedArrayBuffer(a.length * 8));
    s.set(a);
    return s;
  };
  return {
    openTime: share(c.openTime),
    closeTime: share(c.closeTime),
    open: share(c.open),
    high: share(c.high),
    low: share(c.low),
    close: share(c.close),
    volume: share(c.volume),
  };
}
