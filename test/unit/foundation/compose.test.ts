// Docker cannot run here, so the compose file's structure is checked instead: infrastructure with
// health checks, every app role from one image selected by SERVICES, pointed at NATS/Postgres/Redis.
import fs from "node:fs";
import path from "node:path";
import { parse } from "yaml";

const ROOT = path.resolve(__dirname, "../../..");
const compose = parse(fs.readFileSync(path.join(ROOT, "docker-compose.yml"), "utf8"), { merge: true });
const services = compose.services as Record<string, any>;
const available = fs
  .readdirSync(path.join(ROOT, "services"))
  .filter((f) => f.endsWith(".service.ts"))
  .map((f) => f.replace(".service.ts", ""));

test("infrastructure: NATS with JetStream, PostgreSQL and Redis, each with a health check", () => {
  expect(services.nats.command.join(" ")).toMatch(/-js\b/);
  expect(services.nats.command.join(" ")).toMatch(/--user aura --pass \$\{NATS_PASSWORD/);
  for (const name of ["nats", "postgres", "redis"]) {
    expect(services[name].healthcheck.test.length).toBeGreaterThan(0);
  }
});

/** The app roles: every compose service that selects AURA services with SERVICES. */
const roles = Object.keys(services).filter((name) => services[name].environment?.SERVICES !== undefined);
const roleServices = (r: string) =>
  String(services[r].environment.SERVICES)
    .split(",")
    .map((s) => s.trim());

test("app roles share one image, select services with SERVICES, and wait for healthy infrastructure", () => {
  expect([...roles].sort()).toEqual(["backtest", "gateway", "market-data", "strategy-runner"]);
  const images = new Set(roles.map((r) => services[r].image));
  expect(images.size).toBe(1);
  for (const r of roles) {
    const s = services[r];
    expect(s.environment.SERVICES).toBeTruthy();
    // the bus is authenticated: credentials in the URL, the same ones the NATS server requires
    expect(s.environment.TRANSPORTER).toMatch(/^nats:\/\/aura:\$\{NATS_PASSWORD[^}]*\}@nats:4222$/);
    expect(s.environment.DATABASE_URL).toMatch(/^postgres:\/\/.*@postgres:5432\//);
    expect(s.environment.REDIS_URL).toMatch(/^redis:\/\/redis:6379$/);
    expect(s.environment.NODE_ENV).toBe("production");
    expect(s.healthcheck.test.join(" ")).toMatch(/\/health\/ready/);
    for (const dep of ["nats", "postgres", "redis"])
      expect(s.depends_on[dep].condition).toBe("service_healthy");
  }
  expect(services.gateway.ports).toContain("3000:3000");
});

test("every service a role names is a file in services/, and every service runs in some role", () => {
  const unknown = roles.flatMap((r) =>
    roleServices(r)
      .filter((s) => !available.includes(s))
      .map((s) => `${r}: ${s}`),
  );
  expect(unknown).toEqual([]);
  // monitor runs in every process whatever SERVICES says
  const placed = new Set([...roles.flatMap(roleServices), "monitor"]);
  expect(available.filter((s) => !placed.has(s))).toEqual([]);
});

test("the Dockerfile builds on Node 22 and starts the CLI", () => {
  const df = fs.readFileSync(path.join(ROOT, "Dockerfile"), "utf8");
  expect(df).toMatch(/^FROM node:22/m);
  expect(df).toMatch(/CMD \["node", "bin\/aura.js", "start"\]/);
});
