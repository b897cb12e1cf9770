// Exchange API keys of each user: added after a permission check against the exchange (spot
// trading on, withdrawals and transfers off), sealed with AES-256-GCM and listed only masked.
// No action hands out a plaintext key: a service that signs with one (execution) opens the sealed
// row in its own process, so secrets never cross the bus. Valid keys are re-checked
// periodically; one that gained a dangerous permission is switched to invalid.
import type { Service, ServiceSchema } from "moleculer";
import { Errors } from "moleculer";
import {
  deleteOwnedApiKey,
  getOwnedApiKey,
  insertApiKey,
  keysDueForRecheck,
  LabelTakenError,
  listApiKeys,
  maskApiKey,
  openApiKeyRow,
  renameOwnedApiKey,
  setOwnedApiKeyStatus,
  type ApiKeyRow,
  type ExchangeId,
} from "../src/adapters/auth/api-keys";
import { exchangeConfig, keysConfig } from "../src/adapters/config";
import { KeyRing } from "../src/adapters/crypto/aead";
import {
  REJECTION_MESSAGES,
  validateExchangeKey,
  WARNING_MESSAGES,
  type KeyCheck,
  type ValidationOptions,
} from "../src/adapters/exchange/key-validation";
import { idParam } from "../src/gateway/params";
import { loadSecrets } from "../src/runtime/secrets";
import {
  AuthGuardMixin,
  assertOwned,
  guarded,
  requireUser,
  type AuraContext,
} from "../mixins/auth-guard.mixin";
import { DatabaseMixin, type DatabaseMethods } from "../mixins/database.mixin";
import { clusterSimUrl } from "../src/adapters/exchange/cluster-sim";

interface KeysSettings {
  validation: ValidationOptions;
  /** how often valid keys are re-checked against the exchange (0 = never) */
  recheckIntervalMs: number;
  /** SIM_URL when set; otherwise "sim" keys are checked against the cluster's simulator */
  simUrl: string | undefined;
}

interface KeysVars {
  ring: KeyRing;
  recheckTimer?: NodeJS.Timeout;
}

interface KeysMethods extends DatabaseMethods {
  validationOptions(exchange: ExchangeId): Promise<ValidationOptions>;
  labelTaken(): Errors.MoleculerClientError;
  revalidate(row: ApiKeyRow): Promise<ApiKeyRow>;
  recheckDue(olderThanSec?: number): Promise<number>;
}

type Self = Service<KeysSettings> & KeysVars & KeysMethods;

/** The pg client under a Sequelize connection (postgres dialect); its typings say only `object`. */
interface PgConnection {
  query(sql: string): Promise<{ rows?: { ok?: boolean }[] }>;
}

const config = keysConfig();

const STRICT = { $$strict: "remove" } as const;
// ids past Number.MAX_SAFE_INTEGER (or PostgreSQL's bigint) are refused here, not in a query
const KEY_ID = idParam("id");
const LABEL = { type: "string", trim: true, min: 1, max: 64, pattern: /^[^\u0000-\u001f\u007f]+$/ } as const;
const RECHECK_LOCK = 7_306_124;

function publicView(row: ApiKeyRow) {
  const stored = row.permissions?.warnings;
  const warnings: string[] = Array.isArray(stored) ? stored : [];
  return {
    id: Number(row.id),
    label: row.label,
    exchange: row.exchange,
    apiKeyMasked: maskApiKey(row.api_key_last4),
    permissions: row.permissions,
    status: row.status,
    statusReason: row.status_reason,
    statusMessage: row.status_reason
      ? ((REJECTION_MESSAGES as Record<string, string>)[row.status_reason] ?? null)
      : null,
    warnings: warnings.map((w) => ({ code: w, message: WARNING_MESSAGES[w] ?? w })),
    validatedAt: row.validated_at,
    createdAt: row.created_at,
  };
}

function statusFrom(check: KeyCheck) {
  return check.ok
    ? {
        status: "valid" as const,
        reason: null,
        permissions: check.permissions as unknown as Record<string, unknown>,
      }
    : {
        status: "invalid" as const,
        reason: check.reason,
        permissions: check.permissions as unknown as Record<string, unknown> | null,
      };
}

