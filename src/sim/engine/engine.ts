// The simulator's matching engine: balances, orders, order lists and fills against a replayed
// price. Pure and deterministic: time comes in as arguments, ids come from counters and a seeded
// generator, and every state change is returned as user-data events in the order Binance sends
// them (docs/exchange-contract.md, User-data stream). No I/O, no clock, no formatting.
import { Decimal } from "../../core/money/decimal";
import type { SymbolSpec } from "../../core/market/symbols";
import { BinanceError, MSG, err } from "../binance/errors";
import {
  checkLotSize,
  checkMarketLotSize,
  checkNotional,
  checkPrice,
  rulesFor,
  type SymbolRules,
} from "./filters";
import {
  isLimitPriced,
  isOpenStatus,
  isStopType,
  type AccountState,
  type Balance,
  type CancelListResult,
  type CancelResult,
  type CommissionAsset,
  type CommissionRates,
  type EngineEvent,
  type ExecutionType,
  type ExpiryReason,
  type Fill,
  type Lock,
  type NewOcoRequest,
  type NewOrderRequest,
  type OcoLegRequest,
  type Order,
  type OrderList,
  type OrderSnapshot,
  type PlaceListResult,
  type PlaceResult,
  type Side,
  type Trade,
} from "./types";
import {
  accountJson,
  listJson,
  orderJson,
  text,
  tradeJson,
  type EngineState,
  type EngineStateJson,
} from "./state";

export interface EngineConfig {
  /** Default commission rates for new accounts, e.g. "0.001" = 0.1 %. */
  makerCommission: string;
  takerCommission: string;
  /** Market and stop-market fills move this many basis points against the trader. */
  slippageBps: string;
  /**
   * When set (e.g. "0.25"), at most this fraction of an order's quantity fills per price update
   * (resting orders) or per fill (market orders), so PARTIALLY_FILLED states appear.
   */
  partialFillRatio?: string;
  /** MAX_NUM_ORDERS filter: open orders per account and symbol. */
  maxNumOrders: number;
  /** Seed of the generator behind auto-assigned client order ids. */
  seed: number;
}

export const DEFAULT_ENGINE_CONFIG: EngineConfig = {
  makerCommission: "0.001",
  takerCommission: "0.001",
  slippageBps: "0",
  maxNumOrders: 200,
  seed: 1,
};

const CLIENT_ID_RE = /^[.A-Z:/a-z0-9_-]{1,36}$/;
const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const QUOTE_DECIMALS = 8;
const BPS = Decimal.parse("10000");

export interface OrderQuery {
  orderId?: number;
  origClientOrderId?: string;
}

export interface WindowQuery {
  startTime?: number;
  endTime?: number;
  limit?: number;
}

/** Binance's list windowing (docs/exchange-contract.md, Conventions) on items sorted ascending by `key`. */
export function windowed<T>(
  items: readonly T[],
  key: (t: T) => number,
  q: WindowQuery,
  defaultLimit = 500,
): T[] {
  const limit = q.limit ?? defaultLimit;
  let xs = items as T[];
  if (q.startTime !== undefined) xs = xs.filter((x) => key(x) >= q.startTime!);
  if (q.endTime !== undefined) xs = xs.filter((x) => key(x) <= q.endTime!);
  return q.startTime !== undefined ? xs.slice(0, limit) : xs.slice(Math.max(0, xs.length - limit));
}

/** Collects events of one engine operation and which balances it touched. */
class Tx {
  readonly events: EngineEvent[] = [];
  private readonly touched = new Map<number, Set<string>>();
  constructor(readonly time: number) {}

  touch(accountId: number, ...assets: string[]): void {
    let s = this.touched.get(accountId);
    if (!s) this.touched.set(accountId, (s = new Set()));
    for (const a of assets) s.add(a);
  }

  take(accountId: number): string[] {
    const s = this.touched.get(accountId);
    this.touched.delete(accountId);
    return s ? [...s] : [];
  }

  pending(): number[] {
    return [...this.touched.keys()];
  }
}

export class MatchingEngine {
  readonly config: EngineConfig;
  private readonly rules = new Map<string, SymbolRules>();
  private readonly prices = new Map<string, Decimal>();
  private readonly accounts = new Map<number, AccountState>();
  private readonly orders = new Map<number, Order>();
  private readonly openBySymbol = new Map<string, Map<number, Order>>();
  private readonly ordersByAccount = new Map<number, Order[]>();
  private readonly lists = new Map<number, OrderList>();
  private readonly listsByAccount = new Map<number, OrderList[]>();
  private readonly listOfOrder = new Map<number, OrderList>();
  /** Open orders by account and client order id: ids must be unique among open orders only. */
  private readonly openClientIds = new Map<number, Map<string, Order>>();
  private readonly trades = new Map<number, Trade[]>();
  private readonly tradeSeq = new Map<string, number>();
  private nextOrderId = 1;
  private nextListId = 1;
  private nextAccountId = 1;
  private nextExecutionId = 1;
  private rng: number;
  private readonly slippage: Decimal;
  private readonly partialRatio?: Decimal;

  constructor(config: Partial<EngineConfig> = {}, symbols: readonly SymbolSpec[] = []) {
    this.config = { ...DEFAULT_ENGINE_CONFIG, ...config };
    this.rng = this.config.seed >>> 0 || 1;
    this.slippage = Decimal.parse(this.config.slippageBps).div(BPS, 12, "halfEven");
    if (this.config.partialFillRatio !== undefined) {
      const r = Decimal.parse(this.config.partialFillRatio);
      if (!r.isPositive() || r.gt(Decimal.ONE)) throw new Error("partialFillRatio must be in (0, 1]");
      if (r.lt(Decimal.ONE)) this.partialRatio = r;
    }
    for (const s of symbols) this.addSymbol(s);
  }

  // ---------------------------------------------------------------- symbols and prices

  addSymbol(spec: SymbolSpec): void {
    this.rules.set(spec.symbol, rulesFor(spec, this.config.maxNumOrders));
    if (!this.openBySymbol.has(spec.symbol)) this.openBySymbol.set(spec.symbol, new Map());
  }

  symbolRules(symbol: string): SymbolRules | undefined {
    return this.rules.get(symbol);
  }

  symbols(): string[] {
    return [...this.rules.keys()];
  }

  lastPrice(symbol: string): Decimal | undefined {
    return this.prices.get(symbol);
  }

