// Access tokens (JWT, HS256 only, short-lived) and refresh tokens (opaque, random, stored as a
// SHA-256 hash). Verification pins the algorithm, issuer and audience, requires every claim we
// issue, and refuses headers that try to choose a key (kid other than ours, jku, jwk, x5u, x5c).
import crypto from "node:crypto";
import jwt from "jsonwebtoken";

export const ISSUER = "aura";
export const AUDIENCE = "aura-api";
export const ALGORITHM = "HS256" as const;
/** upper bound on access-token lifetime, seconds */
export const MAX_ACCESS_TTL_SEC = 900;
export const CLOCK_TOLERANCE_SEC = 5;

export interface AccessClaims {
  sub: string;
  role: "user" | "admin";
  /** session = refresh-token family; revoking the family revokes the session's access tokens */
  sid: string;
  typ: "access";
  jti: string;
  iat: number;
  exp: number;
  iss: string;
  aud: string;
}

export class TokenError extends Error {
  constructor(readonly reason: string) {
    super(`invalid access token: ${reason}`);
    this.name = "TokenError";
  }
}

export function tokenKeyId(secret: Buffer): string {
  return (
    "hs-" +
    crypto.createHash("sha256").update("aura jwt key id v1\u0000").update(secret).digest("hex").slice(0, 12)
  );
}

interface PreparedKey {
  key: crypto.KeyObject;
  kid: string;
}
const prepared = new WeakMap<Buffer, PreparedKey>();

/**
 * The secret as a KeyObject (and its kid), made once per secret. Given a raw Buffer, jsonwebtoken
 * first tries to parse it as a public key and catches the failure, which costs ~0.5 ms per verify;
 * a KeyObject costs ~13 µs.
 */
function keyFor(secret: Buffer): PreparedKey {
  let p = prepared.get(secret);
  if (!p) {
    p = { key: crypto.createSecretKey(secret), kid: tokenKeyId(secret) };
    prepared.set(secret, p);
  }
  return p;
}

export function signAccessToken(
  secret: Buffer,
  claims: { userId: string | number; role: "user" | "admin"; sid: string },
  ttlSec: number = MAX_ACCESS_TTL_SEC,
): { token: string; jti: string; expiresIn: number } {
  const ttl = Math.min(ttlSec, MAX_ACCESS_TTL_SEC);
  const jti = crypto.randomUUID();
  const { key, kid } = keyFor(secret);
  const token = jwt.sign({ role: claims.role, sid: claims.sid, typ: "access" }, key, {
    algorithm: ALGORITHM,
    expiresIn: ttl,
    issuer: ISSUER,
    audience: AUDIENCE,
    subject: String(claims.userId),
    jwtid: jti,
    keyid: kid,
  });
  return { token, jti, expiresIn: ttl };
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ALLOWED_HEADER = new Set(["alg", "typ", "kid"]);

/** Verifies signature, algorithm, issuer, audience, time claims and shape. Throws TokenError. */
export function verifyAccessToken(secret: Buffer, token: string, nowSec?: number): AccessClaims {
  if (typeof token !== "string" || token.length > 4096 || token.split(".").length !== 3)
    throw new TokenError("malformed");
  const { key, kid } = keyFor(secret);
  let decoded: jwt.Jwt;
  try {
    decoded = jwt.verify(token, key, {
      algorithms: [ALGORITHM],
      issuer: ISSUER,
      audience: AUDIENCE,
      clockTolerance: CLOCK_TOLERANCE_SEC,
      complete: true,
      ...(nowSec !== undefined ? { clockTimestamp: nowSec } : {}),
    }) as jwt.Jwt;
  } catch (e) {
    const name = (e as Error | undefined)?.name;
    throw new TokenError(
      name === "TokenExpiredError"
        ? "expired"
        : name === "NotBeforeError"
          ? "not yet valid"
          : "signature or claims",
    );
  }
  const header = decoded.header as unknown as Record<string, unknown>;
  for (const k of Object.keys(header))
    if (!ALLOWED_HEADER.has(k)) throw new TokenError(`header ${k} not allowed`);
  if (header.alg !== ALGORITHM) throw new TokenError("algorithm");
  if (header.kid !== undefined && header.kid !== kid) throw new TokenError("unknown kid");
  const c = decoded.payload as Record<string, unknown>;
  if (typeof c !== "object" || c === null) throw new TokenError("payload");
  if (typeof c.exp !== "number" || typeof c.iat !== "number") throw new TokenError("missing exp/iat");
  if (c.exp - c.iat > MAX_ACCESS_TTL_SEC) throw new TokenError("lifetime too long");
  const now = nowSec ?? Math.floor(Date.now() / 1000);
  if (c.iat > now + CLOCK_TOLERANCE_SEC) throw new TokenError("issued in the future");
  if (c.typ !== "access") throw new TokenError("type");
  if (typeof c.sub !== "string" || !/^[1-9][0-9]{0,18}$/.test(c.sub)) throw new TokenError("subject");
  if (typeof c.jti !== "string" || !UUID_RE.test(c.jti)) throw new TokenError("jti");
  if (typeof c.sid !== "string" || !UUID_RE.test(c.sid)) throw new TokenError("sid");
  if (c.role !== "user" && c.role !== "admin") throw new TokenError("role");
  return c as unknown as AccessClaims;
}

/**
 * Reads "Bearer <token>"; anything else is undefined. The scheme name is case-insensitive
 * (RFC 9110 §11.1), so "bearer" and "BEARER" are the same scheme.
 */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  if (typeof header !== "string" || header.length > 8192) return undefined;
  const m = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i.exec(header.trim());
  return m ? m[1] : undefined;
}

const REFRESH_PREFIX = "art_";

/** A new opaque refresh token: 256 random bits. */
export function newRefreshToken(): string {
  return REFRESH_PREFIX + crypto.randomBytes(32).toString("base64url");
}

export function looksLikeRefreshToken(t: unknown): t is string {
  return typeof t === "string" && /^art_[A-Za-z0-9_-]{43}$/.test(t);
}

/** What the database stores: a hash, so a leaked table does not yield usable tokens. */
export function hashRefreshToken(token: string): string {
  return crypto.createHash("sha256").update(token).digest("hex");
}
