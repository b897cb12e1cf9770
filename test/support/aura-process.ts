// Real `aura start` processes for tests that must see what a user sees: a process that boots on
// its embedded PostgreSQL, answers /health/ready, and is stopped by a signal or killed outright.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { freePort } from "./ports";
export { freePort };

export const ROOT = path.resolve(__dirname, "../..");

const children: ChildProcess[] = [];

/** Kills every process a test started that is still running (for afterAll). */
export function killChildren(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
}

export function track(child: ChildProcess): ChildProcess {
  children.push(child);
  return child;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The postmaster pid of the embedded server under `dataDir` while one runs. */
export function serverPid(dataDir: string): number | undefined {
  const file = path.join(dataDir, "pg", "postmaster.pid");
  if (!fs.existsSync(file)) return undefined;
  const pid = Number(fs.readFileSync(file, "utf8").split("\n")[0]);
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

/** Lines of `ps` that name the embedded server's data directory. */
export function postgresProcesses(dataDir: string): string[] {
  const pgDir = path.join(dataDir, "pg");
  return execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes(pgDir) && !l.includes("ps -eo"));
}

export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface Aura {
  child: ChildProcess;
  port: number;
  baseUrl: string;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function isReady(aura: Pick<Aura, "port">): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${aura.port}/health/ready`)).status === 200;
  } catch {
    return false;
  }
}

/** Starts `aura start` on the embedded database under `dataDir` and waits until it is ready. */
export async function startAura(dataDir: string, extraEnv: Record<string, string> = {}): Promise<Aura> {
  const port = await freePort();
  const env = {
    ...process.env,
    AURA_DATA_DIR: dataDir,
    PORT: String(port),
    HOST: "127.0.0.1",
    SERVICES: "api",
    LOG_LEVEL: "info",
    ...extraEnv,
  } as NodeJS.ProcessEnv;
  // the machine's servers and ports are not the test's unless it names them
  for (const k of ["DATABASE_URL", "TRANSPORTER", "REDIS_URL", "METRICS_PORT", "HEALTH_PORT"])
    if (!(k in extraEnv)) delete env[k];
  const child = track(
    spawn(process.execPath, [path.join(ROOT, "bin/aura.js"), "start"], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  const aura: Aura = { child, port, baseUrl: `http://127.0.0.1:${port}`, output: () => out, exited };
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline && child.exitCode === null) {
    if (await isReady(aura)) return aura;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `AURA did not become ready (exit code ${child.exitCode}); its output:\n${out.slice(-4000)}`,
  );
}

/** SIGTERM, then the exit code must be 0. */
export async function stopAura(aura: Aura): Promise<void> {
  aura.child.kill("SIGTERM");
  const { code } = await aura.exited;
  if (code !== 0) throw new Error(`AURA exited with ${code}; its output:\n${aura.output().slice(-4000)}`);
}
