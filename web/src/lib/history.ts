// The history page's logic: filters as they live in the URL (so a reload or a shared link shows
// the same rows), the history API's query for them, keyset paging backwards as well as forwards,
// and the P&L analyses drawn from the filtered trades. Also the dashboard's live repricing of open
// positions, which uses the same exact-decimal care.
import { ORDER_STATES } from "../../../src/core/execution/order-states";
import type { Query } from "./api";
import type { TimeZoneMode } from "./format";
import type { Point } from "./series";

export type Tab = "trades" | "orders";
export type Mode = "live" | "paper";

export const EXIT_REASONS = ["take_profit", "stop_loss", "signal", "close"] as const;
export { ORDER_STATES };
export const TRADE_SIDES = ["LONG"] as const;
export const ORDER_SIDES = ["BUY", "SELL"] as const;
export const PAGE_SIZES = [25, 50, 100, 250] as const;

export interface HistoryFilters {
  tab: Tab;
  /** YYYY-MM-DD, the first day shown (in the chosen time zone) */
  from?: string;
  /** YYYY-MM-DD, the last day shown, inclusive */
  to?: string;
  symbol?: string;
  strategyId?: number;
  side?: string;
  /** orders only */
  status?: string;
  /** trades only */
  exitReason?: string;
  mode?: Mode;
  /** trades only; decimal strings as typed */
  minPnl?: string;
  maxPnl?: string;
  limit: number;
  /**
   * The cursors that led to the current page, oldest first: the API pages forwards only, so
   * "previous" drops the last one. Empty on the first page.
   */
  trail: string[];
}

export interface Trade {
  id: number;
  exitTime: string;
  entryTime: string;
  strategyId: number | null;
  strategy: string | null;
  mode: Mode | null;
  symbol: string;
  side: string;
  qty: string;
  entryPrice: string;
  exitPrice: string;
  fees: string;
  pnl: string;
  exitReason: string;
}

export interface Order {
  id: number;
  createdAt: string;
  strategyId: number | null;
  strategy: string | null;
  mode: Mode | null;
  clientOrderId: string;
  exchangeOrderId: string | null;
  symbol: string;
  side: string;
  type: string;
  role: string | null;
  status: string;
  quantity: string | null;
  quoteOrderQty: string | null;
  price: string | null;
  stopPrice: string | null;
  filledQty: string | null;
  cumulativeQuote: string | null;
  rejectReason: string | null;
  denyReason: string | null;
  origin: string | null;
}

export interface TradeTotals {
  count: number;
  pnl: string;
  fees: string;
}

export interface OrderTotals {
  count: number;
  filledQuote: string;
  fees: Record<string, string>;
}

export interface HistoryPage<T, Totals> {
  items: T[];
  nextCursor: string | null;
  totals?: Totals;
}

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const SYMBOL_RE = /^[A-Z0-9]{2,20}$/;
const DECIMAL_RE = /^-?\d{1,20}(\.\d{1,10})?$/;
const CURSOR_RE = /^[A-Za-z0-9_-]{1,400}$/;
/** the separator of cursors in the URL's trail: not a character a cursor can hold */
const TRAIL_SEP = ".";
/** deeper walks than this restart from the first page rather than grow the URL without end */
const MAX_TRAIL = 50;
export const DEFAULT_LIMIT = 50;

const oneOf = <T extends string>(values: readonly T[], v: string | null): T | undefined =>
  v !== null && (values as readonly string[]).includes(v) ? (v as T) : undefined;

function validDate(v: string | null): string | undefined {
  if (v === null || !DATE_RE.test(v)) return undefined;
  return Number.isNaN(Date.parse(`${v}T00:00:00Z`)) ? undefined : v;
}

