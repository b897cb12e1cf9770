// What the portfolio reads from PostgreSQL: the user's keys, open positions with their entry and
// leg fills, realised P&L and fees per window, trades and positions for the performance figures,
// and the equity snapshots it writes. Every statement binds its values and is scoped to a user.
import { QueryTypes, type Sequelize } from "sequelize";
import { Decimal } from "../../core/money/decimal";
import type { FillSums } from "./pnl";
import { numberOrNull } from "../storage/rows";

export type Mode = "live" | "paper";

export interface KeyRow {
  id: string;
  label: string;
  exchange: "binance" | "binance-testnet" | "sim";
  paper: boolean;
  status: string;
}

export interface OpenPositionRow {
  id: string;
  strategy_id: string | null;
  strategy: string | null;
  api_key_id: string | null;
  entry_order_id: string | null;
  symbol: string;
  qty: string;
  entry_price: string;
  entry_fees: string;
  protection: string;
  opened_at: Date;
}

export interface WindowSums {
  today: string;
  d7: string;
  d30: string;
  all: string;
}

export interface FeeRow extends WindowSums {
  symbol: string;
  asset: string | null;
  /** the same sums valued at each fill's price (commission × price) */
  today_px: string;
  d7_px: string;
  d30_px: string;
  all_px: string;
}

export interface PerfTrade {
  id: string;
  strategy_id: string | null;
  symbol: string;
  pnl: number;
  fees: number;
  exit_ms: number;
}

export interface Snapshot {
  time: number;
  equity: number;
}

/** Sums of X per window ending at `now` (a bound timestamptz: the venue's clock for paper keys). */
const WINDOWS = (col: string, now: string) => `
  COALESCE(sum(X) FILTER (WHERE ${col} >= date_trunc('day', ${now} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'), 0)::text AS today,
  COALESCE(sum(X) FILTER (WHERE ${col} >= ${now} - interval '7 days'), 0)::text AS d7,
  COALESCE(sum(X) FILTER (WHERE ${col} >= ${now} - interval '30 days'), 0)::text AS d30,
  COALESCE(sum(X), 0)::text AS "all"`;

/**
 * Which keys' records: only these, or all but these (records of a removed key have none and are
 * only counted by the latter).
 */
export interface KeyScope {
  only?: string[];
  except?: string[];
}

/** The KeyScope condition on a key column, bound as $2 (only) and $3 (except). */
const SCOPE = (col: string) =>
  `($2::bigint[] IS NULL OR ${col} = ANY($2::bigint[])) AND ($3::bigint[] IS NULL OR ${col} IS NULL OR ${col} <> ALL($3::bigint[]))`;

export class PortfolioStore {
  constructor(readonly sequelize: Sequelize) {}

  private select<T extends object>(sql: string, bind: unknown[]): Promise<T[]> {
    return this.sequelize.query<T>(sql, { bind, type: QueryTypes.SELECT });
  }

  /** The user's keys that can be read (status valid), optionally of one mode. */
  async keys(userId: number, mode?: Mode): Promise<KeyRow[]> {
    return this.select<KeyRow>(
      `SELECT id, label, exchange, paper, status FROM user_api_keys
        WHERE user_id = $1 AND status = 'valid' AND ($2::boolean IS NULL OR paper = $2::boolean)
        ORDER BY paper, id`,
      [userId, mode === undefined ? null : mode === "paper"],
    );
  }

  /** Ids of every key of the user of one mode, whatever its status (history belongs to it). */
  async keyIdsOfMode(userId: number, mode: Mode): Promise<string[]> {
    const rows = await this.select<{ id: string }>(
      `SELECT id FROM user_api_keys WHERE user_id = $1 AND paper = $2`,
      [userId, mode === "paper"],
    );
    return rows.map((r) => r.id);
  }

