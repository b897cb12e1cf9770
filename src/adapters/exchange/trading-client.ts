// Orders on a Binance-compatible venue through ccxt's raw /api/v3 methods, so AURA sends exactly
// the parameters docs/exchange-contract.md describes (its own client order ids, quoteOrderQty,
// OCO legs) and reads the venue's own fields back. Every failure is classified for the order
// flow: an ambiguous outcome (timeout, 5xx, -1006/-1007) is never treated as "not placed".
import { ccxtModule } from "./ccxt-loader";
import type { CcxtBinance } from "./ccxt-client";
import { retryAfterMs } from "./errors";

export type OrderStatusText =
  | "NEW"
  | "PARTIALLY_FILLED"
  | "FILLED"
  | "CANCELED"
  | "PENDING_CANCEL"
  | "REJECTED"
  | "EXPIRED"
  | "EXPIRED_IN_MATCH";

/** One order as the venue reports it (order responses, GET /api/v3/order, openOrders). */
export interface VenueOrder {
  symbol: string;
  orderId: string;
  orderListId: string;
  clientOrderId: string;
  side: "BUY" | "SELL";
  type: string;
  status: OrderStatusText;
  origQty: string;
  executedQty: string;
  cummulativeQuoteQty: string;
  price: string;
  stopPrice?: string;
  time?: number;
  updateTime?: number;
  /** when the venue processed the request (order responses): the fills' time in a FULL answer */
  transactTime?: number;
  fills?: VenueFill[];
}

export interface VenueFill {
  price: string;
  qty: string;
  commission: string;
  commissionAsset: string;
  tradeId: string;
}

export interface VenueTrade {
  id: string;
  orderId: string;
  orderListId: string;
  price: string;
  qty: string;
  quoteQty: string;
  commission: string;
  commissionAsset: string;
  time: number;
  isBuyer: boolean;
  isMaker: boolean;
}

export interface VenueList {
  orderListId: string;
  listClientOrderId: string;
  listStatusType: string;
  listOrderStatus: string;
  symbol: string;
  orders: { symbol: string; orderId: string; clientOrderId: string }[];
  orderReports?: VenueOrder[];
}

export type OrderFailure =
  /** the request may have reached the venue: ask by client order id before anything else */
  | { kind: "ambiguous"; message: string }
  /** the request never left this machine (connection refused, DNS): nothing was placed */
  | { kind: "never_sent"; message: string }
  /** a definitive refusal: the order does not exist */
  | { kind: "rejected"; code?: number; message: string }
  /** -2010 "Duplicate order sent.": an open order has this client id already, so it was placed */
  | { kind: "duplicate"; message: string }
  /** -2013: no such order (possibly not yet visible right after it was accepted) */
  | { kind: "not_found"; message: string }
  /** -2011 on a cancel: the order is no longer open (filled, cancelled or never there) */
  | { kind: "unknown_order"; message: string }
  /**
   * 429 / 418: the request was refused; nothing more may be sent before retryAfterMs, from this
   * key ("account": the order rate) or from this machine at all ("ip": the request weight)
   */
  | { kind: "rate_limited"; retryAfterMs: number; banned: boolean; scope: "ip" | "account"; message: string }
  /** -1021: our timestamp is outside recvWindow; resynchronise the clock and send again */
  | { kind: "clock_skew"; message: string }
  | { kind: "auth"; message: string };

export class OrderRequestError extends Error {
  constructor(readonly failure: OrderFailure) {
    super(failure.message);
    this.name = "OrderRequestError";
  }
}

function binanceCode(message: string): number | undefined {
  const m = /"code"\s*:\s*(-?\d+)/.exec(message);
  return m ? Number(m[1]) : undefined;
}

function clean(message: string): string {
  // ccxt prefixes the venue's JSON with the method and URL: keep the venue's words, never params
  const body = /\{"code".*\}/.exec(message);
  if (body) return body[0].slice(0, 300);
  return message.replace(/https?:\/\/\S+/g, "<url>").slice(0, 300);
}

/**
 * Codes with which the venue says it refused the request before acting on it. Everything else
 * carrying a code (-1000 UNKNOWN, -1001 DISCONNECTED, -1006, -1007, codes this table does not
 * know) leaves the outcome open: a refusal is only believed when the venue says so plainly.
 */
function definitiveRefusal(code: number): boolean {
  return (
    (code <= -1100 && code >= -1199) || // malformed or invalid parameters
    code === -1002 || // unauthorized
    code === -1013 || // filter failure
    code === -1014 || // unsupported order combination
    code === -1020 || // unsupported operation
    code === -2010 || // new order rejected (balance, price relation, market closed)
    code === -2026 // order archived
  );
}

