// Exchange API keys at rest (user_api_keys): both the key and the secret are sealed with
// AES-256-GCM under the master key ring, bound to (user, key record, exchange, field). Only the
// last four characters of the API key are kept in clear, for display. Every query is scoped by
// the owning user's id; there is no "by id only" lookup for user-facing code.
import { QueryTypes, type Sequelize, type Transaction } from "sequelize";
import { apiKeyAad, KeyRing, open, seal, sealedKeyId } from "../crypto/aead";
import { isUniqueViolation } from "./sql-errors";

export type ExchangeId = "binance" | "binance-testnet" | "sim";
export type KeyStatus = "pending" | "valid" | "invalid" | "disabled";

export interface ApiKeyRow {
  id: string;
  user_id: string;
  label: string;
  exchange: ExchangeId;
  api_key_enc: string;
  api_secret_enc: string;
  enc_key_id: string;
  api_key_last4: string;
  permissions: Record<string, unknown> | null;
  status: KeyStatus;
  status_reason: string | null;
  validated_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export class LabelTakenError extends Error {
  constructor() {
    super("label already used");
    this.name = "LabelTakenError";
  }
}

export function maskApiKey(last4: string): string {
  return `****${last4}`;
}

function sealPair(
  ring: KeyRing,
  userId: string | number,
  id: string | number,
  exchange: string,
  apiKey: string,
  apiSecret: string,
) {
  return {
    apiKeyEnc: seal(ring, apiKey, apiKeyAad({ userId, keyRecordId: id, exchange, field: "api_key" })),
    apiSecretEnc: seal(
      ring,
      apiSecret,
      apiKeyAad({ userId, keyRecordId: id, exchange, field: "api_secret" }),
    ),
  };
}

/** Opens both secrets of a row; throws DecryptError when the row was tampered with or moved. */
export function openApiKeyRow(
  ring: KeyRing,
  row: Pick<ApiKeyRow, "id" | "user_id" | "exchange" | "api_key_enc" | "api_secret_enc">,
): { apiKey: string; apiSecret: string } {
  return {
    apiKey: open(
      ring,
      row.api_key_enc,
      apiKeyAad({ userId: row.user_id, keyRecordId: row.id, exchange: row.exchange, field: "api_key" }),
    ),
    apiSecret: open(
      ring,
      row.api_secret_enc,
      apiKeyAad({ userId: row.user_id, keyRecordId: row.id, exchange: row.exchange, field: "api_secret" }),
    ),
  };
}

export interface NewApiKey {
  userId: string | number;
  label: string;
  exchange: ExchangeId;
  apiKey: string;
  apiSecret: string;
  status: KeyStatus;
  statusReason: string | null;
  permissions: Record<string, unknown> | null;
  validatedAt: Date | null;
  /** a paper account: a simulator account AURA created for the user (at most one per user) */
  paper?: boolean;
}

const COLS =
  "id, user_id, label, exchange, api_key_enc, api_secret_enc, enc_key_id, api_key_last4, permissions, status, status_reason, validated_at, created_at, updated_at";

/** Inserts a key. The id is drawn first because the ciphertexts are bound to it. */
export async function insertApiKey(sequelize: Sequelize, ring: KeyRing, k: NewApiKey): Promise<ApiKeyRow> {
  return sequelize.transaction(async (t) => {
    const [{ id }] = await sequelize.query<{ id: string }>(
      `SELECT nextval(pg_get_serial_sequence('user_api_keys', 'id')) AS id`,
      { type: QueryTypes.SELECT, transaction: t },
    );
    const sealed = sealPair(ring, k.userId, id, k.exchange, k.apiKey, k.apiSecret);
    try {
      const rows = await sequelize.query<ApiKeyRow>(
        `INSERT INTO user_api_keys (id, user_id, label, exchange, api_key_enc, api_secret_enc, enc_key_id, api_key_last4, permissions, status, status_reason, validated_at, paper)
         VALUES ($id, $userId, $label, $exchange, $apiKeyEnc, $apiSecretEnc, $encKeyId, $last4, $permissions, $status, $reason, $validatedAt, $paper)
         RETURNING ${COLS}`,
        {
          bind: {
            id,
            userId: k.userId,
            label: k.label,
            exchange: k.exchange,
            apiKeyEnc: sealed.apiKeyEnc,
            apiSecretEnc: sealed.apiSecretEnc,
            encKeyId: ring.currentId,
            last4: k.apiKey.slice(-4),
            permissions: k.permissions ? JSON.stringify(k.permissions) : null,
            status: k.status,
            reason: k.statusReason ?? null,
            validatedAt: k.validatedAt ?? null,
            paper: k.paper ?? false,
          },
          type: QueryTypes.SELECT,
          transaction: t,
        },
      );
      return rows[0];
    } catch (e) {
      if (isUniqueViolation(e)) throw new LabelTakenError();
      throw e;
    }
  });
}

export async function listApiKeys(sequelize: Sequelize, userId: string | number): Promise<ApiKeyRow[]> {
  return sequelize.query<ApiKeyRow>(`SELECT ${COLS} FROM user_api_keys WHERE user_id = $userId ORDER BY id`, {
    bind: { userId },
    type: QueryTypes.SELECT,
  });
}

export async function getOwnedApiKey(
  sequelize: Sequelize,
  userId: string | number,
  id: string | number,
  t?: Transaction,
): Promise<ApiKeyRow | undefined> {
  const rows = await sequelize.query<ApiKeyRow>(
    `SELECT ${COLS} FROM user_api_keys WHERE id = $id AND user_id = $userId${t ? " FOR UPDATE" : ""}`,
    {
      bind: { id, userId },
      type: QueryTypes.SELECT,
      transaction: t,
    },
  );
  return rows[0];
}

export async function deleteOwnedApiKey(
  sequelize: Sequelize,
  userId: string | number,
  id: string | number,
): Promise<ApiKeyRow | undefined> {
  const rows = await sequelize.query<ApiKeyRow>(
    `DELETE FROM user_api_keys WHERE id = $id AND user_id = $userId RETURNING ${COLS}`,
    {
      bind: { id, userId },
      type: QueryTypes.SELECT,
    },
  );
  return rows[0];
}

export async function renameOwnedApiKey(
  sequelize: Sequelize,
  userId: string | number,
  id: string | number,
  label: string,
): Promise<ApiKeyRow | undefined> {
  try {
    const rows = await sequelize.query<ApiKeyRow>(
      `UPDATE user_api_keys SET label = $label, updated_at = now() WHERE id = $id AND user_id = $userId RETURNING ${COLS}`,
      {
        bind: { id, userId, label },
        type: QueryTypes.SELECT,
      },
    );
    return rows[0];
  } catch (e) {
    if (isUniqueViolation(e)) throw new LabelTakenError();
    throw e;
  }
}

export async function setOwnedApiKeyStatus(
  sequelize: Sequelize,
  userId: string | number,
  id: string | number,
  s: {
    status: KeyStatus;
    reason: string | null;
    permissions: Record<string, unknown> | null;
    validatedAt: Date;
  },
): Promise<ApiKeyRow | undefined> {
  const rows = await sequelize.query<ApiKeyRow>(
    `UPDATE user_api_keys SET status = $status, status_reason = $reason, permissions = $permissions, validated_at = $validatedAt, updated_at = now()
      WHERE id = $id AND user_id = $userId RETURNING ${COLS}`,
    {
      bind: {
        id,
        userId,
        status: s.status,
        reason: s.reason ?? null,
        permissions: s.permissions ? JSON.stringify(s.permissions) : null,
        validatedAt: s.validatedAt,
      },
      type: QueryTypes.SELECT,
    },
  );
  return rows[0];
}

/** Keys due for the periodic permission re-check (currently valid, oldest check first). */
export async function keysDueForRecheck(
  sequelize: Sequelize,
  olderThanSec: number,
  limit: number,
): Promise<ApiKeyRow[]> {
  return sequelize.query<ApiKeyRow>(
    `SELECT ${COLS} FROM user_api_keys WHERE status = 'valid' AND (validated_at IS NULL OR validated_at < now() - make_interval(secs => $older))
      ORDER BY validated_at NULLS FIRST, id LIMIT $limit`,
    { bind: { older: olderThanSec, limit }, type: QueryTypes.SELECT },
  );
}

export interface RotationReport {
  currentKeyId: string;
  reencrypted: number;
  alreadyCurrent: number;
  failed: { id: string; keyId: string; error: string }[];
  /** rows per key id after the run */
  byKeyId: Record<string, number>;
}

export async function countByKeyId(sequelize: Sequelize): Promise<Record<string, number>> {
  const rows = await sequelize.query<{ enc_key_id: string; n: string }>(
    `SELECT enc_key_id, count(*) AS n FROM user_api_keys GROUP BY enc_key_id ORDER BY enc_key_id`,
    {
      type: QueryTypes.SELECT,
    },
  );
  return Object.fromEntries(rows.map((r) => [r.enc_key_id, Number(r.n)]));
}

/**
 * Re-seals every row not under the ring's current key (or every row with `all`), in small
 * locked batches so running services keep working. Rows that cannot be opened (their key is not
 * in the ring, or they fail authentication) are left untouched and reported.
 */
export async function rotateApiKeys(
  sequelize: Sequelize,
  ring: KeyRing,
  opts: { all?: boolean; batchSize?: number } = {},
): Promise<RotationReport> {
  const batch = opts.batchSize ?? 100;
  const failed: RotationReport["failed"] = [];
  let reencrypted = 0;
  let lastId = "0";
  for (;;) {
    const done = await sequelize.transaction(async (t) => {
      const rows = await sequelize.query<ApiKeyRow>(
        `SELECT ${COLS} FROM user_api_keys WHERE id > $lastId ${opts.all ? "" : "AND enc_key_id <> $current"} ORDER BY id LIMIT $batch FOR UPDATE`,
        { bind: { lastId, current: ring.currentId, batch }, type: QueryTypes.SELECT, transaction: t },
      );
      for (const row of rows) {
        lastId = row.id;
        let plain: { apiKey: string; apiSecret: string };
        try {
          plain = openApiKeyRow(ring, row);
        } catch (e) {
          failed.push({ id: row.id, keyId: safeKeyId(row.api_key_enc), error: (e as Error).message });
          continue;
        }
        const sealed = sealPair(ring, row.user_id, row.id, row.exchange, plain.apiKey, plain.apiSecret);
        await sequelize.query(
          `UPDATE user_api_keys SET api_key_enc = $k, api_secret_enc = $s, enc_key_id = $kid, updated_at = now() WHERE id = $id`,
          {
            bind: { id: row.id, k: sealed.apiKeyEnc, s: sealed.apiSecretEnc, kid: ring.currentId },
            transaction: t,
          },
        );
        reencrypted++;
      }
      return rows.length < batch;
    });
    if (done) break;
  }
  const byKeyId = await countByKeyId(sequelize);
  return {
    currentKeyId: ring.currentId,
    reencrypted,
    alreadyCurrent: opts.all ? 0 : (byKeyId[ring.currentId] ?? 0) - reencrypted,
    failed,
    byKeyId,
  };
}

function safeKeyId(sealed: string): string {
  try {
    return sealedKeyId(sealed);
  } catch {
    return "?";
  }
}