  /**
   * A new replayed price. `jump` marks a discontinuity (a candle opening away from the previous
   * close, or a clock jump): stops then fill at the new price and resting limits at the new
   * price when it is better. Otherwise the path moved continuously and crossed any level in
   * between, so stops fill at their stop price and limits at their limit price.
   */
  onPrice(symbol: string, price: Decimal, time: number, jump = false): EngineEvent[] {
    const prev = this.prices.get(symbol);
    this.prices.set(symbol, price);
    const open = this.openBySymbol.get(symbol);
    if (!open || open.size === 0) return [];
    const tx = new Tx(time);
    const gap = jump || prev === undefined;
    for (const o of [...open.values()]) {
      if (!isOpenStatus(o.status)) continue;
      this.evaluate(tx, o, price, gap);
      this.flushAll(tx);
    }
    return tx.events;
  }

  private evaluate(tx: Tx, o: Order, price: Decimal, gap: boolean): void {
    if (isStopType(o.type) && !o.triggered) {
      if (!stopHit(o, price)) return;
      const ref = gap ? price : o.stopPrice;
      o.triggered = true;
      o.workingTime = tx.time;
      o.updateTime = tx.time;
      const list = this.listOfOrder.get(o.orderId);
      if (o.type === "STOP_LOSS" || o.type === "TAKE_PROFIT") {
        this.fillMarket(tx, o, this.slipped(o.symbol, o.side, ref), list);
      } else {
        const marketable = o.side === "BUY" ? ref.lte(o.price) : ref.gte(o.price);
        if (marketable) this.fillTaker(tx, o, ref);
        else if (o.timeInForce !== "GTC")
          this.expire(
            tx,
            o,
            o.timeInForce === "IOC" ? "UNFILLED_IOC_QUANTITY_EXPIRED" : "UNFILLED_FOK_ORDER_EXPIRED",
          );
        if (list) this.resolveOco(tx, list, o);
      }
      return;
    }
    const reached = o.side === "BUY" ? price.lte(o.price) : price.gte(o.price);
    if (!reached) return;
    const fillPrice = gap ? price : o.price;
    this.fillChunk(tx, o, fillPrice, true);
    const list = this.listOfOrder.get(o.orderId);
    if (list) this.resolveOco(tx, list, o);
  }

  // ---------------------------------------------------------------- accounts

  createAccount(
    balances: Record<string, Decimal> = {},
    commission?: Partial<CommissionRates> & { asset?: CommissionAsset },
    time = 0,
  ): AccountState {
    const acc: AccountState = {
      id: this.nextAccountId++,
      balances: new Map(),
      commission: {
        maker: commission?.maker ?? Decimal.parse(this.config.makerCommission),
        taker: commission?.taker ?? Decimal.parse(this.config.takerCommission),
      },
      commissionAsset: commission?.asset ?? "received",
      updateTime: time,
    };
    for (const [asset, amount] of Object.entries(balances)) {
      if (amount.isNegative()) throw new Error(`negative balance for ${asset}`);
      acc.balances.set(asset, { free: amount, locked: Decimal.ZERO });
    }
    this.accounts.set(acc.id, acc);
    this.ordersByAccount.set(acc.id, []);
    this.openClientIds.set(acc.id, new Map());
    this.listsByAccount.set(acc.id, []);
    this.trades.set(acc.id, []);
    return acc;
  }

  account(accountId: number): AccountState {
    const acc = this.accounts.get(accountId);
    if (!acc) throw new Error(`unknown account ${accountId}`);
    return acc;
  }

  balance(accountId: number, asset: string): Balance {
    const acc = this.account(accountId);
    let b = acc.balances.get(asset);
    if (!b) acc.balances.set(asset, (b = { free: Decimal.ZERO, locked: Decimal.ZERO }));
    return b;
  }

  /** Sets the free amount of an asset (an admin deposit/withdrawal): balanceUpdate + outboundAccountPosition. */
  setBalance(accountId: number, asset: string, free: Decimal, time: number): EngineEvent[] {
    if (free.isNegative()) throw new Error("balance must not be negative");
    const b = this.balance(accountId, asset);
    const delta = free.sub(b.free);
    b.free = free;
    const acc = this.account(accountId);
    acc.updateTime = time;
    const tx = new Tx(time);
    tx.events.push({ kind: "balance", accountId, time, asset, delta });
    tx.touch(accountId, asset);
    this.flushAll(tx);
    return tx.events;
  }

  setCommission(accountId: number, rates: Partial<CommissionRates>): void {
    const acc = this.account(accountId);
    acc.commission = { ...acc.commission, ...rates };
  }

  // ---------------------------------------------------------------- orders

  /** Semantic validation only (POST /api/v3/order/test): nothing changes. */
  testOrder(accountId: number, req: NewOrderRequest): void {
    this.prepare(accountId, req);
  }

  placeOrder(accountId: number, req: NewOrderRequest, time: number): PlaceResult {
    const p = this.prepare(accountId, req);
    const tx = new Tx(time);
    const order = this.newOrder(accountId, p.rules, req, p.qty, p.clientOrderId, time, p.quoteOrderQty);
    this.lockFunds(tx, order, { asset: p.lockAsset, amount: p.lockAmount, users: 1 });
    this.emit(tx, order, "NEW");
    const fillsFrom = tx.events.length;
    const price = p.marketPrice;
    if (order.type === "MARKET") {
      this.fillMarket(tx, order, p.execPrice!, undefined);
    } else if (order.type === "LIMIT") {
      const marketable = order.side === "BUY" ? price.lte(order.price) : price.gte(order.price);
      if (marketable) this.fillTaker(tx, order, price);
      else if (order.timeInForce !== "GTC")
        this.expire(
          tx,
          order,
          order.timeInForce === "IOC" ? "UNFILLED_IOC_QUANTITY_EXPIRED" : "UNFILLED_FOK_ORDER_EXPIRED",
        );
    }
    this.flushAll(tx);
    const fills = collectFills(tx.events.slice(fillsFrom), order.orderId);
    return { order: snapshot(order), fills, events: tx.events };
  }

