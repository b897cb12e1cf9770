// The AES-256-GCM envelope for exchange secrets. Any change to ciphertext, IV, tag or
// associated data, a truncated tag, a blob moved to another row, or an unknown master key id
// must make decryption throw; IVs never repeat.
import crypto from "node:crypto";
import fc from "fast-check";
import {
  apiKeyAad,
  DecryptError,
  formatSealed,
  IV_BYTES,
  KeyRing,
  keyIdOf,
  open,
  openParts,
  parseSealed,
  seal,
  sealParts,
  TAG_BYTES,
} from "../../../src/adapters/crypto/aead";

const ring = new KeyRing(crypto.randomBytes(32));
const AAD = apiKeyAad({ userId: 7, keyRecordId: 42, exchange: "binance", field: "api_secret" });
const SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

function flipBit(buf: Buffer, bit: number): Buffer {
  const out = Buffer.from(buf);
  out[bit >> 3] ^= 1 << (bit & 7);
  return out;
}

test("round trip, 12-byte IV and 16-byte tag, current key id recorded", () => {
  const sealed = seal(ring, SECRET, AAD);
  const p = parseSealed(sealed);
  expect(p.iv).toHaveLength(IV_BYTES);
  expect(p.tag).toHaveLength(TAG_BYTES);
  expect(p.keyId).toBe(ring.currentId);
  expect(sealed).not.toContain(SECRET);
  expect(open(ring, sealed, AAD)).toBe(SECRET);
});

test("any round trip with arbitrary plaintext and associated data (property)", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), fc.string({ maxLength: 200 }), (plain, aad) => {
      expect(open(ring, seal(ring, plain, aad), aad)).toBe(plain);
    }),
    { numRuns: 200 },
  );
});

test("flipping any single bit of ciphertext, IV or tag makes decryption throw", () => {
  const parts = sealParts(ring, SECRET, AAD);
  for (const field of ["ciphertext", "iv", "tag"] as const) {
    const bits = parts[field].length * 8;
    for (let bit = 0; bit < bits; bit++) {
      const tampered = { ...parts, [field]: flipBit(parts[field], bit) };
      expect(() => openParts(ring, tampered, AAD)).toThrow(DecryptError);
    }
  }
});

test("changing any bit of the associated data makes decryption throw", () => {
  const parts = sealParts(ring, SECRET, AAD);
  const aadBuf = Buffer.from(AAD, "latin1");
  for (let bit = 0; bit < aadBuf.length * 8; bit++) {
    expect(() => openParts(ring, parts, flipBit(aadBuf, bit).toString("latin1"))).toThrow();
  }
});

test("a truncated 4-byte tag is refused (Node 20 would accept it without authTagLength)", () => {
  const parts = sealParts(ring, SECRET, AAD);
  for (const len of [4, 8, 12, 15]) {
    const truncated = formatSealed({ ...parts, tag: parts.tag.subarray(0, len) });
    expect(() => open(ring, truncated, AAD)).toThrow(/authentication tag must be 16 bytes/);
  }
  // and the lower-level guard: Node itself, told 16, rejects a 4-byte tag too
  const d = crypto.createDecipheriv("aes-256-gcm", ring.key(ring.currentId), parts.iv, { authTagLength: 16 });
  expect(() => d.setAuthTag(parts.tag.subarray(0, 4))).toThrow();
});

test("a ciphertext copied to another user's row, key record, exchange or field does not open", () => {
  const sealed = seal(ring, SECRET, AAD);
  const elsewhere = [
    apiKeyAad({ userId: 8, keyRecordId: 42, exchange: "binance", field: "api_secret" }),
    apiKeyAad({ userId: 7, keyRecordId: 43, exchange: "binance", field: "api_secret" }),
    apiKeyAad({ userId: 7, keyRecordId: 42, exchange: "sim", field: "api_secret" }),
    apiKeyAad({ userId: 7, keyRecordId: 42, exchange: "binance", field: "api_key" }),
  ];
  for (const aad of elsewhere) expect(() => open(ring, sealed, aad)).toThrow(DecryptError);
});

test("an unknown master key id fails closed, and a ring with the old key decrypts during rotation", () => {
  const oldKey = crypto.randomBytes(32);
  const oldRing = new KeyRing(oldKey);
  const sealed = seal(oldRing, SECRET, AAD);
  expect(() => open(ring, sealed, AAD)).toThrow(/unknown master key id/);
  const rotating = new KeyRing(crypto.randomBytes(32), [oldKey]);
  expect(open(rotating, sealed, AAD)).toBe(SECRET);
  // a forged key id that names the current key still fails authentication
  const forged = formatSealed({ ...parseSealed(sealed), keyId: rotating.currentId });
  expect(() => open(rotating, forged, AAD)).toThrow(DecryptError);
});

test("malformed sealed values are refused", () => {
  for (const bad of [
    "",
    "v1",
    "v2.mk-1.a.b.c",
    "v1.mk-1.!!.b.c",
    `v1.${ring.currentId}.${"A".repeat(16)}.b`,
  ]) {
    expect(() => open(ring, bad, AAD)).toThrow(DecryptError);
  }
});

test("key ids are stable per key and distinct between keys", () => {
  const k = crypto.randomBytes(32);
  expect(keyIdOf(k)).toBe(keyIdOf(Buffer.from(k)));
  expect(keyIdOf(k)).not.toBe(keyIdOf(crypto.randomBytes(32)));
  expect(() => new KeyRing(crypto.randomBytes(16))).toThrow();
});

test("10^5 encryptions give no IV collision", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 100_000; i++) seen.add(sealParts(ring, "k", "a").iv.toString("base64"));
  expect(seen.size).toBe(100_000);
});
