// Orders, fills, positions, order lists and closed trades in PostgreSQL: what execution knows
// about money, written before and after every venue call. Every statement binds its values.
// An order row exists before its request leaves (state PENDING); state changes are
// compare-and-set on the state a flow read, so two writers cannot both advance one order.
import { QueryTypes, type Sequelize, type Transaction } from "sequelize";
import type { OrderState, RecordedOrder } from "../../core/execution/order-state";

export type OrderRole = "entry" | "exit" | "close" | "take_profit" | "stop_loss";

export interface OrderRow {
  id: string;
  user_id: string;
  strategy_id: string | null;
  api_key_id: string | null;
  order_list_id: string | null;
  intent_id: string;
  client_order_id: string;
  exchange_order_id: string | null;
  symbol: string;
  side: "BUY" | "SELL";
  type: string;
  role: OrderRole;
  quantity: string | null;
  quote_order_qty: string | null;
  price: string | null;
  stop_price: string | null;
  state: OrderState;
  exchange_status: string | null;
  filled_qty: string;
  cumulative_quote: string;
  reject_code: string | null;
  reject_reason: string | null;
  deny_reason: string | null;
  origin: "aura" | "adopted" | "external";
  lookups: number;
  candle_open: string | null;
  fencing_token: string | null;
  submitted_at: Date | null;
  created_at: Date;
}

export interface PositionRow {
  id: string;
  user_id: string;
  strategy_id: string | null;
  api_key_id: string | null;
  entry_order_id: string | null;
  order_list_id: string | null;
  intent_id: string | null;
  symbol: string;
  status: "open" | "closed";
  protection: "pending" | "protected" | "unprotected" | "none";
  qty: string;
  entry_price: string;
  entry_fees: string;
  exit_price: string | null;
  exit_fees: string;
  realized_pnl: string | null;
  exit_reason: string | null;
  opened_at: Date;
  closed_at: Date | null;
  entry_candle: string | null;
}

export interface ListRow {
  id: string;
  user_id: string;
  strategy_id: string | null;
  api_key_id: string | null;
  position_id: string | null;
  intent_id: string | null;
  symbol: string;
  list_client_order_id: string;
  exchange_order_list_id: string | null;
  state: string;
  list_status_type: string | null;
  list_order_status: string | null;
  quantity: string;
  take_profit_price: string | null;
  stop_price: string | null;
  stop_limit_price: string | null;
}

export interface NewOrder {
  userId: number;
  strategyId: number | null;
  apiKeyId: number;
  intentId: string;
  clientOrderId: string;
  symbol: string;
  side: "BUY" | "SELL";
  type: string;
  role: OrderRole;
  quantity?: string | null;
  quoteOrderQty?: string | null;
  price?: string | null;
  stopPrice?: string | null;
  state: OrderState;
  denyReason?: string | null;
  rejectReason?: string | null;
  candleOpen?: number | null;
  fencingToken?: number | null;
  orderListId?: string | null;
  origin?: "aura" | "adopted" | "external";
  exchangeOrderId?: string | null;
  exchangeStatus?: string | null;
  /** what the intent asked for, stored with the row (a crash must not separate them) */
  params?: unknown;
}

export interface NewFill {
  orderId: string;
  userId: number | string;
  symbol: string;
  tradeId: string;
  side: "BUY" | "SELL";
  price: string;
  qty: string;
  quoteQty: string;
  commission: string;
  commissionAsset: string | null;
  isMaker: boolean;
  executedAt: Date;
}

const ORDER_COLS = `id, user_id, strategy_id, api_key_id, order_list_id, intent_id, client_order_id, exchange_order_id,
  symbol, side, type, role, quantity, quote_order_qty, price, stop_price, state, exchange_status, filled_qty,
  cumulative_quote, reject_code, reject_reason, deny_reason, origin, lookups, candle_open, fencing_token,
  submitted_at, created_at`;

const POSITION_COLS = `id, user_id, strategy_id, api_key_id, entry_order_id, order_list_id, intent_id, symbol, status,
  protection, qty, entry_price, entry_fees, exit_price, exit_fees, realized_pnl, exit_reason, opened_at, closed_at,
  entry_candle`;

