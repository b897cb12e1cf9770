// Request signatures. REST: HMAC-SHA256 over the raw query string followed directly by the raw
// body, with the `signature` pair removed, verified against the bytes as received. WebSocket API:
// the params sorted by name, joined `k=v&…` with raw values. Both: docs/exchange-contract.md, Signing.
import crypto from "node:crypto";

export function hmacHex(secret: string, payload: string | Buffer): string {
  return crypto.createHmac("sha256", secret).update(payload).digest("hex");
}

/** Removes every `signature=…` pair from a raw `a=1&b=2` string, leaving the other bytes untouched. */
export function stripSignature(raw: string): string {
  if (!raw.includes("signature=")) return raw;
  return raw
    .split("&")
    .filter((pair) => !pair.startsWith("signature="))
    .join("&");
}

/** The REST signature payload: raw query (no `?`) + raw body, both without the signature pair. */
export function restPayload(rawQuery: string, rawBody: string): Buffer {
  return Buffer.concat([
    Buffer.from(stripSignature(rawQuery), "latin1"),
    Buffer.from(stripSignature(rawBody), "latin1"),
  ]);
}

/** Constant-time, case-insensitive comparison of two hex signatures. */
export function signaturesMatch(expectedHex: string, given: string): boolean {
  const a = Buffer.from(expectedHex.toLowerCase(), "latin1");
  const b = Buffer.from(given.toLowerCase(), "latin1");
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

/** The WebSocket-API signature payload: every param but `signature`, sorted by name, raw values. */
export function wsApiPayload(params: Record<string, unknown>): string {
  return Object.keys(params)
    .filter((k) => k !== "signature")
    .sort()
    .map((k) => `${k}=${wsValue(params[k])}`)
    .join("&");
}

function wsValue(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}
