// CSV as RFC 4180 writes it (CRLF line ends, fields with a comma, quote or line break quoted, quotes
// doubled), plus spreadsheet-formula neutralisation: a cell a spreadsheet would evaluate (one that
// starts with =, +, -, @, a tab or a carriage return) gets a leading apostrophe. Numbers in AURA's
// exports are decimal strings and are written as stored; a negative amount such as "-1.5" is data,
// not a formula, and is left alone.
import { Readable } from "node:stream";

const FORMULA_START = /^[=+\-@\t\r]/;
const NUMBER = /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i;
const NEEDS_QUOTES = /[",\r\n]/;

export type CsvValue = string | number | null | undefined;

export function csvCell(v: CsvValue): string {
  if (v === null || v === undefined) return "";
  let s = typeof v === "number" ? String(v) : v;
  if (FORMULA_START.test(s) && !NUMBER.test(s)) s = `'${s}`;
  return NEEDS_QUOTES.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvLine(cells: readonly CsvValue[]): string {
  return cells.map(csvCell).join(",") + "\r\n";
}

/**
 * A CSV stream: the header row, then each row batch as it arrives. Batches are pulled only when the
 * reader wants more, so an export of any length holds one batch at a time.
 */
export function csvStream(
  header: readonly string[],
  batches: AsyncIterable<readonly CsvValue[][]>,
): Readable {
  async function* lines() {
    yield csvLine(header);
    for await (const batch of batches) {
      let chunk = "";
      for (const row of batch) chunk += csvLine(row);
      if (chunk) yield chunk;
    }
  }
  return Readable.from(lines(), { objectMode: false, highWaterMark: 64 * 1024 });
}
