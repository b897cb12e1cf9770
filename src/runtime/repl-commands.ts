// AURA commands for the operator REPL (moleculer-repl). Later issues add halt/reconcile/move.
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
}

type Def = {
  command: string;
  description: string;
  alias?: string[];
  options?: { option: string; description: string }[];
  action: (broker: ServiceBroker, args: unknown) => Promise<void>;
};

const print = (v: unknown) => console.log(JSON.stringify(v, null, 2));

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
];
