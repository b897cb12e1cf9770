// Access tokens through the real gateway: every malformed, forged or out-of-policy access token gets
// 401 UNAUTHORIZED and no handler runs (a probe service counts its calls), and every token AURA
// issues lives at most 900 s.
import crypto from "node:crypto";
import jwt from "jsonwebtoken";
import { AUDIENCE, ISSUER, tokenKeyId } from "../../../src/adapters/auth/tokens";
import { ROUTES } from "../../../src/gateway/routes";
import {
  http,
  registerAndLogin,
  startSecurityEnv,
  useTestSecrets,
  type SecurityEnv,
  type Session,
} from "./helpers";

const calls: unknown[] = [];
const probe = {
  name: "probe",
  actions: {
    whoami: { handler: (ctx: any) => (calls.push(ctx.meta.user), { user: ctx.meta.user }) },
    admin: { handler: (ctx: any) => (calls.push(ctx.meta.user), { ok: true }) },
  },
};

let env: SecurityEnv;
let session: Session;
let secret: Buffer;
let sid: string;
beforeAll(async () => {
  ROUTES.push({ method: "GET", path: "/probe/whoami", action: "probe.whoami", auth: "user" });
  ROUTES.push({ method: "GET", path: "/probe/admin", action: "probe.admin", auth: "admin" });
  secret = Buffer.from(useTestSecrets().jwtSecret, "utf8");
  env = await startSecurityEnv({ extra: [probe as any] });
  await registerAndLogin(env.cluster.baseUrl); // the first user is the admin; the probe user is not
  session = await registerAndLogin(env.cluster.baseUrl);
  sid = (jwt.decode(session.accessToken) as any).sid;
});
afterAll(async () => {
  await env?.stop();
});

const now = () => Math.floor(Date.now() / 1000);
const claims = () => ({
  sub: String(session.id),
  role: "user",
  sid,
  typ: "access",
  jti: crypto.randomUUID(),
  iss: ISSUER,
  aud: AUDIENCE,
  iat: now(),
  exp: now() + 600,
});
const sign = (payload: object, opts: jwt.SignOptions = {}, key: jwt.Secret = secret) =>
  jwt.sign(payload, key, { algorithm: "HS256", keyid: tokenKeyId(secret), ...opts });
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

test("a valid token reaches the handler with the user taken from the token", async () => {
  calls.length = 0;
  const res = await http(env.cluster.baseUrl, "GET", "/probe/whoami", { token: session.accessToken });
  expect(res.status).toBe(200);
  expect(res.body.user).toMatchObject({ id: session.id, role: "user", email: session.email });
  expect(calls).toHaveLength(1);
  // a self-signed token with the right secret and claims is accepted too, which is what makes the
  // negatives below meaningful: they differ from it in one respect each
  expect((await http(env.cluster.baseUrl, "GET", "/probe/whoami", { token: sign(claims()) })).status).toBe(
    200,
  );
});

