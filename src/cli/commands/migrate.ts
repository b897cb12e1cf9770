import type { Command } from "commander";

export function register(program: Command): void {
  program
    .command("migrate")
    .description("Apply (up), revert (down) or list (status) database migrations")
    .argument("[direction]", "up | down | status", "up")
    .option("--steps <n>", "with down: how many migrations to revert, or 'all'", "1")
    .action(async (direction: string, opts: { steps: string }) => {
      if (!["up", "down", "status"].includes(direction)) {
        throw new Error(`unknown direction "${direction}": use up, down or status`);
      }
      const steps = opts.steps === "all" ? "all" : Number(opts.steps);
      if (steps !== "all" && (!Number.isInteger(steps) || steps < 1))
        throw new Error(`--steps must be a positive integer or 'all'`);
      const { openDatabase } =
        require("../../adapters/storage/database") as typeof import("../../adapters/storage/database");
      const { migrateDown, migrateUp, migrationStatus } =
        require("../../adapters/storage/migrator") as typeof import("../../adapters/storage/migrator");
      const db = await openDatabase({ migrate: false, log: (m: string) => process.stderr.write(m + "\n") });
      try {
        if (direction === "up") {
          const done = await migrateUp(db.sequelize);
          console.log(done.length ? `applied: ${done.join(", ")}` : "already up to date");
        } else if (direction === "down") {
          const done = await migrateDown(db.sequelize, steps);
          console.log(done.length ? `reverted: ${done.join(", ")}` : "nothing to revert");
        } else {
          const s = await migrationStatus(db.sequelize);
          console.log(JSON.stringify(s, null, 2));
        }
      } finally {
        await db.close();
      }
    });
}