  async openPositions(userId: number, keyIds?: string[]): Promise<OpenPositionRow[]> {
    return this.select<OpenPositionRow>(
      `SELECT p.id, p.strategy_id, s.name AS strategy, p.api_key_id, p.entry_order_id, p.symbol, p.qty::text,
              p.entry_price::text, p.entry_fees::text, p.protection, p.opened_at
         FROM positions p LEFT JOIN strategies s ON s.id = p.strategy_id
        WHERE p.user_id = $1 AND p.status = 'open' AND ($2::bigint[] IS NULL OR p.api_key_id = ANY($2::bigint[]))
        ORDER BY p.opened_at, p.id`,
      [userId, keyIds ?? null],
    );
  }

  /** Fill sums per order (qty, quote, commission per asset). */
  async orderFills(orderIds: string[]): Promise<Map<string, FillSums>> {
    if (!orderIds.length) return new Map();
    const rows = await this.select<{
      order_id: string;
      asset: string | null;
      qty: string;
      quote: string;
      fee: string;
    }>(
      `SELECT order_id, commission_asset AS asset, sum(qty)::text AS qty, sum(quote_qty)::text AS quote,
              sum(commission)::text AS fee
         FROM fills WHERE order_id = ANY($1::bigint[]) GROUP BY order_id, commission_asset`,
      [orderIds],
    );
    return groupFills(rows.map((r) => ({ key: r.order_id, ...r })));
  }

  /** What the protection legs of each position sold so far. */
  async legSales(positionIds: string[]): Promise<Map<string, FillSums>> {
    if (!positionIds.length) return new Map();
    const rows = await this.select<{
      position_id: string;
      asset: string | null;
      qty: string;
      quote: string;
      fee: string;
    }>(
      `SELECT l.position_id, f.commission_asset AS asset, sum(f.qty)::text AS qty, sum(f.quote_qty)::text AS quote,
              sum(f.commission)::text AS fee
         FROM fills f JOIN orders o ON o.id = f.order_id JOIN order_lists l ON l.id = o.order_list_id
        WHERE l.position_id = ANY($1::bigint[]) AND f.side = 'SELL'
        GROUP BY l.position_id, f.commission_asset`,
      [positionIds],
    );
    return groupFills(rows.map((r) => ({ key: r.position_id, ...r })));
  }

  /** Realised P&L of closed trades per window ending at `nowMs` (by exit time). */
  async realized(userId: number, scope: KeyScope, nowMs: number): Promise<WindowSums> {
    const [r] = await this.select<WindowSums>(
      `SELECT ${WINDOWS("exit_time", "$4::timestamptz").replace(/X/g, "pnl")} FROM trades
        WHERE user_id = $1 AND ${SCOPE("api_key_id")}`,
      [userId, scope.only ?? null, scope.except ?? null, new Date(nowMs).toISOString()],
    );
    return r;
  }

  /** Commissions of every fill per window ending at `nowMs`, by symbol and commission asset. */
  async fees(userId: number, scope: KeyScope, nowMs: number): Promise<FeeRow[]> {
    const w = WINDOWS("f.executed_at", "$4::timestamptz");
    return this.select<FeeRow>(
      `SELECT f.symbol, f.commission_asset AS asset, ${w.replace(/X/g, "f.commission")},
              ${w
                .replace(/X/g, "f.commission * f.price")
                .replace(/ AS today/, " AS today_px")
                .replace(/ AS d7/, " AS d7_px")
                .replace(/ AS d30/, " AS d30_px")
                .replace(/ AS "all"/, " AS all_px")}
         FROM fills f JOIN orders o ON o.id = f.order_id
        WHERE f.user_id = $1 AND f.commission <> 0 AND ${SCOPE("o.api_key_id")}
        GROUP BY f.symbol, f.commission_asset`,
      [userId, scope.only ?? null, scope.except ?? null, new Date(nowMs).toISOString()],
    );
  }

  // --- performance

