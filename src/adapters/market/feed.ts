// Live candle series: the kline WebSocket, one CandleSeries continuity tracker per (symbol,
// interval), REST back-fill after gaps and reconnects, and throttled intrabar updates. It decides
// nothing itself: the tracker (src/core/market/series.ts) says what to publish, fetch or report,
// and this file carries those actions out in order.
import type {
  CandleClosedEvent,
  CandleUpdatedEvent,
  DataGapEvent,
  DataStaleEvent,
  MarketCandle,
} from "../../core/market/events";
import { CandleSeries, slotCount, type BackfillRequest, type SeriesAction } from "../../core/market/series";
import { intervalMs } from "../../core/market/symbols";
import { backoffDelay, type BackoffOptions } from "../exchange/backoff";
import { klineStreamName } from "../exchange/kline-decoder";
import type { KlineStream, StaleInfo } from "../exchange/kline-stream";
import type { KlineMessage } from "../exchange/kline-decoder";
import type { MarketRest } from "../exchange/market-rest";

export interface FeedPublisher {
  closed(ev: CandleClosedEvent, source: "live" | "backfill"): void;
  updated(ev: CandleUpdatedEvent): void;
  gap(ev: DataGapEvent): void;
  stale(ev: DataStaleEvent): void;
}

export interface FeedOptions {
  stream: KlineStream;
  rest: MarketRest;
  publisher: FeedPublisher;
  /** newest candle already delivered for a series (e.g. stored), to resume after a restart */
  resumeAfter?: (symbol: string, interval: string) => Promise<number | undefined>;
  /**
   * Keeps the closed candle a series with no history starts after (see anchor()), so that a later
   * start — on this node or one taking the stream over — resumes there instead of at whatever is
   * newest by then.
   */
  anchored?: (symbol: string, interval: string, candle: MarketCandle) => Promise<void>;
  maxResumeCandles?: number;
  /** minimum gap between market.candle.updated events of one series */
  updateThrottleMs?: number;
  /** delays between back-fill retries of one hole */
  backfillBackoff?: BackoffOptions;
  maxBackfillAttempts?: number;
  /** a disconnected stream counts as degraded after this long (reconnects inside it are routine) */
  degradedAfterMs?: number;
  log?: {
    info(...a: unknown[]): void;
    warn(...a: unknown[]): void;
    debug(...a: unknown[]): void;
    error(...a: unknown[]): void;
  };
}

interface SeriesState {
  symbol: string;
  interval: string;
  stream: string;
  tracker: CandleSeries;
  /** set once the tracker was created (resume lookup done) */
  ready: Promise<void>;
  stopped: boolean;
  lastUpdateEmit: number;
  pendingUpdate: MarketCandle | undefined;
  updateTimer: NodeJS.Timeout | undefined;
  backfillTimer: NodeJS.Timeout | undefined;
  backfilling: boolean;
  stale: boolean;
  published: number;
  gaps: number;
  dropped: number;
  lastError: string | undefined;
}

export interface SeriesHealth {
  lastPublished: number | undefined;
  published: number;
  gaps: number;
  dropped: number;
  pending: number;
  blocked: boolean;
  backfillAttempts: number;
  stale: boolean;
  lastError: string | undefined;
}

export class MarketFeed {
  private readonly series = new Map<string, SeriesState>();
  private readonly byStream = new Map<string, SeriesState>();
  /** newest open time published (or reported as a gap) per series, kept after a series stops */
  private readonly lastKnown = new Map<string, number>();
  private readonly throttleMs: number;
  private readonly backfillBackoff: BackoffOptions;
  private readonly degradedAfter: number;
  private readonly log: NonNullable<FeedOptions["log"]>;
  private closed = false;

