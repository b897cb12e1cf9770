// Candles for a backtest from the klines table (what market-data stored or imported), falling
// back to the bundled history files when the database has none for the range.
import crypto from "node:crypto";
import { QueryTypes, type Sequelize } from "sequelize";
import { loadCandles } from "./candles";
import type { ColumnArrays } from "./pool";

export interface CandleWindow {
  columns: ColumnArrays;
  source: "database" | "bundled";
  /** changes whenever the candles that feed the run change: part of the result cache key */
  fingerprint: string;
}

function fingerprint(c: ColumnArrays): string {
  const h = crypto.createHash("sha256");
  for (const k of ["openTime", "open", "high", "low", "close", "volume"] as const)
    h.update(new Uint8Array(c[k].buffer, c[k].byteOffset, c[k].byteLength));
  return h.digest("hex").slice(0, 32);
}

function toColumns(rows: any[]): ColumnArrays {
  const n = rows.length;
  const c: ColumnArrays = {
    openTime: new Float64Array(n),
    closeTime: new Float64Array(n),
    open: new Float64Array(n),
    high: new Float64Array(n),
    low: new Float64Array(n),
    close: new Float64Array(n),
    volume: new Float64Array(n),
  };
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    c.openTime[i] = Number(r.open_time);
    c.closeTime[i] = Number(r.close_time);
    c.open[i] = r.open;
    c.high[i] = r.high;
    c.low[i] = r.low;
    c.close[i] = r.close;
    c.volume[i] = r.volume;
  }
  return c;
}

/** Candles with open time in [fromMs, toMsExclusive) plus up to `warmup` candles before fromMs. */
export async function loadBacktestCandles(
  sequelize: Sequelize,
  symbol: string,
  interval: string,
  fromMs: number,
  toMsExclusive: number,
  warmup: number,
): Promise<CandleWindow> {
  const cols =
    "open_time, close_time, open::float8 AS open, high::float8 AS high, low::float8 AS low, close::float8 AS close, volume::float8 AS volume";
  const range = await sequelize.query<any>(
    `SELECT ${cols} FROM klines WHERE symbol = :symbol AND interval = :interval AND open_time >= :from AND open_time < :to ORDER BY open_time`,
    { replacements: { symbol, interval, from: fromMs, to: toMsExclusive }, type: QueryTypes.SELECT },
  );
  if (range.length > 0) {
    const before = await sequelize.query<any>(
      `SELECT ${cols} FROM klines WHERE symbol = :symbol AND interval = :interval AND open_time < :from ORDER BY open_time DESC LIMIT :warmup`,
      { replacements: { symbol, interval, from: fromMs, warmup }, type: QueryTypes.SELECT },
    );
    const columns = toColumns([...before.reverse(), ...range]);
    return { columns, source: "database", fingerprint: fingerprint(columns) };
  }
  const all = loadCandles({ symbol, interval });
  // keep only what the run can use, so the fingerprint depends on the window, not the whole file
  let lo = 0;
  while (lo < all.length && all.openTime[lo] < fromMs) lo++;
  let hi = lo;
  while (hi < all.length && all.openTime[hi] < toMsExclusive) hi++;
  const start = Math.max(0, lo - warmup);
  const slice = (a: Float64Array) => a.slice(start, hi);
  const columns: ColumnArrays = {
    openTime: slice(all.openTime),
    closeTime: slice(all.closeTime),
    open: slice(all.open),
    high: slice(all.high),
    low: slice(all.low),
    close: slice(all.close),
    volume: slice(all.volume),
  };
  return { columns, source: "bundled", fingerprint: fingerprint(columns) };
}
