// IDOR: users A and B; for every id-bearing route and every list of the route table, A never
// sees or changes B's objects (403/404, no B data in the body, B's row unchanged). The matrix is
// data (idor-matrix.ts) and this file refuses to pass while a route is missing from it.
import fs from "node:fs";
import path from "node:path";
import { aliasKey, ROUTES, type RouteSpec } from "../../../src/gateway/routes";
import {
  BODY_REF_ROUTES,
  FIXTURES,
  ID_ROUTES,
  LIST_ROUTES,
  SELF_ROUTES,
  SHARED_ROUTES,
  type BodyRefEntry,
  type FixtureContext,
  type IdRouteEntry,
} from "./idor-matrix";
import {
  fakeExchangeClient,
  http,
  registerAndLogin,
  startSecurityEnv,
  type SecurityEnv,
  type Session,
} from "./helpers";

const MATRIX_FILE = "test/integration/security/idor-matrix.ts";
const hasPathParam = (r: RouteSpec) => /(^|\/):[A-Za-z]/.test(r.path);
const fill = (path: string, params: Record<string, string | number>) =>
  path.replace(/:([A-Za-z_]\w*)/g, (_m, k) => encodeURIComponent(String(params[k] ?? `missing-${k}`)));

describe("the matrix covers the route table", () => {
  test("every id-bearing route has an ID_ROUTES entry", () => {
    const covered = new Set(ID_ROUTES.map((e) => e.route));
    const missing = ROUTES.filter((r) => r.auth !== "public" && hasPathParam(r) && !covered.has(aliasKey(r)));
    const help = missing.map(
      (r) =>
        `  "${aliasKey(r)}" (${r.action}) has no IDOR matrix entry. Add to ID_ROUTES in ${MATRIX_FILE}:\n` +
        `    { route: "${aliasKey(r)}", fixture: "<a FIXTURES entry that creates the object for a user>", access: "${r.auth === "admin" ? "admin" : "owner"}", okStatus: 200${r.method === "POST" || r.method === "PUT" || r.method === "PATCH" ? ", body: { …a valid body… }" : ""} },\n` +
        `  and, if the object is new, a fixture in FIXTURES that creates one through the API.`,
    );
    expect(help.join("\n")).toBe("");
  });

  test("every authenticated GET without an id is a LIST_ROUTES, SELF_ROUTES or SHARED_ROUTES entry", () => {
    const covered = new Set([...LIST_ROUTES.map((e) => e.route), ...SELF_ROUTES, ...SHARED_ROUTES]);
    const missing = ROUTES.filter(
      (r) => r.auth !== "public" && r.method === "GET" && !hasPathParam(r) && !covered.has(aliasKey(r)),
    );
    const help = missing.map(
      (r) =>
        `  "${aliasKey(r)}" (${r.action}) is not in the IDOR matrix. If it lists objects, add to LIST_ROUTES in ${MATRIX_FILE}:\n` +
        `    { route: "${aliasKey(r)}", fixture: "<fixture>", access: "${r.auth === "admin" ? "admin" : "owner"}", filters: [{}, { userId: "{victimId}" }] },\n` +
        `  if it returns only the caller's own data, add "${aliasKey(r)}" to SELF_ROUTES;\n` +
        `  if its data belongs to no user (market data), add it to SHARED_ROUTES.`,
    );
    expect(help.join("\n")).toBe("");
  });

  test("no matrix entry names a route that does not exist", () => {
    const routes = new Set(ROUTES.map(aliasKey));
    const stale = [
      ...ID_ROUTES.map((e) => e.route),
      ...LIST_ROUTES.map((e) => e.route),
      ...BODY_REF_ROUTES.map((e) => e.route),
      ...SELF_ROUTES,
      ...SHARED_ROUTES,
    ].filter((r) => !routes.has(r));
    expect(stale).toEqual([]);
  });
});