  private prepare(accountId: number, req: NewOrderRequest) {
    this.account(accountId);
    const rules = this.rules.get(req.symbol);
    if (!rules) throw err.symbol();
    const t = req.type;
    const has = (k: keyof NewOrderRequest) => req[k] !== undefined;
    // mandatory / not-required parameters per type
    if (t === "MARKET") {
      if (has("quantity") && has("quoteOrderQty")) throw err.notRequired("quoteOrderQty");
      if (!has("quantity") && !has("quoteOrderQty")) throw err.eitherMandatory("quantity", "quoteOrderQty");
      if (has("price")) throw err.notRequired("price");
      if (has("timeInForce")) throw err.notRequired("timeInForce");
      if (has("stopPrice")) throw err.notRequired("stopPrice");
    } else {
      if (has("quoteOrderQty")) throw err.notRequired("quoteOrderQty");
      if (!has("quantity")) throw err.mandatory("quantity");
      const needsTif = t === "LIMIT" || t === "STOP_LOSS_LIMIT" || t === "TAKE_PROFIT_LIMIT";
      if (needsTif && !has("timeInForce")) throw err.mandatory("timeInForce");
      if (!needsTif && has("timeInForce")) throw err.notRequired("timeInForce");
      if (isLimitPriced(t) && !has("price")) throw err.mandatory("price");
      if (!isLimitPriced(t) && has("price")) throw err.notRequired("price");
      if (isStopType(t) && !has("stopPrice")) throw err.mandatory("stopPrice");
      if (!isStopType(t) && has("stopPrice")) throw err.notRequired("stopPrice");
    }
    if (req.icebergQty !== undefined) throw err.rejected("Iceberg orders are not supported for this symbol.");
    if (req.strategyType !== undefined && req.strategyType < 1_000_000)
      throw new BinanceError(-1134, "strategyType was less than 1000000.");
    const clientOrderId = this.checkClientId(accountId, req.newClientOrderId);
    // filters
    if (req.price !== undefined) checkPrice(rules, req.price);
    if (req.stopPrice !== undefined) checkPrice(rules, req.stopPrice);
    const marketPrice = this.prices.get(req.symbol);
    if (marketPrice === undefined) throw err.rejected(MSG.marketClosed);
    const marketTyped = t === "MARKET" || t === "STOP_LOSS" || t === "TAKE_PROFIT";
    let qty: Decimal;
    let quoteOrderQty: Decimal | undefined;
    let execPrice: Decimal | undefined;
    if (t === "MARKET") execPrice = this.slipped(req.symbol, req.side, marketPrice);
    if (req.quoteOrderQty !== undefined) {
      quoteOrderQty = req.quoteOrderQty;
      if (!quoteOrderQty.isPositive()) throw err.rejected(MSG.priceQtyZero);
      if (quoteOrderQty.lt(rules.minNotional)) throw err.filter("NOTIONAL");
      qty = quoteOrderQty.div(execPrice!, rules.stepSize.scale + 2, "down").roundDown(rules.stepSize);
      if (qty.lt(rules.minQty) || qty.isZero()) throw err.filter("LOT_SIZE");
    } else qty = req.quantity!;
    checkLotSize(rules, qty);
    if (marketTyped) checkMarketLotSize(rules, qty);
    const notionalPrice = t === "MARKET" ? marketPrice : marketTyped ? req.stopPrice! : req.price!;
    checkNotional(rules, notionalPrice, qty, marketTyped);
    if (this.openCount(accountId, req.symbol) + 1 > rules.maxNumOrders) throw err.filter("MAX_NUM_ORDERS");
    // matching-engine checks
    if (t === "LIMIT_MAKER") {
      const takes = req.side === "BUY" ? req.price!.gte(marketPrice) : req.price!.lte(marketPrice);
      if (takes) throw err.rejected(MSG.wouldMatch);
    }
    if (isStopType(t) && stopHit({ type: t, side: req.side, stopPrice: req.stopPrice! }, marketPrice))
      throw err.rejected(MSG.wouldTrigger);
    // funds
    let lockAsset: string;
    let lockAmount: Decimal;
    if (req.side === "SELL") {
      lockAsset = rules.baseAsset;
      lockAmount = qty;
    } else {
      lockAsset = rules.quoteAsset;
      const ref = t === "MARKET" ? execPrice! : marketTyped ? req.stopPrice! : req.price!;
      lockAmount = quoteAmount(qty, ref, "BUY");
      const { commission: c, commissionAsset } = this.account(accountId);
      if (commissionAsset === "quote") {
        // the rate the order can pay: a market fill is a taker, a LIMIT_MAKER a maker, the rest either
        const rate = marketTyped ? c.taker : t === "LIMIT_MAKER" ? c.maker : Decimal.max(c.maker, c.taker);
        lockAmount = lockAmount.add(this.quoteFeeReserve(rules, qty, lockAmount, rate));
      }
    }
    if (this.balance(accountId, lockAsset).free.lt(lockAmount)) throw err.rejected(MSG.insufficientBalance);
    return { rules, qty, quoteOrderQty, execPrice, marketPrice, clientOrderId, lockAsset, lockAmount };
  }

  private checkClientId(accountId: number, id: string | undefined, extra: string[] = []): string {
    if (id === undefined) return this.generateClientId();
    if (id.length === 0) throw err.emptyClientId();
    if (!CLIENT_ID_RE.test(id)) throw err.illegalChars("newClientOrderId", "^[\\.A-Z\\:/a-z0-9_-]{1,36}$");
    if (extra.includes(id)) throw err.rejected(MSG.duplicateOrder);
    if (this.openClientIds.get(accountId)?.has(id)) throw err.rejected(MSG.duplicateOrder);
    return id;
  }

  private generateClientId(): string {
    let s = "";
    for (let i = 0; i < 22; i++) {
      // xorshift32: deterministic across runs for a given seed
      let x = this.rng;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.rng = x >>> 0;
      s += ID_ALPHABET[this.rng % ID_ALPHABET.length];
    }
    return s;
  }

  private openCount(accountId: number, symbol: string): number {
    let n = 0;
    for (const o of this.openBySymbol.get(symbol)?.values() ?? []) if (o.accountId === accountId) n++;
    return n;
  }

  private newOrder(
    accountId: number,
    rules: SymbolRules,
    req: NewOrderRequest | (OcoLegRequest & { side: Side; symbol: string }),
    qty: Decimal,
    clientOrderId: string,
    time: number,
    quoteOrderQty = Decimal.ZERO,
  ): Order {
    const stop = isStopType(req.type);
    const o: Order = {
      accountId,
      symbol: rules.symbol,
      orderId: this.nextOrderId++,
      orderListId: -1,
      clientOrderId,
      side: req.side,
      type: req.type,
      timeInForce: req.timeInForce ?? "GTC",
      price: isLimitPriced(req.type) ? req.price! : Decimal.ZERO,
      origQty: qty,
      stopPrice: stop ? req.stopPrice! : Decimal.ZERO,
      origQuoteOrderQty: quoteOrderQty,
      executedQty: Decimal.ZERO,
      cummulativeQuoteQty: Decimal.ZERO,
      status: "NEW",
      time,
      updateTime: time,
      workingTime: stop ? -1 : time,
      triggered: false,
      strategyId: req.strategyId,
      strategyType: req.strategyType,
    };
    this.orders.set(o.orderId, o);
    this.ordersByAccount.get(accountId)!.push(o);
    this.openBySymbol.get(o.symbol)!.set(o.orderId, o);
    this.openClientIds.get(accountId)!.set(clientOrderId, o);
    return o;
  }

