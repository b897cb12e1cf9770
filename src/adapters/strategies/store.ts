// Users' strategies in PostgreSQL: the definition and its versions (strategy_versions), and the
// desired state of the instance that runs it (strategies), which the strategy-runner supervisors
// carry out; the decision log they write (strategy_decisions); the cluster-wide trading flags
// (trading_flags). Every query binds its values as parameters, and every read or write made for a
// user is scoped by the owner's id.
//
// State changes go through `mutate`: the row is locked (FOR UPDATE) while the caller's rule decides
// what to change, so two concurrent requests cannot both act on the state they read.
import { QueryTypes, type Sequelize, type Transaction } from "sequelize";
import type { StrategyDefinition } from "../../core/strategy";
import { isUnstorableText, storableText } from "../../core/util/text";
import { lastCandleSql } from "./decisions";

export type StrategyStatus = "draft" | "active" | "stopping" | "stopped" | "error";
export type StrategyMode = "paper" | "live";

/** Event names, so publishers and listeners cannot disagree on them. */
export const STRATEGY_EVENTS = {
  /** broadcast after every change of a strategy: supervisors re-read the instance at once */
  changed: "strategies.changed",
  /** broadcast when an operator halts or resumes trading */
  flagsChanged: "trading.flags.changed",
} as const;

export interface StrategyChangedEvent {
  id: number;
  userId: number;
  /** the status after the change, or "deleted" */
  status: StrategyStatus | "deleted";
}

export interface TradingFlag {
  name: "halt";
  halted: boolean;
  reason: string | null;
  changedBy: number | null;
  changedAt: Date | null;
}

export interface StrategyRow {
  id: string;
  user_id: string;
  api_key_id: string | null;
  name: string;
  symbol: string;
  interval: string;
  /** present on single-row reads; lists leave it out */
  definition?: StrategyDefinition;
  mode: StrategyMode;
  status: StrategyStatus;
  version: number;
  paused: boolean;
  active_version: number | null;
  status_reason: string | null;
  activated_at: Date | null;
  close_on_stop: boolean;
  last_candle_time: string | null;
  crash_count: number;
  created_at: Date;
  updated_at: Date;
  /** the lease, when a runner holds or held one */
  lease_owner_node: string | null;
  lease_fencing_token: string | null;
  lease_acquired_at: Date | null;
  lease_expires_at: Date | null;
  lease_live: boolean | null;
}

/** The columns a state change may set; anything else is ignored. */
export interface StatePatch {
  status?: StrategyStatus;
  mode?: StrategyMode;
  api_key_id?: number;
  active_version?: number;
  activated_at?: Date;
  paused?: boolean;
  crash_count?: number;
  status_reason?: string | null;
  close_on_stop?: boolean;
  /** the decision log's newest id when the current run began (see lastCandleSql) */
  decision_floor_id?: number;
}

const PATCHABLE: readonly (keyof StatePatch)[] = [
  "status",
  "mode",
  "api_key_id",
  "active_version",
  "activated_at",
  "paused",
  "crash_count",
  "status_reason",
  "close_on_stop",
  "decision_floor_id",
];

/** What activation needs to know about a key, locked against deletion until the change commits. */
export interface KeyForTrading {
  id: string;
  user_id: string;
  label: string;
  exchange: string;
  status: string;
  status_reason: string | null;
  paper: boolean;
}

export interface DecisionRow {
  id: string;
  time: Date;
  kind: string;
  level: string;
  candle_open_time: string | null;
  action: string | null;
  message: string;
  data: unknown;
  fencing_token: string | null;
  node_id: string | null;
}

/** An instance with its owner and lease, for operators. */
export interface OverviewRow {
  id: string;
  user_id: string;
  email: string;
  name: string;
  symbol: string;
  interval: string;
  status: StrategyStatus;
  paused: boolean;
  mode: StrategyMode;
  api_key_id: string | null;
  version: number;
  active_version: number | null;
  last_candle_time: string | null;
  status_reason: string | null;
  crash_count: number;
  owner_node: string | null;
  fencing_token: string | null;
  lease_age_sec: string | null;
  lease_expires_in_sec: string | null;
}

/** The instance as a supervisor or actor runs it: the active version's definition. */
export interface InstanceRow extends StrategyRow {
  active_definition: StrategyDefinition | null;
}

/**
 * The JSON Pointer (under `pointer`) of the first string, value or key, that a JSONB column cannot
 * hold. Undefined when everything can be stored. The gateway refuses such text already; this
 * covers callers on the bus (the REPL, other services).
 */
