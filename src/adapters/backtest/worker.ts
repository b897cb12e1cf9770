// Runs one backtest per message inside a worker thread, so the API's event loop stays free and
// several backtests use several cores. Candles arrive as Float64Arrays (usually on a
// SharedArrayBuffer, so a parameter sweep shares one copy among all workers).
import { parentPort } from "node:worker_threads";
import { runBacktest } from "../../core/backtest";
import type { CandleColumns } from "../../core/model/candle";
import type { WorkerRequest, WorkerResponse } from "./pool";

if (!parentPort) throw new Error("backtest worker must run in a worker thread");
const port = parentPort;

port.on("message", (msg: WorkerRequest) => {
  const { jobId, job } = msg;
  try {
    const c = job.columns;
    const columns: CandleColumns = { length: c.openTime.length, ...c };
    const total = columns.length;
    const result = runBacktest({
      strategy: job.definition,
      candles: columns,
      from: job.from,
      to: job.to,
      feeRate: job.feeRate,
      slippageBps: job.slippageBps,
      intrabar: job.intrabar,
      initialBalance: job.initialBalance,
      warmupCandles: job.warmupCandles,
      progressEvery: Math.max(500, Math.floor(total / 50)),
      onProgress: (done, all) =>
        port.postMessage({ jobId, type: "progress", done, total: all } satisfies WorkerResponse),
    });
    port.postMessage({
      jobId,
      type: "result",
      report: JSON.stringify(result),
      info: result.info,
    } satisfies WorkerResponse);
  } catch (caught) {
    const err = (caught ?? {}) as {
      name?: string;
      code?: string;
      message?: string;
      details?: unknown;
      issues?: unknown;
    };
    port.postMessage({
      jobId,
      type: "error",
      error: {
        name: err.name,
        code: err.code,
        message: err.message ?? String(caught),
        details: err.details ?? err.issues,
      },
    } satisfies WorkerResponse);
  }
});
