// Security settings from the environment: defaults as documented in docs/security.md, malformed
// values refused instead of silently disabling a protection.
import { intFromEnv } from "../../../src/adapters/auth/env-int";
import { accessTtlSec } from "../../../src/adapters/auth/tokens";
import { clientIp } from "../../../src/gateway/client-ip";
import { rateLimitsFromEnv } from "../../../src/gateway/rate-limit";

test("rate-limit defaults and validation", () => {
  expect(rateLimitsFromEnv({})).toEqual({ ipPerMinute: 600, userPerMinute: 600, credentialsPerMinute: 20 });
  expect(rateLimitsFromEnv({ RATE_LIMIT_CREDENTIALS_PER_MIN: "0" }).credentialsPerMinute).toBe(0);
  for (const bad of ["-1", "ten", "1.5"])
    expect(() => rateLimitsFromEnv({ RATE_LIMIT_IP_PER_MIN: bad })).toThrow(/RATE_LIMIT_IP_PER_MIN/);
});

test("integer settings refuse malformed values", () => {
  expect(intFromEnv("X", 5, { min: 1 }, {})).toBe(5);
  expect(intFromEnv("X", 5, { min: 1 }, { X: "7" })).toBe(7);
  for (const bad of ["0", "abc", "2.5", "1001"])
    expect(() => intFromEnv("X", 5, { min: 1, max: 1000 }, { X: bad })).toThrow(/X must be an integer/);
});

test("access-token lifetime is capped at 900 s", () => {
  expect(accessTtlSec(undefined)).toBe(900);
  expect(accessTtlSec("3600")).toBe(900);
  expect(accessTtlSec("300")).toBe(300);
  expect(() => accessTtlSec("5")).toThrow();
});

test("X-Forwarded-For counts only through trusted proxy hops", () => {
  const req = (xff?: string) =>
    ({ headers: xff ? { "x-forwarded-for": xff } : {}, socket: { remoteAddress: "10.0.0.9" } }) as any;
  expect(clientIp(req("1.2.3.4"), 0)).toBe("10.0.0.9");
  expect(clientIp(req("6.6.6.6, 1.2.3.4"), 1)).toBe("1.2.3.4");
  expect(clientIp(req("6.6.6.6, 1.2.3.4, 5.5.5.5"), 2)).toBe("1.2.3.4");
  expect(clientIp(req("1.2.3.4"), 2)).toBe("10.0.0.9");
  expect(clientIp(req(), 1)).toBe("10.0.0.9");
});
