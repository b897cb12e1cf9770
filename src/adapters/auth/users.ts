// Users and their sessions (refresh-token families) in PostgreSQL. Refresh tokens are stored as
// hashes and rotated under a row lock, so of several concurrent uses of one token exactly one
// rotates it and every other one is seen as reuse.
import crypto from "node:crypto";
import { QueryTypes, type Sequelize, type Transaction } from "sequelize";
import { isUniqueViolation } from "./sql-errors";
import { hashRefreshToken, newRefreshToken } from "./tokens";

export type Role = "user" | "admin";
export type UserStatus = "active" | "disabled";

export interface UserRow {
  id: string;
  email: string;
  password_hash: string;
  role: Role;
  status: UserStatus;
  created_at: Date;
  last_login_at: Date | null;
}

export interface PublicUser {
  id: number;
  email: string;
  role: Role;
}

export const publicUser = (u: Pick<UserRow, "id" | "email" | "role">): PublicUser => ({
  id: Number(u.id),
  email: u.email,
  role: u.role,
});

export class EmailTakenError extends Error {
  constructor() {
    super("email already registered");
    this.name = "EmailTakenError";
  }
}

/** A role or status change that would leave no active administrator. */
export class LastAdminError extends Error {
  constructor(readonly change: "demote" | "disable") {
    super(`The last active administrator cannot be ${change === "demote" ? "demoted" : "disabled"}.`);
    this.name = "LastAdminError";
  }
}

const FIRST_USER_LOCK = 7_306_122;
/** serialises role and status changes: two admins demoting each other cannot both succeed */
const ADMIN_LOCK = 7_306_123;

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * Inserts a user. Role: with AURA_ADMIN_EMAIL set, exactly that address becomes admin; without
 * it, the first user does. An advisory lock makes "first" well defined under concurrency.
 */
export async function createUser(
  sequelize: Sequelize,
  input: { email: string; passwordHash: string; adminEmail?: string },
): Promise<UserRow> {
  const email = normaliseEmail(input.email);
  return sequelize.transaction(async (t) => {
    await sequelize.query(`SELECT pg_advisory_xact_lock(${FIRST_USER_LOCK})`, { transaction: t });
    let role: Role = "user";
    if (input.adminEmail) {
      role = normaliseEmail(input.adminEmail) === email ? "admin" : "user";
    } else {
      const [{ n }] = await sequelize.query<{ n: string }>(`SELECT count(*) AS n FROM users`, {
        type: QueryTypes.SELECT,
        transaction: t,
      });
      role = Number(n) === 0 ? "admin" : "user";
    }
    try {
      const rows = await sequelize.query<UserRow>(
        `INSERT INTO users (email, password_hash, role) VALUES ($email, $hash, $role)
         RETURNING id, email, password_hash, role, status, created_at, last_login_at`,
        { bind: { email, hash: input.passwordHash, role }, type: QueryTypes.SELECT, transaction: t },
      );
      return rows[0];
    } catch (e) {
      if (isUniqueViolation(e)) throw new EmailTakenError();
      throw e;
    }
  });
}

const USER_COLS = "id, email, password_hash, role, status, created_at, last_login_at";

export async function findUserByEmail(sequelize: Sequelize, email: string): Promise<UserRow | undefined> {
  const rows = await sequelize.query<UserRow>(`SELECT ${USER_COLS} FROM users WHERE lower(email) = $email`, {
    bind: { email: normaliseEmail(email) },
    type: QueryTypes.SELECT,
  });
  return rows[0];
}

export async function findUserById(
  sequelize: Sequelize,
  id: string | number,
  t?: Transaction,
): Promise<UserRow | undefined> {
  const rows = await sequelize.query<UserRow>(`SELECT ${USER_COLS} FROM users WHERE id = $id`, {
    bind: { id },
    type: QueryTypes.SELECT,
    transaction: t,
  });
  return rows[0];
}

export async function setPasswordHash(
  sequelize: Sequelize,
  id: string | number,
  hash: string,
  t?: Transaction,
): Promise<void> {
  await sequelize.query(`UPDATE users SET password_hash = $hash, updated_at = now() WHERE id = $id`, {
    bind: { id, hash },
    transaction: t,
  });
}

export async function recordLogin(sequelize: Sequelize, id: string | number): Promise<void> {
  await sequelize.query(
    `UPDATE users SET last_login_at = now(), failed_logins = 0, locked_until = NULL WHERE id = $id`,
    { bind: { id } },
  );
}

async function setUserStatus(
  sequelize: Sequelize,
  id: string | number,
  status: UserStatus,
  t: Transaction,
): Promise<UserRow | undefined> {
  const rows = await sequelize.query<UserRow>(
    `UPDATE users SET status = $status, updated_at = now() WHERE id = $id RETURNING ${USER_COLS}`,
    { bind: { id, status }, type: QueryTypes.SELECT, transaction: t },
  );
  return rows[0];
}

