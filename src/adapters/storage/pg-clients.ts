// Bookkeeping for who uses an embedded PostgreSQL. Each open handle leaves a registration file in
// <dataDir>/pg-clients/ naming its process (pid plus start identity, so a recycled pid does not
// pass for a live client); the handle that closes last, finding no other live registration,
// stops the server. A lock file in the same directory makes "start or reuse" and "stop if
// last" one step each, so a process cannot reuse a server that another is about to stop.
// Registrations and the lock of processes that died without cleaning up are recognised as stale
// and removed by the next process that looks.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

/** A process as recorded in a registration or the lock; `start` is undefined where unknown. */
export interface ProcessIdentity {
  pid: number;
  start?: string;
}

export interface Registration extends ProcessIdentity {
  file: string;
}

export interface ProcessProbe {
  alive(pid: number): boolean;
  /** the process's start identity, or undefined when the platform cannot tell */
  start(pid: number): string | undefined;
  /** true for a process that has exited but not been reaped */
  zombie(pid: number): boolean;
}

type Log = (msg: string, level?: "info" | "debug") => void;

const REGISTRATION = /^client-(\d+)-[0-9a-f]+\.json$/;
/** working files named after their process: registrations being written, lock attempts */
const SCRATCH = /^\.(?:client|lock|stale)-(\d+)-/;
const LOCK = "lock";

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * State and start time (clock ticks after boot) from the text of /proc/<pid>/stat. The command
 * name in field 2 may itself contain spaces and parentheses, so fields are counted from the
 * last ")".
 */
export function parseProcStat(stat: string): { state: string; startTime: string } | undefined {
  const close = stat.lastIndexOf(")");
  if (close < 0) return undefined;
  const fields = stat
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  // fields[0] is field 3 (state); field 22 (starttime) is therefore fields[19]
  const startTime = fields[19];
  if (!fields[0] || !startTime || !/^\d+$/.test(startTime)) return undefined;
  return { state: fields[0], startTime };
}

let bootId: string | undefined | null = null;
function linuxBootId(): string | undefined {
  if (bootId === null) {
    try {
      bootId = fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    } catch {
      bootId = undefined;
    }
  }
  return bootId;
}

function procStat(pid: number): { state: string; startTime: string } | undefined {
  if (process.platform !== "linux") return undefined;
  try {
    return parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

export const systemProbe: ProcessProbe = {
  alive: pidAlive,
  start(pid) {
    const stat = procStat(pid);
    if (!stat) return undefined;
    // the boot id keeps a start time from one boot from matching a process of the next
    const boot = linuxBootId();
    return boot ? `${boot}:${stat.startTime}` : stat.startTime;
  },
  zombie: (pid) => procStat(pid)?.state === "Z",
};

export function identify(pid: number = process.pid, probe: ProcessProbe = systemProbe): ProcessIdentity {
  const start = probe.start(pid);
  return start === undefined ? { pid } : { pid, start };
}

/**
 * Whether the recorded process still runs: its pid is alive and, where both the record and the
 * platform know a start identity, it is the same one (a different one means the pid was reused).
 */
export function isLive(id: ProcessIdentity, probe: ProcessProbe = systemProbe): boolean {
  if (!Number.isInteger(id.pid) || id.pid <= 0 || !probe.alive(id.pid) || probe.zombie(id.pid)) return false;
  if (id.start === undefined) return true;
  const now = probe.start(id.pid);
  return now === undefined || now === id.start;
}

/** A registration or lock file as this module writes it; read back unchecked, so any field may be off. */
interface RecordFile {
  pid?: unknown;
  start?: unknown;
  token?: unknown;
}

function readJson(file: string): RecordFile | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as RecordFile;
  } catch {
    return undefined;
  }
}

