// History over the API: keyset pages over 50,000 seeded trades under random filters while trades
// keep arriving, index use of the page query, totals, orders and logs, owner scoping, and the
// exports (CSV parsed back to the API's rows, formula cells neutralised, a PDF read back with
// pdftotext, a 100,000-row CSV streamed within a bounded heap).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { HistoryStore } from "../../../src/adapters/history/store";
import {
  http,
  registerAndLogin,
  startSecurityEnv,
  type SecurityEnv,
  type Session,
} from "../security/helpers";
import { addKey, addStrategy, parseCsv, q, seedTrades } from "./support";

jest.setTimeout(300_000);

let env: SecurityEnv;
let base: string;
let a: Session;
let b: Session;
let aLive: number;
let aPaper: number;
let aStrategies: number[];
let bStrategy: number;
const N = 50_000;

beforeAll(async () => {
  env = await startSecurityEnv({ services: ["api", "auth", "history"] });
  base = env.cluster.baseUrl;
  a = await registerAndLogin(base);
  b = await registerAndLogin(base);
  const s = env.db.sequelize;
  aLive = await addKey(s, a.id);
  aPaper = await addKey(s, a.id, { paper: true });
  aStrategies = [
    await addStrategy(s, a.id, aLive, "alpha"),
    await addStrategy(s, a.id, aPaper, '=HYPERLINK("http://x")'),
    await addStrategy(s, a.id, aLive, 'gamma, "quoted"'),
  ];
  const bKey = await addKey(s, b.id, { paper: true });
  bStrategy = await addStrategy(s, b.id, bKey, "victim-strategy");
  await seedTrades(s, { userId: a.id, n: N, strategies: [...aStrategies, null], keys: [aLive, aPaper] });
  await seedTrades(s, {
    userId: b.id,
    n: 500,
    strategies: [bStrategy],
    keys: [bKey],
    reasons: ["victim_reason"],
  });
  await s.query("ANALYZE trades");
});

afterAll(async () => {
  await env?.stop();
});

type Filters = Record<string, string | number>;

function qs(f: Filters): string {
  const p = new URLSearchParams(Object.entries(f).map(([k, v]): [string, string] => [k, String(v)]));
  const s = p.toString();
  return s ? `?${s}` : "";
}

/** Every row the filters match, as SQL sees them now (ids, newest first). */
async function expectedIds(userId: number, f: Filters): Promise<string[]> {
  const w = ["user_id = $1"];
  const bind: unknown[] = [userId];
  const add = (sql: string, v: unknown) => {
    bind.push(v);
    w.push(sql.replace("?", `$${bind.length}`));
  };
  if (f.from !== undefined) add("exit_time >= to_timestamp(?::float8 / 1000)", f.from);
  if (f.to !== undefined) add("exit_time < to_timestamp(?::float8 / 1000)", f.to);
  if (f.symbol !== undefined) add("symbol = ?", f.symbol);
  if (f.strategyId !== undefined) add("strategy_id = ?", f.strategyId);
  if (f.exitReason !== undefined) add("exit_reason = ?", f.exitReason);
  if (f.mode !== undefined) add("api_key_id = ?", f.mode === "paper" ? aPaper : aLive);
  if (f.minPnl !== undefined) add("pnl >= ?::numeric", f.minPnl);
  if (f.maxPnl !== undefined) add("pnl <= ?::numeric", f.maxPnl);
  const rows = await q<{ id: string }>(
    env.db.sequelize,
    `SELECT id FROM trades WHERE ${w.join(" AND ")} ORDER BY exit_time DESC, id DESC`,
    bind,
  );
  return rows.map((r) => String(r.id));
}

async function walk(s: Session, f: Filters, limit: number) {
  const items: any[] = [];
  let cursor: string | null = null;
  let first: any;
  for (;;) {
    const res: any = await http(base, "GET", `/trades${qs({ ...f, limit, ...(cursor ? { cursor } : {}) })}`, {
      token: s.accessToken,
    });
    expect(res.status).toBe(200);
    first ??= res.body;
    items.push(...res.body.items);
    cursor = res.body.nextCursor;
    if (!cursor) break;
  }
  return { items, totals: first.totals };
}

