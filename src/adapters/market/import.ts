// Bulk history: downloading klines from the exchange into `klines` (resumable, weight-governed),
// loading klines files in the bundled format, and the one-time load of the bundled 2023–2024
// history on first start.
import { candleFromRow, type MarketCandle, type RawKlineRow } from "../../core/market/events";
import { alignDown, alignUp, slotCount } from "../../core/market/series";
import { intervalMs } from "../../core/market/symbols";
import { bundledSeries, loadKlines } from "../klines/files";
import type { MarketRest } from "../exchange/market-rest";
import type { KlineStore } from "./kline-store";

export interface ImportProgress {
  symbol: string;
  interval: string;
  /** candles stored or confirmed so far, out of `total` slots in the range */
  done: number;
  total: number;
  fetched: number;
  /** open time reached */
  position: number;
  requests: number;
  waitedMs: number;
}

export interface ImportOptions {
  rest: MarketRest;
  store: KlineStore;
  symbol: string;
  interval: string;
  /** first and last open time wanted (inclusive, epoch ms) */
  from: number;
  to: number;
  /** rows per request (default and maximum 1000) */
  pageLimit?: number;
  signal?: AbortSignal;
  onProgress?: (p: ImportProgress) => void;
}

export interface ImportSummary {
  symbol: string;
  interval: string;
  from: number;
  to: number;
  /** where this run started fetching (after what was already stored) */
  resumedFrom: number;
  /** holes inside the stored part that were fetched again */
  holesRepaired: number;
  fetched: number;
  inserted: number;
  requests: number;
  /** slots the exchange has no candle for */
  exchangeGaps: number;
  rateLimited: number;
  banned: number;
  waitedMs: number;
  durationMs: number;
  interrupted: boolean;
  /** the exchange had nothing newer than this open time (the range reaches into the future or beyond its data) */
  endedAt: number | undefined;
}

export async function importHistory(o: ImportOptions): Promise<ImportSummary> {
  const iv = intervalMs(o.interval);
  if (!iv) throw new Error(`interval ${o.interval} is not supported for import`);
  const t0 = Date.now();
  const start0 = o.rest.stats();
  const from = alignUp(o.from, iv);
  const to = alignDown(o.to, iv);
  if (from > to) throw new Error("the range is empty: --from is after --to");
  const pageLimit = Math.min(1000, Math.max(2, o.pageLimit ?? 1000));
  await o.rest.requireSymbol(o.symbol);

  const total = slotCount(from, to, iv);
  let fetched = 0;
  let inserted = 0;
  let exchangeGaps = 0;
  let holesRepaired = 0;
  let endedAt: number | undefined;
  let done = await o.store.count(o.symbol, o.interval, from, to);
  let position = from;

  const progress = () =>
    o.onProgress?.({
      symbol: o.symbol,
      interval: o.interval,
      done: Math.min(done, total),
      total,
      fetched,
      position,
      requests: o.rest.stats().requests - start0.requests,
      waitedMs: o.rest.stats().governor.waitedMs - start0.governor.waitedMs,
    });

  // Resume: continue after the newest stored candle of the range; holes before it (an earlier
  // run interrupted mid-write, or rows deleted) are fetched first.
  const last = await o.store.lastOpenTime(o.symbol, o.interval, from, to);
  const holes: { from: number; to: number }[] = [];
  if (last !== undefined) {
    const first = (await o.store.range(o.symbol, o.interval, { from, to, limit: 1, pick: "asc" }))[0]
      ?.openTime;
    if (first !== undefined && first > from) holes.push({ from, to: first - iv });
    holes.push(...(await o.store.holes(o.symbol, o.interval, iv, from, last)));
  }
  const resumedFrom = last !== undefined ? last + iv : from;
  progress();

  /**
   * Fetches [a, b] page by page, writing page n while page n+1 downloads. The newest row of a
   * full page is fetched again as the first row of the next one, and the last row of the range
   * is stored only once the exchange shows a newer candle: a row still forming is never stored.
   */
  const fetchRange = async (a: number, b: number, repair: boolean): Promise<void> => {
    let start = a;
    let writing: Promise<void> = Promise.resolve();
    const write = async (rows: MarketCandle[]) => {
      await writing;
      if (rows.length === 0) return;
      fetched += rows.length;
      writing = o.store.insert(o.symbol, o.interval, rows).then((n) => {
        inserted += n;
        done += n;
        position = rows[rows.length - 1].openTime;
        progress();
      });
    };
    while (start <= b && !o.signal?.aborted) {
      const page = await o.rest.klines({
        symbol: o.symbol,
        interval: o.interval,
        startTime: start,
        endTime: b,
        limit: pageLimit,
      });
      if (page.length === 0) {
        if (repair) exchangeGaps += slotCount(start, b, iv);
        else endedAt = start - iv;
        break;
      }
      let expect = start;
      for (const r of page) {
        if (r.openTime > expect) exchangeGaps += (r.openTime - expect) / iv;
        expect = r.openTime + iv;
      }
      const newest = page[page.length - 1].openTime;
      if (page.length === pageLimit && newest < b) {
        await write(page.slice(0, -1));
        start = newest;
        continue;
      }
      const probe = await o.rest.klines({
        symbol: o.symbol,
        interval: o.interval,
        startTime: newest + 1,
        limit: 1,
      });
      if (probe.length > 0) {
        await write(page);
        if (newest < b) exchangeGaps += slotCount(newest + iv, Math.min(b, probe[0].openTime - iv), iv);
      } else {
        await write(page.slice(0, -1));
        endedAt = newest - iv;
      }
      break;
    }
    await writing;
  };

  for (const h of holes) {
    if (o.signal?.aborted) break;
    await fetchRange(h.from, h.to, true);
    holesRepaired++;
  }
  if (!o.signal?.aborted) await fetchRange(resumedFrom, to, false);

  const st = o.rest.stats();
  return {
    symbol: o.symbol,
    interval: o.interval,
    from,
    to,
    resumedFrom,
    holesRepaired,
    fetched,
    inserted,
    requests: st.requests - start0.requests,
    exchangeGaps,
    rateLimited: st.status429 - start0.status429,
    banned: st.status418 - start0.status418,
    waitedMs: st.governor.waitedMs - start0.governor.waitedMs,
    durationMs: Date.now() - t0,
    interrupted: Boolean(o.signal?.aborted),
    endedAt,
  };
}

