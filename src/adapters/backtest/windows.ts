// Candle windows for backtests. A request is answered from a summary the database computes
// (counts, bounds and sums: no candle leaves PostgreSQL), so accepting a run costs the same
// whatever its size; the candles are loaded only when a worker takes the run, in chunks, into
// SharedArrayBuffers that every run over the same window shares (a sweep's runs, repeats,
// several users on the same history) instead of each holding its own copy.
import crypto from "node:crypto";
import { QueryTypes, type Sequelize } from "sequelize";
import { loadCandles } from "./candles";
import type { ColumnArrays } from "./pool";
import { lowerBound } from "../../core/backtest/range";
import type { CandleColumns } from "../../core/model/candle";

export interface WindowRequest {
  symbol: string;
  interval: string;
  /** first open time in range (inclusive) */
  fromMs: number;
  /** end of range (exclusive) */
  toMs: number;
  /** candles before fromMs that feed the indicators */
  warmup: number;
}

/** What a run will read: enough to load exactly the same candles later and to key the result cache. */
export interface WindowSummary {
  source: "database" | "bundled";
  /** candles in [fromMs, toMs) */
  candles: number;
  /** warm-up candles actually available before fromMs */
  warmupCandles: number;
  /** open time of the first candle loaded (warm-up included), and of the last */
  firstOpenTime: number;
  lastOpenTime: number;
  /** changes whenever any candle of the window changes */
  fingerprint: string;
}

const CHUNK_ROWS = 50_000;
const FIELDS = ["openTime", "closeTime", "open", "high", "low", "close", "volume"] as const;

function sharedColumns(n: number): ColumnArrays {
  const make = () => new Float64Array(new SharedArrayBuffer(Math.max(1, n) * 8), 0, n);
  return {
    openTime: make(),
    closeTime: make(),
    open: make(),
    high: make(),
    low: make(),
    close: make(),
    volume: make(),
  };
}

let bundled: Map<string, CandleColumns | null> | undefined;

/** The bundled history of a series, read once per process (a few MB). */
function bundledSeries(symbol: string, interval: string): CandleColumns | null {
  bundled ??= new Map();
  const key = `${symbol}:${interval}`;
  if (!bundled.has(key)) {
    try {
      bundled.set(key, loadCandles({ symbol, interval }));
    } catch {
      bundled.set(key, null);
    }
  }
  return bundled.get(key) ?? null;
}

function bundledSlice(
  req: WindowRequest,
): { series: CandleColumns; start: number; end: number; lo: number } | null {
  const series = bundledSeries(req.symbol, req.interval);
  if (!series) return null;
  const lo = lowerBound(series.openTime, req.fromMs);
  const end = lowerBound(series.openTime, req.toMs);
  if (end <= lo) return null;
  return { series, start: Math.max(0, lo - req.warmup), end, lo };
}

function hashColumns(c: CandleColumns, start: number, end: number): string {
  const h = crypto.createHash("sha256");
  for (const k of ["openTime", "open", "high", "low", "close", "volume"] as const) {
    const a = c[k];
    h.update(new Uint8Array(a.buffer, a.byteOffset + start * 8, (end - start) * 8));
  }
  return h.digest("hex").slice(0, 32);
}

/**
 * Counts and fingerprints the window in the database, falling back to the bundled history when
 * the database has no candle in range. Returns undefined when neither has any.
 */
export async function summarizeWindow(
  sequelize: Sequelize,
  req: WindowRequest,
): Promise<WindowSummary | undefined> {
  const [s] = await sequelize.query<{
    n: string;
    first: string | null;
    last: string | null;
    sums: string | null;
    wn: string;
    wfirst: string | null;
    wsums: string | null;
  }>(
    `WITH r AS (
       SELECT open_time, open + high + low + close AS px, volume FROM klines
        WHERE symbol = $1 AND interval = $2 AND open_time >= $3 AND open_time < $4
     ), w AS (
       SELECT open_time, open + high + low + close AS px, volume FROM klines
        WHERE symbol = $1 AND interval = $2 AND open_time < $3
        ORDER BY open_time DESC LIMIT $5
     )
     SELECT (SELECT count(*) FROM r) AS n, (SELECT min(open_time) FROM r) AS first,
            (SELECT max(open_time) FROM r) AS last,
            (SELECT sum(px)::text || '/' || sum(volume)::text || '/' || sum(open_time)::text FROM r) AS sums,
            (SELECT count(*) FROM w) AS wn, (SELECT min(open_time) FROM w) AS wfirst,
            (SELECT sum(px)::text || '/' || sum(volume)::text FROM w) AS wsums`,
    { bind: [req.symbol, req.interval, req.fromMs, req.toMs, req.warmup], type: QueryTypes.SELECT },
  );
  const n = Number(s.n);
  if (n > 0) {
    const wn = Number(s.wn);
    const fingerprint = crypto
      .createHash("sha256")
      .update(
        `db|${req.symbol}|${req.interval}|${n}|${s.first}|${s.last}|${s.sums}|${wn}|${s.wfirst}|${s.wsums}`,
      )
      .digest("hex")
      .slice(0, 32);
    return {
      source: "database",
      candles: n,
      warmupCandles: wn,
      firstOpenTime: Number(wn > 0 ? s.wfirst : s.first),
      lastOpenTime: Number(s.last),
      fingerprint,
    };
  }
  const b = bundledSlice(req);
  if (!b) return undefined;
  return {
    source: "bundled",
    candles: b.end - b.lo,
    warmupCandles: b.lo - b.start,
    firstOpenTime: b.series.openTime[b.start],
    lastOpenTime: b.series.openTime[b.end - 1],
    fingerprint: hashColumns(b.series, b.start, b.end),
  };
}