async function setUserRole(
  sequelize: Sequelize,
  id: string | number,
  role: Role,
  t: Transaction,
): Promise<UserRow | undefined> {
  const rows = await sequelize.query<UserRow>(
    `UPDATE users SET role = $role, updated_at = now() WHERE id = $id RETURNING ${USER_COLS}`,
    { bind: { id, role }, type: QueryTypes.SELECT, transaction: t },
  );
  return rows[0];
}

async function countActiveAdmins(sequelize: Sequelize, t: Transaction): Promise<number> {
  const [{ n }] = await sequelize.query<{ n: string }>(
    `SELECT count(*) AS n FROM users WHERE role = 'admin' AND status = 'active'`,
    { type: QueryTypes.SELECT, transaction: t },
  );
  return Number(n);
}

export type AccessChange = { role: Role } | { status: UserStatus };

/**
 * Changes a user's role or status, unless that would leave no active administrator
 * (LastAdminError). The check and the change run in one transaction under ADMIN_LOCK. Disabling
 * also revokes every session of the user, in the same transaction. Undefined: no such user.
 */
export async function changeUserAccess(
  sequelize: Sequelize,
  id: string | number,
  change: AccessChange,
): Promise<{ before: UserRow; after: UserRow } | undefined> {
  return sequelize.transaction(async (t) => {
    await sequelize.query(`SELECT pg_advisory_xact_lock(${ADMIN_LOCK})`, { transaction: t });
    const before = await findUserById(sequelize, id, t);
    if (!before) return undefined;
    const role = "role" in change ? change.role : before.role;
    const status = "status" in change ? change.status : before.status;
    const wasActiveAdmin = before.role === "admin" && before.status === "active";
    const staysActiveAdmin = role === "admin" && status === "active";
    if (wasActiveAdmin && !staysActiveAdmin && (await countActiveAdmins(sequelize, t)) <= 1)
      throw new LastAdminError("role" in change ? "demote" : "disable");
    const after =
      "role" in change
        ? await setUserRole(sequelize, id, change.role, t)
        : await setUserStatus(sequelize, id, change.status, t);
    if ("status" in change && change.status === "disabled")
      await revokeAllSessions(sequelize, id, "user_disabled", t);
    return { before, after: after! };
  });
}

export async function listUsers(
  sequelize: Sequelize,
  opts: { limit: number; afterId?: number },
): Promise<UserRow[]> {
  return sequelize.query<UserRow>(
    `SELECT ${USER_COLS} FROM users WHERE (CAST($afterId AS bigint) IS NULL OR id > CAST($afterId AS bigint)) ORDER BY id LIMIT $limit`,
    {
      bind: { afterId: opts.afterId ?? null, limit: opts.limit },
      type: QueryTypes.SELECT,
    },
  );
}

// ---------------------------------------------------------------- sessions (refresh tokens)

export interface SessionPolicy {
  /** a refresh token unused for this long expires */
  idleTtlSec: number;
  /** a family (session) never lives longer than this */
  absoluteTtlSec: number;
}

export const DEFAULT_SESSION_POLICY: SessionPolicy = {
  idleTtlSec: 7 * 24 * 3600,
  absoluteTtlSec: 30 * 24 * 3600,
};

export interface IssuedRefresh {
  token: string;
  familyId: string;
  expiresAt: Date;
}

interface RefreshRow {
  id: string;
  user_id: string;
  family_id: string;
  expires_at: Date;
  used_at: Date | null;
  revoked_at: Date | null;
  family_started: Date;
}

/** Starts a new session (family) for a user and returns its first refresh token. */
export async function startSession(
  sequelize: Sequelize,
  userId: string | number,
  policy: SessionPolicy,
  client: { ip?: string; userAgent?: string },
  t?: Transaction,
): Promise<IssuedRefresh> {
  const token = newRefreshToken();
  const familyId = crypto.randomUUID();
  const ttl = Math.min(policy.idleTtlSec, policy.absoluteTtlSec);
  const rows = await sequelize.query<{ expires_at: Date }>(
    `INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at, ip, user_agent)
     VALUES ($userId, $familyId, $hash, now() + make_interval(secs => $ttl), $ip, $ua) RETURNING expires_at`,
    {
      bind: {
        userId,
        familyId,
        hash: hashRefreshToken(token),
        ttl,
        ip: client.ip?.slice(0, 100) ?? null,
        ua: client.userAgent?.slice(0, 200) ?? null,
      },
      type: QueryTypes.SELECT,
      transaction: t,
    },
  );
  return { token, familyId, expiresAt: rows[0].expires_at };
}

export type RotateResult =
  | { kind: "rotated"; userId: string; issued: IssuedRefresh }
  | { kind: "reuse"; userId: string; familyId: string }
  | { kind: "invalid"; userId?: string; why: "unknown" | "revoked" | "expired" | "user_inactive" };

