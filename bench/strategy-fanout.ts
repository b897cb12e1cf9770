// The strategy runtime at 1,000 instances (EMA crosses of varied periods on BTCUSDT 1h):
//   1. memory per idle actor: one in-process strategy-runner holding 1,000 warmed, subscribed
//      actors, heap after a full GC, against the same 1,000 compiled and warmed strategy objects
//      alone (what an actor adds around its strategy);
//   2. come-up: 3 runner processes (SERVICES=strategy-runner) over NATS with the 1,000 instances
//      active before they start: spawn → every instance running, against spawn → the 3 processes
//      ready (a bare boot); then the first candle decided by all 1,000;
//   3. fan-out: a `market.candle.closed` broadcast → the last of the 1,000 decisions recorded
//      (strategy_decisions.time, the database clock on this machine), p50/p99 over the candles,
//      against the ceiling: the same 1,000 strategy objects deciding the same candles in one loop
//      in one process (decide() only, no I/O);
//   4. the decision log alone: PostgreSQL's CPU for the same 1,000 fenced decision rows per candle
//      written with the runners stopped, against its CPU per candle during the fan-out.
// Beside the latencies it reports the CPU per candle of the three runners and of the PostgreSQL
// server (from /proc), and what both spend over the same span without candles.
// Targets: fan-out p99 ≤ 50 ms and ≤ 3× the ceiling; ≤ 100 KB per idle actor; 1,000 deciding ≤ 5 s
// after the runners start.
// Run: node --expose-gc --import tsx bench/strategy-fanout.ts [candles]   (DATABASE_URL: a server for
// the scratch database, else an embedded PostgreSQL; NATS at AURA_BENCH_NATS_URL or 127.0.0.1:4222;
// BENCH_LOG_DIR keeps the processes' logs, BENCH_PROF_DIR writes CPU profiles of the runners)
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { ServiceBroker } from "moleculer";
import { Client } from "pg";
import { QueryTypes, type Sequelize } from "sequelize";
import { bundledSeries } from "../src/adapters/klines/files";
import { closeDatabase, openDatabase, setDatabase } from "../src/adapters/storage/database";
import {
  candleFromRow,
  strategyCandle,
  type MarketCandle,
  type RawKlineRow,
} from "../src/core/market/events";
import { compileStrategy, type BaseStrategy } from "../src/core/strategy";
import { decide, type LiveState } from "../src/core/strategy/live";
import { DecisionLog } from "../src/adapters/strategies/decisions";
import { LeaseStore } from "../src/adapters/strategies/leases";
import { brokerConfig, loadServiceSchema } from "../src/runtime/runner";
import { benchEnv, emit } from "./lib";

const N = 1000;
const RUNNERS = 3;
const CANDLES = Number(process.argv[2] ?? 40);
const NATS = process.env.AURA_BENCH_NATS_URL ?? "nats://127.0.0.1:4222";
const ROOT = path.resolve(__dirname, "..");
const H = 3_600_000;
const START = Date.parse("2023-06-01T00:00:00Z");
const SIM_FROM = "2023-06-01T00:30:00Z";

process.env.LOG_LEVEL ??= "warn";

function definition(i: number) {
  const fast = 5 + (i % 20);
  const slow = fast + 10 + Math.floor(i / 20);
  return {
    name: `EMA ${fast}/${slow} #${i}`,
    symbol: "BTCUSDT",
    interval: "1h",
    indicators: {
      fast: { type: "EMA", period: fast, source: "close" },
      slow: { type: "EMA", period: slow, source: "close" },
    },
    entry: { crossesAbove: ["fast", "slow"] },
    exit: { crossesBelow: ["fast", "slow"] },
    risk: { positionSizePct: 10 },
  };
}

const candlesFrom = (() => {
  const rows = bundledSeries("BTCUSDT", "1h") as unknown as RawKlineRow[];
  return (from: number, count: number): MarketCandle[] => {
    const i = rows.findIndex((r) => r[0] === from);
    return rows.slice(i, i + count).map(candleFromRow);
  };
})();

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function until<T>(what: string, fn: () => Promise<T | false | undefined>, ms = 120_000, every = 20) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