  private lockFunds(tx: Tx, o: Order, lock: Lock): void {
    o.lock = lock;
    const b = this.balance(o.accountId, lock.asset);
    b.free = b.free.sub(lock.amount);
    b.locked = b.locked.add(lock.amount);
    tx.touch(o.accountId, lock.asset);
  }

  /** Market execution at `price` (already slipped), in chunks when partial fills are configured. */
  private fillMarket(tx: Tx, o: Order, price: Decimal, list: OrderList | undefined): void {
    const rules = this.rules.get(o.symbol)!;
    if (o.side === "BUY") {
      // a stop-market buy may trigger above the price its funds were locked at
      const remaining = o.origQty.sub(o.executedQty);
      let need = quoteAmount(remaining, price, "BUY");
      const acc = this.account(o.accountId);
      if (acc.commissionAsset === "quote")
        need = need.add(this.quoteFeeReserve(rules, remaining, need, acc.commission.taker));
      const have = (o.lock?.amount ?? Decimal.ZERO).add(this.balance(o.accountId, rules.quoteAsset).free);
      if (have.lt(need)) {
        this.expire(tx, o, "INSUFFICIENT_LIQUIDITY");
        if (list) this.resolveOco(tx, list, o);
        return;
      }
    }
    while (isOpenStatus(o.status)) this.fillChunk(tx, o, price, false);
    if (list) this.resolveOco(tx, list, o);
  }

  /** A limit order that is marketable when it starts working: taker fill(s) at `price`. */
  private fillTaker(tx: Tx, o: Order, price: Decimal): void {
    // with limited liquidity per update (partial fills) a fill-or-kill can never fill whole
    if (o.timeInForce === "FOK" && this.partialRatio) {
      this.expire(tx, o, "UNFILLED_FOK_ORDER_EXPIRED");
      return;
    }
    this.fillChunk(tx, o, price, false);
    if (isOpenStatus(o.status) && o.timeInForce === "IOC")
      this.expire(tx, o, "UNFILLED_IOC_QUANTITY_EXPIRED");
  }

  /** One fill of the remaining quantity, or of one partial-fill chunk when that is configured. */
  private fillChunk(tx: Tx, o: Order, price: Decimal, isMaker: boolean): void {
    const remaining = o.origQty.sub(o.executedQty);
    let qty = remaining;
    if (this.partialRatio) {
      const step = this.rules.get(o.symbol)!.stepSize;
      qty = Decimal.min(remaining, Decimal.max(step, o.origQty.mul(this.partialRatio).roundDown(step)));
    }
    this.fill(tx, o, qty, price, isMaker);
  }

  private fill(tx: Tx, o: Order, qty: Decimal, price: Decimal, isMaker: boolean): void {
    const rules = this.rules.get(o.symbol)!;
    const acc = this.account(o.accountId);
    const quote = quoteAmount(qty, price, o.side);
    const rate = isMaker ? acc.commission.maker : acc.commission.taker;
    let commission: Decimal;
    let commissionAsset: string;
    if (o.side === "BUY" && acc.commissionAsset === "quote") {
      commission = quote.mul(rate).round(QUOTE_DECIMALS, "halfUp");
      commissionAsset = rules.quoteAsset;
      this.spend(o, rules.quoteAsset, quote.add(commission));
      const b = this.balance(o.accountId, rules.baseAsset);
      b.free = b.free.add(qty);
    } else if (o.side === "BUY") {
      this.spend(o, rules.quoteAsset, quote);
      commission = qty.mul(rate).round(QUOTE_DECIMALS, "halfUp");
      commissionAsset = rules.baseAsset;
      const b = this.balance(o.accountId, rules.baseAsset);
      b.free = b.free.add(qty.sub(commission));
    } else {
      this.spend(o, rules.baseAsset, qty);
      commission = quote.mul(rate).round(QUOTE_DECIMALS, "halfUp");
      commissionAsset = rules.quoteAsset;
      const b = this.balance(o.accountId, rules.quoteAsset);
      b.free = b.free.add(quote.sub(commission));
    }
    tx.touch(o.accountId, rules.baseAsset, rules.quoteAsset);
    acc.updateTime = tx.time;
    const tradeId = (this.tradeSeq.get(o.symbol) ?? 0) + 1;
    this.tradeSeq.set(o.symbol, tradeId);
    this.trades.get(o.accountId)!.push({
      symbol: o.symbol,
      id: tradeId,
      orderId: o.orderId,
      orderListId: o.orderListId,
      accountId: o.accountId,
      price,
      qty,
      quoteQty: quote,
      commission,
      commissionAsset,
      time: tx.time,
      isBuyer: o.side === "BUY",
      isMaker,
    });
    o.executedQty = o.executedQty.add(qty);
    o.cummulativeQuoteQty = o.cummulativeQuoteQty.add(quote);
    o.status = o.executedQty.gte(o.origQty) ? "FILLED" : "PARTIALLY_FILLED";
    o.updateTime = tx.time;
    if (o.workingTime === -1) o.workingTime = tx.time;
    if (o.status === "FILLED") this.close(o);
    this.emit(tx, o, "TRADE", { price, qty, commission, commissionAsset, tradeId, isMaker });
  }

  /**
   * The quote a BUY of `qty` costing `quote` holds back for its fee on an account that pays fees
   * in the quote asset. Each fill's fee is rounded on its own, so with partial fills their sum may
   * pass the rounded fee of the whole by up to half a unit per fill: one unit per fill is added
   * then, so the fees always come out of the lock and free funds never go negative (the unused
   * rest is released when the order ends).
   */
  private quoteFeeReserve(rules: SymbolRules, qty: Decimal, quote: Decimal, rate: Decimal): Decimal {
    const fee = quote.mul(rate).round(QUOTE_DECIMALS, "halfUp");
    if (!this.partialRatio) return fee;
    const chunk = Decimal.max(rules.stepSize, qty.mul(this.partialRatio).roundDown(rules.stepSize));
    const fills = qty.div(chunk, 0, "up");
    return fee.add(fills.mul(Decimal.of(1n, QUOTE_DECIMALS)));
  }

  /** Pays `amount` of `asset` for an order: from its lock first, then from free funds. */
  private spend(o: Order, asset: string, amount: Decimal): void {
    const b = this.balance(o.accountId, asset);
    let rest = amount;
    const lock = o.lock;
    if (lock && lock.asset === asset) {
      const fromLock = Decimal.min(lock.amount, amount);
      lock.amount = lock.amount.sub(fromLock);
      b.locked = b.locked.sub(fromLock);
      rest = amount.sub(fromLock);
    }
    if (rest.isPositive()) b.free = b.free.sub(rest);
  }

