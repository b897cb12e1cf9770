// The decision log of strategy instances (strategy_decisions). A decision is written before
// anything is sent to execution, by a statement that only writes while this node holds the
// instance's lease with the actor's fencing token and the lease has not expired. The unique index
// on (strategy_id, candle_open_time) for decisions makes "one decision per candle" hold across
// failovers: a successor that reaches a candle already decided learns so from the insert and
// skips it.
//
// Writes from the actors of one runner are gathered for one turn of the event loop and sent as one
// statement: after a candle closes every actor of the series decides at once, and a round trip per
// actor would make the last one wait for all the others.
import { QueryTypes, type Sequelize } from "sequelize";

export type DecisionKind = "decision" | "lifecycle";

/**
 * SQL for the open time of the last candle an instance decided in its current run, for a
 * strategies row aliased `s`: where a successor resumes, and what operators and the dashboard see
 * as its last candle. A run begins at activation, which records the log's newest id then as the
 * floor; the value comes from the one-decision-per-candle index rather than from an update of the
 * strategy's row per decision.
 */
export function lastCandleSql(s: string): string {
  return `(SELECT max(d.candle_open_time) FROM strategy_decisions d
            WHERE d.strategy_id = ${s}.id AND d.kind = 'decision' AND d.id > ${s}.decision_floor_id)`;
}

/** One fenced entry: a candle's decision, or a lifecycle step that leads to an order (close on stop). */
export interface DecisionEntry {
  kind: DecisionKind;
  strategyId: number;
  userId: number;
  fencingToken: number;
  candleOpenTime: number;
  /** what the rules said, e.g. "entry", "exit", "none", "close" */
  action: string;
  message: string;
  level?: "info" | "warn";
  data: Record<string, unknown>;
}

/** recorded: written; duplicate: the candle was decided already; lost: the lease is not ours any more */
export type RecordOutcome = "recorded" | "duplicate" | "lost";

/** An unfenced entry: the result of an order request, a crash, a note. */
export interface LogEntry {
  kind: "order" | "lifecycle" | "error";
  strategyId: number;
  userId: number;
  level: "debug" | "info" | "warn" | "error" | "fatal";
  candleOpenTime?: number | null;
  action?: string | null;
  message: string;
  data?: Record<string, unknown> | null;
  fencingToken?: number | null;
}

/** An intent of a recorded decision, as stored in its `data.intents`. */
export interface StoredIntent {
  intentId: string;
  kind: "entry" | "exit" | "close";
  [k: string]: unknown;
}

export interface DecisionLogRow {
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

/** Statements one flush may run side by side, and the fewest records worth a statement of their own. */
const PARALLEL = 2;
const MIN_PART = 64;

interface Pending {
  entry: DecisionEntry;
  resolve(o: RecordOutcome): void;
  reject(e: unknown): void;
}

const FENCED_INSERT = `
WITH input AS (
  SELECT * FROM jsonb_to_recordset($2::jsonb) AS i(
    n int, kind text, level text, strategy_id bigint, user_id bigint, fencing_token bigint,
    candle_open_time bigint, action text, message text, data jsonb)
), held AS (
  -- a join on the key, not "IN (SELECT … FROM input)": the planner cannot count the recordset and
  -- planned that semi-join as a nested loop over every pair, 23 ms for a batch of 333
  SELECT l.strategy_id, l.fencing_token FROM input i
    JOIN strategy_leases l ON l.strategy_id = i.strategy_id AND l.fencing_token = i.fencing_token
   WHERE l.owner_node = $1 AND l.expires_at > now()
   ORDER BY l.strategy_id
   FOR SHARE OF l
), ins AS (
  INSERT INTO strategy_decisions (user_id, strategy_id, kind, level, candle_open_time, action, message, data,
                                  fencing_token, node_id, time)
  SELECT i.user_id, i.strategy_id, i.kind, i.level, i.candle_open_time, i.action, i.message, i.data,
         i.fencing_token, $1, clock_timestamp()
    FROM input i JOIN held h ON h.strategy_id = i.strategy_id AND h.fencing_token = i.fencing_token
   ORDER BY i.n
  ON CONFLICT (strategy_id, candle_open_time) WHERE kind = 'decision' DO NOTHING
  RETURNING strategy_id, candle_open_time, kind
)
SELECT i.n, h.strategy_id IS NOT NULL AS held, ins.strategy_id IS NOT NULL AS inserted
  FROM input i
  LEFT JOIN held h ON h.strategy_id = i.strategy_id AND h.fencing_token = i.fencing_token
  LEFT JOIN ins ON ins.strategy_id = i.strategy_id AND ins.candle_open_time = i.candle_open_time
                AND ins.kind = i.kind`;

export class DecisionLog {
  private queue: Pending[] = [];
  private scheduled = false;
  private asks: {
    strategyId: number;
    sinceCandle: number;
    resolve(v: { candleOpenTime: number; intent: StoredIntent }[]): void;
    reject(e: unknown): void;
  }[] = [];
  private askScheduled = false;