describe("A against B's objects", () => {
  let env: SecurityEnv;
  let ctx: FixtureContext;
  let a: Session;
  let b: Session;
  const fresh = () => registerAndLogin(ctx.base);

  beforeAll(async () => {
    // every service behind a route of the matrix, so new entries are exercised as they appear
    const servicesDir = path.resolve(__dirname, "../../../services");
    const matrixRoutes = new Set(
      [...ID_ROUTES, ...LIST_ROUTES, ...BODY_REF_ROUTES].map((e) => e.route).concat(SELF_ROUTES),
    );
    const services = [
      ...new Set([
        "api",
        "auth",
        "keys",
        ...ROUTES.filter((r) => matrixRoutes.has(aliasKey(r))).map((r) => r.action.split(".")[0]),
      ]),
    ].filter((s) => fs.existsSync(path.join(servicesDir, `${s}.service.ts`)));
    env = await startSecurityEnv({
      services,
      settings: {
        keys: { validation: { createClient: fakeExchangeClient(() => ({})) } },
        "exchange-sim": { port: 0 },
      },
    });
    const admin = await registerAndLogin(env.cluster.baseUrl);
    ctx = { base: env.cluster.baseUrl, sequelize: env.db.sequelize, admin };
    a = await fresh();
    b = await fresh();
  });
  afterAll(async () => {
    await env?.stop();
  });

  const call = (
    e: { route: string; body?: Record<string, unknown> },
    s: Session,
    params: Record<string, string | number>,
    query = "",
  ) => {
    const [method, path] = e.route.split(" ");
    return http(ctx.base, method, fill(path, params) + query, {
      token: s.accessToken,
      body: e.body ?? (method === "GET" || method === "DELETE" ? undefined : {}),
    });
  };

  test.each(ID_ROUTES.map((e) => [e.route, e] as [string, IdRouteEntry]))("%s", async (_r, e) => {
    // B's object (for user-addressed admin routes, a fresh victim so state changes stay local)
    const victim = e.fixture === "user" ? await fresh() : b;
    const ref = await FIXTURES[e.fixture].create(ctx, victim);
    const before = await FIXTURES[e.fixture].snapshot(ctx, ref);
    expect(before).not.toBeNull();

    const res = await call(e, a, ref.params);
    expect([e.route, res.status]).toEqual([e.route, e.access === "admin" ? 403 : 404]);
    for (const m of ref.markers) expect(res.text).not.toContain(m);
    expect(await FIXTURES[e.fixture].snapshot(ctx, ref)).toEqual(before);

    // the same request by the owner (or an admin) works, so the refusal above is about ownership
    const owner = e.access === "admin" ? ctx.admin : victim;
    const control = await FIXTURES[e.fixture].create(ctx, e.fixture === "user" ? await fresh() : owner);
    expect([e.route, (await call(e, owner, control.params)).status]).toEqual([e.route, e.okStatus]);
  });

  test.each(LIST_ROUTES.map((e) => [e.route, e] as [string, (typeof LIST_ROUTES)[number]]))(
    "%s lists none of B's objects, whatever the filters",
    async (_r, e) => {
      const ref = await FIXTURES[e.fixture].create(ctx, b);
      const own = await FIXTURES[e.fixture].create(ctx, a);
      for (const f of e.filters) {
        const qs = new URLSearchParams(
          Object.fromEntries(
            Object.entries(f).map(([k, v]) => [k, String(v).replace("{victimId}", String(b.id))]),
          ),
        ).toString();
        const res = await call(e, a, {}, qs ? `?${qs}` : "");
        if (e.access === "admin") {
          expect(res.status).toBe(403);
        } else {
          expect(res.status).toBe(200);
          for (const m of own.markers.slice(0, 1)) expect(res.text).toContain(m);
        }
        for (const m of ref.markers) expect(res.text).not.toContain(m);
      }
    },
  );

  test.each(BODY_REF_ROUTES.map((e) => [e.route, e] as [string, BodyRefEntry]))(
    "%s refuses B's ids in the body",
    async (_r, e) => {
      const victim = await FIXTURES[e.fixture].create(ctx, b);
      const before = await FIXTURES[e.fixture].snapshot(ctx, victim);
      const own = await FIXTURES[e.fixture].create(ctx, a);
      const second = await FIXTURES[e.fixture].create(ctx, a);
      const res = await call({ route: e.route, body: e.body(own, victim, second) }, a, {});
      expect([e.route, res.status]).toEqual([e.route, 404]);
      for (const m of victim.markers) expect(res.text).not.toContain(m);
      expect(await FIXTURES[e.fixture].snapshot(ctx, victim)).toEqual(before);
      expect([e.route, (await call({ route: e.route, body: e.okBody(own, second) }, a, {})).status]).toEqual([
        e.route,
        e.okStatus,
      ]);
    },
  );

  test.each(SELF_ROUTES.map((r) => [r]))("%s answers only about the caller", async (route) => {
    const res = await call({ route }, a, {});
    expect(res.status).toBe(200);
    expect(res.text).toContain(a.email);
    expect(res.text).not.toContain(b.email);
  });
});
