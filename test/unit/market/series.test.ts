// Continuity rules of one candle series (src/core/market/series.ts): what a subscriber receives
// when the live stream drops, duplicates, reorders or skips candles, and when the exchange itself
// has no candle for an hour.
import fc from "fast-check";
import type { MarketCandle } from "../../../src/core/market/events";
import { CandleSeries, type BackfillRequest, type SeriesAction } from "../../../src/core/market/series";

const H = 3_600_000;
const T0 = Date.UTC(2023, 2, 24, 0);

function candle(openTime: number, tag = "final"): MarketCandle {
  return {
    openTime,
    closeTime: openTime + H - 1,
    open: `${openTime}.00000000`,
    high: "1.00000000",
    low: "1.00000000",
    close: tag === "final" ? `${openTime}.10000000` : `${tag}`,
    volume: "1.00000000",
    quoteVolume: "1.00000000",
    trades: 1,
    takerBuyBase: "0.50000000",
    takerBuyQuote: "0.50000000",
  };
}

const at = (i: number) => T0 + i * H;
const published = (acts: SeriesAction[]) =>
  acts.filter((a) => a.kind === "publish").map((a) => (a as any).candle.openTime as number);
const requests = (acts: SeriesAction[]) =>
  acts.filter((a) => a.kind === "backfill").map((a) => (a as any).request as BackfillRequest);
const gaps = (acts: SeriesAction[]) => acts.filter((a) => a.kind === "gap");

