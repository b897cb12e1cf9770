// Alerts in PostgreSQL. Storing is idempotent by dedupe key (one open alert per key: a repeated
// condition does not pile up until the user acknowledges it), and every alert is pushed once: a
// row is claimed by setting notified_at, whoever stored it. Every statement binds its values.
import { QueryTypes, type Sequelize } from "sequelize";
import { cursorTime, encodeCursor, isoTime, type Cursor } from "../history/cursor";

export type Severity = "info" | "warn" | "error" | "critical";
export const SEVERITIES: readonly Severity[] = ["info", "warn", "error", "critical"];

export interface NewAlert {
  userId: number | null;
  strategyId?: number | null;
  kind: string;
  severity: Severity;
  message: string;
  data?: unknown;
  dedupeKey: string;
}

export interface AlertRow {
  id: string;
  user_id: string | null;
  strategy_id: string | null;
  kind: string;
  severity: Severity;
  message: string;
  data: unknown;
  created_at: string;
  acknowledged_at: string | null;
  cursor_time: string;
}

export interface WebhookRow {
  user_id: string;
  url: string;
  secret_enc: string;
  enc_key_id: string;
  last_status: string | null;
  last_error: string | null;
  last_delivery_at: Date | null;
  updated_at: Date;
}

const COLS = `id, user_id, strategy_id, kind, severity, message, data, ${isoTime("created_at")} AS created_at,
  ${isoTime("acknowledged_at")} AS acknowledged_at, ${cursorTime("created_at")} AS cursor_time`;

/** Whose alerts: one user's, the system's (no user), or everyone's (operators at the REPL). */
export type AlertScope = { userId: number } | { system: true } | { all: true };

export class AlertStore {
  constructor(readonly sequelize: Sequelize) {}

  private select<T extends object>(sql: string, bind: unknown[]): Promise<T[]> {
    return this.sequelize.query<T>(sql, { bind, type: QueryTypes.SELECT });
  }

  /** Stores the alert unless an open one has its dedupe key; returns the new row, if any. */
  async insert(a: NewAlert, notified: boolean): Promise<AlertRow | undefined> {
    const [row] = await this.select<AlertRow>(
      `INSERT INTO alerts (user_id, strategy_id, kind, severity, message, data, dedupe_key, notified_at)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, CASE WHEN $8 THEN now() END)
       ON CONFLICT (dedupe_key) WHERE acknowledged_at IS NULL AND dedupe_key IS NOT NULL DO NOTHING
       RETURNING ${COLS}`,
      [
        a.userId,
        a.strategyId ?? null,
        a.kind,
        a.severity,
        a.message.slice(0, 2000),
        a.data === undefined ? null : JSON.stringify(a.data),
        a.dedupeKey,
        notified,
      ],
    );
    return row;
  }

  /**
   * Claims the newest unpushed alert of this user and kind whose data contains `match`, stored in
   * the last minutes: the alert another service stored and announced itself.
   */
  async claimMatching(
    userId: number,
    kind: string,
    match: Record<string, unknown>,
  ): Promise<AlertRow | undefined> {
    const [row] = await this.select<AlertRow>(
      `UPDATE alerts SET notified_at = now()
        WHERE id = (SELECT id FROM alerts
                     WHERE user_id = $1 AND kind = $2 AND notified_at IS NULL AND data @> $3::jsonb
                       AND created_at > now() - interval '10 minutes'
                     ORDER BY id DESC LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING ${COLS}`,
      [userId, kind, JSON.stringify(match)],
    );
    return row;
  }

  /** Whether such an alert was stored recently at all (pushed or not). */
  async storedRecently(userId: number, kind: string, match: Record<string, unknown>): Promise<boolean> {
    const rows = await this.select<{ id: string }>(
      `SELECT id FROM alerts WHERE user_id = $1 AND kind = $2 AND data @> $3::jsonb
          AND created_at > now() - interval '10 minutes' LIMIT 1`,
      [userId, kind, JSON.stringify(match)],
    );
    return rows.length > 0;
  }

  /** Claims alerts stored without being pushed (older than `graceMs`, so their producer's own event came first). */
  async claimUnnotified(graceMs: number, limit = 100): Promise<AlertRow[]> {
    return this.select<AlertRow>(
      `UPDATE alerts SET notified_at = now()
        WHERE id IN (SELECT id FROM alerts
                      WHERE notified_at IS NULL AND created_at < now() - make_interval(secs => $1::float8 / 1000)
                      ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
        RETURNING ${COLS}`,
      [graceMs, limit],
    );
  }

  /** A page of the user's alerts (or, for `system`, alerts that belong to no user), newest first. */
  async list(
    scope: AlertScope,
    f: { status?: "open" | "acknowledged"; minSeverity?: Severity; kind?: string },
    limit: number,
    after?: Cursor,
  ): Promise<{ rows: AlertRow[]; nextCursor: string | null }> {
    const bind: unknown[] = [];
    const p = (v: unknown) => {
      bind.push(v);
      return `$${bind.length}`;
    };
    const w = [
      "userId" in scope ? `user_id = ${p(scope.userId)}` : "all" in scope ? "TRUE" : "user_id IS NULL",
    ];
    if (f.status === "open") w.push("acknowledged_at IS NULL");
    if (f.status === "acknowledged") w.push("acknowledged_at IS NOT NULL");
    if (f.minSeverity)
      w.push(`severity = ANY(${p(SEVERITIES.slice(SEVERITIES.indexOf(f.minSeverity)))}::text[])`);
    if (f.kind) w.push(`kind = ${p(f.kind)}`);
    if (after) w.push(`(created_at, id) < (${p(after.t)}::timestamptz, ${p(after.id)}::bigint)`);
    const rows = await this.select<AlertRow>(
      `SELECT ${COLS} FROM alerts WHERE ${w.join(" AND ")} ORDER BY created_at DESC, id DESC LIMIT ${p(limit)}`,
      bind,
    );
    const last = rows[rows.length - 1];
    return {
      rows,
      nextCursor:
        rows.length === limit && last ? encodeCursor({ t: last.cursor_time, id: String(last.id) }) : null,
    };
  }

