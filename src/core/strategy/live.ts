// The live side of a strategy: what a strategy actor decides on each closed candle, by the same
// rules the backtest engine applies (docs/backtesting.md): no signal counts before warm-up, an
// entry needs room below maxOpenPositions and no cooldown, an exit needs an open position. The
// actor supplies what only the venue knows (is a position open, when did the last one close);
// the decision is pure, so a successor that replays the same candles decides the same.
import type { Candle } from "../model/candle";
import type { Signal } from "../model/signal";
import type { BaseStrategy, StrategyContext } from "./base";

export interface LivePosition {
  /** positions this instance holds right now */
  readonly open: number;
  /** open time of the candle during which the last position closed, if any */
  readonly lastExitCandle?: number;
}

export type DecisionAction = "entry" | "exit";

export interface Decision {
  readonly candleOpenTime: number;
  /** in the order they must be carried out: an exit (closing every position) before an entry */
  readonly actions: readonly DecisionAction[];
  /** why: the signal's reason, or why a signal was not acted on, or "no signal" */
  readonly reason: string;
  readonly warmingUp: boolean;
  readonly signals: readonly Signal[];
  readonly canEnter: boolean;
}

export interface LiveState {
  /** candles the strategy has seen, warm-up included */
  seen: number;
}

/** Feeds one closed candle to the strategy and turns its signals into at most one action. */
export function decide(
  strategy: BaseStrategy,
  state: LiveState,
  candle: Candle,
  position: LivePosition,
  intervalMs: number,
  paused: boolean,
): Decision {
  const cooldown = strategy.risk.cooldownCandles;
  const cooling =
    cooldown > 0 &&
    position.lastExitCandle !== undefined &&
    candle.openTime < position.lastExitCandle + cooldown * intervalMs;
  state.seen++;
  const ready = state.seen >= strategy.warmup;
  const ctx: StrategyContext = {
    now: candle.closeTime,
    openPositions: position.open,
    canEnter: ready && position.open < strategy.risk.maxOpenPositions && !cooling,
  };
  const signals = strategy.onCandle(candle, ctx);
  const base = { candleOpenTime: candle.openTime, warmingUp: !ready, signals, canEnter: ctx.canEnter };
  if (!ready) return { ...base, actions: [], reason: "warming up" };
  const exit = signals.find((s) => s.kind === "exit");
  const entry = signals.find((s) => s.kind === "entry");
  const actions: DecisionAction[] = [];
  const why: string[] = [];
  // as in the backtest: an exit needs a position, an entry needs canEnter; both may act on one
  // candle (with room for more than one position), the exit first
  if (exit) {
    if (position.open > 0) {
      actions.push("exit");
      why.push(exit.reason ?? "exit signal");
    } else why.push("exit signal ignored: no position");
  }
  if (entry) {
    if (!ctx.canEnter) {
      why.push(
        position.open >= strategy.risk.maxOpenPositions
          ? `entry signal ignored: ${position.open} position(s) open`
          : "entry signal ignored: cooling down",
      );
    } else if (paused) why.push("entry signal ignored: paused");
    else {
      actions.push("entry");
      why.push(entry.reason ?? "entry signal");
    }
  }
  return { ...base, actions, reason: why.length ? why.join("; ") : "no signal" };
}
