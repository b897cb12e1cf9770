// Market replay: the intrabar path, klines windowing and aggregation over the bundled history,
// the real 2023-03-24 gap, and the replay clock in step mode and in real time (injected timers).
import { bundledSeries, type KlineRow } from "../../../src/adapters/klines/files";
import { Decimal } from "../../../src/core/money/decimal";
import { SymbolFeed, type FeedEvent } from "../../../src/sim/replay/feed";
import { intrabarPath, lowFirst, pathLength } from "../../../src/core/market/intrabar";
import { Replay, type Timers } from "../../../src/sim/replay/replay";
import { bucketStart, klinesAt, makeSeries, parseTimeZone } from "../../../src/sim/replay/series";

const D = (s: string) => Decimal.parse(s);
const HOUR = 3_600_000;
const btc = makeSeries("BTCUSDT", "1h", bundledSeries("BTCUSDT", "1h"));
const t = (iso: string) => Date.parse(iso);

describe("intrabar path", () => {
  it.each([
    ["low nearer: open → low → high → close", ["100", "110", "95", "105"], true],
    ["high nearer: open → high → low → close", ["100", "103", "90", "91"], false],
    ["tie, rising candle: low first", ["100", "105", "95", "104"], true],
    ["tie, falling candle: high first", ["100", "105", "95", "96"], false],
  ])("%s", (_n, [o, h, l, c], low) => {
    const candle = { open: D(o), high: D(h), low: D(l), close: D(c) };
    expect(lowFirst(candle)).toBe(low);
    const path = intrabarPath(candle, 4, D("0.01"));
    expect(path).toHaveLength(pathLength(4));
    expect(path[0].eq(candle.open)).toBe(true);
    expect(path[path.length - 1].eq(candle.close)).toBe(true);
    const first = low ? candle.low : candle.high;
    const second = low ? candle.high : candle.low;
    expect(path[4].eq(first) && path[8].eq(second)).toBe(true);
    for (const p of path)
      expect(p.gte(candle.low) && p.lte(candle.high) && p.isMultipleOf(D("0.01"))).toBe(true);
    // monotone between anchors, so no level inside the range is skipped
    for (const [a, b] of [
      [0, 4],
      [4, 8],
      [8, 12],
    ]) {
      const dir = path[b].cmp(path[a]);
      for (let i = a; i < b; i++)
        expect(path[i + 1].cmp(path[i]) === dir || path[i + 1].eq(path[i])).toBe(true);
    }
  });

  it("every real candle's path touches its high and low exactly", () => {
    for (const r of btc.rows.slice(0, 2000)) {
      const path = intrabarPath({ open: D(r[1]), high: D(r[2]), low: D(r[3]), close: D(r[4]) }, 4, D("0.01"));
      const max = path.reduce((a, b) => (b.gt(a) ? b : a));
      const min = path.reduce((a, b) => (b.lt(a) ? b : a));
      if (!max.eq(D(r[2])) || !min.eq(D(r[3])))
        throw new Error(`candle ${r[0]}: path range ${min}..${max} ≠ ${r[3]}..${r[2]}`);
    }
  });
});

