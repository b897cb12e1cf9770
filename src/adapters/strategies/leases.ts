// Which strategy-runner runs which strategy instance: leases in strategy_leases, each with an owner
// node, an expiry and a fencing token from one global sequence (a token taken later is always
// larger). Every claim, renewal and release is one statement, so two runners racing for the same
// instance cannot both win, and every write a runner makes for an instance it may have lost checks
// owner and token in the same statement. Values are always bound parameters.
import { QueryTypes, type Sequelize } from "sequelize";
import { numberOrNull } from "../storage/rows";

/** An instance a runner may have to run (status active or stopping), with its current lease. */
export interface InstanceLease {
  id: number;
  userId: number;
  status: "active" | "stopping";
  paused: boolean;
  closeOnStop: boolean;
  symbol: string;
  interval: string;
  owner: string | null;
  token: number | null;
  /** the lease exists and has not expired (database clock) */
  live: boolean;
}

export interface Claimed {
  id: number;
  token: number;
}

/** A lease this runner holds: the instance and the token it was claimed with. */
export interface Held {
  id: number;
  token: number;
}

interface ScanRow {
  id: string;
  user_id: string;
  status: "active" | "stopping";
  paused: boolean;
  close_on_stop: boolean;
  symbol: string;
  interval: string;
  owner_node: string | null;
  fencing_token: string | null;
  live: boolean | null;
}

/**
 * The share of instances a runner aims for, given how many each live runner holds:
 * `hi` = ceil(total / runners) is the most any runner keeps; `lo` = floor(total / runners).
 * A runner claims up to `lo` while another live runner is below `lo` (so a newcomer gets its share
 * before anyone fills up to `hi`), otherwise up to `hi`; it releases anything above `hi`, and one
 * above `lo` when nothing is free and another runner is below `lo`. Without that last rule a fourth
 * runner joining 30 instances would end at 8, 8, 8, 6 instead of 8, 8, 7, 7. `orphaned` (an
 * instance has been free for longer than a lease) drops the courtesy to runners below `lo`: one that
 * does not claim must not keep an instance from running.
 */
export function fairShare(
  total: number,
  mine: number,
  others: readonly number[],
  free: number,
  orphaned = false,
): { claim: number; release: number } {
  const runners = others.length + 1;
  const hi = Math.ceil(total / runners);
  const lo = Math.floor(total / runners);
  const starved = !orphaned && others.some((n) => n < lo);
  if (mine > hi) return { claim: 0, release: mine - hi };
  if (mine > lo && starved && free === 0) return { claim: 0, release: 1 };
  const target = starved ? lo : hi;
  return { claim: Math.max(0, Math.min(free, target - mine)), release: 0 };
}

/**
 * The leases of `$2` (ids) still held by node `$1` with the tokens `$3`, locked in strategy id
 * order. Every statement that locks many lease rows takes them in that order: the decision log's
 * fenced insert shares them, renewals and releases update them, and a claim (an upsert locks each
 * conflicting row in the order it inserts) too. Two statements that lock overlapping rows in
 * different orders can deadlock, and PostgreSQL then aborts one: a renewal fails, or an actor's
 * decision write fails and the actor restarts.
 */
function lockHeld(condition: string): string {
  return `SELECT l.strategy_id FROM strategy_leases l
            JOIN unnest($2::bigint[], $3::bigint[]) AS h(id, token)
              ON l.strategy_id = h.id AND l.fencing_token = h.token
           WHERE l.owner_node = $1 AND ${condition}
           ORDER BY l.strategy_id
           FOR UPDATE OF l`;
}

export class LeaseStore {
  constructor(
    private readonly sequelize: Sequelize,
    private readonly nodeId: string,
  ) {}

  private select<T extends object>(sql: string, bind: unknown[]): Promise<T[]> {
    return this.sequelize.query<T>(sql, { bind, type: QueryTypes.SELECT });
  }