function gcHeap(): number {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error("run with --expose-gc (npm run bench does)");
  for (let i = 0; i < 4; i++) g();
  return process.memoryUsage().heapUsed;
}

async function seed(sequelize: Sequelize): Promise<void> {
  const q = (sql: string, bind: unknown[]) => sequelize.query(sql, { bind, type: QueryTypes.SELECT });
  const [u] = (await q(
    `INSERT INTO users (email, password_hash) VALUES ('bench@example.com', 'x') RETURNING id`,
    [],
  )) as {
    id: string;
  }[];
  const [k] = (await q(
    `INSERT INTO user_api_keys (user_id, label, exchange, api_key_enc, api_secret_enc, enc_key_id, api_key_last4, status, paper)
     VALUES ($1, 'Paper account', 'sim', 'x', 'x', 'k', 'abcd', 'valid', true) RETURNING id`,
    [u.id],
  )) as { id: string }[];
  const defs = Array.from({ length: N }, (_, i) => definition(i));
  await q(
    `WITH s AS (
       INSERT INTO strategies (user_id, api_key_id, name, symbol, interval, definition, status, active_version, activated_at)
       SELECT $1, $2, d->>'name', 'BTCUSDT', '1h', d, 'active', 1, now() FROM jsonb_array_elements($3::jsonb) AS d
       RETURNING id, definition)
     INSERT INTO strategy_versions (strategy_id, version, definition) SELECT id, 1, definition FROM s`,
    [u.id, k.id, JSON.stringify(defs)],
  );
}

/** Phase 1: 1,000 idle actors in this process, heap per actor against the bare strategy objects. */
async function memoryPhase(): Promise<{ perActor: number; perStrategy: number }> {
  const warm = candlesFrom(START - 200 * H, 200).map(strategyCandle);
  const before = gcHeap();
  let strategies: BaseStrategy[] | undefined = Array.from({ length: N }, (_, i) => {
    const s = compileStrategy(definition(i));
    const ctx = { now: 0, openPositions: 0, canEnter: false };
    for (const c of warm) s.onCandle(c, ctx);
    return s;
  });
  const perStrategy = (gcHeap() - before) / N;
  strategies.length = 0;
  strategies = undefined;

  const broker = new ServiceBroker(
    brokerConfig({ nodeID: "bench-memory", transporter: null, logLevel: "warn" }),
  );
  const with_ = (name: string, settings: Record<string, unknown>) => {
    const schema = loadServiceSchema(name);
    broker.createService({ ...schema, settings: { ...(schema.settings ?? {}), ...settings } });
  };
  with_("exchange-sim", { port: 0, step: true, from: SIM_FROM });
  with_("market-data", { watch: [], loadBundled: false, staleAfterMs: 0 });
  await broker.start();
  // market-data's own state for one subscribed series is not the actors'
  await broker.call(
    "market-data.candles",
    { symbol: "BTCUSDT", interval: "1h", limit: 1000 },
    {
      meta: { user: { id: 1, role: "user" } },
    },
  );
  const base = gcHeap();
  with_("strategy-runner", { settleMs: 0 });
  await until("1,000 actors running in process", async () => {
    const r: { instances: { state: string }[] } = await broker.call(
      "strategy-runner.instances",
      {},
      { caller: "repl" },
    );
    return r.instances.filter((i) => i.state === "running").length === N;
  });
  await new Promise((r) => setTimeout(r, 500));
  const perActor = (gcHeap() - base) / N;
  await broker.stop();
  return { perActor, perStrategy };
}

interface Proc {
  id: string;
  child: ChildProcess;
  health: number;
  exit: Promise<void>;
}

const logDir = process.env.BENCH_LOG_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), "aura-fanout-"));