/** The filters a URL's query asks for; anything malformed is dropped rather than sent on. */
export function filtersFromQuery(q: URLSearchParams): HistoryFilters {
  const tab: Tab = q.get("tab") === "orders" ? "orders" : "trades";
  const f: HistoryFilters = { tab, limit: DEFAULT_LIMIT, trail: [] };
  f.from = validDate(q.get("from"));
  f.to = validDate(q.get("to"));
  if (f.from && f.to && f.from > f.to) f.to = undefined;
  const symbol = q.get("symbol")?.trim().toUpperCase();
  if (symbol && SYMBOL_RE.test(symbol)) f.symbol = symbol;
  const sid = Number(q.get("strategyId"));
  if (q.get("strategyId") && Number.isSafeInteger(sid) && sid > 0) f.strategyId = sid;
  f.side = oneOf<string>(tab === "trades" ? TRADE_SIDES : ORDER_SIDES, q.get("side"));
  f.mode = oneOf<Mode>(["live", "paper"], q.get("mode"));
  if (tab === "orders") f.status = oneOf<string>(ORDER_STATES, q.get("status"));
  else {
    const reason = q.get("exitReason");
    if (reason && /^[a-z_]{1,40}$/.test(reason)) f.exitReason = reason;
    const min = q.get("minPnl")?.trim();
    const max = q.get("maxPnl")?.trim();
    if (min && DECIMAL_RE.test(min)) f.minPnl = min;
    if (max && DECIMAL_RE.test(max)) f.maxPnl = max;
    if (f.minPnl !== undefined && f.maxPnl !== undefined && Number(f.minPnl) > Number(f.maxPnl))
      f.maxPnl = undefined;
  }
  // any size the API takes: the page offers a few, a link may ask for another
  const limit = Number(q.get("limit"));
  if (Number.isInteger(limit) && limit >= 1 && limit <= 500) f.limit = limit;
  const trail = q.get("trail");
  if (trail) {
    const parts = trail.split(TRAIL_SEP);
    if (parts.length <= MAX_TRAIL && parts.every((c) => CURSOR_RE.test(c))) f.trail = parts;
  }
  return f;
}

/** The page URL's query for filters (only what differs from the defaults). */
export function filtersToQuery(f: HistoryFilters): URLSearchParams {
  const q = new URLSearchParams();
  if (f.tab !== "trades") q.set("tab", f.tab);
  const put = (k: string, v: string | number | undefined) => {
    if (v !== undefined && v !== "") q.set(k, String(v));
  };
  put("from", f.from);
  put("to", f.to);
  put("symbol", f.symbol);
  put("strategyId", f.strategyId);
  put("side", f.side);
  put("mode", f.mode);
  if (f.tab === "orders") put("status", f.status);
  else {
    put("exitReason", f.exitReason);
    put("minPnl", f.minPnl);
    put("maxPnl", f.maxPnl);
  }
  if (f.limit !== DEFAULT_LIMIT) put("limit", f.limit);
  if (f.trail.length) q.set("trail", f.trail.join(TRAIL_SEP));
  return q;
}

/** The href of the history page for filters. */
export function historyHref(f: HistoryFilters): string {
  const q = filtersToQuery(f).toString();
  return q ? `/history?${q}` : "/history";
}

/** Epoch ms of midnight starting `day` (YYYY-MM-DD) in the chosen zone. */
export function dayStart(day: string, zone: TimeZoneMode): number {
  const [y, m, d] = day.split("-").map(Number);
  return zone === "utc" ? Date.UTC(y, m - 1, d) : new Date(y, m - 1, d).getTime();
}

/**
 * The filters as the history API takes them (for trades, export too): days become an epoch-ms
 * range whose end is the midnight after `to`, since the API's `to` is exclusive.
 */
export function apiFilters(f: HistoryFilters, zone: TimeZoneMode): Query {
  const q: Query = {};
  if (f.from) q.from = dayStart(f.from, zone);
  if (f.to) {
    const [y, m, d] = f.to.split("-").map(Number);
    const next = new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
    q.to = dayStart(next, zone);
  }
  if (f.symbol) q.symbol = f.symbol;
  if (f.strategyId) q.strategyId = f.strategyId;
  if (f.side) q.side = f.side;
  if (f.mode) q.mode = f.mode;
  if (f.tab === "orders") {
    if (f.status) q.status = f.status;
  } else {
    if (f.exitReason) q.exitReason = f.exitReason;
    if (f.minPnl !== undefined) q.minPnl = f.minPnl;
    if (f.maxPnl !== undefined) q.maxPnl = f.maxPnl;
  }
  return q;
}

/** The query of one page: the filters, the page size and the cursor of the page asked for. */
export function pageQuery(f: HistoryFilters, zone: TimeZoneMode): Query {
  const q = apiFilters(f, zone);
  q.limit = f.limit;
  if (f.trail.length) q.cursor = f.trail[f.trail.length - 1];
  return q;
}