  /** The snapshots from `fromMs` on, and the last one before it (the starting equity). */
  async snapshots(
    userId: number,
    mode: Mode,
    fromMs: number | null,
  ): Promise<{ before?: Snapshot; rows: Snapshot[] }> {
    const rows = await this.select<{ t: string; e: string }>(
      `SELECT (extract(epoch FROM time) * 1000)::float8::text AS t, equity::float8::text AS e FROM equity_snapshots
        WHERE user_id = $1 AND mode = $2 AND strategy_id IS NULL
          AND ($3::timestamptz IS NULL OR time >= $3::timestamptz)
        ORDER BY time, id`,
      [userId, mode, fromMs === null ? null : new Date(fromMs).toISOString()],
    );
    let before: Snapshot | undefined;
    if (fromMs !== null) {
      const [b] = await this.select<{ t: string; e: string }>(
        `SELECT (extract(epoch FROM time) * 1000)::float8::text AS t, equity::float8::text AS e FROM equity_snapshots
          WHERE user_id = $1 AND mode = $2 AND strategy_id IS NULL AND time < $3::timestamptz
          ORDER BY time DESC, id DESC LIMIT 1`,
        [userId, mode, new Date(fromMs).toISOString()],
      );
      if (b) before = { time: Number(b.t), equity: Number(b.e) };
    }
    return { before, rows: rows.map((r) => ({ time: Number(r.t), equity: Number(r.e) })) };
  }

  /** Closed trades of the keys from `fromMs` on, oldest first, a batch at a time. */
  async *trades(
    userId: number,
    keyIds: string[],
    fromMs: number | null,
    batch = 10_000,
  ): AsyncGenerator<PerfTrade[]> {
    let after: { t: string; id: string } | null = null;
    for (;;) {
      const rows: (PerfTrade & { ct: string })[] = await this.select<PerfTrade & { ct: string }>(
        `SELECT id, strategy_id, symbol, pnl::float8 AS pnl, fees::float8 AS fees,
                (extract(epoch FROM exit_time) * 1000)::float8 AS exit_ms,
                to_char(exit_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ct
           FROM trades
          WHERE user_id = $1 AND api_key_id = ANY($2::bigint[])
            AND ($3::timestamptz IS NULL OR exit_time >= $3::timestamptz)
            AND ($4::timestamptz IS NULL OR (exit_time, id) > ($4::timestamptz, $5::bigint))
          ORDER BY exit_time, id LIMIT $6`,
        [
          userId,
          keyIds,
          fromMs === null ? null : new Date(fromMs).toISOString(),
          after?.t ?? null,
          after?.id ?? null,
          batch,
        ],
      );
      if (!rows.length) return;
      yield rows.map((r) => ({ ...r, pnl: Number(r.pnl), fees: Number(r.fees), exit_ms: Number(r.exit_ms) }));
      if (rows.length < batch) return;
      const last = rows[rows.length - 1];
      after = { t: last.ct, id: String(last.id) };
    }
  }

  /** When positions of the keys were open, for the exposure figure. */
  async positionSpans(
    userId: number,
    keyIds: string[],
    fromMs: number | null,
  ): Promise<{ open: number; close: number | null }[]> {
    const rows = await this.select<{ o: string; c: string | null }>(
      `SELECT (extract(epoch FROM opened_at) * 1000)::float8::text AS o,
              (extract(epoch FROM closed_at) * 1000)::float8::text AS c
         FROM positions
        WHERE user_id = $1 AND api_key_id = ANY($2::bigint[])
          AND ($3::timestamptz IS NULL OR closed_at IS NULL OR closed_at >= $3::timestamptz)`,
      [userId, keyIds, fromMs === null ? null : new Date(fromMs).toISOString()],
    );
    return rows.map((r) => ({ open: Number(r.o), close: numberOrNull(r.c) }));
  }

  /** Entries refused for being below the venue's minimum notional (the backtest's skippedOrders). */
  async skippedEntries(userId: number, keyIds: string[], fromMs: number | null): Promise<number> {
    const [r] = await this.select<{ n: string }>(
      `SELECT count(*)::text AS n FROM orders
        WHERE user_id = $1 AND api_key_id = ANY($2::bigint[]) AND state = 'DENIED'
          AND deny_reason = 'below_min_notional' AND ($3::timestamptz IS NULL OR created_at >= $3::timestamptz)`,
      [userId, keyIds, fromMs === null ? null : new Date(fromMs).toISOString()],
    );
    return Number(r.n);
  }

