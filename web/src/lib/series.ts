// Series math for the charts: equity curves run to tens of thousands of points (two years of 1h
// candles is 17,520), far more than a chart has pixels, so they are thinned first.

export interface Point {
  time: number;
  value: number;
}

/**
 * At most about `max` points with the shape kept: per bucket the first, lowest and highest points
 * survive (in time order), and the very last point always does, so peaks, troughs and the final
 * value are exact.
 */
export function downsample(points: readonly Point[], max: number): Point[] {
  if (points.length <= max || max < 4) return points.slice();
  const buckets = Math.max(1, Math.floor(max / 3));
  const size = points.length / buckets;
  const out: Point[] = [];
  for (let b = 0; b < buckets; b++) {
    const start = Math.floor(b * size);
    const end = Math.min(points.length, Math.floor((b + 1) * size));
    if (start >= end) continue;
    let lo = start;
    let hi = start;
    for (let i = start + 1; i < end; i++) {
      if (points[i].value < points[lo].value) lo = i;
      if (points[i].value > points[hi].value) hi = i;
    }
    for (const i of [...new Set([start, lo, hi])].sort((a, b2) => a - b2)) out.push(points[i]);
  }
  const last = points[points.length - 1];
  if (out[out.length - 1] !== last) out.push(last);
  return out;
}

/** Drawdown from the running peak, in percent (≤ 0), point by point. */
export function drawdown(points: readonly Point[]): Point[] {
  let peak = -Infinity;
  return points.map((p) => {
    peak = Math.max(peak, p.value);
    return { time: p.time, value: peak > 0 ? ((p.value - peak) / peak) * 100 : 0 };
  });
}

/** Equity as a return in percent of the first point, for curves of different balances. */
export function asReturnPct(points: readonly Point[]): Point[] {
  const first = points[0]?.value;
  if (!first) return points.slice();
  return points.map((p) => ({ time: p.time, value: (p.value / first - 1) * 100 }));
}

/** Sorts rows by a key, nulls last whatever the direction. */
export function sortRows<T>(
  rows: readonly T[],
  key: (r: T) => number | string | null | undefined,
  descending: boolean,
): T[] {
  return rows
    .map((r, i) => ({ r, i, k: key(r) }))
    .sort((a, b) => {
      const an = a.k === null || a.k === undefined || (typeof a.k === "number" && !Number.isFinite(a.k));
      const bn = b.k === null || b.k === undefined || (typeof b.k === "number" && !Number.isFinite(b.k));
      if (an || bn) return an === bn ? a.i - b.i : an ? 1 : -1;
      const c = a.k! < b.k! ? -1 : a.k! > b.k! ? 1 : 0;
      return (descending ? -c : c) || a.i - b.i;
    })
    .map((x) => x.r);
}
