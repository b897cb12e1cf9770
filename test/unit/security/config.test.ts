// Security settings from the environment: defaults as documented in docs/security.md, malformed
// values refused instead of silently disabling a protection.
import { authConfig, ConfigError, gatewayConfig } from "../../../src/adapters/config";
import { MAX_ACCESS_TTL_SEC } from "../../../src/adapters/auth/tokens";
import { DEFAULT_THROTTLE } from "../../../src/adapters/auth/login-throttle";
import { DEFAULT_SESSION_POLICY } from "../../../src/adapters/auth/users";
import { clientIp } from "../../../src/gateway/client-ip";

test("rate-limit defaults and validation", () => {
  expect(gatewayConfig({}).rateLimits).toEqual({
    ipPerMinute: 600,
    userPerMinute: 600,
    credentialsPerMinute: 20,
  });
  expect(gatewayConfig({ RATE_LIMIT_CREDENTIALS_PER_MIN: "0" }).rateLimits.credentialsPerMinute).toBe(0);
  for (const bad of ["-1", "ten", "1.5"])
    expect(() => gatewayConfig({ RATE_LIMIT_IP_PER_MIN: bad })).toThrow(/RATE_LIMIT_IP_PER_MIN/);
});

test("integer settings refuse malformed values", () => {
  expect(authConfig({}).throttle.accountThreshold).toBe(5);
  expect(authConfig({ LOGIN_LOCKOUT_THRESHOLD: "7" }).throttle.accountThreshold).toBe(7);
  for (const bad of ["0", "abc", "2.5", "1001"])
    expect(() => authConfig({ LOGIN_LOCKOUT_THRESHOLD: bad })).toThrow(
      /LOGIN_LOCKOUT_THRESHOLD must be an integer from 1 to 1000/,
    );
});

test("the defaults are the modules' own", () => {
  const auth = authConfig({});
  expect(auth.session).toEqual(DEFAULT_SESSION_POLICY);
  expect(auth.throttle).toEqual({
    accountThreshold: DEFAULT_THROTTLE.accountThreshold,
    ipThreshold: DEFAULT_THROTTLE.ipThreshold,
  });
  expect(auth.accessTtlSec).toBe(MAX_ACCESS_TTL_SEC);
});

test("access-token lifetime is at most 900 s: a longer one is refused, not shortened silently", () => {
  expect(authConfig({ ACCESS_TOKEN_TTL_SEC: "300" }).accessTtlSec).toBe(300);
  for (const bad of ["5", "3600"])
    expect(() => authConfig({ ACCESS_TOKEN_TTL_SEC: bad })).toThrow(ConfigError);
});

test("TRUST_PROXY_HOPS must be a count", () => {
  expect(gatewayConfig({}).trustProxyHops).toBe(0);
  expect(gatewayConfig({ TRUST_PROXY_HOPS: "2" }).trustProxyHops).toBe(2);
  for (const bad of ["-1", "one", "1.5"])
    expect(() => gatewayConfig({ TRUST_PROXY_HOPS: bad })).toThrow(/TRUST_PROXY_HOPS/);
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