const KeysService: ServiceSchema<KeysSettings, KeysMethods, KeysVars, Self> = {
  name: "keys",
  mixins: [AuthGuardMixin, DatabaseMixin],

  settings: {
    validation: { timeoutMs: 6000 },
    recheckIntervalMs: config.recheckIntervalMs,
    simUrl: exchangeConfig().simUrl,
  },

  created(this: Self) {
    const secrets = loadSecrets(undefined, { warn: (m) => this.logger.warn(m) });
    this.ring = new KeyRing(secrets.masterKey, secrets.oldMasterKeys);
  },

  started(this: Self) {
    if (this.settings.recheckIntervalMs > 0) {
      this.recheckTimer = setInterval(() => {
        this.recheckDue().catch((e: unknown) =>
          this.logger.error({ err: (e as Error | undefined)?.message }, "key re-check failed"),
        );
      }, this.settings.recheckIntervalMs);
      this.recheckTimer.unref();
    }
  },

  stopped(this: Self) {
    if (this.recheckTimer) clearInterval(this.recheckTimer);
  },

  actions: {
    create: guarded({
      auth: "user",
      params: {
        ...STRICT,
        label: LABEL,
        exchange: { type: "enum", values: ["binance", "binance-testnet", "sim"] },
        apiKey: { type: "string", trim: true, min: 16, max: 128, pattern: /^[A-Za-z0-9]+$/ },
        apiSecret: { type: "string", min: 16, max: 4096 },
      },
      async handler(
        this: Self,
        ctx: AuraContext<{ label: string; exchange: ExchangeId; apiKey: string; apiSecret: string }>,
      ) {
        const me = requireUser(ctx);
        const sequelize = await this.sql();
        if ((await listApiKeys(sequelize, me.id)).some((k) => k.label === ctx.params.label))
          throw this.labelTaken();
        const check: KeyCheck = await validateExchangeKey(
          { exchange: ctx.params.exchange, apiKey: ctx.params.apiKey, apiSecret: ctx.params.apiSecret },
          await this.validationOptions(ctx.params.exchange),
        );
        const s = statusFrom(check);
        let row: ApiKeyRow;
        try {
          row = await insertApiKey(sequelize, this.ring, {
            userId: me.id,
            label: ctx.params.label,
            exchange: ctx.params.exchange,
            apiKey: ctx.params.apiKey,
            apiSecret: ctx.params.apiSecret,
            status: s.status,
            statusReason: s.reason,
            permissions: s.permissions,
            validatedAt: new Date(),
          });
        } catch (e) {
          if (e instanceof LabelTakenError) throw this.labelTaken();
          throw e;
        }
        await this.audit(ctx, {
          action: "keys.add",
          userId: me.id,
          targetType: "api_key",
          targetId: row.id,
          details: { exchange: row.exchange, status: row.status, reason: row.status_reason },
        });
        ctx.meta.$statusCode = 201;
        ctx.meta.$location = `/api/v1/keys/${row.id}`;
        return publicView(row);
      },
    }),

    list: guarded({
      auth: "user",
      params: { ...STRICT },
      async handler(this: Self, ctx: AuraContext) {
        const rows = await listApiKeys(await this.sql(), requireUser(ctx).id);
        return { keys: rows.map(publicView) };
      },
    }),

    get: guarded({
      auth: "user",
      params: { ...STRICT, id: KEY_ID },
      async handler(this: Self, ctx: AuraContext<{ id: number }>) {
        const row = assertOwned(
          ctx,
          await getOwnedApiKey(await this.sql(), requireUser(ctx).id, ctx.params.id),
          "API key not found.",
        );
        return publicView(row);
      },
    }),

    update: guarded({
      auth: "user",
      params: { ...STRICT, id: KEY_ID, label: LABEL },
      async handler(this: Self, ctx: AuraContext<{ id: number; label: string }>) {
        const me = requireUser(ctx);
        let row: ApiKeyRow | undefined;
        try {
          row = await renameOwnedApiKey(await this.sql(), me.id, ctx.params.id, ctx.params.label);
        } catch (e) {
          if (e instanceof LabelTakenError) throw this.labelTaken();
          throw e;
        }
        assertOwned(ctx, row, "API key not found.");
        await this.audit(ctx, {
          action: "keys.update",
          userId: me.id,
          targetType: "api_key",
          targetId: ctx.params.id,
          details: { label: ctx.params.label },
        });
        return publicView(row!);
      },
    }),

    remove: guarded({
      auth: "user",
      params: { ...STRICT, id: KEY_ID },
      async handler(this: Self, ctx: AuraContext<{ id: number }>) {
        const me = requireUser(ctx);
        const row = assertOwned(
          ctx,
          await deleteOwnedApiKey(await this.sql(), me.id, ctx.params.id),
          "API key not found.",
        );
        await this.audit(ctx, {
          action: "keys.remove",
          userId: me.id,
          targetType: "api_key",
          targetId: row.id,
          details: { exchange: row.exchange },
        });
        ctx.emit("keys.removed", { userId: me.id, keyId: Number(row.id) });
        ctx.meta.$statusCode = 204;
        return null;
      },
    }),

    validate: guarded({
      auth: "user",
      params: { ...STRICT, id: KEY_ID },
      async handler(this: Self, ctx: AuraContext<{ id: number }>) {
        const me = requireUser(ctx);
        const sequelize = await this.sql();
        const row = assertOwned(
          ctx,
          await getOwnedApiKey(sequelize, me.id, ctx.params.id),
          "API key not found.",
        );
        const updated = await this.revalidate(row);
        await this.audit(ctx, {
          action: "keys.validate",
          userId: me.id,
          targetType: "api_key",
          targetId: row.id,
          outcome: updated.status === "valid" ? "success" : "failure",
          details: { status: updated.status, reason: updated.status_reason },
        });
        return publicView(updated);
      },
    }),
  },

  methods: {
    /**
     * Validation options; for "sim" keys without SIM_URL, the address of the simulator running in
     * this cluster (the exchange-sim service may listen on any port).
     */
    async validationOptions(this: Self, exchange: ExchangeId): Promise<ValidationOptions> {
      const v: ValidationOptions = this.settings.validation;
      if (exchange !== "sim" || v.simUrl || this.settings.simUrl) return v;
      const url = await clusterSimUrl(this.broker, this.fullName);
      // none answering: the default address applies (and fails closed if nothing answers there)
      if (url) return { ...v, simUrl: url };
      return v;
    },

    labelTaken(): Errors.MoleculerClientError {
      return new Errors.MoleculerClientError(
        "You already have an API key with this label.",
        409,
        "LABEL_TAKEN",
      );
    },

    /** Checks a stored key against the exchange again and records the outcome. */
    async revalidate(this: Self, row: ApiKeyRow): Promise<ApiKeyRow> {
      let plain: { apiKey: string; apiSecret: string } | undefined;
      try {
        plain = openApiKeyRow(this.ring, row);
      } catch (e) {
        // a row that cannot be opened is unusable: fail closed
        this.logger.error(
          { keyId: row.id, err: (e as Error | undefined)?.message },
          "stored API key could not be opened",
        );
      }
      const check: KeyCheck = plain
        ? await validateExchangeKey(
            { exchange: row.exchange, apiKey: plain.apiKey, apiSecret: plain.apiSecret },
            await this.validationOptions(row.exchange),
          )
        : {
            ok: false,
            reason: "key_unreadable",
            message: REJECTION_MESSAGES.key_unreadable,
            permissions: null,
          };
      const s = statusFrom(check);
      const updated = await setOwnedApiKeyStatus(await this.sql(), row.user_id, row.id, {
        ...s,
        validatedAt: new Date(),
      });
      if (!updated) throw new Errors.MoleculerClientError("API key not found.", 404, "NOT_FOUND");
      if (row.status === "valid" && updated.status !== "valid") {
        this.broker.emit("keys.invalidated", {
          userId: Number(row.user_id),
          keyId: Number(row.id),
          reason: updated.status_reason,
        });
      }
      return updated;
    },

    /** One pass of the periodic re-check; one process at a time does it (advisory lock). */
    async recheckDue(this: Self, olderThanSec?: number): Promise<number> {
      const sequelize = await this.sql();
      // a session-level advisory lock belongs to one connection: lock and unlock go through this one
      const raw = await sequelize.connectionManager.getConnection({ type: "write" });
      const conn = raw as PgConnection;
      try {
        const res = await conn.query(`SELECT pg_try_advisory_lock(${RECHECK_LOCK}) AS ok`);
        if (!res.rows?.[0]?.ok) return 0;
        try {
          const older = olderThanSec ?? Math.max(1, Math.floor(this.settings.recheckIntervalMs / 1000));
          const due = await keysDueForRecheck(sequelize, older, 50);
          for (const row of due) {
            const updated: ApiKeyRow = await this.revalidate(row);
            if (updated.status !== "valid") {
              await this.audit(undefined, {
                action: "keys.recheck_failed",
                userId: row.user_id,
                actorId: null,
                targetType: "api_key",
                targetId: row.id,
                outcome: "failure",
                details: { reason: updated.status_reason },
              });
            }
          }
          return due.length;
        } finally {
          await conn.query(`SELECT pg_advisory_unlock(${RECHECK_LOCK})`).catch(() => {});
        }
      } finally {
        sequelize.connectionManager.releaseConnection(raw);
      }
    },
  },
};

export default KeysService;