  async strategyNames(userId: number, ids: string[]): Promise<Map<string, string>> {
    if (!ids.length) return new Map();
    const rows = await this.select<{ id: string; name: string }>(
      `SELECT id, name FROM strategies WHERE user_id = $1 AND id = ANY($2::bigint[])`,
      [userId, ids],
    );
    return new Map(rows.map((r) => [String(r.id), r.name]));
  }

  /**
   * Stores an account-level snapshot at `atMs` on the mode's clock (the venue's for paper) unless
   * one of the same user and mode was taken within `minGapMs` of this machine's clock (several
   * nodes react to the same event; one snapshot is enough).
   */
  async insertSnapshot(
    userId: number,
    mode: Mode,
    equity: string,
    balances: unknown,
    minGapMs: number,
    atMs: number,
  ): Promise<boolean> {
    const rows = await this.select<{ id: string }>(
      `INSERT INTO equity_snapshots (user_id, strategy_id, time, taken_at, equity, balances, mode)
       SELECT $1, NULL, $6::timestamptz, now(), $3::numeric, $4::jsonb, $2
        WHERE NOT EXISTS (SELECT 1 FROM equity_snapshots
                           WHERE user_id = $1 AND mode = $2 AND strategy_id IS NULL
                             AND taken_at > now() - make_interval(secs => $5::float8 / 1000))
       RETURNING id`,
      [userId, mode, equity, JSON.stringify(balances), minGapMs, new Date(atMs).toISOString()],
    );
    return rows.length > 0;
  }

  /** Users and modes with a readable key whose last snapshot is older than `ageMs`. */
  async snapshotsDue(ageMs: number): Promise<{ userId: number; mode: Mode }[]> {
    const rows = await this.select<{ user_id: string; paper: boolean }>(
      `SELECT DISTINCT k.user_id, k.paper FROM user_api_keys k
        WHERE k.status = 'valid'
          AND NOT EXISTS (SELECT 1 FROM equity_snapshots s
                           WHERE s.user_id = k.user_id AND s.mode = CASE WHEN k.paper THEN 'paper' ELSE 'live' END
                             AND s.strategy_id IS NULL AND s.taken_at > now() - make_interval(secs => $1::float8 / 1000))
        ORDER BY k.user_id, k.paper`,
      [ageMs],
    );
    return rows.map((r) => ({ userId: Number(r.user_id), mode: r.paper ? "paper" : "live" }));
  }

  /** The last close stored for a symbol (any interval): a price when the venue cannot give one. */
  async lastClose(symbol: string): Promise<string | undefined> {
    const [r] = await this.select<{ close: string }>(
      `SELECT close::text FROM klines WHERE symbol = $1 AND interval = ANY($2::text[])
        ORDER BY close_time DESC LIMIT 1`,
      [symbol, ["1m", "5m", "15m", "1h", "4h", "1d"]],
    );
    return r?.close;
  }
}

function groupFills(
  rows: { key: string; asset: string | null; qty: string; quote: string; fee: string }[],
): Map<string, FillSums> {
  // rows are per key and commission asset: a key's quantities add up over its assets
  const add = (a: string, b: string) => Decimal.parse(a).add(Decimal.parse(b)).toString();
  const acc = new Map<string, FillSums>();
  for (const r of rows) {
    const k = String(r.key);
    let s = acc.get(k);
    if (!s) acc.set(k, (s = { qty: "0", quote: "0", fees: {} }));
    s.qty = add(s.qty, r.qty);
    s.quote = add(s.quote, r.quote);
    if (r.asset) s.fees[r.asset] = add(s.fees[r.asset] ?? "0", r.fee);
  }
  return acc;
}
