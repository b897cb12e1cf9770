// The `klines` table (migration 0001): batched idempotent writes and the range queries history
// needs. Every write is INSERT … ON CONFLICT DO NOTHING on the (symbol, interval, open_time) key,
// so repeating one never duplicates. Small batches (the live path) go as one statement with one
// array parameter per column (INSERT … SELECT FROM unnest(…)); bulk batches (imports, the bundled
// history) are streamed with COPY into a session temp table and moved over with one
// INSERT … SELECT, which runs at several times the speed of any parameterised INSERT.
import type { ClientBase, Connection } from "pg";
import { QueryTypes, type Sequelize } from "sequelize";
import type { MarketCandle } from "../../core/market/events";

export interface StoredRange {
  from?: number;
  to?: number;
  limit: number;
  /** "asc": the oldest `limit` rows of the window; "desc": the newest `limit` (returned oldest first) */
  pick: "asc" | "desc";
}

/** Rows per statement: large enough to amortise the round trip, small enough to stream. */
export const WRITE_CHUNK = 5000;
/** From this many rows on, a write goes through COPY. */
export const COPY_THRESHOLD = 2000;
/** Rows per COPY + INSERT … SELECT round (bounds the temp table and the transaction). */
export const COPY_CHUNK = 50_000;

const COLUMNS =
  "symbol, interval, open_time, close_time, open, high, low, close, volume, quote_volume, trades, taker_buy_base, taker_buy_quote";
// decimals as Binance sends them; anything else must not reach COPY's text format
const DECIMAL_RE = /^-?[0-9]+(\.[0-9]+)?$/;
const NAME_RE = /^[A-Za-z0-9]{1,32}$/;

/** The COPY messages of pg's protocol connection, which its typings leave out. */
interface CopyInConnection {
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

/** COPY … FROM STDIN through pg's query-submittable interface (no extra package needed). */
function copyFrom(client: ClientBase, sql: string, chunks: Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    let failed: Error | undefined;
    client.query({
      submit(connection: Connection) {
        connection.query(sql);
      },
      handleCopyInResponse(connection: CopyInConnection) {
        for (const c of chunks) connection.sendCopyFromChunk(c);
        connection.endCopyFrom();
      },
      handleError(err: Error) {
        failed = err;
      },
      handleReadyForQuery() {
        if (failed) reject(failed);
        else resolve();
      },
      handleCommandComplete() {},
      handleRowDescription() {},
      handleDataRow() {},
      handleEmptyQuery() {},
      handlePortalSuspended() {},
      handleCopyData() {},
    });
  });
}

function copyChunks(symbol: string, interval: string, rows: readonly MarketCandle[]): Buffer[] {
  if (!NAME_RE.test(symbol) || !NAME_RE.test(interval))
    throw new Error(`invalid series name ${symbol} ${interval}`);
  const out: Buffer[] = [];
  let lines: string[] = [];
  const head = `${symbol}\t${interval}\t`;
  for (const c of rows) {
    const q = c.quoteVolume ?? "0";
    const tb = c.takerBuyBase ?? "0";
    const tq = c.takerBuyQuote ?? "0";
    if (
      !Number.isSafeInteger(c.openTime) ||
      !Number.isSafeInteger(c.closeTime) ||
      !Number.isSafeInteger(c.trades ?? 0) ||
      !DECIMAL_RE.test(c.open) ||
      !DECIMAL_RE.test(c.high) ||
      !DECIMAL_RE.test(c.low) ||
      !DECIMAL_RE.test(c.close) ||
      !DECIMAL_RE.test(c.volume) ||
      !DECIMAL_RE.test(q) ||
      !DECIMAL_RE.test(tb) ||
      !DECIMAL_RE.test(tq)
    ) {
      throw new Error(`kline ${symbol} ${interval} ${c.openTime} has a field that is not a number`);
    }
    lines.push(
      `${head}${c.openTime}\t${c.closeTime}\t${c.open}\t${c.high}\t${c.low}\t${c.close}\t${c.volume}\t${q}\t${c.trades ?? 0}\t${tb}\t${tq}\n`,
    );
    if (lines.length === 5000) {
      out.push(Buffer.from(lines.join("")));
      lines = [];
    }
  }
  if (lines.length) out.push(Buffer.from(lines.join("")));
  return out;
}