describe("klines over the bundled history", () => {
  const now = t("2023-06-01T00:00:00Z"); // candle 00:00 just opened
  const idx = btc.rows.findIndex((r) => r[0] === now);
  const w = (o: { startTime?: number; endTime?: number; limit?: number }) =>
    klinesAt(btc, "1h", { limit: 500, ...o }, now, undefined);

  it("default: the newest `limit` candles whose open time ≤ now", () => {
    const rows = w({ limit: 3 });
    expect(rows.map((r) => r[0])).toEqual([now - 2 * HOUR, now - HOUR, now]);
    expect(rows[0]).toEqual(btc.rows[idx - 2]);
  });

  it("startTime: oldest first; endTime: newest at or before; both: bounded", () => {
    const s = t("2023-05-01T00:00:00Z");
    expect(w({ startTime: s, limit: 2 }).map((r) => r[0])).toEqual([s, s + HOUR]);
    expect(w({ startTime: s + 1, limit: 1 }).map((r) => r[0])).toEqual([s + HOUR]);
    expect(w({ endTime: s, limit: 2 }).map((r) => r[0])).toEqual([s - HOUR, s]);
    expect(w({ startTime: s, endTime: s + 2 * HOUR }).map((r) => r[0])).toEqual([s, s + HOUR, s + 2 * HOUR]);
    // the future is not served
    expect(w({ startTime: now + HOUR })).toEqual([]);
    expect(w({ startTime: now - HOUR, limit: 1000 }).length).toBe(2);
  });

  it("serves 1000 candles equal to the bundled files", () => {
    const s = t("2023-02-01T00:00:00Z");
    const rows = klinesAt(btc, "1h", { startTime: s, limit: 1000 }, now, undefined);
    const i = btc.rows.findIndex((r) => r[0] === s);
    expect(rows).toHaveLength(1000);
    expect(rows).toEqual(btc.rows.slice(i, i + 1000));
  });

  it("keeps the real 2023-03-24 gap: no candle is invented", () => {
    const rows = klinesAt(btc, "1h", { startTime: t("2023-03-24T11:00:00Z"), limit: 4 }, now, undefined);
    expect(rows.map((r) => new Date(r[0]).toISOString().slice(11, 16))).toEqual([
      "11:00",
      "12:00",
      "14:00",
      "15:00",
    ]);
    expect(rows[1][5]).toBe("0.00000000"); // the halted, zero-volume hour
  });

  it("aggregates 4h, 1d and 1w (Monday) candles from the hourly ones", () => {
    const day = t("2023-05-10T00:00:00Z");
    const [d] = klinesAt(btc, "1d", { startTime: day, limit: 1 }, now, undefined);
    const hours = btc.rows.filter((r) => r[0] >= day && r[0] < day + 24 * HOUR);
    expect(hours).toHaveLength(24);
    const sum = (k: number) => hours.reduce((a, r) => a.add(D(r[k] as string)), Decimal.ZERO).toFixed(8);
    expect(d).toEqual([
      day,
      hours[0][1],
      hours
        .map((r) => D(r[2]))
        .reduce((a, b) => (b.gt(a) ? b : a))
        .toFixed(8),
      hours
        .map((r) => D(r[3]))
        .reduce((a, b) => (b.lt(a) ? b : a))
        .toFixed(8),
      hours[23][4],
      sum(5),
      day + 24 * HOUR - 1,
      sum(7),
      hours.reduce((a, r) => a + r[8], 0),
      sum(9),
      sum(10),
      "0",
    ]);
    const weeks = klinesAt(btc, "1w", { limit: 2 }, now, undefined);
    for (const r of weeks) expect(new Date(r[0]).getUTCDay()).toBe(1);
    const fours = klinesAt(btc, "4h", { startTime: day, limit: 6 }, now, undefined);
    expect(fours.map((r) => (r[0] - day) / HOUR)).toEqual([0, 4, 8, 12, 16, 20]);
  });

  it("shifts bucket boundaries by the timeZone parameter", () => {
    expect(parseTimeZone("+08:00")).toBe(8 * HOUR);
    expect(parseTimeZone("-1:00")).toBe(-HOUR);
    expect(parseTimeZone("05:45")).toBe(5.75 * HOUR);
    expect(parseTimeZone("15")).toBeUndefined();
    expect(bucketStart(t("2023-05-10T20:00:00Z"), "1d", 8 * HOUR)).toBe(t("2023-05-10T16:00:00Z"));
  });
});

describe("symbol feed", () => {
  it("reports 13 ticks per candle, then the close, then the next open; the gap stays a gap", () => {
    const feed = new SymbolFeed(btc, 4, D("0.01"));
    feed.seek(t("2023-03-24T12:00:00Z"));
    const events: FeedEvent[] = [];
    while (feed.nextTime()! < t("2023-03-24T15:00:00Z")) events.push(feed.step());
    const kinds = events.map(
      (e) => `${e.kind}@${new Date(e.index >= 0 ? btc.rows[e.index][0] : 0).toISOString().slice(11, 13)}`,
    );
    // 12:00 candle (already at point 0): 12 more ticks + close; then 14:00 (no 13:00 candle)
    expect(kinds.slice(0, 13)).toEqual([...Array(12).fill("tick@12"), "close@12"]);
    expect(kinds[13]).toBe("tick@14");
    expect(events[13].time).toBe(t("2023-03-24T14:00:00Z"));
    expect(events[13].kind === "tick" && events[13].jump).toBe(true);
  });

  it("builds the open candle with partial OHLC and pro-rated volume", () => {
    const feed = new SymbolFeed(btc, 4, D("0.01"));
    const open = t("2023-06-01T00:00:00Z");
    feed.seek(open + 30 * 60_000);
    const r = btc.rows.find((x) => x[0] === open)!;
    const p = feed.partialRow()!.row;
    expect(p[0]).toBe(open);
    expect(p[1]).toBe(r[1]);
    expect(D(p[2]).lte(D(r[2])) && D(p[3]).gte(D(r[3]))).toBe(true);
    expect(D(p[5]).lt(D(r[5]))).toBe(true);
    expect(p[6]).toBe(r[6]);
    // walk to the end of the candle: the last tick shows the full candle, still open
    while (feed.isOpen && feed.pointIndex < feed.points - 1) feed.step();
    const full = feed.partialRow()!.row;
    expect([full[2], full[3], full[4], full[5]]).toEqual([r[2], r[3], r[4], r[5]]);
  });
});

