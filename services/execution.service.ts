// Execution: where money moves. Strategy actors send `execution.submit`; commands are routed to
// a node by symbol (Moleculer's Shard strategy), queued per account×symbol inside the node (a
// FIFO mailbox), and guarded across the cluster by a fenced row per account×symbol, so at most
// one order per account and symbol is in flight anywhere. The flows themselves live in
// src/adapters/execution/executor.ts; this file wires them to the broker: params in, events out.
// Until the first reconciliation after start has finished, commands are refused with a
// retryable RECONCILING error, so nothing is sent on top of a state we have not checked.
import { Errors, type Context, type Service, type ServiceSchema } from "moleculer";
import { executionConfig } from "../src/adapters/config";
import type { ExchangeId } from "../src/adapters/auth/api-keys";
import { KeyRing } from "../src/adapters/crypto/aead";
import type { ExchangeEndpoints } from "../src/adapters/exchange/config";
import { VenueAccounts } from "../src/adapters/execution/accounts";
import { Executor, RetryLaterError } from "../src/adapters/execution/executor";
import { KeyedMailbox, MailboxFullError } from "../src/adapters/execution/mailbox";
import { ExecutionStore } from "../src/adapters/execution/store";
import { UserStreams, type StreamOrderEvent } from "../src/adapters/execution/user-streams";
import { getDatabase } from "../src/adapters/storage/database";
import { isOurClientOrderId } from "../src/core/execution/ids";
import { eventsExplained } from "../src/core/execution/order-state";
import type { SubmitCommand, SubmitResult } from "../src/core/execution/types";
import { symbolSpec } from "../src/core/market/symbols";
import { loadSecrets } from "../src/runtime/secrets";
import { auraMetrics, type AuraMetrics } from "../src/adapters/metrics";
import { REPL_CALLER } from "../src/runtime/repl-commands";
import { AuthGuardMixin, guarded, type AuraMeta } from "../mixins/auth-guard.mixin";
import ErrorsMixin from "../mixins/errors.mixin";
import { venueEndpoints } from "../src/adapters/exchange/cluster-sim";

export interface ExecutionSettings {
  reconcileIntervalMs: number;
  notFoundGraceMs: number;
  /** how long an account×symbol guard lasts without renewal (renewed every third of it while held) */
  guardTtlMs: number;
  /** how long a command waits for the guard another node holds */
  guardWaitMs: number;
  /** how long a venue request may take before its outcome is unknown (ccxt's timeout) */
  venueTimeoutMs: number;
}

interface ExecutionVars {
  metrics: AuraMetrics;
  store: ExecutionStore;
  accounts: VenueAccounts;
  executor: Executor;
  mailbox: KeyedMailbox;
  streams: UserStreams;
  /**
   * account×symbol pairs with a check already scheduled (stream events come in bursts), with the
   * events that asked for it; undefined asks for the full check whatever the database says
   */
  scheduled: Map<string, StreamOrderEvent[] | undefined>;
  ready: boolean;
  /** keys whose orders could not be checked since start: their commands wait (RECONCILING) */
  unreconciled: Set<number>;
  reconciling?: Promise<void>;
  /** the periodic pass in progress, awaited on stop */
  cycling?: Promise<void>;
  timer?: NodeJS.Timeout;
  stopping: boolean;
}

interface ExecutionMethods {
  endpoints(exchange: ExchangeId): Promise<ExchangeEndpoints>;
  guarded<T>(
    keyId: number,
    symbol: string,
    intentId: string,
    fn: () => Promise<T>,
    waitMs?: number,
  ): Promise<T>;
  reconcileAll(userId?: number, waitMs?: number): Promise<Record<string, unknown>[]>;
  checkSoon(keyId: number, userId: number, symbol: string | undefined, events?: StreamOrderEvent[]): void;
  watch(keyId: number, userId: number): Promise<void>;
  toMoleculer(e: unknown): unknown;
}

type Self = Service<ExecutionSettings> & ExecutionVars & ExecutionMethods;

