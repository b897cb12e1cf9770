// Which symbols the simulator replays: the bundled history (BTCUSDT/ETHUSDT 1h) plus any klines
// loaded at start, each with its filters from the shared symbol table.
import { bundledSeries, loadKlines, type KlineRow, type KlineSeries } from "../../adapters/klines/files";
import { defaultSpecFor, intervalMs, symbolSpec, type SymbolSpec } from "../../core/market/symbols";
import { makeSeries, type MarketSeries } from "../replay/series";

const QUOTES = [
  "FDUSD",
  "USDT",
  "USDC",
  "BUSD",
  "TUSD",
  "DAI",
  "EUR",
  "TRY",
  "BRL",
  "GBP",
  "JPY",
  "BTC",
  "ETH",
  "BNB",
];

/** Splits an exchange symbol into base and quote asset by its quote suffix. */
export function splitSymbol(symbol: string): { base: string; quote: string } {
  for (const q of QUOTES)
    if (symbol.endsWith(q) && symbol.length > q.length) return { base: symbol.slice(0, -q.length), quote: q };
  throw new Error(
    `cannot tell the quote asset of ${symbol}; name it <BASE><QUOTE> with a known quote (${QUOTES.join(", ")})`,
  );
}

export function specFor(symbol: string): SymbolSpec {
  const known = symbolSpec(symbol);
  if (known) return known;
  const { base, quote } = splitSymbol(symbol);
  return defaultSpecFor(symbol, base, quote);
}

export interface DataOptions {
  /** Bundled symbols to replay (default BTCUSDT and ETHUSDT). */
  symbols?: string[];
  /** Bundled interval (default "1h"). */
  interval?: string;
  /** Extra klines files or directories (same row format), loaded at start. */
  klines?: string[];
  /** In-memory series, e.g. from tests. */
  series?: KlineSeries[];
}

export interface LoadedSymbol {
  series: MarketSeries;
  spec: SymbolSpec;
}

/** Loads every series; a later source replaces an earlier one for the same symbol, and per symbol the finest interval is replayed. */
export function loadMarketData(opts: DataOptions): LoadedSymbol[] {
  const interval = opts.interval ?? "1h";
  const bySymbol = new Map<string, { interval: string; rows: readonly KlineRow[] }>();
  const offer = (symbol: string, iv: string, rows: readonly KlineRow[], replace: boolean) => {
    if (rows.length === 0) return;
    if (intervalMs(iv) === undefined)
      throw new Error(`${symbol}: klines interval '${iv}' is not supported (use one of 1s..1w)`);
    const cur = bySymbol.get(symbol);
    if (!cur || replace || intervalMs(iv)! < intervalMs(cur.interval)!)
      bySymbol.set(symbol, { interval: iv, rows });
  };
  for (const s of opts.symbols ?? ["BTCUSDT", "ETHUSDT"]) {
    const rows = bundledSeries(s, interval);
    if (rows.length === 0) throw new Error(`no bundled klines for ${s} ${interval}`);
    offer(s, interval, rows, true);
  }
  const loaded = new Set<string>();
  const fromSource = (series: KlineSeries[]) => {
    for (const ser of series) {
      const sym = ser.symbol.toUpperCase();
      offer(sym, ser.interval, ser.rows, !loaded.has(sym));
      loaded.add(sym);
    }
  };
  for (const path of opts.klines ?? []) fromSource(loadKlines(path));
  if (opts.series) fromSource(opts.series);
  const out: LoadedSymbol[] = [];
  for (const sym of [...bySymbol.keys()].sort()) {
    const { interval: iv, rows } = bySymbol.get(sym)!;
    out.push({ series: makeSeries(sym, iv, rows), spec: specFor(sym) });
  }
  if (out.length === 0) throw new Error("the simulator needs at least one symbol with klines");
  return out;
}
