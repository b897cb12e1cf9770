// M7: rows/s of AURA's batched candle writer (KlineStore.insert: idempotent, ON CONFLICT DO
// NOTHING on the klines unique key) against COPY FROM STDIN into the same table, plus a
// multi-row INSERT … VALUES baseline, in one run on one scratch database.
// Run: node --import tsx bench/market-writer.ts   (DATABASE_URL = a server to create the scratch
// database on; unset: an embedded PostgreSQL in a temp dir)
import crypto from "node:crypto";
import os from "node:os";
import path from "node:path";
import { Client } from "pg";
import { KlineStore } from "../src/adapters/market/kline-store";
import { openDatabase } from "../src/adapters/storage/database";
import type { MarketCandle } from "../src/core/market/events";
import { benchEnv, emit } from "./lib";

const ROWS = Number(process.env.BENCH_ROWS ?? 200_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const H = 3_600_000;

function candles(n: number): MarketCandle[] {
  const out: MarketCandle[] = [];
  let p = 30_000;
  for (let i = 0; i < n; i++) {
    p += Math.sin(i) * 10;
    const f = (x: number) => x.toFixed(8);
    out.push({
      openTime: 1_500_000_000_000 + i * H,
      closeTime: 1_500_000_000_000 + i * H + H - 1,
      open: f(p),
      high: f(p + 12.5),
      low: f(p - 11.25),
      close: f(p + 1.01),
      volume: f(1000 + (i % 97)),
      quoteVolume: f(3e7 + i),
      trades: 20_000 + (i % 1000),
      takerBuyBase: f(500 + (i % 13)),
      takerBuyQuote: f(1.5e7 + i),
    });
  }
  return out;
}

/** COPY … FROM STDIN through pg's query-submittable interface (pg-copy-streams is not installed). */
function copyIn(client: Client, sql: string, chunks: Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    let failed: Error | undefined;
    const q = {
      submit(connection: any) {
        connection.query(sql);
      },
      handleCopyInResponse(connection: any) {
        for (const c of chunks) connection.sendCopyFromChunk(c);
        connection.endCopyFrom();
      },
      handleCommandComplete() {},
      handleReadyForQuery() {
        if (failed) reject(failed);
        else resolve();
      },
      handleError(err: Error) {
        failed = err;
      },
      handleRowDescription() {},
      handleDataRow() {},
      handleEmptyQuery() {},
      handlePortalSuspended() {},
      handleCopyData() {},
    };
    (client as any).query(q);
  });
}

function copyText(symbol: string, rows: MarketCandle[]): Buffer[] {
  const out: Buffer[] = [];
  let buf: string[] = [];
  for (const c of rows) {
    buf.push(
      `${symbol}\t1h\t${c.openTime}\t${c.closeTime}\t${c.open}\t${c.high}\t${c.low}\t${c.close}\t${c.volume}\t${c.quoteVolume}\t${c.trades}\t${c.takerBuyBase}\t${c.takerBuyQuote}\n`,
    );
    if (buf.length === 10_000) {
      out.push(Buffer.from(buf.join("")));
      buf = [];
    }
  }
  if (buf.length) out.push(Buffer.from(buf.join("")));
  return out;
}

async function multiRowInsert(client: Client, symbol: string, rows: MarketCandle[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) {
    const part = rows.slice(i, i + 1000);
    const vals: unknown[] = [];
    const tuples = part.map((c, j) => {
      const b = j * 13;
      vals.push(
        symbol,
        "1h",
        c.openTime,
        c.closeTime,
        c.open,
        c.high,
        c.low,
        c.close,
        c.volume,
        c.quoteVolume,
        c.trades,
        c.takerBuyBase,
        c.takerBuyQuote,
      );
      return `(${Array.from({ length: 13 }, (_, k) => `$${b + k + 1}`).join(",")})`;
    });
    await client.query(
      `INSERT INTO klines (symbol, interval, open_time, close_time, open, high, low, close, volume, quote_volume, trades, taker_buy_base, taker_buy_quote) VALUES ${tuples.join(",")} ON CONFLICT DO NOTHING`,
      vals,
    );
  }
}

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
  const db = await openDatabase({ databaseUrl: url.toString(), poolMax: 2 });
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const store = new KlineStore(db.sequelize);
    const data = candles(ROWS);
    const copyChunks = (s: string) => copyText(s, data);
    const time = async (fn: () => Promise<void>) => {
      await client.query("TRUNCATE klines");
      await client.query("CHECKPOINT");
      const t0 = process.hrtime.bigint();
      await fn();
      return Number(process.hrtime.bigint() - t0) / 1e9;
    };
    const best: Record<string, number> = {
      ours: Infinity,
      copy: Infinity,
      values: Infinity,
      overlap: Infinity,
    };
    // warm-up
    await time(() => store.insert("WARM", "1h", data.slice(0, 20_000)).then(() => undefined));
    await time(() =>
      copyIn(
        client,
        "COPY klines (symbol, interval, open_time, close_time, open, high, low, close, volume, quote_volume, trades, taker_buy_base, taker_buy_quote) FROM STDIN",
        copyText("WARM", data.slice(0, 20_000)),
      ),
    );
    for (let r = 0; r < RUNS; r++) {
      best.ours = Math.min(
        best.ours,
        await time(() => store.insert("BTCUSDT", "1h", data).then(() => undefined)),
      );
      // the baseline formats its COPY text inside the timing too, as any COPY client must
      best.copy = Math.min(
        best.copy,
        await time(() =>
          copyIn(
            client,
            "COPY klines (symbol, interval, open_time, close_time, open, high, low, close, volume, quote_volume, trades, taker_buy_base, taker_buy_quote) FROM STDIN",
            copyChunks("BTCUSDT"),
          ),
        ),
      );
      // the general path: half of the rows are already stored, so every row goes through ON CONFLICT
      await client.query("TRUNCATE klines");
      await store.insert(
        "BTCUSDT",
        "1h",
        data.filter((_, i) => i % 2 === 0),
      );
      const t0 = process.hrtime.bigint();
      await store.insert("BTCUSDT", "1h", data);
      best.overlap = Math.min(best.overlap, Number(process.hrtime.bigint() - t0) / 1e9);
      best.values = Math.min(best.values, await time(() => multiRowInsert(client, "BTCUSDT", data)));
    }
    // correctness: the writer stored every row exactly, and a repeat inserts nothing
    await client.query("TRUNCATE klines");
    const n1 = await store.insert("BTCUSDT", "1h", data);
    const n2 = await store.insert("BTCUSDT", "1h", data);
    const [first] = await store.range("BTCUSDT", "1h", { limit: 1, pick: "asc" });
    if (n1 !== ROWS || n2 !== 0 || JSON.stringify(first) !== JSON.stringify(data[0]))
      throw new Error(`writer check failed: ${n1} ${n2} ${JSON.stringify(first)}`);

    const env = benchEnv({ rows: ROWS, runs: RUNS, server: embedded ? "embedded" : "DATABASE_URL" });
    const rate = (sec: number) => Math.round(ROWS / sec);
    emit(env, "market_writer_rows_per_s_vs_copy", rate(best.ours), rate(best.copy), "rows/s");
    emit(env, "market_writer_overlapping_rows_per_s_vs_copy", rate(best.overlap), rate(best.copy), "rows/s", {
      note: "half the rows already stored: every row takes the temp-table + ON CONFLICT path",
    });
    emit(env, "market_writer_rows_per_s_vs_multirow_insert", rate(best.ours), rate(best.values), "rows/s");
  } finally {
    await client.end();
    await db.close();
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
    await embedded?.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
