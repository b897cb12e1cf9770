// Password hashing with argon2id at OWASP's minimum (m = 19 MiB, t = 2, p = 1), the full PHC
// string stored, and a rehash on login when the stored parameters fall behind the configured ones.
// argon2 runs on the libuv thread pool, so hashing does not block the event loop.
import crypto from "node:crypto";
import { hash, verify, type Algorithm } from "@node-rs/argon2";

/** Algorithm.Argon2id (a const enum, which isolated modules cannot read) */
const ARGON2ID = 2 as Algorithm;

export interface HashParams {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** OWASP Password Storage Cheat Sheet: argon2id, 19456 KiB, 2 iterations, 1 lane. */
export const OWASP_ARGON2ID: Readonly<HashParams> = Object.freeze({
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
});

export const MIN_PASSWORD_LENGTH = 10;
export const MAX_PASSWORD_LENGTH = 256;

export function hashPassword(password: string, params: HashParams = OWASP_ARGON2ID): Promise<string> {
  return hash(password, {
    algorithm: ARGON2ID,
    memoryCost: params.memoryCost,
    timeCost: params.timeCost,
    parallelism: params.parallelism,
  });
}

/** False for a wrong password and for anything that is not an argon2 PHC string (never throws). */
export async function verifyPassword(phc: string, password: string): Promise<boolean> {
  try {
    return await verify(phc, password);
  } catch {
    return false;
  }
}

export function parsePhc(phc: string): (HashParams & { algorithm: string; version: number }) | undefined {
  const m = /^\$(argon2(?:id|i|d))\$v=(\d+)\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(phc);
  if (!m) return undefined;
  return {
    algorithm: m[1],
    version: Number(m[2]),
    memoryCost: Number(m[3]),
    timeCost: Number(m[4]),
    parallelism: Number(m[5]),
  };
}

/** True when the stored hash is weaker than (or different from) what we would write today. */
export function needsRehash(phc: string, params: HashParams = OWASP_ARGON2ID): boolean {
  const p = parsePhc(phc);
  if (!p || p.algorithm !== "argon2id" || p.version !== 19) return true;
  return (
    p.memoryCost !== params.memoryCost ||
    p.timeCost !== params.timeCost ||
    p.parallelism !== params.parallelism
  );
}

/**
 * A hash of a random password with the current parameters. Logins for unknown emails verify
 * against it, so they cost the same time as a wrong password for a real account.
 */
export function dummyHash(params: HashParams = OWASP_ARGON2ID): Promise<string> {
  return hashPassword(crypto.randomBytes(24).toString("base64"), params);
}

const COMMON = new Set([
  "1234567890",
  "12345678910",
  "0123456789",
  "qwertyuiop",
  "password123",
  "password1234",
  "passwordpassword",
  "iloveyou123",
  "abcdefghij",
  "1q2w3e4r5t",
  "qwerty1234",
  "qwerty12345",
  "1qaz2wsx3edc",
  "aaaaaaaaaa",
  "letmein123",
  "welcome123",
  "administrator",
]);

/** Why a password is refused, or undefined when it meets the policy. */
export function passwordPolicyProblem(password: string, email: string): string | undefined {
  if (typeof password !== "string" || password.length < MIN_PASSWORD_LENGTH)
    return `Password must be at least ${MIN_PASSWORD_LENGTH} characters long.`;
  if (password.length > MAX_PASSWORD_LENGTH)
    return `Password must be at most ${MAX_PASSWORD_LENGTH} characters long.`;
  const p = password.trim().toLowerCase();
  const e = email.trim().toLowerCase();
  const local = e.split("@")[0];
  if (p === e || p === local || (local.length >= 4 && p.includes(e)))
    return "Password must not be your email address.";
  if (COMMON.has(p) || new Set(p).size < 3)
    return "Password is too common; choose a longer, less predictable one.";
  return undefined;
}
