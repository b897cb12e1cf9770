// The order flows of one account×symbol: entry → OCO protection, exit (cancel the OCO, sell),
// and the resolution of every order whose outcome is not known. The caller serialises calls per
// account×symbol (a mailbox inside the node, a fenced guard row across the cluster); this class
// never sends a second create request for an order whose first may have reached the venue:
//  - the order row (state PENDING, client order id derived from the intent) is stored before the
//    request leaves, and moved to SUBMITTING by compare-and-set first;
//  - a timeout, a 5xx or -1006/-1007 makes the order UNKNOWN, resolved only by asking the venue
//    for that client order id (NOT_PLACED only after several lookups over a grace window, since
//    the venue may not show a fresh order at once);
//  - fills are recorded once per venue trade id; a fill beyond the order's quantity is refused
//    and raises an alert.
import { Decimal } from "../../core/money/decimal";
import { clientOrderId } from "../../core/execution/ids";
import { isTerminal, transition, type OrderState } from "../../core/execution/order-state";
import { checkEntry, checkExit, type Denial } from "../../core/execution/pretrade";
import { planProtection } from "../../core/execution/protection";
import type { SubmitCommand, SubmitResult } from "../../core/execution/types";
import type { ExecutionCrashPoint } from "../config";
import type { SymbolSpec } from "../../core/market/symbols";
import { AccountUnusableError, type TradingAccount, type VenueAccounts } from "./accounts";
import type { ExecutionStore, FillTotals, ListRow, OrderRole, OrderRow, PositionRow } from "./store";
import {
  CLOCK_TOLERANCE_MS,
  OrderRequestError,
  RECV_WINDOW_MS,
  type OrderFailure,
  type VenueOrder,
  type VenueList,
} from "../exchange/trading-client";
import { numberOrNull } from "../storage/rows";

export interface ExecutionEvents {
  emit(event: string, payload: Record<string, unknown>): void;
}

export interface ExecutorLog {
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
  error(o: object, m: string): void;
  fatal(o: object, m: string): void;
}

export interface ExecutorOptions {
  store: ExecutionStore;
  accounts: VenueAccounts;
  events: ExecutionEvents;
  log: ExecutorLog;
  specFor(symbol: string): SymbolSpec | undefined;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** the venue may not show an order for this long after accepting it */
  notFoundGraceMs?: number;
  /** lookups before an order the venue does not know is declared NOT_PLACED */
  notFoundLookups?: number;
  stopLimitMarginPct?: number;
  /** told when a command's order request is about to leave for the venue (its first attempt) */
  requestLeaving?(cmd: SubmitCommand): void;
  /** test-only: called at the named points of a flow (a crash test kills the process there) */
  checkpoint?: (point: ExecutionCrashPoint) => void;
}

/** A refusal the caller may retry later (rate limit, breaker, reconciliation in progress). */
export class RetryLaterError extends Error {
  constructor(
    readonly code: "RATE_LIMITED" | "VENUE_UNAVAILABLE" | "RECONCILING" | "BUSY",
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
    this.name = "RetryLaterError";
  }
}

interface IntentParams {
  reason?: string;
  sizing?: { positionSizePct: number };
  risk?: { takeProfitPct?: number; stopLossPct?: number };
}

const ZERO = Decimal.ZERO;
const d = (v: string | null | undefined): Decimal => (v ? Decimal.parse(v) : ZERO);
const OPEN_STATES: readonly OrderState[] = ["NEW", "PARTIALLY_FILLED", "PENDING_CANCEL"];

/** What selling (part of) a position brought in: quantity, quote, fees valued in the quote asset. */
interface Proceeds {
  qty: Decimal;
  quote: Decimal;
  fees: Decimal;
  last: Date | null;
}

type FillSums = { qty: string; quote: string; fee_base: string; fee_quote: string; last: Date | null };

/** Sums fill totals; fees in the base asset are valued at the average price of their own fills. */
function proceedsOf(rows: FillSums[], share = Decimal.ONE): Proceeds {
  let qty = ZERO;
  let quote = ZERO;
  let fees = ZERO;
  let last: Date | null = null;
  for (const r of rows) {
    const q = d(r.qty);
    if (!q.isPositive()) continue;
    const price = d(r.quote).div(q, 10, "halfEven");
    qty = qty.add(q.mul(share));
    quote = quote.add(d(r.quote).mul(share));
    fees = fees.add(d(r.fee_quote).add(d(r.fee_base).mul(price)).mul(share));
    if (r.last && (!last || r.last > last)) last = r.last;
  }
  return { qty, quote, fees, last };
}

function addProceeds(a: Proceeds, b: Proceeds): Proceeds {
  return {
    qty: a.qty.add(b.qty),
    quote: a.quote.add(b.quote),
    fees: a.fees.add(b.fees),
    last: !a.last ? b.last : !b.last ? a.last : a.last > b.last ? a.last : b.last,
  };
}

