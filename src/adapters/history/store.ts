// Reads of a user's order and trade history, decision and system logs. Every query is scoped to
// the caller's user id and binds its values. Pages are keyset walks over (time, id), newest first:
// no OFFSET, so page n costs what page 1 costs, and rows inserted meanwhile neither repeat nor
// shift a walk. Times and amounts leave PostgreSQL as text: decimals exactly as stored, instants
// as ISO-8601 UTC.
import { QueryTypes, type Sequelize } from "sequelize";
import { cursorTime, encodeCursor, isoTime, type Cursor } from "./cursor";

export type Mode = "live" | "paper";

export interface TradeFilters {
  /** epoch ms, inclusive (exit time) */
  from?: number;
  /** epoch ms, exclusive (exit time) */
  to?: number;
  symbol?: string;
  strategyId?: number;
  side?: string;
  exitReason?: string;
  mode?: Mode;
  /** decimal strings, inclusive */
  minPnl?: string;
  maxPnl?: string;
}

export interface OrderFilters {
  /** epoch ms, inclusive (creation time) */
  from?: number;
  to?: number;
  symbol?: string;
  strategyId?: number;
  side?: "BUY" | "SELL";
  status?: string;
  mode?: Mode;
}

export interface TradeRow {
  id: string;
  strategy_id: string | null;
  api_key_id: string | null;
  symbol: string;
  side: string;
  qty: string;
  entry_time: string;
  entry_price: string;
  exit_time: string;
  exit_price: string;
  fees: string;
  pnl: string;
  exit_reason: string;
  strategy_name: string | null;
  /** the key's paper flag; null when the key is gone */
  paper: boolean | null;
  cursor_time: string;
}

export interface OrderRow {
  id: string;
  strategy_id: string | null;
  api_key_id: string | null;
  client_order_id: string;
  exchange_order_id: string | null;
  symbol: string;
  side: string;
  type: string;
  role: string;
  state: string;
  quantity: string | null;
  quote_order_qty: string | null;
  price: string | null;
  stop_price: string | null;
  filled_qty: string;
  cumulative_quote: string;
  reject_reason: string | null;
  deny_reason: string | null;
  origin: string;
  created_at: string;
  strategy_name: string | null;
  paper: boolean | null;
  cursor_time: string;
}

export interface LogRow {
  source: "decision" | "system";
  id: string;
  strategy_id: string | null;
  level: string;
  kind: string | null;
  action: string | null;
  message: string;
  data: unknown;
  time: string;
  cursor_time: string;
  rank: number;
}

export interface LogFilters {
  strategyId?: number;
  /** the least severe level included */
  level?: "debug" | "info" | "warn" | "error" | "fatal";
  from?: number;
  to?: number;
  source?: "decision" | "system";
}

export interface Page<T> {
  rows: T[];
  nextCursor: string | null;
}

export interface TradeTotals {
  count: number;
  pnl: string;
  fees: string;
}

const LEVELS = ["debug", "info", "warn", "error", "fatal"] as const;

const TRADE_COLS = `t.id, t.strategy_id, t.api_key_id, t.symbol, t.side, t.qty::text, ${isoTime("t.entry_time")} AS entry_time,
  t.entry_price::text, ${isoTime("t.exit_time")} AS exit_time, t.exit_price::text, t.fees::text, t.pnl::text,
  t.exit_reason, s.name AS strategy_name, k.paper, ${cursorTime("t.exit_time")} AS cursor_time`;
// strategy name and mode come with each row (primary-key lookups), so a page is one statement
const TRADES_FROM = `trades t LEFT JOIN strategies s ON s.id = t.strategy_id LEFT JOIN user_api_keys k ON k.id = t.api_key_id`;

const ORDER_COLS = `o.id, o.strategy_id, o.api_key_id, o.client_order_id, o.exchange_order_id, o.symbol, o.side, o.type,
  o.role, o.state, o.quantity::text, o.quote_order_qty::text, o.price::text, o.stop_price::text, o.filled_qty::text,
  o.cumulative_quote::text, o.reject_reason, o.deny_reason, o.origin, ${isoTime("o.created_at")} AS created_at,
  s.name AS strategy_name, k.paper, ${cursorTime("o.created_at")} AS cursor_time`;