const SYMBOL = { type: "string", pattern: /^[A-Z0-9]{2,20}$/ } as const;
const POSITIVE_ID = { type: "number", integer: true, positive: true, max: Number.MAX_SAFE_INTEGER } as const;

const ExecutionService: ServiceSchema<ExecutionSettings, ExecutionMethods, ExecutionVars, Self> = {
  name: "execution",
  mixins: [AuthGuardMixin, ErrorsMixin],

  settings: {
    ...executionConfig(),
    guardTtlMs: 6000,
    guardWaitMs: 10_000,
    venueTimeoutMs: 10_000,
  },

  actions: {
    /**
     * Carries out one decision of a strategy instance. Repeat-safe: the same intentId returns the
     * first outcome and sends nothing new. Never retried by the framework (retries are off).
     */
    submit: guarded({
      auth: "internal",
      callers: ["strategy.*", "strategy-runner"],
      visibility: "public",
      strategy: "Shard",
      strategyOptions: { shardKey: "symbol" },
      // A submit mostly waits on the venue, and the per account×symbol mailbox already serialises
      // and bounds it; the broker-wide 10-call bulkhead would make one slow venue answer hold up
      // other users' orders. Still bounded: beyond the queue a caller gets a retryable refusal.
      bulkhead: { enabled: true, concurrency: 256, maxQueueSize: 4096 },
      params: {
        $$strict: "remove",
        intentId: { type: "string", min: 3, max: 120, pattern: /^[A-Za-z0-9:_-]+$/ },
        userId: POSITIVE_ID,
        keyId: POSITIVE_ID,
        instanceId: POSITIVE_ID,
        fencingToken: { type: "number", integer: true, min: 0, max: Number.MAX_SAFE_INTEGER },
        symbol: SYMBOL,
        side: { type: "enum", values: ["BUY", "SELL"] },
        kind: { type: "enum", values: ["entry", "exit"] },
        candleOpenTime: { type: "number", integer: true, min: 0, max: 4_102_444_800_000 },
        reason: { type: "string", max: 500 },
        sizing: {
          type: "object",
          optional: true,
          strict: "remove",
          props: { positionSizePct: { type: "number", gt: 0, max: 100 } },
        },
        risk: {
          type: "object",
          optional: true,
          strict: "remove",
          props: {
            takeProfitPct: { type: "number", gt: 0, max: 10_000, optional: true },
            stopLossPct: { type: "number", gt: 0, lt: 100, optional: true },
          },
        },
        deadline: { type: "number", integer: true, min: 0, optional: true },
        signalAt: { type: "number", integer: true, min: 0, optional: true },
      },
      async handler(this: Self, ctx: Context<SubmitCommand, AuraMeta>): Promise<SubmitResult> {
        if (!this.ready || this.unreconciled.has(ctx.params.keyId)) {
          throw new Errors.MoleculerRetryableError(
            "Execution is reconciling with the venue after a start; try again shortly.",
            503,
            "RECONCILING",
            { retryAfter: 2 },
          );
        }
        const cmd = ctx.params;
        if ((cmd.side === "BUY") !== (cmd.kind === "entry"))
          throw new Errors.ValidationError("An entry buys and an exit sells.", "VALIDATION_ERROR", [
            { field: "side", message: "side must be BUY for entries and SELL for exits", type: "side" },
          ]);
        try {
          const result = await this.mailbox.run(`${cmd.keyId}:${cmd.symbol}`, () =>
            this.guarded(cmd.keyId, cmd.symbol, cmd.intentId, () => this.executor.submit(cmd)),
          );
          // fills of its protection now arrive over the account's user-data stream
          if (result.status === "accepted") void this.watch(cmd.keyId, cmd.userId);
          this.metrics.inc("orders", { outcome: result.status, kind: cmd.kind });
          return result;
        } catch (e) {
          this.metrics.inc("orders", { outcome: "error", kind: cmd.kind });
          throw this.toMoleculer(e);
        }
      },
    }),

    /** Reconciles now (all keys with open work, or one user's) and reports what changed. */
    reconcile: guarded({
      auth: "internal",
      callers: [REPL_CALLER],
      visibility: "public",
      params: { $$strict: "remove", userId: { ...POSITIVE_ID, optional: true } },
      async handler(this: Self, ctx: Context<{ userId?: number }>) {
        return { keys: await this.reconcileAll(ctx.params.userId ?? undefined) };
      },
    }),

    /** Mailbox depths and readiness (operators). */
    status: guarded({
      auth: "internal",
      callers: [REPL_CALLER],
      visibility: "public",
      params: {},
      handler(this: Self) {
        return { ready: this.ready, nodeId: this.broker.nodeID, mailboxes: this.mailbox.sizes() };
      },
    }),
  },

  events: {
    // a key that was removed or invalidated must not keep trading from a cached client
    "keys.removed"(this: Self, ctx: Context<{ keyId: number }>) {
      this.accounts.forget(Number(ctx.params.keyId));
    },
    "keys.invalidated"(this: Self, ctx: Context<{ keyId: number }>) {
      this.accounts.forget(Number(ctx.params.keyId));
    },
  },

  methods: {
    endpoints(this: Self, exchange: ExchangeId): Promise<ExchangeEndpoints> {
      return venueEndpoints(this.broker, this.fullName, exchange);
    },

    /** Holds the account×symbol guard around `fn`; waits a little for another node's to finish. */
    async guarded<T>(
      this: Self,
      keyId: number,
      symbol: string,
      intentId: string,
      fn: () => Promise<T>,
      waitMs = this.settings.guardWaitMs,
    ): Promise<T> {
      const deadline = Date.now() + waitMs;
      let token: number | undefined;
      // short waits first: another node's command usually ends within milliseconds
      for (let pause = 5; ; pause = Math.min(100, pause * 2)) {
        token = await this.store.takeGuard(
          keyId,
          symbol,
          this.broker.nodeID,
          intentId,
          this.settings.guardTtlMs,
        );
        if (token !== undefined || Date.now() >= deadline) break;
        await new Promise((r) => setTimeout(r, pause));
      }
      if (token === undefined)
        throw new RetryLaterError(
          "BUSY",
          `another node is placing an order for ${symbol} on this account`,
          1000,
        );
      // renewed while held, so the TTL can be short: a dead node's guards lapse within seconds
      const held = token;
      const renew = setInterval(
        () =>
          void this.store
            .renewGuard(keyId, symbol, held, this.settings.guardTtlMs)
            .then((ok) => {
              if (!ok)
                this.logger.error(
                  { keyId, symbol, intentId },
                  "the account×symbol guard was taken over while held (this node stalled past its TTL)",
                );
            })
            .catch(() => {}),
        Math.max(100, Math.floor(this.settings.guardTtlMs / 3)),
      );
      try {
        return await fn();
      } finally {
        clearInterval(renew);
        await this.store.releaseGuard(keyId, symbol, token).catch(() => {});
      }
    },

    async reconcileAll(this: Self, userId?: number, waitMs?: number): Promise<Record<string, unknown>[]> {
      const out: Record<string, unknown>[] = [];
      const pairs = (await this.store.watchedPairs()).filter(
        (w) => userId === undefined || w.userId === userId,
      );
      const withWork = new Set((await this.store.work()).map((w) => w.keyId));
      const failed = new Set<number>();
      for (const w of pairs) {
        try {
          // behind the commands of the same account×symbol, and under the same cluster guard
          const report = await this.mailbox.run(`${w.keyId}:${w.symbol}`, () =>
            this.guarded(
              w.keyId,
              w.symbol,
              "reconcile",
              async () => ({
                ...(await this.executor.reconcileSymbol(w.keyId, w.userId, w.symbol)),
                ...(await this.executor.adoptUnknown(w.keyId, w.userId, w.symbol, isOurClientOrderId)),
              }),
              waitMs,
            ),
          );
          out.push({ keyId: w.keyId, symbol: w.symbol, ...report });
          for (const kind of [
            "resolved",
            "listsSynced",
            "protected",
            "unprotected",
            "adopted",
            "external",
          ] as const)
            if (report[kind] > 0) this.metrics.inc("reconcileDifferences", { kind }, report[kind]);
        } catch (e) {
          // a periodic pass leaves a pair another node is working on to that node
          if (waitMs === 0 && e instanceof RetryLaterError && e.code === "BUSY") {
            out.push({ keyId: w.keyId, symbol: w.symbol, busy: true });
            continue;
          }
          failed.add(w.keyId);
          this.logger.warn(
            { keyId: w.keyId, symbol: w.symbol, err: (e as Error).message },
            "reconciliation failed; retried later",
          );
          out.push({ keyId: w.keyId, symbol: w.symbol, error: (e as Error).message });
        }
      }
      for (const keyId of new Set(pairs.map((w) => w.keyId))) {
        if (failed.has(keyId)) this.unreconciled.add(keyId);
        else this.unreconciled.delete(keyId);
      }
      if (userId === undefined) {
        this.metrics.set("unprotectedPositions", await this.store.unprotectedCount());
        // streams follow the work: watched while an account has something open
        const owners = new Map(pairs.map((w) => [w.keyId, w.userId]));
        for (const keyId of withWork) void this.watch(keyId, owners.get(keyId)!);
        for (const keyId of this.streams.watching) if (!withWork.has(keyId)) this.streams.stop(keyId);
      }
      return out;
    },

    /**
     * Checks an account×symbol (or all of an account's open symbols) against the venue shortly,
     * unless the events that asked for it turn out, once the commands in flight for the pair are
     * done, to be what the database records already: the acknowledgements of AURA's own orders
     * would otherwise cost a full reconciliation each, several per order.
     */
    checkSoon(
      this: Self,
      keyId: number,
      userId: number,
      symbol: string | undefined,
      events?: StreamOrderEvent[],
    ): void {
      if (this.stopping) return;
      const id = `${keyId}:${symbol ?? "*"}`;
      const merge = (known: StreamOrderEvent[] | undefined) =>
        // past a few hundred events in one burst, a full check is cheaper than comparing them
        known && events && symbol && known.length + events.length <= 256 ? [...known, ...events] : undefined;
      if (this.scheduled.has(id)) {
        this.scheduled.set(id, merge(this.scheduled.get(id)));
        return;
      }
      this.scheduled.set(id, merge([]));
      setTimeout(() => {
        const asked = this.scheduled.get(id);
        this.scheduled.delete(id);
        if (this.stopping) return;
        void (async () => {
          const symbols = symbol
            ? [symbol]
            : (await this.store.work()).filter((w) => w.keyId === keyId).map((w) => w.symbol);
          for (const s of symbols) {
            // no waiting for another node's guard: the node holding it is reading the same venue,
            // and the periodic pass comes by anyway
            await this.mailbox
              .run(`${keyId}:${s}`, async () => {
                if (
                  asked &&
                  eventsExplained(asked, await this.store.recordedOrders(asked.map((e) => e.clientOrderId)))
                )
                  return;
                await this.guarded(
                  keyId,
                  s,
                  "stream",
                  () => this.executor.reconcileSymbol(keyId, userId, s),
                  0,
                );
              })
              .catch((e: Error) => {
                if (!(e instanceof RetryLaterError && e.code === "BUSY"))
                  this.logger.warn({ keyId, symbol: s, err: e.message }, "check after a stream event failed");
              });
          }
        })();
      }, 50).unref();
    },

    async watch(this: Self, keyId: number, userId: number): Promise<void> {
      if (this.stopping) return;
      try {
        this.streams.ensure(await this.accounts.get(keyId, userId));
      } catch (e) {
        this.logger.warn({ keyId, err: (e as Error).message }, "cannot watch the account's user-data stream");
      }
    },

    toMoleculer(e: unknown): unknown {
      if (e instanceof RetryLaterError)
        return new Errors.MoleculerRetryableError(e.message, e.code === "RATE_LIMITED" ? 429 : 503, e.code, {
          retryAfter: Math.max(1, Math.ceil(e.retryAfterMs / 1000)),
        });
      if (e instanceof MailboxFullError)
        return new Errors.MoleculerRetryableError(e.message, 429, "BUSY", { retryAfter: 1 });
      return e;
    },
  },

  created(this: Self) {
    this.metrics = auraMetrics(this.broker);
    this.mailbox = new KeyedMailbox(100);
    this.ready = false;
    this.unreconciled = new Set();
    this.scheduled = new Map();
    this.streams = new UserStreams({
      onActivity: (keyId, userId, symbol, events) => this.checkSoon(keyId, userId, symbol, events),
      log: this.logger,
      blockedFor: (keyId) => this.accounts?.blockedFor(keyId) ?? 0,
      onRateLimited: (keyId, f) => this.accounts?.pause(keyId, f.retryAfterMs, f.scope),
    });
    this.stopping = false;
  },

  async started(this: Self) {
    const secrets = loadSecrets(process.env, { warn: (m) => this.logger.warn(m) });
    const db = await getDatabase();
    this.store = new ExecutionStore(db.sequelize);
    this.accounts = new VenueAccounts({
      sequelize: db.sequelize,
      ring: new KeyRing(secrets.masterKey, secrets.oldMasterKeys),
      endpoints: (exchange) => this.endpoints(exchange),
      timeoutMs: this.settings.venueTimeoutMs,
    });
    const { crashAt } = executionConfig();
    this.executor = new Executor({
      store: this.store,
      accounts: this.accounts,
      specFor: symbolSpec,
      notFoundGraceMs: this.settings.notFoundGraceMs,
      // the actor's clock and ours differ by the nodes' NTP skew, milliseconds at most
      requestLeaving: (cmd) => {
        if (cmd.signalAt !== undefined)
          this.metrics.observe("signalToOrder", Math.max(0, Date.now() - cmd.signalAt) / 1000);
      },
      // crash tests only (the configuration refuses it in production)
      ...(crashAt
        ? {
            checkpoint: (point) => {
              if (point !== crashAt) return;
              this.logger.warn({ point }, "AURA_FAULT_CRASH_AT: killing this process");
              process.kill(process.pid, "SIGKILL");
            },
          }
        : {}),
      log: this.logger,
      events: {
        emit: (event, payload) =>
          void this.broker
            .broadcast(event, payload)
            .catch((e: Error) => this.logger.warn({ event, err: e.message }, "could not publish an event")),
      },
    });
    const cycle = async (waitMs?: number) => {
      const reports = await this.reconcileAll(undefined, waitMs);
      const changed = reports.filter((r) =>
        Object.entries(r).some(
          ([k, v]) => !["keyId", "resolved", "listsSynced"].includes(k) && typeof v === "number" && v > 0,
        ),
      );
      if (changed.length) this.logger.info({ reports: changed }, "reconciliation changed records");
    };
    // commands wait for the first pass: nothing is sent on top of a state nobody checked; a key
    // the pass could not check keeps refusing until a later pass succeeds for it
    this.reconciling = cycle()
      .catch((e: Error) => {
        this.logger.error({ err: e.message }, "startup reconciliation failed; retrying");
        return cycle();
      })
      .catch(() => {})
      .finally(() => {
        this.ready = true;
        this.logger.info({ waiting: [...this.unreconciled] }, "execution ready: startup reconciliation done");
      });
    this.timer = setInterval(() => {
      // one pass at a time: a slow venue must not pile passes up
      if (this.stopping || this.cycling) return;
      this.cycling = cycle(0)
        .catch((e: Error) => this.logger.warn({ err: e.message }, "reconciliation failed"))
        .finally(() => (this.cycling = undefined));
    }, this.settings.reconcileIntervalMs);
    this.timer.unref();
  },

  async stopped(this: Self) {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await this.reconciling?.catch(() => {});
    await this.cycling;
    await this.streams.close();
    await this.mailbox.drain();
    await this.accounts?.close();
  },
};

export default ExecutionService;
