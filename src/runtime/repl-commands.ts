// AURA commands for the operator REPL (moleculer-repl): health, recent errors, strategy instances,
// the trading halt and reconciliation with the venue.
import type { ServiceBroker } from "moleculer";

/**
 * ctx.caller of the operator's calls: actions with `auth: "internal"` that operators use list it
 * in `callers`. The commands below pass it; with moleculer-repl's generic `call`, add
 * `--$caller repl`.
 */
export const REPL_CALLER = "repl";

/** What moleculer-repl passes a command's action: the parsed options (its typings say string[]). */
interface ReplArgs {
  options: Record<string, string | undefined>;
  /** the command line as typed, e.g. "halt exchange outage" */
  rawCommand?: string;
  /** the `<id>` argument of `strategy <id>` */
  id?: string;
}

type Def = {
  command: string;
  description: string;
  alias?: string[];
  options?: { option: string; description: string }[];
  /** accept any words after the command (a free-text reason) */
  allowUnknownOptions?: boolean;
  action: (broker: ServiceBroker, args: unknown) => Promise<void>;
};

const print = (v: unknown) => console.log(JSON.stringify(v, null, 2));

/** Rows as aligned text columns (the keys of the first row are the header). */
function printTable(rows: Record<string, unknown>[]): void {
  if (!rows.length) {
    console.log("(none)");
    return;
  }
  const cols = Object.keys(rows[0]);
  const cells = rows.map((r) => cols.map((c) => String(r[c] ?? "-")));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  console.log(line(cols));
  console.log(line(widths.map((w) => "-".repeat(w))));
  for (const row of cells) console.log(line(row));
}

/** The words typed after the command name: a reason may hold spaces, which commander splits. */
function restOf(args: unknown): string | undefined {
  const raw = (args as ReplArgs).rawCommand ?? "";
  const rest = raw.trim().replace(/^\S+\s*/, "");
  return rest || undefined;
}

/** Prints an action's refusal (404, 403, not running) as one line instead of a stack. */
async function reporting(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    console.log(`error: ${(e as Error).message}`);
  }
}

interface HaltView {
  halted: boolean;
  reason: string | null;
  changedBy: number | null;
  changedAt: string | null;
}

interface OverviewInstance {
  id: number;
  owner: string;
  name: string;
  symbol: string;
  interval: string;
  status: string;
  paused: boolean;
  mode: string;
  keyId: number | null;
  version: number;
  activeVersion: number | null;
  lastCandleTime: number | null;
  statusReason: string | null;
  ownerNode: string | null;
  leaseAgeSec: number | null;
  leaseExpiresInSec: number | null;
}

function haltLine(h: HaltView): string {
  return h.halted
    ? `TRADING HALTED since ${h.changedAt} by ${h.changedBy === null ? "an operator" : `user ${h.changedBy}`}: ${h.reason ?? "(no reason)"}`
    : "trading is running (not halted)";
}

function leaseText(i: OverviewInstance): string {
  if (i.ownerNode === null || i.leaseAgeSec === null || i.leaseExpiresInSec === null) return "-";
  return i.leaseExpiresInSec < 0
    ? `expired ${-i.leaseExpiresInSec}s ago`
    : `${i.leaseAgeSec}s old, ${i.leaseExpiresInSec}s left`;
}