/** What a failed order request means for the order flow. */
export function classifyOrderFailure(err: unknown, headers?: Record<string, unknown>): OrderFailure {
  const ccxt = ccxtModule();
  const raw = String((err as Error)?.message ?? err);
  const message = clean(raw);
  const code = binanceCode(raw);
  if (
    err instanceof ccxt.DDoSProtection ||
    err instanceof ccxt.RateLimitExceeded ||
    code === -1003 ||
    code === -1015
  ) {
    const banned = /\b418\b|IP banned/.test(raw);
    return {
      kind: "rate_limited",
      retryAfterMs: retryAfterMs(headers) ?? (banned ? 120_000 : 1000),
      banned,
      // request weight is counted per IP; the order rate (-1015) per account
      scope: code === -1015 ? "account" : "ip",
      message,
    };
  }
  if (code === -1021 || err instanceof ccxt.InvalidNonce) return { kind: "clock_skew", message };
  if (code === -2013) return { kind: "not_found", message };
  if (code === -2011) return { kind: "unknown_order", message };
  if (code === -2010 && /duplicate order/i.test(raw)) return { kind: "duplicate", message };
  if (code === -2014 || code === -2015 || code === -1022 || err instanceof ccxt.AuthenticationError)
    return { kind: "auth", message };
  if (code !== undefined)
    return definitiveRefusal(code) ? { kind: "rejected", code, message } : { kind: "ambiguous", message };
  if (err instanceof ccxt.OrderNotFound) return { kind: "not_found", message };
  if (
    err instanceof ccxt.NetworkError ||
    err instanceof ccxt.ExchangeNotAvailable ||
    err instanceof ccxt.BadResponse ||
    err instanceof ccxt.OperationFailed
  ) {
    if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ConnectionRefused|FailedToOpenSocket/.test(raw))
      return { kind: "never_sent", message };
    return { kind: "ambiguous", message };
  }
  if (
    err instanceof ccxt.InvalidOrder ||
    err instanceof ccxt.InsufficientFunds ||
    err instanceof ccxt.BadRequest
  )
    return { kind: "rejected", message };
  // anything else from the venue or the client library: we cannot tell what happened
  return { kind: "ambiguous", message };
}

type Raw = Record<string, unknown>;

const str = (v: unknown): string => (v === undefined || v === null ? "" : String(v));

function toOrder(r: Raw): VenueOrder {
  const fills = Array.isArray(r.fills)
    ? (r.fills as Raw[]).map((f) => ({
        price: str(f.price),
        qty: str(f.qty),
        commission: str(f.commission),
        commissionAsset: str(f.commissionAsset),
        tradeId: str(f.tradeId),
      }))
    : undefined;
  return {
    symbol: str(r.symbol),
    orderId: str(r.orderId),
    orderListId: str(r.orderListId ?? "-1"),
    clientOrderId: str(r.clientOrderId),
    side: str(r.side) as "BUY" | "SELL",
    type: str(r.type),
    status: str(r.status) as OrderStatusText,
    origQty: str(r.origQty),
    executedQty: str(r.executedQty),
    cummulativeQuoteQty: str(r.cummulativeQuoteQty),
    price: str(r.price),
    ...(r.stopPrice !== undefined ? { stopPrice: str(r.stopPrice) } : {}),
    ...(typeof r.time === "number" ? { time: r.time } : {}),
    ...(typeof r.updateTime === "number" ? { updateTime: r.updateTime } : {}),
    ...(typeof r.transactTime === "number" ? { transactTime: r.transactTime } : {}),
    ...(fills ? { fills } : {}),
  };
}

function toList(r: Raw): VenueList {
  return {
    orderListId: str(r.orderListId),
    listClientOrderId: str(r.listClientOrderId),
    listStatusType: str(r.listStatusType),
    listOrderStatus: str(r.listOrderStatus),
    symbol: str(r.symbol),
    orders: Array.isArray(r.orders)
      ? (r.orders as Raw[]).map((o) => ({
          symbol: str(o.symbol),
          orderId: str(o.orderId),
          clientOrderId: str(o.clientOrderId),
        }))
      : [],
    ...(Array.isArray(r.orderReports) ? { orderReports: (r.orderReports as Raw[]).map(toOrder) } : {}),
  };
}