export function unstorableTextAt(value: unknown, pointer = ""): string | undefined {
  if (typeof value === "string") return isUnstorableText(value) ? pointer : undefined;
  if (typeof value !== "object" || value === null) return undefined;
  for (const [k, v] of Object.entries(value)) {
    const at = `${pointer}/${k.replace(/~/g, "~0").replace(/\//g, "~1")}`;
    if (isUnstorableText(k)) return at;
    const inner = unstorableTextAt(v, at);
    if (inner !== undefined) return inner;
  }
  return undefined;
}

export { storableText };

const STATE_COLUMNS = `s.id, s.user_id, s.api_key_id, s.name, s.symbol, s.interval, s.mode, s.status, s.version,
  s.paused, s.active_version, s.status_reason, s.activated_at, s.close_on_stop, ${lastCandleSql("s")} AS last_candle_time, s.crash_count,
  s.created_at, s.updated_at,
  l.owner_node AS lease_owner_node, l.fencing_token AS lease_fencing_token, l.acquired_at AS lease_acquired_at,
  l.expires_at AS lease_expires_at, l.expires_at > now() AS lease_live`;
const FROM = `FROM strategies s LEFT JOIN strategy_leases l ON l.strategy_id = s.id`;

const DECISION_COLUMNS = `id, time, kind, level, candle_open_time, action, message, data, fencing_token, node_id`;

export class StrategyStore {
  constructor(private readonly sequelize: Sequelize) {}

  private select<T extends object>(sql: string, bind: unknown[], transaction?: Transaction): Promise<T[]> {
    return this.sequelize.query<T>(sql, { bind, type: QueryTypes.SELECT, transaction });
  }

