// The client address used for rate limits and the audit log. X-Forwarded-For is attacker
// controlled unless a proxy we trust appended to it, so only the entry added by the outermost of
// TRUST_PROXY_HOPS trusted proxies counts; with no trusted proxy the socket peer is used.
import type { IncomingMessage } from "node:http";

export function clientIp(req: IncomingMessage, hops: number): string {
  const fwd = req.headers["x-forwarded-for"];
  if (hops > 0 && typeof fwd === "string") {
    const parts = fwd
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    const idx = parts.length - hops;
    if (idx >= 0 && parts[idx]) return parts[idx].slice(0, 64);
  }
  return req.socket?.remoteAddress ?? "unknown";
}