/** The filters of the next page, after the current one's nextCursor. */
export function nextPage(f: HistoryFilters, nextCursor: string): HistoryFilters {
  const trail = f.trail.length >= MAX_TRAIL ? [] : [...f.trail, nextCursor];
  return { ...f, trail };
}

/** The filters of the page before the current one (the first page stays the first page). */
export function previousPage(f: HistoryFilters): HistoryFilters {
  return { ...f, trail: f.trail.slice(0, -1) };
}

/** Changed filters always start again at the first page: a cursor belongs to its filter set. */
export function withFilters(f: HistoryFilters, change: Partial<HistoryFilters>): HistoryFilters {
  const next = { ...f, ...change, trail: [] };
  if (change.tab && change.tab !== f.tab) {
    // the side filter means different things on the two tabs
    next.side = undefined;
    next.status = undefined;
    next.exitReason = undefined;
    next.minPnl = undefined;
    next.maxPnl = undefined;
  }
  return next;
}

/** The export's path and query under /api/v1, for the current trade filters. */
export function exportPath(f: HistoryFilters, format: "csv" | "pdf", zone: TimeZoneMode): string {
  const q = new URLSearchParams({ format });
  for (const [k, v] of Object.entries(apiFilters({ ...f, tab: "trades" }, zone)))
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  return `/trades/export?${q.toString()}`;
}

/** The file name a Content-Disposition header gives, or the fallback. */
export function attachmentName(header: string | null, fallback: string): string {
  if (!header) return fallback;
  const star = /filename\*\s*=\s*(?:UTF-8'')?([^;]+)/i.exec(header);
  if (star) {
    try {
      return safeFileName(decodeURIComponent(star[1].trim().replace(/^"|"$/g, "")), fallback);
    } catch {
      // a malformed encoding: try the plain parameter
    }
  }
  const plain = /filename\s*=\s*("([^"]*)"|[^;]+)/i.exec(header);
  if (!plain) return fallback;
  return safeFileName((plain[2] ?? plain[1]).trim(), fallback);
}

function safeFileName(name: string, fallback: string): string {
  const base = name.split(/[\\/]/).pop() ?? "";
  const clean = base.replace(/[^\w.\- ]/g, "_").trim();
  return clean && clean !== "." && clean !== ".." ? clean : fallback;
}

// --- exact sums of decimal strings (totals of the rows on screen, P&L of a group)

const SCALE = 10;
const UNIT = 10n ** BigInt(SCALE);

function toUnits(v: string): bigint {
  const m = /^(-)?(\d+)(?:\.(\d+))?$/.exec(v.trim());
  if (!m) return 0n;
  const frac = (m[3] ?? "").slice(0, SCALE).padEnd(SCALE, "0");
  const n = BigInt(m[2]) * UNIT + BigInt(frac);
  return m[1] ? -n : n;
}

function fromUnits(n: bigint): string {
  const neg = n < 0n;
  const a = neg ? -n : n;
  const frac = (a % UNIT).toString().padStart(SCALE, "0").replace(/0+$/, "");
  const s = (a / UNIT).toString() + (frac ? `.${frac}` : "");
  return neg && s !== "0" ? `-${s}` : s;
}

/** The exact sum of decimal strings ("0.1" + "0.2" = "0.3"); malformed values count as 0. */
export function sumDecimals(values: readonly string[]): string {
  let t = 0n;
  for (const v of values) t += toUnits(v);
  return fromUnits(t);
}

// --- analyses of the filtered trades

export interface Group {
  key: string;
  label: string;
  pnl: number;
  trades: number;
  wins: number;
}

/**
 * Realised P&L summed in exit order, one point per trade (trades arrive newest first), starting
 * from zero when the first trade was entered so that even one trade draws a line.
 */
export function cumulativePnl(trades: readonly Pick<Trade, "exitTime" | "entryTime" | "pnl">[]): Point[] {
  const sorted = [...trades].sort((a, b) => Date.parse(a.exitTime) - Date.parse(b.exitTime));
  if (!sorted.length) return [];
  const start = Math.min(...sorted.map((t) => Date.parse(t.entryTime) || Date.parse(t.exitTime)));
  let units = 0n;
  return [
    { time: start, value: 0 },
    ...sorted.map((t) => {
      units += toUnits(t.pnl);
      return { time: Date.parse(t.exitTime), value: Number(fromUnits(units)) };
    }),
  ];
}