const INSERT_SQL = `
INSERT INTO klines (symbol, interval, open_time, close_time, open, high, low, close, volume,
                    quote_volume, trades, taker_buy_base, taker_buy_quote)
SELECT $1, $2, t.* FROM unnest($3::bigint[], $4::bigint[], $5::numeric[], $6::numeric[], $7::numeric[],
                               $8::numeric[], $9::numeric[], $10::numeric[], $11::integer[], $12::numeric[],
                               $13::numeric[]) AS t
ON CONFLICT (symbol, interval, open_time) DO NOTHING`;

// Binance quotes 8 decimals; the column keeps 10, so reads give the exchange's own text back.
const SELECT_COLS = `open_time, close_time, open::numeric(38,8)::text AS open, high::numeric(38,8)::text AS high,
  low::numeric(38,8)::text AS low, close::numeric(38,8)::text AS close, volume::numeric(38,8)::text AS volume,
  quote_volume::numeric(38,8)::text AS quote_volume, trades, taker_buy_base::numeric(38,8)::text AS taker_buy_base,
  taker_buy_quote::numeric(38,8)::text AS taker_buy_quote`;

/** A row of SELECT_COLS: bigint and integer columns may come back as strings. */
interface KlineRow {
  open_time: string | number;
  close_time: string | number;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
  quote_volume: string;
  trades: string | number;
  taker_buy_base: string;
  taker_buy_quote: string;
}

function toCandle(r: KlineRow): MarketCandle {
  return {
    openTime: Number(r.open_time),
    closeTime: Number(r.close_time),
    open: r.open,
    high: r.high,
    low: r.low,
    close: r.close,
    volume: r.volume,
    quoteVolume: r.quote_volume,
    trades: Number(r.trades),
    takerBuyBase: r.taker_buy_base,
    takerBuyQuote: r.taker_buy_quote,
  };
}

export class KlineStore {
  constructor(readonly sequelize: Sequelize) {}

  /** Inserts candles of one series; rows already stored are left as they are. Returns rows inserted. */
  async insert(symbol: string, interval: string, candles: readonly MarketCandle[]): Promise<number> {
    if (candles.length >= COPY_THRESHOLD) return this.insertByCopy(symbol, interval, candles);
    return this.insertByUnnest(symbol, interval, candles);
  }

  /**
   * Bulk path. When the series has nothing stored in the batch's time span (first imports, the
   * bundled history) the rows are COPied straight into `klines`; a unique violation (a writer got
   * there first, or the batch repeats an open time) rolls that back and takes the general path:
   * COPY into a session temp table, then INSERT … SELECT … ON CONFLICT DO NOTHING.
   */
  private async insertByCopy(
    symbol: string,
    interval: string,
    candles: readonly MarketCandle[],
  ): Promise<number> {
    const cm = this.sequelize.connectionManager;
    // the postgres dialect hands out pg clients; sequelize types them only as `object`
    const conn = (await cm.getConnection({ type: "write" })) as ClientBase;
    let inserted = 0;
    const tx = async <T>(fn: () => Promise<T>): Promise<T> => {
      await conn.query("BEGIN");
      try {
        const r = await fn();
        await conn.query("COMMIT");
        return r;
      } catch (e) {
        await conn.query("ROLLBACK").catch(() => {});
        throw e;
      }
    };
    try {
      for (let i = 0; i < candles.length; i += COPY_CHUNK) {
        const part = candles.slice(i, i + COPY_CHUNK);
        const chunks = copyChunks(symbol, interval, part);
        let lo = Number.POSITIVE_INFINITY;
        let hi = Number.NEGATIVE_INFINITY;
        for (const c of part) {
          if (c.openTime < lo) lo = c.openTime;
          if (c.openTime > hi) hi = c.openTime;
        }
        const direct = await tx(async () => {
          const seen = await conn.query(
            `SELECT 1 FROM klines WHERE symbol = $1 AND interval = $2 AND open_time BETWEEN $3 AND $4 LIMIT 1`,
            [symbol, interval, lo, hi],
          );
          if ((seen.rowCount ?? 0) > 0) return false;
          await copyFrom(conn, `COPY klines (${COLUMNS}) FROM STDIN`, chunks);
          return true;
        }).catch((e: unknown) => {
          if ((e as { code?: string } | undefined)?.code === "23505") return false;
          throw e;
        });
        if (direct) {
          inserted += part.length;
          continue;
        }
        inserted += await tx(async () => {
          await conn.query(
            `CREATE TEMP TABLE IF NOT EXISTS aura_klines_in (LIKE klines INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`,
          );
          await copyFrom(conn, `COPY aura_klines_in (${COLUMNS}) FROM STDIN`, chunks);
          const r = await conn.query(
            `INSERT INTO klines (${COLUMNS}) SELECT ${COLUMNS} FROM aura_klines_in ON CONFLICT (symbol, interval, open_time) DO NOTHING`,
          );
          return r.rowCount ?? 0;
        });
      }
    } finally {
      cm.releaseConnection(conn);
    }
    return inserted;
  }