export interface WindowKey {
  source: "database" | "bundled";
  symbol: string;
  interval: string;
  firstOpenTime: number;
  lastOpenTime: number;
}

/** Loads exactly the candles a summary described, chunk by chunk, into shared memory. */
export async function loadWindow(
  sequelize: Sequelize,
  key: WindowKey,
  expected: number,
): Promise<ColumnArrays> {
  if (key.source === "bundled") {
    const series = bundledSeries(key.symbol, key.interval);
    if (!series) throw new Error(`the bundled history has no ${key.symbol} ${key.interval} candles`);
    const start = lowerBound(series.openTime, key.firstOpenTime);
    const end = lowerBound(series.openTime, key.lastOpenTime + 1);
    const out = sharedColumns(end - start);
    for (const f of FIELDS) out[f].set(series[f].subarray(start, end));
    return out;
  }
  let out = sharedColumns(expected);
  let n = 0;
  let cursor = key.firstOpenTime;
  for (;;) {
    const rows = await sequelize.query<Record<string, number | string>>(
      `SELECT open_time, close_time, open::float8 AS open, high::float8 AS high, low::float8 AS low,
              close::float8 AS close, volume::float8 AS volume
         FROM klines WHERE symbol = $1 AND interval = $2 AND open_time >= $3 AND open_time <= $4
        ORDER BY open_time LIMIT $5`,
      { bind: [key.symbol, key.interval, cursor, key.lastOpenTime, CHUNK_ROWS], type: QueryTypes.SELECT },
    );
    if (n + rows.length > out.openTime.length) {
      // candles were added inside a window that was already complete: keep them all
      const bigger = sharedColumns(n + rows.length);
      for (const f of FIELDS) bigger[f].set(out[f].subarray(0, n));
      out = bigger;
    }
    for (const r of rows) {
      out.openTime[n] = Number(r.open_time);
      out.closeTime[n] = Number(r.close_time);
      out.open[n] = r.open as number;
      out.high[n] = r.high as number;
      out.low[n] = r.low as number;
      out.close[n] = r.close as number;
      out.volume[n] = r.volume as number;
      n++;
    }
    if (rows.length < CHUNK_ROWS) break;
    cursor = out.openTime[n - 1] + 1;
  }
  if (n === out.openTime.length) return out;
  const trimmed: Partial<ColumnArrays> = {};
  for (const f of FIELDS) trimmed[f] = out[f].subarray(0, n);
  return trimmed as ColumnArrays;
}

interface Entry {
  columns?: ColumnArrays;
  loading?: Promise<ColumnArrays>;
  bytes: number;
  users: number;
  lastUsed: number;
}

/**
 * Windows in use or recently used, shared by every run that reads the same candles. Entries not
 * in use are evicted oldest first once the total passes `maxBytes`.
 */
export class WindowCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private tick = 0;

  constructor(
    private readonly load: (key: WindowKey, expected: number) => Promise<ColumnArrays>,
    private readonly maxBytes = 256 * 1024 * 1024,
  ) {}

  static keyOf(k: WindowKey): string {
    return `${k.source}|${k.symbol}|${k.interval}|${k.firstOpenTime}|${k.lastOpenTime}`;
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  /** The window's columns, loaded once however many runs ask; call the returned release when done. */
  async acquire(key: WindowKey, expected: number): Promise<{ columns: ColumnArrays; release: () => void }> {
    const id = WindowCache.keyOf(key);
    let e = this.entries.get(id);
    if (!e) {
      e = { bytes: 0, users: 0, lastUsed: 0 };
      const entry = e;
      entry.loading = this.load(key, expected).then(
        (c) => {
          entry.columns = c;
          entry.loading = undefined;
          entry.bytes = c.openTime.length * 8 * FIELDS.length;
          this.bytes += entry.bytes;
          return c;
        },
        (err) => {
          this.entries.delete(id);
          throw err;
        },
      );
      this.entries.set(id, entry);
    }
    e.users++;
    e.lastUsed = ++this.tick;
    let columns: ColumnArrays;
    try {
      columns = e.columns ?? (await e.loading!);
    } catch (err) {
      e.users--;
      throw err;
    }
    this.evict();
    let released = false;
    const entry = e;
    return {
      columns,
      release: () => {
        if (released) return;
        released = true;
        entry.users--;
        entry.lastUsed = ++this.tick;
        this.evict();
      },
    };
  }

  private evict(): void {
    if (this.bytes <= this.maxBytes) return;
    const idle = [...this.entries.entries()]
      .filter(([, e]) => e.users === 0 && e.columns)
      .sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    for (const [id, e] of idle) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(id);
      this.bytes -= e.bytes;
    }
  }

  clear(): void {
    for (const [id, e] of [...this.entries.entries()]) if (e.users === 0) this.entries.delete(id);
    this.bytes = [...this.entries.values()].reduce((s, e) => s + e.bytes, 0);
  }
}
