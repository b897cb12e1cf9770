// Table-driven intrabar triggering: an order is placed with the market at 100, then one candle
// is walked along its intrabar path. Each row states whether the order fills, at what price,
// and as maker or taker.
import { D, engineAt, executions, order, walkCandle } from "./helpers";
import type { OrderType, Side, TimeInForce } from "../../../src/sim/engine/types";

type Row = {
  name: string;
  side: Side;
  type: OrderType;
  price?: string;
  stopPrice?: string;
  tif?: TimeInForce;
  candle: [string, string, string, string];
  fill: string | null;
  maker?: boolean;
};

// Candle A: open 100, high 110, low 95, close 105. The low is nearer the open, so the path is
// 100 → 95 → 110 → 105. Candle B gaps: it opens at 90, below every buy and stop level.
const A: [string, string, string, string] = ["100", "110", "95", "105"];
const B: [string, string, string, string] = ["90", "92", "88", "91"];
const C: [string, string, string, string] = ["112", "115", "111", "113"];

const rows: Row[] = [
  {
    name: "LIMIT BUY inside the range fills at its price",
    side: "BUY",
    type: "LIMIT",
    price: "97",
    tif: "GTC",
    candle: A,
    fill: "97",
    maker: true,
  },
  {
    name: "LIMIT BUY at the low fills (touch)",
    side: "BUY",
    type: "LIMIT",
    price: "95",
    tif: "GTC",
    candle: A,
    fill: "95",
    maker: true,
  },
  {
    name: "LIMIT BUY below the low rests",
    side: "BUY",
    type: "LIMIT",
    price: "94.99",
    tif: "GTC",
    candle: A,
    fill: null,
  },
  {
    name: "LIMIT SELL inside the range fills at its price",
    side: "SELL",
    type: "LIMIT",
    price: "108",
    tif: "GTC",
    candle: A,
    fill: "108",
    maker: true,
  },
  {
    name: "LIMIT SELL above the high rests",
    side: "SELL",
    type: "LIMIT",
    price: "110.01",
    tif: "GTC",
    candle: A,
    fill: null,
  },
  {
    name: "LIMIT BUY gapped through fills at the better open",
    side: "BUY",
    type: "LIMIT",
    price: "97",
    tif: "GTC",
    candle: B,
    fill: "90",
    maker: true,
  },
  {
    name: "LIMIT SELL gapped through fills at the better open",
    side: "SELL",
    type: "LIMIT",
    price: "105",
    tif: "GTC",
    candle: C,
    fill: "112",
    maker: true,
  },
  {
    name: "LIMIT_MAKER BUY fills when the low reaches it",
    side: "BUY",
    type: "LIMIT_MAKER",
    price: "96",
    candle: A,
    fill: "96",
    maker: true,
  },
  {
    name: "LIMIT_MAKER SELL fills at the high",
    side: "SELL",
    type: "LIMIT_MAKER",
    price: "110",
    candle: A,
    fill: "110",
    maker: true,
  },
  {
    name: "STOP_LOSS SELL fills at its stop on a continuous fall",
    side: "SELL",
    type: "STOP_LOSS",
    stopPrice: "96",
    candle: A,
    fill: "96",
    maker: false,
  },
  {
    name: "STOP_LOSS SELL below the low stays untriggered",
    side: "SELL",
    type: "STOP_LOSS",
    stopPrice: "94",
    candle: A,
    fill: null,
  },
  {
    name: "STOP_LOSS SELL gapped through fills at the open",
    side: "SELL",
    type: "STOP_LOSS",
    stopPrice: "96",
    candle: B,
    fill: "90",
    maker: false,
  },
  {
    name: "STOP_LOSS BUY fills at its stop on the way up",
    side: "BUY",
    type: "STOP_LOSS",
    stopPrice: "109",
    candle: A,
    fill: "109",
    maker: false,
  },
  {
    name: "STOP_LOSS BUY gapped through fills at the open",
    side: "BUY",
    type: "STOP_LOSS",
    stopPrice: "109",
    candle: C,
    fill: "112",
    maker: false,
  },
  {
    name: "TAKE_PROFIT SELL fills at its trigger",
    side: "SELL",
    type: "TAKE_PROFIT",
    stopPrice: "107",
    candle: A,
    fill: "107",
    maker: false,
  },
  {
    name: "TAKE_PROFIT SELL above the high stays untriggered",
    side: "SELL",
    type: "TAKE_PROFIT",
    stopPrice: "111",
    candle: A,
    fill: null,
  },
  {
    name: "TAKE_PROFIT BUY fills at its trigger",
    side: "BUY",
    type: "TAKE_PROFIT",
    stopPrice: "97",
    candle: A,
    fill: "97",
    maker: false,
  },
  {
    name: "STOP_LOSS_LIMIT SELL marketable at trigger fills as taker at the stop",
    side: "SELL",
    type: "STOP_LOSS_LIMIT",
    stopPrice: "96",
    price: "95.5",
    tif: "GTC",
    candle: A,
    fill: "96",
    maker: false,
  },
  {
    name: "STOP_LOSS_LIMIT SELL whose limit is above the trigger rests, then fills on the rise",
    side: "SELL",
    type: "STOP_LOSS_LIMIT",
    stopPrice: "96",
    price: "96.5",
    tif: "GTC",
    candle: A,
    fill: "96.5",
    maker: true,
  },
  {
    name: "STOP_LOSS_LIMIT SELL gapped below its limit rests unfilled",
    side: "SELL",
    type: "STOP_LOSS_LIMIT",
    stopPrice: "96",
    price: "95",
    tif: "GTC",
    candle: B,
    fill: null,
  },
  {
    name: "STOP_LOSS_LIMIT BUY fills at its stop",
    side: "BUY",
    type: "STOP_LOSS_LIMIT",
    stopPrice: "109",
    price: "109.5",
    tif: "GTC",
    candle: A,
    fill: "109",
    maker: false,
  },
  {
    name: "TAKE_PROFIT_LIMIT SELL fills at the trigger",
    side: "SELL",
    type: "TAKE_PROFIT_LIMIT",
    stopPrice: "108",
    price: "108",
    tif: "GTC",
    candle: A,
    fill: "108",
    maker: false,
  },
  {
    name: "TAKE_PROFIT_LIMIT BUY fills at the trigger",
    side: "BUY",
    type: "TAKE_PROFIT_LIMIT",
    stopPrice: "96",
    price: "96",
    tif: "GTC",
    candle: A,
    fill: "96",
    maker: false,
  },
  {
    name: "STOP_LOSS_LIMIT SELL with IOC not marketable at trigger expires",
    side: "SELL",
    type: "STOP_LOSS_LIMIT",
    stopPrice: "96",
    price: "96.5",
    tif: "IOC",
    candle: A,
    fill: null,
  },
];