  private async insertByUnnest(
    symbol: string,
    interval: string,
    candles: readonly MarketCandle[],
  ): Promise<number> {
    let inserted = 0;
    for (let i = 0; i < candles.length; i += WRITE_CHUNK) {
      const part = candles.slice(i, i + WRITE_CHUNK);
      const n = part.length;
      const cols: unknown[][] = Array.from({ length: 11 }, () => new Array(n));
      for (let j = 0; j < n; j++) {
        const c = part[j];
        cols[0][j] = c.openTime;
        cols[1][j] = c.closeTime;
        cols[2][j] = c.open;
        cols[3][j] = c.high;
        cols[4][j] = c.low;
        cols[5][j] = c.close;
        cols[6][j] = c.volume;
        cols[7][j] = c.quoteVolume ?? "0";
        cols[8][j] = c.trades ?? 0;
        cols[9][j] = c.takerBuyBase ?? "0";
        cols[10][j] = c.takerBuyQuote ?? "0";
      }
      // a RAW query answers [rows, result]; with pg the result is its QueryResult (or a bare count)
      const [, meta] = (await this.sequelize.query(INSERT_SQL, {
        bind: [symbol, interval, ...cols],
        type: QueryTypes.RAW,
      })) as [unknown, number | { rowCount?: number | null } | undefined];
      inserted += typeof meta === "number" ? meta : typeof meta?.rowCount === "number" ? meta.rowCount : 0;
    }
    return inserted;
  }

  /** Candles with open time in [from, to], at most `limit`, oldest first. */
  async range(symbol: string, interval: string, q: StoredRange): Promise<MarketCandle[]> {
    const where = ["symbol = $1", "interval = $2"];
    const bind: unknown[] = [symbol, interval];
    if (q.from !== undefined) {
      bind.push(q.from);
      where.push(`open_time >= $${bind.length}`);
    }
    if (q.to !== undefined) {
      bind.push(q.to);
      where.push(`open_time <= $${bind.length}`);
    }
    bind.push(q.limit);
    const inner = `SELECT ${SELECT_COLS} FROM klines WHERE ${where.join(" AND ")} ORDER BY open_time ${q.pick === "asc" ? "ASC" : "DESC"} LIMIT $${bind.length}`;
    const sql = q.pick === "asc" ? inner : `SELECT * FROM (${inner}) t ORDER BY open_time ASC`;
    const rows = await this.sequelize.query<KlineRow>(sql, { bind, type: QueryTypes.SELECT });
    return rows.map(toCandle);
  }

  /** Newest stored open time of a series (within [from, to] when given). */
  async lastOpenTime(
    symbol: string,
    interval: string,
    from?: number,
    to?: number,
  ): Promise<number | undefined> {
    const rows = await this.sequelize.query<{ t: string | number | null }>(
      `SELECT max(open_time) AS t FROM klines WHERE symbol = $1 AND interval = $2 AND open_time >= $3 AND open_time <= $4`,
      { bind: [symbol, interval, from ?? 0, to ?? Number.MAX_SAFE_INTEGER], type: QueryTypes.SELECT },
    );
    return rows[0]?.t == null ? undefined : Number(rows[0].t);
  }

