// Market data without a single point of failure, with real processes over a real NATS: two
// `aura start` processes run market-data against one database and one stepped simulator (hosted
// by this test). This process joins the cluster, subscribes to a series and records every
// `market.candle.closed`. The node that owns the stream is killed with SIGKILL; the other must take
// the stream over within the lease expiry + 5 s and back-fill, so that the recorded candles are
// strictly consecutive: no open time missing, none repeated.
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import path from "node:path";
import { ServiceBroker } from "moleculer";
import { QueryTypes } from "sequelize";
import { bundledSeries } from "../../src/adapters/klines/files";
import { candleFromRow, type MarketCandle, type RawKlineRow } from "../../src/core/market/events";
import { createSimulator, type Simulator } from "../../src/sim";
import { createTestDatabase, type TestDatabase } from "../support/db";
import { NATS_URL, requireServers } from "../support/servers";

jest.setTimeout(100_000);
const ROOT = path.resolve(__dirname, "../..");
const TTL = 3000;
const H = 3_600_000;
const FROM = Date.parse("2023-03-20T00:00:00Z");

let available = false;
let db: TestDatabase | undefined;
let sim: Simulator | undefined;
let broker: ServiceBroker | undefined;
const children: ChildProcess[] = [];
const ns = `aura-md-${crypto.randomBytes(3).toString("hex")}`;
const recorded: MarketCandle[] = [];

beforeAll(async () => {
  available = await requireServers(["nats"], "market-data failover suite");
  if (!available) return;
  db = await createTestDatabase({ install: false });
  sim = await createSimulator({ step: true, from: "2023-03-20T00:00:00Z" });
  await sim.listen(0);
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await broker?.stop();
  await sim?.close();
  await db?.drop();
});

interface Node {
  id: string;
  child: ChildProcess;
  output(): string;
}

function startNode(id: string): Node {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TRANSPORTER: NATS_URL,
    AURA_NAMESPACE: ns,
    NODE_ID: id,
    DATABASE_URL: db!.url,
    SERVICES: "market-data",
    SIM_URL: sim!.baseUrl,
    MARKET_STREAM_LEASE_TTL_MS: String(TTL),
    MARKET_DATA_WATCH: "none",
    MARKET_DATA_BUNDLED: "false",
    MARKET_DATA_STALE_MS: "0",
    LOG_LEVEL: "info",
    HOST: "127.0.0.1",
  };
  for (const k of ["REDIS_URL", "PORT", "HEALTH_PORT", "METRICS_PORT", "EXCHANGE"]) delete env[k];
  const child = spawn(process.execPath, [path.join(ROOT, "bin/aura.js"), "start"], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  children.push(child);
  return { id, child, output: () => out };
}

async function waitFor<T>(read: () => T | Promise<T>, ok: (v: T) => boolean, what: string, ms: number) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function lease(): Promise<{ owner: string | null; token: number; expires: number | null } | undefined> {
  const rows = await db!.sequelize.query<{ owner: string | null; token: number; expires: string | null }>(
    `SELECT owner_node AS owner, fencing_token::int AS token,
            (extract(epoch FROM expires_at) * 1000)::bigint AS expires
       FROM market_streams WHERE symbol = 'BTCUSDT' AND interval = '1h'`,
    { type: QueryTypes.SELECT },
  );
  const r = rows[0];
  return r && { owner: r.owner, token: r.token, expires: r.expires === null ? null : Number(r.expires) };
}