  /** The order left the book: drop it from matching and give back what its lock still holds. */
  private close(o: Order): void {
    this.openBySymbol.get(o.symbol)!.delete(o.orderId);
    const ids = this.openClientIds.get(o.accountId)!;
    if (ids.get(o.clientOrderId) === o) ids.delete(o.clientOrderId);
    const lock = o.lock;
    o.lock = undefined;
    if (!lock) return;
    lock.users--;
    if (lock.users === 0 && !lock.amount.isZero()) {
      const b = this.balance(o.accountId, lock.asset);
      b.locked = b.locked.sub(lock.amount);
      b.free = b.free.add(lock.amount);
      lock.amount = Decimal.ZERO;
    }
  }

  private expire(tx: Tx, o: Order, reason?: ExpiryReason): void {
    o.status = "EXPIRED";
    o.expiryReason = reason;
    o.updateTime = tx.time;
    const lockAsset = o.lock?.asset;
    this.close(o);
    if (lockAsset) tx.touch(o.accountId, lockAsset);
    this.emit(tx, o, "EXPIRED");
  }

  private cancel(tx: Tx, o: Order, cancelClientOrderId: string): void {
    o.status = "CANCELED";
    o.updateTime = tx.time;
    const lockAsset = o.lock?.asset;
    this.close(o);
    if (lockAsset) tx.touch(o.accountId, lockAsset);
    this.emit(tx, o, "CANCELED", undefined, cancelClientOrderId);
  }

  private emit(tx: Tx, o: Order, execType: ExecutionType, fill?: Fill, cancelClientOrderId?: string): void {
    tx.events.push({
      kind: "execution",
      accountId: o.accountId,
      time: tx.time,
      executionId: this.nextExecutionId++,
      execType,
      order: snapshot(o),
      fill,
      cancelClientOrderId,
    });
  }

  private flushAll(tx: Tx): void {
    for (const accountId of tx.pending()) {
      const assets = tx.take(accountId);
      if (assets.length === 0) continue;
      assets.sort();
      tx.events.push({
        kind: "account",
        accountId,
        time: tx.time,
        balances: assets.map((asset) => {
          const b = this.balance(accountId, asset);
          return { asset, free: b.free, locked: b.locked };
        }),
      });
    }
  }

  private slipped(symbol: string, side: Side, price: Decimal): Decimal {
    if (this.slippage.isZero()) return price;
    const tick = this.rules.get(symbol)!.tickSize;
    const factor = side === "BUY" ? Decimal.ONE.add(this.slippage) : Decimal.ONE.sub(this.slippage);
    const p = price.mul(factor);
    return side === "BUY" ? p.roundUp(tick) : Decimal.max(tick, p.roundDown(tick));
  }

  // ---------------------------------------------------------------- cancels

  private findOrder(accountId: number, symbol: string, q: OrderQuery): Order | undefined {
    if (q.orderId !== undefined) {
      const o = this.orders.get(q.orderId);
      if (!o || o.accountId !== accountId || o.symbol !== symbol) return undefined;
      if (q.origClientOrderId !== undefined && o.clientOrderId !== q.origClientOrderId) return undefined;
      return o;
    }
    if (q.origClientOrderId !== undefined) {
      const mine = this.ordersByAccount.get(accountId) ?? [];
      let found: Order | undefined;
      for (let i = mine.length - 1; i >= 0; i--) {
        const o = mine[i];
        if (o.symbol !== symbol || o.clientOrderId !== q.origClientOrderId) continue;
        if (isOpenStatus(o.status)) return o;
        found ??= o;
      }
      return found;
    }
    return undefined;
  }

  cancelOrder(
    accountId: number,
    symbol: string,
    q: OrderQuery,
    time: number,
    newClientOrderId?: string,
    restrictions?: "ONLY_NEW" | "ONLY_PARTIALLY_FILLED",
  ): CancelResult {
    if (!this.rules.has(symbol)) throw err.symbol();
    if (q.orderId === undefined && q.origClientOrderId === undefined)
      throw err.eitherMandatory("orderId", "origClientOrderId");
    const o = this.findOrder(accountId, symbol, q);
    if (!o || !isOpenStatus(o.status)) throw err.cancelRejected(MSG.unknownOrder);
    if (restrictions === "ONLY_NEW" && o.status !== "NEW") throw err.cancelRejected(MSG.cancelRestrictions);
    if (restrictions === "ONLY_PARTIALLY_FILLED" && o.status !== "PARTIALLY_FILLED")
      throw err.cancelRejected(MSG.cancelRestrictions);
    const cancelId = newClientOrderId ?? this.generateClientId();
    const list = this.listOfOrder.get(o.orderId);
    if (list && list.listOrderStatus === "EXECUTING") {
      const r = this.cancelListInternal(list, time, cancelId, o.orderId);
      const mine = r.reports.find((x) => x.order.orderId === o.orderId)!;
      return {
        order: mine.order,
        cancelClientOrderId: mine.cancelClientOrderId,
        list: { list: r.list, reports: r.reports },
        events: r.events,
      };
    }
    const tx = new Tx(time);
    this.cancel(tx, o, cancelId);
    this.flushAll(tx);
    return { order: snapshot(o), cancelClientOrderId: cancelId, events: tx.events };
  }

  /** DELETE /api/v3/openOrders: every open order on the symbol, order lists included. */
  cancelAllOpen(
    accountId: number,
    symbol: string,
    time: number,
  ): { single: CancelResult[]; lists: CancelListResult[]; events: EngineEvent[] } {
    if (!this.rules.has(symbol)) throw err.symbol();
    const open = [...(this.openBySymbol.get(symbol)?.values() ?? [])].filter(
      (o) => o.accountId === accountId,
    );
    if (open.length === 0) throw err.cancelRejected(MSG.unknownOrder);
    const single: CancelResult[] = [];
    const lists: CancelListResult[] = [];
    const events: EngineEvent[] = [];
    for (const o of open) {
      if (!isOpenStatus(o.status)) continue;
      const list = this.listOfOrder.get(o.orderId);
      if (list && list.listOrderStatus === "EXECUTING") {
        const r = this.cancelListInternal(list, time, this.generateClientId());
        lists.push(r);
        events.push(...r.events);
      } else {
        const tx = new Tx(time);
        const cancelId = this.generateClientId();
        this.cancel(tx, o, cancelId);
        this.flushAll(tx);
        single.push({ order: snapshot(o), cancelClientOrderId: cancelId, events: tx.events });
        events.push(...tx.events);
      }
    }
    return { single, lists, events };
  }

  // ---------------------------------------------------------------- order lists (OCO)