export interface LoadSummary {
  series: { symbol: string; interval: string; rows: number; inserted: number; first: number; last: number }[];
  durationMs: number;
}

/** Loads klines files in the bundled format (a file, a <SYMBOL>/<interval> dir, or a tree of them). */
export async function loadKlineFiles(
  store: KlineStore,
  path: string,
  opts: { symbol?: string; interval?: string } = {},
): Promise<LoadSummary> {
  const t0 = Date.now();
  const series = loadKlines(path, opts);
  if (series.length === 0)
    throw new Error(
      `no klines files found under ${path} (expected <SYMBOL>/<interval>/*.json or a single .json file)`,
    );
  const out: LoadSummary["series"] = [];
  for (const s of series) {
    if (!intervalMs(s.interval))
      throw new Error(`${s.symbol}: interval folder '${s.interval}' is not a kline interval (1m, 1h, 1d, …)`);
    const rows = s.rows.map((r) => candleFromRow(r as unknown as RawKlineRow));
    const inserted = await store.insert(s.symbol, s.interval, rows);
    out.push({
      symbol: s.symbol,
      interval: s.interval,
      rows: rows.length,
      inserted,
      first: rows[0]?.openTime ?? 0,
      last: rows[rows.length - 1]?.openTime ?? 0,
    });
  }
  return { series: out, durationMs: Date.now() - t0 };
}

export interface BundledLoadResult {
  series: { symbol: string; interval: string; rows: number; inserted: number; skipped: boolean }[];
  durationMs: number;
  aborted: boolean;
}

/**
 * The bundled history, loaded once: a series whose range is already fully stored is skipped
 * after one count query, so later starts cost milliseconds.
 */
export async function ensureBundledHistory(
  store: KlineStore,
  opts: { symbols?: string[]; interval?: string; shouldStop?: () => boolean } = {},
): Promise<BundledLoadResult> {
  const t0 = Date.now();
  const interval = opts.interval ?? "1h";
  const out: BundledLoadResult["series"] = [];
  let aborted = false;
  for (const symbol of opts.symbols ?? ["BTCUSDT", "ETHUSDT"]) {
    if (opts.shouldStop?.()) {
      aborted = true;
      break;
    }
    const raw = bundledSeries(symbol, interval);
    if (raw.length === 0) continue;
    const have = await store.count(symbol, interval, raw[0][0], raw[raw.length - 1][0]);
    if (have >= raw.length) {
      out.push({ symbol, interval, rows: raw.length, inserted: 0, skipped: true });
      continue;
    }
    const rows = raw.map((r) => candleFromRow(r as unknown as RawKlineRow));
    let inserted = 0;
    for (let i = 0; i < rows.length; i += 5000) {
      if (opts.shouldStop?.()) {
        aborted = true;
        break;
      }
      inserted += await store.insert(symbol, interval, rows.slice(i, i + 5000));
    }
    out.push({ symbol, interval, rows: rows.length, inserted, skipped: false });
    if (aborted) break;
  }
  return { series: out, durationMs: Date.now() - t0, aborted };
}