  /**
   * Runs `fn` in a transaction holding a lock on the user's strategies: creations are counted
   * against the per-user bound, and a user's paper account is opened once, however many requests
   * arrive together.
   */
  async withUserLock<T>(userId: number, fn: (t: Transaction) => Promise<T>): Promise<T> {
    return this.sequelize.transaction(async (t) => {
      await this.sequelize.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, {
        bind: [`aura.strategies.user.${userId}`],
        transaction: t,
      });
      return fn(t);
    });
  }

  async countOwned(userId: number, t?: Transaction): Promise<number> {
    const [r] = await this.select<{ n: string }>(
      `SELECT count(*) AS n FROM strategies WHERE user_id = $1`,
      [userId],
      t,
    );
    return Number(r.n);
  }

  /** Stores a new strategy (version 1, draft) and its first version row. */
  async insert(t: Transaction, userId: number, def: StrategyDefinition): Promise<string> {
    const [row] = await this.select<{ id: string }>(
      `INSERT INTO strategies (user_id, name, symbol, interval, definition, version, status)
       VALUES ($1, $2, $3, $4, $5, 1, 'draft') RETURNING id`,
      [userId, def.name, def.symbol, def.interval, JSON.stringify(def)],
      t,
    );
    await this.sequelize.query(
      `INSERT INTO strategy_versions (strategy_id, version, definition) VALUES ($1, 1, $2)`,
      { bind: [row.id, JSON.stringify(def)], transaction: t },
    );
    return row.id;
  }

  /** The caller's strategy with its current definition and lease; undefined when not theirs. */
  async get(id: number | string, userId: number, t?: Transaction): Promise<StrategyRow | undefined> {
    const [row] = await this.select<StrategyRow>(
      `SELECT ${STATE_COLUMNS}, s.definition ${FROM} WHERE s.id = $1 AND s.user_id = $2`,
      [id, userId],
      t,
    );
    return row;
  }

  /** The caller's strategies in id order, after `afterId` (keyset paging), without definitions. */
  async list(userId: number, limit: number, afterId?: number): Promise<StrategyRow[]> {
    return this.select<StrategyRow>(
      `SELECT ${STATE_COLUMNS} ${FROM}
        WHERE s.user_id = $1 AND ($2::bigint IS NULL OR s.id > $2::bigint)
        ORDER BY s.id LIMIT $3`,
      [userId, afterId ?? null, limit],
    );
  }

  async versionDefinition(id: number | string, version: number): Promise<StrategyDefinition | undefined> {
    const [row] = await this.select<{ definition: StrategyDefinition }>(
      `SELECT definition FROM strategy_versions WHERE strategy_id = $1 AND version = $2`,
      [id, version],
    );
    return row?.definition;
  }

  /**
   * Stores `def` as the next version of the caller's strategy and makes it current. A running
   * instance keeps its active_version until it is activated again.
   */
  async update(id: number, userId: number, def: StrategyDefinition): Promise<StrategyRow | undefined> {
    return this.sequelize.transaction(async (t) => {
      const [row] = await this.select<{ version: number }>(
        `SELECT version FROM strategies WHERE id = $1 AND user_id = $2 FOR UPDATE`,
        [id, userId],
        t,
      );
      if (!row) return undefined;
      const version = row.version + 1;
      await this.sequelize.query(
        `INSERT INTO strategy_versions (strategy_id, version, definition) VALUES ($1, $2, $3)`,
        { bind: [id, version, JSON.stringify(def)], transaction: t },
      );
      await this.sequelize.query(
        `UPDATE strategies SET definition = $3, name = $4, symbol = $5, interval = $6, version = $7, updated_at = now()
          WHERE id = $1 AND user_id = $2`,
        {
          bind: [id, userId, JSON.stringify(def), def.name, def.symbol, def.interval, version],
          transaction: t,
        },
      );
      return this.get(id, userId, t);
    });
  }

  /**
   * Locks the caller's strategy, asks `decide` what to change given its current state, and applies
   * that. `decide` may throw to refuse (nothing is changed) and returns null when the state already
   * is what was asked for. Undefined when the strategy is not the caller's.
   */
  async mutate(
    id: number,
    userId: number,
    decide: (row: StrategyRow, t: Transaction) => Promise<StatePatch | null> | StatePatch | null,
  ): Promise<{ row: StrategyRow; changed: boolean } | undefined> {
    return this.sequelize.transaction(async (t) => {
      const [locked] = await this.select<{ id: string }>(
        `SELECT id FROM strategies WHERE id = $1 AND user_id = $2 FOR UPDATE`,
        [id, userId],
        t,
      );
      if (!locked) return undefined;
      const current = (await this.get(id, userId, t))!;
      const patch = await decide(current, t);
      const entries = patch
        ? PATCHABLE.filter((k) => patch[k] !== undefined).map((k) => [k, patch[k]] as const)
        : [];
      if (!entries.length) return { row: current, changed: false };
      await this.sequelize.query(
        `UPDATE strategies SET ${entries.map(([k], i) => `${k} = $${i + 3}`).join(", ")}, updated_at = now()
          WHERE id = $1 AND user_id = $2`,
        { bind: [id, userId, ...entries.map(([, v]) => v)], transaction: t },
      );
      return { row: (await this.get(id, userId, t))!, changed: true };
    });
  }

  /**
   * Deletes the caller's strategy unless `refuse` objects to its state (versions, decisions and the
   * lease go with it). Undefined when the strategy is not the caller's.
   */
  async remove(
    id: number,
    userId: number,
    refuse: (row: StrategyRow) => void,
  ): Promise<StrategyRow | undefined> {
    return this.sequelize.transaction(async (t) => {
      const [locked] = await this.select<{ id: string }>(
        `SELECT id FROM strategies WHERE id = $1 AND user_id = $2 FOR UPDATE`,
        [id, userId],
        t,
      );
      if (!locked) return undefined;
      const row = (await this.get(id, userId, t))!;
      refuse(row);
      await this.sequelize.query(`DELETE FROM strategies WHERE id = $1 AND user_id = $2`, {
        bind: [id, userId],
        transaction: t,
      });
      return row;
    });
  }

  /** The decision log's newest id for an instance: a run activated now begins after it. */
  async decisionFloor(id: number, t?: Transaction): Promise<number> {
    const [row] = await this.select<{ id: string | null }>(
      `SELECT max(id) AS id FROM strategy_decisions WHERE strategy_id = $1`,
      [id],
      t,
    );
    return Number(row?.id ?? 0);
  }

  /** One of the caller's keys; within `t`, share-locked so it cannot be deleted before `t` commits. */
  async keyForTrading(
    keyId: number | string,
    userId: number,
    t?: Transaction,
  ): Promise<KeyForTrading | undefined> {
    const [row] = await this.select<KeyForTrading>(
      `SELECT id, user_id, label, exchange, status, status_reason, paper
         FROM user_api_keys WHERE id = $1 AND user_id = $2${t ? " FOR SHARE" : ""}`,
      [keyId, userId],
      t,
    );
    return row;
  }

  /** The user's paper account (an exchange key on the simulator venue), if one was opened. */
  async paperAccount(userId: number, t?: Transaction): Promise<KeyForTrading | undefined> {
    const [row] = await this.select<KeyForTrading>(
      `SELECT id, user_id, label, exchange, status, status_reason, paper
         FROM user_api_keys WHERE user_id = $1 AND paper`,
      [userId],
      t,
    );
    return row;
  }

  /** "Paper account", or "Paper account 2", … when the user already named a key that way. */
  async freePaperLabel(userId: number, t?: Transaction): Promise<string> {
    const taken = new Set(
      (
        await this.select<{ label: string }>(
          `SELECT label FROM user_api_keys WHERE user_id = $1 AND label LIKE 'Paper account%'`,
          [userId],
          t,
        )
      ).map((r) => r.label),
    );
    for (let n = 1; ; n++) {
      const label = n === 1 ? "Paper account" : `Paper account ${n}`;
      if (!taken.has(label)) return label;
    }
  }

  /** The instance's decision log, newest first, before the entry `before` (keyset paging by id). */
  async decisions(
    strategyId: number | string,
    userId: number | string,
    limit: number,
    before?: number,
  ): Promise<DecisionRow[]> {
    return this.select<DecisionRow>(
      `SELECT ${DECISION_COLUMNS} FROM strategy_decisions
        WHERE strategy_id = $1 AND user_id = $2 AND ($3::bigint IS NULL OR id < $3::bigint)
        ORDER BY id DESC LIMIT $4`,
      [strategyId, userId, before ?? null, limit],
    );
  }

  // ------------------------------------------------------------------ services and operators

  /** Any user's instance with its active version's definition (for runners, actors, execution). */
  async instance(id: number): Promise<InstanceRow | undefined> {
    const [row] = await this.select<InstanceRow>(
      `SELECT ${STATE_COLUMNS}, s.definition, v.definition AS active_definition ${FROM}
         LEFT JOIN strategy_versions v ON v.strategy_id = s.id AND v.version = s.active_version
        WHERE s.id = $1`,
      [id],
    );
    return row;
  }

  /** Every instance that is not a draft, with its owner and lease, in id order. */
  async overview(limit: number): Promise<OverviewRow[]> {
    return this.select<OverviewRow>(
      `SELECT s.id, s.user_id, u.email, s.name, s.symbol, s.interval, s.status, s.paused, s.mode, s.api_key_id,
              s.version, s.active_version, ${lastCandleSql("s")} AS last_candle_time, s.status_reason, s.crash_count,
              l.owner_node, l.fencing_token,
              round(extract(epoch FROM now() - l.acquired_at)) AS lease_age_sec,
              round(extract(epoch FROM l.expires_at - now())) AS lease_expires_in_sec
         FROM strategies s JOIN users u ON u.id = s.user_id
         LEFT JOIN strategy_leases l ON l.strategy_id = s.id
        WHERE s.status <> 'draft' ORDER BY s.id LIMIT $1`,
      [limit],
    );
  }

  /** Any instance's latest decisions (operators). */
  async latestDecisions(strategyId: number, limit: number): Promise<DecisionRow[]> {
    return this.select<DecisionRow>(
      `SELECT ${DECISION_COLUMNS} FROM strategy_decisions WHERE strategy_id = $1 ORDER BY id DESC LIMIT $2`,
      [strategyId, limit],
    );
  }

  // ------------------------------------------------------------------ trading flags

  async haltFlag(): Promise<TradingFlag> {
    const [row] = await this.select<FlagRow>(
      `SELECT value, reason, changed_by, changed_at FROM trading_flags WHERE name = 'halt'`,
      [],
    );
    return flagOf(row);
  }

  /** Sets the halt flag; `by` is the administrator (null: an operator at the REPL). */
  async setHalt(halted: boolean, reason: string | null, by: number | null): Promise<TradingFlag> {
    const [row] = await this.select<FlagRow>(
      `INSERT INTO trading_flags (name, value, reason, changed_by, changed_at) VALUES ('halt', $1, $2, $3, now())
       ON CONFLICT (name) DO UPDATE
         SET value = EXCLUDED.value, reason = EXCLUDED.reason, changed_by = EXCLUDED.changed_by, changed_at = now()
       RETURNING value, reason, changed_by, changed_at`,
      [halted, reason, by],
    );
    return flagOf(row);
  }
}

interface FlagRow {
  value: boolean;
  reason: string | null;
  changed_by: string | null;
  changed_at: Date;
}

function flagOf(row: FlagRow | undefined): TradingFlag {
  return {
    name: "halt",
    halted: row?.value ?? false,
    reason: row?.reason ?? null,
    changedBy: row?.changed_by == null ? null : Number(row.changed_by),
    changedAt: row?.changed_at ?? null,
  };
}
