// The deterministic price path inside one candle: open → nearer extreme → other extreme → close,
// each leg cut into `steps` equal moves rounded to the tick. The path touches the real high and
// low exactly and ends on the real close, so a resting order triggers inside a candle exactly
// when the candle's range reaches it, and the order of the extremes follows the common
// "nearer extreme first" convention. It lives in the core because the simulator replays it and
// the backtest's "path" fill option follows it: one rule, so paper trading and backtests agree on
// which of a stop and a target a candle reaches first.
import { Decimal } from "../money/decimal";

export interface Ohlc {
  open: Decimal;
  high: Decimal;
  low: Decimal;
  close: Decimal;
}

/** Number of price points per candle for a given number of steps per leg. */
export function pathLength(steps: number): number {
  return 3 * steps + 1;
}

/**
 * Which extreme comes first: the one nearer to the open; on a tie the low first for a rising
 * candle (close ≥ open) and the high first for a falling one.
 */
export function lowFirst(c: Ohlc): boolean {
  const toLow = c.open.sub(c.low);
  const toHigh = c.high.sub(c.open);
  const k = toLow.cmp(toHigh);
  return k < 0 || (k === 0 && c.close.gte(c.open));
}

export function intrabarPath(c: Ohlc, steps: number, tick?: Decimal): Decimal[] {
  if (!Number.isInteger(steps) || steps < 1) throw new Error("steps must be a positive integer");
  const [first, second] = lowFirst(c) ? [c.low, c.high] : [c.high, c.low];
  const anchors = [c.open, first, second, c.close];
  const out: Decimal[] = [c.open];
  const n = Decimal.from(steps);
  for (let leg = 0; leg < 3; leg++) {
    const a = anchors[leg];
    const b = anchors[leg + 1];
    const diff = b.sub(a);
    for (let j = 1; j <= steps; j++) {
      if (j === steps) {
        out.push(b);
        continue;
      }
      let p = a.add(diff.mul(Decimal.from(j)).div(n, Math.max(a.scale, b.scale) + 4, "halfEven"));
      if (tick && tick.isPositive()) p = p.roundToStep(tick, "halfEven");
      else p = p.round(Math.max(a.scale, b.scale), "halfEven");
      // rounding must never leave the candle's range
      if (p.gt(c.high)) p = c.high;
      if (p.lt(c.low)) p = c.low;
      out.push(p);
    }
  }
  return out;
}

/** Replay time of point `k` of `n` in a candle: evenly spread over the first (n-1)/n of it. */
export function pointTime(openTime: number, intervalMs: number, k: number, n: number): number {
  return openTime + Math.floor((k * intervalMs) / n);
}