  constructor(
    private readonly sequelize: Sequelize,
    private readonly nodeId: string,
  ) {}

  /**
   * Writes a decision (or a fenced lifecycle step). One actor must not have two records in
   * flight: it awaits each.
   */
  record(entry: DecisionEntry): Promise<RecordOutcome> {
    return new Promise<RecordOutcome>((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  /**
   * Writes what was gathered: a large batch in a few statements side by side (each instance has
   * at most one record in flight, so they touch disjoint rows; the lease rows they share are
   * locked in strategy id order, as renewals and releases lock them, so none can deadlock).
   */
  private async flush(): Promise<void> {
    this.scheduled = false;
    const all = this.queue;
    this.queue = [];
    const parts = Math.min(PARALLEL, Math.ceil(all.length / MIN_PART));
    const size = Math.ceil(all.length / parts);
    const chunks: Pending[][] = [];
    for (let k = 0; k < all.length; k += size) chunks.push(all.slice(k, k + size));
    await Promise.all(chunks.map((c) => this.write(c)));
  }

  private async write(batch: Pending[]): Promise<void> {
    try {
      const rows = await this.sequelize.query<{ n: number; held: boolean; inserted: boolean }>(
        FENCED_INSERT,
        {
          bind: [
            this.nodeId,
            JSON.stringify(
              batch.map((p, n) => ({
                n,
                kind: p.entry.kind,
                level: p.entry.level ?? "info",
                strategy_id: p.entry.strategyId,
                user_id: p.entry.userId,
                fencing_token: p.entry.fencingToken,
                candle_open_time: p.entry.candleOpenTime,
                action: p.entry.action,
                message: p.entry.message.slice(0, 2000),
                data: p.entry.data,
              })),
            ),
          ],
          type: QueryTypes.SELECT,
        },
      );
      const byN = new Map(rows.map((r) => [Number(r.n), r]));
      batch.forEach((p, n) => {
        const r = byN.get(n);
        p.resolve(!r || !r.held ? "lost" : r.inserted ? "recorded" : "duplicate");
      });
    } catch (e) {
      for (const p of batch) p.reject(e);
    }
  }

  /** Appends entries that need no lease: order results, crashes, notes. */
  async append(entries: readonly LogEntry[]): Promise<void> {
    if (!entries.length) return;
    await this.sequelize.query(
      `INSERT INTO strategy_decisions (user_id, strategy_id, kind, level, candle_open_time, action, message, data,
                                       fencing_token, node_id)
       SELECT i.user_id, i.strategy_id, i.kind, i.level, i.candle_open_time, i.action, i.message, i.data,
              i.fencing_token, $1
         FROM jsonb_to_recordset($2::jsonb) AS i(kind text, level text, strategy_id bigint, user_id bigint,
              candle_open_time bigint, action text, message text, data jsonb, fencing_token bigint)`,
      {
        bind: [
          this.nodeId,
          JSON.stringify(
            entries.map((e) => ({
              kind: e.kind,
              level: e.level,
              strategy_id: e.strategyId,
              user_id: e.userId,
              candle_open_time: e.candleOpenTime ?? null,
              action: e.action ?? null,
              message: e.message.slice(0, 2000),
              data: e.data ?? null,
              fencing_token: e.fencingToken ?? null,
            })),
          ),
        ],
      },
    );
  }

  /**
   * Intents of the instance's decisions (and close steps) on candles from `sinceCandle` on whose
   * result was never recorded: the actor stopped between recording a decision and recording what
   * execution answered. Asked by every actor that starts; gathered like the decisions.
   */
  unanswered(
    strategyId: number,
    sinceCandle: number,
  ): Promise<{ candleOpenTime: number; intent: StoredIntent }[]> {
    return new Promise((resolve, reject) => {
      this.asks.push({ strategyId, sinceCandle, resolve, reject });
      if (!this.askScheduled) {
        this.askScheduled = true;
        setImmediate(() => void this.answer());
      }
    });
  }

  private async answer(): Promise<void> {
    this.askScheduled = false;
    const batch = this.asks;
    this.asks = [];
    try {
      const rows = await this.sequelize.query<{
        strategy_id: string;
        candle_open_time: string;
        intent: StoredIntent;
      }>(
        `SELECT d.strategy_id, d.candle_open_time, i.intent
           FROM unnest($1::bigint[], $2::bigint[]) AS q(id, since)
           JOIN strategy_decisions d
             ON d.strategy_id = q.id AND d.kind IN ('decision', 'lifecycle') AND d.candle_open_time >= q.since
          CROSS JOIN LATERAL jsonb_array_elements(
                 CASE WHEN jsonb_typeof(d.data -> 'intents') = 'array' THEN d.data -> 'intents' ELSE '[]'::jsonb END
               ) AS i(intent)
          WHERE NOT EXISTS (SELECT 1 FROM strategy_decisions o
                             WHERE o.strategy_id = d.strategy_id AND o.kind = 'order'
                               AND o.data ->> 'intentId' = i.intent ->> 'intentId')
          ORDER BY d.strategy_id, d.candle_open_time, d.id`,
        {
          bind: [batch.map((a) => a.strategyId), batch.map((a) => a.sinceCandle)],
          type: QueryTypes.SELECT,
        },
      );
      for (const a of batch)
        a.resolve(
          rows
            .filter((r) => Number(r.strategy_id) === a.strategyId)
            .map((r) => ({ candleOpenTime: Number(r.candle_open_time), intent: r.intent })),
        );
    } catch (e) {
      for (const a of batch) a.reject(e);
    }
  }

  /** The instance's latest entries of every kind, newest first. */
  async recent(strategyId: number, limit: number): Promise<DecisionLogRow[]> {
    return this.sequelize.query<DecisionLogRow>(
      `SELECT id, time, kind, level, candle_open_time, action, message, data, fencing_token, node_id
         FROM strategy_decisions WHERE strategy_id = $1 ORDER BY id DESC LIMIT $2`,
      { bind: [strategyId, limit], type: QueryTypes.SELECT },
    );
  }
}

/** What a dashboard is told about one decision (the owner's live log). */
export interface DecisionNotice {
  userId: number;
  strategyId: number;
  candleOpenTime: number;
  action: string;
  message: string;
}

/** The most notices one `strategy.decisions` event carries. */
export const NOTICES_PER_EVENT = 500;

/**
 * Announces decisions to the gateways, gathered over one turn of the event loop into one
 * `strategy.decisions` broadcast: when a candle closes every actor of a runner decides at once,
 * and a broadcast each would send every gateway hundreds of packets per runner and candle.
 */
export class DecisionFeed {
  private pending: DecisionNotice[] = [];
  private scheduled = false;

  constructor(
    private readonly broadcast: (event: string, payload: { decisions: DecisionNotice[] }) => unknown,
  ) {}

  publish(n: DecisionNotice): void {
    this.pending.push(n);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const all = this.pending;
      this.pending = [];
      for (let k = 0; k < all.length; k += NOTICES_PER_EVENT) {
        // a dashboard missing a notice is not worth an actor's failure: the log is in the database
        try {
          const sent = this.broadcast("strategy.decisions", {
            decisions: all.slice(k, k + NOTICES_PER_EVENT),
          });
          void Promise.resolve(sent).catch(() => undefined);
        } catch {
          /* the bus refused the packet */
        }
      }
    });
  }
}
