// The README's first command in miniature: `aura start` on an empty data dir brings up the
// embedded PostgreSQL, migrates, serves /health/ready, and SIGTERM stops everything with exit 0.
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "../../support/ports";

jest.setTimeout(60_000);

const ROOT = path.resolve(__dirname, "../../..");

function processesMentioning(text: string): string[] {
  return execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes(text) && !l.includes("ps -eo"));
}

test("start → ready (every component up) → SIGTERM → exit 0 with no child processes left", async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "aura-boot-"));
  const port = await freePort();
  const metricsPort = await freePort();
  const simPort = await freePort();
  const env = {
    ...process.env,
    AURA_DATA_DIR: dataDir,
    PORT: String(port),
    METRICS_PORT: String(metricsPort),
    SIM_PORT: String(simPort),
    HOST: "127.0.0.1",
    LOG_LEVEL: "info",
  } as NodeJS.ProcessEnv;
  delete env.DATABASE_URL;
  delete env.TRANSPORTER;
  delete env.REDIS_URL;
  delete env.SERVICES;
  const child = spawn(process.execPath, [path.join(ROOT, "bin/aura.js"), "start"], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));

  try {
    let ready: any;
    const deadline = Date.now() + 40_000;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/health/ready`);
        if (res.status === 200) {
          ready = await res.json();
          break;
        }
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    if (!ready)
      throw new Error(
        `AURA did not become ready (exit code ${child.exitCode}); its output:\n${output.slice(-4000)}`,
      );
    expect(ready.status).toBe("ok");
    for (const c of Object.values<any>(ready.checks)) expect(c.status).toBe("up");
    for (const s of Object.values<any>(ready.services)) expect(s.status).toBe("up");
    expect(ready.checks.database.details.embedded).toBe(true);
    expect(fs.existsSync(path.join(dataDir, "pg", "PG_VERSION"))).toBe(true);
    expect(processesMentioning(dataDir).length).toBeGreaterThan(0);
    // Prometheus metrics are served when METRICS_PORT is set
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/moleculer_request_total|moleculer_node_type/);

    const t0 = Date.now();
    child.kill("SIGTERM");
    const code = await exited;
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    // the embedded PostgreSQL (and anything else started for this data dir) is gone
    expect(processesMentioning(dataDir)).toEqual([]);
    expect(output).toContain("AURA stopped");
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
