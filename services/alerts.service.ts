// Alerts: stored once (idempotent by dedupe key), pushed once to the owner's dashboard sessions
// (broadcast `alert.raised` with the user id; the gateway's live channel forwards it to the owner)
// and to the owner's webhook, signed and retried with backoff.
//
// Where alerts come from:
//  - this service raises them for stale market data (users with active strategies on the series),
//    strategies put in status error after repeated crashes, denials the user must act on
//    (`order.denied` for a balance, size or exposure limit), and FATAL records the monitor
//    persisted in system_logs;
//  - execution stores its own (unprotected positions, overfills, reconciliation differences such as
//    adopted or external orders): the ones it announces with `alert.raised` are claimed when the
//    event arrives, the ones it only stores are picked up from the table after a short grace;
//  - the monitor's health alerts (`alert.raised` without a user) are stored as system alerts.
import crypto from "node:crypto";
import type { Context, Service, ServiceSchema } from "moleculer";
import {
  AlertStore,
  SEVERITIES,
  type AlertRow,
  type NewAlert,
  type Severity,
} from "../src/adapters/alerts/store";
import { checkWebhookUrl, post, signature, WebhookUrlError } from "../src/adapters/alerts/webhook";
import { KeyRing, open, seal, sealedKeyId } from "../src/adapters/crypto/aead";
import { decodeCursor, InvalidCursorError } from "../src/adapters/history/cursor";
import { getDatabase } from "../src/adapters/storage/database";
import { NotFoundError, ValidationError } from "../src/core/model/errors";
import type { DataStaleEvent } from "../src/core/market/events";
import { idParam } from "../src/gateway/params";
import { REPL_CALLER } from "../src/runtime/repl-commands";
import { loadSecrets } from "../src/runtime/secrets";
import { AuthGuardMixin, guarded, requireUser, type AuraMeta } from "../mixins/auth-guard.mixin";
import ErrorsMixin from "../mixins/errors.mixin";
import { numberOrNull } from "../src/adapters/storage/rows";

export interface AlertsSettings {
  /** how often alerts stored without a push (by other services) are looked for */
  outboxIntervalMs: number;
  /** an alert another service announced itself is left to that announcement for this long */
  outboxGraceMs: number;
  /** delays between webhook attempts; one attempt more than there are delays */
  webhookBackoffMs: number[];
  webhookTimeoutMs: number;
  /** deliveries waiting for a retry on this node, at most */
  webhookMaxPending: number;
  /** tests only: lets webhooks reach loopback and private addresses */
  webhookAllowPrivate: boolean;
}

interface AlertsVars {
  store: AlertStore;
  ring: KeyRing;
  timer?: NodeJS.Timeout;
  tick?: Promise<void>;
  retries: Set<NodeJS.Timeout>;
  lastLogId: string;
  stopping: boolean;
}

interface AlertsMethods {
  raise(a: NewAlert): Promise<AlertRow | undefined>;
  raiseQuiet(a: NewAlert): Promise<AlertRow | undefined>;
  push(row: AlertRow, announce: boolean): void;
  deliver(row: AlertRow, attempt: number): Promise<void>;
  poll(): Promise<void>;
  view(row: AlertRow): Record<string, unknown>;
}

type Self = Service<AlertsSettings> & AlertsVars & AlertsMethods;

/** denials a user has to do something about (the others are routine: a halt, a pause, a late command) */
const ACTIONABLE_DENIALS: Record<string, string> = {
  insufficient_balance: "the account does not hold enough to buy",
  key_unusable: "the exchange key cannot trade (missing, not valid, or unreadable)",
  below_min_notional: "the order would be below the exchange's minimum value",
  below_min_qty: "the order would be below the exchange's minimum quantity",
  above_max_qty: "the order would be above the exchange's maximum quantity",
  exposure_cap: "the order would exceed your exposure cap",
  max_open_positions: "the strategy already has its maximum of open positions",
  unknown_symbol: "the symbol is not traded on the exchange",
};

const hash = (s: string) => crypto.createHash("sha256").update(s).digest("hex").slice(0, 16);
const webhookAad = (userId: number) => `alert-webhook:${userId}`;
const positiveInt = (v: unknown): number | undefined =>
  typeof v === "number" && Number.isSafeInteger(v) && v > 0 ? v : undefined;

