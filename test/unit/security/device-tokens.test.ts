// Device tokens (the known-client exemption from account lockout): bound to the email by the MAC
// without containing it, expiring, keyed separately from access tokens, and refused quietly when
// forged, expired, for another email or malformed.
import crypto from "node:crypto";
import {
  deviceTokenKey,
  issueDeviceToken,
  verifyDeviceToken,
} from "../../../src/adapters/auth/device-tokens";

const secret = crypto.randomBytes(48);
const key = deviceTokenKey(secret);

test("a token verifies for its email until it expires, and keeps its device id when renewed", () => {
  const now = 1_700_000_000;
  const t = issueDeviceToken(key, "a@x.io", { nowSec: now, ttlSec: 3600 });
  expect(t.token).toMatch(/^adt1\.[A-Za-z0-9_-]{22}\.\d+\.[A-Za-z0-9_-]{43}$/);
  expect(t.token).not.toContain("a@x.io");
  expect(verifyDeviceToken(key, t.token, "a@x.io", now + 3599)).toEqual({
    deviceId: t.deviceId,
    expiresAt: now + 3600,
  });
  expect(verifyDeviceToken(key, t.token, "a@x.io", now + 3600)).toBeUndefined();
  const renewed = issueDeviceToken(key, "a@x.io", { deviceId: t.deviceId, nowSec: now + 10 });
  expect(renewed.deviceId).toBe(t.deviceId);
  expect(renewed.token).not.toBe(t.token);
});

test("another email, another key, a tampered field or junk → not a device token", () => {
  const t = issueDeviceToken(key, "a@x.io");
  expect(verifyDeviceToken(key, t.token, "b@x.io")).toBeUndefined();
  expect(verifyDeviceToken(deviceTokenKey(crypto.randomBytes(48)), t.token, "a@x.io")).toBeUndefined();
  const [p, id, exp, mac] = t.token.split(".");
  const later = `${p}.${id}.${Number(exp) + 10_000_000}.${mac}`;
  expect(verifyDeviceToken(key, later, "a@x.io")).toBeUndefined();
  const otherId = `${p}.${"A".repeat(22)}.${exp}.${mac}`;
  expect(verifyDeviceToken(key, otherId, "a@x.io")).toBeUndefined();
  for (const junk of [undefined, null, 42, "", "adt1", `${t.token}x`, t.token.replace("adt1", "adt2")])
    expect(verifyDeviceToken(key, junk, "a@x.io")).toBeUndefined();
});

test("the device key is not the access-token secret", () => {
  expect(key.equals(secret.subarray(0, 32))).toBe(false);
  expect(key).toHaveLength(32);
});
