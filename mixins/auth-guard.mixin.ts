// Service-level authorization, behind the gateway's (defence in depth). Every action of a service
// using this mixin declares who may call it:
//   auth: "user"     — needs ctx.meta.user (set by the gateway from a verified token, or passed on
//                      by a service acting for that user); data access is scoped by its id
//   auth: "admin"    — needs ctx.meta.user with role "admin"
//   auth: "internal" — only the services named in `callers` (ctx.caller); never routed over HTTP
//   auth: "public"   — anyone (login, register, refresh)
// An action without `auth` makes the service fail to start, so nothing is left open by omission.
//
// ctx.caller and ctx.meta travel over the transporter unauthenticated: these checks stop bugs and
// confused deputies inside the cluster, not an attacker who can publish on NATS. Production NATS
// must require credentials and TLS (docs/security.md, "Trust model").
import { Errors, type ActionSchema, type Context, type ServiceSchema } from "moleculer";

export type ActionAuth = "public" | "user" | "admin" | "internal";

/** An action schema with its audience; `callers` names the services allowed for "internal". */
export type GuardedAction = ActionSchema<any> & { auth: ActionAuth; callers?: string[] };

/** Declares an action with its auth requirement (typed: moleculer's ActionSchema has no `auth`). */
export function guarded(def: GuardedAction): ActionSchema<any> {
  return def;
}

export interface CallerUser {
  id: number;
  role: "user" | "admin";
  email?: string;
  sid?: string;
}

export class UnauthorizedError extends Errors.MoleculerClientError {
  constructor(message = "Authentication required.") {
    super(message, 401, "UNAUTHORIZED");
  }
}

export class ForbiddenError extends Errors.MoleculerClientError {
  constructor(message = "Forbidden.") {
    super(message, 403, "FORBIDDEN");
  }
}

export class NotFoundError extends Errors.MoleculerClientError {
  constructor(what = "Not found.") {
    super(what, 404, "NOT_FOUND");
  }
}

const VALID: ActionAuth[] = ["public", "user", "admin", "internal"];

/** The verified user a context acts for; throws 401 when there is none. */
export function requireUser(ctx: Context<any, any>): CallerUser {
  const u = (ctx.meta as any)?.user;
  const id = Number(u?.id);
  if (!u || !Number.isSafeInteger(id) || id <= 0 || (u.role !== "user" && u.role !== "admin"))
    throw new UnauthorizedError();
  return { id, role: u.role, email: u.email, sid: u.sid };
}

/**
 * Replacements that scope a query to the caller: use as `WHERE user_id = :userId` and spread into
 * `replacements`. The id never comes from params.
 */
export function userScope(ctx: Context<any, any>): { userId: number } {
  return { userId: requireUser(ctx).id };
}

/** Returns the row when the caller owns it; otherwise 404, so other users' ids are not revealed. */
export function assertOwned<T extends { user_id?: unknown; userId?: unknown }>(
  ctx: Context<any, any>,
  row: T | null | undefined,
  what = "Not found.",
): T {
  const me = requireUser(ctx).id;
  const owner = row ? Number(row.user_id ?? row.userId) : NaN;
  if (!row || owner !== me) throw new NotFoundError(what);
  return row;
}

export function enforceActionAuth(ctx: Context<any, any>): void {
  const action: any = (ctx as any).action;
  const auth: ActionAuth | undefined = action?.auth;
  switch (auth) {
    case "public":
      return;
    case "user":
      requireUser(ctx);
      return;
    case "admin":
      if (requireUser(ctx).role !== "admin") throw new ForbiddenError("Administrator role required.");
      return;
    case "internal": {
      const callers: string[] = Array.isArray(action.callers) ? action.callers : [];
      if (!ctx.caller || !callers.includes(ctx.caller)) {
        throw new ForbiddenError(`${action.name} may only be called by: ${callers.join(", ") || "nobody"}.`);
      }
      return;
    }
    default:
      // fail closed: an action that forgot to declare its audience is callable by no one
      throw new ForbiddenError(`${action?.name ?? "action"} declares no auth requirement.`);
  }
}

export const AuthGuardMixin: Partial<ServiceSchema> & { merged(schema: ServiceSchema): void } = {
  hooks: {
    before: {
      "*": function authGuard(ctx: Context<any, any>) {
        enforceActionAuth(ctx);
      },
    },
  },

  merged(schema: ServiceSchema) {
    const missing = Object.entries(schema.actions ?? {})
      .filter(([, a]) => a !== false && typeof a === "object" && !VALID.includes((a as any).auth))
      .map(([name]) => name);
    const bare = Object.entries(schema.actions ?? {})
      .filter(([, a]) => typeof a === "function")
      .map(([name]) => name);
    if (missing.length || bare.length) {
      throw new Error(
        `service ${schema.name}: actions without an "auth" declaration (${[...missing, ...bare].join(", ")}); add auth: "public" | "user" | "admin" | "internal"`,
      );
    }
  },
};

export default AuthGuardMixin;
