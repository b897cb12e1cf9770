// Reads klines files in the bundled format: JSON arrays of `GET /api/v3/klines` rows, either one
// file or a directory tree laid out as <SYMBOL>/<interval>/<YYYY-MM-01>.json.
import fs from "node:fs";
import path from "node:path";
import type { RawKlineRow } from "../../core/market/events";

/** One row exactly as Binance's `GET /api/v3/klines` returns it (the type lives in the core). */
export type KlineRow = RawKlineRow;

export interface KlineSeries {
  symbol: string;
  interval: string;
  rows: KlineRow[];
}

/** The klines shipped with AURA (2023–2024 BTCUSDT/ETHUSDT 1h). */
export function bundledKlinesDir(): string {
  return path.resolve(__dirname, "../../../data/klines");
}

function isRow(r: unknown): r is KlineRow {
  return (
    Array.isArray(r) &&
    r.length >= 11 &&
    typeof r[0] === "number" &&
    typeof r[1] === "string" &&
    typeof r[4] === "string" &&
    typeof r[6] === "number"
  );
}

export function readKlineFile(file: string): KlineRow[] {
  const data: unknown = JSON.parse(fs.readFileSync(file, "utf8"));
  if (!Array.isArray(data)) throw new Error(`${file}: expected a JSON array of kline rows`);
  data.forEach((r, i) => {
    if (!isRow(r))
      throw new Error(
        `${file}: row ${i} is not a Binance kline row [openTime, open, high, low, close, volume, closeTime, ...]`,
      );
  });
  return data as KlineRow[];
}

/**
 * Loads every series under `root` (a directory laid out <SYMBOL>/<interval>/*.json, or a single
 * <SYMBOL>/<interval> directory, or one file whose symbol/interval come from its parent folders
 * or from the options). Rows are sorted by open time and de-duplicated.
 */
export function loadKlines(root: string, opts: { symbol?: string; interval?: string } = {}): KlineSeries[] {
  const abs = path.resolve(root);
  const st = fs.statSync(abs);
  const out = new Map<string, KlineSeries>();
  const add = (symbol: string, interval: string, rows: KlineRow[]) => {
    const key = `${symbol}/${interval}`;
    const s = out.get(key) ?? { symbol, interval, rows: [] };
    s.rows.push(...rows);
    out.set(key, s);
  };
  if (st.isFile()) {
    const interval = opts.interval ?? path.basename(path.dirname(abs));
    const symbol = opts.symbol ?? path.basename(path.dirname(path.dirname(abs)));
    add(symbol.toUpperCase(), interval, readKlineFile(abs));
  } else {
    const jsonFiles = (dir: string) =>
      fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(".json"))
        .sort()
        .map((f) => path.join(dir, f));
    const direct = jsonFiles(abs);
    if (direct.length > 0) {
      const interval = opts.interval ?? path.basename(abs);
      const symbol = opts.symbol ?? path.basename(path.dirname(abs));
      for (const f of direct) add(symbol.toUpperCase(), interval, readKlineFile(f));
    } else {
      for (const sym of fs.readdirSync(abs).sort()) {
        const symDir = path.join(abs, sym);
        if (!fs.statSync(symDir).isDirectory()) continue;
        if (opts.symbol && sym.toUpperCase() !== opts.symbol.toUpperCase()) continue;
        for (const iv of fs.readdirSync(symDir).sort()) {
          const ivDir = path.join(symDir, iv);
          if (!fs.statSync(ivDir).isDirectory()) continue;
          if (opts.interval && iv !== opts.interval) continue;
          for (const f of jsonFiles(ivDir)) add(sym.toUpperCase(), iv, readKlineFile(f));
        }
      }
    }
  }
  for (const s of out.values()) {
    s.rows.sort((a, b) => a[0] - b[0]);
    s.rows = s.rows.filter((r, i, arr) => i === 0 || r[0] !== arr[i - 1][0]);
  }
  return [...out.values()];
}

/** Memoised bundled series, e.g. bundledSeries("BTCUSDT", "1h"). */
const cache = new Map<string, KlineRow[]>();
export function bundledSeries(symbol: string, interval = "1h"): KlineRow[] {
  const key = `${symbol}/${interval}`;
  let rows = cache.get(key);
  if (!rows) {
    const dir = path.join(bundledKlinesDir(), symbol, interval);
    rows = fs.existsSync(dir) ? (loadKlines(dir, { symbol, interval })[0]?.rows ?? []) : [];
    cache.set(key, rows);
  }
  return rows;
}
