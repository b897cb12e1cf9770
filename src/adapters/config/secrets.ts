// Strength checks for the secret variables. They never quote the value, so their messages are
// safe in logs and in the start-up error.

export const MIN_JWT_SECRET_BYTES = 32;
export const MASTER_KEY_BYTES = 32;

/** Values people paste from examples; any secret containing one of them is refused in production. */
const PLACEHOLDER_WORDS = [
  "changeme",
  "change-me",
  "change_me",
  "placeholder",
  "example",
  "your-secret",
  "your_secret",
  "yoursecret",
  "secret",
  "default",
  "password",
  "replace",
  "todo",
  "xxxx",
  "insecure",
  "development",
  "jwt-key",
  "jwtkey",
];

/** Why a JWT secret is unacceptable, or undefined when it is fine. */
export function jwtSecretProblem(value: string | undefined): string | undefined {
  if (value === undefined || value === "") return "JWT_SECRET is not set";
  const bytes = Buffer.byteLength(value, "utf8");
  if (bytes < MIN_JWT_SECRET_BYTES)
    return `JWT_SECRET is ${bytes} bytes; at least ${MIN_JWT_SECRET_BYTES} random bytes are required`;
  const lower = value.toLowerCase();
  const word = PLACEHOLDER_WORDS.find((w) => lower.includes(w));
  if (word)
    return `JWT_SECRET looks like a placeholder (contains "${word}"); generate one with: openssl rand -base64 48`;
  if (new Set(value).size < 10)
    return "JWT_SECRET has too little variety to be random; generate one with: openssl rand -base64 48";
  return undefined;
}

/** base64 or base64url text → bytes (no validation). */
export function decodeMasterKey(value: string): Buffer {
  return Buffer.from(value.trim().replace(/-/g, "+").replace(/_/g, "/"), "base64");
}

/** Why a base64 master key (named `name` in the message) is unacceptable, or undefined. */
export function masterKeyProblem(name: string, value: string | undefined): string | undefined {
  if (value === undefined || value.trim() === "")
    return `${name} is not set (32 random bytes, base64: openssl rand -base64 32)`;
  const text = value.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return `${name} is not base64`;
  const key = decodeMasterKey(text);
  if (key.length !== MASTER_KEY_BYTES)
    return `${name} decodes to ${key.length} bytes; it must be exactly ${MASTER_KEY_BYTES} bytes (openssl rand -base64 32)`;
  if (key.equals(Buffer.alloc(MASTER_KEY_BYTES)) || new Set(key).size < 8)
    return `${name} is not random (all zeros or repeated bytes)`;
  return undefined;
}
