// The bookkeeping that decides who stops the embedded PostgreSQL: registrations of live processes
// count, those of exited processes (or of a recycled pid) are cleared away, and the lock that
// serialises start and stop survives a holder that died.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  identify,
  isLive,
  liveClients,
  parseProcStat,
  register,
  withLock,
  type ProcessProbe,
} from "../../../src/adapters/storage/pg-clients";

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "aura-pg-clients-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A pid that belonged to a process which has exited and been reaped. */
function deadPid(): number {
  return spawnSync(process.execPath, ["-e", ""]).pid!;
}

function probe(over: Partial<ProcessProbe> = {}): ProcessProbe {
  return { alive: () => true, start: () => "s1", zombie: () => false, ...over };
}

describe("parseProcStat", () => {
  test("counts fields from the last parenthesis, whatever the command name holds", () => {
    const rest = "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 20 21";
    expect(parseProcStat(`4242 (node) ${rest}`)).toEqual({ state: "S", startTime: "987654" });
    expect(parseProcStat(`4242 (a) (b c) ${rest}`)).toEqual({ state: "S", startTime: "987654" });
    expect(parseProcStat("4242 node S 1 2")).toBeUndefined();
    expect(parseProcStat("4242 (node) S 1 2")).toBeUndefined();
  });

  test("reads this process on Linux", () => {
    if (process.platform !== "linux") return;
    const stat = parseProcStat(fs.readFileSync(`/proc/${process.pid}/stat`, "utf8"));
    expect(stat?.state).toMatch(/^[RS]$/);
    expect(identify().start).toContain(stat!.startTime);
  });
});

describe("isLive", () => {
  test("a live pid with the recorded start identity is live", () => {
    expect(isLive({ pid: 10, start: "s1" }, probe())).toBe(true);
  });
  test("a dead or zombie pid is not", () => {
    expect(isLive({ pid: 10, start: "s1" }, probe({ alive: () => false }))).toBe(false);
    expect(isLive({ pid: 10, start: "s1" }, probe({ zombie: () => true }))).toBe(false);
  });
  test("a recycled pid (another start identity) is not", () => {
    expect(isLive({ pid: 10, start: "s0" }, probe())).toBe(false);
  });
  test("without start identities, pid liveness decides", () => {
    expect(isLive({ pid: 10 }, probe())).toBe(true);
    expect(isLive({ pid: 10, start: "s0" }, probe({ start: () => undefined }))).toBe(true);
  });
  test("nonsense pids are not live", () => {
    expect(isLive({ pid: 0 }, probe())).toBe(false);
    expect(isLive({ pid: NaN }, probe())).toBe(false);
  });
  test("real processes: this one is live, an exited one is not", () => {
    expect(isLive(identify())).toBe(true);
    expect(isLive({ pid: deadPid() })).toBe(false);
  });
});

describe("registrations", () => {
  test("live ones count; those of exited processes, recycled pids and garbage are removed", () => {
    const mine = register(dir);
    const other = register(dir);
    const dead = deadPid();
    fs.writeFileSync(path.join(dir, `client-${dead}-aa.json`), JSON.stringify({ pid: dead }));
    if (process.platform === "linux")
      fs.writeFileSync(
        path.join(dir, `client-${process.pid}-bb.json`),
        JSON.stringify({ pid: process.pid, start: "another-boot:1" }),
      );
    fs.writeFileSync(path.join(dir, `client-${process.pid}-cc.json`), "{");
    fs.writeFileSync(path.join(dir, `.client-${dead}-dd.json.tmp`), "{");
    fs.writeFileSync(path.join(dir, `.lock-${dead}-ee`), "{");
    fs.writeFileSync(path.join(dir, "lock-unrelated"), "");

    const live = liveClients(dir, { except: mine });
    expect(live.map((r) => r.file)).toEqual([other]);
    expect(live[0].pid).toBe(process.pid);
    expect(fs.readdirSync(dir).sort()).toEqual(
      [path.basename(mine), path.basename(other), "lock-unrelated"].sort(),
    );
  });

  test("a registration is written whole, with the process identity", () => {
    const file = register(dir);
    const rec = JSON.parse(fs.readFileSync(file, "utf8"));
    expect(rec.pid).toBe(process.pid);
    expect(rec.start).toBe(identify().start);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  test("a missing directory has no clients", () => {
    expect(liveClients(path.join(dir, "absent"))).toEqual([]);
  });
});

describe("withLock", () => {
  test("serialises holders and removes the lock afterwards", async () => {
    const events: string[] = [];
    const hold = (name: string) =>
      withLock(dir, async () => {
        events.push(`${name} in`);
        await new Promise((r) => setTimeout(r, 50));
        events.push(`${name} out`);
      });
    await Promise.all([hold("a"), hold("b")]);
    expect(events).toEqual(["a in", "a out", "b in", "b out"]);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test("the lock is released when fn throws", async () => {
    await expect(withLock(dir, async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await withLock(dir, async () => 42)).toBe(42);
  });

  test("a lock left by an exited process is taken over", async () => {
    fs.writeFileSync(path.join(dir, "lock"), JSON.stringify({ pid: deadPid(), token: "old" }));
    const logs: string[] = [];
    expect(await withLock(dir, async () => "ok", { log: (m) => logs.push(m) })).toBe("ok");
    expect(logs.join("\n")).toContain("removed the embedded PostgreSQL lock left by exited process");
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test("a lock held by a live process is waited for, up to the timeout", async () => {
    fs.writeFileSync(path.join(dir, "lock"), JSON.stringify({ ...identify(), token: "held" }));
    await expect(withLock(dir, async () => "never", { timeoutMs: 200 })).rejects.toThrow(
      `held by process ${process.pid}`,
    );
    expect(fs.existsSync(path.join(dir, "lock"))).toBe(true);
  });
});