/** Open time of the candle → the times of its decision lines, from the runners' logs. */
function decisionTimes(runners: Proc[]): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const r of runners) {
    const text = fs.readFileSync(path.join(logDir, `${r.id.slice(r.id.lastIndexOf("-") + 1)}.log`), "utf8");
    for (const line of text.split("\n")) {
      if (!line.includes('"strategy decision"')) continue;
      const j = JSON.parse(line) as { time: string | number; candleOpenTime: number };
      const t = typeof j.time === "number" ? j.time : Date.parse(j.time);
      const list = out.get(j.candleOpenTime);
      if (list) list.push(t);
      else out.set(j.candleOpenTime, [t]);
    }
  }
  return out;
}

async function spawnNode(
  ns: string,
  dbUrl: string,
  name: string,
  env: Record<string, string>,
): Promise<Proc> {
  const health = await freePort();
  const id = `${ns}-${name}`;
  const fullEnv: NodeJS.ProcessEnv = {
    ...process.env,
    TRANSPORTER: NATS,
    DATABASE_URL: dbUrl,
    AURA_NAMESPACE: ns,
    NODE_ID: id,
    HEALTH_PORT: String(health),
    LOG_LEVEL: "info",
    ...env,
  };
  // BENCH_PROF_DIR: CPU profiles of the runner processes
  const prof =
    process.env.BENCH_PROF_DIR && name.startsWith("runner")
      ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROF_DIR}`]
      : [];
  delete fullEnv.REDIS_URL;
  // every process's log lines go to a file: the runners' decision lines carry the time each
  // decision was recorded and logged, which the fan-out is measured to
  const out = fs.openSync(path.join(logDir, `${name}.log`), "w");
  const child = spawn(process.execPath, [...prof, path.join(ROOT, "bin/aura.js"), "start"], {
    cwd: ROOT,
    env: fullEnv,
    stdio: ["ignore", out, "inherit"],
  });
  return { id, child, health, exit: new Promise((r) => child.on("exit", () => r())) };
}

/** Fields 3 onwards of /proc/<pid>/stat (the command name in field 2 may hold spaces). */
function statFields(pid: number): string[] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** User plus system CPU time of a process so far, in ms (Linux; clock ticks of 10 ms). */
function processCpuMs(pid: number): number {
  const f = statFields(pid);
  return (Number(f[11]) + Number(f[12])) * 10;
}

/**
 * CPU time of the PostgreSQL server on this machine so far, in ms (Linux; 0 when the server is
 * elsewhere): its live processes, plus what its postmaster collected from backends that have
 * exited (a closed connection's backend is gone from /proc, its time is not).
 */
function postgresCpuMs(): number {
  let sum = 0;
  for (const pid of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (!isPostgres(Number(pid))) continue;
      const f = statFields(Number(pid));
      sum += (Number(f[11]) + Number(f[12])) * 10;
      // the postmaster (its parent is not postgres): children's time it has waited for
      if (!isPostgres(Number(f[1]))) sum += (Number(f[13]) + Number(f[14])) * 10;
    } catch {
      /* gone meanwhile */
    }
  }
  return sum;
}

function isPostgres(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "postgres";
  } catch {
    return false;
  }
}

const isReady = async (p: Proc) => (await fetch(`http://127.0.0.1:${p.health}/health/ready`)).status === 200;

