// The strategy contract shared by backtest and live: an object fed one closed candle at a time
// that returns signals, with no await, no clock read and no randomness. Declarative strategies
// are compiled into a subclass; code strategies subclass it directly.
import type { Candle } from "../model/candle";
import { ValidationError } from "../model/errors";
import type { Signal, SignalKind } from "../model/signal";
import { DEFAULT_WARMUP_CANDLES } from "./definition";

export interface RiskSettings {
  readonly takeProfitPct?: number;
  readonly stopLossPct?: number;
  readonly positionSizePct: number;
  readonly maxOpenPositions: number;
  readonly cooldownCandles: number;
}

export interface StrategyContext {
  /** The injected clock's time: the candle's close time in a backtest. */
  readonly now: number;
  /** Positions this strategy holds after this candle's fills. */
  readonly openPositions: number;
  /** Whether an entry signal would be acted on (below maxOpenPositions, not cooling down, past warm-up). */
  readonly canEnter: boolean;
}

export interface StrategySnapshot {
  readonly kind: string;
  readonly version: number;
  readonly state: unknown;
}

export interface BaseStrategyOptions {
  readonly name?: string;
  readonly symbol: string;
  readonly interval: string;
  readonly risk: Partial<RiskSettings> & { readonly positionSizePct: number };
  /** Candles before a backtest's `from` that feed indicators only (default 200). */
  readonly warmupCandles?: number;
}

export abstract class BaseStrategy {
  readonly name: string;
  readonly symbol: string;
  readonly interval: string;
  readonly risk: RiskSettings;
  readonly warmupCandles: number;

  /**
   * Candles the strategy must see before its signals mean anything; the backtest engine ignores
   * signals on earlier candles.
   */
  abstract readonly warmup: number;

  constructor(opts: BaseStrategyOptions) {
    this.name = opts.name ?? new.target.name;
    this.symbol = opts.symbol;
    this.interval = opts.interval;
    const r = opts.risk;
    this.risk = Object.freeze({
      ...(r.takeProfitPct !== undefined ? { takeProfitPct: r.takeProfitPct } : {}),
      ...(r.stopLossPct !== undefined ? { stopLossPct: r.stopLossPct } : {}),
      positionSizePct: r.positionSizePct,
      maxOpenPositions: r.maxOpenPositions ?? 1,
      cooldownCandles: r.cooldownCandles ?? 0,
    });
    this.warmupCandles = opts.warmupCandles ?? DEFAULT_WARMUP_CANDLES;
    checkRisk(this.risk, this.warmupCandles);
  }

  /**
   * Called once per closed candle, in time order. The candle object may be reused by the caller
   * after the call returns: copy it if it must be kept. Returns NO_SIGNALS when nothing happens.
   */
  abstract onCandle(candle: Candle, ctx: StrategyContext): readonly Signal[];

  /** JSON-serialisable state; `restore` on a fresh instance continues exactly where this left off. */
  abstract snapshot(): StrategySnapshot;
  abstract restore(snapshot: StrategySnapshot): void;

  protected signal(kind: SignalKind, candle: Candle, ctx: StrategyContext, reason?: string): Signal {
    const s: Signal =
      reason === undefined
        ? {
            kind,
            side: "long",
            candleOpenTime: candle.openTime,
            eventTime: candle.closeTime,
            createdAt: ctx.now,
          }
        : {
            kind,
            side: "long",
            candleOpenTime: candle.openTime,
            eventTime: candle.closeTime,
            createdAt: ctx.now,
            reason,
          };
    return Object.freeze(s);
  }
}

function checkRisk(r: RiskSettings, warmupCandles: number): void {
  const issues: { path: string; code: string; message: string }[] = [];
  const bad = (path: string, message: string) => issues.push({ path, code: "out_of_range", message });
  if (!(r.positionSizePct > 0 && r.positionSizePct <= 100))
    bad("/risk/positionSizePct", "positionSizePct must be in (0, 100]");
  if (r.takeProfitPct !== undefined && !(r.takeProfitPct > 0))
    bad("/risk/takeProfitPct", "takeProfitPct must be > 0");
  if (r.stopLossPct !== undefined && !(r.stopLossPct > 0 && r.stopLossPct < 100))
    bad("/risk/stopLossPct", "stopLossPct must be in (0, 100)");
  if (!(Number.isInteger(r.maxOpenPositions) && r.maxOpenPositions >= 1))
    bad("/risk/maxOpenPositions", "maxOpenPositions must be an integer >= 1");
  if (!(Number.isInteger(r.cooldownCandles) && r.cooldownCandles >= 0))
    bad("/risk/cooldownCandles", "cooldownCandles must be an integer >= 0");
  if (!(Number.isInteger(warmupCandles) && warmupCandles >= 0))
    bad("/warmupCandles", "warmupCandles must be an integer >= 0");
  if (issues.length) throw new ValidationError(issues);
}