const nul = <T>(v: T | undefined): T | null => (v === undefined ? null : v);

/** What a state move may record besides the state. */
export interface StateExtra {
  exchangeOrderId?: string;
  exchangeStatus?: string;
  filledQty?: string;
  cumulativeQuote?: string;
  rejectCode?: string;
  rejectReason?: string;
  submitted?: boolean;
  lookups?: number;
}

/** An order's move from $2 to $3, only if nobody moved it first. */
const MOVE_ORDER = `UPDATE orders SET state = $3,
        exchange_order_id = COALESCE($4, exchange_order_id),
        exchange_status = COALESCE($5, exchange_status),
        filled_qty = COALESCE($6::numeric, filled_qty),
        cumulative_quote = COALESCE($7::numeric, cumulative_quote),
        reject_code = COALESCE($8, reject_code),
        reject_reason = COALESCE($9, reject_reason),
        submitted_at = CASE WHEN $10 THEN now() ELSE submitted_at END,
        lookups = COALESCE($11, lookups),
        version = version + 1, updated_at = now()
  WHERE id = $1 AND state = $2`;

const moveBind = (id: string, from: OrderState, to: OrderState, extra: StateExtra): unknown[] => [
  id,
  from,
  to,
  nul(extra.exchangeOrderId),
  nul(extra.exchangeStatus),
  nul(extra.filledQty),
  nul(extra.cumulativeQuote),
  nul(extra.rejectCode),
  nul(extra.rejectReason),
  extra.submitted === true,
  nul(extra.lookups),
];

/** Sums of an order's recorded fills. */
export interface FillTotals {
  qty: string;
  quote: string;
  fee_base: string;
  fee_quote: string;
  last: Date | null;
}

/** FillTotals over the rows of `src` (qty, quote_qty, commission, commission_asset, executed_at). */
const TOTALS_OF = (src: string, base: string, quote: string) =>
  `COALESCE(sum(qty), 0)::text AS qty, COALESCE(sum(quote_qty), 0)::text AS quote,
   COALESCE(sum(commission) FILTER (WHERE commission_asset = ${base}), 0)::text AS fee_base,
   COALESCE(sum(commission) FILTER (WHERE commission_asset = ${quote}), 0)::text AS fee_quote,
   max(executed_at) AS last
   FROM ${src}`;

export class ExecutionStore {
  constructor(readonly sequelize: Sequelize) {}

  private select<T extends object>(sql: string, bind: unknown[], transaction?: Transaction): Promise<T[]> {
    return this.sequelize.query<T>(sql, {
      bind: bind.map((v) => (v === undefined ? null : v)),
      type: QueryTypes.SELECT,
      transaction,
    });
  }

  private async exec(sql: string, bind: unknown[], transaction?: Transaction): Promise<number> {
    const [, meta] = await this.sequelize.query(sql, {
      bind: bind.map((v) => (v === undefined ? null : v)),
      transaction,
    });
    return (meta as { rowCount?: number } | undefined)?.rowCount ?? 0;
  }

  transaction<T>(fn: (t: Transaction) => Promise<T>): Promise<T> {
    return this.sequelize.transaction(fn);
  }

  // --- fencing and guards

  /** The strategy lease as it is now: a command carrying another token is stale. */
  async leaseOf(strategyId: number): Promise<{ fencing_token: string; expired: boolean } | undefined> {
    const [row] = await this.select<{ fencing_token: string; expired: boolean }>(
      `SELECT fencing_token, expires_at < now() AS expired FROM strategy_leases WHERE strategy_id = $1`,
      [strategyId],
    );
    return row;
  }

  /**
   * Takes the account×symbol guard for this node, or undefined while another node holds an
   * unexpired one. The token grows on every take, so a holder can tell it was overtaken.
   */
  async takeGuard(
    apiKeyId: number,
    symbol: string,
    node: string,
    intentId: string,
    ttlMs: number,
  ): Promise<number | undefined> {
    const [row] = await this.select<{ fencing_token: string }>(
      `INSERT INTO execution_guards (api_key_id, symbol, owner_node, fencing_token, intent_id, expires_at)
       VALUES ($1, $2, $3, 1, $4, now() + make_interval(secs => $5::float8 / 1000))
       ON CONFLICT (api_key_id, symbol) DO UPDATE
          SET owner_node = EXCLUDED.owner_node, intent_id = EXCLUDED.intent_id, expires_at = EXCLUDED.expires_at,
              fencing_token = execution_guards.fencing_token + 1
        WHERE execution_guards.expires_at IS NULL OR execution_guards.expires_at < now()
           OR execution_guards.owner_node = EXCLUDED.owner_node
       RETURNING fencing_token`,
      [apiKeyId, symbol, node, intentId, ttlMs],
    );
    return row ? Number(row.fencing_token) : undefined;
  }

