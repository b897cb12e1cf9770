// Hostile input is refused at the gateway for every route, before authentication and before any
// service runs: NUL characters (which PostgreSQL would reject with a 500), prototype keys in bodies
// and query strings (including the bracket forms the query parser drops silently), and JSON nested
// or sized beyond the bounds. The answer is 400 VALIDATION_ERROR naming the field.
import { ROUTES } from "../../../src/gateway/routes";
import { http, registerAndLogin, startSecurityEnv, type SecurityEnv, type Session } from "./helpers";

const calls: unknown[] = [];
const probe = {
  name: "probe",
  actions: {
    echo: { visibility: "published", handler: (ctx: any) => (calls.push(ctx.params), { ok: true }) },
  },
};

let env: SecurityEnv;
let base: string;
let user: Session;
const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();

beforeAll(async () => {
  ROUTES.push({ method: "POST", path: "/probe/echo/:name", action: "probe.echo", auth: "public" });
  ROUTES.push({ method: "GET", path: "/probe/echo", action: "probe.echo", auth: "public" });
  env = await startSecurityEnv({ extra: [probe as any] });
  base = env.cluster.baseUrl;
  await registerAndLogin(base); // the admin
  user = await registerAndLogin(base);
});
afterAll(async () => {
  await env?.stop();
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoBefore);
  expect(({} as any).polluted).toBeUndefined();
});

/** POST a raw JSON text, so keys such as __proto__ arrive exactly as an attacker writes them. */
const postRaw = async (path: string, text: string, token?: string) => {
  const res = await fetch(`${base}/api/v1${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: text,
  });
  return { status: res.status, body: (await res.json()) as any };
};

const expectRefused = (res: { status: number; body: any }, field: string | RegExp, type: string) => {
  expect(res.status).toBe(400);
  expect(res.body.error.code).toBe("VALIDATION_ERROR");
  expect(res.body.error.details).toHaveLength(1);
  expect(res.body.error.details[0]).toMatchObject({ type });
  if (typeof field === "string") expect(res.body.error.details[0].field).toBe(field);
  else expect(res.body.error.details[0].field).toMatch(field);
};

test("a NUL character in a login email is a 400 naming the field, not a database 500", async () => {
  const res = await http(base, "POST", "/auth/login", {
    body: { email: "victim\u0000@example.com", password: "whatever password" },
  });
  expectRefused(res, "email", "nulCharacter");
  expect(res.body.error.details[0].message).toMatch(/NUL character/);
  const reg = await http(base, "POST", "/auth/register", {
    body: { email: "a@example.com", password: "long enough pass\u0000word" },
  });
  expectRefused(reg, "password", "nulCharacter");
});

test("NUL in path params, query values and query keys", async () => {
  calls.length = 0;
  expectRefused(await http(base, "POST", "/probe/echo/a%00b", { body: {} }), "name", "nulCharacter");
  expectRefused(await http(base, "GET", "/probe/echo?x=1%00"), "x", "nulCharacter");
  expectRefused(await http(base, "GET", "/probe/echo?k%00=1"), /^k\\u0000$/, "nulCharacter");
  // an authenticated route: refused before the token is even looked at
  expectRefused(await http(base, "GET", "/keys/1%00", { token: user.accessToken }), "id", "nulCharacter");
  expectRefused(await http(base, "GET", "/keys/1%00"), "id", "nulCharacter");
  expect(calls).toHaveLength(0);
});

test("prototype keys anywhere in a JSON body", async () => {
  calls.length = 0;
  for (const [text, field] of [
    ['{"__proto__":{"polluted":1}}', "__proto__"],
    ['{"a":{"b":[{"constructor":{"prototype":{"polluted":1}}}]}}', "a.b[0].constructor"],
    ['{"prototype":1}', "prototype"],
    ['{"grid":{"__proto__.polluted":[1]}}', 'grid["__proto__.polluted"]'],
  ] as const) {
    expectRefused(await postRaw("/probe/echo/x", text), field, "forbiddenKey");
  }
  expectRefused(
    await postRaw("/auth/login", '{"email":"a@example.com","password":"p","__proto__":{"role":"admin"}}'),
    "__proto__",
    "forbiddenKey",
  );
  expect(calls).toHaveLength(0);
  expect(({} as any).polluted).toBeUndefined();
  expect(({} as any).role).toBeUndefined();
});

test("bracketed query keys: harmless nesting passes, prototype tricks the parser drops are refused", async () => {
  calls.length = 0;
  const ok = await http(base, "GET", "/probe/echo?a[b]=c&list[]=1&list[]=2");
  expect(ok.status).toBe(200);
  expect(calls[0]).toMatchObject({ a: { b: "c" }, list: ["1", "2"] });
  for (const q of [
    "__proto__[polluted]=1",
    "a[__proto__][polluted]=1",
    "constructor[prototype][polluted]=1",
    "a[constructor]=1",
    "%5F%5Fproto%5F%5F%5Bpolluted%5D=1",
  ]) {
    const res = await http(base, "GET", `/probe/echo?${q}`);
    expect([q, res.status, res.body.error?.details?.[0]?.type]).toEqual([q, 400, "forbiddenKey"]);
  }
  expect(calls).toHaveLength(1);
  expect(({} as any).polluted).toBeUndefined();
});

test("JSON nested deeper than 32 levels or with more than 10,000 values, within the body limit", async () => {
  calls.length = 0;
  let nested: unknown = 1;
  for (let i = 0; i < 33; i++) nested = { a: nested };
  expectRefused(await http(base, "POST", "/probe/echo/x", { body: nested }), /^a(\.a)+$/, "tooDeep");
  // 40,000 levels: far past any recursive walker's stack, still under 100 kB
  expectRefused(await postRaw("/probe/echo/x", "[".repeat(40_000) + "]".repeat(40_000)), /^\[0\]/, "tooDeep");
  expectRefused(await postRaw("/probe/echo/x", `[${"0,".repeat(10_000)}0]`), "", "tooManyValues");
  // the login route, where such a body would otherwise reach the validator and the audit log
  expectRefused(
    await postRaw(
      "/auth/login",
      `{"email":"a@example.com","password":[${"[".repeat(100)}${"]".repeat(100)}]}`,
    ),
    /^password/,
    "tooDeep",
  );
  expect(calls).toHaveLength(0);
  let fine: unknown = 1;
  for (let i = 0; i < 30; i++) fine = { a: fine };
  expect((await http(base, "POST", "/probe/echo/x", { body: fine })).status).toBe(200);
});
