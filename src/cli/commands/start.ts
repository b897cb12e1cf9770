import type { Command } from "commander";

export function register(program: Command): void {
  program
    .command("start")
    .description("Start AURA: database and migrations, then the services in SERVICES (default: all)")
    .option("--repl", "attach the operator REPL to this process")
    .action(async (opts: { repl?: boolean }) => {
      const { startAura } = require("../../runtime/runner") as typeof import("../../runtime/runner");
      await startAura({ repl: opts.repl, exitOnStop: true });
    });
}
