// The gateway answers bad input with the error envelope before any service handler runs, and
// exposes nothing but the allowlist (no $node.* routes).
import { ROUTES } from "../../../src/gateway/routes";
import { startServices, type TestCluster } from "../../support/broker";
import { createTestDatabase, type TestDatabase } from "../../support/db";

const calls: unknown[] = [];
const probe = {
  name: "probe",
  actions: {
    echo: {
      params: { text: { type: "string", max: 100 } },
      handler: (ctx: any) => (calls.push(ctx.params), { echoed: ctx.params.text }),
    },
    boom: {
      handler: () => {
        throw new Error("database password is hunter2");
      },
    },
  },
};

let db: TestDatabase;
let cluster: TestCluster;
beforeAll(async () => {
  ROUTES.push({ method: "POST", path: "/probe/echo", action: "probe.echo", auth: "public" });
  ROUTES.push({ method: "GET", path: "/probe/boom", action: "probe.boom", auth: "public" });
  db = await createTestDatabase();
  cluster = await startServices(["api"], { extra: [probe as any] });
});
afterAll(async () => {
  await cluster?.stop();
  await db?.drop();
});

const post = (
  path: string,
  body: string,
  headers: Record<string, string> = { "content-type": "application/json" },
) => fetch(cluster.baseUrl + path, { method: "POST", body, headers });

test("a valid request reaches the handler and carries a request id", async () => {
  const res = await post("/api/v1/probe/echo", JSON.stringify({ text: "hi" }));
  expect(res.status).toBe(200);
  expect((await res.json()) as any).toEqual({ echoed: "hi" });
  expect(res.headers.get("x-request-id")).toMatch(/^[\w-]{8,}/);
  expect(calls).toHaveLength(1);
});

test("malformed JSON → 400 envelope, handler not run", async () => {
  calls.length = 0;
  const res = await post("/api/v1/probe/echo", '{"text": "hi"');
  expect(res.status).toBe(400);
  const body = (await res.json()) as any;
  expect(body).toEqual({
    error: { code: "INVALID_BODY", message: expect.stringMatching(/JSON/), requestId: expect.any(String) },
  });
  expect(calls).toHaveLength(0);
});

test("body over the limit → 413 envelope, handler not run", async () => {
  calls.length = 0;
  const res = await post("/api/v1/probe/echo", JSON.stringify({ text: "x".repeat(200_000) }));
  expect(res.status).toBe(413);
  expect(((await res.json()) as any).error.code).toBe("PAYLOAD_TOO_LARGE");
  expect(calls).toHaveLength(0);
});

test("invalid parameters → 400 with the failing fields, handler not run", async () => {
  calls.length = 0;
  const res = await post("/api/v1/probe/echo", JSON.stringify({ text: 42 }));
  expect(res.status).toBe(400);
  const body = (await res.json()) as any;
  expect(body.error.code).toBe("VALIDATION_ERROR");
  expect(body.error.details[0]).toMatchObject({ field: "text" });
  expect(calls).toHaveLength(0);
});

test("unknown routes and internal $node actions → 404 envelope", async () => {
  for (const path of [
    "/api/v1/nope",
    "/api/v1/~node/actions",
    "/api/v1/$node/list",
    "/$node/list",
    "/~node/health",
    "/api/v1/probe.echo",
    "/api/v1/api/info",
  ]) {
    const res = await fetch(cluster.baseUrl + path);
    expect([path, res.status]).toEqual([path, 404]);
    expect(((await res.json()) as any).error.code).toBe("NOT_FOUND");
  }
});

test("a failing handler gives a 500 envelope that leaks nothing", async () => {
  const res = await fetch(cluster.baseUrl + "/api/v1/probe/boom");
  expect(res.status).toBe(500);
  const text = await res.text();
  expect(JSON.parse(text)).toEqual({
    error: { code: "INTERNAL_ERROR", message: "Internal server error.", requestId: expect.any(String) },
  });
  expect(text).not.toContain("hunter2");
});

test("security headers are set on API responses, errors included", async () => {
  for (const res of [
    await post("/api/v1/probe/echo", JSON.stringify({ text: "hi" })),
    await fetch(cluster.baseUrl + "/api/v1/system/info"),
  ]) {
    expect([200, 401]).toContain(res.status);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
  }
});

test("readiness reports every component", async () => {
  const res = await fetch(cluster.baseUrl + "/health/ready");
  expect(res.status).toBe(200);
  const body = (await res.json()) as any;
  expect(body.status).toBe("ok");
  expect(body.checks.database.status).toBe("up");
  expect(body.checks.cache.status).toBe("up");
  expect(body.checks.transporter.status).toBe("up");
  expect(body.services.api.status).toBe("up");
});