  /** Every instance that should run somewhere, with its lease. */
  async scan(): Promise<InstanceLease[]> {
    const rows = await this.select<ScanRow>(
      `SELECT s.id, s.user_id, s.status, s.paused, s.close_on_stop, s.symbol, s.interval,
              l.owner_node, l.fencing_token, l.expires_at > now() AS live
         FROM strategies s LEFT JOIN strategy_leases l ON l.strategy_id = s.id
        WHERE s.status IN ('active', 'stopping')
        ORDER BY s.id`,
      [],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      userId: Number(r.user_id),
      status: r.status,
      paused: r.paused,
      closeOnStop: r.close_on_stop,
      symbol: r.symbol,
      interval: r.interval,
      owner: r.owner_node,
      token: numberOrNull(r.fencing_token),
      live: r.live === true,
    }));
  }

  /** The cluster-wide halt switch: no new entries anywhere while it is on. */
  async halted(): Promise<boolean> {
    const [row] = await this.select<{ value: boolean }>(
      `SELECT value FROM trading_flags WHERE name = 'halt'`,
      [],
    );
    return row?.value === true;
  }

  /**
   * Claims the given instances for this node in one statement: a new lease, or one that expired
   * (or is this node's own, left from a previous run under the same node id) is taken with a fresh
   * token; a live lease of another node is left alone. Instances that are no longer active or
   * stopping are not claimed. Returns what was won.
   */
  async claim(ids: readonly number[], ttlMs: number): Promise<Claimed[]> {
    if (!ids.length) return [];
    const rows = await this.select<{ strategy_id: string; fencing_token: string }>(
      `INSERT INTO strategy_leases AS l (strategy_id, owner_node, acquired_at, expires_at)
       SELECT s.id, $1, now(), now() + $3 * interval '1 millisecond'
         FROM strategies s
        WHERE s.id = ANY($2::bigint[]) AND s.status IN ('active', 'stopping')
        ORDER BY s.id
       ON CONFLICT (strategy_id) DO UPDATE
          SET owner_node = EXCLUDED.owner_node, fencing_token = EXCLUDED.fencing_token,
              acquired_at = EXCLUDED.acquired_at, expires_at = EXCLUDED.expires_at
        WHERE l.expires_at <= now() OR l.owner_node = EXCLUDED.owner_node
       RETURNING l.strategy_id, l.fencing_token`,
      [this.nodeId, ids, ttlMs],
    );
    return rows.map((r) => ({ id: Number(r.strategy_id), token: Number(r.fencing_token) }));
  }

  /**
   * Extends every lease this node still holds with the token it claimed it with, in one
   * statement. A lease that expired is not extended even if nobody took it yet: the runner already
   * stopped acting on it. Returns the ids renewed; any other is lost.
   */
  async renew(held: readonly Held[], ttlMs: number): Promise<Set<number>> {
    if (!held.length) return new Set();
    const rows = await this.select<{ strategy_id: string }>(
      `WITH mine AS (${lockHeld("l.expires_at > now()")})
       UPDATE strategy_leases l SET expires_at = now() + $4 * interval '1 millisecond'
         FROM mine WHERE l.strategy_id = mine.strategy_id
       RETURNING l.strategy_id`,
      [this.nodeId, held.map((h) => h.id), held.map((h) => h.token), ttlMs],
    );
    return new Set(rows.map((r) => Number(r.strategy_id)));
  }

  /** Gives leases back (only those still held with the given tokens), so others need not wait for expiry. */
  async release(held: readonly Held[]): Promise<number> {
    if (!held.length) return 0;
    const [, meta] = await this.sequelize.query(
      `WITH mine AS (${lockHeld("true")})
       DELETE FROM strategy_leases l USING mine WHERE l.strategy_id = mine.strategy_id`,
      { bind: [this.nodeId, held.map((h) => h.id), held.map((h) => h.token)] },
    );
    return (meta as { rowCount?: number } | undefined)?.rowCount ?? 0;
  }

  /** Counts a crash of the instance while this node holds its lease. */
  async noteCrash(h: Held, crashes: number): Promise<void> {
    await this.sequelize.query(
      `UPDATE strategies s SET crash_count = $4, updated_at = now()
        WHERE s.id = $1 AND EXISTS (SELECT 1 FROM strategy_leases l
                                     WHERE l.strategy_id = s.id AND l.owner_node = $2 AND l.fencing_token = $3)`,
      { bind: [h.id, this.nodeId, h.token, crashes] },
    );
  }

  /**
   * Puts the instance in status error with the reason and gives its lease back, in one statement,
   * provided this node still holds the lease. Returns the owner's id when it did.
   */
  async fail(h: Held, reason: string, crashes: number): Promise<number | undefined> {
    const [row] = await this.select<{ user_id: string }>(
      `WITH held AS (
         SELECT strategy_id FROM strategy_leases
          WHERE strategy_id = $1 AND owner_node = $2 AND fencing_token = $3 FOR UPDATE
       ), failed AS (
         UPDATE strategies s SET status = 'error', status_reason = $4, crash_count = $5, updated_at = now()
           FROM held WHERE s.id = held.strategy_id AND s.status IN ('active', 'stopping')
         RETURNING s.user_id
       ), gone AS (
         DELETE FROM strategy_leases l USING held WHERE l.strategy_id = held.strategy_id
       )
       SELECT user_id FROM failed`,
      [h.id, this.nodeId, h.token, reason.slice(0, 1000), crashes],
    );
    return row ? Number(row.user_id) : undefined;
  }

  /**
   * Ends a stopping instance: status stopped and the lease released, in one statement, provided
   * this node still holds the lease. Returns the owner's id when it did.
   */
  async finishStop(h: Held, reason: string | null): Promise<number | undefined> {
    const [row] = await this.select<{ user_id: string }>(
      `WITH held AS (
         SELECT strategy_id FROM strategy_leases
          WHERE strategy_id = $1 AND owner_node = $2 AND fencing_token = $3 FOR UPDATE
       ), stopped AS (
         UPDATE strategies s SET status = 'stopped', status_reason = $4, updated_at = now()
           FROM held WHERE s.id = held.strategy_id AND s.status = 'stopping'
         RETURNING s.user_id
       ), gone AS (
         DELETE FROM strategy_leases l USING held WHERE l.strategy_id = held.strategy_id
       )
       SELECT user_id FROM stopped`,
      [h.id, this.nodeId, h.token, reason],
    );
    return row ? Number(row.user_id) : undefined;
  }
}
