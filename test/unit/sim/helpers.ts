// Builders for matching-engine tests: a BTCUSDT engine, decimal shorthand, a price driver that
// walks a candle's intrabar path, and event pickers.
import { Decimal } from "../../../src/core/money/decimal";
import { SYMBOLS } from "../../../src/core/market/symbols";
import { MatchingEngine, type EngineConfig } from "../../../src/sim/engine/engine";
import type { EngineEvent, NewOrderRequest } from "../../../src/sim/engine/types";
import { intrabarPath } from "../../../src/core/market/intrabar";

export const D = (s: string | number) => Decimal.from(String(s));
export const SYM = "BTCUSDT";

export function engineAt(
  price: string,
  cfg: Partial<EngineConfig> = {},
  balances: Record<string, string> = { USDT: "100000", BTC: "10" },
) {
  const engine = new MatchingEngine(cfg, [SYMBOLS.BTCUSDT]);
  engine.onPrice(SYM, D(price), 0, true);
  const acc = engine.createAccount(Object.fromEntries(Object.entries(balances).map(([k, v]) => [k, D(v)])));
  return { engine, accountId: acc.id };
}

export function order(
  o: Partial<Omit<NewOrderRequest, "quantity" | "price" | "stopPrice" | "quoteOrderQty">> & {
    quantity?: string;
    price?: string;
    stopPrice?: string;
    quoteOrderQty?: string;
  },
): NewOrderRequest {
  return {
    symbol: SYM,
    side: o.side ?? "BUY",
    type: o.type ?? "LIMIT",
    timeInForce: o.timeInForce,
    newClientOrderId: o.newClientOrderId,
    quantity: o.quantity !== undefined ? D(o.quantity) : undefined,
    price: o.price !== undefined ? D(o.price) : undefined,
    stopPrice: o.stopPrice !== undefined ? D(o.stopPrice) : undefined,
    quoteOrderQty: o.quoteOrderQty !== undefined ? D(o.quoteOrderQty) : undefined,
  };
}

/** Feeds one candle's intrabar path to the engine (first point is a jump, the rest continuous). */
export function walkCandle(
  engine: MatchingEngine,
  ohlc: [string, string, string, string],
  t0 = 1000,
  steps = 4,
): EngineEvent[] {
  const [open, high, low, close] = ohlc.map(D);
  const path = intrabarPath({ open, high, low, close }, steps, D("0.01"));
  const events: EngineEvent[] = [];
  path.forEach((p, i) => events.push(...engine.onPrice(SYM, p, t0 + i, i === 0)));
  return events;
}

export function executions(events: EngineEvent[]) {
  return events.filter((e): e is Extract<EngineEvent, { kind: "execution" }> => e.kind === "execution");
}

/** Compact event trail for order assertions, e.g. "exec:NEW:3", "account", "list:ALL_DONE". */
export function trail(events: EngineEvent[]): string[] {
  return events.map((e) => {
    if (e.kind === "execution") return `exec:${e.execType}:${e.order.orderId}`;
    if (e.kind === "listStatus") return `list:${e.list.listStatusType}`;
    return e.kind;
  });
}