/** The parts of ccxt's binance class this client calls (its implicit /api/v3 methods). */
interface RawApi {
  privatePostOrder(p: Raw): Promise<Raw>;
  privateGetOrder(p: Raw): Promise<Raw>;
  privateDeleteOrder(p: Raw): Promise<Raw>;
  privatePostOrderListOco(p: Raw): Promise<Raw>;
  privateDeleteOrderList(p: Raw): Promise<Raw>;
  privateGetOrderList(p: Raw): Promise<Raw>;
  privateGetOpenOrders(p: Raw): Promise<Raw[]>;
  privateGetOpenOrderList(p: Raw): Promise<Raw[]>;
  privateGetMyTrades(p: Raw): Promise<Raw[]>;
  privateGetAccount(p: Raw): Promise<Raw>;
  publicGetTickerPrice(p: Raw): Promise<Raw>;
  publicGetAvgPrice(p: Raw): Promise<Raw>;
  loadTimeDifference(): Promise<unknown>;
  last_response_headers?: Record<string, unknown>;
}

export interface OcoRequest {
  symbol: string;
  quantity: string;
  listClientOrderId: string;
  takeProfit: { price: string; clientOrderId: string };
  stop: { stopPrice: string; price: string; clientOrderId: string };
}

/**
 * The recvWindow of every signed request: the venue refuses a request it receives more than this
 * long after its timestamp, so an order whose request left longer ago than this (plus the clock
 * tolerance) can no longer appear on the venue. ccxt's default of 10 s would keep that door open
 * twice as long.
 */
export const RECV_WINDOW_MS = 5000;
/** How far ahead of the venue's clock a request may be stamped before the venue refuses it (-1021). */
export const CLOCK_TOLERANCE_MS = 1000;

export interface TradingClientOptions {
  /** ms until requests may go out again (a 429/418 pause); while > 0 nothing is sent */
  blockedFor?: () => number;
  /** the venue refused a request for its rate limits: everyone sharing the limit must wait */
  onRateLimited?: (f: Extract<OrderFailure, { kind: "rate_limited" }>) => void;
  /** observes every order request the moment it leaves (latency measurements) */
  onOrderSent?: (clientOrderId: string) => void;
}

export class TradingClient {
  private readonly api: RawApi;

  constructor(
    readonly exchange: CcxtBinance,
    private readonly opts: TradingClientOptions = {},
  ) {
    // ccxt types its implicit methods per class; the subset used here is declared in RawApi
    this.api = exchange as unknown as RawApi;
    exchange.options.recvWindow = RECV_WINDOW_MS;
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    // while the venue asked us to wait, nothing is sent at all (a request sent anyway would be
    // refused again and, repeated, turn the 429 into a 418 ban)
    const wait = this.opts.blockedFor?.() ?? 0;
    if (wait > 0)
      throw new OrderRequestError({
        kind: "rate_limited",
        retryAfterMs: wait,
        banned: false,
        scope: "account",
        message: `not sent: the venue asked us to wait ${Math.ceil(wait / 1000)} s`,
      });
    try {
      return await fn();
    } catch (err) {
      const f = classifyOrderFailure(err, this.api.last_response_headers);
      if (f.kind === "rate_limited") this.opts.onRateLimited?.(f);
      throw new OrderRequestError(f);
    }
  }

  /** Measures the venue's clock offset; ccxt then stamps requests with the venue's time. */
  async syncTime(): Promise<void> {
    this.exchange.options.adjustForTimeDifference = true;
    await this.call(() => this.api.loadTimeDifference());
  }

  /** A market BUY spending `quoteOrderQty`: the venue works out a quantity on the lot step. */
  marketBuyQuote(symbol: string, quoteOrderQty: string, clientOrderId: string): Promise<VenueOrder> {
    return this.call(async () =>
      toOrder(
        await this.postOrder(clientOrderId, {
          symbol,
          side: "BUY",
          type: "MARKET",
          quoteOrderQty,
          newClientOrderId: clientOrderId,
          newOrderRespType: "FULL",
        }),
      ),
    );
  }

  marketSell(symbol: string, quantity: string, clientOrderId: string): Promise<VenueOrder> {
    return this.call(async () =>
      toOrder(
        await this.postOrder(clientOrderId, {
          symbol,
          side: "SELL",
          type: "MARKET",
          quantity,
          newClientOrderId: clientOrderId,
          newOrderRespType: "FULL",
        }),
      ),
    );
  }

  private postOrder(clientOrderId: string, p: Raw): Promise<Raw> {
    const sent = this.api.privatePostOrder(p);
    this.opts.onOrderSent?.(clientOrderId);
    return sent;
  }

