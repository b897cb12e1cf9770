// Public market-data endpoints (docs/exchange-contract.md, Endpoints), answered from the replay at
// the current replay time.
import { BinanceError, err } from "../binance/errors";
import type { SimCore } from "../venue/venue";
import type { SymbolRules } from "../engine/filters";
import { canAggregate, isKlineInterval, klinesAt, parseTimeZone } from "../replay/series";
import type { Params } from "./params";
import { ok, type Route } from "./route";

const f8 = (d: { toFixed(n: number): string }) => d.toFixed(8);

/** The fields of a 24hr ticker with type=MINI, in Binance's order. */
const MINI_TICKER_FIELDS = [
  "symbol",
  "openPrice",
  "highPrice",
  "lowPrice",
  "lastPrice",
  "volume",
  "quoteVolume",
  "openTime",
  "closeTime",
  "firstId",
  "lastId",
  "count",
] as const;

export function symbolInfo(r: SymbolRules, status: string): Record<string, unknown> {
  return {
    symbol: r.symbol,
    status,
    baseAsset: r.baseAsset,
    baseAssetPrecision: 8,
    quoteAsset: r.quoteAsset,
    quotePrecision: 8,
    quoteAssetPrecision: 8,
    baseCommissionPrecision: 8,
    quoteCommissionPrecision: 8,
    orderTypes: [
      "LIMIT",
      "LIMIT_MAKER",
      "MARKET",
      "STOP_LOSS",
      "STOP_LOSS_LIMIT",
      "TAKE_PROFIT",
      "TAKE_PROFIT_LIMIT",
    ],
    icebergAllowed: false,
    ocoAllowed: true,
    otoAllowed: false,
    opoAllowed: false,
    quoteOrderQtyMarketAllowed: true,
    allowTrailingStop: false,
    cancelReplaceAllowed: false,
    amendAllowed: false,
    pegInstructionsAllowed: false,
    isSpotTradingAllowed: true,
    isMarginTradingAllowed: false,
    filters: [
      {
        filterType: "PRICE_FILTER",
        minPrice: f8(r.minPrice),
        maxPrice: f8(r.maxPrice),
        tickSize: f8(r.tickSize),
      },
      { filterType: "LOT_SIZE", minQty: f8(r.minQty), maxQty: f8(r.maxQty), stepSize: f8(r.stepSize) },
      {
        filterType: "MARKET_LOT_SIZE",
        minQty: f8(r.marketMinQty),
        maxQty: f8(r.marketMaxQty),
        stepSize: f8(r.marketStepSize),
      },
      {
        filterType: "NOTIONAL",
        minNotional: f8(r.minNotional),
        applyMinToMarket: true,
        maxNotional: f8(r.maxNotional),
        applyMaxToMarket: false,
        avgPriceMins: 5,
      },
      { filterType: "MAX_NUM_ORDERS", maxNumOrders: r.maxNumOrders },
    ],
    permissions: [],
    permissionSets: [["SPOT"]],
    defaultSelfTradePreventionMode: "NONE",
    allowedSelfTradePreventionModes: ["NONE"],
  };
}

function knownSymbol(core: SimCore, symbol: string): string {
  if (!core.engine.symbolRules(symbol)) throw err.symbol();
  return symbol;
}

/** `symbol` or `symbols` (JSON array) or neither (= all); -1121 for an unknown one. */
function symbolSelection(core: SimCore, p: Params): { symbols: string[]; single: boolean } {
  const one = p.str("symbol");
  const many = p.stringArray("symbols");
  if (one !== undefined && many !== undefined)
    throw new BinanceError(-1128, "Combination of optional parameters invalid.");
  if (one !== undefined) return { symbols: [knownSymbol(core, one)], single: true };
  if (many !== undefined) {
    if (new Set(many).size !== many.length)
      throw new BinanceError(-1151, "Symbol is present multiple times in the list.");
    return { symbols: many.map((s) => knownSymbol(core, s)), single: false };
  }
  return { symbols: core.engine.symbols().sort(), single: false };
}

function depthWeight(p: Params): number {
  const l = Number(p.str("limit") ?? 100);
  return l <= 100 ? 5 : l <= 500 ? 25 : l <= 1000 ? 50 : 250;
}

const klines = (core: SimCore) => (ctx: { params: Params }) => {
  const p = ctx.params;
  const symbol = knownSymbol(core, p.req("symbol"));
  const interval = p.req("interval");
  if (!isKlineInterval(interval)) throw err.interval();
  const tz = parseTimeZone(p.str("timeZone"));
  if (tz === undefined) throw err.invalidParam("timeZone");
  const feed = core.market.feed(symbol)!;
  // only intervals that are whole multiples of the replayed candles can be served
  if (!canAggregate(interval, feed.series.intervalMs, tz)) throw err.interval();
  const startTime = p.time("startTime");
  const endTime = p.time("endTime");
  if (startTime !== undefined && endTime !== undefined && startTime > endTime)
    throw new BinanceError(-1023, "Start time is greater than end time.");
  const limit = p.limit("limit", 500, 1000);
  const now = core.marketTime();
  return ok(klinesAt(feed.series, interval, { startTime, endTime, limit }, now, feed.partialRow(), tz));
};