function refuse(field: string, message: string): never {
  throw new ValidationError([{ path: `/${field}`, code: field, message }], message);
}

const AlertsService: ServiceSchema<AlertsSettings, AlertsMethods, AlertsVars, Self> = {
  name: "alerts",
  mixins: [AuthGuardMixin, ErrorsMixin],

  settings: {
    outboxIntervalMs: 2000,
    outboxGraceMs: 5000,
    webhookBackoffMs: [1000, 5000, 30_000, 120_000, 600_000],
    webhookTimeoutMs: 5000,
    webhookMaxPending: 1000,
    webhookAllowPrivate: false,
  },

  actions: {
    /** GET /api/v1/alerts[?status=open|acknowledged][&severity][&kind][&cursor][&limit] */
    list: guarded({
      auth: "user",
      params: {
        $$strict: "remove",
        status: { type: "enum", values: ["open", "acknowledged"], optional: true },
        severity: { type: "enum", values: [...SEVERITIES], optional: true },
        kind: { type: "string", optional: true, pattern: /^[A-Z_]{1,40}$/ },
        scope: { type: "enum", values: ["mine", "system"], optional: true },
        cursor: { type: "string", optional: true, max: 400, pattern: /^[A-Za-z0-9_-]+$/ },
        limit: { type: "number", integer: true, min: 1, max: 200, optional: true, convert: true },
      },
      async handler(
        this: Self,
        ctx: Context<
          {
            status?: "open" | "acknowledged" | null;
            severity?: Severity | null;
            kind?: string | null;
            scope?: "mine" | "system" | null;
            cursor?: string | null;
            limit?: number | null;
          },
          AuraMeta
        >,
      ) {
        const me = requireUser(ctx);
        const p = ctx.params;
        if (p.scope === "system" && me.role !== "admin")
          refuse("scope", "Only administrators can list system alerts.");
        const scope = p.scope === "system" ? ({ system: true } as const) : { userId: me.id };
        let after;
        try {
          after = p.cursor ? decodeCursor(p.cursor) : undefined;
        } catch (e) {
          if (e instanceof InvalidCursorError) refuse("cursor", e.message);
          throw e;
        }
        const limit = p.limit ?? 50;
        const page = await this.store.list(
          scope,
          { status: p.status ?? undefined, minSeverity: p.severity ?? undefined, kind: p.kind ?? undefined },
          limit,
          after,
        );
        return {
          items: page.rows.map((r) => this.view(r)),
          nextCursor: page.nextCursor,
          ...(after ? {} : { open: await this.store.openCount(scope) }),
        };
      },
    }),

    /** The REPL's `alerts`: open alerts of every user and the system, or of one user. */
    operatorList: guarded({
      auth: "internal",
      callers: [REPL_CALLER],
      visibility: "public",
      params: {
        $$strict: "remove",
        userId: { type: "number", integer: true, min: 1, optional: true },
        all: { type: "boolean", optional: true },
        limit: { type: "number", integer: true, min: 1, max: 200, optional: true },
      },
      async handler(this: Self, ctx: Context<{ userId?: number; all?: boolean; limit?: number }, AuraMeta>) {
        const p = ctx.params;
        const page = await this.store.list(
          p.userId !== undefined ? { userId: p.userId } : { all: true },
          { status: p.all ? undefined : "open" },
          p.limit ?? 50,
        );
        return page.rows.map((r) => ({
          ...this.view(r),
          userId: numberOrNull(r.user_id),
        }));
      },
    }),

    /** POST /api/v1/alerts/:id/ack → the alert, acknowledged (again: unchanged) */
    ack: guarded({
      auth: "user",
      params: { $$strict: "remove", id: idParam() },
      async handler(this: Self, ctx: Context<{ id: number }, AuraMeta>) {
        const me = requireUser(ctx);
        const row = await this.store.ack(ctx.params.id, me.id, me.role === "admin");
        if (!row) throw new NotFoundError("Alert not found.");
        return this.view(row);
      },
    }),

    /** GET /api/v1/alerts/webhook → { webhook: { url, lastStatus, … } | null } (never the secret) */
    webhookGet: guarded({
      auth: "user",
      params: { $$strict: "remove" },
      async handler(this: Self, ctx: Context<Record<string, never>, AuraMeta>) {
        const w = await this.store.webhook(requireUser(ctx).id);
        return {
          webhook: w
            ? {
                url: w.url,
                lastStatus: w.last_status,
                lastError: w.last_error,
                lastDeliveryAt: w.last_delivery_at,
                updatedAt: w.updated_at,
              }
            : null,
        };
      },
    }),

    /**
     * PUT /api/v1/alerts/webhook { url, secret? } → the webhook; without a secret one is generated
     * and shown in this answer only.
     */
    webhookSet: guarded({
      auth: "user",
      params: {
        $$strict: "remove",
        url: { type: "string", min: 8, max: 2000, trim: true },
        secret: { type: "string", min: 16, max: 200, optional: true },
      },
      async handler(this: Self, ctx: Context<{ url: string; secret?: string | null }, AuraMeta>) {
        const me = requireUser(ctx);
        if (/[\u0000-\u0020\u007f]/.test(ctx.params.url))
          refuse("url", "'url' must not contain spaces or control characters.");
        if (ctx.params.secret && /[\u0000-\u001f\u007f]/.test(ctx.params.secret))
          refuse("secret", "'secret' must not contain control characters.");
        let checked;
        try {
          checked = await checkWebhookUrl(ctx.params.url, {
            allowPrivate: this.settings.webhookAllowPrivate,
          });
        } catch (e) {
          if (e instanceof WebhookUrlError) refuse("url", e.message);
          throw e;
        }
        const generated = ctx.params.secret ? undefined : crypto.randomBytes(32).toString("base64url");
        const secret = ctx.params.secret ?? generated!;
        const sealed = seal(this.ring, secret, webhookAad(me.id));
        const w = await this.store.setWebhook(me.id, checked.url.toString(), sealed, this.ring.currentId);
        return {
          url: w.url,
          ...(generated ? { secret: generated } : {}),
          signature: "X-Aura-Signature: sha256=HMAC-SHA256(secret, X-Aura-Timestamp + '.' + body), hex",
          updatedAt: w.updated_at,
        };
      },
    }),

    /** DELETE /api/v1/alerts/webhook */
    webhookRemove: guarded({
      auth: "user",
      params: { $$strict: "remove" },
      async handler(this: Self, ctx: Context<Record<string, never>, AuraMeta>) {
        const removed = await this.store.removeWebhook(requireUser(ctx).id);
        if (!removed) throw new NotFoundError("No webhook is set.");
        return { deleted: true };
      },
    }),
  },

  events: {
    async "alert.raised"(this: Self, ctx: Context<Record<string, unknown>>) {
      const a = ctx.params ?? {};
      // our own announcements carry the stored id
      if (a.alertId !== undefined) return;
      const userId = positiveInt(a.userId);
      const kind = typeof a.kind === "string" ? a.kind.slice(0, 60) : undefined;
      if (userId !== undefined && kind) {
        // execution stored it before announcing it: claim it so it is pushed to the webhook once
        const match: Record<string, unknown> = {};
        if (positiveInt(a.positionId)) match.positionId = a.positionId;
        if (positiveInt(a.orderId)) match.orderId = a.orderId;
        const claimed = await this.store.claimMatching(userId, kind, match);
        if (claimed) return this.push(claimed, false);
        if (await this.store.storedRecently(userId, kind, match)) return;
        const row = await this.raiseQuiet({
          userId,
          strategyId: positiveInt(a.strategyId) ?? null,
          kind,
          severity: (SEVERITIES as readonly unknown[]).includes(a.severity)
            ? (a.severity as Severity)
            : "warn",
          message: typeof a.message === "string" ? a.message : kind,
          data: a,
          dedupeKey: `event:${userId}:${kind}:${hash(JSON.stringify(match) + String(a.message ?? ""))}`,
        });
        if (row) this.push(row, false);
        return;
      }
      // the monitor's: health changes of a node (FATAL records arrive through system_logs)
      const source = typeof a.source === "string" ? a.source : "";
      if (!source.startsWith("health:")) return;
      const sev = a.severity === "critical" ? "critical" : "warn";
      await this.raiseQuiet({
        userId: null,
        kind: "HEALTH",
        severity: sev,
        message: typeof a.message === "string" ? a.message : source,
        data: { source, nodeId: a.nodeId, details: a.details },
        dedupeKey: `health:${String(a.nodeId)}:${source}:${String(a.time)}`,
      });
    },

    async "market.data.stale"(this: Self, ctx: Context<DataStaleEvent>) {
      const ev = ctx.params;
      if (typeof ev?.symbol !== "string" || typeof ev.interval !== "string") return;
      const silent = Math.round(Number(ev.silentForMs) / 1000);
      await this.raise({
        userId: null,
        kind: "MARKET_DATA_STALE",
        severity: "warn",
        message: `Market data for ${ev.symbol} ${ev.interval} has been silent for ${silent} s.`,
        data: ev,
        dedupeKey: `stale:${ev.symbol}:${ev.interval}`,
      });
      for (const u of await this.store.activeOn(ev.symbol, ev.interval))
        await this.raise({
          userId: Number(u.user_id),
          kind: "MARKET_DATA_STALE",
          severity: "warn",
          message:
            `Market data for ${ev.symbol} ${ev.interval} has been silent for ${silent} s; ` +
            `your strategies on it wait until it resumes.`,
          data: { ...ev, strategyIds: u.ids.map(Number) },
          dedupeKey: `stale:${u.user_id}:${ev.symbol}:${ev.interval}`,
        });
    },

    async "strategies.changed"(
      this: Self,
      ctx: Context<{ id?: unknown; userId?: unknown; status?: unknown }>,
    ) {
      const id = positiveInt(ctx.params?.id);
      const userId = positiveInt(ctx.params?.userId);
      if (ctx.params?.status !== "error" || !id || !userId) return;
      const s = await this.store.strategy(id, userId);
      if (!s || s.status !== "error") return;
      await this.raise({
        userId,
        strategyId: id,
        kind: "STRATEGY_ERROR",
        severity: "error",
        message: `Strategy "${s.name}" stopped after repeated crashes${s.status_reason ? `: ${s.status_reason}` : ""}.`,
        data: { strategyId: id, crashes: s.crash_count, reason: s.status_reason },
        dedupeKey: `strategy-error:${id}`,
      });
    },

    async "order.denied"(this: Self, ctx: Context<Record<string, unknown>>) {
      const ev = ctx.params ?? {};
      const userId = positiveInt(ev.userId);
      const reason = typeof ev.reason === "string" ? ev.reason : "";
      if (!userId || !ACTIONABLE_DENIALS[reason]) return;
      const strategyId = positiveInt(ev.strategyId) ?? null;
      await this.raise({
        userId,
        strategyId,
        kind: "ORDER_DENIED",
        severity: "warn",
        message: `An order${typeof ev.symbol === "string" ? ` on ${ev.symbol}` : ""} was not sent: ${ACTIONABLE_DENIALS[reason]}.`,
        data: { reason, symbol: ev.symbol, intentId: ev.intentId, detail: ev.message },
        dedupeKey: `denied:${userId}:${strategyId ?? 0}:${reason}`,
      });
    },
  },

  methods: {
    /** Stores and pushes an alert raised here; returns it when it was new. */
    async raise(this: Self, a: NewAlert) {
      const row = await this.store.insert(a, true);
      if (row) this.push(row, true);
      return row;
    },

    /** Stores an alert someone else announced already (or one for no user): nothing to broadcast. */
    async raiseQuiet(this: Self, a: NewAlert) {
      return this.store.insert(a, true);
    },

    /** Dashboard (unless its producer announced it already) and webhook. */
    push(this: Self, row: AlertRow, announce: boolean) {
      if (row.user_id === null) return;
      if (announce)
        void this.broker
          .broadcast("alert.raised", {
            alertId: Number(row.id),
            userId: Number(row.user_id),
            ...this.view(row),
          })
          .catch(() => undefined);
      void this.deliver(row, 0).catch((e: Error) =>
        this.logger.warn({ alertId: row.id, err: e.message }, "alert webhook delivery failed"),
      );
    },

    async deliver(this: Self, row: AlertRow, attempt: number) {
      if (this.stopping || row.user_id === null) return;
      const userId = Number(row.user_id);
      const w = await this.store.webhook(userId);
      if (!w) return;
      let secret: string;
      try {
        secret = open(this.ring, w.secret_enc, webhookAad(userId));
      } catch {
        await this.store.recordDelivery(
          userId,
          "failed",
          "the signing secret could not be read; set the webhook again",
        );
        return;
      }
      if (sealedKeyId(w.secret_enc) !== this.ring.currentId)
        await this.store.resealWebhook(
          userId,
          seal(this.ring, secret, webhookAad(userId)),
          this.ring.currentId,
        );
      let target;
      try {
        target = await checkWebhookUrl(w.url, { allowPrivate: this.settings.webhookAllowPrivate });
      } catch (e) {
        await this.store.recordDelivery(userId, "refused", (e as Error).message.slice(0, 300));
        return;
      }
      const body = JSON.stringify({ type: "alert", alert: this.view(row) });
      const ts = Math.floor(Date.now() / 1000);
      const res = await post(
        target,
        body,
        {
          "Content-Type": "application/json",
          "User-Agent": "AURA-Webhook/1",
          "X-Aura-Event": "alert",
          "X-Aura-Delivery": `${row.id}-${attempt + 1}`,
          "X-Aura-Timestamp": String(ts),
          "X-Aura-Signature": signature(secret, ts, body),
        },
        this.settings.webhookTimeoutMs,
      );
      if (res.ok) {
        await this.store.recordDelivery(userId, "delivered", null);
        return;
      }
      const delays = this.settings.webhookBackoffMs;
      const more = attempt < delays.length && this.retries.size < this.settings.webhookMaxPending;
      await this.store.recordDelivery(userId, more ? "retrying" : "failed", res.error ?? null);
      if (!more || this.stopping) return;
      // jitter keeps many failed deliveries from retrying in step
      const delay = Math.round(delays[attempt] * (0.8 + Math.random() * 0.4));
      const t = setTimeout(() => {
        this.retries.delete(t);
        void this.deliver(row, attempt + 1).catch(() => undefined);
      }, delay);
      t.unref();
      this.retries.add(t);
    },

    /** Alerts stored without a push, and FATAL records to raise alerts for. */
    async poll(this: Self) {
      for (const row of await this.store.claimUnnotified(this.settings.outboxGraceMs)) this.push(row, true);
      const fatal = await this.store.fatalLogs(this.lastLogId);
      for (const l of fatal) {
        this.lastLogId = l.id;
        const userId = numberOrNull(l.user_id);
        await this.raise({
          userId,
          strategyId: numberOrNull(l.strategy_id),
          kind: "FATAL_LOG",
          severity: "critical",
          message: `${l.service ?? "a service"} logged a fatal error: ${l.message}`,
          data: { logId: Number(l.id), service: l.service, nodeId: l.node_id },
          dedupeKey: `fatal-log:${l.id}`,
        });
      }
    },

    view(row: AlertRow) {
      return {
        id: Number(row.id),
        kind: row.kind,
        severity: row.severity,
        message: row.message,
        strategyId: numberOrNull(row.strategy_id),
        data: row.data ?? null,
        createdAt: row.created_at,
        acknowledgedAt: row.acknowledged_at,
      };
    },
  },

  created(this: Self) {
    this.retries = new Set();
    this.stopping = false;
    this.lastLogId = "0";
  },

  async started(this: Self) {
    const secrets = loadSecrets(process.env, { warn: (m) => this.logger.warn(m) });
    this.ring = new KeyRing(secrets.masterKey, secrets.oldMasterKeys);
    this.store = new AlertStore((await getDatabase()).sequelize);
    // FATAL records from before this start were there for whoever ran before
    this.lastLogId = await this.store.lastLogId();
    this.timer = setInterval(() => {
      if (this.tick || this.stopping) return;
      this.tick = this.poll()
        .catch((e: Error) => this.logger.warn({ err: e.message }, "alerts poll failed"))
        .finally(() => (this.tick = undefined));
    }, this.settings.outboxIntervalMs);
    this.timer.unref();
  },

  async stopped(this: Self) {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    for (const t of this.retries) clearTimeout(t);
    this.retries.clear();
    await this.tick;
  },
};

export default AlertsService;