  /** An OCO SELL: a LIMIT_MAKER take-profit above the price and a STOP_LOSS_LIMIT below. */
  placeOco(r: OcoRequest): Promise<VenueList> {
    return this.call(async () =>
      toList(
        await this.api.privatePostOrderListOco({
          symbol: r.symbol,
          side: "SELL",
          quantity: r.quantity,
          listClientOrderId: r.listClientOrderId,
          aboveType: "LIMIT_MAKER",
          abovePrice: r.takeProfit.price,
          aboveClientOrderId: r.takeProfit.clientOrderId,
          belowType: "STOP_LOSS_LIMIT",
          belowStopPrice: r.stop.stopPrice,
          belowPrice: r.stop.price,
          belowTimeInForce: "GTC",
          belowClientOrderId: r.stop.clientOrderId,
          newOrderRespType: "RESULT",
        }),
      ),
    );
  }

  cancelList(symbol: string, listClientOrderId: string): Promise<VenueList> {
    return this.call(async () =>
      toList(await this.api.privateDeleteOrderList({ symbol, listClientOrderId })),
    );
  }

  /** Cancels one order (a leg still working after its list ended). */
  cancelOrder(symbol: string, clientOrderId: string): Promise<VenueOrder> {
    return this.call(async () =>
      toOrder(await this.api.privateDeleteOrder({ symbol, origClientOrderId: clientOrderId })),
    );
  }

  queryOrder(symbol: string, clientOrderId: string): Promise<VenueOrder> {
    return this.call(async () =>
      toOrder(await this.api.privateGetOrder({ symbol, origClientOrderId: clientOrderId })),
    );
  }

  queryList(listClientOrderId: string): Promise<VenueList> {
    return this.call(async () =>
      toList(await this.api.privateGetOrderList({ origClientOrderId: listClientOrderId })),
    );
  }

  openOrders(symbol?: string): Promise<VenueOrder[]> {
    return this.call(async () =>
      (await this.api.privateGetOpenOrders(symbol ? { symbol } : {})).map(toOrder),
    );
  }

  openLists(): Promise<VenueList[]> {
    return this.call(async () => (await this.api.privateGetOpenOrderList({})).map(toList));
  }

  tradesOfOrder(symbol: string, orderId: string): Promise<VenueTrade[]> {
    return this.call(async () =>
      (await this.api.privateGetMyTrades({ symbol, orderId })).map((t) => ({
        id: str(t.id),
        orderId: str(t.orderId),
        orderListId: str(t.orderListId ?? "-1"),
        price: str(t.price),
        qty: str(t.qty),
        quoteQty: str(t.quoteQty),
        commission: str(t.commission),
        commissionAsset: str(t.commissionAsset),
        time: Number(t.time),
        isBuyer: Boolean(t.isBuyer),
        isMaker: Boolean(t.isMaker),
      })),
    );
  }

  /** Free and locked amounts per asset, and the account's taker commission rate ("0.001"). */
  account(): Promise<{ balances: Map<string, { free: string; locked: string }>; takerRate: string }> {
    return this.call(async () => {
      const acc = await this.api.privateGetAccount({});
      const balances = new Map<string, { free: string; locked: string }>();
      for (const b of (acc.balances as Raw[] | undefined) ?? []) {
        balances.set(str(b.asset), { free: str(b.free), locked: str(b.locked) });
      }
      const rates = acc.commissionRates as Raw | undefined;
      // older answers carry only takerCommission in basis points (10 = 0.1 %)
      const takerRate =
        rates?.taker !== undefined
          ? str(rates.taker)
          : typeof acc.takerCommission === "number"
            ? String(acc.takerCommission / 10_000)
            : "0.001";
      return { balances, takerRate };
    });
  }

  /** The last traded price. */
  price(symbol: string): Promise<string> {
    return this.call(async () => str((await this.api.publicGetTickerPrice({ symbol })).price));
  }

  /**
   * The market's clock in ms: the close time of the symbol's current average price, which is
   * "now" on Binance and the replayed market's time on the simulator (whose /api/v3/time keeps
   * this machine's time, as request timestamps are checked against it).
   */
  marketTime(symbol: string): Promise<number> {
    return this.call(async () => {
      const t = Number((await this.api.publicGetAvgPrice({ symbol })).closeTime);
      if (!Number.isFinite(t) || t <= 0) throw new Error("the venue answered avgPrice without a closeTime");
      return t;
    });
  }
}
