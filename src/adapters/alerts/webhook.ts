// Alert webhooks: a user's URL receives each alert as a JSON body signed with HMAC-SHA256.
// The URL is checked when it is saved and again before every delivery: its host is resolved and
// every address must be a public unicast one (no loopback, private, link-local, CGNAT, multicast,
// documentation or reserved range, in IPv4 or IPv6, mapped forms included); the request then
// connects to the address that was checked, so a DNS answer that changes in between cannot point
// it inside the network. Redirects are not followed.
import crypto from "node:crypto";
import dns from "node:dns";
import http from "node:http";
import https from "node:https";
import net from "node:net";

const BLOCKED = new net.BlockList();
for (const [a, bits] of [
  ["0.0.0.0", 8], // "this network"
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local, cloud metadata
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.88.99.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
] as const)
  BLOCKED.addSubnet(a, bits, "ipv4");
for (const [a, bits] of [
  ["::", 128],
  ["::1", 128],
  ["64:ff9b::", 96], // NAT64
  ["64:ff9b:1::", 48],
  ["100::", 64],
  ["2001::", 23], // IETF protocol assignments (Teredo, ORCHID, …)
  ["2001:db8::", 32],
  ["2002::", 16], // 6to4 carries any IPv4 address inside
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
  ["fec0::", 10], // site-local
  ["ff00::", 8], // multicast
] as const)
  BLOCKED.addSubnet(a, bits, "ipv6");

export class WebhookUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookUrlError";
  }
}

/** Whether an IP address may receive webhooks (public unicast). */
export function isPublicAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return !BLOCKED.check(address, "ipv4");
  if (family === 6) {
    // an IPv4-mapped address (::ffff:a.b.c.d, also written in hex) is checked as the IPv4 address
    // it maps to: BlockList compares IPv4 rules with mapped IPv6 addresses itself
    return !BLOCKED.check(address, "ipv6");
  }
  return false;
}

export type Resolver = (host: string) => Promise<{ address: string; family: number }[]>;

const systemResolver: Resolver = (host) => dns.promises.lookup(host, { all: true, verbatim: true });

export interface CheckedUrl {
  url: URL;
  /** the addresses the host resolved to, all public */
  addresses: { address: string; family: number }[];
}

/** Parses and checks a webhook URL; throws WebhookUrlError with a message for the user. */
export async function checkWebhookUrl(
  raw: string,
  opts: { resolve?: Resolver; timeoutMs?: number; allowPrivate?: boolean } = {},
): Promise<CheckedUrl> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WebhookUrlError("'url' must be an absolute http:// or https:// URL.");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new WebhookUrlError("'url' must be an http:// or https:// URL.");
  if (url.username || url.password)
    throw new WebhookUrlError("'url' must not contain a user name or password; use the signing secret.");
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (!host) throw new WebhookUrlError("'url' must name a host.");
  let addresses: { address: string; family: number }[];
  if (net.isIP(host)) addresses = [{ address: host, family: net.isIP(host) }];
  else {
    if (/^localhost$|\.localhost$|\.local$|\.internal$/i.test(host))
      throw new WebhookUrlError("'url' must point to a public host, not a local or internal name.");
    const timeoutMs = opts.timeoutMs ?? 3000;
    let timer: NodeJS.Timeout | undefined;
    try {
      addresses = await Promise.race([
        (opts.resolve ?? systemResolver)(host),
        new Promise<never>((_, rej) => {
          timer = setTimeout(() => rej(new Error("timeout")), timeoutMs);
        }),
      ]);
    } catch {
      throw new WebhookUrlError(`The host of 'url' (${host}) could not be resolved.`);
    } finally {
      clearTimeout(timer);
    }
    if (!addresses.length) throw new WebhookUrlError(`The host of 'url' (${host}) could not be resolved.`);
  }
  if (!opts.allowPrivate) {
    // the addresses are not named: the answer would map internal host names for whoever asks
    if (addresses.some((a) => !isPublicAddress(a.address)))
      throw new WebhookUrlError(
        "'url' is or resolves to an address that is not public; webhooks are never sent to loopback, " +
          "private, link-local or reserved addresses.",
      );
  }
  return { url, addresses };
}

/** `sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<body>"): what X-Aura-Signature carries. */
export function signature(secret: string, timestamp: number, body: string): string {
  return `sha256=${crypto.createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

export interface DeliveryResult {
  ok: boolean;
  status?: number;
  error?: string;
}

/** One POST of `body` to the checked URL, connecting to the checked address only. */
export function post(
  target: CheckedUrl,
  body: string,
  headers: Record<string, string>,
  timeoutMs = 5000,
): Promise<DeliveryResult> {
  const { url, addresses } = target;
  const pinned = addresses[0];
  const lib = url.protocol === "https:" ? https : http;
  return new Promise((resolve) => {
    const req = lib.request(
      url,
      {
        method: "POST",
        headers: { ...headers, "Content-Length": String(Buffer.byteLength(body)) },
        timeout: timeoutMs,
        // the socket goes to the address that was checked, whatever DNS says now
        lookup: (_host, options, cb) => {
          const all = (options as { all?: boolean }).all;
          if (all)
            (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [pinned]);
          else cb(null, pinned.address, pinned.family);
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          resolve(
            status >= 200 && status < 300
              ? { ok: true, status }
              : { ok: false, status, error: `HTTP ${status}` },
          );
        });
        res.on("error", () => resolve({ ok: false, error: "the response was cut short" }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", (e) => resolve({ ok: false, error: e.message.slice(0, 200) }));
    req.end(body);
  });
}
