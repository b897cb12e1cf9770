// Who wants which (symbol, interval) series and which market-data node streams it: the
// `market_subscriptions` and `market_streams` tables (migration 0003). A subscription without a
// strategy lasts until it is unsubscribed; one of a strategy counts only while that strategy is
// active or stopping, so a strategy whose runner died holds its series exactly as long as the
// strategy runtime keeps the strategy alive. A stream is owned through a lease: an owner node, an
// expiry and a fencing token that grows with every claim of the series. Every claim, renewal,
// check and release is one statement over all the series it concerns, and values are always bound
// parameters.
import { QueryTypes, type Sequelize } from "sequelize";
import { numberOrNull } from "../storage/rows";

export interface SeriesId {
  symbol: string;
  interval: string;
}

/** A stream this node holds: the series and the token it was claimed with. */
export interface HeldLease extends SeriesId {
  token: number;
}

/** A series that is wanted or owned, as a scan sees it. */
export interface StreamRow extends SeriesId {
  /** subscriptions that count (see LIVE_SUBSCRIPTION) */
  subscribers: number;
  owner: string | null;
  token: number;
  /** a lease exists and has not expired (database clock) */
  live: boolean;
}

export interface SubscriptionRow extends SeriesId {
  subscriber: string;
  strategyId: number | null;
  /** false: the subscription's strategy is no longer active, so it does not hold the series */
  counts: boolean;
  owner: string | null;
  token: number | null;
  live: boolean;
}

export function leaseKey(s: SeriesId): string {
  return `${s.symbol}:${s.interval}`;
}

/** The strategy id a subscriber id names: strategy actors subscribe as `strategy.<id>`. */
export function strategyIdOf(subscriber: string): number | undefined {
  const m = /^strategy\.([1-9][0-9]{0,17})$/.exec(subscriber);
  if (!m) return undefined;
  const id = Number(m[1]);
  return Number.isSafeInteger(id) ? id : undefined;
}

// A subscription row `m` that holds its series: no strategy, or a strategy still running somewhere.
const LIVE_SUBSCRIPTION = `(m.strategy_id IS NULL OR EXISTS (
  SELECT 1 FROM strategies s WHERE s.id = m.strategy_id AND s.status IN ('active', 'stopping')))`;

/**
 * The share of the wanted streams a node aims for, given how many each other live node holds:
 * `hi` = ceil(total / nodes) is the most any node keeps, `lo` = floor(total / nodes). A node
 * claims only up to `lo` while another node is below `lo` (a newcomer gets its share before anyone
 * fills up to `hi`), otherwise up to `hi`; it gives back anything above `hi`, and one above `lo`
 * when nothing is free and another node is below `lo`.
 */
export function streamShare(
  total: number,
  mine: number,
  others: readonly number[],
  free: number,
): { claim: number; release: number } {
  const nodes = others.length + 1;
  const hi = Math.ceil(total / nodes);
  const lo = Math.floor(total / nodes);
  const starved = others.some((n) => n < lo);
  if (mine > hi) return { claim: 0, release: mine - hi };
  if (mine > lo && starved && free === 0) return { claim: 0, release: 1 };
  const target = starved ? lo : hi;
  return { claim: Math.max(0, Math.min(free, target - mine)), release: 0 };
}

interface ScanRow {
  symbol: string;
  interval: string;
  subscribers: number;
  owner_node: string | null;
  fencing_token: string | number;
  live: boolean;
}

interface KeyRow {
  symbol: string;
  interval: string;
}

function columns(held: readonly HeldLease[]): [string[], string[], number[]] {
  return [held.map((h) => h.symbol), held.map((h) => h.interval), held.map((h) => h.token)];
}

/**
 * The stream leases of `$2`/`$3` (symbols, intervals) still held by node `$1` with the tokens
 * `$4`, locked in (symbol, interval) order: every statement that locks several stream rows takes
 * them in that order (claims too), so a renewal, a release and another node's claim never
 * deadlock one another.
 */
