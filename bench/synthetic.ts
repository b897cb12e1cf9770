// Seeded synthetic candles for benchmarks: a log-normal random walk written straight into the
// engine's column store, so millions of candles cost 56 bytes each and no objects.
import { allocateColumns, type CandleColumns } from "../src/core/model/candle";

/** mulberry32: small, fast, good enough for synthetic prices. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function syntheticCandles(
  n: number,
  seed = 42,
  intervalMs = 60_000,
  start = Date.UTC(2020, 0, 1),
): CandleColumns {
  const rnd = mulberry32(seed);
  const c = allocateColumns(n);
  let price = 30_000;
  for (let i = 0; i < n; i++) {
    // Sum of uniforms ≈ normal; 0.1 % per-minute volatility.
    const z = rnd() + rnd() + rnd() - 1.5;
    const open = price;
    const close = Math.round(open * Math.exp(z * 0.002) * 100) / 100;
    const hi = Math.max(open, close) * (1 + rnd() * 0.001);
    const lo = Math.min(open, close) * (1 - rnd() * 0.001);
    c.openTime[i] = start + i * intervalMs;
    c.closeTime[i] = start + (i + 1) * intervalMs - 1;
    c.open[i] = open;
    c.high[i] = Math.round(hi * 100) / 100;
    c.low[i] = Math.round(lo * 100) / 100;
    c.close[i] = close;
    c.volume[i] = Math.round(rnd() * 1e5) / 1000;
    price = close;
  }
  return c;
}