export const auraReplCommands: Def[] = [
  {
    command: "health",
    description: "Readiness of every AURA node (database, cache, transporter, services)",
    action: async (broker) => {
      const nodes = ((await broker.call("$node.list")) as { id: string; available: boolean }[]).filter(
        (n) => n.available,
      );
      for (const n of nodes) {
        try {
          print(await broker.call("monitor.checkHealth", {}, { nodeID: n.id, caller: REPL_CALLER }));
        } catch (e) {
          console.log(`${n.id}: ${(e as Error).message}`);
        }
      }
    },
  },
  {
    command: "errors",
    description: "Recent ERROR/FATAL records from system_logs",
    options: [{ option: "-n, --limit <n>", description: "how many (default 20)" }],
    action: async (broker, args) => {
      const limit = Number((args as ReplArgs).options.limit ?? 20);
      print(await broker.call("monitor.recentLogs", { limit }, { caller: REPL_CALLER }));
    },
  },
  {
    command: "strategies",
    description:
      "Every strategy instance that is not a draft: owner, state, runner node, lease, last candle; and the trading halt",
    action: (broker) =>
      reporting(async () => {
        const o = (await broker.call("strategies.overview", {}, { caller: REPL_CALLER })) as {
          halt: HaltView;
          truncated: boolean;
          instances: OverviewInstance[];
        };
        console.log(haltLine(o.halt));
        printTable(
          o.instances.map((i) => ({
            id: i.id,
            owner: i.owner,
            name: i.name.length > 30 ? `${i.name.slice(0, 29)}…` : i.name,
            market: `${i.symbol} ${i.interval}`,
            state: `${i.status}${i.paused ? " (paused)" : ""}`,
            mode: i.mode,
            key: i.keyId,
            version: i.activeVersion === null ? `-/${i.version}` : `${i.activeVersion}/${i.version}`,
            node: i.ownerNode,
            lease: leaseText(i),
            "last candle": i.lastCandleTime === null ? null : new Date(i.lastCandleTime).toISOString(),
            reason: i.statusReason,
          })),
        );
        if (o.truncated) console.log("(only the first instances are listed)");
      }),
  },
  {
    command: "strategy <id>",
    description:
      "One strategy instance: its row, its lease, the actor's own status when it answers, and the last 20 decisions",
    action: (broker, args) =>
      reporting(async () => {
        const id = Number((args as ReplArgs).id);
        if (!Number.isSafeInteger(id) || id < 1) {
          console.log("usage: strategy <id>, the id of a strategy");
          return;
        }
        const info = (await broker.call("strategies.inspect", { id }, { caller: REPL_CALLER })) as object;
        let actor: unknown;
        try {
          actor = await broker.call(`strategy.${id}.status`, {}, { caller: REPL_CALLER, timeout: 3000 });
        } catch (e) {
          // no actor runs it right now (stopped, between leases) or it did not answer in time
          actor = `strategy.${id} did not answer: ${(e as Error).message}`;
        }
        print({ ...info, actor });
      }),
  },
  {
    command: "halt [reason]",
    description: "Halt trading in the whole cluster: no new entries (exits and protections continue)",
    allowUnknownOptions: true,
    action: (broker, args) =>
      reporting(async () => {
        const reason = restOf(args) ?? "halted by an operator at the REPL";
        const r = (await broker.call(
          "strategies.operatorHalt",
          { halted: true, reason },
          { caller: REPL_CALLER },
        )) as { halt: HaltView };
        console.log(haltLine(r.halt));
      }),
  },
  {
    command: "resume",
    description: "Resume trading after a halt",
    action: (broker) =>
      reporting(async () => {
        const r = (await broker.call(
          "strategies.operatorHalt",
          { halted: false },
          { caller: REPL_CALLER },
        )) as { halt: HaltView };
        console.log(haltLine(r.halt));
      }),
  },
  {
    command: "reconcile",
    description:
      "Check open orders, OCO lists and positions against the venue now and print what changed (--user <id>: one user's)",
    options: [{ option: "--user <id>", description: "only this user's accounts" }],
    action: (broker, args) =>
      reporting(async () => {
        const user = (args as ReplArgs).options?.user;
        const r = (await broker.call("execution.reconcile", user ? { userId: Number(user) } : {}, {
          caller: REPL_CALLER,
        })) as { keys: Record<string, unknown>[] };
        printTable(r.keys);
      }),
  },
  {
    command: "alerts",
    description:
      "Open alerts of every user and the system, newest first (--user <id>: one user's; --all: acknowledged too)",
    options: [
      { option: "--user <id>", description: "only this user's alerts" },
      { option: "--all", description: "acknowledged alerts too" },
    ],
    action: (broker, args) =>
      reporting(async () => {
        const o = (args as ReplArgs).options ?? {};
        const userId = o.user === undefined ? undefined : Number(o.user);
        if (userId !== undefined && (!Number.isSafeInteger(userId) || userId < 1)) {
          console.log("usage: alerts [--user <id>] [--all]");
          return;
        }
        const rows = (await broker.call(
          "alerts.operatorList",
          { ...(userId ? { userId } : {}), ...(o.all ? { all: true } : {}) },
          { caller: REPL_CALLER },
        )) as {
          id: number;
          userId: number | null;
          kind: string;
          severity: string;
          message: string;
          createdAt: string;
          acknowledgedAt: string | null;
        }[];
        printTable(
          rows.map((a) => ({
            id: a.id,
            user: a.userId ?? "system",
            severity: a.severity,
            kind: a.kind,
            message: a.message.length > 60 ? `${a.message.slice(0, 59)}…` : a.message,
            at: a.createdAt,
            acked: a.acknowledgedAt,
          })),
        );
      }),
  },
];
