// Persists this process's ERROR/FATAL log records to system_logs (batched), raises
// `alert.raised` for FATAL records and for failed health checks. One instance runs in every
// process, because each process has its own log stream.
import type { Context, Service, ServiceSchema } from "moleculer";
import { AuthGuardMixin, guarded } from "../mixins/auth-guard.mixin";
import { monitorConfig } from "../src/adapters/config";
import { getDatabase } from "../src/adapters/storage/database";
import { readiness, type HealthReport } from "../src/runtime/health";
import { logSink, redact, type SinkRecord } from "../src/runtime/logging";
import { REPL_CALLER } from "../src/runtime/repl-commands";

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

interface MonitorVars {
  buffer: SinkRecord[];
  dropped: number;
  flushing: boolean;
  /** the last status seen per component, so an alert is raised once per change */
  lastHealth: Record<string, string>;
  onRecord: (r: SinkRecord) => void;
  flushTimer?: NodeJS.Timeout;
  healthTimer?: NodeJS.Timeout;
}

interface MonitorMethods {
  raise(a: Omit<Alert, "nodeId" | "time">): void;
  flush(): Promise<void>;
  runHealthCheck(): Promise<HealthReport>;
}

type Self = Service<MonitorSettings> & MonitorVars & MonitorMethods;

const MonitorService: ServiceSchema<MonitorSettings, MonitorMethods, MonitorVars, Self> = {
  name: "monitor",
  mixins: [AuthGuardMixin],
  settings: {
    flushIntervalMs: 500,
    healthIntervalMs: monitorConfig().healthIntervalMs,
    maxBuffer: 1000,
  },

  created(this: Self) {
    this.buffer = [];
    this.dropped = 0;
    this.flushing = false;
    this.lastHealth = {};
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
    /**
     * Recent persisted error records, newest first. Operators: the REPL's `errors` command, or
     * `call monitor.recentLogs --$caller repl`.
     */
    recentLogs: guarded({
      auth: "internal",
      callers: [REPL_CALLER],
      visibility: "public",
      params: {
        limit: { type: "number", integer: true, positive: true, max: 500, optional: true, convert: true },
        level: { type: "enum", values: ["error", "fatal"], optional: true },
      },
      async handler(this: Self, ctx: Context<{ limit?: number; level?: "error" | "fatal" }>) {
        const db = await getDatabase();
        const bind: unknown[] = [];
        let where = "";
        if (ctx.params.level) {
          bind.push(ctx.params.level);
          where = `WHERE level = $${bind.length}`;
        }
        bind.push(ctx.params.limit ?? 50);
        const [rows] = await db.sequelize.query(
          `SELECT id, time, level, node_id, service, module, message, request_id FROM system_logs
           ${where} ORDER BY time DESC, id DESC LIMIT $${bind.length}`,
          { bind },
        );
        return rows;
      },
    }),
    /** Runs the health checks now and raises alerts for components that are down (the REPL's `health`). */
    checkHealth: guarded({
      auth: "internal",
      callers: [REPL_CALLER],
      visibility: "public",
      async handler(this: Self) {
        return this.runHealthCheck();
      },
    }),
  },

  methods: {
    raise(this: Self, a: Omit<Alert, "nodeId" | "time">) {
      const alert: Alert = { ...a, nodeId: this.broker.nodeID, time: Date.now() };
      this.broker.broadcast("alert.raised", alert).catch(() => {});
    },

    async flush(this: Self) {
      if (this.flushing || this.buffer.length === 0) return;
      this.flushing = true;
      const batch = this.buffer.splice(0, this.buffer.length);
      try {
        const db = await getDatabase();
        const values: string[] = [];
        const bind: unknown[] = [];
        for (const r of batch) {
          const p = Array.from({ length: 8 }, (_, i) => `$${bind.length + i + 1}`);
          values.push(
            `(to_timestamp(${p[0]}::numeric / 1000.0), ${p.slice(1, 7).join(", ")}, ${p[7]}::jsonb)`,
          );
          bind.push(
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
          { bind },
        );
      } catch (e) {
        // Logging this through the logger would feed the sink again; stderr only.
        process.stderr.write(
          `monitor: could not persist ${batch.length} log records: ${(e as Error).message}\n`,
        );
      } finally {
        this.flushing = false;
      }
    },

    async runHealthCheck(this: Self) {
      const report = await readiness(this.broker);
      const components = { ...report.checks, ...report.services };
      for (const [name, c] of Object.entries(components)) {
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

  started(this: Self) {
    logSink.on("record", this.onRecord);
    this.flushTimer = setInterval(() => this.flush(), this.settings.flushIntervalMs);
    this.flushTimer.unref();
    this.healthTimer = setInterval(
      () => this.runHealthCheck().catch(() => {}),
      this.settings.healthIntervalMs,
    );
    this.healthTimer.unref();
  },

  async stopped(this: Self) {
    logSink.off("record", this.onRecord);
    clearInterval(this.flushTimer);
    clearInterval(this.healthTimer);
    await this.flush();
  },
};

export default MonitorService;