const ORDERS_FROM = `orders o LEFT JOIN strategies s ON s.id = o.strategy_id LEFT JOIN user_api_keys k ON k.id = o.api_key_id`;

const iso = (ms: number) => new Date(ms).toISOString();

/** Bind values collected while a WHERE clause is built; `p(v)` returns its placeholder. */
class Binds {
  readonly values: unknown[] = [];
  p(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

export class HistoryStore {
  constructor(readonly sequelize: Sequelize) {}

  private select<T extends object>(sql: string, bind: unknown[]): Promise<T[]> {
    return this.sequelize.query<T>(sql, { bind, type: QueryTypes.SELECT });
  }

  private tradeWhere(b: Binds, userId: number, f: TradeFilters): string {
    const w = [`t.user_id = ${b.p(userId)}`];
    if (f.from !== undefined) w.push(`t.exit_time >= ${b.p(iso(f.from))}::timestamptz`);
    if (f.to !== undefined) w.push(`t.exit_time < ${b.p(iso(f.to))}::timestamptz`);
    if (f.symbol !== undefined) w.push(`t.symbol = ${b.p(f.symbol)}`);
    if (f.strategyId !== undefined) w.push(`t.strategy_id = ${b.p(f.strategyId)}`);
    if (f.side !== undefined) w.push(`t.side = ${b.p(f.side)}`);
    if (f.exitReason !== undefined) w.push(`t.exit_reason = ${b.p(f.exitReason)}`);
    if (f.mode !== undefined) w.push(`k.paper = ${b.p(f.mode === "paper")}`);
    if (f.minPnl !== undefined) w.push(`t.pnl >= ${b.p(f.minPnl)}::numeric`);
    if (f.maxPnl !== undefined) w.push(`t.pnl <= ${b.p(f.maxPnl)}::numeric`);
    return w.join(" AND ");
  }

  private orderWhere(b: Binds, userId: number, f: OrderFilters): string {
    const w = [`o.user_id = ${b.p(userId)}`];
    if (f.from !== undefined) w.push(`o.created_at >= ${b.p(iso(f.from))}::timestamptz`);
    if (f.to !== undefined) w.push(`o.created_at < ${b.p(iso(f.to))}::timestamptz`);
    if (f.symbol !== undefined) w.push(`o.symbol = ${b.p(f.symbol)}`);
    if (f.strategyId !== undefined) w.push(`o.strategy_id = ${b.p(f.strategyId)}`);
    if (f.side !== undefined) w.push(`o.side = ${b.p(f.side)}`);
    if (f.status !== undefined) w.push(`o.state = ${b.p(f.status)}`);
    if (f.mode !== undefined) w.push(`k.paper = ${b.p(f.mode === "paper")}`);
    return w.join(" AND ");
  }

  /** The SQL of one trades page, with its binds (the bench runs it bare beside the API). */
  async tradePageQuery(
    userId: number,
    f: TradeFilters,
    limit: number,
    after?: Cursor,
  ): Promise<{ sql: string; bind: unknown[] }> {
    const b = new Binds();
    let where = this.tradeWhere(b, userId, f);
    if (after) where += ` AND (t.exit_time, t.id) < (${b.p(after.t)}::timestamptz, ${b.p(after.id)}::bigint)`;
    return {
      sql: `SELECT ${TRADE_COLS} FROM ${TRADES_FROM} WHERE ${where} ORDER BY t.exit_time DESC, t.id DESC LIMIT ${b.p(limit)}`,
      bind: b.values,
    };
  }

  async tradesPage(userId: number, f: TradeFilters, limit: number, after?: Cursor): Promise<Page<TradeRow>> {
    const q = await this.tradePageQuery(userId, f, limit, after);
    const rows = await this.select<TradeRow>(q.sql, q.bind);
    const last = rows[rows.length - 1];
    return {
      rows,
      nextCursor:
        rows.length === limit && last ? encodeCursor({ t: last.cursor_time, id: String(last.id) }) : null,
    };
  }

  async tradeTotals(userId: number, f: TradeFilters): Promise<TradeTotals> {
    const b = new Binds();
    const where = this.tradeWhere(b, userId, f);
    const [r] = await this.select<{ count: string; pnl: string; fees: string }>(
      `SELECT count(*)::text AS count, COALESCE(sum(t.pnl), 0)::text AS pnl, COALESCE(sum(t.fees), 0)::text AS fees
         FROM ${TRADES_FROM} WHERE ${where}`,
      b.values,
    );
    return { count: Number(r.count), pnl: r.pnl, fees: r.fees };
  }

  /** Cumulative realised P&L of the filtered trades in exit order, in at most `points` steps. */
  async tradePnlCurve(
    userId: number,
    f: TradeFilters,
    points: number,
  ): Promise<{ time: number; value: number }[]> {
    const b = new Binds();
    const where = this.tradeWhere(b, userId, f);
    const [span] = await this.select<{ lo: string | null; hi: string | null }>(
      `SELECT (extract(epoch FROM min(t.exit_time)) * 1000)::float8::text AS lo,
              (extract(epoch FROM max(t.exit_time)) * 1000)::float8::text AS hi
         FROM ${TRADES_FROM} WHERE ${where}`,
      b.values,
    );
    if (span.lo === null || span.hi === null) return [];
    const lo = Number(span.lo);
    const step = Math.max(1, (Number(span.hi) - lo) / points);
    const b2 = new Binds();
    const where2 = this.tradeWhere(b2, userId, f);
    const rows = await this.select<{ k: string; pnl: string; t: string }>(
      `SELECT floor((extract(epoch FROM t.exit_time) * 1000 - ${b2.p(lo)}::float8) / ${b2.p(step)}::float8)::text AS k,
              sum(t.pnl)::float8::text AS pnl, (extract(epoch FROM max(t.exit_time)) * 1000)::float8::text AS t
         FROM ${TRADES_FROM} WHERE ${where2} GROUP BY 1 ORDER BY 1`,
      b2.values,
    );
    let cum = 0;
    return rows.map((r) => ({ time: Number(r.t), value: (cum += Number(r.pnl)) }));
  }

  /**
   * The filtered trades in page order, one keyset batch at a time: an export of any size holds
   * one batch. `limit` caps the rows in all.
   */
  async *tradeBatches(
    userId: number,
    f: TradeFilters,
    batch = 1000,
    limit = Infinity,
  ): AsyncGenerator<TradeRow[]> {
    let after: Cursor | undefined;
    let sent = 0;
    while (sent < limit) {
      const n = Math.min(batch, limit - sent);
      const q = await this.tradePageQuery(userId, f, n, after);
      const rows = await this.select<TradeRow>(q.sql, q.bind);
      if (!rows.length) return;
      sent += rows.length;
      yield rows;
      if (rows.length < n) return;
      const last = rows[rows.length - 1];
      after = { t: last.cursor_time, id: String(last.id) };
    }
  }

  async ordersPage(userId: number, f: OrderFilters, limit: number, after?: Cursor): Promise<Page<OrderRow>> {
    const b = new Binds();
    let where = this.orderWhere(b, userId, f);
    if (after)
      where += ` AND (o.created_at, o.id) < (${b.p(after.t)}::timestamptz, ${b.p(after.id)}::bigint)`;
    const rows = await this.select<OrderRow>(
      `SELECT ${ORDER_COLS} FROM ${ORDERS_FROM} WHERE ${where} ORDER BY o.created_at DESC, o.id DESC LIMIT ${b.p(limit)}`,
      b.values,
    );
    const last = rows[rows.length - 1];
    return {
      rows,
      nextCursor:
        rows.length === limit && last ? encodeCursor({ t: last.cursor_time, id: String(last.id) }) : null,
    };
  }

  /** Count, quote filled and fees per asset of the filtered orders. */
  async orderTotals(
    userId: number,
    f: OrderFilters,
  ): Promise<{ count: number; filledQuote: string; fees: Record<string, string> }> {
    const b = new Binds();
    const where = this.orderWhere(b, userId, f);
    const [r] = await this.select<{ count: string; quote: string }>(
      `SELECT count(*)::text AS count, COALESCE(sum(o.cumulative_quote), 0)::text AS quote FROM ${ORDERS_FROM} WHERE ${where}`,
      b.values,
    );
    const fees = await this.select<{ asset: string | null; fee: string }>(
      `SELECT f.commission_asset AS asset, sum(f.commission)::text AS fee
         FROM fills f JOIN orders o ON o.id = f.order_id LEFT JOIN strategies s ON s.id = o.strategy_id
              LEFT JOIN user_api_keys k ON k.id = o.api_key_id
        WHERE ${where} AND f.user_id = o.user_id
        GROUP BY f.commission_asset ORDER BY f.commission_asset`,
      b.values,
    );
    return {
      count: Number(r.count),
      filledQuote: r.quote,
      fees: Object.fromEntries(fees.filter((x) => x.asset !== null).map((x) => [x.asset as string, x.fee])),
    };
  }

  /**
   * The user's strategy decisions and the system log records about them (their user id, or one of
   * their strategies), merged newest first. Ties on time are broken by source, then id, so the
   * cursor (time, source, id) is a strict order across both tables.
   */
  async logsPage(userId: number, f: LogFilters, limit: number, after?: Cursor): Promise<Page<LogRow>> {
    const b = new Binds();
    const u = b.p(userId);
    const lim = b.p(limit);
    const levels = f.level ? b.p(LEVELS.slice(LEVELS.indexOf(f.level))) : undefined;
    const common = (alias: string, rank: number) => {
      const w: string[] = [];
      if (f.strategyId !== undefined) w.push(`${alias}.strategy_id = ${b.p(f.strategyId)}`);
      if (levels) w.push(`${alias}.level = ANY(${levels}::text[])`);
      if (f.from !== undefined) w.push(`${alias}.time >= ${b.p(iso(f.from))}::timestamptz`);
      if (f.to !== undefined) w.push(`${alias}.time < ${b.p(iso(f.to))}::timestamptz`);
      if (after) {
        const t = b.p(after.t);
        // the first conjunct is what an index can use; the second breaks ties exactly
        w.push(
          `${alias}.time <= ${t}::timestamptz AND (${alias}.time < ${t}::timestamptz OR ${rank} < ${b.p(after.k ?? 0)}::int
             OR (${rank} = ${b.p(after.k ?? 0)}::int AND ${alias}.id < ${b.p(after.id)}::bigint))`,
        );
      }
      return w.length ? ` AND ${w.join(" AND ")}` : "";
    };
    const parts: string[] = [];
    if (f.source !== "system")
      parts.push(`(SELECT 'decision' AS source, d.id, d.strategy_id, d.level, d.kind, d.action, d.message, d.data,
                          ${isoTime("d.time")} AS time, ${cursorTime("d.time")} AS cursor_time, 1 AS rank, d.time AS ts
                     FROM strategy_decisions d WHERE d.user_id = ${u}${common("d", 1)}
                    ORDER BY d.time DESC, d.id DESC LIMIT ${lim})`);
    if (f.source !== "decision")
      parts.push(`(SELECT 'system' AS source, l.id, l.strategy_id, l.level, l.module AS kind, NULL AS action, l.message,
                          NULL::jsonb AS data, ${isoTime("l.time")} AS time, ${cursorTime("l.time")} AS cursor_time,
                          0 AS rank, l.time AS ts
                     FROM system_logs l
                    WHERE (l.user_id = ${u} OR l.strategy_id IN (SELECT s.id FROM strategies s WHERE s.user_id = ${u}))
                          ${common("l", 0)}
                    ORDER BY l.time DESC, l.id DESC LIMIT ${lim})`);
    const rows = await this.select<LogRow & { ts: unknown }>(
      `SELECT * FROM (${parts.join(" UNION ALL ")}) x ORDER BY ts DESC, rank DESC, id DESC LIMIT ${lim}`,
      b.values,
    );
    const last = rows[rows.length - 1];
    return {
      rows: rows.map(({ ts: _ts, ...r }) => r),
      nextCursor:
        rows.length === limit && last
          ? encodeCursor({ t: last.cursor_time, id: String(last.id), k: Number(last.rank) })
          : null,
    };
  }
}