  /** Extends a guard this holder still has; false when another node took it over meanwhile. */
  async renewGuard(apiKeyId: number, symbol: string, token: number, ttlMs: number): Promise<boolean> {
    return (
      (await this.exec(
        `UPDATE execution_guards SET expires_at = now() + make_interval(secs => $4::float8 / 1000)
          WHERE api_key_id = $1 AND symbol = $2 AND fencing_token = $3 AND expires_at IS NOT NULL`,
        [apiKeyId, symbol, token, ttlMs],
      )) > 0
    );
  }

  async releaseGuard(apiKeyId: number, symbol: string, token: number): Promise<void> {
    await this.exec(
      `UPDATE execution_guards SET expires_at = NULL, owner_node = NULL, intent_id = NULL
        WHERE api_key_id = $1 AND symbol = $2 AND fencing_token = $3`,
      [apiKeyId, symbol, token],
    );
  }

  /**
   * Everything an entry command checks before it is sized, in one round trip: the order its
   * intent may have placed already, the instance's lease, its flags, the cluster-wide halt, its
   * open positions and the user's exposure. Under a burst of entries the number of statements
   * per order, not their cost in the database, is what queues them.
   */
  async entryContext(
    intentId: string,
    strategyId: number,
    userId: number,
  ): Promise<{
    /** the row id of the order this intent placed already (a repeated command) */
    existingId: string | undefined;
    lease: { fencing_token: string; expired: boolean } | undefined;
    flags: { paused: boolean; status: string } | undefined;
    halted: boolean;
    openPositions: number;
    exposure: string;
  }> {
    const [r] = await this.select<{
      existing_id: string | null;
      lease: { fencing_token: string; expired: boolean } | null;
      flags: { paused: boolean; status: string } | null;
      halted: boolean | null;
      open_positions: string;
      exposure: string;
    }>(
      `SELECT (SELECT id::text FROM orders WHERE intent_id = $1 AND role = 'entry' AND origin = 'aura') AS existing_id,
              (SELECT jsonb_build_object('fencing_token', fencing_token::text, 'expired', expires_at < now())
                 FROM strategy_leases WHERE strategy_id = $2) AS lease,
              (SELECT jsonb_build_object('paused', paused, 'status', status) FROM strategies WHERE id = $2) AS flags,
              (SELECT value FROM trading_flags WHERE name = 'halt') AS halted,
              (SELECT count(*) FROM positions WHERE strategy_id = $2 AND status = 'open')::text AS open_positions,
              (SELECT COALESCE(sum(qty * entry_price), 0)::text FROM positions
                 WHERE user_id = $3 AND status = 'open') AS exposure`,
      [intentId, strategyId, userId],
    );
    return {
      existingId: r.existing_id ?? undefined,
      lease: r.lease ?? undefined,
      flags: r.flags ?? undefined,
      halted: r.halted === true,
      openPositions: Number(r.open_positions),
      exposure: r.exposure,
    };
  }

  // --- orders

  async orderByIntent(intentId: string, role: OrderRole): Promise<OrderRow | undefined> {
    const [row] = await this.select<OrderRow>(
      `SELECT ${ORDER_COLS} FROM orders WHERE intent_id = $1 AND role = $2 AND origin = 'aura'`,
      [intentId, role],
    );
    return row;
  }

  /** The recorded state and filled quantity of these orders (those that exist). */
  async recordedOrders(clientOrderIds: string[]): Promise<RecordedOrder[]> {
    const rows = await this.select<{ client_order_id: string; state: OrderState; filled_qty: string }>(
      `SELECT client_order_id, state, filled_qty::text AS filled_qty FROM orders WHERE client_order_id = ANY($1::text[])`,
      [clientOrderIds],
    );
    return rows.map((r) => ({ clientOrderId: r.client_order_id, state: r.state, filled: r.filled_qty }));
  }

