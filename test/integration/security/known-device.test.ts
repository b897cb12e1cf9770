// Account lockout must not let a stranger lock the owner out. A successful login returns a device
// token; presenting it with the right password logs in while the account is locked for everyone
// else. Such a client has its own failure counter instead, and the per-ip limit still applies.
// A device token for another email, a forged one and an expired one do not help.
import crypto from "node:crypto";
import { deviceTokenKey, issueDeviceToken } from "../../../src/adapters/auth/device-tokens";
import {
  http,
  registerAndLogin,
  startSecurityEnv,
  uniqueEmail,
  useTestSecrets,
  type SecurityEnv,
} from "./helpers";

let env: SecurityEnv;
let base: string;
beforeAll(async () => {
  useTestSecrets();
  env = await startSecurityEnv({ settings: { api: { trustProxyHops: 1 } } });
  base = env.cluster.baseUrl;
  await registerAndLogin(base); // the admin
});
afterAll(async () => {
  await env?.stop();
});

const randomIp = () => `10.${crypto.randomInt(256)}.${crypto.randomInt(256)}.${crypto.randomInt(1, 255)}`;
const login = (email: string, password: string, ip: string, deviceToken?: string) =>
  http(base, "POST", "/auth/login", {
    body: { email, password, ...(deviceToken !== undefined ? { deviceToken } : {}) },
    headers: { "x-forwarded-for": ip },
  });

/** Registers a user and logs in once from `ip`, returning the device token that login handed out. */
async function knownClient(ip = randomIp()) {
  const s = await registerAndLogin(base, uniqueEmail("owner"));
  const first = await login(s.email, s.password, ip);
  expect(first.status).toBe(200);
  expect(first.body.deviceToken).toMatch(/^adt1\./);
  expect(first.body.deviceToken).not.toContain(s.email);
  return { ...s, ip, deviceToken: first.body.deviceToken as string };
}

/** Wrong passwords from ever new addresses until the account is locked for strangers. */
async function lockOut(email: string) {
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++)
    statuses.push((await login(email, `wrong guess number ${i}`, randomIp())).status);
  expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
}

test("the known client logs in with the right password while a stranger has the account locked", async () => {
  const owner = await knownClient();
  await lockOut(owner.email);
  // locked for anyone without the device token, even with the right password
  expect((await login(owner.email, owner.password, randomIp())).status).toBe(429);
  const ok = await login(owner.email, owner.password, owner.ip, owner.deviceToken);
  expect(ok.status).toBe(200);
  expect(ok.body.accessToken).toEqual(expect.any(String));
  // the renewed token names the same device, so it keeps one failure counter
  expect(ok.body.deviceToken.split(".")[1]).toBe(owner.deviceToken.split(".")[1]);
  expect((await login(owner.email, owner.password, owner.ip, ok.body.deviceToken)).status).toBe(200);
  // the owner's logins do not lift the lock for the stranger
  expect((await login(owner.email, owner.password, randomIp())).status).toBe(429);
});

test("a device token for another email, a forged one or an expired one does not help", async () => {
  const owner = await knownClient();
  const other = await knownClient();
  await lockOut(owner.email);
  const [prefix, id, exp, mac] = owner.deviceToken.split(".");
  const flipped = mac.slice(0, -1) + (mac.endsWith("A") ? "B" : "A");
  const key = deviceTokenKey(Buffer.from(useTestSecrets().jwtSecret, "utf8"));
  const expired = issueDeviceToken(key, owner.email, {
    deviceId: id,
    nowSec: Math.floor(Date.now() / 1000) - 100,
    ttlSec: 60,
  });
  const wrongKey = issueDeviceToken(deviceTokenKey(crypto.randomBytes(48)), owner.email).token;
  for (const [what, token] of [
    ["another email's token", other.deviceToken],
    ["a forged signature", `${prefix}.${id}.${exp}.${flipped}`],
    ["a prolonged expiry", `${prefix}.${id}.${Number(exp) + 1000}.${mac}`],
    ["an expired token", expired.token],
    ["a token signed with another key", wrongKey],
    ["junk", "adt1.junk"],
  ]) {
    const res = await login(owner.email, owner.password, owner.ip, token);
    expect([what, res.status]).toEqual([what, 429]);
  }
  // the genuine one still works
  expect((await login(owner.email, owner.password, owner.ip, owner.deviceToken)).status).toBe(200);
});

test("wrong passwords with a device token lock that device; the ip limit still applies", async () => {
  const owner = await knownClient();
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++)
    statuses.push((await login(owner.email, `not it ${i} at all`, randomIp(), owner.deviceToken)).status);
  expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
  const locked = await login(owner.email, owner.password, owner.ip, owner.deviceToken);
  expect(locked.status).toBe(429);
  expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);

  // a locked ip stays locked for a known client too
  const second = await knownClient();
  const noisyIp = randomIp();
  for (let i = 0; i < 20; i++) await login(uniqueEmail("spray"), `spray guess ${i} here`, noisyIp);
  expect((await login(second.email, second.password, noisyIp, second.deviceToken)).status).toBe(429);
  expect((await login(second.email, second.password, second.ip, second.deviceToken)).status).toBe(200);
});