  async count(symbol: string, interval: string, from: number, to: number): Promise<number> {
    const rows = await this.sequelize.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM klines WHERE symbol = $1 AND interval = $2 AND open_time >= $3 AND open_time <= $4`,
      { bind: [symbol, interval, from, to], type: QueryTypes.SELECT },
    );
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Runs of missing open times between stored candles within [from, to] (inclusive open times),
   * on the series' interval grid. Holes before the first or after the last stored row are not
   * included: the caller knows the range it wants.
   */
  async holes(
    symbol: string,
    interval: string,
    intervalMs: number,
    from: number,
    to: number,
  ): Promise<{ from: number; to: number }[]> {
    const rows = await this.sequelize.query<{ a: string | number; b: string | number }>(
      `SELECT open_time AS a, nxt AS b FROM (
         SELECT open_time, lead(open_time) OVER (ORDER BY open_time) AS nxt
         FROM klines WHERE symbol = $1 AND interval = $2 AND open_time >= $3 AND open_time <= $4) t
       WHERE nxt IS NOT NULL AND nxt <> open_time + $5 ORDER BY open_time`,
      { bind: [symbol, interval, from, to, intervalMs], type: QueryTypes.SELECT },
    );
    return rows.map((r) => ({ from: Number(r.a) + intervalMs, to: Number(r.b) - intervalMs }));
  }

  /** Series present in the table, with their extent (operators, `aura data` summaries). */
  async series(): Promise<
    { symbol: string; interval: string; first: number; last: number; count: number }[]
  > {
    const rows = await this.sequelize.query<{
      symbol: string;
      interval: string;
      first: string | number;
      last: string | number;
      n: number;
    }>(
      `SELECT symbol, interval, min(open_time) AS first, max(open_time) AS last, count(*)::int AS n FROM klines GROUP BY symbol, interval ORDER BY symbol, interval`,
      { type: QueryTypes.SELECT },
    );
    return rows.map((r) => ({
      symbol: r.symbol,
      interval: r.interval,
      first: Number(r.first),
      last: Number(r.last),
      count: Number(r.n),
    }));
  }
}

export interface WriterOptions {
  /** flush when this many rows are buffered */
  maxRows?: number;
  /** …or this long after the first buffered row (the live path's added latency bound) */
  maxDelayMs?: number;
  /** rows kept for a retry after a failed flush before the oldest are dropped (they can be re-fetched) */
  maxBuffered?: number;
  onError?: (err: Error, rows: number) => void;
  /** after a series' rows are stored (awaited by flush): the newest open time among them; reports its own failures */
  onStored?: (symbol: string, interval: string, newestOpenTime: number) => Promise<void>;
}

/**
 * Collects closed candles from live series and writes them in batches: a flush every
 * `maxDelayMs` or `maxRows`, one statement per series. A failed flush keeps its rows for the
 * next one; writes are idempotent, so a retry never duplicates.
 */
export class BatchedKlineWriter {
  private readonly buf = new Map<string, { symbol: string; interval: string; rows: MarketCandle[] }>();
  private size = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private readonly maxRows: number;
  private readonly maxDelay: number;
  private readonly maxBuffered: number;
  written = 0;
  dropped = 0;

  constructor(
    private readonly store: KlineStore,
    private readonly opts: WriterOptions = {},
  ) {
    this.maxRows = opts.maxRows ?? 1000;
    this.maxDelay = opts.maxDelayMs ?? 100;
    this.maxBuffered = opts.maxBuffered ?? 100_000;
  }

  get buffered(): number {
    return this.size;
  }

  add(symbol: string, interval: string, candle: MarketCandle): void {
    const key = `${symbol}:${interval}`;
    let b = this.buf.get(key);
    if (!b) this.buf.set(key, (b = { symbol, interval, rows: [] }));
    b.rows.push(candle);
    this.size++;
    if (this.size > this.maxBuffered) {
      b.rows.shift();
      this.size--;
      this.dropped++;
    }
    if (this.size >= this.maxRows) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.maxDelay);
      this.timer.unref();
    }
  }

  /** Writes everything buffered so far (waits for a flush already running first). */
  async flush(): Promise<void> {
    if (this.flushing) {
      await this.flushing;
      if (this.size === 0) return;
    }
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.size === 0) return;
    const batches = [...this.buf.values()];
    this.buf.clear();
    this.size = 0;
    this.flushing = (async () => {
      for (const b of batches) {
        try {
          await this.store.insert(b.symbol, b.interval, b.rows);
          this.written += b.rows.length;
        } catch (e) {
          this.opts.onError?.(e as Error, b.rows.length);
          const key = `${b.symbol}:${b.interval}`;
          const cur = this.buf.get(key);
          this.buf.set(key, { ...b, rows: cur ? [...b.rows, ...cur.rows] : b.rows });
          this.size += b.rows.length;
          continue;
        }
        const newest = b.rows.reduce((m, r) => Math.max(m, r.openTime), Number.NEGATIVE_INFINITY);
        // the rows are stored either way; onStored reports its own failures
        await this.opts.onStored?.(b.symbol, b.interval, newest).catch(() => undefined);
      }
    })().finally(() => (this.flushing = undefined));
    await this.flushing;
    if (this.size > 0 && !this.timer) {
      // retry failed rows later, not in a tight loop
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          void this.flush();
        },
        Math.max(this.maxDelay, 1000),
      );
      this.timer.unref();
    }
  }
}