  async orderByClientId(clientOrderId: string): Promise<OrderRow | undefined> {
    const [row] = await this.select<OrderRow>(`SELECT ${ORDER_COLS} FROM orders WHERE client_order_id = $1`, [
      clientOrderId,
    ]);
    return row;
  }

  async orderById(id: string): Promise<OrderRow | undefined> {
    const [row] = await this.select<OrderRow>(`SELECT ${ORDER_COLS} FROM orders WHERE id = $1`, [id]);
    return row;
  }

  /** Inserts the order row, or returns the existing one for the same client order id. */
  async insertOrder(o: NewOrder, t?: Transaction): Promise<{ row: OrderRow; inserted: boolean }> {
    const [row] = await this.select<OrderRow & { inserted: boolean }>(
      `WITH ins AS (
         INSERT INTO orders (user_id, strategy_id, api_key_id, intent_id, client_order_id, symbol, side, type, role,
                             quantity, quote_order_qty, price, stop_price, state, deny_reason, reject_reason,
                             candle_open, candle_time, fencing_token, order_list_id, origin, exchange_order_id,
                             exchange_status, params)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, $18, $19, $20, $21, $22,
                 $23::jsonb)
         ON CONFLICT (client_order_id) DO NOTHING
         RETURNING ${ORDER_COLS}, true AS inserted)
       SELECT * FROM ins
       UNION ALL
       SELECT ${ORDER_COLS}, false AS inserted FROM orders WHERE client_order_id = $5 AND NOT EXISTS (SELECT 1 FROM ins)`,
      [
        o.userId,
        o.strategyId,
        o.apiKeyId,
        o.intentId,
        o.clientOrderId,
        o.symbol,
        o.side,
        o.type,
        o.role,
        nul(o.quantity),
        nul(o.quoteOrderQty),
        nul(o.price),
        nul(o.stopPrice),
        o.state,
        nul(o.denyReason),
        nul(o.rejectReason),
        nul(o.candleOpen),
        nul(o.fencingToken),
        nul(o.orderListId),
        o.origin ?? "aura",
        nul(o.exchangeOrderId),
        nul(o.exchangeStatus),
        o.params === undefined ? null : JSON.stringify(o.params),
      ],
      t,
    );
    const { inserted, ...rest } = row;
    return { row: rest as OrderRow, inserted };
  }

  /** Moves an order from `from` to `to` if nobody else moved it first; returns whether it did. */
  async setState(
    id: string,
    from: OrderState,
    to: OrderState,
    extra: StateExtra = {},
    t?: Transaction,
  ): Promise<boolean> {
    return (await this.exec(MOVE_ORDER, moveBind(id, from, to, extra), t)) > 0;
  }

  /** setState that answers with the moved row (undefined when someone else moved it first). */
  async moveOrder(
    id: string,
    from: OrderState,
    to: OrderState,
    extra: StateExtra = {},
    t?: Transaction,
  ): Promise<OrderRow | undefined> {
    const [row] = await this.select<OrderRow>(
      `${MOVE_ORDER} RETURNING ${ORDER_COLS}`,
      moveBind(id, from, to, extra),
      t,
    );
    return row;
  }

  /** What the intent asked for (sizing, protection, the positions an exit is for). */
  async paramsOf(id: string): Promise<unknown> {
    const [row] = await this.select<{ params: unknown }>(`SELECT params FROM orders WHERE id = $1`, [id]);
    return row?.params ?? null;
  }

  async setLookups(id: string, lookups: number): Promise<void> {
    await this.exec(`UPDATE orders SET lookups = $2 WHERE id = $1`, [id, lookups]);
  }

  /** Orders whose outcome is not final, for one key (or all keys): what reconciliation looks at. */
  async unresolvedOrders(apiKeyId: number, symbol: string): Promise<OrderRow[]> {
    return this.select<OrderRow>(
      `SELECT ${ORDER_COLS} FROM orders
        WHERE state IN ('PENDING', 'SUBMITTING', 'UNKNOWN', 'NEW', 'PARTIALLY_FILLED', 'PENDING_CANCEL')
          AND origin <> 'external' AND api_key_id = $1 AND symbol = $2
        ORDER BY id`,
      [apiKeyId, symbol],
    );
  }

