// Startup secrets: production refuses to start without strong secrets; the embedded default generates them
// once into AURA_DATA_DIR/secrets.json (mode 600) and reuses them.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  jwtSecretProblem,
  loadSecrets,
  resetSecretsCache,
  resolveSecrets,
  SecretsError,
} from "../../../src/runtime/secrets";

const strongJwt = () => crypto.randomBytes(48).toString("base64");
const strongKey = () => crypto.randomBytes(32).toString("base64");
const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "aura-secrets-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe("production startup guards", () => {
  const prod = (over: Record<string, string | undefined>) => ({
    NODE_ENV: "production",
    JWT_SECRET: strongJwt(),
    AURA_MASTER_KEY: strongKey(),
    AURA_DATA_DIR: tmp(),
    ...over,
  });

  test("strong secrets from the environment are accepted and nothing is written to disk", () => {
    const env = prod({});
    const s = resolveSecrets(env, { warn: () => {} });
    expect(s.jwtSecret.toString()).toBe(env.JWT_SECRET);
    expect(s.masterKey.equals(Buffer.from(env.AURA_MASTER_KEY!, "base64"))).toBe(true);
    expect(s.source).toEqual({ jwt: "env", master: "env" });
    expect(fs.readdirSync(env.AURA_DATA_DIR!)).toEqual([]);
  });

  test.each([
    ["missing JWT_SECRET", { JWT_SECRET: undefined }, /JWT_SECRET is not set/],
    [
      "JWT_SECRET of 31 bytes",
      { JWT_SECRET: crypto.randomBytes(24).toString("base64").slice(0, 31) },
      /31 bytes/,
    ],
    ["placeholder JWT_SECRET", { JWT_SECRET: "changeme-changeme-changeme-changeme-123" }, /placeholder/],
    ["a 'secret' JWT_SECRET", { JWT_SECRET: "my-super-secret-jwt-key-for-aura-production" }, /placeholder/],
    ["low-variety JWT_SECRET", { JWT_SECRET: "ab".repeat(32) }, /variety/],
    ["missing AURA_MASTER_KEY", { AURA_MASTER_KEY: undefined }, /AURA_MASTER_KEY is not set/],
    [
      "16-byte AURA_MASTER_KEY",
      { AURA_MASTER_KEY: crypto.randomBytes(16).toString("base64") },
      /16 bytes; it must be exactly 32/,
    ],
    ["non-base64 AURA_MASTER_KEY", { AURA_MASTER_KEY: "not base64 at all!" }, /not base64/],
    ["all-zero AURA_MASTER_KEY", { AURA_MASTER_KEY: Buffer.alloc(32).toString("base64") }, /not random/],
    ["bad AURA_MASTER_KEYS_OLD", { AURA_MASTER_KEYS_OLD: "c2hvcnQ=" }, /AURA_MASTER_KEYS_OLD\[0\]/],
  ])("refuses to start with %s", (_name, over, message) => {
    const env = prod(over as Record<string, string | undefined>);
    expect(() => resolveSecrets(env, { warn: () => {} })).toThrow(SecretsError);
    expect(() => resolveSecrets(env, { warn: () => {} })).toThrow(message);
    // and never falls back to generating a file
    expect(fs.readdirSync(env.AURA_DATA_DIR!)).toEqual([]);
  });

  test("every problem is reported at once", () => {
    expect(() =>
      resolveSecrets({ NODE_ENV: "production", AURA_DATA_DIR: tmp() }, { warn: () => {} }),
    ).toThrow(/JWT_SECRET is not set.*AURA_MASTER_KEY is not set/);
  });

  test("the services refuse to be created in production with a weak secret", () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      NODE_ENV: "production",
      JWT_SECRET: "short",
      AURA_MASTER_KEY: strongKey(),
      AURA_DATA_DIR: tmp(),
    });
    resetSecretsCache();
    try {
      const { ServiceBroker } = require("moleculer") as typeof import("moleculer");
      for (const file of ["auth", "keys", "api"]) {
        const broker = new ServiceBroker({ logger: false });
        jest.isolateModules(() => {
          const schema = require(`../../../services/${file}.service`).default;
          expect(() =>
            broker.createService({ ...schema, settings: { ...schema.settings, port: 0 } }),
          ).toThrow(/refusing to start in production/);
        });
      }
    } finally {
      process.env = saved;
      resetSecretsCache();
    }
  });
});

describe("embedded default (not production)", () => {
  test("generates both secrets once into AURA_DATA_DIR/secrets.json with mode 600 and a warning", () => {
    const dir = tmp();
    const warnings: string[] = [];
    const env = { NODE_ENV: "development", AURA_DATA_DIR: dir };
    const first = resolveSecrets(env, { warn: (m) => warnings.push(m) });
    const file = path.join(dir, "secrets.json");
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(warnings.join("\n")).toMatch(/generated development secrets/);
    expect(first.masterKey).toHaveLength(32);
    expect(jwtSecretProblem(first.jwtSecret.toString())).toBeUndefined();
    expect(first.source).toEqual({ jwt: "file", master: "file", file });

    const again = resolveSecrets(env, { warn: (m) => warnings.push(m) });
    expect(again.jwtSecret.equals(first.jwtSecret)).toBe(true);
    expect(again.masterKey.equals(first.masterKey)).toBe(true);
    expect(warnings).toHaveLength(1);
  });

  test("a file readable by others is tightened to 600", () => {
    const dir = tmp();
    resolveSecrets({ AURA_DATA_DIR: dir }, { warn: () => {} });
    const file = path.join(dir, "secrets.json");
    fs.chmodSync(file, 0o644);
    const warnings: string[] = [];
    resolveSecrets({ AURA_DATA_DIR: dir }, { warn: (m) => warnings.push(m) });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(warnings.join()).toMatch(/mode is now 600/);
  });

  test("environment values win over the file; an explicitly weak JWT_SECRET is refused even in development", () => {
    const dir = tmp();
    const key = strongKey();
    const s = resolveSecrets({ AURA_DATA_DIR: dir, AURA_MASTER_KEY: key }, { warn: () => {} });
    expect(s.source.master).toBe("env");
    expect(s.source.jwt).toBe("file");
    expect(() => resolveSecrets({ AURA_DATA_DIR: dir, JWT_SECRET: "short" }, { warn: () => {} })).toThrow(
      /at least 32/,
    );
  });

  test("loadSecrets caches per environment", () => {
    const dir = tmp();
    const env = { AURA_DATA_DIR: dir, JWT_SECRET: strongJwt(), AURA_MASTER_KEY: strongKey() };
    expect(loadSecrets(env)).toBe(loadSecrets({ ...env }));
    expect(loadSecrets({ ...env, AURA_MASTER_KEY: strongKey() })).not.toBe(loadSecrets(env));
  });
});