describe("CandleSeries", () => {
  test("publishes consecutive closed candles as they arrive, never the forming one", () => {
    const s = new CandleSeries({ intervalMs: H });
    expect(s.live(candle(at(0), "forming"), false)).toEqual([]);
    expect(published(s.live(candle(at(0)), true))).toEqual([at(0)]);
    expect(s.live(candle(at(1), "forming"), false)).toEqual([]);
    expect(published(s.live(candle(at(1)), true))).toEqual([at(1)]);
  });

  test("drops duplicates and candles older than the last published one", () => {
    const s = new CandleSeries({ intervalMs: H });
    s.live(candle(at(0)), true);
    s.live(candle(at(1)), true);
    expect(s.live(candle(at(1)), true)).toEqual([{ kind: "drop", openTime: at(1), reason: "duplicate" }]);
    expect(s.live(candle(at(0)), true)).toEqual([{ kind: "drop", openTime: at(0), reason: "stale" }]);
  });

  test("a skipped candle holds newer ones back until REST back-fills it", () => {
    const s = new CandleSeries({ intervalMs: H });
    s.live(candle(at(0)), true);
    const acts = s.live(candle(at(3)), true);
    expect(published(acts)).toEqual([]);
    const [req] = requests(acts);
    expect(req).toMatchObject({ from: at(1), to: at(3), attempt: 0 });
    expect(s.blocked).toBe(true);
    const done = s.backfilled(req, [candle(at(1)), candle(at(2)), candle(at(3))]);
    expect(published(done)).toEqual([at(1), at(2), at(3)]);
    expect(s.blocked).toBe(false);
  });

  test("a forming candle newer than expected reveals the hole before it closes", () => {
    const s = new CandleSeries({ intervalMs: H });
    s.live(candle(at(0)), true);
    const [req] = requests(s.live(candle(at(2), "forming"), false));
    expect(req).toMatchObject({ from: at(1), to: at(2) });
    // REST also returns the forming candle: it must not be published
    const acts = s.backfilled(req, [candle(at(1)), candle(at(2), "forming")]);
    expect(published(acts)).toEqual([at(1)]);
    expect(published(s.live(candle(at(2)), true))).toEqual([at(2)]);
  });

  test("after a reconnect it catches up over REST, using the server time to close the newest row", () => {
    const s = new CandleSeries({ intervalMs: H });
    s.live(candle(at(0)), true);
    const [req] = requests(s.reconnected());
    expect(req).toMatchObject({ from: at(1), to: undefined });
    const acts = s.backfilled(req, [candle(at(1)), candle(at(2)), candle(at(3))], at(4));
    expect(published(acts)).toEqual([at(1), at(2), at(3)]);
    // the live stream then repeats the last one: dropped
    expect(s.live(candle(at(3)), true)).toEqual([{ kind: "drop", openTime: at(3), reason: "duplicate" }]);
  });

  test("a catch-up row still forming at server time is left to the stream", () => {
    const s = new CandleSeries({ intervalMs: H });
    s.live(candle(at(0)), true);
    const [req] = requests(s.reconnected());
    const acts = s.backfilled(req, [candle(at(1)), candle(at(2), "forming")], at(2) + 10);
    expect(published(acts)).toEqual([at(1)]);
    expect(requests(acts)).toEqual([]);
    expect(published(s.live(candle(at(2)), true))).toEqual([at(2)]);
  });

  test("a real exchange gap is reported once REST holds a later candle, not invented", () => {
    const s = new CandleSeries({ intervalMs: H });
    s.live(candle(at(12)), true);
    const [req] = requests(s.live(candle(at(14)), true));
    const acts = s.backfilled(req, [candle(at(14))]);
    expect(gaps(acts)).toEqual([{ kind: "gap", from: at(13), to: at(13), missing: 1, reason: "exchange" }]);
    expect(published(acts)).toEqual([at(14)]);
    // the gap action comes before the candle after it
    expect(acts.findIndex((a) => a.kind === "gap")).toBeLessThan(acts.findIndex((a) => a.kind === "publish"));
  });

  test("an empty REST answer confirms nothing: retried with growing attempt numbers, then reported unavailable", () => {
    const s = new CandleSeries({ intervalMs: H, maxBackfillAttempts: 3 });
    s.live(candle(at(0)), true);
    let [req] = requests(s.live(candle(at(2)), true));
    const attempts: number[] = [req.attempt];
    let acts: SeriesAction[] = [];
    for (let i = 0; i < 5 && req; i++) {
      acts = s.backfilled(req, []);
      [req] = requests(acts);
      if (req) attempts.push(req.attempt);
    }
    expect(attempts).toEqual([0, 1, 2]);
    expect(gaps(acts)).toEqual([{ kind: "gap", from: at(1), to: at(1), missing: 1, reason: "unavailable" }]);
    expect(published(acts)).toEqual([at(2)]);
  });

  test("REST failures are retried and do not lose candles", () => {
    const s = new CandleSeries({ intervalMs: H });
    s.live(candle(at(0)), true);
    let [req] = requests(s.live(candle(at(2)), true));
    [req] = requests(s.backfillFailed(req));
    expect(req.attempt).toBe(1);
    expect(published(s.backfilled(req, [candle(at(1)), candle(at(2))]))).toEqual([at(1), at(2)]);
  });

  test("answers to superseded requests are ignored", () => {
    const s = new CandleSeries({ intervalMs: H });
    s.live(candle(at(0)), true);
    const [req] = requests(s.live(candle(at(2)), true));
    s.backfillFailed(req);
    expect(s.backfilled(req, [candle(at(1))])).toEqual([]);
  });

  test("large holes are fetched in pages of at most maxBackfillCandles", () => {
    const s = new CandleSeries({ intervalMs: H, maxBackfillCandles: 10 });
    s.live(candle(at(0)), true);
    let [req] = requests(s.live(candle(at(25)), true));
    const pages: [number, number][] = [];
    const out: number[] = [];
    while (req) {
      pages.push([(req.from - T0) / H, ((req.to as number) - T0) / H]);
      const rows = [];
      for (let t = req.from; t <= (req.to as number); t += H) rows.push(candle(t));
      const acts = s.backfilled(req, rows);
      out.push(...published(acts));
      [req] = requests(acts);
    }
    expect(pages).toEqual([
      [1, 10],
      [11, 20],
      [21, 25],
    ]);
    expect(out).toEqual(Array.from({ length: 25 }, (_, i) => at(i + 1)));
  });

  test("resumes after the stored candle when the hole is small, else starts at the live candle", () => {
    const s = new CandleSeries({ intervalMs: H, resumeAfter: at(5), maxResumeCandles: 10 });
    const [req] = requests(s.live(candle(at(8), "forming"), false));
    expect(req).toMatchObject({ from: at(6), to: at(8) });

    const far = new CandleSeries({ intervalMs: H, resumeAfter: at(5), maxResumeCandles: 2 });
    expect(far.live(candle(at(9)), true)).toEqual([
      { kind: "publish", candle: candle(at(9)), source: "live" },
    ]);

    const ahead = new CandleSeries({ intervalMs: H, resumeAfter: at(50) });
    expect(published(ahead.live(candle(at(9)), true))).toEqual([at(9)]);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: whatever the live stream does (drops while disconnected, duplicates, old replays,
// forming updates) and whenever REST answers or fails (fewer times in a row than the give-up
// limit), the published series is strictly increasing, has no duplicates, only holds closed
// (final) candles, and equals the source from the first live candle on, minus exactly the slots
// the exchange never had, each reported as an "exchange" gap.

interface Scenario {
  exists: boolean[];
  ops: {
    drop: boolean;
    dup: boolean;
    forming: boolean;
    toggle: boolean;
    replay: number;
    answer: number;
    fail: boolean;
  }[];
}

const scenario = fc
  .integer({ min: 3, max: 60 })
  .chain((n) =>
    fc.record({
      n: fc.constant(n),
      holes: fc.array(fc.integer({ min: 1, max: n - 2 }), { maxLength: 4 }),
      ops: fc.array(
        fc.record({
          drop: fc.boolean(),
          dup: fc.boolean(),
          forming: fc.boolean(),
          toggle: fc.integer({ min: 0, max: 5 }).map((x) => x === 0),
          replay: fc.integer({ min: -1, max: n - 1 }),
          answer: fc.integer({ min: 0, max: 2 }),
          fail: fc.integer({ min: 0, max: 6 }).map((x) => x === 0),
        }),
        { minLength: n, maxLength: n },
      ),
    }),
  )
  .map(({ n, holes, ops }): Scenario => {
    // mostly present, a few real exchange gaps (never the first or last slot)
    const ex: boolean[] = Array.from({ length: n }, () => true);
    for (const h of holes) ex[h] = false;
    return { exists: ex, ops };
  });

function run(sc: Scenario) {
  const n = sc.exists.length;
  const s = new CandleSeries({ intervalMs: H, maxBackfillAttempts: 4, maxBackfillCandles: 7 });
  const pub: MarketCandle[] = [];
  const gapSlots: number[] = [];
  const gapReasons = new Set<string>();
  let firstLive: number | undefined;
  const queue: BackfillRequest[] = [];
  let failStreak = 0;
  let now = 0; // index of the forming slot
  let connected = true;

  const apply = (acts: SeriesAction[]) => {
    for (const a of acts) {
      if (a.kind === "publish") pub.push(a.candle);
      else if (a.kind === "gap") {
        gapReasons.add(a.reason);
        for (let t = a.from; t <= a.to; t += H) gapSlots.push(t);
      } else if (a.kind === "backfill") queue.push(a.request);
    }
  };
  const restRows = (req: BackfillRequest) => {
    const rows: MarketCandle[] = [];
    for (let i = 0; i <= Math.min(now, n - 1); i++) {
      const t = at(i);
      if (!sc.exists[i] || t < req.from || (req.to !== undefined && t > req.to)) continue;
      rows.push(i === now ? candle(t, "forming") : candle(t));
    }
    return rows;
  };
  const answerOne = (allowFail: boolean) => {
    const req = queue.shift()!;
    if (allowFail && failStreak < 3) {
      failStreak++;
      apply(s.backfillFailed(req));
    } else {
      failStreak = 0;
      apply(s.backfilled(req, restRows(req), at(now) + 1));
    }
  };
  const liveEvent = (i: number, closed: boolean) => {
    if (!sc.exists[i]) return;
    if (firstLive === undefined) firstLive = at(i);
    apply(s.live(closed ? candle(at(i)) : candle(at(i), "forming"), closed));
  };

  for (let k = 0; k < n; k++) {
    const op = sc.ops[k];
    now = k;
    if (op.toggle) {
      connected = !connected;
      if (connected) apply(s.reconnected());
    }
    if (connected) {
      if (k > 0 && !op.drop) {
        liveEvent(k - 1, true);
        if (op.dup) liveEvent(k - 1, true);
      }
      if (op.forming) liveEvent(k, false);
      if (op.replay >= 0 && op.replay < k) liveEvent(op.replay, true);
    }
    for (let j = 0; j < op.answer && queue.length; j++) answerOne(op.fail);
  }
  // the end of the run: the last candle closes on a healthy connection, REST answers everything
  now = n;
  if (!connected) apply(s.reconnected());
  liveEvent(n - 1, true);
  for (let guard = 0; queue.length && guard < 10_000; guard++) answerOne(false);
  return { pub, gapSlots, gapReasons, firstLive, s };
}

test("property: published series = source minus real gaps, strictly increasing, closed candles only", () => {
  fc.assert(
    fc.property(scenario, (sc) => {
      const n = sc.exists.length;
      const { pub, gapSlots, gapReasons, firstLive } = run(sc);
      const times = pub.map((c) => c.openTime);
      for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThan(times[i - 1]);
      for (const c of pub) expect(c).toEqual(candle(c.openTime));
      expect(firstLive).toBeDefined();
      const expected: number[] = [];
      const expectedGaps: number[] = [];
      for (let i = (firstLive! - T0) / H; i < n; i++) (sc.exists[i] ? expected : expectedGaps).push(at(i));
      expect(times).toEqual(expected);
      expect(gapSlots).toEqual(expectedGaps);
      if (expectedGaps.length) expect([...gapReasons]).toEqual(["exchange"]);
    }),
    { numRuns: Number(process.env.FC_RUNS ?? 400) },
  );
});

test("property: with REST failing without limit, nothing is published twice, out of order or invented", () => {
  fc.assert(
    fc.property(scenario, fc.integer({ min: 1, max: 3 }), (sc, every) => {
      const n = sc.exists.length;
      const s = new CandleSeries({ intervalMs: H, maxBackfillAttempts: 2 });
      const times: number[] = [];
      const covered = new Set<number>();
      let q: BackfillRequest[] = [];
      let calls = 0;
      const apply = (acts: SeriesAction[]) => {
        for (const a of acts) {
          if (a.kind === "publish") {
            expect(sc.exists[(a.candle.openTime - T0) / H]).toBe(true);
            expect(a.candle).toEqual(candle(a.candle.openTime));
            times.push(a.candle.openTime);
            covered.add(a.candle.openTime);
          } else if (a.kind === "gap") {
            for (let t = a.from; t <= a.to; t += H) {
              if (a.reason === "exchange") expect(sc.exists[(t - T0) / H]).toBe(false);
              covered.add(t);
            }
          } else if (a.kind === "backfill") q.push(a.request);
        }
      };
      let first: number | undefined;
      for (let k = 1; k <= n; k++) {
        if (!sc.ops[k - 1].drop && sc.exists[k - 1]) {
          first ??= at(k - 1);
          apply(s.live(candle(at(k - 1)), true));
        }
        const pendingReqs = q;
        q = [];
        for (const r of pendingReqs) {
          if (++calls % every === 0) apply(s.backfillFailed(r));
          else {
            const rows = [];
            for (let i = 0; i < k; i++)
              if (sc.exists[i] && at(i) >= r.from && (r.to === undefined || at(i) <= r.to))
                rows.push(candle(at(i)));
            apply(s.backfilled(r, rows, at(k)));
          }
        }
      }
      for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThan(times[i - 1]);
      // every slot between the first and the last published candle is accounted for
      if (times.length && first !== undefined) {
        for (let t = first; t <= times[times.length - 1]; t += H) expect(covered.has(t)).toBe(true);
      }
    }),
    { numRuns: 300 },
  );
});