const NEGATIVES: [string, () => string][] = [
  ["alg none", () => `${b64({ alg: "none", typ: "JWT" })}.${b64(claims())}.`],
  [
    "alg none with a signature",
    () => `${b64({ alg: "none", typ: "JWT" })}.${b64(claims())}.${"A".repeat(43)}`,
  ],
  ["HS512 when only HS256 is allowed", () => sign(claims(), { algorithm: "HS512" })],
  [
    "RS public key as HMAC secret",
    () => {
      // the classic RS256→HS256 confusion: an HMAC made with the (public) PEM text as the key
      const { publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
      const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims())}`;
      return `${body}.${crypto
        .createHmac("sha256", publicKey.export({ type: "spki", format: "pem" }) as string)
        .update(body)
        .digest("base64url")}`;
    },
  ],
  ["wrong secret", () => sign(claims(), {}, crypto.randomBytes(48))],
  ["expired 1 s beyond the 5 s tolerance", () => sign({ ...claims(), iat: now() - 606, exp: now() - 6 })],
  ["nbf in the future", () => sign({ ...claims(), nbf: now() + 120 })],
  ["wrong issuer", () => sign({ ...claims(), iss: "someone-else" })],
  ["wrong audience", () => sign({ ...claims(), aud: "other" })],
  ["missing exp", () => sign((({ exp: _x, ...c }) => c)(claims()))],
  ["lifetime longer than 15 min", () => sign({ ...claims(), exp: now() + 86_400 })],
  [
    "tampered payload (role escalated, user switched)",
    () => {
      const [h, , s] = session.accessToken.split(".");
      return `${h}.${b64({ ...(jwt.decode(session.accessToken) as object), sub: "1", role: "admin" })}.${s}`;
    },
  ],
  ["truncated signature", () => session.accessToken.slice(0, -5)],
  [
    "kid with path traversal",
    () => jwt.sign(claims(), secret, { algorithm: "HS256", keyid: "../../../../dev/null" }),
  ],
  ["kid with SQL", () => jwt.sign(claims(), secret, { algorithm: "HS256", keyid: "x' UNION SELECT 'k" })],
  [
    "embedded jwk header",
    () =>
      jwt.sign(claims(), secret, {
        algorithm: "HS256",
        header: { alg: "HS256", jwk: { kty: "oct", k: "AA" } } as any,
      }),
  ],
  ["unknown session id", () => sign({ ...claims(), sid: crypto.randomUUID(), sub: "999999" })],
  ["garbage", () => "not.a.jwt"],
];

test.each(NEGATIVES)("%s → 401 UNAUTHORIZED, handler not run", async (_name, make) => {
  calls.length = 0;
  const res = await http(env.cluster.baseUrl, "GET", "/probe/whoami", { token: make() });
  expect(res.status).toBe(401);
  expect(res.body).toEqual({
    error: { code: "UNAUTHORIZED", message: expect.any(String), requestId: expect.any(String) },
  });
  expect(calls).toHaveLength(0);
});

test("non-bearer schemes, no header and a token in the wrong place → 401, handler not run", async () => {
  calls.length = 0;
  const variants: Record<string, string>[] = [
    {},
    { authorization: `Basic ${session.accessToken}` },
    { authorization: session.accessToken },
    { authorization: "Bearer" },
  ];
  for (const headers of variants) {
    const res = await http(env.cluster.baseUrl, "GET", "/probe/whoami", { headers });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("UNAUTHORIZED");
  }
  const viaQuery = await http(
    env.cluster.baseUrl,
    "GET",
    `/probe/whoami?access_token=${session.accessToken}`,
  );
  expect(viaQuery.status).toBe(401);
  expect(calls).toHaveLength(0);
});

test("a user token on an admin route → 403 FORBIDDEN, handler not run", async () => {
  calls.length = 0;
  const res = await http(env.cluster.baseUrl, "GET", "/probe/admin", { token: session.accessToken });
  expect(res.status).toBe(403);
  expect(res.body.error.code).toBe("FORBIDDEN");
  expect(calls).toHaveLength(0);
});

test("a role claim forged to admin does not pass the admin check (the role is read from the account)", async () => {
  calls.length = 0;
  const res = await http(env.cluster.baseUrl, "GET", "/probe/admin", {
    token: sign({ ...claims(), role: "admin" }),
  });
  expect(res.status).toBe(403);
  expect(calls).toHaveLength(0);
});

test("every token issued by login, refresh and password change lives at most 900 s", async () => {
  const s = await registerAndLogin(env.cluster.baseUrl);
  const refreshed = await http(env.cluster.baseUrl, "POST", "/auth/refresh", {
    body: { refreshToken: s.refreshToken },
  });
  const changed = await http(env.cluster.baseUrl, "POST", "/auth/password", {
    token: refreshed.body.accessToken,
    body: { currentPassword: s.password, newPassword: "another long passphrase 77" },
  });
  for (const t of [s.accessToken, refreshed.body.accessToken, changed.body.accessToken]) {
    const c = jwt.decode(t) as any;
    expect(c.exp - c.iat).toBeLessThanOrEqual(900);
    expect(c.exp - c.iat).toBeGreaterThan(0);
    expect(typeof c.jti).toBe("string");
    expect(c.iss).toBe(ISSUER);
    expect(c.aud).toBe(AUDIENCE);
  }
  expect(refreshed.body.expiresIn).toBeLessThanOrEqual(900);
});