export class Executor {
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly o: ExecutorOptions) {
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  private spec(symbol: string): SymbolSpec {
    const s = this.o.specFor(symbol);
    if (!s) throw new Error(`no symbol filters for ${symbol}`);
    return s;
  }

  private event(name: string, row: { user_id: string | number }, extra: object = {}) {
    this.o.events.emit(name, { userId: Number(row.user_id), ...extra });
  }

  /** order.* events name the order the same way: its id, strategy, client order id and symbol. */
  private orderEvent(name: string, row: OrderRow, extra: object) {
    this.event(name, row, {
      orderId: Number(row.id),
      strategyId: numberOrNull(row.strategy_id),
      clientOrderId: row.client_order_id,
      symbol: row.symbol,
      ...extra,
    });
  }

  private positionEvent(name: string, pos: PositionRow, extra: object) {
    this.event(name, pos, {
      positionId: Number(pos.id),
      strategyId: numberOrNull(pos.strategy_id),
      symbol: pos.symbol,
      ...extra,
    });
  }

  // ------------------------------------------------------------------ commands

  async submit(cmd: SubmitCommand): Promise<SubmitResult> {
    return cmd.kind === "entry" ? this.entry(cmd) : this.exit(cmd);
  }

  private denied(cmd: SubmitCommand, denial: Denial, repeated = false): SubmitResult {
    return {
      intentId: cmd.intentId,
      status: "denied",
      repeated,
      reason: denial.reason,
      message: denial.message,
    };
  }

  private resultOf(cmd: SubmitCommand, row: OrderRow, repeated: boolean): SubmitResult {
    const base = {
      intentId: cmd.intentId,
      repeated,
      clientOrderId: row.client_order_id,
      orderState: row.state,
    };
    switch (row.state) {
      case "DENIED":
        return {
          ...base,
          status: "denied",
          reason: row.deny_reason ?? "denied",
          message: row.reject_reason ?? "",
        };
      case "REJECTED":
        return { ...base, status: "rejected", message: row.reject_reason ?? "rejected by the venue" };
      case "NOT_PLACED":
        return { ...base, status: "rejected", message: "the order was not placed" };
      case "PENDING":
      case "SUBMITTING":
      case "UNKNOWN":
        return { ...base, status: "pending" };
      default:
        return { ...base, status: "accepted" };
    }
  }

  private async storeDenial(cmd: SubmitCommand, role: OrderRole, denial: Denial): Promise<SubmitResult> {
    const { row, inserted } = await this.o.store.insertOrder({
      userId: cmd.userId,
      strategyId: cmd.instanceId,
      apiKeyId: cmd.keyId,
      intentId: cmd.intentId,
      clientOrderId: clientOrderId(cmd.intentId, role === "entry" ? "entry" : "exit"),
      symbol: cmd.symbol,
      side: cmd.side,
      type: "MARKET",
      role,
      state: "DENIED",
      denyReason: denial.reason,
      rejectReason: denial.message,
      candleOpen: cmd.candleOpenTime,
      fencingToken: cmd.fencingToken,
    });
    if (inserted) {
      this.o.events.emit("order.denied", {
        userId: cmd.userId,
        strategyId: cmd.instanceId,
        intentId: cmd.intentId,
        symbol: cmd.symbol,
        reason: denial.reason,
        message: denial.message,
      });
    }
    return inserted ? this.denied(cmd, denial) : this.resultOf(cmd, row, true);
  }

  /** A command from an actor that no longer holds the instance's lease, or one that came too late. */
  private staleness(
    cmd: SubmitCommand,
    lease: { fencing_token: string; expired: boolean } | undefined,
  ): Denial | undefined {
    if (cmd.deadline !== undefined && this.now() > cmd.deadline)
      return { ok: false, reason: "stale_command", message: "the command arrived after its deadline" };
    if (!lease || Number(lease.fencing_token) !== cmd.fencingToken || lease.expired)
      return {
        ok: false,
        reason: "stale_command",
        message: "the strategy instance is no longer run by the caller (its lease moved or expired)",
      };
    return undefined;
  }

  private async account(cmd: SubmitCommand): Promise<TradingAccount | Denial> {
    try {
      return await this.o.accounts.get(cmd.keyId, cmd.userId);
    } catch (e) {
      if (e instanceof AccountUnusableError) return { ok: false, reason: "key_unusable", message: e.message };
      throw e;
    }
  }

  private checkBrakes(keyId: number): void {
    const wait = this.o.accounts.blockedFor(keyId);
    if (wait > 0)
      throw new RetryLaterError(
        "RATE_LIMITED",
        "the venue asked us to slow down or keeps failing: no orders for this key for now",
        wait,
      );
  }

  private async entry(cmd: SubmitCommand): Promise<SubmitResult> {
    const ctx = await this.o.store.entryContext(cmd.intentId, cmd.instanceId, cmd.userId);
    const existing = ctx.existingId ? await this.o.store.orderById(ctx.existingId) : undefined;
    if (existing) {
      if (existing.state === "PENDING") return this.send(existing, cmd, true);
      if (existing.state === "SUBMITTING" || existing.state === "UNKNOWN") await this.resolve(existing);
      return this.resultOf(cmd, (await this.o.store.orderById(existing.id))!, true);
    }
    // a stale command is refused without a record: the current owner may send the same intent
    const stale = this.staleness(cmd, ctx.lease);
    if (stale) return this.denied(cmd, stale);
    this.checkBrakes(cmd.keyId);
    const acc = await this.account(cmd);
    if ("ok" in acc) return this.storeDenial(cmd, "entry", acc);
    const spec = this.o.specFor(cmd.symbol);
    if (!spec)
      return this.storeDenial(cmd, "entry", {
        ok: false,
        reason: "unknown_symbol",
        message: `${cmd.symbol} is not a symbol this venue trades`,
      });
    const { flags, halted, openPositions, exposure } = ctx;
    const [price, account] = await Promise.all([
      this.venue(acc, () => this.o.accounts.price(acc, cmd.symbol)),
      this.venue(acc, () => acc.client.account()),
    ]);
    const ref = Decimal.parse(price);
    const quote = account.balances.get(spec.quoteAsset) ?? { free: "0", locked: "0" };
    const base = account.balances.get(spec.baseAsset) ?? { free: "0", locked: "0" };
    const equity = d(quote.free)
      .add(d(quote.locked))
      .add(d(base.free).add(d(base.locked)).mul(ref));
    const verdict = checkEntry({
      spec,
      halted,
      paused: flags?.paused === true,
      referencePrice: ref,
      freeQuote: d(quote.free),
      equity,
      positionSizePct: cmd.sizing?.positionSizePct ?? 100,
      feeRate: d(account.takerRate),
      openPositions,
      maxOpenPositions: Number.MAX_SAFE_INTEGER,
      exposure: d(exposure),
    });
    if (!verdict.ok) return this.storeDenial(cmd, "entry", verdict);
    const params: IntentParams = { reason: cmd.reason, sizing: cmd.sizing, risk: cmd.risk };
    const { row } = await this.o.store.insertOrder({
      userId: cmd.userId,
      strategyId: cmd.instanceId,
      apiKeyId: cmd.keyId,
      intentId: cmd.intentId,
      clientOrderId: clientOrderId(cmd.intentId, "entry"),
      symbol: cmd.symbol,
      side: "BUY",
      type: "MARKET",
      role: "entry",
      quoteOrderQty: verdict.quoteOrderQty,
      state: "PENDING",
      candleOpen: cmd.candleOpenTime,
      fencingToken: cmd.fencingToken,
      params,
    });
    this.o.checkpoint?.("entry-inserted");
    return this.send(row, cmd, false);
  }

  /**
   * Runs a read against the venue, translating a refusal into a retry-later for the caller. A
   * clock the venue finds off (-1021) is resynchronised and the read asked once more.
   */
  private async venue<T>(acc: TradingAccount, fn: () => Promise<T>, resynced = false): Promise<T> {
    try {
      const v = await fn();
      this.o.accounts.outcome(acc.keyId, false);
      return v;
    } catch (e) {
      if (e instanceof OrderRequestError) {
        const f = e.failure;
        if (f.kind === "rate_limited") throw new RetryLaterError("RATE_LIMITED", f.message, f.retryAfterMs);
        if (f.kind === "clock_skew" && !resynced && (await this.resync(acc)))
          return this.venue(acc, fn, true);
        this.o.accounts.outcome(acc.keyId, f.kind === "ambiguous" || f.kind === "never_sent");
        throw new RetryLaterError("VENUE_UNAVAILABLE", `the venue did not answer: ${f.message}`, 2000);
      }
      throw e;
    }
  }

  private async resync(acc: TradingAccount): Promise<boolean> {
    try {
      await acc.client.syncTime();
      this.o.log.info({ keyId: acc.keyId }, "the venue refused our timestamp (-1021): clock resynchronised");
      return true;
    } catch {
      return false;
    }
  }

  /** Sends a PENDING order once; every outcome is written down before anything else happens. */
  private async send(
    row: OrderRow,
    cmd: SubmitCommand | undefined,
    repeated: boolean,
  ): Promise<SubmitResult> {
    const acc = await this.o.accounts.get(Number(row.api_key_id), Number(row.user_id));
    this.checkBrakes(acc.keyId);
    for (let attempt = 0; ; attempt++) {
      if (!(await this.o.store.setState(row.id, "PENDING", "SUBMITTING", { submitted: true }))) {
        // someone else moved it: report what it is now
        const now = (await this.o.store.orderById(row.id))!;
        return cmd ? this.resultOf(cmd, now, true) : this.resultOf(this.cmdOf(now), now, true);
      }
      let report: VenueOrder;
      try {
        if (attempt === 0 && cmd) this.o.requestLeaving?.(cmd);
        report = await this.request(acc, row);
        this.o.checkpoint?.("order-acked");
        this.o.accounts.outcome(acc.keyId, false);
      } catch (e) {
        if (!(e instanceof OrderRequestError)) throw e;
        const f = e.failure;
        const next = await this.afterFailure(acc, row, f);
        if (next === "retry" && attempt === 0) continue;
        const now = (await this.o.store.orderById(row.id))!;
        if (next === "retry" || next === "later") {
          throw new RetryLaterError(
            f.kind === "rate_limited" ? "RATE_LIMITED" : "VENUE_UNAVAILABLE",
            `the order was not sent: ${f.message}`,
            f.kind === "rate_limited" ? f.retryAfterMs : 2000,
          );
        }
        return this.resultOf(cmd ?? this.cmdOf(now), now, repeated);
      }
      const now =
        (await this.apply({ ...row, state: "SUBMITTING" }, report)) ??
        (await this.o.store.orderById(row.id))!;
      if (now.state !== "REJECTED" && now.state !== "NOT_PLACED")
        this.orderEvent("order.accepted", now, {
          side: now.side,
          role: now.role,
        });
      return this.resultOf(cmd ?? this.cmdOf(now), now, repeated);
    }
  }

  private cmdOf(row: OrderRow): SubmitCommand {
    return {
      intentId: row.intent_id,
      userId: Number(row.user_id),
      keyId: Number(row.api_key_id),
      instanceId: Number(row.strategy_id ?? 0),
      fencingToken: Number(row.fencing_token ?? 0),
      symbol: row.symbol,
      side: row.side,
      kind: row.role === "entry" ? "entry" : "exit",
      candleOpenTime: Number(row.candle_open ?? 0),
      reason: "",
    };
  }

  private request(acc: TradingAccount, row: OrderRow): Promise<VenueOrder> {
    if (row.side === "BUY")
      return acc.client.marketBuyQuote(row.symbol, row.quote_order_qty!, row.client_order_id);
    return acc.client.marketSell(row.symbol, row.quantity!, row.client_order_id);
  }

  /**
   * What a failed create means. "retry": provably not placed and worth one more try now (clock
   * resynchronised); "later": provably not placed, the caller should come back; "done": the row
   * now says what happened (rejected, or resolved by asking the venue).
   */
  private async afterFailure(
    acc: TradingAccount,
    row: OrderRow,
    f: OrderFailure,
  ): Promise<"retry" | "later" | "done"> {
    switch (f.kind) {
      case "clock_skew":
        await this.o.store.setState(row.id, "SUBMITTING", "PENDING");
        await this.resync(acc);
        return "retry";
      case "rate_limited":
        // nothing was placed; the client has paused every key that shares the limit
        await this.o.store.setState(row.id, "SUBMITTING", "PENDING");
        return "later";
      case "never_sent":
        await this.o.store.setState(row.id, "SUBMITTING", "PENDING");
        this.o.accounts.outcome(acc.keyId, true);
        return "later";
      case "rejected":
      case "auth":
        await this.o.store.setState(row.id, "SUBMITTING", "REJECTED", {
          rejectCode: "code" in f && f.code !== undefined ? String(f.code) : f.kind,
          rejectReason: f.message,
        });
        this.orderEvent("order.rejected", row, {
          reason: f.message,
        });
        return "done";
      case "duplicate":
      case "ambiguous":
      case "not_found":
      case "unknown_order":
        // it may be on the venue: from now on only the venue's answer decides
        this.o.accounts.outcome(acc.keyId, f.kind === "ambiguous");
        await this.o.store.setState(row.id, "SUBMITTING", "UNKNOWN");
        await this.resolve((await this.o.store.orderById(row.id))!);
        return "done";
    }
  }

  /**
   * Asks the venue for an order whose placement is in doubt, by client order id, until it
   * answers or the grace window has passed with enough "not found" answers to be sure. The window
   * is never shorter than the request's recvWindow: until that has passed, a request the venue
   * is still holding may yet be placed.
   */
  async resolve(row: OrderRow): Promise<void> {
    const acc = await this.o.accounts.get(Number(row.api_key_id), Number(row.user_id));
    const grace = Math.max(this.o.notFoundGraceMs ?? 3000, RECV_WINDOW_MS + CLOCK_TOLERANCE_MS + 500);
    const needed = this.o.notFoundLookups ?? 5;
    let lookups = row.lookups;
    const since = row.submitted_at ? row.submitted_at.getTime() : this.now();
    for (;;) {
      const cur = (await this.o.store.orderById(row.id))!;
      if (cur.state !== "UNKNOWN" && cur.state !== "SUBMITTING") return;
      try {
        const report = await acc.client.queryOrder(cur.symbol, cur.client_order_id);
        await this.apply(cur, report);
        return;
      } catch (e) {
        if (!(e instanceof OrderRequestError)) throw e;
        const f = e.failure;
        if (f.kind !== "not_found") {
          // the venue cannot say now: the order stays UNKNOWN for reconciliation to ask again
          if (cur.state === "SUBMITTING") await this.o.store.setState(cur.id, "SUBMITTING", "UNKNOWN");
          return;
        }
        lookups++;
        const waited = this.now() - since;
        if (lookups >= needed && waited >= grace) {
          const from = cur.state;
          await this.o.store.setState(cur.id, from, "NOT_PLACED", { lookups });
          this.o.log.warn(
            { orderId: cur.id, clientOrderId: cur.client_order_id, lookups, waitedMs: waited },
            "the venue does not have this order: not placed",
          );
          return;
        }
        await this.o.store.setLookups(cur.id, lookups);
        await this.sleep(Math.max(200, Math.ceil((grace - waited) / Math.max(1, needed - lookups))));
      }
    }
  }

  /**
   * Applies a venue report to an order row: state, fills, and what follows (position,
   * protection). Answers the row as this moved it (undefined when it did not move it).
   */
  private async apply(row: OrderRow, report: VenueOrder): Promise<OrderRow | undefined> {
    const t = transition(row.state, { type: "venue", status: report.status });
    if (!t.ok) {
      this.o.log.fatal(
        { orderId: row.id, clientOrderId: row.client_order_id, from: row.state, venueStatus: report.status },
        `order state invariant broken: ${t.reason}`,
      );
      await this.o.store.raiseAlert({
        userId: row.user_id,
        strategyId: row.strategy_id,
        kind: "ORDER_STATE",
        severity: "critical",
        message: `order ${row.client_order_id}: ${t.reason}`,
        dedupeKey: `order-state:${row.id}`,
      });
      return undefined;
    }
    const spec = this.spec(row.symbol);
    const r = await this.moveWithFills(row, report, t.state, spec);
    if (!r) return undefined;
    const { moved, next, totals } = r;
    if (!moved && row.state !== next) return undefined;
    const filled = d(totals.qty);
    const done = next === "FILLED" || ((next === "CANCELED" || next === "EXPIRED") && filled.isPositive());
    if (!done) return moved;
    // what follows a fill changes positions and lists, never this row
    const now = moved ?? (await this.o.store.orderById(row.id))!;
    if (row.role === "entry") await this.onEntryFilled(now, spec, totals);
    else if (row.role === "exit" || row.role === "close") await this.onExitFilled(now, spec, totals);
    return moved;
  }

  /**
   * Records the report's fills and moves the row towards `target`. The venue's trade list can lag
   * its order status, so an order is not finished before the trades it reports are recorded
   * (otherwise a position would open short, or close without all its trades, and never be
   * corrected): until then it stays open. Undefined when even that move is not allowed; `moved`
   * is the row as moved, undefined when someone else moved it first.
   */
  private async moveWithFills(
    row: OrderRow,
    report: VenueOrder,
    target: OrderState,
    spec: SymbolSpec,
  ): Promise<{ moved: OrderRow | undefined; next: OrderState; totals: FillTotals } | undefined> {
    const totals =
      (await this.recordFills(row, report, spec)) ??
      (await this.o.store.fillTotals(row.id, spec.baseAsset, spec.quoteAsset));
    let next = target;
    if (isTerminal(next) && this.tradesMissing(report, totals.qty)) {
      const open = transition(row.state, {
        type: "venue",
        status: d(totals.qty).isPositive() ? "PARTIALLY_FILLED" : "NEW",
      });
      if (!open.ok) return undefined;
      next = open.state;
    }
    const moved = await this.o.store.moveOrder(row.id, row.state, next, {
      exchangeOrderId: report.orderId,
      exchangeStatus: report.status,
      filledQty: totals.qty,
      cumulativeQuote: totals.quote,
    });
    return { moved, next, totals };
  }

  /** Fewer trades recorded than the venue says executed (capped at the order's quantity). */
  private tradesMissing(report: VenueOrder, recorded: string): boolean {
    const executed = d(report.executedQty);
    const cap =
      report.origQty && d(report.origQty).isPositive() ? Decimal.min(executed, d(report.origQty)) : executed;
    return d(recorded).lt(cap);
  }

  /**
   * Records what the report says was executed beyond the fills known; answers the order's fill
   * totals afterwards, or undefined when there was nothing to record.
   */
  private async recordFills(
    row: OrderRow,
    report: VenueOrder,
    spec: SymbolSpec,
  ): Promise<FillTotals | undefined> {
    const executed = d(report.executedQty);
    // the row's filled quantity is only ever written from recorded fills, so it never exceeds
    // them: a report that executed no more has nothing new (a stale row just costs a look)
    if (!executed.gt(d(row.filled_qty ?? "0"))) return undefined;
    const acc = await this.o.accounts.get(Number(row.api_key_id), Number(row.user_id));
    const fills = report.fills?.length
      ? report.fills.map((f) => ({
          tradeId: f.tradeId,
          price: f.price,
          qty: f.qty,
          quoteQty: Decimal.parse(f.price).mul(Decimal.parse(f.qty)).toString(),
          commission: f.commission,
          commissionAsset: f.commissionAsset,
          isMaker: false,
          // the venue's time (a replayed market's, on the simulator), never this machine's clock
          time: report.updateTime ?? report.transactTime ?? this.now(),
        }))
      : (await acc.client.tradesOfOrder(row.symbol, report.orderId)).map((f) => ({
          tradeId: f.id,
          price: f.price,
          qty: f.qty,
          quoteQty: f.quoteQty,
          commission: f.commission,
          commissionAsset: f.commissionAsset,
          isMaker: f.isMaker,
          time: f.time,
        }));
    // a fill that would take the order beyond its quantity is refused: the venue cannot fill more
    // than was ordered, so such a report is wrong or belongs elsewhere and must not move money here
    const limit = report.origQty && d(report.origQty).isPositive() ? d(report.origQty) : executed;
    const refused: { tradeId: string; qty: string; recorded: string }[] = [];
    const totals = await this.o.store.transaction(async (t) => {
      // one writer per order at a time: two checks of the same report must not both pass the limit
      const known = await this.o.store.lockFills(row.id, t);
      let sum = known.reduce((s, k) => s.add(d(k.qty)), ZERO);
      const seen = new Set(known.map((k) => k.exchange_trade_id));
      const accepted = [];
      for (const f of fills) {
        if (seen.has(f.tradeId)) continue;
        seen.add(f.tradeId);
        const q = Decimal.parse(f.qty);
        if (sum.add(q).gt(limit)) {
          refused.push({ tradeId: f.tradeId, qty: f.qty, recorded: sum.toString() });
          continue;
        }
        accepted.push(f);
        sum = sum.add(q);
      }
      return this.o.store.insertFills(
        row.id,
        accepted.map((f) => ({
          orderId: row.id,
          userId: row.user_id,
          symbol: row.symbol,
          tradeId: f.tradeId,
          side: row.side,
          price: f.price,
          qty: f.qty,
          quoteQty: f.quoteQty,
          commission: f.commission,
          commissionAsset: f.commissionAsset,
          isMaker: f.isMaker,
          executedAt: new Date(f.time),
        })),
        { base: spec.baseAsset, quote: spec.quoteAsset },
        t,
      );
    });
    for (const f of refused) {
      this.o.log.error(
        {
          orderId: row.id,
          clientOrderId: row.client_order_id,
          tradeId: f.tradeId,
          qty: f.qty,
          limit: limit.toString(),
        },
        "fill refused: it would exceed the order's quantity",
      );
      const raised = await this.o.store.raiseAlert({
        userId: row.user_id,
        strategyId: row.strategy_id,
        kind: "OVERFILL",
        severity: "critical",
        message: `fill ${f.tradeId} of order ${row.client_order_id} would exceed its quantity; refused`,
        data: {
          orderId: Number(row.id),
          tradeId: f.tradeId,
          qty: f.qty,
          recorded: f.recorded,
          limit: limit.toString(),
        },
        dedupeKey: `overfill:${row.id}:${f.tradeId}`,
      });
      if (raised)
        this.event("alert.raised", row, {
          kind: "OVERFILL",
          severity: "critical",
          strategyId: numberOrNull(row.strategy_id),
          orderId: Number(row.id),
          message: `fill ${f.tradeId} refused: it would exceed the order's quantity`,
        });
    }
    return totals;
  }

  /** The entry filled: open the position (net of a base-asset fee) and protect it. */
  private async onEntryFilled(row: OrderRow, spec: SymbolSpec, totals: FillTotals): Promise<void> {
    if (!d(totals.qty).isPositive()) return;
    const qty = d(totals.qty).sub(d(totals.fee_base));
    const quote = d(totals.quote);
    const avg = quote.div(d(totals.qty), 10, "halfEven");
    const entryFees = d(totals.fee_base).mul(avg).add(d(totals.fee_quote));
    const params = (await this.o.store.paramsOf(row.id)) as IntentParams | null;
    const wantsProtection =
      params?.risk?.takeProfitPct !== undefined || params?.risk?.stopLossPct !== undefined;
    const { row: pos, inserted } = await this.o.store.openPosition({
      userId: row.user_id,
      strategyId: row.strategy_id,
      apiKeyId: row.api_key_id!,
      entryOrderId: row.id,
      intentId: row.intent_id,
      symbol: row.symbol,
      qty: qty.toString(),
      entryPrice: avg.round(8, "halfEven").toString(),
      entryFees: entryFees.round(8, "halfEven").toString(),
      openedAt: totals.last ?? new Date(this.now()),
      entryCandle: numberOrNull(row.candle_open),
      protection: wantsProtection ? "pending" : "none",
    });
    if (inserted) {
      this.orderEvent("order.filled", row, {
        side: row.side,
        qty: totals.qty,
        quote: totals.quote,
      });
      this.positionEvent("position.opened", pos, {
        qty: pos.qty,
        entryPrice: pos.entry_price,
      });
    }
    this.o.checkpoint?.("entry-filled");
    if (pos.status === "open" && pos.protection === "pending") await this.protect(pos, params?.risk ?? {});
  }

  /**
   * Places the OCO that protects a position. A refused OCO (prices moved through a leg, filters)
   * leads to an emergency exit at market; if that fails too, the position is flagged UNPROTECTED
   * and an alert is raised: a filled entry is never left unprotected silently.
   */
  async protect(pos: PositionRow, risk: { takeProfitPct?: number; stopLossPct?: number }): Promise<void> {
    const spec = this.spec(pos.symbol);
    const plan = planProtection({
      spec,
      entryPrice: d(pos.entry_price),
      // what an earlier list's take-profit sold in part is no longer there to protect
      quantity: d(pos.qty).sub((await this.legSales(pos, spec)).qty),
      takeProfitPct: risk.takeProfitPct,
      stopLossPct: risk.stopLossPct,
      stopLimitMarginPct: this.o.stopLimitMarginPct,
    });
    if (plan.kind === "none") {
      await this.o.store.setProtection(pos.id, "none");
      return;
    }
    if (plan.kind === "impossible") {
      await this.unprotected(pos, plan.message);
      return;
    }
    const lists = await this.o.store.listsOfPosition(pos.id);
    const last = lists.at(-1);
    if (last?.state === "EXECUTING") {
      await this.o.store.setProtection(pos.id, "protected", last.id);
      return;
    }
    // a list whose placement is in doubt is asked about first: placing another could protect twice
    if (last && ["SUBMITTING", "UNKNOWN", "PENDING_CANCEL"].includes(last.state)) {
      await this.syncList(last);
      return;
    }
    // a list that ended without closing the position (refused, cancelled by hand) is never reused:
    // the next attempt has ids of its own, so the venue and the rows cannot mix the two up
    const attempt = last && last.state !== "PENDING" ? lists.length : Math.max(0, lists.length - 1);
    const base = pos.intent_id ?? `position-${pos.id}`;
    const intent = attempt === 0 ? base : `${base}:p${attempt}`;
    const p = plan.plan;
    const { row: list } = await this.o.store.insertList({
      userId: pos.user_id,
      strategyId: pos.strategy_id,
      apiKeyId: pos.api_key_id!,
      positionId: pos.id,
      intentId: intent,
      symbol: pos.symbol,
      listClientOrderId: clientOrderId(intent, "list"),
      quantity: p.quantity,
      takeProfitPrice: p.takeProfitPrice,
      stopPrice: p.stopPrice,
      stopLimitPrice: p.stopLimitPrice,
    });
    const legs: [OrderRole, string, string | null, string | null][] = [
      ["take_profit", "LIMIT_MAKER", p.takeProfitPrice, null],
      ["stop_loss", "STOP_LOSS_LIMIT", p.stopLimitPrice, p.stopPrice],
    ];
    for (const [role, type, price, stop] of legs) {
      await this.o.store.insertOrder({
        userId: Number(pos.user_id),
        strategyId: numberOrNull(pos.strategy_id),
        apiKeyId: Number(pos.api_key_id),
        intentId: intent,
        clientOrderId: clientOrderId(intent, role === "take_profit" ? "take_profit" : "stop_loss"),
        symbol: pos.symbol,
        side: "SELL",
        type,
        role,
        quantity: p.quantity,
        price,
        stopPrice: stop,
        state: "PENDING",
        orderListId: list.id,
        candleOpen: numberOrNull(pos.entry_candle),
      });
    }
    if (list.state === "EXECUTING") {
      await this.o.store.setProtection(pos.id, "protected", list.id);
      return;
    }
    await this.placeList(list, pos);
  }

  private async placeList(list: ListRow, pos: PositionRow): Promise<void> {
    const acc = await this.o.accounts.get(Number(list.api_key_id), Number(list.user_id));
    const legs = await this.o.store.ordersOfList(list.id);
    const tp = legs.find((l) => l.role === "take_profit")!;
    const sl = legs.find((l) => l.role === "stop_loss")!;
    if (list.state === "PENDING") await this.o.store.setListState(list.id, "SUBMITTING");
    try {
      const venue = await acc.client.placeOco({
        symbol: list.symbol,
        quantity: list.quantity,
        listClientOrderId: list.list_client_order_id,
        takeProfit: { price: list.take_profit_price!, clientOrderId: tp.client_order_id },
        stop: {
          stopPrice: list.stop_price!,
          price: list.stop_limit_price!,
          clientOrderId: sl.client_order_id,
        },
      });
      this.o.checkpoint?.("oco-acked");
      await this.applyList(list, venue);
      this.o.log.info(
        { positionId: pos.id, list: list.list_client_order_id },
        "position protected by an OCO",
      );
    } catch (e) {
      if (!(e instanceof OrderRequestError)) throw e;
      const f = e.failure;
      if (f.kind === "rejected" || f.kind === "auth") {
        await this.o.store.setListState(list.id, "REJECTED");
        for (const leg of legs)
          await this.o.store.setState(leg.id, leg.state, "REJECTED", { rejectReason: f.message });
        await this.emergencyExit(pos, `the protective OCO was refused: ${f.message}`);
        return;
      }
      if (f.kind === "rate_limited" || f.kind === "never_sent" || f.kind === "clock_skew") {
        if (f.kind === "clock_skew") await this.resync(acc);
        await this.o.store.setListState(list.id, "PENDING");
        await this.o.store.setProtection(pos.id, "pending");
        return;
      }
      await this.o.store.setListState(list.id, "UNKNOWN");
      await this.syncList((await this.o.store.listByClientId(list.list_client_order_id))!);
    }
  }

  /** Applies a venue order list (and its legs' reports, when present) to the rows. */
  private async applyList(list: ListRow, venue: VenueList): Promise<void> {
    const done = venue.listStatusType === "ALL_DONE";
    await this.o.store.setListState(list.id, done ? "ALL_DONE" : "EXECUTING", {
      orderListId: venue.orderListId,
      listStatusType: venue.listStatusType,
      listOrderStatus: venue.listOrderStatus,
    });
    const legs = await this.o.store.ordersOfList(list.id);
    for (const leg of legs) {
      const rep = venue.orderReports?.find((r) => r.clientOrderId === leg.client_order_id);
      if (rep) await this.applyLeg(leg, rep);
      else if (leg.state === "PENDING" || leg.state === "SUBMITTING") {
        const ref = venue.orders.find((o) => o.clientOrderId === leg.client_order_id);
        if (ref) await this.o.store.setState(leg.id, leg.state, "NEW", { exchangeOrderId: ref.orderId });
      }
    }
    if (list.position_id) {
      const pos = await this.o.store.positionById(list.position_id);
      if (pos?.status === "open" && !done) await this.o.store.setProtection(pos.id, "protected", list.id);
    }
    if (done) await this.syncLegs(list);
  }

  private async applyLeg(leg: OrderRow, rep: VenueOrder): Promise<void> {
    let cur = leg;
    if (cur.state === "PENDING") {
      await this.o.store.setState(cur.id, "PENDING", "SUBMITTING");
      cur = { ...cur, state: "SUBMITTING" };
    }
    const t = transition(cur.state, { type: "venue", status: rep.status });
    if (!t.ok) return;
    const r = await this.moveWithFills(cur, rep, t.state, this.spec(cur.symbol));
    if (!r) return;
    const { moved, next } = r;
    if (moved && cur.state !== next && (next === "CANCELED" || next === "EXPIRED"))
      this.orderEvent("order.canceled", cur, {
        role: cur.role,
        state: next,
      });
  }

  /**
   * A list the venue finished: once no leg works any more, what the legs sold closes the position
   * (once), or, when they sold nothing or only part of it, the position is protected again.
   */
  private async syncLegs(list: ListRow): Promise<void> {
    const acc = await this.o.accounts.get(Number(list.api_key_id), Number(list.user_id));
    for (const leg of await this.o.store.ordersOfList(list.id)) {
      if (["FILLED", "CANCELED", "EXPIRED", "REJECTED", "NOT_PLACED"].includes(leg.state)) continue;
      try {
        await this.applyLeg(leg, await acc.client.queryOrder(leg.symbol, leg.client_order_id));
      } catch (e) {
        if (!(e instanceof OrderRequestError)) throw e;
        return; // asked again at the next reconciliation
      }
    }
    if (!list.position_id) return;
    const legs = await this.o.store.ordersOfList(list.id);
    // a take-profit still filling in parts: the position is closed when it is done
    if (legs.some((l) => OPEN_STATES.includes(l.state))) return;
    const pos = await this.o.store.positionById(list.position_id);
    if (!pos || pos.status !== "open") return;
    const spec = this.spec(list.symbol);
    const sold = await this.legSales(pos, spec);
    const rest = d(pos.qty).sub(sold.qty);
    if (
      sold.qty.isPositive() &&
      this.isDust(rest, spec, sold.qty.isPositive() ? sold.quote.div(sold.qty, 10, "halfEven") : ZERO)
    ) {
      await this.closeWith(pos, sold, spec, sold.role);
      return;
    }
    // the list ended without selling it all (cancelled by hand, a leg expired after a partial
    // fill): what is left is protected again by the next pass, never left bare silently
    await this.o.store.setProtection(pos.id, "pending");
  }

  /** What the position's protection legs sold so far, with fees valued in the quote asset. */
  private async legSales(pos: PositionRow, spec: SymbolSpec): Promise<Proceeds & { role: string }> {
    const rows = await this.o.store.legFills(pos.id, spec.baseAsset, spec.quoteAsset);
    const out = proceedsOf(rows);
    return { ...out, role: rows[0]?.role === "take_profit" ? "take_profit" : "stop_loss" };
  }

  /** Too little to sell or protect on its own (below the lot or notional minimum). */
  private isDust(qty: Decimal, spec: SymbolSpec, price: Decimal): boolean {
    const lot = qty.roundDown(Decimal.parse(spec.stepSize));
    return (
      lot.lt(Decimal.parse(spec.minQty)) ||
      !lot.isPositive() ||
      lot.mul(price).lt(Decimal.parse(spec.minNotional))
    );
  }

  /** Asks the venue about a list whose state is not final and applies the answer. */
  async syncList(list: ListRow): Promise<void> {
    const acc = await this.o.accounts.get(Number(list.api_key_id), Number(list.user_id));
    let venue: VenueList;
    try {
      venue = await acc.client.queryList(list.list_client_order_id);
    } catch (e) {
      if (!(e instanceof OrderRequestError)) throw e;
      if (e.failure.kind === "not_found" && (list.state === "UNKNOWN" || list.state === "SUBMITTING")) {
        // never placed: place it (same list id: the venue never had it)
        await this.o.store.setListState(list.id, "PENDING");
        const pos = list.position_id ? await this.o.store.positionById(list.position_id) : undefined;
        if (pos?.status === "open") await this.placeList({ ...list, state: "PENDING" }, pos);
      }
      return;
    }
    await this.applyList(list, venue);
  }

  /** Closes a position with what its exit sold (legs, an exit order or both), once. */
  private async closeWith(pos: PositionRow, sold: Proceeds, spec: SymbolSpec, reason: string): Promise<void> {
    if (!sold.qty.isPositive()) return;
    const exitPrice = sold.quote.div(sold.qty, 10, "halfEven");
    const entryFillsRow = pos.entry_order_id ? await this.o.store.orderById(pos.entry_order_id) : undefined;
    const entryQuote = entryFillsRow ? d(entryFillsRow.cumulative_quote) : d(pos.qty).mul(d(pos.entry_price));
    const entryQuoteFees = entryFillsRow
      ? d((await this.o.store.fillTotals(entryFillsRow.id, spec.baseAsset, spec.quoteAsset)).fee_quote)
      : ZERO;
    // cash in minus cash out: a base-asset entry fee already shows as fewer coins sold
    const pnl = sold.quote.sub(sold.fees).sub(entryQuote).sub(entryQuoteFees);
    const closed = await this.o.store.closePosition({
      positionId: pos.id,
      exitPrice: exitPrice.round(8, "halfEven").toString(),
      exitFees: sold.fees.round(8, "halfEven").toString(),
      pnl: pnl.round(8, "halfEven").toString(),
      exitReason: reason,
      closedAt: sold.last ?? new Date(this.now()),
    });
    if (closed) {
      this.positionEvent("position.closed", closed, {
        exitReason: reason,
        exitPrice: exitPrice.round(8, "halfEven").toString(),
        pnl: pnl.round(8, "halfEven").toString(),
      });
    }
  }

  private async unprotected(pos: PositionRow, why: string): Promise<void> {
    await this.o.store.setProtection(pos.id, "unprotected");
    const raised = await this.o.store.raiseAlert({
      userId: pos.user_id,
      strategyId: pos.strategy_id,
      kind: "UNPROTECTED",
      severity: "critical",
      message: `position ${pos.id} (${pos.qty} ${pos.symbol}) is not protected: ${why}`,
      data: { positionId: Number(pos.id), reason: why },
      dedupeKey: `unprotected:${pos.id}`,
    });
    this.o.log.error({ positionId: pos.id, symbol: pos.symbol, reason: why }, "UNPROTECTED position");
    if (raised)
      this.event("alert.raised", pos, {
        kind: "UNPROTECTED",
        severity: "critical",
        strategyId: numberOrNull(pos.strategy_id),
        positionId: Number(pos.id),
        message: why,
      });
  }

  /** Sells a position that could not be protected; flags it UNPROTECTED when even that fails. */
  private async emergencyExit(pos: PositionRow, why: string): Promise<void> {
    const intent = `${pos.intent_id ?? `position-${pos.id}`}-emergency`;
    const r = await this.sellPositions(
      {
        intentId: intent,
        userId: Number(pos.user_id),
        keyId: Number(pos.api_key_id),
        instanceId: Number(pos.strategy_id ?? 0),
        fencingToken: 0,
        symbol: pos.symbol,
        side: "SELL",
        kind: "exit",
        candleOpenTime: Number(pos.entry_candle ?? 0),
        reason: "emergency exit",
      },
      [pos],
      "close",
    ).catch((e: Error) => ({ status: "rejected", message: e.message }) as SubmitResult);
    if (r.status !== "accepted")
      await this.unprotected(pos, `${why}; the emergency exit failed (${r.message ?? r.status})`);
    else
      await this.o.store.raiseAlert({
        userId: pos.user_id,
        strategyId: pos.strategy_id,
        kind: "EMERGENCY_EXIT",
        severity: "error",
        message: `position ${pos.id} was sold at market: ${why}`,
        dedupeKey: `emergency:${pos.id}`,
      });
  }

  // ------------------------------------------------------------------ exits

  private async exit(cmd: SubmitCommand): Promise<SubmitResult> {
    const role: OrderRole = cmd.intentId.endsWith("-close") ? "close" : "exit";
    const existing = await this.o.store.orderByIntent(cmd.intentId, role);
    if (existing) {
      if (existing.state === "PENDING") return this.send(existing, cmd, true);
      if (existing.state === "SUBMITTING" || existing.state === "UNKNOWN") await this.resolve(existing);
      return this.resultOf(cmd, (await this.o.store.orderById(existing.id))!, true);
    }
    const stale = this.staleness(cmd, await this.o.store.leaseOf(cmd.instanceId));
    if (stale) return this.denied(cmd, stale);
    this.checkBrakes(cmd.keyId);
    const positions = await this.o.store.openPositions(cmd.instanceId);
    if (positions.length === 0)
      return { intentId: cmd.intentId, status: "noop", repeated: false, message: "no open position" };
    return this.sellPositions(cmd, positions, role);
  }

  /** Cancels the positions' OCOs (a leg that already filled closes its position), then sells the rest. */
  private async sellPositions(
    cmd: SubmitCommand,
    positions: PositionRow[],
    role: OrderRole,
  ): Promise<SubmitResult> {
    const acc = await this.account(cmd);
    if ("ok" in acc) return this.storeDenial(cmd, role, acc);
    const spec = this.spec(cmd.symbol);
    for (const pos of positions) {
      let list = await this.o.store.listOfPosition(pos.id);
      if (!list) continue;
      if (["EXECUTING", "UNKNOWN", "SUBMITTING", "PENDING_CANCEL"].includes(list.state)) {
        await this.o.store.setListState(list.id, "PENDING_CANCEL");
        try {
          const venue = await acc.client.cancelList(list.symbol, list.list_client_order_id);
          await this.applyList(list, venue);
        } catch (e) {
          if (!(e instanceof OrderRequestError)) throw e;
          // -2011 and friends: the list is no longer open; find out why (a leg may have filled)
          await this.syncList(list);
        }
        list = await this.o.store.listByClientId(list.list_client_order_id);
      }
      if (list?.state !== "ALL_DONE") continue;
      // the list ended but a leg still works (a take-profit filling in parts): stop it first
      let stopped = false;
      for (const leg of await this.o.store.ordersOfList(list.id)) {
        if (!OPEN_STATES.includes(leg.state)) continue;
        try {
          await this.applyLeg(leg, await acc.client.cancelOrder(leg.symbol, leg.client_order_id));
        } catch (e) {
          if (!(e instanceof OrderRequestError)) throw e;
        }
        stopped = true;
      }
      if (stopped) await this.syncLegs(list);
    }
    const still = (await Promise.all(positions.map((p) => this.o.store.positionById(p.id)))).filter(
      (p): p is PositionRow => p?.status === "open",
    );
    if (still.length === 0)
      return {
        intentId: cmd.intentId,
        status: "noop",
        repeated: false,
        message: "the position closed meanwhile",
      };
    // what the legs sold already is not sold again
    let total = ZERO;
    for (const p of still) total = total.add(d(p.qty).sub((await this.legSales(p, spec)).qty));
    const [price, account] = await Promise.all([
      this.venue(acc, () => this.o.accounts.price(acc, cmd.symbol)),
      this.venue(acc, () => acc.client.account()),
    ]);
    const base = account.balances.get(spec.baseAsset) ?? { free: "0", locked: "0" };
    const verdict = checkExit({
      spec,
      positionQty: total,
      freeBase: d(base.free),
      referencePrice: Decimal.parse(price),
    });
    if (!verdict.ok) return this.storeDenial(cmd, role, verdict);
    const { row } = await this.o.store.insertOrder({
      userId: cmd.userId,
      strategyId: cmd.instanceId || null,
      apiKeyId: cmd.keyId,
      intentId: cmd.intentId,
      clientOrderId: clientOrderId(cmd.intentId, "exit"),
      symbol: cmd.symbol,
      side: "SELL",
      type: "MARKET",
      role,
      quantity: verdict.quantity,
      state: "PENDING",
      candleOpen: cmd.candleOpenTime,
      fencingToken: cmd.fencingToken || null,
      params: { reason: cmd.reason, positions: still.map((p) => p.id) },
    });
    return this.send(row, cmd, false);
  }

  /**
   * The exit sold: close every position it was for. Each gets what its own legs sold plus its
   * share of the exit order by the quantity it still held.
   */
  private async onExitFilled(row: OrderRow, spec: SymbolSpec, totals: FillTotals): Promise<void> {
    const params = (await this.o.store.paramsOf(row.id)) as { positions?: string[]; reason?: string } | null;
    const ids = params?.positions ?? [];
    const positions = (await Promise.all(ids.map((id) => this.o.store.positionById(id)))).filter(
      (p): p is PositionRow => p?.status === "open",
    );
    const reason = row.role === "close" ? "close" : "signal";
    this.orderEvent("order.filled", row, {
      side: row.side,
      qty: totals.qty,
      quote: totals.quote,
    });
    const held = [];
    for (const p of positions) {
      const legs = await this.legSales(p, spec);
      held.push({ p, legs, rest: d(p.qty).sub(legs.qty) });
    }
    const total = held.reduce((s, x) => s.add(x.rest), ZERO);
    for (const { p, legs, rest } of held) {
      const share = total.isPositive() ? rest.div(total, 12, "halfEven") : Decimal.ONE;
      await this.closeWith(p, addProceeds(legs, proceedsOf([totals], share)), spec, reason);
    }
  }

  // ------------------------------------------------------------------ reconciliation

  /**
   * Brings the database in line with the venue for one account×symbol: orders in doubt are
   * resolved, finished lists close their positions once, and every open position gets its
   * protection or an UNPROTECTED alert. Run under that account×symbol's mailbox and guard.
   */
  async reconcileSymbol(keyId: number, userId: number, symbol: string) {
    const report = { resolved: 0, listsSynced: 0, protected: 0, unprotected: 0 };
    const acc = await this.o.accounts.get(keyId, userId);
    for (const row of await this.o.store.unresolvedOrders(keyId, symbol)) {
      if (row.role === "take_profit" || row.role === "stop_loss") continue;
      if (row.state === "PENDING") continue; // never sent; its actor sends it again or it expires
      if (row.state === "SUBMITTING" || row.state === "UNKNOWN") {
        if (row.state === "SUBMITTING") await this.o.store.setState(row.id, "SUBMITTING", "UNKNOWN");
        await this.resolve((await this.o.store.orderById(row.id))!);
      } else {
        try {
          await this.apply(row, await acc.client.queryOrder(row.symbol, row.client_order_id));
        } catch (e) {
          if (!(e instanceof OrderRequestError)) throw e;
          continue;
        }
      }
      report.resolved++;
    }
    for (const list of await this.o.store.liveLists(keyId, symbol)) {
      await this.syncList(list);
      report.listsSynced++;
    }
    for (const pos of await this.o.store.positionsNeedingProtection(keyId, symbol)) {
      const entry = pos.entry_order_id ? await this.o.store.paramsOf(pos.entry_order_id) : null;
      const risk = (entry as IntentParams | null)?.risk ?? {};
      await this.protect(pos, risk);
      const after = await this.o.store.positionById(pos.id);
      if (after?.protection === "protected") report.protected++;
      else if (after?.protection === "unprotected") report.unprotected++;
    }
    return report;
  }

  /**
   * Orders on the venue that the database does not know: ours (by client id prefix) are adopted,
   * anyone else's are recorded as EXTERNAL and never touched.
   */
  async adoptUnknown(
    keyId: number,
    userId: number,
    symbol: string,
    isOurs: (clientOrderId: string) => boolean,
  ) {
    const report = { adopted: 0, external: 0 };
    const acc = await this.o.accounts.get(keyId, userId);
    // per symbol: the venue charges 6 for one symbol's open orders and 80 for all of them, and
    // this runs for every watched pair on every pass
    const open = await acc.client.openOrders(symbol);
    for (const v of open) {
      if (await this.o.store.orderByClientId(v.clientOrderId)) continue;
      const ours = isOurs(v.clientOrderId);
      const { inserted } = await this.o.store.insertOrder({
        userId,
        strategyId: null,
        apiKeyId: keyId,
        intentId: `${ours ? "adopted" : "external"}:${v.clientOrderId}`,
        clientOrderId: v.clientOrderId,
        symbol: v.symbol,
        side: v.side,
        type: v.type,
        role: v.side === "BUY" ? "entry" : "exit",
        quantity: v.origQty,
        price: v.price,
        stopPrice: v.stopPrice ?? null,
        state: (["NEW", "PARTIALLY_FILLED", "PENDING_CANCEL"].includes(v.status)
          ? v.status
          : "NEW") as OrderState,
        origin: ours ? "adopted" : "external",
        exchangeOrderId: v.orderId,
        exchangeStatus: v.status,
      });
      if (!inserted) continue;
      if (ours) report.adopted++;
      else report.external++;
      await this.o.store.raiseAlert({
        userId,
        kind: ours ? "ORDER_ADOPTED" : "EXTERNAL_ORDER",
        severity: ours ? "warn" : "info",
        message: ours
          ? `order ${v.clientOrderId} on ${v.symbol} was on the venue without a record; adopted`
          : `order ${v.clientOrderId} on ${v.symbol} was not placed by AURA; recorded, left alone`,
        dedupeKey: `order-seen:${keyId}:${v.clientOrderId}`,
      });
    }
    return report;
  }
}
