// Lockout per account and per ip, with exponential escalation (memory store, on a test clock).
import { LoginThrottle } from "../../../src/adapters/auth/login-throttle";
import { createLimiterFactory } from "../../../src/adapters/auth/rate-limit";

const cfg = { accountThreshold: 3, ipThreshold: 5, windowSec: 900, baseLockSec: 10, maxLockSec: 35 };

test("the threshold-th failure locks the account; the lock doubles each time up to the cap", async () => {
  let now = 1_700_000_000_000;
  const t = new LoginThrottle(createLimiterFactory(undefined, { now: () => now }), cfg);
  const locks: number[] = [];
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < cfg.accountThreshold; i++) {
      expect((await t.check("a@x.io", `10.0.${round}.${i}`)).retryAfter).toBe(0);
      await t.fail("a@x.io", `10.0.${round}.${i}`);
    }
    const v = await t.check("a@x.io", "10.9.9.9");
    expect(v.scope).toBe("account");
    locks.push(v.retryAfter);
    // the lock holds until its last second and is over after it
    now += (v.retryAfter - 1) * 1000;
    expect(await t.check("a@x.io", "10.9.9.9")).toEqual({ retryAfter: 1, scope: "account" });
    now += 1000;
  }
  expect(locks).toEqual([10, 20, 35, 35]);
});

test("failures older than the window no longer count", async () => {
  let now = 1_700_000_000_000;
  const t = new LoginThrottle(createLimiterFactory(undefined, { now: () => now }), cfg);
  for (let i = 0; i < cfg.accountThreshold - 1; i++) await t.fail("w@x.io", `10.3.0.${i}`);
  now += cfg.windowSec * 1000;
  await t.fail("w@x.io", "10.3.1.1");
  expect((await t.check("w@x.io", "10.3.1.2")).retryAfter).toBe(0);
});

test("failures from one ip across many accounts lock the ip; a success clears only the account count", async () => {
  const t = new LoginThrottle(createLimiterFactory(undefined), cfg);
  for (let i = 0; i < cfg.ipThreshold; i++) await t.fail(`user${i}@x.io`, "1.2.3.4");
  expect(await t.check("fresh@x.io", "1.2.3.4")).toMatchObject({ scope: "ip" });
  expect((await t.check("fresh@x.io", "5.6.7.8")).retryAfter).toBe(0);

  await t.fail("b@x.io", "9.9.9.9");
  await t.fail("b@x.io", "9.9.9.9");
  await t.succeed("b@x.io");
  await t.fail("b@x.io", "9.9.9.9");
  expect((await t.check("b@x.io", "9.9.9.8")).retryAfter).toBe(0);
});

test("a known client is held by its own lock, not by the account lock a stranger caused", async () => {
  const t = new LoginThrottle(createLimiterFactory(undefined), { ...cfg, deviceThreshold: 2 });
  for (let i = 0; i < cfg.accountThreshold; i++) await t.fail("v@x.io", `10.1.0.${i}`);
  expect(await t.check("v@x.io", "10.2.0.1")).toMatchObject({ scope: "account" });
  expect((await t.check("v@x.io", "10.2.0.1", "device:known")).retryAfter).toBe(0);
  // the owner logging in does not reset the stranger's lock
  await t.succeed("v@x.io", "device:known");
  expect(await t.check("v@x.io", "10.2.0.1")).toMatchObject({ scope: "account" });
  // failures with the device token lock that device
  await t.fail("v@x.io", "10.2.0.1", "device:known");
  await t.fail("v@x.io", "10.2.0.1", "device:known");
  expect(await t.check("v@x.io", "10.2.0.1", "device:known")).toMatchObject({ scope: "device" });
  expect((await t.check("v@x.io", "10.2.0.1", "device:other")).retryAfter).toBe(0);
});