/** Records this process as a user of the server; the returned path identifies the registration. */
export function register(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const name = `client-${process.pid}-${crypto.randomBytes(6).toString("hex")}.json`;
  const file = path.join(dir, name);
  const tmp = path.join(dir, `.${name}.tmp`);
  const record = { ...identify(), argv: process.argv.slice(1).join(" "), at: new Date().toISOString() };
  // written aside and renamed so no reader ever sees a half-written registration
  fs.writeFileSync(tmp, JSON.stringify(record));
  fs.renameSync(tmp, file);
  return file;
}

export function deregister(file: string): void {
  fs.rmSync(file, { force: true });
}

/**
 * The live registrations in dir, except `except`; registrations of processes that are gone are
 * deleted on the way (and reported through log).
 */
export function liveClients(
  dir: string,
  opts: { except?: string; probe?: ProcessProbe; log?: Log } = {},
): Registration[] {
  const probe = opts.probe ?? systemProbe;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const live: Registration[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    if (opts.except && file === path.resolve(opts.except)) continue;
    const scratch = SCRATCH.exec(name);
    if (scratch) {
      // left by a process that died while writing a registration or taking the lock
      if (!isLive({ pid: Number(scratch[1]) }, probe)) fs.rmSync(file, { force: true });
      continue;
    }
    const match = REGISTRATION.exec(name);
    if (!match) continue;
    const rec = readJson(file);
    const id: ProcessIdentity | undefined =
      rec && Number(rec.pid) === Number(match[1])
        ? { pid: Number(rec.pid), start: typeof rec.start === "string" ? rec.start : undefined }
        : undefined;
    if (id && isLive(id, probe)) {
      live.push({ ...id, file });
    } else {
      fs.rmSync(file, { force: true });
      opts.log?.(`removed the stale embedded PostgreSQL registration of exited process ${match[1]}`, "debug");
    }
  }
  return live;
}

/**
 * Runs fn holding the data dir's lock. The lock file is linked into place fully written, so its
 * holder can always be read; a lock whose holder is gone is moved aside and removed, and if the
 * file moved aside turns out to be a fresh lock taken meanwhile, it is put back.
 */
export async function withLock<T>(
  dir: string,
  fn: () => Promise<T>,
  opts: { timeoutMs?: number; log?: Log; probe?: ProcessProbe } = {},
): Promise<T> {
  const probe = opts.probe ?? systemProbe;
  const timeoutMs = opts.timeoutMs ?? 180_000;
  fs.mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, LOCK);
  const token = crypto.randomBytes(8).toString("hex");
  const mine = path.join(dir, `.lock-${process.pid}-${token}`);
  fs.writeFileSync(mine, JSON.stringify({ ...identify(process.pid, probe), token }));
  const deadline = Date.now() + timeoutMs;
  let delay = 20;
  let announced = false;
  try {
    for (;;) {
      try {
        fs.linkSync(mine, lock);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      const holder = readJson(lock);
      if (holder === undefined && !fs.existsSync(lock)) continue; // released meanwhile
      // an unreadable lock cannot name a live holder: it is handled like a stale one (and so is a
      // record without a usable pid, which isLive rejects)
      if (holder === undefined || !isLive(holder as ProcessIdentity, probe)) {
        const aside = path.join(dir, `.stale-${process.pid}-${token}`);
        try {
          fs.renameSync(lock, aside);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
          throw e;
        }
        const moved = readJson(aside);
        if (moved?.token !== holder?.token) {
          try {
            fs.linkSync(aside, lock);
          } catch {
            /* yet another process holds it now; it wins */
          }
        } else {
          opts.log?.(`removed the embedded PostgreSQL lock left by exited process ${holder?.pid}`, "debug");
        }
        fs.rmSync(aside, { force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${lock}, held by process ${holder.pid} (starting or stopping the embedded PostgreSQL)`,
        );
      if (!announced) {
        opts.log?.(
          `waiting for process ${holder.pid}, which is starting or stopping the embedded PostgreSQL`,
          "debug",
        );
        announced = true;
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 250);
    }
  } finally {
    fs.rmSync(mine, { force: true });
  }
  try {
    return await fn();
  } finally {
    if (readJson(lock)?.token === token) fs.rmSync(lock, { force: true });
  }
}
