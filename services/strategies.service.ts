// Users' strategies: the stored definition and its versions, and the desired state of the instance
// that runs it (draft → active → stopping → stopped, or error; an active one may be paused). This
// service records what the user asked for and broadcasts `strategies.changed`; the strategy-runner
// supervisors start, stop and resume the actors accordingly. It also opens each user's paper
// account on the simulator venue, serves the decision log, and holds the cluster-wide trading halt.
import { Errors, type Service, type ServiceSchema } from "moleculer";
import { insertApiKey, LabelTakenError } from "../src/adapters/auth/api-keys";
import { strategiesConfig } from "../src/adapters/config";
import { KeyRing } from "../src/adapters/crypto/aead";
import { REJECTION_MESSAGES } from "../src/adapters/exchange/key-validation";
import {
  storableText,
  STRATEGY_EVENTS,
  StrategyStore,
  unstorableTextAt,
  type DecisionRow,
  type KeyForTrading,
  type StatePatch,
  type StrategyChangedEvent,
  type StrategyMode,
  type StrategyRow,
  type TradingFlag,
} from "../src/adapters/strategies/store";
import { getDatabase } from "../src/adapters/storage/database";
import { NotFoundError, ValidationError } from "../src/core/model/errors";
import { validateStrategy, type StrategyDefinition } from "../src/core/strategy";
import { boundedString, idParam } from "../src/gateway/params";
import { REPL_CALLER } from "../src/runtime/repl-commands";
import { loadSecrets } from "../src/runtime/secrets";
import { AuthGuardMixin, guarded, requireUser, type AuraContext } from "../mixins/auth-guard.mixin";
import { DatabaseMixin, type DatabaseMethods } from "../mixins/database.mixin";
import ErrorsMixin from "../mixins/errors.mixin";
import { numberOrNull } from "../src/adapters/storage/rows";

export interface StrategiesSettings {
  /** strategies one user may keep */
  maxPerUser: number;
  /** PAPER_BALANCE_USDT: what a new paper account starts with */
  paperBalanceUsdt: string;
  /** how long opening a paper account on the simulator may take */
  simTimeoutMs: number;
}

interface StrategiesVars {
  store: StrategyStore;
  ring: KeyRing;
}

interface StrategiesMethods extends DatabaseMethods {
  owned(id: number, userId: number): Promise<StrategyRow>;
  openPaperAccount(ctx: AuraContext<unknown>, userId: number): Promise<string>;
  changed(id: number | string, userId: number | string, status: StrategyChangedEvent["status"]): void;
  setHalt(
    ctx: AuraContext<unknown>,
    halted: boolean,
    reason: string | null,
    by: number | null,
  ): Promise<TradingFlag>;
}

type Self = Service<StrategiesSettings> & StrategiesVars & StrategiesMethods;

const STRICT = { $$strict: "remove" } as const;
const ID = idParam("id");
const DEFINITION = { type: "object" } as const;
const REASON = boundedString(500);
/** the services that run instances and act for them */
const RUNTIME_CALLERS = ["strategy-runner", "strategy.*", "execution"];
/** instances listed to operators at once */
const OVERVIEW_LIMIT = 1000;

const KEY_REQUIRED =
  "keyId is required for live mode: the id of one of your exchange API keys (GET /api/v1/keys). " +
  'Use mode "paper" to trade on your paper account instead.';

function notFound(): NotFoundError {
  return new NotFoundError("Strategy not found.");
}

function conflict(message: string, type: string, data?: Record<string, unknown>) {
  return new Errors.MoleculerClientError(message, 409, type, data);
}

/** The definition checked by the core validator; its issues point into the request body. */
function checkedDefinition(definition: unknown): StrategyDefinition {
  const v = validateStrategy(definition);
  if (!v.ok) {
    throw new ValidationError(
      v.errors.map((e) => ({ ...e, path: `/definition${e.path}` })),
      "The strategy definition is invalid.",
    );
  }
  const at = unstorableTextAt(v.definition, "/definition");
  if (at !== undefined) {
    throw new ValidationError(
      [
        {
          path: at,
          code: "invalid_text",
          message: "must be Unicode text without NUL or unpaired surrogates",
        },
      ],
      "The strategy definition is invalid.",
    );
  }
  return v.definition;
}

