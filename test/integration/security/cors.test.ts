// CORS: only the dashboard origin(s) in CORS_ORIGIN may call the API from a browser.
import { startSecurityEnv, type SecurityEnv } from "./helpers";

const DASHBOARD = "https://dashboard.aura.example";
let env: SecurityEnv;
beforeAll(async () => {
  process.env.CORS_ORIGIN = `${DASHBOARD}, http://localhost:5173`;
  env = await startSecurityEnv({ services: ["api"] });
});
afterAll(async () => {
  delete process.env.CORS_ORIGIN;
  await env?.stop();
});

test("a preflight from the dashboard origin is allowed with credentials and the auth header", async () => {
  const res = await fetch(`${env.cluster.baseUrl}/api/v1/auth/me`, {
    method: "OPTIONS",
    headers: {
      origin: DASHBOARD,
      "access-control-request-method": "GET",
      "access-control-request-headers": "authorization",
    },
  });
  expect(res.status).toBe(204);
  expect(res.headers.get("access-control-allow-origin")).toBe(DASHBOARD);
  expect(res.headers.get("access-control-allow-credentials")).toBe("true");
  expect(res.headers.get("access-control-allow-headers")).toMatch(/Authorization/);
  expect(res.headers.get("vary")).toMatch(/Origin/);
});

test("responses to the dashboard expose the request id; other origins are refused", async () => {
  // a 401 too must be readable by the dashboard (it triggers a token refresh)
  const ok = await fetch(`${env.cluster.baseUrl}/api/v1/system/info`, { headers: { origin: DASHBOARD } });
  expect(ok.status).toBe(401);
  expect(ok.headers.get("access-control-allow-origin")).toBe(DASHBOARD);
  expect(ok.headers.get("access-control-expose-headers")).toMatch(/X-Request-ID/);

  for (const origin of ["https://evil.example", "null", "https://dashboard.aura.example.evil.example"]) {
    const res = await fetch(`${env.cluster.baseUrl}/api/v1/system/info`, { headers: { origin } });
    expect(res.status).toBe(403);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(((await res.json()) as any).error.code).toBe("ORIGIN_NOT_ALLOWED");
  }
  // requests without an Origin (same-origin, curl, server to server) are unaffected
  expect((await fetch(`${env.cluster.baseUrl}/api/v1/system/info`)).status).toBe(401);
});