  async ordersOfList(orderListId: string): Promise<OrderRow[]> {
    return this.select<OrderRow>(`SELECT ${ORDER_COLS} FROM orders WHERE order_list_id = $1 ORDER BY id`, [
      orderListId,
    ]);
  }

  // --- fills

  /**
   * Records fills of one order (those already known are left as they are) and answers the
   * order's fill totals with them, in one statement.
   */
  async insertFills(
    orderId: string,
    fills: NewFill[],
    assets: { base: string; quote: string },
    t?: Transaction,
  ): Promise<FillTotals> {
    if (fills.some((f) => f.orderId !== orderId)) throw new Error("insertFills: fills of another order");
    // the statement's scan of fills does not see the rows its own INSERT adds: both are summed
    const [totals] = await this.select<FillTotals>(
      `WITH ins AS (
         INSERT INTO fills (order_id, user_id, symbol, exchange_trade_id, side, price, qty, quote_qty, commission,
                            commission_asset, is_maker, executed_at)
         SELECT order_id, user_id, symbol, trade_id, side, price, qty, quote_qty, commission, commission_asset, is_maker,
                executed_at
           FROM jsonb_to_recordset($1::jsonb) AS x(order_id bigint, user_id bigint, symbol text, trade_id text,
                side text, price numeric, qty numeric, quote_qty numeric, commission numeric, commission_asset text,
                is_maker boolean, executed_at timestamptz)
         ON CONFLICT (order_id, exchange_trade_id) DO NOTHING
         RETURNING qty, quote_qty, commission, commission_asset, executed_at
       ), every_fill AS (
         SELECT qty, quote_qty, commission, commission_asset, executed_at FROM fills WHERE order_id = $2
         UNION ALL
         SELECT qty, quote_qty, commission, commission_asset, executed_at FROM ins
       )
       SELECT ${TOTALS_OF("every_fill", "$3", "$4")}`,
      [
        JSON.stringify(
          fills.map((f) => ({
            order_id: f.orderId,
            user_id: f.userId,
            symbol: f.symbol,
            trade_id: f.tradeId,
            side: f.side,
            price: f.price,
            qty: f.qty,
            quote_qty: f.quoteQty,
            commission: f.commission,
            commission_asset: f.commissionAsset,
            is_maker: f.isMaker,
            executed_at: f.executedAt.toISOString(),
          })),
        ),
        orderId,
        assets.base,
        assets.quote,
      ],
      t,
    );
    return totals;
  }

  /**
   * Locks the order row for the transaction and returns its recorded fills: whoever records
   * fills of an order holds the lock, so the quantity limit is checked against all of them.
   */
  async lockFills(orderId: string, t: Transaction): Promise<{ exchange_trade_id: string; qty: string }[]> {
    const rows = await this.select<{ exchange_trade_id: string | null; qty: string | null }>(
      `SELECT f.exchange_trade_id, f.qty::text FROM orders o LEFT JOIN fills f ON f.order_id = o.id
        WHERE o.id = $1 FOR UPDATE OF o`,
      [orderId],
      t,
    );
    return rows.filter((r): r is { exchange_trade_id: string; qty: string } => r.exchange_trade_id !== null);
  }

  /** Sum of the order's recorded fills (quantity, quote, fee in base and in quote). */
  async fillTotals(
    orderId: string,
    baseAsset: string,
    quoteAsset: string,
    t?: Transaction,
  ): Promise<FillTotals> {
    const [r] = await this.select<FillTotals>(
      `SELECT ${TOTALS_OF("fills", "$2", "$3")} WHERE order_id = $1`,
      [orderId, baseAsset, quoteAsset],
      t,
    );
    return r;
  }