const DAY = 86_400_000;
const filtersArb = fc.record(
  {
    symbol: fc.constantFrom("BTCUSDT", "ETHUSDT"),
    strategyIdx: fc.integer({ min: 0, max: 2 }),
    exitReason: fc.constantFrom("take_profit", "stop_loss", "signal"),
    mode: fc.constantFrom("live", "paper"),
    minPnl: fc.integer({ min: -50, max: 0 }).map(String),
    maxPnl: fc.integer({ min: 1, max: 50 }).map((x) => `${x}.5`),
    fromDays: fc.integer({ min: 5, max: 40 }),
  },
  { requiredKeys: [] },
);

describe("trades pages", () => {
  test("walking every page under random filters returns each matching row once, in order, while trades arrive", async () => {
    const samples = fc.sample(fc.tuple(filtersArb, fc.integer({ min: 40, max: 500 })), {
      numRuns: 6,
      seed: 4242,
    });
    for (const [raw, limit] of samples) {
      const f: Filters = {};
      if (raw.symbol) f.symbol = raw.symbol;
      if (raw.strategyIdx !== undefined) f.strategyId = aStrategies[raw.strategyIdx];
      if (raw.exitReason) f.exitReason = raw.exitReason;
      if (raw.mode) f.mode = raw.mode;
      if (raw.minPnl) f.minPnl = raw.minPnl;
      if (raw.maxPnl) f.maxPnl = raw.maxPnl;
      if (raw.fromDays) f.from = Date.now() - raw.fromDays * DAY;
      const expected = await expectedIds(a.id, f);
      const [{ max }] = await q<{ max: string }>(env.db.sequelize, `SELECT max(id)::text AS max FROM trades`);
      // trades keep arriving while the pages are walked: newer ones, and some older than the cursor
      let inserting = true;
      const writer = (async () => {
        let i = 0;
        while (inserting) {
          await seedTrades(env.db.sequelize, {
            userId: a.id,
            n: 5,
            strategies: aStrategies,
            keys: [aLive, aPaper],
            endMs: i++ % 2 ? Date.now() : Date.now() - 20 * DAY,
          });
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const { items, totals } = await walk(a, f, limit);
      inserting = false;
      await writer;
      const ids = items.map((t) => String(t.id));
      expect(new Set(ids).size).toBe(ids.length);
      const got = new Set(ids);
      const missing = expected.filter((id) => !got.has(id));
      expect(missing).toEqual([]);
      // anything beyond the expected rows arrived during the walk
      const extra = ids.filter((id) => !expected.includes(id));
      expect(extra.every((id) => BigInt(id) > BigInt(max))).toBe(true);
      for (let i = 1; i < items.length; i++) {
        const p = items[i - 1];
        const c = items[i];
        const ordered = p.exitTime > c.exitTime || (p.exitTime === c.exitTime && p.id > c.id);
        if (!ordered) throw new Error(`out of order at ${i}: ${JSON.stringify([p, c])}`);
      }
      // totals count the matching set as it was at the first page (give or take the arrivals)
      expect(totals.count).toBeGreaterThanOrEqual(expected.length);
      expect(totals.count).toBeLessThanOrEqual(expected.length + 10);
      expect(items.every((t) => !f.symbol || t.symbol === f.symbol)).toBe(true);
    }
  });

  test("totals of the filtered set: count, P&L and fees as PostgreSQL sums them", async () => {
    const f = { strategyId: aStrategies[0], minPnl: "-10", maxPnl: "20" };
    const res = await http(base, "GET", `/trades${qs({ ...f, limit: 10 })}`, { token: a.accessToken });
    const [sql] = await q<{ count: string; pnl: string; fees: string }>(
      env.db.sequelize,
      `SELECT count(*)::text AS count, sum(pnl)::text AS pnl, sum(fees)::text AS fees FROM trades
        WHERE user_id = $1 AND strategy_id = $2 AND pnl >= -10 AND pnl <= 20`,
      [a.id, aStrategies[0]],
    );
    expect(res.body.totals).toEqual({ count: Number(sql.count), pnl: sql.pnl, fees: sql.fees });
    expect(res.body.items).toHaveLength(10);
    expect(res.body.items[0].strategy).toBe("alpha");
    // a later page carries no totals (they are the first page's)
    const next = await http(base, "GET", `/trades${qs({ ...f, limit: 10, cursor: res.body.nextCursor })}`, {
      token: a.accessToken,
    });
    expect(next.body.totals).toBeUndefined();
    expect(next.body.items[0].id).not.toBe(res.body.items[0].id);
  });

  test("the page query uses an index at this size, never a sequential scan", async () => {
    const store = new HistoryStore(env.db.sequelize);
    const firstPage = await store.tradesPage(a.id, {}, 100);
    const cursor = JSON.parse(Buffer.from(firstPage.nextCursor!, "base64url").toString());
    const cases = [
      {},
      { symbol: "ETHUSDT" },
      { strategyId: aStrategies[1], mode: "paper" as const },
      { exitReason: "stop_loss", minPnl: "-20", maxPnl: "10" },
      { from: Date.now() - 20 * DAY, to: Date.now() - 2 * DAY, mode: "live" as const },
    ];
    for (const f of cases) {
      const qy = await store.tradePageQuery(a.id, f, 100, cursor);
      const plan = await q<{ "QUERY PLAN": string }>(env.db.sequelize, `EXPLAIN ${qy.sql}`, qy.bind);
      const text = plan.map((r) => r["QUERY PLAN"]).join("\n");
      expect(text).not.toMatch(/Seq Scan/);
      expect(text).toMatch(/Index/);
    }
  });

  test("bad cursors, limits and ranges are 400 with the field named", async () => {
    for (const [query, field] of [
      ["?cursor=not-a-cursor", "cursor"],
      ["?limit=501", "limit"],
      ["?minPnl=abc", "minPnl"],
      ["?from=2024-02-01&to=2024-01-01", "to"],
      ["?mode=demo", "mode"],
    ]) {
      const res = await http(base, "GET", `/trades${query}`, { token: a.accessToken });
      expect([query, res.status]).toEqual([query, 400]);
      expect(res.text).toContain(field);
    }
  });
});

describe("owner scoping", () => {
  test("another user's filters never reach the owner's trades, orders, logs or exports", async () => {
    const cases: Filters[] = [{}, { strategyId: aStrategies[0] }, { mode: "paper" }, { userId: a.id }];
    for (const f of cases) {
      const res = await http(base, "GET", `/trades${qs(f)}`, { token: b.accessToken });
      expect(res.status).toBe(200);
      expect(res.body.items.every((t: any) => t.strategy === "victim-strategy" || t.strategy === null)).toBe(
        true,
      );
      if ("strategyId" in f) expect(res.body.items).toHaveLength(0);
      const csv = await http(base, "GET", `/trades/export${qs({ ...f, format: "csv" })}`, {
        token: b.accessToken,
      });
      expect(csv.status).toBe(200);
      expect(csv.text).not.toContain("alpha");
    }
    const mine = await http(base, "GET", `/trades?limit=500`, { token: b.accessToken });
    expect(mine.body.totals.count).toBe(500);
  });
});

describe("orders and logs", () => {
  test("orders page with filters, totals with fees per asset; logs merge decisions and system records", async () => {
    const s = env.db.sequelize;
    for (let i = 0; i < 30; i++) {
      const [o] = await q<{ id: string }>(
        s,
        `INSERT INTO orders (user_id, strategy_id, api_key_id, intent_id, client_order_id, symbol, side, type, role, state,
                             quantity, filled_qty, cumulative_quote, created_at)
         VALUES ($1, $2, $3, $4, $5, 'BTCUSDT', $6, 'MARKET', 'entry', $7, 0.01, 0.01, 200, now() - make_interval(mins => $8))
         RETURNING id`,
        [
          a.id,
          aStrategies[0],
          i % 2 ? aPaper : aLive,
          `i-${i}`,
          `ord-${a.id}-${i}`,
          i % 3 ? "BUY" : "SELL",
          i % 4 ? "FILLED" : "CANCELED",
          i,
        ],
      );
      await s.query(
        `INSERT INTO fills (order_id, user_id, symbol, exchange_trade_id, side, price, qty, quote_qty, commission, commission_asset, executed_at)
         VALUES ($1, $2, 'BTCUSDT', $3, 'BUY', 20000, 0.01, 200, 0.00001, 'BTC', now())`,
        { bind: [o.id, a.id, `t-${i}`] },
      );
    }
    const res = await http(base, "GET", `/orders?status=FILLED&side=BUY&limit=5`, { token: a.accessToken });
    expect(res.status).toBe(200);
    const [n] = await q<{ n: string }>(
      s,
      `SELECT count(*)::text AS n FROM orders WHERE user_id = $1 AND state = 'FILLED' AND side = 'BUY'`,
      [a.id],
    );
    expect(res.body.totals.count).toBe(Number(n.n));
    expect(Number(res.body.totals.fees.BTC)).toBeCloseTo(0.00001 * Number(n.n), 10);
    expect(res.body.items.every((o: any) => o.status === "FILLED" && o.side === "BUY")).toBe(true);
    let all: any[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await http(base, "GET", `/orders?limit=7${cursor ? `&cursor=${cursor}` : ""}`, {
        token: a.accessToken,
      });
      all = all.concat(page.body.items);
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(all).toHaveLength(30);
    expect((await http(base, "GET", `/orders`, { token: b.accessToken })).body.items).toHaveLength(0);

    await s.query(
      `INSERT INTO strategy_decisions (user_id, strategy_id, kind, level, action, message, time)
       SELECT $1, $2, 'decision', CASE WHEN g % 5 = 0 THEN 'warn' ELSE 'info' END, 'hold', 'decision ' || g,
              now() - make_interval(secs => g)
         FROM generate_series(1, 40) g`,
      { bind: [a.id, aStrategies[0]] },
    );
    await s.query(
      `INSERT INTO system_logs (level, service, message, strategy_id, time) VALUES
         ('error', 'strategy-runner', 'crash of alpha', $1, now() - interval '3 seconds'),
         ('error', 'strategy-runner', 'crash of the victim', $2, now())`,
      { bind: [aStrategies[0], bStrategy] },
    );
    let logs: any[] = [];
    cursor = null;
    do {
      const page: any = await http(base, "GET", `/logs?limit=9${cursor ? `&cursor=${cursor}` : ""}`, {
        token: a.accessToken,
      });
      expect(page.status).toBe(200);
      logs = logs.concat(page.body.items);
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(logs).toHaveLength(41);
    expect(logs.filter((l) => l.source === "system").map((l) => l.message)).toEqual(["crash of alpha"]);
    const warn = await http(base, "GET", `/logs?level=warn`, { token: a.accessToken });
    expect(warn.body.items.every((l: any) => ["warn", "error", "fatal"].includes(l.level))).toBe(true);
    expect(warn.body.items).toHaveLength(9);
  });
});

describe("exports", () => {
  test("the CSV parses back (RFC 4180) to exactly the rows the API returns", async () => {
    const f = { strategyId: aStrategies[1], maxPnl: "-40" };
    const { items } = await walk(a, f, 500);
    const res = await fetch(`${base}/api/v1/trades/export${qs({ ...f, format: "csv" })}`, {
      headers: { authorization: `Bearer ${a.accessToken}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="aura-trades-.*\.csv"$/);
    const rows = parseCsv(await res.text());
    const header = rows.shift()!;
    expect(header).toEqual([
      "id",
      "exitTime",
      "entryTime",
      "strategyId",
      "strategy",
      "mode",
      "symbol",
      "side",
      "qty",
      "entryPrice",
      "exitPrice",
      "fees",
      "pnl",
      "exitReason",
    ]);
    expect(rows.length).toBe(items.length);
    const neutral = (v: string) => (/^[=+\-@\t\r]/.test(v) && !/^-?\d+(\.\d+)?$/.test(v) ? `'${v}` : v);
    const asCells = (t: any) => header.map((k) => (t[k] === null ? "" : neutral(String(t[k]))));
    expect(rows).toEqual(items.map(asCells));
    // the strategy named like a formula is neutralised; a negative amount is data, left alone
    expect(rows[0][4]).toBe(`'=HYPERLINK("http://x")`);
    expect(rows.every((r) => r[12].startsWith("-"))).toBe(true);
    expect(rows[0][8]).toMatch(/^\d+\.\d{10}$/);
    expect(rows[0][1]).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  test("a cell starting with = + - @ tab or CR is neutralised; commas and quotes are quoted", async () => {
    const s = env.db.sequelize;
    const u = await registerAndLogin(base);
    const key = await addKey(s, u.id);
    const strat = await addStrategy(s, u.id, key, 'gamma, "quoted"');
    for (const reason of ["=1+2", "+cmd", "-cmd|calc", "@SUM(A1)", "\tx", "\rx"])
      await s.query(
        `INSERT INTO trades (user_id, strategy_id, api_key_id, symbol, qty, entry_time, entry_price, exit_time, exit_price, fees, pnl, exit_reason)
         VALUES ($1, $2, $3, 'BTCUSDT', 1, now(), 1, now(), 1, 0, -1.5, $4)`,
        { bind: [u.id, strat, key, reason] },
      );
    const res = await http(base, "GET", `/trades/export`, { token: u.accessToken });
    const rows = parseCsv(res.text).slice(1);
    expect(rows.map((r) => r[13]).sort()).toEqual(
      ["'\tx", "'\rx", "'+cmd", "'-cmd|calc", "'=1+2", "'@SUM(A1)"].sort(),
    );
    expect(rows.every((r) => r[4] === 'gamma, "quoted"' && r[12] === "-1.5000000000")).toBe(true);
    expect(res.text).toContain('"gamma, ""quoted"""');
  });

  test("the PDF of 200 trades holds the totals and every trade id", async () => {
    const s = env.db.sequelize;
    const u = await registerAndLogin(base);
    const key = await addKey(s, u.id);
    const strat = await addStrategy(s, u.id, key, "pdf strategy");
    await seedTrades(s, { userId: u.id, n: 200, strategies: [strat], keys: [key] });
    const res = await fetch(`${base}/api/v1/trades/export?format=pdf`, {
      headers: { authorization: `Bearer ${u.accessToken}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/pdf");
    const pdf = Buffer.from(await res.arrayBuffer());
    expect(pdf.subarray(0, 5).toString()).toBe("%PDF-");
    const file = path.join(os.tmpdir(), `aura-trades-${process.pid}.pdf`);
    fs.writeFileSync(file, pdf);
    const text = execFileSync("pdftotext", ["-layout", file, "-"], { encoding: "utf8" });
    fs.rmSync(file);
    const [t] = await q<{ count: string; pnl: string; fees: string }>(
      s,
      `SELECT count(*)::text AS count, sum(pnl)::text AS pnl, sum(fees)::text AS fees FROM trades WHERE user_id = $1`,
      [u.id],
    );
    expect(text).toContain("AURA trade history");
    expect(text).toMatch(new RegExp(`trades\\s+${t.count}`));
    expect(text).toContain(t.pnl);
    expect(text).toContain(t.fees);
    const ids = await q<{ id: string }>(s, `SELECT id FROM trades WHERE user_id = $1`, [u.id]);
    const words = new Set(text.split(/\s+/));
    expect(ids.map((r) => String(r.id)).filter((id) => !words.has(id))).toEqual([]);
    expect(text).toMatch(/Page 2/);
    // the table header is repeated on every page of the table
    expect(text.match(/Trade id/g)!.length).toBeGreaterThan(2);
  });

  test("a 100,000-row CSV export streams with the heap growing by less than 50 MB", async () => {
    const s = env.db.sequelize;
    const u = await registerAndLogin(base);
    const key = await addKey(s, u.id);
    const strat = await addStrategy(s, u.id, key, "bulk");
    await seedTrades(s, { userId: u.id, n: 100_000, strategies: [strat], keys: [key] });
    (global as any).gc?.();
    const before = process.memoryUsage().heapUsed;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().heapUsed);
    }, 5);
    const res = await fetch(`${base}/api/v1/trades/export?format=csv`, {
      headers: { authorization: `Bearer ${u.accessToken}` },
    });
    let lines = 0;
    let bytes = 0;
    const decoder = new TextDecoder();
    for await (const chunk of res.body as any as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      const text = decoder.decode(chunk, { stream: true });
      for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lines++;
      peak = Math.max(peak, process.memoryUsage().heapUsed);
    }
    clearInterval(sampler);
    expect(lines).toBe(100_001);
    expect(bytes).toBeGreaterThan(10_000_000);
    expect(peak - before).toBeLessThan(50 * 1024 * 1024);
  });

  test("backtest exports go through the owner check", async () => {
    const s = env.db.sequelize;
    const trades = Array.from({ length: 5 }, (_, i) => ({
      entryTime: 1_700_000_000_000 + i * 3_600_000,
      entryPrice: 100 + i,
      exitTime: 1_700_000_000_000 + (i + 1) * 3_600_000,
      exitPrice: 101 + i,
      qty: 0.5,
      fees: 0.1,
      pnl: i % 2 ? -1.25 : 0.4,
      exitReason: "signal",
    }));
    const [row] = await q<{ id: string }>(
      s,
      `INSERT INTO backtest_results (user_id, cache_key, engine_version, status, progress, params, definition, metrics, result, finished_at)
       VALUES ($1, 'x', 't', 'completed', 1, $2::jsonb, $3::jsonb, $4::jsonb, $5::jsonb, now()) RETURNING id`,
      [
        a.id,
        JSON.stringify({ symbol: "BTCUSDT", interval: "1h", from: "2023-11-14", to: "2023-11-15" }),
        JSON.stringify({ name: "exported run" }),
        JSON.stringify({ netProfit: -1.05, trades: 5, sharpe: null }),
        JSON.stringify({
          metrics: {},
          trades,
          equity: trades.map((t, i) => ({ time: t.exitTime, equity: 1000 + i })),
        }),
      ],
    );
    const csv = await http(base, "GET", `/backtests/${row.id}/export?format=csv`, { token: a.accessToken });
    expect(csv.status).toBe(200);
    const rows = parseCsv(csv.text);
    expect(rows[0]).toEqual([
      "trade",
      "entryTime",
      "exitTime",
      "entryPrice",
      "exitPrice",
      "qty",
      "fees",
      "pnl",
      "exitReason",
    ]);
    expect(rows[2]).toEqual([
      "2",
      new Date(trades[1].entryTime).toISOString(),
      new Date(trades[1].exitTime).toISOString(),
      "101",
      "102",
      "0.5",
      "0.1",
      "-1.25",
      "signal",
    ]);
    const pdf = await fetch(`${base}/api/v1/backtests/${row.id}/export?format=pdf`, {
      headers: { authorization: `Bearer ${a.accessToken}` },
    });
    expect(pdf.status).toBe(200);
    expect(
      Buffer.from(await pdf.arrayBuffer())
        .subarray(0, 5)
        .toString(),
    ).toBe("%PDF-");
    for (const format of ["csv", "pdf"]) {
      const other = await http(base, "GET", `/backtests/${row.id}/export?format=${format}`, {
        token: b.accessToken,
      });
      expect(other.status).toBe(404);
      expect(other.text).not.toContain("exported run");
    }
  });
});