function view(row: StrategyRow) {
  return {
    id: Number(row.id),
    name: row.name,
    symbol: row.symbol,
    interval: row.interval,
    status: row.status,
    paused: row.paused,
    // a strategy that never ran has no mode yet, whatever the column's default says
    mode: row.activated_at ? row.mode : null,
    keyId: numberOrNull(row.api_key_id),
    version: row.version,
    activeVersion: row.active_version,
    restartNeeded:
      row.status === "active" && row.active_version !== null && row.active_version !== row.version,
    statusReason: row.status_reason,
    closeOnStop: row.close_on_stop,
    lastCandleTime: numberOrNull(row.last_candle_time),
    activatedAt: row.activated_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    runner: row.lease_live
      ? {
          ownerNode: row.lease_owner_node,
          leaseExpiresAt: row.lease_expires_at,
          fencingToken: numberOrNull(row.lease_fencing_token),
        }
      : null,
  };
}

function detailView(row: StrategyRow, activeDefinition: StrategyDefinition | undefined) {
  return {
    ...view(row),
    definition: row.definition,
    ...(activeDefinition ? { activeDefinition } : {}),
  };
}

function decisionView(d: DecisionRow) {
  return {
    id: Number(d.id),
    time: d.time,
    kind: d.kind,
    level: d.level,
    candleOpenTime: numberOrNull(d.candle_open_time),
    action: d.action,
    message: d.message,
    data: d.data,
  };
}

function flagView(f: TradingFlag) {
  return { halted: f.halted, reason: f.reason, changedBy: f.changedBy, changedAt: f.changedAt };
}

/** Refuses a key that cannot trade for this activation, saying what to do instead. */
function checkKey(mode: StrategyMode, key: KeyForTrading | undefined): KeyForTrading {
  if (!key) {
    if (mode === "live") throw new NotFoundError("API key not found.");
    throw conflict(
      "Your paper account was removed while the strategy was being activated; try again.",
      "CONFLICT",
    );
  }
  if (mode === "live" && key.paper) {
    throw new Errors.MoleculerClientError(
      `API key ${key.id} is your paper account on the simulator venue: activate with mode "paper" to ` +
        "trade on it, or choose one of your exchange keys for live mode.",
      400,
      "KEY_IS_PAPER_ACCOUNT",
      { keyId: Number(key.id) },
    );
  }
  if (key.status !== "valid") {
    const reason = key.status_reason ? ` (${key.status_reason})` : "";
    const explain = key.status_reason
      ? (REJECTION_MESSAGES as Record<string, string | undefined>)[key.status_reason]
      : undefined;
    const next = key.paper
      ? `Remove it (DELETE /api/v1/keys/${key.id}) and activate again to open a new paper account.`
      : `Fix it on the exchange and check it again (POST /api/v1/keys/${key.id}/validate), or choose another key.`;
    throw new Errors.MoleculerClientError(
      `${key.paper ? "Your paper account" : `API key "${key.label}"`} cannot trade: it is ${key.status}${reason}. ` +
        `${explain ? `${explain} ` : ""}${next}`,
      400,
      "KEY_NOT_VALID",
      { keyId: Number(key.id), status: key.status, reason: key.status_reason },
    );
  }
  return key;
}

function paperUnavailable(): Errors.MoleculerError {
  return new Errors.MoleculerError(
    "Paper trading needs the simulator venue (the exchange-sim service), and it is not running in this " +
      'cluster. Start it (SERVICES including exchange-sim), or activate in mode "live" with an exchange key.',
    503,
    "PAPER_TRADING_UNAVAILABLE",
  );
}