  /**
   * What the protection legs of a position (every list it has had) sold, per leg role: a
   * take-profit that filled in part before the list ended is part of the position's exit.
   */
  async legFills(positionId: string, baseAsset: string, quoteAsset: string, t?: Transaction) {
    return this.select<{
      role: OrderRole;
      qty: string;
      quote: string;
      fee_base: string;
      fee_quote: string;
      last: Date | null;
    }>(
      `SELECT o.role, sum(f.qty)::text AS qty, sum(f.quote_qty)::text AS quote,
              COALESCE(sum(f.commission) FILTER (WHERE f.commission_asset = $2), 0)::text AS fee_base,
              COALESCE(sum(f.commission) FILTER (WHERE f.commission_asset = $3), 0)::text AS fee_quote,
              max(f.executed_at) AS last
         FROM fills f JOIN orders o ON o.id = f.order_id JOIN order_lists l ON l.id = o.order_list_id
        WHERE l.position_id = $1
        GROUP BY o.role ORDER BY sum(f.qty) DESC`,
      [positionId, baseAsset, quoteAsset],
      t,
    );
  }

  // --- positions

  async openPositions(strategyId: number): Promise<PositionRow[]> {
    return this.select<PositionRow>(
      `SELECT ${POSITION_COLS} FROM positions WHERE strategy_id = $1 AND status = 'open' ORDER BY id`,
      [strategyId],
    );
  }

  async positionByIntent(intentId: string): Promise<PositionRow | undefined> {
    const [row] = await this.select<PositionRow>(
      `SELECT ${POSITION_COLS} FROM positions WHERE intent_id = $1`,
      [intentId],
    );
    return row;
  }

  async positionById(id: string, t?: Transaction): Promise<PositionRow | undefined> {
    const [row] = await this.select<PositionRow>(
      `SELECT ${POSITION_COLS} FROM positions WHERE id = $1`,
      [id],
      t,
    );
    return row;
  }

  /** Open positions whose protection is not live: the watchdog's and reconciliation's work list. */
  async positionsNeedingProtection(apiKeyId: number, symbol: string): Promise<PositionRow[]> {
    return this.select<PositionRow>(
      `SELECT ${POSITION_COLS} FROM positions
        WHERE status = 'open' AND protection IN ('pending', 'unprotected') AND api_key_id = $1 AND symbol = $2
        ORDER BY id`,
      [apiKeyId, symbol],
    );
  }

  /** The exposure of a user's open positions at their entry prices, in the quote asset. */

  /** Opens (or returns) the position an entry intent created. */
  async openPosition(
    p: {
      userId: number | string;
      strategyId: number | string | null;
      apiKeyId: number | string;
      entryOrderId: string;
      intentId: string;
      symbol: string;
      qty: string;
      entryPrice: string;
      entryFees: string;
      openedAt: Date;
      entryCandle: number | null;
      protection: PositionRow["protection"];
    },
    t?: Transaction,
  ): Promise<{ row: PositionRow; inserted: boolean }> {
    const [row] = await this.select<PositionRow & { inserted: boolean }>(
      `WITH ins AS (
         INSERT INTO positions (user_id, strategy_id, api_key_id, entry_order_id, intent_id, symbol, qty, entry_price,
                                entry_fees, opened_at, entry_candle, protection)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (intent_id) WHERE intent_id IS NOT NULL DO NOTHING
         RETURNING ${POSITION_COLS}, true AS inserted)
       SELECT * FROM ins
       UNION ALL
       SELECT ${POSITION_COLS}, false AS inserted FROM positions WHERE intent_id = $5 AND NOT EXISTS (SELECT 1 FROM ins)`,
      [
        p.userId,
        p.strategyId,
        p.apiKeyId,
        p.entryOrderId,
        p.intentId,
        p.symbol,
        p.qty,
        p.entryPrice,
        p.entryFees,
        p.openedAt,
        p.entryCandle,
        p.protection,
      ],
      t,
    );
    const { inserted, ...rest } = row;
    return { row: rest as PositionRow, inserted };
  }

  async setProtection(
    positionId: string,
    protection: PositionRow["protection"],
    orderListId?: string | null,
    t?: Transaction,
  ): Promise<void> {
    await this.exec(
      `UPDATE positions SET protection = $2, order_list_id = COALESCE($3, order_list_id),
              protected_at = CASE WHEN $2 = 'protected' THEN now() ELSE protected_at END, updated_at = now()
        WHERE id = $1 AND status = 'open'`,
      [positionId, protection, nul(orderListId)],
      t,
    );
  }

