// The browser session: the dashboard keeps its access token in memory and never sees the refresh
// token, which lives in an HttpOnly cookie that only the auth routes receive. A browser asks for
// this by sending `X-Aura-Session: cookie`; API clients that send no such header keep the JSON
// token pair exactly as before.
//
// CSRF: the cookie is SameSite=Strict, so no other site can make the browser send it; on top of
// that a cookie-mode request must carry the custom header (a cross-site form or a simple fetch
// cannot, and a cross-origin fetch that tries is stopped by CORS preflight unless the origin is
// in CORS_ORIGIN), and its Origin, when the browser sends one, must be this gateway's own origin
// or one listed in CORS_ORIGIN. Sec-Fetch-Site "cross-site" is refused outright.
import type { IncomingMessage } from "node:http";

export const SESSION_MODE_HEADER = "x-aura-session";
export const REFRESH_COOKIE = "aura_refresh";
/** the cookie goes to the auth routes only: login, refresh, logout, password, me */
export const REFRESH_COOKIE_PATH = "/api/v1/auth";

/** Whether the caller asked for the cookie-based browser session. */
export function wantsCookieSession(req: IncomingMessage): boolean {
  const v = req.headers[SESSION_MODE_HEADER];
  return typeof v === "string" && v.trim().toLowerCase() === "cookie";
}

/** The value of one cookie of the request, or undefined. */
export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (typeof header !== "string" || header.length > 8192) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(raw);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export interface CookieOptions {
  secure: boolean;
  maxAgeSec: number;
}

export function refreshCookie(token: string, o: CookieOptions): string {
  return [
    `${REFRESH_COOKIE}=${encodeURIComponent(token)}`,
    `Path=${REFRESH_COOKIE_PATH}`,
    `Max-Age=${Math.max(0, Math.floor(o.maxAgeSec))}`,
    "HttpOnly",
    "SameSite=Strict",
    ...(o.secure ? ["Secure"] : []),
  ].join("; ");
}

export function clearedRefreshCookie(secure: boolean): string {
  return [
    `${REFRESH_COOKIE}=`,
    `Path=${REFRESH_COOKIE_PATH}`,
    "Max-Age=0",
    "Expires=Thu, 01 Jan 1970 00:00:00 GMT",
    "HttpOnly",
    "SameSite=Strict",
    ...(secure ? ["Secure"] : []),
  ].join("; ");
}

/** The origin this request was addressed to, as a browser on it would name it. */
export function ownOrigin(req: IncomingMessage, o: { trustProxy: boolean }): string | undefined {
  const fwdHost = o.trustProxy ? firstHeader(req.headers["x-forwarded-host"]) : undefined;
  const host = fwdHost ?? firstHeader(req.headers.host);
  if (!host || !/^[A-Za-z0-9.[\]:-]{1,300}$/.test(host)) return undefined;
  const fwdProto = o.trustProxy ? firstHeader(req.headers["x-forwarded-proto"]) : undefined;
  const encrypted = (req.socket as { encrypted?: boolean } | undefined)?.encrypted === true;
  const proto = fwdProto === "https" || fwdProto === "http" ? fwdProto : encrypted ? "https" : "http";
  return `${proto}://${host.toLowerCase()}`;
}

function firstHeader(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return typeof s === "string" && s ? s.split(",")[0].trim() : undefined;
}

/**
 * Why a cookie-mode (or live-channel) request must be refused as cross-site, or undefined when
 * it may proceed. Requests without Origin and Sec-Fetch-Site (non-browser clients, which cannot
 * hold the victim's cookie) pass.
 */
export function crossSiteProblem(
  req: IncomingMessage,
  o: { allowedOrigins: readonly string[]; trustProxy: boolean },
): string | undefined {
  const site = firstHeader(req.headers["sec-fetch-site"]);
  if (site === "cross-site") return "cross-site request";
  const origin = firstHeader(req.headers.origin);
  if (origin === undefined) return undefined;
  const o2 = origin.toLowerCase();
  if (o2 === "null") return "opaque origin";
  if (o2 === ownOrigin(req, { trustProxy: o.trustProxy })) return undefined;
  if (o.allowedOrigins.some((a) => a.toLowerCase() === o2)) return undefined;
  return "origin not allowed";
}