function lockHeld(condition: string): string {
  return `SELECT t.symbol, t.interval FROM market_streams t
            JOIN unnest($2::text[], $3::text[], $4::bigint[]) AS h(sym, iv, token)
              ON t.symbol = h.sym AND t.interval = h.iv AND t.fencing_token = h.token
           WHERE t.owner_node = $1 AND ${condition}
           ORDER BY t.symbol, t.interval
           FOR UPDATE OF t`;
}

export class StreamStore {
  constructor(
    private readonly sequelize: Sequelize,
    private readonly nodeId: string,
  ) {}

  private select<T extends object>(sql: string, bind: unknown[]): Promise<T[]> {
    return this.sequelize.query<T>(sql, { bind, type: QueryTypes.SELECT });
  }

  /**
   * Stores a subscription (idempotent per subscriber). A `strategy.<id>` subscriber is tied to its
   * strategy; false when that strategy does not exist, in which case nothing is stored.
   */
  async subscribe(s: SeriesId, subscriber: string): Promise<boolean> {
    const strategyId = strategyIdOf(subscriber) ?? null;
    const rows = await this.select<{ subscriber: string }>(
      `INSERT INTO market_subscriptions (symbol, interval, subscriber, strategy_id)
       SELECT $1, $2, $3, $4::bigint
        WHERE $4::bigint IS NULL OR EXISTS (SELECT 1 FROM strategies WHERE id = $4::bigint)
       ON CONFLICT (symbol, interval, subscriber) DO UPDATE SET strategy_id = EXCLUDED.strategy_id
       RETURNING subscriber`,
      [s.symbol, s.interval, subscriber, strategyId],
    );
    return rows.length > 0;
  }

  async unsubscribe(s: SeriesId, subscriber: string): Promise<void> {
    await this.sequelize.query(
      `DELETE FROM market_subscriptions WHERE symbol = $1 AND interval = $2 AND subscriber = $3`,
      { bind: [s.symbol, s.interval, subscriber] },
    );
  }

  /** Subscriptions that hold the series now. */
  async subscribers(s: SeriesId): Promise<number> {
    const [row] = await this.select<{ n: number }>(
      `SELECT count(*)::int AS n FROM market_subscriptions m
        WHERE m.symbol = $1 AND m.interval = $2 AND ${LIVE_SUBSCRIPTION}`,
      [s.symbol, s.interval],
    );
    return Number(row?.n ?? 0);
  }

  /**
   * Node ids named by node-bound subscriptions (`<prefix><node id>`, such as the gateway's
   * `api.<node>`), which last only while their node is in the cluster.
   */
  async boundNodes(prefix: string): Promise<string[]> {
    const rows = await this.select<{ subscriber: string }>(
      `SELECT DISTINCT subscriber FROM market_subscriptions
        WHERE strategy_id IS NULL AND left(subscriber, length($1)) = $1`,
      [prefix],
    );
    return rows.map((r) => r.subscriber.slice(prefix.length)).filter((n) => n.length > 0);
  }

  /** Deletes the node-bound subscriptions of the given nodes. */
  async dropBound(prefix: string, nodes: readonly string[]): Promise<number> {
    if (!nodes.length) return 0;
    const [, meta] = await this.sequelize.query(
      `DELETE FROM market_subscriptions WHERE strategy_id IS NULL AND subscriber = ANY($1::text[])`,
      { bind: [nodes.map((n) => prefix + n)] },
    );
    return (meta as { rowCount?: number } | undefined)?.rowCount ?? 0;
  }

  /** Deletes the subscriptions of strategies that are no longer active or stopping. */
  async prune(): Promise<number> {
    const [, meta] = await this.sequelize.query(
      `DELETE FROM market_subscriptions m USING strategies s
        WHERE m.strategy_id = s.id AND s.status NOT IN ('active', 'stopping')`,
      { bind: [] },
    );
    return (meta as { rowCount?: number } | undefined)?.rowCount ?? 0;
  }

