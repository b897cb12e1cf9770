// History and portfolio under load.
//  1. The trades page (GET /api/v1/trades: keyset page of 100 with filters, behind a cursor at a
//     random depth) at 1,000,000 trades of one user: the history service's action against the very
//     same SQL run bare on its own pg connection, interleaved in the same run. Target: p99 < 30 ms
//     and ≤ 1.5× the bare SQL. Also the same pages over HTTP through the gateway, for reference.
//  2. GET /api/v1/portfolio for a user with 20 open positions on simulator accounts: requests per
//     second answered from the cache against every request computed afresh (balances and prices
//     read from the venue, positions, P&L and fees from the database).
// Run: node --expose-gc --import tsx bench/history.ts [trades] [samples]
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { ServiceBroker } from "moleculer";
import { benchEnv, emit } from "./lib";

const TRADES = Number(process.argv[2] ?? 1_000_000);
const SAMPLES = Number(process.argv[3] ?? 400);
const PORTFOLIO_SECONDS = 5;

process.env.JWT_SECRET ??= crypto.randomBytes(48).toString("base64");
process.env.AURA_MASTER_KEY ??= crypto.randomBytes(32).toString("base64");
process.env.LOG_LEVEL ??= "warn";

const env = benchEnv({
  trades: TRADES,
  samples: SAMPLES,
  transport: "one process: gateway, services and pg clients; PostgreSQL over loopback",
});

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function main(): Promise<void> {
  const { startEmbeddedPostgres } =
    require("../src/adapters/storage/embedded") as typeof import("../src/adapters/storage/embedded");
  const { openDatabase, setDatabase } =
    require("../src/adapters/storage/database") as typeof import("../src/adapters/storage/database");
  const { brokerConfig, loadServiceSchema } =
    require("../src/runtime/runner") as typeof import("../src/runtime/runner");
  const { insertApiKey } =
    require("../src/adapters/auth/api-keys") as typeof import("../src/adapters/auth/api-keys");
  const { KeyRing } = require("../src/adapters/crypto/aead") as typeof import("../src/adapters/crypto/aead");
  const { HistoryStore } =
    require("../src/adapters/history/store") as typeof import("../src/adapters/history/store");
  const { encodeCursor } =
    require("../src/adapters/history/cursor") as typeof import("../src/adapters/history/cursor");
  const { loadSecrets } = require("../src/runtime/secrets") as typeof import("../src/runtime/secrets");

  let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  let dir: string | undefined;
  let url = process.env.DATABASE_URL;
  if (!url) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "aura-bench-history-"));
    embedded = await startEmbeddedPostgres(dir);
    url = embedded.url;
  }
  const dbName = `aura_bench_${crypto.randomBytes(4).toString("hex")}`;
  const { Client } = require("pg") as typeof import("pg");
  const admin = new Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${dbName}"`);
  const u = new URL(url);
  u.pathname = `/${dbName}`;
  const db = await openDatabase({ databaseUrl: u.toString() });
  setDatabase(db);
  const bare = new Client({ connectionString: u.toString() });
  await bare.connect();

  const broker = new ServiceBroker({ ...brokerConfig({ logLevel: "warn" }), nodeID: `bench-${process.pid}` });
  for (const name of ["api", "auth", "history", "portfolio", "exchange-sim"]) {
    const schema = loadServiceSchema(name);
    const extra =
      name === "api"
        ? {
            port: 0,
            ip: "127.0.0.1",
            rateLimits: { ipPerMinute: 1e9, userPerMinute: 1e9, credentialsPerMinute: 1e9 },
          }
        : name === "exchange-sim"
          ? { port: 0, step: true }
          : name === "portfolio"
            ? { snapshotIntervalMs: 0 }
            : {};
    broker.createService({ ...schema, settings: { ...(schema.settings ?? {}), ...extra } });
  }
  await broker.start();
  try {
    const info = await broker.call<{ baseUrl: string }, Record<string, never>>(
      "exchange-sim.info",
      {},
      {
        caller: "repl",
      },
    );
    process.env.SIM_URL = info.baseUrl;
    const api: any = broker.getLocalService("api");
    const baseUrl = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
    const email = `bench-${crypto.randomUUID()}@example.com`;
    const password = "a long benchmark passphrase";
    const post = (p: string, body: unknown) =>
      fetch(baseUrl + p, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const reg = (await (await post("/api/v1/auth/register", { email, password })).json()) as any;
    const userId = Number(reg.user.id);
    const login = (await (await post("/api/v1/auth/login", { email, password })).json()) as any;
    const auth = { authorization: `Bearer ${login.accessToken}` };
    const meta = { user: { id: userId, role: "user" } };

    const secrets = loadSecrets();
    const ring = new KeyRing(secrets.masterKey, secrets.oldMasterKeys);
    const keys: number[] = [];
    for (const paper of [true, false]) {
      const acc = await broker.call<{ apiKey: string; secretKey: string }, Record<string, unknown>>(
        "exchange-sim.createAccount",
        { balances: { USDT: "100000", BTC: "1.5", ETH: "12" } },
        { caller: "repl" },
      );
      const row = await insertApiKey(db.sequelize, ring, {
        userId,
        label: paper ? "Paper account" : "live",
        exchange: "sim",
        apiKey: acc.apiKey,
        apiSecret: acc.secretKey,
        status: "valid",
        statusReason: null,
        permissions: { spotTrading: true },
        validatedAt: new Date(),
        paper,
      });
      keys.push(Number(row.id));
    }
    const strategies: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [r] = (await db.sequelize.query(
        `INSERT INTO strategies (user_id, api_key_id, name, symbol, interval, definition) VALUES ($1, $2, $3, 'BTCUSDT', '1h', '{}') RETURNING id`,
        { bind: [userId, keys[i % 2], `bench-${i}`] },
      )) as [{ id: string }[], unknown];
      strategies.push(Number(r[0].id));
    }

    // ---------------------------------------------------------------- 1,000,000 trades, one statement
    const t0 = Date.now();
    await db.sequelize.query(
      `INSERT INTO trades (user_id, strategy_id, api_key_id, symbol, side, qty, entry_time, entry_price, exit_time,
                           exit_price, fees, pnl, exit_reason)
       SELECT $1, ($2::bigint[])[1 + (g % 4)], ($3::bigint[])[1 + ((g / 7) % 2)],
              (ARRAY['BTCUSDT', 'ETHUSDT', 'SOLUSDT'])[1 + ((g / 3) % 3)], 'LONG', 0.001 * (1 + g % 13),
              to_timestamp(($4::bigint - g::bigint * 30000 - 3600000) / 1000.0), 20000 + g % 1000,
              to_timestamp(($4::bigint - g::bigint * 30000) / 1000.0), 20000 + g % 1000 + (g % 97) - 48,
              0.02 * (1 + g % 5), (g % 10000) / 100.0 - 50,
              (ARRAY['take_profit', 'stop_loss', 'signal'])[1 + ((g / 11) % 3)]
         FROM generate_series(0, $5::int - 1) g`,
      { bind: [userId, strategies, keys, Date.now(), TRADES] },
    );
    await db.sequelize.query("VACUUM ANALYZE trades");
    process.stderr.write(`seeded ${TRADES} trades in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

    // cursors at random depths
    const [depths] = (await db.sequelize.query(
      `SELECT to_char(exit_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t, id::text AS id
         FROM trades WHERE user_id = $1 ORDER BY random() LIMIT 500`,
      { bind: [userId] },
    )) as [{ t: string; id: string }[], unknown];
    const DAY = 86_400_000;
    const now = Date.now();
    const filterSets: Record<string, unknown>[] = [
      {},
      { symbol: "ETHUSDT" },
      { strategyId: strategies[1], mode: "live" },
      { exitReason: "stop_loss", minPnl: "-20", maxPnl: "10" },
      { from: now - 200 * DAY, to: now - 2 * DAY, mode: "paper", symbol: "BTCUSDT" },
    ];
    const store = new HistoryStore(db.sequelize);
    const oursMs: number[] = [];
    const bareMs: number[] = [];
    const httpMs: number[] = [];
    for (let i = 0; i < SAMPLES + 40; i++) {
      const f = filterSets[i % filterSets.length];
      const c = depths[i % depths.length];
      const cursor = encodeCursor({ t: c.t, id: c.id });
      const qy = await store.tradePageQuery(userId, f as any, 100, { t: c.t, id: c.id });
      const order = i % 2;
      for (const which of order ? ["bare", "ours", "http"] : ["ours", "bare", "http"]) {
        const s = process.hrtime.bigint();
        if (which === "ours") await broker.call("history.trades", { ...f, cursor, limit: 100 }, { meta });
        else if (which === "bare") await bare.query(qy.sql, qy.bind);
        else {
          const qs = new URLSearchParams(
            Object.entries({ ...f, cursor, limit: 100 }).map(([k, v]): [string, string] => [k, String(v)]),
          );
          const res = await fetch(`${baseUrl}/api/v1/trades?${qs}`, { headers: auth });
          await res.arrayBuffer();
        }
        const ms = Number(process.hrtime.bigint() - s) / 1e6;
        if (i < 40) continue; // warm-up
        (which === "ours" ? oursMs : which === "bare" ? bareMs : httpMs).push(ms);
      }
    }
    const plan = await bare.query(
      `EXPLAIN ${(await store.tradePageQuery(userId, filterSets[2] as any, 100, depths[0])).sql}`,
      (await store.tradePageQuery(userId, filterSets[2] as any, 100, depths[0])).bind,
    );
    const usesIndex = plan.rows.map((r: Record<string, string>) => r["QUERY PLAN"]).join("\n");
    emit(env, "history_page_p50", pct(oursMs, 50), pct(bareMs, 50), "ms", { http_p50: pct(httpMs, 50) });
    emit(env, "history_page_p99", pct(oursMs, 99), pct(bareMs, 99), "ms", {
      http_p99: pct(httpMs, 99),
      target: "p99 < 30 ms and ≤ 1.5× bare SQL",
      seqScan: /Seq Scan/.test(usesIndex),
    });
    const totals0 = process.hrtime.bigint();
    await broker.call("history.trades", { limit: 100 }, { meta });
    process.stderr.write(
      `first page with totals over all ${TRADES} trades: ${(Number(process.hrtime.bigint() - totals0) / 1e6).toFixed(1)} ms\n`,
    );

    // ---------------------------------------------------------------- portfolio, 20 open positions
    await db.sequelize.query(
      `INSERT INTO positions (user_id, strategy_id, api_key_id, symbol, qty, entry_price, entry_fees, opened_at, protection)
       SELECT $1, ($2::bigint[])[1 + (g % 4)], ($3::bigint[])[1 + (g % 2)],
              CASE WHEN g % 2 = 0 THEN 'BTCUSDT' ELSE 'ETHUSDT' END, 0.01 * g, 20000 + g, 0.1, now(), 'protected'
         FROM generate_series(1, 20) g`,
      { bind: [userId, strategies, keys] },
    );
    const svc: any = broker.getLocalService("portfolio");
    const load = async (seconds: number, concurrency: number) => {
      let n = 0;
      const end = Date.now() + seconds * 1000;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (Date.now() < end) {
            const res = await fetch(`${baseUrl}/api/v1/portfolio`, { headers: auth });
            if (res.status !== 200) throw new Error(`portfolio answered ${res.status}`);
            await res.arrayBuffer();
            n++;
          }
        }),
      );
      return n / seconds;
    };
    const first = (await (await fetch(`${baseUrl}/api/v1/portfolio`, { headers: auth })).json()) as any;
    if (first.positions.length !== 20 || !first.complete) throw new Error("portfolio fixture incomplete");
    await load(1, 8);
    const cachedRps = await load(PORTFOLIO_SECONDS, 8);
    const original = svc.cached;
    svc.cached = (_k: string, _t: number, compute: () => Promise<unknown>) => compute();
    await load(1, 8);
    const uncachedRps = await load(PORTFOLIO_SECONDS, 8);
    svc.cached = original;
    emit(env, "portfolio_rps_cached_vs_uncached", cachedRps, uncachedRps, "req/s", {
      positions: 20,
      connections: 8,
    });
  } finally {
    await broker.stop();
    await bare.end();
    await db.close();
    await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    if (embedded) await embedded.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
