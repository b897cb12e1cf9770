import type { Command } from "commander";

export function register(program: Command): void {
  program
    .command("repl")
    .description("Operator REPL joined to the running cluster (needs TRANSPORTER=nats://…)")
    .action(async () => {
      const { readEnv } = require("../../adapters/config/env") as typeof import("../../adapters/config/env");
      const env = readEnv();
      const { transportConfig } =
        require("../../adapters/config/transport") as typeof import("../../adapters/config/transport");
      const { busNodeId } = require("../../runtime/bus") as typeof import("../../runtime/bus");
      if (!env.transporter) {
        throw new Error(
          "TRANSPORTER is not set, so there is no cluster to join. Set TRANSPORTER=nats://host:4222 " +
            "to reach a running cluster, or run the single-process default with the REPL attached: npm start -- --repl",
        );
      }
      const { ServiceBroker } = require("moleculer") as typeof import("moleculer");
      const { brokerConfig } = require("../../runtime/runner") as typeof import("../../runtime/runner");
      const { auraReplCommands } =
        require("../../runtime/repl-commands") as typeof import("../../runtime/repl-commands");
      const broker = new ServiceBroker(
        brokerConfig({
          nodeID: env.nodeId ?? busNodeId(transportConfig(), `operator-${process.pid}`),
          replOptions: { delimiter: "aura $ ", customCommands: auraReplCommands },
        }),
      );
      await broker.start();
      await broker.repl();
    });
}
