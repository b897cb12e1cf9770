// `aura` command line. Each sub-command lives in ./commands/<name>.ts and exports
// `register(program)`; modules are loaded lazily so `aura backtest` does not pay for Moleculer.
import fs from "node:fs";
import path from "node:path";
import { Command } from "commander";

const COMMANDS = ["start", "cluster", "migrate", "repl", "sim", "backtest", "data", "keys"];

export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program.name("aura").description("AURA: automated trading for Binance Spot").showHelpAfterError();
  const wanted = argv[2];
  for (const name of COMMANDS) {
    const file = path.join(__dirname, "commands", `${name}.ts`);
    if (!fs.existsSync(file)) continue;
    if (wanted && !wanted.startsWith("-") && wanted !== name && COMMANDS.includes(wanted)) {
      // register a placeholder so --help still lists it without loading the module
      program.command(name).description(`(run 'aura ${name} --help')`);
      continue;
    }
    const mod = require(file) as { register: (p: Command) => void };
    mod.register(program);
  }
  await program.parseAsync(argv);
}
