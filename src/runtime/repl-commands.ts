// AURA commands for the operator REPL (moleculer-repl). Later issues add halt/reconcile/move.
import type { ServiceBroker } from "moleculer";

type Def = {
  command: string;
  description: string;
  alias?: string[];
  options?: { option: string; description: string }[];
  action: (broker: ServiceBroker, args: any) => Promise<void>;
};

const print = (v: unknown) => console.log(JSON.stringify(v, null, 2));

export const auraReplCommands: Def[] = [
  {
    command: "health",
    description: "Readiness of every AURA node (database, cache, transporter, services)",
    action: async (broker) => {
      const nodes = ((await broker.call("$node.list")) as any[]).filter((n) => n.available);
      for (const n of nodes) {
        try {
          print(await broker.call("monitor.checkHealth", {}, { nodeID: n.id }));
        } catch (e: any) {
          console.log(`${n.id}: ${e.message}`);
        }
      }
    },
  },
  {
    command: "errors",
    description: "Recent ERROR/FATAL records from system_logs",
    options: [{ option: "-n, --limit <n>", description: "how many (default 20)" }],
    action: async (broker, args) => {
      print(await broker.call("monitor.recentLogs", { limit: Number(args.options.limit ?? 20) }));
    },
  },
];