  placeOco(accountId: number, req: NewOcoRequest, time: number): PlaceListResult {
    this.account(accountId);
    const rules = this.rules.get(req.symbol);
    if (!rules) throw err.symbol();
    const LIMITISH = ["LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"];
    const STOPS = ["STOP_LOSS", "STOP_LOSS_LIMIT"];
    for (const leg of [req.above, req.below])
      if (![...LIMITISH, ...STOPS].includes(leg.type)) throw err.ocoType();
    const aboveLimit = LIMITISH.includes(req.above.type);
    const belowLimit = LIMITISH.includes(req.below.type);
    if (aboveLimit && belowLimit) throw err.ocoBothLimit();
    if (!aboveLimit && !belowLimit) throw err.ocoType();
    if (req.side === "SELL" && !aboveLimit) throw err.ocoLeg(-1166);
    if (req.side === "BUY" && aboveLimit) throw err.ocoLeg(-1165);
    const limitLeg = aboveLimit ? req.above : req.below;
    const stopLeg = aboveLimit ? req.below : req.above;
    const prefix = (leg: OcoLegRequest) => (leg === req.above ? "above" : "below");
    for (const leg of [req.above, req.below]) {
      const p = prefix(leg);
      const needsPrice = leg.type === "LIMIT_MAKER" || leg.type.endsWith("_LIMIT");
      const needsTif = leg.type.endsWith("_LIMIT");
      const needsStop = leg.type !== "LIMIT_MAKER";
      if (needsPrice && leg.price === undefined) throw err.mandatory(`${p}Price`);
      if (!needsPrice && leg.price !== undefined) throw err.notRequired(`${p}Price`);
      if (needsStop && leg.stopPrice === undefined) throw err.mandatory(`${p}StopPrice`);
      if (!needsStop && leg.stopPrice !== undefined) throw err.notRequired(`${p}StopPrice`);
      if (needsTif && leg.timeInForce === undefined) throw err.mandatory(`${p}TimeInForce`);
      if (!needsTif && leg.timeInForce !== undefined) throw err.notRequired(`${p}TimeInForce`);
      if (leg.icebergQty !== undefined)
        throw err.rejected("Iceberg orders are not supported for this symbol.");
    }
    for (const leg of [req.above, req.below]) {
      if (leg.price !== undefined) checkPrice(rules, leg.price);
      if (leg.stopPrice !== undefined) checkPrice(rules, leg.stopPrice);
    }
    const qty = req.quantity;
    checkLotSize(rules, qty);
    const refPrice = (leg: OcoLegRequest) =>
      leg.type === "LIMIT_MAKER" || leg.type.endsWith("_LIMIT") ? leg.price! : leg.stopPrice!;
    for (const leg of [req.above, req.below]) {
      const marketTyped = leg.type === "STOP_LOSS" || leg.type === "TAKE_PROFIT";
      if (marketTyped) checkMarketLotSize(rules, qty);
      checkNotional(rules, refPrice(leg), qty, marketTyped);
    }
    if (this.openCount(accountId, req.symbol) + 2 > rules.maxNumOrders) throw err.filter("MAX_NUM_ORDERS");
    const ltp = this.prices.get(req.symbol);
    if (ltp === undefined) throw err.rejected(MSG.marketClosed);
    // above leg strictly above the last price, below leg strictly below
    const aboveTrigger = req.above.type === "LIMIT_MAKER" ? req.above.price! : req.above.stopPrice!;
    const belowTrigger = req.below.type === "LIMIT_MAKER" ? req.below.price! : req.below.stopPrice!;
    if (!(aboveTrigger.gt(ltp) && belowTrigger.lt(ltp))) throw err.rejected(MSG.ocoPrices);
    // client ids: the list id and both leg ids must be free among open lists / orders
    if (req.listClientOrderId !== undefined) {
      if (!CLIENT_ID_RE.test(req.listClientOrderId))
        throw err.illegalChars("listClientOrderId", "^[\\.A-Z\\:/a-z0-9_-]{1,36}$");
      for (const l of this.listsByAccount.get(accountId) ?? []) {
        if (l.listClientOrderId === req.listClientOrderId && l.listOrderStatus === "EXECUTING")
          throw err.rejected(MSG.duplicateOrder);
      }
    }
    const stopId = this.checkClientId(accountId, stopLeg.clientOrderId);
    const limitId = this.checkClientId(accountId, limitLeg.clientOrderId, [stopId]);
    // funds: one lock shared by both legs
    let lockAsset: string;
    let lockAmount: Decimal;
    if (req.side === "SELL") {
      lockAsset = rules.baseAsset;
      lockAmount = qty;
    } else {
      lockAsset = rules.quoteAsset;
      lockAmount = quoteAmount(qty, Decimal.max(refPrice(req.above), refPrice(req.below)), "BUY");
      const { commission: c, commissionAsset } = this.account(accountId);
      if (commissionAsset === "quote")
        lockAmount = lockAmount.add(
          this.quoteFeeReserve(rules, qty, lockAmount, Decimal.max(c.maker, c.taker)),
        );
    }
    if (this.balance(accountId, lockAsset).free.lt(lockAmount)) throw err.rejected(MSG.insufficientBalance);

    const tx = new Tx(time);
    const listId = this.nextListId++;
    const listClientOrderId = req.listClientOrderId ?? this.generateClientId();
    const lock: Lock = { asset: lockAsset, amount: lockAmount, users: 0 };
    const mk = (leg: OcoLegRequest, id: string) => {
      const o = this.newOrder(
        accountId,
        rules,
        { ...leg, side: req.side, symbol: req.symbol },
        qty,
        id,
        time,
      );
      o.orderListId = listId;
      return o;
    };
    const stopOrder = mk(stopLeg, stopId);
    const limitOrder = mk(limitLeg, limitId);
    const list: OrderList = {
      accountId,
      symbol: req.symbol,
      orderListId: listId,
      listClientOrderId,
      contingencyType: "OCO",
      listStatusType: "EXEC_STARTED",
      listOrderStatus: "EXECUTING",
      transactionTime: time,
      updateTime: time,
      orders: [stopOrder, limitOrder],
    };
    this.lists.set(listId, list);
    this.listsByAccount.get(accountId)!.push(list);
    for (const o of list.orders) {
      this.listOfOrder.set(o.orderId, list);
      lock.users++;
      o.lock = lock;
    }
    const b = this.balance(accountId, lockAsset);
    b.free = b.free.sub(lockAmount);
    b.locked = b.locked.add(lockAmount);
    tx.touch(accountId, lockAsset);
    this.emitList(tx, list);
    for (const o of list.orders) this.emit(tx, o, "NEW");
    this.flushAll(tx);
    return { list, legs: list.orders.map(snapshot), events: tx.events };
  }

