// A signal is an immutable fact: the strategy's decision on a closed candle. It carries the
// candle's times (when it happened at the venue) and when the strategy produced it.

export type SignalKind = "entry" | "exit";

export interface Signal {
  readonly kind: SignalKind;
  /** Spot trading is long-only for now; the field keeps the message stable when shorts arrive. */
  readonly side: "long";
  /** Open time of the candle the decision was made on (also the key of the order intent id). */
  readonly candleOpenTime: number;
  /** Close time of that candle: the event time. */
  readonly eventTime: number;
  /** When the strategy produced the signal (the injected clock; simulated in backtests). */
  readonly createdAt: number;
  readonly reason?: string;
}

export const NO_SIGNALS: readonly Signal[] = Object.freeze([]) as readonly Signal[];
