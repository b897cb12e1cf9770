// A user's order and trade history, strategy/system logs, and the exports of trades and backtest
// results (CSV streamed, PDF rendered here). Reads only; every query is scoped to the caller
// (src/adapters/history/store.ts). Pages are keyset walks: `cursor` is the nextCursor of the page
// before, `limit` at most 500; totals of the filtered set come with the first page.
import type { Context, Service, ServiceSchema } from "moleculer";
import { decodeCursor, InvalidCursorError, type Cursor } from "../src/adapters/history/cursor";
import {
  backtestCsv,
  backtestPdf,
  tradesCsv,
  tradesPdf,
  tradeView,
  type BacktestExportRow,
} from "../src/adapters/history/exports";
import {
  HistoryStore,
  type LogFilters,
  type Mode,
  type OrderFilters,
  type TradeFilters,
} from "../src/adapters/history/store";
import { getDatabase } from "../src/adapters/storage/database";
import { ORDER_STATES } from "../src/core/execution/order-state";
import { NotFoundError, ValidationError } from "../src/core/model/errors";
import { epochOrIsoTimeParam, idParam } from "../src/gateway/params";
import { AuthGuardMixin, guarded, requireUser, type AuraMeta } from "../mixins/auth-guard.mixin";
import ErrorsMixin from "../mixins/errors.mixin";
import { QueryTypes } from "sequelize";
import { numberOrNull } from "../src/adapters/storage/rows";

export interface HistorySettings {
  /** the most rows one PDF export may hold (CSV has no limit) */
  pdfMaxRows: number;
}

interface HistoryVars {
  store: HistoryStore;
}

interface HistoryMethods {
  cursorOf(raw: string | null | undefined): Cursor | undefined;
  tradeFilters(p: TradeParams): TradeFilters;
  attachment(ctx: AuraContextAny, name: string, type: string): void;
}

type Self = Service<HistorySettings> & HistoryVars & HistoryMethods;
type AuraContextAny = Context<unknown, AuraMeta & { $responseType?: string }>;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DECIMAL = /^-?\d{1,20}(\.\d{1,10})?$/;

const SYMBOL = {
  type: "string",
  optional: true,
  pattern: /^[A-Z0-9]{2,20}$/,
  messages: { stringPattern: "'symbol' must be an upper-case Binance symbol such as BTCUSDT." },
} as const;
const MODE = { type: "enum", values: ["live", "paper"], optional: true } as const;
const PNL = (name: string) =>
  ({
    type: "string",
    optional: true,
    convert: true,
    pattern: DECIMAL,
    messages: { stringPattern: `'${name}' must be a decimal amount such as -12.5 or 100.` },
  }) as const;
const PAGE = {
  cursor: {
    type: "string",
    optional: true,
    max: 400,
    pattern: /^[A-Za-z0-9_-]+$/,
    messages: { stringPattern: "'cursor' must be the nextCursor of a previous page, unchanged." },
  },
  limit: { type: "number", integer: true, min: 1, max: 500, optional: true, convert: true },
} as const;
const TRADE_FILTERS = {
  from: epochOrIsoTimeParam("from", { optional: true }),
  to: epochOrIsoTimeParam("to", { optional: true }),
  symbol: SYMBOL,
  strategyId: idParam("strategyId", { optional: true }),
  side: { type: "enum", values: ["LONG"], optional: true },
  exitReason: {
    type: "string",
    optional: true,
    pattern: /^[a-z_]{1,40}$/,
    messages: { stringPattern: "'exitReason' must be an exit reason such as take_profit or stop_loss." },
  },
  mode: MODE,
  minPnl: PNL("minPnl"),
  maxPnl: PNL("maxPnl"),
} as const;

interface TradeParams {
  from?: number | null;
  to?: number | null;
  symbol?: string | null;
  strategyId?: number | null;
  side?: string | null;
  exitReason?: string | null;
  mode?: Mode | null;
  minPnl?: string | null;
  maxPnl?: string | null;
  cursor?: string | null;
  limit?: number | null;
}

/** Drops absent values (fastest-validator lets null through optional fields). */
function defined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], null> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], null>;
  };
}

function refuse(field: string, message: string): never {
  throw new ValidationError([{ path: `/${field}`, code: field, message }], message);
}

const stamp = () => new Date().toISOString().replace(/[-:]/g, "").replace(/\..*$/, "").replace("T", "-");

