// Access-token signing and verification rules (at the unit level; the gateway tests
// prove the same through HTTP).
import crypto from "node:crypto";
import jwt from "jsonwebtoken";
import {
  AUDIENCE,
  bearerToken,
  hashRefreshToken,
  ISSUER,
  looksLikeRefreshToken,
  MAX_ACCESS_TTL_SEC,
  newRefreshToken,
  signAccessToken,
  tokenKeyId,
  verifyAccessToken,
} from "../../../src/adapters/auth/tokens";

const secret = crypto.randomBytes(48);
const sid = crypto.randomUUID();

function forge(payload: Record<string, unknown>, opts: jwt.SignOptions & { key?: jwt.Secret } = {}): string {
  const { key, ...rest } = opts;
  return jwt.sign(payload, key ?? secret, { algorithm: "HS256", keyid: tokenKeyId(secret), ...rest });
}
const now = () => Math.floor(Date.now() / 1000);
const good = () => ({
  sub: "5",
  role: "user",
  sid,
  typ: "access",
  jti: crypto.randomUUID(),
  iss: ISSUER,
  aud: AUDIENCE,
  iat: now(),
  exp: now() + 600,
});

test("issued tokens verify, live at most 900 s and carry every required claim", () => {
  const t = signAccessToken(secret, { userId: 5, role: "user", sid }, 3600);
  const c = verifyAccessToken(secret, t.token);
  expect(c.exp - c.iat).toBeLessThanOrEqual(MAX_ACCESS_TTL_SEC);
  expect(t.expiresIn).toBe(900);
  expect(c).toMatchObject({
    sub: "5",
    role: "user",
    sid,
    typ: "access",
    iss: ISSUER,
    aud: AUDIENCE,
    jti: t.jti,
  });
  expect(jwt.decode(t.token, { complete: true })!.header).toEqual({
    alg: "HS256",
    typ: "JWT",
    kid: tokenKeyId(secret),
  });
});

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

test.each<[string, () => string]>([
  ["alg none", () => `${b64({ alg: "none", typ: "JWT" })}.${b64(good())}.`],
  ["HS512 with the right secret", () => forge(good(), { algorithm: "HS512" })],
  ["HS384 with the right secret", () => forge(good(), { algorithm: "HS384" })],
  ["wrong secret", () => forge(good(), { key: crypto.randomBytes(48) })],
  [
    "RSA public key used as HMAC secret",
    () => {
      const { publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
      return forge(good(), {
        key: publicKey.export({ type: "spki", format: "pem" }) as string,
        allowInsecureKeySizes: true,
      } as any);
    },
  ],
  ["expired 6 s ago (tolerance 5 s)", () => forge({ ...good(), iat: now() - 606, exp: now() - 6 })],
  ["nbf in the future", () => forge({ ...good(), nbf: now() + 60 })],
  ["wrong issuer", () => forge({ ...good(), iss: "evil" })],
  ["wrong audience", () => forge({ ...good(), aud: "other-api" })],
  ["missing exp", () => forge((({ exp: _e, ...r }) => r)(good()))],
  ["lifetime over 900 s", () => forge({ ...good(), exp: now() + 3600 })],
  ["issued in the future", () => forge({ ...good(), iat: now() + 120, exp: now() + 700 })],
  ["refresh-typed token", () => forge({ ...good(), typ: "refresh" })],
  ["non-numeric subject", () => forge({ ...good(), sub: "1 OR 1=1" })],
  [
    "kid path traversal",
    () => jwt.sign(good(), secret, { algorithm: "HS256", keyid: "../../../etc/passwd" }),
  ],
  ["kid SQL", () => jwt.sign(good(), secret, { algorithm: "HS256", keyid: "' OR '1'='1" })],
  [
    "jku header",
    () =>
      jwt.sign(good(), secret, {
        algorithm: "HS256",
        header: { alg: "HS256", jku: "https://evil.example/jwks" } as any,
      }),
  ],
  [
    "role escalated in payload",
    () => {
      const [h, , s] = forge(good()).split(".");
      return `${h}.${b64({ ...good(), role: "admin" })}.${s}`;
    },
  ],
])("refuses %s", (_name, make) => {
  expect(() => verifyAccessToken(secret, make())).toThrow(/invalid access token/);
});

test("bearer parsing accepts only 'Bearer <jwt>', the scheme in any case", () => {
  const t = signAccessToken(secret, { userId: 1, role: "user", sid }).token;
  for (const scheme of ["Bearer", "bearer", "BEARER", "bEaReR"])
    expect(bearerToken(`${scheme} ${t}`)).toBe(t);
  expect(bearerToken(`Bearer  ${t}`)).toBe(t);
  for (const h of [
    t,
    `Basic ${t}`,
    `bearer`,
    `Bearer ${t} extra`,
    `Bearer\t${t}`,
    `Bearerx ${t}`,
    undefined,
    ["Bearer x.y.z"],
  ])
    expect(bearerToken(h as any)).toBeUndefined();
});

test("refresh tokens are 256-bit random, recognisable, and stored only as a hash", () => {
  const a = newRefreshToken();
  const b = newRefreshToken();
  expect(a).not.toBe(b);
  expect(looksLikeRefreshToken(a)).toBe(true);
  expect(looksLikeRefreshToken("art_short")).toBe(false);
  expect(hashRefreshToken(a)).toMatch(/^[0-9a-f]{64}$/);
  expect(hashRefreshToken(a)).not.toContain(a.slice(4));
});