  /**
   * Closes a position once and records the round trip; a second close (a replayed report) is a
   * no-op that returns undefined.
   */
  async closePosition(
    c: {
      positionId: string;
      exitPrice: string;
      exitFees: string;
      pnl: string;
      exitReason: string;
      closedAt: Date;
    },
    t?: Transaction,
  ): Promise<PositionRow | undefined> {
    const [row] = await this.select<PositionRow>(
      `UPDATE positions SET status = 'closed', exit_price = $2, exit_fees = $3, realized_pnl = $4, exit_reason = $5,
              closed_at = $6, updated_at = now()
        WHERE id = $1 AND status = 'open'
        RETURNING ${POSITION_COLS}`,
      [c.positionId, c.exitPrice, c.exitFees, c.pnl, c.exitReason, c.closedAt],
      t,
    );
    if (!row) return undefined;
    await this.exec(
      `INSERT INTO trades (user_id, strategy_id, position_id, symbol, qty, entry_time, entry_price, exit_time,
                           exit_price, fees, pnl, exit_reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::numeric + $11::numeric, $12, $13)
       ON CONFLICT (position_id) DO NOTHING`,
      [
        row.user_id,
        row.strategy_id,
        row.id,
        row.symbol,
        row.qty,
        row.opened_at,
        row.entry_price,
        c.closedAt,
        c.exitPrice,
        row.entry_fees,
        c.exitFees,
        c.pnl,
        c.exitReason,
      ],
      t,
    );
    return row;
  }

  // --- order lists

  async insertList(
    l: {
      userId: number | string;
      strategyId: number | string | null;
      apiKeyId: number | string;
      positionId: string;
      intentId: string;
      symbol: string;
      listClientOrderId: string;
      quantity: string;
      takeProfitPrice: string;
      stopPrice: string;
      stopLimitPrice: string;
    },
    t?: Transaction,
  ): Promise<{ row: ListRow; inserted: boolean }> {
    const [row] = await this.select<ListRow & { inserted: boolean }>(
      `WITH ins AS (
         INSERT INTO order_lists (user_id, strategy_id, api_key_id, position_id, intent_id, symbol, list_client_order_id,
                                  quantity, take_profit_price, stop_price, stop_limit_price, state)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'PENDING')
         ON CONFLICT (list_client_order_id) DO NOTHING
         RETURNING *, true AS inserted)
       SELECT * FROM ins
       UNION ALL
       SELECT *, false AS inserted FROM order_lists WHERE list_client_order_id = $7 AND NOT EXISTS (SELECT 1 FROM ins)`,
      [
        l.userId,
        l.strategyId,
        l.apiKeyId,
        l.positionId,
        l.intentId,
        l.symbol,
        l.listClientOrderId,
        l.quantity,
        l.takeProfitPrice,
        l.stopPrice,
        l.stopLimitPrice,
      ],
      t,
    );
    const { inserted, ...rest } = row;
    return { row: rest as ListRow, inserted };
  }

  async listByClientId(listClientOrderId: string): Promise<ListRow | undefined> {
    const [row] = await this.select<ListRow>(`SELECT * FROM order_lists WHERE list_client_order_id = $1`, [
      listClientOrderId,
    ]);
    return row;
  }

  /** Every protection list a position has had, oldest first. */
  async listsOfPosition(positionId: string): Promise<ListRow[]> {
    return this.select<ListRow>(`SELECT * FROM order_lists WHERE position_id = $1 ORDER BY id`, [positionId]);
  }

  async listOfPosition(positionId: string): Promise<ListRow | undefined> {
    const [row] = await this.select<ListRow>(
      `SELECT * FROM order_lists WHERE position_id = $1 ORDER BY id DESC LIMIT 1`,
      [positionId],
    );
    return row;
  }

  async setListState(
    id: string,
    state: string,
    venue: { orderListId?: string; listStatusType?: string; listOrderStatus?: string } = {},
    t?: Transaction,
  ): Promise<void> {
    await this.exec(
      `UPDATE order_lists SET state = $2, exchange_order_list_id = COALESCE($3, exchange_order_list_id),
              list_status_type = COALESCE($4, list_status_type), list_order_status = COALESCE($5, list_order_status),
              updated_at = now()
        WHERE id = $1`,
      [id, state, nul(venue.orderListId), nul(venue.listStatusType), nul(venue.listOrderStatus)],
      t,
    );
  }