const HistoryService: ServiceSchema<HistorySettings, HistoryMethods, HistoryVars, Self> = {
  name: "history",
  mixins: [AuthGuardMixin, ErrorsMixin],
  settings: { pdfMaxRows: 10_000 },

  actions: {
    /** GET /api/v1/trades → { items, nextCursor, totals? } */
    trades: guarded({
      auth: "user",
      params: { $$strict: "remove", ...TRADE_FILTERS, ...PAGE },
      async handler(this: Self, ctx: Context<TradeParams, AuraMeta>) {
        const me = requireUser(ctx);
        const f = this.tradeFilters(ctx.params);
        const after = this.cursorOf(ctx.params.cursor);
        const limit = ctx.params.limit ?? 100;
        const [page, totals] = await Promise.all([
          this.store.tradesPage(me.id, f, limit, after),
          after ? undefined : this.store.tradeTotals(me.id, f),
        ]);
        return {
          items: page.rows.map(tradeView),
          nextCursor: page.nextCursor,
          ...(totals ? { totals } : {}),
        };
      },
    }),

    /** GET /api/v1/orders → { items, nextCursor, totals? } */
    orders: guarded({
      auth: "user",
      params: {
        $$strict: "remove",
        from: epochOrIsoTimeParam("from", { optional: true }),
        to: epochOrIsoTimeParam("to", { optional: true }),
        symbol: SYMBOL,
        strategyId: idParam("strategyId", { optional: true }),
        side: { type: "enum", values: ["BUY", "SELL"], optional: true },
        status: { type: "enum", values: [...ORDER_STATES], optional: true },
        mode: MODE,
        ...PAGE,
      },
      async handler(
        this: Self,
        ctx: Context<
          Omit<OrderFilters, "from" | "to"> & {
            from?: number | null;
            to?: number | null;
            cursor?: string | null;
            limit?: number | null;
          },
          AuraMeta
        >,
      ) {
        const me = requireUser(ctx);
        const { cursor, limit: rawLimit, ...rest } = ctx.params;
        const f: OrderFilters = defined(rest);
        if (f.from !== undefined && f.to !== undefined && f.from >= f.to)
          refuse("to", "'to' must be after 'from'.");
        const after = this.cursorOf(cursor);
        const limit = rawLimit ?? 100;
        const [page, totals] = await Promise.all([
          this.store.ordersPage(me.id, f, limit, after),
          after ? undefined : this.store.orderTotals(me.id, f),
        ]);
        return {
          items: page.rows.map((o) => ({
            id: Number(o.id),
            createdAt: o.created_at,
            strategyId: numberOrNull(o.strategy_id),
            strategy: o.strategy_name,
            mode: o.paper === null ? null : o.paper ? "paper" : "live",
            clientOrderId: o.client_order_id,
            exchangeOrderId: o.exchange_order_id,
            symbol: o.symbol,
            side: o.side,
            type: o.type,
            role: o.role,
            status: o.state,
            quantity: o.quantity,
            quoteOrderQty: o.quote_order_qty,
            price: o.price,
            stopPrice: o.stop_price,
            filledQty: o.filled_qty,
            cumulativeQuote: o.cumulative_quote,
            rejectReason: o.reject_reason,
            denyReason: o.deny_reason,
            origin: o.origin,
          })),
          nextCursor: page.nextCursor,
          ...(totals ? { totals } : {}),
        };
      },
    }),

    /** GET /api/v1/logs → the caller's strategy decisions and system records, newest first */
    logs: guarded({
      auth: "user",
      params: {
        $$strict: "remove",
        strategyId: idParam("strategyId", { optional: true }),
        level: { type: "enum", values: ["debug", "info", "warn", "error", "fatal"], optional: true },
        source: { type: "enum", values: ["decision", "system"], optional: true },
        from: epochOrIsoTimeParam("from", { optional: true }),
        to: epochOrIsoTimeParam("to", { optional: true }),
        ...PAGE,
      },
      async handler(
        this: Self,
        ctx: Context<
          Omit<LogFilters, "from" | "to"> & {
            from?: number | null;
            to?: number | null;
            cursor?: string | null;
            limit?: number | null;
          },
          AuraMeta
        >,
      ) {
        const me = requireUser(ctx);
        const { cursor, limit: rawLimit, ...rest } = ctx.params;
        const f: LogFilters = defined(rest);
        const after = this.cursorOf(cursor);
        if (after && after.k === undefined) refuse("cursor", new InvalidCursorError().message);
        const limit = rawLimit ?? 100;
        const page = await this.store.logsPage(me.id, f, limit, after);
        return {
          items: page.rows.map((r) => ({
            source: r.source,
            id: Number(r.id),
            time: r.time,
            level: r.level,
            strategyId: numberOrNull(r.strategy_id),
            kind: r.kind,
            action: r.action,
            message: r.message,
            data: r.data ?? null,
          })),
          nextCursor: page.nextCursor,
        };
      },
    }),

    /** GET /api/v1/trades/export?format=csv|pdf&<the trade filters> → a file download */
    tradesExport: guarded({
      auth: "user",
      params: {
        $$strict: "remove",
        ...TRADE_FILTERS,
        format: { type: "enum", values: ["csv", "pdf"], optional: true },
      },
      async handler(this: Self, ctx: Context<TradeParams & { format?: "csv" | "pdf" | null }, AuraMeta>) {
        const me = requireUser(ctx);
        const f = this.tradeFilters(ctx.params);
        const name = `aura-trades-${stamp()}`;
        if (ctx.params.format === "pdf") {
          const totals = await this.store.tradeTotals(me.id, f);
          if (totals.count > this.settings.pdfMaxRows)
            refuse(
              "format",
              `A PDF holds at most ${this.settings.pdfMaxRows} trades and these filters match ${totals.count}; ` +
                `narrow the date range or the filters, or export CSV.`,
            );
          const pdf = await tradesPdf(this.store, me.id, f, totals, (e) =>
            this.logger.warn({ err: e.message }, "trade PDF export failed"),
          );
          this.attachment(ctx, `${name}.pdf`, "application/pdf");
          return pdf;
        }
        this.attachment(ctx, `${name}.csv`, "text/csv; charset=utf-8");
        return tradesCsv(this.store, me.id, f);
      },
    }),

    /** GET /api/v1/backtests/:id/export?format=csv|pdf → the run's trades (and summary, PDF) */
    backtestExport: guarded({
      auth: "user",
      params: {
        $$strict: "remove",
        id: { type: "string", min: 1, max: 64 },
        format: { type: "enum", values: ["csv", "pdf"], optional: true },
      },
      async handler(this: Self, ctx: Context<{ id: string; format?: "csv" | "pdf" | null }, AuraMeta>) {
        const me = requireUser(ctx);
        const [row] = UUID_RE.test(ctx.params.id)
          ? await this.store.sequelize.query<BacktestExportRow & { status: string }>(
              `SELECT id, status, params, definition, metrics, result FROM backtest_results WHERE id = $1 AND user_id = $2`,
              { bind: [ctx.params.id, me.id], type: QueryTypes.SELECT },
            )
          : [];
        if (!row) throw new NotFoundError("Backtest not found.");
        if (row.status !== "completed")
          refuse("id", `Only a completed backtest can be exported; this one is ${row.status}.`);
        const name = `aura-backtest-${row.id}`;
        if (ctx.params.format === "pdf") {
          this.attachment(ctx, `${name}.pdf`, "application/pdf");
          return backtestPdf(row, (e) => this.logger.warn({ err: e.message }, "backtest PDF export failed"));
        }
        this.attachment(ctx, `${name}.csv`, "text/csv; charset=utf-8");
        return backtestCsv(row);
      },
    }),
  },

  methods: {
    cursorOf(raw: string | null | undefined): Cursor | undefined {
      if (raw === null || raw === undefined) return undefined;
      try {
        return decodeCursor(raw);
      } catch (e) {
        if (e instanceof InvalidCursorError) refuse("cursor", e.message);
        throw e;
      }
    },

    tradeFilters(p: TradeParams): TradeFilters {
      const { cursor: _c, limit: _l, ...rest } = p as TradeParams & { format?: unknown };
      delete (rest as { format?: unknown }).format;
      const f: TradeFilters = defined(rest);
      if (f.from !== undefined && f.to !== undefined && f.from >= f.to)
        refuse("to", "'to' must be after 'from'.");
      if (f.minPnl !== undefined && f.maxPnl !== undefined && Number(f.minPnl) > Number(f.maxPnl))
        refuse("maxPnl", "'maxPnl' must not be below 'minPnl'.");
      return f;
    },

    attachment(ctx: AuraContextAny, name: string, type: string) {
      ctx.meta.$responseType = type;
      ctx.meta.$responseHeaders = {
        ...(ctx.meta.$responseHeaders ?? {}),
        "Content-Disposition": `attachment; filename="${name}"`,
      };
    },
  },

  async started(this: Self) {
    this.store = new HistoryStore((await getDatabase()).sequelize);
  },
};

export default HistoryService;
