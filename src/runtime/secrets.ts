// The process's secrets: the JWT signing secret and the master key ring that encrypts exchange
// keys. Production takes both from the environment and refuses to start when either is missing,
// short or a placeholder. The embedded default (not production) generates them once into
// AURA_DATA_DIR/secrets.json (mode 600) with a warning, so a laptop install needs no setup.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export interface Secrets {
  /** HMAC key for access tokens (HS256) */
  jwtSecret: Buffer;
  /** the key every new ciphertext is written with */
  masterKey: Buffer;
  /** older keys still accepted for decryption during a rotation */
  oldMasterKeys: Buffer[];
  source: { jwt: "env" | "file"; master: "env" | "file"; file?: string };
}

export class SecretsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SecretsError";
  }
}

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

/** Decodes a base64 master key; throws a SecretsError naming the variable when it is not 32 bytes. */
export function parseMasterKey(name: string, value: string | undefined): Buffer {
  if (value === undefined || value.trim() === "")
    throw new SecretsError(`${name} is not set (32 random bytes, base64: openssl rand -base64 32)`);
  const text = value.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) throw new SecretsError(`${name} is not base64`);
  const key = Buffer.from(text.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  if (key.length !== MASTER_KEY_BYTES)
    throw new SecretsError(
      `${name} decodes to ${key.length} bytes; it must be exactly ${MASTER_KEY_BYTES} bytes (openssl rand -base64 32)`,
    );
  if (key.equals(Buffer.alloc(MASTER_KEY_BYTES)) || new Set(key).size < 8)
    throw new SecretsError(`${name} is not random (all zeros or repeated bytes)`);
  return key;
}

function parseOldKeys(value: string | undefined): Buffer[] {
  if (!value || !value.trim()) return [];
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((k, i) => parseMasterKey(`AURA_MASTER_KEYS_OLD[${i}]`, k));
}

interface SecretsFile {
  jwtSecret: string;
  masterKey: string;
  oldMasterKeys?: string[];
}

export interface LoadOptions {
  /** warnings (generated secrets) go here; default: stderr */
  warn?: (msg: string) => void;
  dataDir?: string;
}

function dataDirOf(env: NodeJS.ProcessEnv, opts: LoadOptions): string {
  return opts.dataDir ?? path.resolve(env.AURA_DATA_DIR?.trim() || ".aura");
}

export function secretsFilePath(env: NodeJS.ProcessEnv = process.env, opts: LoadOptions = {}): string {
  return path.join(dataDirOf(env, opts), "secrets.json");
}

/** Reads secrets.json, creating it (exclusively, mode 600) when absent so concurrent processes agree. */
function readOrCreateFile(file: string, warn: (m: string) => void): SecretsFile {
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const fresh: SecretsFile = {
      jwtSecret: crypto.randomBytes(48).toString("base64"),
      masterKey: crypto.randomBytes(MASTER_KEY_BYTES).toString("base64"),
    };
    try {
      fs.writeFileSync(file, JSON.stringify(fresh, null, 2) + "\n", { mode: 0o600, flag: "wx" });
      warn(
        `generated development secrets in ${file} (JWT secret and exchange-key master key). ` +
          `Production must set JWT_SECRET and AURA_MASTER_KEY; keep this file private and backed up: losing it makes stored exchange keys unreadable.`,
      );
    } catch (e: any) {
      if (e.code !== "EEXIST") throw e;
    }
  }
  const st = fs.statSync(file);
  if ((st.mode & 0o077) !== 0) {
    fs.chmodSync(file, 0o600);
    warn(`${file} was readable by other users; its mode is now 600`);
  }
  const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as SecretsFile;
  if (typeof parsed.jwtSecret !== "string" || typeof parsed.masterKey !== "string")
    throw new SecretsError(`${file} is malformed (needs jwtSecret and masterKey)`);
  return parsed;
}

/** Rewrites the file's master keys (used by `aura keys rotate --generate` on embedded installs). */
export function writeSecretsFile(file: string, content: SecretsFile): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(content, null, 2) + "\n", { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export function readSecretsFile(file: string): SecretsFile {
  return JSON.parse(fs.readFileSync(file, "utf8")) as SecretsFile;
}

/**
 * Resolves the secrets without caching. Throws SecretsError for anything production must refuse;
 * in development an explicitly set but weak JWT_SECRET is refused too (it would be used as is).
 */
export function resolveSecrets(env: NodeJS.ProcessEnv = process.env, opts: LoadOptions = {}): Secrets {
  const production = (env.NODE_ENV ?? "development") === "production";
  const warn = opts.warn ?? ((m: string) => process.stderr.write(`aura: warning: ${m}\n`));
  const jwtEnv = env.JWT_SECRET;
  const masterEnv = env.AURA_MASTER_KEY;

  if (production) {
    const problems: string[] = [];
    const jp = jwtSecretProblem(jwtEnv);
    if (jp) problems.push(jp);
    try {
      parseMasterKey("AURA_MASTER_KEY", masterEnv);
    } catch (e: any) {
      problems.push(e.message);
    }
    try {
      parseOldKeys(env.AURA_MASTER_KEYS_OLD);
    } catch (e: any) {
      problems.push(e.message);
    }
    if (problems.length) throw new SecretsError(`refusing to start in production: ${problems.join("; ")}`);
  }

  let file: SecretsFile | undefined;
  let filePath: string | undefined;
  const needFile = !jwtEnv || !masterEnv;
  if (needFile) {
    filePath = secretsFilePath(env, opts);
    file = readOrCreateFile(filePath, warn);
  }

  let jwtSecret: Buffer;
  if (jwtEnv) {
    const jp = jwtSecretProblem(jwtEnv);
    if (jp) throw new SecretsError(jp);
    jwtSecret = Buffer.from(jwtEnv, "utf8");
  } else {
    jwtSecret = Buffer.from(file!.jwtSecret, "utf8");
  }

  const masterKey = masterEnv
    ? parseMasterKey("AURA_MASTER_KEY", masterEnv)
    : parseMasterKey(`masterKey in ${filePath}`, file!.masterKey);
  const oldMasterKeys = [
    ...parseOldKeys(env.AURA_MASTER_KEYS_OLD),
    ...(masterEnv
      ? []
      : (file!.oldMasterKeys ?? []).map((k, i) => parseMasterKey(`oldMasterKeys[${i}] in ${filePath}`, k))),
  ];
  return {
    jwtSecret,
    masterKey,
    oldMasterKeys,
    source: {
      jwt: jwtEnv ? "env" : "file",
      master: masterEnv ? "env" : "file",
      ...(filePath ? { file: filePath } : {}),
    },
  };
}

let cached: { fingerprint: string; secrets: Secrets } | undefined;

/** The process's secrets, resolved once per distinct environment. */
export function loadSecrets(env: NodeJS.ProcessEnv = process.env, opts: LoadOptions = {}): Secrets {
  const fingerprint = [
    env.NODE_ENV,
    env.JWT_SECRET,
    env.AURA_MASTER_KEY,
    env.AURA_MASTER_KEYS_OLD,
    dataDirOf(env, opts),
  ].join("\u0000");
  if (cached && cached.fingerprint === fingerprint) return cached.secrets;
  const secrets = resolveSecrets(env, opts);
  cached = { fingerprint, secrets };
  return secrets;
}

/** Forget the cached secrets (after `aura keys rotate --generate` rewrote the file, and in tests). */
export function resetSecretsCache(): void {
  cached = undefined;
}