function grouped<T extends Pick<Trade, "pnl">>(
  trades: readonly T[],
  keyOf: (t: T) => { key: string; label: string },
): Group[] {
  const acc = new Map<string, { label: string; units: bigint; trades: number; wins: number }>();
  for (const t of trades) {
    const { key, label } = keyOf(t);
    const g = acc.get(key) ?? { label, units: 0n, trades: 0, wins: 0 };
    const u = toUnits(t.pnl);
    g.units += u;
    g.trades++;
    if (u > 0n) g.wins++;
    acc.set(key, g);
  }
  return [...acc.entries()].map(([key, g]) => ({
    key,
    label: g.label,
    pnl: Number(fromUnits(g.units)),
    trades: g.trades,
    wins: g.wins,
  }));
}

/** P&L per strategy, best first. Trades of a deleted strategy, or none, share one group. */
export function pnlByStrategy(trades: readonly Trade[]): Group[] {
  return grouped(trades, (t) =>
    t.strategyId === null
      ? { key: "", label: "No strategy" }
      : { key: String(t.strategyId), label: t.strategy ?? `Strategy ${t.strategyId}` },
  ).sort((a, b) => b.pnl - a.pnl || a.label.localeCompare(b.label));
}

/** P&L per symbol, best first. */
export function pnlBySymbol(trades: readonly Trade[]): Group[] {
  return grouped(trades, (t) => ({ key: t.symbol, label: t.symbol })).sort(
    (a, b) => b.pnl - a.pnl || a.label.localeCompare(b.label),
  );
}

export const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] as const;

/** P&L per weekday of the exit, Monday to Sunday, every day present, in the chosen zone. */
export function pnlByWeekday(trades: readonly Trade[], zone: TimeZoneMode): Group[] {
  const groups = grouped(trades, (t) => {
    const d = new Date(t.exitTime);
    const day = ((zone === "utc" ? d.getUTCDay() : d.getDay()) + 6) % 7;
    return { key: String(day), label: WEEKDAYS[day] };
  });
  const byKey = new Map(groups.map((g) => [g.key, g]));
  return WEEKDAYS.map(
    (label, i) => byKey.get(String(i)) ?? { key: String(i), label, pnl: 0, trades: 0, wins: 0 },
  );
}

// --- the dashboard's open positions, repriced on every tick

export interface PositionView {
  id: number;
  strategyId: number | null;
  strategy: string | null;
  keyId: number | null;
  mode: Mode | null;
  symbol: string;
  qty: string;
  entryPrice: string;
  currentPrice: string | null;
  costBasis: string | null;
  marketValue: string | null;
  unrealizedPnl: string | null;
  unrealizedPnlPct: number | string | null;
  protection: string;
  openedAt: string;
}

/**
 * A position at a new price. The server's P&L already counts fees and what a take-profit leg
 * sold; moving the price changes only the value of the coins still held, so the difference is
 * added to the server's figure instead of recomputing it with fewer facts than the server had.
 */
export function reprice(p: PositionView, price: string): PositionView {
  if (p.currentPrice === null || p.unrealizedPnl === null || !/^\d+(\.\d+)?$/.test(price)) {
    return p;
  }
  const qty = toUnits(p.qty);
  const delta = ((toUnits(price) - toUnits(p.currentPrice)) * qty) / UNIT;
  const pnl = toUnits(p.unrealizedPnl) + delta;
  const market = p.marketValue === null ? null : fromUnits(toUnits(p.marketValue) + delta);
  const cost = p.costBasis === null ? 0n : toUnits(p.costBasis);
  const pct = cost > 0n ? Number((pnl * 10000n * UNIT) / cost) / Number(UNIT) / 100 : null;
  return {
    ...p,
    currentPrice: price,
    marketValue: market,
    unrealizedPnl: fromUnits(pnl),
    unrealizedPnlPct: pct,
  };
}

/** The total unrealised P&L of positions in USDT (those without a price count as 0). */
export function totalUnrealized(positions: readonly PositionView[]): string {
  return sumDecimals(positions.map((p) => p.unrealizedPnl ?? "0"));
}
