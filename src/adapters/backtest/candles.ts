// Candle loading for backtests: Binance kline rows (decimal strings) from the bundled history or
// a user's directory/file, converted once into the engine's column store.
import fs from "node:fs";
import { bundledKlinesDir, type KlineRow, loadKlines } from "../klines/files";
import { allocateColumns, type CandleColumns } from "../../core/model/candle";

export function rowsToColumns(rows: readonly KlineRow[]): CandleColumns {
  const c = allocateColumns(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    c.openTime[i] = r[0];
    c.open[i] = Number(r[1]);
    c.high[i] = Number(r[2]);
    c.low[i] = Number(r[3]);
    c.close[i] = Number(r[4]);
    c.volume[i] = Number(r[5]);
    c.closeTime[i] = r[6];
  }
  return c;
}

export interface CandleSource {
  readonly symbol: string;
  readonly interval: string;
  /** A klines directory (<SYMBOL>/<interval>/*.json, or one such leaf) or a single file; default: bundled. */
  readonly data?: string;
}

export class CandleLoadError extends Error {}

/** Loads the series for symbol/interval; throws CandleLoadError with a readable message when absent. */
export function loadCandles(src: CandleSource): CandleColumns {
  const root = src.data ?? bundledKlinesDir();
  if (!fs.existsSync(root)) throw new CandleLoadError(`no such file or directory: ${root}`);
  let series;
  try {
    // A single file carries no symbol or interval of its own: it is taken as the requested series.
    series = loadKlines(root, { symbol: src.symbol, interval: src.interval });
  } catch (err) {
    throw new CandleLoadError(`cannot read klines from ${root}: ${(err as Error).message}`);
  }
  const s = series.find((x) => x.symbol === src.symbol.toUpperCase() && x.interval === src.interval);
  if (!s || s.rows.length === 0) {
    throw new CandleLoadError(`no ${src.symbol} ${src.interval} klines in ${root}`);
  }
  return rowsToColumns(s.rows);
}
