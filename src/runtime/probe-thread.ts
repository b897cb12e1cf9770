// Health probes answered by a thread of their own (HEALTH_PORT). The main event loop of a busy
// process queues a probe behind every request it is working on; an orchestrator that sees slow
// probes takes a busy pod out of service or restarts it, which moves the load to the pods left
// and makes them slower in turn. Here the probe thread answers at once from the last snapshot the
// main loop sent it, and the snapshot's age is the main loop's heartbeat: a loop that stopped
// sending snapshots is reported unresponsive (not ready after READY_SILENCE_MS, not live after
// LIVE_SILENCE_MS) instead of timing the probe out.
import path from "node:path";
import { Worker } from "node:worker_threads";
import type { ServiceBroker } from "moleculer";
import { liveness, readinessFor, type HealthReport, type ReadinessCache } from "./health";

/** How often the main loop sends the probe thread a snapshot (its heartbeat). */
export const SNAPSHOT_INTERVAL_MS = 250;
/** A main loop silent this long is not ready: it would not answer the traffic sent to it. */
export const READY_SILENCE_MS = 5000;
/** A main loop silent this long is not live: it is stuck, and a restart is the cure. */
export const LIVE_SILENCE_MS = 15_000;

/** What the main loop tells the probe thread. */
export interface ProbeSnapshot {
  type: "snapshot";
  /** Date.now() when the main loop sent it */
  at: number;
  ready: HealthReport;
  live: ReturnType<typeof liveness>;
}

export interface ProbeWorkerData {
  port: number;
  host: string;
  trustProxyHops: number;
  readySilenceMs: number;
  liveSilenceMs: number;
}

export interface ProbeThread {
  /** the port the probes answer on (the one asked for, or the one the system chose for 0) */
  readonly port: number;
  /** Sends a snapshot now rather than at the next heartbeat. */
  publish(): void;
  close(): Promise<void>;
}

const ENTRY = path.join(__dirname, "probe-worker-entry.js");

export async function startProbeThread(
  broker: ServiceBroker,
  port: number,
  host = "0.0.0.0",
  opts: {
    trustProxyHops?: number;
    readiness?: ReadinessCache;
    readySilenceMs?: number;
    liveSilenceMs?: number;
  } = {},
): Promise<ProbeThread> {
  const cache = opts.readiness ?? readinessFor(broker);
  const data: ProbeWorkerData = {
    port,
    host,
    trustProxyHops: opts.trustProxyHops ?? 0,
    readySilenceMs: opts.readySilenceMs ?? READY_SILENCE_MS,
    liveSilenceMs: opts.liveSilenceMs ?? LIVE_SILENCE_MS,
  };
  // a small heap: the thread holds one report and answers tiny requests
  const worker = new Worker(ENTRY, { workerData: data, resourceLimits: { maxOldGenerationSizeMb: 32 } });
  const bound = await new Promise<number>((resolve, reject) => {
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`the probe thread exited (${code}) before listening`)));
    worker.once("message", (m: { type: string; port?: number; message?: string }) => {
      if (m.type === "listening" && m.port !== undefined) resolve(m.port);
      else reject(new Error(`health probes could not listen on ${host}:${port}: ${m.message ?? m.type}`));
    });
  }).catch(async (e: unknown) => {
    await worker.terminate();
    throw e;
  });
  worker.removeAllListeners("exit");
  worker.removeAllListeners("error");
  // the thread dying leaves probes unanswered: the orchestrator then acts as on a dead process
  worker.on("error", () => undefined);

  let sending = false;
  const publish = () => {
    if (sending) return;
    sending = true;
    cache
      .get()
      .then((ready) => {
        const snapshot: ProbeSnapshot = { type: "snapshot", at: Date.now(), ready, live: liveness(broker) };
        worker.postMessage(snapshot);
      })
      .catch(() => undefined)
      .finally(() => (sending = false));
  };
  publish();
  const timer = setInterval(publish, SNAPSHOT_INTERVAL_MS);
  timer.unref();
  worker.unref();
  return {
    port: bound,
    publish,
    async close() {
      clearInterval(timer);
      await worker.terminate();
    },
  };
}