  constructor(private readonly o: FeedOptions) {
    this.throttleMs = o.updateThrottleMs ?? 1000;
    this.backfillBackoff = o.backfillBackoff ?? { baseMs: 500, maxMs: 15_000 };
    this.degradedAfter = o.degradedAfterMs ?? 5000;
    this.log = o.log ?? { info() {}, warn() {}, debug() {}, error() {} };
    o.stream.on("kline", (m) => this.onKline(m));
    o.stream.on("subscribed", (streams, afterDrop) => {
      if (!afterDrop) return;
      for (const name of streams) {
        const s = this.byStream.get(name);
        if (s) void s.ready.then(() => this.run(s, s.tracker.reconnected()));
      }
    });
    o.stream.on("stale", (info) => this.onStale(info));
    o.stream.on("rejected", (name, msg) => {
      const s = this.byStream.get(name);
      if (s) s.lastError = `exchange refused the stream: ${msg}`;
    });
  }

  private key(symbol: string, interval: string): string {
    return `${symbol}:${interval}`;
  }

  has(symbol: string, interval: string): boolean {
    return this.series.has(this.key(symbol, interval));
  }

  /** Open time of the newest candle published for a live series, if it streams here. */
  lastPublished(symbol: string, interval: string): number | undefined {
    const s = this.series.get(this.key(symbol, interval));
    return s && !s.tracker.blocked ? s.tracker.lastPublished : undefined;
  }

  /** Starts streaming a series; resolves once the exchange acknowledged the stream. */
  async start(symbol: string, interval: string): Promise<void> {
    if (this.closed) throw new Error("market feed is closed");
    const k = this.key(symbol, interval);
    let s = this.series.get(k);
    if (!s) {
      const iv = intervalMs(interval);
      if (!iv) throw new Error(`interval ${interval} has no fixed length`);
      const stream = klineStreamName(symbol, interval);
      const state: SeriesState = {
        symbol,
        interval,
        stream,
        tracker: new CandleSeries({
          intervalMs: iv,
          maxResumeCandles: this.o.maxResumeCandles,
          maxBackfillAttempts: this.o.maxBackfillAttempts,
        }),
        ready: Promise.resolve(),
        stopped: false,
        lastUpdateEmit: 0,
        pendingUpdate: undefined,
        updateTimer: undefined,
        backfillTimer: undefined,
        backfilling: false,
        stale: false,
        published: 0,
        gaps: 0,
        dropped: 0,
        lastError: undefined,
      };
      state.ready = (async () => {
        const stored = await this.o.resumeAfter?.(symbol, interval).catch((e) => {
          this.log.warn(
            { symbol, interval, err: e.message },
            "could not read the newest stored candle; the series starts at the first live candle",
          );
          return undefined;
        });
        // a series restarted in this process continues after what it already published, even if
        // the writer has not stored that yet
        const known = this.lastKnown.get(k);
        let resume = stored === undefined ? known : known === undefined ? stored : Math.max(stored, known);
        let newest: MarketCandle | undefined;
        if (resume === undefined) resume = await this.anchor(symbol, interval);
        else newest = await this.newestRow(symbol, interval);
        if (resume !== undefined) {
          state.tracker = new CandleSeries({
            intervalMs: iv,
            resumeAfter: resume,
            maxResumeCandles: this.o.maxResumeCandles,
            maxBackfillAttempts: this.o.maxBackfillAttempts,
          });
          // what closed since the resume point is fetched now rather than at the first live
          // message: a market that stands still (a paused replay, a quiet symbol) sends none, and
          // a series taken over from a node that died would wait for it with a candle unpublished
          if (newest && newest.openTime > resume) this.run(state, state.tracker.live(newest, false));
        }
      })();
      s = state;
      this.series.set(k, s);
      this.byStream.set(stream, s);
      await s.ready;
    }
    await this.o.stream.add(s.stream);
  }

  /** The exchange's newest kline of the series (it may still be forming), if it answers. */
  private async newestRow(symbol: string, interval: string): Promise<MarketCandle | undefined> {
    try {
      const rows = await this.o.rest.klines({ symbol, interval, limit: 1 });
      return rows[rows.length - 1];
    } catch (e) {
      this.log.warn(
        { symbol, interval, err: (e as Error).message },
        "could not read the newest candle; the series catches up at the first live one",
      );
      return undefined;
    }
  }

