// Password hashing: argon2id at OWASP parameters in the stored PHC string, rehash detection, the policy.
import {
  dummyHash,
  hashPassword,
  needsRehash,
  OWASP_ARGON2ID,
  parsePhc,
  passwordPolicyProblem,
  verifyPassword,
} from "../../../src/adapters/crypto/password";

test("hashes are argon2id v19 with m=19456, t=2, p=1 and verify", async () => {
  const phc = await hashPassword("correct horse battery staple");
  expect(phc).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  expect(parsePhc(phc)).toMatchObject({
    algorithm: "argon2id",
    memoryCost: 19456,
    timeCost: 2,
    parallelism: 1,
  });
  expect(await verifyPassword(phc, "correct horse battery staple")).toBe(true);
  expect(await verifyPassword(phc, "correct horse battery stapl")).toBe(false);
  expect(await verifyPassword("not a hash", "x")).toBe(false);
});

test("weaker or foreign hashes need a rehash; current ones do not", async () => {
  const weak = await hashPassword("correct horse battery staple", {
    memoryCost: 1024,
    timeCost: 1,
    parallelism: 1,
  });
  expect(needsRehash(weak)).toBe(true);
  expect(needsRehash(await hashPassword("x".repeat(12), OWASP_ARGON2ID))).toBe(false);
  expect(needsRehash("$2b$10$abcdefghijklmnopqrstuu")).toBe(true);
});

test("the dummy hash for unknown users has the current parameters", async () => {
  expect(parsePhc(await dummyHash())).toMatchObject({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
});

test.each([
  ["short", "abc12345", /at least 10/],
  ["the email", "alice@example.com", /email/],
  ["the email's local part", "alice.smith.longname", /email/],
  ["common", "1234567890", /common/],
  ["one repeated character", "aaaaaaaaaaaa", /common/],
  ["too long", "x".repeat(300), /at most/],
])("refuses a password that is %s", (_n, pw, re) => {
  const email = pw === "alice.smith.longname" ? "alice.smith.longname@example.com" : "alice@example.com";
  expect(passwordPolicyProblem(pw, email)).toMatch(re);
});

test("accepts a reasonable password", () => {
  expect(passwordPolicyProblem("correct horse battery staple", "alice@example.com")).toBeUndefined();
});