const StrategiesService: ServiceSchema<StrategiesSettings, StrategiesMethods, StrategiesVars, Self> = {
  name: "strategies",
  mixins: [AuthGuardMixin, DatabaseMixin, ErrorsMixin],

  settings: {
    ...strategiesConfig(),
    maxPerUser: 200,
    simTimeoutMs: 5000,
  },

  created(this: Self) {
    // paper accounts are exchange keys and are sealed like every other key
    const secrets = loadSecrets(undefined, { warn: (m) => this.logger.warn(m) });
    this.ring = new KeyRing(secrets.masterKey, secrets.oldMasterKeys);
  },

  async started(this: Self) {
    this.store = new StrategyStore((await getDatabase()).sequelize);
  },

  actions: {
    /** POST /api/v1/strategies { definition } → 201, version 1, draft */
    create: guarded({
      auth: "user",
      params: { ...STRICT, definition: DEFINITION },
      async handler(this: Self, ctx: AuraContext<{ definition: unknown }>) {
        const me = requireUser(ctx);
        const def = checkedDefinition(ctx.params.definition);
        const max = this.settings.maxPerUser;
        const id = await this.store.withUserLock(me.id, async (t) => {
          const n = await this.store.countOwned(me.id, t);
          if (n >= max) {
            throw conflict(
              `You have ${n} strategies, the most one account may keep is ${max}; delete one you no longer need to create another.`,
              "STRATEGY_LIMIT",
              { count: n, limit: max },
            );
          }
          return this.store.insert(t, me.id, def);
        });
        const row = await this.owned(Number(id), me.id);
        await this.audit(ctx, {
          action: "strategy.create",
          userId: me.id,
          targetType: "strategy",
          targetId: id,
          details: { name: def.name, symbol: def.symbol, interval: def.interval },
        });
        this.changed(id, me.id, row.status);
        ctx.meta.$statusCode = 201;
        ctx.meta.$location = `/api/v1/strategies/${id}`;
        return detailView(row, undefined);
      },
    }),

    /** GET /api/v1/strategies?afterId=&limit= → the caller's strategies in id order */
    list: guarded({
      auth: "user",
      params: {
        ...STRICT,
        limit: { type: "number", integer: true, min: 1, max: 100, optional: true, convert: true },
        afterId: idParam("afterId", { optional: true }),
      },
      async handler(this: Self, ctx: AuraContext<{ limit?: number | null; afterId?: number | null }>) {
        const limit = ctx.params.limit ?? 50;
        const rows = await this.store.list(requireUser(ctx).id, limit, ctx.params.afterId ?? undefined);
        return {
          items: rows.map(view),
          nextAfterId: rows.length === limit ? Number(rows[rows.length - 1].id) : null,
        };
      },
    }),

    /** GET /api/v1/strategies/:id → with its definition, and the running one when they differ */
    get: guarded({
      auth: "user",
      params: { ...STRICT, id: ID },
      async handler(this: Self, ctx: AuraContext<{ id: number }>) {
        const row = await this.owned(ctx.params.id, requireUser(ctx).id);
        const active =
          row.active_version !== null && row.active_version !== row.version
            ? await this.store.versionDefinition(row.id, row.active_version)
            : undefined;
        return detailView(row, active);
      },
    }),

    /** PUT /api/v1/strategies/:id { definition } → a new version; a running instance keeps its own */
    update: guarded({
      auth: "user",
      params: { ...STRICT, id: ID, definition: DEFINITION },
      async handler(this: Self, ctx: AuraContext<{ id: number; definition: unknown }>) {
        const me = requireUser(ctx);
        const def = checkedDefinition(ctx.params.definition);
        const row = await this.store.update(ctx.params.id, me.id, def);
        if (!row) throw notFound();
        await this.audit(ctx, {
          action: "strategy.update",
          userId: me.id,
          targetType: "strategy",
          targetId: row.id,
          details: { version: row.version, activeVersion: row.active_version, status: row.status },
        });
        this.changed(row.id, me.id, row.status);
        const active =
          row.active_version !== null && row.active_version !== row.version
            ? await this.store.versionDefinition(row.id, row.active_version)
            : undefined;
        return detailView(row, active);
      },
    }),

    /** DELETE /api/v1/strategies/:id → 204; refused while an instance runs */
    remove: guarded({
      auth: "user",
      params: { ...STRICT, id: ID },
      async handler(this: Self, ctx: AuraContext<{ id: number }>) {
        const me = requireUser(ctx);
        const row = await this.store.remove(ctx.params.id, me.id, (r) => {
          if (r.status === "active" || r.status === "stopping") {
            throw conflict(
              r.status === "active"
                ? `Strategy ${r.id} is active: deactivate it (POST /api/v1/strategies/${r.id}/deactivate) and wait until it has stopped before deleting it.`
                : `Strategy ${r.id} is stopping: wait until it has stopped before deleting it.`,
              "STRATEGY_ACTIVE",
              { status: r.status },
            );
          }
        });
        if (!row) throw notFound();
        await this.audit(ctx, {
          action: "strategy.delete",
          userId: me.id,
          targetType: "strategy",
          targetId: row.id,
          details: { name: row.name, status: row.status },
        });
        this.changed(row.id, me.id, "deleted");
        ctx.meta.$statusCode = 204;
        return null;
      },
    }),

    /**
     * POST /api/v1/strategies/:id/activate { mode, keyId? }: records that the instance should run
     * the current version, on the given key (live) or on the user's paper account (paper).
     */
    activate: guarded({
      auth: "user",
      params: {
        ...STRICT,
        id: ID,
        mode: { type: "enum", values: ["paper", "live"] },
        keyId: idParam("keyId", { optional: true }),
      },
      async handler(this: Self, ctx: AuraContext<{ id: number; mode: StrategyMode; keyId?: number | null }>) {
        const me = requireUser(ctx);
        const { id, mode } = ctx.params;
        const keyId = ctx.params.keyId ?? undefined;
        const current = await this.owned(id, me.id);
        if (mode === "live" && keyId === undefined) {
          throw new ValidationError(
            [{ path: "/keyId", code: "required", message: KEY_REQUIRED }],
            KEY_REQUIRED,
          );
        }
        if (mode === "paper" && keyId !== undefined) {
          const named = await this.store.keyForTrading(keyId, me.id);
          if (!named) throw new NotFoundError("API key not found.");
          if (!named.paper) {
            throw new Errors.MoleculerClientError(
              `Paper mode always trades on your paper account, and API key ${keyId} is an exchange key: ` +
                'leave keyId out for paper mode, or activate with mode "live" to trade with this key.',
              400,
              "KEY_NOT_PAPER_ACCOUNT",
              { keyId },
            );
          }
        }
        // an instance that already runs needs no new paper account: it is compared, not changed
        const running = current.status === "active" || current.status === "stopping";
        const wanted =
          mode === "live"
            ? String(keyId)
            : running
              ? (await this.store.paperAccount(me.id))?.id
              : await this.openPaperAccount(ctx, me.id);
        const result = await this.store.mutate(id, me.id, async (row, t): Promise<StatePatch | null> => {
          if (row.status === "stopping") {
            throw conflict(
              `Strategy ${row.id} is stopping: wait until it has stopped, then activate it again.`,
              "STRATEGY_STOPPING",
              { status: row.status },
            );
          }
          if (row.status === "active") {
            if (row.mode === mode && wanted !== undefined && row.api_key_id === wanted) return null;
            throw conflict(
              `Strategy ${row.id} is already active in ${row.mode} mode${row.api_key_id ? ` on key ${row.api_key_id}` : ""}: ` +
                "deactivate it and wait until it has stopped to run it with another mode or key.",
              "STRATEGY_ACTIVE",
              { status: row.status, mode: row.mode, keyId: numberOrNull(row.api_key_id) },
            );
          }
          if (wanted === undefined) {
            throw conflict(`Strategy ${row.id} changed while it was being activated; try again.`, "CONFLICT");
          }
          const key = checkKey(mode, await this.store.keyForTrading(wanted, me.id, t));
          return {
            status: "active",
            mode,
            api_key_id: Number(key.id),
            active_version: row.version,
            activated_at: new Date(),
            paused: false,
            crash_count: 0,
            status_reason: null,
            close_on_stop: false,
            // a fresh start decides from the next closed candle, not where an old run left off
            decision_floor_id: await this.store.decisionFloor(Number(row.id), t),
          };
        });
        if (!result) throw notFound();
        if (result.changed) {
          await this.audit(ctx, {
            action: "strategy.activate",
            userId: me.id,
            targetType: "strategy",
            targetId: id,
            details: { mode, keyId: numberOrNull(result.row.api_key_id), version: result.row.active_version },
          });
          this.changed(id, me.id, result.row.status);
        }
        return view(result.row);
      },
    }),

    /**
     * POST /api/v1/strategies/:id/deactivate { closePosition? }: asks the runner to stop the
     * instance (closing its position first when asked); the runner marks it stopped when done.
     */
    deactivate: guarded({
      auth: "user",
      params: { ...STRICT, id: ID, closePosition: { type: "boolean", optional: true, convert: true } },
      async handler(this: Self, ctx: AuraContext<{ id: number; closePosition?: boolean | null }>) {
        const me = requireUser(ctx);
        const close = ctx.params.closePosition ?? false;
        const result = await this.store.mutate(ctx.params.id, me.id, (row): StatePatch | null => {
          switch (row.status) {
            case "active":
              return { status: "stopping", close_on_stop: close };
            case "stopping":
              // asking again may add the close, never take it back
              return close && !row.close_on_stop ? { close_on_stop: true } : null;
            case "error":
              // nothing runs it any more: it stops at once unless a runner must close its position
              return close ? { status: "stopping", close_on_stop: true } : { status: "stopped" };
            default:
              throw conflict(
                row.status === "draft"
                  ? `Strategy ${row.id} has never been activated, so there is nothing to deactivate.`
                  : `Strategy ${row.id} is already stopped.`,
                "STRATEGY_NOT_ACTIVE",
                { status: row.status },
              );
          }
        });
        if (!result) throw notFound();
        if (result.changed) {
          await this.audit(ctx, {
            action: "strategy.deactivate",
            userId: me.id,
            targetType: "strategy",
            targetId: ctx.params.id,
            details: { status: result.row.status, closePosition: result.row.close_on_stop },
          });
          this.changed(ctx.params.id, me.id, result.row.status);
        }
        return view(result.row);
      },
    }),

    /** POST /api/v1/strategies/:id/pause: no new entries; exits and protections continue */
    pause: guarded({
      auth: "user",
      params: { ...STRICT, id: ID },
      async handler(this: Self, ctx: AuraContext<{ id: number }>) {
        return setPaused(this, ctx, true);
      },
    }),

    /** POST /api/v1/strategies/:id/resume: entries again */
    resume: guarded({
      auth: "user",
      params: { ...STRICT, id: ID },
      async handler(this: Self, ctx: AuraContext<{ id: number }>) {
        return setPaused(this, ctx, false);
      },
    }),

    /** GET /api/v1/strategies/:id/logs?before=&limit= → decisions, newest first */
    logs: guarded({
      auth: "user",
      params: {
        ...STRICT,
        id: ID,
        before: idParam("before", { optional: true }),
        limit: { type: "number", integer: true, min: 1, max: 200, optional: true, convert: true },
      },
      async handler(
        this: Self,
        ctx: AuraContext<{ id: number; before?: number | null; limit?: number | null }>,
      ) {
        const me = requireUser(ctx);
        const row = await this.owned(ctx.params.id, me.id);
        const limit = ctx.params.limit ?? 50;
        const rows = await this.store.decisions(row.id, me.id, limit, ctx.params.before ?? undefined);
        return {
          items: rows.map(decisionView),
          nextBefore: rows.length === limit ? Number(rows[rows.length - 1].id) : null,
        };
      },
    }),

    // ------------------------------------------------------------------ trading halt (admins)

    /** GET /api/v1/admin/trading → the halt flag */
    tradingStatus: guarded({
      auth: "admin",
      params: { ...STRICT },
      async handler(this: Self) {
        return { halt: flagView(await this.store.haltFlag()) };
      },
    }),

    /** POST /api/v1/admin/trading/halt { reason }: no new entries anywhere in the cluster */
    halt: guarded({
      auth: "admin",
      params: { ...STRICT, reason: REASON },
      async handler(this: Self, ctx: AuraContext<{ reason: string }>) {
        const me = requireUser(ctx);
        return { halt: flagView(await this.setHalt(ctx, true, ctx.params.reason, me.id)) };
      },
    }),

    /** POST /api/v1/admin/trading/resume { reason? } */
    resumeTrading: guarded({
      auth: "admin",
      params: { ...STRICT, reason: boundedString(500, { optional: true }) },
      async handler(this: Self, ctx: AuraContext<{ reason?: string | null }>) {
        const me = requireUser(ctx);
        return { halt: flagView(await this.setHalt(ctx, false, ctx.params.reason ?? null, me.id)) };
      },
    }),

    // ------------------------------------------------------------------ other services, operators

    /** The instance as runners and actors run it: the active version's definition, key, state. */
    instance: guarded({
      auth: "internal",
      callers: RUNTIME_CALLERS,
      visibility: "public",
      params: { ...STRICT, id: ID },
      async handler(this: Self, ctx: AuraContext<{ id: number }>) {
        const row = await this.store.instance(ctx.params.id);
        if (!row) throw notFound();
        const def = row.active_definition;
        return {
          id: Number(row.id),
          userId: Number(row.user_id),
          name: def?.name ?? row.name,
          // the running version's market, which a later edit may have changed in `definition`
          symbol: def?.symbol ?? row.symbol,
          interval: def?.interval ?? row.interval,
          status: row.status,
          paused: row.paused,
          mode: row.mode,
          keyId: numberOrNull(row.api_key_id),
          version: row.version,
          activeVersion: row.active_version,
          definition: def,
          closeOnStop: row.close_on_stop,
          lastCandleTime: numberOrNull(row.last_candle_time),
          statusReason: row.status_reason,
          crashCount: row.crash_count,
          activatedAt: row.activated_at,
        };
      },
    }),

    /** Every instance that is not a draft, with owner and lease, and the halt flag (the REPL). */
    overview: guarded({
      auth: "internal",
      callers: [REPL_CALLER],
      visibility: "public",
      params: { ...STRICT },
      async handler(this: Self) {
        const rows = await this.store.overview(OVERVIEW_LIMIT);
        return {
          halt: flagView(await this.store.haltFlag()),
          truncated: rows.length === OVERVIEW_LIMIT,
          instances: rows.map((r) => ({
            id: Number(r.id),
            userId: Number(r.user_id),
            owner: r.email,
            name: r.name,
            symbol: r.symbol,
            interval: r.interval,
            status: r.status,
            paused: r.paused,
            mode: r.mode,
            keyId: numberOrNull(r.api_key_id),
            version: r.version,
            activeVersion: r.active_version,
            lastCandleTime: numberOrNull(r.last_candle_time),
            statusReason: r.status_reason,
            crashCount: r.crash_count,
            ownerNode: r.owner_node,
            fencingToken: numberOrNull(r.fencing_token),
            leaseAgeSec: numberOrNull(r.lease_age_sec),
            leaseExpiresInSec: numberOrNull(r.lease_expires_in_sec),
          })),
        };
      },
    }),

    /** One instance for an operator: its row, lease and latest decisions (the REPL). */
    inspect: guarded({
      auth: "internal",
      callers: [REPL_CALLER],
      visibility: "public",
      params: {
        ...STRICT,
        id: ID,
        decisions: { type: "number", integer: true, min: 1, max: 200, optional: true, convert: true },
      },
      async handler(this: Self, ctx: AuraContext<{ id: number; decisions?: number | null }>) {
        const row = await this.store.instance(ctx.params.id);
        if (!row) throw notFound();
        const decisions = await this.store.latestDecisions(ctx.params.id, ctx.params.decisions ?? 20);
        return {
          strategy: { ...view(row), userId: Number(row.user_id), crashCount: row.crash_count },
          lease: row.lease_owner_node
            ? {
                ownerNode: row.lease_owner_node,
                fencingToken: numberOrNull(row.lease_fencing_token),
                acquiredAt: row.lease_acquired_at,
                expiresAt: row.lease_expires_at,
                live: row.lease_live,
              }
            : null,
          decisions: decisions.map((d) => ({
            ...decisionView(d),
            fencingToken: numberOrNull(d.fencing_token),
            nodeId: d.node_id,
          })),
        };
      },
    }),

    /** Halts or resumes trading from the REPL (no user: the audit row names no actor). */
    operatorHalt: guarded({
      auth: "internal",
      callers: [REPL_CALLER],
      visibility: "public",
      params: { ...STRICT, halted: { type: "boolean" }, reason: boundedString(500, { optional: true }) },
      async handler(this: Self, ctx: AuraContext<{ halted: boolean; reason?: string | null }>) {
        return {
          halt: flagView(await this.setHalt(ctx, ctx.params.halted, ctx.params.reason ?? null, null)),
        };
      },
    }),
  },

  methods: {
    async owned(this: Self, id: number, userId: number): Promise<StrategyRow> {
      const row = await this.store.get(id, userId);
      if (!row) throw notFound();
      return row;
    },

    /**
     * The user's paper account: an account on the simulator venue with PAPER_BALANCE_USDT, stored
     * as one of the user's exchange keys (paper = true), opened on first use and reused after.
     */
    async openPaperAccount(this: Self, ctx: AuraContext<unknown>, userId: number): Promise<string> {
      const existing = await this.store.paperAccount(userId);
      if (existing) return existing.id;
      // the typings make nodeID required; without one the registry answers for any node
      const registry = this.broker.registry as unknown as { hasService(fullName: string): boolean };
      if (!registry.hasService("exchange-sim")) throw paperUnavailable();
      let account: { apiKey: string; secretKey: string };
      try {
        account = await this.broker.call<
          { apiKey: string; secretKey: string },
          { balances: Record<string, string>; commission: { asset: "quote" } }
        >(
          "exchange-sim.createAccount",
          // fees in the quote asset, as the backtest charges them: paper results equal backtests
          { balances: { USDT: this.settings.paperBalanceUsdt }, commission: { asset: "quote" } },
          { caller: this.fullName, timeout: this.settings.simTimeoutMs },
        );
      } catch (e) {
        const err = e as { name?: string; code?: number } | undefined;
        if (
          err?.name === "ServiceNotFoundError" ||
          err?.name === "ServiceNotAvailableError" ||
          err?.code === 503
        )
          throw paperUnavailable();
        throw e;
      }
      const sequelize = await this.sql();
      // two first activations at once: the one-per-user index keeps one; the other reuses it
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          const row = await insertApiKey(sequelize, this.ring, {
            userId,
            label: await this.store.freePaperLabel(userId),
            exchange: "sim",
            apiKey: account.apiKey,
            apiSecret: account.secretKey,
            status: "valid",
            statusReason: null,
            permissions: null,
            validatedAt: new Date(),
            paper: true,
          });
          await this.audit(ctx, {
            action: "keys.add",
            userId,
            targetType: "api_key",
            targetId: row.id,
            details: { exchange: "sim", paper: true, status: "valid" },
          });
          return row.id;
        } catch (e) {
          if (!(e instanceof LabelTakenError)) throw e;
          const other = await this.store.paperAccount(userId);
          if (other) return other.id;
        }
      }
      throw conflict("Your paper account could not be opened just now; try again.", "CONFLICT");
    },

    changed(
      this: Self,
      id: number | string,
      userId: number | string,
      status: StrategyChangedEvent["status"],
    ) {
      const ev: StrategyChangedEvent = { id: Number(id), userId: Number(userId), status };
      this.broker.broadcast(STRATEGY_EVENTS.changed, ev).catch(() => {});
    },

    async setHalt(
      this: Self,
      ctx: AuraContext<unknown>,
      halted: boolean,
      reason: string | null,
      by: number | null,
    ): Promise<TradingFlag> {
      const flag = await this.store.setHalt(halted, reason === null ? null : storableText(reason), by);
      await this.audit(ctx, {
        action: halted ? "trading.halt" : "trading.resume",
        actorId: by,
        targetType: "trading_flag",
        targetId: "halt",
        details: { reason: flag.reason, ...(by === null ? { via: "repl" } : {}) },
      });
      this.broker.broadcast(STRATEGY_EVENTS.flagsChanged, flag).catch(() => {});
      this.logger.warn({ halted, by }, halted ? "trading halted" : "trading resumed");
      return flag;
    },
  },
};

/** Pause or resume: only an active instance; asking for the state it already has changes nothing. */
async function setPaused(svc: Self, ctx: AuraContext<{ id: number }>, paused: boolean) {
  const me = requireUser(ctx);
  const result = await svc.store.mutate(ctx.params.id, me.id, (row): StatePatch | null => {
    if (row.status !== "active") {
      throw conflict(
        `Only an active strategy can be ${paused ? "paused" : "resumed"}; strategy ${row.id} is ${row.status}.`,
        "STRATEGY_NOT_ACTIVE",
        { status: row.status },
      );
    }
    return row.paused === paused ? null : { paused };
  });
  if (!result) throw notFound();
  if (result.changed) {
    await svc.audit(ctx, {
      action: paused ? "strategy.pause" : "strategy.resume",
      userId: me.id,
      targetType: "strategy",
      targetId: ctx.params.id,
    });
    svc.changed(ctx.params.id, me.id, result.row.status);
  }
  return view(result.row);
}

export default StrategiesService;