  /**
   * A series with no stored or published candle starts after the newest closed candle the
   * exchange has now. Without this anchor a first closed candle that falls in a reconnect window
   * could never be back-filled: there would be no "last candle" to continue from.
   */
  private async anchor(symbol: string, interval: string): Promise<number | undefined> {
    try {
      const rows = await this.o.rest.klines({ symbol, interval, limit: 2 });
      // the newest row may still be forming; the one before it is closed
      if (rows.length < 2) return undefined;
      const closed = rows[rows.length - 2];
      await this.o
        .anchored?.(symbol, interval, closed)
        .catch((e: Error) =>
          this.log.warn(
            { symbol, interval, err: e.message },
            "could not store the candle a series starts after",
          ),
        );
      return closed.openTime;
    } catch (e) {
      this.log.warn(
        { symbol, interval, err: (e as Error).message },
        "could not read the newest candle; the series starts at the first live candle",
      );
      return undefined;
    }
  }

  /**
   * Stops a series: the stream is unsubscribed and its continuity state forgotten. `forget` also
   * drops the newest open time published, so a later start resumes from `resumeAfter` alone: for a
   * node that may not have delivered everything the feed published (its lease was lost), where
   * the store is the only record of what reached subscribers.
   */
  stop(symbol: string, interval: string, opts: { forget?: boolean } = {}): void {
    const k = this.key(symbol, interval);
    if (opts.forget) this.lastKnown.delete(k);
    const s = this.series.get(k);
    if (!s) return;
    s.stopped = true;
    if (s.updateTimer) clearTimeout(s.updateTimer);
    if (s.backfillTimer) clearTimeout(s.backfillTimer);
    this.series.delete(k);
    this.byStream.delete(s.stream);
    this.o.stream.remove(s.stream);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of [...this.series.values()]) this.stop(s.symbol, s.interval);
    await this.o.stream.close();
  }

  seriesHealth(): Record<string, SeriesHealth> {
    const out: Record<string, SeriesHealth> = {};
    for (const [k, s] of this.series) {
      const snap = s.tracker.snapshot();
      out[k] = {
        lastPublished: snap.lastPublished,
        published: s.published,
        gaps: s.gaps,
        dropped: s.dropped,
        pending: snap.pending,
        blocked: s.tracker.blocked,
        backfillAttempts: snap.attempts,
        stale: s.stale,
        lastError: s.lastError,
      };
    }
    return out;
  }

  /** "degraded" while a wanted stream is disconnected for long, stale, or a hole cannot be filled. */
  health(): { status: "up" | "degraded"; reasons: string[] } {
    const reasons: string[] = [];
    if (this.series.size > 0) {
      const st = this.o.stream.stats();
      if (
        !st.connected &&
        st.disconnectedSince !== undefined &&
        Date.now() - st.disconnectedSince > this.degradedAfter
      ) {
        reasons.push(
          `market stream disconnected for ${Math.round((Date.now() - st.disconnectedSince) / 1000)} s`,
        );
      }
    }
    for (const [k, s] of this.series) {
      if (s.stale) reasons.push(`${k}: no data (stale)`);
      const snap = s.tracker.snapshot();
      if (s.tracker.blocked && snap.attempts >= 2)
        reasons.push(`${k}: back-fill failing (${snap.attempts} attempts)`);
    }
    return { status: reasons.length ? "degraded" : "up", reasons };
  }

  // ------------------------------------------------------------------ stream input

  private onKline(m: KlineMessage): void {
    const s = this.byStream.get(m.stream);
    if (!s || s.stopped) return;
    if (s.stale) {
      s.stale = false;
    }
    const acts = s.tracker.live(m.candle, m.closed);
    if (m.closed) {
      if (s.pendingUpdate && s.pendingUpdate.openTime <= m.candle.openTime) {
        s.pendingUpdate = undefined;
        if (s.updateTimer) clearTimeout(s.updateTimer);
        s.updateTimer = undefined;
      }
    } else this.throttleUpdate(s, m.candle);
    this.run(s, acts);
  }

  private onStale(info: StaleInfo): void {
    const s = this.byStream.get(info.stream);
    if (!s || s.stopped) return;
    s.stale = true;
    this.o.publisher.stale({
      symbol: s.symbol,
      interval: s.interval,
      lastUpdateAt: info.lastUpdateAt,
      silentForMs: info.silentForMs,
      thresholdMs: info.thresholdMs,
    });
  }

  private throttleUpdate(s: SeriesState, c: MarketCandle): void {
    const last = s.tracker.lastPublished;
    if (last !== undefined && c.openTime <= last) return;
    const now = Date.now();
    const wait = s.lastUpdateEmit + this.throttleMs - now;
    if (wait <= 0 && !s.updateTimer) {
      s.lastUpdateEmit = now;
      this.o.publisher.updated({ symbol: s.symbol, interval: s.interval, candle: c });
      return;
    }
    s.pendingUpdate = c;
    if (!s.updateTimer) {
      s.updateTimer = setTimeout(
        () => {
          s.updateTimer = undefined;
          const p = s.pendingUpdate;
          s.pendingUpdate = undefined;
          if (!p || s.stopped) return;
          s.lastUpdateEmit = Date.now();
          this.o.publisher.updated({ symbol: s.symbol, interval: s.interval, candle: p });
        },
        Math.max(0, wait),
      );
      s.updateTimer.unref();
    }
  }

  // ------------------------------------------------------------------ tracker actions

  private run(s: SeriesState, acts: SeriesAction[]): void {
    if (s.stopped) return;
    for (const a of acts) {
      switch (a.kind) {
        case "publish":
          s.published++;
          this.lastKnown.set(this.key(s.symbol, s.interval), a.candle.openTime);
          s.lastError = undefined;
          this.o.publisher.closed({ symbol: s.symbol, interval: s.interval, candle: a.candle }, a.source);
          break;
        case "gap":
          s.gaps++;
          this.lastKnown.set(this.key(s.symbol, s.interval), a.to);
          this.o.publisher.gap({
            symbol: s.symbol,
            interval: s.interval,
            from: a.from,
            to: a.to,
            missing: a.missing,
            reason: a.reason,
          });
          break;
        case "backfill":
          this.scheduleBackfill(s, a.request);
          break;
        case "drop":
          s.dropped++;
          break;
      }
    }
  }

  private scheduleBackfill(s: SeriesState, req: BackfillRequest): void {
    const delay = req.attempt > 0 ? backoffDelay(req.attempt - 1, this.backfillBackoff) : 0;
    const go = () => {
      s.backfillTimer = undefined;
      void this.backfill(s, req);
    };
    if (delay === 0) go();
    else {
      s.backfillTimer = setTimeout(go, delay);
      s.backfillTimer.unref();
    }
  }

  private async backfill(s: SeriesState, req: BackfillRequest): Promise<void> {
    if (s.stopped) return;
    const tracker = s.tracker;
    s.backfilling = true;
    try {
      const limit =
        req.to === undefined ? 1000 : Math.min(1000, slotCount(req.from, req.to, tracker.intervalMs));
      const rows = await this.o.rest.klines({
        symbol: s.symbol,
        interval: s.interval,
        startTime: req.from,
        endTime: req.to,
        limit,
      });
      if (s.stopped || tracker !== s.tracker) return;
      this.log.debug(
        { symbol: s.symbol, interval: s.interval, from: req.from, to: req.to, rows: rows.length },
        "back-fill answered",
      );
      this.run(s, tracker.backfilled(req, rows));
    } catch (e) {
      if (s.stopped || tracker !== s.tracker) return;
      s.lastError = `back-fill failed: ${(e as Error).message}`;
      this.log.warn(
        { symbol: s.symbol, interval: s.interval, attempt: req.attempt, err: (e as Error).message },
        "back-fill request failed; retrying with backoff",
      );
      this.run(s, tracker.backfillFailed(req));
    } finally {
      s.backfilling = false;
    }
  }
}
