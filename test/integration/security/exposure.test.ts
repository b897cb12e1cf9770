// HTTP exposure: what HTTP reaches is exactly the route table. Every action registered by the services
// behind the table that is not itself in the table is unreachable under any guessable URL,
// internal actions cannot be published even if someone routes them, and every entry is served.
import fs from "node:fs";
import path from "node:path";
import { loadServiceSchema } from "../../../src/runtime/runner";
import { ROUTES, aliasKey } from "../../../src/gateway/routes";
import { http, startSecurityEnv, type SecurityEnv } from "./helpers";

let env: SecurityEnv;
/** services of the table that cannot even be loaded in this test runtime, with the reason */
const unloadable = new Map<string, string>();
beforeAll(async () => {
  // the services behind the route table (plus identity): what HTTP could possibly reach
  const servicesDir = path.resolve(__dirname, "../../../services");
  const wanted = [...new Set(["api", "auth", "keys", ...ROUTES.map((r) => r.action.split(".")[0])])].filter(
    (s) => fs.existsSync(path.join(servicesDir, `${s}.service.ts`)),
  );
  const services = wanted.filter((s) => {
    try {
      loadServiceSchema(s);
      return true;
    } catch (e: any) {
      unloadable.set(s, String(e?.message ?? e).split("\n")[0]);
      return false;
    }
  });
  if (unloadable.size) {
    process.stderr.write(
      `\n*** exposure.test: services that do not load under Jest are left out of the reachability checks: ` +
        `${[...unloadable].map(([k, v]) => `${k} (${v})`).join("; ")} ***\n\n`,
    );
  }
  env = await startSecurityEnv({ services, settings: { "exchange-sim": { port: 0 } } });
});
afterAll(async () => {
  await env?.stop();
});

const routedActions = () => new Set(ROUTES.map((r) => r.action));
/** Whether METHOD url matches a table entry (such a request reaches that entry's action, not another). */
const matchesTable = (method: string, url: string) =>
  ROUTES.some(
    (r) =>
      r.method === method && new RegExp(`^/api/v1${r.path.replace(/:[A-Za-z_]\w*/g, "[^/]+")}$`).test(url),
  );
const registered = () =>
  (env.cluster.broker.registry.getActionList({ skipInternal: true, withEndpoints: false }) as any[]).map(
    (a) => ({
      name: a.name as string,
      visibility: (a.action?.visibility ?? "published") as string,
      auth: a.action?.auth as string | undefined,
    }),
  );

test("actions outside the route table are not reachable under any guessable URL", async () => {
  const hidden = registered().filter((a) => !routedActions().has(a.name) && a.name !== "api.rest");
  expect(hidden.map((a) => a.name)).toEqual(expect.arrayContaining(["auth.session"]));
  // no action hands out a decrypted key, routed or not
  expect(registered().map((a) => a.name)).not.toContain("keys.decrypt");
  const reached: string[] = [];
  for (const a of hidden) {
    const [svc, ...rest] = a.name.split(".");
    const act = rest.join(".");
    for (const p of [
      `/api/v1/${svc}/${act}`,
      `/api/v1/${a.name}`,
      `/api/v1/${svc}.${act}`,
      `/${svc}/${act}`,
      `/api/${svc}/${act}`,
      `/${a.name}`,
    ]) {
      for (const method of ["GET", "POST"]) {
        if (matchesTable(method, p)) continue;
        const res = await fetch(env.cluster.baseUrl + p, {
          method,
          headers: { "content-type": "application/json" },
          body: method === "POST" ? "{}" : undefined,
        });
        if (res.status !== 404) reached.push(`${method} ${p} → ${res.status}`);
      }
    }
  }
  expect(reached).toEqual([]);
});

test("Moleculer's internal services are not exposed", async () => {
  for (const p of [
    "/~node/actions",
    "/~node/services",
    "/$node/list",
    "/api/v1/~node/actions",
    "/api/v1/$node/health",
    "/api/v1/$node/options",
    "/api/~node/list",
    "/api/v1/api/rest",
  ]) {
    const res = await fetch(env.cluster.baseUrl + p);
    expect([p, res.status]).toEqual([p, 404]);
  }
});

test("actions declared internal cannot be served over HTTP even if routed by mistake", () => {
  const internal = registered().filter((a) => a.auth === "internal");
  expect(internal.length).toBeGreaterThan(0);
  for (const a of internal) expect([a.name, a.visibility]).not.toEqual([a.name, "published"]);
  for (const r of ROUTES)
    expect([r.action, internal.some((a) => a.name === r.action)]).toEqual([r.action, false]);
});

test("every entry of the route table is served (non-public ones ask for a token first)", async () => {
  for (const r of ROUTES) {
    if (unloadable.has(r.action.split(".")[0])) continue; // reported loudly in beforeAll
    const p = r.path.replace(/:([A-Za-z_]\w*)/g, "1");
    const res = await http(
      env.cluster.baseUrl,
      r.method,
      p,
      r.method === "GET" || r.method === "DELETE" ? {} : { body: {} },
    );
    if (r.auth === "public") expect([aliasKey(r), res.status]).not.toEqual([aliasKey(r), 404]);
    else expect([aliasKey(r), res.status, res.body?.error?.code]).toEqual([aliasKey(r), 401, "UNAUTHORIZED"]);
  }
});