describe("intrabar triggering, per order type and side", () => {
  it.each(rows)("$name", (row) => {
    const { engine, accountId } = engineAt("100", { makerCommission: "0.001", takerCommission: "0.002" });
    const placed = engine.placeOrder(
      accountId,
      order({
        side: row.side,
        type: row.type,
        quantity: "1",
        price: row.price,
        stopPrice: row.stopPrice,
        timeInForce: row.tif,
      }),
      500,
    );
    expect(placed.order.status).toBe("NEW");
    expect(placed.fills).toHaveLength(0);
    const events = walkCandle(engine, row.candle);
    const trades = executions(events).filter((e) => e.execType === "TRADE");
    const after = engine.getOrder(accountId, "BTCUSDT", { orderId: placed.order.orderId });
    if (row.fill === null) {
      expect(trades).toHaveLength(0);
      expect(after.executedQty.isZero()).toBe(true);
      return;
    }
    expect(trades).toHaveLength(1);
    expect(trades[0].fill!.price.toFixed(2)).toBe(D(row.fill).toFixed(2));
    expect(trades[0].fill!.isMaker).toBe(row.maker);
    expect(after.status).toBe("FILLED");
    // commission at the maker or taker rate, in the asset received
    const rate = row.maker ? "0.001" : "0.002";
    if (row.side === "BUY") {
      expect(trades[0].fill!.commissionAsset).toBe("BTC");
      expect(trades[0].fill!.commission.eq(D(rate))).toBe(true);
    } else {
      expect(trades[0].fill!.commissionAsset).toBe("USDT");
      expect(trades[0].fill!.commission.eq(D(row.fill).mul(D(rate)).round(8, "halfUp"))).toBe(true);
    }
  });

  it("rejects stops and makers that would act immediately", () => {
    const { engine, accountId } = engineAt("100");
    const place = (o: Parameters<typeof order>[0]) => () =>
      engine.placeOrder(accountId, order({ quantity: "1", ...o }), 1);
    expect(place({ side: "SELL", type: "STOP_LOSS", stopPrice: "100" })).toThrow(
      "Order would trigger immediately.",
    );
    expect(place({ side: "BUY", type: "STOP_LOSS", stopPrice: "99.99" })).toThrow(
      "Order would trigger immediately.",
    );
    expect(place({ side: "SELL", type: "TAKE_PROFIT", stopPrice: "99" })).toThrow(
      "Order would trigger immediately.",
    );
    expect(
      place({ side: "BUY", type: "TAKE_PROFIT_LIMIT", stopPrice: "101", price: "101", timeInForce: "GTC" }),
    ).toThrow("Order would trigger immediately.");
    expect(place({ side: "BUY", type: "LIMIT_MAKER", price: "100" })).toThrow(
      "Order would immediately match and take.",
    );
    expect(place({ side: "SELL", type: "LIMIT_MAKER", price: "99.5" })).toThrow(
      "Order would immediately match and take.",
    );
  });

  it("fills a marketable LIMIT immediately as taker at the current price", () => {
    const { engine, accountId } = engineAt("100", { makerCommission: "0.001", takerCommission: "0.002" });
    const r = engine.placeOrder(
      accountId,
      order({ side: "BUY", type: "LIMIT", price: "101", quantity: "2", timeInForce: "GTC" }),
      1,
    );
    expect(r.order.status).toBe("FILLED");
    expect(
      r.fills.map((f) => [f.price.toString(), f.qty.toString(), f.isMaker, f.commission.toString()]),
    ).toEqual([["100", "2", false, "0.004"]]);
  });

  it("expires unmarketable IOC and FOK limits without a fill", () => {
    const { engine, accountId } = engineAt("100");
    for (const tif of ["IOC", "FOK"] as const) {
      const r = engine.placeOrder(
        accountId,
        order({ side: "BUY", type: "LIMIT", price: "99", quantity: "1", timeInForce: tif }),
        1,
      );
      expect(r.order.status).toBe("EXPIRED");
      expect(r.order.expiryReason).toBe(
        tif === "IOC" ? "UNFILLED_IOC_QUANTITY_EXPIRED" : "UNFILLED_FOK_ORDER_EXPIRED",
      );
    }
    expect(engine.balance(accountId, "USDT").locked.isZero()).toBe(true);
  });

  it("takes the stop before the target when the low comes first in the candle", () => {
    const { engine, accountId } = engineAt("100");
    const stop = engine.placeOrder(
      accountId,
      order({ side: "SELL", type: "STOP_LOSS", stopPrice: "96", quantity: "1" }),
      1,
    );
    const tp = engine.placeOrder(
      accountId,
      order({ side: "SELL", type: "LIMIT", price: "108", quantity: "1", timeInForce: "GTC" }),
      1,
    );
    const events = walkCandle(engine, A);
    const order_ = executions(events)
      .filter((e) => e.execType === "TRADE")
      .map((e) => e.order.orderId);
    expect(order_).toEqual([stop.order.orderId, tp.order.orderId]);
  });
});
