// `aura cluster`: AURA's roles as separate processes on this machine, talking over a real NATS,
// so anyone can watch horizontal scaling (runners sharing instances through leases, a killed
// process's work moving elsewhere) without Docker. The roles are the ones docker-compose.yml and
// k8s/ deploy. The database is DATABASE_URL when set, otherwise the embedded PostgreSQL in the
// data directory, which every process of the cluster shares (the last one out stops it).
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import type { Command } from "commander";

export interface ClusterRole {
  name: string;
  services: string;
  /** the gateway listens on --port; the other roles serve no HTTP */
  gateway?: boolean;
}

/** One process per entry; `runners` and `backtests` repeat their role. */
export function clusterRoles(runners: number, backtests: number): ClusterRole[] {
  return [
    { name: "gateway", services: "api,auth,keys,strategies,history,alerts", gateway: true },
    // the simulator listens on loopback, so what talks to it shares its process (as in compose)
    { name: "market", services: "market-data,exchange-sim,execution,portfolio" },
    ...Array.from({ length: runners }, (_, i) => ({ name: `runner-${i + 1}`, services: "strategy-runner" })),
    ...Array.from({ length: backtests }, (_, i) => ({ name: `backtest-${i + 1}`, services: "backtest" })),
  ];
}

function count(v: string, what: string, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new Error(`${what} must be an integer from 1 to ${max}`);
  return n;
}

export function register(program: Command): void {
  program
    .command("cluster")
    .description("Start AURA's roles as separate processes over NATS on this machine (Ctrl-C stops them all)")
    .option("--nats <url>", "the NATS server", process.env.TRANSPORTER || "nats://127.0.0.1:4222")
    .option("--runners <n>", "strategy-runner processes", "2")
    .option("--backtests <n>", "backtest worker processes", "1")
    .option("--port <n>", "the gateway's HTTP port", process.env.PORT || "3000")
    .action(async (opts: { nats: string; runners: string; backtests: string; port: string }) => {
      const runners = count(opts.runners, "--runners", 16);
      const backtests = count(opts.backtests, "--backtests", 8);
      const port = count(opts.port, "--port", 65535);
      if (!/^nats:\/\/[^\s]+$/.test(opts.nats)) throw new Error("--nats must be a nats://host:port URL");
      const bin = path.resolve(__dirname, "../../../bin/aura.js");
      const base = { ...process.env, TRANSPORTER: opts.nats };
      // migrations once, before any role starts (each `start` would otherwise race to apply them)
      await new Promise<void>((resolve, reject) => {
        const m = spawn(process.execPath, [bin, "migrate", "up"], { env: base, stdio: "inherit" });
        m.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`migrate exited with ${code}`))));
      });
      const children: ChildProcess[] = [];
      let stopping = false;
      const stopAll = () => {
        if (stopping) return;
        stopping = true;
        process.stderr.write("aura cluster: stopping every process\n");
        for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
      };
      const roles = clusterRoles(runners, backtests);
      const width = Math.max(...roles.map((r) => r.name.length));
      // one machine, one port each: HEALTH_PORT / METRICS_PORT, when set, are where the numbering
      // starts (the first role gets the port itself, the next one port + 1, …)
      const portFrom = (name: string, i: number) => {
        const first = Number(process.env[name]);
        return Number.isInteger(first) && first > 0 ? String(first + i) : "";
      };
      for (const [i, role] of roles.entries()) {
        const env = {
          ...base,
          SERVICES: role.services,
          NODE_ID: `${role.name}-${process.pid}`,
          HEALTH_PORT: portFrom("HEALTH_PORT", i),
          METRICS_PORT: portFrom("METRICS_PORT", i),
          ...(role.gateway ? { PORT: String(port) } : {}),
        };
        const child = spawn(process.execPath, [bin, "start"], { env, stdio: ["ignore", "pipe", "pipe"] });
        const tag = `${role.name.padEnd(width)} | `;
        for (const stream of [child.stdout!, child.stderr!]) {
          let rest = "";
          stream.on("data", (chunk: Buffer) => {
            const lines = (rest + chunk.toString("utf8")).split("\n");
            rest = lines.pop() ?? "";
            for (const line of lines) process.stdout.write(tag + line + "\n");
          });
        }
        child.on("exit", (code, signal) => {
          process.stdout.write(`${tag}exited (${signal ?? code})\n`);
          // a role that dies on its own is left down, as a pod would be until restarted: the
          // rest of the cluster carries on, which is what this command is for
          if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) process.exit(0);
        });
        children.push(child);
      }
      process.stdout.write(
        `aura cluster: ${roles.length} processes on ${opts.nats}; dashboard and API on http://localhost:${port}\n`,
      );
      process.on("SIGINT", stopAll);
      process.on("SIGTERM", stopAll);
      await new Promise(() => undefined);
    });
}