async function main(): Promise<void> {
  let serverUrl = process.env.DATABASE_URL;
  let embedded: { stop(): Promise<void> } | undefined;
  if (!serverUrl) {
    const { startEmbeddedPostgres } =
      require("../src/adapters/storage/embedded") as typeof import("../src/adapters/storage/embedded");
    const pg = await startEmbeddedPostgres(path.join(os.tmpdir(), "aura-bench-pg"));
    embedded = pg;
    serverUrl = pg.url;
  }
  const name = `aura_bench_${crypto.randomBytes(4).toString("hex")}`;
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const dbUrl = url.toString();
  const db = await openDatabase({ databaseUrl: dbUrl, poolMax: 8 });
  setDatabase(db);
  const q = <T extends object>(sql: string, bind: unknown[] = []): Promise<T[]> =>
    db.sequelize.query<T>(sql, { bind, type: QueryTypes.SELECT });
  const procs: Proc[] = [];
  let helper: ServiceBroker | undefined;
  try {
    await seed(db.sequelize);
    const env = benchEnv({
      instances: N,
      runners: RUNNERS,
      candles: CANDLES,
      transport: "NATS, every process on this machine",
    });

    // 1. memory per idle actor
    const mem = await memoryPhase();
    emit(env, "strategy-idle-actor-memory", mem.perActor / 1024, mem.perStrategy / 1024, "KB/actor", {
      note: "heap per idle actor (warmed, subscribed) vs the bare compiled and warmed strategy object",
    });
    await q(`DELETE FROM strategy_leases`);

    // 2. come-up: market-data + simulator node, then 3 runner processes with the instances active
    const ns = `aura-bench-${crypto.randomBytes(3).toString("hex")}`;
    helper = new ServiceBroker({
      namespace: ns,
      nodeID: `${ns}-bench`,
      transporter: { type: "NATS", options: { url: NATS } },
      logger: false,
      requestTimeout: 5000,
    });
    helper.createService({
      name: "execution",
      actions: {
        submit: (ctx: { params: { intentId: string } }) => ({
          intentId: ctx.params.intentId,
          status: "accepted",
          repeated: false,
        }),
      },
    });
    await helper.start();
    const md = await spawnNode(ns, dbUrl, "market", {
      SERVICES: "market-data,exchange-sim",
      SIM_STEP: "true",
      SIM_PORT: String(await freePort()),
      SIM_FROM,
      MARKET_DATA_WATCH: "none",
    });
    procs.push(md);
    await until("market-data ready", () => isReady(md));

    const t0 = Date.now();
    const runners: Proc[] = [];
    for (let i = 1; i <= RUNNERS; i++)
      runners.push(await spawnNode(ns, dbUrl, `runner${i}`, { SERVICES: "strategy-runner" }));
    procs.push(...runners);
    await until(
      "runners ready",
      async () => (await Promise.all(runners.map(isReady))).every(Boolean),
      120_000,
      10,
    );
    const tReady = Date.now();
    const running = async () => {
      const counts = await Promise.all(
        runners.map(async (r) => {
          const res: { instances: { state: string }[] } = await helper!.call(
            "strategy-runner.instances",
            {},
            { nodeID: r.id, caller: "repl" },
          );
          return res.instances.filter((i) => i.state === "running").length;
        }),
      );
      return counts.reduce((a, b) => a + b, 0) === N && counts;
    };
    const spread = await until("1,000 instances running", running, 120_000, 20);
    const tRunning = Date.now();

    const live = candlesFrom(START, CANDLES + 1);
    // the rows written since a candle was sent are found through the primary key: a scan of the
    // whole log on every poll would itself load the database the runners are waiting for
    const newestId = async () =>
      Number((await q<{ id: string | null }>(`SELECT max(id) AS id FROM strategy_decisions`))[0].id ?? 0);
    let since = 0;
    const decided = async (c: MarketCandle) => {
      const [r] = await q<{ n: string }>(
        `SELECT count(*) AS n FROM strategy_decisions
          WHERE id > $2 AND kind = 'decision' AND candle_open_time = $1`,
        [c.openTime, since],
      );
      return Number(r.n) === N;
    };
    await helper.broadcast("market.candle.closed", { symbol: "BTCUSDT", interval: "1h", candle: live[0] });
    await until("the first candle decided by all", () => decided(live[0]), 60_000, 10);
    const tDeciding = Date.now();

    // 3. fan-out, in the steady state: every actor's subscription is stored
    await until("every actor subscribed", async () => {
      const counts = await Promise.all(
        runners.map(async (r) => {
          const res: { instances: { subscribed: boolean }[] } = await helper!.call(
            "strategy-runner.instances",
            {},
            { nodeID: r.id, caller: "repl" },
          );
          return res.instances.filter((i) => i.subscribed).length;
        }),
      );
      return counts.reduce((a, b) => a + b, 0) === N;
    });
    const tSubscribed = Date.now();
    emit(env, "strategy-come-up", tRunning - t0, tReady - t0, "ms", {
      note: "spawn of 3 runner processes → 1,000 instances running, vs spawn → the 3 processes ready",
      readyToRunningMs: tRunning - tReady,
      spawnToFirstCandleDecidedMs: tDeciding - t0,
      spawnToAllSubscribedMs: tSubscribed - t0,
      perRunner: spread,
    });
    // broadcast → last decision recorded and logged, per candle
    const sentAt = new Map<number, number>();
    // CPU the runners spend over the fan-out phase (user + system, from /proc), per candle: less
    // at the mercy of scheduling on a shared machine than the latencies
    const runnersCpu = () => runners.reduce((sum, r) => sum + processCpuMs(r.child.pid!), 0);
    // what the runners and the database spend with no candle at all (lease renewals, heartbeats,
    // health snapshots), per ms, to tell the candles' own cost apart
    const IDLE_MS = 3000;
    const idle0 = { runners: runnersCpu(), pg: postgresCpuMs(), at: Date.now() };
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const idleSpan = Date.now() - idle0.at;
    const idleRate = {
      runners: (runnersCpu() - idle0.runners) / idleSpan,
      pg: (postgresCpuMs() - idle0.pg) / idleSpan,
    };
    const cpuBefore = runnersCpu();
    const pgBefore = postgresCpuMs();
    const phaseStart = Date.now();
    /** broadcast → the last decision row written (the database clock, inside the recording statement) */
    const written: number[] = [];
    for (const c of live.slice(1)) {
      await new Promise((r) => setTimeout(r, 200));
      since = await newestId();
      const sent = Date.now();
      sentAt.set(c.openTime, sent);
      await helper.broadcast("market.candle.closed", { symbol: "BTCUSDT", interval: "1h", candle: c });
      await until(`candle ${new Date(c.openTime).toISOString()} decided`, () => decided(c), 60_000, 25);
      const [w] = await q<{ ms: number }>(
        `SELECT max(extract(epoch FROM time) * 1000) AS ms FROM strategy_decisions
          WHERE id > $2 AND kind = 'decision' AND candle_open_time = $1`,
        [c.openTime, since],
      );
      written.push(Number(w.ms) - sent);
    }
    const phaseMs = Date.now() - phaseStart;
    const cpuPerCandle = (runnersCpu() - cpuBefore) / sentAt.size;
    const pgPerCandle = (postgresCpuMs() - pgBefore) / sentAt.size;
    const idlePerCandle = {
      runners: (idleRate.runners * phaseMs) / sentAt.size,
      pg: (idleRate.pg * phaseMs) / sentAt.size,
    };
    await new Promise((r) => setTimeout(r, 500));
    const logged = decisionTimes(runners);
    const lastLatency: number[] = [];
    const all: number[] = [];
    for (const [candle, sent] of sentAt) {
      const lat = (logged.get(candle) ?? []).map((t) => t - sent);
      if (lat.length !== N)
        throw new Error(`${lat.length} decision lines for ${new Date(candle).toISOString()}`);
      lastLatency.push(Math.max(...lat));
      all.push(...lat);
    }

    // the ceiling: the same strategy objects deciding the same candles in one loop (a first pass
    // over fresh objects lets the JIT settle)
    const warm = candlesFrom(START - 200 * H, 200).map(strategyCandle);
    const build = () =>
      Array.from({ length: N }, (_, i) => {
        const s = compileStrategy(definition(i));
        const ctx = { now: 0, openPositions: 0, canEnter: false };
        for (const c of warm) s.onCandle(c, ctx);
        return { s, state: { seen: 200 } as LiveState };
      });
    const pass = (objs: { s: BaseStrategy; state: LiveState }[]) =>
      live.map((mc) => {
        const c = strategyCandle(mc);
        const t = process.hrtime.bigint();
        for (const o of objs) decide(o.s, o.state, c, { open: 0 }, H, false);
        return Number(process.hrtime.bigint() - t) / 1e6;
      });
    pass(build());
    const loops = pass(build());
    const ceiling = loops.slice(1);
    emit(env, "strategy-fanout-p50", pct(lastLatency, 50), pct(ceiling, 50), "ms", {
      note: "broadcast → the last of 1,000 decisions recorded and logged, vs 1,000 decide() calls in one loop",
      perDecisionP50: pct(all, 50),
      lastRowWrittenP50: pct(written, 50),
      runnersCpuMsPerCandle: Math.round(cpuPerCandle * 10) / 10,
      postgresCpuMsPerCandle: Math.round(pgPerCandle * 10) / 10,
      // of which the same span without candles would have cost
      idleCpuMsPerCandle: {
        runners: Math.round(idlePerCandle.runners * 10) / 10,
        postgres: Math.round(idlePerCandle.pg * 10) / 10,
      },
    });
    emit(env, "strategy-fanout-p99", pct(lastLatency, 99), pct(ceiling, 99), "ms", {
      perDecisionP99: pct(all, 99),
      lastRowWrittenP99: pct(written, 99),
    });

    // 4. the decision log alone: the runners stopped, the same 1,000 records per candle (the last
    // candle's, as the actors wrote them) written through the runners' fenced batch statement in
    // three runner-sized batches. Its PostgreSQL CPU is the part of a candle's cost that stays
    // whatever the runners do, beside the PostgreSQL CPU per candle of the fan-out above.
    for (const r of runners) r.child.kill("SIGTERM");
    await Promise.all(runners.map((r) => r.exit));
    const node = "bench-rows";
    const ids = (await q<{ id: string }>(`SELECT id FROM strategies ORDER BY id`)).map((r) => Number(r.id));
    const leases = await until("the leases handed back", async () => {
      const won = await new LeaseStore(db.sequelize, node).claim(ids, 3_600_000);
      return won.length === N && won;
    });
    const tokens = new Map(leases.map((l) => [l.id, l.token]));
    const last = live[live.length - 1];
    const model = await q<{
      strategy_id: string;
      user_id: string;
      action: string;
      message: string;
      data: Record<string, unknown>;
    }>(
      `SELECT strategy_id, user_id, action, message, data FROM strategy_decisions
        WHERE kind = 'decision' AND candle_open_time = $1 ORDER BY strategy_id`,
      [last.openTime],
    );
    const logs = Array.from({ length: RUNNERS }, () => new DecisionLog(db.sequelize, node));
    const ROW_CANDLES = 20;
    const rowsWall: number[] = [];
    const pgRows0 = postgresCpuMs();
    for (let k = 1; k <= ROW_CANDLES; k++) {
      const candleOpenTime = last.openTime + k * H;
      const t = performance.now();
      const outcomes = await Promise.all(
        model.map((m, i) =>
          logs[i % RUNNERS].record({
            kind: "decision",
            strategyId: Number(m.strategy_id),
            userId: Number(m.user_id),
            fencingToken: tokens.get(Number(m.strategy_id))!,
            candleOpenTime,
            action: m.action,
            message: m.message,
            data: m.data,
          }),
        ),
      );
      rowsWall.push(performance.now() - t);
      if (outcomes.some((o) => o !== "recorded")) throw new Error("a decision row was not recorded");
    }
    emit(env, "strategy-decision-rows-pg-cpu", (postgresCpuMs() - pgRows0) / ROW_CANDLES, pgPerCandle, "ms", {
      note: "PostgreSQL CPU per candle for the 1,000 fenced decision rows alone vs PostgreSQL CPU per candle of the fan-out",
      rows: model.length,
      wallP50: pct(rowsWall, 50),
    });
  } finally {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill("SIGTERM");
    await Promise.all(procs.map((p) => Promise.race([p.exit, new Promise((r) => setTimeout(r, 15_000))])));
    await helper?.stop();
    await closeDatabase();
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
    await embedded?.stop();
    if (!process.env.BENCH_LOG_DIR) fs.rmSync(logDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
