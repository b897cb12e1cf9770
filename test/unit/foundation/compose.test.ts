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

const natsConf = fs.readFileSync(path.join(ROOT, "nats/nats.conf"), "utf8");
const permissions = fs.readFileSync(path.join(ROOT, "nats/permissions.conf"), "utf8");

test("infrastructure: NATS with JetStream, PostgreSQL and Redis, each with a health check", () => {
  expect(services.nats.command).toEqual(["-c", "/etc/nats/nats.conf"]);
  expect(natsConf).toMatch(/^jetstream \{\s*store_dir: "\/data"/m);
  expect(services.nats.volumes).toEqual(
    expect.arrayContaining([
      "./nats/nats.conf:/etc/nats/nats.conf:ro",
      "./nats/permissions.conf:/etc/nats/permissions.conf:ro",
      "./nats/certs:/etc/nats/certs:ro",
      "nats-data:/data",
    ]),
  );
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
    // the bus: TLS against the mounted CA, and no credentials in the URL
    expect(s.environment.TRANSPORTER).toBe("nats://nats:4222");
    expect(s.environment.NATS_TLS_CA).toBe("/etc/aura/nats/ca.pem");
    expect(s.volumes).toContain("./nats/certs/ca.pem:/etc/aura/nats/ca.pem:ro");
    expect(s.environment.DATABASE_URL).toMatch(/^postgres:\/\/.*@postgres:5432\//);
    expect(s.environment.REDIS_URL).toMatch(/^redis:\/\/redis:6379$/);
    expect(s.environment.NODE_ENV).toBe("production");
    expect(s.healthcheck.test.join(" ")).toMatch(/\/health\/ready/);
    for (const dep of ["nats", "postgres", "redis"])
      expect(s.depends_on[dep].condition).toBe("service_healthy");
  }
  expect(services.gateway.ports).toContain("3000:3000");
});

test("the bus: TLS required, and each role logs in as its own user with its own permissions", () => {
  expect(natsConf).toMatch(/^tls \{[^}]*cert_file: "\/etc\/nats\/certs\/server.pem"/m);
  expect(natsConf).toMatch(/^include \.\/permissions\.conf$/m);
  // monitoring only inside the container (its health check), never on the cluster network
  expect(natsConf).toMatch(/^http: "127\.0\.0\.1:8222"$/m);
  expect(services.nats.healthcheck.test.join(" ")).toContain("http://127.0.0.1:8222/healthz");
  const users = [...natsConf.matchAll(/\{ user: ([a-z-]+), password: \$(\w+), permissions: \$(\w+) \}/g)];
  const byUser = Object.fromEntries(users.map((m) => [m[1], { password: m[2], permissions: m[3] }]));
  for (const r of roles) {
    const env = services[r].environment;
    // the node id starts with the user, and permissions.conf scopes that user to "<role>." nodes
    expect(env.NATS_USER).toBe(r);
    const user = byUser[r];
    expect(user).toEqual({
      password: `NATS_${r.toUpperCase().replace(/-/g, "_")}_PASSWORD`,
      permissions: `AURA_${r.toUpperCase().replace(/-/g, "_")}`,
    });
    expect(env.NATS_PASSWORD).toMatch(new RegExp(`^\\$\\{${user.password}:\\?[^}]+\\}$`));
    expect(services.nats.environment[user.password]).toMatch(new RegExp(`^\\$\\{${user.password}:\\?`));
    expect(permissions).toContain(`"MOL-aura.*.${r}.>"`);
  }
  // every user the server knows gets its password from the server's environment
  for (const { password } of Object.values(byUser)) expect(services.nats.environment[password]).toBeTruthy();
  expect(Object.keys(byUser).sort()).toEqual([...roles, "observer", "operator"].sort());
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
