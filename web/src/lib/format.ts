// Numbers and times as the dashboard shows them. Prices and quantities arrive as the exchange's
// exact decimal strings ("23141.57000000"); they are rounded as decimals, not through floats, to
// the symbol's own precision (its tick size for prices, its lot step for quantities), so a price
// never shows digits the exchange cannot quote.

export type TimeZoneMode = "utc" | "local";

export interface SymbolPrecision {
  symbol: string;
  baseAsset?: string;
  quoteAsset?: string;
  tickSize?: string;
  stepSize?: string;
}

const DECIMAL_RE = /^(-)?(\d+)(?:\.(\d+))?$/;

/** Decimal places a step such as "0.01000000" allows (2); "1.00000000" → 0; fallback when absent. */
export function decimalsOf(step: string | undefined, fallback = 2): number {
  if (!step) return fallback;
  const m = DECIMAL_RE.exec(step.trim());
  if (!m) return fallback;
  const frac = (m[3] ?? "").replace(/0+$/, "");
  if (frac.length === 0) return 0;
  return frac.length;
}

/**
 * A decimal string or number rounded half away from zero to `decimals` places and grouped by
 * thousands: ("23141.575", 2) → "23,141.58". Strings are rounded exactly.
 */
export function formatDecimal(
  value: string | number | null | undefined,
  decimals: number,
  group = true,
): string {
  if (value === null || value === undefined || value === "") return "—";
  const s = typeof value === "number" ? numberToPlain(value) : value.trim();
  if (s === null) return "—";
  const m = DECIMAL_RE.exec(s);
  if (!m) return "—";
  const negative = m[1] === "-";
  const intPart = m[2];
  const frac = m[3] ?? "";
  const scale = 10n ** BigInt(decimals);
  // the digits as an integer number of 10^-decimals units, rounded half away from zero
  const kept = frac.slice(0, decimals).padEnd(decimals, "0");
  let units = BigInt(intPart) * scale + BigInt(kept || "0");
  const next = frac.charAt(decimals);
  if (next !== "" && next >= "5") units += 1n;
  const whole = units / scale;
  const rest = units % scale;
  let out = group ? groupThousands(whole.toString()) : whole.toString();
  if (decimals > 0) out += "." + rest.toString().padStart(decimals, "0");
  const isZero = units === 0n;
  return negative && !isZero ? `-${out}` : out;
}

function numberToPlain(n: number): string | null {
  if (!Number.isFinite(n)) return null;
  // toFixed(12) avoids exponent notation for the magnitudes shown here
  const s = Math.abs(n) >= 1e21 ? null : n.toFixed(12);
  return s;
}

function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

export function formatPrice(value: string | number | null | undefined, p?: SymbolPrecision): string {
  return formatDecimal(value, decimalsOf(p?.tickSize, 2));
}

export function formatQty(value: string | number | null | undefined, p?: SymbolPrecision): string {
  return formatDecimal(value, decimalsOf(p?.stepSize, 5));
}

/** An amount of a quote asset, 2 decimals: "1,234.50 USDT". */
export function formatMoney(value: number | string | null | undefined, asset = "USDT"): string {
  const s = formatDecimal(value, 2);
  return s === "—" ? s : `${s} ${asset}`;
}

/** A percentage: 1.234 → "+1.23 %", -0.5 → "−0.50 %" (no "+" when unsigned). */
export function formatPct(value: number | null | undefined, decimals = 2, signed = true): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  const s = formatDecimal(Math.abs(value), decimals);
  const zero = /^[0.,]+$/.test(s);
  const sign = zero ? "" : value < 0 ? "−" : signed ? "+" : "";
  return `${sign}${s} %`;
}

/** A ratio such as Sharpe or profit factor; null (undefined by definition) shows as "—". */
export function formatRatio(value: number | null | undefined, decimals = 2): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  const s = formatDecimal(Math.abs(value), decimals);
  return value < 0 && !/^[0.,]+$/.test(s) ? `−${s}` : s;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** "2024-01-02 13:00" in UTC or in the browser's zone; with the zone's name when asked. */
export function formatTime(
  ms: number | null | undefined,
  zone: TimeZoneMode,
  o: { seconds?: boolean; label?: boolean } = {},
): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  const d = new Date(ms);
  const utc = zone === "utc";
  const y = utc ? d.getUTCFullYear() : d.getFullYear();
  const mo = (utc ? d.getUTCMonth() : d.getMonth()) + 1;
  const day = utc ? d.getUTCDate() : d.getDate();
  const h = utc ? d.getUTCHours() : d.getHours();
  const mi = utc ? d.getUTCMinutes() : d.getMinutes();
  const sec = utc ? d.getUTCSeconds() : d.getSeconds();
  let out = `${y}-${pad(mo)}-${pad(day)} ${pad(h)}:${pad(mi)}`;
  if (o.seconds) out += `:${pad(sec)}`;
  if (o.label) out += utc ? " UTC" : ` ${localZoneName()}`;
  return out;
}

/** "2024-01-02" in the chosen zone. */
export function formatDate(ms: number, zone: TimeZoneMode): string {
  return formatTime(ms, zone).slice(0, 10);
}

export function localZoneName(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "local";
  } catch {
    return "local";
  }
}

/**
 * Seconds to add to a UTC timestamp so a chart that always draws UTC shows the browser's wall
 * clock instead (charting libraries draw UTC only).
 */
export function zoneShiftSec(ms: number, zone: TimeZoneMode): number {
  return zone === "utc" ? 0 : -new Date(ms).getTimezoneOffset() * 60;
}

/** 3 d 4 h, 5 h 12 min, 42 s. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return "—";
  const s = Math.round(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return h ? `${d} d ${h} h` : `${d} d`;
  if (h > 0) return m ? `${h} h ${m} min` : `${h} h`;
  if (m > 0) return `${m} min`;
  return `${s} s`;
}
