// Writes audit_log rows for security-relevant actions, with the client ip, user agent and request
// id the gateway put in ctx.meta. Details are passed through the log redactor first, so a caller
// cannot store a password or secret by accident.
import type { Sequelize, Transaction } from "sequelize";
import { redact } from "../../runtime/logging";

export type AuditAction =
  | "auth.register"
  | "auth.login"
  | "auth.login_failed"
  | "auth.login_locked"
  | "auth.logout"
  | "auth.refresh_reuse_detected"
  | "auth.password_change"
  | "auth.password_change_failed"
  | "keys.add"
  | "keys.update"
  | "keys.remove"
  | "keys.validate"
  | "keys.recheck_failed"
  | "admin.role_change"
  | "admin.user_disable"
  | "admin.user_enable"
  | "strategy.create"
  | "strategy.update"
  | "strategy.delete"
  | "strategy.activate"
  | "strategy.deactivate"
  | "strategy.pause"
  | "strategy.resume"
  | "trading.halt"
  | "trading.resume";

export interface AuditEntry {
  action: AuditAction;
  /** whose account or object this is about */
  userId?: string | number | null;
  /** who did it (defaults to the authenticated caller) */
  actorId?: string | number | null;
  targetType?: string;
  targetId?: string | number;
  outcome?: "success" | "failure";
  details?: Record<string, unknown>;
}

export interface AuditContext {
  requestID?: string | null;
  /** ctx.meta; `user` as it arrived, so only a string or numeric id is recorded as the actor */
  meta?: { ip?: string; userAgent?: string; user?: { id?: unknown } | null };
}

function callerId(meta: AuditContext["meta"]): string | number | null {
  const id = meta?.user?.id;
  return typeof id === "string" || typeof id === "number" ? id : null;
}

export async function audit(
  sequelize: Sequelize,
  ctx: AuditContext | undefined,
  e: AuditEntry,
  transaction?: Transaction,
): Promise<void> {
  const meta = ctx?.meta ?? {};
  await sequelize.query(
    `INSERT INTO audit_log (user_id, actor_id, action, target_type, target_id, outcome, ip, user_agent, request_id, details)
     VALUES ($userId, $actorId, $action, $targetType, $targetId, $outcome, $ip, $userAgent, $requestId, $details)`,
    {
      bind: {
        userId: e.userId ?? null,
        actorId: e.actorId !== undefined ? e.actorId : callerId(meta),
        action: e.action,
        targetType: e.targetType ?? null,
        targetId: e.targetId !== undefined ? String(e.targetId) : null,
        outcome: e.outcome ?? "success",
        ip: typeof meta.ip === "string" ? meta.ip.slice(0, 100) : null,
        userAgent: typeof meta.userAgent === "string" ? meta.userAgent.slice(0, 200) : null,
        requestId: ctx?.requestID ?? null,
        details: e.details ? JSON.stringify(redact(e.details)) : null,
      },
      transaction,
    },
  );
}
