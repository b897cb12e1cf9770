import { describe, expect, test } from "@jest/globals";
import {
  apiFilters,
  attachmentName,
  cumulativePnl,
  dayStart,
  exportPath,
  filtersFromQuery,
  filtersToQuery,
  historyHref,
  nextPage,
  pageQuery,
  pnlByStrategy,
  pnlBySymbol,
  pnlByWeekday,
  previousPage,
  reprice,
  sumDecimals,
  totalUnrealized,
  withFilters,
  type PositionView,
  type Trade,
} from "./history";

const q = (s: string) => new URLSearchParams(s);

function trade(o: Partial<Trade>): Trade {
  return {
    id: 1,
    exitTime: "2024-12-02T10:00:00.000Z",
    entryTime: "2024-12-02T08:00:00.000Z",
    strategyId: 7,
    strategy: "EMA cross",
    mode: "paper",
    symbol: "BTCUSDT",
    side: "LONG",
    qty: "0.01",
    entryPrice: "95000",
    exitPrice: "96000",
    fees: "1.9",
    pnl: "8.1",
    exitReason: "take_profit",
    ...o,
  };
}

describe("filters in the URL", () => {
  test("every trade filter survives a round trip through the query", () => {
    const s =
      "from=2024-12-01&to=2024-12-31&symbol=BTCUSDT&strategyId=7&side=LONG&mode=paper&exitReason=take_profit&minPnl=-5.5&maxPnl=100&limit=25";
    const f = filtersFromQuery(q(s));
    expect(f).toEqual({
      tab: "trades",
      from: "2024-12-01",
      to: "2024-12-31",
      symbol: "BTCUSDT",
      strategyId: 7,
      side: "LONG",
      mode: "paper",
      exitReason: "take_profit",
      minPnl: "-5.5",
      maxPnl: "100",
      limit: 25,
      trail: [],
    });
    expect(filtersFromQuery(filtersToQuery(f))).toEqual(f);
  });

  test("order filters: status and BUY/SELL sides; trade-only filters are ignored", () => {
    const f = filtersFromQuery(q("tab=orders&status=FILLED&side=SELL&minPnl=3&exitReason=stop_loss"));
    expect(f).toMatchObject({ tab: "orders", status: "FILLED", side: "SELL" });
    expect(f.minPnl).toBeUndefined();
    expect(f.exitReason).toBeUndefined();
    expect(filtersToQuery(f).toString()).toBe("tab=orders&side=SELL&status=FILLED");
  });

  test("malformed values are dropped, not sent to the API", () => {
    const f = filtersFromQuery(
      q(
        "from=yesterday&to=2024-13-45&symbol=btc-usdt&strategyId=-1&side=SHORT&mode=demo&status=FILLED&minPnl=1e5&limit=501&trail=a.b%3F",
      ),
    );
    expect(f).toEqual({ tab: "trades", limit: 50, trail: [], side: undefined, mode: undefined });
  });

  test("lower-case symbols are accepted; a range that ends before it starts loses its end", () => {
    const f = filtersFromQuery(q("symbol=ethusdt&from=2024-12-10&to=2024-12-01&minPnl=10&maxPnl=1"));
    expect(f.symbol).toBe("ETHUSDT");
    expect(f.to).toBeUndefined();
    expect(f.maxPnl).toBeUndefined();
  });

  test("the default filters make a bare /history", () => {
    expect(historyHref(filtersFromQuery(q("")))).toBe("/history");
  });
});

describe("the API's query", () => {
  test("days become an epoch-ms range ending at the midnight after `to` (the API's `to` is exclusive)", () => {
    const f = filtersFromQuery(q("from=2024-12-01&to=2024-12-31&symbol=BTCUSDT"));
    expect(apiFilters(f, "utc")).toEqual({
      from: Date.UTC(2024, 11, 1),
      to: Date.UTC(2025, 0, 1),
      symbol: "BTCUSDT",
    });
  });

  test("local days start at local midnight", () => {
    expect(dayStart("2024-06-15", "local")).toBe(new Date(2024, 5, 15).getTime());
  });

  test("order queries carry status and never trade-only filters", () => {
    const f = { ...filtersFromQuery(q("tab=orders&status=CANCELED&mode=live")), minPnl: "1" };
    expect(apiFilters(f, "utc")).toEqual({ status: "CANCELED", mode: "live" });
  });

  test("a page's query carries the page size and the last cursor of the trail", () => {
    const f = filtersFromQuery(q("limit=25&trail=abc.def_-1"));
    expect(pageQuery(f, "utc")).toEqual({ limit: 25, cursor: "def_-1" });
    expect(pageQuery(previousPage(previousPage(f)), "utc")).toEqual({ limit: 25 });
  });

  test("the export path holds the trade filters and the format, never a cursor or page size", () => {
    const f = filtersFromQuery(q("symbol=BTCUSDT&minPnl=-1&trail=abc&limit=25"));
    expect(exportPath(f, "csv", "utc")).toBe("/trades/export?format=csv&symbol=BTCUSDT&minPnl=-1");
    const orders = filtersFromQuery(q("tab=orders&status=FILLED&symbol=ETHUSDT"));
    expect(exportPath(orders, "pdf", "utc")).toBe("/trades/export?format=pdf&symbol=ETHUSDT");
  });
});