  /** One leg filled or triggered: the other expires (eR OCO_TRIGGER) and the list is ALL_DONE. */
  private resolveOco(tx: Tx, list: OrderList, leg: Order): void {
    if (list.listOrderStatus !== "EXECUTING") return;
    const touchedLeg = leg.triggered || leg.executedQty.isPositive() || !isOpenStatus(leg.status);
    if (!touchedLeg) return;
    for (const other of list.orders) {
      if (other !== leg && isOpenStatus(other.status)) this.expire(tx, other, "OCO_TRIGGER");
    }
    list.listStatusType = "ALL_DONE";
    list.listOrderStatus = "ALL_DONE";
    list.updateTime = tx.time;
    this.emitList(tx, list);
  }

  private emitList(tx: Tx, list: OrderList): void {
    const { orders, ...rest } = list;
    tx.events.push({
      kind: "listStatus",
      accountId: list.accountId,
      time: tx.time,
      list: { ...rest },
      orders: orders.map((o) => ({ symbol: o.symbol, orderId: o.orderId, clientOrderId: o.clientOrderId })),
    });
  }

  private findList(
    accountId: number,
    q: { orderListId?: number; listClientOrderId?: string },
  ): OrderList | undefined {
    if (q.orderListId !== undefined) {
      const l = this.lists.get(q.orderListId);
      return l && l.accountId === accountId ? l : undefined;
    }
    if (q.listClientOrderId !== undefined) {
      const mine = this.listsByAccount.get(accountId) ?? [];
      let found: OrderList | undefined;
      for (let i = mine.length - 1; i >= 0; i--) {
        if (mine[i].listClientOrderId !== q.listClientOrderId) continue;
        if (mine[i].listOrderStatus === "EXECUTING") return mine[i];
        found ??= mine[i];
      }
      return found;
    }
    return undefined;
  }

  cancelOrderList(
    accountId: number,
    symbol: string,
    q: { orderListId?: number; listClientOrderId?: string },
    time: number,
    newClientOrderId?: string,
  ): CancelListResult {
    if (!this.rules.has(symbol)) throw err.symbol();
    if (q.orderListId === undefined && q.listClientOrderId === undefined)
      throw err.eitherMandatory("orderListId", "listClientOrderId");
    const list = this.findList(accountId, q);
    if (!list || list.symbol !== symbol || list.listOrderStatus !== "EXECUTING")
      throw err.cancelRejected("Order list does not exist.");
    return this.cancelListInternal(list, time, newClientOrderId ?? this.generateClientId());
  }

  private cancelListInternal(
    list: OrderList,
    time: number,
    cancelListId: string,
    requestedOrderId?: number,
  ): CancelListResult {
    const tx = new Tx(time);
    const reports: { order: OrderSnapshot; cancelClientOrderId: string }[] = [];
    for (const o of list.orders) {
      if (!isOpenStatus(o.status)) continue;
      const id = o.orderId === requestedOrderId ? cancelListId : this.generateClientId();
      this.cancel(tx, o, id);
      reports.push({ order: snapshot(o), cancelClientOrderId: id });
    }
    list.listStatusType = "ALL_DONE";
    list.listOrderStatus = "ALL_DONE";
    list.updateTime = time;
    this.emitList(tx, list);
    this.flushAll(tx);
    return { list, reports, cancelListClientOrderId: cancelListId, events: tx.events };
  }

  // ---------------------------------------------------------------- queries

  getOrder(accountId: number, symbol: string, q: OrderQuery): OrderSnapshot {
    if (!this.rules.has(symbol)) throw err.symbol();
    if (q.orderId === undefined && q.origClientOrderId === undefined)
      throw err.eitherMandatory("orderId", "origClientOrderId");
    const o = this.findOrder(accountId, symbol, q);
    if (!o) throw err.noSuchOrder();
    return snapshot(o);
  }

  openOrders(accountId: number, symbol?: string): OrderSnapshot[] {
    if (symbol !== undefined && !this.rules.has(symbol)) throw err.symbol();
    const out: Order[] = [];
    const symbols = symbol !== undefined ? [symbol] : [...this.openBySymbol.keys()];
    for (const s of symbols)
      for (const o of this.openBySymbol.get(s)!.values()) if (o.accountId === accountId) out.push(o);
    out.sort((a, b) => a.orderId - b.orderId);
    return out.map(snapshot);
  }

  allOrders(accountId: number, symbol: string, q: WindowQuery & { orderId?: number }): OrderSnapshot[] {
    if (!this.rules.has(symbol)) throw err.symbol();
    let mine = (this.ordersByAccount.get(accountId) ?? []).filter((o) => o.symbol === symbol);
    if (q.orderId !== undefined) {
      mine = mine.filter((o) => o.orderId >= q.orderId!);
      return mine.slice(0, q.limit ?? 500).map(snapshot);
    }
    return windowed(mine, (o) => o.time, q).map(snapshot);
  }

  myTrades(
    accountId: number,
    symbol: string,
    q: WindowQuery & { orderId?: number; fromId?: number },
  ): Trade[] {
    if (!this.rules.has(symbol)) throw err.symbol();
    let mine = (this.trades.get(accountId) ?? []).filter((t) => t.symbol === symbol);
    if (q.orderId !== undefined) mine = mine.filter((t) => t.orderId === q.orderId);
    if (q.fromId !== undefined) return mine.filter((t) => t.id >= q.fromId!).slice(0, q.limit ?? 500);
    return windowed(mine, (t) => t.time, q);
  }

  /** Every trade of an account (for invariant checks). */
  allTrades(accountId: number): readonly Trade[] {
    return this.trades.get(accountId) ?? [];
  }

  getOrderList(accountId: number, q: { orderListId?: number; listClientOrderId?: string }): OrderList {
    if (q.orderListId === undefined && q.listClientOrderId === undefined)
      throw err.eitherMandatory("orderListId", "origClientOrderId");
    const l = this.findList(accountId, q);
    if (!l) throw new BinanceError(-2013, "Order list does not exist.");
    return l;
  }

  openOrderLists(accountId: number): OrderList[] {
    return (this.listsByAccount.get(accountId) ?? []).filter((l) => l.listOrderStatus === "EXECUTING");
  }

  allOrderLists(accountId: number, q: WindowQuery & { fromId?: number }): OrderList[] {
    const mine = this.listsByAccount.get(accountId) ?? [];
    if (q.fromId !== undefined)
      return mine.filter((l) => l.orderListId >= q.fromId!).slice(0, q.limit ?? 500);
    return windowed(mine, (l) => l.transactionTime, q);
  }

  /** Every order the venue holds, oldest first (admin reconciliation view). */
  allOrdersEverywhere(): OrderSnapshot[] {
    return [...this.orders.values()].map(snapshot);
  }

  orderListOf(orderId: number): OrderList | undefined {
    return this.listOfOrder.get(orderId);
  }

