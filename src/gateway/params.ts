// Shared fastest-validator schemas for values that arrive over HTTP, so every service refuses an
// out-of-range value with 400 VALIDATION_ERROR instead of passing it on to code that cannot handle
// it: an id past PostgreSQL's bigint, an epoch that `new Date(x).toISOString()` throws on, a date
// like 2024-02-30 that `Date.parse` silently rolls over to March 1st.
//
//   idParam()                 positive integer ≤ Number.MAX_SAFE_INTEGER; a number, or a string of
//                             digits only (path and query values are strings) → number
//   epochOrIsoTimeParam(n)    epoch milliseconds (number or digits) or an ISO date / date-time
//                             (UTC when no zone is given), a real calendar date in 1970..2100
//                             → epoch ms (number)
//   utcDateParam(n)           "YYYY-MM-DD", a real calendar date in 1970..2100 → the same string
//   isoTimestampParam(n)      an ISO date-time for keyset cursors, a real calendar date in
//                             1970..2100 → canonical UTC "YYYY-MM-DDTHH:MM:SS.fff[fff]Z"
//   boundedString(max)        a string of at most `max` characters without control characters
//
// Each takes `{ optional: true }`. fastest-validator lets `null` through an optional field just
// like a missing one, so handlers should read optional values as `value ?? undefined`.

/** The earliest instant accepted: 1970-01-01T00:00:00.000Z. */
export const MIN_TIME_MS = 0;
/** The latest instant accepted: 2100-12-31T23:59:59.999Z. */
export const MAX_TIME_MS = Date.UTC(2101, 0, 1) - 1;

const MIN_YEAR = 1970;
const MAX_YEAR = 2100;

interface FieldOptions {
  optional?: boolean;
}