async function stored(): Promise<number> {
  const rows = await db!.sequelize.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM klines WHERE symbol = 'BTCUSDT' AND interval = '1h' AND open_time >= $1`,
    { bind: [FROM], type: QueryTypes.SELECT },
  );
  return rows[0].n;
}

test("killing the node that streams a series: the other takes over within expiry + 5 s, and no candle is lost or repeated", async () => {
  if (!available) return;
  const nodes = [startNode(`${ns}-md1`), startNode(`${ns}-md2`)];
  broker = new ServiceBroker({
    namespace: ns,
    nodeID: `${ns}-test`,
    transporter: { type: "NATS", options: { url: NATS_URL } },
    logger: false,
  });
  broker.createService({
    name: "failover-recorder",
    events: {
      "market.candle.closed"(ctx: any) {
        if (ctx.params.symbol === "BTCUSDT" && ctx.params.interval === "1h") recorded.push(ctx.params.candle);
      },
    },
  });
  await broker.start();
  try {
    await broker.waitForServices(["market-data"], 60_000, 100);
    // both market-data nodes are up and know this node (so its listener receives their broadcasts)
    const mdNodes = () =>
      broker!.registry
        .getServiceList({ onlyAvailable: true, skipInternal: true })
        .filter((s) => s.name === "market-data")
        .map((s) => s.nodeID);
    await waitFor(mdNodes, (ids) => ids.length === 2, "both market-data nodes", 60_000);
    for (const n of nodes) {
      await waitFor(
        async () =>
          ((await broker!.call("$node.list", {}, { nodeID: n.id })) as { id: string }[]).map((x) => x.id),
        (ids) => ids.includes(broker!.nodeID),
        `${n.id} to discover the test node`,
        10_000,
      );
    }
  } catch (e) {
    for (const n of nodes) process.stderr.write(`--- ${n.id}\n${n.output().slice(-3000)}\n`);
    throw e;
  }

  const sub: any = await broker.call(
    "market-data.subscribe",
    { symbol: "BTCUSDT", interval: "1h", subscriber: "failover-test" },
    { caller: "repl" },
  );
  expect(sub).toMatchObject({ subscribers: 1, live: true });

  let stepped = 0;
  const step = () => {
    sim!.clock.advance({ candles: 1 });
    stepped++;
  };
  for (let i = 0; i < 3; i++) {
    step();
    await waitFor(
      () => recorded.length,
      (n) => n === stepped,
      `candle ${stepped}`,
      10_000,
    );
  }
  // everything published is stored, so the kill falls between candles
  await waitFor(stored, (n) => n === 3, "3 stored candles", 10_000);

  const before = (await lease())!;
  const victim = nodes.find((n) => n.id === before.owner)!;
  const survivor = nodes.find((n) => n !== victim)!;
  expect(victim).toBeDefined();
  victim.child.kill("SIGKILL");
  const killedAt = Date.now();
  const expiry = before.expires!;
  const steppedBefore = stepped;

  // keep the market moving while nobody streams it; look for the take-over every 100 ms
  let taken: Awaited<ReturnType<typeof lease>>;
  const deadline = expiry + 5000;
  for (let i = 0; ; i++) {
    if (i % 4 === 0) step();
    await new Promise((r) => setTimeout(r, 100));
    taken = await lease();
    if (taken?.owner === survivor.id) break;
    if (Date.now() > deadline + 2000) break;
  }
  const takenAt = Date.now();
  process.stdout.write(
    `market-data failover: ${survivor.id} took the stream over ${takenAt - killedAt} ms after the kill ` +
      `(lease expired ${expiry - killedAt} ms after it); ${stepped - steppedBefore} candles closed meanwhile\n`,
  );
  expect(taken!.owner).toBe(survivor.id);
  // candles closed while nobody streamed: they must come from the back-fill
  expect(stepped - steppedBefore).toBeGreaterThan(1);
  expect(taken!.token).toBeGreaterThan(before.token);
  // seen at most one poll (and its query) after the take-over itself
  expect(takenAt).toBeLessThanOrEqual(deadline + 500);

  // the back-fill comes with the next live kline, once the survivor's stream is subscribed upstream
  // (a stepped simulator pushes only when its clock moves); then a few more candles
  let after = 0;
  while (after < 3 || recorded.length < stepped) {
    if (after >= 12) {
      process.stderr.write(`--- ${survivor.id}\n${survivor.output().slice(-4000)}\n`);
      throw new Error(`${recorded.length} of ${stepped} candles recorded after the take-over`);
    }
    step();
    after++;
    await waitFor(
      () => recorded.length,
      (n) => n >= stepped,
      `candle ${stepped}`,
      3000,
    ).catch(() => {});
  }
  // nothing late arrives either
  await new Promise((r) => setTimeout(r, 500));

  const times = recorded.map((c) => c.openTime);
  expect(times).toEqual(Array.from({ length: stepped }, (_, i) => FROM + i * H));
  const rows = bundledSeries("BTCUSDT", "1h").filter((r) => r[0] >= FROM && r[0] < FROM + stepped * H);
  expect(recorded).toEqual(rows.map((r) => candleFromRow(r as unknown as RawKlineRow)));

  survivor.child.kill("SIGTERM");
  await new Promise((r) => survivor.child.once("exit", r));
});