  // ---------------------------------------------------------------- snapshots

  /**
   * The durable state as plain JSON. Open orders and lists still executing are always kept; of
   * the finished history only the newest `maxHistory` orders and trades per account are, and a
   * finished list only while all its legs are.
   */
  exportState(maxHistory: number): EngineStateJson {
    const orders: Order[] = [];
    for (const mine of this.ordersByAccount.values()) {
      const closed = mine.filter((o) => !isOpenStatus(o.status));
      const keepClosed = new Set(closed.slice(Math.max(0, closed.length - maxHistory)));
      for (const o of mine) if (isOpenStatus(o.status) || keepClosed.has(o)) orders.push(o);
    }
    orders.sort((a, b) => a.orderId - b.orderId);
    const kept = new Set(orders);
    const locks = new Map<Lock, number>();
    const lockIndex = (l: Lock) => {
      let i = locks.get(l);
      if (i === undefined) locks.set(l, (i = locks.size));
      return i;
    };
    const orderRows = orders.map((o) => orderJson(o, lockIndex));
    const lists = [...this.lists.values()].filter((l) => l.orders.every((o) => kept.has(o)));
    const trades: Trade[] = [];
    for (const mine of this.trades.values())
      trades.push(...mine.slice(Math.max(0, mine.length - maxHistory)));
    return {
      nextOrderId: this.nextOrderId,
      nextListId: this.nextListId,
      nextAccountId: this.nextAccountId,
      nextExecutionId: this.nextExecutionId,
      rng: this.rng,
      tradeSeq: Object.fromEntries(this.tradeSeq),
      accounts: [...this.accounts.values()].map(accountJson),
      locks: [...locks.keys()].map((l) => ({ asset: l.asset, amount: text(l.amount), users: l.users })),
      orders: orderRows,
      lists: lists.map(listJson),
      trades: trades.map(tradeJson),
    };
  }

  /** Takes over state read by readEngineState; only an engine without accounts can. */
  importState(s: EngineState): void {
    if (this.accounts.size > 0) throw new Error("state can only be restored into an engine without accounts");
    this.nextOrderId = s.nextOrderId;
    this.nextListId = s.nextListId;
    this.nextAccountId = s.nextAccountId;
    this.nextExecutionId = s.nextExecutionId;
    this.rng = s.rng;
    for (const [k, v] of s.tradeSeq) this.tradeSeq.set(k, v);
    for (const a of s.accounts) {
      this.accounts.set(a.id, a);
      this.ordersByAccount.set(a.id, []);
      this.openClientIds.set(a.id, new Map());
      this.listsByAccount.set(a.id, []);
      this.trades.set(a.id, []);
    }
    // insertion order is matching order: the engine walks open orders oldest first
    for (const o of [...s.orders].sort((a, b) => a.orderId - b.orderId)) {
      this.orders.set(o.orderId, o);
      this.ordersByAccount.get(o.accountId)!.push(o);
      if (isOpenStatus(o.status)) {
        this.openBySymbol.get(o.symbol)!.set(o.orderId, o);
        this.openClientIds.get(o.accountId)!.set(o.clientOrderId, o);
      }
    }
    for (const l of [...s.lists].sort((a, b) => a.orderListId - b.orderListId)) {
      this.lists.set(l.orderListId, l);
      this.listsByAccount.get(l.accountId)!.push(l);
      for (const o of l.orders) this.listOfOrder.set(o.orderId, l);
    }
    for (const t of s.trades) this.trades.get(t.accountId)!.push(t);
  }

  /**
   * A MARKET order that meets a thin book (the partial-fill fault): `share` of its quantity fills
   * in one trade and the rest expires, as Binance reports a market order the book ran out for.
   */
  placeThinMarket(accountId: number, req: NewOrderRequest, time: number, share: Decimal): PlaceResult {
    if (req.type !== "MARKET") return this.placeOrder(accountId, req, time);
    const p = this.prepare(accountId, req);
    const tx = new Tx(time);
    const order = this.newOrder(accountId, p.rules, req, p.qty, p.clientOrderId, time, p.quoteOrderQty);
    this.lockFunds(tx, order, { asset: p.lockAsset, amount: p.lockAmount, users: 1 });
    this.emit(tx, order, "NEW");
    const fillsFrom = tx.events.length;
    const qty = Decimal.max(p.rules.stepSize, p.qty.mul(share).roundDown(p.rules.stepSize));
    this.fill(tx, order, Decimal.min(qty, p.qty), p.execPrice!, false);
    if (isOpenStatus(order.status)) this.expire(tx, order, "INSUFFICIENT_LIQUIDITY");
    this.flushAll(tx);
    return {
      order: snapshot(order),
      fills: collectFills(tx.events.slice(fillsFrom), order.orderId),
      events: tx.events,
    };
  }
}

function stopHit(o: { type: string; side: Side; stopPrice: Decimal }, price: Decimal): boolean {
  // STOP_LOSS SELL and TAKE_PROFIT BUY trigger when the price falls to the stop; the others when it rises
  const below =
    (o.type.startsWith("STOP_LOSS") && o.side === "SELL") ||
    (o.type.startsWith("TAKE_PROFIT") && o.side === "BUY");
  return below ? price.lte(o.stopPrice) : price.gte(o.stopPrice);
}

/** Quote amount of a fill, kept at 8 decimals: a buyer never pays less, a seller never gets more. */
function quoteAmount(qty: Decimal, price: Decimal, side: Side): Decimal {
  return qty.mul(price).round(QUOTE_DECIMALS, side === "BUY" ? "up" : "down");
}

/** A copy of the order without its lock (explicit fields: this runs for every event). */
export function snapshot(o: Order): OrderSnapshot {
  return {
    accountId: o.accountId,
    symbol: o.symbol,
    orderId: o.orderId,
    orderListId: o.orderListId,
    clientOrderId: o.clientOrderId,
    side: o.side,
    type: o.type,
    timeInForce: o.timeInForce,
    price: o.price,
    origQty: o.origQty,
    stopPrice: o.stopPrice,
    origQuoteOrderQty: o.origQuoteOrderQty,
    executedQty: o.executedQty,
    cummulativeQuoteQty: o.cummulativeQuoteQty,
    status: o.status,
    time: o.time,
    updateTime: o.updateTime,
    workingTime: o.workingTime,
    triggered: o.triggered,
    expiryReason: o.expiryReason,
    strategyId: o.strategyId,
    strategyType: o.strategyType,
  };
}

function collectFills(events: EngineEvent[], orderId: number): Fill[] {
  const out: Fill[] = [];
  for (const e of events)
    if (e.kind === "execution" && e.execType === "TRADE" && e.order.orderId === orderId && e.fill)
      out.push(e.fill);
  return out;
}