  /** Every series that has subscribers that count or an owner, with its lease. */
  async scan(): Promise<StreamRow[]> {
    const rows = await this.select<ScanRow>(
      `WITH wanted AS (
         SELECT m.symbol, m.interval, count(*)::int AS n FROM market_subscriptions m
          WHERE ${LIVE_SUBSCRIPTION} GROUP BY m.symbol, m.interval
       )
       SELECT coalesce(w.symbol, t.symbol) AS symbol, coalesce(w.interval, t.interval) AS interval,
              coalesce(w.n, 0) AS subscribers, t.owner_node, coalesce(t.fencing_token, 0) AS fencing_token,
              coalesce(t.owner_node IS NOT NULL AND t.expires_at > now(), false) AS live
         FROM wanted w FULL JOIN market_streams t ON t.symbol = w.symbol AND t.interval = w.interval
        WHERE w.n IS NOT NULL OR t.owner_node IS NOT NULL
        ORDER BY 1, 2`,
      [],
    );
    return rows.map((r) => ({
      symbol: r.symbol,
      interval: r.interval,
      subscribers: Number(r.subscribers),
      owner: r.owner_node,
      token: Number(r.fencing_token),
      live: r.live === true,
    }));
  }

  /** The lease of one series, if it has a live one. */
  async owner(s: SeriesId): Promise<{ owner: string; token: number } | undefined> {
    const [row] = await this.select<{ owner_node: string; fencing_token: string | number }>(
      `SELECT owner_node, fencing_token FROM market_streams
        WHERE symbol = $1 AND interval = $2 AND owner_node IS NOT NULL AND expires_at > now()`,
      [s.symbol, s.interval],
    );
    return row ? { owner: row.owner_node, token: Number(row.fencing_token) } : undefined;
  }

  /**
   * Claims the series for this node in one statement: one without a lease, or whose lease expired
   * or was given back (or is this node's own, left from a previous run under the same node id), is
   * taken with a larger token; a live lease of another node is left alone. Returns what was won.
   */
  async claim(series: readonly SeriesId[], ttlMs: number): Promise<HeldLease[]> {
    if (!series.length) return [];
    const rows = await this.select<KeyRow & { fencing_token: string | number }>(
      `INSERT INTO market_streams AS t (symbol, interval, owner_node, fencing_token, expires_at)
       SELECT x.sym, x.iv, $1, 1, now() + $4 * interval '1 millisecond'
         FROM unnest($2::text[], $3::text[]) AS x(sym, iv)
        ORDER BY x.sym, x.iv
       ON CONFLICT (symbol, interval) DO UPDATE
          SET owner_node = EXCLUDED.owner_node, fencing_token = t.fencing_token + 1,
              expires_at = EXCLUDED.expires_at
        WHERE t.owner_node IS NULL OR t.expires_at IS NULL OR t.expires_at <= now()
           OR t.owner_node = EXCLUDED.owner_node
       RETURNING t.symbol, t.interval, t.fencing_token`,
      [this.nodeId, series.map((s) => s.symbol), series.map((s) => s.interval), ttlMs],
    );
    return rows.map((r) => ({ symbol: r.symbol, interval: r.interval, token: Number(r.fencing_token) }));
  }

  /**
   * Extends every lease this node still holds with the token it claimed it with. A lease that
   * expired is not extended even if nobody took it yet: its stream was already stopped here.
   * Returns the keys renewed; any other is lost.
   */
  async renew(held: readonly HeldLease[], ttlMs: number): Promise<Set<string>> {
    if (!held.length) return new Set();
    const rows = await this.select<KeyRow>(
      `WITH mine AS (${lockHeld("t.expires_at > now()")})
       UPDATE market_streams t SET expires_at = now() + $5 * interval '1 millisecond'
         FROM mine WHERE t.symbol = mine.symbol AND t.interval = mine.interval
       RETURNING t.symbol, t.interval`,
      [this.nodeId, ...columns(held), ttlMs],
    );
    return new Set(rows.map(leaseKey));
  }