export function marketRoutes(core: SimCore): Route[] {
  return [
    { method: "GET", path: "/api/v3/ping", security: "NONE", weight: 1, handler: () => ok({}) },
    {
      method: "GET",
      path: "/api/v3/time",
      security: "NONE",
      weight: 1,
      handler: (ctx) => ok({ serverTime: ctx.serverTime() }),
    },
    {
      method: "GET",
      path: "/api/v3/exchangeInfo",
      security: "NONE",
      weight: 20,
      handler: (ctx) => {
        const p = ctx.params;
        const status = p.oneOf(
          "symbolStatus",
          ["TRADING", "HALT", "BREAK"],
          () => new BinanceError(-1122, "Invalid symbolStatus."),
        );
        const perms = p.str("permissions");
        if ((status !== undefined || perms !== undefined) && (p.has("symbol") || p.has("symbols")))
          throw new BinanceError(-1128, "Combination of optional parameters invalid.");
        core.replay.sync();
        let { symbols } = symbolSelection(core, p);
        if (status !== undefined) symbols = symbols.filter((s) => core.market.status(s) === status);
        if (perms !== undefined) {
          const wanted = perms.startsWith("[") ? (p.stringArray("permissions") ?? []) : [perms];
          if (!wanted.includes("SPOT")) symbols = [];
        }
        return ok({
          timezone: "UTC",
          serverTime: ctx.serverTime(),
          rateLimits: core.limiter.rateLimitsJson(),
          exchangeFilters: [],
          symbols: symbols.map((s) => symbolInfo(core.engine.symbolRules(s)!, core.market.status(s))),
        });
      },
    },
    { method: "GET", path: "/api/v3/klines", security: "NONE", weight: 2, handler: klines(core) },
    { method: "GET", path: "/api/v3/uiKlines", security: "NONE", weight: 2, handler: klines(core) },
    {
      method: "GET",
      path: "/api/v3/ticker/price",
      security: "NONE",
      weight: (p) => (p.has("symbol") ? 2 : 4),
      handler: (ctx) => {
        const sel = symbolSelection(core, ctx.params);
        core.replay.sync();
        const rows = sel.symbols.map((s) => ({
          symbol: s,
          price: core.market.feed(s)!.price?.toFixed(8) ?? "0.00000000",
        }));
        return ok(sel.single ? rows[0] : rows);
      },
    },
    {
      method: "GET",
      path: "/api/v3/ticker/24hr",
      security: "NONE",
      weight: (p) => (p.has("symbol") ? 2 : 80),
      handler: (ctx) => {
        const sel = symbolSelection(core, ctx.params);
        const type =
          ctx.params.oneOf("type", ["FULL", "MINI"], () => new BinanceError(-1139, "Invalid ticker type.")) ??
          "FULL";
        const now = core.marketTime();
        const rows = sel.symbols.map((s) => {
          const t = core.market.ticker24h(s, now);
          if (type === "FULL") return t;
          const mini: Record<string, unknown> = {};
          for (const k of MINI_TICKER_FIELDS) mini[k] = t[k];
          return mini;
        });
        return ok(sel.single ? rows[0] : rows);
      },
    },
    {
      method: "GET",
      path: "/api/v3/ticker/bookTicker",
      security: "NONE",
      weight: (p) => (p.has("symbol") ? 2 : 4),
      handler: (ctx) => {
        const sel = symbolSelection(core, ctx.params);
        core.replay.sync();
        const rows = sel.symbols.map((s) => core.market.bookTicker(s));
        return ok(sel.single ? rows[0] : rows);
      },
    },
    {
      method: "GET",
      path: "/api/v3/depth",
      security: "NONE",
      weight: depthWeight,
      handler: (ctx) => {
        const symbol = knownSymbol(core, ctx.params.req("symbol"));
        const limit = ctx.params.limit("limit", 100, 5000);
        core.replay.sync();
        return ok(core.market.bookJson(symbol, limit));
      },
    },
    {
      method: "GET",
      path: "/api/v3/avgPrice",
      security: "NONE",
      weight: 2,
      handler: (ctx) => {
        const symbol = knownSymbol(core, ctx.params.req("symbol"));
        const now = core.marketTime();
        const price = core.market.feed(symbol)!.price;
        return ok({ mins: 5, price: price ? f8(price) : "0.00000000", closeTime: now });
      },
    },
  ];
}
