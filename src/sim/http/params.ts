// Request parameters as Binance reads them: from the query string and/or a form body (the query
// wins on a clash), with Binance's syntax errors (-1100, -1101, -1102, -1111, -1130).
import { Decimal } from "../../core/money/decimal";
import { BinanceError, err } from "../binance/errors";

const DECIMAL_RE = /^([0-9]{1,20})(\.[0-9]{1,20})?$/;
const DECIMAL_RANGE = "^([0-9]{1,20})(\\.[0-9]{1,20})?$";
const INT_RE = /^-?[0-9]{1,20}$/;
const INT_RANGE = "^[0-9]{1,20}$";
const MAX_DECIMALS = 8;

function parsePairs(raw: string, into: Map<string, string>): void {
  if (raw.length === 0) return;
  const seen = new Set<string>();
  for (const [k, v] of new URLSearchParams(raw)) {
    if (seen.has(k)) throw new BinanceError(-1101, "Duplicate values for a parameter detected.");
    seen.add(k);
    into.set(k, v);
  }
}

export class Params {
  private readonly map: Map<string, string>;

  constructor(map: Map<string, string>) {
    this.map = map;
  }

  static fromRaw(rawQuery: string, rawBody: string): Params {
    const body = new Map<string, string>();
    parsePairs(rawBody, body);
    const query = new Map<string, string>();
    parsePairs(rawQuery, query);
    for (const [k, v] of query) body.set(k, v);
    return new Params(body);
  }

  static fromObject(o: Record<string, unknown>): Params {
    const m = new Map<string, string>();
    for (const [k, v] of Object.entries(o))
      if (v !== undefined && v !== null) m.set(k, typeof v === "object" ? JSON.stringify(v) : String(v));
    return new Params(m);
  }

  has(name: string): boolean {
    const v = this.map.get(name);
    return v !== undefined && v !== "";
  }

  str(name: string): string | undefined {
    const v = this.map.get(name);
    return v === undefined || v === "" ? undefined : v;
  }

  req(name: string): string {
    const v = this.str(name);
    if (v === undefined) throw err.mandatory(name);
    return v;
  }

  decimal(name: string): Decimal | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    if (!DECIMAL_RE.test(v)) throw err.illegalChars(name, DECIMAL_RANGE);
    const d = Decimal.parse(v);
    if (d.decimalPlaces() > MAX_DECIMALS) throw err.precision(name);
    return d;
  }

  reqDecimal(name: string): Decimal {
    const d = this.decimal(name);
    if (d === undefined) throw err.mandatory(name);
    return d;
  }

  int(name: string): number | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    if (!INT_RE.test(v)) throw err.illegalChars(name, INT_RANGE);
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw err.invalidParam(name);
    return n;
  }

  /** A time in ms; values in µs (16 digits) are converted. */
  time(name: string): number | undefined {
    const n = this.int(name);
    if (n === undefined) return undefined;
    return n >= 1e14 ? Math.floor(n / 1000) : n;
  }

  /** `limit`-style parameter: default when absent, capped at `max`, -1130 when not positive. */
  limit(name: string, def: number, max: number): number {
    const n = this.int(name);
    if (n === undefined) return def;
    if (n <= 0) throw err.invalidParam(name);
    return Math.min(n, max);
  }

  bool(name: string): boolean | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    const l = v.toLowerCase();
    if (l === "true") return true;
    if (l === "false") return false;
    throw err.invalidParam(name);
  }

  oneOf<T extends string>(
    name: string,
    values: readonly T[],
    onBad: () => BinanceError = () => err.invalidParam(name),
  ): T | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    if (!(values as readonly string[]).includes(v)) throw onBad();
    return v as T;
  }

  /** A JSON array of strings, e.g. symbols=["BTCUSDT","ETHUSDT"]. */
  stringArray(name: string): string[] | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch {
      throw new BinanceError(
        -1100,
        `Illegal characters found in parameter '${name}'; legal range is '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'.`,
      );
    }
    if (!Array.isArray(parsed) || parsed.some((x) => typeof x !== "string")) throw err.invalidParam(name);
    return parsed as string[];
  }
}
