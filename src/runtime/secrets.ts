// The process's secrets: the JWT signing secret and the master key ring that encrypts exchange
// keys. Production takes both from the environment and refuses to start when either is missing,
// short or a placeholder. The embedded default (not production) generates them once into
// AURA_DATA_DIR/secrets.json (mode 600) with a warning, so a laptop install needs no setup.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { ConfigError, secretsConfig, type SecretsConfig } from "../adapters/config";
import { decodeMasterKey, MASTER_KEY_BYTES, masterKeyProblem } from "../adapters/config/secrets";

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

export { jwtSecretProblem } from "../adapters/config/secrets";

/** Decodes a base64 master key; throws a SecretsError naming it when it is not 32 random bytes. */
export function parseMasterKey(name: string, value: string | undefined): Buffer {
  const problem = masterKeyProblem(name, value);
  if (problem) throw new SecretsError(problem);
  return decodeMasterKey(value!);
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

/** The secret variables, or a SecretsError naming each problem (values never quoted). */
function configOf(env: NodeJS.ProcessEnv | undefined): SecretsConfig {
  try {
    return secretsConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) throw new SecretsError(e.message);
    throw e;
  }
}

function fileOf(cfg: SecretsConfig, opts: LoadOptions): string {
  return path.join(opts.dataDir ?? cfg.dataDir, "secrets.json");
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
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
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
export function resolveSecrets(env?: NodeJS.ProcessEnv, opts: LoadOptions = {}): Secrets {
  return resolveFrom(configOf(env), opts);
}

function resolveFrom(cfg: SecretsConfig, opts: LoadOptions): Secrets {
  const warn = opts.warn ?? ((m: string) => process.stderr.write(`aura: warning: ${m}\n`));
  let file: SecretsFile | undefined;
  let filePath: string | undefined;
  if (!cfg.jwtSecret || !cfg.masterKey) {
    filePath = fileOf(cfg, opts);
    file = readOrCreateFile(filePath, warn);
  }
  const jwtSecret = cfg.jwtSecret ?? Buffer.from(file!.jwtSecret, "utf8");
  const masterKey = cfg.masterKey ?? parseMasterKey(`masterKey in ${filePath}`, file!.masterKey);
  const oldMasterKeys = [
    ...cfg.oldMasterKeys,
    ...(cfg.masterKey
      ? []
      : (file!.oldMasterKeys ?? []).map((k, i) => parseMasterKey(`oldMasterKeys[${i}] in ${filePath}`, k))),
  ];
  return {
    jwtSecret,
    masterKey,
    oldMasterKeys,
    source: {
      jwt: cfg.jwtSecret ? "env" : "file",
      master: cfg.masterKey ? "env" : "file",
      ...(filePath ? { file: filePath } : {}),
    },
  };
}

let cached: { fingerprint: string; secrets: Secrets } | undefined;

/** The process's secrets, resolved once per distinct environment (`env` defaults to the process's). */
export function loadSecrets(env?: NodeJS.ProcessEnv, opts: LoadOptions = {}): Secrets {
  const cfg = configOf(env);
  const fingerprint = [
    cfg.production,
    cfg.jwtSecret?.toString("base64"),
    cfg.masterKey?.toString("base64"),
    ...cfg.oldMasterKeys.map((k) => k.toString("base64")),
    opts.dataDir ?? cfg.dataDir,
  ].join("\u0000");
  if (cached && cached.fingerprint === fingerprint) return cached.secrets;
  const secrets = resolveFrom(cfg, opts);
  cached = { fingerprint, secrets };
  return secrets;
}

/** Forget the cached secrets (after `aura keys rotate --generate` rewrote the file, and in tests). */
export function resetSecretsCache(): void {
  cached = undefined;
}