  /**
   * Lists the venue may still be executing, and finished ones with a leg still working (a
   * take-profit filling in parts): reconciliation checks each.
   */
  async liveLists(apiKeyId: number, symbol: string): Promise<ListRow[]> {
    return this.select<ListRow>(
      `SELECT * FROM order_lists l
        WHERE l.api_key_id = $1 AND l.symbol = $2
          AND (l.state IN ('PENDING', 'SUBMITTING', 'UNKNOWN', 'EXECUTING', 'PENDING_CANCEL')
               OR (l.state = 'ALL_DONE' AND EXISTS (
                     SELECT 1 FROM orders o WHERE o.order_list_id = l.id
                        AND o.state IN ('NEW', 'PARTIALLY_FILLED', 'PENDING_CANCEL'))))
        ORDER BY l.id`,
      [apiKeyId, symbol],
    );
  }

  /**
   * Account×symbol pairs with anything unresolved (orders in flight or open, live lists, open
   * positions), with the key's owner. A PENDING order is not work: nothing of it is on the venue.
   */
  /** Open positions of every account without a live protective OCO (for the metrics). */
  async unprotectedCount(): Promise<number> {
    const [row] = await this.select<{ n: string }>(
      `SELECT count(*) AS n FROM positions WHERE status = 'open' AND protection = 'unprotected'`,
      [],
    );
    return Number(row?.n ?? 0);
  }

  async work(): Promise<{ keyId: number; userId: number; symbol: string }[]> {
    return this.pairs(false);
  }

  /**
   * The pairs reconciliation looks at: those with work, and those an active strategy trades (an
   * order of ours can be on the venue without a row there only if something lost it).
   */
  async watchedPairs(): Promise<{ keyId: number; userId: number; symbol: string }[]> {
    return this.pairs(true);
  }

  private async pairs(withActive: boolean): Promise<{ keyId: number; userId: number; symbol: string }[]> {
    const rows = await this.select<{ k: string; s: string; u: string }>(
      `SELECT w.k, w.s, k.user_id AS u FROM (
         SELECT api_key_id AS k, symbol AS s FROM orders
          WHERE state IN ('SUBMITTING', 'UNKNOWN', 'NEW', 'PARTIALLY_FILLED', 'PENDING_CANCEL')
            AND api_key_id IS NOT NULL AND origin <> 'external'
         UNION
         SELECT api_key_id, symbol FROM order_lists
          WHERE state IN ('PENDING', 'SUBMITTING', 'UNKNOWN', 'EXECUTING', 'PENDING_CANCEL') AND api_key_id IS NOT NULL
         UNION
         SELECT api_key_id, symbol FROM positions WHERE status = 'open' AND api_key_id IS NOT NULL
         UNION
         SELECT api_key_id, symbol FROM strategies WHERE $1 AND status = 'active' AND api_key_id IS NOT NULL) w
       JOIN user_api_keys k ON k.id = w.k
       ORDER BY w.k, w.s`,
      [withActive],
    );
    return rows.map((r) => ({ keyId: Number(r.k), symbol: r.s, userId: Number(r.u) }));
  }

  async raiseAlert(a: {
    userId: number | string | null;
    strategyId?: number | string | null;
    kind: string;
    severity: "info" | "warn" | "error" | "critical";
    message: string;
    data?: unknown;
    dedupeKey?: string;
  }): Promise<boolean> {
    const rows = await this.select<{ id: string }>(
      `INSERT INTO alerts (user_id, strategy_id, kind, severity, message, data, dedupe_key)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
       ON CONFLICT (dedupe_key) WHERE acknowledged_at IS NULL AND dedupe_key IS NOT NULL DO NOTHING
       RETURNING id`,
      [
        a.userId,
        nul(a.strategyId),
        a.kind,
        a.severity,
        a.message,
        a.data === undefined ? null : JSON.stringify(a.data),
        nul(a.dedupeKey),
      ],
    );
    return rows.length > 0;
  }
}