type CustomErrors = { type: string; actual: unknown }[];

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function realDate(year: number, month: number, day: number): boolean {
  return (
    year >= MIN_YEAR &&
    year <= MAX_YEAR &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth(year, month)
  );
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME_RE =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?$/;

export interface ParsedInstant {
  /** epoch milliseconds */
  ms: number;
  /** digits of the fraction beyond milliseconds ("" when none), kept for microsecond cursors */
  subMs: string;
}

/**
 * Parses an ISO 8601 date ("YYYY-MM-DD", midnight UTC) or date-time ("YYYY-MM-DDTHH:MM[:SS[.f…]]",
 * "T" or a space between date and time, with "Z", "±HH:MM", "±HHMM" or no zone, meaning UTC). Refuses impossible calendar values (2023-02-29,
 * 24:00, a 61st second) instead of rolling them over, and anything outside 1970..2100.
 */
export function parseIsoInstant(
  raw: string,
  opts: { requireTime?: boolean } = {},
): ParsedInstant | undefined {
  const v = raw.trim();
  if (v.length > 40) return undefined;
  const d = DATE_RE.exec(v);
  if (d) {
    if (opts.requireTime) return undefined;
    const [y, m, day] = [Number(d[1]), Number(d[2]), Number(d[3])];
    if (!realDate(y, m, day)) return undefined;
    return { ms: Date.UTC(y, m - 1, day), subMs: "" };
  }
  const t = DATE_TIME_RE.exec(v);
  if (!t) return undefined;
  const [y, m, day, hh, mm] = [Number(t[1]), Number(t[2]), Number(t[3]), Number(t[4]), Number(t[5])];
  const ss = t[6] === undefined ? 0 : Number(t[6]);
  const frac = t[7] ?? "";
  if (!realDate(y, m, day) || hh > 23 || mm > 59 || ss > 59) return undefined;
  let offsetMin = 0;
  const zone = t[8];
  if (zone && zone !== "Z") {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(-2));
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (zone[0] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  const ms =
    Date.UTC(y, m - 1, day, hh, mm, ss, Number(frac.slice(0, 3).padEnd(3, "0"))) - offsetMin * 60_000;
  if (ms < MIN_TIME_MS || ms > MAX_TIME_MS) return undefined;
  return { ms, subMs: frac.slice(3, 6) };
}

/** Epoch ms (number or a string of digits) or an ISO date / date-time; undefined when invalid. */
export function parseEpochOrIso(value: unknown): number | undefined {
  if (typeof value === "number")
    return Number.isSafeInteger(value) && value >= MIN_TIME_MS && value <= MAX_TIME_MS ? value : undefined;
  if (typeof value !== "string") return undefined;
  const v = value.trim();
  if (/^\d{1,16}$/.test(v)) {
    const n = Number(v);
    return n >= MIN_TIME_MS && n <= MAX_TIME_MS ? n : undefined;
  }
  return parseIsoInstant(v)?.ms;
}

/** "YYYY-MM-DD" naming a real calendar day in 1970..2100. */
export function isUtcDate(value: unknown): value is string {
  if (typeof value !== "string") return false;
  const d = DATE_RE.exec(value);
  return !!d && realDate(Number(d[1]), Number(d[2]), Number(d[3]));
}

/** A custom fastest-validator rule: `parse` returns the converted value or undefined to refuse. */
function customRule(
  errorType: string,
  message: string,
  parse: (value: unknown) => unknown,
  opts: FieldOptions,
): Record<string, unknown> {
  return {
    type: "custom",
    ...(opts.optional ? { optional: true } : {}),
    messages: { [errorType]: message },
    check(value: unknown, errors: CustomErrors) {
      const out = parse(value);
      if (out === undefined) {
        errors.push({ type: errorType, actual: typeof value === "string" ? value.slice(0, 100) : value });
        return value;
      }
      return out;
    },
  };
}

/** A positive integer id (database bigint ids, served as numbers). */
export function idParam(name = "id", opts: FieldOptions = {}) {
  return customRule(
    "id",
    `'${name}' must be a positive whole number (an id) of at most ${Number.MAX_SAFE_INTEGER}.`,
    (value) => {
      const n =
        typeof value === "number"
          ? value
          : typeof value === "string" && /^\d{1,16}$/.test(value)
            ? +value
            : NaN;
      return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
    },
    opts,
  );
}

/** Epoch ms or an ISO date / date-time → epoch ms. */
export function epochOrIsoTimeParam(name: string, opts: FieldOptions = {}) {
  return customRule(
    "timestamp",
    `'${name}' must be epoch milliseconds or an ISO date such as 2023-01-01 or 2023-01-01T12:00:00Z, ` +
      `a real calendar date between 1970 and 2100.`,
    parseEpochOrIso,
    opts,
  );
}

/** A UTC calendar day "YYYY-MM-DD" → the same string. */
export function utcDateParam(name: string, opts: FieldOptions = {}) {
  return customRule(
    "utcDate",
    `'${name}' must be a date written YYYY-MM-DD, a real calendar date between 1970 and 2100.`,
    (value) => (isUtcDate(value) ? value : undefined),
    opts,
  );
}

/** An ISO date-time (keyset cursor) → canonical UTC ISO string, microseconds kept. */
export function isoTimestampParam(name: string, opts: FieldOptions = {}) {
  return customRule(
    "isoTimestamp",
    `'${name}' must be an ISO date-time such as 2024-01-31T12:00:00.000Z, between 1970 and 2100.`,
    (value) => {
      if (typeof value !== "string") return undefined;
      const p = parseIsoInstant(value, { requireTime: true });
      if (!p) return undefined;
      const iso = new Date(p.ms).toISOString();
      return p.subMs ? `${iso.slice(0, 23)}${p.subMs}Z` : iso;
    },
    opts,
  );
}

const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
const CONTROL_CHARS_EXCEPT_WHITESPACE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/**
 * A string of `min`..`max` characters (trimmed first unless `trim: false`) without control
 * characters; `multiline` allows tab, CR and LF.
 */
export function boundedString(
  max: number,
  opts: FieldOptions & { min?: number; trim?: boolean; multiline?: boolean; pattern?: RegExp } = {},
) {
  const forbidden = opts.multiline ? CONTROL_CHARS_EXCEPT_WHITESPACE : CONTROL_CHARS;
  return {
    type: "string",
    min: opts.min ?? 1,
    max,
    ...(opts.trim === false ? {} : { trim: true }),
    ...(opts.optional ? { optional: true } : {}),
    ...(opts.pattern ? { pattern: opts.pattern } : {}),
    messages: { controlCharacters: "Control characters are not allowed here." },
    custom(value: unknown, errors: CustomErrors) {
      if (typeof value === "string" && forbidden.test(value))
        errors.push({ type: "controlCharacters", actual: undefined });
      return value;
    },
  };
}