/**
 * Exchanges a refresh token for the next one of its family. The row lock makes concurrent
 * presentations of one token serialise: the first rotates it, every later one is reuse, and
 * reuse revokes the whole family (RFC 9700 §4.14.2) including the token just issued.
 */
export async function rotateRefreshToken(
  sequelize: Sequelize,
  token: string,
  policy: SessionPolicy,
  client: { ip?: string; userAgent?: string },
): Promise<RotateResult> {
  const hash = hashRefreshToken(token);
  return sequelize.transaction(async (t) => {
    const rows = await sequelize.query<RefreshRow>(
      `SELECT r.id, r.user_id, r.family_id, r.expires_at, r.used_at, r.revoked_at,
              (SELECT min(created_at) FROM refresh_tokens f WHERE f.family_id = r.family_id) AS family_started
         FROM refresh_tokens r WHERE r.token_hash = $hash FOR UPDATE OF r`,
      { bind: { hash }, type: QueryTypes.SELECT, transaction: t },
    );
    const row = rows[0];
    if (!row) return { kind: "invalid", why: "unknown" } as const;
    if (row.used_at) {
      await revokeFamily(sequelize, row.family_id, "reuse_detected", t);
      return { kind: "reuse", userId: row.user_id, familyId: row.family_id } as const;
    }
    if (row.revoked_at) return { kind: "invalid", userId: row.user_id, why: "revoked" } as const;
    if (new Date(row.expires_at).getTime() <= Date.now())
      return { kind: "invalid", userId: row.user_id, why: "expired" } as const;
    const user = await findUserById(sequelize, row.user_id, t);
    if (!user || user.status !== "active")
      return { kind: "invalid", userId: row.user_id, why: "user_inactive" } as const;

    const next = newRefreshToken();
    const absoluteEnd = new Date(row.family_started).getTime() + policy.absoluteTtlSec * 1000;
    const ttlSec = Math.max(
      1,
      Math.floor(Math.min(policy.idleTtlSec * 1000, absoluteEnd - Date.now()) / 1000),
    );
    const inserted = await sequelize.query<{ id: string; expires_at: Date }>(
      `INSERT INTO refresh_tokens (user_id, family_id, token_hash, parent_id, expires_at, ip, user_agent)
       VALUES ($userId, $familyId, $hash, $parentId, now() + make_interval(secs => $ttl), $ip, $ua) RETURNING id, expires_at`,
      {
        bind: {
          userId: row.user_id,
          familyId: row.family_id,
          hash: hashRefreshToken(next),
          parentId: row.id,
          ttl: ttlSec,
          ip: client.ip?.slice(0, 100) ?? null,
          ua: client.userAgent?.slice(0, 200) ?? null,
        },
        type: QueryTypes.SELECT,
        transaction: t,
      },
    );
    await sequelize.query(
      `UPDATE refresh_tokens SET used_at = now(), replaced_by_id = $next WHERE id = $id`,
      {
        bind: { id: row.id, next: inserted[0].id },
        transaction: t,
      },
    );
    return {
      kind: "rotated",
      userId: row.user_id,
      issued: { token: next, familyId: row.family_id, expiresAt: inserted[0].expires_at },
    } as const;
  });
}

export async function revokeFamily(
  sequelize: Sequelize,
  familyId: string,
  reason: string,
  t?: Transaction,
): Promise<number> {
  const [, meta] = (await sequelize.query(
    `UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = $reason WHERE family_id = $familyId AND revoked_at IS NULL`,
    { bind: { familyId, reason }, transaction: t },
  )) as [unknown, { rowCount?: number } | undefined];
  return Number(meta?.rowCount ?? 0);
}

/** Revokes every session of a user (password change, disable). Returns the family ids revoked. */
export async function revokeAllSessions(
  sequelize: Sequelize,
  userId: string | number,
  reason: string,
  t?: Transaction,
): Promise<string[]> {
  const rows = await sequelize.query<{ family_id: string }>(
    `UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = $reason
      WHERE user_id = $userId AND revoked_at IS NULL RETURNING family_id`,
    { bind: { userId, reason }, type: QueryTypes.SELECT, transaction: t },
  );
  return [...new Set(rows.map((r) => r.family_id))];
}

/**
 * Whether `familyId` is a session of this user that was never revoked: the gateway accepts an
 * access token only when its `sid` is. Any revoked row counts, not just the newest: a revocation
 * racing a rotation can leave the freshly inserted token unrevoked, and the family is still over.
 */
export async function isLiveSession(
  sequelize: Sequelize,
  userId: string | number,
  familyId: string,
): Promise<boolean> {
  const [row] = await sequelize.query<{ total: number; revoked: number }>(
    `SELECT count(*)::int AS total, count(revoked_at)::int AS revoked FROM refresh_tokens
      WHERE family_id = CAST($familyId AS uuid) AND user_id = $userId`,
    { bind: { userId, familyId }, type: QueryTypes.SELECT },
  );
  return !!row && row.total > 0 && row.revoked === 0;
}