  async openCount(scope: { userId: number } | { system: true }): Promise<number> {
    const [r] = await this.select<{ n: string }>(
      "userId" in scope
        ? `SELECT count(*)::text AS n FROM alerts WHERE user_id = $1 AND acknowledged_at IS NULL`
        : `SELECT count(*)::text AS n FROM alerts WHERE user_id IS NULL AND acknowledged_at IS NULL`,
      "userId" in scope ? [scope.userId] : [],
    );
    return Number(r.n);
  }

  /** Acknowledges the user's alert (an admin may also acknowledge system alerts); idempotent. */
  async ack(id: number, userId: number, admin: boolean): Promise<AlertRow | undefined> {
    const [row] = await this.select<AlertRow>(
      `UPDATE alerts SET acknowledged_at = COALESCE(acknowledged_at, now())
        WHERE id = $1 AND (user_id = $2 OR ($3::boolean AND user_id IS NULL))
        RETURNING ${COLS}`,
      [id, userId, admin],
    );
    return row;
  }

  // --- strategies and users the alerts are about

  async strategy(
    id: number,
    userId: number,
  ): Promise<
    { name: string; status: string; status_reason: string | null; crash_count: number } | undefined
  > {
    const [r] = await this.select<{
      name: string;
      status: string;
      status_reason: string | null;
      crash_count: number;
    }>(`SELECT name, status, status_reason, crash_count FROM strategies WHERE id = $1 AND user_id = $2`, [
      id,
      userId,
    ]);
    return r;
  }

  /** Users with active strategies on a series, and those strategies. */
  async activeOn(symbol: string, interval: string): Promise<{ user_id: string; ids: string[] }[]> {
    return this.select<{ user_id: string; ids: string[] }>(
      `SELECT user_id, array_agg(id ORDER BY id)::text[] AS ids FROM strategies
        WHERE status = 'active' AND symbol = $1 AND interval = $2 GROUP BY user_id`,
      [symbol, interval],
    );
  }

  /** FATAL records persisted after `afterId`, with the user they concern when known. */
  async fatalLogs(
    afterId: string,
    limit = 100,
  ): Promise<
    {
      id: string;
      user_id: string | null;
      strategy_id: string | null;
      service: string | null;
      node_id: string | null;
      message: string;
    }[]
  > {
    return this.select(
      `SELECT l.id, COALESCE(l.user_id, s.user_id) AS user_id, l.strategy_id, l.service, l.node_id, l.message
         FROM system_logs l LEFT JOIN strategies s ON s.id = l.strategy_id
        WHERE l.level = 'fatal' AND l.id > $1::bigint ORDER BY l.id LIMIT $2`,
      [afterId, limit],
    );
  }

  async lastLogId(): Promise<string> {
    const [r] = await this.select<{ id: string | null }>(`SELECT max(id)::text AS id FROM system_logs`, []);
    return r.id ?? "0";
  }

  // --- webhooks

  async webhook(userId: number): Promise<WebhookRow | undefined> {
    const [r] = await this.select<WebhookRow>(`SELECT * FROM alert_webhooks WHERE user_id = $1`, [userId]);
    return r;
  }

  async setWebhook(userId: number, url: string, secretEnc: string, encKeyId: string): Promise<WebhookRow> {
    const [r] = await this.select<WebhookRow>(
      `INSERT INTO alert_webhooks (user_id, url, secret_enc, enc_key_id) VALUES ($1, $2, $3, $4)
       ON CONFLICT (user_id) DO UPDATE SET url = EXCLUDED.url, secret_enc = EXCLUDED.secret_enc,
              enc_key_id = EXCLUDED.enc_key_id, last_status = NULL, last_error = NULL, updated_at = now()
       RETURNING *`,
      [userId, url, secretEnc, encKeyId],
    );
    return r;
  }

  /** Re-seals a secret under the current master key (a rotation in progress). */
  async resealWebhook(userId: number, secretEnc: string, encKeyId: string): Promise<void> {
    await this.sequelize.query(
      `UPDATE alert_webhooks SET secret_enc = $2, enc_key_id = $3 WHERE user_id = $1`,
      {
        bind: [userId, secretEnc, encKeyId],
      },
    );
  }

  async removeWebhook(userId: number): Promise<boolean> {
    const rows = await this.select<{ user_id: string }>(
      `DELETE FROM alert_webhooks WHERE user_id = $1 RETURNING user_id`,
      [userId],
    );
    return rows.length > 0;
  }

  async recordDelivery(userId: number, status: string, error: string | null): Promise<void> {
    await this.sequelize.query(
      `UPDATE alert_webhooks SET last_status = $2, last_error = $3, last_delivery_at = now() WHERE user_id = $1`,
      { bind: [userId, status, error] },
    );
  }
}