  /** The keys of the given leases this node still holds, unexpired, with the same token. */
  async verify(held: readonly HeldLease[]): Promise<Set<string>> {
    if (!held.length) return new Set();
    const rows = await this.select<KeyRow>(
      `SELECT t.symbol, t.interval FROM market_streams t
         JOIN unnest($2::text[], $3::text[], $4::bigint[]) AS h(sym, iv, token)
           ON t.symbol = h.sym AND t.interval = h.iv AND t.fencing_token = h.token
        WHERE t.owner_node = $1 AND t.expires_at > now()`,
      [this.nodeId, ...columns(held)],
    );
    return new Set(rows.map(leaseKey));
  }

  /** Gives leases back (only those still held with the given tokens); the tokens stay, so they keep growing. */
  async release(held: readonly HeldLease[]): Promise<number> {
    if (!held.length) return 0;
    const [, meta] = await this.sequelize.query(
      `WITH mine AS (${lockHeld("true")})
       UPDATE market_streams t SET owner_node = NULL, expires_at = NULL
         FROM mine WHERE t.symbol = mine.symbol AND t.interval = mine.interval`,
      { bind: [this.nodeId, ...columns(held)] },
    );
    return (meta as { rowCount?: number } | undefined)?.rowCount ?? 0;
  }

  /** Every stored subscription with its series' lease, for operators. */
  async subscriptions(): Promise<SubscriptionRow[]> {
    const rows = await this.select<{
      symbol: string;
      interval: string;
      subscriber: string;
      strategy_id: string | number | null;
      counts: boolean;
      owner_node: string | null;
      fencing_token: string | number | null;
      live: boolean | null;
    }>(
      `SELECT m.symbol, m.interval, m.subscriber, m.strategy_id, ${LIVE_SUBSCRIPTION} AS counts,
              t.owner_node, t.fencing_token, t.owner_node IS NOT NULL AND t.expires_at > now() AS live
         FROM market_subscriptions m
         LEFT JOIN market_streams t ON t.symbol = m.symbol AND t.interval = m.interval
        ORDER BY m.symbol, m.interval, m.subscriber`,
      [],
    );
    return rows.map((r) => ({
      symbol: r.symbol,
      interval: r.interval,
      subscriber: r.subscriber,
      strategyId: numberOrNull(r.strategy_id),
      counts: r.counts === true,
      owner: r.owner_node,
      token: numberOrNull(r.fencing_token),
      live: r.live === true,
    }));
  }

  /**
   * Open time of the newest candle of the series that its owners published and stored: where a
   * node taking the stream over resumes. Undefined when no stream of it published anything yet.
   */
  async publishedThrough(s: SeriesId): Promise<number | undefined> {
    const [row] = await this.select<{ t: string | number | null }>(
      `SELECT published_through AS t FROM market_streams WHERE symbol = $1 AND interval = $2`,
      [s.symbol, s.interval],
    );
    return row?.t == null ? undefined : Number(row.t);
  }

  /**
   * Records that the series' candles up to `openTime` were published and stored, if this node
   * still owns the stream. A node that lost it leaves the mark to the new owner (which then may
   * publish a candle again: the safe way to be wrong); the owner's own mark may move back, as it
   * does when a simulator is restarted on an earlier period.
   */
  async markPublished(s: SeriesId, openTime: number): Promise<void> {
    await this.sequelize.query(
      `UPDATE market_streams SET published_through = $3
        WHERE symbol = $1 AND interval = $2 AND owner_node = $4`,
      { bind: [s.symbol, s.interval, openTime, this.nodeId] },
    );
  }
}
