// Device tokens: what a client that has logged in successfully before presents so that a stranger
// guessing passwords for the same account cannot lock it out. A token is
//   adt1.<device id>.<expiry, epoch seconds>.<HMAC-SHA256>
// signed with a key derived from JWT_SECRET (HKDF, its own label, so it can never verify as an
// access token or the other way round) over the device id, the expiry and the normalised email.
// The email is bound by the MAC but not written into the token, and nothing in it is secret: it
// proves "this client logged in to this account before", not who anyone is, and it grants nothing
// without the right password. The device id keys that client's own failure counter.
import crypto from "node:crypto";

export const DEVICE_TOKEN_TTL_SEC = 90 * 24 * 3600;

const PREFIX = "adt1";
const TOKEN_RE = /^adt1\.([A-Za-z0-9_-]{22})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$/;

/** The HMAC key for device tokens, derived from the access-token secret. */
export function deviceTokenKey(jwtSecret: Buffer): Buffer {
  return Buffer.from(crypto.hkdfSync("sha256", jwtSecret, "aura", "aura device token v1", 32));
}

function mac(key: Buffer, deviceId: string, exp: number, email: string): string {
  return crypto.createHmac("sha256", key).update(`${PREFIX}|${deviceId}|${exp}|${email}`).digest("base64url");
}

export interface DeviceToken {
  token: string;
  deviceId: string;
  /** epoch seconds */
  expiresAt: number;
}

/**
 * A device token for `email` (already normalised). Pass the id of a token the client presented to
 * keep its failure counter; otherwise a new random id is made.
 */
export function issueDeviceToken(
  key: Buffer,
  email: string,
  opts: { deviceId?: string; ttlSec?: number; nowSec?: number } = {},
): DeviceToken {
  const deviceId = opts.deviceId ?? crypto.randomBytes(16).toString("base64url");
  const expiresAt = (opts.nowSec ?? Math.floor(Date.now() / 1000)) + (opts.ttlSec ?? DEVICE_TOKEN_TTL_SEC);
  return {
    token: `${PREFIX}.${deviceId}.${expiresAt}.${mac(key, deviceId, expiresAt, email)}`,
    deviceId,
    expiresAt,
  };
}

/**
 * The device id of a token that is well formed, unexpired and was issued for `email` (normalised);
 * undefined for anything else. A bad token is not an error: the login just goes on without it.
 */
export function verifyDeviceToken(
  key: Buffer,
  token: unknown,
  email: string,
  nowSec: number = Math.floor(Date.now() / 1000),
): { deviceId: string; expiresAt: number } | undefined {
  if (typeof token !== "string") return undefined;
  const m = TOKEN_RE.exec(token);
  if (!m) return undefined;
  const [, deviceId, expRaw, given] = m;
  const exp = Number(expRaw);
  if (!Number.isSafeInteger(exp) || exp <= nowSec) return undefined;
  const expected = Buffer.from(mac(key, deviceId, exp, email));
  const actual = Buffer.from(given);
  if (expected.length !== actual.length || !crypto.timingSafeEqual(expected, actual)) return undefined;
  return { deviceId, expiresAt: exp };
}
