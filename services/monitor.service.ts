// Persists this process's ERROR/FATAL log records to system_logs (batched), raises
// `alert.raised` for FATAL records and for failed health checks. One instance runs in every
// process, because each process has its own log stream.
import type { ServiceSchema } from "moleculer";
import { monitorConfig } from "../src/adapters/config";
import { getDatabase } from "../src/adapters/storage/database";
import { readiness } from "../src/runtime/health";
import { logSink, redact, type SinkRecord } from "../src/runtime/logging";

export interface Alert {
  severity: "critical" | "warning";
  source: string;
  message: string;
  nodeId: string;
  time: number;
  details?: unknown;
}

interface MonitorSettings {
  flushIntervalMs: number;
  healthIntervalMs: number;
  maxBuffer: number;
}

const MonitorService: ServiceSchema<MonitorSettings & Record<string, any>> = {
  name: "monitor",
  settings: {
    flushIntervalMs: 500,
    healthIntervalMs: monitorConfig().healthIntervalMs,
    maxBuffer: 1000,
  },

  created() {
    this.buffer = [] as SinkRecord[];
    this.dropped = 0;
    this.lastHealth = {} as Record<string, string>;
    this.onRecord = (r: SinkRecord) => {
      if (this.buffer.length >= this.settings.maxBuffer) {
        this.dropped++;
        return;
      }
      this.buffer.push(r);
      if (r.level === "fatal") {
        this.raise({
          severity: "critical",
          source: r.service ?? r.module ?? "process",
          message: r.message,
          details: { requestId: r.requestId },
        });
      }
    };
  },

  actions: {
    /** Recent persisted error records, newest first (operators: `call monitor.recentLogs` in the REPL). */
    recentLogs: {
      visibility: "public",
      params: {
        limit: { type: "number", integer: true, positive: true, max: 500, optional: true, convert: true },
        level: { type: "enum", values: ["error", "fatal"], optional: true },
      },
      async handler(ctx: any) {
        const db = await getDatabase();
        const [rows] = await db.sequelize.query(
          `SELECT id, time, level, node_id, service, module, message, request_id FROM system_logs
           ${ctx.params.level ? "WHERE level = :level" : ""} ORDER BY time DESC, id DESC LIMIT :limit`,
          { replacements: { level: ctx.params.level, limit: ctx.params.limit ?? 50 } },
        );
        return rows;
      },
    },
    /** Runs the health checks now and raises alerts for components that are down. */
    checkHealth: {
      visibility: "public",
      async handler() {
        return this.runHealthCheck();
      },
    },
  },

  methods: {
    raise(this: any, a: Omit<Alert, "nodeId" | "time">) {
      const alert: Alert = { ...a, nodeId: this.broker.nodeID, time: Date.now() };
      this.broker.broadcast("alert.raised", alert).catch(() => {});
    },

    async flush(this: any) {
      if (this.flushing || this.buffer.length === 0) return;
      this.flushing = true;
      const batch: SinkRecord[] = this.buffer.splice(0, this.buffer.length);
      try {
        const db = await getDatabase();
        const values: string[] = [];
        const repl: unknown[] = [];
        for (const r of batch) {
          values.push("(to_timestamp(? / 1000.0), ?, ?, ?, ?, ?, ?, ?::jsonb)");
          repl.push(
            r.time,
            r.level,
            r.nodeId ?? this.broker.nodeID,
            r.service ?? null,
            r.module ?? null,
            r.message,
            r.requestId ?? null,
            r.context === undefined ? null : JSON.stringify(redact(r.context)),
          );
        }
        await db.sequelize.query(
          `INSERT INTO system_logs (time, level, node_id, service, module, message, request_id, context) VALUES ${values.join(",")}`,
          { replacements: repl },
        );
      } catch (e: any) {
        // Logging this through the logger would feed the sink again; stderr only.
        process.stderr.write(`monitor: could not persist ${batch.length} log records: ${e.message}\n`);
      } finally {
        this.flushing = false;
      }
    },

    async runHealthCheck(this: any) {
      const report = await readiness(this.broker);
      const components = { ...report.checks, ...report.services };
      for (const [name, c] of Object.entries(components) as [
        string,
        { status: string; details?: unknown },
      ][]) {
        const prev = this.lastHealth[name];
        if (
          c.status !== "up" &&
          prev !== c.status &&
          report.status !== "starting" &&
          report.status !== "stopping"
        ) {
          this.raise({
            severity: c.status === "down" ? "critical" : "warning",
            source: `health:${name}`,
            message: `${name} is ${c.status}`,
            details: c.details,
          });
        }
        this.lastHealth[name] = c.status;
      }
      return report;
    },
  },

  started() {
    logSink.on("record", this.onRecord);
    this.flushTimer = setInterval(() => this.flush(), this.settings.flushIntervalMs);
    this.flushTimer.unref();
    this.healthTimer = setInterval(
      () => this.runHealthCheck().catch(() => {}),
      this.settings.healthIntervalMs,
    );
    this.healthTimer.unref();
  },

  async stopped() {
    logSink.off("record", this.onRecord);
    clearInterval(this.flushTimer);
    clearInterval(this.healthTimer);
    await this.flush();
  },
};

export default MonitorService;
