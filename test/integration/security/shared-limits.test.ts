// Shared limits: with REDIS_URL, rate limits and login lockouts are shared by every gateway and auth
// instance, so adding pods does not multiply an attacker's budget.
import crypto from "node:crypto";
import { REDIS_URL, requireServers } from "../../support/servers";
import { http, registerAndLogin, startSecurityEnv, type SecurityEnv } from "./helpers";

let available = false;
const envs: SecurityEnv[] = [];
beforeAll(async () => {
  available = await requireServers(["redis"], "shared rate limits");
});
afterAll(async () => {
  for (const e of envs.reverse()) await e.stop();
});

async function twoPods(
  prefix: string,
  api: Record<string, unknown>,
  services = ["api", "auth", "keys"],
): Promise<[SecurityEnv, SecurityEnv]> {
  const shared = { redisUrl: REDIS_URL, limiterPrefix: prefix };
  const first = await startSecurityEnv({ services, settings: { api: { ...shared, ...api }, auth: shared } });
  envs.push(first);
  // the second pod uses the same database (the process-wide one the first created)
  const second = await startSecurityEnv({
    services,
    settings: { api: { ...shared, ...api }, auth: shared },
    db: first.db,
  });
  envs.push(second);
  return [first, second];
}

test("the per-ip limit holds across two gateways", async () => {
  if (!available) return;
  const [a, b] = await twoPods(
    `t-${crypto.randomUUID()}`,
    { rateLimits: { ipPerMinute: 10, userPerMinute: 1000, credentialsPerMinute: 1000 } },
    ["api"],
  );
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) {
    statuses.push((await http(a.cluster.baseUrl, "GET", "/system/info")).status);
    statuses.push((await http(b.cluster.baseUrl, "GET", "/system/info")).status);
  }
  // answered (401: no token) until the shared budget is spent
  expect(statuses.filter((s) => s === 401)).toHaveLength(10);
  expect(statuses.slice(-2)).toEqual([429, 429]);
});

test("an account lockout holds across two auth instances", async () => {
  if (!available) return;
  const [a, b] = await twoPods(`t-${crypto.randomUUID()}`, { trustProxyHops: 1 });
  const victim = await registerAndLogin(a.cluster.baseUrl);
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) {
    const pod = i % 2 ? b : a;
    statuses.push(
      (
        await http(pod.cluster.baseUrl, "POST", "/auth/login", {
          body: { email: victim.email, password: `nope nope ${i}` },
          headers: { "x-forwarded-for": `10.1.1.${i + 1}` },
        })
      ).status,
    );
  }
  expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
});
