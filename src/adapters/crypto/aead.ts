// AES-256-GCM sealing of exchange secrets at rest. Every ciphertext carries the id of the master
// key that sealed it, so several keys can decrypt while a rotation is in progress; associated
// data binds it to its row (user, key record, exchange, field), so a blob copied to another row
// or field does not open. Decryption pins the tag length to 16 bytes: Node 20 otherwise accepts
// truncated tags (a 4-byte tag is forgeable).
import crypto from "node:crypto";

const ALGORITHM = "aes-256-gcm";
export const IV_BYTES = 12;
export const TAG_BYTES = 16;
const FORMAT = "v1";

export class DecryptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecryptError";
  }
}

/** A short stable id for a master key, derived from the key itself (so configuration carries no ids). */
export function keyIdOf(key: Buffer): string {
  return (
    "mk-" +
    crypto.createHash("sha256").update("aura master key id v1\u0000").update(key).digest("hex").slice(0, 16)
  );
}

export class KeyRing {
  readonly currentId: string;
  private readonly keys = new Map<string, Buffer>();

  constructor(current: Buffer, old: Buffer[] = []) {
    if (current.length !== 32) throw new Error("master key must be 32 bytes");
    this.currentId = keyIdOf(current);
    this.keys.set(this.currentId, current);
    for (const k of old) {
      if (k.length !== 32) throw new Error("master key must be 32 bytes");
      const id = keyIdOf(k);
      if (!this.keys.has(id)) this.keys.set(id, k);
    }
  }

  has(id: string): boolean {
    return this.keys.has(id);
  }

  ids(): string[] {
    return [...this.keys.keys()];
  }

  /** Key bytes by id; unknown ids fail closed. */
  key(id: string): Buffer {
    const k = this.keys.get(id);
    if (!k)
      throw new DecryptError(
        `unknown master key id ${JSON.stringify(id).slice(0, 40)}: the key that sealed this value is not configured (AURA_MASTER_KEY / AURA_MASTER_KEYS_OLD)`,
      );
    return k;
  }
}

export interface SealedParts {
  keyId: string;
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

const b64u = (b: Buffer) => b.toString("base64url");

export function formatSealed(p: SealedParts): string {
  return [FORMAT, p.keyId, b64u(p.iv), b64u(p.tag), b64u(p.ciphertext)].join(".");
}

export function parseSealed(text: string): SealedParts {
  const parts = typeof text === "string" ? text.split(".") : [];
  if (parts.length !== 5 || parts[0] !== FORMAT) throw new DecryptError("malformed sealed value");
  const [, keyId, iv, tag, ct] = parts;
  if (!/^[A-Za-z0-9_-]+$/.test(keyId) || ![iv, tag, ct].every((s) => /^[A-Za-z0-9_-]*$/.test(s)))
    throw new DecryptError("malformed sealed value");
  return {
    keyId,
    iv: Buffer.from(iv, "base64url"),
    tag: Buffer.from(tag, "base64url"),
    ciphertext: Buffer.from(ct, "base64url"),
  };
}

/** Seals `plaintext` under the ring's current key with a fresh random 96-bit IV. */
export function seal(ring: KeyRing, plaintext: string | Buffer, aad: string): string {
  return formatSealed(sealParts(ring, plaintext, aad));
}

export function sealParts(ring: KeyRing, plaintext: string | Buffer, aad: string): SealedParts {
  const iv = crypto.randomBytes(IV_BYTES);
  const cipher = crypto.createCipheriv(ALGORITHM, ring.key(ring.currentId), iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, "utf8"));
  const ciphertext = Buffer.concat([
    cipher.update(typeof plaintext === "string" ? Buffer.from(plaintext, "utf8") : plaintext),
    cipher.final(),
  ]);
  return { keyId: ring.currentId, iv, tag: cipher.getAuthTag(), ciphertext };
}

export function openParts(ring: KeyRing, p: SealedParts, aad: string): Buffer {
  if (p.iv.length !== IV_BYTES) throw new DecryptError(`IV must be ${IV_BYTES} bytes`);
  // checked before Node sees it: the tag length is part of what must not be negotiable
  if (p.tag.length !== TAG_BYTES) throw new DecryptError(`authentication tag must be ${TAG_BYTES} bytes`);
  const decipher = crypto.createDecipheriv(ALGORITHM, ring.key(p.keyId), p.iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(aad, "utf8"));
  decipher.setAuthTag(p.tag);
  try {
    return Buffer.concat([decipher.update(p.ciphertext), decipher.final()]);
  } catch {
    throw new DecryptError("sealed value failed authentication (tampered, or bound to another row)");
  }
}

export function open(ring: KeyRing, sealed: string, aad: string): string {
  return openParts(ring, parseSealed(sealed), aad).toString("utf8");
}

/** The key id a sealed value names, without opening it. */
export function sealedKeyId(sealed: string): string {
  return parseSealed(sealed).keyId;
}

/** Associated data for one secret field of a user_api_keys row. */
export function apiKeyAad(row: {
  userId: string | number;
  keyRecordId: string | number;
  exchange: string;
  field: "api_key" | "api_secret";
}): string {
  return `aura/user_api_keys/v1|user=${row.userId}|key=${row.keyRecordId}|exchange=${row.exchange}|field=${row.field}`;
}