/** A manual clock and timer queue: time only moves when the test says so. */
class FakeTime implements Timers {
  now = 0;
  fired = 0;
  private seq = 0;
  private q: { id: number; at: number; fn: () => void }[] = [];
  setTimeout = (fn: () => void, ms: number) => {
    const id = ++this.seq;
    this.q.push({ id, at: this.now + ms, fn });
    return id;
  };
  clearTimeout = (h: unknown) => {
    this.q = this.q.filter((x) => x.id !== h);
  };
  pending(): number {
    return this.q.length;
  }
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      this.q.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.q[0];
      if (!next || next.at > end) break;
      this.q.shift();
      this.now = Math.max(this.now, next.at);
      this.fired++;
      next.fn();
    }
    this.now = end;
  }
}

function recorder() {
  const log: string[] = [];
  return {
    log,
    listener: {
      onTick: (f: SymbolFeed, e: Extract<FeedEvent, { kind: "tick" }>) =>
        log.push(`tick ${f.symbol} ${e.time} ${e.price.toString()}`),
      onClose: (f: SymbolFeed, e: Extract<FeedEvent, { kind: "close" }>) =>
        log.push(`close ${f.symbol} ${e.time}`),
    },
  };
}

describe("replay clock", () => {
  const from = t("2023-06-01T00:00:00Z");

  it("step mode: time moves only when told; advancing is deterministic", () => {
    const run = () => {
      const ft = new FakeTime();
      const rec = recorder();
      const r = new Replay(
        [new SymbolFeed(btc, 4, D("0.01"))],
        { from, speed: 1800, step: true, wallNow: () => ft.now, timers: ft },
        rec.listener,
      );
      r.start();
      ft.advance(10 * HOUR);
      expect(rec.log).toEqual([]);
      expect(r.now()).toBe(from);
      r.advance({ candles: 2 });
      expect(r.now()).toBe(from + 2 * HOUR);
      r.advance({ ms: 15 * 60_000 });
      return rec.log;
    };
    const a = run();
    expect(a).toEqual(run());
    // two candles of 12 ticks + close + the next open, then the first ticks of the third candle
    expect(a.filter((l) => l.startsWith("close"))).toEqual([
      `close BTCUSDT ${from + HOUR}`,
      `close BTCUSDT ${from + 2 * HOUR}`,
    ]);
    expect(a.filter((l) => l.startsWith("tick"))).toHaveLength(12 + 13 + 1 + 3);
  });

  it("advance({candles}) lands on the next candle boundaries from mid-candle", () => {
    const ft = new FakeTime();
    const r = new Replay(
      [new SymbolFeed(btc, 4)],
      { from: from + 20 * 60_000, speed: 1, step: true, wallNow: () => ft.now, timers: ft },
      recorder().listener,
    );
    expect(r.advance({ candles: 1 }).time).toBe(from + HOUR);
    expect(() => r.advance({ candles: 0 })).toThrow(RangeError);
    expect(() => r.advance({})).toThrow(RangeError);
  });

  it("real time: speed 3600 plays one 1h candle per wall second with one timer armed at a time", () => {
    const ft = new FakeTime();
    const rec = recorder();
    const r = new Replay(
      [new SymbolFeed(btc, 4)],
      { from, speed: 3600, step: false, wallNow: () => ft.now, timers: ft },
      rec.listener,
    );
    r.start();
    for (let i = 0; i < 100; i++) {
      ft.advance(50);
      expect(ft.pending()).toBeLessThanOrEqual(1);
    }
    expect(r.now()).toBe(from + 5 * HOUR);
    expect(rec.log.filter((l) => l.startsWith("close"))).toHaveLength(5);
    // one timer turn per price point, not a busy loop
    expect(ft.fired).toBeLessThanOrEqual(5 * 14 + 2);
    r.pause();
    ft.advance(10_000);
    expect(r.now()).toBe(from + 5 * HOUR);
    expect(ft.pending()).toBe(0);
    r.setSpeed(7200);
    r.resume();
    ft.advance(1000);
    expect(r.now()).toBe(from + 7 * HOUR);
    r.stop();
    expect(ft.pending()).toBe(0);
  });

  it("jump moves every feed without walking the path in between", () => {
    const ft = new FakeTime();
    const rec = recorder();
    const jumps: number[] = [];
    const feed = new SymbolFeed(btc, 4);
    const r = new Replay(
      [feed],
      { from, speed: 1, step: true, wallNow: () => ft.now, timers: ft },
      { ...rec.listener, onJump: (_f, time) => jumps.push(time) },
    );
    const target = t("2024-01-01T00:00:00Z");
    r.jump(target);
    expect(rec.log).toEqual([]);
    expect(jumps).toEqual([target]);
    expect(feed.price!.toFixed(8)).toBe((btc.rows.find((x: KlineRow) => x[0] === target) as KlineRow)[1]);
  });
});
