// One symbol's replay cursor: walks its candles point by point along the intrabar path and
// reports each price point ("tick") and each candle close. Gaps in the data stay gaps: after a
// close the next event is the next candle that really exists.
import { Decimal } from "../../core/money/decimal";
import { intrabarPath, pathLength, pointTime } from "../../core/market/intrabar";
import { indexAtOrBefore, type KlineRow, type MarketSeries } from "./series";

export type FeedEvent =
  | { kind: "tick"; time: number; index: number; point: number; price: Decimal; jump: boolean }
  | { kind: "close"; time: number; index: number };

export class SymbolFeed {
  readonly symbol: string;
  /** Price points per candle. */
  readonly points: number;
  private cur = -1;
  private point = -1;
  private closedThrough = -1;
  private path: Decimal[] = [];
  private high?: Decimal;
  private low?: Decimal;
  private partialCache?: { point: number; row: KlineRow };
  /** volume, quote volume, taker base, taker quote of the current candle, parsed once */
  private volumes: Decimal[] = [];
  price?: Decimal;

  constructor(
    readonly series: MarketSeries,
    readonly steps: number,
    private readonly tick?: Decimal,
  ) {
    this.symbol = series.symbol;
    this.points = pathLength(steps);
  }

  /** Index of the latest candle that has opened (-1 before the data starts). */
  get index(): number {
    return this.cur;
  }

  /** Last processed path point of the current candle. */
  get pointIndex(): number {
    return this.point;
  }

  /** True while the latest candle has opened but not closed. */
  get isOpen(): boolean {
    return this.cur >= 0 && this.closedThrough < this.cur;
  }

  closeTime(i: number): number {
    const s = this.series;
    const end = s.openTimes[i] + s.intervalMs;
    return i + 1 < s.openTimes.length ? Math.min(end, s.openTimes[i + 1]) : end;
  }

  /** Replay time of the next event, or undefined after the last candle closed. */
  nextTime(): number | undefined {
    const s = this.series;
    if (this.isOpen) {
      if (this.point < this.points - 1)
        return pointTime(s.openTimes[this.cur], s.intervalMs, this.point + 1, this.points);
      return this.closeTime(this.cur);
    }
    return this.cur + 1 < s.openTimes.length ? s.openTimes[this.cur + 1] : undefined;
  }

  step(): FeedEvent {
    const s = this.series;
    if (this.isOpen) {
      if (this.point < this.points - 1) {
        this.point++;
        this.setPrice(this.path[this.point]);
        return {
          kind: "tick",
          time: pointTime(s.openTimes[this.cur], s.intervalMs, this.point, this.points),
          index: this.cur,
          point: this.point,
          price: this.price!,
          jump: false,
        };
      }
      this.closedThrough = this.cur;
      return { kind: "close", time: this.closeTime(this.cur), index: this.cur };
    }
    if (this.cur + 1 >= s.openTimes.length)
      throw new Error(`${this.symbol}: replay is past the end of the data`);
    this.enter(this.cur + 1, 0);
    return {
      kind: "tick",
      time: s.openTimes[this.cur],
      index: this.cur,
      point: 0,
      price: this.price!,
      jump: true,
    };
  }

  /** Positions the cursor at replay time t without reporting the events in between. */
  seek(t: number): void {
    const i = indexAtOrBefore(this.series, t);
    this.partialCache = undefined;
    if (i < 0) {
      this.cur = -1;
      this.point = -1;
      this.closedThrough = -1;
      this.price = undefined;
      this.path = [];
      return;
    }
    if (t >= this.closeTime(i)) {
      this.cur = i;
      this.closedThrough = i;
      this.point = this.points - 1;
      this.path = [];
      this.price = Decimal.parse(this.series.rows[i][4]);
      return;
    }
    const open = this.series.openTimes[i];
    let k = 0;
    while (k + 1 < this.points && pointTime(open, this.series.intervalMs, k + 1, this.points) <= t) k++;
    this.enter(i, k);
  }

  private enter(i: number, point: number): void {
    const r = this.series.rows[i];
    this.cur = i;
    this.closedThrough = i - 1;
    this.volumes = [r[5], r[7], r[9], r[10]].map((v) => Decimal.parse(v));
    this.path = intrabarPath(
      {
        open: Decimal.parse(r[1]),
        high: Decimal.parse(r[2]),
        low: Decimal.parse(r[3]),
        close: Decimal.parse(r[4]),
      },
      this.steps,
      this.tick,
    );
    this.high = undefined;
    this.low = undefined;
    for (let k = 0; k <= point; k++) this.setPrice(this.path[k]);
    this.point = point;
  }

  private setPrice(p: Decimal): void {
    this.price = p;
    if (this.high === undefined || p.gt(this.high)) this.high = p;
    if (this.low === undefined || p.lt(this.low)) this.low = p;
    this.partialCache = undefined;
  }

  /** The still-open candle with the OHLC of the path so far and pro-rated volumes. */
  partialRow(): { index: number; row: KlineRow } | undefined {
    if (!this.isOpen) return undefined;
    if (this.partialCache && this.partialCache.point === this.point)
      return { index: this.cur, row: this.partialCache.row };
    const r = this.series.rows[this.cur];
    const done = this.point;
    const of = this.points - 1;
    const num = Decimal.of(BigInt(done));
    const den = Decimal.of(BigInt(of));
    const part = (k: number) => this.volumes[k].mul(num).div(den, 8, "down").toFixed(8);
    const row: KlineRow = [
      r[0],
      r[1],
      this.high!.toFixed(8),
      this.low!.toFixed(8),
      this.price!.toFixed(8),
      part(0),
      r[6],
      part(1),
      Math.floor(((Number(r[8]) || 0) * done) / of),
      part(2),
      part(3),
      "0",
    ];
    this.partialCache = { point: this.point, row };
    return { index: this.cur, row };
  }

  /** The candle row as the market sees it now: partial while open, the real row once closed. */
  rowAt(i: number): KlineRow {
    const p = this.partialRow();
    return p && p.index === i ? p.row : (this.series.rows[i] as KlineRow);
  }
}