describe("keyset paging", () => {
  test("next pushes the cursor, previous pops it, back to the first page", () => {
    let f = filtersFromQuery(q("symbol=BTCUSDT"));
    f = nextPage(f, "c1");
    f = nextPage(f, "c2");
    expect(filtersToQuery(f).get("trail")).toBe("c1.c2");
    expect(filtersFromQuery(filtersToQuery(f)).trail).toEqual(["c1", "c2"]);
    f = previousPage(f);
    expect(f.trail).toEqual(["c1"]);
    f = previousPage(previousPage(f));
    expect(f.trail).toEqual([]);
  });

  test("changing a filter starts again at the first page; changing tab drops the other tab's filters", () => {
    const f = nextPage(filtersFromQuery(q("side=LONG&exitReason=signal&symbol=BTCUSDT")), "c1");
    expect(withFilters(f, { symbol: "ETHUSDT" }).trail).toEqual([]);
    const orders = withFilters(f, { tab: "orders" });
    expect(orders).toMatchObject({ tab: "orders", symbol: "BTCUSDT", trail: [] });
    expect(orders.side).toBeUndefined();
    expect(orders.exitReason).toBeUndefined();
  });
});

describe("downloads", () => {
  test("the file name comes from Content-Disposition, path parts stripped", () => {
    expect(attachmentName('attachment; filename="aura-trades-20241201-100000.csv"', "x.csv")).toBe(
      "aura-trades-20241201-100000.csv",
    );
    expect(attachmentName("attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf", "x.pdf")).toBe("r_sum_.pdf");
    expect(attachmentName('attachment; filename="../../etc/passwd"', "x.csv")).toBe("passwd");
    expect(attachmentName(null, "x.csv")).toBe("x.csv");
    expect(attachmentName('attachment; filename=".."', "x.csv")).toBe("x.csv");
  });
});

describe("P&L analysis", () => {
  const trades = [
    trade({
      id: 3,
      exitTime: "2024-12-04T10:00:00.000Z",
      pnl: "-2.2",
      strategyId: 8,
      strategy: "MACD",
      symbol: "ETHUSDT",
    }),
    trade({ id: 2, exitTime: "2024-12-03T10:00:00.000Z", pnl: "0.2" }),
    trade({ id: 1, exitTime: "2024-12-02T10:00:00.000Z", pnl: "0.1" }),
  ];

  test("decimal sums are exact", () => {
    expect(sumDecimals(["0.1", "0.2"])).toBe("0.3");
    expect(sumDecimals(["-0.1", "0.1"])).toBe("0");
    expect(sumDecimals(["1.123456789", "-3"])).toBe("-1.876543211");
    expect(sumDecimals([])).toBe("0");
  });

  test("cumulative P&L starts at zero at the first entry and runs in exit order", () => {
    expect(cumulativePnl([])).toEqual([]);
    expect(cumulativePnl(trades)).toEqual([
      { time: Date.parse("2024-12-02T08:00:00.000Z"), value: 0 },
      { time: Date.parse("2024-12-02T10:00:00.000Z"), value: 0.1 },
      { time: Date.parse("2024-12-03T10:00:00.000Z"), value: 0.3 },
      { time: Date.parse("2024-12-04T10:00:00.000Z"), value: -1.9 },
    ]);
  });

  test("by strategy and by symbol, best first, with counts and wins", () => {
    expect(pnlByStrategy(trades)).toEqual([
      { key: "7", label: "EMA cross", pnl: 0.3, trades: 2, wins: 2 },
      { key: "8", label: "MACD", pnl: -2.2, trades: 1, wins: 0 },
    ]);
    expect(pnlBySymbol(trades).map((g) => [g.label, g.pnl])).toEqual([
      ["BTCUSDT", 0.3],
      ["ETHUSDT", -2.2],
    ]);
    expect(pnlByStrategy([trade({ strategyId: null, strategy: null })])[0].label).toBe("No strategy");
  });

  test("by weekday: Monday to Sunday, every day present, in the chosen zone", () => {
    // 2024-12-02 was a Monday
    const days = pnlByWeekday(trades, "utc");
    expect(days.map((d) => d.label)).toEqual(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]);
    expect(days.map((d) => d.pnl)).toEqual([0.1, 0.2, -2.2, 0, 0, 0, 0]);
    const late = [trade({ exitTime: "2024-12-01T23:30:00.000Z" })];
    expect(pnlByWeekday(late, "utc")[6].trades).toBe(1);
  });
});

describe("open positions repriced by live ticks", () => {
  const p: PositionView = {
    id: 1,
    strategyId: 7,
    strategy: "EMA cross",
    keyId: 3,
    mode: "paper",
    symbol: "BTCUSDT",
    qty: "0.01",
    entryPrice: "95000",
    currentPrice: "96000",
    costBasis: "950.95",
    marketValue: "960",
    unrealizedPnl: "9.05",
    unrealizedPnlPct: 0.95,
    protection: "protected",
    openedAt: "2024-12-02T08:00:00.000Z",
  };

  test("a new price moves P&L and value by qty × the price change, fees kept", () => {
    const r = reprice(p, "94000.50");
    expect(r.currentPrice).toBe("94000.50");
    expect(r.marketValue).toBe("940.005");
    expect(r.unrealizedPnl).toBe("-10.945");
    expect(r.unrealizedPnlPct).toBeCloseTo((-10.945 / 950.95) * 100, 6);
  });

  test("a position the server could not price, or a malformed price, is left as it is", () => {
    expect(reprice({ ...p, currentPrice: null }, "1")).toEqual({ ...p, currentPrice: null });
    expect(reprice(p, "abc")).toBe(p);
  });

  test("the total counts unpriced positions as zero", () => {
    expect(totalUnrealized([p, reprice(p, "97000"), { ...p, unrealizedPnl: null }])).toBe("28.1");
  });
});
